//! Mail: the scheduler and the commands queue typed requests in the outbox (kind, meeting,
//! occurrence, recipient, data without secrets); this module turns each into a message at send
//! time, from the meeting's current state, and delivers it over SMTP.
//!
//! - [`render`]: the request → [`RenderedMail`] (who sends to whom by the original's precedence,
//!   templates in English and German, the original's own `.j2` files through a compatibility
//!   context without secrets, calendar parts).
//! - [`ics`]: RFC 5545 invitations and cancellations with a stable UID per meeting and
//!   occurrence, SEQUENCE, RRULE and VTIMEZONE.
//! - [`smtp`] and [`sender`]: delivery with retry, back-off and dead-letter, the SMTP reply
//!   recorded.

pub mod ics;

use crate::domain::Email;

pub mod render;
pub mod sender;
pub mod smtp;

/// Name and address of a sender or recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub email: Email,
}

/// What a calendar part asks the recipient's calendar to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarMethod {
    /// Add or update the event.
    Request,
    /// Remove the event.
    Cancel,
}

impl CalendarMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "REQUEST",
            Self::Cancel => "CANCEL",
        }
    }
}

/// An iCalendar attachment (`text/calendar; method=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarPart {
    pub method: CalendarMethod,
    /// The whole VCALENDAR, CRLF line endings, folded at 75 octets.
    pub ics: String,
}

/// One mail ready for SMTP. It never holds SMTP credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub from: Mailbox,
    /// The recipient after any `mailTo` redirect (staging).
    pub to: Mailbox,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub calendar: Option<CalendarPart>,
    /// `<…@…>`, stable per outbox request (derived from its unique key), so a message sent again
    /// after a crash between sending and recording is recognisable as the same message.
    pub message_id: String,
    /// The BBB server the mail is about: its `mailServer` and `mailDebug` settings apply.
    pub server: Option<crate::domain::ServerId>,
}

/// Meetings that would mail somebody (an owner, invitees, moderators, shares) but for which
/// `send_emails` is set nowhere — not on the meeting, its recipients or its server, and not in
/// bot-config.yml. The original scheduLight mailed them regardless; here they get no mail, so
/// an import of the original's files warns about them.
pub fn send_emails_unset<'a>(
    global: bool,
    servers: &[crate::domain::ServerSpec],
    meetings: impl IntoIterator<Item = &'a crate::domain::MeetingSpec>,
) -> Vec<crate::domain::MeetingId> {
    if global {
        return Vec::new();
    }
    meetings
        .into_iter()
        .filter(|m| {
            let lists = [
                &m.send_invitation_link,
                &m.send_moderator_link,
                &m.share_with,
            ];
            let mails = m.owner.is_some() || lists.iter().any(|l| !l.is_empty());
            let set_on_recipient = lists
                .iter()
                .any(|l| l.values().any(|r| r.send_emails.is_some()));
            let server_sets = servers
                .iter()
                .any(|s| s.id == m.server && s.send_emails.is_some());
            mails && m.send_emails.is_none() && !set_on_recipient && !server_sets
        })
        .map(|m| m.id.clone())
        .collect()
}

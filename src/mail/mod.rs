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

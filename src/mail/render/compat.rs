//! The `vars` dict the original's own `.j2` files read (`vars['mDict']['meetingName']`,
//! `vars['meetingLink']`, `vars['mail_properties']['mailToName']`, `vars['minutesLeft']` …).
//! The original passed its `locals()`, which held the BBB secret, SMTP logins and the database
//! password; this one is built from an allow-list and holds none of them.

use super::{MailContext, Mailbox};
use crate::domain::{MeetingSpec, NoticeKind};
use serde_json::{Map, Value, json};

/// Meeting keys that may appear in `vars['mDict']`. Left out: the owner's password and
/// `liveStreaming` (its target URL holds the stream key); `owner` is rebuilt without the
/// password.
const MDICT_KEYS: &[&str] = &[
    "id",
    "server",
    "meetingName",
    "meetingID",
    "meetingUID",
    "useHomeRoom",
    "startDate",
    "timeZone",
    "reminderMinutes",
    "preOpenMinutes",
    "preStartMinutes",
    "endAfterMinutes",
    "accessCode",
    "muteOnStart",
    "record",
    "allowStartStopRecording",
    "autoStartRecording",
    "bannerText",
    "welcome",
    "duration",
    "logoutURL",
    "maxParticipants",
    "guestPolicy",
    "sendInvitationLink",
    "sendModeratorLink",
    "shareWith",
    "meetingInvitationInfoTemplate",
    "meetingModeratorInfoTemplate",
    "meetingOwnerInfoTemplate",
    "meetingOwnerReminderTemplate",
    "meetingOwnerStartedTemplate",
    "meetingShareInfoTemplate",
    "mailFrom",
    "mailFromName",
    "mailTo",
    "mailToName",
    "send_emails",
    "meetingTitle",
    "recurrence",
    "exdate",
    "notifyRoom",
];

pub(super) struct Input<'a> {
    pub spec: Option<&'a MeetingSpec>,
    pub ctx: &'a MailContext,
    pub kind: NoticeKind,
    pub from: &'a Mailbox,
    pub to: &'a Mailbox,
}

/// The `vars` value.
pub(super) fn vars(input: &Input<'_>) -> Value {
    let ctx = input.ctx;
    let mut vars = Map::new();
    if let Some(spec) = input.spec {
        vars.insert("mDict".into(), mdict(spec, ctx));
        vars.insert("meetingName".into(), Value::String(spec.name.clone()));
    } else if let Some(room) = &ctx.room {
        let name = room.name.clone().unwrap_or_else(|| room.id.clone());
        vars.insert("meetingName".into(), Value::String(name));
    }
    if let Some(link) = &ctx.link {
        vars.insert("meetingLink".into(), Value::String(link.clone()));
    }
    if let Some(link) = &ctx.moderator_link {
        vars.insert("moderatorLink".into(), Value::String(link.clone()));
    }
    // The original: int((startDate - NOW) / 60), 0 without a startDate.
    vars.insert("minutesLeft".into(), json!(ctx.minutes_left.unwrap_or(0)));
    vars.insert(
        "mail_properties".into(),
        mail_properties(input.from, input.to),
    );
    let command = match input.kind {
        NoticeKind::RoomShared => Some("share_room"),
        NoticeKind::RoomUnshared => Some("unshare_room"),
        _ => None,
    };
    if let (Some(command), Some(room)) = (command, &ctx.room) {
        vars.insert("command".into(), Value::String(command.into()));
        vars.insert("cElement".into(), Value::String(room.id.clone()));
    }
    Value::Object(vars)
}

/// The meeting as the original's dict, with `startDate` of the occurrence the mail is about.
fn mdict(spec: &MeetingSpec, ctx: &MailContext) -> Value {
    let full = serde_json::to_value(spec).unwrap_or(Value::Null);
    let mut out = Map::new();
    if let Value::Object(all) = full {
        for key in MDICT_KEYS {
            if let Some(v) = all.get(*key).filter(|v| !v.is_null()) {
                out.insert((*key).to_string(), v.clone());
            }
        }
    }
    // Without an owner the original's templates print nothing rather than fail.
    let owner = spec
        .owner
        .as_ref()
        .map(|o| {
            let mut m = Map::new();
            m.insert("fullName".into(), Value::String(o.full_name.clone()));
            m.insert("email".into(), Value::String(o.email.to_string()));
            if let Some(uid) = &o.uid {
                m.insert("uid".into(), Value::String(uid.clone()));
            }
            if let Some(s) = &o.social_uid {
                m.insert("socialUid".into(), Value::String(s.clone()));
            }
            Value::Object(m)
        })
        .unwrap_or_else(|| Value::Object(Map::new()));
    out.insert("owner".into(), owner);
    if let Some(start) = ctx.meeting.as_ref().and_then(|m| m.start_date.clone()) {
        out.insert("startDate".into(), Value::String(start));
    }
    Value::Object(out)
}

/// `mail_properties` without `mailServer`, `mailUser` and `mailPassword`.
fn mail_properties(from: &Mailbox, to: &Mailbox) -> Value {
    let mut m = Map::new();
    m.insert("mailFrom".into(), Value::String(from.email.to_string()));
    if let Some(n) = &from.name {
        m.insert("mailFromName".into(), Value::String(n.clone()));
    }
    m.insert("mailTo".into(), Value::String(to.email.to_string()));
    m.insert(
        "mailToName".into(),
        Value::String(
            to.name
                .clone()
                .unwrap_or_else(|| to.email.local_part().to_string()),
        ),
    );
    Value::Object(m)
}

/// The original's file format: a `Subject:` header line (folded lines allowed), a blank line,
/// then the HTML body. Other header lines are ignored: we set From, To and the MIME parts.
pub(super) fn split_subject(rendered: &str) -> Option<(String, String)> {
    let mut subject: Option<String> = None;
    let mut in_subject = false;
    let mut rest = rendered;
    loop {
        let (line, tail) = match rest.find('\n') {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, ""),
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            return subject.map(|s| (s, tail.to_string()));
        }
        if line.starts_with([' ', '\t']) {
            if in_subject && let Some(s) = subject.as_mut() {
                s.push(' ');
                s.push_str(line.trim());
            }
        } else {
            let (name, value) = line.split_once(':')?;
            in_subject = name.trim().eq_ignore_ascii_case("subject");
            if in_subject {
                subject = Some(value.trim().to_string());
            }
        }
        if tail.is_empty() {
            return subject.map(|s| (s, String::new()));
        }
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_line_and_body() {
        let (s, b) = split_subject("Subject: Hallo Welt\n\n<p>x</p>\n").unwrap();
        assert_eq!((s.as_str(), b.as_str()), ("Hallo Welt", "<p>x</p>\n"));
        let (s, b) = split_subject("Subject: a\r\n  b\r\nX-Other: y\r\n\r\nbody").unwrap();
        assert_eq!((s.as_str(), b.as_str()), ("a b", "body"));
        assert!(split_subject("<html>no header</html>").is_none());
        assert!(split_subject("Hello there\n\nbody").is_none());
        let (s, b) = split_subject("Subject: only").unwrap();
        assert_eq!((s.as_str(), b.as_str()), ("only", ""));
    }
}

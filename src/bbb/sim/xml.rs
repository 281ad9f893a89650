//! BBB response XML, element order as in bbb-web's FreeMarker templates (bbb-api.md §2), written
//! compactly like `<#compress>` output.

use super::model::{ApiFailure, Joined, SimMeeting, SimRecording};
use std::collections::BTreeMap;
use std::fmt::Display;

/// Minimal writer: every text value is escaped, element names are ours or validated keys.
#[derive(Default)]
struct Xml(String);

impl Xml {
    fn open(&mut self, tag: &str) -> &mut Self {
        self.0.push('<');
        self.0.push_str(tag);
        self.0.push('>');
        self
    }

    fn close(&mut self, tag: &str) -> &mut Self {
        self.0.push_str("</");
        self.0.push_str(tag);
        self.0.push('>');
        self
    }

    fn el(&mut self, tag: &str, text: impl Display) -> &mut Self {
        self.open(tag);
        escape_into(&mut self.0, &text.to_string());
        self.close(tag)
    }

    fn empty(&mut self, tag: &str) -> &mut Self {
        self.0.push('<');
        self.0.push_str(tag);
        self.0.push_str("/>");
        self
    }

    fn response(body: impl FnOnce(&mut Xml)) -> String {
        let mut x = Xml::default();
        x.open("response");
        body(&mut x);
        x.close("response");
        x.0
    }
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // XML 1.0 cannot carry most control characters at all.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
}

/// Element names from user input (metadata, userdata) must be valid XML names.
fn is_xml_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !s.to_ascii_lowercase().starts_with("xml")
}

fn map(x: &mut Xml, tag: &str, entries: &BTreeMap<String, String>) {
    x.open(tag);
    for (k, v) in entries.iter().filter(|(k, _)| is_xml_name(k)) {
        x.el(k, v);
    }
    x.close(tag);
}

pub(crate) fn failure(f: &ApiFailure) -> String {
    Xml::response(|x| {
        x.el("returncode", "FAILED")
            .el("messageKey", &f.key)
            .el("message", &f.message);
    })
}

/// The `respondWithErrors` form (FTL api-errors).
pub(crate) fn failures(list: &[ApiFailure]) -> String {
    Xml::response(|x| {
        x.el("returncode", "FAILED").open("errors");
        for f in list {
            x.open("error")
                .el("key", &f.key)
                .el("message", &f.message)
                .close("error");
        }
        x.close("errors");
    })
}

pub(crate) fn version(server_url: &str) -> String {
    let host = server_url
        .split_once("://")
        .map(|(_, h)| h)
        .unwrap_or(server_url);
    Xml::response(|x| {
        x.el("returncode", "SUCCESS")
            .el("version", "2.0")
            .el("apiVersion", "2.0")
            .el("bbbVersion", "")
            .el("graphqlWebsocketUrl", format!("wss://{host}/graphql"))
            .el("graphqlApiUrl", format!("{server_url}/api/rest"));
    })
}

pub(crate) fn created(m: &SimMeeting, duplicate: bool) -> String {
    Xml::response(|x| {
        x.el("returncode", "SUCCESS")
            .el("meetingID", &m.meeting_id)
            .el("internalMeetingID", &m.internal_meeting_id)
            .el("parentMeetingID", "bbb-none");
        if !m.attendee_pw.is_empty() {
            x.el("attendeePW", &m.attendee_pw);
        }
        if !m.moderator_pw.is_empty() {
            x.el("moderatorPW", &m.moderator_pw);
        }
        x.el("createTime", m.create_time)
            .el("voiceBridge", &m.voice_bridge)
            .el("dialNumber", &m.dial_number)
            .el("createDate", &m.create_date)
            .el("hasUserJoined", m.has_user_joined)
            .el("duration", m.duration)
            .el("hasBeenForciblyEnded", m.has_been_forcibly_ended);
        let (key, msg) = if duplicate {
            (
                "duplicateWarning",
                "This conference was already in existence and may currently be in progress.",
            )
        } else {
            ("", "")
        };
        x.el("messageKey", key).el("message", msg);
    })
}

pub(crate) fn joined(j: &Joined) -> String {
    Xml::response(|x| {
        x.el("returncode", "SUCCESS")
            .el("messageKey", &j.message_key)
            .el("message", &j.message)
            .el("meeting_id", &j.internal_meeting_id)
            .el("user_id", &j.user_id)
            .el("auth_token", &j.auth_token)
            .el("session_token", &j.session_token)
            .el("guestStatus", j.guest_status.as_str())
            .el("url", &j.url);
    })
}

pub(crate) fn ended() -> String {
    Xml::response(|x| {
        x.el("returncode", "SUCCESS")
            .el("messageKey", "sentEndMeetingRequest")
            .el(
                "message",
                "A request to end the meeting was sent.  Please wait a few seconds, and then use the getMeetingInfo or isMeetingRunning API calls to verify that it was ended.",
            );
    })
}

pub(crate) fn running(running: bool) -> String {
    Xml::response(|x| {
        x.el("returncode", "SUCCESS").el("running", running);
    })
}

/// The fields shared by getMeetingInfo and each getMeetings entry.
fn meeting_fields(x: &mut Xml, m: &SimMeeting, always_passwords: bool) {
    x.el("meetingName", &m.name)
        .el("meetingID", &m.meeting_id)
        .el("internalMeetingID", &m.internal_meeting_id)
        .el("createTime", m.create_time)
        .el("createDate", &m.create_date)
        .el("voiceBridge", &m.voice_bridge)
        .el("dialNumber", &m.dial_number);
    if always_passwords || !m.attendee_pw.is_empty() {
        x.el("attendeePW", &m.attendee_pw);
    }
    if always_passwords || !m.moderator_pw.is_empty() {
        x.el("moderatorPW", &m.moderator_pw);
    }
    let count = |f: fn(&super::model::SimParticipant) -> bool| {
        m.participants.iter().filter(|p| f(p)).count()
    };
    x.el("running", m.running())
        .el("duration", m.duration)
        .el("hasUserJoined", m.has_user_joined)
        .el("recording", m.record)
        .el("hasBeenForciblyEnded", m.has_been_forcibly_ended)
        .el("startTime", m.start_time)
        .el("endTime", m.end_time)
        .el("participantCount", m.participants.len())
        .el("listenerCount", count(|p| p.is_listening_only))
        .el("voiceParticipantCount", count(|p| p.has_joined_voice))
        .el("videoCount", count(|p| p.has_video))
        .el("maxUsers", m.max_users)
        .el("moderatorCount", m.moderator_count());
    attendees(x, m);
    map(x, "metadata", &m.metadata);
    x.el("isBreakout", false);
}

fn attendees(x: &mut Xml, m: &SimMeeting) {
    x.open("attendees");
    for p in &m.participants {
        x.open("attendee")
            .el("userID", &p.user_id)
            .el("fullName", &p.full_name)
            .el("role", &p.role)
            .el("isPresenter", p.is_presenter)
            .el("isListeningOnly", p.is_listening_only)
            .el("hasJoinedVoice", p.has_joined_voice)
            .el("hasVideo", p.has_video)
            .el("clientType", &p.client_type);
        if !p.customdata.is_empty() {
            map(x, "customdata", &p.customdata);
        }
        x.close("attendee");
    }
    x.close("attendees");
}

pub(crate) fn meeting_info(m: &SimMeeting) -> String {
    Xml::response(|x| {
        x.el("returncode", "SUCCESS");
        meeting_fields(x, m, false);
    })
}

pub(crate) fn meetings(list: &[SimMeeting]) -> String {
    Xml::response(|x| {
        x.el("returncode", "SUCCESS");
        if list.is_empty() {
            x.empty("meetings")
                .el("messageKey", "noMeetings")
                .el("message", "no meetings were found on this server");
            return;
        }
        x.open("meetings");
        for m in list {
            x.open("meeting");
            meeting_fields(x, m, true);
            x.close("meeting");
        }
        x.close("meetings");
    })
}

pub(crate) fn recordings(list: &[SimRecording]) -> String {
    Xml::response(|x| {
        x.el("returncode", "SUCCESS").open("recordings");
        for r in list {
            recording(x, r);
        }
        x.close("recordings");
        if list.is_empty() {
            x.el("messageKey", "noRecordings")
                .el("message", "There are no recordings for the meeting(s).");
        }
    })
}

fn recording(x: &mut Xml, r: &SimRecording) {
    x.open("recording")
        .el("recordID", &r.record_id)
        .el("meetingID", &r.meeting_id)
        .el("internalMeetingID", &r.internal_meeting_id)
        .el("name", &r.name)
        .el("isBreakout", r.is_breakout)
        .el("published", r.published)
        .el("state", &r.state)
        .el("startTime", r.start_time)
        .el("endTime", r.end_time)
        .el("participants", r.participants)
        .el("protected", r.protected);
    map(x, "metadata", &r.metadata);
    x.open("playback");
    for f in &r.playback {
        x.open("format")
            .el("type", &f.format_type)
            .el("url", &f.url)
            .el("processingTime", f.processing_time)
            .el("length", f.length)
            .close("format");
    }
    x.close("playback").close("recording");
}

/// `<published>`, `<deleted>`, `<updated>` answers.
pub(crate) fn flag(tag: &str, value: bool) -> String {
    Xml::response(|x| {
        x.el("returncode", "SUCCESS").el(tag, value);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text() {
        let f = ApiFailure::new("k", "a<b & \"c\"");
        assert_eq!(
            failure(&f),
            "<response><returncode>FAILED</returncode><messageKey>k</messageKey><message>a&lt;b &amp; &quot;c&quot;</message></response>"
        );
    }

    #[test]
    fn xml_names() {
        assert!(is_xml_name("bbb-origin"));
        assert!(is_xml_name("bbb_auto_join_audio"));
        assert!(!is_xml_name("1abc"));
        assert!(!is_xml_name("a b"));
        assert!(!is_xml_name("xmlfoo"));
    }
}

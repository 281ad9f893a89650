//! Delivering the scheduler's room notices (outbox channel `chat`): render each request at send
//! time from the meeting's current state, post it as `m.text` with `m.mentions` for the owner (a
//! notice must ping; `m.notice` never notifies), record the event id, retry with back-off.
//! The Matrix side sits behind [`ChatSink`], so the worker is tested without a homeserver.

use super::access::Access;
use crate::domain::NoticeKind;
use crate::service::Service;
use crate::store::{OutboxEntry, StoredMeeting};
use async_trait::async_trait;
use jiff::{SignedDuration, Zoned};
use std::time::Duration;

/// One message to a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub plain: String,
    pub html: String,
    /// Matrix users to mention (and so notify).
    pub mentions: Vec<String>,
}

/// Where notices go: the bot's Matrix client, or a recorder in tests.
#[async_trait]
pub trait ChatSink: Send + Sync {
    /// Post to `room` (id or alias); returns the event id.
    async fn post(&self, room: &str, message: &ChatMessage) -> Result<String, SinkError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// Worth another try later (homeserver down, rate limited).
    #[error("{0}")]
    Transient(String),
    /// Will not work (the bot is not in that room, the room does not exist).
    #[error("{0}")]
    Permanent(String),
}

/// How long a claimed notice is ours; a worker that died holding it releases it then.
const LEASE: SignedDuration = SignedDuration::from_mins(5);

/// How many tries before a notice is given up (it stays listed as failed with the reason).
pub const MAX_ATTEMPTS: u32 = 8;

/// Deliver what is due; returns how many were posted.
pub async fn deliver_due(
    service: &Service,
    access: &Access,
    homeserver_name: &str,
    sink: &dyn ChatSink,
) -> Result<usize, crate::store::StoreError> {
    let now = service.now();
    let store = service.store();
    let due = store
        .claim_outbox(crate::domain::Channel::Chat, now, now + LEASE, 32)
        .await?;
    let mut posted = 0;
    for entry in due {
        let message = compose(service, access, homeserver_name, &entry).await;
        match sink.post(&entry.request.recipient, &message).await {
            Ok(event_id) => {
                store
                    .mark_outbox_sent(entry.id, service.now(), Some(&event_id))
                    .await?;
                posted += 1;
            }
            Err(e) => {
                let retry = match &e {
                    SinkError::Transient(_) if entry.attempts < MAX_ATTEMPTS => {
                        Some(now + backoff(entry.attempts))
                    }
                    _ => None,
                };
                tracing::warn!(id = entry.id, room = %entry.request.recipient, error = %e, retry = retry.is_some(), "room notice not posted");
                store
                    .mark_outbox_failed(entry.id, &e.to_string(), retry)
                    .await?;
            }
        }
    }
    Ok(posted)
}

/// 30 s, 1 min, 2 min … capped at 30 min.
fn backoff(attempts: u32) -> SignedDuration {
    let secs = 30u64.saturating_mul(1 << attempts.saturating_sub(1).min(6));
    SignedDuration::from_secs(secs.min(1800) as i64)
}

/// Poll interval of the notice worker when nothing wakes it.
pub const POLL: Duration = Duration::from_secs(5);

async fn compose(
    service: &Service,
    access: &Access,
    homeserver_name: &str,
    entry: &OutboxEntry,
) -> ChatMessage {
    let r = &entry.request;
    let meeting = match &r.meeting_id {
        Some(id) => service.store().get_meeting(id).await.ok().flatten(),
        None => None,
    };
    let link = match &r.meeting_id {
        Some(id) => service.public_link(id).await.ok().flatten(),
        None => None,
    };
    let owner = meeting
        .as_ref()
        .and_then(|m| m.spec.owner.as_ref())
        .and_then(|o| access.user_of(&o.email, homeserver_name));
    render(r.kind, &r.data, meeting.as_ref(), link.as_deref(), owner)
}

/// Recordings the retention rules will delete, with how to keep one.
fn expiring(data: &serde_json::Value) -> ChatMessage {
    let day = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map(|t| t.strftime("%a %-d %b %Y").to_string())
            .unwrap_or_else(|| "?".into())
    };
    let mut lines = Vec::new();
    for r in data["recordings"].as_array().into_iter().flatten() {
        let owner = r["owner"]
            .as_str()
            .map(|o| format!(", owner {o}"))
            .unwrap_or_default();
        lines.push(format!(
            "{} (recorded {}{owner}): deleted on {}. To keep it: `keep recording {}`",
            r["name"].as_str().unwrap_or("A recording"),
            day(&r["recorded"]),
            day(&r["deleteOn"]),
            r["id"].as_str().unwrap_or("?"),
        ));
    }
    let head = "🗑️ Under the retention rules these recordings will be deleted:";
    ChatMessage {
        plain: format!(
            "{head}\n{}",
            lines
                .iter()
                .map(|l| format!("• {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        html: format!(
            "{head}<ul>{}</ul>",
            lines
                .iter()
                .map(|l| format!("<li>{}</li>", escape(l)))
                .collect::<String>()
        ),
        mentions: Vec::new(),
    }
}

/// The text of a notice. Pure: everything it needs is passed in.
pub fn render(
    kind: NoticeKind,
    data: &serde_json::Value,
    meeting: Option<&StoredMeeting>,
    link: Option<&str>,
    owner: Option<String>,
) -> ChatMessage {
    if kind == NoticeKind::FilesApplied {
        let text = data["text"].as_str().unwrap_or("Files applied.");
        return ChatMessage {
            plain: format!("📄 {text}"),
            html: format!("📄 <pre>{}</pre>", escape(text)),
            mentions: Vec::new(),
        };
    }
    if kind == NoticeKind::RecordingsExpiringNotice {
        return expiring(data);
    }
    let name = meeting.map(|m| m.spec.name.as_str()).unwrap_or("A meeting");
    let start = data["start"].as_str().and_then(|s| s.parse::<Zoned>().ok());
    let when = start.as_ref().map(human_time).unwrap_or_default();
    let (icon, sentence) = match kind {
        NoticeKind::Reminder => {
            let minutes = data["minutesBefore"].as_u64().unwrap_or(0);
            (
                "⏰",
                format!("{name} starts in {minutes} minutes ({when})."),
            )
        }
        NoticeKind::Started => ("▶️", format!("{name} has started.")),
        NoticeKind::Ended => ("⏹️", format!("{name} has ended.")),
        NoticeKind::RecordingReady => {
            let id = data["recordId"].as_str().unwrap_or("?");
            ("🎞️", format!("A recording of {name} is ready (id {id})."))
        }
        NoticeKind::Failed => {
            let step = data["step"].as_str().unwrap_or("a step").replace('_', " ");
            let error = data["error"].as_str().unwrap_or("unknown error");
            let next = if data["retrying"].as_bool() == Some(true) {
                "I keep trying."
            } else {
                "I have given up on it; fix the cause, then `status <meeting>` shows what is left \
                 and `start <meeting> now` starts it by hand."
            };
            ("❗", format!("{name}: {step} failed ({error}). {next}"))
        }
        NoticeKind::Missed => {
            let step = match data["step"].as_str() {
                Some("pre_open") => "opening the room ahead of",
                _ => "the start of",
            };
            (
                "⚠️",
                format!(
                    "{step} {name} ({when}) was missed: the scheduler was not running then. \
                     Start it now with `start <meeting> now` if it is still wanted."
                ),
            )
        }
        other => (
            "ℹ️",
            format!("{name}: {}", other.as_str().replace('_', " ")),
        ),
    };
    let join = link.map(|l| format!(" Join: {l}")).unwrap_or_default();
    let mention = owner.as_ref().map(|o| format!("{o} ")).unwrap_or_default();
    let plain = format!("{icon} {mention}{sentence}{join}");
    let html_mention = owner
        .as_ref()
        .map(|o| format!("<a href=\"https://matrix.to/#/{o}\">{}</a> ", escape(o)))
        .unwrap_or_default();
    let html_join = link
        .map(|l| format!(" Join: <a href=\"{}\">{}</a>", escape(l), escape(l)))
        .unwrap_or_default();
    let html = format!("{icon} {html_mention}{}{html_join}", escape(&sentence));
    ChatMessage {
        plain,
        html,
        mentions: owner.into_iter().collect(),
    }
}

/// "Tue 1 Dec 2026, 10:00 CET (Europe/Vienna)".
pub fn human_time(z: &Zoned) -> String {
    let zone = z.time_zone().iana_name().unwrap_or("UTC");
    format!("{} ({zone})", z.strftime("%a %-d %b %Y, %H:%M %Z"))
}

/// Minimal HTML escaping for text put into `formatted_body`.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminder_text_mentions_the_owner_and_links_the_room() {
        let data = serde_json::json!({
            "start": "2026-12-01T10:00:00+01:00[Europe/Vienna]",
            "minutesBefore": 15,
        });
        let m = render(
            NoticeKind::Reminder,
            &data,
            None,
            Some("https://gl.uni.example/rooms/abc-def-ghi/join"),
            Some("@ada:uni.example".into()),
        );
        assert_eq!(
            m.plain,
            "⏰ @ada:uni.example A meeting starts in 15 minutes (Tue 1 Dec 2026, 10:00 CET \
             (Europe/Vienna)). Join: https://gl.uni.example/rooms/abc-def-ghi/join"
        );
        assert!(
            m.html
                .contains("href=\"https://matrix.to/#/@ada:uni.example\"")
        );
        assert_eq!(m.mentions, ["@ada:uni.example"]);
    }

    #[test]
    fn an_applied_plan_is_posted_as_preformatted_text() {
        let text = "Applied meetings.yml (SIGHUP):\n✓ + meeting a<b: scheduled";
        let m = render(
            NoticeKind::FilesApplied,
            &serde_json::json!({ "text": text }),
            None,
            None,
            None,
        );
        assert_eq!(m.plain, format!("📄 {text}"));
        assert!(
            m.html
                .contains("<pre>Applied meetings.yml (SIGHUP):\n✓ + meeting a&lt;b"),
            "{}",
            m.html
        );
    }

    #[test]
    fn html_is_escaped() {
        let m = render(
            NoticeKind::Ended,
            &serde_json::json!({}),
            None,
            Some("https://x.example/?a=1&b=<2>"),
            None,
        );
        assert!(m.html.contains("a=1&amp;b=&lt;2&gt;"), "{}", m.html);
        assert!(m.mentions.is_empty());
    }

    #[test]
    fn backoff_grows_and_stops_growing() {
        assert_eq!(backoff(1), SignedDuration::from_secs(30));
        assert_eq!(backoff(2), SignedDuration::from_secs(60));
        assert_eq!(backoff(20), SignedDuration::from_secs(1800));
    }
}

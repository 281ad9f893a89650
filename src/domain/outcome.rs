//! What an operation returns; each front end renders it (chat HTML, JSON, terminal table).

use super::ids::{BbbMeetingId, MeetingId, RecordId, ServerId};
use super::meeting::{MeetingPhase, MeetingSpec, StepRecord};
use super::server::ServerSummary;
use serde::{Deserialize, Serialize};

/// Join links for one meeting. They are bearer credentials: render them only to the asker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinLinks {
    pub moderator: String,
    pub viewer: String,
    /// The Greenlight room page, when the server has a `link_base` and the meeting a room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
}

/// A live meeting as BBB reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningMeeting {
    pub server: ServerId,
    pub name: String,
    pub meeting_id: String,
    pub internal_meeting_id: String,
    pub running: bool,
    pub participants: u32,
    pub moderators: u32,
    pub create_time: jiff::Timestamp,
    pub recording: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<JoinLinks>,
}

/// One server's answer in a fan-out over servers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerMeetings {
    pub server: ServerId,
    /// `None` when the server did not answer in time; `error` then says why.
    pub meetings: Option<Vec<RunningMeeting>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

/// A scheduled meeting with its state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeetingView {
    pub spec: MeetingSpec,
    pub phase: MeetingPhase,
    /// When the definition's start falls, resolved in its time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<jiff::Timestamp>,
    /// Latest record per step, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepRecord>,
    /// What the scheduler will do next, soonest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next: Vec<PlannedView>,
}

/// A scheduled step of a meeting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedView {
    /// `start`, `pre_open`, `end_after`, `poll`, …
    pub step: String,
    pub due: jiff::Timestamp,
    /// Times tried so far, with the last error when it failed.
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Outcome for one item of a multi-item command (share with several users, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemResult {
    pub item: String,
    pub ok: bool,
    /// What happened, or why not ("no Greenlight user with that e-mail; create it first").
    pub message: String,
}

impl ItemResult {
    pub fn ok(item: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            item: item.into(),
            ok: true,
            message: message.into(),
        }
    }
    pub fn failed(item: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            item: item.into(),
            ok: false,
            message: message.into(),
        }
    }
}

/// A Greenlight user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserView {
    pub server: ServerId,
    pub email: String,
    pub name: String,
    /// v3: the tenant; v2: the auth provider (`greenlight`, `ldap`, …).
    pub provider: String,
    pub role: Option<String>,
    pub external_id: Option<String>,
    pub has_password: bool,
    pub verified: bool,
    /// Ids of the rooms the user owns.
    pub rooms: Vec<String>,
}

/// A Greenlight room with its links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomView {
    pub server: ServerId,
    pub id: String,
    pub name: String,
    pub owner_email: String,
    pub owner_name: String,
    /// The public room page people are invited to.
    pub link: String,
    /// Signed BBB join links (credentials): only for actors allowed to change meetings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderator_link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub viewer_link: Option<String>,
    pub shared_with: Vec<String>,
    pub options: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingView {
    pub record_id: RecordId,
    pub meeting_id: String,
    pub name: String,
    pub published: bool,
    pub state: String,
    pub start_time: jiff::Timestamp,
    pub end_time: jiff::Timestamp,
    pub participants: u32,
    /// Playback URLs by format (`presentation`, `video`, …).
    pub playback: Vec<(String, String)>,
    /// Playback only for signed-in users (BBB 2.6+ `protected`).
    #[serde(default)]
    pub protected: bool,
    /// Listed on the room's public Greenlight page (`gl-listed`).
    #[serde(default)]
    pub listed: bool,
    /// Exempt from the retention rules (`schedulight-keep`).
    #[serde(default)]
    pub keep: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    Servers {
        servers: Vec<ServerSummary>,
    },
    Server {
        server: ServerSummary,
        created: bool,
    },
    Meetings {
        meetings: Vec<MeetingView>,
    },
    Meeting {
        meeting: Box<MeetingView>,
        created: bool,
    },
    Started {
        id: MeetingId,
        server: ServerId,
        bbb_meeting_id: BbbMeetingId,
        /// BBB said the meeting already existed (`duplicateWarning`).
        already_running: bool,
        links: JoinLinks,
    },
    Ended {
        id: MeetingId,
        was_running: bool,
    },
    Running {
        servers: Vec<ServerMeetings>,
    },
    Found {
        meeting: Option<Box<RunningMeeting>>,
    },
    Recordings {
        server: ServerId,
        recordings: Vec<RecordingView>,
    },
    RecordingsChanged {
        server: ServerId,
        action: String,
        records: Vec<RecordId>,
        /// What became of Greenlight's copy, when the server has a Greenlight.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    Rooms {
        rooms: Vec<RoomView>,
    },
    User {
        user: Box<UserView>,
    },
    /// Per-item results of a command (share with several users, …), stored as `result_id`.
    Items {
        operation: String,
        result_id: i64,
        results: Vec<ItemResult>,
    },
    /// Mails in the outbox (`mail list`).
    Mails {
        mails: Vec<MailView>,
    },
    /// A token just made: the only time it is shown.
    TokenCreated {
        name: String,
        token: String,
        scopes: Vec<crate::domain::Scope>,
    },
    Tokens {
        tokens: Vec<TokenView>,
    },
    /// What the retention rules did (or would do).
    Retention {
        report: Box<crate::domain::retention::RetentionReport>,
    },
    /// Audit entries, newest first.
    Audit {
        entries: Vec<crate::store::AuditEntry>,
    },
    /// A plain confirmation, e.g. "meeting lecture disabled".
    Done {
        message: String,
    },
}

/// An API token as listed (never the token itself, nor its hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenView {
    pub name: String,
    pub scopes: Vec<crate::domain::Scope>,
    pub created_at: jiff::Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<jiff::Timestamp>,
    pub revoked: bool,
}

/// One mail in the outbox, as `mail list` and the API show it (no rendered body: mails are
/// rendered at send time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailView {
    pub id: i64,
    /// `owner_info`, `invitation`, …
    pub kind: String,
    /// `pending`, `sending`, `sent` or `failed`.
    pub state: String,
    pub recipient: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting: Option<MeetingId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrence: Option<String>,
    pub attempts: u32,
    /// The last failure (SMTP reply or why it could not be rendered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The receiving server's reply on delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    pub created_at: jiff::Timestamp,
    /// Not sent before this (the next try for a mail being retried).
    pub not_before: jiff::Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<jiff::Timestamp>,
}

/// Why an operation failed, in words a user can act on. Internal details stay in the logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum OpError {
    #[error("{capability} is not available yet in this version of schedulight ({op} needs it)")]
    NotAvailableYet { op: String, capability: String },
    #[error("you may not {op}: it needs the '{scope}' permission")]
    Forbidden { op: String, scope: String },
    #[error("no {what} named '{id}'{hint}")]
    NotFound {
        what: String,
        id: String,
        hint: String,
    },
    #[error("{what} '{id}' already exists; use update to change it")]
    AlreadyExists { what: String, id: String },
    #[error("{0}")]
    Invalid(String),
    #[error("BBB server '{server}': {message}")]
    Bbb { server: String, message: String },
    #[error("internal error ({reference}); the details are in the schedulight log")]
    Internal { reference: String },
}

impl OpError {
    pub fn not_found(what: &str, id: impl ToString) -> Self {
        Self::NotFound {
            what: what.into(),
            id: id.to_string(),
            hint: String::new(),
        }
    }

    pub fn not_found_hint(what: &str, id: impl ToString, hint: impl Into<String>) -> Self {
        Self::NotFound {
            what: what.into(),
            id: id.to_string(),
            hint: hint.into(),
        }
    }
}

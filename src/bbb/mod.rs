//! BigBlueButton: the `Bbb` trait the service uses, the HTTP client behind it, and the simulator.

pub mod checksum;
pub mod client;
pub mod sim;
mod xml;

use crate::domain::{BbbMeetingId, RecordId, ServerSpec};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use client::{BbbClient, HttpConnector};

/// Join role (BBB ≥ 2.4 `role=` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Moderator,
    Viewer,
}

impl Role {
    pub fn as_bbb(self) -> &'static str {
        match self {
            Role::Moderator => "MODERATOR",
            Role::Viewer => "VIEWER",
        }
    }
}

/// Parameters of `create` (bbb-api.md §2.1). `None` means "not sent": BBB's default applies.
/// Booleans are sent as `true`/`false` when set, so `false` can be set explicitly.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateParams {
    pub meeting_id: Option<BbbMeetingId>,
    pub name: String,
    /// Legacy passwords; omitted on BBB ≥ 2.6 unless the meeting needs the password join form.
    pub attendee_pw: Option<String>,
    pub moderator_pw: Option<String>,
    pub welcome: Option<String>,
    pub moderator_only_message: Option<String>,
    pub banner_text: Option<String>,
    pub banner_color: Option<String>,
    pub dial_number: Option<String>,
    pub voice_bridge: Option<String>,
    pub max_participants: Option<u32>,
    pub logout_url: Option<String>,
    pub record: Option<bool>,
    pub auto_start_recording: Option<bool>,
    pub allow_start_stop_recording: Option<bool>,
    /// Minutes; 0 = unlimited.
    pub duration: Option<u32>,
    pub mute_on_start: Option<bool>,
    pub allow_mods_to_unmute_users: Option<bool>,
    pub webcams_only_for_moderator: Option<bool>,
    pub lock_settings: LockSettings,
    /// `ALWAYS_ACCEPT`, `ALWAYS_DENY`, `ASK_MODERATOR`.
    pub guest_policy: Option<String>,
    pub end_when_no_moderator: Option<bool>,
    pub meeting_expire_if_no_user_joined_minutes: Option<u32>,
    pub meeting_expire_when_last_user_left_minutes: Option<u32>,
    pub meeting_layout: Option<String>,
    pub disabled_features: Vec<String>,
    /// `meta_<key>`; keys without the prefix. Includes `endCallbackUrl` and
    /// `bbb-recording-ready-url` when callbacks are wanted.
    pub meta: BTreeMap<String, String>,
    /// Anything else, sent as given, after the known parameters.
    pub extra: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LockSettings {
    pub disable_cam: Option<bool>,
    pub disable_mic: Option<bool>,
    pub disable_private_chat: Option<bool>,
    pub disable_public_chat: Option<bool>,
    pub disable_note: Option<bool>,
    pub hide_user_list: Option<bool>,
    pub lock_on_join: Option<bool>,
}

/// Answer to `create`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedMeeting {
    pub meeting_id: String,
    pub internal_meeting_id: String,
    pub attendee_pw: Option<String>,
    pub moderator_pw: Option<String>,
    /// Epoch milliseconds.
    pub create_time: i64,
    pub voice_bridge: String,
    pub dial_number: String,
    pub create_date: String,
    pub has_user_joined: bool,
    pub duration: u32,
    pub has_been_forcibly_ended: bool,
    /// `duplicateWarning`: the meeting already existed; this is its data.
    pub duplicate: bool,
}

/// How a join link conveys the role.
#[derive(Debug, Clone, PartialEq)]
pub enum JoinAuth {
    /// BBB 3.0 form: `role=MODERATOR|VIEWER`.
    Role(Role),
    /// Legacy form: `password=<moderatorPW|attendeePW>`.
    Password(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct JoinParams {
    pub meeting_id: BbbMeetingId,
    pub full_name: String,
    pub auth: JoinAuth,
    pub user_id: Option<String>,
    /// Ties the link to one incarnation of the meeting (`mismatchCreateTimeParam` otherwise).
    pub create_time: Option<i64>,
    pub redirect: Option<bool>,
    pub guest: Option<bool>,
    /// `userdata-<key>`; keys without the prefix.
    pub userdata: BTreeMap<String, String>,
}

impl JoinParams {
    pub fn new(meeting_id: BbbMeetingId, full_name: impl Into<String>, auth: JoinAuth) -> Self {
        Self {
            meeting_id,
            full_name: full_name.into(),
            auth,
            user_id: None,
            create_time: None,
            redirect: None,
            guest: None,
            userdata: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attendee {
    pub user_id: String,
    pub full_name: String,
    /// `MODERATOR` or `VIEWER`.
    pub role: String,
    pub is_presenter: bool,
    pub is_listening_only: bool,
    pub has_joined_voice: bool,
    pub has_video: bool,
    pub client_type: String,
}

/// `getMeetingInfo` / one entry of `getMeetings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeetingInfo {
    pub meeting_name: String,
    pub meeting_id: String,
    pub internal_meeting_id: String,
    pub create_time: i64,
    pub create_date: String,
    pub voice_bridge: String,
    pub dial_number: String,
    pub attendee_pw: Option<String>,
    pub moderator_pw: Option<String>,
    pub running: bool,
    pub duration: u32,
    pub has_user_joined: bool,
    pub recording: bool,
    pub has_been_forcibly_ended: bool,
    pub start_time: i64,
    pub end_time: i64,
    pub participant_count: u32,
    pub listener_count: u32,
    pub voice_participant_count: u32,
    pub video_count: u32,
    pub max_users: u32,
    pub moderator_count: u32,
    pub attendees: Vec<Attendee>,
    /// Lower-cased keys, as BBB returns them.
    pub metadata: BTreeMap<String, String>,
    pub is_breakout: bool,
}

/// Filters of `getRecordings` (bbb-api.md §2.7).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordingsQuery {
    pub meeting_ids: Vec<String>,
    pub record_ids: Vec<RecordId>,
    /// `processing`, `processed`, `published`, `unpublished`, `deleted`, or `any`.
    pub states: Vec<String>,
    pub meta: BTreeMap<String, String>,
    pub offset: Option<u32>,
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaybackFormat {
    pub format_type: String,
    pub url: String,
    pub processing_time: u64,
    pub length: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    pub record_id: String,
    pub meeting_id: String,
    pub internal_meeting_id: String,
    pub name: String,
    pub is_breakout: bool,
    pub published: bool,
    pub state: String,
    pub start_time: i64,
    pub end_time: i64,
    pub participants: u32,
    pub metadata: BTreeMap<String, String>,
    pub playback: Vec<PlaybackFormat>,
    /// `<protected>` (BBB 2.6+): `None` when the server does not report it.
    pub protected: Option<bool>,
}

/// Everything that can go wrong talking to a BBB server, each `messageKey` typed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BbbError {
    #[error("could not reach the server: {0}")]
    Unreachable(String),
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("the server answered HTTP {0}")]
    Http(u16),
    #[error("the server's answer is not valid BBB XML: {0}")]
    BadResponse(String),
    #[error("the server refused our checksum ({message}); check BBB_SECRET and checksumAlgorithm")]
    Checksum { message: String },
    #[error("no such meeting on the server ({message})")]
    NotFound { message: String },
    #[error("a meeting with that ID exists with other passwords ({message})")]
    IdNotUnique { message: String },
    #[error("missing parameter {key}: {message}")]
    MissingParam { key: String, message: String },
    #[error("the server rejected a parameter: {message}")]
    Validation { message: String },
    #[error("join refused by guest policy: {message}")]
    GuestDenied { message: String },
    #[error("the meeting is full: {message}")]
    MaxParticipants { message: String },
    #[error("the join link belongs to an earlier run of the meeting: {message}")]
    CreateTimeMismatch { message: String },
    #[error("the server reports {key}: {message}")]
    Other { key: String, message: String },
}

impl BbbError {
    /// Map a FAILED response's `messageKey` to a typed error.
    pub fn from_key(key: &str, message: &str) -> Self {
        let message = message.to_string();
        match key {
            "checksumError" => Self::Checksum { message },
            "notFound" | "meetingNotFound" => Self::NotFound { message },
            "idNotUnique" => Self::IdNotUnique { message },
            "validationError" | "invalidSharedNotesEditor" | "unsupportedContentType" => {
                Self::Validation { message }
            }
            "guestDeniedAccess" => Self::GuestDenied { message },
            "maxParticipantsReached" => Self::MaxParticipants { message },
            "mismatchCreateTimeParam" => Self::CreateTimeMismatch { message },
            k if k.starts_with("missingParam") || k == "Params required" => Self::MissingParam {
                key: k.to_string(),
                message,
            },
            k => Self::Other {
                key: k.to_string(),
                message,
            },
        }
    }

    /// Worth retrying later (network trouble), as opposed to a request BBB will always refuse.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable(_) | Self::Timeout(_) | Self::Http(500..=599)
        )
    }
}

/// One BBB server's API.
#[async_trait]
pub trait Bbb: Send + Sync {
    async fn create(&self, params: &CreateParams) -> Result<CreatedMeeting, BbbError>;
    /// A signed join URL; computing it needs no network.
    fn join_url(&self, params: &JoinParams) -> String;
    async fn end(&self, meeting_id: &BbbMeetingId) -> Result<(), BbbError>;
    async fn is_meeting_running(&self, meeting_id: &BbbMeetingId) -> Result<bool, BbbError>;
    async fn get_meeting_info(&self, meeting_id: &BbbMeetingId) -> Result<MeetingInfo, BbbError>;
    async fn get_meetings(&self) -> Result<Vec<MeetingInfo>, BbbError>;
    async fn get_recordings(&self, query: &RecordingsQuery) -> Result<Vec<Recording>, BbbError>;
    async fn publish_recordings(&self, ids: &[RecordId], publish: bool) -> Result<bool, BbbError>;
    async fn update_recordings(
        &self,
        ids: &[RecordId],
        meta: &BTreeMap<String, String>,
    ) -> Result<bool, BbbError>;
    async fn delete_recordings(&self, ids: &[RecordId]) -> Result<bool, BbbError>;
    /// `updateRecordings` with `protect=true|false` (BBB 2.6+: playback only for signed-in
    /// users; Greenlight's "Protected" visibility).
    async fn protect_recordings(&self, ids: &[RecordId], protect: bool) -> Result<bool, BbbError>;
}

/// Makes a `Bbb` for a configured server (shares one connection pool across servers).
pub trait BbbConnector: Send + Sync {
    fn connect(&self, server: &ServerSpec) -> Arc<dyn Bbb>;
}

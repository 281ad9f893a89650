//! Greenlight: users, rooms, shares and room options written directly into Greenlight's
//! PostgreSQL database (Greenlight has no API for this, greenlight.md §8). One trait, two
//! implementations: v3 (3.x, uuid ids, room_meeting_options) and v2 (2.x, integer ids,
//! room_settings JSON, home rooms).

pub mod common;
pub mod connector;
pub mod v2;
pub mod v3;

use crate::domain::{Email, RoomRef, Secret};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use crate::domain::server::{GreenlightSettings, GreenlightVersion};

/// A user to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub email: Email,
    pub name: String,
    /// Stored bcrypt-hashed (`$2a$`); `None` for external (OIDC/LDAP) users.
    pub password: Option<Secret>,
    /// Role by name (v3 `User`/`Administrator`/…, v2 `user`/`admin`/…); case-insensitive.
    pub role: Option<String>,
    /// v3 `external_id` (OIDC subject); v2 `social_uid` (LDAP DN, omniauth uid).
    pub external_id: Option<String>,
    /// Locale such as `en` or `de`.
    pub language: Option<String>,
    /// v2 only: `users.uid`/`username` (default `gl-` + 12 random letters).
    pub uid: Option<String>,
    /// v2 only: the user's auth provider (`ldap`, `openid_connect`, …) instead of the
    /// configured one; v3's provider is the tenant and cannot vary per user.
    pub provider: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlUser {
    /// uuid (v3) or integer (v2), as text.
    pub id: String,
    pub email: Email,
    pub name: String,
    pub provider: String,
    pub role: Option<String>,
    pub external_id: Option<String>,
    pub has_password: bool,
    pub verified: bool,
}

/// A room to create.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewRoom {
    pub name: String,
    /// Custom public id (the original's `roomUID`); generated in Greenlight's format when None.
    pub friendly_id: Option<RoomRef>,
    /// Viewer access code.
    pub access_code: Option<String>,
    pub moderator_access_code: Option<String>,
    /// Room options by Greenlight name (v3 `record`, `muteOnStart`, `guestPolicy`,
    /// `glAnyoneCanStart`, …; v2 keys are mapped from these names).
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlRoom {
    pub id: String,
    pub friendly_id: String,
    /// The BBB meetingID Greenlight uses for this room.
    pub meeting_id: String,
    pub name: String,
    pub owner_email: Email,
    pub owner_name: String,
    /// Effective options by v3 name (v2 values mapped), access codes included.
    pub options: BTreeMap<String, String>,
    /// v2 only: the passwords its join links carry.
    #[serde(skip)]
    pub moderator_pw: Option<Secret>,
    #[serde(skip)]
    pub attendee_pw: Option<Secret>,
    pub shared_with: Vec<Email>,
    pub online: bool,
    pub last_session: Option<jiff::Timestamp>,
}

pub use crate::domain::operation::RoomDisposition;
pub use crate::domain::outcome::ItemResult;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletedUser {
    pub email: Email,
    /// Rooms deleted with the user (their BBB meeting ids, for recording clean-up).
    pub deleted_rooms: Vec<DeletedRoom>,
    pub transferred_rooms: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletedRoom {
    pub friendly_id: String,
    pub meeting_id: String,
    /// Greenlight recording rows removed (v3, only when asked).
    pub recordings_removed: u64,
}

/// How to look rooms up (the original's `-l VALUE -b COLUMN`, whitelisted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomSearch {
    /// Room name contains the text (case-insensitive; `%` and `_` match literally).
    Name(String),
    OwnerEmail(Email),
    Id(RoomRef),
    /// The room whose BBB meetingID this is.
    MeetingId(String),
}

/// What `check_schema` found.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SchemaReport {
    pub version: Option<GreenlightVersion>,
    /// Latest `schema_migrations` version seen.
    pub schema_version: Option<String>,
    /// Problems that do not stop us (a newer version, extra columns).
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GreenlightError {
    #[error("cannot connect to the Greenlight database ({location}): {reason}")]
    Connect { location: String, reason: String },
    #[error("the Greenlight database is not usable: {0}")]
    Schema(String),
    #[error("no Greenlight user with e-mail {0}")]
    UserNotFound(Email),
    #[error("a Greenlight user with e-mail {0} already exists")]
    UserExists(Email),
    #[error("no Greenlight room '{0}'")]
    RoomNotFound(String),
    #[error("a Greenlight room with id '{0}' already exists")]
    RoomExists(String),
    #[error("no Greenlight role named '{0}'")]
    RoleNotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "user {email} owns {rooms} room(s); delete them with the user or transfer them to another user"
    )]
    OwnsRooms { email: Email, rooms: usize },
    #[error("Greenlight database error: {0}")]
    Database(String),
}

/// One Greenlight installation.
#[async_trait]
pub trait Greenlight: Send + Sync {
    fn version(&self) -> GreenlightVersion;
    /// Check the tables and columns we use by name: `Schema` error when one is missing,
    /// warnings for a newer version.
    async fn check_schema(&self) -> Result<SchemaReport, GreenlightError>;

    async fn find_user(&self, email: &Email) -> Result<Option<GlUser>, GreenlightError>;
    /// `UserExists` when the e-mail is taken (for this provider).
    async fn create_user(&self, user: &NewUser) -> Result<GlUser, GreenlightError>;
    async fn delete_user(
        &self,
        email: &Email,
        rooms: &RoomDisposition,
        with_recordings: bool,
    ) -> Result<DeletedUser, GreenlightError>;

    /// Create a room owned by `owner` (who must exist), with its option rows.
    async fn create_room(&self, owner: &Email, room: &NewRoom) -> Result<GlRoom, GreenlightError>;
    async fn find_room(&self, room: &RoomRef) -> Result<Option<GlRoom>, GreenlightError>;
    /// v2: `users.room_id` (created as "Home Room" when missing); v3: the owner's oldest room,
    /// created as "<name>'s Room" when the owner has none.
    async fn home_room(&self, owner: &Email) -> Result<GlRoom, GreenlightError>;
    /// Change the public id (the original's `rename_room`) and/or the display name.
    async fn rename_room(
        &self,
        room: &RoomRef,
        new_id: Option<&RoomRef>,
        new_name: Option<&str>,
    ) -> Result<GlRoom, GreenlightError>;
    /// Set options by v3 name (`record`, `muteOnStart`, `guestPolicy`, `glViewerAccessCode`, …);
    /// an unknown name is `Invalid` with the list of known ones.
    async fn set_room_options(
        &self,
        room: &RoomRef,
        options: &BTreeMap<String, String>,
    ) -> Result<GlRoom, GreenlightError>;
    /// Delete the room with its options and shares; Greenlight's recording rows only when
    /// `with_recordings` (BBB recordings are the caller's job).
    async fn delete_room(
        &self,
        room: &RoomRef,
        with_recordings: bool,
    ) -> Result<DeletedRoom, GreenlightError>;
    /// Idempotent; one result per user.
    async fn share_room(
        &self,
        room: &RoomRef,
        users: &[Email],
    ) -> Result<Vec<ItemResult>, GreenlightError>;
    async fn unshare_room(
        &self,
        room: &RoomRef,
        users: &[Email],
    ) -> Result<Vec<ItemResult>, GreenlightError>;
    async fn search_rooms(&self, by: &RoomSearch) -> Result<Vec<GlRoom>, GreenlightError>;

    /// We created the room's BBB meeting: record what Greenlight's own join buttons need
    /// (v3 `last_session` = createTime and `online`; v2 `last_session`, `sessions`).
    async fn meeting_started(
        &self,
        meeting_id: &str,
        create_time_ms: i64,
    ) -> Result<(), GreenlightError>;
    /// BBB ended the room's meeting (v3 `online = false`).
    async fn meeting_ended(&self, meeting_id: &str) -> Result<(), GreenlightError>;

    /// Keep Greenlight's copy of recordings in step with BBB (v3 `recordings`/`formats`; v2
    /// keeps none and asks BBB every time). Recordings of meetings that are no room of ours
    /// are left out. Returns the rows written.
    async fn sync_recordings(&self, _recordings: &[GlRecording]) -> Result<u64, GreenlightError> {
        Ok(0)
    }
    /// Drop Greenlight's rows of recordings deleted on BBB. Returns how many went.
    async fn forget_recordings(&self, _record_ids: &[String]) -> Result<u64, GreenlightError> {
        Ok(0)
    }
}

/// A recording as Greenlight v3 stores it (greenlight.md §1.10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlRecording {
    /// BBB meetingID: finds the room.
    pub meeting_id: String,
    pub record_id: String,
    pub name: String,
    /// `Published`, `Unpublished`, `Protected`, `Public` or `Public/Protected`.
    pub visibility: String,
    pub length_minutes: i32,
    pub participants: i32,
    /// BBB reported a `protected` field.
    pub protectable: bool,
    pub recorded_at: jiff::Timestamp,
    /// (type, url) per playback format.
    pub formats: Vec<(String, String)>,
}

/// Greenlight's visibility for BBB's state (greenlight.md §7's table).
pub fn visibility(published: bool, protected: bool, listed: bool) -> &'static str {
    match (published, protected, listed) {
        (false, _, _) => "Unpublished",
        (true, false, false) => "Published",
        (true, false, true) => "Public",
        (true, true, false) => "Protected",
        (true, true, true) => "Public/Protected",
    }
}

/// Opens (and may cache) the Greenlight of a server.
#[async_trait]
pub trait GreenlightConnector: Send + Sync {
    async fn open(
        &self,
        settings: &GreenlightSettings,
    ) -> Result<std::sync::Arc<dyn Greenlight>, GreenlightError>;
}

/// Public room link: v3 `<base>/rooms/<id>/join`, or the short `<base>/<id>` that Greenlight's
/// router only knows for ids of three or four groups of three; v2 `<link_base>/<uid>`.
pub fn room_link(version: GreenlightVersion, base: &str, friendly_id: &str) -> String {
    let base = base.trim_end_matches('/');
    match version {
        GreenlightVersion::V2 => format!("{base}/{friendly_id}"),
        GreenlightVersion::V3 if short_id(friendly_id) => format!("{base}/{friendly_id}"),
        GreenlightVersion::V3 => format!("{base}/rooms/{friendly_id}/join"),
    }
}

fn short_id(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    (3..=4).contains(&groups.len())
        && groups
            .iter()
            .all(|g| g.len() == 3 && g.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links() {
        assert_eq!(
            room_link(GreenlightVersion::V3, "https://gl.x/", "abc-def-ghi-jkl"),
            "https://gl.x/abc-def-ghi-jkl"
        );
        assert_eq!(
            room_link(GreenlightVersion::V3, "https://gl.x", "lecture-2026"),
            "https://gl.x/rooms/lecture-2026/join"
        );
        assert_eq!(
            room_link(GreenlightVersion::V2, "https://gl.x/b", "ada-x2y-z3w"),
            "https://gl.x/b/ada-x2y-z3w"
        );
    }
}

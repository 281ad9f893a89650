//! Greenlight: users, rooms, shares and room options written directly into Greenlight's
//! PostgreSQL database (Greenlight has no API for this, greenlight.md §8). One trait, two
//! implementations: v3 (3.x, uuid ids, room_meeting_options) and v2 (2.x, integer ids,
//! room_settings JSON, home rooms).

pub mod common;
pub mod v2;

use crate::domain::{Email, RoomRef, Secret};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which Greenlight schema a database holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GreenlightVersion {
    V2,
    V3,
}

/// How to reach one Greenlight (per server, or the default block in bot-config.yml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GreenlightSettings {
    /// `None`: detect from the database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<GreenlightVersion>,
    /// `postgres://…` of Greenlight's database.
    pub database_url: Secret,
    /// v3: the tenant (`users.provider`, `greenlight` in single-tenant installs).
    /// v2: the auth provider of created users (`greenlight`, `ldap`, …; the original used `ldap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Public base URL of Greenlight (`https://gl.uni.example`; v2: `https://host/b`).
    pub link_base: String,
    /// bcrypt cost for passwords we set (Greenlight's default is 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bcrypt_cost: Option<u32>,
}

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

/// What happens to a deleted user's rooms.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomDisposition {
    /// Refuse to delete a user who owns rooms.
    #[default]
    Refuse,
    /// Delete the rooms too.
    Delete,
    /// Give the rooms to another user.
    TransferTo(Email),
}

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
}

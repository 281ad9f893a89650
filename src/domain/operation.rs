//! The one request type every front end produces (chat, REST, CLI, YAML/CSV).

use super::ids::{BbbMeetingId, Email, MeetingId, RecordId, RoomRef, Secret, ServerId};
use super::meeting::{MeetingSpec, Recipient};
use super::server::ServerSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Greenlight role of a created user (seed `role`, default `user`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserRole {
    #[default]
    User,
    Admin,
    /// Any other role name defined in that Greenlight.
    #[serde(untagged)]
    Named(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateUser {
    pub server: ServerId,
    pub email: Email,
    pub full_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(default)]
    pub role: UserRole,
    /// Authentication provider (seed default `ldap`; Greenlight's own accounts are `greenlight`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The user's id at the identity provider (v3 OIDC subject, v2 social_uid / LDAP DN), so
    /// a pre-created user is recognised at first login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateRoom {
    pub server: ServerId,
    pub name: String,
    pub owner: Email,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<RoomRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareRoom {
    pub server: ServerId,
    pub room: RoomRef,
    /// Who gets (or loses) access, with an optional display name for the mail.
    pub with: BTreeMap<Email, Recipient>,
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

/// Which rooms `room_links` reports on (seed `slCli.py -l VALUE -b COLUMN`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by", content = "value")]
pub enum RoomFilter {
    /// Room name contains the text (case-insensitive).
    Name(String),
    Room(RoomRef),
    Owner(Email),
    /// Rooms used by scheduled meetings.
    Meetings,
}

/// Which recordings to act on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingScope {
    Meeting(MeetingId),
    BbbMeeting(BbbMeetingId),
    Records(Vec<RecordId>),
    /// A Greenlight room's recordings (by its friendly id or link).
    Room(RoomRef),
    /// The recordings of every Greenlight room a user owns.
    Owner(Email),
}

/// One change to recordings besides publishing (BBB `updateRecordings`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "set", content = "value")]
pub enum RecordingChange {
    /// `protect=true|false`: playback links only for signed-in users (BBB 2.6+; Greenlight's
    /// "Protected" visibility).
    Protected(bool),
    /// `meta_gl-listed`: Greenlight lists the recording on the room's public page ("Public").
    Listed(bool),
    /// `meta_name`: the name Greenlight and the players show.
    Name(String),
    /// `meta_schedulight-keep`: retention rules never delete it.
    Keep(bool),
}

/// State filter for the mail outbox listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailFilter {
    #[default]
    Pending,
    Sent,
    Failed,
    All,
}

/// Everything schedulight can be asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    // --- servers
    AddServer {
        server: Box<ServerSpec>,
    },
    UpdateServer {
        server: Box<ServerSpec>,
    },
    RemoveServer {
        id: ServerId,
    },
    ListServers,

    // --- scheduled meetings
    ScheduleMeeting {
        meeting: Box<MeetingSpec>,
    },
    UpdateMeeting {
        meeting: Box<MeetingSpec>,
    },
    CancelMeeting {
        id: MeetingId,
    },
    DisableMeeting {
        id: MeetingId,
    },
    EnableMeeting {
        id: MeetingId,
    },
    MeetingStatus {
        id: MeetingId,
    },
    /// Forget the step history (all of it, or one step) so the steps run again.
    ResetMeeting {
        id: MeetingId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<String>,
        /// Mail the owner, invitees, moderators and sharees again (the mails a reset would
        /// otherwise not repeat, their requests being already in the outbox).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        resend: bool,
    },
    ListMeetings,
    StartMeetingNow {
        id: MeetingId,
    },
    EndMeeting {
        id: MeetingId,
    },

    // --- the seed's seven Greenlight commands
    CreateUser(CreateUser),
    DeleteUser {
        server: ServerId,
        email: Email,
        #[serde(default)]
        rooms: RoomDisposition,
        /// Also delete the recordings of deleted rooms (on BBB and in Greenlight); they cannot
        /// be restored.
        #[serde(default)]
        with_recordings: bool,
    },
    CreateRoom(CreateRoom),
    DeleteRoom {
        server: ServerId,
        room: RoomRef,
        #[serde(default)]
        with_recordings: bool,
    },
    /// Change a room's public id (the original's `rename_room`).
    RenameRoom {
        server: ServerId,
        room: RoomRef,
        new_uid: RoomRef,
    },
    /// Change a room's name and/or options (`record`, `muteOnStart`, `guestPolicy`,
    /// `glAnyoneCanStart`, `glAnyoneJoinAsModerator`, `glRequireAuthentication`,
    /// `glViewerAccessCode`, `glModeratorAccessCode`, …).
    SetRoom {
        server: ServerId,
        room: RoomRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        options: BTreeMap<String, String>,
    },
    ShareRoom(ShareRoom),
    UnshareRoom(ShareRoom),
    /// A Greenlight user by e-mail, with the rooms they own.
    ShowUser {
        server: ServerId,
        email: Email,
    },
    /// Stored per-item results of an earlier multi-item command.
    CommandResult {
        id: i64,
    },

    // --- links and live meetings
    RoomLinks {
        server: ServerId,
        filter: RoomFilter,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mail_to: Option<Email>,
    },
    /// Running meetings on one server, or on all (None).
    ShowRunningMeetings {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server: Option<ServerId>,
    },
    FindMeeting {
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        server: Option<ServerId>,
    },

    // --- recordings
    ListRecordings {
        server: ServerId,
        scope: Option<RecordingScope>,
    },
    PublishRecordings {
        server: ServerId,
        records: Vec<RecordId>,
    },
    UnpublishRecordings {
        server: ServerId,
        records: Vec<RecordId>,
    },
    DeleteRecordings {
        server: ServerId,
        records: Vec<RecordId>,
    },
    UpdateRecordings {
        server: ServerId,
        records: Vec<RecordId>,
        change: RecordingChange,
    },
    /// Run the retention rules now: warn owners of recordings due for deletion, delete the
    /// overdue ones, purge old step history, sent messages and audit entries. `dry_run`
    /// reports what would happen and changes nothing.
    Retention {
        #[serde(default)]
        dry_run: bool,
    },

    // --- mail outbox
    ListMail {
        #[serde(default)]
        filter: MailFilter,
    },
    DeleteMail {
        id: i64,
    },
    /// Delete every mail in one state from the outbox (`pending`: the queued ones).
    PurgeMail {
        #[serde(default)]
        state: MailFilter,
    },

    // --- API tokens
    /// A new bearer token; the outcome shows it once, the store keeps only its hash.
    CreateToken {
        name: String,
        scopes: Vec<Scope>,
    },
    ListTokens,
    /// Audit entries matching the query, newest first.
    AuditLog {
        query: crate::store::AuditQuery,
    },
    RevokeToken {
        name: String,
    },
}

/// A capability an actor must hold for an operation; API tokens carry these by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// Look at servers, meetings, rooms, recordings and command results.
    #[serde(rename = "read")]
    Read,
    #[serde(rename = "servers:write")]
    ServersWrite,
    #[serde(rename = "meetings:write")]
    MeetingsWrite,
    /// Post the original's commands (`POST /api/v1/commands`); each also needs its own scope.
    #[serde(rename = "commands:write")]
    CommandsWrite,
    /// Greenlight rooms: create, delete, rename, settings, share.
    #[serde(rename = "rooms:write")]
    RoomsWrite,
    /// Greenlight users: create, delete.
    #[serde(rename = "users:write")]
    UsersWrite,
    #[serde(rename = "recordings:write")]
    RecordingsWrite,
    /// The mail queue: list (recipients are personal data), delete, purge.
    #[serde(rename = "mails:admin")]
    MailsAdmin,
    /// API tokens: create, list, revoke.
    #[serde(rename = "tokens:admin")]
    TokensAdmin,
    /// The audit log: who changed what, when (personal data).
    #[serde(rename = "audit:read")]
    AuditRead,
}

impl Scope {
    pub const ALL: [Scope; 10] = [
        Self::Read,
        Self::ServersWrite,
        Self::MeetingsWrite,
        Self::CommandsWrite,
        Self::RoomsWrite,
        Self::UsersWrite,
        Self::RecordingsWrite,
        Self::MailsAdmin,
        Self::TokensAdmin,
        Self::AuditRead,
    ];

    /// The name tokens and errors use (`meetings:write`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::ServersWrite => "servers:write",
            Self::MeetingsWrite => "meetings:write",
            Self::CommandsWrite => "commands:write",
            Self::RoomsWrite => "rooms:write",
            Self::UsersWrite => "users:write",
            Self::RecordingsWrite => "recordings:write",
            Self::MailsAdmin => "mails:admin",
            Self::TokensAdmin => "tokens:admin",
            Self::AuditRead => "audit:read",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s.trim())
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Operation {
    /// Short machine name (`schedule_meeting`), used in logs, audit and errors.
    pub fn name(&self) -> &'static str {
        use Operation::*;
        match self {
            AddServer { .. } => "add_server",
            UpdateServer { .. } => "update_server",
            RemoveServer { .. } => "remove_server",
            ListServers => "list_servers",
            ScheduleMeeting { .. } => "schedule_meeting",
            UpdateMeeting { .. } => "update_meeting",
            CancelMeeting { .. } => "cancel_meeting",
            DisableMeeting { .. } => "disable_meeting",
            EnableMeeting { .. } => "enable_meeting",
            MeetingStatus { .. } => "meeting_status",
            ResetMeeting { .. } => "reset_meeting",
            ListMeetings => "list_meetings",
            StartMeetingNow { .. } => "start_meeting_now",
            EndMeeting { .. } => "end_meeting",
            CreateUser(_) => "create_user",
            DeleteUser { .. } => "delete_user",
            CreateRoom(_) => "create_room",
            DeleteRoom { .. } => "delete_room",
            RenameRoom { .. } => "rename_room",
            SetRoom { .. } => "set_room",
            ShowUser { .. } => "show_user",
            CommandResult { .. } => "command_result",
            ShareRoom(_) => "share_room",
            UnshareRoom(_) => "unshare_room",
            RoomLinks { .. } => "room_links",
            ShowRunningMeetings { .. } => "show_running_meetings",
            FindMeeting { .. } => "find_meeting",
            ListRecordings { .. } => "list_recordings",
            PublishRecordings { .. } => "publish_recordings",
            UnpublishRecordings { .. } => "unpublish_recordings",
            DeleteRecordings { .. } => "delete_recordings",
            UpdateRecordings { .. } => "update_recordings",
            Retention { dry_run: true } => "retention_plan",
            Retention { dry_run: false } => "retention",
            ListMail { .. } => "list_mail",
            DeleteMail { .. } => "delete_mail",
            PurgeMail { .. } => "purge_mail",
            CreateToken { .. } => "create_token",
            ListTokens => "list_tokens",
            AuditLog { .. } => "audit_log",
            RevokeToken { .. } => "revoke_token",
        }
    }

    /// The scope an actor needs to run this operation.
    pub fn scope(&self) -> Scope {
        use Operation::*;
        match self {
            ListServers => Scope::Read,
            AddServer { .. } | UpdateServer { .. } | RemoveServer { .. } => Scope::ServersWrite,
            MeetingStatus { .. }
            | ListMeetings
            | ShowRunningMeetings { .. }
            | FindMeeting { .. } => Scope::Read,
            ScheduleMeeting { .. }
            | UpdateMeeting { .. }
            | CancelMeeting { .. }
            | DisableMeeting { .. }
            | EnableMeeting { .. }
            | ResetMeeting { .. }
            | StartMeetingNow { .. }
            | EndMeeting { .. } => Scope::MeetingsWrite,
            CreateUser(_) | DeleteUser { .. } => Scope::UsersWrite,
            CreateRoom(_)
            | DeleteRoom { .. }
            | RenameRoom { .. }
            | SetRoom { .. }
            | ShareRoom(_)
            | UnshareRoom(_) => Scope::RoomsWrite,
            RoomLinks { .. } | CommandResult { .. } | ShowUser { .. } => Scope::Read,
            ListRecordings { .. } => Scope::Read,
            PublishRecordings { .. }
            | UnpublishRecordings { .. }
            | DeleteRecordings { .. }
            | UpdateRecordings { .. } => Scope::RecordingsWrite,
            // What would go is a listing; running it deletes across all servers and purges
            // personal data, so it takes the administrators' scope.
            Retention { dry_run: true } => Scope::Read,
            Retention { dry_run: false } => Scope::ServersWrite,
            ListMail { .. } | DeleteMail { .. } | PurgeMail { .. } => Scope::MailsAdmin,
            CreateToken { .. } | ListTokens | RevokeToken { .. } => Scope::TokensAdmin,
            AuditLog { .. } => Scope::AuditRead,
        }
    }
}

/// Who asks. Front ends build it after authenticating (API token, allowed Matrix user, local CLI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// For audit: `cli:root`, `api:token-name`, `matrix:@alice:uni.example`, `scheduler`.
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl Actor {
    /// Full rights: the local CLI, the scheduler and config files the admin applies.
    pub fn admin(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            scopes: Scope::ALL.to_vec(),
        }
    }

    pub fn with_scopes(name: impl Into<String>, scopes: impl IntoIterator<Item = Scope>) -> Self {
        Self {
            name: name.into(),
            scopes: scopes.into_iter().collect(),
        }
    }

    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_tagged_json() {
        let op = Operation::DeleteRoom {
            server: "bbb".parse().unwrap(),
            room: "abc-def-ghi".parse().unwrap(),
            with_recordings: false,
        };
        let v = serde_json::to_value(&op).unwrap();
        assert_eq!(v["op"], "delete_room");
        let back: Operation = serde_json::from_value(v).unwrap();
        assert_eq!(back, op);
        let v = serde_json::to_value(Operation::ListServers).unwrap();
        assert_eq!(v, serde_json::json!({"op": "list_servers"}));
    }

    #[test]
    fn scopes_gate_actors() {
        let reader = Actor::with_scopes("api:ro", [Scope::Read]);
        assert!(reader.may(Operation::ListMeetings.scope()));
        assert!(
            !reader.may(
                Operation::EndMeeting {
                    id: "x".parse().unwrap()
                }
                .scope()
            )
        );
        assert!(Actor::admin("cli").may(Scope::MailsAdmin));
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}

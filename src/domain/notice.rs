//! What the outbox carries: typed requests to tell somebody something ("send the owner's info
//! mail for meeting X", "post the started notice of occurrence Y to room Z"). A request names
//! its kind, meeting, occurrence and recipient and holds no rendered text and no credentials;
//! the mail sender and the bot render it at send time from the meeting's current state, so an
//! edit made after queueing is what the recipient reads.

use serde::{Deserialize, Serialize};

/// Where a request is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// An e-mail; the recipient is an address.
    Mail,
    /// A Matrix room message; the recipient is a room id or alias.
    Chat,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mail => "mail",
            Self::Chat => "chat",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Mail, Self::Chat]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// What a request is about. The mail kinds are the original's eight mails (their template key
/// names in [`NoticeKind::seed_template_key`]) plus cancelled/changed; the chat kinds are the
/// notices the bot posts to a meeting's room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    OwnerInfo,
    OwnerReminder,
    OwnerStarted,
    ShareInfo,
    Invitation,
    ModeratorLink,
    RoomShared,
    RoomUnshared,
    MeetingCancelled,
    MeetingChanged,
    /// The rooms-and-links report mailed on request (the original CLI's `-e`).
    RoomLinks,
    /// Chat: the meeting starts soon.
    Reminder,
    /// Chat: the first participant joined.
    Started,
    /// Chat: the meeting ended (endAfterMinutes or BBB's end callback).
    Ended,
    /// Chat: BBB finished processing a recording.
    RecordingReady,
    /// Chat: a step's time passed while the scheduler was not running (misfire policy).
    Missed,
    /// Chat: a step failed (given up, or still failing after a few retries).
    Failed,
    /// Chat: the daemon applied its declarative files (or refused broken ones).
    FilesApplied,
    /// Mail to an owner: recordings the retention rules will delete soon.
    RecordingsExpiring,
    /// Chat: the same, in the meeting's room (or the retention report room).
    RecordingsExpiringNotice,
    /// A mail the Python scheduLight had queued (already rendered), moved over by
    /// `import-redis` without the SMTP credentials it carried.
    ImportedMail,
}

impl NoticeKind {
    pub const ALL: [Self; 21] = [
        Self::OwnerInfo,
        Self::OwnerReminder,
        Self::OwnerStarted,
        Self::ShareInfo,
        Self::Invitation,
        Self::ModeratorLink,
        Self::RoomShared,
        Self::RoomUnshared,
        Self::MeetingCancelled,
        Self::MeetingChanged,
        Self::RoomLinks,
        Self::Reminder,
        Self::Started,
        Self::Ended,
        Self::RecordingReady,
        Self::Missed,
        Self::Failed,
        Self::FilesApplied,
        Self::RecordingsExpiring,
        Self::RecordingsExpiringNotice,
        Self::ImportedMail,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OwnerInfo => "owner_info",
            Self::OwnerReminder => "owner_reminder",
            Self::OwnerStarted => "owner_started",
            Self::ShareInfo => "share_info",
            Self::Invitation => "invitation",
            Self::ModeratorLink => "moderator_link",
            Self::RoomShared => "room_shared",
            Self::RoomUnshared => "room_unshared",
            Self::MeetingCancelled => "meeting_cancelled",
            Self::MeetingChanged => "meeting_changed",
            Self::RoomLinks => "room_links",
            Self::Reminder => "reminder",
            Self::Started => "started",
            Self::Ended => "ended",
            Self::RecordingReady => "recording_ready",
            Self::Missed => "missed",
            Self::Failed => "failed",
            Self::FilesApplied => "files_applied",
            Self::RecordingsExpiring => "recordings_expiring",
            Self::RecordingsExpiringNotice => "recordings_expiring_notice",
            Self::ImportedMail => "imported_mail",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The channel a kind goes to.
    pub fn channel(self) -> Channel {
        match self {
            Self::Reminder
            | Self::Started
            | Self::Ended
            | Self::RecordingReady
            | Self::Missed
            | Self::Failed
            | Self::FilesApplied
            | Self::RecordingsExpiringNotice => Channel::Chat,
            _ => Channel::Mail,
        }
    }

    /// The meeting key of the original that names a template for this mail, if it had one.
    pub fn seed_template_key(self) -> Option<&'static str> {
        Some(match self {
            Self::OwnerInfo => "meetingOwnerInfoTemplate",
            Self::OwnerReminder => "meetingOwnerReminderTemplate",
            Self::OwnerStarted => "meetingOwnerStartedTemplate",
            Self::ShareInfo => "meetingShareInfoTemplate",
            Self::Invitation => "meetingInvitationInfoTemplate",
            Self::ModeratorLink => "meetingModeratorInfoTemplate",
            _ => return None,
        })
    }
}

impl std::fmt::Display for NoticeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in NoticeKind::ALL {
            assert_eq!(NoticeKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::Value::String(k.as_str().into())
            );
        }
        for c in [Channel::Mail, Channel::Chat] {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
        }
    }

    #[test]
    fn seed_mails_have_template_keys() {
        let mails = NoticeKind::ALL
            .into_iter()
            .filter(|k| k.seed_template_key().is_some())
            .count();
        assert_eq!(mails, 6);
        assert!(
            NoticeKind::ALL
                .iter()
                .filter(|k| k.seed_template_key().is_some())
                .all(|k| k.channel() == Channel::Mail)
        );
    }
}

//! A scheduled meeting as the admin defines it (the seed's `meetings:` entry, same keys), and the
//! state the scheduler keeps for it.

use super::ids::{BbbMeetingId, Email, MeetingId, RoomRef, Secret, ServerId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The owner of a meeting's room (seed `owner:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Owner {
    pub email: Email,
    #[serde(rename = "fullName")]
    pub full_name: String,
    /// Only used when the Greenlight user has to be created; stored bcrypt-hashed there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(rename = "socialUid", default, skip_serializing_if = "Option::is_none")]
    pub social_uid: Option<String>,
}

/// One recipient in `shareWith`, `sendModeratorLink`, `sendInvitationLink`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    #[serde(rename = "fullName", default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// Overrides the meeting's and the server's `send_emails` for this recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_emails: Option<bool>,
}

/// Seed `liveStreaming:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveStreaming {
    #[serde(rename = "streamerHost")]
    pub streamer_host: String,
    #[serde(rename = "targetUrl")]
    pub target_url: String,
    #[serde(rename = "playIntro", default, skip_serializing_if = "Option::is_none")]
    pub play_intro: Option<String>,
}

/// BBB guest policy (bbb-api.md §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GuestPolicy {
    AlwaysAccept,
    AlwaysDeny,
    AskModerator,
}

impl GuestPolicy {
    pub fn as_bbb(self) -> &'static str {
        match self {
            Self::AlwaysAccept => "ALWAYS_ACCEPT",
            Self::AlwaysDeny => "ALWAYS_DENY",
            Self::AskModerator => "ASK_MODERATOR",
        }
    }
}

/// A meeting definition. Field names on the wire are the seed's YAML keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingSpec {
    pub id: MeetingId,
    pub server: ServerId,
    #[serde(rename = "meetingName")]
    pub name: String,
    /// The BBB meetingID; when absent a stable one is derived from `id`.
    #[serde(rename = "meetingID", default, skip_serializing_if = "Option::is_none")]
    pub bbb_meeting_id: Option<BbbMeetingId>,
    /// Greenlight room uid (short URL).
    #[serde(
        rename = "meetingUID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub room: Option<RoomRef>,
    #[serde(
        rename = "useHomeRoom",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub use_home_room: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// Wall-clock start in `time_zone` (seed format `YYYY-MM-DD HH:MM`).
    #[serde(
        rename = "startDate",
        default,
        skip_serializing_if = "Option::is_none",
        with = "seed_datetime"
    )]
    pub start: Option<jiff::civil::DateTime>,
    /// IANA zone for `startDate`; the app-wide default zone when absent.
    #[serde(rename = "timeZone", default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(
        rename = "reminderMinutes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub reminder_minutes: Option<u32>,
    #[serde(
        rename = "preOpenMinutes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub pre_open_minutes: Option<u32>,
    #[serde(
        rename = "preStartMinutes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub pre_start_minutes: Option<u32>,
    #[serde(
        rename = "endAfterMinutes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub end_after_minutes: Option<u32>,
    #[serde(
        rename = "accessCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub access_code: Option<String>,
    #[serde(
        rename = "muteOnStart",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mute_on_start: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<bool>,
    #[serde(
        rename = "allowStartStopRecording",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub allow_start_stop_recording: Option<bool>,
    #[serde(
        rename = "autoStartRecording",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub auto_start_recording: Option<bool>,
    #[serde(
        rename = "bannerText",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub banner_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub welcome: Option<String>,
    /// BBB `duration` in minutes (0 = unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u32>,
    #[serde(rename = "logoutURL", default, skip_serializing_if = "Option::is_none")]
    pub logout_url: Option<String>,
    #[serde(
        rename = "maxParticipants",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_participants: Option<u32>,
    #[serde(
        rename = "guestPolicy",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub guest_policy: Option<GuestPolicy>,
    #[serde(
        rename = "liveStreaming",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub live_streaming: Option<LiveStreaming>,
    #[serde(
        rename = "sendInvitationLink",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub send_invitation_link: BTreeMap<Email, Recipient>,
    #[serde(
        rename = "sendModeratorLink",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub send_moderator_link: BTreeMap<Email, Recipient>,
    #[serde(
        rename = "shareWith",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub share_with: BTreeMap<Email, Recipient>,
    // Per-meeting mail template overrides (file names under `templates/`).
    #[serde(
        rename = "meetingInvitationInfoTemplate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub invitation_info_template: Option<String>,
    #[serde(
        rename = "meetingModeratorInfoTemplate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub moderator_info_template: Option<String>,
    #[serde(
        rename = "meetingOwnerInfoTemplate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub owner_info_template: Option<String>,
    #[serde(
        rename = "meetingOwnerReminderTemplate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub owner_reminder_template: Option<String>,
    #[serde(
        rename = "meetingOwnerStartedTemplate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub owner_started_template: Option<String>,
    #[serde(
        rename = "meetingShareInfoTemplate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub share_info_template: Option<String>,
    #[serde(rename = "mailFrom", default, skip_serializing_if = "Option::is_none")]
    pub mail_from: Option<Email>,
    #[serde(
        rename = "mailFromName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mail_from_name: Option<String>,
    #[serde(rename = "mailTo", default, skip_serializing_if = "Option::is_none")]
    pub mail_to: Option<Email>,
    #[serde(
        rename = "mailToName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mail_to_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_emails: Option<bool>,
    /// Written by the seed's CSV import; kept so imported files stay valid.
    #[serde(
        rename = "meetingTitle",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub title: Option<String>,
}

impl MeetingSpec {
    /// A meeting with only the required keys set.
    pub fn new(id: MeetingId, server: ServerId, name: impl Into<String>) -> Self {
        Self {
            id,
            server,
            name: name.into(),
            bbb_meeting_id: None,
            room: None,
            use_home_room: None,
            owner: None,
            start: None,
            time_zone: None,
            reminder_minutes: None,
            pre_open_minutes: None,
            pre_start_minutes: None,
            end_after_minutes: None,
            access_code: None,
            mute_on_start: None,
            record: None,
            allow_start_stop_recording: None,
            auto_start_recording: None,
            banner_text: None,
            welcome: None,
            duration: None,
            logout_url: None,
            max_participants: None,
            guest_policy: None,
            live_streaming: None,
            send_invitation_link: BTreeMap::new(),
            send_moderator_link: BTreeMap::new(),
            share_with: BTreeMap::new(),
            invitation_info_template: None,
            moderator_info_template: None,
            owner_info_template: None,
            owner_reminder_template: None,
            owner_started_template: None,
            share_info_template: None,
            mail_from: None,
            mail_from_name: None,
            mail_to: None,
            mail_to_name: None,
            send_emails: None,
            title: None,
        }
    }

    /// The BBB meetingID: the configured one, else a stable id derived from our key so that
    /// every create of this meeting hits the same BBB meeting (idempotent, `duplicateWarning`).
    pub fn effective_bbb_id(&self) -> BbbMeetingId {
        match &self.bbb_meeting_id {
            Some(id) => id.clone(),
            None => BbbMeetingId::try_from(format!("sl-{}", self.id))
                .expect("a meeting key always makes a valid BBB id"),
        }
    }

    /// `welcome` / `bannerText` with the seed's `__startDate__` placeholder filled in.
    pub fn fill_placeholders(&self, text: &str) -> String {
        match &self.start {
            Some(start) => text.replace("__startDate__", &seed_datetime::format(start)),
            None => text.to_string(),
        }
    }
}

/// Lifecycle of a scheduled meeting, persisted after every step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingPhase {
    /// Registered, nothing done yet (seed 200).
    New,
    /// Waiting for its start time (seed 201).
    Waiting,
    /// Created on BBB ahead of the start (seed preOpen 220).
    PreOpened,
    /// Created and running or joinable (seed 210/220).
    Started,
    /// Ended by us or by BBB.
    Ended,
    /// Cancelled by an admin; kept for history.
    Cancelled,
    /// Ignored by the scheduler until enabled again (seed 900).
    Disabled,
    /// A step failed; see the step history.
    Failed,
}

impl MeetingPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Waiting => "waiting",
            Self::PreOpened => "pre_opened",
            Self::Started => "started",
            Self::Ended => "ended",
            Self::Cancelled => "cancelled",
            Self::Disabled => "disabled",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::New,
            Self::Waiting,
            Self::PreOpened,
            Self::Started,
            Self::Ended,
            Self::Cancelled,
            Self::Disabled,
            Self::Failed,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// One entry of a meeting's step history (the seed's `meeting:<id>:status` lists, with real
/// timestamps and no `|`-splitting).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Step name, e.g. `status`, `preOpen`, `owner_infoMailSent`, `shareWith_bob@uni.example`.
    pub step: String,
    /// Seed-compatible code (200, 201, 210, 220, 250, 400, 404, 420, 440, 550, 900).
    pub code: u16,
    pub message: String,
    pub at: jiff::Timestamp,
}

/// `startDate` in the seed's `YYYY-MM-DD HH:MM` form; also accepts ISO 8601 with `T` and
/// seconds (the seed crashed on those).
pub mod seed_datetime {
    use jiff::civil::DateTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn format(dt: &DateTime) -> String {
        dt.strftime("%Y-%m-%d %H:%M").to_string()
    }

    pub fn parse(s: &str) -> Result<DateTime, String> {
        let t = s.trim();
        for fmt in [
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%dT%H:%M:%S",
        ] {
            if let Ok(dt) = DateTime::strptime(fmt, t) {
                return Ok(dt);
            }
        }
        Err(format!(
            "startDate {t:?} is not a date and time; write it as YYYY-MM-DD HH:MM, e.g. 2026-12-03 14:30"
        ))
    }

    pub fn serialize<S: Serializer>(v: &Option<DateTime>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            // Seconds only when there are any: the seed's format stays as it was, and a start
            // given with seconds (accepted by `parse`) survives a round trip through the store.
            Some(dt) if dt.second() != 0 => {
                s.serialize_str(&dt.strftime("%Y-%m-%d %H:%M:%S").to_string())
            }
            Some(dt) => s.serialize_str(&format(dt)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime>, D::Error> {
        let raw: Option<String> = Option::deserialize(d)?;
        match raw {
            None => Ok(None),
            Some(s) => parse(&s).map(Some).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MeetingSpec {
        let mut m = MeetingSpec::new(
            "lecture".parse().unwrap(),
            "bbb".parse().unwrap(),
            "Lecture",
        );
        m.start = Some(seed_datetime::parse("2026-12-03 14:30").unwrap());
        m
    }

    #[test]
    fn seed_keys_round_trip() {
        let json = r#"{"id":"m1","server":"bbb","meetingName":"Demo","startDate":"2026-12-03 14:30",
            "preOpenMinutes":60,"shareWith":{"Bob@Uni.Example":{"fullName":"Bob"}},
            "meetingOwnerInfoTemplate":"x.j2"}"#;
        let m: MeetingSpec = serde_json::from_str(json).unwrap();
        assert_eq!(m.pre_open_minutes, Some(60));
        assert_eq!(m.owner_info_template.as_deref(), Some("x.j2"));
        assert!(
            m.share_with
                .contains_key(&"bob@uni.example".parse().unwrap())
        );
        let back = serde_json::to_value(&m).unwrap();
        assert_eq!(back["startDate"], "2026-12-03 14:30");
        assert_eq!(back["meetingOwnerInfoTemplate"], "x.j2");
    }

    #[test]
    fn unknown_key_is_rejected() {
        let json =
            r#"{"id":"m1","server":"bbb","meetingName":"Demo","startdate":"2026-12-03 14:30"}"#;
        let err = serde_json::from_str::<MeetingSpec>(json)
            .unwrap_err()
            .to_string();
        assert!(err.contains("startdate"), "{err}");
    }

    #[test]
    fn bad_date_explains_format() {
        let err = seed_datetime::parse("tomorrow-ish").unwrap_err();
        assert!(err.contains("YYYY-MM-DD HH:MM"));
        assert!(seed_datetime::parse("2026-12-03T14:30:00").is_ok());
    }

    #[test]
    fn placeholders_and_default_bbb_id() {
        let m = sample();
        assert_eq!(
            m.fill_placeholders("starts __startDate__"),
            "starts 2026-12-03 14:30"
        );
        assert_eq!(m.effective_bbb_id().as_str(), "sl-lecture");
    }
}

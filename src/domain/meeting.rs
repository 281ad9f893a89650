//! A scheduled meeting as the admin defines it (the seed's `meetings:` entry, same keys), and the
//! state the scheduler keeps for it.

pub mod recurrence;

use super::ids::{BbbMeetingId, Email, InvalidValue, MeetingId, RoomRef, Secret, ServerId};
pub use recurrence::{Recurrence, RecurrenceError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

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
    /// RFC 5545 RRULE; `startDate` is the first occurrence. Absent: a one-off meeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<Recurrence>,
    /// Occurrences to skip, by day or by day and time in the meeting's zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exdate: Vec<ExDate>,
    /// What to do with a step whose time passed while the daemon was down (default `grace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub misfire: Option<MisfirePolicy>,
    /// The `grace` window in minutes (default 15).
    #[serde(
        rename = "misfireGraceMinutes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub misfire_grace_minutes: Option<u32>,
    /// Matrix room that gets this meeting's notices (`!id:server` or `#alias:server`).
    #[serde(
        rename = "notifyRoom",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub notify_room: Option<MatrixRoom>,
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
            recurrence: None,
            exdate: Vec::new(),
            misfire: None,
            misfire_grace_minutes: None,
            notify_room: None,
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

/// Seed `misfire`: what happens to a step whose time passed while the daemon was not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MisfirePolicy {
    /// Run it if it is at most `misfireGraceMinutes` late, else mark it missed.
    #[default]
    Grace,
    /// Run it however late it is.
    Always,
    /// Mark it missed.
    Skip,
}

impl MisfirePolicy {
    pub const ALL: [Self; 3] = [Self::Grace, Self::Always, Self::Skip];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grace => "grace",
            Self::Always => "always",
            Self::Skip => "skip",
        }
    }
}

impl FromStr for MisfirePolicy {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| InvalidValue::new("misfire policy", t, "use grace, always or skip"))
    }
}

/// One `exdate` entry: skip the occurrence on that day, or the one at that day and time, in
/// the meeting's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExDate {
    Day(jiff::civil::Date),
    At(jiff::civil::DateTime),
}

impl ExDate {
    pub fn date(self) -> jiff::civil::Date {
        match self {
            Self::Day(d) => d,
            Self::At(dt) => dt.date(),
        }
    }

    /// Whether this entry removes the occurrence at `at` (local wall-clock time).
    pub fn excludes(self, at: jiff::civil::DateTime) -> bool {
        match self {
            Self::Day(d) => at.date() == d,
            Self::At(dt) => at == dt,
        }
    }
}

impl FromStr for ExDate {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if let Ok(d) = jiff::civil::Date::strptime("%Y-%m-%d", t) {
            return Ok(Self::Day(d));
        }
        seed_datetime::parse(t).map(Self::At).map_err(|_| {
            InvalidValue::new(
                "exdate",
                t,
                "write a day as YYYY-MM-DD or a day and time as YYYY-MM-DD HH:MM",
            )
        })
    }
}

impl fmt::Display for ExDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Day(d) => write!(f, "{}", d.strftime("%Y-%m-%d")),
            Self::At(dt) if dt.second() != 0 => write!(f, "{}", dt.strftime("%Y-%m-%d %H:%M:%S")),
            Self::At(dt) => f.write_str(&seed_datetime::format(dt)),
        }
    }
}

impl Serialize for ExDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ExDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// A Matrix room, by id (`!abc:uni.example`) or alias (`#lectures:uni.example`), checked for
/// its shape only; whether the room exists is the bot's business.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MatrixRoom(String);

impl MatrixRoom {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An alias (`#…`) still has to be resolved to a room id.
    pub fn is_alias(&self) -> bool {
        self.0.starts_with('#')
    }
}

fn check_matrix_room(s: &str) -> Result<String, String> {
    let t = s.trim();
    let Some(rest) = t.strip_prefix(['!', '#']) else {
        return Err(
            "a Matrix room starts with ! (room id) or # (alias), e.g. !abc:uni.example".into(),
        );
    };
    // Room ids of room version 12 are a hash without a server part (`!abc…`); older ones and
    // aliases name their server.
    let shape = "a Matrix room has the form !id, !id:server or #alias:server";
    match rest.split_once(':') {
        Some((local, server)) if local.is_empty() || server.is_empty() => {
            return Err(shape.into());
        }
        None if t.starts_with('#') || rest.is_empty() => return Err(shape.into()),
        _ => {}
    }
    // The Matrix spec caps room ids and aliases at 255 bytes.
    if t.len() > 255 {
        return Err("a Matrix room id is at most 255 bytes".into());
    }
    if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a Matrix room id has no spaces".into());
    }
    Ok(t.to_string())
}

impl FromStr for MatrixRoom {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        check_matrix_room(s)
            .map(Self)
            .map_err(|reason| InvalidValue::new("Matrix room", s, reason))
    }
}

impl fmt::Display for MatrixRoom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MatrixRoom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MatrixRoom({:?})", self.0)
    }
}

impl Serialize for MatrixRoom {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MatrixRoom {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
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
    fn schedule_keys_round_trip() {
        let json = r##"{"id":"m1","server":"bbb","meetingName":"Demo","startDate":"2026-12-01 10:00",
            "recurrence":"RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=12",
            "exdate":["2026-12-22","2026-12-29 10:00"],
            "misfire":"always","misfireGraceMinutes":5,"notifyRoom":"#lectures:uni.example"}"##;
        let m: MeetingSpec = serde_json::from_str(json).unwrap();
        assert_eq!(
            m.recurrence.as_ref().map(Recurrence::source),
            Some("RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=12")
        );
        assert_eq!(
            m.exdate,
            [
                ExDate::Day(jiff::civil::date(2026, 12, 22)),
                ExDate::At(jiff::civil::date(2026, 12, 29).at(10, 0, 0, 0)),
            ]
        );
        assert_eq!(m.misfire, Some(MisfirePolicy::Always));
        assert_eq!(m.misfire_grace_minutes, Some(5));
        assert!(m.notify_room.as_ref().is_some_and(MatrixRoom::is_alias));
        let back = serde_json::to_value(&m).unwrap();
        assert_eq!(back["exdate"][1], "2026-12-29 10:00");
        assert_eq!(back["misfireGraceMinutes"], 5);
        let again: MeetingSpec = serde_json::from_value(back).unwrap();
        assert_eq!(again, m);
        // Absent keys stay absent.
        let plain = serde_json::to_value(sample()).unwrap();
        assert!(plain.get("exdate").is_none() && plain.get("recurrence").is_none());
    }

    #[test]
    fn schedule_keys_are_checked_by_serde() {
        let with = |key: &str, value: &str| {
            let json =
                format!(r#"{{"id":"m1","server":"bbb","meetingName":"Demo","{key}":{value}}}"#);
            serde_json::from_str::<MeetingSpec>(&json)
                .unwrap_err()
                .to_string()
        };
        assert!(with("recurrence", r#""FREQ=HOURLY""#).contains("recurrence: FREQ=HOURLY"));
        assert!(with("exdate", r#"["next week"]"#).contains("YYYY-MM-DD"));
        assert!(with("misfire", r#""later""#).contains("grace"));
        assert!(with("notifyRoom", r#""lectures""#).contains("Matrix room"));
        assert!(with("notifyRoom", "\"#abc\"").contains("#alias:server"));
        assert!(with("notifyRoom", r#""!""#).contains("!id"));
        // Room version 12 ids have no server part.
        let v12 = r#"{"id":"m1","server":"bbb","meetingName":"Demo","notifyRoom":"!jtw7J2KiHfL7Byb4Tgp3zjLQJ9KHKmz5n4Y2XJwv97A"}"#;
        assert!(serde_json::from_str::<MeetingSpec>(v12).is_ok());
        assert!(with("misfireGraceMinutes", "-1").contains("invalid value"));
    }

    #[test]
    fn exdate_matching() {
        let day = ExDate::Day(jiff::civil::date(2026, 12, 22));
        let at = "2026-12-22 10:00".parse::<ExDate>().unwrap();
        let ten = jiff::civil::date(2026, 12, 22).at(10, 0, 0, 0);
        let eleven = jiff::civil::date(2026, 12, 22).at(11, 0, 0, 0);
        assert!(day.excludes(ten) && day.excludes(eleven));
        assert!(at.excludes(ten) && !at.excludes(eleven));
        assert_eq!("2026-12-22T10:00".parse::<ExDate>().unwrap(), at);
        assert_eq!(at.date(), day.date());
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

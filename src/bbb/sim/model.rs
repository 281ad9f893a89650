//! Meeting and recording state and the rules BBB applies to them (bbb-api.md §2–§4). Pure logic
//! over a `State` and a `now`; the caller holds the lock and ships the returned effects.

use super::params::Params;
use crate::bbb::checksum::hex;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use sha1::Digest;
use std::collections::{BTreeMap, BTreeSet};

pub const MODERATOR: &str = "MODERATOR";
pub const VIEWER: &str = "VIEWER";

const MINUTE_MS: i64 = 60_000;

/// A FAILED answer as BBB words it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiFailure {
    pub key: String,
    pub message: String,
}

impl ApiFailure {
    pub fn new(key: &str, message: &str) -> Self {
        Self {
            key: key.to_string(),
            message: message.to_string(),
        }
    }

    fn validation(message: &str) -> Self {
        Self::new("validationError", message)
    }

    fn meeting_not_found() -> Self {
        Self::new("notFound", "A meeting with that ID does not exist")
    }

    fn recordings_not_found() -> Self {
        Self::new("notFound", "We could not find recordings")
    }
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// How `create` failed: most errors use the single-error form; a few come from BBB's
/// `respondWithErrors` path and use the `<errors>` list form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CreateFailure {
    Single(ApiFailure),
    List(Vec<ApiFailure>),
}

impl CreateFailure {
    pub(crate) fn first(&self) -> ApiFailure {
        match self {
            Self::Single(f) => f.clone(),
            Self::List(v) => v
                .first()
                .cloned()
                .unwrap_or_else(|| ApiFailure::new("internalError", "unknown error")),
        }
    }
}

/// How `join` failed: BBB answers most join errors by redirecting the browser to the logout URL
/// with `errors=[…]`, a few (checksum, role/password) with XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JoinFailure {
    pub failure: ApiFailure,
    /// `Some(logout URL)` when BBB redirects instead of answering XML.
    pub redirect_to: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GuestPolicy {
    AlwaysAccept,
    AlwaysDeny,
    AskModerator,
    AlwaysAcceptAuth,
}

impl GuestPolicy {
    fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "ALWAYS_ACCEPT" => Some(Self::AlwaysAccept),
            "ALWAYS_DENY" => Some(Self::AlwaysDeny),
            "ASK_MODERATOR" => Some(Self::AskModerator),
            "ALWAYS_ACCEPT_AUTH" => Some(Self::AlwaysAcceptAuth),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum GuestStatus {
    Allow,
    Wait,
    Deny,
}

impl GuestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "ALLOW",
            Self::Wait => "WAIT",
            Self::Deny => "DENY",
        }
    }
}

/// One user in a meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimParticipant {
    /// Internal id, `w_` + 12 characters.
    pub user_id: String,
    pub external_user_id: String,
    pub full_name: String,
    /// `MODERATOR` or `VIEWER`.
    pub role: String,
    pub guest: bool,
    pub is_presenter: bool,
    pub is_listening_only: bool,
    pub has_joined_voice: bool,
    pub has_video: bool,
    pub client_type: String,
    pub customdata: BTreeMap<String, String>,
    pub joined_at: i64,
}

impl SimParticipant {
    pub fn is_moderator(&self) -> bool {
        self.role == MODERATOR
    }
}

/// A live meeting, everything the simulator knows about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimMeeting {
    pub meeting_id: String,
    pub internal_meeting_id: String,
    pub name: String,
    /// Epoch milliseconds.
    pub create_time: i64,
    pub create_date: String,
    pub voice_bridge: String,
    pub dial_number: String,
    pub attendee_pw: String,
    pub moderator_pw: String,
    /// Minutes; 0 = unlimited.
    pub duration: u32,
    pub max_users: u32,
    pub record: bool,
    pub guest_policy: GuestPolicy,
    pub logout_url: String,
    pub meeting_expire_if_no_user_joined_minutes: u32,
    pub meeting_expire_when_last_user_left_minutes: u32,
    pub end_when_no_moderator: bool,
    pub end_when_no_moderator_delay_minutes: u32,
    /// Lower-cased keys without the `meta_` prefix.
    pub metadata: BTreeMap<String, String>,
    /// The decoded parameters of the `create` that made the meeting, as sent (minus checksum).
    pub create_params: Vec<(String, String)>,
    pub participants: Vec<SimParticipant>,
    pub has_user_joined: bool,
    pub start_time: i64,
    pub end_time: i64,
    pub last_user_left_on: Option<i64>,
    pub last_moderator_left_on: Option<i64>,
    pub has_been_forcibly_ended: bool,
    /// External user ids of everyone who was ever in the meeting (recording `participants`).
    pub users_seen: BTreeSet<String>,
}

impl SimMeeting {
    /// BBB: running while at least one user is present.
    pub fn running(&self) -> bool {
        !self.participants.is_empty()
    }

    pub fn moderator_count(&self) -> usize {
        self.participants
            .iter()
            .filter(|p| p.is_moderator())
            .count()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimPlayback {
    pub format_type: String,
    pub url: String,
    /// Milliseconds.
    pub processing_time: u64,
    /// Minutes.
    pub length: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimRecording {
    pub record_id: String,
    pub meeting_id: String,
    pub internal_meeting_id: String,
    pub name: String,
    pub is_breakout: bool,
    pub published: bool,
    /// `processing`, `published`, `unpublished` or `deleted`.
    pub state: String,
    pub start_time: i64,
    pub end_time: i64,
    pub participants: u32,
    pub metadata: BTreeMap<String, String>,
    pub playback: Vec<SimPlayback>,
    /// `updateRecordings … protect=true` (BBB 2.6+).
    #[serde(default)]
    pub protected: bool,
    /// When processing finishes (epoch ms).
    pub ready_at: i64,
}

/// Something to send to the outside world after the state lock is released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// GET `url` (meta_endCallbackUrl with `recordingmarks` and `meetingID` appended).
    MeetingEnded { url: String },
    /// POST `signed_parameters` to `url` (meta_bbb-recording-ready-url).
    RecordingReady {
        url: String,
        meeting_id: String,
        record_id: String,
    },
}

/// Why a meeting ended (names as in akka-apps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndReason {
    EndApi,
    NotJoined,
    ExceededDuration,
    LastUserLeft,
    NoModerator,
}

/// A join-issued session, used by the fake client pages and guest approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub internal_meeting_id: String,
    pub user_id: String,
    pub guest_status: GuestStatus,
}

/// Server-wide settings the rules need.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `scheme://host[:port]`, no trailing slash.
    pub server_url: String,
    pub logout_url: String,
    pub dial_number: String,
    pub authenticated_guest: bool,
    pub recording_processing_ms: i64,
}

impl Settings {
    fn client_url(&self) -> String {
        format!("{}/html5client/join", self.server_url)
    }
    fn guest_wait_url(&self) -> String {
        format!("{}/html5client/guestWait", self.server_url)
    }
}

/// Result of a successful join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joined {
    pub message_key: String,
    pub message: String,
    pub meeting_id: String,
    pub internal_meeting_id: String,
    pub user_id: String,
    pub auth_token: String,
    pub session_token: String,
    pub guest_status: GuestStatus,
    /// Where the browser goes: the client, or the guest lobby.
    pub url: String,
    /// Whether BBB would redirect (true) or answer XML (`redirect=false`).
    pub redirect: bool,
}

/// Parameters of a participant added through the control API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewParticipant {
    pub name: String,
    /// `MODERATOR` or `VIEWER` (default).
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub listening_only: bool,
    #[serde(default)]
    pub voice: bool,
    #[serde(default)]
    pub video: bool,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    /// Live meetings by external meetingID.
    pub meetings: BTreeMap<String, SimMeeting>,
    pub recordings: Vec<SimRecording>,
    pub sessions: BTreeMap<String, Session>,
    last_create_time: i64,
}

pub(crate) fn sha1_hex(s: &str) -> String {
    hex(&sha1::Sha1::digest(s.as_bytes()))
}

fn random_alnum(n: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

fn random_lower(n: usize) -> String {
    random_alnum(n).to_ascii_lowercase()
}

fn random_voice_bridge() -> String {
    let n: u32 = rand::rng().random_range(0..100_000);
    format!("{n:05}")
}

/// `java.util.Date.toString()` in UTC, e.g. `Mon Jul 09 17:03:29 UTC 2018`.
pub(crate) fn java_date(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::UTC)
                .strftime("%a %b %d %H:%M:%S UTC %Y")
                .to_string()
        })
        .unwrap_or_default()
}

fn minutes(m: u32) -> i64 {
    i64::from(m) * MINUTE_MS
}

/// MeetingIDConstraint: present, 2–256 characters, no comma.
fn check_meeting_id(p: &Params) -> Result<&str, ApiFailure> {
    let id = p
        .non_empty("meetingID")
        .ok_or_else(|| ApiFailure::new("missingParamMeetingID", "You must provide a meeting ID"))?;
    if !(2..=256).contains(&id.chars().count()) {
        return Err(ApiFailure::validation(
            "Meeting ID must be between 2 and 256 characters",
        ));
    }
    if id.contains(',') {
        return Err(ApiFailure::validation("Meeting ID cannot contain ','"));
    }
    Ok(id)
}

fn is_java_boolean(v: &str) -> bool {
    v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")
}

fn check_create_params(p: &Params) -> Result<(), ApiFailure> {
    let id = check_meeting_id(p)?;
    if id.chars().any(char::is_control) {
        return Err(ApiFailure::validation("Invalid meeting ID"));
    }
    let name = p
        .non_empty("name")
        .ok_or_else(|| ApiFailure::validation("You must provide a meeting name"))?;
    if !(2..=256).contains(&name.chars().count()) {
        return Err(ApiFailure::validation(
            "Meeting name must be between 2 and 256 characters",
        ));
    }
    if let Some(vb) = p.non_empty("voiceBridge")
        && vb.trim().parse::<i64>().is_err()
    {
        return Err(ApiFailure::validation(
            "Voice bridge must be an integral value",
        ));
    }
    if let Some(r) = p.get("record")
        && !is_java_boolean(r)
    {
        return Err(ApiFailure::validation(
            "Record must be a boolean value (true or false)",
        ));
    }
    Ok(())
}

/// Guest status as `Meeting.calcGuestStatus` decides it (bbb-api.md §4).
fn guest_status(
    policy: GuestPolicy,
    moderator: bool,
    guest: bool,
    guest_param_provided: bool,
    authenticated_guest: bool,
) -> GuestStatus {
    if moderator || (guest_param_provided && !guest) || (!authenticated_guest && !guest) {
        return GuestStatus::Allow;
    }
    match policy {
        GuestPolicy::AlwaysAccept => GuestStatus::Allow,
        GuestPolicy::AlwaysDeny => GuestStatus::Deny,
        GuestPolicy::AskModerator => GuestStatus::Wait,
        GuestPolicy::AlwaysAcceptAuth if guest => GuestStatus::Wait,
        GuestPolicy::AlwaysAcceptAuth => GuestStatus::Allow,
    }
}

/// Role from `role=` (wins) or the legacy password; errors are BBB's "Params required" XML.
fn resolve_role(p: &Params, m: &SimMeeting) -> Result<&'static str, ApiFailure> {
    let required = |msg: &str| ApiFailure::new("Params required", msg);
    match p.non_empty("role").map(str::to_ascii_lowercase).as_deref() {
        Some("moderator") => return Ok(MODERATOR),
        Some("viewer") => return Ok(VIEWER),
        _ => {}
    }
    let Some(pw) = p.get("password").filter(|s| !s.is_empty()) else {
        return Err(required(
            "You must either send the valid role of the user, or the password, sould the meeting has one.",
        ));
    };
    if m.moderator_pw.is_empty() || m.attendee_pw.is_empty() {
        return Err(required(
            "You must send the 'role' parameter, since this meeting doesn't have any password.",
        ));
    }
    if pw == m.moderator_pw {
        Ok(MODERATOR)
    } else if pw == m.attendee_pw {
        Ok(VIEWER)
    } else {
        Err(required("You must enter a valid password"))
    }
}

fn append_query(url: &str, extra: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{extra}")
}

impl State {
    /// A createTime never seen before, even when a frozen clock repeats the same instant.
    fn next_create_time(&mut self, now: i64) -> i64 {
        let t = now.max(self.last_create_time + 1);
        self.last_create_time = t;
        t
    }

    fn voice_bridge_in_use(&self, vb: &str) -> bool {
        self.meetings.values().any(|m| m.voice_bridge == vb)
    }

    /// Up to 10 tries for a free random bridge, as APICTL does.
    fn free_voice_bridge(&self) -> String {
        let mut vb = random_voice_bridge();
        for _ in 0..10 {
            if !self.voice_bridge_in_use(&vb) {
                break;
            }
            vb = random_voice_bridge();
        }
        vb
    }

    pub(crate) fn meeting(&self, p: &Params) -> Result<&SimMeeting, ApiFailure> {
        let id = check_meeting_id(p)?;
        self.meetings
            .get(id)
            .ok_or_else(ApiFailure::meeting_not_found)
    }

    /// `create`: a new meeting, the existing one (`duplicate = true`), or a failure.
    pub(crate) fn create(
        &mut self,
        p: &Params,
        now: i64,
        s: &Settings,
    ) -> Result<(SimMeeting, bool), CreateFailure> {
        check_create_params(p).map_err(CreateFailure::Single)?;
        let id = p.get("meetingID").unwrap_or_default().to_string();
        if let Some(existing) = self.meetings.get(&id) {
            return Self::duplicate(existing, p).map(|m| (m, true));
        }
        let voice_bridge = match p.non_empty("voiceBridge") {
            Some(vb) => vb.trim().to_string(),
            None => self.free_voice_bridge(),
        };
        if self.voice_bridge_in_use(&voice_bridge) {
            return Err(CreateFailure::List(vec![ApiFailure::new(
                "nonUniqueVoiceBridge",
                "The selected voice bridge is already in use.",
            )]));
        }
        let create_time = self.next_create_time(now);
        let meeting = new_meeting(p, id.clone(), create_time, voice_bridge, s);
        self.meetings.insert(id, meeting.clone());
        Ok((meeting, false))
    }

    /// Re-create of a live meeting: same data when both passwords match or none is given.
    fn duplicate(existing: &SimMeeting, p: &Params) -> Result<SimMeeting, CreateFailure> {
        let att = p.non_empty("attendeePW");
        let modr = p.non_empty("moderatorPW");
        let same = p.get("attendeePW") == Some(existing.attendee_pw.as_str())
            && p.get("moderatorPW") == Some(existing.moderator_pw.as_str());
        if same || (att.is_none() && modr.is_none()) {
            Ok(existing.clone())
        } else {
            Err(CreateFailure::Single(ApiFailure::new(
                "idNotUnique",
                "A meeting already exists with that meeting ID.  Please use a different meeting ID.",
            )))
        }
    }

    /// `join`: resolve role and guest status, register the user, issue a session.
    pub(crate) fn join(
        &mut self,
        p: &Params,
        now: i64,
        s: &Settings,
    ) -> Result<Joined, JoinFailure> {
        let admission = self.admit(p, s)?;
        Ok(self.register(p, admission, now, s))
    }

    /// Every check join makes before a user is registered, in APICTL's order.
    fn admit(&self, p: &Params, s: &Settings) -> Result<Admission, JoinFailure> {
        let logout = p
            .non_empty("logoutURL")
            .map(str::to_string)
            .unwrap_or_else(|| s.logout_url.clone());
        let redirect_err = |key: &str, message: &str| JoinFailure {
            failure: ApiFailure::new(key, message),
            redirect_to: Some(logout.clone()),
        };
        let redirect = |f: ApiFailure| redirect_err(&f.key, &f.message);
        check_join_params(p).map_err(redirect)?;
        let m = self.meeting(p).map_err(redirect)?;
        if let Some(ct) = p.get("createTime")
            && ct.trim().parse::<i64>().ok() != Some(m.create_time)
        {
            return Err(redirect_err(
                "mismatchCreateTimeParam",
                "The createTime parameter submitted mismatches with the current meeting.",
            ));
        }
        let role = resolve_role(p, m).map_err(|failure| JoinFailure {
            failure,
            redirect_to: None,
        })?;
        let guest = p.flag("guest", false);
        let status = guest_status(
            m.guest_policy,
            role == MODERATOR,
            guest,
            p.non_empty("guest").is_some(),
            s.authenticated_guest,
        );
        let user_id = format!("w_{}", random_lower(12));
        let external_user_id = p
            .non_empty("userID")
            .map(str::to_string)
            .unwrap_or_else(|| user_id.clone());
        if max_participants_reached(m, &external_user_id) {
            return Err(redirect_err(
                "maxParticipantsReached",
                "The number of participants allowed for this meeting has been reached.",
            ));
        }
        if status == GuestStatus::Deny {
            return Err(redirect_err(
                "guestDeniedAccess",
                "You have been denied access to this meeting based on the meeting's guest policy",
            ));
        }
        Ok(Admission {
            meeting_id: m.meeting_id.clone(),
            internal_meeting_id: m.internal_meeting_id.clone(),
            user_id,
            external_user_id,
            role,
            guest,
            status,
        })
    }

    /// Issue the session; an admitted user enters the meeting, a waiting guest does not.
    fn register(&mut self, p: &Params, a: Admission, now: i64, s: &Settings) -> Joined {
        let mut user = participant(
            &a.user_id,
            &a.external_user_id,
            p.get("fullName").unwrap_or_default().trim(),
            a.role,
            now,
        );
        user.guest = a.guest;
        user.customdata = p.userdata();
        let session_token = random_lower(16);
        let mut joined = Joined {
            message_key: "successfullyJoined".into(),
            message: "You have joined successfully.".into(),
            meeting_id: a.meeting_id.clone(),
            internal_meeting_id: a.internal_meeting_id.clone(),
            user_id: a.user_id.clone(),
            auth_token: random_lower(12),
            session_token: session_token.clone(),
            guest_status: a.status,
            url: format!("{}?sessionToken={session_token}", s.client_url()),
            // Java Boolean.parseBoolean: anything but "true" turns redirection off.
            redirect: p.flag("redirect", true),
        };
        if a.status == GuestStatus::Wait {
            joined.message_key = "guestWait".into();
            joined.message = "Guest waiting for approval to join meeting.".into();
            joined.url = format!("{}?sessionToken={session_token}", s.guest_wait_url());
            if let Some(locale) = user.customdata.get("bbb_override_default_locale") {
                joined.url.push_str(&format!("&locale={locale}"));
            }
        } else if let Some(m) = self.meetings.get_mut(&a.meeting_id) {
            enter(m, user);
        }
        let session = Session {
            internal_meeting_id: a.internal_meeting_id,
            user_id: a.user_id,
            guest_status: a.status,
        };
        self.sessions.insert(session_token, session);
        joined
    }

    /// Control API: put a user straight into a meeting.
    pub(crate) fn add_participant(
        &mut self,
        meeting_id: &str,
        np: &NewParticipant,
        now: i64,
    ) -> Option<String> {
        let m = self.meetings.get_mut(meeting_id)?;
        let user_id = format!("w_{}", random_lower(12));
        let role = match np.role.as_deref().map(str::to_ascii_uppercase).as_deref() {
            Some(MODERATOR) => MODERATOR,
            _ => VIEWER,
        };
        let external = np.user_id.clone().unwrap_or_else(|| user_id.clone());
        let mut user = participant(&user_id, &external, &np.name, role, now);
        user.is_listening_only = np.listening_only;
        user.has_joined_voice = np.voice;
        user.has_video = np.video;
        enter(m, user);
        Some(user_id)
    }

    /// Control API: a user leaves (matched by internal or external user id).
    pub(crate) fn remove_participant(&mut self, meeting_id: &str, user_id: &str, now: i64) -> bool {
        let Some(m) = self.meetings.get_mut(meeting_id) else {
            return false;
        };
        let Some(pos) = m
            .participants
            .iter()
            .position(|p| p.user_id == user_id || p.external_user_id == user_id)
        else {
            return false;
        };
        let left = m.participants.remove(pos);
        leave(m, &left, now);
        self.sessions.retain(|_, s| s.user_id != left.user_id);
        true
    }

    /// A guest in the lobby is let in (moderator approval); used by the fake client pages.
    pub(crate) fn session(&self, token: &str) -> Option<&Session> {
        self.sessions.get(token)
    }

    /// `end`: the meeting ends now.
    pub(crate) fn end(
        &mut self,
        p: &Params,
        now: i64,
        s: &Settings,
    ) -> Result<Vec<Effect>, ApiFailure> {
        let id = self.meeting(p)?.meeting_id.clone();
        Ok(self.end_meeting(&id, EndReason::EndApi, now, s))
    }

    /// Remove the meeting, make its recording, and say which callbacks to send.
    pub(crate) fn end_meeting(
        &mut self,
        id: &str,
        reason: EndReason,
        now: i64,
        s: &Settings,
    ) -> Vec<Effect> {
        let Some(mut m) = self.meetings.remove(id) else {
            return Vec::new();
        };
        m.has_been_forcibly_ended = reason == EndReason::EndApi;
        tracing::debug!(meeting = %m.meeting_id, ?reason, "simulated meeting ended");
        self.sessions
            .retain(|_, sess| sess.internal_meeting_id != m.internal_meeting_id);
        let mut effects = Vec::new();
        if let Some(url) = m.metadata.get("endcallbackurl") {
            let extra = format!(
                "recordingmarks={}&meetingID={}",
                m.record,
                form_urlencoded::byte_serialize(m.meeting_id.as_bytes()).collect::<String>()
            );
            effects.push(Effect::MeetingEnded {
                url: append_query(url, &extra),
            });
        }
        if m.record {
            self.recordings.push(new_recording(&m, now, s));
            effects.extend(self.finish_processing(now));
        }
        effects
    }

    /// Apply the expiry rules (bbb-api.md §4) and finish recording processing.
    pub(crate) fn tick(&mut self, now: i64, s: &Settings) -> Vec<Effect> {
        let due: Vec<(String, EndReason)> = self
            .meetings
            .values()
            .filter_map(|m| expiry(m, now).map(|r| (m.meeting_id.clone(), r)))
            .collect();
        let mut effects = Vec::new();
        for (id, reason) in due {
            effects.extend(self.end_meeting(&id, reason, now, s));
        }
        effects.extend(self.finish_processing(now));
        effects
    }

    /// Recordings whose processing time is over become published.
    fn finish_processing(&mut self, now: i64) -> Vec<Effect> {
        let mut effects = Vec::new();
        for r in self
            .recordings
            .iter_mut()
            .filter(|r| r.state == "processing" && r.ready_at <= now)
        {
            r.state = "published".into();
            r.published = true;
            if let Some(url) = r.metadata.get("bbb-recording-ready-url") {
                effects.push(Effect::RecordingReady {
                    url: url.clone(),
                    meeting_id: r.meeting_id.clone(),
                    record_id: r.record_id.clone(),
                });
            }
        }
        effects
    }

    /// `getRecordings` filters (bbb-api.md §2.7).
    pub(crate) fn find_recordings(&self, p: &Params) -> Vec<SimRecording> {
        let record_ids = p.csv("recordID");
        let internal_prefixes: Vec<String> =
            p.csv("meetingID").iter().map(|id| sha1_hex(id)).collect();
        let states = p.csv("state");
        let any = states.iter().any(|s| s == "any");
        let wanted_states: Vec<String> = if states.is_empty() {
            vec!["published".into(), "unpublished".into()]
        } else {
            states
        };
        let meta = p.meta();
        let mut found: Vec<SimRecording> = self
            .recordings
            .iter()
            .filter(|r| {
                if !record_ids.is_empty() {
                    record_ids
                        .iter()
                        .any(|id| r.record_id.starts_with(id.as_str()))
                } else if !internal_prefixes.is_empty() {
                    internal_prefixes
                        .iter()
                        .any(|h| r.internal_meeting_id.split('-').next() == Some(h.as_str()))
                } else {
                    true
                }
            })
            .filter(|r| any || wanted_states.contains(&r.state))
            .filter(|r| meta.iter().all(|(k, v)| r.metadata.get(k) == Some(v)))
            .cloned()
            .collect();
        found.sort_by(|a, b| (a.start_time, &a.record_id).cmp(&(b.start_time, &b.record_id)));
        paginate(found, p)
    }

    fn recordings_by_ids(
        &mut self,
        p: &Params,
        usable: impl Fn(&SimRecording) -> bool,
    ) -> Result<Vec<&mut SimRecording>, ApiFailure> {
        let ids = p.csv("recordID");
        if ids.is_empty() {
            return Err(ApiFailure::new(
                "missingParamRecordID",
                "You must specify a recordID.",
            ));
        }
        let found: Vec<&mut SimRecording> = self
            .recordings
            .iter_mut()
            .filter(|r| ids.contains(&r.record_id) && usable(r))
            .collect();
        if found.is_empty() {
            return Err(ApiFailure::recordings_not_found());
        }
        Ok(found)
    }

    pub(crate) fn publish(&mut self, p: &Params) -> Result<bool, ApiFailure> {
        let publish = match p.non_empty("publish") {
            Some(v) if is_java_boolean(v.trim()) => v.trim().eq_ignore_ascii_case("true"),
            _ => {
                return Err(ApiFailure::new(
                    "missingParamPublish",
                    "You must specify a publish value true or false.",
                ));
            }
        };
        let found =
            self.recordings_by_ids(p, |r| r.state == "published" || r.state == "unpublished")?;
        for r in found {
            r.published = publish;
            r.state = if publish { "published" } else { "unpublished" }.into();
        }
        Ok(publish)
    }

    pub(crate) fn delete(&mut self, p: &Params) -> Result<bool, ApiFailure> {
        for r in self.recordings_by_ids(p, |r| r.state != "deleted")? {
            r.published = false;
            r.state = "deleted".into();
        }
        Ok(true)
    }

    /// `updateRecordings`: set `meta_*` values (an empty value removes the key) and, when
    /// given, `protect` (BBB 2.6+; anything but `true`/`false` is ignored, as BBB does).
    pub(crate) fn update(&mut self, p: &Params) -> Result<bool, ApiFailure> {
        let meta = p.meta();
        let protect = match p.get("protect") {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        };
        for r in self.recordings_by_ids(p, |_| true)? {
            if let Some(protect) = protect {
                r.protected = protect;
            }
            for (k, v) in &meta {
                if v.is_empty() {
                    r.metadata.remove(k);
                } else {
                    r.metadata.insert(k.clone(), v.clone());
                }
            }
        }
        Ok(true)
    }
}

/// What join decided about a user before registering them.
struct Admission {
    meeting_id: String,
    internal_meeting_id: String,
    user_id: String,
    external_user_id: String,
    role: &'static str,
    guest: bool,
    status: GuestStatus,
}

/// A freshly arrived HTML5 user: no audio, no video, not presenter yet.
fn participant(user_id: &str, external: &str, name: &str, role: &str, now: i64) -> SimParticipant {
    SimParticipant {
        user_id: user_id.to_string(),
        external_user_id: external.to_string(),
        full_name: name.to_string(),
        role: role.to_string(),
        guest: false,
        is_presenter: false,
        is_listening_only: false,
        has_joined_voice: false,
        has_video: false,
        client_type: "HTML5".into(),
        customdata: BTreeMap::new(),
        joined_at: now,
    }
}

fn check_join_params(p: &Params) -> Result<(), ApiFailure> {
    check_meeting_id(p)?;
    if p.non_empty("fullName").is_none() {
        return Err(ApiFailure::validation("You must provide your name"));
    }
    for (key, what) in [("guest", "Guest"), ("auth", "Auth")] {
        if let Some(v) = p.get(key)
            && !is_java_boolean(v)
        {
            return Err(ApiFailure::validation(&format!(
                "{what} must be a boolean value (true or false)"
            )));
        }
    }
    Ok(())
}

/// `hasReachedMaxParticipants`: unique external ids present; a rejoining id is let in.
fn max_participants_reached(m: &SimMeeting, ext_id: &str) -> bool {
    if m.max_users == 0 {
        return false;
    }
    let present: BTreeSet<&str> = m
        .participants
        .iter()
        .map(|p| p.external_user_id.as_str())
        .collect();
    present.len() >= m.max_users as usize && !present.contains(ext_id)
}

fn enter(m: &mut SimMeeting, mut p: SimParticipant) {
    if p.is_moderator() && !m.participants.iter().any(|x| x.is_presenter) {
        p.is_presenter = true;
    }
    m.has_user_joined = true;
    m.end_time = 0;
    m.last_user_left_on = None;
    if p.is_moderator() {
        m.last_moderator_left_on = None;
    }
    m.users_seen.insert(p.external_user_id.clone());
    m.participants.push(p);
}

fn leave(m: &mut SimMeeting, left: &SimParticipant, now: i64) {
    if left.is_presenter
        && let Some(next) = m.participants.iter_mut().find(|x| x.is_moderator())
    {
        next.is_presenter = true;
    }
    if left.is_moderator() && m.moderator_count() == 0 {
        m.last_moderator_left_on = Some(now);
    }
    if m.participants.is_empty() {
        m.end_time = now;
        m.last_user_left_on = Some(now);
    }
}

/// `MeetingExpiryTracker.hasMeetingExpired` and the no-moderator rule.
fn expiry(m: &SimMeeting, now: i64) -> Option<EndReason> {
    let since_create = now - m.create_time;
    if !m.has_user_joined && since_create > minutes(m.meeting_expire_if_no_user_joined_minutes) {
        return Some(EndReason::NotJoined);
    }
    if m.duration > 0 && since_create > minutes(m.duration) {
        return Some(EndReason::ExceededDuration);
    }
    if m.participants.is_empty()
        && let Some(left) = m.last_user_left_on
    {
        let delay = m.meeting_expire_when_last_user_left_minutes;
        if delay == 0 || now - left > minutes(delay) {
            return Some(EndReason::LastUserLeft);
        }
    }
    if m.end_when_no_moderator
        && m.moderator_count() == 0
        && let Some(left) = m.last_moderator_left_on
        && now - left > minutes(m.end_when_no_moderator_delay_minutes)
    {
        return Some(EndReason::NoModerator);
    }
    None
}

fn new_meeting(
    p: &Params,
    id: String,
    create_time: i64,
    voice_bridge: String,
    s: &Settings,
) -> SimMeeting {
    let password = |key: &str| {
        p.non_empty(key)
            .map(str::to_string)
            .unwrap_or_else(|| random_alnum(8))
    };
    SimMeeting {
        internal_meeting_id: format!("{}-{create_time}", sha1_hex(&id)),
        meeting_id: id,
        name: p.get("name").unwrap_or_default().to_string(),
        create_time,
        create_date: java_date(create_time),
        voice_bridge,
        dial_number: p
            .non_empty("dialNumber")
            .map(str::to_string)
            .unwrap_or_else(|| s.dial_number.clone()),
        attendee_pw: password("attendeePW"),
        moderator_pw: password("moderatorPW"),
        duration: p.number("duration", 0),
        max_users: p.number("maxParticipants", 0),
        record: p.flag("record", false),
        guest_policy: p
            .non_empty("guestPolicy")
            .and_then(GuestPolicy::parse)
            .unwrap_or(GuestPolicy::AlwaysAccept),
        logout_url: p
            .non_empty("logoutURL")
            .map(str::to_string)
            .unwrap_or_else(|| s.logout_url.clone()),
        meeting_expire_if_no_user_joined_minutes: p
            .number("meetingExpireIfNoUserJoinedInMinutes", 5),
        meeting_expire_when_last_user_left_minutes: p
            .number("meetingExpireWhenLastUserLeftInMinutes", 1),
        end_when_no_moderator: p.flag("endWhenNoModerator", false),
        end_when_no_moderator_delay_minutes: p.number("endWhenNoModeratorDelayInMinutes", 1),
        metadata: p.meta(),
        create_params: p
            .pairs()
            .iter()
            .filter(|(k, _)| k != "checksum")
            .cloned()
            .collect(),
        participants: Vec::new(),
        has_user_joined: false,
        start_time: create_time,
        end_time: 0,
        last_user_left_on: None,
        last_moderator_left_on: None,
        has_been_forcibly_ended: false,
        users_seen: BTreeSet::new(),
    }
}

fn new_recording(m: &SimMeeting, now: i64, s: &Settings) -> SimRecording {
    let mut metadata = m.metadata.clone();
    metadata.insert("isBreakout".into(), "false".into());
    metadata.insert("meetingId".into(), m.meeting_id.clone());
    metadata.insert("meetingName".into(), m.name.clone());
    let length_min = u32::try_from((now - m.start_time).max(0) / MINUTE_MS).unwrap_or(u32::MAX);
    SimRecording {
        record_id: m.internal_meeting_id.clone(),
        meeting_id: m.meeting_id.clone(),
        internal_meeting_id: m.internal_meeting_id.clone(),
        name: m.name.clone(),
        is_breakout: false,
        published: false,
        state: "processing".into(),
        start_time: m.start_time,
        end_time: now,
        participants: u32::try_from(m.users_seen.len()).unwrap_or(u32::MAX),
        metadata,
        playback: vec![SimPlayback {
            format_type: "presentation".into(),
            url: format!(
                "{}/playback/presentation/2.3/{}",
                s.server_url, m.internal_meeting_id
            ),
            processing_time: u64::try_from(s.recording_processing_ms).unwrap_or(0),
            length: length_min,
        }],
        ready_at: now + s.recording_processing_ms,
        protected: false,
    }
}

/// `offset` (≥ 0) and `limit` (1–100); other values are ignored.
fn paginate(found: Vec<SimRecording>, p: &Params) -> Vec<SimRecording> {
    let offset = p.number("offset", 0) as usize;
    let limit = match p.number("limit", 0) {
        n @ 1..=100 => n as usize,
        _ => usize::MAX,
    };
    found.into_iter().skip(offset).take(limit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            server_url: "http://sim.test".into(),
            logout_url: "http://sim.test".into(),
            dial_number: "613-555-1234".into(),
            authenticated_guest: true,
            recording_processing_ms: 0,
        }
    }

    #[test]
    fn internal_id_vectors_from_the_docs() {
        assert_eq!(sha1_hex("Test"), "640ab2bae07bedc4c163f679a746f7ab7fb5d1fa");
        assert_eq!(
            sha1_hex("Demo Meeting"),
            "183f0bf3a0982a127bdb8161e0c44eb696b3e75c"
        );
        assert_eq!(
            sha1_hex("random-9019868"),
            "8043c8452ae9830aac14c517adff3839dbd9228f"
        );
    }

    #[test]
    fn java_date_format() {
        assert_eq!(java_date(1_531_155_809_613), "Mon Jul 09 17:03:29 UTC 2018");
    }

    #[test]
    fn guest_policy_matrix() {
        use GuestPolicy::*;
        use GuestStatus::*;
        // moderators always in
        assert_eq!(guest_status(AlwaysDeny, true, true, true, true), Allow);
        // guest=false explicitly
        assert_eq!(guest_status(AskModerator, false, false, true, true), Allow);
        // no guest param: authenticated, but ASK_MODERATOR still waits
        assert_eq!(guest_status(AskModerator, false, false, false, true), Wait);
        assert_eq!(guest_status(AlwaysDeny, false, false, false, true), Deny);
        assert_eq!(
            guest_status(AlwaysAcceptAuth, false, true, true, true),
            Wait
        );
        assert_eq!(
            guest_status(AlwaysAcceptAuth, false, false, false, true),
            Allow
        );
        // authenticatedGuest=false: non-guests pass
        assert_eq!(
            guest_status(AskModerator, false, false, false, false),
            Allow
        );
        assert_eq!(guest_status(AlwaysDeny, false, true, true, false), Deny);
    }

    #[test]
    fn duplicate_rules() {
        let s = settings();
        let mut st = State::default();
        let p = Params::parse("name=Room&meetingID=abc&attendeePW=a&moderatorPW=m");
        let (m1, dup) = st.create(&p, 1000, &s).expect("create");
        assert!(!dup);
        let (m2, dup) = st.create(&p, 2000, &s).expect("same passwords");
        assert!(dup);
        assert_eq!(m1.internal_meeting_id, m2.internal_meeting_id);
        let none = Params::parse("name=Room&meetingID=abc");
        assert!(st.create(&none, 3000, &s).expect("no passwords").1);
        let one = Params::parse("name=Room&meetingID=abc&attendeePW=a");
        let err = st.create(&one, 3000, &s).expect_err("one password");
        assert_eq!(err.first().key, "idNotUnique");
    }

    #[test]
    fn expiry_rules() {
        let s = settings();
        let mut st = State::default();
        st.create(&Params::parse("name=Room&meetingID=idle"), 1_000, &s)
            .expect("create");
        assert!(st.tick(1_000 + 5 * MINUTE_MS, &s).is_empty());
        assert!(st.meetings.contains_key("idle"));
        st.tick(1_000 + 5 * MINUTE_MS + 1, &s);
        assert!(!st.meetings.contains_key("idle"));
    }

    fn add(st: &mut State, id: &str, name: &str, role: &str, now: i64) -> String {
        let np = NewParticipant {
            name: name.into(),
            role: Some(role.into()),
            ..NewParticipant::default()
        };
        st.add_participant(id, &np, now).expect("live meeting")
    }

    #[test]
    fn presenter_moves_to_the_next_moderator() {
        let s = settings();
        let mut st = State::default();
        st.create(&Params::parse("name=Room&meetingID=pres"), 1_000, &s)
            .expect("create");
        let a = add(&mut st, "pres", "A", MODERATOR, 1_000);
        add(&mut st, "pres", "V", VIEWER, 1_000);
        add(&mut st, "pres", "B", MODERATOR, 1_000);
        let presenters = |st: &State| -> Vec<String> {
            st.meetings["pres"]
                .participants
                .iter()
                .filter(|p| p.is_presenter)
                .map(|p| p.full_name.clone())
                .collect()
        };
        assert_eq!(presenters(&st), ["A"]);
        assert!(st.remove_participant("pres", &a, 2_000));
        assert_eq!(presenters(&st), ["B"]);
    }

    #[test]
    fn end_when_no_moderator() {
        let s = settings();
        let mut st = State::default();
        let p = Params::parse(
            "name=Room&meetingID=nomod&endWhenNoModerator=true&endWhenNoModeratorDelayInMinutes=2",
        );
        st.create(&p, 1_000, &s).expect("create");
        let m = add(&mut st, "nomod", "M", MODERATOR, 1_000);
        add(&mut st, "nomod", "V", VIEWER, 1_000);
        st.remove_participant("nomod", &m, 10_000);
        st.tick(10_000 + 2 * MINUTE_MS, &s);
        assert!(st.meetings.contains_key("nomod"));
        st.tick(10_000 + 2 * MINUTE_MS + 1, &s);
        assert!(!st.meetings.contains_key("nomod"));
    }

    #[test]
    fn redirect_follows_java_parse_boolean() {
        let s = settings();
        let mut st = State::default();
        st.create(&Params::parse("name=Room&meetingID=redir"), 1_000, &s)
            .expect("create");
        let join = |st: &mut State, extra: &str| {
            let p = Params::parse(&format!("fullName=U&meetingID=redir&role=viewer{extra}"));
            st.join(&p, 2_000, &s).expect("join").redirect
        };
        assert!(join(&mut st, ""));
        assert!(join(&mut st, "&redirect=TRUE"));
        assert!(!join(&mut st, "&redirect=false"));
        assert!(!join(&mut st, "&redirect=no"));
    }
}

//! `SimBbb`: the `Bbb` trait straight onto the simulator core, no HTTP. Requests are turned into
//! the same parameters a client would send, so the rules are exactly those of the HTTP API.
//! `SimConnector`: a `BbbConnector` handing out `SimBbb`s for registered servers.

use super::model::{SimMeeting, SimParticipant, SimRecording};
use super::{Params, Simulator};
use crate::bbb::checksum::{encode_query, sign_query};
use crate::bbb::{
    Attendee, Bbb, BbbConnector, BbbError, CreateParams, CreatedMeeting, JoinAuth, JoinParams,
    MeetingInfo, PlaybackFormat, Recording, RecordingsQuery,
};
use crate::domain::{
    BbbMeetingId, BbbUrl, ChecksumAlgorithm, RecordId, Secret, ServerId, ServerSpec,
};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// In-memory BBB for unit tests. Honours the simulator's faults: latency is slept, injected
/// failures give `Http(500)`, and a hanging server gives `Timeout` at once (as if the client's
/// timeout had fired).
#[derive(Debug, Clone)]
pub struct SimBbb {
    sim: Simulator,
    algorithm: ChecksumAlgorithm,
    timeout_ms: u64,
}

impl SimBbb {
    /// Signs join URLs with SHA-256 when the simulator allows it, else its first allowed digest.
    pub fn new(sim: Simulator) -> Self {
        let allowed = &sim.config().allowed;
        let algorithm = if allowed.contains(&ChecksumAlgorithm::Sha256) {
            ChecksumAlgorithm::Sha256
        } else {
            allowed.first().copied().unwrap_or(ChecksumAlgorithm::Sha1)
        };
        Self {
            sim,
            algorithm,
            timeout_ms: 10_000,
        }
    }

    pub fn with_algorithm(mut self, algorithm: ChecksumAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The timeout reported when the simulator is set to hang.
    pub fn with_timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = ms;
        self
    }

    pub fn simulator(&self) -> &Simulator {
        &self.sim
    }

    async fn gate(&self) -> Result<(), BbbError> {
        let faults = self.sim.faults();
        if faults.hanging {
            return Err(BbbError::Timeout(self.timeout_ms));
        }
        if faults.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
        }
        if self.sim.take_failure() {
            return Err(BbbError::Http(500));
        }
        Ok(())
    }
}

fn api_err(f: super::ApiFailure) -> BbbError {
    BbbError::from_key(&f.key, &f.message)
}

fn bool_str(b: bool) -> String {
    if b { "true" } else { "false" }.to_string()
}

/// The parameters a client sends for `create`, in the client's order.
pub(crate) fn create_params(c: &CreateParams) -> Params {
    let mut p = Params::new();
    if let Some(id) = &c.meeting_id {
        p.push("meetingID", id.as_str());
    }
    p.push("name", c.name.as_str());
    let strings = [
        ("attendeePW", &c.attendee_pw),
        ("moderatorPW", &c.moderator_pw),
        ("welcome", &c.welcome),
        ("moderatorOnlyMessage", &c.moderator_only_message),
        ("bannerText", &c.banner_text),
        ("bannerColor", &c.banner_color),
        ("dialNumber", &c.dial_number),
        ("voiceBridge", &c.voice_bridge),
        ("logoutURL", &c.logout_url),
        ("guestPolicy", &c.guest_policy),
        ("meetingLayout", &c.meeting_layout),
    ];
    for (k, v) in strings {
        if let Some(v) = v {
            p.push(k, v.as_str());
        }
    }
    let numbers = [
        ("maxParticipants", c.max_participants),
        ("duration", c.duration),
        (
            "meetingExpireIfNoUserJoinedInMinutes",
            c.meeting_expire_if_no_user_joined_minutes,
        ),
        (
            "meetingExpireWhenLastUserLeftInMinutes",
            c.meeting_expire_when_last_user_left_minutes,
        ),
    ];
    for (k, v) in numbers {
        if let Some(v) = v {
            p.push(k, v.to_string());
        }
    }
    let l = &c.lock_settings;
    let flags = [
        ("record", c.record),
        ("autoStartRecording", c.auto_start_recording),
        ("allowStartStopRecording", c.allow_start_stop_recording),
        ("muteOnStart", c.mute_on_start),
        ("allowModsToUnmuteUsers", c.allow_mods_to_unmute_users),
        ("webcamsOnlyForModerator", c.webcams_only_for_moderator),
        ("endWhenNoModerator", c.end_when_no_moderator),
        ("lockSettingsDisableCam", l.disable_cam),
        ("lockSettingsDisableMic", l.disable_mic),
        ("lockSettingsDisablePrivateChat", l.disable_private_chat),
        ("lockSettingsDisablePublicChat", l.disable_public_chat),
        ("lockSettingsDisableNote", l.disable_note),
        ("lockSettingsHideUserList", l.hide_user_list),
        ("lockSettingsLockOnJoin", l.lock_on_join),
    ];
    for (k, v) in flags {
        if let Some(v) = v {
            p.push(k, bool_str(v));
        }
    }
    if !c.disabled_features.is_empty() {
        p.push("disabledFeatures", c.disabled_features.join(","));
    }
    for (k, v) in &c.meta {
        p.push(format!("meta_{k}"), v.as_str());
    }
    for (k, v) in &c.extra {
        p.push(k.as_str(), v.as_str());
    }
    p
}

/// The join query, in a fixed order, before signing.
pub(crate) fn join_pairs(j: &JoinParams) -> Vec<(String, String)> {
    let mut q = vec![
        ("fullName".to_string(), j.full_name.clone()),
        ("meetingID".to_string(), j.meeting_id.as_str().to_string()),
    ];
    match &j.auth {
        JoinAuth::Role(r) => q.push(("role".into(), r.as_bbb().into())),
        JoinAuth::Password(pw) => q.push(("password".into(), pw.clone())),
    }
    if let Some(u) = &j.user_id {
        q.push(("userID".into(), u.clone()));
    }
    if let Some(t) = j.create_time {
        q.push(("createTime".into(), t.to_string()));
    }
    if let Some(r) = j.redirect {
        q.push(("redirect".into(), bool_str(r)));
    }
    if let Some(g) = j.guest {
        q.push(("guest".into(), bool_str(g)));
    }
    for (k, v) in &j.userdata {
        q.push((format!("userdata-{k}"), v.clone()));
    }
    q
}

fn meeting_param(id: &BbbMeetingId) -> Params {
    let mut p = Params::new();
    p.push("meetingID", id.as_str());
    p
}

fn record_ids_param(ids: &[RecordId]) -> Params {
    let mut p = Params::new();
    let csv: Vec<&str> = ids.iter().map(RecordId::as_str).collect();
    p.push("recordID", csv.join(","));
    p
}

fn some_pw(pw: &str) -> Option<String> {
    (!pw.is_empty()).then(|| pw.to_string())
}

fn created(m: SimMeeting, duplicate: bool) -> CreatedMeeting {
    CreatedMeeting {
        attendee_pw: some_pw(&m.attendee_pw),
        moderator_pw: some_pw(&m.moderator_pw),
        meeting_id: m.meeting_id,
        internal_meeting_id: m.internal_meeting_id,
        create_time: m.create_time,
        voice_bridge: m.voice_bridge,
        dial_number: m.dial_number,
        create_date: m.create_date,
        has_user_joined: m.has_user_joined,
        duration: m.duration,
        has_been_forcibly_ended: m.has_been_forcibly_ended,
        duplicate,
    }
}

fn attendee(p: &SimParticipant) -> Attendee {
    Attendee {
        user_id: p.user_id.clone(),
        full_name: p.full_name.clone(),
        role: p.role.clone(),
        is_presenter: p.is_presenter,
        is_listening_only: p.is_listening_only,
        has_joined_voice: p.has_joined_voice,
        has_video: p.has_video,
        client_type: p.client_type.clone(),
    }
}

fn count(m: &SimMeeting, f: impl Fn(&SimParticipant) -> bool) -> u32 {
    u32::try_from(m.participants.iter().filter(|p| f(p)).count()).unwrap_or(u32::MAX)
}

fn meeting_info(m: SimMeeting) -> MeetingInfo {
    MeetingInfo {
        running: m.running(),
        participant_count: count(&m, |_| true),
        listener_count: count(&m, |p| p.is_listening_only),
        voice_participant_count: count(&m, |p| p.has_joined_voice),
        video_count: count(&m, |p| p.has_video),
        moderator_count: count(&m, SimParticipant::is_moderator),
        attendees: m.participants.iter().map(attendee).collect(),
        attendee_pw: some_pw(&m.attendee_pw),
        moderator_pw: some_pw(&m.moderator_pw),
        meeting_name: m.name,
        meeting_id: m.meeting_id,
        internal_meeting_id: m.internal_meeting_id,
        create_time: m.create_time,
        create_date: m.create_date,
        voice_bridge: m.voice_bridge,
        dial_number: m.dial_number,
        duration: m.duration,
        has_user_joined: m.has_user_joined,
        recording: m.record,
        has_been_forcibly_ended: m.has_been_forcibly_ended,
        start_time: m.start_time,
        end_time: m.end_time,
        max_users: m.max_users,
        metadata: m.metadata,
        is_breakout: false,
    }
}

fn recording(r: SimRecording) -> Recording {
    Recording {
        record_id: r.record_id,
        meeting_id: r.meeting_id,
        internal_meeting_id: r.internal_meeting_id,
        name: r.name,
        is_breakout: r.is_breakout,
        published: r.published,
        state: r.state,
        start_time: r.start_time,
        end_time: r.end_time,
        participants: r.participants,
        metadata: r.metadata,
        protected: Some(r.protected),
        playback: r
            .playback
            .into_iter()
            .map(|f| PlaybackFormat {
                format_type: f.format_type,
                url: f.url,
                processing_time: f.processing_time,
                length: f.length,
            })
            .collect(),
    }
}

fn recordings_params(q: &RecordingsQuery) -> Params {
    let mut p = Params::new();
    if !q.meeting_ids.is_empty() {
        p.push("meetingID", q.meeting_ids.join(","));
    }
    if !q.record_ids.is_empty() {
        let ids: Vec<&str> = q.record_ids.iter().map(RecordId::as_str).collect();
        p.push("recordID", ids.join(","));
    }
    if !q.states.is_empty() {
        p.push("state", q.states.join(","));
    }
    for (k, v) in &q.meta {
        p.push(format!("meta_{k}"), v.as_str());
    }
    if let Some(o) = q.offset {
        p.push("offset", o.to_string());
    }
    if let Some(l) = q.limit {
        p.push("limit", l.to_string());
    }
    p
}

#[async_trait]
impl Bbb for SimBbb {
    async fn create(&self, params: &CreateParams) -> Result<CreatedMeeting, BbbError> {
        self.gate().await?;
        self.sim
            .op_create(&create_params(params))
            .map(|(m, dup)| created(m, dup))
            .map_err(|e| api_err(e.first()))
    }

    fn join_url(&self, params: &JoinParams) -> String {
        let query = encode_query(&join_pairs(params));
        let signed = sign_query(self.algorithm, "join", &query, &self.sim.config().secret);
        format!("{}join?{signed}", self.sim.api_base_url())
    }

    async fn end(&self, meeting_id: &BbbMeetingId) -> Result<(), BbbError> {
        self.gate().await?;
        self.sim.op_end(&meeting_param(meeting_id)).map_err(api_err)
    }

    async fn is_meeting_running(&self, meeting_id: &BbbMeetingId) -> Result<bool, BbbError> {
        self.gate().await?;
        self.sim
            .op_is_running(&meeting_param(meeting_id))
            .map_err(api_err)
    }

    async fn get_meeting_info(&self, meeting_id: &BbbMeetingId) -> Result<MeetingInfo, BbbError> {
        self.gate().await?;
        self.sim
            .op_meeting_info(&meeting_param(meeting_id))
            .map(meeting_info)
            .map_err(api_err)
    }

    async fn get_meetings(&self) -> Result<Vec<MeetingInfo>, BbbError> {
        self.gate().await?;
        Ok(self
            .sim
            .op_meetings()
            .into_iter()
            .map(meeting_info)
            .collect())
    }

    async fn get_recordings(&self, query: &RecordingsQuery) -> Result<Vec<Recording>, BbbError> {
        self.gate().await?;
        Ok(self
            .sim
            .op_recordings(&recordings_params(query))
            .into_iter()
            .map(recording)
            .collect())
    }

    async fn publish_recordings(&self, ids: &[RecordId], publish: bool) -> Result<bool, BbbError> {
        self.gate().await?;
        let mut p = record_ids_param(ids);
        p.push("publish", bool_str(publish));
        self.sim.op_publish(&p).map_err(api_err)
    }

    async fn update_recordings(
        &self,
        ids: &[RecordId],
        meta: &BTreeMap<String, String>,
    ) -> Result<bool, BbbError> {
        self.gate().await?;
        let mut p = record_ids_param(ids);
        for (k, v) in meta {
            p.push(format!("meta_{k}"), v.as_str());
        }
        self.sim.op_update(&p).map_err(api_err)
    }

    async fn delete_recordings(&self, ids: &[RecordId]) -> Result<bool, BbbError> {
        self.gate().await?;
        self.sim.op_delete(&record_ids_param(ids)).map_err(api_err)
    }

    async fn protect_recordings(&self, ids: &[RecordId], protect: bool) -> Result<bool, BbbError> {
        self.gate().await?;
        let mut p = record_ids_param(ids);
        p.push("protect", bool_str(protect));
        self.sim.op_update(&p).map_err(api_err)
    }
}

/// A [`BbbConnector`] over registered simulators: the in-memory fake for fast service tests.
///
/// A server is matched by id and gets a [`SimBbb`] with the server's checksum algorithm and
/// timeout. Like a real server, the simulator refuses every call (`checksumError`) when the
/// server's secret differs from its own or its algorithm is not allowed; a server without a
/// registered simulator is unreachable.
#[derive(Debug, Clone, Default)]
pub struct SimConnector {
    sims: Arc<RwLock<BTreeMap<ServerId, Simulator>>>,
}

impl SimConnector {
    pub fn new() -> Self {
        Self::default()
    }

    /// Serve `server_id` from `simulator`, replacing an earlier registration. Clones of this
    /// connector (e.g. the one inside a service) see it at once.
    pub fn register(&self, server_id: ServerId, simulator: Simulator) {
        self.sims
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(server_id, simulator);
    }

    /// Forget a server: it is unreachable from now on.
    pub fn unregister(&self, server_id: &ServerId) -> Option<Simulator> {
        self.sims
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(server_id)
    }

    pub fn simulator(&self, server_id: &ServerId) -> Option<Simulator> {
        self.sims
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(server_id)
            .cloned()
    }
}

impl BbbConnector for SimConnector {
    fn connect(&self, server: &ServerSpec) -> Arc<dyn Bbb> {
        let Some(sim) = self.simulator(&server.id) else {
            let why = format!("no simulated BBB server is registered for '{}'", server.id);
            return Arc::new(Refusing::new(server, BbbError::Unreachable(why)));
        };
        if let Some(error) = refusal(&sim, server) {
            return Arc::new(Refusing::new(server, error));
        }
        Arc::new(
            SimBbb::new(sim)
                .with_algorithm(server.checksum)
                .with_timeout_ms(server.timeout_ms),
        )
    }
}

/// The answer the simulator would give every signed call of `server`: `checksumError` when the
/// secret differs or the algorithm is not allowed. An empty simulator secret checks nothing,
/// as on a real server.
fn refusal(sim: &Simulator, server: &ServerSpec) -> Option<BbbError> {
    let cfg = sim.config();
    if cfg.secret.is_empty() {
        return None;
    }
    let accepted = cfg.secret == server.secret.expose() && cfg.allowed.contains(&server.checksum);
    (!accepted).then(|| BbbError::Checksum {
        message: "Checksums do not match".into(),
    })
}

/// A server the connector cannot talk to: every call fails with the same error. Join URLs are
/// still signed with the server's own URL, secret and algorithm, as the HTTP client does.
#[derive(Debug)]
struct Refusing {
    url: BbbUrl,
    secret: Secret,
    algorithm: ChecksumAlgorithm,
    error: BbbError,
}

impl Refusing {
    fn new(server: &ServerSpec, error: BbbError) -> Self {
        Self {
            url: server.url.clone(),
            secret: server.secret.clone(),
            algorithm: server.checksum,
            error,
        }
    }

    fn fail<T>(&self) -> Result<T, BbbError> {
        Err(self.error.clone())
    }
}

#[async_trait]
impl Bbb for Refusing {
    async fn create(&self, _: &CreateParams) -> Result<CreatedMeeting, BbbError> {
        self.fail()
    }

    fn join_url(&self, params: &JoinParams) -> String {
        let query = encode_query(&join_pairs(params));
        let signed = sign_query(self.algorithm, "join", &query, self.secret.expose());
        format!("{}?{signed}", self.url.call("join"))
    }

    async fn end(&self, _: &BbbMeetingId) -> Result<(), BbbError> {
        self.fail()
    }

    async fn is_meeting_running(&self, _: &BbbMeetingId) -> Result<bool, BbbError> {
        self.fail()
    }

    async fn get_meeting_info(&self, _: &BbbMeetingId) -> Result<MeetingInfo, BbbError> {
        self.fail()
    }

    async fn get_meetings(&self) -> Result<Vec<MeetingInfo>, BbbError> {
        self.fail()
    }

    async fn get_recordings(&self, _: &RecordingsQuery) -> Result<Vec<Recording>, BbbError> {
        self.fail()
    }

    async fn publish_recordings(&self, _: &[RecordId], _: bool) -> Result<bool, BbbError> {
        self.fail()
    }

    async fn update_recordings(
        &self,
        _: &[RecordId],
        _: &BTreeMap<String, String>,
    ) -> Result<bool, BbbError> {
        self.fail()
    }

    async fn delete_recordings(&self, _: &[RecordId]) -> Result<bool, BbbError> {
        self.fail()
    }

    async fn protect_recordings(&self, _: &[RecordId], _: bool) -> Result<bool, BbbError> {
        self.fail()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bbb::Role;
    use crate::bbb::sim::SimConfig;

    fn id(s: &str) -> BbbMeetingId {
        s.parse().expect("meeting id")
    }

    #[tokio::test]
    async fn create_join_info_end() {
        let sim = Simulator::new(SimConfig::new("secret"));
        let bbb = SimBbb::new(sim.clone());
        let mut c = CreateParams {
            meeting_id: Some(id("room-1")),
            name: "Room one".into(),
            record: Some(true),
            ..CreateParams::default()
        };
        c.meta.insert("bbb-origin".into(), "schedulight".into());
        let created = bbb.create(&c).await.expect("create");
        assert!(!created.duplicate);
        assert!(
            created
                .moderator_pw
                .as_deref()
                .is_some_and(|p| p.len() == 8)
        );
        assert!(
            !bbb.is_meeting_running(&id("room-1"))
                .await
                .expect("running")
        );

        let mut j = JoinParams::new(id("room-1"), "Alice", JoinAuth::Role(Role::Moderator));
        j.create_time = Some(created.create_time);
        let url = bbb.join_url(&j);
        let joined = sim.join_from_url(&url).expect("join");
        assert!(joined.url.contains("/html5client/join?sessionToken="));
        let info = bbb.get_meeting_info(&id("room-1")).await.expect("info");
        assert!(info.running);
        assert_eq!(info.moderator_count, 1);
        assert_eq!(info.attendees[0].full_name, "Alice");
        assert!(info.attendees[0].is_presenter);
        assert_eq!(
            info.metadata.get("bbb-origin").map(String::as_str),
            Some("schedulight")
        );

        bbb.end(&id("room-1")).await.expect("end");
        let err = bbb.get_meeting_info(&id("room-1")).await.expect_err("gone");
        assert!(matches!(err, BbbError::NotFound { .. }));
        let recs = bbb
            .get_recordings(&RecordingsQuery {
                meeting_ids: vec!["room-1".into()],
                ..RecordingsQuery::default()
            })
            .await
            .expect("recordings");
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].record_id, created.internal_meeting_id);
        assert!(recs[0].published);
    }

    #[tokio::test]
    async fn create_log_keeps_every_create_with_its_wall_clock_time() {
        let sim = Simulator::new(SimConfig::new("secret"));
        // The log records the wall clock, whatever the simulator clock says.
        sim.set_now(jiff::Timestamp::UNIX_EPOCH);
        let bbb = SimBbb::new(sim.clone());
        let before = jiff::Timestamp::now();
        for name in ["room-a", "room-b", "room-a"] {
            let c = CreateParams {
                meeting_id: Some(id(name)),
                name: name.into(),
                ..CreateParams::default()
            };
            bbb.create(&c).await.expect("create");
        }
        let log = sim.create_log();
        let ids: Vec<&str> = log.iter().map(|c| c.meeting_id.as_str()).collect();
        assert_eq!(ids, ["room-a", "room-b", "room-a"]);
        assert!(
            log.iter()
                .all(|c| c.at >= before && c.at <= jiff::Timestamp::now())
        );
        assert!(log.windows(2).all(|w| w[0].at <= w[1].at));
    }

    #[tokio::test]
    async fn tampered_join_url_is_refused() {
        let sim = Simulator::new(SimConfig::new("secret"));
        let bbb = SimBbb::new(sim.clone());
        bbb.create(&CreateParams {
            meeting_id: Some(id("room-2")),
            name: "Room two".into(),
            ..CreateParams::default()
        })
        .await
        .expect("create");
        let url = bbb.join_url(&JoinParams::new(
            id("room-2"),
            "Eve",
            JoinAuth::Role(Role::Viewer),
        ));
        let tampered = url.replace("role=VIEWER", "role=MODERATOR");
        match sim.join_from_url(&tampered) {
            Err(crate::bbb::sim::SimError::Api(f)) => assert_eq!(f.key, "checksumError"),
            other => panic!("expected checksumError, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn faults_apply_to_the_adapter() {
        let sim = Simulator::new(SimConfig::new("secret"));
        let bbb = SimBbb::new(sim.clone()).with_timeout_ms(1234);
        sim.fail_next(1);
        assert_eq!(bbb.get_meetings().await, Err(BbbError::Http(500)));
        assert_eq!(bbb.get_meetings().await, Ok(Vec::new()));
        sim.hang();
        assert_eq!(bbb.get_meetings().await, Err(BbbError::Timeout(1234)));
        sim.resume();
        assert!(bbb.get_meetings().await.is_ok());
    }

    fn spec(id: &str, secret: &str, algo: ChecksumAlgorithm) -> ServerSpec {
        let mut s = ServerSpec::new(
            id.parse().expect("server id"),
            "http://bbb-sim.invalid/bigbluebutton/api/"
                .parse()
                .expect("url"),
            Secret::new(secret),
        );
        s.checksum = algo;
        s.timeout_ms = 777;
        s
    }

    #[tokio::test]
    async fn connector_serves_registered_servers_with_their_settings() {
        let connector = SimConnector::new();
        let sim = Simulator::new(
            SimConfig::new("secret")
                .with_allowed(&[ChecksumAlgorithm::Sha384, ChecksumAlgorithm::Sha512]),
        );
        connector.register("a".parse().expect("id"), sim.clone());
        let bbb = connector.connect(&spec("a", "secret", ChecksumAlgorithm::Sha384));
        bbb.create(&CreateParams {
            meeting_id: Some(id("room-3")),
            name: "Room three".into(),
            ..CreateParams::default()
        })
        .await
        .expect("create");
        let url = bbb.join_url(&JoinParams::new(
            id("room-3"),
            "Ann",
            JoinAuth::Role(Role::Moderator),
        ));
        let checksum = url.rsplit("checksum=").next().expect("checksum");
        assert_eq!(checksum.len(), ChecksumAlgorithm::Sha384.hex_len());
        sim.join_from_url(&url)
            .expect("the simulator accepts the link");
        sim.hang();
        assert_eq!(bbb.get_meetings().await, Err(BbbError::Timeout(777)));
    }

    #[tokio::test]
    async fn connector_refuses_like_a_server_would() {
        let connector = SimConnector::new();
        let sim =
            Simulator::new(SimConfig::new("secret").with_allowed(&[ChecksumAlgorithm::Sha256]));
        connector.register("a".parse().expect("id"), sim.clone());
        let checksum_error =
            |r: Result<Vec<MeetingInfo>, BbbError>| matches!(r, Err(BbbError::Checksum { .. }));
        let wrong_secret = connector.connect(&spec("a", "other", ChecksumAlgorithm::Sha256));
        assert!(checksum_error(wrong_secret.get_meetings().await));
        let wrong_algo = connector.connect(&spec("a", "secret", ChecksumAlgorithm::Sha1));
        assert!(checksum_error(wrong_algo.get_meetings().await));
        let unknown = connector.connect(&spec("b", "secret", ChecksumAlgorithm::Sha256));
        assert!(matches!(
            unknown.get_meetings().await,
            Err(BbbError::Unreachable(why)) if why.contains("'b'")
        ));
        // Join links are still signed with the server's own settings, so the simulator refuses
        // the one made with the wrong secret.
        bbb_create(&sim).await;
        let url = wrong_secret.join_url(&JoinParams::new(
            id("room-4"),
            "Eve",
            JoinAuth::Role(Role::Viewer),
        ));
        assert!(url.starts_with("http://bbb-sim.invalid/bigbluebutton/api/join?"));
        assert!(matches!(
            sim.join_from_url(&url),
            Err(crate::bbb::sim::SimError::Api(f)) if f.key == "checksumError"
        ));
        assert!(connector.unregister(&"a".parse().expect("id")).is_some());
        assert!(matches!(
            connector
                .connect(&spec("a", "secret", ChecksumAlgorithm::Sha256))
                .get_meetings()
                .await,
            Err(BbbError::Unreachable(_))
        ));
    }

    async fn bbb_create(sim: &Simulator) {
        SimBbb::new(sim.clone())
            .create(&CreateParams {
                meeting_id: Some(id("room-4")),
                name: "Room four".into(),
                ..CreateParams::default()
            })
            .await
            .expect("create");
    }
}

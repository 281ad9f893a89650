//! A faithful BigBlueButton API simulator (bbb-api.md §1–§4) for tests and demos.
//!
//! * [`Simulator`]: the shared state (meetings, recordings, sessions), a controllable clock, and
//!   fault injection. Cheap to clone.
//! * [`serve`]: the real HTTP API under `/bigbluebutton/api/`, plus a JSON control API under
//!   `/sim/` (no checksum) and stand-in client pages under `/html5client/`.
//! * [`SimBbb`]: an in-memory [`crate::bbb::Bbb`] over the same core, the fast fake for unit
//!   tests elsewhere.
//!
//! Expiry rules run on the simulator clock: lazily before every call, on [`Simulator::tick`],
//! after [`Simulator::advance`] / [`Simulator::set_now`], and every ~200 ms while serving.
//!
//! Where the docs leave a choice, the simulator picks: meetings disappear at once when they end;
//! a meeting created with `record=true` yields a recording when it ends (`recordingmarks=true`
//! in the end callback), published after [`SimConfig::recording_processing`]; join errors other
//! than checksum and role/password redirect to the join request's `logoutURL` (else the server
//! default) with `errors=[…]`, as bbb-web's `respondWithRedirect` does.
//!
//! Control API (JSON, no checksum), mirrored by methods on [`Simulator`]:
//!
//! | route | effect |
//! |---|---|
//! | `GET /sim/meetings`, `GET /sim/meetings/{id}` | live meetings ([`SimMeeting`]) |
//! | `GET /sim/recordings` | all recordings ([`SimRecording`]) |
//! | `POST /sim/meetings/{id}/participants` `{"name","role"?,"user_id"?}` | add a user → `{"user_id"}` |
//! | `DELETE /sim/meetings/{id}/participants/{user_id}` | the user leaves |
//! | `POST /sim/join` `{"url"}` | open a signed join URL → [`Joined`] |
//! | `GET /sim/faults`, `PUT /sim/faults` [`FaultState`], `DELETE /sim/faults` | read / set / clear faults |
//! | `POST /sim/faults/latency` `{"ms"}` | delay every API answer |
//! | `POST /sim/faults/fail` `{"count"?}` | HTTP 500 for the next `count` requests, or until cleared |
//! | `POST /sim/faults/hang`, `POST /sim/faults/resume` | stop answering / answer again |
//! | `GET /sim/clock`, `POST /sim/clock/advance` `{"ms"?,"seconds"?}`, `POST /sim/clock/set` `{"now_ms"}`, `POST /sim/clock/real` | the simulator clock |
//! | `POST /sim/tick` | apply expiry rules now |
//! | `GET /sim/callbacks` | outgoing callbacks and their delivery ([`CallbackRecord`]) |
//! | `GET /sim/creates` | every `create` request and when it arrived ([`CreateArrival`]) |

mod adapter;
mod api;
mod callbacks;
mod clock;
mod http;
mod model;
mod params;
mod xml;

pub use adapter::{SimBbb, SimConnector};
pub use callbacks::{CallbackRecord, jwt_hs256};
pub use http::{SimHandle, serve, serve_simulator};
pub use model::{
    ApiFailure, GuestPolicy, GuestStatus, Joined, NewParticipant, SimMeeting, SimParticipant,
    SimPlayback, SimRecording,
};
pub use params::Params;

use crate::bbb::Role;
use crate::domain::ChecksumAlgorithm;
use api::{ApiRequest, Method};
use callbacks::Dispatcher;
use clock::SimClock;
use model::{CreateFailure, Effect, Settings, State};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// How the simulator behaves as a server.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The shared secret; empty disables checksum checks, as on a real server.
    pub secret: String,
    /// `supportedChecksumAlgorithms`; the algorithm is inferred from the checksum length.
    pub allowed: Vec<ChecksumAlgorithm>,
    /// `scheme://host[:port]` used in client, playback and logout URLs. `None`: the address
    /// `serve` bound (or `http://bbb-sim.invalid` for a simulator that never serves).
    pub server_url: Option<String>,
    /// Default logout URL; `None` means the server URL (BBB's `logoutURL=default`).
    pub logout_url: Option<String>,
    /// `defaultDialAccessNumber`.
    pub dial_number: String,
    /// BBB's `authenticatedGuest` property.
    pub authenticated_guest: bool,
    /// Simulated recording processing time (simulator clock) before a recording is published.
    pub recording_processing: Duration,
    /// Per-attempt timeout of outgoing callbacks.
    pub callback_timeout: Duration,
    /// Attempts per callback (non-2xx answers and transport errors are retried).
    pub callback_attempts: u32,
    /// Pause between callback attempts (real time).
    pub callback_retry_delay: Duration,
}

impl SimConfig {
    /// All four algorithms allowed, BBB's defaults elsewhere.
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            allowed: ChecksumAlgorithm::ALL.to_vec(),
            server_url: None,
            logout_url: None,
            dial_number: "613-555-1234".into(),
            authenticated_guest: true,
            recording_processing: Duration::ZERO,
            callback_timeout: Duration::from_secs(5),
            callback_attempts: 3,
            callback_retry_delay: Duration::from_millis(500),
        }
    }

    pub fn with_allowed(mut self, allowed: &[ChecksumAlgorithm]) -> Self {
        self.allowed = allowed.to_vec();
        self
    }
}

/// Injected faults of the HTTP API (and, where it makes sense, of [`SimBbb`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultState {
    /// Delay before every API answer.
    pub latency_ms: u64,
    /// Answer HTTP 500 to this many next API requests.
    pub fail_next: u32,
    /// Answer HTTP 500 until cleared.
    pub fail_always: bool,
    /// Accept requests but do not answer until resumed.
    pub hanging: bool,
}

/// A `create` request as it reached the simulator, accepted or not. The time is the wall clock,
/// not the simulator clock: benchmarks compare it with when the meeting was due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateArrival {
    pub meeting_id: String,
    pub at: jiff::Timestamp,
}

/// Why a control call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("no live meeting with ID {0:?}")]
    NoSuchMeeting(String),
    #[error("no participant {user:?} in meeting {meeting:?}")]
    NoSuchParticipant { meeting: String, user: String },
    #[error("not a join URL of this simulator: {0}")]
    BadUrl(String),
    #[error("the server refused: {0}")]
    Api(ApiFailure),
}

struct Inner {
    config: SimConfig,
    server_url: RwLock<String>,
    clock: SimClock,
    state: Mutex<State>,
    faults: Mutex<FaultState>,
    hang_tx: watch::Sender<bool>,
    callbacks: Dispatcher,
    creates: Mutex<Vec<CreateArrival>>,
}

/// The simulated server: state, clock and faults, shared by all clones.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("server_url", &self.server_url())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // State stays consistent between statements, so a panic elsewhere leaves it usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Simulator {
    pub fn new(config: SimConfig) -> Self {
        let server_url = config
            .server_url
            .clone()
            .unwrap_or_else(|| "http://bbb-sim.invalid".into());
        let callbacks = Dispatcher::new(
            config.secret.clone(),
            config.callback_timeout,
            config.callback_attempts,
            config.callback_retry_delay,
        );
        Self {
            inner: Arc::new(Inner {
                server_url: RwLock::new(server_url.trim_end_matches('/').to_string()),
                config,
                clock: SimClock::new(),
                state: Mutex::new(State::default()),
                faults: Mutex::new(FaultState::default()),
                hang_tx: watch::Sender::new(false),
                callbacks,
                creates: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    /// `scheme://host[:port]` of this server.
    pub fn server_url(&self) -> String {
        self.inner
            .server_url
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_server_url(&self, url: &str) {
        *self
            .inner
            .server_url
            .write()
            .unwrap_or_else(|e| e.into_inner()) = url.trim_end_matches('/').to_string();
    }

    /// `<server>/bigbluebutton/api/`.
    pub fn api_base_url(&self) -> String {
        format!("{}/bigbluebutton/api/", self.server_url())
    }

    fn settings(&self) -> Settings {
        let server_url = self.server_url();
        let cfg = self.config();
        Settings {
            logout_url: cfg.logout_url.clone().unwrap_or_else(|| server_url.clone()),
            server_url,
            dial_number: cfg.dial_number.clone(),
            authenticated_guest: cfg.authenticated_guest,
            recording_processing_ms: i64::try_from(cfg.recording_processing.as_millis())
                .unwrap_or(i64::MAX),
        }
    }

    // ----- clock -----

    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    pub fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::from_millisecond(self.now_ms()).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    /// Move the clock forward and apply the expiry rules.
    pub fn advance(&self, by: Duration) {
        self.inner.clock.advance(by);
        self.tick();
    }

    /// Freeze the clock at `at` and apply the expiry rules.
    pub fn set_now(&self, at: jiff::Timestamp) {
        self.inner.clock.set_ms(at.as_millisecond());
        self.tick();
    }

    /// Back to wall-clock time.
    pub fn use_real_time(&self) {
        self.inner.clock.use_real_time();
    }

    /// Apply expiry rules and recording processing at the current simulator time.
    pub fn tick(&self) {
        self.with_state(|st, now, s| (st.tick(now, s), ()));
    }

    /// Run `f` on the state after the expiry rules, then ship the effects it produced.
    fn with_state<T>(&self, f: impl FnOnce(&mut State, i64, &Settings) -> (Vec<Effect>, T)) -> T {
        let now = self.now_ms();
        let settings = self.settings();
        let (effects, out) = {
            let mut st = lock(&self.inner.state);
            let mut effects = st.tick(now, &settings);
            let (more, out) = f(&mut st, now, &settings);
            effects.extend(more);
            (effects, out)
        };
        self.inner.callbacks.send(effects);
        out
    }

    pub(crate) fn start_background(&self) {
        self.inner.callbacks.start_worker();
    }

    // ----- API operations (shared by HTTP and SimBbb) -----

    pub(crate) fn op_create(&self, p: &Params) -> Result<(SimMeeting, bool), CreateFailure> {
        let arrival = CreateArrival {
            meeting_id: p.get("meetingID").unwrap_or_default().to_string(),
            at: jiff::Timestamp::now(),
        };
        lock(&self.inner.creates).push(arrival);
        self.with_state(|st, now, s| (Vec::new(), st.create(p, now, s)))
    }

    pub(crate) fn op_join(&self, p: &Params) -> Result<Joined, model::JoinFailure> {
        self.with_state(|st, now, s| (Vec::new(), st.join(p, now, s)))
    }

    pub(crate) fn op_end(&self, p: &Params) -> Result<(), ApiFailure> {
        self.with_state(|st, now, s| match st.end(p, now, s) {
            Ok(effects) => (effects, Ok(())),
            Err(e) => (Vec::new(), Err(e)),
        })
    }

    pub(crate) fn op_is_running(&self, p: &Params) -> Result<bool, ApiFailure> {
        self.with_state(|st, _, _| {
            let r = match st.meeting(p) {
                Ok(m) => Ok(m.running()),
                Err(e) if e.key == "notFound" => Ok(false),
                Err(e) => Err(e),
            };
            (Vec::new(), r)
        })
    }

    pub(crate) fn op_meeting_info(&self, p: &Params) -> Result<SimMeeting, ApiFailure> {
        self.with_state(|st, _, _| (Vec::new(), st.meeting(p).cloned()))
    }

    pub(crate) fn op_meetings(&self) -> Vec<SimMeeting> {
        self.with_state(|st, _, _| {
            let mut list: Vec<SimMeeting> = st.meetings.values().cloned().collect();
            list.sort_by_key(|m| m.create_time);
            (Vec::new(), list)
        })
    }

    pub(crate) fn op_recordings(&self, p: &Params) -> Vec<SimRecording> {
        self.with_state(|st, _, _| (Vec::new(), st.find_recordings(p)))
    }

    pub(crate) fn op_publish(&self, p: &Params) -> Result<bool, ApiFailure> {
        self.with_state(|st, _, _| (Vec::new(), st.publish(p)))
    }

    pub(crate) fn op_update(&self, p: &Params) -> Result<bool, ApiFailure> {
        self.with_state(|st, _, _| (Vec::new(), st.update(p)))
    }

    pub(crate) fn op_delete(&self, p: &Params) -> Result<bool, ApiFailure> {
        self.with_state(|st, _, _| (Vec::new(), st.delete(p)))
    }

    // ----- control API -----

    /// Live meetings, oldest first.
    pub fn meetings(&self) -> Vec<SimMeeting> {
        self.op_meetings()
    }

    pub fn meeting(&self, meeting_id: &str) -> Option<SimMeeting> {
        self.with_state(|st, _, _| (Vec::new(), st.meetings.get(meeting_id).cloned()))
    }

    /// All recordings in any state.
    pub fn recordings(&self) -> Vec<SimRecording> {
        self.with_state(|st, _, _| (Vec::new(), st.recordings.clone()))
    }

    /// Put a user into a live meeting; returns the internal user id.
    pub fn add_participant(
        &self,
        meeting_id: &str,
        name: &str,
        role: Role,
    ) -> Result<String, SimError> {
        self.add_participant_with(
            meeting_id,
            &NewParticipant {
                name: name.into(),
                role: Some(role.as_bbb().into()),
                ..NewParticipant::default()
            },
        )
    }

    pub fn add_participant_with(
        &self,
        meeting_id: &str,
        np: &NewParticipant,
    ) -> Result<String, SimError> {
        self.with_state(|st, now, _| (Vec::new(), st.add_participant(meeting_id, np, now)))
            .ok_or_else(|| SimError::NoSuchMeeting(meeting_id.into()))
    }

    /// A user (internal or external id) leaves; the expiry rules may end the meeting.
    pub fn remove_participant(&self, meeting_id: &str, user_id: &str) -> Result<(), SimError> {
        let (found, meeting_exists) = self.with_state(|st, now, _| {
            let exists = st.meetings.contains_key(meeting_id);
            (
                Vec::new(),
                (st.remove_participant(meeting_id, user_id, now), exists),
            )
        });
        // Apply "last user left" with delay 0 right away.
        self.tick();
        match (found, meeting_exists) {
            (true, _) => Ok(()),
            (false, false) => Err(SimError::NoSuchMeeting(meeting_id.into())),
            (false, true) => Err(SimError::NoSuchParticipant {
                meeting: meeting_id.into(),
                user: user_id.into(),
            }),
        }
    }

    /// "Open" a signed join URL as a browser would: checksum verified, participant registered.
    pub fn join_from_url(&self, url: &str) -> Result<Joined, SimError> {
        let parsed = url::Url::parse(url).map_err(|e| SimError::BadUrl(e.to_string()))?;
        if !parsed.path().ends_with("/bigbluebutton/api/join") {
            return Err(SimError::BadUrl(
                "the path is not …/bigbluebutton/api/join".into(),
            ));
        }
        let req = ApiRequest {
            method: Method::Get,
            call: "join",
            raw_query: parsed.query().unwrap_or_default(),
            content_type: None,
            body: &[],
        };
        let params = self
            .request_params(api::Call::Join, &req)
            .map_err(SimError::Api)?;
        self.op_join(&params).map_err(|e| SimError::Api(e.failure))
    }

    /// Sessions issued by join: whether `token` is valid and its guest status.
    pub fn session_status(&self, token: &str) -> Option<GuestStatus> {
        self.with_state(|st, _, _| (Vec::new(), st.session(token).map(|s| s.guest_status)))
    }

    // ----- faults -----

    pub fn faults(&self) -> FaultState {
        lock(&self.inner.faults).clone()
    }

    fn update_faults(&self, f: impl FnOnce(&mut FaultState)) {
        let hanging = {
            let mut faults = lock(&self.inner.faults);
            f(&mut faults);
            faults.hanging
        };
        self.inner.hang_tx.send_replace(hanging);
    }

    pub fn set_latency(&self, latency: Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.update_faults(|f| f.latency_ms = ms);
    }

    /// The next `n` API requests get HTTP 500.
    pub fn fail_next(&self, n: u32) {
        self.update_faults(|f| f.fail_next = n);
    }

    /// Every API request gets HTTP 500 until [`Self::clear_faults`].
    pub fn fail_always(&self) {
        self.update_faults(|f| f.fail_always = true);
    }

    /// Accept API requests but never answer (until [`Self::resume`]).
    pub fn hang(&self) {
        self.update_faults(|f| f.hanging = true);
    }

    /// Answer again; requests held by [`Self::hang`] proceed.
    pub fn resume(&self) {
        self.update_faults(|f| f.hanging = false);
    }

    pub fn clear_faults(&self) {
        self.update_faults(|f| *f = FaultState::default());
    }

    /// Consume one injected failure, if any is due.
    pub(crate) fn take_failure(&self) -> bool {
        let mut f = lock(&self.inner.faults);
        if f.fail_always {
            return true;
        }
        if f.fail_next > 0 {
            f.fail_next -= 1;
            return true;
        }
        false
    }

    pub(crate) fn hang_watch(&self) -> watch::Receiver<bool> {
        self.inner.hang_tx.subscribe()
    }

    // ----- callbacks -----

    /// Every callback queued so far and how its delivery went.
    pub fn callback_log(&self) -> Vec<CallbackRecord> {
        self.inner.callbacks.log()
    }

    /// Every `create` request so far, in arrival order.
    pub fn create_log(&self) -> Vec<CreateArrival> {
        lock(&self.inner.creates).clone()
    }
}

//! `Service::execute` end to end. Every scenario runs three times:
//!
//! * `fast`: `MemoryStore` + `SimConnector` (simulators in memory) + `ManualClock`;
//! * `sqlite`: `SqlStore` on a SQLite file in a temp dir + `HttpConnector` + simulators served
//!   on loopback;
//! * `postgres`: the same on a fresh database of the throwaway PostgreSQL cluster (started once
//!   per test binary).
//!
//! A scenario only talks to the [`Harness`]; join links are "opened" in memory (fast) or with a
//! real HTTP GET that must answer 302 into the client (sqlite, postgres).

mod common;

use common::{dead_address, open_link, random_secret, serve_sim};
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use schedulight::bbb::sim::{GuestStatus, SimBbb, SimConfig, SimConnector, SimHandle, Simulator};
use schedulight::bbb::{Bbb, BbbConnector, CreateParams, HttpConnector};
use schedulight::clock::{Clock, ManualClock};
use schedulight::domain::operation::{
    CreateRoom, CreateUser, RecordingScope, RoomFilter, ShareRoom, UserRole,
};
use schedulight::domain::{
    Actor, ChecksumAlgorithm, Email, MeetingId, MeetingPhase, MeetingSpec, OpError, Operation,
    Outcome, Owner, Recipient, RecordId, RunningMeeting, Scope, Secret, ServerId, ServerMeetings,
    ServerSpec,
};
use schedulight::service::{Service, ServiceSettings};
use schedulight::store::{MemoryStore, SqlStore, Store};
use schedulight::testkit::pg::PgCluster;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;

// ---------------------------------------------------------------- harness

const GRACE: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Fast,
    Sqlite,
    Postgres,
}

/// How BBB is reached in this run.
enum Bbbs {
    /// In memory; each simulator answers under its own made-up host.
    Fast {
        connector: SimConnector,
        sims: Mutex<Vec<Simulator>>,
    },
    /// Real HTTP to simulators served on loopback (the handles keep them serving).
    Http { handles: Mutex<Vec<SimHandle>> },
}

/// A simulated BBB server: the spec to add, and the simulator behind it.
struct SimServer {
    spec: ServerSpec,
    sim: Simulator,
}

struct Harness {
    kind: Kind,
    service: Service,
    store: Arc<dyn Store>,
    clock: ManualClock,
    bbbs: Bbbs,
    _dir: Option<TempDir>,
}

fn admin() -> Actor {
    Actor::admin("test:admin")
}

/// May look, not touch.
fn reader() -> Actor {
    Actor::with_scopes("test:reader", [Scope::Read])
}

fn settings() -> ServiceSettings {
    ServiceSettings {
        default_time_zone: TimeZone::UTC,
        fan_out_grace: GRACE,
        ..ServiceSettings::default()
    }
}

impl Harness {
    async fn new(kind: Kind) -> Harness {
        let (store, dir): (Arc<dyn Store>, Option<TempDir>) = match kind {
            Kind::Fast => (Arc::new(MemoryStore::new()), None),
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("schedulight.db");
                let store = SqlStore::connect(path.to_str().expect("UTF-8 temp path"))
                    .await
                    .expect("open the SQLite store");
                (Arc::new(store), Some(dir))
            }
            Kind::Postgres => {
                let cluster = PgCluster::shared().expect("throwaway PostgreSQL");
                let url = cluster.fresh_database().await.expect("fresh database");
                let store = SqlStore::connect(&url).await.expect("open the PG store");
                (Arc::new(store), None)
            }
        };
        let (bbbs, connector): (Bbbs, Arc<dyn BbbConnector>) = match kind {
            Kind::Fast => {
                let connector = SimConnector::new();
                let shared: Arc<dyn BbbConnector> = Arc::new(connector.clone());
                (
                    Bbbs::Fast {
                        connector,
                        sims: Mutex::new(Vec::new()),
                    },
                    shared,
                )
            }
            Kind::Sqlite | Kind::Postgres => (
                Bbbs::Http {
                    handles: Mutex::new(Vec::new()),
                },
                Arc::new(HttpConnector::try_new().expect("HTTP client")),
            ),
        };
        // Whole seconds, so timestamps compare equal after any store round trip.
        let start = Timestamp::from_second(Timestamp::now().as_second()).expect("now");
        let clock = ManualClock::new(start);
        let service = Service::new(
            store.clone(),
            connector,
            Arc::new(clock.clone()),
            settings(),
        );
        Harness {
            kind,
            service,
            store,
            clock,
            bbbs,
            _dir: dir,
        }
    }

    fn is_http(&self) -> bool {
        self.kind != Kind::Fast
    }

    async fn exec(&self, op: Operation) -> Result<Outcome, OpError> {
        self.service.execute(&admin(), op).await
    }

    async fn ok(&self, op: Operation) -> Outcome {
        let name = op.name();
        self.exec(op)
            .await
            .unwrap_or_else(|e| panic!("{name} failed: {e}"))
    }

    /// A new simulated BBB server (not yet known to the service).
    async fn sim_server(&self, id: &str, timeout_ms: u64) -> SimServer {
        let secret = random_secret();
        let server_id: ServerId = id.parse().expect("server id");
        let (url, sim) = match &self.bbbs {
            Bbbs::Fast { connector, sims } => {
                let config = SimConfig {
                    server_url: Some(format!("http://{id}.bbb-sim.invalid")),
                    ..SimConfig::new(secret.clone())
                };
                let sim = Simulator::new(config);
                connector.register(server_id.clone(), sim.clone());
                sims.lock().expect("sims").push(sim.clone());
                (sim.api_base_url(), sim)
            }
            Bbbs::Http { handles } => {
                let handle = serve_sim(SimConfig::new(secret.clone())).await;
                let sim = handle.simulator.clone();
                let url = handle.base_url();
                handles.lock().expect("handles").push(handle);
                (url, sim)
            }
        };
        let mut spec = ServerSpec::new(
            server_id,
            url.parse().expect("simulator URL"),
            Secret::new(secret),
        );
        spec.timeout_ms = timeout_ms;
        SimServer { spec, sim }
    }

    /// A simulated server, added through the service.
    async fn add_sim_server(&self, id: &str, timeout_ms: u64) -> SimServer {
        let s = self.sim_server(id, timeout_ms).await;
        self.ok(Operation::AddServer {
            server: Box::new(s.spec.clone()),
        })
        .await;
        s
    }

    /// A server where nobody answers: refused connections (HTTP) or no simulator (fast).
    fn dead_server(&self, id: &str) -> ServerSpec {
        let host = match self.kind {
            Kind::Fast => format!("{id}.bbb-sim.invalid"),
            _ => dead_address().to_string(),
        };
        ServerSpec::new(
            id.parse().expect("server id"),
            format!("http://{host}/bigbluebutton/api/")
                .parse()
                .expect("url"),
            Secret::new(random_secret()),
        )
    }

    /// Open a join link as a browser would. Ok when the user got into the meeting.
    async fn open(&self, url: &str) -> Result<(), String> {
        match &self.bbbs {
            Bbbs::Fast { sims, .. } => {
                let sim = sims
                    .lock()
                    .expect("sims")
                    .iter()
                    .find(|s| url.starts_with(&s.api_base_url()))
                    .cloned()
                    .ok_or_else(|| format!("no simulator serves {url}"))?;
                let joined = sim.join_from_url(url).map_err(|e| e.to_string())?;
                if joined.guest_status == GuestStatus::Allow {
                    Ok(())
                } else {
                    Err(format!("not let in: {:?}", joined.guest_status))
                }
            }
            Bbbs::Http { .. } => {
                let opened = open_link(url).await;
                if opened.entered_client() {
                    Ok(())
                } else {
                    Err(format!("{opened:?}: {:?}", opened.join_errors()))
                }
            }
        }
    }

    /// Audit entries, oldest first.
    async fn audit(&self) -> Vec<schedulight::store::AuditEntry> {
        let mut entries = self.store.audit_entries(1_000).await.expect("audit");
        entries.reverse();
        entries
    }

    async fn assert_audit_has_no(&self, secret: &str) {
        let json = serde_json::to_string(&self.audit().await).expect("audit JSON");
        assert!(!json.contains(secret), "a secret leaked into the audit log");
    }

    fn tick(&self) {
        self.clock.advance(SignedDuration::from_secs(1));
    }
}

fn mid(s: &str) -> MeetingId {
    s.parse().expect("meeting id")
}

fn sid(s: &str) -> ServerId {
    s.parse().expect("server id")
}

fn rid(s: &str) -> RecordId {
    s.parse().expect("record id")
}

fn email(s: &str) -> Email {
    s.parse().expect("e-mail")
}

/// A meeting tomorrow (UTC, whole minutes) on `server`.
fn meeting(h: &Harness, id: &str, server: &str, name: &str) -> MeetingSpec {
    let mut m = MeetingSpec::new(mid(id), sid(server), name);
    let tomorrow = h.clock.now() + SignedDuration::from_hours(24);
    let civil = tomorrow.to_zoned(TimeZone::UTC).datetime();
    m.start = Some(civil.round(jiff::Unit::Minute).expect("round"));
    m
}

async fn schedule(h: &Harness, m: MeetingSpec) -> Outcome {
    h.ok(Operation::ScheduleMeeting {
        meeting: Box::new(m),
    })
    .await
}

fn phase_of(outcome: &Outcome) -> MeetingPhase {
    match outcome {
        Outcome::Meeting { meeting, .. } => meeting.phase,
        other => panic!("expected a meeting, got {other:?}"),
    }
}

async fn status(h: &Harness, id: &str) -> Outcome {
    h.ok(Operation::MeetingStatus { id: mid(id) }).await
}

struct Started {
    already_running: bool,
    moderator: String,
    viewer: String,
    room: Option<String>,
}

async fn start(h: &Harness, id: &str) -> Started {
    match h.ok(Operation::StartMeetingNow { id: mid(id) }).await {
        Outcome::Started {
            already_running,
            links,
            ..
        } => Started {
            already_running,
            moderator: links.moderator,
            viewer: links.viewer,
            room: links.room,
        },
        other => panic!("expected Started, got {other:?}"),
    }
}

async fn end(h: &Harness, id: &str) -> bool {
    match h.ok(Operation::EndMeeting { id: mid(id) }).await {
        Outcome::Ended { was_running, .. } => was_running,
        other => panic!("expected Ended, got {other:?}"),
    }
}

fn running_of(outcome: Outcome) -> Vec<ServerMeetings> {
    match outcome {
        Outcome::Running { servers } => servers,
        other => panic!("expected Running, got {other:?}"),
    }
}

fn found_of(outcome: Outcome) -> Option<RunningMeeting> {
    match outcome {
        Outcome::Found { meeting } => meeting.map(|m| *m),
        other => panic!("expected Found, got {other:?}"),
    }
}

// ---------------------------------------------------------------- scenarios

/// Add, list, update and remove servers; the secret never shows; out-of-range timeouts are
/// refused; remove is refused while a meeting uses the server, and works once it is cancelled.
async fn servers_crud(h: Harness) {
    let a = h.sim_server("alpha", 2_000).await;
    let b = h.sim_server("beta", 2_000).await;
    let secret_a = a.spec.secret.expose().to_string();
    let secret_b = b.spec.secret.expose().to_string();
    let no_secrets = |o: &Outcome| {
        let json = serde_json::to_string(o).expect("outcome JSON");
        assert!(
            !json.contains(&secret_a) && !json.contains(&secret_b),
            "{json}"
        );
    };

    for s in [&a, &b] {
        let added = h
            .ok(Operation::AddServer {
                server: Box::new(s.spec.clone()),
            })
            .await;
        no_secrets(&added);
        assert!(
            matches!(&added, Outcome::Server { created: true, server } if server.id == s.spec.id)
        );
    }
    let again = h
        .exec(Operation::AddServer {
            server: Box::new(a.spec.clone()),
        })
        .await;
    assert!(
        matches!(&again, Err(OpError::AlreadyExists { what, id }) if what == "server" && id == "alpha"),
        "{again:?}"
    );

    let mut changed = a.spec.clone();
    changed.timeout_ms = 1_234;
    changed.link_base = Some("https://gl.uni.example/b".into());
    let updated = h
        .ok(Operation::UpdateServer {
            server: Box::new(changed),
        })
        .await;
    no_secrets(&updated);
    assert!(matches!(updated, Outcome::Server { created: false, .. }));
    let unknown = h
        .exec(Operation::UpdateServer {
            server: Box::new(h.dead_server("gamma")),
        })
        .await;
    assert!(
        matches!(unknown, Err(OpError::NotFound { .. })),
        "{unknown:?}"
    );

    // Timeouts the config file would refuse are refused here too: the fan-out over servers
    // and the client must agree on what a server's timeout is.
    let mut no_timeout = h.dead_server("delta");
    no_timeout.timeout_ms = 0;
    let mut endless = a.spec.clone();
    endless.timeout_ms = 10_000_000;
    for op in [
        Operation::AddServer {
            server: Box::new(no_timeout),
        },
        Operation::UpdateServer {
            server: Box::new(endless),
        },
    ] {
        match h.exec(op).await {
            Err(OpError::Invalid(msg)) => {
                assert!(
                    msg.contains("timeoutMs") && msg.contains("100 to 600000"),
                    "{msg}"
                )
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    let listed = h.ok(Operation::ListServers).await;
    no_secrets(&listed);
    let Outcome::Servers { servers } = listed else {
        panic!("expected servers")
    };
    let summary: Vec<(String, u64)> = servers
        .iter()
        .map(|s| (s.id.to_string(), s.timeout_ms))
        .collect();
    assert_eq!(
        summary,
        [("alpha".to_string(), 1_234), ("beta".to_string(), 2_000)]
    );
    // The stored spec still has the secret (the service needs it), just never shows it.
    let stored = h.store.get_server(&sid("alpha")).await.expect("get");
    assert_eq!(
        stored.map(|s| s.secret.expose().to_string()),
        Some(secret_a.clone())
    );

    schedule(&h, meeting(&h, "lecture", "alpha", "Lecture")).await;
    let refused = h.exec(Operation::RemoveServer { id: sid("alpha") }).await;
    match &refused {
        Err(OpError::Invalid(msg)) => assert!(msg.contains("lecture"), "{msg}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(
        h.store
            .get_server(&sid("alpha"))
            .await
            .expect("get")
            .is_some()
    );

    let removed = h.ok(Operation::RemoveServer { id: sid("beta") }).await;
    assert!(matches!(removed, Outcome::Done { .. }));
    let gone = h.exec(Operation::RemoveServer { id: sid("beta") }).await;
    assert!(matches!(gone, Err(OpError::NotFound { .. })), "{gone:?}");

    // The refusal says to cancel the meeting first; once it is cancelled, the server can go.
    h.ok(Operation::CancelMeeting { id: mid("lecture") }).await;
    h.ok(Operation::RemoveServer { id: sid("alpha") }).await;
    let Outcome::Servers { servers } = h.ok(Operation::ListServers).await else {
        panic!("expected servers")
    };
    assert!(servers.is_empty(), "{servers:?}");

    let audit: Vec<(String, Option<String>, String)> = h
        .audit()
        .await
        .into_iter()
        .map(|e| (e.operation, e.target, e.result))
        .collect();
    let row = |op: &str, target: &str, result: &str| {
        (op.to_string(), Some(target.to_string()), result.to_string())
    };
    assert_eq!(
        audit,
        [
            row("add_server", "alpha", "ok"),
            row("add_server", "beta", "ok"),
            row("add_server", "alpha", "already_exists"),
            row("update_server", "alpha", "ok"),
            row("update_server", "gamma", "not_found"),
            row("add_server", "delta", "invalid"),
            row("update_server", "alpha", "invalid"),
            row("schedule_meeting", "lecture", "ok"),
            row("remove_server", "alpha", "invalid"),
            row("remove_server", "beta", "ok"),
            row("remove_server", "beta", "not_found"),
            row("cancel_meeting", "lecture", "ok"),
            row("remove_server", "alpha", "ok"),
        ],
        "reads are not audited; changes and failures are"
    );
    h.assert_audit_has_no(&secret_a).await;
    h.assert_audit_has_no(&secret_b).await;
}

/// Refusals when scheduling: unknown server, past start, unknown zone, duplicate id.
async fn schedule_validation(h: Harness) {
    h.add_sim_server("alpha", 2_000).await;

    let unknown = h
        .exec(Operation::ScheduleMeeting {
            meeting: Box::new(meeting(&h, "m1", "nosuch", "Nowhere")),
        })
        .await;
    match &unknown {
        Err(e @ OpError::NotFound { what, id, hint }) => {
            assert_eq!((what.as_str(), id.as_str()), ("server", "nosuch"));
            assert!(hint.contains("servers list"), "{hint}");
            assert!(e.to_string().contains("servers list"), "{e}");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }

    let mut past = meeting(&h, "m1", "alpha", "Yesterday");
    let yesterday = (h.clock.now() - SignedDuration::from_hours(24)).to_zoned(TimeZone::UTC);
    past.start = Some(
        yesterday
            .datetime()
            .round(jiff::Unit::Minute)
            .expect("round"),
    );
    match h
        .exec(Operation::ScheduleMeeting {
            meeting: Box::new(past),
        })
        .await
    {
        Err(OpError::Invalid(msg)) => {
            assert!(
                msg.contains("past") && msg.contains("YYYY-MM-DD HH:MM"),
                "{msg}"
            )
        }
        other => panic!("expected Invalid, got {other:?}"),
    }

    let mut mars = meeting(&h, "m1", "alpha", "On Mars");
    mars.time_zone = Some("Mars/Olympus_Mons".into());
    match h
        .exec(Operation::ScheduleMeeting {
            meeting: Box::new(mars),
        })
        .await
    {
        Err(OpError::Invalid(msg)) => {
            assert!(
                msg.contains("Mars/Olympus_Mons") && msg.contains("IANA"),
                "{msg}"
            )
        }
        other => panic!("expected Invalid, got {other:?}"),
    }

    // A good one, in another zone: its start resolves in that zone.
    let mut vienna = meeting(&h, "m1", "alpha", "In Vienna");
    vienna.time_zone = Some("Europe/Vienna".into());
    let start = vienna.start.expect("start");
    let created = schedule(&h, vienna.clone()).await;
    match &created {
        Outcome::Meeting { meeting, created } => {
            assert!(*created);
            assert_eq!(meeting.phase, MeetingPhase::New);
            let zone = TimeZone::get("Europe/Vienna").expect("zone");
            let expected = start.to_zoned(zone).expect("in zone").timestamp();
            assert_eq!(meeting.starts_at, Some(expected));
            assert_eq!(meeting.spec, vienna);
        }
        other => panic!("expected a meeting, got {other:?}"),
    }

    let dup = h
        .exec(Operation::ScheduleMeeting {
            meeting: Box::new(meeting(&h, "m1", "alpha", "Again")),
        })
        .await;
    assert!(
        matches!(&dup, Err(OpError::AlreadyExists { what, id }) if what == "meeting" && id == "m1"),
        "{dup:?}"
    );
    let Outcome::Meetings { meetings } = h.ok(Operation::ListMeetings).await else {
        panic!("expected meetings")
    };
    assert_eq!(meetings.len(), 1);
    assert_eq!(
        meetings[0].spec.name, "In Vienna",
        "the duplicate changed nothing"
    );

    // startDate with seconds (accepted as ISO 8601) survives the store as given.
    let mut precise = meeting(&h, "m2", "alpha", "On the second");
    precise.start = precise
        .start
        .map(|s| s.with().second(30).build().expect("time"));
    schedule(&h, precise.clone()).await;
    let Outcome::Meeting { meeting: view, .. } = status(&h, "m2").await else {
        panic!("expected a meeting")
    };
    assert_eq!(view.spec.start, precise.start);
}

/// Status with step history through disable / enable / reset / cancel.
async fn status_and_phases(h: Harness) {
    let a = h.add_sim_server("alpha", 2_000).await;
    schedule(&h, meeting(&h, "m", "alpha", "Weekly")).await;
    let Outcome::Meeting { meeting: view, .. } = status(&h, "m").await else {
        panic!("expected a meeting")
    };
    let steps: Vec<(&str, u16, &str)> = view
        .steps
        .iter()
        .map(|s| (s.step.as_str(), s.code, s.message.as_str()))
        .collect();
    assert_eq!(steps, [("status", 200, "new")]);
    assert_eq!(view.steps[0].at, h.clock.now());

    h.tick();
    h.ok(Operation::DisableMeeting { id: mid("m") }).await;
    assert_eq!(phase_of(&status(&h, "m").await), MeetingPhase::Disabled);
    match h.exec(Operation::StartMeetingNow { id: mid("m") }).await {
        Err(OpError::Invalid(msg)) => assert!(msg.contains("disabled"), "{msg}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(a.sim.meetings().is_empty(), "nothing was created on BBB");

    h.tick();
    h.ok(Operation::EnableMeeting { id: mid("m") }).await;
    assert_eq!(phase_of(&status(&h, "m").await), MeetingPhase::New);
    match h.exec(Operation::EnableMeeting { id: mid("m") }).await {
        Err(OpError::Invalid(msg)) => assert!(msg.contains("not disabled"), "{msg}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    let history: Vec<(u16, String)> = h
        .store
        .step_history(&mid("m"))
        .await
        .expect("history")
        .into_iter()
        .map(|s| (s.code, s.message))
        .collect();
    assert_eq!(
        history,
        [
            (200, "new".to_string()),
            (900, "disabled".to_string()),
            (200, "enabled".to_string())
        ]
    );

    h.tick();
    match h
        .ok(Operation::ResetMeeting {
            id: mid("m"),
            step: None,
            resend: false,
        })
        .await
    {
        Outcome::Done { message } => assert!(message.contains("3 records cleared"), "{message}"),
        other => panic!("expected Done, got {other:?}"),
    }
    let history = h.store.step_history(&mid("m")).await.expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].code, history[0].message.as_str()),
        (200, "reset")
    );

    h.tick();
    h.ok(Operation::CancelMeeting { id: mid("m") }).await;
    assert_eq!(phase_of(&status(&h, "m").await), MeetingPhase::Cancelled);
    assert!(matches!(
        h.exec(Operation::StartMeetingNow { id: mid("m") }).await,
        Err(OpError::Invalid(_))
    ));

    match h.exec(Operation::MeetingStatus { id: mid("nosuch") }).await {
        Err(OpError::NotFound { hint, .. }) => assert!(hint.contains("meetings list"), "{hint}"),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// Start now: links that work, `already_running` on the second start, end (running, then
/// not), and a restart whose new links work while the old ones are refused.
async fn start_and_end(h: Harness) {
    let mut a = h.sim_server("alpha", 2_000).await;
    a.spec.link_base = Some("https://gl.uni.example/b/".into());
    h.ok(Operation::AddServer {
        server: Box::new(a.spec.clone()),
    })
    .await;
    let mut m = meeting(&h, "lecture", "alpha", "Lecture 1");
    m.room = Some("abc-def-ghi".parse().expect("room"));
    m.record = Some(true);
    m.owner = Some(Owner {
        email: email("ada@uni.example"),
        full_name: "Prof. Ada".into(),
        password: None,
        uid: None,
        social_uid: None,
    });
    schedule(&h, m).await;

    let first = start(&h, "lecture").await;
    assert!(!first.already_running);
    assert_eq!(
        first.room.as_deref(),
        Some("https://gl.uni.example/b/abc-def-ghi")
    );
    let live = a.sim.meeting("sl-lecture").expect("created on BBB");
    assert!(live.record);
    assert_eq!(
        live.metadata.get("schedulight-meeting").map(String::as_str),
        Some("lecture")
    );
    h.open(&first.moderator)
        .await
        .expect("moderator link works");
    h.open(&first.viewer).await.expect("viewer link works");
    let people: Vec<(String, String)> = a
        .sim
        .meeting("sl-lecture")
        .expect("live")
        .participants
        .iter()
        .map(|p| (p.full_name.clone(), p.role.clone()))
        .collect();
    assert_eq!(
        people,
        [
            ("Prof. Ada".to_string(), "MODERATOR".to_string()),
            ("Guest".to_string(), "VIEWER".to_string())
        ]
    );

    h.tick();
    let second = start(&h, "lecture").await;
    assert!(second.already_running);
    h.open(&second.viewer)
        .await
        .expect("links of the same run work");
    let Outcome::Meeting { meeting: view, .. } = status(&h, "lecture").await else {
        panic!("expected a meeting")
    };
    assert_eq!(view.phase, MeetingPhase::Started);
    assert_eq!(
        (view.steps[0].code, view.steps[0].message.as_str()),
        (220, "meeting started, users joined")
    );

    h.tick();
    assert!(end(&h, "lecture").await, "it was running");
    assert!(a.sim.meeting("sl-lecture").is_none());
    h.tick();
    assert!(!end(&h, "lecture").await, "nothing left to end");
    let Outcome::Meeting { meeting: view, .. } = status(&h, "lecture").await else {
        panic!("expected a meeting")
    };
    assert_eq!(view.phase, MeetingPhase::Ended);
    assert!(
        view.steps
            .iter()
            .any(|s| s.step == "endMeeting" && s.code == 220),
        "{:?}",
        view.steps
    );

    // A new run: new links work, the old ones belong to the previous run.
    h.tick();
    let third = start(&h, "lecture").await;
    assert!(!third.already_running);
    assert!(h.open(&first.moderator).await.is_err());
    h.open(&third.moderator).await.expect("new link works");
}

/// Running meetings over four servers: one with a meeting, one hanging, one idle, one down.
/// The answer comes within the hanging server's timeout + grace; links only for writers.
async fn running_with_a_hanging_server(h: Harness) {
    let a = h.add_sim_server("a-live", 2_000).await;
    let b = h.add_sim_server("b-hangs", 300).await;
    let c = h.add_sim_server("c-idle", 2_000).await;
    let d = h.dead_server("d-down");
    h.ok(Operation::AddServer {
        server: Box::new(d),
    })
    .await;
    schedule(&h, meeting(&h, "algebra", "a-live", "Linear Algebra 101")).await;
    let started = start(&h, "algebra").await;
    h.open(&started.moderator).await.expect("join");
    b.sim.hang();

    let t = Instant::now();
    let servers = running_of(h.ok(Operation::ShowRunningMeetings { server: None }).await);
    let elapsed = t.elapsed();
    let limit = Duration::from_millis(300) + GRACE + Duration::from_millis(250);
    assert!(elapsed < limit, "took {elapsed:?}");
    if h.is_http() {
        assert!(
            elapsed >= Duration::from_millis(300),
            "waited for the timeout"
        );
    }
    let ids: Vec<&str> = servers.iter().map(|s| s.server.as_str()).collect();
    assert_eq!(ids, ["a-live", "b-hangs", "c-idle", "d-down"]);

    let live = servers[0].meetings.as_ref().expect("a answers");
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].name, "Linear Algebra 101");
    assert_eq!((live[0].participants, live[0].moderators), (1, 1));
    assert!(live[0].running);
    let links = live[0].links.clone().expect("admins get links");
    h.open(&links.moderator)
        .await
        .expect("admin moderator link");
    h.open(&links.viewer).await.expect("admin viewer link");
    let live_now = a.sim.meeting("sl-algebra").expect("live");
    assert_eq!(
        live_now.participants.len(),
        3,
        "the admin links let two more in"
    );

    let hanging = &servers[1];
    assert!(hanging.meetings.is_none());
    let why = hanging
        .error
        .as_deref()
        .expect("an error for the hanging server");
    assert!(why.contains("300 ms"), "{why}");
    assert!(
        hanging.elapsed_ms <= 300 + 50 + 200,
        "{}",
        hanging.elapsed_ms
    );

    assert_eq!(servers[2].meetings.as_deref().map(<[_]>::len), Some(0));
    assert!(servers[2].error.is_none());
    let down = servers[3]
        .error
        .as_deref()
        .expect("an error for the dead server");
    assert!(down.contains("could not reach"), "{down}");

    // Readers see the same meetings without links.
    let seen = running_of(
        h.service
            .execute(
                &reader(),
                Operation::ShowRunningMeetings {
                    server: Some(sid("a-live")),
                },
            )
            .await
            .expect("readers may look"),
    );
    assert_eq!(seen.len(), 1);
    let mine = seen[0].meetings.as_ref().expect("answer");
    assert_eq!(mine.len(), 1);
    assert!(mine[0].links.is_none(), "no links without meetings_write");

    let only_b = running_of(
        h.ok(Operation::ShowRunningMeetings {
            server: Some(sid("b-hangs")),
        })
        .await,
    );
    assert_eq!(only_b.len(), 1);
    assert!(only_b[0].error.is_some());
    assert!(matches!(
        h.exec(Operation::ShowRunningMeetings {
            server: Some(sid("nosuch"))
        })
        .await,
        Err(OpError::NotFound { .. })
    ));
    b.sim.resume();
    assert!(c.sim.meetings().is_empty());
}

/// Find a running meeting by part of its name, case-insensitively, on one or all servers.
async fn find_meeting(h: Harness) {
    h.add_sim_server("alpha", 2_000).await;
    let c = h.add_sim_server("gamma", 2_000).await;
    schedule(&h, meeting(&h, "algebra", "alpha", "Linear Algebra 101")).await;
    start(&h, "algebra").await;
    // A meeting someone else created on BBB is found too.
    SimBbb::new(c.sim.clone())
        .create(&CreateParams {
            meeting_id: Some("colloquium-7".parse().expect("id")),
            name: "Physics Colloquium".into(),
            ..CreateParams::default()
        })
        .await
        .expect("create on the simulator");

    let find = |title: &str, server: Option<&str>| Operation::FindMeeting {
        title: title.into(),
        server: server.map(sid),
    };
    let hit = found_of(h.ok(find("ALGEBRA", None)).await).expect("found");
    assert_eq!(
        (hit.name.as_str(), hit.server.as_str()),
        ("Linear Algebra 101", "alpha")
    );
    assert_eq!(hit.meeting_id, "sl-algebra");
    let links = hit.links.expect("admins get links");
    h.open(&links.moderator).await.expect("the link works");

    let hit = found_of(h.ok(find("colloq", Some("gamma"))).await).expect("found");
    assert_eq!(hit.meeting_id, "colloquium-7");
    assert!(found_of(h.ok(find("colloq", Some("alpha"))).await).is_none());
    assert!(found_of(h.ok(find("chemistry", None)).await).is_none());
    assert!(matches!(
        h.exec(find("  ", None)).await,
        Err(OpError::Invalid(_))
    ));

    let seen = h
        .service
        .execute(&reader(), find("physics", None))
        .await
        .expect("readers may look");
    let hit = found_of(seen).expect("found");
    assert!(hit.links.is_none(), "no links without meetings_write");
}

/// Recordings through the service: list, unpublish, publish, delete.
async fn recordings(h: Harness) {
    let a = h.add_sim_server("alpha", 2_000).await;
    let mut m = meeting(&h, "seminar", "alpha", "Research Seminar");
    m.record = Some(true);
    schedule(&h, m).await;
    let started = start(&h, "seminar").await;
    h.open(&started.moderator).await.expect("join");
    assert!(end(&h, "seminar").await);
    let record_id = a.sim.recordings()[0].record_id.clone();

    let list = |scope: Option<RecordingScope>| Operation::ListRecordings {
        server: sid("alpha"),
        scope,
    };
    let views = |o: Outcome| match o {
        Outcome::Recordings { recordings, .. } => recordings,
        other => panic!("expected recordings, got {other:?}"),
    };
    let recs = views(
        h.ok(list(Some(RecordingScope::Meeting(mid("seminar")))))
            .await,
    );
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].record_id.as_str(), record_id);
    assert_eq!(recs[0].name, "Research Seminar");
    assert!(recs[0].published);
    assert!(recs[0].playback.iter().any(|(f, _)| f == "presentation"));
    let by_bbb_id = RecordingScope::BbbMeeting("sl-seminar".parse().expect("id"));
    assert_eq!(views(h.ok(list(Some(by_bbb_id))).await).len(), 1);

    let ids = vec![rid(&record_id)];
    let changed = h
        .ok(Operation::UnpublishRecordings {
            server: sid("alpha"),
            records: ids.clone(),
        })
        .await;
    assert!(
        matches!(&changed, Outcome::RecordingsChanged { action, records, .. } if action == "unpublished" && *records == ids)
    );
    let recs = views(h.ok(list(None)).await);
    assert_eq!(
        (recs[0].published, recs[0].state.as_str()),
        (false, "unpublished")
    );

    h.ok(Operation::PublishRecordings {
        server: sid("alpha"),
        records: ids.clone(),
    })
    .await;
    let recs = views(h.ok(list(Some(RecordingScope::Records(ids.clone())))).await);
    assert_eq!(
        (recs[0].published, recs[0].state.as_str()),
        (true, "published")
    );

    // Readers may list but not change.
    assert!(h.service.execute(&reader(), list(None)).await.is_ok());
    assert!(matches!(
        h.service
            .execute(
                &reader(),
                Operation::DeleteRecordings {
                    server: sid("alpha"),
                    records: ids.clone()
                }
            )
            .await,
        Err(OpError::Forbidden { .. })
    ));

    let deleted = h
        .ok(Operation::DeleteRecordings {
            server: sid("alpha"),
            records: ids.clone(),
        })
        .await;
    assert!(matches!(&deleted, Outcome::RecordingsChanged { action, .. } if action == "deleted"));
    assert!(views(h.ok(list(None)).await).is_empty());
    assert_eq!(a.sim.recordings()[0].state, "deleted");

    assert!(matches!(
        h.exec(Operation::PublishRecordings {
            server: sid("alpha"),
            records: Vec::new()
        })
        .await,
        Err(OpError::Invalid(_))
    ));
    match h
        .exec(Operation::PublishRecordings {
            server: sid("alpha"),
            records: vec![rid("0000000000000000000000000000000000000000-1")],
        })
        .await
    {
        // An id naming no recording is the caller's mistake, not the server's failure.
        Err(OpError::NotFound { what, id, hint }) => {
            assert_eq!(what, "recording");
            assert_eq!(id, "0000000000000000000000000000000000000000-1");
            assert!(hint.contains("alpha"), "{hint}");
        }
        other => panic!("expected not found, got {other:?}"),
    }
    assert!(matches!(
        h.exec(Operation::ListRecordings {
            server: sid("nosuch"),
            scope: None
        })
        .await,
        Err(OpError::NotFound { .. })
    ));
}

/// On a server without a Greenlight, every Greenlight operation fails (never a fake success),
/// says what to configure, and is audited (without the user's password).
async fn greenlight_without_configuration(h: Harness) {
    h.add_sim_server("alpha", 2_000).await;
    let password = random_secret();
    let server = sid("alpha");
    let room: schedulight::domain::RoomRef = "abc-def-ghi".parse().expect("room");
    let with = BTreeMap::from([(email("bob@uni.example"), Recipient::default())]);
    let ops = vec![
        Operation::CreateUser(CreateUser {
            server: server.clone(),
            email: email("newbie@uni.example"),
            full_name: "New Bie".into(),
            password: Some(Secret::new(password.clone())),
            role: UserRole::User,
            provider: None,
            external_id: None,
        }),
        Operation::DeleteUser {
            server: server.clone(),
            email: email("newbie@uni.example"),
            rooms: Default::default(),
            with_recordings: false,
        },
        Operation::CreateRoom(CreateRoom {
            server: server.clone(),
            name: "Room".into(),
            owner: email("ada@uni.example"),
            uid: None,
            access_code: None,
        }),
        Operation::DeleteRoom {
            server: server.clone(),
            room: room.clone(),
            with_recordings: false,
        },
        Operation::RenameRoom {
            server: server.clone(),
            room: room.clone(),
            new_uid: "xyz-xyz-xyz".parse().expect("room"),
        },
        Operation::ShareRoom(ShareRoom {
            server: server.clone(),
            room: room.clone(),
            with: with.clone(),
        }),
        Operation::UnshareRoom(ShareRoom {
            server: server.clone(),
            room: room.clone(),
            with,
        }),
        Operation::RoomLinks {
            server: server.clone(),
            filter: RoomFilter::Meetings,
            mail_to: None,
        },
    ];
    let names: Vec<&str> = ops.iter().map(Operation::name).collect();
    for op in ops {
        let name = op.name();
        let err = h.exec(op).await.expect_err(name);
        let OpError::Invalid(message) = &err else {
            panic!("{name}: expected Invalid, got {err:?}")
        };
        assert!(
            message.contains("has no Greenlight") && message.contains("database_url"),
            "{message}"
        );
    }
    let audited: Vec<(String, String)> = h
        .audit()
        .await
        .into_iter()
        .filter(|e| e.operation != "add_server")
        .map(|e| (e.operation, e.result))
        .collect();
    let expected: Vec<(String, String)> = names
        .iter()
        .map(|n| (n.to_string(), "invalid".to_string()))
        .collect();
    assert_eq!(audited, expected);
    h.assert_audit_has_no(&password).await;
}

/// An actor without the scope gets Forbidden, nothing changes, and the refusal is audited.
async fn forbidden_changes_nothing(h: Harness) {
    let a = h.add_sim_server("alpha", 2_000).await;
    schedule(&h, meeting(&h, "m", "alpha", "Weekly")).await;
    let servers_before = h.store.list_servers().await.expect("servers");
    let meetings_before = h.store.list_meetings().await.expect("meetings");
    let steps_before = h.store.step_history(&mid("m")).await.expect("steps");
    let audit_before = h.audit().await.len();
    h.tick();

    let mut changed = a.spec.clone();
    changed.timeout_ms = 1;
    let attempts = vec![
        (
            Operation::AddServer {
                server: Box::new(h.dead_server("beta")),
            },
            "servers:write",
        ),
        (
            Operation::UpdateServer {
                server: Box::new(changed),
            },
            "servers:write",
        ),
        (
            Operation::RemoveServer { id: sid("alpha") },
            "servers:write",
        ),
        (
            Operation::ScheduleMeeting {
                meeting: Box::new(meeting(&h, "m2", "alpha", "Sneaky")),
            },
            "meetings:write",
        ),
        (
            Operation::StartMeetingNow { id: mid("m") },
            "meetings:write",
        ),
        (Operation::EndMeeting { id: mid("m") }, "meetings:write"),
        (Operation::DisableMeeting { id: mid("m") }, "meetings:write"),
        (Operation::CancelMeeting { id: mid("m") }, "meetings:write"),
        (
            Operation::ResetMeeting {
                id: mid("m"),
                step: None,
                resend: false,
            },
            "meetings:write",
        ),
        (
            Operation::DeleteRecordings {
                server: sid("alpha"),
                records: vec![rid("abc-1")],
            },
            "recordings:write",
        ),
        (
            Operation::CreateRoom(CreateRoom {
                server: sid("alpha"),
                name: "Room".into(),
                owner: email("ada@uni.example"),
                uid: None,
                access_code: None,
            }),
            "rooms:write",
        ),
        (
            Operation::ListMail {
                filter: Default::default(),
            },
            "mails:admin",
        ),
        (Operation::DeleteMail { id: 1 }, "mails:admin"),
    ];
    let count = attempts.len();
    for (op, needed) in attempts {
        let name = op.name();
        let err = h.service.execute(&reader(), op).await.expect_err(name);
        let OpError::Forbidden { scope, .. } = &err else {
            panic!("{name}: expected Forbidden, got {err:?}")
        };
        assert_eq!(scope, needed, "{name}");
        assert!(err.to_string().contains(needed), "{err}");
    }

    assert_eq!(
        h.store.list_servers().await.expect("servers"),
        servers_before
    );
    assert_eq!(
        h.store.list_meetings().await.expect("meetings"),
        meetings_before
    );
    assert_eq!(
        h.store.step_history(&mid("m")).await.expect("steps"),
        steps_before
    );
    assert!(a.sim.meetings().is_empty(), "nothing reached BBB");
    let refusals: Vec<_> = h.audit().await.into_iter().skip(audit_before).collect();
    assert_eq!(refusals.len(), count);
    assert!(
        refusals
            .iter()
            .all(|e| e.actor == "test:reader" && e.result == "forbidden"),
        "{refusals:?}"
    );

    // Reading is fine.
    for op in [
        Operation::ListServers,
        Operation::ListMeetings,
        Operation::MeetingStatus { id: mid("m") },
    ] {
        assert!(h.service.execute(&reader(), op).await.is_ok());
    }
}

/// BBB refusing or not answering: the user gets an actionable error without secrets, the step
/// history and the audit log say what happened, and a transient failure can be retried.
async fn bbb_failures_are_reported(h: Harness) {
    let a = h.sim_server("alpha", 2_000).await;
    let real_secret = a.spec.secret.expose().to_string();
    let mut wrong = a.spec.clone();
    let wrong_secret = random_secret();
    wrong.secret = Secret::new(wrong_secret.clone());
    h.ok(Operation::AddServer {
        server: Box::new(wrong),
    })
    .await;
    schedule(&h, meeting(&h, "m", "alpha", "Weekly")).await;

    match h.exec(Operation::StartMeetingNow { id: mid("m") }).await {
        Err(OpError::Bbb { server, message }) => {
            assert_eq!(server, "alpha");
            assert!(
                message.contains("checksum") && message.contains("BBB_SECRET"),
                "{message}"
            );
            assert!(!message.contains(&wrong_secret) && !message.contains(&real_secret));
        }
        other => panic!("expected a BBB error, got {other:?}"),
    }
    assert!(a.sim.meetings().is_empty());
    let Outcome::Meeting { meeting: view, .. } = status(&h, "m").await else {
        panic!("expected a meeting")
    };
    assert_eq!(view.phase, MeetingPhase::New, "not started");
    assert_eq!(view.steps[0].code, 400, "{:?}", view.steps);

    // Fix the secret; one injected HTTP 500 fails a start, the retry works.
    h.tick();
    h.ok(Operation::UpdateServer {
        server: Box::new(a.spec.clone()),
    })
    .await;
    a.sim.fail_next(1);
    match h.exec(Operation::StartMeetingNow { id: mid("m") }).await {
        Err(OpError::Bbb { message, .. }) => {
            assert!(
                message.contains("HTTP 500") && message.contains("check BBB_URL"),
                "{message}"
            )
        }
        other => panic!("expected a BBB error, got {other:?}"),
    }
    h.tick();
    let started = start(&h, "m").await;
    h.open(&started.moderator).await.expect("join");

    // A server that is down.
    h.ok(Operation::AddServer {
        server: Box::new(h.dead_server("down")),
    })
    .await;
    schedule(&h, meeting(&h, "m2", "down", "Elsewhere")).await;
    match h.exec(Operation::StartMeetingNow { id: mid("m2") }).await {
        Err(OpError::Bbb { server, message }) => {
            assert_eq!(server, "down");
            assert!(message.contains("could not reach"), "{message}");
        }
        other => panic!("expected a BBB error, got {other:?}"),
    }

    let failures: Vec<(String, String)> = h
        .audit()
        .await
        .into_iter()
        .filter(|e| e.result != "ok")
        .map(|e| (e.operation, e.result))
        .collect();
    let row = |op: &str| (op.to_string(), "bbb".to_string());
    assert_eq!(
        failures,
        [
            row("start_meeting_now"),
            row("start_meeting_now"),
            row("start_meeting_now")
        ]
    );
    h.assert_audit_has_no(&wrong_secret).await;
    h.assert_audit_has_no(&real_secret).await;
}

// ---------------------------------------------------------------- the three runs

macro_rules! scenarios {
    ($($case:ident),* $(,)?) => {
        mod fast {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Harness::new(super::Kind::Fast).await).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Harness::new(super::Kind::Sqlite).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Harness::new(super::Kind::Postgres).await).await;
                }
            )*
        }
    };
}

scenarios!(
    servers_crud,
    schedule_validation,
    status_and_phases,
    start_and_end,
    running_with_a_hanging_server,
    find_meeting,
    recordings,
    greenlight_without_configuration,
    forbidden_changes_nothing,
    bbb_failures_are_reported,
);

/// The fake and the HTTP client sign join links the same way for the same server.
#[tokio::test]
async fn sim_connector_links_match_the_http_client() {
    let handle = serve_sim(SimConfig::new("s3cr3t")).await;
    let mut spec = ServerSpec::new(
        sid("alpha"),
        handle.base_url().parse().expect("url"),
        Secret::new("s3cr3t"),
    );
    spec.checksum = ChecksumAlgorithm::Sha512;
    let connector = SimConnector::new();
    connector.register(sid("alpha"), handle.simulator.clone());
    let params = schedulight::bbb::JoinParams::new(
        "room-1".parse().expect("id"),
        "Ann",
        schedulight::bbb::JoinAuth::Role(schedulight::bbb::Role::Viewer),
    );
    let fake = connector.connect(&spec).join_url(&params);
    let http = HttpConnector::try_new()
        .expect("client")
        .connect(&spec)
        .join_url(&params);
    let query = |u: &str| {
        let url = url::Url::parse(u).expect("url");
        let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        pairs.sort();
        pairs
    };
    assert_eq!(query(&fake), query(&http));
}

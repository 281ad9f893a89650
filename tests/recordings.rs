//! Recordings and retention end to end: the BBB simulator over HTTP (recordings appear when
//! recorded meetings end), a throwaway PostgreSQL with the Greenlight v3 schema, our SQLite
//! store, and the three front ends — chat (the parser, run as the Matrix user), the real
//! `schedulight` binary, and the REST API served in-process.

mod common;

use schedulight::app::App;
use schedulight::bbb::sim::{SimConfig, SimHandle};
use schedulight::bbb::{CreateParams, HttpConnector};
use schedulight::chat::{ChatContext, Parsed};
use schedulight::clock::ManualClock;
use schedulight::config::{AppConfig, EnvVars, MailConfig};
use schedulight::domain::operation::{CreateRoom, CreateUser, UserRole};
use schedulight::domain::retention::RetentionAction;
use schedulight::domain::{Actor, BbbMeetingId, NoticeKind, Operation, Outcome, Scope};
use schedulight::mail::render::{Language, render_entry};
use schedulight::store::{AuditQuery, OutboxFilter, SqlStore};
use schedulight::testkit::pg::PgCluster;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::sync::Arc;

const SECRET: &str = "recordings-bbb-secret";
const ADA: &str = "ada@uni.example";
const ROOM: &str = "rec-ord-ing";
const KEPT_ROOM: &str = "kee-pme-too";
const V3_SCHEMA: &str = include_str!("fixtures/greenlight/v3-schema.sql");
const DAY: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

struct World {
    dir: tempfile::TempDir,
    app: App,
    sim: SimHandle,
    gl: PgPool,
    clock: ManualClock,
}

async fn world(retention: &str) -> World {
    let cluster = PgCluster::shared().expect("throwaway PostgreSQL");
    let url = cluster.fresh_database().await.expect("database");
    let gl = PgPool::connect(&url).await.expect("connect");
    sqlx::raw_sql(V3_SCHEMA)
        .execute(&gl)
        .await
        .expect("Greenlight schema");
    let mut sim_config = SimConfig::new(SECRET);
    sim_config.recording_processing = std::time::Duration::ZERO;
    let sim = common::serve_sim(sim_config).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    std::fs::write(d.join("gl_url"), format!("{url}\n")).expect("write");
    let config = format!(
        "store:\n  location: {store}\n\
         greenlight:\n  database_url_file: {gl}\n  link_base: https://gl.uni.example\n  bcrypt_cost: 4\n\
         servers:\n  bbb:\n    BBB_URL: {bbb}\n    BBB_SECRET: {SECRET}\n{retention}",
        store = d.join("state.db").display(),
        gl = d.join("gl_url").display(),
        bbb = sim.base_url(),
    );
    let path = d.join("bot-config.yml");
    std::fs::write(&path, config).expect("write config");
    let config = AppConfig::load_with_env(&path, &EnvVars::new()).expect("config");
    let store = SqlStore::connect(&d.join("state.db").display().to_string())
        .await
        .expect("store");
    let clock = ManualClock::new(jiff::Timestamp::now());
    let app = App::with_parts(
        config,
        Arc::new(store),
        Arc::new(HttpConnector::new()),
        Arc::new(clock.clone()),
    )
    .await
    .expect("app");
    let w = World {
        dir,
        app,
        sim,
        gl,
        clock,
    };
    let admin = Actor::admin("test:setup");
    let setup = [
        Operation::CreateUser(CreateUser {
            server: "bbb".parse().unwrap(),
            email: ADA.parse().unwrap(),
            full_name: "Ada Lovelace".into(),
            password: None,
            role: UserRole::User,
            provider: None,
            external_id: None,
        }),
        room_op("Recorded lectures", ROOM),
        room_op("Archive", KEPT_ROOM),
    ];
    for op in setup {
        w.app.service.execute(&admin, op).await.expect("setup");
    }
    w
}

fn room_op(name: &str, id: &str) -> Operation {
    Operation::CreateRoom(CreateRoom {
        server: "bbb".parse().unwrap(),
        name: name.into(),
        owner: ADA.parse().unwrap(),
        uid: Some(id.parse().unwrap()),
        access_code: None,
    })
}

impl World {
    /// The BBB meetingID Greenlight gave a room.
    async fn meeting_id(&self, room: &str) -> String {
        sqlx::query_scalar("SELECT meeting_id FROM rooms WHERE friendly_id = $1")
            .bind(room)
            .fetch_one(&self.gl)
            .await
            .expect("room")
    }

    /// A recorded meeting in `room`, held at the simulator's `at`: its record id.
    async fn record(&self, room: &str, name: &str, at: jiff::Timestamp) -> String {
        self.sim.simulator.set_now(at);
        let meeting = self.meeting_id(room).await;
        let server = self
            .app
            .store
            .get_server(&"bbb".parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        let bbb = schedulight::bbb::BbbConnector::connect(&HttpConnector::new(), &server);
        let id: BbbMeetingId = meeting.parse().unwrap();
        bbb.create(&CreateParams {
            meeting_id: Some(id.clone()),
            name: name.into(),
            record: Some(true),
            ..CreateParams::default()
        })
        .await
        .expect("create");
        // Ended at once: a meeting nobody joins would expire within minutes anyway.
        bbb.end(&id).await.expect("end");
        let before: Vec<String> = self
            .sim
            .simulator
            .recordings()
            .into_iter()
            .map(|r| r.record_id)
            .collect();
        before.last().cloned().expect("a recording")
    }

    /// (state, published, protected) on the simulator.
    fn bbb_state(&self, record: &str) -> (String, bool, bool) {
        let r = self
            .sim
            .simulator
            .recordings()
            .into_iter()
            .find(|r| r.record_id == record)
            .expect("the recording");
        (r.state, r.published, r.protected)
    }

    /// Greenlight's row: (visibility, name, formats), or None.
    async fn gl_row(&self, record: &str) -> Option<(String, String, i64)> {
        sqlx::query_as(
            "SELECT visibility, name, \
                    (SELECT COUNT(*) FROM formats f WHERE f.recording_id = r.id) \
             FROM recordings r WHERE record_id = $1",
        )
        .bind(record)
        .fetch_optional(&self.gl)
        .await
        .expect("query")
    }

    async fn audit_by(&self, actor: &str) -> Vec<String> {
        let entries = self
            .app
            .store
            .query_audit(&AuditQuery {
                actor: Some(actor.into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .expect("audit");
        entries
            .into_iter()
            .rev()
            .map(|e| format!("{} {}", e.operation, e.result))
            .collect()
    }
}

// ---------------------------------------------------------------- the three front ends

#[derive(Clone, Copy, Debug)]
enum Front {
    Chat,
    Cli,
    Rest,
}

/// One recording command, as each front end says it.
#[derive(Clone, Copy, Debug)]
enum Step {
    List,
    Unpublish,
    Publish,
    Protect,
    Rename,
    Delete,
}

const MATRIX_USER: &str = "@ada:uni.example";

fn chat_text(step: Step, record: &str) -> String {
    match step {
        Step::List => format!("recordings for {ROOM}"),
        Step::Unpublish => format!("unpublish recording {record}"),
        Step::Publish => format!("publish recording {record}"),
        Step::Protect => format!("protect recording {record}"),
        Step::Rename => format!("rename recording {record} to “Lecture 1”"),
        Step::Delete => format!("delete recording {record}"),
    }
}

fn cli_args(step: Step, record: &str) -> Vec<String> {
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match step {
        Step::List => v(&["recordings", "list", "--room", ROOM]),
        Step::Unpublish => v(&["recordings", "unpublish", record]),
        Step::Publish => v(&["recordings", "publish", record]),
        Step::Protect => v(&["recordings", "protect", record]),
        Step::Rename => v(&["recordings", "rename", record, "Lecture 1"]),
        Step::Delete => v(&["recordings", "delete", record]),
    }
}

fn rest_call(step: Step, record: &str) -> (&'static str, String, Option<Value>) {
    let path = "/api/v1/servers/bbb/recordings".to_string();
    let put = |body: Value| ("PUT", path.clone(), Some(body));
    match step {
        Step::List => ("GET", format!("{path}?room={ROOM}"), None),
        Step::Unpublish => put(json!({"records": [record], "published": false})),
        Step::Publish => put(json!({"records": [record], "published": true})),
        Step::Protect => put(json!({"records": [record], "protected": true})),
        Step::Rename => put(json!({"records": [record], "name": "Lecture 1"})),
        Step::Delete => ("DELETE", format!("{path}/{record}"), None),
    }
}

/// Runs one step through one front end; the outcome as JSON (ids masked by the caller).
async fn through(w: &World, api: &Api, front: Front, step: Step, record: &str) -> Value {
    match front {
        Front::Chat => {
            let ctx = ChatContext {
                now: jiff::Timestamp::now(),
                zone: jiff::tz::TimeZone::UTC,
                actor_email: Some(ADA.parse().unwrap()),
                default_server: "bbb".parse().unwrap(),
                prefix: "!bbb".into(),
            };
            let parsed = schedulight::chat::parse(&chat_text(step, record), &ctx).expect("parses");
            let Parsed::Run { op, confirm, .. } = parsed else {
                panic!("{parsed:?}")
            };
            assert_eq!(
                confirm,
                matches!(step, Step::Delete),
                "only deleting asks for confirmation"
            );
            // The bot's rule: a chat administrator acts with every scope, as matrix:<user>.
            let actor = Actor::admin(format!("matrix:{MATRIX_USER}"));
            match w.app.service.execute(&actor, op).await {
                Ok(o) => serde_json::to_value(o).unwrap(),
                Err(e) => panic!("chat {step:?}: {e}"),
            }
        }
        Front::Cli => {
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_schedulight"))
                .arg("--json")
                .args(cli_args(step, record))
                .current_dir(w.dir.path())
                .env("USER", "operator")
                .env("RUST_LOG", "warn")
                .output()
                .await
                .expect("run schedulight");
            assert!(
                out.status.success(),
                "cli {step:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice(&out.stdout).expect("JSON outcome")
        }
        Front::Rest => {
            let (method, path, body) = rest_call(step, record);
            let mut req = api.http.request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", api.base),
            );
            req = req.bearer_auth(&api.token);
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = req.send().await.expect("request");
            let status = resp.status();
            let v: Value = resp.json().await.expect("JSON");
            assert!(status.is_success(), "rest {step:?}: {v}");
            v["data"].clone()
        }
    }
}

struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
    _task: tokio::task::JoinHandle<()>,
}

async fn serve_api(w: &World) -> Api {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = schedulight::api::router(schedulight::api::ApiState {
        service: w.app.service.clone(),
        metrics_public: false,
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let token = match w
        .app
        .service
        .execute(
            &Actor::admin("test:setup"),
            Operation::CreateToken {
                name: "archivist".into(),
                scopes: vec![Scope::Read, Scope::RecordingsWrite],
            },
        )
        .await
        .unwrap()
    {
        Outcome::TokenCreated { token, .. } => token,
        other => panic!("{other:?}"),
    };
    Api {
        base,
        token,
        http: reqwest::Client::new(),
        _task: task,
    }
}

/// The outcome with this front end's recording id made generic, and the listing reduced to
/// the recording at hand (the others are the other front ends').
fn masked(v: Value, record: &str) -> Value {
    let mut v = v;
    if let Some(list) = v.get_mut("recordings").and_then(Value::as_array_mut) {
        list.retain(|r| r["record_id"] == record);
    }
    let text = v.to_string().replace(record, "<record>");
    let mut v: Value = serde_json::from_str(&text).unwrap();
    for r in v
        .get_mut("recordings")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for k in ["start_time", "end_time", "playback", "meeting_id"] {
            r.as_object_mut().unwrap().remove(k);
        }
    }
    v
}

/// Chat, CLI and REST give the same answers and leave BBB and Greenlight's rows in the same
/// state, step by step; each change is audited once under its front end's actor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_cli_and_rest_agree_and_greenlight_follows() {
    let w = world("").await;
    let api = serve_api(&w).await;
    let now = jiff::Timestamp::now();
    let mut traces = Vec::new();
    for (i, front) in [Front::Chat, Front::Cli, Front::Rest]
        .into_iter()
        .enumerate()
    {
        let at = now - DAY * i32::try_from(3 - i).unwrap();
        let record = w.record(ROOM, "Lecture", at).await;
        assert_eq!(
            w.bbb_state(&record),
            ("published".into(), true, false),
            "the simulator publishes the finished recording"
        );
        let mut trace = Vec::new();
        for step in [
            Step::List,
            Step::Unpublish,
            Step::Publish,
            Step::Protect,
            Step::Rename,
            Step::Delete,
        ] {
            let outcome = masked(through(&w, &api, front, step, &record).await, &record);
            let state = w.bbb_state(&record);
            let row = w.gl_row(&record).await;
            trace.push(json!({
                "step": format!("{step:?}"),
                "outcome": outcome,
                "bbb": [state.0, state.1, state.2],
                "greenlight": row.map(|(v, n, f)| json!([v, n, f])),
            }));
        }
        traces.push((front, trace));
    }
    let (_, first) = &traces[0];
    for (front, trace) in &traces[1..] {
        assert_eq!(trace, first, "{front:?} differs from chat");
    }
    // What the steps did, once (the same for all three).
    let greenlight: Vec<&Value> = first.iter().map(|s| &s["greenlight"]).collect();
    assert_eq!(
        greenlight,
        [
            &Value::Null,
            &json!(["Unpublished", "Lecture", 1]),
            &json!(["Published", "Lecture", 1]),
            &json!(["Protected", "Lecture", 1]),
            &json!(["Protected", "Lecture 1", 1]),
            &Value::Null,
        ],
        "Greenlight's row follows every change and goes with the recording"
    );
    let listed = &first[0]["outcome"]["recordings"];
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(first[5]["bbb"], json!(["deleted", false, true]));
    let changes = [
        "unpublish_recordings ok",
        "publish_recordings ok",
        "update_recordings ok",
        "update_recordings ok",
        "delete_recordings ok",
    ];
    for actor in ["matrix:@ada:uni.example", "cli:operator", "api:archivist"] {
        assert_eq!(
            w.audit_by(actor).await,
            changes,
            "{actor}: one entry per change"
        );
    }
    let chat_record = w.sim.simulator.recordings()[0].record_id.clone();
    let about_it = w
        .app
        .store
        .query_audit(&AuditQuery {
            target: Some(chat_record),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(about_it.len(), changes.len(), "found by the recording's id");
}

/// The keep flag, a room's keep rule and a fake clock: the owner is warned (mail and chat)
/// on the day the warning period starts, nothing goes before the day, kept recordings stay,
/// and a dry run changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_warns_then_deletes_on_the_day() {
    let w = world(&format!(
        "retention:\n  run_at:\n  report_room: \"!admins:uni.example\"\n  recordings:\n    delete_after_days: 30\n    warn_days_before: 7\n  rooms:\n    {KEPT_ROOM}:\n      keep: true\n"
    ))
    .await;
    let t0 = jiff::Timestamp::now() - DAY * 400;
    let hour = jiff::SignedDuration::from_hours(1);
    let doomed = w.record(ROOM, "Old lecture", t0).await;
    let flagged = w.record(ROOM, "Keep me", t0 + hour).await;
    let archived = w.record(KEPT_ROOM, "Archived", t0 + hour * 2).await;
    let admin = Actor::admin("test:admin");
    let keep = Operation::UpdateRecordings {
        server: "bbb".parse().unwrap(),
        records: vec![flagged.as_str().try_into().unwrap()],
        change: schedulight::domain::operation::RecordingChange::Keep(true),
    };
    w.app.service.execute(&admin, keep).await.expect("keep");
    let retention = async |dry_run: bool| match w
        .app
        .service
        .execute(&Actor::admin("retention"), Operation::Retention { dry_run })
        .await
        .expect("retention")
    {
        Outcome::Retention { report } => report,
        other => panic!("{other:?}"),
    };
    let actions = |r: &schedulight::domain::retention::RetentionReport| {
        let mut a: Vec<(String, RetentionAction)> = r
            .recordings
            .iter()
            .map(|i| (i.record_id.to_string(), i.action))
            .collect();
        a.sort();
        a
    };
    let outbox = async || {
        w.app
            .store
            .list_outbox(&OutboxFilter::default())
            .await
            .unwrap()
            .into_iter()
            .filter(|e| {
                matches!(
                    e.request.kind,
                    NoticeKind::RecordingsExpiring | NoticeKind::RecordingsExpiringNotice
                )
            })
            .collect::<Vec<_>>()
    };
    let alive = |r: &str| w.bbb_state(r).0 == "published";
    // Recorded at t0 + 0 (start); the rule deletes at t0 + 30 days, warns from t0 + 23 days.
    w.clock
        .set(t0 + DAY * 23 - jiff::SignedDuration::from_secs(1));
    assert!(retention(true).await.recordings.is_empty());
    assert!(retention(false).await.recordings.is_empty());
    assert!(outbox().await.is_empty(), "no warning before the day");

    w.clock.set(t0 + DAY * 23);
    let plan = retention(true).await;
    assert_eq!(actions(&plan), [(doomed.clone(), RetentionAction::Warn)]);
    assert!(outbox().await.is_empty(), "a dry run warns nobody");
    let run = retention(false).await;
    assert_eq!(actions(&run), [(doomed.clone(), RetentionAction::Warn)]);
    let queued = outbox().await;
    assert_eq!(queued.len(), 2, "{queued:?}");
    let mail = queued
        .iter()
        .find(|e| e.request.kind == NoticeKind::RecordingsExpiring)
        .expect("a mail");
    assert_eq!(mail.request.recipient, ADA);
    assert_eq!(mail.request.data["recordings"][0]["id"], json!(doomed));
    assert_eq!(mail.request.data["recordings"][0]["room"], json!(ROOM));
    for (lang, says) in [
        (Language::En, "Deleted on:"),
        (Language::De, "Gelöscht am:"),
    ] {
        let config = MailConfig {
            from: Some("bbb@uni.example".parse().unwrap()),
            language: lang,
            ..MailConfig::default()
        };
        let rendered = render_entry(&w.app.service, &config, mail)
            .await
            .expect("the warning renders");
        assert_eq!(rendered.to.email.as_str(), ADA);
        assert!(rendered.subject.contains('1'), "{}", rendered.subject);
        assert!(
            rendered.text.contains(&doomed) && rendered.text.contains(says),
            "{}",
            rendered.text
        );
        assert!(rendered.text.contains("Old lecture"), "{}", rendered.text);
    }
    let notice = queued
        .iter()
        .find(|e| e.request.kind == NoticeKind::RecordingsExpiringNotice)
        .expect("a chat notice");
    assert_eq!(notice.request.recipient, "!admins:uni.example");
    let text = schedulight::bot::notices::render(
        notice.request.kind,
        &notice.request.data,
        None,
        None,
        None,
    );
    assert!(
        text.plain.contains(&format!("keep recording {doomed}")),
        "{}",
        text.plain
    );

    w.clock.set(t0 + DAY * 29);
    assert!(retention(false).await.recordings.is_empty(), "warned once");
    assert_eq!(outbox().await.len(), 2);
    assert!(alive(&doomed), "nothing goes before the day");

    w.clock.set(t0 + DAY * 30 + hour * 3);
    let plan = retention(true).await;
    assert_eq!(actions(&plan), {
        let mut a = vec![
            (doomed.clone(), RetentionAction::Delete),
            (flagged.clone(), RetentionAction::Kept),
            (archived.clone(), RetentionAction::Kept),
        ];
        a.sort();
        a
    });
    assert!(alive(&doomed), "a dry run deletes nothing");
    retention(false).await;
    assert_eq!(w.bbb_state(&doomed).0, "deleted");
    assert!(alive(&flagged) && alive(&archived), "kept ones stay");
    let deletions = w.audit_by("retention").await;
    assert!(
        deletions.contains(&"retention_delete ok".to_string()),
        "{deletions:?}"
    );
}

/// A retention rule for a recording never warned deletes it only a full warning period
/// after the (late) warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_rule_warns_before_it_deletes() {
    let w = world(
        "retention:\n  run_at:\n  servers:\n    bbb:\n      delete_after_days: 10\n      warn_days_before: 3\n",
    )
    .await;
    let t0 = jiff::Timestamp::now() - DAY * 400;
    let old = w.record(ROOM, "Old", t0).await;
    w.clock.set(t0 + DAY * 100);
    let run = async || {
        w.app
            .service
            .execute(
                &Actor::admin("retention"),
                Operation::Retention { dry_run: false },
            )
            .await
            .expect("retention")
    };
    run().await;
    assert_eq!(w.bbb_state(&old).0, "published", "warned, not deleted");
    w.clock.set(t0 + DAY * 102);
    run().await;
    assert_eq!(w.bbb_state(&old).0, "published", "the warning period runs");
    w.clock.set(t0 + DAY * 103);
    run().await;
    assert_eq!(w.bbb_state(&old).0, "deleted");
}

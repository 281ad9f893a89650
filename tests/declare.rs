//! Declarative files end to end: files in the original's format (and CSV imports) planned and
//! applied through `schedulight::declare` against a real store (SQLite and PostgreSQL), a real
//! Greenlight v3 database in the throwaway PostgreSQL and the BBB simulator.

mod common;

use schedulight::bbb::HttpConnector;
use schedulight::bbb::sim::{SimConfig, SimHandle};
use schedulight::clock::SystemClock;
use schedulight::declare::{
    self, Action, Current, Declaration, LoadSettings, ObjectKind, Plan, PlanError, PlanOptions,
    Prune,
};
use schedulight::domain::{Actor, MeetingPhase, MeetingSpec, Operation};
use schedulight::service::{Service, ServiceSettings};
use schedulight::store::{SqlStore, Store};
use schedulight::testkit::pg::PgCluster;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const V3_SCHEMA: &str = include_str!("fixtures/greenlight/v3-schema.sql");

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

struct World {
    service: Service,
    store: Arc<dyn Store>,
    dir: tempfile::TempDir,
    gl: sqlx::PgPool,
    gl_url: String,
    sim: SimHandle,
    secret: String,
}

async fn world(backend: Backend) -> World {
    let cluster = PgCluster::shared().expect("throwaway PostgreSQL");
    let gl_url = cluster.fresh_database().await.expect("database");
    let gl = sqlx::PgPool::connect(&gl_url).await.expect("connect");
    sqlx::raw_sql(V3_SCHEMA).execute(&gl).await.expect("schema");
    let dir = tempfile::tempdir().expect("temp dir");
    let location = match backend {
        Backend::Sqlite => dir.path().join("state.db").display().to_string(),
        Backend::Postgres => cluster.fresh_database().await.expect("database"),
    };
    let store: Arc<dyn Store> = Arc::new(SqlStore::connect(&location).await.expect("store"));
    let secret = common::random_secret();
    let sim = common::serve_sim(SimConfig::new(secret.clone())).await;
    let service = Service::new(
        store.clone(),
        Arc::new(HttpConnector::try_new().expect("http")),
        Arc::new(SystemClock),
        ServiceSettings::default(),
    );
    World {
        service,
        store,
        dir,
        gl,
        gl_url,
        sim,
        secret,
    }
}

fn next_year() -> i16 {
    jiff::Zoned::now().year() + 1
}

impl World {
    /// A file in the original's format: one server with its Greenlight, two meetings, a command.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    fn server_block(&self, secret: &str) -> String {
        format!(
            "servers:\n  bbb:\n    id: bbb\n    BBB_URL: {url}\n    BBB_SECRET: {secret}\n    link_base: https://gl.uni.example\n    mailPassword: smtp-pass-1\n    greenlight:\n      version: v3\n      database_url: {gl}\n      link_base: https://gl.uni.example\n      bcrypt_cost: 4\n",
            url = self.sim.base_url(),
            gl = self.gl_url,
        )
    }

    fn semester(&self) -> String {
        let y = next_year();
        format!(
            "{server}meetings:\n  lecture:\n    id: lecture\n    server: bbb\n    meetingName: Algebra\n    startDate: {y}-06-24 11:00\n    owner:\n      email: ada@uni.example\n      fullName: Ada Lovelace\n      password: owner-pass-1\n    shareWith:\n      bob@uni.example: Bob\n  seminar:\n    id: seminar\n    server: bbb\n    meetingName: Seminar\n    startDate: {y}-06-25 09:00\n    recurrence: FREQ=WEEKLY;COUNT=4\ncommands:\n  staff:\n    command: create_user\n    server: bbb\n    data:\n      bob@uni.example:\n        fullName: Bob Builder\n        pwd: Bob-pass-123\n      carol@uni.example:\n        fullName: Carol\n        pwd: Carol-pass-123\n",
            server = self.server_block(&self.secret),
        )
    }

    async fn current(&self) -> Current {
        Current::read(self.store.as_ref(), [])
            .await
            .expect("read the store")
    }

    async fn plan(&self, files: &[PathBuf], options: PlanOptions) -> (Declaration, Plan) {
        let d = declare::load(files, &LoadSettings::default()).expect("the files load");
        let plan = declare::plan(&d, &self.current().await, options).expect("a plan");
        (d, plan)
    }

    async fn apply(&self, files: &[PathBuf], options: PlanOptions) -> Plan {
        let d = declare::load(files, &LoadSettings::default()).expect("the files load");
        let (plan, report) = declare::plan_and_apply(
            &self.service,
            &Actor::admin("file:test"),
            [],
            &d,
            options,
            None,
            &|_, _| {},
        )
        .await
        .expect("applied");
        assert!(report.ok(), "{}", report.render());
        plan
    }

    async fn gl_users(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&self.gl)
            .await
            .expect("count")
    }
}

fn actions(plan: &Plan) -> Vec<(ObjectKind, String, Action)> {
    plan.changes
        .iter()
        .map(|c| (c.kind, c.id.clone(), c.action))
        .collect()
}

async fn applies_once(backend: Backend) {
    let w = world(backend).await;
    let file = w.write("semester.yml", &w.semester());
    let first = w
        .apply(std::slice::from_ref(&file), PlanOptions::default())
        .await;
    assert_eq!(
        actions(&first),
        vec![
            (ObjectKind::Server, "bbb".into(), Action::Create),
            (ObjectKind::Meeting, "lecture".into(), Action::Create),
            (ObjectKind::Meeting, "seminar".into(), Action::Create),
            (ObjectKind::Command, "staff".into(), Action::Run),
        ]
    );
    assert_eq!(w.store.list_meetings().await.unwrap().len(), 2);
    assert!(
        !w.store.list_jobs(None).await.unwrap().is_empty(),
        "the meetings are planned"
    );
    assert_eq!(w.gl_users().await, 2, "the command made two users");

    // The same file again: nothing to do, and applying it does nothing.
    let (_, again) = w
        .plan(std::slice::from_ref(&file), PlanOptions::default())
        .await;
    assert!(!again.has_changes(), "{}", again.render());
    assert_eq!(again.count(Action::Unchanged), 4);
    let jobs = w.store.list_jobs(None).await.unwrap();
    let applied = w.apply(&[file], PlanOptions::default()).await;
    assert!(!applied.has_changes());
    assert_eq!(
        w.store.list_jobs(None).await.unwrap(),
        jobs,
        "nothing re-planned"
    );
    assert_eq!(w.gl_users().await, 2, "the command did not run twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_applies_once_on_sqlite() {
    applies_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_applies_once_on_postgres() {
    applies_once(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_example_shapes_load_without_edits() {
    // The repository's fixture in the original's format, every key of its exampleConfig.yml.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed-valid.yml");
    let d = declare::load(&[fixture], &LoadSettings::default()).expect("loads unchanged");
    assert_eq!(d.servers.len(), 2);
    assert_eq!(d.meetings.len(), 2);
    assert_eq!(d.commands.len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_from_chat_or_the_api_are_left_alone_unless_pruned() {
    let w = world(Backend::Sqlite).await;
    let file = w.write("semester.yml", &w.semester());
    w.apply(std::slice::from_ref(&file), PlanOptions::default())
        .await;
    // A meeting made in chat.
    let mut chat = MeetingSpec::new(
        "office-hours".parse().unwrap(),
        "bbb".parse().unwrap(),
        "Office hours",
    );
    chat.start = Some(
        schedulight::domain::meeting::seed_datetime::parse(&format!("{}-07-01 10:00", next_year()))
            .unwrap(),
    );
    w.service
        .execute(
            &Actor::admin("matrix:@ada:uni.example"),
            Operation::ScheduleMeeting {
                meeting: Box::new(chat),
            },
        )
        .await
        .unwrap();
    let (_, plan) = w
        .plan(std::slice::from_ref(&file), PlanOptions::default())
        .await;
    assert!(!plan.has_changes(), "{}", plan.render());

    // The seminar leaves the file: it goes, the chat meeting stays.
    let without = w.semester().replace(
        &w.semester()
            [w.semester().find("  seminar:").unwrap()..w.semester().find("commands:").unwrap()],
        "",
    );
    std::fs::write(&file, without).unwrap();
    let (_, plan) = w
        .plan(std::slice::from_ref(&file), PlanOptions::default())
        .await;
    assert_eq!(
        actions(&plan)
            .into_iter()
            .filter(|a| a.2 != Action::Unchanged)
            .collect::<Vec<_>>(),
        vec![(ObjectKind::Meeting, "seminar".into(), Action::Delete)]
    );
    // --prune meetings takes the chat meeting too.
    let prune = PlanOptions {
        prune: "meetings".parse::<Prune>().unwrap(),
        ..PlanOptions::default()
    };
    let (_, pruning) = w.plan(std::slice::from_ref(&file), prune).await;
    assert_eq!(pruning.count(Action::Delete), 2, "{}", pruning.render());

    w.apply(std::slice::from_ref(&file), PlanOptions::default())
        .await;
    let phase = |id: &str| {
        let store = w.store.clone();
        let id = id.to_string();
        async move {
            store
                .get_meeting(&id.parse().unwrap())
                .await
                .unwrap()
                .unwrap()
                .phase
        }
    };
    assert_eq!(phase("seminar").await, MeetingPhase::Cancelled);
    assert_ne!(phase("office-hours").await, MeetingPhase::Cancelled);
    let (_, after) = w.plan(&[file], PlanOptions::default()).await;
    assert!(!after.has_changes(), "{}", after.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_shows_its_fields_and_never_a_secret() {
    let w = world(Backend::Sqlite).await;
    let file = w.write("semester.yml", &w.semester());
    w.apply(std::slice::from_ref(&file), PlanOptions::default())
        .await;
    let new_secret = common::random_secret();
    let changed = w
        .semester()
        .replace(&w.secret, &new_secret)
        .replace("meetingName: Algebra", "meetingName: Algebra II")
        .replace("password: owner-pass-1", "password: owner-pass-2");
    std::fs::write(&file, changed).unwrap();
    let (_, plan) = w
        .plan(std::slice::from_ref(&file), PlanOptions::default())
        .await;
    let text = plan.render();
    let json = serde_json::to_string(&plan).unwrap();
    for shown in [&text, &json] {
        assert!(!shown.contains(&new_secret), "{shown}");
        assert!(!shown.contains(&w.secret), "{shown}");
        assert!(!shown.contains("owner-pass-2"), "{shown}");
    }
    let fp = declare::fingerprint(&new_secret);
    assert!(
        text.contains(&format!(
            "BBB_SECRET: \"{}\" → \"{fp}\"",
            declare::fingerprint(&w.secret)
        )),
        "{text}"
    );
    assert!(
        text.contains("meetingName: \"Algebra\" → \"Algebra II\""),
        "{text}"
    );
    assert!(text.contains("owner.password: \"sha256:"), "{text}");
    assert_eq!(plan.count(Action::Update), 2);

    w.apply(std::slice::from_ref(&file), PlanOptions::default())
        .await;
    let server = w
        .store
        .get_server(&"bbb".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(server.secret.expose(), new_secret);
    let (_, after) = w.plan(&[file], PlanOptions::default()).await;
    assert!(!after.has_changes(), "{}", after.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_runs_again_only_when_its_entry_changes_or_when_asked() {
    let w = world(Backend::Sqlite).await;
    // carol@ cannot be deleted (no such user): the entry has a failure.
    let text = format!(
        "{}commands:\n  leavers:\n    command: delete_user\n    server: bbb\n    data:\n      carol@uni.example: {{}}\n",
        w.server_block(&w.secret)
    );
    let file = w.write("cmd.yml", &text);
    let d = declare::load(std::slice::from_ref(&file), &LoadSettings::default()).unwrap();
    let (_, report) = declare::plan_and_apply(
        &w.service,
        &Actor::admin("file:test"),
        [],
        &d,
        PlanOptions::default(),
        None,
        &|_, _| {},
    )
    .await
    .unwrap();
    assert!(!report.ok(), "{}", report.render());
    let (_, plan) = w
        .plan(std::slice::from_ref(&file), PlanOptions::default())
        .await;
    assert!(!plan.has_changes());
    assert!(
        plan.render().contains("--retry-failed"),
        "{}",
        plan.render()
    );
    let retry = PlanOptions {
        retry_failed: true,
        ..PlanOptions::default()
    };
    let (_, plan) = w.plan(std::slice::from_ref(&file), retry).await;
    assert_eq!(plan.count(Action::Run), 1);
    // A changed entry runs again.
    std::fs::write(&file, text.replace("carol@", "dave@")).unwrap();
    let (_, plan) = w.plan(&[file], PlanOptions::default()).await;
    assert_eq!(plan.count(Action::Run), 1);
    assert!(
        plan.render().contains("changed since it ran"),
        "{}",
        plan.render()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_files_are_reported_at_their_place_and_nothing_is_applied() {
    let w = world(Backend::Sqlite).await;
    let good = w.write("semester.yml", &w.semester());
    let broken = w.write(
        "broken.yml",
        "meetings:\n  a:\n    server: bbb\n    meetingName: A\n    startDate: 2027-02-30 10:00\n  b:\n    server: bbb\n    meetingName: B\n    maxParticipants: many\n  c:\n    server: bbb\n    meetingName: C\n    startdate: 2027-03-01 10:00\n  d:\n    server: bbb\n    meetingName: D\n    owner:\n      email: not-an-address\n  e:\n    server: bbb\n    meetingName: E\n    meetingName: E2\n",
    );
    let errors = declare::load(&[good.clone(), broken], &LoadSettings::default()).unwrap_err();
    let text = errors.to_string();
    for expected in [
        "broken.yml:5:16: meetings.a.startDate",
        "broken.yml:9:22: meetings.b.maxParticipants",
        "broken.yml:13:5: meetings.c.startdate",
        "did you mean `startDate`",
        "broken.yml:18:14: meetings.d.owner.email",
        "broken.yml:22:5",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // The same meeting in two files.
    let twice = w.write(
        "twice.yml",
        "meetings:\n  lecture:\n    server: bbb\n    meetingName: twice\n",
    );
    let errors = declare::load(&[good, twice], &LoadSettings::default()).unwrap_err();
    assert!(
        errors
            .to_string()
            .contains("twice.yml:2:3: meetings.lecture: meeting 'lecture' is also declared at"),
        "{errors}"
    );
    assert!(w.store.list_meetings().await.unwrap().is_empty());
    assert!(w.store.list_servers().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_plans_as_unchanged_and_holds_no_secret() {
    let w = world(Backend::Sqlite).await;
    let file = w.write("semester.yml", &w.semester());
    w.apply(&[file], PlanOptions::default()).await;
    let out = w.dir.path().join("export").join("state.yml");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let secrets = w.dir.path().join("export").join("secrets");
    let exported = declare::export::export(&w.current().await, &out, &secrets).unwrap();
    std::fs::write(&out, &exported.yaml).unwrap();
    for secret in [
        w.secret.as_str(),
        "owner-pass-1",
        "smtp-pass-1",
        w.gl_url.as_str(),
    ] {
        assert!(!exported.yaml.contains(secret), "{}", exported.yaml);
    }
    assert!(
        exported
            .yaml
            .contains("BBB_SECRET_FILE: secrets/server-bbb.BBB_SECRET"),
        "{}",
        exported.yaml
    );
    assert_eq!(exported.secret_files.len(), 4);
    for f in &exported.secret_files {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
    let (_, plan) = w.plan(&[out], PlanOptions::default()).await;
    assert!(!plan.has_changes(), "{}", plan.render());
    assert_eq!(plan.count(Action::Unchanged), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_is_applied_only_while_it_is_current() {
    let w = world(Backend::Sqlite).await;
    let file = w.write("semester.yml", &w.semester());
    let (d, saved) = w
        .plan(std::slice::from_ref(&file), PlanOptions::default())
        .await;
    // Someone adds the server in the meantime.
    let other = w.write("server.yml", &w.server_block("another-secret"));
    w.apply(&[other], PlanOptions::default()).await;
    let stale = declare::plan_and_apply(
        &w.service,
        &Actor::admin("file:test"),
        [],
        &d,
        PlanOptions::default(),
        Some(&saved),
        &|_, _| {},
    )
    .await;
    assert!(matches!(stale, Err(PlanError::Stale)), "{stale:?}");
    assert!(w.store.list_meetings().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_imports_apply_once() {
    let w = world(Backend::Postgres).await;
    let server = w.write("server.yml", &w.server_block(&w.secret));
    let y = next_year();
    let original = w.write(
        "import.csv",
        &format!(
            "Ada;Lovelace;Ada.Lovelace@Uni.Example;Pass-1;{y}-06-30 10:00;room.invalid;live.uni.example;Analysis;bbb\n\
             Alan;Turing;alan@uni.example;;0000-00-00 00:00;room.invalid;;Computing;bbb\n"
        ),
    );
    let header = w.write(
        "more.csv",
        &format!(
            "id;server;meetingName;startDate;owner.email;shareWith\n\
             stats;bbb;Statistics;{y}-07-01 09:00;grace@uni.example;\"bob@uni.example, carol@uni.example\"\n"
        ),
    );
    let files = vec![server, original, header];
    let plan = w.apply(&files, PlanOptions::default()).await;
    assert_eq!(plan.count(Action::Create), 4, "{}", plan.render());
    let ada = w
        .store
        .get_meeting(&"ada_lovelace_uni_example".parse().unwrap())
        .await
        .unwrap()
        .expect("the original's key: the address with _");
    assert_eq!(ada.spec.name, "Ada Lovelace");
    assert_eq!(
        ada.spec.live_streaming.as_ref().unwrap().target_url,
        "rtmp://live.uni.example/stream/bbb"
    );
    let stats = w
        .store
        .get_meeting(&"stats".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stats.spec.share_with.len(), 2);
    let (_, again) = w.plan(&files, PlanOptions::default()).await;
    assert!(!again.has_changes(), "{}", again.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_schedule_plans_exactly_what_one_schedule_plans() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let w = world(backend).await;
        let server = w.write("server.yml", &w.server_block(&w.secret));
        w.apply(&[server], PlanOptions::default()).await;
        let spec = |id: &str| {
            let mut m = MeetingSpec::new(id.parse().unwrap(), "bbb".parse().unwrap(), "Series");
            m.start = Some(
                schedulight::domain::meeting::seed_datetime::parse(&format!(
                    "{}-03-02 10:15",
                    next_year()
                ))
                .unwrap(),
            );
            m.time_zone = Some("Europe/Vienna".into());
            m.recurrence = Some("FREQ=WEEKLY;COUNT=10".parse().unwrap());
            m.reminder_minutes = Some(15);
            m.pre_open_minutes = Some(30);
            m.end_after_minutes = Some(90);
            m
        };
        let admin = Actor::admin("file:test");
        w.service
            .execute(
                &admin,
                Operation::ScheduleMeeting {
                    meeting: Box::new(spec("one")),
                },
            )
            .await
            .unwrap();
        let results = w
            .service
            .schedule_meetings(&admin, vec![spec("bulk"), spec("one")])
            .await;
        assert!(results[0].is_ok(), "{results:?}");
        assert!(
            matches!(
                results[1],
                Err(schedulight::domain::OpError::AlreadyExists { .. })
            ),
            "{results:?}"
        );
        let jobs = |id: &str| {
            let store = w.store.clone();
            let id = id.to_string();
            async move {
                store
                    .list_jobs(Some(&id.parse().unwrap()))
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|j| (j.kind, j.due_at, j.payload, j.state))
                    .collect::<Vec<_>>()
            }
        };
        let (one, bulk) = (jobs("one").await, jobs("bulk").await);
        assert!(!one.is_empty());
        assert_eq!(one, bulk, "{backend:?}");
        let steps = |h: Vec<schedulight::domain::StepRecord>| {
            h.into_iter()
                .map(|s| (s.step, s.code, s.message))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            steps(w.store.step_history(&"one".parse().unwrap()).await.unwrap()),
            steps(
                w.store
                    .step_history(&"bulk".parse().unwrap())
                    .await
                    .unwrap()
            )
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemons_runs_are_reported_to_the_admin_room() {
    use schedulight::declare::watch::{FileWatcher, RunResult};
    use schedulight::domain::operation::MailFilter;
    use schedulight::domain::{Channel, NoticeKind};
    use schedulight::store::OutboxFilter;
    let w = world(Backend::Sqlite).await;
    let file = w.write("semester.yml", &w.semester());
    let mut watcher = FileWatcher::new(
        w.service.clone(),
        vec![file.clone()],
        PlanOptions::default(),
        LoadSettings::default(),
        Vec::new(),
        Some("#bbb-admins:uni.example".into()),
    );
    let first = watcher.apply_now("start").await;
    assert_eq!(
        first,
        RunResult::Applied {
            changes: 4,
            failed: 0
        }
    );
    assert!(!watcher.changed(), "nothing moved since");
    assert_eq!(watcher.apply_now("SIGHUP").await, RunResult::Unchanged);
    std::fs::write(
        &file,
        w.semester()
            .replace("meetingName: Algebra", "meetingName: ["),
    )
    .unwrap();
    assert!(watcher.changed());
    let refused = watcher.apply_now("a file changed").await;
    assert!(
        matches!(&refused, RunResult::Refused(e) if e.contains("semester.yml:")),
        "{refused:?}"
    );
    let notices = w
        .store
        .list_outbox(&OutboxFilter {
            state: MailFilter::All,
            channel: Some(Channel::Chat),
            meeting: None,
        })
        .await
        .unwrap();
    let texts: Vec<&str> = notices
        .iter()
        .filter(|n| n.request.kind == NoticeKind::FilesApplied)
        .map(|n| {
            assert_eq!(n.request.recipient, "#bbb-admins:uni.example");
            n.request.data["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        texts.len(),
        2,
        "the applied plan and the refusal; not the empty run"
    );
    assert!(
        texts[0].contains("+ meeting lecture: scheduled"),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].starts_with("Not applied (a file changed)"),
        "{}",
        texts[1]
    );
    assert!(!texts.concat().contains(&w.secret));
}

//! Property-based fuzzing of the REST API from its own OpenAPI document: schemathesis (pinned
//! in the test venv) generates requests for every operation — valid, edge and malformed — and
//! the API must never answer with a 5xx. Time-capped to fit CI. The API runs in-process on a
//! free port with a real SQLite store, the BBB simulator over HTTP and a Greenlight v3 database
//! in a throwaway PostgreSQL.

mod common;

use schedulight::api::{ApiState, openapi, router};
use schedulight::bbb::HttpConnector;
use schedulight::bbb::sim::SimConfig;
use schedulight::clock::SystemClock;
use schedulight::domain::{Actor, Operation, Outcome, Scope};
use schedulight::service::{Service, ServiceSettings};
use schedulight::store::{SqlStore, Store};
use std::sync::Arc;

/// Seconds schemathesis may spend (its own budget; the test adds start-up).
const BUDGET_SECONDS: &str = "60";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_makes_the_api_fail_with_a_server_error() {
    let venv = tokio::task::spawn_blocking(schedulight::testkit::python::test_venv)
        .await
        .unwrap()
        .expect("the test venv (schemathesis)");
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store: Arc<dyn Store> = Arc::new(SqlStore::connect(&url).await.unwrap());
    let secret = common::random_secret();
    let sim = common::serve_sim(SimConfig::new(secret.clone())).await;
    let service = Service::new(
        store,
        Arc::new(HttpConnector::new()),
        Arc::new(SystemClock),
        ServiceSettings::default(),
    );
    // Something to find: a server on the simulator with a Greenlight v3 database, a meeting.
    let cluster = schedulight::testkit::pg::PgCluster::shared().expect("throwaway PostgreSQL");
    let gl_url = cluster.fresh_database().await.expect("fresh database");
    let db = sqlx::PgPool::connect(&gl_url).await.unwrap();
    sqlx::raw_sql(include_str!("fixtures/greenlight/v3-schema.sql"))
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    let admin = Actor::admin("fuzz");
    let mut server = common::server_spec(
        "bbb",
        &sim,
        &secret,
        schedulight::domain::ChecksumAlgorithm::Sha256,
        2000,
    );
    server.greenlight = Some(schedulight::greenlight::GreenlightSettings {
        version: None,
        database_url: schedulight::domain::Secret::new(gl_url),
        provider: None,
        link_base: "https://gl.uni.example/rooms".into(),
        bcrypt_cost: Some(4),
    });
    service
        .execute(
            &admin,
            Operation::AddServer {
                server: Box::new(server),
            },
        )
        .await
        .unwrap();
    let mut lecture = schedulight::domain::MeetingSpec::new(
        "lecture".parse().unwrap(),
        "bbb".parse().unwrap(),
        "Lecture",
    );
    lecture.start = Some(
        schedulight::domain::meeting::seed_datetime::parse(&format!(
            "{}-06-24 11:00",
            jiff::Zoned::now().year() + 1
        ))
        .unwrap(),
    );
    service
        .execute(
            &admin,
            Operation::ScheduleMeeting {
                meeting: Box::new(lecture),
            },
        )
        .await
        .unwrap();
    let token = match service
        .execute(
            &admin,
            Operation::CreateToken {
                name: "fuzz".into(),
                scopes: Scope::ALL.to_vec(),
            },
        )
        .await
        .unwrap()
    {
        Outcome::TokenCreated { token, .. } => token,
        other => panic!("{other:?}"),
    };
    let app = router(ApiState {
        service: service.clone(),
        metrics_public: true,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let schema = dir.path().join("openapi.json");
    std::fs::write(&schema, serde_json::to_vec(&openapi()).unwrap()).unwrap();
    let out = tokio::process::Command::new(venv.dir().join("bin").join("schemathesis"))
        .arg("run")
        .arg(&schema)
        .args(["--url", &base])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", "not_a_server_error"])
        // Servers it would add point at hosts it makes up: calls to them would leave this
        // machine (and answer 502, rightly). Their bodies are checked by tests/api.rs.
        .args(["--exclude-operation-id", "add_server"])
        .args(["--exclude-operation-id", "put_server"])
        .args(["--max-time", BUDGET_SECONDS])
        .args(["--workers", "2"])
        .args(["--request-timeout", "10"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .env("NO_COLOR", "1")
        .current_dir(dir.path())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "schemathesis found server errors (or could not run):\n{stdout}\n{stderr}"
    );
    // It really exercised the API.
    assert!(
        stdout.contains("operations") || stdout.contains("Operations"),
        "{stdout}"
    );
    assert!(!stdout.contains(&secret), "no secret in any response");
}

//! Provision 1 000 Greenlight users without passwords (external/OIDC users), each with a room
//! and 2 shares, through `Service::execute` (the path the CLI, YAML files, chat and API use),
//! on a throwaway PostgreSQL holding the Greenlight v3 schema (and then v2). bcrypt hashing is
//! measured separately: cost 12 is slow by design.
//!
//! Run: `cargo bench --bench greenlight_provision`

use schedulight::bbb::HttpConnector;
use schedulight::clock::SystemClock;
use schedulight::domain::operation::{CreateRoom, CreateUser, ShareRoom, UserRole};
use schedulight::domain::{Actor, Email, Operation, Outcome, Recipient, Secret, ServerSpec};
use schedulight::greenlight::common::{DEFAULT_BCRYPT_COST, hash_password};
use schedulight::greenlight::{GreenlightSettings, GreenlightVersion};
use schedulight::service::{Service, ServiceSettings};
use schedulight::store::{MemoryStore, Store};
use schedulight::testkit::pg::PgCluster;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const USERS: usize = 1_000;
const PARALLEL: usize = 4;
const BOUND: Duration = Duration::from_secs(5);

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let ok = rt.block_on(async {
        let v3 = provision(
            GreenlightVersion::V3,
            include_str!("../tests/fixtures/greenlight/v3-schema.sql"),
        )
        .await;
        let v2 = provision(
            GreenlightVersion::V2,
            include_str!("../tests/fixtures/greenlight/v2-schema.sql"),
        )
        .await;
        bcrypt_cost();
        v3 && v2
    });
    std::process::exit(if ok { 0 } else { 1 });
}

fn email(i: usize) -> Email {
    format!("user{i:04}@uni.example").parse().expect("email")
}

async fn provision(version: GreenlightVersion, schema: &'static str) -> bool {
    let cluster = PgCluster::shared().expect("throwaway PostgreSQL");
    let url = cluster.fresh_database().await.expect("database");
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    sqlx::raw_sql(schema).execute(&pool).await.expect("schema");
    let mut server = ServerSpec::new(
        "bbb".parse().expect("id"),
        "http://127.0.0.1:9/bigbluebutton/api/"
            .parse()
            .expect("url"),
        Secret::new("unused"),
    );
    server.greenlight = Some(GreenlightSettings {
        version: Some(version),
        database_url: Secret::new(url),
        provider: None,
        link_base: "https://gl.uni.example".into(),
        bcrypt_cost: None,
    });
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    store
        .upsert_server(&server, jiff::Timestamp::now())
        .await
        .expect("server");
    let service = Service::new(
        store,
        Arc::new(HttpConnector::new()),
        Arc::new(SystemClock),
        ServiceSettings::default(),
    );
    let actor = Actor::admin("bench");

    let started = Instant::now();
    run_all(&service, &actor, (0..USERS).map(user_op).collect()).await;
    let users_done = started.elapsed();
    run_all(&service, &actor, (0..USERS).map(room_op).collect()).await;
    let rooms_done = started.elapsed();
    run_all(&service, &actor, (0..USERS).map(share_op).collect()).await;
    let total = started.elapsed();

    let (users, rooms, shares): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM users WHERE email LIKE 'user%@uni.example'), \
         (SELECT count(*) FROM rooms), (SELECT count(*) FROM shared_accesses)",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    // Greenlight 2 gives every new user a home room as well (as it does itself).
    let rooms_per_user = if version == GreenlightVersion::V2 {
        2
    } else {
        1
    };
    assert_eq!(
        (users, rooms, shares),
        (
            USERS as i64,
            rooms_per_user * USERS as i64,
            2 * USERS as i64
        )
    );
    let ok = total <= BOUND;
    println!(
        "Greenlight {version:?}: {USERS} external users + {USERS} rooms + {} shares in {:.2} s \
         (users {:.2} s, rooms {:.2} s, shares {:.2} s; {PARALLEL} at a time) → {}",
        2 * USERS,
        total.as_secs_f64(),
        users_done.as_secs_f64(),
        (rooms_done - users_done).as_secs_f64(),
        (total - rooms_done).as_secs_f64(),
        if ok { "within 5 s" } else { "OVER 5 s" }
    );
    ok
}

fn user_op(i: usize) -> Operation {
    Operation::CreateUser(CreateUser {
        server: "bbb".parse().expect("id"),
        email: email(i),
        full_name: format!("User {i}"),
        password: None,
        role: UserRole::User,
        // Greenlight 2 keeps the auth provider per user; v3's provider is the tenant.
        provider: Some("openid_connect".into()),
        external_id: Some(format!("oidc-sub-{i:04}")),
    })
}

fn room_op(i: usize) -> Operation {
    Operation::CreateRoom(CreateRoom {
        server: "bbb".parse().expect("id"),
        name: format!("Room of user {i}"),
        owner: email(i),
        uid: Some(format!("bench-room-{i:04}").parse().expect("room")),
        access_code: None,
    })
}

fn share_op(i: usize) -> Operation {
    let with: BTreeMap<Email, Recipient> = [(i + 1) % USERS, (i + 2) % USERS]
        .into_iter()
        .map(|j| (email(j), Recipient::default()))
        .collect();
    Operation::ShareRoom(ShareRoom {
        server: "bbb".parse().expect("id"),
        room: format!("bench-room-{i:04}").parse().expect("room"),
        with,
    })
}

async fn run_all(service: &Service, actor: &Actor, ops: Vec<Operation>) {
    use futures::StreamExt;
    futures::stream::iter(ops)
        .for_each_concurrent(PARALLEL, |op| async move {
            match service.execute(actor, op).await {
                Ok(Outcome::Items { results, .. }) if results.iter().all(|r| r.ok) => {}
                other => panic!("provisioning step failed: {other:?}"),
            }
        })
        .await;
}

fn bcrypt_cost() {
    let pw = Secret::new("Gr33nl!ght-passw0rd");
    let n = 5;
    let t = Instant::now();
    for _ in 0..n {
        hash_password(&pw, DEFAULT_BCRYPT_COST).expect("hash");
    }
    let per = t.elapsed() / n;
    println!(
        "bcrypt cost {DEFAULT_BCRYPT_COST} ($2a$, Greenlight's default): {:.0} ms per user with a password ({n} samples)",
        per.as_secs_f64() * 1000.0
    );
}

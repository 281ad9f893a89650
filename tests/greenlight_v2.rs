//! Greenlight 2 backend against real PostgreSQL databases (a fresh one per test on the
//! throwaway cluster of `testkit::pg`), built from our own fixture
//! (`tests/fixtures/greenlight/v2-schema.sql` + `v2-sample.sql`) and, when the shared reference
//! files are present next to the repository, from the shared v2 schema in its fresh-install
//! and migrated-install shapes.
//!
//! Every write is checked column by column in the database; every refusal and every injected
//! failure must leave the tables exactly as they were. Passwords are checked with the Rust
//! bcrypt crate and independently with pyca `bcrypt` from the test venv.

use schedulight::domain::{Email, RoomRef, Secret};
use schedulight::greenlight::v2::GreenlightV2;
use schedulight::greenlight::{
    GlRoom, Greenlight, GreenlightError, GreenlightVersion, NewRoom, NewUser, RoomDisposition,
    RoomSearch,
};
use schedulight::testkit::pg::PgCluster;
use schedulight::testkit::python;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Executor, PgPool};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::str::FromStr;

/// bcrypt cost for test users (one test uses Greenlight's 12).
const COST: u32 = 4;
/// Session time zone of every test connection: far from UTC, so a timestamp written in local
/// time instead of UTC shows up as hours off.
const SET_SESSION_TZ: &str = "SET TIME ZONE 'Pacific/Chatham'";

// ---------------------------------------------------------------- helpers

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> String {
    let path = manifest().join("tests/fixtures/greenlight").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A file of the shared reference schemas, when this checkout has them.
fn shared(name: &str) -> Option<String> {
    let path = manifest().join("../shared/greenlight-schema").join(name);
    std::fs::read_to_string(path).ok()
}

/// A fresh database with these SQL files applied, as a pool in a non-UTC session zone.
async fn database(sql_files: &[String]) -> PgPool {
    let url = PgCluster::shared()
        .expect("throwaway PostgreSQL")
        .fresh_database()
        .await
        .expect("fresh database");
    let options = PgConnectOptions::from_str(&url).expect("database URL");
    // sqlx sends TimeZone=UTC when it connects, so the zone is changed afterwards.
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(SET_SESSION_TZ).await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .expect("connect");
    let tz: String = sqlx::query_scalar("SHOW timezone")
        .fetch_one(&pool)
        .await
        .expect("time zone");
    assert_eq!(tz, "Pacific/Chatham");
    for sql in sql_files {
        sqlx::raw_sql(AssertSqlSafe(sql.clone()))
            .execute(&pool)
            .await
            .expect("apply SQL file");
    }
    pool
}

/// Our schema and, optionally, our sample content; the backend with the default provider.
async fn setup(sample: bool) -> (PgPool, GreenlightV2) {
    let mut files = vec![fixture("v2-schema.sql")];
    if sample {
        files.push(fixture("v2-sample.sql"));
    }
    let pool = database(&files).await;
    let gl = GreenlightV2::new(pool.clone(), None, COST);
    (pool, gl)
}

fn email(s: &str) -> Email {
    s.parse().expect("test e-mail")
}

fn room(s: &str) -> RoomRef {
    s.parse().expect("test room id")
}

fn new_user(mail: &str, name: &str, password: Option<&str>) -> NewUser {
    NewUser {
        email: email(mail),
        name: name.into(),
        password: password.map(Secret::new),
        role: None,
        external_id: None,
        language: None,
        uid: None,
        provider: None,
    }
}

fn new_room(name: &str) -> NewRoom {
    NewRoom {
        name: name.into(),
        ..NewRoom::default()
    }
}

fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every row of the tables we write, as JSON text: equal snapshots mean nothing changed.
async fn snapshot(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT 'users', to_jsonb(t)::text FROM users t \
         UNION ALL SELECT 'rooms', to_jsonb(t)::text FROM rooms t \
         UNION ALL SELECT 'shared_accesses', to_jsonb(t)::text FROM shared_accesses t \
         UNION ALL SELECT 'users_roles', to_jsonb(t)::text FROM users_roles t \
         ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .expect("snapshot")
}

/// pyca bcrypt's verdict on a digest (argv only, no shell).
fn python_checkpw(password: &str, digest: &str) -> bool {
    let venv = python::test_venv().expect("test venv");
    let out = Command::new(venv.python())
        .args([
            "-c",
            "import sys, bcrypt\n\
             ok = bcrypt.checkpw(sys.argv[1].encode('utf-8'), sys.argv[2].encode('ascii'))\n\
             sys.exit(0 if ok else 3)",
            password,
            digest,
        ])
        .output()
        .expect("run python");
    match out.status.code() {
        Some(0) => true,
        Some(3) => false,
        _ => panic!(
            "python bcrypt failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// A `users` row, every column (timestamps as "is NULL" or age in seconds against UTC now).
#[derive(Debug, sqlx::FromRow)]
struct UserDb {
    id: i64,
    room_id: Option<i64>,
    provider: Option<String>,
    uid: Option<String>,
    name: Option<String>,
    username: Option<String>,
    email: Option<String>,
    social_uid: Option<String>,
    image: Option<String>,
    password_digest: Option<String>,
    accepted_terms: Option<bool>,
    created_age: f64,
    updated_age: f64,
    email_verified: Option<bool>,
    language: Option<String>,
    reset_digest: Option<String>,
    reset_sent_at_null: bool,
    activation_digest: Option<String>,
    activated_at_null: bool,
    deleted: bool,
    role_id: Option<i64>,
    last_login_null: bool,
    failed_attempts: Option<i32>,
    last_failed_attempt_null: bool,
    last_pwd_update_null: bool,
}

async fn user_db(pool: &PgPool, id: &str) -> UserDb {
    let id: i64 = id.parse().expect("numeric v2 id");
    sqlx::query_as(
        "SELECT id::int8, room_id::int8, provider, uid, name, username, email, social_uid, image, \
                password_digest, accepted_terms, \
                EXTRACT(EPOCH FROM (now() AT TIME ZONE 'UTC') - created_at)::float8 AS created_age, \
                EXTRACT(EPOCH FROM (now() AT TIME ZONE 'UTC') - updated_at)::float8 AS updated_age, \
                email_verified, language, reset_digest, reset_sent_at IS NULL AS reset_sent_at_null, \
                activation_digest, activated_at IS NULL AS activated_at_null, deleted, \
                role_id::int8, last_login IS NULL AS last_login_null, failed_attempts, \
                last_failed_attempt IS NULL AS last_failed_attempt_null, \
                last_pwd_update IS NULL AS last_pwd_update_null \
         FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .expect("user row")
}

/// A `rooms` row, every column.
#[derive(Debug, Clone, sqlx::FromRow)]
struct RoomDb {
    id: i64,
    user_id: Option<i64>,
    name: Option<String>,
    uid: Option<String>,
    bbb_id: Option<String>,
    sessions: Option<i32>,
    last_session_ms: Option<i64>,
    created_age: f64,
    updated_age: f64,
    room_settings: Option<String>,
    moderator_pw: Option<String>,
    attendee_pw: Option<String>,
    access_code: Option<String>,
    deleted: bool,
    moderator_access_code: Option<String>,
}

async fn room_db(pool: &PgPool, id: i64) -> Option<RoomDb> {
    sqlx::query_as(
        "SELECT id::int8, user_id::int8, name, uid, bbb_id, sessions, \
                (EXTRACT(EPOCH FROM last_session) * 1000)::int8 AS last_session_ms, \
                EXTRACT(EPOCH FROM (now() AT TIME ZONE 'UTC') - created_at)::float8 AS created_age, \
                EXTRACT(EPOCH FROM (now() AT TIME ZONE 'UTC') - updated_at)::float8 AS updated_age, \
                room_settings, moderator_pw, attendee_pw, access_code, deleted, moderator_access_code \
         FROM rooms WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .expect("room row")
}

async fn room_of(pool: &PgPool, r: &GlRoom) -> RoomDb {
    room_db(pool, r.id.parse().expect("numeric room id"))
        .await
        .expect("room exists")
}

/// (room_id, user_id) of every share, in order.
async fn shares(pool: &PgPool) -> Vec<(i64, i64)> {
    sqlx::query_as(
        "SELECT room_id::int8, user_id::int8 FROM shared_accesses ORDER BY room_id, user_id, id",
    )
    .fetch_all(pool)
    .await
    .expect("shares")
}

async fn count(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

fn fresh(age: f64) -> bool {
    (-1.0..120.0).contains(&age)
}

fn is_lower_alnum(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// `abc-xxx-xxx-xxx`: the owner-name chunk and three groups of `[a-z0-9]`.
fn assert_v2_uid(uid: &str, chunk: &str) {
    let parts: Vec<&str> = uid.split('-').collect();
    assert_eq!(parts.len(), 4, "{uid}");
    assert_eq!(parts[0], chunk, "{uid}");
    assert!(
        parts[1..].iter().all(|p| p.len() == 3 && is_lower_alnum(p)),
        "{uid}"
    );
}

fn assert_meeting_passwords(r: &RoomDb) {
    let m = r.moderator_pw.clone().expect("moderator_pw");
    let a = r.attendee_pw.clone().expect("attendee_pw");
    for pw in [&m, &a] {
        assert_eq!(pw.len(), 12);
        assert!(pw.chars().all(|c| c.is_ascii_alphanumeric()), "{pw}");
    }
    assert_ne!(m, a);
}

// ---------------------------------------------------------------- schema

/// One catalogue dump: tables, columns, sequences, indexes, constraints, and the seeded rows.
async fn catalogue(pool: &PgPool) -> Vec<Vec<String>> {
    const QUERIES: [&str; 12] = [
        "SELECT table_name || ' ' || table_type FROM information_schema.tables \
         WHERE table_schema = 'public' ORDER BY 1",
        "SELECT concat_ws(' | ', table_name, ordinal_position, column_name, data_type, udt_name, \
                          character_maximum_length, datetime_precision, is_nullable, column_default) \
         FROM information_schema.columns WHERE table_schema = 'public' \
         ORDER BY table_name, ordinal_position",
        "SELECT concat_ws(' | ', sequence_name, data_type, start_value, increment) \
         FROM information_schema.sequences WHERE sequence_schema = 'public' ORDER BY 1",
        "SELECT concat_ws(' | ', tablename, indexname, indexdef) FROM pg_indexes \
         WHERE schemaname = 'public' ORDER BY tablename, indexname",
        "SELECT concat_ws(' | ', conrelid::regclass::text, conname, contype::text, \
                          pg_get_constraintdef(oid)) \
         FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1",
        "SELECT concat_ws(' | ', id, name, priority, can_create_rooms, send_promoted_email, \
                          send_demoted_email, can_edit_site_settings, can_edit_roles, \
                          can_manage_users, colour, provider) FROM roles ORDER BY id",
        "SELECT concat_ws(' | ', role_id, name, value, enabled) FROM role_permissions \
         ORDER BY role_id, name",
        "SELECT concat_ws(' | ', id, provider) FROM settings ORDER BY id",
        "SELECT concat_ws(' | ', setting_id, name, value, enabled) FROM features ORDER BY name",
        "SELECT version::text FROM schema_migrations ORDER BY 1",
        "SELECT concat_ws(' | ', key, value) FROM ar_internal_metadata ORDER BY 1",
        "SELECT concat_ws(' | ', (SELECT count(*) FROM users), (SELECT count(*) FROM rooms), \
                          (SELECT count(*) FROM shared_accesses), (SELECT count(*) FROM users_roles))",
    ];
    let mut out = Vec::new();
    for q in QUERIES {
        out.push(
            sqlx::query_scalar::<_, String>(q)
                .fetch_all(pool)
                .await
                .expect(q),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_fixture_matches_the_shared_v2_schema() {
    let (ours, gl) = setup(false).await;
    let report = gl.check_schema().await.expect("fixture passes the check");
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let Some(reference) = shared("greenlight-v2.sql") else {
        eprintln!("../shared/greenlight-schema/greenlight-v2.sql not present; compared nothing");
        return;
    };
    let theirs = database(&[reference]).await;
    let (a, b) = (catalogue(&ours).await, catalogue(&theirs).await);
    let labels = [
        "tables",
        "columns",
        "sequences",
        "indexes",
        "constraints",
        "roles",
        "role_permissions",
        "settings",
        "features",
        "schema_migrations",
        "ar_internal_metadata",
        "row counts",
    ];
    for ((label, ours), theirs) in labels.iter().zip(&a).zip(&b) {
        assert!(!ours.is_empty(), "{label}: nothing found");
        assert_eq!(ours, theirs, "{label} differ");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_schema_looks_at_names_and_warns_about_newer_columns() {
    let (pool, gl) = setup(false).await;
    assert_eq!(gl.version(), GreenlightVersion::V2);
    let report = gl.check_schema().await.unwrap();
    assert_eq!(report.version, Some(GreenlightVersion::V2));
    assert_eq!(report.schema_version.as_deref(), Some("20220209094148"));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    // A newer release: an extra column and migration are warnings, not errors.
    sqlx::raw_sql(
        "ALTER TABLE users ADD COLUMN timezone varchar; \
         INSERT INTO schema_migrations VALUES ('20230101000000');",
    )
    .execute(&pool)
    .await
    .unwrap();
    let report = gl.check_schema().await.unwrap();
    assert_eq!(report.schema_version.as_deref(), Some("20230101000000"));
    assert_eq!(report.warnings.len(), 2, "{:?}", report.warnings);
    assert!(report.warnings[0].contains("users.timezone"));
    assert!(report.warnings[1].contains("newer than Greenlight 2.14"));

    // Column order does not matter, a missing column does.
    sqlx::raw_sql(
        "ALTER TABLE rooms DROP COLUMN moderator_access_code; \
         ALTER TABLE shared_accesses RENAME TO shares;",
    )
    .execute(&pool)
    .await
    .unwrap();
    let err = gl.check_schema().await.unwrap_err().to_string();
    assert!(err.contains("rooms.moderator_access_code"), "{err}");
    assert!(err.contains("table shared_accesses"), "{err}");

    // No roles yet: a warning that says why users cannot be created.
    let (pool, gl) = setup(false).await;
    sqlx::raw_sql("DELETE FROM role_permissions; DELETE FROM roles;")
        .execute(&pool)
        .await
        .unwrap();
    let report = gl.check_schema().await.unwrap();
    assert!(
        report.warnings[0].contains("no roles"),
        "{:?}",
        report.warnings
    );

    // A Greenlight 3 database is refused by name.
    let v3 = database(&["CREATE TABLE rooms (id uuid, friendly_id varchar);".into()]).await;
    let err = GreenlightV2::new(v3, None, COST)
        .check_schema()
        .await
        .unwrap_err();
    assert!(matches!(err, GreenlightError::Schema(ref m) if m.contains("Greenlight 3")));
}

// ---------------------------------------------------------------- users

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_user_is_written_as_greenlight_writes_one() {
    let (pool, gl) = setup(true).await;
    let password = "Pässwort-1 'quoted' \"x\"";
    let user = gl
        .create_user(&new_user("Zoe.New@Uni.Example", "Zoë New", Some(password)))
        .await
        .expect("create");
    assert_eq!(user.email.as_str(), "zoe.new@uni.example");
    assert_eq!(user.name, "Zoë New");
    assert_eq!(user.provider, "greenlight");
    assert_eq!(user.role.as_deref(), Some("user"));
    assert_eq!(user.external_id, None);
    assert!(user.has_password && user.verified);
    assert_eq!(user.id, "6", "next id after the sample's five users");

    let row = user_db(&pool, &user.id).await;
    assert_eq!(row.id, 6);
    assert_eq!(row.provider.as_deref(), Some("greenlight"));
    let uid = row.uid.clone().unwrap();
    assert!(uid.starts_with("gl-") && uid.len() == 15, "{uid}");
    assert!(uid[3..].chars().all(|c| c.is_ascii_lowercase()), "{uid}");
    assert_eq!(row.name.as_deref(), Some("Zoë New"));
    assert_eq!(row.username, None, "Greenlight leaves it to LDAP/OAuth");
    assert_eq!(row.email.as_deref(), Some("zoe.new@uni.example"));
    assert_eq!(row.social_uid, None);
    assert_eq!(row.image, None);
    let digest = row.password_digest.clone().unwrap();
    assert!(digest.starts_with("$2a$04$"), "{digest}");
    assert_eq!(row.accepted_terms, Some(true));
    assert!(fresh(row.created_age) && fresh(row.updated_age), "{row:?}");
    assert_eq!(row.email_verified, Some(true));
    assert_eq!(row.language.as_deref(), Some("default"));
    assert_eq!(row.reset_digest, None);
    assert!(row.reset_sent_at_null);
    assert_eq!(row.activation_digest, None);
    assert!(row.activated_at_null);
    assert!(!row.deleted);
    assert_eq!(row.role_id, Some(1));
    assert!(row.last_login_null && row.last_failed_attempt_null && row.last_pwd_update_null);
    assert_eq!(row.failed_attempts, None);

    // The role may create rooms, so the user has a home room, as after `rake user:create`.
    let home = room_db(&pool, row.room_id.expect("home room linked"))
        .await
        .unwrap();
    assert_eq!(home.user_id, Some(6));
    assert_eq!(home.name.as_deref(), Some("Home Room"));
    assert_v2_uid(home.uid.as_deref().unwrap(), "zon");
    assert_eq!(home.room_settings.as_deref(), Some("{ }"));
    assert_eq!(home.sessions, Some(0));
    assert_eq!(home.last_session_ms, None);
    assert!(!home.deleted);
    assert_meeting_passwords(&home);
    assert_eq!((home.access_code, home.moderator_access_code), (None, None));
    assert_eq!(count(&pool, "SELECT count(*) FROM users_roles").await, 2);

    // Both bcrypt implementations accept the digest, and only for this password.
    assert!(bcrypt::verify(password, &digest).unwrap());
    assert!(!bcrypt::verify("Pässwort-1", &digest).unwrap());
    assert!(python_checkpw(password, &digest));
    assert!(!python_checkpw("wrong", &digest));

    // find_user sees the same user, whatever the case of the address typed.
    let found = gl.find_user(&email("ZOE.NEW@uni.example")).await.unwrap();
    assert_eq!(found, Some(user));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_at_greenlights_cost_12_verify_everywhere() {
    let (pool, _) = setup(false).await;
    let gl = GreenlightV2::new(pool.clone(), None, 12);
    let password = "Gr33nl!ght-пароль";
    let user = gl
        .create_user(&new_user("cost12@uni.example", "Twelve", Some(password)))
        .await
        .unwrap();
    let digest = user_db(&pool, &user.id).await.password_digest.unwrap();
    assert!(
        digest.starts_with("$2a$12$") && digest.len() == 60,
        "{digest}"
    );
    assert!(bcrypt::verify(password, &digest).unwrap());
    assert!(python_checkpw(password, &digest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_users_roles_languages_and_uids() {
    let (pool, _) = setup(true).await;
    let ldap = GreenlightV2::new(pool.clone(), Some("ldap".into()), COST);
    assert_eq!(ldap.provider(), "ldap");
    let dn = "uid=o'hara,ou=people,dc=uni,dc=example";
    let mut admin = new_user("ohara@uni.example", "Ó Hara", None);
    admin.external_id = Some(dn.into());
    admin.role = Some("ADMIN".into());
    admin.language = Some("pt_BR".into());
    admin.uid = Some("ohara-dn".into());
    let created = ldap.create_user(&admin).await.unwrap();
    assert_eq!(created.role.as_deref(), Some("admin"));
    assert_eq!(created.external_id.as_deref(), Some(dn));
    assert!(!created.has_password);
    let row = user_db(&pool, &created.id).await;
    assert_eq!(row.provider.as_deref(), Some("ldap"));
    assert_eq!(row.social_uid.as_deref(), Some(dn));
    assert_eq!(row.password_digest, None);
    assert_eq!(row.role_id, Some(2));
    assert_eq!(row.language.as_deref(), Some("pt_BR"));
    assert_eq!(row.uid.as_deref(), Some("ohara-dn"));
    assert_eq!(row.username.as_deref(), Some("ohara-dn"));
    assert!(row.room_id.is_some(), "admins may create rooms");

    // A second external user: NULL digests do not trip the unique index.
    let mut pending = new_user("pending@uni.example", "Pending", None);
    pending.external_id = Some("uid=pending".into());
    pending.role = Some("Pending".into());
    let p = ldap.create_user(&pending).await.unwrap();
    let row = user_db(&pool, &p.id).await;
    assert_eq!(row.role_id, Some(3));
    assert_eq!(
        row.room_id, None,
        "pending may not create rooms: no home room"
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM users WHERE password_digest IS NULL"
        )
        .await,
        5
    );

    // Lookups prefer the configured provider but find users of every provider.
    let bob = ldap
        .find_user(&email("bob@example.org"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bob.provider, "openid_connect");
    assert_eq!(bob.external_id.as_deref(), Some("bob-oidc-sub"));
    assert!(!bob.has_password);
    // A row written with a mixed-case e-mail by the original tool.
    let carol = ldap
        .find_user(&email("carol.legacy@example.org"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(carol.id, "3");
    assert_eq!(carol.email.as_str(), "carol.legacy@example.org");
    // Soft-deleted users are invisible.
    assert_eq!(
        ldap.find_user(&email("dave@example.org")).await.unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_users_leave_no_rows() {
    let (pool, gl) = setup(true).await;
    let ldap = GreenlightV2::new(pool.clone(), Some("ldap".into()), COST);
    let before = snapshot(&pool).await;
    let with = |f: fn(&mut NewUser)| {
        let mut u = new_user("new@uni.example", "New", Some("Secret-1!"));
        f(&mut u);
        u
    };
    let cases: Vec<(&GreenlightV2, NewUser, &str)> = vec![
        (
            &gl,
            new_user("alice@example.org", "A", None),
            "already exists",
        ),
        (
            &gl,
            new_user("dave@example.org", "D", None),
            "deleted Greenlight user",
        ),
        (
            &ldap,
            with(|u| {
                u.email = email("CAROL.LEGACY@example.org");
                u.password = None;
                u.external_id = Some("uid=carol2".into());
            }),
            "already exists",
        ),
        (
            &gl,
            with(|u| u.role = Some("superhero".into())),
            "no Greenlight role",
        ),
        (
            &gl,
            with(|u| u.external_id = Some("uid=x".into())),
            "external id",
        ),
        (&ldap, with(|u| u.password = None), "external id"),
        (
            &ldap,
            with(|u| u.external_id = Some("uid=x".into())),
            "leave the password out",
        ),
        (
            &gl,
            with(|u| u.password = Some(Secret::new("é".repeat(37)))),
            "at most 72 bytes",
        ),
        (
            &gl,
            with(|u| u.password = Some(Secret::new(""))),
            "password is empty",
        ),
        (
            &gl,
            with(|u| u.name = "Buy now https://spam.example".into()),
            "link",
        ),
        (&gl, with(|u| u.name = "x".repeat(257)), "at most 256"),
        (&gl, with(|u| u.name = " ".into()), "empty"),
        (
            &gl,
            with(|u| u.uid = Some("gl-qwhrtzmpkdfa".into())),
            "taken",
        ),
        (&gl, with(|u| u.uid = Some("a/b".into())), "user uid"),
        (
            &gl,
            with(|u| u.language = Some("de; DROP".into())),
            "language code",
        ),
    ];
    for (backend, user, expected) in cases {
        let err = backend.create_user(&user).await.unwrap_err();
        assert!(
            err.to_string().contains(expected),
            "{err} (wanted {expected})"
        );
        assert_eq!(snapshot(&pool).await, before, "after: {err}");
    }
    let err = gl
        .create_user(&new_user("alice@example.org", "A", None))
        .await
        .unwrap_err();
    assert!(matches!(err, GreenlightError::UserExists(ref e) if e.as_str() == "alice@example.org"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_midway_rolls_back_the_whole_operation() {
    let (pool, gl) = setup(true).await;
    // Fail inside the database after our first statements have run.
    sqlx::raw_sql(
        "CREATE FUNCTION fail_here() RETURNS trigger LANGUAGE plpgsql AS \
           $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$; \
         CREATE TRIGGER no_rooms BEFORE INSERT ON rooms FOR EACH ROW EXECUTE FUNCTION fail_here(); \
         CREATE TRIGGER no_user_delete BEFORE DELETE ON users FOR EACH ROW EXECUTE FUNCTION fail_here(); \
         CREATE TRIGGER no_share_for_carol BEFORE INSERT ON shared_accesses FOR EACH ROW \
           WHEN (NEW.user_id = 3) EXECUTE FUNCTION fail_here();",
    )
    .execute(&pool)
    .await
    .unwrap();
    let before = snapshot(&pool).await;

    // The user row goes in, the home room fails: no user either.
    let err = gl
        .create_user(&new_user("half@uni.example", "Half", Some("Secret-1!")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, GreenlightError::Database(ref m) if m.contains("injected")),
        "{err}"
    );
    assert_eq!(snapshot(&pool).await, before);

    // Shares and rooms are removed first, then the user delete fails: all of it comes back.
    let err = gl
        .delete_user(&email("alice@example.org"), &RoomDisposition::Delete, false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("injected"), "{err}");
    assert_eq!(snapshot(&pool).await, before);

    // The first share is written, the second fails: neither stays.
    let err = gl
        .share_room(
            &room("bob-3nd-k8v-r2w"),
            &[
                email("alice@example.org"),
                email("carol.legacy@example.org"),
            ],
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("injected"), "{err}");
    assert_eq!(snapshot(&pool).await, before);

    // Greenlight's messages are passed on, our SQL text is not.
    assert!(!err.to_string().contains("INSERT"), "{err}");
}

// ---------------------------------------------------------------- rooms

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_is_written_as_greenlight_writes_one() {
    let (pool, gl) = setup(true).await;
    let spec = NewRoom {
        name: "Lecture".into(),
        friendly_id: None,
        access_code: Some("123456".into()),
        moderator_access_code: Some("abcdef".into()),
        options: opts(&[
            ("record", "true"),
            ("muteOnStart", "true"),
            ("guestPolicy", "ASK_MODERATOR"),
            ("glAnyoneCanStart", "false"),
            ("glAnyoneJoinAsModerator", "on"),
        ]),
    };
    let created = gl
        .create_room(&email("alice@example.org"), &spec)
        .await
        .unwrap();
    let row = room_of(&pool, &created).await;
    assert_eq!(row.id, 6);
    assert_eq!(row.user_id, Some(1));
    assert_eq!(row.name.as_deref(), Some("Lecture"));
    assert_v2_uid(row.uid.as_deref().unwrap(), "ali");
    let bbb_id = row.bbb_id.clone().unwrap();
    assert!(bbb_id.len() == 40 && is_lower_alnum(&bbb_id), "{bbb_id}");
    assert_eq!(row.sessions, Some(0));
    assert_eq!(row.last_session_ms, None);
    assert!(fresh(row.created_age) && fresh(row.updated_age), "{row:?}");
    assert_eq!(
        row.room_settings.as_deref(),
        Some(
            r#"{"muteOnStart":true,"requireModeratorApproval":true,"anyoneCanStart":false,"joinModerator":true,"recording":true}"#
        )
    );
    assert_meeting_passwords(&row);
    assert_eq!(row.access_code.as_deref(), Some("123456"));
    assert_eq!(row.moderator_access_code.as_deref(), Some("abcdef"));
    assert!(!row.deleted);
    // Not made anyone's home room.
    assert_eq!(user_db(&pool, "1").await.room_id, Some(1));

    assert_eq!(created.id, "6");
    assert_eq!(created.friendly_id, row.uid.clone().unwrap());
    assert_eq!(created.meeting_id, bbb_id);
    assert_eq!(created.name, "Lecture");
    assert_eq!(created.owner_email.as_str(), "alice@example.org");
    assert_eq!(created.owner_name, "Alice Example");
    assert_eq!(
        created.options,
        opts(&[
            ("record", "true"),
            ("muteOnStart", "true"),
            ("guestPolicy", "ASK_MODERATOR"),
            ("glAnyoneCanStart", "false"),
            ("glAnyoneJoinAsModerator", "true"),
            ("glViewerAccessCode", "123456"),
            ("glModeratorAccessCode", "abcdef"),
        ])
    );
    assert_eq!(
        created.moderator_pw.as_ref().map(Secret::expose),
        row.moderator_pw.as_deref()
    );
    assert_eq!(
        created.attendee_pw.as_ref().map(Secret::expose),
        row.attendee_pw.as_deref()
    );
    assert!(created.shared_with.is_empty());
    assert!(!created.online);
    assert_eq!(created.last_session, None);
    let found = gl.find_room(&room(&created.friendly_id)).await.unwrap();
    assert_eq!(found.as_ref(), Some(&created));
    // The passwords stay out of Debug output.
    assert!(!format!("{created:?}").contains(row.moderator_pw.as_deref().unwrap()));

    // An existing room reads back with shares (the soft-deleted sharee left out).
    let team = gl
        .find_room(&room("ALI-P3R-8ZT-W4C"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(team.shared_with, vec![email("bob@example.org")]);
    assert_eq!(team.options["record"], "true");
    assert_eq!(team.options["glViewerAccessCode"], "482913");
    assert_eq!(
        team.last_session.map(|t| t.as_millisecond()),
        Some(1_681_999_200_123),
        "2023-04-20 14:00:00.123 UTC"
    );
    assert_eq!(gl.find_room(&room("dav-q2w-e3r-t4y")).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_room_ids_and_refusals() {
    let (pool, gl) = setup(true).await;
    let alice = email("alice@example.org");
    let mut spec = new_room("Custom");
    spec.friendly_id = Some(room("my-room"));
    let r = gl.create_room(&alice, &spec).await.unwrap();
    assert_eq!(r.friendly_id, "my-room");
    assert_eq!(room_of(&pool, &r).await.uid.as_deref(), Some("my-room"));
    // A soft-deleted room's id may be taken again.
    spec.friendly_id = Some(room("dav-q2w-e3r-t4y"));
    let reused = gl.create_room(&alice, &spec).await.unwrap();
    assert_eq!(
        gl.find_room(&room("dav-q2w-e3r-t4y")).await.unwrap(),
        Some(reused)
    );

    let before = snapshot(&pool).await;
    let refused: Vec<(Email, NewRoom, &str)> = vec![
        (
            alice.clone(),
            NewRoom {
                friendly_id: Some(room("MY-ROOM")),
                ..new_room("X")
            },
            "already exists",
        ),
        (
            alice.clone(),
            NewRoom {
                friendly_id: Some(room("bob-3nd-k8v-r2w")),
                ..new_room("X")
            },
            "already exists",
        ),
        (
            alice.clone(),
            NewRoom {
                friendly_id: Some(room("my.room")),
                ..new_room("X")
            },
            "cannot contain '.'",
        ),
        (
            alice.clone(),
            NewRoom {
                options: opts(&[("mute", "true")]),
                ..new_room("X")
            },
            "record, muteOnStart, guestPolicy",
        ),
        (
            alice.clone(),
            NewRoom {
                options: opts(&[("guestPolicy", "ALWAYS_DENY")]),
                ..new_room("X")
            },
            "cannot deny",
        ),
        (
            alice.clone(),
            NewRoom {
                options: opts(&[("glRequireAuthentication", "true")]),
                ..new_room("X")
            },
            "not a per-room option",
        ),
        (
            alice.clone(),
            NewRoom {
                options: opts(&[("record", "perhaps")]),
                ..new_room("X")
            },
            "true or false",
        ),
        (
            alice.clone(),
            NewRoom {
                access_code: Some("1".into()),
                options: opts(&[("glViewerAccessCode", "2")]),
                ..new_room("X")
            },
            "disagree",
        ),
        (alice.clone(), new_room(&"ü".repeat(257)), "at most 256"),
        (
            email("nobody@example.org"),
            new_room("X"),
            "no Greenlight user",
        ),
        (
            email("dave@example.org"),
            new_room("X"),
            "no Greenlight user",
        ),
    ];
    for (owner, spec, expected) in refused {
        let err = gl.create_room(&owner, &spec).await.unwrap_err();
        assert!(
            err.to_string().contains(expected),
            "{err} (wanted {expected})"
        );
        assert_eq!(snapshot(&pool).await, before, "after: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_stored_verbatim() {
    let (pool, gl) = setup(true).await;
    let name = "Zoë \"O'Brien\"); DROP TABLE users; -- 100% _x_ \\ 🎉";
    let long = "ß".repeat(256);
    let user = gl
        .create_user(&new_user("zoe@uni.example", name, Some("Secret-1!")))
        .await
        .unwrap();
    assert_eq!(user_db(&pool, &user.id).await.name.as_deref(), Some(name));
    let owner = email("zoe@uni.example");
    let mut spec = new_room(name);
    spec.access_code = Some("'; --%_\\".into());
    let a = gl.create_room(&owner, &spec).await.unwrap();
    let row = room_of(&pool, &a).await;
    assert_eq!(row.name.as_deref(), Some(name));
    assert_eq!(row.access_code.as_deref(), Some("'; --%_\\"));
    assert_v2_uid(row.uid.as_deref().unwrap(), "zoo");
    let b = gl.create_room(&owner, &new_room(&long)).await.unwrap();
    assert_eq!(
        room_of(&pool, &b).await.name.as_deref(),
        Some(long.as_str())
    );
    let plain = gl
        .create_room(&owner, &new_room("Plain 100 x"))
        .await
        .unwrap();

    // LIKE wildcards in a name search match themselves only.
    let names = |rooms: Vec<GlRoom>| rooms.into_iter().map(|r| r.name).collect::<Vec<_>>();
    let hit = |t: &str| RoomSearch::Name(t.to_string());
    assert_eq!(names(gl.search_rooms(&hit("%")).await.unwrap()), vec![name]);
    assert_eq!(
        names(gl.search_rooms(&hit("_x_")).await.unwrap()),
        vec![name]
    );
    assert_eq!(
        names(gl.search_rooms(&hit("\\")).await.unwrap()),
        vec![name]
    );
    assert_eq!(
        names(gl.search_rooms(&hit("o'brien")).await.unwrap()),
        vec![name]
    );
    assert_eq!(
        names(gl.search_rooms(&hit("SSSS")).await.unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(
        names(gl.search_rooms(&hit("ßß")).await.unwrap()),
        vec![long.clone()]
    );
    assert_eq!(
        names(gl.search_rooms(&hit("100 x")).await.unwrap()),
        vec!["Plain 100 x"]
    );
    assert_eq!(
        gl.find_room(&room(&plain.friendly_id)).await.unwrap(),
        Some(plain)
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM users").await, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_rooms_are_found_or_created_once() {
    let (pool, gl) = setup(true).await;
    // Alice has one.
    let alice = gl.home_room(&email("alice@example.org")).await.unwrap();
    assert_eq!(
        (alice.id.as_str(), alice.friendly_id.as_str()),
        ("1", "ali-7kq-2mx-9fd")
    );
    assert!(alice.options.values().filter(|v| *v == "true").count() == 0);
    assert_eq!(count(&pool, "SELECT count(*) FROM rooms").await, 5);

    // Carol has none: two callers at once create exactly one.
    let carol = email("carol.legacy@example.org");
    let (a, b) = tokio::join!(gl.home_room(&carol), gl.home_room(&carol));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM rooms WHERE user_id = 3").await,
        1
    );
    let row = room_of(&pool, &a).await;
    assert_eq!(row.name.as_deref(), Some("Home Room"));
    assert_eq!(row.room_settings.as_deref(), Some("{ }"));
    assert_v2_uid(row.uid.as_deref().unwrap(), "car");
    assert_meeting_passwords(&row);
    let carol_row = user_db(&pool, "3").await;
    assert_eq!(carol_row.room_id, Some(row.id));
    assert!(
        fresh(carol_row.updated_age),
        "linking the room updates the user"
    );
    assert_eq!(gl.home_room(&carol).await.unwrap(), a);

    // Erin's home room was soft-deleted: she gets a new one.
    let erin = gl.home_room(&email("erin@example.org")).await.unwrap();
    assert_ne!(erin.id, "5");
    assert_eq!(
        user_db(&pool, "5").await.room_id,
        Some(erin.id.parse().unwrap())
    );

    let err = gl.home_room(&email("dave@example.org")).await.unwrap_err();
    assert!(matches!(err, GreenlightError::UserNotFound(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_and_set_options() {
    let (pool, gl) = setup(true).await;
    let team = room("ali-p3r-8zt-w4c");
    let before_row = room_db(&pool, 2).await.unwrap();
    let renamed = gl
        .rename_room(&team, Some(&room("team-2024")), Some("Team 2024 – ünïcode"))
        .await
        .unwrap();
    assert_eq!(renamed.friendly_id, "team-2024");
    assert_eq!(renamed.name, "Team 2024 – ünïcode");
    let row = room_db(&pool, 2).await.unwrap();
    assert_eq!(row.uid.as_deref(), Some("team-2024"));
    assert!(fresh(row.updated_age) && row.updated_age < before_row.updated_age);
    assert_eq!(row.bbb_id, before_row.bbb_id, "the meeting id stays");
    assert_eq!(gl.find_room(&team).await.unwrap(), None);
    // Only the name; a case change of its own id is no conflict.
    let r = gl
        .rename_room(&room("team-2024"), Some(&room("TEAM-2024")), Some("Team"))
        .await
        .unwrap();
    assert_eq!(
        (r.friendly_id.as_str(), r.name.as_str()),
        ("team-2024", "Team")
    );

    let before = snapshot(&pool).await;
    for (new_id, new_name, expected) in [
        (Some("bob-3nd-k8v-r2w"), None, "already exists"),
        (Some("a.b"), None, "cannot contain '.'"),
        (None, Some("\t"), "empty"),
        (None, None, "give a new room id"),
    ] {
        let new_id = new_id.map(room);
        let err = gl
            .rename_room(&room("team-2024"), new_id.as_ref(), new_name)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
        assert_eq!(snapshot(&pool).await, before);
    }
    let err = gl
        .rename_room(&room("nope-nope"), None, Some("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, GreenlightError::RoomNotFound(ref r) if r == "nope-nope"));

    // Options by v3 name land in room_settings and the code columns.
    let updated = gl
        .set_room_options(
            &room("team-2024"),
            &opts(&[
                ("guestPolicy", "ASK_MODERATOR"),
                ("record", "false"),
                ("glViewerAccessCode", ""),
                ("glModeratorAccessCode", "qwerty"),
            ]),
        )
        .await
        .unwrap();
    let row = room_db(&pool, 2).await.unwrap();
    assert_eq!(
        row.room_settings.as_deref(),
        Some(
            r#"{"muteOnStart":true,"requireModeratorApproval":true,"anyoneCanStart":false,"joinModerator":false,"recording":false}"#
        )
    );
    assert_eq!(row.access_code, None);
    assert_eq!(row.moderator_access_code.as_deref(), Some("qwerty"));
    assert_eq!(updated.options["guestPolicy"], "ASK_MODERATOR");
    assert_eq!(updated.options["glViewerAccessCode"], "");
    assert_eq!(updated.options["glModeratorAccessCode"], "qwerty");

    // A home room's "{ }" becomes Greenlight's full object.
    gl.set_room_options(&room("ali-7kq-2mx-9fd"), &opts(&[("muteOnStart", "1")]))
        .await
        .unwrap();
    assert_eq!(
        room_db(&pool, 1).await.unwrap().room_settings.as_deref(),
        Some(
            r#"{"muteOnStart":true,"requireModeratorApproval":false,"anyoneCanStart":false,"joinModerator":false,"recording":false}"#
        )
    );

    let before = snapshot(&pool).await;
    let err = gl
        .set_room_options(
            &room("team-2024"),
            &opts(&[("muteOnStart", "true"), ("x", "1")]),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, GreenlightError::Invalid(_)));
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_are_idempotent_and_reported_per_user() {
    let (pool, gl) = setup(true).await;
    let team = room("ali-p3r-8zt-w4c");
    let results = gl
        .share_room(
            &team,
            &[
                email("bob@example.org"),
                email("carol.legacy@example.org"),
                email("alice@example.org"),
                email("nobody@example.org"),
                email("dave@example.org"),
                email("carol.legacy@example.org"),
            ],
        )
        .await
        .unwrap();
    let summary: Vec<(&str, bool, &str)> = results
        .iter()
        .map(|r| (r.item.as_str(), r.ok, r.message.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("bob@example.org", true, "already shared"),
            ("carol.legacy@example.org", true, "shared"),
            (
                "alice@example.org",
                false,
                "owns the room; nothing to share"
            ),
            (
                "nobody@example.org",
                false,
                "no Greenlight user with that e-mail; create it first"
            ),
            (
                "dave@example.org",
                false,
                "no Greenlight user with that e-mail; create it first"
            ),
            ("carol.legacy@example.org", true, "already shared"),
        ]
    );
    assert_eq!(shares(&pool).await, vec![(2, 2), (2, 2), (2, 3), (2, 4)]);
    let row: (f64,) = sqlx::query_as(
        "SELECT EXTRACT(EPOCH FROM (now() AT TIME ZONE 'UTC') - created_at)::float8 \
         FROM shared_accesses WHERE user_id = 3",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(fresh(row.0));
    let team_room = gl.find_room(&team).await.unwrap().unwrap();
    assert_eq!(
        team_room.shared_with,
        vec![email("bob@example.org"), email("carol.legacy@example.org")]
    );

    // Two sharers at once still write one row.
    let erin = [email("erin@example.org")];
    let (a, b) = tokio::join!(gl.share_room(&team, &erin), gl.share_room(&team, &erin));
    let mut messages = vec![a.unwrap()[0].message.clone(), b.unwrap()[0].message.clone()];
    messages.sort();
    assert_eq!(messages, vec!["already shared", "shared"]);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM shared_accesses WHERE user_id = 5"
        )
        .await,
        1
    );

    // Unsharing removes the duplicates the original tool left, and is idempotent.
    let results = gl
        .unshare_room(
            &team,
            &[
                email("bob@example.org"),
                email("bob@example.org"),
                email("nobody@example.org"),
            ],
        )
        .await
        .unwrap();
    let summary: Vec<(bool, &str)> = results.iter().map(|r| (r.ok, r.message.as_str())).collect();
    assert_eq!(
        summary,
        vec![
            (true, "unshared"),
            (true, "was not shared"),
            (false, "no Greenlight user with that e-mail"),
        ]
    );
    assert_eq!(shares(&pool).await, vec![(2, 3), (2, 4), (2, 5)]);

    let err = gl
        .share_room(&room("no-such-room"), &erin)
        .await
        .unwrap_err();
    assert!(matches!(err, GreenlightError::RoomNotFound(_)));
    let err = gl
        .unshare_room(&room("dav-q2w-e3r-t4y"), &erin)
        .await
        .unwrap_err();
    assert!(matches!(err, GreenlightError::RoomNotFound(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_room_removes_its_shares_and_home_links() {
    let (pool, gl) = setup(true).await;
    let deleted = gl
        .delete_room(&room("ali-p3r-8zt-w4c"), true)
        .await
        .unwrap();
    assert_eq!(deleted.friendly_id, "ali-p3r-8zt-w4c");
    assert_eq!(
        deleted.meeting_id,
        "f1c9a7b3e5d2089c4b6a1e3f5d7c9b0a2e4f6d8c"
    );
    assert_eq!(deleted.recordings_removed, 0);
    assert!(room_db(&pool, 2).await.is_none());
    assert_eq!(shares(&pool).await, Vec::<(i64, i64)>::new());

    // A home room: the owner's room_id is cleared; home_room later makes a new one.
    gl.delete_room(&room("ali-7kq-2mx-9fd"), false)
        .await
        .unwrap();
    assert!(room_db(&pool, 1).await.is_none());
    assert_eq!(user_db(&pool, "1").await.room_id, None);
    assert_eq!(count(&pool, "SELECT count(*) FROM rooms").await, 3);

    let before = snapshot(&pool).await;
    for r in ["ali-7kq-2mx-9fd", "dav-q2w-e3r-t4y"] {
        let err = gl.delete_room(&room(r), false).await.unwrap_err();
        assert!(matches!(err, GreenlightError::RoomNotFound(_)), "{err}");
    }
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_users_with_each_room_disposition() {
    let (pool, gl) = setup(true).await;
    let alice = email("alice@example.org");

    // Alice owns a room besides her home room: refused, nothing changes.
    let before = snapshot(&pool).await;
    let err = gl
        .delete_user(&alice, &RoomDisposition::Refuse, false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, GreenlightError::OwnsRooms { rooms: 1, .. }),
        "{err}"
    );
    for (to, expected) in [
        ("nobody@example.org", "no Greenlight user"),
        ("alice@example.org", "same user"),
    ] {
        let err = gl
            .delete_user(&alice, &RoomDisposition::TransferTo(email(to)), false)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
    let err = gl
        .delete_user(
            &email("nobody@example.org"),
            &RoomDisposition::Delete,
            false,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, GreenlightError::UserNotFound(_)));
    assert_eq!(snapshot(&pool).await, before);

    // Bob has only his home room, which goes with him; so do the shares made TO him.
    let bob = gl
        .delete_user(&email("bob@example.org"), &RoomDisposition::Refuse, false)
        .await
        .unwrap();
    assert_eq!(bob.email.as_str(), "bob@example.org");
    assert_eq!(bob.transferred_rooms, Vec::<String>::new());
    assert_eq!(bob.deleted_rooms.len(), 1);
    assert_eq!(bob.deleted_rooms[0].friendly_id, "bob-3nd-k8v-r2w");
    assert_eq!(
        bob.deleted_rooms[0].meeting_id,
        "k2m9q4w7e1r8t5y3u6i0o2p4a7s9d1f3g5h8j0k2"
    );
    assert!(room_db(&pool, 3).await.is_none());
    assert_eq!(shares(&pool).await, vec![(2, 4)]);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM users WHERE id = 2").await,
        0
    );

    // Alice's rooms go to Erin, whose own home room link stays as it is.
    let gone = gl
        .delete_user(
            &alice,
            &RoomDisposition::TransferTo(email("erin@example.org")),
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        gone.transferred_rooms,
        vec!["ali-7kq-2mx-9fd", "ali-p3r-8zt-w4c"]
    );
    assert!(gone.deleted_rooms.is_empty());
    for id in [1, 2] {
        let r = room_db(&pool, id).await.unwrap();
        assert_eq!(r.user_id, Some(5));
        assert!(fresh(r.updated_age));
    }
    assert_eq!(user_db(&pool, "5").await.room_id, Some(5));
    let moved = gl
        .find_room(&room("ali-p3r-8zt-w4c"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(moved.owner_email.as_str(), "erin@example.org");
    // Alice's rolify row went with her; Carol's stays.
    let roles: Vec<(i64,)> = sqlx::query_as("SELECT user_id::int8 FROM users_roles")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(roles, vec![(3,)]);

    // Dave was soft-deleted in Greenlight: purged with his deleted room and his share.
    let dave = gl
        .delete_user(&email("dave@example.org"), &RoomDisposition::Delete, false)
        .await
        .unwrap();
    assert_eq!(dave.deleted_rooms.len(), 1);
    assert_eq!(dave.deleted_rooms[0].friendly_id, "dav-q2w-e3r-t4y");
    assert!(room_db(&pool, 4).await.is_none());
    assert_eq!(shares(&pool).await, Vec::<(i64, i64)>::new());

    // Erin now owns three live rooms and one deleted one: Delete takes them all.
    let erin = gl
        .delete_user(&email("erin@example.org"), &RoomDisposition::Delete, false)
        .await
        .unwrap();
    let mut ids: Vec<String> = erin
        .deleted_rooms
        .into_iter()
        .map(|r| r.friendly_id)
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        vec!["ali-7kq-2mx-9fd", "ali-p3r-8zt-w4c", "eri-a1s-d2f-g3h"]
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM rooms").await, 0);
    // Carol (no rooms) with her users_roles row.
    gl.delete_user(
        &email("carol.legacy@example.org"),
        &RoomDisposition::Refuse,
        false,
    )
    .await
    .unwrap();
    assert_eq!(count(&pool, "SELECT count(*) FROM users").await, 0);
    assert_eq!(count(&pool, "SELECT count(*) FROM users_roles").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_by_name_owner_and_id() {
    let (pool, gl) = setup(true).await;
    let extra = gl
        .create_room(&email("alice@example.org"), &new_room("Home Work"))
        .await
        .unwrap();
    let ids = |rooms: Vec<GlRoom>| rooms.into_iter().map(|r| r.friendly_id).collect::<Vec<_>>();
    // Case-insensitive, deleted rooms (Erin's home) left out.
    let home = gl
        .search_rooms(&RoomSearch::Name("HOME".into()))
        .await
        .unwrap();
    assert_eq!(
        ids(home),
        vec![
            "ali-7kq-2mx-9fd",
            "bob-3nd-k8v-r2w",
            extra.friendly_id.as_str()
        ]
    );
    // Greenlight's order: home room first, then by last session, never-used last.
    sqlx::query("UPDATE rooms SET last_session = '2023-05-01 10:00' WHERE id = $1")
        .bind(extra.id.parse::<i64>().unwrap())
        .execute(&pool)
        .await
        .unwrap();
    let mine = gl
        .search_rooms(&RoomSearch::OwnerEmail(email("alice@example.org")))
        .await
        .unwrap();
    assert_eq!(
        ids(mine),
        vec![
            "ali-7kq-2mx-9fd",
            extra.friendly_id.as_str(),
            "ali-p3r-8zt-w4c"
        ]
    );
    let by_id = gl
        .search_rooms(&RoomSearch::Id(room("bob-3nd-k8v-r2w")))
        .await
        .unwrap();
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_id[0].owner_name, "Bob Example");
    assert!(
        gl.search_rooms(&RoomSearch::OwnerEmail(email("dave@example.org")))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        gl.search_rooms(&RoomSearch::Id(room("eri-a1s-d2f-g3h")))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meeting_start_moves_greenlights_counters() {
    let (pool, gl) = setup(true).await;
    let bbb = "f1c9a7b3e5d2089c4b6a1e3f5d7c9b0a2e4f6d8c";
    gl.meeting_started(bbb, 1_700_000_000_123).await.unwrap();
    let row = room_db(&pool, 2).await.unwrap();
    assert_eq!(row.sessions, Some(4));
    assert_eq!(row.last_session_ms, Some(1_700_000_000_123));
    assert!(fresh(row.updated_age));
    let r = gl
        .find_room(&room("ali-p3r-8zt-w4c"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        r.last_session.map(|t| t.as_millisecond()),
        Some(1_700_000_000_123)
    );
    assert!(!r.online);

    let before = snapshot(&pool).await;
    gl.meeting_ended(bbb).await.unwrap();
    for (id, ms, expected) in [
        ("no-such-meeting", 1_700_000_000_000, "no Greenlight room"),
        (
            "p0o9i8u7y6t5r4e3w2q1a2s3d4f5g6h7j8k9l0m1",
            1_700_000_000_000,
            "no Greenlight room",
        ),
        (bbb, 0, "not a BBB createTime"),
        (bbb, -5, "not a BBB createTime"),
        (bbb, i64::MAX, "not a BBB createTime"),
    ] {
        let err = gl.meeting_started(id, ms).await.unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
    assert_eq!(snapshot(&pool).await, before);
}

// ---------------------------------------------------------------- migrated install

/// The shape of an install built by running every migration since 2018 (serial ids, bigint
/// references, foreign keys on shares), with Greenlight-written sample content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_on_a_migrated_install_built_from_the_shared_schema() {
    let (Some(schema), Some(overlay)) = (
        shared("greenlight-v2.sql"),
        shared("greenlight-v2-migrated-overlay.sql"),
    ) else {
        eprintln!("shared v2 schema or overlay not present; tested nothing");
        return;
    };
    let mut files = vec![schema, overlay];
    let sample = shared("greenlight-v2-sample.sql");
    let has_sample = sample.is_some();
    files.extend(sample);
    let pool = database(&files).await;
    let fks = count(
        &pool,
        "SELECT count(*) FROM pg_constraint WHERE contype = 'f' \
         AND conrelid = 'shared_accesses'::regclass",
    )
    .await;
    assert_eq!(fks, 2, "the overlay adds foreign keys on shares");
    let gl = GreenlightV2::new(pool.clone(), None, COST);
    let report = gl.check_schema().await.unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    if !has_sample {
        // Owners and sharees of our own making.
        for (mail, name) in [("alice@example.org", "Alice"), ("bob@example.org", "Bob")] {
            gl.create_user(&new_user(mail, name, Some("Secret-1!")))
                .await
                .unwrap();
        }
    }
    let zed = gl
        .create_user(&new_user("zed@uni.example", "Zed", Some("Zed-Secret1!")))
        .await
        .unwrap();
    let digest = user_db(&pool, &zed.id).await.password_digest.unwrap();
    assert!(python_checkpw("Zed-Secret1!", &digest));
    let zed_home = user_db(&pool, &zed.id).await.room_id.unwrap();

    let owner = email("zed@uni.example");
    let r = gl
        .create_room(
            &owner,
            &NewRoom {
                friendly_id: Some(room("zed-lecture")),
                options: opts(&[("record", "true")]),
                ..new_room("Zed's lecture")
            },
        )
        .await
        .unwrap();
    let share = gl
        .share_room(
            &room("zed-lecture"),
            &[email("alice@example.org"), email("bob@example.org")],
        )
        .await
        .unwrap();
    assert!(share.iter().all(|s| s.ok), "{share:?}");
    gl.meeting_started(&r.meeting_id, 1_700_000_000_000)
        .await
        .unwrap();
    let renamed = gl
        .rename_room(&room("zed-lecture"), Some(&room("zed-2")), None)
        .await
        .unwrap();
    assert_eq!(renamed.shared_with.len(), 2);
    // Alice's own home room exists (sample) or was made at creation.
    let home = gl.home_room(&email("alice@example.org")).await.unwrap();
    gl.share_room(&room(&home.friendly_id), std::slice::from_ref(&owner))
        .await
        .unwrap();

    // Foreign keys: shares must go before rooms and users.
    gl.delete_room(&room("zed-2"), false).await.unwrap();
    gl.delete_user(&email("bob@example.org"), &RoomDisposition::Refuse, false)
        .await
        .unwrap();
    let gone = gl
        .delete_user(&owner, &RoomDisposition::Delete, false)
        .await
        .unwrap();
    assert_eq!(gone.deleted_rooms.len(), 1);
    assert!(room_db(&pool, zed_home).await.is_none());
    let users_left: Vec<(String,)> = sqlx::query_as("SELECT email FROM users ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(users_left, vec![("alice@example.org".to_string(),)]);
    assert_eq!(shares(&pool).await, Vec::<(i64, i64)>::new());
}

//! Greenlight 3.x on a real (throwaway) PostgreSQL: every operation's rows, column by column,
//! against docs/greenlight.md; failures leave no rows; hostile input is stored verbatim;
//! bcrypt digests verified by two independent implementations.

use schedulight::domain::{Email, RoomRef, Secret};
use schedulight::greenlight::v3::GreenlightV3;
use schedulight::greenlight::{
    GlRoom, Greenlight, GreenlightError, GreenlightVersion, ItemResult, NewRoom, NewUser,
    RoomDisposition, RoomSearch,
};
use schedulight::testkit::pg::PgCluster;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};
use std::collections::BTreeMap;
use std::path::PathBuf;

const FIXTURE: &str = include_str!("fixtures/greenlight/v3-schema.sql");
const PASSWORD: &str = "Gr33n-light!";

// ------------------------------------------------------------------------ helpers

async fn empty_db() -> PgPool {
    let url = PgCluster::shared()
        .expect("throwaway PostgreSQL")
        .fresh_database()
        .await
        .expect("fresh database");
    PgPoolOptions::new()
        .max_connections(3)
        .connect(&url)
        .await
        .expect("connect to the test database")
}

async fn apply(pool: &PgPool, sql: &str) {
    sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
        .execute(pool)
        .await
        .expect("apply SQL");
}

/// A fresh database holding our v3 fixture.
async fn gl_db() -> PgPool {
    let pool = empty_db().await;
    apply(&pool, FIXTURE).await;
    pool
}

fn gl(pool: &PgPool) -> GreenlightV3 {
    GreenlightV3::new(pool.clone(), None, 4)
}

fn email(s: &str) -> Email {
    s.parse().expect("test e-mail")
}

fn room_ref(s: &str) -> RoomRef {
    s.parse().expect("test room id")
}

fn local(addr: &str, name: &str) -> NewUser {
    NewUser {
        email: email(addr),
        name: name.into(),
        password: Some(Secret::new(PASSWORD)),
        role: None,
        external_id: None,
        language: None,
        uid: None,
        provider: None,
    }
}

fn named_room(name: &str) -> NewRoom {
    NewRoom {
        name: name.into(),
        ..NewRoom::default()
    }
}

async fn count(pool: &PgPool, table: &'static str) -> i64 {
    // Table names come from this file only.
    sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .expect("count")
}

async fn scalar_text(pool: &PgPool, sql: &'static str, arg: &str) -> Option<String> {
    sqlx::query_scalar(sql)
        .bind(arg)
        .fetch_optional(pool)
        .await
        .expect("query")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// pyca bcrypt from the pinned test venv; the password goes as hex so argv stays ASCII.
fn python_bcrypt_verifies(password: &str, digest: &str) -> bool {
    const CHECK: &str = "import sys, bcrypt\n\
        ok = bcrypt.checkpw(bytes.fromhex(sys.argv[1]), sys.argv[2].encode())\n\
        sys.exit(10 if ok else 11)";
    let venv = schedulight::testkit::python::test_venv().expect("python test venv");
    let out = std::process::Command::new(venv.python())
        .args(["-c", CHECK, &hex(password.as_bytes()), digest])
        .output()
        .expect("run python");
    match out.status.code() {
        Some(10) => true,
        Some(11) => false,
        _ => panic!(
            "python bcrypt check failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The effective options every new room gets under the fixture's rooms configuration
/// (greenlight.md §4.2: record and muteOnStart default_enabled, the rest optional).
fn default_options() -> BTreeMap<String, String> {
    [
        ("record", "true"),
        ("muteOnStart", "true"),
        ("guestPolicy", "ALWAYS_ACCEPT"),
        ("glAnyoneCanStart", "false"),
        ("glAnyoneJoinAsModerator", "false"),
        ("glRequireAuthentication", "false"),
        ("glModeratorAccessCode", ""),
        ("glViewerAccessCode", ""),
        ("serverTag", ""),
        ("serverTagRequired", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[derive(Debug, sqlx::FromRow)]
struct UserDb {
    id: String,
    name: String,
    email: String,
    external_id: Option<String>,
    provider: String,
    password_digest: Option<String>,
    last_login_set: bool,
    role_name: Option<String>,
    role_provider: Option<String>,
    language: String,
    reset_set: bool,
    verified: Option<bool>,
    verification_set: bool,
    session_token: Option<String>,
    token_is_hex64: bool,
    status: Option<i32>,
    created_age_s: f64,
    same_timestamps: bool,
    expiry_hours: f64,
}

async fn user_row(pool: &PgPool, addr: &str, provider: &str) -> Option<UserDb> {
    sqlx::query_as::<_, UserDb>(
        "SELECT u.id::text AS id, u.name, u.email, u.external_id, u.provider, u.password_digest, \
                u.last_login IS NOT NULL AS last_login_set, \
                r.name AS role_name, r.provider AS role_provider, u.language, \
                (u.reset_digest IS NOT NULL OR u.reset_sent_at IS NOT NULL) AS reset_set, \
                u.verified, \
                (u.verification_digest IS NOT NULL OR u.verification_sent_at IS NOT NULL) \
                    AS verification_set, \
                u.session_token, coalesce(u.session_token ~ '^[0-9a-f]{64}$', false) AS token_is_hex64, \
                u.status, \
                extract(epoch FROM (now() AT TIME ZONE 'UTC') - u.created_at)::float8 AS created_age_s, \
                u.created_at = u.updated_at AS same_timestamps, \
                extract(epoch FROM u.session_expiry - u.created_at)::float8 / 3600 AS expiry_hours \
         FROM users u LEFT JOIN roles r ON r.id = u.role_id \
         WHERE u.email = $1 AND u.provider = $2",
    )
    .bind(addr)
    .bind(provider)
    .fetch_optional(pool)
    .await
    .expect("user row")
}

#[derive(Debug, sqlx::FromRow)]
struct RoomDb {
    user_id: Option<String>,
    name: String,
    friendly_id: String,
    meeting_id: String,
    fid_format: bool,
    mid_format: bool,
    last_session_set: bool,
    recordings_processing: Option<i32>,
    online: Option<bool>,
    created_age_s: f64,
    same_timestamps: bool,
}

async fn room_row(pool: &PgPool, friendly_id: &str) -> Option<RoomDb> {
    sqlx::query_as::<_, RoomDb>(
        "SELECT user_id::text AS user_id, name, friendly_id, meeting_id, \
                friendly_id ~ '^[a-z0-9]{3}-[a-z0-9]{3}-[a-z0-9]{3}-[a-z0-9]{3}$' AS fid_format, \
                meeting_id ~ '^[a-z0-9]{40}$' AS mid_format, \
                last_session IS NOT NULL AS last_session_set, recordings_processing, online, \
                extract(epoch FROM (now() AT TIME ZONE 'UTC') - created_at)::float8 AS created_age_s, \
                created_at = updated_at AS same_timestamps \
         FROM rooms WHERE friendly_id = $1",
    )
    .bind(friendly_id)
    .fetch_optional(pool)
    .await
    .expect("room row")
}

/// The stored option rows of a room: name → value, plus how many rows there are, whether
/// every meeting option appears exactly once, and whether all timestamps are fresh.
async fn option_rows(pool: &PgPool, friendly_id: &str) -> (BTreeMap<String, String>, i64, bool) {
    let rows: Vec<(String, Option<String>, bool)> = sqlx::query_as(
        "SELECT mo.name, rmo.value, \
                (now() AT TIME ZONE 'UTC') - rmo.created_at < interval '1 minute' \
                AND rmo.updated_at >= rmo.created_at \
         FROM room_meeting_options rmo \
         JOIN meeting_options mo ON mo.id = rmo.meeting_option_id \
         JOIN rooms r ON r.id = rmo.room_id WHERE r.friendly_id = $1",
    )
    .bind(friendly_id)
    .fetch_all(pool)
    .await
    .expect("option rows");
    let n = rows.len() as i64;
    let fresh = rows.iter().all(|r| r.2);
    let map: BTreeMap<String, String> = rows
        .into_iter()
        .map(|(k, v, _)| (k, v.unwrap_or_else(|| "<NULL>".into())))
        .collect();
    assert_eq!(map.len() as i64, n, "one row per meeting option");
    (map, n, fresh)
}

async fn setup_owner(g: &GreenlightV3, addr: &str, name: &str) {
    g.create_user(&local(addr, name))
        .await
        .expect("create owner");
}

fn is_code(s: &str) -> bool {
    s.len() == 6
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

// ------------------------------------------------------------------------ schema

/// Catalogue queries whose sorted text rows describe a schema and its seed rows.
const CATALOGUE: &[(&str, &str)] = &[
    (
        "tables",
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' ORDER BY 1",
    ),
    (
        "columns",
        "SELECT concat_ws(' | ', table_name, ordinal_position, column_name, data_type, udt_name, \
                coalesce(character_maximum_length::text, '-'), \
                coalesce(datetime_precision::text, '-'), is_nullable, \
                coalesce(column_default, '-')) \
         FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1",
    ),
    (
        "indexes",
        "SELECT tablename || ' | ' || indexname || ' | ' || indexdef \
         FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1",
    ),
    (
        "constraints",
        "SELECT conrelid::regclass::text || ' | ' || conname || ' | ' || contype::text || ' | ' || \
                pg_get_constraintdef(oid) \
         FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1",
    ),
    (
        "sequences",
        "SELECT sequence_name || ' | ' || data_type FROM information_schema.sequences \
         WHERE sequence_schema = 'public' ORDER BY 1",
    ),
    (
        "extensions",
        "SELECT extname::text FROM pg_extension ORDER BY 1",
    ),
    (
        "meeting options",
        "SELECT name || ' = ' || coalesce(default_value, '<NULL>') FROM meeting_options ORDER BY 1",
    ),
    (
        "roles",
        "SELECT name || ' | ' || provider || ' | ' || color FROM roles ORDER BY 1",
    ),
    (
        "rooms configurations",
        "SELECT mo.name || ' | ' || rc.provider || ' | ' || rc.value \
         FROM rooms_configurations rc JOIN meeting_options mo ON mo.id = rc.meeting_option_id \
         ORDER BY 1",
    ),
    (
        "site settings",
        "SELECT s.name || ' | ' || ss.provider || ' | ' || ss.value \
         FROM site_settings ss JOIN settings s ON s.id = ss.setting_id ORDER BY 1",
    ),
    ("settings", "SELECT name FROM settings ORDER BY 1"),
    ("permissions", "SELECT name FROM permissions ORDER BY 1"),
    (
        "role permissions",
        "SELECT r.name || ' | ' || r.provider || ' | ' || p.name || ' | ' || rp.value \
         FROM role_permissions rp JOIN roles r ON r.id = rp.role_id \
         JOIN permissions p ON p.id = rp.permission_id ORDER BY 1",
    ),
    (
        "schema migrations",
        "SELECT version FROM schema_migrations ORDER BY 1",
    ),
    (
        "data migrations",
        "SELECT version FROM data_migrations ORDER BY 1",
    ),
    (
        "environment",
        "SELECT key || ' = ' || coalesce(value, '') FROM ar_internal_metadata ORDER BY 1",
    ),
];

async fn catalogue(pool: &PgPool, sql: &'static str) -> Vec<String> {
    sqlx::query_scalar(sql)
        .fetch_all(pool)
        .await
        .expect("catalogue query")
}

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/greenlight-schema")
}

#[tokio::test]
async fn fixture_matches_the_shared_reference_schema() {
    let reference = reference_dir().join("greenlight-v3.sql");
    if !reference.exists() {
        eprintln!(
            "{} not found: nothing to compare our fixture with",
            reference.display()
        );
        return;
    }
    let ours = gl_db().await;
    let theirs = empty_db().await;
    apply(
        &theirs,
        &std::fs::read_to_string(&reference).expect("read reference schema"),
    )
    .await;
    for (what, sql) in CATALOGUE {
        let a = catalogue(&ours, sql).await;
        let b = catalogue(&theirs, sql).await;
        assert!(!a.is_empty(), "no {what} in our fixture");
        let only_ours: Vec<_> = a.iter().filter(|x| !b.contains(x)).collect();
        let only_theirs: Vec<_> = b.iter().filter(|x| !a.contains(x)).collect();
        assert!(
            a == b,
            "{what} differ\n only in our fixture: {only_ours:#?}\n only in the reference: {only_theirs:#?}"
        );
    }

    // Our code reads the reference sample (written as Greenlight writes it) correctly.
    let sample = reference_dir().join("greenlight-v3-sample.sql");
    if sample.exists() {
        apply(
            &theirs,
            &std::fs::read_to_string(&sample).expect("read sample"),
        )
        .await;
        let g = gl(&theirs);
        let room = g
            .find_room(&room_ref("k3x-9bq-a7m-2pd"))
            .await
            .unwrap()
            .expect("sample room");
        assert_eq!(room.meeting_id, "ujzde8gxd6ncf10epf91dhodzdoc9is0j8ht9lgm");
        assert_eq!(room.owner_email, email("alice@example.org"));
        assert_eq!(room.shared_with, vec![email("bob@example.org")]);
        assert_eq!(room.options, default_options());
        let bob = g
            .find_user(&email("bob@example.org"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(bob.external_id.as_deref(), Some("a1b2c3d4-oidc-sub-bob"));
        assert!(!bob.has_password);
        // A room we add next to Greenlight's sample is shaped like Greenlight's.
        let ours = g
            .create_room(&email("bob@example.org"), &named_room("Bob's extra"))
            .await
            .unwrap();
        assert_eq!(ours.options, room.options);
    }
}

#[tokio::test]
async fn check_schema_reports_version_and_problems() {
    let pool = gl_db().await;
    let report = gl(&pool).check_schema().await.unwrap();
    assert_eq!(report.version, Some(GreenlightVersion::V3));
    assert_eq!(report.schema_version.as_deref(), Some("20260402000000"));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(gl(&pool).version(), GreenlightVersion::V3);

    // A newer Greenlight: a warning, not a failure.
    apply(
        &pool,
        "INSERT INTO schema_migrations (version) VALUES ('20270115093000')",
    )
    .await;
    let report = gl(&pool).check_schema().await.unwrap();
    assert_eq!(report.schema_version.as_deref(), Some("20270115093000"));
    assert!(
        report.warnings.iter().any(|w| w.contains("20270115093000")),
        "{:?}",
        report.warnings
    );

    // A provider without roles is suspicious.
    let other = GreenlightV3::new(pool.clone(), Some("nobody".into()), 4);
    let report = other.check_schema().await.unwrap();
    assert!(report.warnings.iter().any(|w| w.contains("no roles")));

    // A column we write is missing: refuse, naming it.
    apply(&pool, "ALTER TABLE users DROP COLUMN session_expiry").await;
    match gl(&pool).check_schema().await {
        Err(GreenlightError::Schema(msg)) => assert!(msg.contains("users.session_expiry"), "{msg}"),
        other => panic!("expected a schema error, got {other:?}"),
    }

    // A v2 database is not ours.
    let v2 = empty_db().await;
    apply(
        &v2,
        "CREATE TABLE rooms (id bigserial PRIMARY KEY, uid varchar, bbb_id varchar)",
    )
    .await;
    assert!(matches!(
        gl(&v2).check_schema().await,
        Err(GreenlightError::Schema(_))
    ));
}

// ------------------------------------------------------------------------ users

#[tokio::test]
async fn create_local_user_writes_greenlights_row() {
    let pool = gl_db().await;
    let g = gl(&pool);
    let mut new = local("Ann.Example@Uni.Example", "Ann Example");
    new.password = Some(Secret::new("Pässwort-1234!"));
    let user = g.create_user(&new).await.unwrap();
    assert_eq!(user.email.as_str(), "ann.example@uni.example");
    assert_eq!(user.provider, "greenlight");
    assert_eq!(user.role.as_deref(), Some("User"));
    assert!(user.has_password && user.verified);
    assert!(user.external_id.is_none());

    let row = user_row(&pool, "ann.example@uni.example", "greenlight")
        .await
        .expect("row");
    assert_eq!(row.id, user.id);
    assert_eq!(row.name, "Ann Example");
    assert_eq!(row.email, "ann.example@uni.example");
    assert_eq!(row.external_id, None);
    assert_eq!(row.provider, "greenlight");
    assert_eq!(row.role_name.as_deref(), Some("User"));
    assert_eq!(row.role_provider.as_deref(), Some("greenlight"));
    assert_eq!(row.language, "en");
    assert_eq!(row.verified, Some(true));
    assert_eq!(row.status, Some(0));
    assert!(!row.last_login_set && !row.reset_set && !row.verification_set);
    assert!(row.token_is_hex64, "{:?}", row.session_token);
    assert!(
        (23.99..=24.01).contains(&row.expiry_hours),
        "{}",
        row.expiry_hours
    );
    assert!(
        (-1.0..60.0).contains(&row.created_age_s),
        "UTC timestamps: {}",
        row.created_age_s
    );
    assert!(row.same_timestamps);

    let digest = row.password_digest.expect("digest");
    assert!(
        digest.starts_with("$2a$04$") && digest.len() == 60,
        "{digest}"
    );
    assert!(bcrypt::verify("Pässwort-1234!", &digest).unwrap());
    assert!(!bcrypt::verify("Passwort-1234!", &digest).unwrap());
    assert!(python_bcrypt_verifies("Pässwort-1234!", &digest));
    assert!(!python_bcrypt_verifies("pässwort-1234!", &digest));

    assert_eq!(
        g.find_user(&email("ann.example@uni.example"))
            .await
            .unwrap(),
        Some(user)
    );
    assert_eq!(
        g.find_user(&email("nobody@uni.example")).await.unwrap(),
        None
    );
    assert!(matches!(
        g.create_user(&local("ann.example@uni.example", "Again"))
            .await,
        Err(GreenlightError::UserExists(_))
    ));
    assert_eq!(count(&pool, "users").await, 1);
}

#[tokio::test]
async fn default_bcrypt_cost_is_greenlights_12() {
    let pool = gl_db().await;
    let g = GreenlightV3::new(
        pool.clone(),
        None,
        schedulight::greenlight::common::DEFAULT_BCRYPT_COST,
    );
    g.create_user(&local("cost@uni.example", "Cost Twelve"))
        .await
        .unwrap();
    let digest = user_row(&pool, "cost@uni.example", "greenlight")
        .await
        .unwrap()
        .password_digest
        .unwrap();
    assert!(digest.starts_with("$2a$12$"), "{digest}");
    assert!(bcrypt::verify(PASSWORD, &digest).unwrap());
    assert!(python_bcrypt_verifies(PASSWORD, &digest));
}

#[tokio::test]
async fn external_users_roles_and_languages() {
    let pool = gl_db().await;
    let g = gl(&pool);
    let oidc = NewUser {
        email: email("oidc@uni.example"),
        name: "Olga Idc".into(),
        password: None,
        role: Some("administrator".into()),
        external_id: Some("a1b2c3-sub".into()),
        language: Some("de".into()),
        uid: None,
        provider: None,
    };
    let u = g.create_user(&oidc).await.unwrap();
    assert_eq!(u.role.as_deref(), Some("Administrator"));
    assert!(!u.has_password);
    let row = user_row(&pool, "oidc@uni.example", "greenlight")
        .await
        .unwrap();
    assert_eq!(row.password_digest, None);
    assert_eq!(row.external_id.as_deref(), Some("a1b2c3-sub"));
    assert_eq!(row.language, "de");
    assert_eq!(row.role_name.as_deref(), Some("Administrator"));
    assert!(row.token_is_hex64);

    // The DefaultRole site setting decides when no role is given.
    apply(
        &pool,
        "UPDATE site_settings SET value = 'Guest' \
         WHERE setting_id = (SELECT id FROM settings WHERE name = 'DefaultRole')",
    )
    .await;
    let guest = g
        .create_user(&local("guest@uni.example", "G"))
        .await
        .unwrap();
    assert_eq!(guest.role.as_deref(), Some("Guest"));
    // RoleMapping wins over DefaultRole for matching addresses.
    apply(
        &pool,
        "UPDATE site_settings SET value = 'Administrator=@staff.uni.example' \
         WHERE setting_id = (SELECT id FROM settings WHERE name = 'RoleMapping')",
    )
    .await;
    let staff = g
        .create_user(&local("boss@staff.uni.example", "Boss"))
        .await
        .unwrap();
    assert_eq!(staff.role.as_deref(), Some("Administrator"));
    // A DefaultRole naming no role falls back to User.
    apply(
        &pool,
        "UPDATE site_settings SET value = 'Vanished' \
         WHERE setting_id = (SELECT id FROM settings WHERE name = 'DefaultRole')",
    )
    .await;
    let plain = g
        .create_user(&local("plain@uni.example", "P"))
        .await
        .unwrap();
    assert_eq!(plain.role.as_deref(), Some("User"));

    // Roles of another provider are not roles of ours.
    let mut admin = local("super@uni.example", "S");
    admin.role = Some("SuperAdmin".into());
    assert!(matches!(
        g.create_user(&admin).await,
        Err(GreenlightError::RoleNotFound(_))
    ));

    // Unique tokens across users; every user's role shares the user's provider.
    let (n, distinct, same_provider): (i64, i64, bool) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT session_token), bool_and(r.provider = u.provider) \
         FROM users u JOIN roles r ON r.id = u.role_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((n, distinct, same_provider), (4, 4, true));
}

#[tokio::test]
async fn refused_users_leave_no_rows() {
    let pool = gl_db().await;
    let g = gl(&pool);
    let cases: Vec<(NewUser, &str)> = vec![
        (
            NewUser {
                role: Some("Nope".into()),
                ..local("a@uni.example", "A")
            },
            "role",
        ),
        (
            NewUser {
                password: Some(Secret::new("hunter22")),
                ..local("b@uni.example", "B")
            },
            "weak password",
        ),
        (local("jürgen@uni.example", "J"), "non-ASCII address"),
        (local("c@uni.example", &"n".repeat(256)), "long name"),
        (
            NewUser {
                language: Some("en'; --".into()),
                ..local("d@uni.example", "D")
            },
            "language",
        ),
        (
            NewUser {
                external_id: Some("  ".into()),
                ..local("e@uni.example", "E")
            },
            "blank external id",
        ),
    ];
    for (user, what) in cases {
        let err = g.create_user(&user).await.expect_err(what);
        assert!(matches!(
            err,
            GreenlightError::Invalid(_) | GreenlightError::RoleNotFound(_)
        ));
        let msg = err.to_string();
        assert!(
            !msg.contains(PASSWORD) && !msg.contains("hunter22"),
            "{what}: password echoed: {msg}"
        );
    }
    assert_eq!(count(&pool, "users").await, 0);

    // Weak passwords are fine for external accounts (Greenlight checks local ones only);
    // a blank name becomes the address's local part.
    let ext = NewUser {
        password: Some(Secret::new("x")),
        external_id: Some("sub-1".into()),
        name: " ".into(),
        ..local("ext@uni.example", "")
    };
    let u = g.create_user(&ext).await.unwrap();
    assert_eq!(u.name, "ext");
}

#[tokio::test]
async fn hostile_input_is_stored_verbatim() {
    let pool = gl_db().await;
    let g = gl(&pool);
    let hostile = "Robert'); DROP TABLE users;-- 50%_off \"quoted\" \\ Zoë 日本 😀";
    let long: String = "ß".repeat(255);
    g.create_user(&local("bobby@uni.example", hostile))
        .await
        .unwrap();
    g.create_user(&local("long@uni.example", &long))
        .await
        .unwrap();
    assert_eq!(
        user_row(&pool, "bobby@uni.example", "greenlight")
            .await
            .unwrap()
            .name,
        hostile
    );
    assert_eq!(
        user_row(&pool, "long@uni.example", "greenlight")
            .await
            .unwrap()
            .name,
        long
    );
    let owner = email("bobby@uni.example");
    for name in [
        hostile,
        long.as_str(),
        "50%_off",
        "500 off",
        "50x_off",
        "a_b",
    ] {
        let room = g.create_room(&owner, &named_room(name)).await.unwrap();
        assert_eq!(room.name, name);
        assert_eq!(room_row(&pool, &room.friendly_id).await.unwrap().name, name);
    }
    let names = |rooms: Vec<GlRoom>| rooms.into_iter().map(|r| r.name).collect::<Vec<_>>();
    let hits = g
        .search_rooms(&RoomSearch::Name("50%_".into()))
        .await
        .unwrap();
    assert_eq!(
        names(hits),
        vec![hostile.to_string(), "50%_off".to_string()]
    );
    let hits = g.search_rooms(&RoomSearch::Name("_".into())).await.unwrap();
    assert_eq!(
        names(hits),
        vec![
            hostile.to_string(),
            "50%_off".into(),
            "50x_off".into(),
            "a_b".into()
        ]
    );
    let hits = g
        .search_rooms(&RoomSearch::Name("ZOë 日本".into()))
        .await
        .unwrap();
    assert_eq!(names(hits), vec![hostile.to_string()]);
    assert_eq!(count(&pool, "users").await, 2);
    // The home room of a 255-character name still fits Greenlight's 255 characters.
    let home = g.home_room(&email("long@uni.example")).await.unwrap();
    assert_eq!(home.name.chars().count(), 255);
    assert!(home.name.ends_with("'s Room"));
}

// ------------------------------------------------------------------------ rooms

#[tokio::test]
async fn create_room_writes_room_and_option_rows() {
    let pool = gl_db().await;
    let g = gl(&pool);
    setup_owner(&g, "owner@uni.example", "Olivia Owner").await;
    let owner_id = user_row(&pool, "owner@uni.example", "greenlight")
        .await
        .unwrap()
        .id;
    let room = g
        .create_room(&email("owner@uni.example"), &named_room("Lecture"))
        .await
        .unwrap();
    let row = room_row(&pool, &room.friendly_id).await.expect("room row");
    assert!(row.fid_format, "{}", row.friendly_id);
    assert!(row.mid_format, "{}", row.meeting_id);
    assert_eq!(row.meeting_id, room.meeting_id);
    assert_eq!(row.user_id.as_deref(), Some(owner_id.as_str()));
    assert_eq!(row.name, "Lecture");
    assert!(!row.last_session_set);
    assert_eq!(row.recordings_processing, Some(0));
    assert_eq!(row.online, Some(false));
    assert!((-1.0..60.0).contains(&row.created_age_s));
    assert!(row.same_timestamps);

    let (stored, n, fresh) = option_rows(&pool, &room.friendly_id).await;
    assert_eq!(n, count(&pool, "meeting_options").await);
    assert!(fresh);
    assert_eq!(stored, default_options());
    assert_eq!(room.options, default_options());
    assert_eq!(room.owner_email, email("owner@uni.example"));
    assert_eq!(room.owner_name, "Olivia Owner");
    assert!(room.shared_with.is_empty() && !room.online && room.last_session.is_none());
    assert!(room.moderator_pw.is_none() && room.attendee_pw.is_none());

    // Many rooms: all ids distinct and in Greenlight's format.
    for i in 0..20 {
        g.create_room(&email("owner@uni.example"), &named_room(&format!("R{i}")))
            .await
            .unwrap();
    }
    let (distinct_f, distinct_m, all_ok): (i64, i64, bool) = sqlx::query_as(
        "SELECT count(DISTINCT friendly_id), count(DISTINCT meeting_id), \
                bool_and(friendly_id ~ '^[a-z0-9]{3}(-[a-z0-9]{3}){3}$' AND meeting_id ~ '^[a-z0-9]{40}$') \
         FROM rooms",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((distinct_f, distinct_m, all_ok), (21, 21, true));
    assert_eq!(count(&pool, "room_meeting_options").await, 21 * 10);

    // The owner must exist.
    assert!(matches!(
        g.create_room(&email("ghost@uni.example"), &named_room("x"))
            .await,
        Err(GreenlightError::UserNotFound(_))
    ));
}

#[tokio::test]
async fn option_rows_follow_the_providers_rooms_configuration() {
    let pool = gl_db().await;
    apply(
        &pool,
        "UPDATE rooms_configurations rc SET value = v.value FROM (VALUES \
            ('glViewerAccessCode', 'true'), ('guestPolicy', 'default_enabled'), \
            ('record', 'false'), ('muteOnStart', 'optional'), ('glModeratorAccessCode', 'default_enabled')) \
            AS v(name, value), meeting_options mo \
         WHERE mo.id = rc.meeting_option_id AND mo.name = v.name AND rc.provider = 'greenlight'; \
         INSERT INTO meeting_options (name, default_value, created_at, updated_at) \
         VALUES ('meetingLayout', 'SMART_LAYOUT', now(), now()); \
         INSERT INTO rooms_configurations (meeting_option_id, provider, value, created_at, updated_at) \
         SELECT id, 'othertenant', 'true', now(), now() FROM meeting_options WHERE name = 'glAnyoneCanStart'",
    )
    .await;
    let g = gl(&pool);
    setup_owner(&g, "owner@uni.example", "Owner").await;
    let room = g
        .create_room(&email("owner@uni.example"), &named_room("Configured"))
        .await
        .unwrap();
    let (stored, n, _) = option_rows(&pool, &room.friendly_id).await;
    assert_eq!(n, 11, "one row per meeting option, the new one included");
    assert!(is_code(&stored["glViewerAccessCode"]), "{stored:?}");
    assert!(is_code(&stored["glModeratorAccessCode"]), "{stored:?}");
    assert_ne!(
        stored["glViewerAccessCode"],
        stored["glModeratorAccessCode"]
    );
    assert_eq!(stored["guestPolicy"], "ASK_MODERATOR");
    assert_eq!(stored["record"], "false");
    assert_eq!(stored["muteOnStart"], "false");
    assert_eq!(
        stored["glAnyoneCanStart"], "false",
        "other tenants' config ignored"
    );
    assert_eq!(stored["meetingLayout"], "SMART_LAYOUT");
    // Effective values: forced configs win (RoomSettingsGetter).
    assert_eq!(
        room.options["glViewerAccessCode"],
        stored["glViewerAccessCode"]
    );
    assert_eq!(room.options["record"], "false");

    // Setting a forced option stores it, but Greenlight (and so GlRoom) keeps the forced value.
    let opts = BTreeMap::from([
        ("record".to_string(), "TRUE".to_string()),
        ("meetingLayout".to_string(), "VIDEO_FOCUS".to_string()),
    ]);
    let updated = g
        .set_room_options(&room_ref(&room.friendly_id), &opts)
        .await
        .unwrap();
    let (stored, _, _) = option_rows(&pool, &room.friendly_id).await;
    assert_eq!(stored["record"], "true");
    assert_eq!(updated.options["record"], "false");
    assert_eq!(updated.options["meetingLayout"], "VIDEO_FOCUS");
}

#[tokio::test]
async fn room_options_codes_and_custom_ids() {
    let pool = gl_db().await;
    let g = gl(&pool);
    setup_owner(&g, "owner@uni.example", "Owner").await;
    let owner = email("owner@uni.example");
    let new = NewRoom {
        name: "Seminar".into(),
        friendly_id: Some(room_ref("Seminar-2026")),
        access_code: Some("123456".into()),
        moderator_access_code: Some("Mod Code 'ä'".into()),
        options: BTreeMap::from([
            ("guestPolicy".to_string(), "ask_moderator".to_string()),
            ("glAnyoneCanStart".to_string(), "True".to_string()),
            ("serverTag".to_string(), "gpu".to_string()),
        ]),
    };
    let room = g.create_room(&owner, &new).await.unwrap();
    assert_eq!(room.friendly_id, "seminar-2026");
    let (stored, n, _) = option_rows(&pool, "seminar-2026").await;
    assert_eq!(n, 10);
    let mut expected = default_options();
    for (k, v) in [
        ("glViewerAccessCode", "123456"),
        ("glModeratorAccessCode", "Mod Code 'ä'"),
        ("guestPolicy", "ASK_MODERATOR"),
        ("glAnyoneCanStart", "true"),
        ("serverTag", "gpu"),
    ] {
        expected.insert(k.into(), v.into());
    }
    assert_eq!(stored, expected);
    assert_eq!(room.options, expected);
    assert!(room_row(&pool, "seminar-2026").await.unwrap().mid_format);

    // Refusals, none of which leaves a row behind.
    let refused = [
        (
            NewRoom {
                friendly_id: Some(room_ref("seminar-2026")),
                ..named_room("dup")
            },
            "taken id",
        ),
        (
            NewRoom {
                friendly_id: Some(room_ref("a.b")),
                ..named_room("dot")
            },
            "dot",
        ),
        (
            NewRoom {
                options: BTreeMap::from([("recordd".into(), "true".into())]),
                ..named_room("typo")
            },
            "unknown option",
        ),
        (
            NewRoom {
                options: BTreeMap::from([("record".into(), "yes".into())]),
                ..named_room("bool")
            },
            "bad boolean",
        ),
        (
            NewRoom {
                options: BTreeMap::from([("guestPolicy".into(), "NEVER".into())]),
                ..named_room("policy")
            },
            "bad policy",
        ),
        (
            NewRoom {
                access_code: Some("1".into()),
                options: BTreeMap::from([("glViewerAccessCode".into(), "2".into())]),
                ..named_room("codes")
            },
            "two codes",
        ),
        (named_room("  "), "blank name"),
        (named_room(&"x".repeat(256)), "long name"),
    ];
    for (new, what) in refused {
        let err = g.create_room(&owner, &new).await.expect_err(what);
        match (what, &err) {
            ("taken id", GreenlightError::RoomExists(id)) => assert_eq!(id, "seminar-2026"),
            ("unknown option", GreenlightError::Invalid(msg)) => {
                assert!(
                    msg.contains("guestPolicy") && msg.contains("serverTagRequired"),
                    "{msg}"
                )
            }
            (_, GreenlightError::Invalid(_)) => {}
            _ => panic!("{what}: unexpected {err:?}"),
        }
    }
    assert_eq!(count(&pool, "rooms").await, 1);
    assert_eq!(count(&pool, "room_meeting_options").await, 10);
}

#[tokio::test]
async fn failed_room_creation_rolls_back_and_id_collisions_retry() {
    let pool = gl_db().await;
    let g = gl(&pool);
    setup_owner(&g, "owner@uni.example", "Owner").await;
    let owner = email("owner@uni.example");

    // The option rows fail after the room row went in: nothing stays.
    apply(
        &pool,
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
           $$ BEGIN RAISE EXCEPTION 'refused by test trigger'; END $$; \
         CREATE TRIGGER refuse BEFORE INSERT ON room_meeting_options \
           FOR EACH ROW EXECUTE FUNCTION refuse()",
    )
    .await;
    let err = g
        .create_room(&owner, &named_room("Doomed"))
        .await
        .unwrap_err();
    assert!(matches!(err, GreenlightError::Database(_)), "{err:?}");
    assert_eq!(count(&pool, "rooms").await, 0);
    assert_eq!(count(&pool, "room_meeting_options").await, 0);
    assert!(matches!(
        g.home_room(&owner).await,
        Err(GreenlightError::Database(_))
    ));
    assert_eq!(count(&pool, "rooms").await, 0);
    apply(&pool, "DROP TRIGGER refuse ON room_meeting_options").await;

    // The unique index reports a collision once: we roll back to a savepoint and redraw.
    apply(
        &pool,
        "CREATE SEQUENCE collisions; \
         CREATE FUNCTION collide_once() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN \
           IF nextval('collisions') = 1 THEN \
             RAISE unique_violation USING \
               MESSAGE = 'duplicate key value violates unique constraint \"index_rooms_on_friendly_id\"', \
               CONSTRAINT = 'index_rooms_on_friendly_id'; \
           END IF; \
           RETURN NEW; \
         END $$; \
         CREATE TRIGGER collide BEFORE INSERT ON rooms FOR EACH ROW EXECUTE FUNCTION collide_once()",
    )
    .await;
    let room = g.create_room(&owner, &named_room("Lucky")).await.unwrap();
    let attempts: i64 = sqlx::query_scalar("SELECT last_value FROM collisions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(attempts, 2, "one collision, one retry");
    assert_eq!(count(&pool, "rooms").await, 1);
    assert_eq!(option_rows(&pool, &room.friendly_id).await.1, 10);
}

#[tokio::test]
async fn home_room_is_the_oldest_room_or_a_new_one() {
    let pool = gl_db().await;
    let g = gl(&pool);
    setup_owner(&g, "ann@uni.example", "Ann O'Neil").await;
    let ann = email("ann@uni.example");
    let home = g.home_room(&ann).await.unwrap();
    assert_eq!(home.name, "Ann O'Neil's Room");
    assert_eq!(
        option_rows(&pool, &home.friendly_id).await.0,
        default_options()
    );
    assert_eq!(g.home_room(&ann).await.unwrap().id, home.id);
    assert_eq!(count(&pool, "rooms").await, 1);

    // With several rooms, the oldest one.
    setup_owner(&g, "ben@uni.example", "Ben").await;
    let ben = email("ben@uni.example");
    let first = g.create_room(&ben, &named_room("First")).await.unwrap();
    let second = g.create_room(&ben, &named_room("Second")).await.unwrap();
    sqlx::query("UPDATE rooms SET created_at = created_at - interval '1 day' WHERE id = $1::uuid")
        .bind(&second.id)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(g.home_room(&ben).await.unwrap().id, second.id);
    assert_ne!(first.id, second.id);
    assert!(matches!(
        g.home_room(&email("ghost@uni.example")).await,
        Err(GreenlightError::UserNotFound(_))
    ));
}

#[tokio::test]
async fn rename_room_changes_id_and_name() {
    let pool = gl_db().await;
    let g = gl(&pool);
    setup_owner(&g, "owner@uni.example", "Owner").await;
    let owner = email("owner@uni.example");
    let a = g.create_room(&owner, &named_room("A")).await.unwrap();
    let b = g.create_room(&owner, &named_room("B")).await.unwrap();
    sqlx::query("UPDATE rooms SET updated_at = updated_at - interval '1 hour'")
        .execute(&pool)
        .await
        .unwrap();

    let renamed = g
        .rename_room(
            &room_ref(&a.friendly_id),
            Some(&room_ref("maths-101")),
            Some("Maths 101 – 'Intro'"),
        )
        .await
        .unwrap();
    assert_eq!(renamed.friendly_id, "maths-101");
    assert_eq!(renamed.name, "Maths 101 – 'Intro'");
    assert_eq!(renamed.meeting_id, a.meeting_id, "the BBB meeting id stays");
    let row = room_row(&pool, "maths-101").await.unwrap();
    assert!(!row.same_timestamps, "updated_at moved");
    assert!(room_row(&pool, &a.friendly_id).await.is_none());
    assert_eq!(option_rows(&pool, "maths-101").await.1, 10);

    // Only the name.
    let renamed = g
        .rename_room(&room_ref("maths-101"), None, Some("Maths"))
        .await
        .unwrap();
    assert_eq!(
        (renamed.friendly_id.as_str(), renamed.name.as_str()),
        ("maths-101", "Maths")
    );
    // The same id again is fine.
    g.rename_room(&room_ref("maths-101"), Some(&room_ref("maths-101")), None)
        .await
        .unwrap();

    // Refusals change nothing.
    assert!(matches!(
        g.rename_room(&room_ref(&b.friendly_id), Some(&room_ref("maths-101")), Some("X")).await,
        Err(GreenlightError::RoomExists(id)) if id == "maths-101"
    ));
    assert!(matches!(
        g.rename_room(&room_ref(&b.friendly_id), Some(&room_ref("v1.2")), None)
            .await,
        Err(GreenlightError::Invalid(_))
    ));
    assert!(matches!(
        g.rename_room(&room_ref(&b.friendly_id), None, Some(" "))
            .await,
        Err(GreenlightError::Invalid(_))
    ));
    assert!(matches!(
        g.rename_room(&room_ref(&b.friendly_id), None, None).await,
        Err(GreenlightError::Invalid(_))
    ));
    assert!(matches!(
        g.rename_room(&room_ref("no-such-room"), None, Some("x"))
            .await,
        Err(GreenlightError::RoomNotFound(_))
    ));
    let row = room_row(&pool, &b.friendly_id).await.unwrap();
    assert_eq!(row.name, "B");
}

#[tokio::test]
async fn set_room_options_updates_every_row_greenlight_reads() {
    let pool = gl_db().await;
    let g = gl(&pool);
    setup_owner(&g, "owner@uni.example", "Owner").await;
    let room = g
        .create_room(&email("owner@uni.example"), &named_room("Opts"))
        .await
        .unwrap();
    let r = room_ref(&room.friendly_id);
    // A damaged room: serverTag row missing, record row duplicated.
    sqlx::query(
        "DELETE FROM room_meeting_options WHERE room_id = $1::uuid \
           AND meeting_option_id = (SELECT id FROM meeting_options WHERE name = 'serverTag'); \
         ",
    )
    .bind(&room.id)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO room_meeting_options (room_id, meeting_option_id, value, created_at, updated_at) \
         SELECT $1::uuid, id, 'false', now(), now() FROM meeting_options WHERE name = 'record'",
    )
    .bind(&room.id)
    .execute(&pool)
    .await
    .unwrap();

    let opts = BTreeMap::from([
        ("record".to_string(), "false".to_string()),
        ("muteOnStart".to_string(), "FALSE".to_string()),
        ("guestPolicy".to_string(), "ALWAYS_DENY".to_string()),
        ("glViewerAccessCode".to_string(), "abc-123".to_string()),
        ("serverTag".to_string(), "big rooms".to_string()),
    ]);
    let updated = g.set_room_options(&r, &opts).await.unwrap();
    let values: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT mo.name, rmo.value FROM room_meeting_options rmo \
         JOIN meeting_options mo ON mo.id = rmo.meeting_option_id \
         WHERE rmo.room_id = $1::uuid AND mo.name IN ('record', 'serverTag') ORDER BY 1, 2",
    )
    .bind(&room.id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        values,
        vec![
            ("record".into(), Some("false".into())),
            ("record".into(), Some("false".into())),
            ("serverTag".into(), Some("big rooms".into())),
        ]
    );
    let mut expected = default_options();
    for (k, v) in [
        ("record", "false"),
        ("muteOnStart", "false"),
        ("guestPolicy", "ALWAYS_DENY"),
        ("glViewerAccessCode", "abc-123"),
        ("serverTag", "big rooms"),
    ] {
        expected.insert(k.into(), v.into());
    }
    assert_eq!(updated.options, expected);

    // Unknown names and bad values: refused, nothing written.
    for bad in [
        BTreeMap::from([
            ("record".to_string(), "true".to_string()),
            ("nosuch".to_string(), "1".to_string()),
        ]),
        BTreeMap::from([("glAnyoneCanStart".to_string(), "1".to_string())]),
        BTreeMap::from([("serverTag".to_string(), "a\nb".to_string())]),
        BTreeMap::new(),
    ] {
        assert!(matches!(
            g.set_room_options(&r, &bad).await,
            Err(GreenlightError::Invalid(_))
        ));
    }
    let after = g.find_room(&r).await.unwrap().unwrap();
    assert_eq!(after.options, expected);
    assert!(matches!(
        g.set_room_options(&room_ref("no-such-room"), &opts).await,
        Err(GreenlightError::RoomNotFound(_))
    ));
}

/// Two recordings (with formats) for a room, as Greenlight's sync writes them.
async fn add_recordings(pool: &PgPool, room_id: &str) {
    sqlx::query(
        "WITH rec AS ( \
           INSERT INTO recordings (room_id, name, record_id, created_at, updated_at, visibility, \
                                   length, participants, protectable, recorded_at) \
           SELECT $1::uuid, 'Rec ' || n, 'rec-' || n || '-1531155809613', now(), now(), \
                  'Published', 42, 3, false, now() FROM generate_series(1, 2) n \
           RETURNING id) \
         INSERT INTO formats (recording_id, recording_type, url, created_at, updated_at) \
         SELECT id, 'presentation', 'https://bbb.example/playback/' || id, now(), now() FROM rec",
    )
    .bind(room_id)
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn delete_room_removes_children_first() {
    let pool = gl_db().await;
    let g = gl(&pool);
    setup_owner(&g, "owner@uni.example", "Owner").await;
    setup_owner(&g, "guest@uni.example", "Guest").await;
    let owner = email("owner@uni.example");
    let keep = g.create_room(&owner, &named_room("Keep")).await.unwrap();
    let room = g.create_room(&owner, &named_room("Gone")).await.unwrap();
    let r = room_ref(&room.friendly_id);
    g.share_room(&r, &[email("guest@uni.example")])
        .await
        .unwrap();
    add_recordings(&pool, &room.id).await;

    // Recording rows exist: not without asking (they would block the delete anyway).
    let err = g.delete_room(&r, false).await.unwrap_err();
    assert!(
        matches!(err, GreenlightError::Invalid(ref m) if m.contains("2 recording")),
        "{err:?}"
    );
    assert_eq!(count(&pool, "rooms").await, 2);
    assert_eq!(count(&pool, "shared_accesses").await, 1);

    let deleted = g.delete_room(&r, true).await.unwrap();
    assert_eq!(deleted.friendly_id, room.friendly_id);
    assert_eq!(deleted.meeting_id, room.meeting_id);
    assert_eq!(deleted.recordings_removed, 2);
    assert_eq!(count(&pool, "rooms").await, 1);
    assert_eq!(count(&pool, "room_meeting_options").await, 10);
    assert_eq!(count(&pool, "shared_accesses").await, 0);
    assert_eq!(count(&pool, "recordings").await, 0);
    assert_eq!(count(&pool, "formats").await, 0);
    assert_eq!(count(&pool, "users").await, 2);
    assert!(g.find_room(&r).await.unwrap().is_none());

    // A room without recordings goes with or without the flag.
    let d = g
        .delete_room(&room_ref(&keep.friendly_id), false)
        .await
        .unwrap();
    assert_eq!(d.recordings_removed, 0);
    assert_eq!(count(&pool, "room_meeting_options").await, 0);
    assert!(matches!(
        g.delete_room(&r, true).await,
        Err(GreenlightError::RoomNotFound(_))
    ));
}

fn item(result: &ItemResult) -> (&str, bool, &str) {
    (result.item.as_str(), result.ok, result.message.as_str())
}

#[tokio::test]
async fn share_and_unshare_are_idempotent_per_user() {
    let pool = gl_db().await;
    let g = gl(&pool);
    for (a, n) in [
        ("owner@uni.example", "O"),
        ("bob@uni.example", "B"),
        ("cy@uni.example", "C"),
    ] {
        setup_owner(&g, a, n).await;
    }
    let room = g
        .create_room(&email("owner@uni.example"), &named_room("Shared"))
        .await
        .unwrap();
    let r = room_ref(&room.friendly_id);
    let who = [
        email("bob@uni.example"),
        email("owner@uni.example"),
        email("nobody@uni.example"),
        email("bob@uni.example"),
        email("cy@uni.example"),
    ];
    let results = g.share_room(&r, &who).await.unwrap();
    let got: Vec<_> = results.iter().map(item).collect();
    assert_eq!(got[0], ("bob@uni.example", true, "shared"));
    assert_eq!(
        got[1],
        ("owner@uni.example", false, "already the owner of the room")
    );
    assert_eq!((got[2].0, got[2].1), ("nobody@uni.example", false));
    assert!(got[2].2.contains("create the user first"), "{}", got[2].2);
    assert_eq!(got[3], ("bob@uni.example", true, "already shared"));
    assert_eq!(got[4], ("cy@uni.example", true, "shared"));

    let (n, fresh): (i64, bool) = sqlx::query_as(
        "SELECT count(*), bool_and((now() AT TIME ZONE 'UTC') - created_at < interval '1 minute' \
                                   AND updated_at = created_at) \
         FROM shared_accesses WHERE room_id = $1::uuid",
    )
    .bind(&room.id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((n, fresh), (2, true));
    let found = g.find_room(&r).await.unwrap().unwrap();
    assert_eq!(
        found.shared_with,
        vec![email("bob@uni.example"), email("cy@uni.example")]
    );
    // Again: same rows.
    let again = g.share_room(&r, &[email("cy@uni.example")]).await.unwrap();
    assert_eq!(item(&again[0]), ("cy@uni.example", true, "already shared"));
    assert_eq!(count(&pool, "shared_accesses").await, 2);

    let results = g
        .unshare_room(
            &r,
            &[
                email("bob@uni.example"),
                email("bob@uni.example"),
                email("nobody@uni.example"),
                email("owner@uni.example"),
            ],
        )
        .await
        .unwrap();
    let got: Vec<_> = results.iter().map(item).collect();
    assert_eq!(got[0], ("bob@uni.example", true, "unshared"));
    assert_eq!(got[1], ("bob@uni.example", true, "was not shared"));
    assert!(!got[2].1 && !got[3].1);
    assert_eq!(
        g.find_room(&r).await.unwrap().unwrap().shared_with,
        vec![email("cy@uni.example")]
    );
    assert!(matches!(
        g.share_room(&room_ref("no-such-room"), &[email("bob@uni.example")])
            .await,
        Err(GreenlightError::RoomNotFound(_))
    ));
}

#[tokio::test]
async fn delete_user_refuses_deletes_or_transfers_rooms() {
    let pool = gl_db().await;
    let g = gl(&pool);
    for (a, n) in [
        ("alice@uni.example", "Alice"),
        ("bob@uni.example", "Bob"),
        ("carol@uni.example", "Carol"),
        ("dave@uni.example", "Dave"),
    ] {
        setup_owner(&g, a, n).await;
    }
    let alice = email("alice@uni.example");
    let a1 = g.create_room(&alice, &named_room("A1")).await.unwrap();
    let a2 = g.create_room(&alice, &named_room("A2")).await.unwrap();
    let c1 = g
        .create_room(&email("carol@uni.example"), &named_room("C1"))
        .await
        .unwrap();
    g.share_room(
        &room_ref(&a1.friendly_id),
        &[email("bob@uni.example"), email("dave@uni.example")],
    )
    .await
    .unwrap();
    g.share_room(
        &room_ref(&c1.friendly_id),
        &[email("bob@uni.example"), email("alice@uni.example")],
    )
    .await
    .unwrap();
    add_recordings(&pool, &a2.id).await;

    // Refuse (the default): nothing changes.
    match g.delete_user(&alice, &RoomDisposition::Refuse, false).await {
        Err(GreenlightError::OwnsRooms { email: e, rooms }) => {
            assert_eq!((e, rooms), (alice.clone(), 2))
        }
        other => panic!("expected OwnsRooms, got {other:?}"),
    }
    // Delete without recordings: a2 has some, so the whole delete is refused.
    assert!(matches!(
        g.delete_user(&alice, &RoomDisposition::Delete, false).await,
        Err(GreenlightError::Invalid(_))
    ));
    assert!(matches!(
        g.delete_user(&alice, &RoomDisposition::TransferTo(alice.clone()), false)
            .await,
        Err(GreenlightError::Invalid(_))
    ));
    assert!(matches!(
        g.delete_user(
            &alice,
            &RoomDisposition::TransferTo(email("ghost@uni.example")),
            false
        )
        .await,
        Err(GreenlightError::UserNotFound(_))
    ));
    assert_eq!(
        (
            count(&pool, "users").await,
            count(&pool, "rooms").await,
            count(&pool, "shared_accesses").await
        ),
        (4, 3, 4)
    );

    // A user without rooms: the user's shares go, other rooms stay.
    let bob = g
        .delete_user(&email("bob@uni.example"), &RoomDisposition::Refuse, false)
        .await
        .unwrap();
    assert!(bob.deleted_rooms.is_empty() && bob.transferred_rooms.is_empty());
    assert!(
        user_row(&pool, "bob@uni.example", "greenlight")
            .await
            .is_none()
    );
    assert_eq!(count(&pool, "shared_accesses").await, 2);

    // Transfer: rooms change owner, the new owner's share on them goes, others stay.
    let moved = g
        .delete_user(
            &alice,
            &RoomDisposition::TransferTo(email("dave@uni.example")),
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        moved.transferred_rooms,
        vec![a1.friendly_id.clone(), a2.friendly_id.clone()]
    );
    assert!(moved.deleted_rooms.is_empty());
    let a1_now = g
        .find_room(&room_ref(&a1.friendly_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a1_now.owner_email, email("dave@uni.example"));
    assert!(a1_now.shared_with.is_empty(), "dave's own share removed");
    assert!(
        !room_row(&pool, &a1.friendly_id)
            .await
            .unwrap()
            .same_timestamps
    );
    assert_eq!(
        g.find_room(&room_ref(&c1.friendly_id))
            .await
            .unwrap()
            .unwrap()
            .shared_with,
        Vec::<Email>::new(),
        "alice's share on carol's room went with alice"
    );
    assert_eq!(
        count(&pool, "recordings").await,
        2,
        "transferred with the room"
    );

    // Delete with recordings: dave's rooms and everything under them.
    let dave = g
        .delete_user(&email("dave@uni.example"), &RoomDisposition::Delete, true)
        .await
        .unwrap();
    let removed: Vec<_> = dave
        .deleted_rooms
        .iter()
        .map(|d| {
            (
                d.friendly_id.as_str(),
                d.meeting_id.as_str(),
                d.recordings_removed,
            )
        })
        .collect();
    assert_eq!(
        removed,
        vec![
            (a1.friendly_id.as_str(), a1.meeting_id.as_str(), 0),
            (a2.friendly_id.as_str(), a2.meeting_id.as_str(), 2)
        ]
    );
    assert_eq!(
        (
            count(&pool, "users").await,
            count(&pool, "rooms").await,
            count(&pool, "room_meeting_options").await,
            count(&pool, "recordings").await,
            count(&pool, "formats").await
        ),
        (1, 1, 10, 0, 0)
    );
    assert!(matches!(
        g.delete_user(&email("dave@uni.example"), &RoomDisposition::Delete, true)
            .await,
        Err(GreenlightError::UserNotFound(_))
    ));
}

#[tokio::test]
async fn failed_user_delete_leaves_everything() {
    let pool = gl_db().await;
    let g = gl(&pool);
    setup_owner(&g, "alice@uni.example", "Alice").await;
    setup_owner(&g, "bob@uni.example", "Bob").await;
    let alice = email("alice@uni.example");
    let room = g.create_room(&alice, &named_room("A")).await.unwrap();
    g.share_room(&room_ref(&room.friendly_id), &[email("bob@uni.example")])
        .await
        .unwrap();
    // The very last statement (the user row) fails: rooms, options and shares must survive.
    apply(
        &pool,
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
           $$ BEGIN RAISE EXCEPTION 'refused by test trigger'; END $$; \
         CREATE TRIGGER refuse BEFORE DELETE ON users FOR EACH ROW EXECUTE FUNCTION refuse()",
    )
    .await;
    assert!(matches!(
        g.delete_user(&alice, &RoomDisposition::Delete, true).await,
        Err(GreenlightError::Database(_))
    ));
    assert!(matches!(
        g.delete_user(
            &alice,
            &RoomDisposition::TransferTo(email("bob@uni.example")),
            true
        )
        .await,
        Err(GreenlightError::Database(_))
    ));
    assert_eq!(
        (
            count(&pool, "users").await,
            count(&pool, "rooms").await,
            count(&pool, "room_meeting_options").await,
            count(&pool, "shared_accesses").await
        ),
        (2, 1, 10, 1)
    );
    let found = g
        .find_room(&room_ref(&room.friendly_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.owner_email, alice);
}

#[tokio::test]
async fn find_and_search_rooms_within_the_provider() {
    let pool = gl_db().await;
    apply(
        &pool,
        "INSERT INTO roles (name, color, provider, created_at, updated_at) \
         VALUES ('User', '#4169E1', 'tenant1', now(), now())",
    )
    .await;
    let g = gl(&pool);
    let t1 = GreenlightV3::new(pool.clone(), Some("tenant1".into()), 4);
    setup_owner(&g, "owner@uni.example", "Owner").await;
    // The same address is another user in another tenant.
    let other = t1
        .create_user(&local("owner@uni.example", "Tenant Owner"))
        .await
        .unwrap();
    assert_eq!(other.provider, "tenant1");
    let row = user_row(&pool, "owner@uni.example", "tenant1")
        .await
        .unwrap();
    assert_eq!(row.role_provider.as_deref(), Some("tenant1"));

    let owner = email("owner@uni.example");
    let mine = g
        .create_room(&owner, &named_room("Physics lab"))
        .await
        .unwrap();
    let theirs = t1
        .create_room(&owner, &named_room("Physics tenant"))
        .await
        .unwrap();
    // No rooms configuration for tenant1: catalogue defaults.
    assert_eq!(theirs.options["record"], "false");
    assert_eq!(theirs.options["muteOnStart"], "false");

    let by_name = g
        .search_rooms(&RoomSearch::Name("physics".into()))
        .await
        .unwrap();
    assert_eq!(
        by_name.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        vec![mine.id.as_str()]
    );
    let by_owner = t1
        .search_rooms(&RoomSearch::OwnerEmail(owner.clone()))
        .await
        .unwrap();
    assert_eq!(by_owner.len(), 1);
    assert_eq!(by_owner[0].id, theirs.id);
    assert_eq!(by_owner[0].owner_name, "Tenant Owner");
    let by_id = g
        .search_rooms(&RoomSearch::Id(room_ref(&mine.friendly_id)))
        .await
        .unwrap();
    assert_eq!(by_id, vec![mine.clone()]);
    assert!(
        g.find_room(&room_ref(&theirs.friendly_id))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        g.search_rooms(&RoomSearch::Id(room_ref(&theirs.friendly_id)))
            .await
            .unwrap()
            .is_empty()
    );
    // Sharing only finds users of the same tenant.
    let shared = t1
        .share_room(&room_ref(&theirs.friendly_id), &[email("x@uni.example")])
        .await
        .unwrap();
    assert!(!shared[0].ok);

    // Legacy (hand-made or migrated) ids in upper case are found case-insensitively.
    apply(
        &pool,
        "UPDATE rooms SET friendly_id = 'Legacy-UID' WHERE name = 'Physics lab'",
    )
    .await;
    let legacy = g.find_room(&room_ref("legacy-uid")).await.unwrap().unwrap();
    assert_eq!(legacy.friendly_id, "Legacy-UID");
    g.rename_room(&room_ref("LEGACY-uid"), None, Some("Still found"))
        .await
        .unwrap();
}

#[tokio::test]
async fn meeting_start_and_end_update_the_room() {
    let pool = gl_db().await;
    let g = gl(&pool);
    setup_owner(&g, "owner@uni.example", "Owner").await;
    let room = g
        .create_room(&email("owner@uni.example"), &named_room("Live"))
        .await
        .unwrap();
    let create_time = 1_531_155_809_613_i64;
    g.meeting_started(&room.meeting_id, create_time)
        .await
        .unwrap();
    let (stored_ms, text, online): (i64, String, Option<bool>) = sqlx::query_as(
        "SELECT floor(extract(epoch FROM last_session) * 1000)::bigint, last_session::text, online \
         FROM rooms WHERE id = $1::uuid",
    )
    .bind(&room.id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored_ms, create_time);
    assert_eq!(text, "2018-07-09 17:03:29.613");
    assert_eq!(online, Some(true));
    let found = g
        .find_room(&room_ref(&room.friendly_id))
        .await
        .unwrap()
        .unwrap();
    assert!(found.online);
    assert_eq!(
        found.last_session,
        Some(jiff::Timestamp::from_millisecond(create_time).unwrap())
    );
    assert!(
        !room_row(&pool, &room.friendly_id)
            .await
            .unwrap()
            .same_timestamps
    );

    g.meeting_ended(&room.meeting_id).await.unwrap();
    let found = g
        .find_room(&room_ref(&room.friendly_id))
        .await
        .unwrap()
        .unwrap();
    assert!(!found.online);
    assert_eq!(
        found.last_session,
        Some(jiff::Timestamp::from_millisecond(create_time).unwrap())
    );

    assert!(matches!(
        g.meeting_started("no-such-meeting", create_time).await,
        Err(GreenlightError::RoomNotFound(_))
    ));
    assert!(matches!(
        g.meeting_ended("no-such-meeting").await,
        Err(GreenlightError::RoomNotFound(_))
    ));
    assert!(matches!(
        g.meeting_started(&room.meeting_id, -5).await,
        Err(GreenlightError::Invalid(_))
    ));
    // Another tenant's instance does not touch our rooms.
    let t1 = GreenlightV3::new(pool.clone(), Some("tenant1".into()), 4);
    assert!(matches!(
        t1.meeting_started(&room.meeting_id, create_time).await,
        Err(GreenlightError::RoomNotFound(_))
    ));
    assert_eq!(
        scalar_text(
            &pool,
            "SELECT online::text FROM rooms WHERE meeting_id = $1",
            &room.meeting_id
        )
        .await,
        Some("false".into())
    );
}

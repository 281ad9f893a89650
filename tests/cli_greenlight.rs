//! `schedulight users …`, `rooms …` and `results` — the real binary, against Greenlight v3 and v2
//! schemas in a throwaway PostgreSQL.

use schedulight::testkit::pg::PgCluster;
use std::path::Path;
use std::process::{Command, Stdio};

const V3_SCHEMA: &str = include_str!("fixtures/greenlight/v3-schema.sql");
const V2_SCHEMA: &str = include_str!("fixtures/greenlight/v2-schema.sql");

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn run(dir: &Path, args: &[&str]) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_schedulight"));
    for (key, _) in std::env::vars() {
        if key.starts_with("SCHEDULIGHT_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run schedulight");
    let o = Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    o
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
    assert!(o.ok, "{args:?} failed:\n{}\n{}", o.stdout, o.stderr);
    o.stdout
}

async fn setup(schema: &'static str, link_base: &str) -> (tempfile::TempDir, String) {
    let url = PgCluster::shared()
        .expect("PostgreSQL")
        .fresh_database()
        .await
        .expect("database");
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    sqlx::raw_sql(schema).execute(&pool).await.expect("schema");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("db_url"), format!("{url}\n")).expect("write");
    let config = format!(
        "store:\n  location: state.db\n\
         greenlight:\n  database_url_file: db_url\n  link_base: {link_base}\n  bcrypt_cost: 4\n\
         servers:\n  bbb:\n    BBB_URL: http://127.0.0.1:9/bigbluebutton/api\n    BBB_SECRET: s3cret-for-tests\n"
    );
    std::fs::write(dir.path().join("bot-config.yml"), config).expect("write");
    (dir, url)
}

async fn full_round(schema: &'static str, link_base: &str, room_link: &str, external: &[&str]) {
    let (dir, url) = setup(schema, link_base).await;
    let d = dir.path();
    std::fs::write(d.join("pw"), "Sup3r-secret!\n").expect("write");
    let out = ok(
        d,
        &[
            "users",
            "create",
            "ada@uni.example",
            "--name",
            "Ada Lovelace",
            "--password-file",
            "pw",
        ],
    );
    assert!(out.contains("1 ok, 0 failed"), "{out}");
    let mut bob = vec!["users", "create", "bob@uni.example", "--name", "Bob"];
    bob.extend_from_slice(external);
    ok(d, &bob);
    let out = ok(
        d,
        &[
            "rooms",
            "create",
            "Linear Algebra",
            "--owner",
            "ada@uni.example",
            "--id",
            "lin-alg-001",
        ],
    );
    assert!(out.contains(room_link), "{out}");
    let out = ok(
        d,
        &[
            "rooms",
            "share",
            "lin-alg-001",
            "bob@uni.example",
            "nobody@uni.example",
        ],
    );
    assert!(out.contains("1 ok, 1 failed"), "{out}");
    let id = out
        .split("(result #")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .expect("result id")
        .to_string();
    let stored = ok(d, &["results", &id]);
    assert!(stored.contains("nobody@uni.example"), "{stored}");
    ok(
        d,
        &[
            "rooms",
            "set",
            "lin-alg-001",
            "muteOnStart=true",
            "--name",
            "Linear Algebra I",
        ],
    );
    let bad = run(d, &["rooms", "set", "lin-alg-001", "muteonstart=true"]);
    assert!(!bad.ok, "an unknown option is refused");
    let links = ok(
        d,
        &[
            "rooms",
            "links",
            "--by",
            "owner",
            "ada@uni.example",
            "--links",
        ],
    );
    assert!(
        links.contains("Linear Algebra I") && links.contains("Moderator Link: http://127.0.0.1:9/"),
        "{links}"
    );
    assert!(links.contains("Shared with: bob@uni.example"), "{links}");
    let shown = ok(d, &["users", "show", "ADA@uni.example"]);
    assert!(
        shown.contains("Ada Lovelace")
            && shown.contains("lin-alg-001")
            && shown.contains("password"),
        "{shown}"
    );
    let missing = run(d, &["users", "show", "nobody@uni.example"]);
    assert!(
        !missing.ok && missing.stderr.contains("no Greenlight user"),
        "{}",
        missing.stderr
    );
    let by_name = ok(d, &["rooms", "links", "--by", "name", "algebra"]);
    assert!(
        by_name.contains("Linear Algebra I") && !by_name.contains("Moderator Link"),
        "{by_name}"
    );
    ok(d, &["rooms", "rename", "lin-alg-001", "lin-alg-002"]);
    ok(d, &["rooms", "unshare", "lin-alg-002", "bob@uni.example"]);
    let refused = run(d, &["users", "delete", "ada@uni.example"]);
    assert!(
        !refused.ok && refused.stderr.contains("owns"),
        "{}",
        refused.stderr
    );
    ok(d, &["rooms", "delete", "lin-alg-002"]);
    ok(d, &["users", "delete", "ada@uni.example", "--delete-rooms"]);
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE email = 'ada@uni.example'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(left, 0);
    // A JSON run for scripts.
    let json = ok(
        d,
        &[
            "--json",
            "rooms",
            "links",
            "--by",
            "owner",
            "bob@uni.example",
        ],
    );
    serde_json::from_str::<serde_json::Value>(&json).expect("JSON");
}

#[tokio::test]
async fn greenlight_v3_through_the_cli() {
    full_round(
        V3_SCHEMA,
        "https://gl.uni.example",
        "https://gl.uni.example/lin-alg-001",
        &["--external-id", "oidc-bob"],
    )
    .await;
}

#[tokio::test]
async fn greenlight_v2_through_the_cli() {
    full_round(
        V2_SCHEMA,
        "https://bbb.uni.example/b",
        "https://bbb.uni.example/b/lin-alg-001",
        &[
            "--provider",
            "ldap",
            "--external-id",
            "CN=bob,OU=USERS,DC=uni,DC=example",
        ],
    )
    .await;
}

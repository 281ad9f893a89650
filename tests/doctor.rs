//! `schedulight doctor` against a good installation and a broken one, all real parts: the BBB
//! simulator (which checks checksums), a Greenlight v3 database in the throwaway PostgreSQL, an
//! SMTP server with STARTTLS and login, and a Synapse with the bot's saved session.

mod common;

use schedulight::bbb::sim::SimConfig;
use schedulight::testkit::pg::PgCluster;
use schedulight::testkit::smtp::{SinkOptions, SinkTls, SmtpSink};
use schedulight::testkit::synapse::Synapse;

const V3_SCHEMA: &str = include_str!("fixtures/greenlight/v3-schema.sql");

struct Setup {
    bbb_url: String,
    bbb_secret: String,
    gl_url: String,
    smtp_port: u16,
    ca_file: String,
    homeserver: String,
    user_id: String,
}

fn config(s: &Setup, smtp_password: &str) -> String {
    format!(
        "store:\n  location: state.db\n\
         mail:\n  send_emails: true\n  host: 127.0.0.1\n  port: {port}\n  tls: starttls\n  user: schedulight\n  password: {smtp_password}\n  from: schedulight@uni.example\n  ca_file: {ca}\n\
         matrix:\n  homeserver: {hs}\n  user_id: \"{user}\"\n  password: never-used-by-doctor\n  store_dir: matrix-store\n  allowed_users:\n    - \"@staff:localhost\"\n\
         servers:\n  bbb:\n    BBB_URL: {bbb}\n    BBB_SECRET: {secret}\n    timeoutMs: 3000\n    greenlight:\n      version: v3\n      database_url: {gl}\n      link_base: https://gl.uni.example\n",
        port = s.smtp_port,
        ca = s.ca_file,
        hs = s.homeserver,
        user = s.user_id,
        bbb = s.bbb_url,
        secret = s.bbb_secret,
        gl = s.gl_url,
    )
}

fn session(dir: &std::path::Path, user_id: &str, device_id: &str, token: &str) {
    let store = dir.join("matrix-store");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::write(
        store.join("session.json"),
        serde_json::json!({ "user_id": user_id, "device_id": device_id, "access_token": token })
            .to_string(),
    )
    .unwrap();
}

fn doctor(dir: &std::path::Path, config: &str) -> (i32, String) {
    let out = common::schedulight(dir)
        .args(["--config", config, "doctor"])
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run doctor");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let code = out.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 1, "doctor could not run:\n{stderr}");
    (code, stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_good_setup_and_names_each_fault_with_a_hint() {
    let cluster = PgCluster::shared().expect("throwaway PostgreSQL");
    let gl_url = cluster.fresh_database().await.expect("database");
    let gl = sqlx::PgPool::connect(&gl_url).await.expect("connect");
    sqlx::raw_sql(V3_SCHEMA).execute(&gl).await.expect("schema");
    let bbb_secret = common::random_secret();
    let sim = common::serve_sim(SimConfig::new(bbb_secret.clone())).await;
    let sink = SmtpSink::start(SinkOptions {
        tls: SinkTls::Starttls,
        login: Some(("schedulight".into(), "smtp-pass-1".into())),
        ..SinkOptions::default()
    })
    .expect("SMTP server");
    let synapse = Synapse::shared().expect("Synapse");
    let bot = synapse
        .register("doctorbot", "doctor-bot-pass-1", false)
        .await
        .expect("register");
    let setup = Setup {
        bbb_url: sim.base_url(),
        bbb_secret: bbb_secret.clone(),
        gl_url: gl_url.clone(),
        smtp_port: sink.port(),
        ca_file: sink.ca_file().unwrap().display().to_string(),
        homeserver: synapse.url(),
        user_id: bot.user_id.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    session(d, &bot.user_id, &bot.device_id, &bot.access_token);
    std::fs::write(d.join("good.yml"), config(&setup, "smtp-pass-1")).unwrap();
    let (code, out) = doctor(d, "good.yml");
    assert_eq!(code, 0, "{out}");
    for line in [
        "✓ BBB server bbb: answered a signed call",
        "✓ Greenlight of bbb: Greenlight 3 database (schema migration",
        &format!(
            "✓ SMTP (mail.host): 127.0.0.1:{} (starttls) greeted (EHLO), logged in",
            sink.port()
        ),
        "✓ Matrix homeserver",
        &format!(
            "✓ Matrix session of {}: the saved session is valid (device {})",
            bot.user_id, bot.device_id
        ),
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(sink.messages().is_empty(), "the doctor sends no mail");

    // Everything wrong at once: a wrong BBB secret, Greenlight's database down, a refused SMTP
    // login, a session the homeserver no longer knows.
    let dead = common::dead_address();
    let broken = Setup {
        bbb_secret: common::random_secret(),
        gl_url: format!("postgres://greenlight:pw@{dead}/greenlight"),
        ..setup
    };
    session(d, &bot.user_id, &bot.device_id, "syt_not_a_valid_token");
    std::fs::write(d.join("broken.yml"), config(&broken, "wrong-password")).unwrap();
    let (code, out) = doctor(d, "broken.yml");
    assert_eq!(code, 1, "{out}");
    let line = |prefix: &str| {
        out.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{out}"))
            .to_string()
    };
    assert!(
        line("✗ BBB server bbb").contains("bbb-conf --secret"),
        "{out}"
    );
    assert!(
        line("✗ Greenlight of bbb").contains("check database_url"),
        "{out}"
    );
    assert!(
        line("✗ SMTP (mail.host)").contains("refused the login"),
        "{out}"
    );
    assert!(
        line("✗ Matrix session").contains("no longer accepts the saved session"),
        "{out}"
    );
    for secret in [
        bbb_secret.as_str(),
        broken.bbb_secret.as_str(),
        "wrong-password",
        "syt_not_a_valid_token",
        bot.access_token.as_str(),
    ] {
        assert!(!out.contains(secret), "a secret in the output:\n{out}");
    }
}

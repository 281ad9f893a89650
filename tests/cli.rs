//! The real `schedulight` binary, run with argv in a temp working directory: the demo,
//! `check-config`, `servers list` and `meetings running|find` against simulators this test
//! serves (one of them hanging), bad `--config` paths and `--json` output.

mod common;

use common::{open_link, random_secret, serve_sim};
use schedulight::bbb::sim::{SimBbb, SimConfig, SimHandle};
use schedulight::bbb::{Bbb, CreateParams, JoinAuth, JoinParams, Role};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// No command of these tests may take longer than this, whatever goes wrong (the chat demo
/// starts a local Synapse, which alone takes most of a minute on a loaded 2-core CI machine).
const LIMIT: Duration = Duration::from_secs(150);

/// What a run of the binary gave.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    /// Neither a panic nor a backtrace, whatever the exit code.
    fn assert_no_panic(&self) {
        for text in [&self.stdout, &self.stderr] {
            assert!(
                !text.contains("panicked") && !text.contains("stack backtrace"),
                "{self:#?}"
            );
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// A working directory with the store inside it.
struct Workdir {
    dir: TempDir,
}

impl Workdir {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, text).expect("write a file into the temp dir");
        path
    }

    /// Run the binary with `args` here; a clean environment apart from PATH and friends.
    async fn run(&self, args: &[&str]) -> Run {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_schedulight"));
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if key.starts_with("SCHEDULIGHT_") || key == "RUST_LOG" {
                cmd.env_remove(&key);
            }
        }
        let store = self.path().join("state.db");
        cmd.args(args)
            .current_dir(self.path())
            .env("SCHEDULIGHT_STORE_LOCATION", &store)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let started = Instant::now();
        let out = tokio::time::timeout(LIMIT, cmd.output())
            .await
            .unwrap_or_else(|_| panic!("schedulight {args:?} did not finish within {LIMIT:?}"))
            .expect("run the schedulight binary");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took: started.elapsed(),
        }
    }
}

#[tokio::test]
async fn demo_once_prints_working_links() {
    let wd = Workdir::new();
    let run = wd.run(&["demo", "--once", "--no-chat"]).await;
    run.assert_no_panic();
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout.contains("moderator link: http://127.0.0.1:"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("HTTP 302"), "{}", run.stdout);
    assert!(run.stdout.contains("1 meeting(s)"), "{}", run.stdout);
    assert!(!run.stdout.contains("Synapse"), "{}", run.stdout);
}

/// The README's first command with its chat part: a local Synapse, the bot, a throwaway
/// Greenlight database and a scripted conversation in an encrypted room, printed.
#[tokio::test]
async fn demo_talks_to_the_bot_through_a_local_synapse() {
    let wd = Workdir::new();
    let run = wd.run(&["demo", "--once"]).await;
    run.assert_no_panic();
    assert_eq!(run.code, Some(0), "{run:#?}");
    let out = &run.stdout;
    for expected in [
        "Synapse at http://127.0.0.1:",
        "Greenlight database ready",
        "@staff: !sl schedule meeting Demo seminar in 2 minutes for 30 minutes",
        "Understood: ",
        "meeting 'demo-seminar-",
        "@staff: !sl meetings",
        "create room: 1 ok, 0 failed",
        "share room: 1 ok, 0 failed",
        "ok     bob@demo.example: shared",
        "Your moderator links: sent to you in a direct message.",
        "(direct message @schedulight:localhost → staff)",
        // The scheduler's and the share command's mails, delivered over SMTP on loopback.
        "» mail delivered to the local SMTP server (2):",
        "✉ schedulight@demo.example → staff@demo.example: Your meeting “Demo seminar” is set up (with a calendar invitation)",
        "✉ schedulight@demo.example → bob@demo.example: Room “Physics lab” was shared with you",
    ] {
        assert!(out.contains(expected), "{expected:?} missing:\n{out}");
    }
    // In the room the links are public pages; the signed ones only in the direct message.
    let (room, direct) = out.split_once("(direct message").expect("a direct message");
    let chat = room.split_once("@staff:").expect("a transcript").1;
    assert!(!chat.contains("checksum="), "{chat}");
    assert!(
        direct.contains("Moderator link: http://127.0.0.1:"),
        "{direct}"
    );
}

#[tokio::test]
async fn check_config_accepts_the_repository_config() {
    let wd = Workdir::new();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("bot-config.yml");
    let run = wd
        .run(&["check-config", file.to_str().expect("UTF-8 path")])
        .await;
    run.assert_no_panic();
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stdout.contains("app config OK"), "{}", run.stdout);
}

#[tokio::test]
async fn check_config_points_at_mistakes_in_a_seed_file() {
    let wd = Workdir::new();
    let secret = random_secret();
    wd.write(
        "seed.yml",
        &format!(
            "servers:\n  bbb:\n    BBB_URL: https://bbb.uni.example/bigbluebutton/api\n    \
             BBB_SECRET: {secret}\nmeetings:\n  lecture:\n    server: bbb\n    \
             meetingName: Lecture\n    startdate: 2030-12-03 14:30\n    preOpenMinutes: soon\n"
        ),
    );
    let run = wd.run(&["check-config", "seed.yml"]).await;
    run.assert_no_panic();
    assert_ne!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .contains("seed.yml:9:5: meetings.lecture.startdate: unknown key `startdate`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("did you mean `startDate`?"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("seed.yml:10:21:"), "{}", run.stderr);
    assert!(!run.stderr.contains(&secret) && !run.stdout.contains(&secret));
}

#[tokio::test]
async fn bad_config_path_is_a_clear_error() {
    let wd = Workdir::new();
    for args in [
        &["--config", "missing.yml", "servers", "list"][..],
        &["--config", "missing.yml", "meetings", "running", "--all"][..],
    ] {
        let run = wd.run(args).await;
        run.assert_no_panic();
        assert_eq!(run.code, Some(2), "{run:#?}");
        assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
        assert!(
            run.stderr.contains("missing.yml") && run.stderr.contains("cannot read the file"),
            "{}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
    assert!(!wd.path().join("state.db").exists(), "no store was opened");
}

// ---------------------------------------------------------------- against simulators

const HANG_TIMEOUT_MS: u64 = 500;

/// Three simulated servers (alpha has a running meeting, beta hangs, gamma is idle) and a
/// config naming them.
struct Landscape {
    wd: Workdir,
    secrets: Vec<String>,
    _sims: Vec<SimHandle>,
}

async fn landscape() -> Landscape {
    let wd = Workdir::new();
    let mut sims = Vec::new();
    let mut secrets = Vec::new();
    let mut yaml = String::from("servers:\n");
    for (id, timeout) in [
        ("alpha", 3_000),
        ("beta", HANG_TIMEOUT_MS),
        ("gamma", 3_000),
    ] {
        let secret = random_secret();
        let handle = serve_sim(SimConfig::new(secret.clone())).await;
        yaml.push_str(&format!(
            "  {id}:\n    BBB_URL: {}\n    BBB_SECRET: {secret}\n    timeoutMs: {timeout}\n",
            handle.base_url()
        ));
        secrets.push(secret);
        sims.push(handle);
    }
    yaml.push_str("logging:\n  level: warn\n");
    wd.write("bot-config.yml", &yaml);

    let alpha = SimBbb::new(sims[0].simulator.clone());
    let id = "algebra-101".parse().expect("meeting id");
    let created = alpha
        .create(&CreateParams {
            meeting_id: Some("algebra-101".parse().expect("meeting id")),
            name: "Linear Algebra 101".into(),
            record: Some(true),
            ..CreateParams::default()
        })
        .await
        .expect("create on alpha");
    let mut join = JoinParams::new(id, "Prof. Ada", JoinAuth::Role(Role::Moderator));
    join.create_time = Some(created.create_time);
    sims[0]
        .simulator
        .join_from_url(&alpha.join_url(&join))
        .expect("join on alpha");
    sims[1].simulator.hang();
    Landscape {
        wd,
        secrets,
        _sims: sims,
    }
}

impl Landscape {
    fn assert_no_secrets(&self, run: &Run) {
        for s in &self.secrets {
            assert!(
                !run.stdout.contains(s.as_str()) && !run.stderr.contains(s.as_str()),
                "a secret was printed: {run:#?}"
            );
        }
    }
}

/// The first `JOIN_MODERATOR_URL:` in the output.
fn moderator_link(stdout: &str) -> Option<String> {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("JOIN_MODERATOR_URL:"))
        .map(|u| u.trim().to_string())
}

#[tokio::test]
async fn servers_list_from_the_config() {
    let land = landscape().await;
    let run = land.wd.run(&["servers", "list"]).await;
    run.assert_no_panic();
    assert_eq!(run.code, Some(0), "{run:#?}");
    land.assert_no_secrets(&run);
    let ids: Vec<&str> = run
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(ids, ["alpha", "beta", "gamma"], "{}", run.stdout);
    assert!(run.stdout.contains("500 ms"), "{}", run.stdout);
    assert!(
        land.wd.path().join("state.db").exists(),
        "the store is where SCHEDULIGHT_STORE_LOCATION says"
    );

    let run = land.wd.run(&["--json", "servers", "list"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    land.assert_no_secrets(&run);
    let v = run.json();
    assert_eq!(v["kind"], "servers");
    let servers = v["servers"].as_array().expect("servers array");
    assert_eq!(servers.len(), 3);
    assert_eq!(servers[1]["id"], "beta");
    assert_eq!(servers[1]["timeout_ms"], HANG_TIMEOUT_MS);
}

#[tokio::test]
async fn meetings_running_with_a_hanging_server() {
    let land = landscape().await;
    let run = land
        .wd
        .run(&["meetings", "running", "--all", "--links"])
        .await;
    run.assert_no_panic();
    assert_eq!(run.code, Some(0), "{run:#?}");
    land.assert_no_secrets(&run);
    // Start-up plus the hanging server's timeout plus a margin for a busy machine.
    let budget = Duration::from_millis(HANG_TIMEOUT_MS) + Duration::from_secs(3);
    assert!(run.took < budget, "took {:?}", run.took);
    assert!(
        run.took >= Duration::from_millis(HANG_TIMEOUT_MS),
        "it waited for the hanging server: {:?}",
        run.took
    );
    let out = &run.stdout;
    assert!(out.contains("== alpha: 1 meeting(s)"), "{out}");
    assert!(out.contains("Linear Algebra 101"), "{out}");
    assert!(
        out.contains("== beta: NOT ANSWERING") && out.contains("500 ms"),
        "{out}"
    );
    assert!(out.contains("== gamma: no meetings running"), "{out}");
    let link = moderator_link(out).expect("a moderator link");
    let opened = open_link(&link).await;
    assert!(opened.entered_client(), "{opened:?}");

    let run = land.wd.run(&["--json", "meetings", "running"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    let v = run.json();
    assert_eq!(v["kind"], "running");
    let servers = v["servers"].as_array().expect("servers");
    let by_id = |id: &str| {
        servers
            .iter()
            .find(|s| s["server"] == id)
            .unwrap_or_else(|| panic!("{id} missing"))
    };
    assert_eq!(by_id("alpha")["meetings"][0]["meeting_id"], "algebra-101");
    assert!(by_id("beta")["meetings"].is_null());
    assert!(by_id("beta")["error"].is_string());
    let waited = by_id("beta")["elapsed_ms"].as_u64().expect("elapsed");
    assert!(
        (HANG_TIMEOUT_MS..HANG_TIMEOUT_MS + 300).contains(&waited),
        "{waited}"
    );
    assert_eq!(by_id("gamma")["meetings"], serde_json::json!([]));

    let run = land
        .wd
        .run(&["meetings", "running", "--server", "beta"])
        .await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout.contains("== beta: NOT ANSWERING"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("alpha"), "{}", run.stdout);
}

#[tokio::test]
async fn meetings_find() {
    let land = landscape().await;
    let run = land.wd.run(&["meetings", "find", "ALGEBRA"]).await;
    run.assert_no_panic();
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stdout.contains("Linear Algebra 101"), "{}", run.stdout);
    assert!(run.stdout.contains("ID: algebra-101"), "{}", run.stdout);
    assert!(
        moderator_link(&run.stdout).is_none(),
        "links only when asked for"
    );

    let run = land
        .wd
        .run(&[
            "meetings", "find", "algebra", "--server", "alpha", "--links",
        ])
        .await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    let link = moderator_link(&run.stdout).expect("a moderator link");
    assert!(open_link(&link).await.entered_client());

    let run = land.wd.run(&["meetings", "find", "chemistry"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout.contains("no running meeting has that name"),
        "{}",
        run.stdout
    );

    let run = land
        .wd
        .run(&["--json", "meetings", "find", "algebra"])
        .await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    let v = run.json();
    assert_eq!(v["kind"], "found");
    assert_eq!(v["meeting"]["name"], "Linear Algebra 101");
    assert_eq!(v["meeting"]["server"], "alpha");
}

#[tokio::test]
async fn operation_errors_exit_non_zero_with_a_message() {
    let land = landscape().await;
    let run = land.wd.run(&["meetings", "status", "nosuch"]).await;
    run.assert_no_panic();
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr.contains("no meeting named 'nosuch'"),
        "{}",
        run.stderr
    );

    let run = land
        .wd
        .run(&["--json", "meetings", "running", "--server", "nosuch"])
        .await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    let v = run.json();
    assert_eq!(v["error"], "not_found");
    assert_eq!(v["what"], "server");

    // An id that is not an id at all: a usage error, no panic.
    let run = land.wd.run(&["meetings", "status", "no/such id"]).await;
    run.assert_no_panic();
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("meeting id"), "{}", run.stderr);
}

/// A meeting scheduled through the service into the same SQLite file, then listed, started,
/// inspected and ended with the binary.
#[tokio::test]
async fn scheduled_meeting_start_status_end() {
    use schedulight::bbb::HttpConnector;
    use schedulight::clock::SystemClock;
    use schedulight::domain::{Actor, MeetingSpec, Operation};
    use schedulight::service::{Service, ServiceSettings};
    use schedulight::store::{SqlStore, Store};
    use std::sync::Arc;

    let land = landscape().await;
    // The first run brings the configured servers into the store.
    let run = land.wd.run(&["meetings", "list"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout.contains("no meetings scheduled"),
        "{}",
        run.stdout
    );

    let db = land.wd.path().join("state.db");
    let sql = Arc::new(
        SqlStore::connect(db.to_str().expect("UTF-8 path"))
            .await
            .expect("open the CLI's store"),
    );
    let store: Arc<dyn Store> = sql.clone();
    let service = Service::new(
        store,
        Arc::new(HttpConnector::try_new().expect("client")),
        Arc::new(SystemClock),
        ServiceSettings::default(),
    );
    let mut m = MeetingSpec::new(
        "lecture".parse().expect("id"),
        "gamma".parse().expect("server"),
        "Quantum Field Theory",
    );
    let start = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .checked_add(jiff::SignedDuration::from_hours(48))
        .expect("time");
    m.start = Some(start.datetime().round(jiff::Unit::Minute).expect("round"));
    m.time_zone = Some("UTC".into());
    service
        .execute(
            &Actor::admin("test"),
            Operation::ScheduleMeeting {
                meeting: Box::new(m),
            },
        )
        .await
        .expect("schedule");
    sql.close().await;

    let run = land.wd.run(&["meetings", "list"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout.contains("lecture") && run.stdout.contains("Quantum Field Theory"),
        "{}",
        run.stdout
    );

    let run = land.wd.run(&["meetings", "start", "lecture"]).await;
    run.assert_no_panic();
    assert_eq!(run.code, Some(0), "{run:#?}");
    land.assert_no_secrets(&run);
    assert!(
        run.stdout
            .contains("meeting 'lecture' started on server 'gamma'"),
        "{}",
        run.stdout
    );
    let link = run
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("moderator link:"))
        .map(|u| u.trim().to_string())
        .expect("a moderator link");
    assert!(open_link(&link).await.entered_client());

    let run = land.wd.run(&["meetings", "start", "lecture"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stdout.contains("was already running"), "{}", run.stdout);

    let run = land.wd.run(&["meetings", "status", "lecture"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stdout.contains(": started"), "{}", run.stdout);
    assert!(
        run.stdout.contains("220 meeting started, users joined"),
        "{}",
        run.stdout
    );

    let run = land.wd.run(&["meetings", "end", "lecture"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout.contains("meeting 'lecture' ended"),
        "{}",
        run.stdout
    );
    let run = land.wd.run(&["meetings", "end", "lecture"]).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout.contains("was not running on BBB"),
        "{}",
        run.stdout
    );

    let run = land
        .wd
        .run(&["--json", "meetings", "status", "lecture"])
        .await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    let v = run.json();
    assert_eq!(v["kind"], "meeting");
    assert_eq!(v["meeting"]["phase"], "ended");
}

/// `doctor` says what is ready and what is not: a server that does not answer in time is a
/// problem (exit 1); mail that is off everywhere is a warning for users of the original tool.
#[tokio::test]
async fn doctor_checks_the_installation() {
    let land = landscape().await;
    let run = land.wd.run(&["doctor"]).await;
    run.assert_no_panic();
    assert_eq!(run.code, Some(1), "{run:#?}");
    land.assert_no_secrets(&run);
    let out = &run.stdout;
    assert!(out.contains("✓ store (SQLite"), "{out}");
    assert!(
        out.contains("✓ BBB server alpha: answered a signed call"),
        "{out}"
    );
    assert!(out.contains("✓ BBB server gamma"), "{out}");
    assert!(out.contains("✗ BBB server beta"), "{out}");
    assert!(out.contains("! mail: no mail is sent"), "{out}");
    assert!(
        out.contains("original scheduLight sent every mail"),
        "{out}"
    );
    assert!(out.contains("✓ mail queue: 0 queued, 0 failed"), "{out}");

    let run = land.wd.run(&["--json", "doctor"]).await;
    let checks = run.json();
    let statuses: Vec<&str> = checks
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"problem") && statuses.contains(&"warning"));

    // Mail on: the SMTP server must greet and let us in (a real one, on loopback).
    let sink = schedulight::testkit::smtp::SmtpSink::start(
        schedulight::testkit::smtp::SinkOptions::default(),
    )
    .expect("SMTP server");
    let port = sink.port();
    let base = std::fs::read_to_string(land.wd.path().join("bot-config.yml")).unwrap();
    land.wd.write(
        "mail-on.yml",
        &format!(
            "{base}mail:\n  send_emails: true\n  host: 127.0.0.1\n  port: {port}\n  tls: none\n  from: schedulight@uni.example\n"
        ),
    );
    let run = land.wd.run(&["--config", "mail-on.yml", "doctor"]).await;
    assert!(
        run.stdout.contains(&format!(
            "✓ SMTP (mail.host): 127.0.0.1:{port} (plain) greeted (EHLO)"
        )),
        "{run:#?}"
    );
    drop(sink);
    let run = land.wd.run(&["--config", "mail-on.yml", "doctor"]).await;
    assert!(run.stdout.contains("✗ SMTP (mail.host)"), "{}", run.stdout);
    // The global switch is reported.
    land.wd
        .write("mail-off.yml", &format!("{base}mail:\n  delivery: off\n"));
    let run = land.wd.run(&["--config", "mail-off.yml", "doctor"]).await;
    assert!(
        run.stdout
            .contains("! mail queue: 0 queued, 0 failed; mail.delivery is off"),
        "{}",
        run.stdout
    );
}

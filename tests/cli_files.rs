//! `schedulight plan`, `apply` and `export` as an admin runs them: exit codes (0 no change,
//! 2 changes, 1 error), `--json`, `--dry-run`, saved plans, CSV row errors.

mod common;

use common::schedulight;
use std::path::Path;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(dir: &Path, args: &[&str]) -> Out {
    let out = schedulight(dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run schedulight");
    let o = Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!o.stderr.contains("panicked"), "{args:?}: {}", o.stderr);
    o
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("bot-config.yml"),
        "store:\n  location: state.db\n",
    )
    .unwrap();
    let y = jiff::Zoned::now().year() + 1;
    std::fs::write(
        dir.path().join("semester.yml"),
        format!(
            "servers:\n  bbb:\n    BBB_URL: http://127.0.0.1:9/bigbluebutton/api\n    BBB_SECRET: cli-files-secret-1\nmeetings:\n  lecture:\n    server: bbb\n    meetingName: Algebra\n    startDate: {y}-06-24 11:00\n"
        ),
    )
    .unwrap();
    dir
}

#[test]
fn exit_codes_say_whether_there_is_something_to_apply() {
    let dir = setup();
    let d = dir.path();
    let plan = run(d, &["plan", "semester.yml"]);
    assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout
            .contains("+ meeting lecture  (semester.yml:6:3)"),
        "{}",
        plan.stdout
    );
    assert!(
        !plan.stdout.contains("cli-files-secret-1"),
        "{}",
        plan.stdout
    );

    let dry = run(d, &["apply", "--dry-run", "semester.yml"]);
    assert_eq!(dry.code, 0);
    assert!(dry.stdout.contains("Dry run: nothing was applied."));
    assert_eq!(
        run(d, &["plan", "semester.yml"]).code,
        2,
        "the dry run applied nothing"
    );

    let saved = run(d, &["plan", "semester.yml", "--out", "plan.json"]);
    assert_eq!(saved.code, 2);
    let applied = run(d, &["apply", "--plan", "plan.json"]);
    assert_eq!(applied.code, 0, "{}{}", applied.stdout, applied.stderr);
    assert!(
        applied.stdout.contains("✓ + meeting lecture: scheduled"),
        "{}",
        applied.stdout
    );

    let again = run(d, &["plan", "--json", "semester.yml"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    let json: serde_json::Value = serde_json::from_str(&again.stdout).expect("JSON");
    assert!(
        json["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["action"] == "unchanged"),
        "{json}"
    );
    // What the file did is in the audit log, with the file as the actor.
    let audit = run(d, &["audit", "--object", "lecture", "--jsonl"]);
    assert_eq!(audit.code, 0, "{}", audit.stderr);
    let entries: Vec<serde_json::Value> = audit
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(entries.len(), 1, "{}", audit.stdout);
    assert_eq!(entries[0]["operation"], "schedule_meeting");
    assert!(
        entries[0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("file:cli:"),
        "{}",
        entries[0]
    );
    let text = run(d, &["audit", "--since", "2000-01-01"]);
    assert!(
        text.stdout.contains("schedule_meeting lecture  ok"),
        "{}",
        text.stdout
    );

    // The saved plan is spent: the store changed since.
    let stale = run(d, &["apply", "--plan", "plan.json"]);
    assert_eq!(stale.code, 1);
    assert!(
        stale.stderr.contains("run `schedulight plan` again"),
        "{}",
        stale.stderr
    );
}

#[test]
fn a_broken_file_is_an_error_with_its_place() {
    let dir = setup();
    let d = dir.path();
    std::fs::write(
        d.join("import.csv"),
        "A;B;a@uni.example;;2027-06-30 10:00;;;t;bbb\nC;D;c@uni.example;;2027-06-31 10:00;;;t;bbb\n",
    )
    .unwrap();
    let out = run(d, &["apply", "semester.yml", "import.csv"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("nothing was applied"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("import.csv:2:20: meetings.c_uni_example.startDate"),
        "{}",
        out.stderr
    );
    assert_eq!(
        run(d, &["plan", "semester.yml"]).code,
        2,
        "nothing was applied"
    );

    let json = run(d, &["plan", "--json", "import.csv"]);
    assert_eq!(json.code, 1);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert!(
        v["error"].as_str().unwrap().contains("import.csv:2:20"),
        "{v}"
    );
}

#[test]
fn export_writes_a_file_plan_calls_unchanged() {
    let dir = setup();
    let d = dir.path();
    assert_eq!(run(d, &["apply", "semester.yml"]).code, 0);
    let out = run(d, &["export", "-o", "state.yml"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("1 secret(s)"), "{}", out.stdout);
    let text = std::fs::read_to_string(d.join("state.yml")).unwrap();
    assert!(!text.contains("cli-files-secret-1"), "{text}");
    assert!(
        text.contains("BBB_SECRET_FILE: state.yml.secrets/server-bbb.BBB_SECRET"),
        "{text}"
    );
    let plan = run(d, &["plan", "state.yml"]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
}

/// Waits until the daemon's log holds `needle` after `from` bytes; returns the new part.
fn wait_for_log(log: &Path, from: usize, needle: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let new = text.get(from..).unwrap_or_default();
        if new.contains(needle) {
            return new.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {needle:?} in the daemon's log:\n{text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn the_daemon_applies_its_files_at_start_on_change_and_on_sighup() {
    let dir = setup();
    let d = dir.path();
    std::fs::write(
        d.join("bot-config.yml"),
        "store:\n  location: state.db\napi:\n  listen: 127.0.0.1:0\nfiles:\n  apply:\n    - semester.yml\n",
    )
    .unwrap();
    let log = d.join("run.err");
    let daemon = common::Daemon(
        schedulight(d)
            .arg("run")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("schedulight run"),
    );
    let first = wait_for_log(&log, 0, "Applied 2 change(s)");
    assert!(first.contains("+ meeting lecture: scheduled"), "{first}");
    let seen = std::fs::read_to_string(&log).unwrap().len();

    // An edit is picked up without a signal.
    let y = jiff::Zoned::now().year() + 1;
    let mut text = std::fs::read_to_string(d.join("semester.yml")).unwrap();
    text.push_str(&format!(
        "  seminar:\n    server: bbb\n    meetingName: Seminar\n    startDate: {y}-06-25 09:00\n"
    ));
    std::fs::write(d.join("semester.yml"), &text).unwrap();
    let changed = wait_for_log(&log, seen, "Applied 1 change(s)");
    assert!(
        changed.contains("+ meeting seminar: scheduled"),
        "{changed}"
    );
    assert!(changed.contains("a file changed"), "{changed}");
    let seen = std::fs::read_to_string(&log).unwrap().len();

    // SIGHUP re-applies (nothing to do) and does not end the daemon.
    let pid = daemon.0.id() as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let hup = wait_for_log(&log, seen, "applied: no changes");
    assert!(hup.contains("SIGHUP"), "{hup}");
    let seen = std::fs::read_to_string(&log).unwrap().len();

    // A broken edit is refused with its place; what was applied stays.
    std::fs::write(
        d.join("semester.yml"),
        text.replace(
            "meetingName: Seminar",
            "meetingName: Seminar\n    maxParticipants: lots",
        ),
    )
    .unwrap();
    let refused = wait_for_log(&log, seen, "not applied, nothing changed");
    assert!(refused.contains("semester.yml:"), "{refused}");
    assert!(refused.contains("maxParticipants"), "{refused}");
    let mut daemon = daemon;
    assert!(
        daemon.0.try_wait().unwrap().is_none(),
        "the daemon keeps running"
    );
    let list = run(d, &["--json", "meetings", "list"]);
    let v: serde_json::Value = serde_json::from_str(&list.stdout).expect("JSON");
    assert_eq!(v["meetings"].as_array().map(Vec::len), Some(2), "{v}");
}

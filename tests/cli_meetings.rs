//! `schedulight meetings schedule|list|status|disable|enable|cancel|reset` — the real binary on
//! a SQLite store in a temp directory.

use std::path::Path;
use std::process::{Command, Stdio};

fn run(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_schedulight"));
    for (key, _) in std::env::vars() {
        if key.starts_with("SCHEDULIGHT_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run");
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(!e.contains("panicked"), "{e}");
    (out.status.success(), o, e)
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (good, o, e) = run(dir, args);
    assert!(good, "{args:?}:\n{o}\n{e}");
    o
}

fn next_year() -> String {
    (jiff::Zoned::now().year() + 1).to_string()
}

#[test]
fn schedule_and_manage_meetings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    std::fs::write(
        d.join("bot-config.yml"),
        "store:\n  location: state.db\nservers:\n  bbb:\n    BBB_URL: http://127.0.0.1:9/bigbluebutton/api\n    BBB_SECRET: s3cret-for-tests\n",
    )
    .expect("config");
    let y = next_year();
    let start = format!("{y}-03-02 10:15");
    let out = ok(
        d,
        &[
            "meetings",
            "schedule",
            "lecture",
            "--name",
            "Linear Algebra",
            "--start",
            &start,
            "--time-zone",
            "Europe/Vienna",
        ],
    );
    assert!(out.contains("meeting 'lecture' scheduled"), "{out}");
    // The same id again is refused; --update replaces it.
    let (good, _, err) = run(
        d,
        &[
            "meetings", "schedule", "lecture", "--name", "Again", "--start", &start,
        ],
    );
    assert!(!good && err.contains("already exists"), "{err}");
    ok(
        d,
        &[
            "meetings",
            "schedule",
            "lecture",
            "--name",
            "Linear Algebra I",
            "--start",
            &start,
            "--update",
        ],
    );
    // A wrong date says how to write it.
    let (good, _, err) = run(
        d,
        &[
            "meetings",
            "schedule",
            "x",
            "--name",
            "X",
            "--start",
            "tomorrow-ish",
        ],
    );
    assert!(!good && err.contains("YYYY-MM-DD HH:MM"), "{err}");
    // A file in the original tool's format.
    std::fs::write(
        d.join("meetings.yml"),
        format!(
            "meetings:\n  seminar:\n    server: bbb\n    meetingName: Seminar\n    startDate: {y}-04-01 09:00\n    preOpenMinutes: 15\n  colloquium:\n    server: bbb\n    meetingName: Colloquium\n    startDate: {y}-04-02 16:30\n"
        ),
    )
    .expect("file");
    let out = ok(d, &["meetings", "schedule", "--file", "meetings.yml"]);
    assert_eq!(out.matches("scheduled").count(), 2, "{out}");
    let list = ok(d, &["meetings", "list"]);
    for m in ["lecture", "seminar", "colloquium", "Linear Algebra I"] {
        assert!(list.contains(m), "{list}");
    }
    // The scheduler's plan is visible: pre-open 90 minutes (the default) before the start.
    let status = ok(d, &["meetings", "status", "lecture"]);
    assert!(
        status.contains("next: pre open at") && status.contains("next: start at"),
        "{status}"
    );
    ok(d, &["meetings", "disable", "seminar"]);
    let status = ok(d, &["meetings", "status", "seminar"]);
    assert!(
        status.contains("disabled") && status.contains("900"),
        "{status}"
    );
    ok(d, &["meetings", "enable", "seminar"]);
    ok(d, &["meetings", "reset", "seminar"]);
    ok(d, &["meetings", "cancel", "colloquium"]);
    let list = ok(d, &["meetings", "list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("colloquium") && l.contains("cancelled")),
        "{list}"
    );
    let (good, _, err) = run(d, &["meetings", "enable", "nosuch"]);
    assert!(!good && err.contains("no meeting named 'nosuch'"), "{err}");
}

/// The original mailed owners and invitees regardless; here mail is off unless send_emails
/// says so, and importing the original's file says which meetings would stay silent.
#[test]
fn importing_the_originals_meetings_warns_when_send_emails_is_unset() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    std::fs::write(
        d.join("bot-config.yml"),
        "store:\n  location: state.db\nservers:\n  bbb:\n    BBB_URL: http://127.0.0.1:9/bigbluebutton/api\n    BBB_SECRET: s3cret-for-tests\n",
    )
    .expect("config");
    let y = next_year();
    std::fs::write(
        d.join("meetings.yml"),
        format!(
            "meetings:\n  seminar:\n    server: bbb\n    meetingName: Seminar\n    startDate: {y}-04-01 09:00\n    owner:\n      email: ada@uni.example\n      fullName: Ada\n  quiet:\n    server: bbb\n    meetingName: No one to mail\n    startDate: {y}-04-02 09:00\n  opted:\n    server: bbb\n    meetingName: Opted in\n    startDate: {y}-04-03 09:00\n    send_emails: true\n    sendInvitationLink:\n      bob@uni.example:\n        fullName: Bob\n"
        ),
    )
    .expect("file");
    let (good, out, err) = run(d, &["meetings", "schedule", "--file", "meetings.yml"]);
    assert!(good, "{out}\n{err}");
    assert!(
        err.contains("warning: meetings.yml: send_emails is set nowhere for meeting (seminar)"),
        "{err}"
    );
    assert!(!err.contains("quiet") && !err.contains("opted"), "{err}");

    // With mail.send_emails on in bot-config.yml there is nothing to warn about.
    std::fs::write(
        d.join("bot-config.yml"),
        "store:\n  location: state.db\nmail:\n  send_emails: true\n  host: localhost\n  from: schedulight@uni.example\nservers:\n  bbb:\n    BBB_URL: http://127.0.0.1:9/bigbluebutton/api\n    BBB_SECRET: s3cret-for-tests\n",
    )
    .expect("config");
    let (good, out, err) = run(
        d,
        &["meetings", "schedule", "--update", "--file", "meetings.yml"],
    );
    assert!(good, "{out}\n{err}");
    assert!(!err.contains("send_emails is set nowhere"), "{err}");
}

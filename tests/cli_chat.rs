//! `schedulight chat`: the bot's front end in a terminal, with the clock fixed by
//! `SCHEDULIGHT_NOW` so answers are reproducible.

use std::path::Path;
use std::process::Command;

fn chat(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_schedulight"))
        .arg("chat")
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("SCHEDULIGHT_NOW", "2026-12-02T08:00:00Z")
        .output()
        .expect("run schedulight chat");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{out:?}"
    );
    (out.status.success(), text)
}

#[test]
fn chat_commands_from_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("bot-config.yml"),
        "store:\n  location: state.db\ndefaults:\n  timeZone: Europe/Vienna\n\
         servers:\n  bbb:\n    BBB_URL: http://127.0.0.1:9/bigbluebutton/api\n    BBB_SECRET: s\n",
    )
    .unwrap();

    let (ok, out) = chat(
        dir,
        &[
            "--dry-run",
            "--json",
            "--room",
            "!lectures:uni.example",
            "schedule meeting Seminar tomorrow 11:00",
        ],
    );
    assert!(ok, "{out}");
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed["run"]["op"]["op"], "schedule_meeting", "{out}");
    assert_eq!(
        parsed["run"]["op"]["meeting"]["startDate"],
        "2026-12-03 11:00"
    );
    assert_eq!(
        parsed["run"]["op"]["meeting"]["notifyRoom"], "!lectures:uni.example",
        "meetings scheduled in a room notify it: {out}"
    );
    let (_, listed) = chat(dir, &["meetings"]);
    assert!(
        listed.contains("no meetings"),
        "dry run did nothing: {listed}"
    );

    let (ok, out) = chat(
        dir,
        &["schedule", "meeting", "Seminar", "tomorrow", "11:00"],
    );
    assert!(ok, "{out}");
    assert!(out.contains("Thu 3 Dec 2026, 11:00 CET"), "{out}");
    let (ok, listed) = chat(dir, &["!sl meetings"]);
    assert!(ok && listed.contains("Seminar"), "{listed}");

    let (ok, out) = chat(dir, &["shedule meeting tomorrow"]);
    assert!(!ok && out.contains("schedule"), "{out}");
}

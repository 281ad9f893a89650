//! `schedulight backup` / `restore` of a SQLite store, through the real binary: a backup taken
//! while the daemon runs, a restore refused while it runs and done after, and the guards
//! (no overwriting, no restoring what is not a schedulight store, PostgreSQL named pg_dump).

mod common;

use common::{Daemon, schedulight, schedulight_run};
use std::time::{Duration, Instant};

fn tokens(dir: &std::path::Path) -> String {
    let (ok, out, err) = schedulight_run(dir, &["tokens", "list"]);
    assert!(ok, "{err}");
    out
}

#[test]
fn backup_while_running_restore_when_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(
        d.join("bot-config.yml"),
        "store:\n  location: state.db\napi:\n  listen: 127.0.0.1:0\nretention:\n  run_at:\n",
    )
    .unwrap();
    let (ok, _, err) = schedulight_run(d, &["tokens", "create", "keepme", "--scope", "read"]);
    assert!(ok, "{err}");

    let child = schedulight(d)
        .arg("run")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the daemon");
    let _daemon = Daemon(child);
    // The daemon holds the store's lock once it runs.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !d.join("state.db.lock").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));

    let (ok, out, err) = schedulight_run(d, &["backup", "snapshot.db"]);
    assert!(ok, "a backup works while the daemon runs: {err}");
    assert!(out.contains("snapshot.db"), "{out}");
    let (ok, _, err) = schedulight_run(d, &["backup", "snapshot.db"]);
    assert!(!ok && err.contains("never overwrites"), "{err}");
    let (ok, _, err) = schedulight_run(d, &["restore", "snapshot.db"]);
    assert!(
        !ok && err.contains("stop the daemon"),
        "no restore under a running daemon: {err}"
    );
    drop(_daemon);

    let (ok, _, err) = schedulight_run(d, &["tokens", "revoke", "keepme"]);
    assert!(ok, "{err}");
    assert!(!tokens(d).contains("keepme") || tokens(d).contains("revoked"));
    let before = tokens(d);

    std::fs::write(d.join("junk.db"), "not a database").unwrap();
    let (ok, _, err) = schedulight_run(d, &["restore", "junk.db"]);
    assert!(!ok && err.contains("junk.db"), "{err}");

    let (ok, out, err) = schedulight_run(d, &["restore", "snapshot.db"]);
    assert!(ok, "{err}");
    assert!(out.contains("before-restore"), "{out}");
    let after = tokens(d);
    assert_ne!(before, after, "the restored store is the backup's");
    assert!(after.contains("keepme"), "{after}");
    let aside = std::fs::read_dir(d)
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("state.db.before-restore-")
        });
    assert!(aside, "the replaced store is kept");
}

#[test]
fn postgres_stores_are_backed_up_with_pg_dump() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(
        d.join("bot-config.yml"),
        "store:\n  location: postgres://schedulight@127.0.0.1:9/schedulight\n",
    )
    .unwrap();
    let (ok, _, err) = schedulight_run(d, &["backup", "x.dump"]);
    assert!(!ok && err.contains("pg_dump"), "{err}");
    assert!(
        !err.contains("schedulight@127.0.0.1"),
        "no store URL in messages: {err}"
    );
}

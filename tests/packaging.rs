//! What an operator installs: the systemd unit (checked by `systemd-analyze verify`),
//! `--version`, shell completions, and the refusal of a second daemon on one SQLite store.

mod common;

use std::path::Path;

fn unit_text() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/systemd/schedulight.service"),
    )
    .expect("the unit file")
}

#[test]
fn the_unit_file_verifies_and_is_hardened() {
    let unit = unit_text();
    for line in [
        "User=schedulight",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "StateDirectory=schedulight",
        "Restart=on-failure",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line:?} missing");
    }
    // Verified as installed, with ExecStart pointing at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let installed = dir.path().join("schedulight.service");
    std::fs::write(
        &installed,
        unit.replace(
            "/usr/local/bin/schedulight",
            env!("CARGO_BIN_EXE_schedulight"),
        ),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&installed)
        .output()
        .expect("systemd-analyze (Debian package systemd; scripts/test-all installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.trim().is_empty(),
        "systemd-analyze found something:\n{stderr}"
    );
    let sysusers = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/systemd/schedulight.sysusers"),
    )
    .unwrap();
    assert!(sysusers.lines().any(|l| l.starts_with("u schedulight ")));
}

#[test]
fn version_and_completions() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, _) = common::schedulight_run(dir.path(), &["--version"]);
    assert!(ok);
    assert_eq!(
        out.trim(),
        format!("schedulight {}", env!("CARGO_PKG_VERSION"))
    );
    for shell in ["bash", "zsh", "fish"] {
        let (ok, out, err) = common::schedulight_run(dir.path(), &["completions", shell]);
        assert!(ok, "{err}");
        for word in ["plan", "apply", "export", "doctor", "meetings"] {
            assert!(out.contains(word), "{shell}: no {word}");
        }
    }
}

#[test]
fn a_second_daemon_on_one_sqlite_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("bot-config.yml"),
        "store:\n  location: state.db\napi:\n  listen: 127.0.0.1:0\n",
    )
    .unwrap();
    let log = d.join("first.err");
    let first = common::Daemon(
        common::schedulight(d)
            .arg("run")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("schedulight run"),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("schedulight is running")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the first daemon did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let second = common::schedulight(d)
        .arg("run")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("second run");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success());
    assert!(
        stderr.contains("another `schedulight run` uses the SQLite store state.db"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("pid {}", first.0.id())),
        "{stderr}"
    );
    drop(first);
    // Once the first is gone, the store is free again.
    let mut again = common::Daemon(
        common::schedulight(d)
            .arg("run")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run again"),
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(again.0.try_wait().unwrap().is_none(), "it runs");
}

//! The API as an operator meets it: `schedulight tokens create|list|revoke` and
//! `schedulight run` serving /api/v1 on `api.listen`, called like the original README's curl
//! examples (with a token header added).

mod common;

use common::Daemon;
use std::fs::File;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn cli(dir: &Path, args: &[&str]) -> (bool, String, String) {
    common::schedulight_run(dir, args)
}

/// Log lines without terminal colour codes.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_from_the_cli_open_the_daemons_api() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("bot-config.yml"),
        "store:\n  location: state.db\napi:\n  listen: 127.0.0.1:0\nservers:\n  server_to_use:\n    BBB_URL: http://127.0.0.1:9/bigbluebutton/api\n    BBB_SECRET: s3cret-for-tests-api\n",
    )
    .unwrap();

    let (ok, out, err) = cli(
        d,
        &["tokens", "create", "ci", "--scope", "read,meetings:write"],
    );
    assert!(ok, "{out}{err}");
    let token = out
        .lines()
        .find(|l| l.starts_with("sl_"))
        .unwrap_or_else(|| panic!("no token printed:\n{out}"))
        .trim()
        .to_string();
    let (ok, out, _) = cli(d, &["tokens", "create", "ci", "--scope", "read"]);
    assert!(!ok, "a live name is unique: {out}");
    let (ok, out, err) = cli(d, &["tokens", "create", "x", "--scope", "root"]);
    assert!(!ok && err.contains("unknown scope"), "{out}{err}");
    let (ok, list, _) = cli(d, &["tokens", "list"]);
    assert!(
        ok && list.contains("ci") && list.contains("read,meetings:write"),
        "{list}"
    );
    assert!(!list.contains(&token[3..]), "the token is never listed");

    let log = d.join("run.err");
    let _daemon = Daemon(
        common::schedulight(d)
            .arg("run")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let base = loop {
        let text = strip_ansi(&std::fs::read_to_string(&log).unwrap_or_default());
        if let Some(addr) = text
            .split_whitespace()
            .find_map(|w| w.strip_prefix("listen="))
        {
            break format!("http://{addr}");
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not start:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let http = reqwest::Client::new();

    // The original README: curl http://localhost:8008/api/v1/servers
    let r = http
        .get(format!("{base}/api/v1/servers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no token, no answer");
    let r = http
        .get(format!("{base}/api/v1/servers"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"message": "found servers", "data": ["server_to_use"]})
    );
    // curl -X POST -H 'Content-Type: application/json' -d '{…}' …/api/v1/meetings
    let next_year = jiff::Zoned::now().year() + 1;
    let r = http
        .post(format!("{base}/api/v1/meetings"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "id": "meeting_1",
            "server": "server_to_use",
            "meetingName": "Meeting 1",
            "startDate": format!("{next_year}-06-24 11:00"),
            "owner": {"email": "owner@uni.example", "fullName": "Owner"}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = http
        .get(format!("{base}/api/v1/meetings/meeting_1/status"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The token may not touch servers.
    let r = http
        .delete(format!("{base}/api/v1/servers/server_to_use"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let (ok, out, _) = cli(d, &["tokens", "revoke", "ci"]);
    assert!(ok, "{out}");
    let r = http
        .get(format!("{base}/api/v1/servers"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "revoked");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.contains(&token[3..]), "the token is not logged");
}

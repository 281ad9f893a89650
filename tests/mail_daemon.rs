//! Mail end to end through the real binary: `schedulight meetings schedule` stores a meeting
//! in the original's file format, `schedulight run` works through its steps, queues the owner
//! info and invitation mails, renders them and delivers them over STARTTLS with a login to a
//! real SMTP server (aiosmtpd); `schedulight mail list --state sent` shows the SMTP replies.
//! The SMTP password never shows in the daemon's log.

mod common;

use common::Daemon;
use schedulight::testkit::smtp::{SinkOptions, SinkTls, SmtpSink};
use std::fs::File;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const SMTP_PASSWORD: &str = "smtp-pass-Xq7";

fn cli(dir: &Path, args: &[&str]) -> String {
    let (ok, stdout, stderr) = common::schedulight_run(dir, args);
    assert!(ok, "{args:?} failed:\n{stdout}\n{stderr}");
    stdout
}

#[test]
fn the_daemon_mails_owner_and_invitees_over_starttls() {
    let sink = SmtpSink::start(SinkOptions {
        tls: SinkTls::Starttls,
        login: Some(("schedulight".into(), SMTP_PASSWORD.into())),
        ..SinkOptions::default()
    })
    .expect("aiosmtpd");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("smtp-password"), format!("{SMTP_PASSWORD}\n")).unwrap();
    std::fs::write(
        d.join("bot-config.yml"),
        format!(
            "store:\n  location: state.db\napi:\n  listen: 127.0.0.1:0\n\
             mail:\n  send_emails: true\n  host: 127.0.0.1\n  port: {port}\n  tls: starttls\n  \
             user: schedulight\n  password_file: smtp-password\n  from: lectures@uni.example\n  \
             from_name: Lecture service\n  ca_file: {ca}\n\
             defaults:\n  timeZone: Europe/Vienna\n\
             servers:\n  bbb:\n    BBB_URL: http://127.0.0.1:9/bigbluebutton/api\n    BBB_SECRET: s3cret-for-tests\n",
            port = sink.port(),
            ca = sink.ca_file().unwrap().display(),
        ),
    )
    .unwrap();
    let next_year = jiff::Zoned::now().year() + 1;
    std::fs::write(
        d.join("meetings.yml"),
        format!(
            "meetings:\n  seminar:\n    server: bbb\n    meetingName: Seminar Quantenmechanik\n    \
             startDate: {next_year}-03-02 10:15\n    owner:\n      email: ada@uni.example\n      \
             fullName: Ada Lovelace\n    sendInvitationLink:\n      bob@uni.example:\n        \
             fullName: Bob Beispiel\n"
        ),
    )
    .unwrap();
    cli(d, &["meetings", "schedule", "--file", "meetings.yml"]);

    let log = d.join("run.err");
    let _daemon = Daemon(
        common::schedulight(d)
            .arg("run")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("schedulight run"),
    );
    let got = sink.wait_for(2, Duration::from_secs(60));
    assert_eq!(
        got.len(),
        2,
        "owner info and invitation arrive; the daemon said:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let mut rcpts: Vec<&str> = got.iter().map(|m| m.rcpt_tos[0].as_str()).collect();
    rcpts.sort();
    assert_eq!(rcpts, ["ada@uni.example", "bob@uni.example"]);
    assert!(
        got.iter()
            .all(|m| m.tls && m.login.as_deref() == Some("schedulight"))
    );
    let invitation = got
        .iter()
        .find(|m| m.rcpt_tos == ["bob@uni.example"])
        .unwrap()
        .inspect()
        .unwrap();
    assert_eq!(invitation["calendar"]["method"], "REQUEST");
    assert_eq!(invitation["calendar"]["tzid"], "Europe/Vienna");
    assert_eq!(
        invitation["calendar"]["dtstart"],
        format!("{next_year}-03-02T10:15:00+01:00")
    );
    assert_eq!(
        invitation["headers"]["To"],
        "Bob Beispiel <bob@uni.example>"
    );

    // The store records what the server said, once the sender has recorded it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let sent = loop {
        let out = cli(d, &["--json", "mail", "list", "--state", "sent"]);
        let list: serde_json::Value = serde_json::from_str(&out).unwrap();
        let mails = list["mails"].as_array().cloned().unwrap_or_default();
        if mails.len() == 2 || Instant::now() > deadline {
            break mails;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = serde_json::to_string(&sent).unwrap();
    assert_eq!(sent.len(), 2, "{text}");
    for m in &sent {
        assert_eq!(m["state"], "sent", "{text}");
        assert_eq!(m["attempts"], 1, "{text}");
        assert!(
            m["reply"]
                .as_str()
                .is_some_and(|r| r.starts_with("250 2.0.0 Ok: queued as Q")),
            "{text}"
        );
    }
    let human = cli(d, &["mail", "list", "--state", "sent"]);
    assert!(
        human.contains("sent invitation to bob@uni.example — meeting seminar (attempts 1) sent "),
        "{human}"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("mail sent"), "{logged}");
    assert!(!logged.contains(SMTP_PASSWORD), "no secret in the log");
    assert!(!text.contains(SMTP_PASSWORD));
}

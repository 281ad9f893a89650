//! The mail sender against a real SMTP server on loopback (aiosmtpd, `schedulight::testkit::smtp`):
//! STARTTLS with login, implicit TLS, connection reuse, the messages read back by independent
//! parsers (headers, RFC 2047 names, MIME structure, the .ics with UID / SEQUENCE / METHOD /
//! DTSTART in zone), the server down and back, refusals dead-lettered, deferrals retried up to
//! the limit, debug mode, delivery off, and a sender dropped between "the server has it" and
//! "the store knows it" (the mail is sent again with the same Message-ID).

use jiff::{SignedDuration, Timestamp};
use schedulight::bbb::sim::SimConnector;
use schedulight::clock::ManualClock;
use schedulight::config::{MailConfig, MailDelivery, TlsMode};
use schedulight::domain::meeting::seed_datetime;
use schedulight::domain::{
    Actor, Channel, MeetingSpec, NoticeKind, Operation, Owner, Recipient, Secret, ServerSpec,
};
use schedulight::mail::render::message_id;
use schedulight::mail::sender::{Delivered, MailSender};
use schedulight::service::{Service, ServiceSettings};
use schedulight::store::{OutboxEntry, OutboxRequest, OutboxState, SqlStore, Store};
use schedulight::testkit::smtp::{Received, SinkOptions, SinkTls, SmtpSink};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const FROM: &str = "schedulight@uni.example";

struct World {
    service: Service,
    clock: ManualClock,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

fn at(s: &str) -> Timestamp {
    jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M", s)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::get("Europe/Vienna").unwrap())
        .unwrap()
        .timestamp()
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store: Arc<dyn Store> = Arc::new(SqlStore::connect(&url).await.unwrap());
    let clock = ManualClock::new(at("2026-11-28 09:00"));
    let settings = ServiceSettings {
        default_time_zone: jiff::tz::TimeZone::get("Europe/Vienna").unwrap(),
        send_emails: true,
        ..ServiceSettings::default()
    };
    let service = Service::new(
        store.clone(),
        Arc::new(SimConnector::new()),
        Arc::new(clock.clone()),
        settings,
    );
    let admin = Actor::admin("test");
    let server = ServerSpec::new(
        "bbb".parse().unwrap(),
        "http://127.0.0.1:9/bigbluebutton/api/".parse().unwrap(),
        Secret::new("mail-test-secret"),
    );
    service
        .execute(
            &admin,
            Operation::AddServer {
                server: Box::new(server),
            },
        )
        .await
        .unwrap();
    let mut m = MeetingSpec::new(
        "lecture".parse().unwrap(),
        "bbb".parse().unwrap(),
        "Übung Lineare Algebra",
    );
    m.start = Some(seed_datetime::parse("2026-12-03 14:00").unwrap());
    m.time_zone = Some("Europe/Vienna".into());
    m.owner = Some(Owner {
        email: "juergen.mueller@uni.example".parse().unwrap(),
        full_name: "Jürgen Müller".into(),
        password: None,
        uid: None,
        social_uid: None,
    });
    m.send_invitation_link.insert(
        "zoe@uni.example".parse().unwrap(),
        Recipient {
            full_name: Some("Zoë Ångström".into()),
            send_emails: None,
        },
    );
    service
        .execute(
            &admin,
            Operation::ScheduleMeeting {
                meeting: Box::new(m),
            },
        )
        .await
        .unwrap();
    World {
        service,
        clock,
        store,
        _dir: dir,
    }
}

impl World {
    /// Queue a mail as the scheduler does (`Service::queue_mail`).
    async fn queue(&self, kind: NoticeKind, to: &str, name: &str) -> (i64, String) {
        let meeting = "lecture".parse().unwrap();
        let key = OutboxRequest::key_for(kind, Some(&meeting), None, to);
        let enqueued = self
            .store
            .enqueue_outbox(
                &OutboxRequest {
                    unique_key: key.clone(),
                    channel: Channel::Mail,
                    kind,
                    meeting_id: Some(meeting),
                    occurrence: None,
                    recipient: to.into(),
                    data: json!({ "recipientName": name }),
                    not_before: self.service.now(),
                },
                self.service.now(),
            )
            .await
            .unwrap();
        (enqueued.id, key)
    }

    async fn entry(&self, id: i64) -> OutboxEntry {
        self.store
            .list_outbox(&Default::default())
            .await
            .unwrap()
            .into_iter()
            .chain(
                self.store
                    .list_outbox(&schedulight::store::OutboxFilter {
                        state: schedulight::domain::operation::MailFilter::All,
                        ..Default::default()
                    })
                    .await
                    .unwrap(),
            )
            .find(|e| e.id == id)
            .expect("entry")
    }

    fn sender(&self, config: &MailConfig) -> MailSender {
        MailSender::new(self.service.clone(), config.clone()).unwrap()
    }
}

fn config(sink_port: u16, tls: TlsMode, sink: Option<&SmtpSink>) -> MailConfig {
    MailConfig {
        send_emails: true,
        host: Some("127.0.0.1".into()),
        port: sink_port,
        tls,
        from: Some(FROM.parse().unwrap()),
        from_name: Some("Universität Musterstadt – Schedulight".into()),
        ca_file: sink.and_then(|s| s.ca_file().map(|p| p.to_path_buf())),
        timeout: Duration::from_secs(5),
        ..MailConfig::default()
    }
}

fn sink(options: SinkOptions) -> SmtpSink {
    SmtpSink::start(options).expect("aiosmtpd")
}

fn inspect(m: &Received) -> Value {
    m.inspect().expect("read back")
}

fn header<'a>(v: &'a Value, name: &str) -> &'a str {
    v["headers"][name].as_str().unwrap_or_else(|| {
        panic!("no {name} header in {}", v["headers"]);
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_over_starttls_with_login_reads_back_everywhere() {
    let w = world().await;
    let sink = sink(SinkOptions {
        tls: SinkTls::Starttls,
        login: Some(("mailer".into(), "s3cret pass".into())),
        ..SinkOptions::default()
    });
    let mut cfg = config(sink.port(), TlsMode::Starttls, Some(&sink));
    cfg.user = Some("mailer".into());
    cfg.password = Some(Secret::new("s3cret pass"));
    let (invite, key) = w
        .queue(NoticeKind::Invitation, "zoe@uni.example", "Zoë Ångström")
        .await;
    let (owner, _) = w
        .queue(
            NoticeKind::OwnerInfo,
            "juergen.mueller@uni.example",
            "Jürgen Müller",
        )
        .await;

    let done = w.sender(&cfg).deliver_due().await.unwrap();
    assert_eq!(
        done,
        Delivered {
            sent: 2,
            ..Delivered::default()
        }
    );
    let got = sink.wait_for(2, Duration::from_secs(5));
    assert_eq!(got.len(), 2);
    let to_zoe = got
        .iter()
        .find(|m| m.rcpt_tos == ["zoe@uni.example"])
        .expect("invitation");
    assert_eq!(to_zoe.login.as_deref(), Some("mailer"), "logged in");
    assert!(to_zoe.tls, "after STARTTLS");
    // The original's precedence: owner → server (bot-config's mail.from is the server
    // default) → meeting; the last present wins.
    assert_eq!(to_zoe.mail_from, FROM);

    let v = inspect(to_zoe);
    assert_eq!(v["defects"], json!([]), "the parser found no defects");
    // RFC 2047: the names travel encoded and decode back.
    assert!(
        v["raw_headers"]["To"]
            .as_str()
            .unwrap()
            .contains("=?utf-8?"),
        "{}",
        v["raw_headers"]["To"]
    );
    assert_eq!(header(&v, "To"), "Zoë Ångström <zoe@uni.example>");
    assert_eq!(
        header(&v, "From"),
        "Universität Musterstadt – Schedulight <schedulight@uni.example>"
    );
    assert!(
        v["raw_headers"]["From"]
            .as_str()
            .unwrap()
            .contains("=?utf-8?")
    );
    assert!(header(&v, "Subject").contains("Übung Lineare Algebra"));
    assert_eq!(
        header(&v, "Message-ID"),
        message_id(&key, &FROM.parse().unwrap())
    );
    // Date is the sender's clock, RFC 5322 style.
    let date = header(&v, "Date");
    assert!(date.contains("28 Nov 2026"), "{date}");
    assert_eq!(header(&v, "Auto-Submitted"), "auto-generated");
    assert_eq!(
        v["structure"],
        json!([
            "multipart/mixed",
            [
                [
                    "multipart/alternative",
                    ["text/plain", "text/html", "text/calendar"]
                ],
                "application/ics"
            ]
        ])
    );
    assert!(v["text"].as_str().unwrap().contains("Zoë"));
    assert!(v["html"].as_str().unwrap().contains("<"));
    let cal = &v["calendar"];
    assert_eq!(cal["method"], "REQUEST");
    assert_eq!(cal["content_type_method"], "REQUEST");
    assert_eq!(cal["sequence"], 0);
    assert_eq!(cal["dtstart"], "2026-12-03T14:00:00+01:00");
    assert_eq!(cal["tzid"], "Europe/Vienna");
    assert_eq!(cal["zones"], json!(["Europe/Vienna"]));
    assert_eq!(v["attachment"]["filename"], "invite.ics");
    assert_eq!(v["attachment"]["same_as_inline"], true);
    let uid = cal["uid"].as_str().unwrap().to_string();

    for id in [invite, owner] {
        let e = w.entry(id).await;
        assert_eq!(e.state, OutboxState::Sent);
        assert_eq!(e.attempts, 1);
        assert!(
            e.reply
                .as_deref()
                .unwrap()
                .starts_with("250 2.0.0 Ok: queued as Q"),
            "{:?}",
            e.reply
        );
    }

    // Cancelling the meeting mails a CANCEL for the same event.
    let (cancel, _) = w
        .queue(
            NoticeKind::MeetingCancelled,
            "zoe@uni.example",
            "Zoë Ångström",
        )
        .await;
    w.sender(&cfg).deliver_due().await.unwrap();
    let got = sink.wait_for(3, Duration::from_secs(5));
    let v = inspect(&got[2]);
    assert_eq!(v["calendar"]["method"], "CANCEL");
    assert_eq!(v["calendar"]["uid"], uid.as_str(), "the same UID");
    assert_eq!(w.entry(cancel).await.state, OutboxState::Sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_reuses_one_connection() {
    let w = world().await;
    let sink = sink(SinkOptions {
        tls: SinkTls::Implicit,
        ..SinkOptions::default()
    });
    let cfg = config(sink.port(), TlsMode::Tls, Some(&sink));
    for n in 0..3 {
        w.queue(
            NoticeKind::Invitation,
            &format!("student{n}@uni.example"),
            "Student",
        )
        .await;
    }
    let done = w.sender(&cfg).deliver_due().await.unwrap();
    assert_eq!(done.sent, 3);
    let got = sink.wait_for(3, Duration::from_secs(5));
    assert!(got.iter().all(|m| m.tls), "TLS from the first byte");
    let sessions: std::collections::BTreeSet<_> = got.iter().map(|m| m.session).collect();
    assert_eq!(sessions.len(), 1, "one SMTP session for three mails");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificate_is_refused_and_retried() {
    let w = world().await;
    let sink = sink(SinkOptions {
        tls: SinkTls::Starttls,
        ..SinkOptions::default()
    });
    // No ca_file: the test CA is not trusted.
    let cfg = config(sink.port(), TlsMode::Starttls, None);
    let (id, _) = w
        .queue(NoticeKind::Invitation, "zoe@uni.example", "Zoë")
        .await;
    let done = w.sender(&cfg).deliver_due().await.unwrap();
    assert_eq!(done.retrying, 1);
    assert!(
        sink.messages().is_empty(),
        "nothing went over an unverified TLS session"
    );
    let e = w.entry(id).await;
    assert_eq!(e.state, OutboxState::Pending);
    assert!(
        e.last_error.as_deref().unwrap().contains("127.0.0.1"),
        "{:?}",
        e.last_error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_keeps_mail_queued_until_it_is_back() {
    let w = world().await;
    let mut down = sink(SinkOptions::default());
    let port = down.port();
    down.stop();
    let cfg = config(port, TlsMode::None, None);
    let (id, _) = w
        .queue(NoticeKind::Invitation, "zoe@uni.example", "Zoë")
        .await;
    let sender = w.sender(&cfg);

    let done = sender.deliver_due().await.unwrap();
    assert_eq!(done.retrying, 1);
    let e = w.entry(id).await;
    assert_eq!((e.state, e.attempts), (OutboxState::Pending, 1));
    let error = e.last_error.unwrap();
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    assert_eq!(
        e.request.not_before,
        w.service.now() + SignedDuration::from_mins(1),
        "first retry after a minute"
    );
    // Not before its time.
    assert_eq!(sender.deliver_due().await.unwrap(), Delivered::default());

    // Still down a minute later: the next wait doubles.
    w.clock.advance(SignedDuration::from_mins(1));
    assert_eq!(sender.deliver_due().await.unwrap().retrying, 1);
    let e = w.entry(id).await;
    assert_eq!(
        e.request.not_before,
        w.service.now() + SignedDuration::from_mins(2)
    );

    // The server is back on its port.
    let back = down
        .restart(SinkOptions {
            port: Some(port),
            ..SinkOptions::default()
        })
        .unwrap();
    w.clock.advance(SignedDuration::from_mins(2));
    assert_eq!(sender.deliver_due().await.unwrap().sent, 1);
    assert_eq!(back.wait_for(1, Duration::from_secs(5)).len(), 1);
    let e = w.entry(id).await;
    assert_eq!((e.state, e.attempts), (OutboxState::Sent, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusal_is_dead_lettered_and_deferral_retried_up_to_the_limit() {
    let w = world().await;
    let sink = sink(SinkOptions {
        reject: Some("nobody".into()),
        tempfail: Some("busy".into()),
        ..SinkOptions::default()
    });
    let mut cfg = config(sink.port(), TlsMode::None, None);
    cfg.max_attempts = 3;
    let (refused, _) = w
        .queue(NoticeKind::Invitation, "nobody@uni.example", "Nobody")
        .await;
    let (busy, _) = w
        .queue(NoticeKind::Invitation, "busy@uni.example", "Busy")
        .await;
    let sender = w.sender(&cfg);

    let done = sender.deliver_due().await.unwrap();
    assert_eq!((done.failed, done.retrying), (1, 1));
    let e = w.entry(refused).await;
    assert_eq!(
        (e.state, e.attempts),
        (OutboxState::Failed, 1),
        "550 is final"
    );
    assert!(
        e.last_error.as_deref().unwrap().contains("550"),
        "the SMTP reply is recorded: {:?}",
        e.last_error
    );

    for wait in [1, 2] {
        w.clock.advance(SignedDuration::from_mins(wait));
        sender.deliver_due().await.unwrap();
    }
    let e = w.entry(busy).await;
    assert_eq!(
        (e.state, e.attempts),
        (OutboxState::Failed, 3),
        "dead-lettered after max_attempts"
    );
    assert!(e.last_error.as_deref().unwrap().contains("451"));
    assert!(sink.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_that_cannot_be_rendered_is_dead_lettered_at_once() {
    let w = world().await;
    let sink = sink(SinkOptions::default());
    let cfg = config(sink.port(), TlsMode::None, None);
    let (id, _) = w.queue(NoticeKind::Invitation, "not an address", "?").await;
    let done = w.sender(&cfg).deliver_due().await.unwrap();
    assert_eq!(done.failed, 1);
    let e = w.entry(id).await;
    assert_eq!((e.state, e.attempts), (OutboxState::Failed, 1));
    assert!(
        e.last_error
            .as_deref()
            .unwrap()
            .contains("is not an e-mail address"),
        "{:?}",
        e.last_error
    );
    assert!(sink.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_mode_and_delivery_off_send_nothing() {
    let w = world().await;
    let sink = sink(SinkOptions::default());
    let mut cfg = config(sink.port(), TlsMode::None, None);

    // Off: nothing is claimed, everything stays queued.
    cfg.delivery = MailDelivery::Off;
    let (id, _) = w
        .queue(NoticeKind::Invitation, "zoe@uni.example", "Zoë")
        .await;
    assert_eq!(
        w.sender(&cfg).deliver_due().await.unwrap(),
        Delivered::default()
    );
    let e = w.entry(id).await;
    assert_eq!((e.state, e.attempts), (OutboxState::Pending, 0));

    // Debug: rendered and logged, recorded as such, not sent.
    cfg.delivery = MailDelivery::Debug;
    assert_eq!(w.sender(&cfg).deliver_due().await.unwrap().logged, 1);
    let e = w.entry(id).await;
    assert_eq!(e.state, OutboxState::Sent);
    assert!(e.reply.as_deref().unwrap().contains("debug"));

    // A server's mailDebug does the same for its mails.
    cfg.delivery = MailDelivery::Send;
    let mut server = w
        .store
        .get_server(&"bbb".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    server.mail_debug = Some(true);
    w.store
        .upsert_server(&server, w.service.now())
        .await
        .unwrap();
    w.queue(NoticeKind::OwnerInfo, "juergen.mueller@uni.example", "J")
        .await;
    assert_eq!(w.sender(&cfg).deliver_due().await.unwrap().logged, 1);
    assert!(sink.messages().is_empty());
}

/// A sender that dies after the SMTP server accepted the message and before the store
/// recorded it (here: its task is dropped mid-conversation, as a killed process's would be;
/// the store only holds what was committed). After the lease a new sender sends it again —
/// with the same Message-ID, so the copy is recognisably the same message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_sending_and_recording_resends_the_same_message() {
    let w = world().await;
    let sink = sink(SinkOptions {
        hang_after_data: Some(Duration::from_secs(30)),
        ..SinkOptions::default()
    });
    let cfg = config(sink.port(), TlsMode::None, None);
    let (id, key) = w
        .queue(NoticeKind::Invitation, "zoe@uni.example", "Zoë")
        .await;
    let first = w.sender(&cfg);
    let lease = first.lease();
    let task = tokio::spawn(async move { first.deliver_due().await });
    let got = tokio::task::block_in_place(|| sink.wait_for(1, Duration::from_secs(10)));
    assert_eq!(got.len(), 1, "the server has it");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let e = w.entry(id).await;
    assert_eq!(e.state, OutboxState::Sending, "nothing recorded");

    // Restarted, the sender leaves the claim alone while the lease holds…
    let port = sink.port();
    let sink = sink
        .restart(SinkOptions {
            port: Some(port),
            ..SinkOptions::default()
        })
        .unwrap();
    let second = w.sender(&cfg);
    assert_eq!(second.deliver_due().await.unwrap(), Delivered::default());
    // …and sends it again once it has passed.
    w.clock.advance(lease);
    assert_eq!(second.deliver_due().await.unwrap().sent, 1);
    let got = sink.wait_for(2, Duration::from_secs(5));
    assert_eq!(got.len(), 2, "delivered twice: at least once");
    let ids: Vec<String> = got
        .iter()
        .map(|m| header(&inspect(m), "Message-ID").to_string())
        .collect();
    assert_eq!(ids[0], ids[1], "the copy has the same Message-ID");
    assert_eq!(ids[0], message_id(&key, &FROM.parse().unwrap()));
    let e = w.entry(id).await;
    assert_eq!((e.state, e.attempts), (OutboxState::Sent, 2));
}

/// Mails are decided again when they are sent: a meeting switched to `send_emails: false`
/// after its mails were queued sends none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_emails_switched_off_after_queueing_stops_the_mail() {
    let w = world().await;
    let sink = sink(SinkOptions::default());
    let cfg = config(sink.port(), TlsMode::None, None);
    let (id, _) = w
        .queue(NoticeKind::Invitation, "zoe@uni.example", "Zoë")
        .await;
    let mut spec = w
        .store
        .get_meeting(&"lecture".parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .spec;
    spec.send_emails = Some(false);
    w.service
        .execute(
            &Actor::admin("test"),
            Operation::UpdateMeeting {
                meeting: Box::new(spec),
            },
        )
        .await
        .unwrap();
    let done = w.sender(&cfg).deliver_due().await.unwrap();
    assert_eq!(done.failed, 1);
    let e = w.entry(id).await;
    assert_eq!(e.state, OutboxState::Failed);
    assert!(
        e.last_error
            .as_deref()
            .unwrap()
            .contains("send_emails is false on the meeting"),
        "{:?}",
        e.last_error
    );
    assert!(sink.messages().is_empty());
}

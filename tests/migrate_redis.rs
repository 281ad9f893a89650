//! Moving over from the Python scheduLight: a real Redis (Debian's redis-server) filled the way
//! the original fills it (seed-behaviour.md §4.4, §10 — JSON strings, status hashes of
//! `date|code|message` lists, the mail stream with its consumer group), imported into a SQLite
//! store with the BBB simulator as the server.

mod common;

use redis::AsyncCommands;
use schedulight::bbb::HttpConnector;
use schedulight::bbb::sim::SimConfig;
use schedulight::clock::SystemClock;
use schedulight::domain::operation::MailFilter;
use schedulight::domain::{Actor, Channel, MeetingPhase, NoticeKind};
use schedulight::service::{Service, ServiceSettings};
use schedulight::store::{OutboxFilter, OutboxRequest, OutboxState, SqlStore, Store};
use schedulight::testkit::redis::RedisServer;
use serde_json::json;
use std::sync::Arc;

const SMTP_PASSWORD: &str = "smtp-password-in-every-mail";

fn mail_properties(to: &str, subject: &str) -> String {
    json!({
        "mailServer": "smtp.uni.example",
        "mailUser": "bbb-admin",
        "mailPassword": SMTP_PASSWORD,
        "mailFrom": "bbb-admin@uni.example",
        "mailFromName": "BBB Team",
        "mailTo": to,
        "mailToName": "Bob",
        "mailText": format!("Subject: {subject}\n\n<p>Hallo Bob,</p><p>der Link: https://gl.uni.example/b/alg-ebr-a01</p>"),
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_redis_store_is_imported_without_doing_anything_twice() {
    let redis_server = RedisServer::start().expect("redis-server");
    let url = redis_server.url(1);
    let secret = common::random_secret();
    let sim = common::serve_sim(SimConfig::new(secret.clone())).await;
    let y = jiff::Zoned::now().year() + 1;

    // --- the original's keys
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut r = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = r.sadd("servers", "bbb").await.unwrap();
    let server = json!({
        "id": "bbb", "BBB_SECRET": secret, "BBB_URL": sim.base_url(),
        "link_base": "https://gl.uni.example/b", "mailFrom": "bbb-admin@uni.example",
        "mailFromName": "BBB Team", "mailPassword": SMTP_PASSWORD,
        "mailServer": "smtp.uni.example", "mailUser": "bbb-admin",
    });
    let _: () = r.set("server:bbb", server.to_string()).await.unwrap();
    let _: () = r.sadd("servers", "expired").await.unwrap();
    for id in ["lecture", "old", "paused", "broken", "gone"] {
        let _: () = r.sadd("meetings", id).await.unwrap();
    }
    let lecture = json!({
        "id": "lecture", "server": "bbb", "meetingName": "Algebra",
        "startDate": format!("{y}-06-24 11:00"),
        "owner": {"email": "ada@uni.example", "fullName": "Ada"},
        "sendInvitationLink": {"bob@uni.example": {"fullName": "Bob"}},
        "sendModeratorLink": {"carol@uni.example": {"fullName": "Carol"}},
    });
    let _: () = r.set("meeting:lecture", lecture.to_string()).await.unwrap();
    let t = "2026-11-20 08:00:01.123456";
    let _: () = r
        .hset_multiple(
            "meeting:lecture:status",
            &[
                (
                    "status",
                    json!([
                        format!("{t}|200|new"),
                        format!("{t}|201|waiting for startDate")
                    ])
                    .to_string(),
                ),
                (
                    "owner_infoMailSent",
                    json!([format!("{t}|250|sent owner info mail")]).to_string(),
                ),
                (
                    "sendInvitationLink_bob@uni.example",
                    json!([
                        format!("{t}|550|invitation mail could not be send"),
                        format!("{t}|250|invitation mail sent")
                    ])
                    .to_string(),
                ),
                (
                    "sendModeratorLink_carol@uni.example",
                    json!([format!("{t}|440|could not send moderator link")]).to_string(),
                ),
            ],
        )
        .await
        .unwrap();
    let old = json!({"id": "old", "server": "bbb", "meetingName": "Last term", "startDate": "2025-03-02 10:00"});
    let _: () = r.set("meeting:old", old.to_string()).await.unwrap();
    let _: () = r
        .hset_multiple(
            "meeting:old:status",
            &[
                (
                    "status",
                    json!([format!("{t}|220|meeting started, users joined")]).to_string(),
                ),
                (
                    "endMeeting",
                    json!([format!("{t}|220|closed meeting")]).to_string(),
                ),
            ],
        )
        .await
        .unwrap();
    let paused = json!({"id": "paused", "server": "bbb", "meetingName": "Paused", "startDate": format!("{y}-07-01 09:00")});
    let _: () = r.set("meeting:paused", paused.to_string()).await.unwrap();
    let _: () = r
        .hset(
            "meeting:paused:status",
            "status",
            json!([format!("{t}|900|disabled")]).to_string(),
        )
        .await
        .unwrap();
    let broken =
        json!({"id": "broken", "server": "bbb", "meetingName": "B", "startDate": "tomorrow"});
    let _: () = r.set("meeting:broken", broken.to_string()).await.unwrap();

    // The mail stream: one entry sent and acknowledged, one delivered and never acknowledged
    // (the original retried those forever), one never delivered.
    let _: () = redis::cmd("XGROUP")
        .arg(&["CREATE", "mailStream", "mailNotifications", "$", "MKSTREAM"])
        .query_async(&mut r)
        .await
        .unwrap();
    let _: String = r
        .xadd(
            "mailStream",
            "*",
            &[(
                "lecture",
                mail_properties("bob@uni.example", "Sent long ago"),
            )],
        )
        .await
        .unwrap();
    let _: String = r
        .xadd(
            "mailStream",
            "*",
            &[(
                "lecture",
                mail_properties("bob@uni.example", "Algebra Einladung"),
            )],
        )
        .await
        .unwrap();
    let read: redis::streams::StreamReadReply = r
        .xread_options(
            &["mailStream"],
            &[">"],
            &redis::streams::StreamReadOptions::default()
                .group("mailNotifications", "consumer1")
                .count(2),
        )
        .await
        .unwrap();
    let first = read.keys[0].ids[0].id.clone();
    let _: i64 = r
        .xack("mailStream", "mailNotifications", &[&first])
        .await
        .unwrap();
    let _: String = r
        .xadd(
            "mailStream",
            "*",
            &[(
                "share_room",
                mail_properties("carol@uni.example", "share_room alg-ebr-a01"),
            )],
        )
        .await
        .unwrap();

    // --- the import
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqlStore::connect(&dir.path().join("state.db").display().to_string())
            .await
            .unwrap(),
    );
    let service = Service::new(
        store.clone(),
        Arc::new(HttpConnector::try_new().unwrap()),
        Arc::new(SystemClock),
        ServiceSettings::default(),
    );
    let actor = Actor::admin("import:test");
    let dry = schedulight::migrate::import(
        &service,
        &actor,
        schedulight::migrate::read(&url).await.unwrap(),
        false,
        true,
    )
    .await
    .unwrap();
    assert!(
        store.list_meetings().await.unwrap().is_empty(),
        "a dry run writes nothing"
    );
    assert_eq!(dry.meetings.len(), 3);

    let state = schedulight::migrate::read(&url).await.unwrap();
    let report = schedulight::migrate::import(&service, &actor, state, false, false)
        .await
        .unwrap();
    let text = report.render("redis://127.0.0.1/1", false);
    assert!(
        !text.contains(SMTP_PASSWORD) && !text.contains(&secret),
        "{text}"
    );
    assert_eq!(report.servers, ["bbb"]);
    let skipped: Vec<&str> = report.skipped.iter().map(|s| s.what.as_str()).collect();
    assert!(skipped.contains(&"server:expired"), "{text}");
    assert!(skipped.contains(&"meeting:gone"), "{text}");
    let broken = report
        .skipped
        .iter()
        .find(|s| s.what == "meeting:broken")
        .expect("broken skipped");
    assert!(broken.why.contains("startDate"), "{}", broken.why);
    assert!(
        text.contains("send_emails is set nowhere for lecture"),
        "{text}"
    );

    // Meetings and their state.
    let phase = |id: &str| {
        let store = store.clone();
        let id = id.to_string();
        async move {
            store
                .get_meeting(&id.parse().unwrap())
                .await
                .unwrap()
                .unwrap()
                .phase
        }
    };
    assert_eq!(phase("lecture").await, MeetingPhase::New);
    assert_eq!(phase("old").await, MeetingPhase::Ended);
    assert_eq!(phase("paused").await, MeetingPhase::Disabled);
    assert!(
        !store
            .list_jobs(Some(&"lecture".parse().unwrap()))
            .await
            .unwrap()
            .is_empty(),
        "planned"
    );
    assert!(
        store
            .list_jobs(Some(&"old".parse().unwrap()))
            .await
            .unwrap()
            .is_empty()
    );
    let history = store
        .step_history(&"lecture".parse().unwrap())
        .await
        .unwrap();
    let steps: Vec<(String, u16)> = history.iter().map(|s| (s.step.clone(), s.code)).collect();
    for expected in [
        ("status".to_string(), 201),
        ("owner_infoMailSent".into(), 250),
        ("sendInvitationLink_bob@uni.example".into(), 250),
        ("sendModeratorLink_carol@uni.example".into(), 440),
        ("imported".into(), 200),
    ] {
        assert!(steps.contains(&expected), "{expected:?} not in {steps:?}");
    }

    // What it had sent is marked sent under the keys the scheduler uses; what failed is not.
    let outbox = store
        .list_outbox(&OutboxFilter {
            state: MailFilter::All,
            channel: Some(Channel::Mail),
            meeting: None,
        })
        .await
        .unwrap();
    let lecture_id = "lecture".parse().unwrap();
    let key = |kind, to: &str| OutboxRequest::key_for(kind, Some(&lecture_id), None, to);
    let state_of = |k: String| {
        outbox
            .iter()
            .find(|e| e.request.unique_key == k)
            .map(|e| e.state)
    };
    assert_eq!(
        state_of(key(NoticeKind::OwnerInfo, "ada@uni.example")),
        Some(OutboxState::Sent)
    );
    assert_eq!(
        state_of(key(NoticeKind::Invitation, "bob@uni.example")),
        Some(OutboxState::Sent)
    );
    assert_eq!(
        state_of(key(NoticeKind::ModeratorLink, "carol@uni.example")),
        None
    );

    // Queued mails: the two unacknowledged ones, without the SMTP credentials.
    let imported: Vec<_> = outbox
        .iter()
        .filter(|e| e.request.kind == NoticeKind::ImportedMail)
        .collect();
    assert_eq!(imported.len(), 2, "{imported:#?}");
    let all =
        serde_json::to_string(&outbox.iter().map(|e| &e.request.data).collect::<Vec<_>>()).unwrap();
    assert!(
        !all.contains(SMTP_PASSWORD) && !all.contains("bbb-admin\""),
        "{all}"
    );
    assert!(imported.iter().all(|e| e.state == OutboxState::Pending));
    let invitation = imported
        .iter()
        .find(|e| e.request.recipient == "bob@uni.example")
        .unwrap();
    let mail = schedulight::mail::render::render_entry(&service, &Default::default(), invitation)
        .await
        .unwrap();
    assert_eq!(mail.subject, "Algebra Einladung");
    assert!(
        mail.html
            .as_deref()
            .unwrap()
            .contains("https://gl.uni.example/b/alg-ebr-a01")
    );
    assert!(mail.text.contains("Hallo Bob,"), "{}", mail.text);

    // Importing again changes nothing.
    let again = schedulight::migrate::import(
        &service,
        &actor,
        schedulight::migrate::read(&url).await.unwrap(),
        false,
        false,
    )
    .await
    .unwrap();
    assert!(again.meetings.is_empty() && again.servers.is_empty());
    let after = store
        .list_outbox(&OutboxFilter {
            state: MailFilter::All,
            channel: Some(Channel::Mail),
            meeting: None,
        })
        .await
        .unwrap();
    assert_eq!(
        after.len(),
        outbox.len(),
        "queued mails are not imported twice"
    );

    // The command an operator runs: a report, no secrets, nothing written with --dry-run.
    let cli = tempfile::tempdir().unwrap();
    std::fs::write(
        cli.path().join("bot-config.yml"),
        "store:\n  location: state.db\n",
    )
    .unwrap();
    let (ok, out, err) = common::schedulight_run(cli.path(), &["import-redis", &url, "--dry-run"]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("Would import from redis://127.0.0.1:"),
        "{out}"
    );
    assert!(out.contains("lecture: scheduled"), "{out}");
    assert!(out.contains("paused: disabled (status 900)"), "{out}");
    assert!(out.contains("meeting:broken"), "{out}");
    assert!(
        !out.contains(SMTP_PASSWORD) && !out.contains(&secret),
        "{out}"
    );
    let (_, list, _) = common::schedulight_run(cli.path(), &["--json", "meetings", "list"]);
    assert!(list.contains("[]"), "{list}");
}

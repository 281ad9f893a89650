//! One behaviour suite for every `Store`: the in-memory fake, SQLite (a file in a temp dir) and
//! PostgreSQL (a fresh database per test on the throwaway cluster of `testkit::pg`). Each case is
//! an async fn taking `Arc<dyn Store>`; the `suite!` macro runs it on all three backends.

use jiff::{Timestamp, ToSpan};
use schedulight::domain::operation::MailFilter;
use schedulight::domain::{
    Channel, MeetingId, MeetingPhase, MeetingSpec, NoticeKind, Owner, Scope, Secret, ServerId,
    ServerSpec, StepRecord,
};
use schedulight::store::{
    AppliedEntry, AuditEntry, AuditQuery, Enqueued, JobState, MemoryStore, NewJob, OutboxEntry,
    OutboxFilter, OutboxRequest, OutboxState, PlannedMeeting, PurgeCutoffs, SqlStore, Store,
    StoreError,
};
use schedulight::testkit::pg::PgCluster;
use std::collections::HashSet;
use std::sync::Arc;
use tempfile::TempDir;

// ---------------------------------------------------------------- backends

/// A store under test plus whatever must live as long as it (the SQLite temp dir).
struct Backend {
    store: Arc<dyn Store>,
    _dir: Option<TempDir>,
}

async fn memory() -> Backend {
    Backend {
        store: Arc::new(MemoryStore::new()),
        _dir: None,
    }
}

async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state.db");
    let store = SqlStore::connect(path.to_str().expect("utf-8 temp path"))
        .await
        .expect("open SQLite store");
    assert_eq!(store.backend(), "sqlite");
    Backend {
        store: Arc::new(store),
        _dir: Some(dir),
    }
}

async fn pg_url() -> String {
    let cluster = PgCluster::shared().expect("throwaway PostgreSQL");
    cluster.fresh_database().await.expect("fresh database")
}

async fn postgres() -> Backend {
    let store = SqlStore::connect(&pg_url().await)
        .await
        .expect("open PG store");
    assert_eq!(store.backend(), "postgres");
    Backend {
        store: Arc::new(store),
        _dir: None,
    }
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let b = super::memory().await;
                    super::$case(b.store.clone()).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let b = super::sqlite().await;
                    super::$case(b.store.clone()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let b = super::postgres().await;
                    super::$case(b.store.clone()).await;
                }
            )*
        }
    };
}

suite!(
    purge_removes_only_old_records,
    retention_warnings_are_kept_once,
    audit_is_queried_by_time_actor_and_object_and_purged,
    leases_have_one_holder_and_events_one_handler,
    meetings_inserted_in_bulk_with_their_plans,
    applied_entries_replace_and_forget,
    servers_upsert_list_delete,
    meetings_insert_conflict_update_phase,
    meeting_delete_cascades,
    step_history_appends_only_on_code_change,
    step_history_needs_its_meeting,
    jobs_enqueue_is_idempotent,
    jobs_claim_only_due_in_order,
    jobs_expired_lease_is_reclaimed,
    jobs_complete_and_fail,
    jobs_cancel_by_meeting,
    jobs_concurrent_claimers_share_nothing,
    mail_outbox_lifecycle,
    mail_outbox_filters_and_delete,
    outbox_lease_reclaims_after_a_crash,
    audit_is_newest_first,
    tokens_lifecycle,
    quotes_and_unicode_survive,
    times_keep_microseconds,
    chat_zones_and_confirmations,
);

// ---------------------------------------------------------------- fixtures

fn t(seconds: i64) -> Timestamp {
    let base: Timestamp = "2026-06-01T10:00:00Z".parse().expect("valid base time");
    base.checked_add(seconds.seconds()).expect("time in range")
}

fn sid(s: &str) -> ServerId {
    s.parse().expect("valid server id")
}

fn mid(s: &str) -> MeetingId {
    s.parse().expect("valid meeting id")
}

fn server(id: &str) -> ServerSpec {
    let mut s = ServerSpec::new(
        sid(id),
        "https://bbb.uni.example/bigbluebutton/api/"
            .parse()
            .expect("valid URL"),
        Secret::new(format!("secret-of-{id}")),
    );
    s.mail_password = Some(Secret::new("smtp-pw"));
    s
}

fn meeting(id: &str) -> MeetingSpec {
    MeetingSpec::new(mid(id), sid("bbb"), format!("Meeting {id}"))
}

fn step(name: &str, code: u16, message: &str, at: Timestamp) -> StepRecord {
    StepRecord {
        step: name.to_string(),
        code,
        message: message.to_string(),
        at,
    }
}

fn job(key: &str, meeting: Option<&str>, due: Timestamp) -> NewJob {
    NewJob {
        kind: "start_meeting".into(),
        meeting_id: meeting.map(mid),
        due_at: due,
        payload: serde_json::json!({"key": key, "n": 1}),
        unique_key: key.to_string(),
    }
}

fn mail(key: &str, not_before: Timestamp) -> OutboxRequest {
    request(key, Channel::Mail, "bob@uni.example", not_before)
}

fn request(key: &str, channel: Channel, recipient: &str, not_before: Timestamp) -> OutboxRequest {
    OutboxRequest {
        unique_key: key.to_string(),
        channel,
        kind: if channel == Channel::Mail {
            NoticeKind::OwnerInfo
        } else {
            NoticeKind::Started
        },
        meeting_id: Some(mid("m1")),
        occurrence: Some("2026-12-03T14:00".into()),
        recipient: recipient.into(),
        data: serde_json::json!({"recipientName": "Bob"}),
        not_before,
    }
}

fn all(state: MailFilter) -> OutboxFilter {
    OutboxFilter {
        state,
        ..OutboxFilter::default()
    }
}

fn audit(at: Timestamp, op: &str) -> AuditEntry {
    AuditEntry {
        at,
        actor: "cli:root".into(),
        operation: op.into(),
        target: Some("m1".into()),
        result: "ok".into(),
        detail: None,
    }
}

async fn add_meeting(store: &Arc<dyn Store>, id: &str) {
    store
        .insert_meeting(&meeting(id), MeetingPhase::New, t(0))
        .await
        .expect("insert meeting");
}

// ---------------------------------------------------------------- servers and meetings

async fn servers_upsert_list_delete(store: Arc<dyn Store>) {
    assert!(store.list_servers().await.unwrap().is_empty());
    assert!(store.upsert_server(&server("zeta"), t(0)).await.unwrap());
    assert!(store.upsert_server(&server("alpha"), t(0)).await.unwrap());
    // Upper case sorts before lower case (byte order) on every backend.
    assert!(store.upsert_server(&server("Beta"), t(0)).await.unwrap());

    let mut changed = server("alpha");
    changed.timeout_ms = 1234;
    changed.link_base = Some("https://gl.uni.example/b".into());
    assert!(!store.upsert_server(&changed, t(5)).await.unwrap());
    let got = store.get_server(&sid("alpha")).await.unwrap().unwrap();
    assert_eq!(got, changed);
    assert_eq!(got.secret.expose(), "secret-of-alpha");

    let ids: Vec<String> = store
        .list_servers()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id.to_string())
        .collect();
    assert_eq!(ids, ["Beta", "alpha", "zeta"]);

    assert!(store.delete_server(&sid("zeta")).await.unwrap());
    assert!(!store.delete_server(&sid("zeta")).await.unwrap());
    assert_eq!(store.get_server(&sid("zeta")).await.unwrap(), None);
    assert_eq!(store.list_servers().await.unwrap().len(), 2);
}

async fn meetings_insert_conflict_update_phase(store: Arc<dyn Store>) {
    let mut m = meeting("lecture");
    m.pre_open_minutes = Some(30);
    m.owner = Some(Owner {
        email: "alice@uni.example".parse().unwrap(),
        full_name: "Alice".into(),
        password: Some(Secret::new("pw")),
        uid: None,
        social_uid: None,
    });
    store
        .insert_meeting(&m, MeetingPhase::Waiting, t(0))
        .await
        .unwrap();
    let err = store
        .insert_meeting(&m, MeetingPhase::New, t(1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { what: "meeting", id } if id == "lecture"),
        "{err:?}"
    );

    let stored = store.get_meeting(&mid("lecture")).await.unwrap().unwrap();
    assert_eq!(stored.spec, m);
    assert_eq!(stored.phase, MeetingPhase::Waiting);
    assert_eq!((stored.created_at, stored.updated_at), (t(0), t(0)));

    let mut m2 = m.clone();
    m2.name = "Lecture (moved)".into();
    m2.server = sid("other");
    assert!(store.update_meeting_spec(&m2, t(10)).await.unwrap());
    let stored = store.get_meeting(&mid("lecture")).await.unwrap().unwrap();
    assert_eq!(stored.spec, m2);
    assert_eq!(stored.phase, MeetingPhase::Waiting, "phase is kept");
    assert_eq!((stored.created_at, stored.updated_at), (t(0), t(10)));
    assert!(
        !store
            .update_meeting_spec(&meeting("ghost"), t(10))
            .await
            .unwrap()
    );

    assert!(
        store
            .set_meeting_phase(&mid("lecture"), MeetingPhase::Started, t(20))
            .await
            .unwrap()
    );
    let stored = store.get_meeting(&mid("lecture")).await.unwrap().unwrap();
    assert_eq!(stored.phase, MeetingPhase::Started);
    assert_eq!(stored.updated_at, t(20));
    assert!(
        !store
            .set_meeting_phase(&mid("ghost"), MeetingPhase::Ended, t(20))
            .await
            .unwrap()
    );

    add_meeting(&store, "a-first").await;
    add_meeting(&store, "Z-upper").await;
    let ids: Vec<String> = store
        .list_meetings()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.spec.id.to_string())
        .collect();
    assert_eq!(ids, ["Z-upper", "a-first", "lecture"]);
    assert_eq!(store.get_meeting(&mid("ghost")).await.unwrap(), None);
}

async fn meeting_delete_cascades(store: Arc<dyn Store>) {
    add_meeting(&store, "m1").await;
    add_meeting(&store, "m2").await;
    store
        .record_step(&mid("m1"), &step("status", 200, "new", t(0)))
        .await
        .unwrap();
    store
        .record_step(&mid("m2"), &step("status", 200, "new", t(0)))
        .await
        .unwrap();
    let old_id = store
        .enqueue_job(&job("m1:start", Some("m1"), t(10)))
        .await
        .unwrap();
    store
        .enqueue_job(&job("m1:end", Some("m1"), t(5)))
        .await
        .unwrap();
    store
        .enqueue_job(&job("m2:start", Some("m2"), t(10)))
        .await
        .unwrap();
    // One of m1's jobs is running, so deletion covers more than pending ones.
    let claimed = store.claim_due_jobs(t(5), "w", t(60), 1).await.unwrap();
    assert_eq!(claimed[0].unique_key, "m1:end");
    store
        .enqueue_outbox(&mail("m1:info", t(0)), t(0))
        .await
        .unwrap();

    assert!(store.delete_meeting(&mid("m1")).await.unwrap());
    assert!(!store.delete_meeting(&mid("m1")).await.unwrap());
    assert_eq!(store.get_meeting(&mid("m1")).await.unwrap(), None);
    assert!(store.step_history(&mid("m1")).await.unwrap().is_empty());
    assert!(store.list_jobs(Some(&mid("m1"))).await.unwrap().is_empty());
    let left: Vec<String> = store
        .list_jobs(None)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.unique_key)
        .collect();
    assert_eq!(left, ["m2:start"]);
    assert_eq!(store.step_history(&mid("m2")).await.unwrap().len(), 1);
    // Mails are not part of a meeting's state: they stay.
    assert_eq!(
        store
            .list_outbox(&all(MailFilter::All))
            .await
            .unwrap()
            .len(),
        1
    );

    // A re-created meeting can enqueue the same unique key again.
    add_meeting(&store, "m1").await;
    let new_id = store
        .enqueue_job(&job("m1:start", Some("m1"), t(10)))
        .await
        .unwrap();
    assert_ne!(new_id, old_id, "ids are never reused");
}

// ---------------------------------------------------------------- step history

async fn step_history_appends_only_on_code_change(store: Arc<dyn Store>) {
    add_meeting(&store, "m1").await;
    add_meeting(&store, "m2").await;
    let m1 = mid("m1");
    let rec = |name: &'static str, code: u16, msg: &'static str, at: i64| {
        let store = store.clone();
        let m1 = m1.clone();
        async move {
            store
                .record_step(&m1, &step(name, code, msg, t(at)))
                .await
                .unwrap()
        }
    };
    assert!(rec("status", 200, "new", 0).await);
    assert!(
        !rec("status", 200, "new, said again", 1).await,
        "same code: dropped"
    );
    assert!(rec("status", 201, "waiting for startDate", 2).await);
    assert!(
        rec("status", 200, "new again", 3).await,
        "only the latest code counts"
    );
    assert!(rec("preOpen", 220, "meeting opened", 4).await);
    assert!(rec("Zcustom", 400, "upper case step", 5).await);
    assert!(
        rec("shareWith_bob@uni.example", 220, "room shared", 6).await,
        "same code on another step is appended"
    );
    store
        .record_step(&mid("m2"), &step("status", 200, "new", t(0)))
        .await
        .unwrap();

    let history = store.step_history(&m1).await.unwrap();
    let seen: Vec<(&str, u16, &str)> = history
        .iter()
        .map(|r| (r.step.as_str(), r.code, r.message.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("status", 200, "new"),
            ("status", 201, "waiting for startDate"),
            ("status", 200, "new again"),
            ("preOpen", 220, "meeting opened"),
            ("Zcustom", 400, "upper case step"),
            ("shareWith_bob@uni.example", 220, "room shared"),
        ]
    );
    assert_eq!(history[2].at, t(3));

    let latest = store.latest_steps(&m1).await.unwrap();
    let seen: Vec<(&str, u16)> = latest.iter().map(|r| (r.step.as_str(), r.code)).collect();
    assert_eq!(
        seen,
        [
            ("Zcustom", 400),
            ("preOpen", 220),
            ("shareWith_bob@uni.example", 220),
            ("status", 200),
        ]
    );
    assert_eq!(latest[3], step("status", 200, "new again", t(3)));

    assert_eq!(store.clear_steps(&m1, Some("status")).await.unwrap(), 3);
    assert_eq!(store.clear_steps(&m1, Some("status")).await.unwrap(), 0);
    assert_eq!(store.step_history(&m1).await.unwrap().len(), 3);
    // After a reset the same code is recorded again.
    assert!(rec("status", 200, "new", 10).await);
    assert_eq!(store.clear_steps(&m1, None).await.unwrap(), 4);
    assert!(store.step_history(&m1).await.unwrap().is_empty());
    assert!(store.latest_steps(&m1).await.unwrap().is_empty());
    assert_eq!(
        store.step_history(&mid("m2")).await.unwrap().len(),
        1,
        "other meetings keep theirs"
    );
}

async fn step_history_needs_its_meeting(store: Arc<dyn Store>) {
    let err = store
        .record_step(&mid("ghost"), &step("status", 200, "new", t(0)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Database(msg) if msg.contains("'ghost' does not exist")),
        "{err:?}"
    );
    assert!(store.step_history(&mid("ghost")).await.unwrap().is_empty());
    assert_eq!(store.clear_steps(&mid("ghost"), None).await.unwrap(), 0);
}

// ---------------------------------------------------------------- jobs

async fn jobs_enqueue_is_idempotent(store: Arc<dyn Store>) {
    add_meeting(&store, "m1").await;
    let first = job("m1:start", Some("m1"), t(10));
    let id = store.enqueue_job(&first).await.unwrap();
    let mut again = first.clone();
    again.payload = serde_json::json!({"different": true});
    again.due_at = t(99);
    assert_eq!(store.enqueue_job(&again).await.unwrap(), id);

    let jobs = store.list_jobs(None).await.unwrap();
    assert_eq!(jobs.len(), 1);
    let j = &jobs[0];
    assert_eq!(j.id, id);
    assert_eq!(j.payload, first.payload, "nothing changes on re-enqueue");
    assert_eq!(j.due_at, t(10));
    assert_eq!(
        (j.state, j.attempts, j.last_error.as_deref()),
        (JobState::Pending, 0, None)
    );
    assert_eq!(j.meeting_id, Some(mid("m1")));
    assert_eq!(j.kind, "start_meeting");

    let other = store
        .enqueue_job(&job("housekeeping", None, t(5)))
        .await
        .unwrap();
    assert_ne!(other, id);
    let keys: Vec<String> = store
        .list_jobs(None)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.unique_key)
        .collect();
    assert_eq!(keys, ["housekeeping", "m1:start"], "ordered by due time");
    assert_eq!(store.list_jobs(Some(&mid("m1"))).await.unwrap().len(), 1);

    let err = store
        .enqueue_job(&job("ghost:start", Some("ghost"), t(5)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Database(msg) if msg.contains("'ghost' does not exist")),
        "{err:?}"
    );
}

async fn jobs_claim_only_due_in_order(store: Arc<dyn Store>) {
    assert_eq!(store.next_job_due().await.unwrap(), None);
    for (key, due) in [("c", 100), ("a", 0), ("b", 10), ("d", 10)] {
        store.enqueue_job(&job(key, None, t(due))).await.unwrap();
    }
    assert_eq!(store.next_job_due().await.unwrap(), Some(t(0)));
    assert!(
        store
            .claim_due_jobs(t(-1), "w1", t(60), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .claim_due_jobs(t(50), "w1", t(60), 0)
            .await
            .unwrap()
            .is_empty()
    );

    let claimed = store.claim_due_jobs(t(10), "w1", t(60), 2).await.unwrap();
    let keys: Vec<&str> = claimed.iter().map(|j| j.unique_key.as_str()).collect();
    assert_eq!(keys, ["a", "b"], "oldest first, limited");
    assert!(
        claimed
            .iter()
            .all(|j| j.state == JobState::Running && j.attempts == 1)
    );

    let claimed = store.claim_due_jobs(t(10), "w1", t(60), 10).await.unwrap();
    let keys: Vec<&str> = claimed.iter().map(|j| j.unique_key.as_str()).collect();
    assert_eq!(keys, ["d"], "running jobs are not claimed again");
    assert!(
        store
            .claim_due_jobs(t(10), "w2", t(60), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.next_job_due().await.unwrap(),
        Some(t(100)),
        "only pending jobs count"
    );
}

async fn jobs_expired_lease_is_reclaimed(store: Arc<dyn Store>) {
    let id = store.enqueue_job(&job("a", None, t(0))).await.unwrap();
    let first = store.claim_due_jobs(t(0), "w1", t(60), 5).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        store
            .claim_due_jobs(t(59), "w2", t(120), 5)
            .await
            .unwrap()
            .is_empty(),
        "lease still held"
    );
    // w1 crashed: once its lease is over, another worker takes the job.
    let again = store.claim_due_jobs(t(60), "w2", t(120), 5).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (id, 2));
    assert_eq!(again[0].state, JobState::Running);
    store.complete_job(id, t(70)).await.unwrap();
    assert!(
        store
            .claim_due_jobs(t(500), "w3", t(600), 5)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn jobs_complete_and_fail(store: Arc<dyn Store>) {
    let done = store.enqueue_job(&job("done", None, t(0))).await.unwrap();
    let retry = store.enqueue_job(&job("retry", None, t(0))).await.unwrap();
    store.claim_due_jobs(t(0), "w", t(60), 10).await.unwrap();

    store.complete_job(done, t(1)).await.unwrap();
    store
        .fail_job(retry, "BBB unreachable: O'Brien's server", Some(t(30)))
        .await
        .unwrap();
    let jobs = store.list_jobs(None).await.unwrap();
    let by_id = |id| jobs.iter().find(|j| j.id == id).unwrap().clone();
    assert_eq!(by_id(done).state, JobState::Done);
    let r = by_id(retry);
    assert_eq!((r.state, r.due_at), (JobState::Pending, t(30)));
    assert_eq!(
        r.last_error.as_deref(),
        Some("BBB unreachable: O'Brien's server")
    );
    assert_eq!(store.next_job_due().await.unwrap(), Some(t(30)));

    assert!(
        store
            .claim_due_jobs(t(29), "w", t(90), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.claim_due_jobs(t(30), "w", t(90), 10).await.unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 2));

    store.fail_job(retry, "gave up", None).await.unwrap();
    // Final states stay final.
    store.complete_job(retry, t(40)).await.unwrap();
    store
        .fail_job(done, "late failure", Some(t(50)))
        .await
        .unwrap();
    let jobs = store.list_jobs(None).await.unwrap();
    let by_id = |id| jobs.iter().find(|j| j.id == id).unwrap().clone();
    let r = by_id(retry);
    assert_eq!(
        (r.state, r.last_error.as_deref()),
        (JobState::Failed, Some("gave up"))
    );
    let d = by_id(done);
    assert_eq!((d.state, d.last_error), (JobState::Done, None));
    assert_eq!(store.next_job_due().await.unwrap(), None);
    assert!(
        store
            .claim_due_jobs(t(1000), "w", t(2000), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Unknown ids are a no-op, not an error.
    store.complete_job(9999, t(0)).await.unwrap();
    store.fail_job(9999, "x", None).await.unwrap();
}

async fn jobs_cancel_by_meeting(store: Arc<dyn Store>) {
    add_meeting(&store, "m1").await;
    add_meeting(&store, "m2").await;
    store
        .enqueue_job(&job("m1:run", Some("m1"), t(0)))
        .await
        .unwrap();
    store.claim_due_jobs(t(0), "w", t(60), 1).await.unwrap();
    for (key, m) in [("m1:a", "m1"), ("m1:b", "m1"), ("m2:a", "m2")] {
        store.enqueue_job(&job(key, Some(m), t(10))).await.unwrap();
    }
    assert_eq!(store.cancel_jobs(&mid("m1")).await.unwrap(), 2);
    assert_eq!(store.cancel_jobs(&mid("m1")).await.unwrap(), 0);
    let states: Vec<(String, JobState)> = store
        .list_jobs(None)
        .await
        .unwrap()
        .into_iter()
        .map(|j| (j.unique_key, j.state))
        .collect();
    assert_eq!(
        states,
        [
            ("m1:run".to_string(), JobState::Running),
            ("m1:a".to_string(), JobState::Cancelled),
            ("m1:b".to_string(), JobState::Cancelled),
            ("m2:a".to_string(), JobState::Pending),
        ]
    );
    let claimed = store.claim_due_jobs(t(20), "w", t(80), 10).await.unwrap();
    let keys: Vec<&str> = claimed.iter().map(|j| j.unique_key.as_str()).collect();
    assert_eq!(keys, ["m2:a"]);
    // A cancelled job's key stays taken: re-enqueueing returns it unchanged.
    let id = store
        .enqueue_job(&job("m1:a", Some("m1"), t(30)))
        .await
        .unwrap();
    let j = store
        .list_jobs(Some(&mid("m1")))
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.id == id)
        .unwrap();
    assert_eq!(j.state, JobState::Cancelled);
}

/// Two claimers pulling from one queue at the same time never get the same job. On SQL
/// backends the two handles are separate stores (separate pools), like two instances.
async fn concurrent_claimers(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    const JOBS: usize = 60;
    for i in 0..JOBS {
        a.enqueue_job(&job(&format!("job-{i:03}"), None, t(i as i64 % 7)))
            .await
            .unwrap();
    }
    let claim_all = |store: Arc<dyn Store>, worker: &'static str| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = store
                    .claim_due_jobs(t(100), worker, t(1000), 3)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    break got;
                }
                for j in &batch {
                    store.complete_job(j.id, t(101)).await.unwrap();
                }
                got.extend(batch.into_iter().map(|j| j.id));
                tokio::task::yield_now().await;
            }
        })
    };
    let (ga, gb) = tokio::join!(claim_all(a.clone(), "a"), claim_all(b.clone(), "b"));
    let (ga, gb) = (ga.unwrap(), gb.unwrap());
    let mut all: Vec<i64> = ga.iter().chain(gb.iter()).copied().collect();
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), unique.len(), "a job was claimed twice");
    all.sort();
    assert_eq!(all.len(), JOBS, "every job was claimed once");
    let jobs = a.list_jobs(None).await.unwrap();
    assert!(
        jobs.iter()
            .all(|j| j.state == JobState::Done && j.attempts == 1)
    );
}

async fn jobs_concurrent_claimers_share_nothing(store: Arc<dyn Store>) {
    concurrent_claimers(store.clone(), store).await;
}

// ---------------------------------------------------------------- mail outbox

async fn mail_outbox_lifecycle(store: Arc<dyn Store>) {
    let m = mail("m1:owner_info", t(100));
    let first = store.enqueue_outbox(&m, t(0)).await.unwrap();
    assert!(first.new);
    let id = first.id;
    let mut changed = m.clone();
    changed.recipient = "other@uni.example".into();
    assert_eq!(
        store.enqueue_outbox(&changed, t(1)).await.unwrap(),
        Enqueued { id, new: false },
        "idempotent"
    );

    assert!(
        store
            .claim_outbox(Channel::Mail, t(99), t(99 + 1000), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .claim_outbox(Channel::Chat, t(100), t(100 + 1000), 10)
            .await
            .unwrap()
            .is_empty(),
        "another channel's sender does not take mails"
    );
    let claimed = store
        .claim_outbox(Channel::Mail, t(100), t(100 + 1000), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let c = &claimed[0];
    assert_eq!((c.id, c.state, c.attempts), (id, OutboxState::Sending, 1));
    assert_eq!(c.request, m);
    assert_eq!(
        (c.created_at, c.sent_at, c.reply.as_deref()),
        (t(0), None, None)
    );
    assert!(
        store
            .claim_outbox(Channel::Mail, t(200), t(200 + 1000), 10)
            .await
            .unwrap()
            .is_empty(),
        "being sent"
    );
    assert_eq!(
        store
            .list_outbox(&all(MailFilter::Pending))
            .await
            .unwrap()
            .len(),
        1,
        "sending counts as pending"
    );

    store
        .mark_outbox_failed(id, "421 try later", Some(t(300)))
        .await
        .unwrap();
    let listed = store.list_outbox(&all(MailFilter::Pending)).await.unwrap();
    assert_eq!(listed[0].state, OutboxState::Pending);
    assert_eq!(listed[0].request.not_before, t(300));
    assert_eq!(listed[0].last_error.as_deref(), Some("421 try later"));
    assert!(
        store
            .claim_outbox(Channel::Mail, t(299), t(299 + 1000), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store
        .claim_outbox(Channel::Mail, t(300), t(300 + 1000), 10)
        .await
        .unwrap();
    assert_eq!(again[0].attempts, 2);

    store
        .mark_outbox_sent(id, t(301), Some("250 2.0.0 Ok: queued as 4F1"))
        .await
        .unwrap();
    let sent = store.list_outbox(&all(MailFilter::Sent)).await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].state, sent[0].sent_at, sent[0].reply.as_deref()),
        (
            OutboxState::Sent,
            Some(t(301)),
            Some("250 2.0.0 Ok: queued as 4F1")
        )
    );
    // Sent is final.
    store.mark_outbox_failed(id, "late", None).await.unwrap();
    let sent = store.list_outbox(&all(MailFilter::Sent)).await.unwrap();
    assert_eq!(sent[0].state, OutboxState::Sent);
    assert!(
        store
            .list_outbox(&all(MailFilter::Pending))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A worker that died between handing a message over and recording it leaves the entry
/// sending; when its lease has passed another claim takes it again (at least once).
async fn outbox_lease_reclaims_after_a_crash(store: Arc<dyn Store>) {
    let id = store
        .enqueue_outbox(&mail("crash", t(0)), t(0))
        .await
        .unwrap()
        .id;
    let first = store
        .claim_outbox(Channel::Mail, t(10), t(100), 10)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    // The worker dies here: nothing is recorded.
    assert!(
        store
            .claim_outbox(Channel::Mail, t(99), t(200), 10)
            .await
            .unwrap()
            .is_empty(),
        "the lease holds"
    );
    let again = store
        .claim_outbox(Channel::Mail, t(100), t(300), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "the lease has passed");
    assert_eq!((again[0].id, again[0].attempts), (id, 2));
    assert!(
        store
            .claim_outbox(Channel::Mail, t(200), t(400), 10)
            .await
            .unwrap()
            .is_empty(),
        "the new claim carries its own lease"
    );
    store
        .mark_outbox_sent(id, t(201), Some("250 ok"))
        .await
        .unwrap();
    assert!(
        store
            .claim_outbox(Channel::Mail, t(10_000), t(10_100), 10)
            .await
            .unwrap()
            .is_empty(),
        "sent is final"
    );
}

async fn mail_outbox_filters_and_delete(store: Arc<dyn Store>) {
    let enq = |r: OutboxRequest| {
        let store = store.clone();
        async move { store.enqueue_outbox(&r, t(0)).await.unwrap().id }
    };
    let ok = enq(mail("ok", t(0))).await;
    let bad = enq(mail("bad", t(0))).await;
    let later = enq(mail("later", t(50))).await;
    let mut other = request("chat", Channel::Chat, "!room:uni.example", t(0));
    other.meeting_id = Some(mid("m2"));
    let chat = enq(other).await;
    let claimed = store
        .claim_outbox(Channel::Mail, t(10), t(10 + 1000), 1)
        .await
        .unwrap();
    assert_eq!(claimed[0].id, ok, "oldest first, limited");
    let claimed = store
        .claim_outbox(Channel::Mail, t(10), t(10 + 1000), 10)
        .await
        .unwrap();
    assert_eq!(claimed.iter().map(|m| m.id).collect::<Vec<_>>(), [bad]);
    store.mark_outbox_sent(ok, t(11), None).await.unwrap();
    store
        .mark_outbox_failed(bad, "550 no such user", None)
        .await
        .unwrap();

    let ids =
        |entries: Vec<OutboxEntry>| -> Vec<i64> { entries.into_iter().map(|m| m.id).collect() };
    let list = |f: OutboxFilter| {
        let store = store.clone();
        async move { ids(store.list_outbox(&f).await.unwrap()) }
    };
    assert_eq!(list(all(MailFilter::Pending)).await, [later, chat]);
    assert_eq!(list(all(MailFilter::Sent)).await, [ok]);
    assert_eq!(list(all(MailFilter::Failed)).await, [bad]);
    assert_eq!(list(all(MailFilter::All)).await, [ok, bad, later, chat]);
    let mails = OutboxFilter {
        state: MailFilter::All,
        channel: Some(Channel::Mail),
        meeting: None,
    };
    assert_eq!(list(mails).await, [ok, bad, later]);
    let of_m2 = OutboxFilter {
        state: MailFilter::All,
        channel: None,
        meeting: Some(mid("m2")),
    };
    assert_eq!(list(of_m2).await, [chat]);
    let failed = store.list_outbox(&all(MailFilter::Failed)).await.unwrap();
    assert_eq!(failed[0].last_error.as_deref(), Some("550 no such user"));
    assert_eq!(failed[0].request.data["recipientName"], "Bob");

    assert!(store.delete_outbox(bad).await.unwrap());
    assert!(!store.delete_outbox(bad).await.unwrap());
    assert!(list(all(MailFilter::Failed)).await.is_empty());
    assert!(!store.delete_outbox(9999).await.unwrap());
}

// ---------------------------------------------------------------- audit and tokens

async fn audit_is_newest_first(store: Arc<dyn Store>) {
    assert!(store.audit_entries(10).await.unwrap().is_empty());
    store.append_audit(&audit(t(0), "first")).await.unwrap();
    let mut with_detail = audit(t(5), "second");
    with_detail.detail = Some("moved to 14:30".into());
    with_detail.target = None;
    with_detail.result = "not_found".into();
    store.append_audit(&with_detail).await.unwrap();
    // Same time as the previous one: insertion order breaks the tie.
    store.append_audit(&audit(t(5), "third")).await.unwrap();
    store
        .append_audit(&audit(t(-5), "backdated"))
        .await
        .unwrap();

    let ops = |entries: Vec<AuditEntry>| -> Vec<String> {
        entries.into_iter().map(|e| e.operation).collect()
    };
    assert_eq!(
        ops(store.audit_entries(10).await.unwrap()),
        ["third", "second", "first", "backdated"]
    );
    assert_eq!(
        ops(store.audit_entries(2).await.unwrap()),
        ["third", "second"]
    );
    let all = store.audit_entries(10).await.unwrap();
    assert_eq!(all[1], with_detail);
}

async fn tokens_lifecycle(store: Arc<dyn Store>) {
    let scopes = [Scope::Read, Scope::MailsAdmin];
    let id = store
        .create_token("ci-bot", "hash-1", &scopes, t(0))
        .await
        .unwrap();
    let err = store
        .create_token("ci-bot", "hash-2", &[], t(1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { what: "token", id } if id == "ci-bot"),
        "{err:?}"
    );
    assert!(
        store
            .create_token("other", "hash-1", &[], t(1))
            .await
            .is_err(),
        "hashes are unique"
    );

    let listed = store.list_tokens().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_used_at, None);

    let used = store.use_token("hash-1", t(10)).await.unwrap().unwrap();
    assert_eq!((used.id, used.name.as_str()), (id, "ci-bot"));
    assert_eq!(used.scopes, scopes);
    assert_eq!((used.created_at, used.last_used_at), (t(0), Some(t(10))));
    assert!(!used.revoked);
    assert_eq!(store.use_token("nope", t(10)).await.unwrap(), None);
    assert_eq!(
        store.list_tokens().await.unwrap()[0].last_used_at,
        Some(t(10))
    );

    assert!(store.revoke_token("ci-bot").await.unwrap());
    assert!(!store.revoke_token("ci-bot").await.unwrap());
    assert!(!store.revoke_token("unknown").await.unwrap());
    assert_eq!(store.use_token("hash-1", t(20)).await.unwrap(), None);

    // The name is free again once revoked.
    let id2 = store
        .create_token("ci-bot", "hash-2", &[Scope::Read], t(30))
        .await
        .unwrap();
    assert_ne!(id2, id);
    let listed = store.list_tokens().await.unwrap();
    let summary: Vec<(i64, bool, Option<Timestamp>)> = listed
        .iter()
        .map(|t| (t.id, t.revoked, t.last_used_at))
        .collect();
    assert_eq!(summary, [(id, true, Some(t(10))), (id2, false, None)]);
    assert!(store.use_token("hash-2", t(31)).await.unwrap().is_some());
}

// ---------------------------------------------------------------- values

const NASTY: &str = "'; drop table meetings;--";

async fn quotes_and_unicode_survive(store: Arc<dyn Store>) {
    let mut m = meeting("obrien");
    m.name = "O'Brien's Vorlesung – Grüße 🎓 \"quoted\" \\ back".into();
    m.welcome = Some(NASTY.into());
    m.banner_text = Some("日本語のバナー\nzweite Zeile\t".into());
    store
        .insert_meeting(&m, MeetingPhase::New, t(0))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_meeting(&mid("obrien"))
            .await
            .unwrap()
            .unwrap()
            .spec,
        m
    );

    let mut s = server("quotes");
    s.secret = Secret::new("se'cr\"et;--");
    s.mail_from_name = Some("Zentraler Informatikdienst – O'Brien".into());
    store.upsert_server(&s, t(0)).await.unwrap();
    assert_eq!(store.get_server(&sid("quotes")).await.unwrap().unwrap(), s);

    let rec = step(NASTY, 404, "owner 'Ann' nicht gefunden – ß", t(1));
    assert!(store.record_step(&mid("obrien"), &rec).await.unwrap());
    assert_eq!(store.latest_steps(&mid("obrien")).await.unwrap(), [rec]);
    assert_eq!(
        store
            .clear_steps(&mid("obrien"), Some(NASTY))
            .await
            .unwrap(),
        1
    );

    let mut j = job(NASTY, Some("obrien"), t(0));
    j.kind = "O'Brien".into();
    j.payload = serde_json::json!({"text": NASTY, "ünï": ["'", "\"", "😀"]});
    let jid = store.enqueue_job(&j).await.unwrap();
    assert_eq!(store.enqueue_job(&j).await.unwrap(), jid);
    let listed = store.list_jobs(Some(&mid("obrien"))).await.unwrap();
    assert_eq!(
        (&listed[0].kind, &listed[0].payload, &listed[0].unique_key),
        (&j.kind, &j.payload, &j.unique_key)
    );
    store.claim_due_jobs(t(0), NASTY, t(10), 1).await.unwrap();
    store.fail_job(jid, NASTY, None).await.unwrap();
    let listed = store.list_jobs(None).await.unwrap();
    assert_eq!(listed[0].last_error.as_deref(), Some(NASTY));

    let mut ml = mail(NASTY, t(0));
    ml.recipient = "o'brien@uni.example".into();
    ml.data = serde_json::json!({"recipientName": "O'Brien – „Grüße“ 🎓", "note": NASTY});
    ml.occurrence = Some(NASTY.into());
    store.enqueue_outbox(&ml, t(0)).await.unwrap();
    let listed = store.list_outbox(&all(MailFilter::All)).await.unwrap();
    assert_eq!(listed[0].request, ml);

    let mut entry = audit(t(2), "update_meeting");
    entry.actor = "matrix:@o'brien:uni.example".into();
    entry.detail = Some(NASTY.into());
    store.append_audit(&entry).await.unwrap();
    assert_eq!(store.audit_entries(1).await.unwrap(), [entry]);

    store
        .create_token("O'Brien", NASTY, &[Scope::MailsAdmin], t(0))
        .await
        .unwrap();
    let tok = store.use_token(NASTY, t(3)).await.unwrap().unwrap();
    assert_eq!(tok.name, "O'Brien");
    assert!(store.revoke_token("O'Brien").await.unwrap());

    // Everything is still there: no value was ever read as SQL.
    assert_eq!(store.list_meetings().await.unwrap().len(), 1);
    assert_eq!(store.list_servers().await.unwrap().len(), 1);
}

/// Times keep microsecond precision on every backend, so results compare equal everywhere.
async fn times_keep_microseconds(store: Arc<dyn Store>) {
    let precise = Timestamp::new(1_780_000_000, 123_456_789).unwrap();
    let micro = Timestamp::new(1_780_000_000, 123_456_000).unwrap();
    store
        .insert_meeting(&meeting("m1"), MeetingPhase::New, precise)
        .await
        .unwrap();
    let stored = store.get_meeting(&mid("m1")).await.unwrap().unwrap();
    assert_eq!((stored.created_at, stored.updated_at), (micro, micro));
    store
        .record_step(&mid("m1"), &step("status", 200, "new", precise))
        .await
        .unwrap();
    assert_eq!(store.step_history(&mid("m1")).await.unwrap()[0].at, micro);
    store.enqueue_job(&job("j", None, precise)).await.unwrap();
    assert_eq!(store.next_job_due().await.unwrap(), Some(micro));
    // Before the epoch too.
    let old = Timestamp::new(-1, 999_999_999).unwrap();
    store.append_audit(&audit(old, "old")).await.unwrap();
    let at = store.audit_entries(5).await.unwrap()[0].at;
    assert_eq!(
        at,
        Timestamp::from_microsecond(old.as_microsecond()).unwrap()
    );
}

async fn chat_zones_and_confirmations(store: Arc<dyn Store>) {
    let ada = "@ada:uni.example";
    assert_eq!(store.chat_zone(ada).await.unwrap(), None);
    store
        .set_chat_zone(ada, "Europe/Vienna", t(0))
        .await
        .unwrap();
    store.set_chat_zone(ada, "Asia/Tokyo", t(1)).await.unwrap();
    assert_eq!(
        store.chat_zone(ada).await.unwrap().as_deref(),
        Some("Asia/Tokyo")
    );
    assert_eq!(store.chat_zone("@bob:uni.example").await.unwrap(), None);

    let op = schedulight::domain::Operation::CancelMeeting {
        id: mid("seminar-1"),
    };
    let a = store
        .hold_chat_pending(ada, &op, t(600), t(0))
        .await
        .unwrap();
    let b = store
        .hold_chat_pending(ada, &op, t(30), t(0))
        .await
        .unwrap();
    assert_ne!(a, b);
    let held = store.chat_pending(a).await.unwrap().expect("held");
    assert_eq!(held.user, ada);
    assert_eq!(held.operation, op);
    assert_eq!(held.expires_at, t(600));
    assert_eq!(held.prompt_event, None);

    store
        .set_chat_prompt(a, "$prompt:uni.example")
        .await
        .unwrap();
    assert_eq!(
        store
            .chat_pending_by_prompt("$prompt:uni.example")
            .await
            .unwrap(),
        Some(a)
    );
    assert_eq!(store.chat_pending_by_prompt("$other").await.unwrap(), None);

    // A new hold drops expired ones; ids are not reused.
    let c = store
        .hold_chat_pending(ada, &op, t(700), t(100))
        .await
        .unwrap();
    assert!(c > b);
    assert_eq!(
        store.chat_pending(b).await.unwrap(),
        None,
        "expired, dropped"
    );
    assert!(store.chat_pending(a).await.unwrap().is_some());

    // Only one caller removes a hold.
    assert!(store.delete_chat_pending(a).await.unwrap());
    assert!(!store.delete_chat_pending(a).await.unwrap());
    assert_eq!(
        store
            .chat_pending_by_prompt("$prompt:uni.example")
            .await
            .unwrap(),
        None
    );
}

// ---------------------------------------------------------------- SQL-only behaviour

async fn audit_is_queried_by_time_actor_and_object_and_purged(store: Arc<dyn Store>) {
    let entry = |at: i64, actor: &str, target: &str| AuditEntry {
        at: t(at),
        actor: actor.into(),
        operation: "schedule_meeting".into(),
        target: Some(target.into()),
        result: "ok".into(),
        detail: None,
    };
    for e in [
        entry(10, "matrix:@ada:uni.example", "lecture"),
        entry(20, "api:deploy", "lecture"),
        entry(30, "matrix:@ada:uni.example", "seminar"),
        entry(40, "cli:root", "bbb"),
    ] {
        store.append_audit(&e).await.unwrap();
    }
    let q = |since: Option<i64>, until: Option<i64>, actor: Option<&str>, target: Option<&str>| {
        AuditQuery {
            since: since.map(t),
            until: until.map(t),
            actor: actor.map(str::to_string),
            target: target.map(str::to_string),
            limit: 100,
        }
    };
    let ats = |v: Vec<AuditEntry>| v.iter().map(|e| e.at).collect::<Vec<_>>();
    assert_eq!(
        ats(store.query_audit(&q(None, None, None, None)).await.unwrap()),
        [t(40), t(30), t(20), t(10)]
    );
    assert_eq!(
        ats(store
            .query_audit(&q(Some(20), Some(40), None, None))
            .await
            .unwrap()),
        [t(30), t(20)]
    );
    assert_eq!(
        ats(store
            .query_audit(&q(None, None, Some("matrix:@ada:uni.example"), None))
            .await
            .unwrap()),
        [t(30), t(10)]
    );
    assert_eq!(
        ats(store
            .query_audit(&q(None, None, None, Some("lecture")))
            .await
            .unwrap()),
        [t(20), t(10)]
    );
    let one = AuditQuery {
        limit: 1,
        ..q(None, None, None, None)
    };
    assert_eq!(ats(store.query_audit(&one).await.unwrap()), [t(40)]);
    assert_eq!(store.purge_audit(t(25)).await.unwrap(), 2);
    assert_eq!(
        ats(store.query_audit(&q(None, None, None, None)).await.unwrap()),
        [t(40), t(30)]
    );
}

async fn leases_have_one_holder_and_events_one_handler(store: Arc<dyn Store>) {
    assert_eq!(store.lease("matrix-sync").await.unwrap(), None);
    assert!(
        store
            .acquire_lease("matrix-sync", "a", t(15), t(0))
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_lease("matrix-sync", "b", t(20), t(10))
            .await
            .unwrap(),
        "a holds it"
    );
    assert!(
        store
            .acquire_lease("matrix-sync", "a", t(25), t(10))
            .await
            .unwrap(),
        "renewed"
    );
    assert_eq!(
        store.lease("matrix-sync").await.unwrap(),
        Some(("a".to_string(), t(25)))
    );
    assert!(
        !store
            .acquire_lease("matrix-sync", "b", t(35), t(20))
            .await
            .unwrap()
    );
    assert!(
        store
            .acquire_lease("matrix-sync", "b", t(40), t(26))
            .await
            .unwrap(),
        "ran out"
    );
    store.release_lease("matrix-sync", "a").await.unwrap();
    assert_eq!(
        store.lease("matrix-sync").await.unwrap().unwrap().0,
        "b",
        "a cannot release b's"
    );
    store.release_lease("matrix-sync", "b").await.unwrap();
    assert!(
        store
            .acquire_lease("matrix-sync", "c", t(50), t(27))
            .await
            .unwrap(),
        "free again"
    );

    assert!(store.claim_event("$event1", t(1)).await.unwrap());
    assert!(!store.claim_event("$event1", t(2)).await.unwrap());
    assert!(store.claim_event("$event2", t(2)).await.unwrap());
    assert_eq!(store.forget_events_before(t(2)).await.unwrap(), 1);
    assert!(
        store.claim_event("$event1", t(3)).await.unwrap(),
        "forgotten"
    );
    assert!(!store.claim_event("$event2", t(3)).await.unwrap(), "kept");
}

async fn meetings_inserted_in_bulk_with_their_plans(store: Arc<dyn Store>) {
    add_meeting(&store, "taken").await;
    let planned = |id: &str| PlannedMeeting {
        spec: meeting(id),
        step: step("status", 200, "new", t(5)),
        jobs: vec![
            job(&format!("{id}/start"), Some(id), t(100)),
            job(&format!("{id}/end"), Some(id), t(200)),
        ],
        audit: audit(t(5), "schedule_meeting"),
    };
    let batch: Vec<PlannedMeeting> = (0..1203)
        .map(|i| planned(&format!("m{i:04}")))
        .chain([planned("taken"), planned("m0001")])
        .collect();
    let inserted = store.insert_meetings_planned(&batch, t(5)).await.unwrap();
    assert_eq!(inserted.len(), 1205);
    assert!(inserted[..1203].iter().all(|i| *i));
    assert_eq!(
        &inserted[1203..],
        &[false, false],
        "taken, and repeated in the batch"
    );
    assert_eq!(store.list_meetings().await.unwrap().len(), 1204);
    let m = store.get_meeting(&mid("m1202")).await.unwrap().unwrap();
    assert_eq!(m.phase, MeetingPhase::New);
    assert_eq!(store.step_history(&mid("m1202")).await.unwrap().len(), 1);
    assert_eq!(store.list_jobs(Some(&mid("m1202"))).await.unwrap().len(), 2);
    assert!(
        store
            .list_jobs(Some(&mid("taken")))
            .await
            .unwrap()
            .is_empty(),
        "nothing of a refused meeting is written"
    );
    assert_eq!(store.list_jobs(None).await.unwrap().len(), 2406);
    assert_eq!(store.audit_entries(5000).await.unwrap().len(), 1203);
}

async fn applied_entries_replace_and_forget(store: Arc<dyn Store>) {
    let entry = |kind: &str, key: &str, digest: &str, result| AppliedEntry {
        kind: kind.into(),
        key: key.into(),
        source: "/etc/schedulight/meetings.yml".into(),
        digest: digest.into(),
        result,
        applied_at: t(10),
    };
    store
        .record_applied(&[entry("meeting", "lecture", "d1", None)])
        .await
        .unwrap();
    let result = serde_json::json!({"ok": 2, "failed": []});
    store
        .record_applied(&[entry("command", "share 'room'", "d2", Some(result.clone()))])
        .await
        .unwrap();
    store
        .record_applied(&[entry("meeting", "lecture", "d3", None)])
        .await
        .unwrap();
    let all = store.applied_entries().await.unwrap();
    assert_eq!(
        all,
        vec![
            entry("command", "share 'room'", "d2", Some(result)),
            entry("meeting", "lecture", "d3", None),
        ]
    );
    assert!(store.forget_applied("meeting", "lecture").await.unwrap());
    assert!(!store.forget_applied("meeting", "lecture").await.unwrap());
    assert_eq!(store.applied_entries().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_instances_claim_disjoint_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let path = path.to_str().unwrap();
    let a = SqlStore::connect(path).await.unwrap();
    let b = SqlStore::connect(path).await.unwrap();
    concurrent_claimers(Arc::new(a), Arc::new(b)).await;
}

/// A fresh file opened by several stores at once (a daemon and a CLI command starting together):
/// every one opens, none fails with "database is locked".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_fresh_file_opened_by_many_at_once() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..20 {
        let path = dir.path().join(format!("fresh-{round}.db"));
        let path = path.to_str().unwrap().to_string();
        let opens = (0..4).map(|_| {
            let path = path.clone();
            tokio::spawn(async move { SqlStore::connect(&path).await })
        });
        for open in futures::future::join_all(opens).await {
            let store = open
                .unwrap()
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert!(store.list_servers().await.unwrap().is_empty());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_instances_claim_disjoint_jobs() {
    let url = pg_url().await;
    let (a, b) = tokio::join!(SqlStore::connect(&url), SqlStore::connect(&url));
    concurrent_claimers(Arc::new(a.unwrap()), Arc::new(b.unwrap())).await;
}

/// Writes a little of everything, for the restart tests.
async fn write_some_state(store: &dyn Store) {
    store.upsert_server(&server("bbb"), t(0)).await.unwrap();
    store
        .insert_meeting(&meeting("m1"), MeetingPhase::Waiting, t(0))
        .await
        .unwrap();
    store
        .record_step(&mid("m1"), &step("status", 201, "waiting", t(1)))
        .await
        .unwrap();
    store
        .enqueue_job(&job("m1:start", Some("m1"), t(60)))
        .await
        .unwrap();
    store
        .enqueue_outbox(&mail("m1:info", t(0)), t(0))
        .await
        .unwrap();
    store
        .append_audit(&audit(t(2), "schedule_meeting"))
        .await
        .unwrap();
    store
        .create_token("ops", "hash-ops", &[Scope::Read], t(0))
        .await
        .unwrap();
}

async fn assert_state_is_back(store: &dyn Store) {
    assert_eq!(
        store.get_server(&sid("bbb")).await.unwrap(),
        Some(server("bbb"))
    );
    let m = store.get_meeting(&mid("m1")).await.unwrap().unwrap();
    assert_eq!((m.spec, m.phase), (meeting("m1"), MeetingPhase::Waiting));
    assert_eq!(
        store.step_history(&mid("m1")).await.unwrap(),
        [step("status", 201, "waiting", t(1))]
    );
    assert_eq!(store.next_job_due().await.unwrap(), Some(t(60)));
    assert_eq!(
        store
            .list_outbox(&all(MailFilter::Pending))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.audit_entries(5).await.unwrap().len(), 1);
    assert!(store.use_token("hash-ops", t(3)).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_state_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    // A missing directory is created along with the file.
    let path = dir.path().join("nested").join("state.db");
    let path = path.to_str().unwrap();
    let store = SqlStore::connect(path).await.unwrap();
    write_some_state(&store).await;
    store.close().await;
    drop(store);

    // Reopened through the URL form this time; migrations run again as a no-op.
    let store = SqlStore::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    assert_eq!(store.backend(), "sqlite");
    assert_state_is_back(&store).await;
    assert!(
        dir.path().join("nested").join("state.db-wal").exists(),
        "SQLite runs in WAL mode"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_state_survives_reconnect() {
    let url = pg_url().await;
    let store = SqlStore::connect(&url).await.unwrap();
    write_some_state(&store).await;
    store.close().await;
    drop(store);

    let store = SqlStore::connect(&url).await.unwrap();
    assert_eq!(store.backend(), "postgres");
    assert_state_is_back(&store).await;
}

#[tokio::test]
async fn open_errors_hide_passwords() {
    // Something that is not PostgreSQL: it hangs up on every connection.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let url = format!("postgres://app:hunter2@127.0.0.1:{port}/sl");
    let err = SqlStore::connect(&url).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("app:***@127.0.0.1"), "{text}");

    let err = SqlStore::connect("mysql://root:hunter2@127.0.0.1/x")
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(err.to_string().contains("unsupported"), "{err}");
}

#[tokio::test]
async fn postgres_wrong_password_is_reported_without_it() {
    let cluster = PgCluster::shared().unwrap();
    let good = cluster.fresh_database().await.unwrap();
    let db = good.rsplit('/').next().unwrap();
    let url = format!(
        "postgres://postgres:not-the-Pa55word@127.0.0.1:{}/{db}",
        cluster.port()
    );
    let err = SqlStore::connect(&url).await.unwrap_err();
    let text = err.to_string();
    assert!(!text.contains("not-the-Pa55word"), "{text}");
    assert!(text.contains("password authentication failed"), "{text}");
}

#[tokio::test]
async fn statement_errors_carry_no_sql() {
    // Closing the store makes every statement fail; the message names the operation only.
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::connect(dir.path().join("s.db").to_str().unwrap())
        .await
        .unwrap();
    store.close().await;
    let err = store.list_meetings().await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    assert!(text.contains("list meetings"), "{text}");
    assert!(!text.to_ascii_uppercase().contains("SELECT"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_memory_url_keeps_its_data() {
    let store = SqlStore::connect("sqlite::memory:").await.unwrap();
    write_some_state(&store).await;
    // Several calls at once use several pooled connections: they all see one database.
    let (a, b, c) = tokio::join!(
        store.list_meetings(),
        store.list_servers(),
        store.list_tokens()
    );
    assert_eq!(
        (a.unwrap().len(), b.unwrap().len(), c.unwrap().len()),
        (1, 1, 1)
    );
    assert_state_is_back(&store).await;
}

/// Old step history (but never a step's latest entry, the meeting's status), old sent messages
/// and old audit entries go; a dry run only counts; newer and unsent rows stay.
async fn purge_removes_only_old_records(store: Arc<dyn Store>) {
    add_meeting(&store, "m1").await;
    let m1 = mid("m1");
    for (code, at) in [(100, 0), (200, 10), (500, 20), (200, 300)] {
        store
            .record_step(&m1, &step("pre_open", code, "x", t(at)))
            .await
            .unwrap();
    }
    store
        .record_step(&m1, &step("start", 100, "old but latest", t(5)))
        .await
        .unwrap();
    let old = store
        .enqueue_outbox(&mail("old", t(0)), t(0))
        .await
        .unwrap()
        .id;
    let new = store
        .enqueue_outbox(&mail("new", t(0)), t(0))
        .await
        .unwrap()
        .id;
    let unsent = store
        .enqueue_outbox(&mail("unsent", t(0)), t(0))
        .await
        .unwrap()
        .id;
    for (id, at) in [(old, 50), (new, 400)] {
        let claimed = store
            .claim_outbox(Channel::Mail, t(at), t(at + 100), 10)
            .await
            .unwrap();
        assert!(claimed.iter().any(|c| c.id == id));
        store.mark_outbox_sent(id, t(at), None).await.unwrap();
        // Hand the other claimed ones back.
        for c in claimed.iter().filter(|c| c.id != id) {
            store
                .mark_outbox_failed(c.id, "later", Some(t(0)))
                .await
                .unwrap();
        }
    }
    for at in [10, 20, 400] {
        store.append_audit(&audit(t(at), "x")).await.unwrap();
    }
    let cut = PurgeCutoffs {
        step_history: Some(t(100)),
        sent_messages: Some(t(100)),
        audit: Some(t(100)),
    };
    let counted = store.purge_old(&cut, true).await.unwrap();
    assert_eq!(
        (
            counted.step_history,
            counted.sent_messages,
            counted.audit_entries
        ),
        (3, 1, 2)
    );
    assert_eq!(store.step_history(&m1).await.unwrap().len(), 5, "dry run");
    let purged = store.purge_old(&cut, false).await.unwrap();
    assert_eq!(purged, counted);
    let steps: Vec<(String, u16)> = store
        .step_history(&m1)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.step, s.code))
        .collect();
    assert_eq!(
        steps,
        [("pre_open".to_string(), 200), ("start".to_string(), 100)],
        "each step's latest entry stays"
    );
    let left: Vec<i64> = store
        .list_outbox(&OutboxFilter {
            state: MailFilter::All,
            channel: None,
            meeting: None,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, [new, unsent], "unsent and recent messages stay");
    assert_eq!(store.audit_entries(10).await.unwrap().len(), 1);
    let nothing = store
        .purge_old(&PurgeCutoffs::default(), false)
        .await
        .unwrap();
    assert_eq!(nothing, Default::default(), "no cut-off, no purge");
}

async fn retention_warnings_are_kept_once(store: Arc<dyn Store>) {
    let bbb: ServerId = "bbb".parse().unwrap();
    let other: ServerId = "other".parse().unwrap();
    assert!(
        store
            .mark_retention_warned(&bbb, "r1", t(10))
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_retention_warned(&bbb, "r1", t(20))
            .await
            .unwrap()
    );
    assert!(
        store
            .mark_retention_warned(&other, "r1", t(30))
            .await
            .unwrap()
    );
    let warned = store.retention_warnings(&bbb).await.unwrap();
    assert_eq!(
        warned.into_iter().collect::<Vec<_>>(),
        [("r1".to_string(), t(10))]
    );
    assert_eq!(
        store
            .forget_retention_warnings(&bbb, &["r1".into(), "r2".into()])
            .await
            .unwrap(),
        1
    );
    assert!(store.retention_warnings(&bbb).await.unwrap().is_empty());
    assert_eq!(store.retention_warnings(&other).await.unwrap().len(), 1);
}

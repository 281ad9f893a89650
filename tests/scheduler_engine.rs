//! The scheduler engine stepped with a manual clock: pre-open, start, first participant, end
//! after, the next occurrence of a weekly series across a DST change, edits, cancel, misfire,
//! and a step run twice (a crash between the effect and its record) with no effect seen twice.

use jiff::{SignedDuration, Timestamp};
use schedulight::bbb::Role;
use schedulight::bbb::sim::{SimConfig, SimConnector, Simulator};
use schedulight::clock::ManualClock;
use schedulight::domain::meeting::seed_datetime;
use schedulight::domain::operation::MailFilter;
use schedulight::domain::{
    Actor, Channel, MeetingPhase, MeetingSpec, NoticeKind, Operation, Outcome, Owner, Recipient,
    Secret, ServerSpec,
};
use schedulight::scheduler::engine::Engine;
use schedulight::service::{Service, ServiceSettings};
use schedulight::store::{JobState, MemoryStore, OutboxFilter, SqlStore, Store};
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "engine-test-secret";

struct World {
    service: Service,
    engine: Engine,
    clock: ManualClock,
    sim: Simulator,
    store: Arc<dyn Store>,
}

fn at(s: &str) -> Timestamp {
    jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M", s)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::get("Europe/Vienna").unwrap())
        .unwrap()
        .timestamp()
}

async fn world(store: Arc<dyn Store>, now: &str) -> World {
    world_with(store, now, ServiceSettings::default()).await
}

/// A world whose service has `settings` (the zone is always Europe/Vienna).
async fn world_with(store: Arc<dyn Store>, now: &str, settings: ServiceSettings) -> World {
    let clock = ManualClock::new(at(now));
    let sim = Simulator::new(SimConfig::new(SECRET));
    sim.set_now(at(now));
    let connector = SimConnector::new();
    connector.register("bbb".parse().unwrap(), sim.clone());
    let settings = ServiceSettings {
        default_time_zone: jiff::tz::TimeZone::get("Europe/Vienna").unwrap(),
        ..settings
    };
    let service = Service::new(
        store.clone(),
        Arc::new(connector),
        Arc::new(clock.clone()),
        settings,
    );
    let server = ServerSpec::new(
        "bbb".parse().unwrap(),
        "http://127.0.0.1:9/bigbluebutton/api/".parse().unwrap(),
        Secret::new(SECRET),
    );
    service
        .execute(
            &admin(),
            Operation::AddServer {
                server: Box::new(server),
            },
        )
        .await
        .expect("server");
    let engine = Engine::new(service.clone());
    World {
        service,
        engine,
        clock,
        sim,
        store,
    }
}

fn admin() -> Actor {
    Actor::admin("test")
}

impl World {
    /// Move both clocks to `t` and run whatever is due.
    async fn step_at(&self, t: Timestamp) {
        self.clock.set(t);
        self.sim.set_now(t);
        self.engine.step(t).await.expect("step");
    }

    async fn steps(&self, id: &str) -> Vec<(String, u16)> {
        self.store
            .step_history(&id.parse().unwrap())
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.step, s.code))
            .collect()
    }

    async fn phase(&self, id: &str) -> MeetingPhase {
        self.store
            .get_meeting(&id.parse().unwrap())
            .await
            .unwrap()
            .unwrap()
            .phase
    }

    async fn pending_due(&self, id: &str) -> Vec<(String, Timestamp)> {
        let mut v: Vec<(String, Timestamp)> = self
            .store
            .list_jobs(Some(&id.parse().unwrap()))
            .await
            .unwrap()
            .into_iter()
            .filter(|j| j.state == JobState::Pending)
            .map(|j| {
                let step = j
                    .payload
                    .get("step")
                    .and_then(|s| s.as_str())
                    .unwrap_or("poll")
                    .to_string();
                (step, j.due_at)
            })
            .collect();
        v.sort_by_key(|x| x.1);
        v
    }
}

fn lecture(start: &str) -> MeetingSpec {
    let mut m = MeetingSpec::new(
        "lecture".parse().unwrap(),
        "bbb".parse().unwrap(),
        "Linear Algebra",
    );
    m.start = Some(seed_datetime::parse(start).unwrap());
    m.pre_open_minutes = Some(30);
    m.end_after_minutes = Some(90);
    m
}

async fn one_meeting_through_its_steps(store: Arc<dyn Store>) {
    let w = world(store, "2026-12-01 08:00").await;
    w.service
        .execute(
            &admin(),
            Operation::ScheduleMeeting {
                meeting: Box::new(lecture("2026-12-01 10:00")),
            },
        )
        .await
        .unwrap();
    let due = w.pending_due("lecture").await;
    assert_eq!(
        due,
        vec![
            ("pre_open".into(), at("2026-12-01 09:30")),
            ("start".into(), at("2026-12-01 10:00")),
            ("end_after".into(), at("2026-12-01 11:30")),
        ]
    );
    // Nothing early.
    w.step_at(at("2026-12-01 09:29")).await;
    assert!(
        w.sim.meetings().is_empty(),
        "nothing is created before its time"
    );
    // Pre-open: created, kept alive for the empty half hour.
    w.step_at(at("2026-12-01 09:30")).await;
    let created = w.sim.meetings();
    assert_eq!(created.len(), 1);
    assert_eq!(w.phase("lecture").await, MeetingPhase::PreOpened);
    // BBB would close an empty room after 5 minutes; ours survives until the start.
    w.step_at(at("2026-12-01 09:50")).await;
    assert_eq!(
        w.sim.meetings().len(),
        1,
        "the pre-opened room is still there"
    );
    // Start: the same BBB meeting (create is idempotent), status 210, polling begins.
    w.step_at(at("2026-12-01 10:00")).await;
    let now_meetings = w.sim.meetings();
    assert_eq!(now_meetings.len(), 1);
    assert_eq!(
        now_meetings[0].internal_meeting_id, created[0].internal_meeting_id,
        "not created twice"
    );
    assert!(w.steps("lecture").await.contains(&("status".into(), 210)));
    // Someone joins; the next poll notices.
    w.sim
        .add_participant("sl-lecture", "Ada", Role::Moderator)
        .expect("join");
    w.step_at(at("2026-12-01 10:00") + SignedDuration::from_secs(15))
        .await;
    assert!(w.steps("lecture").await.contains(&("status".into(), 220)));
    assert_eq!(w.phase("lecture").await, MeetingPhase::Started);
    // End after 90 minutes.
    w.step_at(at("2026-12-01 11:30")).await;
    assert!(w.sim.meetings().is_empty(), "ended on BBB");
    assert!(
        w.steps("lecture")
            .await
            .contains(&("endMeeting".into(), 220))
    );
    assert_eq!(w.phase("lecture").await, MeetingPhase::Ended);
    assert!(
        w.pending_due("lecture").await.is_empty(),
        "a one-off meeting has nothing left"
    );
}

#[tokio::test]
async fn one_meeting_through_its_steps_in_memory() {
    one_meeting_through_its_steps(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn one_meeting_through_its_steps_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::connect(&dir.path().join("s.db").display().to_string())
        .await
        .unwrap();
    one_meeting_through_its_steps(Arc::new(store)).await;
}

/// A weekly meeting at 10:00 Vienna time stays at 10:00 local across the start of summer time
/// (2027-03-28): the next occurrence is planned when the previous one is done.
#[tokio::test]
async fn weekly_series_across_dst() {
    let w = world(Arc::new(MemoryStore::new()), "2027-03-20 08:00").await;
    let mut m = lecture("2027-03-23 10:00");
    m.recurrence = Some("FREQ=WEEKLY;BYDAY=TU;COUNT=3".parse().unwrap());
    m.pre_open_minutes = Some(0);
    m.end_after_minutes = Some(60);
    w.service
        .execute(
            &admin(),
            Operation::ScheduleMeeting {
                meeting: Box::new(m),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        w.pending_due("lecture").await[0],
        ("start".into(), at("2027-03-23 10:00"))
    );
    w.step_at(at("2027-03-23 10:00")).await;
    w.step_at(at("2027-03-23 11:00")).await;
    let next = w.pending_due("lecture").await;
    assert_eq!(next[0], ("start".into(), at("2027-03-30 10:00")));
    // 10:00 CET is 09:00 UTC; 10:00 CEST is 08:00 UTC.
    assert_eq!(
        at("2027-03-23 10:00").strftime("%H:%M").to_string(),
        "09:00"
    );
    assert_eq!(next[0].1.strftime("%H:%M").to_string(), "08:00");
    w.step_at(at("2027-03-30 10:00")).await;
    w.step_at(at("2027-03-30 11:00")).await;
    w.step_at(at("2027-04-06 10:00")).await;
    w.step_at(at("2027-04-06 11:00")).await;
    assert!(
        w.pending_due("lecture").await.is_empty(),
        "COUNT=3 ends the series"
    );
}

/// Editing moves the future steps; cancelling drops them; a missed start (scheduler down
/// longer than the grace window) is recorded, not run late.
#[tokio::test]
async fn edit_cancel_and_misfire() {
    let w = world(Arc::new(MemoryStore::new()), "2026-12-01 08:00").await;
    w.service
        .execute(
            &admin(),
            Operation::ScheduleMeeting {
                meeting: Box::new(lecture("2026-12-01 10:00")),
            },
        )
        .await
        .unwrap();
    w.service
        .execute(
            &admin(),
            Operation::UpdateMeeting {
                meeting: Box::new(lecture("2026-12-01 14:00")),
            },
        )
        .await
        .unwrap();
    let due = w.pending_due("lecture").await;
    assert_eq!(due[1], ("start".into(), at("2026-12-01 14:00")), "{due:?}");
    w.step_at(at("2026-12-01 10:00")).await;
    assert!(w.sim.meetings().is_empty(), "the old time does nothing");

    // Scheduler down from 13:00 to 14:40: pre-open and start are past their grace window.
    w.step_at(at("2026-12-01 14:40")).await;
    assert!(
        w.sim.meetings().is_empty(),
        "a missed start is not run late"
    );
    let steps = w.steps("lecture").await;
    assert!(
        steps.contains(&("preOpen".into(), 404)) && steps.contains(&("status".into(), 404)),
        "{steps:?}"
    );

    w.service
        .execute(
            &admin(),
            Operation::CancelMeeting {
                id: "lecture".parse().unwrap(),
            },
        )
        .await
        .unwrap();
    assert!(w.pending_due("lecture").await.is_empty());
}

/// A job may run again after a crash between its effect and its record: BBB sees one meeting,
/// the step history one entry.
#[tokio::test]
async fn running_a_step_twice_shows_no_effect_twice() {
    let w = world(Arc::new(MemoryStore::new()), "2026-12-01 08:00").await;
    let mut m = lecture("2026-12-01 10:00");
    m.pre_open_minutes = Some(0);
    w.service
        .execute(
            &admin(),
            Operation::ScheduleMeeting {
                meeting: Box::new(m),
            },
        )
        .await
        .unwrap();
    let job = w
        .store
        .list_jobs(Some(&"lecture".parse().unwrap()))
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.payload["step"] == "start")
        .unwrap();
    let t = at("2026-12-01 10:00");
    w.clock.set(t);
    w.sim.set_now(t);
    w.service.run_job(&job, t).await.unwrap();
    w.service
        .run_job(&job, t + SignedDuration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(w.sim.meetings().len(), 1);
    let starts = w
        .steps("lecture")
        .await
        .into_iter()
        .filter(|s| s == &("status".to_string(), 210))
        .count();
    assert_eq!(starts, 1);
}

/// The loop itself: it sleeps until the next job and wakes when a meeting is scheduled.
#[tokio::test]
async fn run_loop_wakes_on_new_meetings() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let w = world(store, "2026-12-01 08:00").await;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let wake = w.service.wake();
    let engine = Engine::new(w.service.clone());
    let loop_task = tokio::spawn(async move {
        engine
            .run(wake, async move {
                let _ = rx.await;
            })
            .await;
    });
    // A meeting due right now: the loop, woken by the scheduling, creates it at once.
    let mut m = lecture("2026-12-01 08:00");
    m.pre_open_minutes = Some(0);
    w.service
        .execute(
            &admin(),
            Operation::ScheduleMeeting {
                meeting: Box::new(m),
            },
        )
        .await
        .unwrap();
    let mut created = false;
    for _ in 0..50 {
        if !w.sim.meetings().is_empty() {
            created = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(created, "the woken loop ran the due start");
    let _ = tx.send(());
    tokio::time::timeout(Duration::from_secs(5), loop_task)
        .await
        .expect("loop stops")
        .unwrap();
}

/// Without a startDate the meeting starts as soon as it is scheduled (the original's meaning),
/// once.
#[tokio::test]
async fn a_meeting_without_start_date_starts_at_once() {
    let w = world(Arc::new(MemoryStore::new()), "2026-12-01 08:00").await;
    let m = MeetingSpec::new(
        "now".parse().unwrap(),
        "bbb".parse().unwrap(),
        "Consultation",
    );
    w.service
        .execute(
            &admin(),
            Operation::ScheduleMeeting {
                meeting: Box::new(m),
            },
        )
        .await
        .unwrap();
    w.step_at(at("2026-12-01 08:00")).await;
    assert_eq!(w.sim.meetings().len(), 1);
    assert_eq!(w.phase("now").await, MeetingPhase::Started);
    let left: Vec<String> = w
        .pending_due("now")
        .await
        .into_iter()
        .map(|j| j.0)
        .collect();
    assert_eq!(left, vec!["poll".to_string()], "only the join poll remains");
}

/// `liveStreaming`: the stream starts once somebody joined (docker with the secret only in the
/// environment, on the streamer host) and stops when the meeting ends.
#[tokio::test]
async fn live_stream_starts_after_the_first_join_and_stops_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("docker.log");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let mut streaming = schedulight::streaming::StreamingConfig {
        docker: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fake_bin/docker"),
        ..Default::default()
    };
    streaming
        .docker_env
        .insert("FAKE_DOCKER_LOG".into(), log.display().to_string());
    streaming
        .docker_env
        .insert("FAKE_DOCKER_STATE".into(), state.display().to_string());
    let settings = ServiceSettings {
        streaming,
        ..ServiceSettings::default()
    };
    let w = world_with(Arc::new(MemoryStore::new()), "2026-12-01 08:00", settings).await;
    let mut m = lecture("2026-12-01 10:00");
    m.pre_open_minutes = Some(0);
    m.live_streaming = Some(schedulight::domain::meeting::LiveStreaming {
        streamer_host: "streamer.uni.example".into(),
        target_url: "rtmp://media.uni.example/live/stream-key".into(),
        play_intro: None,
    });
    w.service
        .execute(
            &admin(),
            Operation::ScheduleMeeting {
                meeting: Box::new(m),
            },
        )
        .await
        .unwrap();
    w.step_at(at("2026-12-01 10:00")).await;
    assert!(!log.exists(), "no stream before anybody joined");
    w.sim
        .add_participant("sl-lecture", "Ada", Role::Moderator)
        .unwrap();
    w.step_at(at("2026-12-01 10:00") + SignedDuration::from_secs(15))
        .await;
    let text = std::fs::read_to_string(&log).expect("docker was called");
    let run_call = text
        .split("call\n")
        .find(|c| c.contains("arg run"))
        .expect("a docker run");
    assert!(
        run_call.contains("env DOCKER_HOST=ssh://root@streamer.uni.example"),
        "{run_call}"
    );
    assert!(
        run_call.contains(&format!("env BBB_SECRET={SECRET}")),
        "the secret goes by env"
    );
    let argv: String = run_call
        .lines()
        .filter(|l| l.starts_with("arg "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        !argv.contains(SECRET) && !argv.contains("stream-key"),
        "no secret in argv: {argv}"
    );
    assert!(
        w.steps("lecture")
            .await
            .contains(&("liveStreaming".into(), 220))
    );
    w.step_at(at("2026-12-01 11:30")).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("arg rm"), "the stream was stopped:\n{text}");
    assert!(
        w.steps("lecture")
            .await
            .contains(&("liveStreaming".into(), 210))
    );
}

/// Meetings due at the same instant are started side by side, not one after another: with a
/// BBB that takes 20 ms per call, 200 starts take far less than 200 × 20 ms.
#[tokio::test]
async fn many_meetings_due_at_once_start_side_by_side() {
    let w = world(Arc::new(MemoryStore::new()), "2026-12-01 08:00").await;
    for i in 0..200 {
        let mut m = lecture("2026-12-01 10:00");
        m.id = format!("lecture-{i:03}").parse().unwrap();
        m.pre_open_minutes = Some(0);
        m.end_after_minutes = None;
        w.service
            .execute(
                &admin(),
                Operation::ScheduleMeeting {
                    meeting: Box::new(m),
                },
            )
            .await
            .unwrap();
    }
    w.sim.set_latency(Duration::from_millis(20));
    let t = at("2026-12-01 10:00");
    w.clock.set(t);
    w.sim.set_now(t);
    let started = std::time::Instant::now();
    let report = w.engine.step(t).await.unwrap();
    let took = started.elapsed();
    assert_eq!(report.ran, 200);
    assert_eq!(w.sim.meetings().len(), 200);
    assert!(took < Duration::from_millis(1500), "took {took:?}");
}

/// An edit after pre-open that changes what BBB was given: an empty room is ended and opened
/// again with the new settings; with people in it, the change waits and the history says so.
#[tokio::test]
async fn edit_after_pre_open() {
    let w = world(Arc::new(MemoryStore::new()), "2026-12-01 08:00").await;
    w.service
        .execute(
            &admin(),
            Operation::ScheduleMeeting {
                meeting: Box::new(lecture("2026-12-01 10:00")),
            },
        )
        .await
        .unwrap();
    w.step_at(at("2026-12-01 09:30")).await;
    let first = w.sim.meetings()[0].internal_meeting_id.clone();
    let mut edited = lecture("2026-12-01 10:00");
    edited.welcome = Some("Bring your notes".into());
    w.service
        .execute(
            &admin(),
            Operation::UpdateMeeting {
                meeting: Box::new(edited.clone()),
            },
        )
        .await
        .unwrap();
    let now = w.sim.meetings();
    assert_eq!(now.len(), 1);
    assert_ne!(
        now[0].internal_meeting_id, first,
        "the empty room was created again"
    );
    // Somebody is in; another edit does not throw them out.
    w.sim
        .add_participant("sl-lecture", "Ada", Role::Moderator)
        .unwrap();
    edited.welcome = Some("Bring your notes and a pen".into());
    w.service
        .execute(
            &admin(),
            Operation::UpdateMeeting {
                meeting: Box::new(edited),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        w.sim.meetings()[0].internal_meeting_id,
        now[0].internal_meeting_id,
        "not ended"
    );
    assert!(w.steps("lecture").await.contains(&("preOpen".into(), 221)));
}

// ------------------------------------------------------------------ mails and chat notices

type Queued = (Channel, NoticeKind, String, Option<String>);

impl World {
    /// The outbox as (channel, kind, recipient, occurrence), in the order queued.
    async fn outbox(&self) -> Vec<Queued> {
        self.store
            .list_outbox(&OutboxFilter {
                state: MailFilter::All,
                ..OutboxFilter::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|e| {
                let r = e.request;
                (r.channel, r.kind, r.recipient, r.occurrence)
            })
            .collect()
    }

    async fn schedule(&self, m: MeetingSpec) {
        self.service
            .execute(
                &admin(),
                Operation::ScheduleMeeting {
                    meeting: Box::new(m),
                },
            )
            .await
            .unwrap();
    }
}

const ROOM: &str = "!lectures:uni.example";

fn mail(kind: NoticeKind, to: &str, occ: Option<&str>) -> Queued {
    (Channel::Mail, kind, to.into(), occ.map(str::to_string))
}

fn chat(kind: NoticeKind, occ: &str) -> Queued {
    (Channel::Chat, kind, ROOM.into(), Some(occ.into()))
}

/// The lecture with an owner, invitees, a moderator, a reminder and a room to notify.
fn told_lecture(start: &str) -> MeetingSpec {
    let mut m = lecture(start);
    m.owner = Some(Owner {
        email: "ada@uni.example".parse().unwrap(),
        full_name: "Ada Lovelace".into(),
        password: None,
        uid: None,
        social_uid: None,
    });
    m.reminder_minutes = Some(15);
    m.notify_room = Some(ROOM.parse().unwrap());
    let who = |name: &str, send: Option<bool>| Recipient {
        full_name: Some(name.into()),
        send_emails: send,
    };
    m.send_invitation_link = [
        ("bob@uni.example".parse().unwrap(), who("Bob", None)),
        (
            "carol@uni.example".parse().unwrap(),
            who("Carol", Some(false)),
        ),
    ]
    .into();
    m.send_moderator_link = [("dave@uni.example".parse().unwrap(), who("Dave", None))].into();
    m
}

async fn mails_and_notices_of_one_meeting(store: Arc<dyn Store>) {
    let w = world(store, "2026-12-01 08:00").await;
    let mut m = told_lecture("2026-12-01 10:00");
    m.send_emails = Some(true);
    w.schedule(m).await;
    let occ = "2026-12-01T10:00";
    // The series' mails go out when the meeting is scheduled; carol said no.
    w.step_at(at("2026-12-01 08:00")).await;
    let series = vec![
        mail(NoticeKind::OwnerInfo, "ada@uni.example", None),
        mail(NoticeKind::Invitation, "bob@uni.example", None),
        mail(NoticeKind::ModeratorLink, "dave@uni.example", None),
    ];
    assert_eq!(w.outbox().await, series);
    let steps = w.steps("lecture").await;
    for expected in [
        ("owner_infoMailSent", 250),
        ("sendInvitationLink_bob@uni.example", 250),
        ("sendInvitationLink_carol@uni.example", 251),
        ("sendModeratorLink_dave@uni.example", 250),
    ] {
        assert!(
            steps.contains(&(expected.0.to_string(), expected.1)),
            "{expected:?} in {steps:?}"
        );
    }
    // What a request holds: who and about what, never a link or a secret.
    let queued = w.store.list_outbox(&OutboxFilter::default()).await.unwrap();
    let moderator = queued
        .iter()
        .find(|e| e.request.kind == NoticeKind::ModeratorLink)
        .unwrap();
    assert_eq!(moderator.request.data["recipientName"], "Dave");
    let text = serde_json::to_string(&moderator.request.data).unwrap();
    assert!(
        !text.contains("checksum") && !text.contains(SECRET),
        "{text}"
    );

    // Reminder 15 minutes before the start: the owner's mail and the room's notice.
    w.step_at(at("2026-12-01 09:44")).await;
    assert_eq!(w.outbox().await.len(), 3, "nothing early");
    w.step_at(at("2026-12-01 09:45")).await;
    let reminder = w
        .store
        .list_outbox(&OutboxFilter::default())
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.request.kind == NoticeKind::OwnerReminder)
        .expect("owner reminder");
    assert_eq!(reminder.request.occurrence.as_deref(), Some(occ));
    assert_eq!(reminder.request.data["minutesBefore"], 15);
    assert_eq!(
        reminder.request.data["start"],
        "2026-12-01T10:00:00+01:00[Europe/Vienna]"
    );
    // Started: not at the create, at the first join.
    w.step_at(at("2026-12-01 10:00")).await;
    assert!(!w.outbox().await.contains(&chat(NoticeKind::Started, occ)));
    w.sim
        .add_participant("sl-lecture", "Ada", Role::Moderator)
        .unwrap();
    w.step_at(at("2026-12-01 10:00") + SignedDuration::from_secs(15))
        .await;
    w.step_at(at("2026-12-01 11:30")).await;
    let mut all = series.clone();
    all.extend([
        mail(NoticeKind::OwnerReminder, "ada@uni.example", Some(occ)),
        chat(NoticeKind::Reminder, occ),
        mail(NoticeKind::OwnerStarted, "ada@uni.example", Some(occ)),
        chat(NoticeKind::Started, occ),
        chat(NoticeKind::Ended, occ),
    ]);
    assert_eq!(w.outbox().await, all);

    // Every step again (a crash between effect and record): nothing queued twice.
    for job in w
        .store
        .list_jobs(Some(&"lecture".parse().unwrap()))
        .await
        .unwrap()
    {
        w.service.run_job(&job, job.due_at).await.unwrap();
    }
    assert_eq!(w.outbox().await, all, "no request twice");
}

#[tokio::test]
async fn mails_and_notices_of_one_meeting_in_memory() {
    mails_and_notices_of_one_meeting(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn mails_and_notices_of_one_meeting_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::connect(&dir.path().join("s.db").display().to_string())
        .await
        .unwrap();
    mails_and_notices_of_one_meeting(Arc::new(store)).await;
}

/// `send_emails` is off unless set: the recipient's setting wins over the meeting's, which wins
/// over the server's, which wins over bot-config.yml's. Chat notices do not depend on it.
#[tokio::test]
async fn send_emails_precedence() {
    // Nothing set anywhere: no mail at all, each step says why.
    let w = world(Arc::new(MemoryStore::new()), "2026-12-01 08:00").await;
    w.schedule(told_lecture("2026-12-01 10:00")).await;
    w.step_at(at("2026-12-01 09:45")).await;
    assert_eq!(
        w.outbox().await,
        [chat(NoticeKind::Reminder, "2026-12-01T10:00")],
        "only the chat notice"
    );
    let steps = w.steps("lecture").await;
    assert!(
        steps.contains(&("owner_infoMailSent".into(), 251)),
        "{steps:?}"
    );
    assert!(steps.contains(&("owner_reminderMailSent".into(), 251)));

    // On in bot-config.yml, off on the server, on for one recipient.
    let settings = ServiceSettings {
        send_emails: true,
        ..ServiceSettings::default()
    };
    let w = world_with(Arc::new(MemoryStore::new()), "2026-12-01 08:00", settings).await;
    let mut server = w
        .store
        .get_server(&"bbb".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    server.send_emails = Some(false);
    w.store
        .upsert_server(&server, at("2026-12-01 08:00"))
        .await
        .unwrap();
    let mut m = told_lecture("2026-12-01 10:00");
    m.send_moderator_link
        .values_mut()
        .for_each(|r| r.send_emails = Some(true));
    w.schedule(m).await;
    w.step_at(at("2026-12-01 08:00")).await;
    assert_eq!(
        w.outbox().await,
        [mail(NoticeKind::ModeratorLink, "dave@uni.example", None)]
    );

    // On in bot-config.yml and nowhere else: everybody but carol.
    let settings = ServiceSettings {
        send_emails: true,
        ..ServiceSettings::default()
    };
    let w = world_with(Arc::new(MemoryStore::new()), "2026-12-01 08:00", settings).await;
    w.schedule(told_lecture("2026-12-01 10:00")).await;
    w.step_at(at("2026-12-01 08:00")).await;
    assert_eq!(w.outbox().await.len(), 3);
}

/// Moving a meeting mails everybody who was told about it; cancelling it too. A missed start
/// is posted to the room.
#[tokio::test]
async fn moved_cancelled_and_missed_are_told() {
    let w = world(Arc::new(MemoryStore::new()), "2026-12-01 08:00").await;
    let mut m = told_lecture("2026-12-01 10:00");
    m.send_emails = Some(true);
    w.schedule(m.clone()).await;
    w.step_at(at("2026-12-01 08:00")).await;
    assert_eq!(w.outbox().await.len(), 3);

    // An edit that does not move the start tells nobody.
    m.welcome = Some("Bring your notes".into());
    w.service
        .execute(
            &admin(),
            Operation::UpdateMeeting {
                meeting: Box::new(m.clone()),
            },
        )
        .await
        .unwrap();
    assert_eq!(w.outbox().await.len(), 3);
    m.start = Some(seed_datetime::parse("2026-12-01 14:00").unwrap());
    w.service
        .execute(
            &admin(),
            Operation::UpdateMeeting {
                meeting: Box::new(m.clone()),
            },
        )
        .await
        .unwrap();
    let changed: Vec<_> = w
        .store
        .list_outbox(&OutboxFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.request.kind == NoticeKind::MeetingChanged)
        .collect();
    let to: Vec<&str> = changed
        .iter()
        .map(|e| e.request.recipient.as_str())
        .collect();
    assert_eq!(
        to,
        ["ada@uni.example", "bob@uni.example", "dave@uni.example"]
    );
    assert_eq!(
        changed[0].request.data["previousStart"],
        "2026-12-01T10:00:00+01:00[Europe/Vienna]"
    );
    assert_eq!(
        changed[0].request.data["start"],
        "2026-12-01T14:00:00+01:00[Europe/Vienna]"
    );
    assert_eq!(changed[1].request.data["recipientName"], "Bob");

    // The scheduler was down over the new start: the room hears it was missed.
    w.step_at(at("2026-12-01 14:40")).await;
    let missed = w
        .store
        .list_outbox(&OutboxFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.request.kind == NoticeKind::Missed)
        .map(|e| e.request.data["step"].as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    assert_eq!(missed, ["pre_open", "start"]);

    w.service
        .execute(
            &admin(),
            Operation::CancelMeeting {
                id: "lecture".parse().unwrap(),
            },
        )
        .await
        .unwrap();
    let cancelled = |o: Vec<Queued>| {
        o.into_iter()
            .filter(|q| q.1 == NoticeKind::MeetingCancelled)
            .map(|q| q.2)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        cancelled(w.outbox().await),
        ["ada@uni.example", "bob@uni.example", "dave@uni.example"]
    );
    // Cancelling again tells nobody again.
    w.service
        .execute(
            &admin(),
            Operation::CancelMeeting {
                id: "lecture".parse().unwrap(),
            },
        )
        .await
        .unwrap();
    assert_eq!(cancelled(w.outbox().await).len(), 3);
}

/// A BBB that keeps failing at the start: the room hears of it after a few retries (not at
/// the first hiccup), once, and the meeting starts when BBB is back.
#[tokio::test]
async fn a_failing_start_is_told_to_the_room() {
    let w = world(Arc::new(MemoryStore::new()), "2026-12-01 08:00").await;
    w.schedule(told_lecture("2026-12-01 10:00")).await;
    w.step_at(at("2026-12-01 08:00")).await;
    let failed = async || {
        w.store
            .list_outbox(&OutboxFilter::default())
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.request.kind == NoticeKind::Failed)
            .map(|e| e.request)
            .collect::<Vec<_>>()
    };
    w.sim.fail_always();
    // Pre-open at 09:30 fails; retried after 15, 30, 60 s …
    let mut t = at("2026-12-01 09:30");
    w.step_at(t).await;
    assert!(failed().await.is_empty(), "one failure is not told");
    for _ in 0..6 {
        t += jiff::SignedDuration::from_mins(2);
        w.step_at(t).await;
    }
    let told = failed().await;
    assert_eq!(told.len(), 1, "{told:#?}");
    assert_eq!(told[0].recipient, ROOM);
    assert_eq!(told[0].data["step"], "pre_open");
    assert_eq!(told[0].data["retrying"], true);
    assert!(!told[0].data["error"].as_str().unwrap().is_empty());
    let text =
        schedulight::bot::notices::render(NoticeKind::Failed, &told[0].data, None, None, None);
    assert!(text.plain.contains("pre open failed"), "{}", text.plain);
    assert!(text.plain.contains("I keep trying"), "{}", text.plain);

    // BBB is back: the room opens at the next retry, nothing more is told.
    w.sim.clear_faults();
    t += jiff::SignedDuration::from_mins(20);
    w.step_at(t).await;
    assert_eq!(failed().await.len(), 1);
    assert_eq!(w.sim.meetings().len(), 1, "the room is open");
}

/// The start lag (due time → meeting created) goes into the `/metrics` histogram per step.
#[tokio::test]
async fn start_lag_is_measured() {
    let handle = schedulight::telemetry::install().expect("the recorder");
    let w = world(Arc::new(MemoryStore::new()), "2026-12-01 08:00").await;
    w.service
        .execute(
            &admin(),
            Operation::ScheduleMeeting {
                meeting: Box::new(lecture("2026-12-01 10:00")),
            },
        )
        .await
        .unwrap();
    // Pre-open runs 3 s late.
    w.step_at(at("2026-12-01 09:30") + SignedDuration::from_secs(3))
        .await;
    let text = handle.render();
    // Other tests of this binary may record on-time steps (lag 0) meanwhile: look for ours
    // between the 2 s and 5 s bucket bounds.
    let bucket = |le: &str| -> u64 {
        let key = format!("schedulight_start_lag_seconds_bucket{{step=\"pre_open\",le=\"{le}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&key))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {le} bucket in:\n{text}"))
    };
    assert!(bucket("5") - bucket("2") >= 1, "{text}");
}

/// A reset re-runs the steps but does not mail twice; with `resend` the workflow mails go out
/// again (change and cancellation mails are kept for the calendar's SEQUENCE).
#[tokio::test]
async fn reset_mails_again_only_when_asked() {
    let w = world_with(
        Arc::new(MemoryStore::new()),
        "2026-12-01 08:00",
        ServiceSettings {
            send_emails: true,
            ..ServiceSettings::default()
        },
    )
    .await;
    let mut m = lecture("2026-12-01 10:00");
    m.owner = Some(Owner {
        email: "ada@uni.example".parse().unwrap(),
        full_name: "Ada".into(),
        password: None,
        uid: None,
        social_uid: None,
    });
    w.service
        .execute(
            &admin(),
            Operation::ScheduleMeeting {
                meeting: Box::new(m),
            },
        )
        .await
        .unwrap();
    w.step_at(at("2026-12-01 08:00")).await;
    let owner_mails = async || {
        w.store
            .list_outbox(&OutboxFilter {
                state: MailFilter::All,
                channel: Some(Channel::Mail),
                meeting: None,
            })
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.request.kind == NoticeKind::OwnerInfo)
            .collect::<Vec<_>>()
    };
    let first = owner_mails().await;
    assert_eq!(first.len(), 1, "the owner info mail is queued");
    w.store
        .mark_outbox_sent(first[0].id, at("2026-12-01 08:00"), Some("250 ok"))
        .await
        .unwrap();

    let reset = |resend| Operation::ResetMeeting {
        id: "lecture".parse().unwrap(),
        step: None,
        resend,
    };
    w.service.execute(&admin(), reset(false)).await.unwrap();
    w.step_at(at("2026-12-01 08:01")).await;
    let after = owner_mails().await;
    assert_eq!(after.len(), 1, "a plain reset mails nobody twice");
    assert_eq!(after[0].id, first[0].id);

    match w.service.execute(&admin(), reset(true)).await.unwrap() {
        Outcome::Done { message } => {
            assert!(
                message.contains("1 mail(s) will be sent again"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    w.step_at(at("2026-12-01 08:02")).await;
    let again = owner_mails().await;
    assert_eq!(again.len(), 1, "{again:?}");
    assert_ne!(again[0].id, first[0].id, "queued afresh");
    assert_eq!(again[0].state, schedulight::store::OutboxState::Pending);
}

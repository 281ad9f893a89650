//! The original's whole workflow in one run, with a manual clock: a weekly meeting across the
//! start of summer time in Europe/Vienna, its owner, room, room settings and share made in a
//! real Greenlight v3 database, its mails and room notices queued, pre-open, start, the first
//! participant, the end, and the next occurrence — asserting the BBB simulator, the Greenlight
//! rows, the outbox and the status history after each step. The store is SQLite.

use jiff::{SignedDuration, Timestamp};
use schedulight::bbb::Role;
use schedulight::bbb::sim::{SimConfig, SimConnector, Simulator};
use schedulight::clock::ManualClock;
use schedulight::domain::meeting::seed_datetime;
use schedulight::domain::operation::{CreateUser, MailFilter, UserRole};
use schedulight::domain::{
    Actor, Channel, MeetingPhase, MeetingSpec, NoticeKind, Operation, Owner, Recipient, Secret,
    ServerSpec,
};
use schedulight::greenlight::GreenlightSettings;
use schedulight::greenlight::connector::PgConnector;
use schedulight::scheduler::engine::Engine;
use schedulight::service::{Service, ServiceSettings};
use schedulight::store::{OutboxFilter, SqlStore, Store};
use schedulight::testkit::pg::PgCluster;
use sqlx::PgPool;
use std::sync::Arc;

const V3_SCHEMA: &str = include_str!("fixtures/greenlight/v3-schema.sql");
const SECRET: &str = "workflow-secret";
const ROOM: &str = "!lectures:uni.example";

fn vienna(s: &str) -> Timestamp {
    jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M", s)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::get("Europe/Vienna").unwrap())
        .unwrap()
        .timestamp()
}

struct World {
    service: Service,
    engine: Engine,
    clock: ManualClock,
    sim: Simulator,
    store: Arc<dyn Store>,
    gl: PgPool,
    _dir: tempfile::TempDir,
}

impl World {
    async fn new(now: &str) -> Self {
        let cluster = PgCluster::shared().expect("throwaway PostgreSQL");
        let url = cluster.fresh_database().await.expect("fresh database");
        let gl = PgPool::connect(&url).await.expect("connect");
        sqlx::raw_sql(V3_SCHEMA)
            .execute(&gl)
            .await
            .expect("Greenlight schema");
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqlStore::connect(&dir.path().join("state.db").display().to_string())
                .await
                .unwrap(),
        );
        let clock = ManualClock::new(vienna(now));
        let sim = Simulator::new(SimConfig::new(SECRET));
        sim.set_now(vienna(now));
        let connector = SimConnector::new();
        connector.register("bbb".parse().unwrap(), sim.clone());
        let settings = ServiceSettings {
            default_time_zone: jiff::tz::TimeZone::get("Europe/Vienna").unwrap(),
            ..ServiceSettings::default()
        };
        let service = Service::new(
            store.clone(),
            Arc::new(connector),
            Arc::new(clock.clone()),
            settings,
        )
        .with_greenlight(Arc::new(PgConnector::new()));
        let mut server = ServerSpec::new(
            "bbb".parse().unwrap(),
            "http://127.0.0.1:9/bigbluebutton/api/".parse().unwrap(),
            Secret::new(SECRET),
        );
        server.greenlight = Some(GreenlightSettings {
            version: None,
            database_url: Secret::new(url),
            provider: None,
            link_base: "https://gl.uni.example".into(),
            bcrypt_cost: Some(4),
        });
        let admin = Actor::admin("test");
        service
            .execute(
                &admin,
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
            gl,
            _dir: dir,
        }
    }

    async fn step_at(&self, t: Timestamp) {
        self.clock.set(t);
        self.sim.set_now(t);
        self.engine.step(t).await.expect("step");
    }

    async fn history(&self) -> Vec<(String, u16)> {
        self.store
            .step_history(&"lecture".parse().unwrap())
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.step, s.code))
            .collect()
    }

    async fn has_step(&self, step: &str, code: u16) -> bool {
        self.history().await.contains(&(step.to_string(), code))
    }

    async fn outbox(&self) -> Vec<(NoticeKind, String, Option<String>)> {
        self.store
            .list_outbox(&OutboxFilter {
                state: MailFilter::All,
                ..OutboxFilter::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.request.kind, e.request.recipient, e.request.occurrence))
            .collect()
    }

    async fn phase(&self) -> MeetingPhase {
        self.store
            .get_meeting(&"lecture".parse().unwrap())
            .await
            .unwrap()
            .unwrap()
            .phase
    }

    async fn gl_count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.gl).await.unwrap()
    }
}

fn weekly_lecture() -> MeetingSpec {
    let mut m = MeetingSpec::new(
        "lecture".parse().unwrap(),
        "bbb".parse().unwrap(),
        "Linear Algebra",
    );
    m.start = Some(seed_datetime::parse("2027-03-23 10:00").unwrap());
    m.recurrence = Some("FREQ=WEEKLY;BYDAY=TU;COUNT=2".parse().unwrap());
    m.pre_open_minutes = Some(30);
    m.end_after_minutes = Some(90);
    m.reminder_minutes = Some(10);
    m.owner = Some(Owner {
        email: "ada@uni.example".parse().unwrap(),
        full_name: "Ada Lovelace".into(),
        password: None,
        uid: None,
        social_uid: Some("oidc-ada".into()),
    });
    m.room = Some("lin-alg-ebr".parse().unwrap());
    m.mute_on_start = Some(true);
    m.access_code = Some("424242".into());
    m.send_emails = Some(true);
    m.notify_room = Some(ROOM.parse().unwrap());
    let r = |name: &str| Recipient {
        full_name: Some(name.into()),
        send_emails: None,
    };
    m.share_with = [("bob@uni.example".parse().unwrap(), r("Bob"))].into();
    m.send_invitation_link = [("carol@uni.example".parse().unwrap(), r("Carol"))].into();
    m.send_moderator_link = [("dave@uni.example".parse().unwrap(), r("Dave"))].into();
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weekly_meeting_through_every_step_across_dst() {
    let w = World::new("2027-03-20 08:00").await;
    let admin = Actor::admin("test");
    w.service
        .execute(
            &admin,
            Operation::CreateUser(CreateUser {
                server: "bbb".parse().unwrap(),
                email: "bob@uni.example".parse().unwrap(),
                full_name: "Bob".into(),
                password: None,
                role: UserRole::User,
                provider: None,
                external_id: None,
            }),
        )
        .await
        .expect("bob");
    w.service
        .execute(
            &admin,
            Operation::ScheduleMeeting {
                meeting: Box::new(weekly_lecture()),
            },
        )
        .await
        .expect("schedule");

    // Setup, once for the series: Greenlight rows, then the mails about the room.
    w.step_at(vienna("2027-03-20 08:00")).await;
    assert_eq!(
        w.gl_count("SELECT count(*) FROM users WHERE email = 'ada@uni.example' AND external_id = 'oidc-ada'")
            .await,
        1
    );
    assert_eq!(
        w.gl_count(
            "SELECT count(*) FROM rooms r JOIN users u ON u.id = r.user_id \
             WHERE r.friendly_id = 'lin-alg-ebr' AND u.email = 'ada@uni.example' \
             AND r.name = 'Linear Algebra'"
        )
        .await,
        1
    );
    assert_eq!(
        w.gl_count(
            "SELECT count(*) FROM room_meeting_options o \
             JOIN meeting_options mo ON mo.id = o.meeting_option_id \
             JOIN rooms r ON r.id = o.room_id WHERE r.friendly_id = 'lin-alg-ebr' \
             AND ((mo.name = 'muteOnStart' AND o.value = 'true') \
               OR (mo.name = 'glViewerAccessCode' AND o.value = '424242'))"
        )
        .await,
        2
    );
    assert_eq!(
        w.gl_count(
            "SELECT count(*) FROM shared_accesses s JOIN rooms r ON r.id = s.room_id \
             JOIN users u ON u.id = s.user_id \
             WHERE r.friendly_id = 'lin-alg-ebr' AND u.email = 'bob@uni.example'"
        )
        .await,
        1
    );
    let series = vec![
        (NoticeKind::OwnerInfo, "ada@uni.example".to_string(), None),
        (NoticeKind::ShareInfo, "bob@uni.example".to_string(), None),
        (
            NoticeKind::Invitation,
            "carol@uni.example".to_string(),
            None,
        ),
        (
            NoticeKind::ModeratorLink,
            "dave@uni.example".to_string(),
            None,
        ),
    ];
    assert_eq!(w.outbox().await, series);
    for (step, code) in [
        ("owner", 220),
        ("room", 220),
        ("roomSettings", 220),
        ("owner_infoMailSent", 250),
        ("shareWith_bob@uni.example", 220),
        ("shareWith_bob@uni.example_sendShareMail", 250),
        ("sendInvitationLink_carol@uni.example", 250),
        ("sendModeratorLink_dave@uni.example", 250),
    ] {
        assert!(
            w.has_step(step, code).await,
            "{step} {code}: {:?}",
            w.history().await
        );
    }
    assert!(w.sim.meetings().is_empty());

    let room_meeting_id: String =
        sqlx::query_scalar("SELECT meeting_id FROM rooms WHERE friendly_id = 'lin-alg-ebr'")
            .fetch_one(&w.gl)
            .await
            .unwrap();
    let mut expected = series.clone();
    for (day, utc_start) in [("2027-03-23", "09:00"), ("2027-03-30", "08:00")] {
        let occ = format!("{day}T10:00");
        let at = |hm: &str| vienna(&format!("{day} {hm}"));
        assert_eq!(
            at("10:00").strftime("%H:%M").to_string(),
            utc_start,
            "10:00 local is {utc_start} UTC"
        );
        // Pre-open 30 minutes ahead, the reminder 10 minutes before the start.
        w.step_at(at("09:29")).await;
        assert!(w.sim.meetings().is_empty(), "nothing early");
        w.step_at(at("09:30")).await;
        let open = w.sim.meetings();
        assert_eq!(open.len(), 1, "pre-opened");
        assert_eq!(
            open[0].meeting_id, room_meeting_id,
            "the Greenlight room's meeting"
        );
        assert_eq!(w.phase().await, MeetingPhase::PreOpened);
        w.step_at(at("09:50")).await;
        expected.push((
            NoticeKind::OwnerReminder,
            "ada@uni.example".into(),
            Some(occ.clone()),
        ));
        expected.push((NoticeKind::Reminder, ROOM.into(), Some(occ.clone())));
        assert_eq!(w.outbox().await, expected);
        assert_eq!(w.sim.meetings().len(), 1, "the empty room is kept open");

        w.step_at(at("10:00")).await;
        assert!(w.has_step("status", 210).await);
        w.sim
            .add_participant(&room_meeting_id, "Ada", Role::Moderator)
            .expect("join");
        w.step_at(at("10:00") + SignedDuration::from_secs(15)).await;
        assert!(w.has_step("status", 220).await);
        assert_eq!(w.phase().await, MeetingPhase::Started);
        expected.push((
            NoticeKind::OwnerStarted,
            "ada@uni.example".into(),
            Some(occ.clone()),
        ));
        expected.push((NoticeKind::Started, ROOM.into(), Some(occ.clone())));
        assert_eq!(w.outbox().await, expected);

        w.step_at(at("11:30")).await;
        assert!(w.sim.meetings().is_empty(), "ended after 90 minutes");
        assert_eq!(w.phase().await, MeetingPhase::Ended);
        assert!(w.has_step("endMeeting", 220).await);
        expected.push((NoticeKind::Ended, ROOM.into(), Some(occ.clone())));
        assert_eq!(w.outbox().await, expected);
    }
    // COUNT=2: nothing left; the series' setup ran once.
    let pending = w
        .store
        .list_jobs(Some(&"lecture".parse().unwrap()))
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.state == schedulight::store::JobState::Pending)
        .count();
    assert_eq!(pending, 0);
    assert_eq!(
        w.gl_count("SELECT count(*) FROM rooms WHERE friendly_id = 'lin-alg-ebr'")
            .await,
        1
    );
    let mails = w
        .outbox()
        .await
        .iter()
        .filter(|(k, _, _)| k.channel() == Channel::Mail)
        .count();
    assert_eq!(
        mails,
        4 + 2 * 2,
        "series mails once, reminder and started per occurrence"
    );
}

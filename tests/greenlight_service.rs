//! The original tool's seven commands, room links, starting a meeting in a Greenlight room and
//! the callback forwarding — through `Service::execute`, against a real PostgreSQL holding a
//! Greenlight schema (v3 and v2), the BBB simulator over HTTP, and a stand-in Greenlight web
//! server receiving forwarded callbacks.

mod common;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::{get, post};
use schedulight::bbb::HttpConnector;
use schedulight::bbb::sim::{SimConfig, SimHandle};
use schedulight::callbacks::{CallbackState, router};
use schedulight::clock::SystemClock;
use schedulight::domain::operation::{
    CreateRoom, CreateUser, RoomDisposition, RoomFilter, ShareRoom, UserRole,
};
use schedulight::domain::outcome::ItemResult;
use schedulight::domain::{
    Actor, MeetingSpec, NoticeKind, OpError, Operation, Outcome, Recipient, Scope, Secret,
    ServerSpec,
};
use schedulight::greenlight::connector::PgConnector;
use schedulight::greenlight::{GreenlightSettings, GreenlightVersion};
use schedulight::service::{Service, ServiceSettings};
use schedulight::store::{MemoryStore, OutboxFilter, Store};
use schedulight::testkit::pg::PgCluster;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const V3_SCHEMA: &str = include_str!("fixtures/greenlight/v3-schema.sql");
const V2_SCHEMA: &str = include_str!("fixtures/greenlight/v2-schema.sql");

/// What the stand-in Greenlight received.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<String>>>);

struct World {
    service: Service,
    store: Arc<dyn Store>,
    gl_db: PgPool,
    sim: SimHandle,
    received: Received,
    callbacks_url: String,
    _callbacks: tokio::task::JoinHandle<()>,
    _standin: tokio::task::JoinHandle<()>,
}

async fn serve_router(app: Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

async fn standin_greenlight(received: Received) -> (String, tokio::task::JoinHandle<()>) {
    async fn ended(State(r): State<Received>, RawQuery(q): RawQuery) -> &'static str {
        r.0.lock()
            .unwrap()
            .push(format!("meeting_ended?{}", q.unwrap_or_default()));
        "ok"
    }
    async fn ready(State(r): State<Received>, body: String) -> &'static str {
        r.0.lock().unwrap().push(format!("recording_ready {body}"));
        "ok"
    }
    let app = Router::new()
        .route("/meeting_ended", get(ended))
        .route("/recording_ready", post(ready))
        .with_state(received);
    serve_router(app).await
}

async fn world(version: GreenlightVersion) -> World {
    let cluster = PgCluster::shared().expect("throwaway PostgreSQL");
    let url = cluster.fresh_database().await.expect("fresh database");
    let gl_db = PgPool::connect(&url).await.expect("connect");
    let schema = if version == GreenlightVersion::V3 {
        V3_SCHEMA
    } else {
        V2_SCHEMA
    };
    sqlx::raw_sql(schema)
        .execute(&gl_db)
        .await
        .expect("apply the Greenlight schema");

    let secret = common::random_secret();
    let sim = common::serve_sim(SimConfig::new(secret.clone())).await;
    let received = Received::default();
    let (standin_url, standin) = standin_greenlight(received.clone()).await;
    let link_base = match version {
        GreenlightVersion::V3 => standin_url.clone(),
        GreenlightVersion::V2 => format!("{standin_url}/b"),
    };
    let mut server: ServerSpec = common::server_spec(
        "bbb",
        &sim,
        &secret,
        schedulight::domain::ChecksumAlgorithm::Sha256,
        3000,
    );
    server.greenlight = Some(GreenlightSettings {
        version: None,
        database_url: Secret::new(url),
        provider: None,
        link_base,
        bcrypt_cost: Some(4),
    });
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    store
        .upsert_server(&server, jiff::Timestamp::now())
        .await
        .expect("server");
    let connector = Arc::new(PgConnector::new());
    let (callbacks_url, callbacks) = serve_router(router(CallbackState {
        store: store.clone(),
        greenlight: connector.clone(),
        default_greenlight: None,
        http: reqwest::Client::new(),
    }))
    .await;
    let settings = ServiceSettings {
        callback_base: Some(callbacks_url.clone()),
        ..ServiceSettings::default()
    };
    let service = Service::new(
        store.clone(),
        Arc::new(HttpConnector::new()),
        Arc::new(SystemClock),
        settings,
    )
    .with_greenlight(connector);
    World {
        service,
        store,
        gl_db,
        sim,
        received,
        callbacks_url,
        _callbacks: callbacks,
        _standin: standin,
    }
}

fn admin() -> Actor {
    Actor::admin("test:admin")
}

fn sid() -> schedulight::domain::ServerId {
    "bbb".parse().unwrap()
}

async fn run(w: &World, op: Operation) -> Result<Outcome, OpError> {
    w.service.execute(&admin(), op).await
}

fn items(o: Result<Outcome, OpError>) -> (i64, Vec<ItemResult>) {
    match o {
        Ok(Outcome::Items {
            result_id, results, ..
        }) => (result_id, results),
        other => panic!("expected item results, got {other:?}"),
    }
}

async fn create_user(w: &World, email: &str, name: &str, password: Option<&str>) {
    let (_, r) = items(
        run(
            w,
            Operation::CreateUser(CreateUser {
                server: sid(),
                email: email.parse().unwrap(),
                full_name: name.into(),
                password: password.map(Secret::new),
                role: UserRole::User,
                provider: None,
                external_id: None,
            }),
        )
        .await,
    );
    assert!(r[0].ok, "{r:?}");
}

async fn create_room(w: &World, owner: &str, name: &str, id: &str) {
    let (_, r) = items(
        run(
            w,
            Operation::CreateRoom(CreateRoom {
                server: sid(),
                name: name.into(),
                owner: owner.parse().unwrap(),
                uid: Some(id.parse().unwrap()),
                access_code: None,
            }),
        )
        .await,
    );
    assert!(r[0].ok, "{r:?}");
}

fn share(room: &str, users: &[&str]) -> ShareRoom {
    ShareRoom {
        server: sid(),
        room: room.parse().unwrap(),
        with: users
            .iter()
            .map(|u| (u.parse().unwrap(), Recipient::default()))
            .collect(),
    }
}

async fn links(
    w: &World,
    actor: &Actor,
    filter: RoomFilter,
) -> Vec<schedulight::domain::outcome::RoomView> {
    match w
        .service
        .execute(
            actor,
            Operation::RoomLinks {
                server: sid(),
                filter,
                mail_to: None,
            },
        )
        .await
    {
        Ok(Outcome::Rooms { rooms }) => rooms,
        other => panic!("expected rooms, got {other:?}"),
    }
}

async fn seven_commands(version: GreenlightVersion) {
    let w = world(version).await;
    create_user(
        &w,
        "Ada@Uni.Example",
        "Ada Lovelace",
        Some("Gr33nl!ght-secret"),
    )
    .await;
    create_user(&w, "bob@uni.example", "Bob", None).await;
    // The same e-mail again is a failure with a reason, stored and queryable.
    let err = run(
        &w,
        Operation::CreateUser(CreateUser {
            server: sid(),
            email: "ada@uni.example".parse().unwrap(),
            full_name: "Ada again".into(),
            password: None,
            role: UserRole::User,
            provider: None,
            external_id: None,
        }),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");

    create_room(&w, "ada@uni.example", "Ada's 'Lab' 50%", "ada-lab-one").await;
    let (result_id, r) = items(
        run(
            &w,
            Operation::ShareRoom(share(
                "ada-lab-one",
                &["bob@uni.example", "nobody@uni.example"],
            )),
        )
        .await,
    );
    assert_eq!(r.iter().filter(|i| i.ok).count(), 1, "{r:?}");
    assert!(
        r.iter().any(|i| !i.ok && i.item == "nobody@uni.example"),
        "{r:?}"
    );
    // Stored per item.
    let (again_id, again) = items(run(&w, Operation::CommandResult { id: result_id }).await);
    assert_eq!((again_id, again), (result_id, r));
    // Sharing again is idempotent.
    let (_, r) = items(
        run(
            &w,
            Operation::ShareRoom(share("ada-lab-one", &["bob@uni.example"])),
        )
        .await,
    );
    assert!(r[0].ok, "{r:?}");

    let mut rooms = links(
        &w,
        &admin(),
        RoomFilter::Owner("ada@uni.example".parse().unwrap()),
    )
    .await;
    // v2 gives every user a home room of their own (as Greenlight 2 does); keep the lab.
    let expected_rooms = if version == GreenlightVersion::V2 {
        2
    } else {
        1
    };
    assert_eq!(rooms.len(), expected_rooms, "{rooms:?}");
    rooms.retain(|r| r.id == "ada-lab-one");
    assert_eq!(rooms[0].name, "Ada's 'Lab' 50%");
    assert_eq!(rooms[0].shared_with, vec!["bob@uni.example".to_string()]);
    assert!(rooms[0].moderator_link.is_some() && rooms[0].viewer_link.is_some());
    let reader = Actor::with_scopes("test:reader", [Scope::Read]);
    let rooms_ro = links(&w, &reader, RoomFilter::Name("lab' 5".into())).await;
    assert_eq!(
        rooms_ro.len(),
        1,
        "name search is literal and case-insensitive"
    );
    assert!(
        rooms_ro[0].moderator_link.is_none(),
        "join links are for actors who may change meetings"
    );

    // Options and rename.
    let opts = BTreeMap::from([("record".to_string(), "true".to_string())]);
    let (_, r) = items(
        run(
            &w,
            Operation::SetRoom {
                server: sid(),
                room: "ada-lab-one".parse().unwrap(),
                name: None,
                options: opts,
            },
        )
        .await,
    );
    assert!(r[0].ok && r[0].message.contains("true"), "{r:?}");
    let bad = BTreeMap::from([("recrod".to_string(), "true".to_string())]);
    assert!(
        run(
            &w,
            Operation::SetRoom {
                server: sid(),
                room: "ada-lab-one".parse().unwrap(),
                name: None,
                options: bad
            }
        )
        .await
        .is_err()
    );
    items(
        run(
            &w,
            Operation::RenameRoom {
                server: sid(),
                room: "ada-lab-one".parse().unwrap(),
                new_uid: "ada-lab-two".parse().unwrap(),
            },
        )
        .await,
    );
    let rooms = links(
        &w,
        &admin(),
        RoomFilter::Room("ada-lab-two".parse().unwrap()),
    )
    .await;
    assert_eq!(rooms.len(), 1);
    assert!(
        rooms[0].link.ends_with("/ada-lab-two")
            || rooms[0].link.ends_with("/rooms/ada-lab-two/join"),
        "{}",
        rooms[0].link
    );

    // Unshare, then deleting the owner is refused while she owns rooms; transfer works.
    items(
        run(
            &w,
            Operation::UnshareRoom(share("ada-lab-two", &["bob@uni.example"])),
        )
        .await,
    );
    let err = run(
        &w,
        Operation::DeleteUser {
            server: sid(),
            email: "ada@uni.example".parse().unwrap(),
            rooms: RoomDisposition::Refuse,
            with_recordings: false,
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("owns"), "{err}");
    let (_, r) = items(
        run(
            &w,
            Operation::DeleteUser {
                server: sid(),
                email: "ada@uni.example".parse().unwrap(),
                rooms: RoomDisposition::TransferTo("bob@uni.example".parse().unwrap()),
                with_recordings: false,
            },
        )
        .await,
    );
    assert!(r.iter().all(|i| i.ok), "{r:?}");
    let rooms = links(
        &w,
        &admin(),
        RoomFilter::Room("ada-lab-two".parse().unwrap()),
    )
    .await;
    assert_eq!(
        rooms[0].owner_email, "bob@uni.example",
        "the room went to bob"
    );

    // Delete the room; then it is gone.
    items(
        run(
            &w,
            Operation::DeleteRoom {
                server: sid(),
                room: "ada-lab-two".parse().unwrap(),
                with_recordings: true,
            },
        )
        .await,
    );
    assert!(
        links(
            &w,
            &admin(),
            RoomFilter::Room("ada-lab-two".parse().unwrap())
        )
        .await
        .is_empty()
    );
    w.sim.shutdown().await;
}

#[tokio::test]
async fn seven_commands_v3() {
    seven_commands(GreenlightVersion::V3).await;
}

#[tokio::test]
async fn seven_commands_v2() {
    seven_commands(GreenlightVersion::V2).await;
}

/// Starting a scheduled meeting in a Greenlight room uses the room's meetingID, keeps
/// Greenlight's own join buttons working (v3 last_session/online), and BBB's callbacks reach
/// the daemon, which marks the room offline and forwards them to Greenlight.
#[tokio::test]
async fn meeting_in_a_v3_room_and_callbacks() {
    let w = world(GreenlightVersion::V3).await;
    create_user(&w, "ada@uni.example", "Ada", None).await;
    create_room(&w, "ada@uni.example", "Lecture", "lec-tur-eee").await;
    let mut m = MeetingSpec::new("lecture".parse().unwrap(), sid(), "Linear Algebra");
    m.room = Some("lec-tur-eee".parse().unwrap());
    m.record = Some(true);
    m.notify_room = Some("!lectures:uni.example".parse().unwrap());
    run(
        &w,
        Operation::ScheduleMeeting {
            meeting: Box::new(m),
        },
    )
    .await
    .expect("schedule");
    let Outcome::Started {
        bbb_meeting_id,
        links,
        ..
    } = run(
        &w,
        Operation::StartMeetingNow {
            id: "lecture".parse().unwrap(),
        },
    )
    .await
    .expect("start")
    else {
        panic!("not started")
    };
    let (meeting_id, online, last_session_ms): (String, bool, Option<i64>) = sqlx::query_as(
        "SELECT meeting_id, online, (extract(epoch from last_session) * 1000)::bigint \
         FROM rooms WHERE friendly_id = 'lec-tur-eee'",
    )
    .fetch_one(&w.gl_db)
    .await
    .expect("room row");
    assert_eq!(
        bbb_meeting_id.as_str(),
        meeting_id,
        "BBB meetingID is the room's"
    );
    assert!(online, "Greenlight shows the room online");
    let sim_meeting = w
        .sim
        .simulator
        .meeting(&meeting_id)
        .expect("created on BBB");
    assert_eq!(
        last_session_ms,
        Some(sim_meeting.create_time),
        "last_session = createTime"
    );
    assert!(
        links
            .room
            .as_deref()
            .is_some_and(|l| l.ends_with("/lec-tur-eee")),
        "{links:?}"
    );
    assert!(common::open_link(&links.moderator).await.entered_client());

    // A forged end callback (no or a wrong token) is refused and changes nothing.
    let base = format!(
        "{}/callbacks/meeting-ended?server=bbb&m={meeting_id}",
        w.callbacks_url
    );
    for forged in [
        format!("{base}&meetingID={meeting_id}"),
        format!("{base}&token=AAAA&meetingID={meeting_id}"),
    ] {
        let status = reqwest::get(&forged)
            .await
            .expect("request")
            .status()
            .as_u16();
        assert!(status == 400 || status == 401, "{status} for {forged}");
    }
    let still_online: bool =
        sqlx::query_scalar("SELECT online FROM rooms WHERE friendly_id = 'lec-tur-eee'")
            .fetch_one(&w.gl_db)
            .await
            .expect("room row");
    assert!(still_online, "a forged callback changed nothing");
    assert!(w.received.0.lock().unwrap().is_empty(), "nothing forwarded");

    run(
        &w,
        Operation::EndMeeting {
            id: "lecture".parse().unwrap(),
        },
    )
    .await
    .expect("end");
    // BBB calls back asynchronously: the end callback, then (recorded) the recording-ready one.
    let mut got = Vec::new();
    for _ in 0..100 {
        got = w.received.0.lock().unwrap().clone();
        if got.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        got.iter()
            .any(|g| g.starts_with("meeting_ended?") && g.contains(&meeting_id)),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|g| g.starts_with("recording_ready signed_parameters=")),
        "{got:?}"
    );
    assert!(
        !got.iter().any(|g| g.contains("server=")),
        "our routing parameter is not forwarded: {got:?}"
    );
    // The meeting's room hears of both (the bot delivers them).
    let notices: Vec<_> = w
        .store
        .list_outbox(&OutboxFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.request)
        .collect();
    let ended = notices
        .iter()
        .find(|r| r.kind == NoticeKind::Ended)
        .expect("ended notice");
    assert_eq!(ended.recipient, "!lectures:uni.example");
    assert!(
        ended
            .occurrence
            .as_deref()
            .is_some_and(|o| o.starts_with("now-")),
        "{ended:?}"
    );
    let ready = notices
        .iter()
        .find(|r| r.kind == NoticeKind::RecordingReady)
        .expect("recording notice");
    let record_id = ready.data["recordId"].as_str().unwrap();
    let recordings = w.sim.simulator.recordings();
    assert!(
        recordings.iter().any(|r| r.record_id == record_id),
        "{record_id} not among {recordings:?}"
    );
    let online: bool =
        sqlx::query_scalar("SELECT online FROM rooms WHERE friendly_id = 'lec-tur-eee'")
            .fetch_one(&w.gl_db)
            .await
            .expect("room row");
    assert!(!online, "the end callback marked the room offline");
    w.sim.shutdown().await;
}

#[tokio::test]
async fn a_server_without_greenlight_says_what_to_configure() {
    let w = world(GreenlightVersion::V3).await;
    let mut plain = w.store.get_server(&sid()).await.unwrap().unwrap();
    plain.id = "plain".parse().unwrap();
    plain.greenlight = None;
    w.store
        .upsert_server(&plain, jiff::Timestamp::now())
        .await
        .unwrap();
    let err = run(
        &w,
        Operation::DeleteRoom {
            server: plain.id.clone(),
            room: "abc-def-ghi".parse().unwrap(),
            with_recordings: false,
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("greenlight"), "{err}");
    w.sim.shutdown().await;
}

/// Greenlight 2: the meeting uses the room's bbb_id and passwords (so v2's own password join
/// links work), `sessions` and `last_session` are kept, and `useHomeRoom` finds the owner's
/// home room.
#[tokio::test]
async fn meetings_in_v2_rooms() {
    let w = world(GreenlightVersion::V2).await;
    create_user(&w, "ada@uni.example", "Ada", Some("Gr33nl!ght-secret")).await;
    create_room(&w, "ada@uni.example", "Lecture", "lec-v2a-001").await;
    let mut m = MeetingSpec::new("lecture".parse().unwrap(), sid(), "Linear Algebra");
    m.room = Some("lec-v2a-001".parse().unwrap());
    run(
        &w,
        Operation::ScheduleMeeting {
            meeting: Box::new(m),
        },
    )
    .await
    .expect("schedule");
    let Outcome::Started { bbb_meeting_id, .. } = run(
        &w,
        Operation::StartMeetingNow {
            id: "lecture".parse().unwrap(),
        },
    )
    .await
    .expect("start") else {
        panic!("not started")
    };
    let (bbb_id, sessions, last_ms, mod_pw): (String, i32, Option<i64>, String) = sqlx::query_as(
        "SELECT bbb_id, sessions, (extract(epoch from last_session) * 1000)::bigint, moderator_pw \
         FROM rooms WHERE uid = 'lec-v2a-001'",
    )
    .fetch_one(&w.gl_db)
    .await
    .expect("room row");
    assert_eq!(bbb_meeting_id.as_str(), bbb_id);
    assert_eq!(sessions, 1);
    let sim_meeting = w.sim.simulator.meeting(&bbb_id).expect("created on BBB");
    assert_eq!(last_ms, Some(sim_meeting.create_time));
    assert_eq!(
        sim_meeting.moderator_pw, mod_pw,
        "BBB got the room's passwords"
    );
    // Greenlight 2's own kind of link (password form) works.
    let rooms = links(
        &w,
        &admin(),
        RoomFilter::Room("lec-v2a-001".parse().unwrap()),
    )
    .await;
    let link = rooms[0].moderator_link.clone().expect("moderator link");
    assert!(link.contains("password="), "{link}");
    assert!(common::open_link(&link).await.entered_client());

    // useHomeRoom: the owner's home room.
    let mut home = MeetingSpec::new("office-hour".parse().unwrap(), sid(), "Office hour");
    home.use_home_room = Some(true);
    home.owner = Some(schedulight::domain::Owner {
        email: "ada@uni.example".parse().unwrap(),
        full_name: "Ada".into(),
        password: None,
        uid: None,
        social_uid: None,
    });
    run(
        &w,
        Operation::ScheduleMeeting {
            meeting: Box::new(home),
        },
    )
    .await
    .expect("schedule");
    let Outcome::Started { bbb_meeting_id, .. } = run(
        &w,
        Operation::StartMeetingNow {
            id: "office-hour".parse().unwrap(),
        },
    )
    .await
    .expect("start") else {
        panic!("not started")
    };
    let home_bbb: String = sqlx::query_scalar(
        "SELECT r.bbb_id FROM rooms r JOIN users u ON u.room_id = r.id WHERE u.email = 'ada@uni.example'",
    )
    .fetch_one(&w.gl_db)
    .await
    .expect("home room");
    assert_eq!(bbb_meeting_id.as_str(), home_bbb);
    w.sim.shutdown().await;
}

/// The scheduler's Greenlight steps for a new meeting: the owner is created, the room made with
/// the meeting's settings, shared per `shareWith` (one result per address); running them again
/// writes nothing twice.
#[tokio::test]
async fn scheduler_sets_up_owner_room_and_shares_v3() {
    let w = world(GreenlightVersion::V3).await;
    create_user(&w, "bob@uni.example", "Bob", None).await;
    let mut m = MeetingSpec::new("seminar".parse().unwrap(), sid(), "Seminar");
    let start = jiff::Zoned::now()
        .checked_add(jiff::SignedDuration::from_hours(2))
        .unwrap();
    m.start = Some(start.datetime().round(jiff::Unit::Minute).unwrap());
    m.time_zone = Some("UTC".into());
    m.owner = Some(schedulight::domain::Owner {
        email: "ada@uni.example".parse().unwrap(),
        full_name: "Ada Lovelace".into(),
        password: None,
        uid: None,
        social_uid: Some("oidc-ada".into()),
    });
    m.room = Some("sem-ina-r01".parse().unwrap());
    m.mute_on_start = Some(true);
    m.send_emails = Some(true);
    m.access_code = Some("123456".into());
    for e in ["bob@uni.example", "carol@uni.example"] {
        m.share_with
            .insert(e.parse().unwrap(), Recipient::default());
    }
    run(
        &w,
        Operation::ScheduleMeeting {
            meeting: Box::new(m),
        },
    )
    .await
    .expect("schedule");
    let engine = schedulight::scheduler::engine::Engine::new(w.service.clone());
    engine.step(jiff::Timestamp::now()).await.expect("step");
    engine
        .step(jiff::Timestamp::now())
        .await
        .expect("step again");

    let users: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM users WHERE email = 'ada@uni.example' AND external_id = 'oidc-ada'",
    )
    .fetch_one(&w.gl_db)
    .await
    .unwrap();
    assert_eq!(users, 1, "owner created once");
    let (rooms, code, mute): (i64, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT count(*) OVER (), \
                (SELECT value FROM room_meeting_options o JOIN meeting_options mo ON mo.id = o.meeting_option_id \
                  WHERE o.room_id = r.id AND mo.name = 'glViewerAccessCode'), \
                (SELECT value FROM room_meeting_options o JOIN meeting_options mo ON mo.id = o.meeting_option_id \
                  WHERE o.room_id = r.id AND mo.name = 'muteOnStart') \
         FROM rooms r WHERE r.friendly_id = 'sem-ina-r01'",
    )
    .fetch_one(&w.gl_db)
    .await
    .unwrap();
    assert_eq!(
        (rooms, code.as_deref(), mute.as_deref()),
        (1, Some("123456"), Some("true"))
    );
    let shares: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM shared_accesses s JOIN rooms r ON r.id = s.room_id WHERE r.friendly_id = 'sem-ina-r01'",
    )
    .fetch_one(&w.gl_db)
    .await
    .unwrap();
    assert_eq!(shares, 1, "bob shared once; carol does not exist");
    let steps: Vec<(String, u16)> = w
        .store
        .latest_steps(&"seminar".parse().unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.step, s.code))
        .collect();
    for expected in [
        ("owner", 220),
        ("room", 220),
        ("roomSettings", 220),
        ("shareWith_bob@uni.example", 220),
        ("shareWith_carol@uni.example", 404),
        ("shareWith_bob@uni.example_sendShareMail", 250),
        ("owner_infoMailSent", 250),
    ] {
        assert!(
            steps.contains(&(expected.0.to_string(), expected.1)),
            "{expected:?} in {steps:?}"
        );
    }
    // Only the user the room was shared with gets a share mail; the owner her info mail.
    let mails: Vec<(NoticeKind, String)> = w
        .store
        .list_outbox(&OutboxFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.request.kind, e.request.recipient))
        .collect();
    assert_eq!(
        mails,
        [
            (NoticeKind::OwnerInfo, "ada@uni.example".to_string()),
            (NoticeKind::ShareInfo, "bob@uni.example".to_string()),
        ]
    );
    w.sim.shutdown().await;
}

/// BBB's end callback (signed per meeting) reaches the daemon, which records the end of the
/// scheduled meeting — here ended on BBB by someone else.
#[tokio::test]
async fn end_callback_updates_the_scheduled_meeting() {
    use schedulight::bbb::BbbConnector;
    let w = world(GreenlightVersion::V3).await;
    let m = MeetingSpec::new("talk".parse().unwrap(), sid(), "Guest talk");
    run(
        &w,
        Operation::ScheduleMeeting {
            meeting: Box::new(m),
        },
    )
    .await
    .expect("schedule");
    let Outcome::Started { bbb_meeting_id, .. } = run(
        &w,
        Operation::StartMeetingNow {
            id: "talk".parse().unwrap(),
        },
    )
    .await
    .expect("start") else {
        panic!("not started")
    };
    let server = w.store.get_server(&sid()).await.unwrap().unwrap();
    HttpConnector::new()
        .connect(&server)
        .end(&bbb_meeting_id)
        .await
        .expect("end on BBB");
    let id: schedulight::domain::MeetingId = "talk".parse().unwrap();
    let mut ended = false;
    for _ in 0..100 {
        let steps = w.store.latest_steps(&id).await.unwrap();
        if steps
            .iter()
            .any(|s| s.step == "meetingEnded" && s.code == 220)
        {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ended, "the end callback was recorded");
    let phase = w.store.get_meeting(&id).await.unwrap().unwrap().phase;
    assert_eq!(phase, schedulight::domain::MeetingPhase::Ended);
    w.sim.shutdown().await;
}

/// The share and unshare commands mail the users they gave (or took) the room — the original's
/// room shared / unshared mails — where send_emails says yes: not to a user whose entry says
/// no, not for a failed item.
#[tokio::test]
async fn share_commands_queue_mails() {
    let w = world(GreenlightVersion::V3).await;
    let mut server = w.store.get_server(&sid()).await.unwrap().unwrap();
    server.send_emails = Some(true);
    w.store
        .upsert_server(&server, jiff::Timestamp::now())
        .await
        .unwrap();
    for (email, name) in [
        ("ada@uni.example", "Ada"),
        ("bob@uni.example", "Bob"),
        ("carol@uni.example", "Carol"),
    ] {
        create_user(&w, email, name, None).await;
    }
    create_room(&w, "ada@uni.example", "Ada's lab", "ada-lab-one").await;
    let mut s = share(
        "ada-lab-one",
        &["bob@uni.example", "carol@uni.example", "nobody@uni.example"],
    );
    s.with
        .get_mut(&"carol@uni.example".parse().unwrap())
        .unwrap()
        .send_emails = Some(false);
    let (_, r) = items(run(&w, Operation::ShareRoom(s)).await);
    assert_eq!(r.iter().filter(|i| i.ok).count(), 2, "{r:?}");
    let (_, r) = items(
        run(
            &w,
            Operation::UnshareRoom(share("ada-lab-one", &["bob@uni.example"])),
        )
        .await,
    );
    assert!(r[0].ok, "{r:?}");

    let mails: Vec<_> = w
        .store
        .list_outbox(&OutboxFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.request)
        .collect();
    let seen: Vec<(NoticeKind, &str)> = mails
        .iter()
        .map(|m| (m.kind, m.recipient.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (NoticeKind::RoomShared, "bob@uni.example"),
            (NoticeKind::RoomUnshared, "bob@uni.example"),
        ]
    );
    assert_eq!(mails[0].data["room"], "ada-lab-one");
    assert_eq!(mails[0].data["roomName"], "Ada's lab");
    assert_eq!(mails[0].data["recipientName"], "bob");
    assert!(
        mails[0].data["link"]
            .as_str()
            .is_some_and(|l| l.ends_with("/ada-lab-one")),
        "{:?}",
        mails[0].data
    );
    assert_eq!(mails[1].data["command"], "unshare_room");
}

/// The original CLI's `-e`: the report goes out as a queued mail, with the public room links
/// only, even when the asking admin sees the signed join links.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_links_report_is_mailed_with_public_links_only() {
    let w = world(GreenlightVersion::V3).await;
    create_user(&w, "ada@uni.example", "Ada Lovelace", None).await;
    create_room(&w, "ada@uni.example", "Ada's lab", "ada-lab-one").await;
    create_room(&w, "ada@uni.example", "Ada's office", "ada-off-two").await;
    let report_to: schedulight::domain::Email = "dean@uni.example".parse().unwrap();
    let out = run(
        &w,
        Operation::RoomLinks {
            server: sid(),
            filter: RoomFilter::Owner("ada@uni.example".parse().unwrap()),
            mail_to: Some(report_to.clone()),
        },
    )
    .await
    .unwrap();
    let Outcome::Rooms { rooms } = out else {
        panic!("expected rooms, got {out:?}")
    };
    assert_eq!(rooms.len(), 2);
    assert!(
        rooms.iter().all(|r| r.moderator_link.is_some()),
        "the admin sees join links"
    );
    let queued = w.store.list_outbox(&OutboxFilter::default()).await.unwrap();
    assert_eq!(queued.len(), 1);
    let request = &queued[0].request;
    assert_eq!(
        (request.kind, request.recipient.as_str()),
        (NoticeKind::RoomLinks, "dean@uni.example")
    );
    let data = request.data.to_string();
    assert!(!data.contains("/api/join"), "no join links queued: {data}");

    let mail = schedulight::config::MailConfig {
        from: Some("schedulight@uni.example".parse().unwrap()),
        ..Default::default()
    };
    let rendered =
        schedulight::mail::render::render_request(&w.service, &mail, request, &Default::default())
            .await
            .unwrap();
    assert_eq!(rendered.subject, "Room links for owner: ada@uni.example");
    assert_eq!(rendered.to.email, report_to);
    assert_eq!(rendered.from.email.as_str(), "schedulight@uni.example");
    for (name, room) in [
        ("Ada's lab", "ada-lab-one"),
        ("Ada's office", "ada-off-two"),
    ] {
        let block = format!("----\nAda Lovelace: {name}\nEmail: ada@uni.example\nMeeting Link: ");
        assert!(rendered.text.contains(&block), "{}", rendered.text);
        assert!(
            rendered.text.contains(&format!("/{room}\n")),
            "{}",
            rendered.text
        );
    }
    assert!(!rendered.text.contains("/api/join"));
    assert!(!rendered.html.unwrap().contains("/api/join"));
    assert!(rendered.calendar.is_none());
}

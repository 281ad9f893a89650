//! The bot against a real Synapse: it logs in with a persistent encrypted store, joins an
//! encrypted room an allowed user invites it to (and declines a stranger's invite), and posts
//! the scheduler's reminder there at the right time (manual clock) as an `m.text` that mentions
//! the owner and that the user's own client decrypts. A second start restores the saved
//! session (same device); after losing its store it recovers the same cross-signed identity.

// matrix-sdk's sync future is deep; spawning it needs a higher limit (rustc 1.95).
#![recursion_limit = "256"]

use jiff::Timestamp;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::api::client::room::create_room::v3::Request as CreateRoom;
use matrix_sdk::ruma::events::Mentions;
use matrix_sdk::ruma::events::reaction::ReactionEventContent;
use matrix_sdk::ruma::events::relation::Annotation;
use matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent;
use matrix_sdk::ruma::events::room::member::MembershipState;
use matrix_sdk::ruma::events::room::message::{
    MessageType, OriginalSyncRoomMessageEvent, Relation, RoomMessageEventContent,
    SyncRoomMessageEvent,
};
use matrix_sdk::ruma::events::{EmptyStateKey, InitialStateEvent};
use matrix_sdk::ruma::serde::Raw;
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId};
use matrix_sdk::{Client, RoomState};
use schedulight::bbb::sim::{SimConfig, SimConnector, Simulator};
use schedulight::bot::matrix::MatrixBot;
use schedulight::clock::ManualClock;
use schedulight::config::{MatrixAuth, MatrixConfig};
use schedulight::domain::meeting::seed_datetime;
use schedulight::domain::operation::MailFilter;
use schedulight::domain::{Actor, Channel, MeetingSpec, Operation, Owner, Secret, ServerSpec};
use schedulight::scheduler::engine::Engine;
use schedulight::service::{Service, ServiceSettings};
use schedulight::store::{MemoryStore, OutboxFilter, OutboxState, Store};
use schedulight::testkit::synapse::Synapse;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const BBB_SECRET: &str = "bot-test-secret";

fn vienna(s: &str) -> Timestamp {
    jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M", s)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::get("Europe/Vienna").unwrap())
        .unwrap()
        .timestamp()
}

struct Scheduler {
    service: Service,
    engine: Engine,
    clock: ManualClock,
    sim: Simulator,
    store: Arc<dyn Store>,
}

async fn scheduler(now: &str) -> Scheduler {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(vienna(now));
    let sim = Simulator::new(SimConfig::new(BBB_SECRET));
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
    );
    let server = ServerSpec::new(
        "bbb".parse().unwrap(),
        "http://127.0.0.1:9/bigbluebutton/api/".parse().unwrap(),
        Secret::new(BBB_SECRET),
    );
    service
        .execute(
            &Actor::admin("test"),
            Operation::AddServer {
                server: Box::new(server),
            },
        )
        .await
        .unwrap();
    Scheduler {
        engine: Engine::new(service.clone()),
        service,
        clock,
        sim,
        store,
    }
}

fn bot_config(hs: &Synapse, store_dir: &Path, password: &str) -> MatrixConfig {
    let server = hs.server_name();
    MatrixConfig {
        homeserver: hs.url().parse().unwrap(),
        user_id: format!("@schedulight:{server}"),
        auth: MatrixAuth::Password(Secret::new(password)),
        device_name: "schedulight test".into(),
        allowed_users: vec![format!("@ada:{server}")],
        rooms: Vec::new(),
        command_prefix: "!sl".into(),
        store_dir: store_dir.to_path_buf(),
        store_passphrase: Some(Secret::new("store passphrase")),
        recovery_passphrase: Some(Secret::new("recovery passphrase for the bot")),
        admins: Vec::new(),
        email_rule: Some("{localpart}@uni.example".into()),
        emails: Default::default(),
        min_power_level: 0,
    }
}

/// A user's own client (its own device and store), syncing in the background; every message it
/// decrypts is sent down the channel.
async fn peer(
    hs: &Synapse,
    user: &str,
    password: &str,
    dir: &Path,
) -> (
    Client,
    mpsc::UnboundedReceiver<OriginalSyncRoomMessageEvent>,
) {
    let client = Client::builder()
        .homeserver_url(hs.url())
        .sqlite_store(dir, None)
        .with_encryption_settings(matrix_sdk::encryption::EncryptionSettings {
            auto_enable_cross_signing: true,
            ..Default::default()
        })
        .build()
        .await
        .unwrap();
    client
        .matrix_auth()
        .login_username(user, password)
        .send()
        .await
        .unwrap();
    client
        .encryption()
        .wait_for_e2ee_initialization_tasks()
        .await;
    let (tx, rx) = mpsc::unbounded_channel();
    client.add_event_handler(move |ev: SyncRoomMessageEvent| {
        let tx = tx.clone();
        async move {
            if let SyncRoomMessageEvent::Original(ev) = ev {
                let _ = tx.send(ev);
            }
        }
    });
    let syncing = client.clone();
    tokio::spawn(async move {
        let _ = syncing
            .sync(SyncSettings::default().timeout(Duration::from_secs(1)))
            .await;
    });
    (client, rx)
}

async fn encrypted_room(client: &Client, invite: &[OwnedUserId]) -> OwnedRoomId {
    let mut request = CreateRoom::new();
    request.invite = invite.to_vec();
    let encryption: Raw<_> = Raw::new(&InitialStateEvent::<RoomEncryptionEventContent>::new(
        EmptyStateKey,
        RoomEncryptionEventContent::with_recommended_defaults(),
    ))
    .unwrap()
    .cast_unchecked();
    request.initial_state = vec![encryption];
    client
        .create_room(request)
        .await
        .unwrap()
        .room_id()
        .to_owned()
}

/// The next message `from` sends that the user's client decrypted.
async fn next_from(
    rx: &mut mpsc::UnboundedReceiver<OriginalSyncRoomMessageEvent>,
    from: &OwnedUserId,
) -> OriginalSyncRoomMessageEvent {
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(ev) = rx.recv().await {
            if &ev.sender == from {
                return ev;
            }
        }
        panic!("the client stopped syncing")
    })
    .await
    .expect("a message from the bot")
}

async fn eventually<T>(
    what: &str,
    limit: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminder_reaches_an_encrypted_room_and_strangers_are_declined() {
    let hs = tokio::task::spawn_blocking(Synapse::start)
        .await
        .unwrap()
        .expect("Synapse");
    let server = hs.server_name().to_string();
    hs.register("schedulight", "bot-password", false)
        .await
        .unwrap();
    hs.register("ada", "ada-password", false).await.unwrap();
    hs.register("mallory", "mallory-password", false)
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let bot_user: OwnedUserId = format!("@schedulight:{server}").parse().unwrap();

    let s = scheduler("2026-12-01 09:00").await;
    let config = bot_config(&hs, &tmp.path().join("bot"), "bot-password");
    let bot = MatrixBot::connect(&config, s.service.clone())
        .await
        .expect("bot connects");
    let running = tokio::spawn(bot.clone().run(futures::future::pending()));

    let (ada, mut ada_messages) = peer(&hs, "ada", "ada-password", &tmp.path().join("ada")).await;
    let room_id = encrypted_room(&ada, std::slice::from_ref(&bot_user)).await;
    eventually("the bot to join", Duration::from_secs(30), async || {
        let room = bot.client().get_room(&room_id)?;
        (room.state() == RoomState::Joined).then_some(())
    })
    .await;

    // A stranger's invite is declined.
    let (mallory, _) = peer(
        &hs,
        "mallory",
        "mallory-password",
        &tmp.path().join("mallory"),
    )
    .await;
    let strange = encrypted_room(&mallory, std::slice::from_ref(&bot_user)).await;
    // Seen from the stranger's side: the bot's membership turns to "leave".
    eventually("the bot to decline", Duration::from_secs(30), async || {
        let room = mallory.get_room(&strange)?;
        let member = room.get_member_no_sync(&bot_user).await.ok()??;
        (*member.membership() == MembershipState::Leave).then_some(())
    })
    .await;
    assert_ne!(
        bot.client().get_room(&strange).map(|r| r.state()),
        Some(RoomState::Joined)
    );

    // Ada publishes her time zone in her profile (`m.tz`); she has not told the bot one.
    let tz = reqwest::Client::new()
        .put(format!(
            "{}/_matrix/client/v3/profile/@ada:{server}/m.tz",
            hs.url()
        ))
        .bearer_auth(ada.access_token().unwrap())
        .json(&serde_json::json!({ "m.tz": "America/New_York" }))
        .send()
        .await
        .unwrap();
    assert!(tz.status().is_success(), "{:?}", tz.text().await);

    // Ada schedules from chat; the reply is a notice in reply to her command, echoing the
    // absolute time in her zone, and the meeting is hers.
    let ada_room = ada.get_room(&room_id).unwrap();
    ada_room
        .send(RoomMessageEventContent::text_plain(
            "!sl schedule meeting Seminar tomorrow 11:00",
        ))
        .await
        .unwrap();
    let reply = next_from(&mut ada_messages, &bot_user).await;
    let MessageType::Notice(notice) = &reply.content.msgtype else {
        panic!("replies are notices: {:?}", reply.content.msgtype);
    };
    assert!(
        notice.body.contains("Wed 2 Dec 2026, 11:00 EST"),
        "{}",
        notice.body
    );
    assert!(matches!(
        reply.content.relates_to,
        Some(Relation::Reply { .. })
    ));
    let scheduled = s.store.list_meetings().await.unwrap();
    assert_eq!(scheduled.len(), 1, "{scheduled:?}");
    assert_eq!(
        scheduled[0].spec.owner.as_ref().unwrap().email.as_str(),
        "ada@uni.example"
    );
    // Cancelling waits for a confirmation; ada's ✅ on the prompt (which the bot offers
    // itself) confirms it.
    let seminar = scheduled[0].spec.id.to_string();
    ada_room
        .send(RoomMessageEventContent::text_plain(format!(
            "!sl cancel {seminar}"
        )))
        .await
        .unwrap();
    let prompt = next_from(&mut ada_messages, &bot_user).await;
    assert!(
        prompt.content.body().contains("react ✅"),
        "{}",
        prompt.content.body()
    );
    let phase = async || {
        s.store
            .get_meeting(&seminar.parse().unwrap())
            .await
            .unwrap()
            .unwrap()
            .phase
            .as_str()
            .to_string()
    };
    assert_ne!(phase().await, "cancelled", "not before the confirmation");
    ada_room
        .send(ReactionEventContent::new(Annotation::new(
            prompt.event_id.clone(),
            "✅".into(),
        )))
        .await
        .unwrap();
    let done = next_from(&mut ada_messages, &bot_user).await;
    assert!(
        done.content.body().contains("cancelled"),
        "{}",
        done.content.body()
    );
    assert_eq!(phase().await, "cancelled");

    // Nonsense gets the usage and a did-you-mean, not silence.
    ada_room
        .send(RoomMessageEventContent::text_plain(
            "!sl shedule meeting tomorrow 11:00",
        ))
        .await
        .unwrap();
    let reply = next_from(&mut ada_messages, &bot_user).await;
    assert!(
        reply.content.body().contains("schedule"),
        "{}",
        reply.content.body()
    );

    // A stranger in the same room is told why the bot will not obey.
    ada_room
        .invite_user_by_id(&format!("@mallory:{server}").parse::<OwnedUserId>().unwrap())
        .await
        .unwrap();
    eventually("mallory to join", Duration::from_secs(30), async || {
        mallory.join_room_by_id(&room_id).await.ok()
    })
    .await;
    eventually(
        "mallory's client to see the bot",
        Duration::from_secs(30),
        async || {
            let r = mallory.get_room(&room_id)?;
            let bot = r.get_member(&bot_user).await.ok()??;
            (*bot.membership() == MembershipState::Join).then_some(())
        },
    )
    .await;
    mallory
        .get_room(&room_id)
        .unwrap()
        .send(RoomMessageEventContent::text_plain("!sl meetings"))
        .await
        .unwrap();
    let refusal = next_from(&mut ada_messages, &bot_user).await;
    assert!(
        refusal
            .content
            .body()
            .contains("not on this bot's list of allowed users"),
        "{}",
        refusal.content.body()
    );

    // A meeting of ada's that notifies the room, with a reminder 15 minutes ahead.
    let mut m = MeetingSpec::new(
        "lecture".parse().unwrap(),
        "bbb".parse().unwrap(),
        "Linear Algebra",
    );
    m.start = Some(seed_datetime::parse("2026-12-01 10:00").unwrap());
    m.owner = Some(Owner {
        email: "ada@uni.example".parse().unwrap(),
        full_name: "Ada Lovelace".into(),
        password: None,
        uid: None,
        social_uid: None,
    });
    m.reminder_minutes = Some(15);
    m.pre_open_minutes = Some(0);
    m.notify_room = Some(room_id.as_str().parse().unwrap());
    s.service
        .execute(
            &Actor::admin("test"),
            Operation::ScheduleMeeting {
                meeting: Box::new(m),
            },
        )
        .await
        .unwrap();
    let step = |t: Timestamp| {
        s.clock.set(t);
        s.sim.set_now(t);
        s.engine.step(t)
    };
    step(vienna("2026-12-01 09:44")).await.unwrap();
    let chat = OutboxFilter {
        state: MailFilter::All,
        channel: Some(Channel::Chat),
        meeting: None,
    };
    assert!(
        s.store.list_outbox(&chat).await.unwrap().is_empty(),
        "not yet"
    );
    step(vienna("2026-12-01 09:45")).await.unwrap();

    // Ada's own client decrypts the reminder; it mentions her.
    let reminder = next_from(&mut ada_messages, &bot_user).await;
    let MessageType::Text(text) = &reminder.content.msgtype else {
        panic!(
            "a reminder is m.text (it must notify): {:?}",
            reminder.content.msgtype
        );
    };
    assert!(
        text.body.contains("Linear Algebra starts in 15 minutes"),
        "{}",
        text.body
    );
    assert!(text.body.contains("10:00 CET"), "{}", text.body);
    let ada_id: OwnedUserId = format!("@ada:{server}").parse().unwrap();
    let mentions = reminder.content.mentions.as_ref().expect("m.mentions set");
    assert!(mentions.user_ids.contains(&ada_id));
    let entry = &s.store.list_outbox(&chat).await.unwrap()[0];
    assert_eq!(entry.state, OutboxState::Sent);
    assert_eq!(entry.reply.as_deref(), Some(reminder.event_id.as_str()));

    // A user picked from the client's list arrives as a pill (display name in the body, ID in
    // the HTML): the bot invites the user's e-mail.
    ada_room
        .send(
            RoomMessageEventContent::text_html(
                "!sl schedule meeting Pills 2026-12-03 12:00 with Bob Builder",
                format!(
                    "!sl schedule meeting Pills 2026-12-03 12:00 with \
                     <a href=\"https://matrix.to/#/@bob:{server}\">Bob Builder</a>"
                ),
            )
            .add_mentions(Mentions::with_user_ids([format!("@bob:{server}")
                .parse::<OwnedUserId>()
                .unwrap()])),
        )
        .await
        .unwrap();
    let reply = next_from(&mut ada_messages, &bot_user).await;
    assert!(
        reply.content.body().contains("Pills"),
        "{}",
        reply.content.body()
    );
    let pills = s
        .store
        .list_meetings()
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.spec.name == "Pills")
        .expect("the meeting with the pill");
    let invited: Vec<String> = pills
        .spec
        .send_invitation_link
        .keys()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(invited, ["bob@uni.example"]);

    // Starting the lecture by hand: the room sees no join link; the moderator link reaches
    // ada in a direct message the bot opens (encrypted), which her client decrypts.
    ada_room
        .send(RoomMessageEventContent::text_plain("!sl start lecture now"))
        .await
        .unwrap();
    let reply = next_from(&mut ada_messages, &bot_user).await;
    let body = reply.content.body().to_string();
    assert!(body.contains("started"), "{body}");
    assert!(body.contains("direct message"), "{body}");
    assert!(
        !body.contains("checksum="),
        "no join link in the room: {body}"
    );
    let dm = eventually(
        "the bot's direct chat",
        Duration::from_secs(30),
        async || ada.invited_rooms().into_iter().next(),
    )
    .await;
    assert_ne!(dm.room_id(), room_id);
    dm.join().await.unwrap();
    let private = next_from(&mut ada_messages, &bot_user).await;
    let text = private.content.body();
    assert!(text.contains("Moderator link: http"), "{text}");
    assert!(text.contains("checksum="), "{text}");
    assert!(
        ada.get_room(dm.room_id())
            .unwrap()
            .latest_encryption_state()
            .await
            .unwrap()
            .is_encrypted(),
        "the direct chat is encrypted"
    );
    running.abort();
    drop(bot);

    // Restart on the same store: the same device, no new login.
    let device = {
        let bot = MatrixBot::connect(&config, s.service.clone())
            .await
            .unwrap();
        bot.client().device_id().unwrap().to_owned()
    };
    let again = MatrixBot::connect(&config, s.service.clone())
        .await
        .unwrap();
    assert_eq!(again.client().device_id().unwrap(), &device);
    drop(again);

    // The store is lost: a new device, recovered into the same identity (cross-signed).
    let lost = bot_config(&hs, &tmp.path().join("bot-new"), "bot-password");
    let fresh = MatrixBot::connect(&lost, s.service.clone()).await.unwrap();
    assert_ne!(fresh.client().device_id().unwrap(), &device);
    let runner = tokio::spawn(fresh.clone().run(futures::future::pending()));
    eventually(
        "the new device to be cross-signed",
        Duration::from_secs(30),
        async || {
            let own = fresh.client().encryption().get_own_device().await.ok()??;
            own.is_cross_signed_by_owner().then_some(())
        },
    )
    .await;
    runner.abort();
    drop(ada);
}

/// `schedulight run` with a `matrix:` section hosts the bot: a command in a room gets its
/// answer from the daemon process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_hosts_the_bot() {
    let hs = tokio::task::spawn_blocking(Synapse::start)
        .await
        .unwrap()
        .expect("Synapse");
    let server = hs.server_name().to_string();
    hs.register("schedulight", "bot-password", false)
        .await
        .unwrap();
    hs.register("ada", "ada-password", false).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("bot-config.yml"),
        format!(
            "store:\n  location: state.db\napi:\n  listen: 127.0.0.1:0\n\
             servers:\n  bbb:\n    BBB_URL: http://127.0.0.1:9/bigbluebutton/api\n    BBB_SECRET: s\n\
             matrix:\n  homeserver: {url}\n  user_id: \"@schedulight:{server}\"\n  \
             password: bot-password\n  allowed_users: [\"@ada:{server}\"]\n  \
             command_prefix: \"!sl\"\n  store_passphrase: pass\n",
            url = hs.url()
        ),
    )
    .unwrap();
    let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_schedulight"))
        .arg("run")
        .current_dir(tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(tmp.path().join("run.log")).unwrap())
        .spawn()
        .unwrap();
    let bot_user: OwnedUserId = format!("@schedulight:{server}").parse().unwrap();
    let (ada, mut messages) = peer(&hs, "ada", "ada-password", &tmp.path().join("ada")).await;
    let room_id = encrypted_room(&ada, std::slice::from_ref(&bot_user)).await;
    let joined = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Some(r) = ada.get_room(&room_id)
                && let Ok(Some(m)) = r.get_member(&bot_user).await
                && *m.membership() == MembershipState::Join
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let log = || std::fs::read_to_string(tmp.path().join("run.log")).unwrap_or_default();
    assert!(joined.is_ok(), "the bot did not join:\n{}", log());
    ada.get_room(&room_id)
        .unwrap()
        .send(RoomMessageEventContent::text_plain("!sl help"))
        .await
        .unwrap();
    let reply = next_from(&mut messages, &bot_user).await;
    assert!(
        reply.content.body().contains("schedule meeting"),
        "{}\n{}",
        reply.content.body(),
        log()
    );
    assert!(!log().contains("bot-password"), "no secret in the log");
    let _ = daemon.kill();
    let _ = daemon.wait();
}

/// Two daemons on one PostgreSQL store, each its own device of the bot account: one runs the
/// sync and answers; when it dies (no goodbye: its lease just runs out) the other takes over
/// within seconds and answers a command sent during the takeover; no command is answered twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_takes_the_bot_over_when_the_first_dies() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let hs = tokio::task::spawn_blocking(Synapse::start)
        .await
        .unwrap()
        .expect("Synapse");
    let server = hs.server_name().to_string();
    hs.register("schedulight", "bot-password", false)
        .await
        .unwrap();
    hs.register("ada", "ada-password", false).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let bot_user: OwnedUserId = format!("@schedulight:{server}").parse().unwrap();
    let url = schedulight::testkit::pg::PgCluster::shared()
        .expect("PostgreSQL")
        .fresh_database()
        .await
        .expect("database");
    let store: Arc<dyn Store> =
        Arc::new(schedulight::store::SqlStore::connect(&url).await.unwrap());
    let daemon = |name: &str| {
        let store = store.clone();
        let hs = &hs;
        let dir = tmp.path().join(name);
        async move {
            let service = Service::new(
                store,
                Arc::new(SimConnector::new()),
                Arc::new(schedulight::clock::SystemClock),
                ServiceSettings::default(),
            );
            MatrixBot::connect(&bot_config(hs, &dir, "bot-password"), service)
                .await
                .expect("bot connects")
        }
    };
    let first = daemon("first").await;
    let first_run = tokio::spawn(first.clone().run(futures::future::pending()));
    eventually(
        "the first daemon to lead",
        Duration::from_secs(30),
        async || store.lease("matrix-sync").await.ok()?.map(|_| ()),
    )
    .await;
    let second = daemon("second").await;
    let second_run = tokio::spawn(second.clone().run(futures::future::pending()));
    assert_ne!(
        first.client().device_id(),
        second.client().device_id(),
        "each daemon is its own device"
    );

    let (ada, mut ada_messages) = peer(&hs, "ada", "ada-password", &tmp.path().join("ada")).await;
    let room_id = encrypted_room(&ada, std::slice::from_ref(&bot_user)).await;
    eventually("the bot to join", Duration::from_secs(30), async || {
        let room = first.client().get_room(&room_id)?;
        (room.state() == RoomState::Joined).then_some(())
    })
    .await;
    let room = ada.get_room(&room_id).unwrap();
    let ask = |text: &'static str| {
        let room = room.clone();
        async move {
            room.send(RoomMessageEventContent::text_plain(text))
                .await
                .unwrap()
                .response
                .event_id
        }
    };
    let first_question = ask("!sl help").await;
    let reply = next_from(&mut ada_messages, &bot_user).await;
    assert!(
        matches!(&reply.content.relates_to, Some(Relation::Reply(r)) if r.in_reply_to.event_id == first_question),
        "{}",
        reply.content.body()
    );

    // The leader dies; a command arrives while nobody syncs.
    first_run.abort();
    let _ = first_run.await;
    let died = std::time::Instant::now();
    let question = ask("!sl meetings").await;
    let answer = tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            let ev = ada_messages.recv().await.expect("the client syncs");
            if ev.sender != bot_user {
                continue;
            }
            if matches!(&ev.content.relates_to, Some(Relation::Reply(r)) if r.in_reply_to.event_id == question)
            {
                return ev;
            }
        }
    })
    .await
    .expect("the second daemon answers the command sent during the takeover");
    let took = died.elapsed();
    assert!(took < Duration::from_secs(45), "took over after {took:?}");
    println!("takeover: the command sent after the leader died was answered {took:.1?} later");
    assert!(!answer.content.body().is_empty());
    // Nothing is answered twice.
    let again = tokio::time::timeout(
        Duration::from_secs(5),
        next_from(&mut ada_messages, &bot_user),
    )
    .await;
    assert!(
        again.is_err(),
        "a second answer: {:?}",
        again.map(|e| e.content.body().to_string())
    );
    second_run.abort();
}

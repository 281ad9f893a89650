//! The chat front end without Matrix: who may do what, confirmations (only by the requester,
//! only before they expire), questions answered by choosing, time zones per user, and that a
//! message not meant for the bot gets no answer.

use jiff::{SignedDuration, Timestamp};
use schedulight::bbb::sim::{SimConfig, SimConnector, Simulator};
use schedulight::bot::access::Access;
use schedulight::bot::front::{CONFIRM_WITHIN, ChatFront, Incoming, Reply};
use schedulight::clock::ManualClock;
use schedulight::config::{MatrixAuth, MatrixConfig};
use schedulight::domain::{Actor, Operation, Secret, ServerSpec};
use schedulight::service::{Service, ServiceSettings};
use schedulight::store::{MemoryStore, Store};
use std::sync::Arc;

const BOT: &str = "@schedulight:uni.example";

struct World {
    front: ChatFront,
    clock: ManualClock,
    store: Arc<dyn Store>,
}

async fn world() -> World {
    world_on(Arc::new(MemoryStore::new())).await
}

async fn world_on(store: Arc<dyn Store>) -> World {
    let now: Timestamp = "2026-12-02T08:00:00Z".parse().unwrap();
    let clock = ManualClock::new(now);
    let sim = Simulator::new(SimConfig::new("front-secret"));
    sim.set_now(now);
    let connector = SimConnector::new();
    connector.register("bbb".parse().unwrap(), sim);
    let service = Service::new(
        store.clone(),
        Arc::new(connector),
        Arc::new(clock.clone()),
        ServiceSettings {
            default_time_zone: jiff::tz::TimeZone::get("Europe/Vienna").unwrap(),
            ..ServiceSettings::default()
        },
    );
    let server = ServerSpec::new(
        "bbb".parse().unwrap(),
        "http://127.0.0.1:9/bigbluebutton/api/".parse().unwrap(),
        Secret::new("front-secret"),
    );
    if store.list_servers().await.unwrap().is_empty() {
        service
            .execute(
                &Actor::admin("test"),
                Operation::AddServer {
                    server: Box::new(server),
                },
            )
            .await
            .unwrap();
    }
    let config = MatrixConfig {
        homeserver: "https://matrix.uni.example".parse().unwrap(),
        user_id: BOT.into(),
        auth: MatrixAuth::Password(Secret::new("x")),
        device_name: "t".into(),
        allowed_users: vec!["@*:uni.example".into()],
        rooms: Vec::new(),
        command_prefix: "!sl".into(),
        store_dir: "unused".into(),
        store_passphrase: None,
        recovery_passphrase: None,
        admins: vec!["@it:uni.example".into()],
        email_rule: Some("{localpart}@uni.example".into()),
        emails: Default::default(),
        min_power_level: 50,
    };
    World {
        front: ChatFront::new(service, Access::from_config(&config), "!sl", BOT),
        clock,
        store,
    }
}

impl World {
    async fn say(&self, sender: &str, body: &str) -> Option<Reply> {
        self.front
            .respond(&Incoming {
                sender,
                body,
                is_direct: false,
                mentioned_bot: false,
                power_level: 50,
                room: None,
            })
            .await
    }

    async fn reply(&self, sender: &str, body: &str) -> Reply {
        self.say(sender, body).await.expect("an answer")
    }

    async fn meetings(&self) -> usize {
        self.store.list_meetings().await.unwrap().len()
    }
}

/// The number in "`!sl confirm N`" of a reply.
fn confirm_id(r: &Reply) -> u32 {
    let at = r.plain.find("confirm ").expect("a confirm id") + "confirm ".len();
    r.plain[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn only_messages_for_the_bot_are_answered() {
    let w = world().await;
    assert_eq!(w.say("@ada:uni.example", "good morning").await, None);
    let help = w.reply("@ada:uni.example", "!sl help").await;
    assert!(
        help.ok && help.plain.contains("schedule meeting"),
        "{}",
        help.plain
    );
    assert!(help.html.starts_with("<pre>"));
    // A direct message needs no prefix.
    let direct = w
        .front
        .respond(&Incoming {
            sender: "@ada:uni.example",
            body: "meetings",
            is_direct: true,
            mentioned_bot: false,
            power_level: 0,
            room: None,
        })
        .await
        .expect("answered");
    assert!(direct.ok, "{}", direct.plain);
}

#[tokio::test]
async fn refusals_say_why() {
    let w = world().await;
    let r = w.reply("@mallory:evil.example", "!sl meetings").await;
    assert!(!r.ok && r.plain.contains("allowed users"), "{}", r.plain);
    let low = w
        .front
        .respond(&Incoming {
            sender: "@ada:uni.example",
            body: "!sl meetings",
            is_direct: false,
            mentioned_bot: false,
            power_level: 0,
            room: None,
        })
        .await
        .unwrap();
    assert!(
        !low.ok && low.plain.contains("power level 50"),
        "{}",
        low.plain
    );
    let r = w
        .reply("@ada:uni.example", "!sl delete user bob@uni.example")
        .await;
    assert!(!r.ok && r.plain.contains("administrators"), "{}", r.plain);
    // Passwords never go through chat.
    let r = w
        .reply(
            "@it:uni.example",
            "!sl create user bob@uni.example Bob password=hunter2",
        )
        .await;
    assert!(!r.ok, "{}", r.plain);
}

#[tokio::test]
async fn scheduling_echoes_the_time_in_the_users_zone() {
    let w = world().await;
    let r = w
        .reply(
            "@ada:uni.example",
            "!sl schedule meeting Seminar tomorrow 11:00",
        )
        .await;
    assert!(r.ok, "{}", r.plain);
    assert!(r.plain.contains("Thu 3 Dec 2026, 11:00 CET"), "{}", r.plain);
    let m = &w.store.list_meetings().await.unwrap()[0];
    assert_eq!(
        m.spec.owner.as_ref().unwrap().email.as_str(),
        "ada@uni.example"
    );

    let r = w
        .reply("@bob:uni.example", "!sl timezone America/New_York")
        .await;
    assert!(r.ok && r.plain.contains("America/New_York"), "{}", r.plain);
    let r = w
        .reply(
            "@bob:uni.example",
            "!sl schedule meeting Standup tomorrow 09:00",
        )
        .await;
    assert!(r.plain.contains("09:00 EST"), "{}", r.plain);
    // Ada's zone is unchanged.
    let r = w
        .reply(
            "@ada:uni.example",
            "!sl schedule meeting Lab tomorrow 09:00",
        )
        .await;
    assert!(r.plain.contains("09:00 CET"), "{}", r.plain);
    let r = w
        .reply(
            "@ada:uni.example",
            "!sl schedule meeting Old 2020-01-01 10:00",
        )
        .await;
    assert!(!r.ok && r.plain.contains("past"), "{}", r.plain);
}

#[tokio::test]
async fn destructive_commands_wait_for_the_requester() {
    let w = world().await;
    w.reply(
        "@ada:uni.example",
        "!sl schedule meeting Seminar tomorrow 11:00",
    )
    .await;
    let id = w.store.list_meetings().await.unwrap()[0]
        .spec
        .id
        .to_string();
    let ask = w
        .reply("@ada:uni.example", &format!("!sl cancel {id}"))
        .await;
    assert!(ask.plain.contains("confirm"), "{}", ask.plain);
    let n = confirm_id(&ask);
    let phase = |w: &World| {
        let store = w.store.clone();
        let id = id.clone();
        async move {
            store
                .get_meeting(&id.parse().unwrap())
                .await
                .unwrap()
                .unwrap()
                .phase
        }
    };
    assert_ne!(
        phase(&w).await.as_str(),
        "cancelled",
        "not before confirmation"
    );
    // Somebody else cannot confirm it.
    let other = w
        .reply("@bob:uni.example", &format!("!sl confirm {n}"))
        .await;
    assert!(!other.ok, "{}", other.plain);
    let done = w
        .reply("@ada:uni.example", &format!("!sl confirm {n}"))
        .await;
    assert!(done.ok, "{}", done.plain);
    assert_eq!(phase(&w).await.as_str(), "cancelled");
    let again = w
        .reply("@ada:uni.example", &format!("!sl confirm {n}"))
        .await;
    assert!(!again.ok, "used once");

    // Denied, and expired.
    w.reply(
        "@ada:uni.example",
        "!sl schedule meeting Lab tomorrow 12:00",
    )
    .await;
    let lab = w.store.list_meetings().await.unwrap();
    assert_eq!(lab.len(), 2);
    let ask = w
        .reply("@it:uni.example", "!sl delete user bob@uni.example")
        .await;
    let n = confirm_id(&ask);
    let denied = w.reply("@it:uni.example", &format!("!sl deny {n}")).await;
    assert!(denied.ok && denied.plain.contains("nothing was done"));
    let ask = w
        .reply("@it:uni.example", "!sl delete user bob@uni.example")
        .await;
    let n = confirm_id(&ask);
    w.clock
        .set(w.clock_now() + CONFIRM_WITHIN + SignedDuration::from_secs(1));
    let late = w
        .reply("@it:uni.example", &format!("!sl confirm {n}"))
        .await;
    assert!(!late.ok && late.plain.contains("expired"), "{}", late.plain);
    assert_eq!(w.meetings().await, 2);
}

#[tokio::test]
async fn questions_are_answered_by_choosing() {
    let w = world().await;
    let q = w
        .reply(
            "@ada:uni.example",
            "!sl schedule meeting Seminar next friday 10:00",
        )
        .await;
    assert!(q.plain.matches("confirm ").count() >= 2, "{}", q.plain);
    assert_eq!(w.meetings().await, 0, "no guess");
    let n = confirm_id(&q);
    let r = w
        .reply("@ada:uni.example", &format!("!sl confirm {n}"))
        .await;
    assert!(r.ok, "{}", r.plain);
    assert_eq!(w.meetings().await, 1);
}

impl World {
    fn clock_now(&self) -> Timestamp {
        use schedulight::clock::Clock;
        self.clock.now()
    }
}

#[tokio::test]
async fn matrix_users_become_their_emails() {
    let w = world().await;
    // The meeting invitations go to the mapped address; an unmappable id is asked about.
    let r = w
        .reply(
            "@ada:uni.example",
            "!sl schedule meeting Seminar tomorrow 11:00 with @bob:uni.example",
        )
        .await;
    assert!(r.ok, "{}", r.plain);
    let m = &w.store.list_meetings().await.unwrap()[0];
    let invited: Vec<&str> = m
        .spec
        .send_invitation_link
        .keys()
        .map(|e| e.as_str())
        .collect();
    assert_eq!(invited, ["bob@uni.example"]);
    let r = w
        .reply(
            "@ada:uni.example",
            "!sl share room abc-def-ghi with @eve:other.example",
        )
        .await;
    assert!(!r.ok && r.plain.contains("e-mail"), "{}", r.plain);
}

/// Join links are credentials: a started meeting's moderator link goes to its owner in a
/// direct message, whoever started it; the room's reply has none.
#[tokio::test]
async fn moderator_links_go_only_to_the_owner() {
    let w = world().await;
    let r = w
        .reply(
            "@ada:uni.example",
            "!sl schedule meeting Seminar tomorrow 11:00",
        )
        .await;
    assert!(r.ok, "{}", r.plain);
    assert!(r.direct.is_empty(), "scheduling sends no secrets");
    let id = w.store.list_meetings().await.unwrap()[0]
        .spec
        .id
        .to_string();

    let r = w
        .reply("@bob:uni.example", &format!("!sl start {id} now"))
        .await;
    assert!(r.ok, "{}", r.plain);
    for text in [&r.plain, &r.html] {
        assert!(
            !text.contains("checksum="),
            "no join link in the room: {text}"
        );
    }
    assert!(
        r.plain
            .contains("moderator link was sent to @ada:uni.example in a direct message"),
        "{}",
        r.plain
    );
    assert_eq!(r.direct.len(), 1);
    let dm = &r.direct[0];
    assert_eq!(dm.to, "@ada:uni.example");
    assert!(dm.plain.contains("Moderator link: http"), "{}", dm.plain);
    assert!(dm.plain.contains("checksum="), "{}", dm.plain);
    assert!(
        dm.plain.contains("asked by @bob:uni.example"),
        "{}",
        dm.plain
    );

    // Started again by the owner: to her, "you".
    let r = w
        .reply("@ada:uni.example", &format!("!sl start {id} now"))
        .await;
    assert!(r.ok && r.plain.contains("sent to you"), "{}", r.plain);
    assert_eq!(r.direct[0].to, "@ada:uni.example");
    assert!(!r.plain.contains("checksum="), "{}", r.plain);
}

/// A restart (a new front end, service and connection on the same SQLite file) keeps the time
/// zones users chose and the confirmations they have not given yet, prompts included.
#[tokio::test]
async fn zones_and_confirmations_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let open = async || {
        let store = schedulight::store::SqlStore::connect(path.to_str().unwrap())
            .await
            .unwrap();
        Arc::new(store) as Arc<dyn Store>
    };
    let ada = "@ada:uni.example";
    let (cancel, ids) = {
        let w = world_on(open().await).await;
        let r = w.reply(ada, "!sl timezone Asia/Tokyo").await;
        assert!(r.ok, "{}", r.plain);
        for name in ["One", "Two"] {
            let r = w
                .reply(ada, &format!("!sl schedule meeting {name} tomorrow 11:00"))
                .await;
            assert!(r.ok && r.plain.contains("JST"), "{}", r.plain);
        }
        let ids: Vec<String> = w
            .store
            .list_meetings()
            .await
            .unwrap()
            .iter()
            .map(|m| m.spec.id.to_string())
            .collect();
        let first = w.reply(ada, &format!("!sl cancel {}", ids[0])).await;
        let second = w.reply(ada, &format!("!sl cancel {}", ids[1])).await;
        let prompt = second.prompt.expect("a prompt");
        w.front.remember_prompt("$prompt-event", prompt).await;
        (confirm_id(&first), ids)
    };

    let w = world_on(open().await).await;
    let r = w
        .reply(ada, "!sl schedule meeting Three tomorrow 11:00")
        .await;
    assert!(r.plain.contains("JST"), "the zone survived: {}", r.plain);
    let r = w.reply(ada, &format!("!sl confirm {cancel}")).await;
    assert!(r.ok && r.plain.contains("cancelled"), "{}", r.plain);
    let r = w
        .front
        .on_reaction(ada, "$prompt-event", "✅")
        .await
        .expect("an answer");
    assert!(r.ok && r.plain.contains("cancelled"), "{}", r.plain);
    let phases: Vec<String> = w
        .store
        .list_meetings()
        .await
        .unwrap()
        .iter()
        .filter(|m| ids.contains(&m.spec.id.to_string()))
        .map(|m| m.phase.as_str().to_string())
        .collect();
    assert_eq!(phases, ["cancelled", "cancelled"]);
    // Confirmed once only.
    let r = w.reply(ada, &format!("!sl confirm {cancel}")).await;
    assert!(!r.ok && r.plain.contains("nothing waiting"), "{}", r.plain);
}

/// A meeting scheduled in a room posts its notices there, unless the command names a room.
#[tokio::test]
async fn meetings_scheduled_in_a_room_notify_it() {
    let w = world().await;
    let r = w
        .front
        .respond(&Incoming {
            sender: "@ada:uni.example",
            body: "!sl schedule meeting Seminar tomorrow 11:00",
            is_direct: false,
            mentioned_bot: false,
            power_level: 50,
            room: Some("!lectures:uni.example"),
        })
        .await
        .expect("an answer");
    assert!(r.ok, "{}", r.plain);
    let m = &w.store.list_meetings().await.unwrap()[0];
    assert_eq!(
        m.spec
            .notify_room
            .as_ref()
            .map(|r| r.to_string())
            .as_deref(),
        Some("!lectures:uni.example")
    );
}

//! The chat half of `demo`: a local Synapse, the bot on the demo's store and simulated BBB,
//! the scheduler running, a staff user talking to the bot in an encrypted room (a scripted
//! conversation, printed as a transcript), and — when PostgreSQL's server programs are here —
//! a throwaway Greenlight v3 database so rooms can be created and shared. Everything stays up
//! afterwards for the user to try with any Matrix client.

use crate::app::App;
use crate::bot::matrix::MatrixBot;
use crate::config::{MatrixAuth, MatrixConfig};
use crate::domain::{Actor, Operation, Secret, ServerId};
use crate::greenlight::GreenlightSettings;
use crate::testkit::pg::PgCluster;
use crate::testkit::smtp::{SinkOptions, SmtpSink};
use crate::testkit::synapse::Synapse;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::api::client::room::create_room::v3::Request as CreateRoom;
use matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent;
use matrix_sdk::ruma::events::room::member::StrippedRoomMemberEvent;
use matrix_sdk::ruma::events::room::message::{
    OriginalSyncRoomMessageEvent, Relation, RoomMessageEventContent,
};
use matrix_sdk::ruma::events::{EmptyStateKey, InitialStateEvent};
use matrix_sdk::ruma::serde::Raw;
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use matrix_sdk::{Client, Room, RoomState};
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;

/// Greenlight's v3 schema, to give the demo a Greenlight database.
const GREENLIGHT_V3: &str = include_str!("../../tests/fixtures/greenlight/v3-schema.sql");
/// How long the demo waits for one answer of the bot.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);
const EMAIL_DOMAIN: &str = "demo.example";

/// What runs until the demo ends.
pub(super) struct ChatDemo {
    pub synapse: Synapse,
    _greenlight: Option<PgCluster>,
    bot: tokio::task::JoinHandle<()>,
    scheduler: tokio::task::JoinHandle<()>,
    mail: Option<(SmtpSink, tokio::task::JoinHandle<()>)>,
    pub staff_password: String,
    pub room: OwnedRoomId,
}

impl Drop for ChatDemo {
    fn drop(&mut self) {
        self.bot.abort();
        self.scheduler.abort();
        if let Some((_, sender)) = &self.mail {
            sender.abort();
        }
    }
}

/// A message the staff user's client decrypted.
struct Seen {
    room: OwnedRoomId,
    sender: OwnedUserId,
    reply_to: Option<OwnedEventId>,
    body: String,
}

/// Runs the chat part; an Err says what was missing, and the BBB part of the demo stands.
pub(super) async fn run(app: &App, server: ServerId, dir: &Path) -> anyhow::Result<ChatDemo> {
    println!("\n» start a local Matrix homeserver (Synapse; the first time installs it, ~1 min)");
    let synapse = tokio::task::spawn_blocking(Synapse::start)
        .await?
        .map_err(|e| anyhow::anyhow!("no local Synapse: {e}"))?;
    let hs = synapse.server_name().to_string();
    println!("  Synapse at {} (server name {hs})", synapse.url());

    let greenlight = attach_greenlight(app, &server).await;
    let mail = start_mail(app, &server).await;

    let bot_password = super::demo::random_secret();
    let staff_password = super::demo::random_secret();
    synapse
        .register("schedulight", &bot_password, false)
        .await?;
    synapse.register("staff", &staff_password, false).await?;
    synapse
        .register("bob", &super::demo::random_secret(), false)
        .await?;
    let config = bot_config(&synapse, &dir.join("bot"), &bot_password);
    println!(
        "» start the bot as {} and the scheduler (staff and bob are allowed; e-mails are \
         <localpart>@{EMAIL_DOMAIN})",
        config.user_id
    );
    let bot = MatrixBot::connect(&config, app.service.clone()).await?;
    let bot_id: OwnedUserId = config.user_id.parse()?;
    let bot = tokio::spawn(async move {
        if let Err(e) = bot.run(futures::future::pending()).await {
            tracing::warn!(error = %e, "the demo bot stopped");
        }
    });
    let engine = crate::scheduler::engine::Engine::new(app.service.clone());
    let wake = app.service.wake();
    let scheduler = tokio::spawn(async move {
        engine.run(wake, futures::future::pending()).await;
    });

    let (staff, mut seen) = staff_client(&synapse, &staff_password, &dir.join("staff")).await?;
    let room = encrypted_room(&staff, &bot_id).await?;
    println!("» @staff:{hs} opens an encrypted room {room} and invites the bot\n");
    wait_for_join(&staff, &room, &bot_id).await?;

    let mut script = vec![
        "!sl schedule meeting Demo seminar in 2 minutes for 30 minutes".to_string(),
        "!sl meetings".to_string(),
    ];
    if greenlight.is_some() {
        // Staff's own Greenlight account was made by the scheduler for the seminar.
        script.extend([
            format!("!sl create user bob@{EMAIL_DOMAIN} Bob Builder"),
            "!sl create room Physics lab".to_string(),
        ]);
    }
    let joined = staff
        .get_room(&room)
        .ok_or_else(|| anyhow::anyhow!("the staff client lost the room"))?;
    for line in &script {
        converse(&joined, line, &bot_id, &mut seen).await?;
    }
    if greenlight.is_some() {
        match created_room(app).await {
            Some(id) => {
                converse(
                    &joined,
                    &format!("!sl share room {id} with @bob:{hs}"),
                    &bot_id,
                    &mut seen,
                )
                .await?;
            }
            None => println!("  (the room did not show up in Greenlight; sharing skipped)"),
        }
        converse(&joined, "!sl show links", &bot_id, &mut seen).await?;
        // The moderator links come in a direct message.
        if let Some(dm) = next_elsewhere(&mut seen, &room, &bot_id).await {
            println!("  (direct message {} → staff)", bot_id);
            print_indented(&dm.body);
        }
    }
    if let Some((sink, _)) = &mail {
        print_mails(sink).await;
    }
    Ok(ChatDemo {
        synapse,
        _greenlight: greenlight,
        bot,
        scheduler,
        mail,
        staff_password,
        room,
    })
}

/// A local SMTP server (aiosmtpd from the test venv) and the mail sender delivering to it;
/// the demo server gets `send_emails: true`. Without Python the demo goes on without mail.
async fn start_mail(
    app: &App,
    server: &ServerId,
) -> Option<(SmtpSink, tokio::task::JoinHandle<()>)> {
    println!("» start a local SMTP server and the mail sender");
    let started = async {
        let sink = tokio::task::spawn_blocking(|| SmtpSink::start(SinkOptions::default()))
            .await?
            .map_err(|e| anyhow::anyhow!(e))?;
        let mut spec = app
            .store
            .get_server(server)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the demo server is gone"))?;
        spec.send_emails = Some(true);
        spec.mail_from = Some(format!("schedulight@{EMAIL_DOMAIN}").parse()?);
        spec.mail_from_name = Some("schedulight demo".into());
        app.service
            .execute(
                &Actor::admin("cli:demo"),
                Operation::UpdateServer {
                    server: Box::new(spec),
                },
            )
            .await?;
        let config = crate::config::MailConfig {
            send_emails: true,
            host: Some("127.0.0.1".into()),
            port: sink.port(),
            tls: crate::config::TlsMode::None,
            ..crate::config::MailConfig::default()
        };
        let sender = crate::mail::sender::MailSender::new(app.service.clone(), config)
            .map_err(|e| anyhow::anyhow!(e))?;
        let task = tokio::spawn(async move { sender.run(futures::future::pending()).await });
        anyhow::Ok((sink, task))
    };
    match started.await {
        Ok((sink, task)) => {
            println!(
                "  SMTP at 127.0.0.1:{} (plain, loopback only); mails are printed below",
                sink.port()
            );
            Some((sink, task))
        }
        Err(e) => {
            println!("  skipped ({e:#}); the demo goes on without mail");
            None
        }
    }
}

/// What reached the local SMTP server, as a list of envelopes and subjects.
async fn print_mails(sink: &SmtpSink) {
    // Mails go out as they are queued; wait until nothing new arrived for two seconds.
    let mut seen = usize::MAX;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = sink.messages().len();
        if now == seen {
            break;
        }
        seen = now;
    }
    let mails = sink.messages();
    println!(
        "\n» mail delivered to the local SMTP server ({}):",
        mails.len()
    );
    for m in mails {
        let raw = String::from_utf8_lossy(&m.raw);
        let subject = raw
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .map(decode_subject)
            .unwrap_or_default();
        let ics = if raw.contains("text/calendar") {
            " (with a calendar invitation)"
        } else {
            ""
        };
        println!(
            "  ✉ {} → {}: {subject}{ics}",
            m.mail_from,
            m.rcpt_tos.join(", ")
        );
    }
}

/// Enough of RFC 2047 for the demo's printout: `=?utf-8?b?…?=` and `=?utf-8?q?…?=` words.
fn decode_subject(s: &str) -> String {
    use base64::Engine;
    let mut out = String::new();
    let mut last_encoded = false;
    for w in s.split_whitespace() {
        let decoded = w
            .strip_prefix("=?")
            .and_then(|w| w.strip_suffix("?="))
            .map(|inner| {
                let mut parts = inner.splitn(3, '?');
                let (_, enc, text) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
                let bytes = match enc.map(|e| e.to_ascii_lowercase()) {
                    Some(e) if e == "b" => base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .unwrap_or_default(),
                    _ => text.replace('_', " ").into_bytes(),
                };
                String::from_utf8_lossy(&bytes).into_owned()
            });
        // Whitespace between two encoded words is not part of the text (RFC 2047 §6.2).
        let joins_encoded = last_encoded && decoded.is_some();
        if !out.is_empty() && !joins_encoded {
            out.push(' ');
        }
        last_encoded = decoded.is_some();
        out.push_str(&decoded.unwrap_or_else(|| w.to_string()));
    }
    out
}

fn bot_config(hs: &Synapse, store_dir: &Path, password: &str) -> MatrixConfig {
    let server = hs.server_name();
    MatrixConfig {
        homeserver: hs.url().parse().expect("Synapse's URL is a URL"),
        user_id: format!("@schedulight:{server}"),
        auth: MatrixAuth::Password(Secret::new(password)),
        device_name: "schedulight demo".into(),
        allowed_users: vec![format!("@staff:{server}"), format!("@bob:{server}")],
        rooms: Vec::new(),
        command_prefix: "!sl".into(),
        store_dir: store_dir.to_path_buf(),
        store_passphrase: Some(Secret::new(super::demo::random_secret())),
        recovery_passphrase: Some(Secret::new(super::demo::random_secret())),
        admins: vec![format!("@staff:{server}")],
        email_rule: Some(format!("{{localpart}}@{EMAIL_DOMAIN}")),
        emails: Default::default(),
        min_power_level: 0,
    }
}

/// A throwaway PostgreSQL with Greenlight v3's schema behind the demo server, when the
/// PostgreSQL server programs are installed; otherwise the demo goes on without rooms.
async fn attach_greenlight(app: &App, server: &ServerId) -> Option<PgCluster> {
    println!("» start a throwaway PostgreSQL with a Greenlight v3 database");
    let attached = async {
        let cluster = tokio::task::spawn_blocking(PgCluster::start).await??;
        let url = cluster.fresh_database().await?;
        let db = sqlx::PgPool::connect(&url).await?;
        sqlx::raw_sql(GREENLIGHT_V3).execute(&db).await?;
        db.close().await;
        let mut spec = app
            .store
            .get_server(server)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the demo server is gone"))?;
        spec.greenlight = Some(GreenlightSettings {
            version: None,
            database_url: Secret::new(url),
            provider: None,
            link_base: "https://greenlight.demo.example".into(),
            bcrypt_cost: None,
        });
        app.service
            .execute(
                &Actor::admin("cli:demo"),
                Operation::UpdateServer {
                    server: Box::new(spec),
                },
            )
            .await?;
        anyhow::Ok(cluster)
    };
    match attached.await {
        Ok(cluster) => {
            println!(
                "  Greenlight database ready (no Greenlight web app runs here: room pages point \
                 at https://greenlight.demo.example)"
            );
            Some(cluster)
        }
        Err(e) => {
            println!(
                "  skipped ({e}); install the `postgresql` and `sudo` packages for rooms and \
                 sharing in the demo"
            );
            None
        }
    }
}

async fn staff_client(
    hs: &Synapse,
    password: &str,
    dir: &Path,
) -> anyhow::Result<(Client, mpsc::UnboundedReceiver<Seen>)> {
    let client = Client::builder()
        .homeserver_url(hs.url())
        .sqlite_store(dir, None)
        .build()
        .await?;
    client
        .matrix_auth()
        .login_username("staff", password)
        .initial_device_display_name("demo transcript")
        .send()
        .await?;
    let (tx, rx) = mpsc::unbounded_channel();
    client.add_event_handler(move |ev: OriginalSyncRoomMessageEvent, room: Room| {
        let tx = tx.clone();
        async move {
            let reply_to = match &ev.content.relates_to {
                Some(Relation::Reply(r)) => Some(r.in_reply_to.event_id.clone()),
                _ => None,
            };
            let _ = tx.send(Seen {
                room: room.room_id().to_owned(),
                sender: ev.sender.clone(),
                reply_to,
                body: ev.content.body().to_string(),
            });
        }
    });
    // The bot's direct messages arrive as invites: accept them.
    client.add_event_handler(
        |ev: StrippedRoomMemberEvent, room: Room, client: Client| async move {
            if Some(ev.state_key.as_ref()) == client.user_id() {
                tokio::spawn(async move {
                    let _ = room.join().await;
                });
            }
        },
    );
    let syncing = client.clone();
    tokio::spawn(async move {
        let _ = syncing
            .sync(SyncSettings::default().timeout(Duration::from_secs(1)))
            .await;
    });
    Ok((client, rx))
}

async fn encrypted_room(client: &Client, bot: &OwnedUserId) -> anyhow::Result<OwnedRoomId> {
    let mut request = CreateRoom::new();
    request.name = Some("schedulight demo".into());
    request.invite = vec![bot.clone()];
    let encryption: Raw<_> = Raw::new(&InitialStateEvent::<RoomEncryptionEventContent>::new(
        EmptyStateKey,
        RoomEncryptionEventContent::with_recommended_defaults(),
    ))?
    .cast_unchecked();
    request.initial_state = vec![encryption];
    Ok(client.create_room(request).await?.room_id().to_owned())
}

async fn wait_for_join(
    staff: &Client,
    room: &OwnedRoomId,
    bot: &OwnedUserId,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + ANSWER_WITHIN;
    while tokio::time::Instant::now() < deadline {
        if let Some(r) = staff.get_room(room)
            && r.state() == RoomState::Joined
            && let Ok(Some(member)) = r.get_member(bot).await
            && *member.membership() == matrix_sdk::ruma::events::room::member::MembershipState::Join
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("the bot did not join the room within {ANSWER_WITHIN:?}")
}

/// Send one line as staff and print it with the bot's answer.
async fn converse(
    room: &Room,
    line: &str,
    bot: &OwnedUserId,
    seen: &mut mpsc::UnboundedReceiver<Seen>,
) -> anyhow::Result<()> {
    println!("@staff: {line}");
    let sent = room
        .send(RoomMessageEventContent::text_plain(line))
        .await?
        .response
        .event_id;
    let answer = tokio::time::timeout(ANSWER_WITHIN, async {
        while let Some(m) = seen.recv().await {
            if &m.sender == bot && m.reply_to.as_ref() == Some(&sent) {
                return Some(m);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .ok_or_else(|| anyhow::anyhow!("no answer to {line:?} within {ANSWER_WITHIN:?}"))?;
    println!("{}:", bot.localpart());
    print_indented(&answer.body);
    println!();
    Ok(())
}

/// The bot's next message in a room other than `room` (its direct chat), if one comes soon.
async fn next_elsewhere(
    seen: &mut mpsc::UnboundedReceiver<Seen>,
    room: &OwnedRoomId,
    bot: &OwnedUserId,
) -> Option<Seen> {
    tokio::time::timeout(ANSWER_WITHIN, async {
        while let Some(m) = seen.recv().await {
            if &m.sender == bot && &m.room != room {
                return Some(m);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

/// The id of the room the script created, read from Greenlight through the service.
async fn created_room(app: &App) -> Option<String> {
    let server: ServerId = "demo".parse().ok()?;
    let outcome = app
        .service
        .execute(
            &Actor::admin("cli:demo"),
            Operation::RoomLinks {
                server,
                filter: crate::domain::operation::RoomFilter::Name("Physics lab".into()),
                mail_to: None,
            },
        )
        .await
        .ok()?;
    match outcome {
        crate::domain::Outcome::Rooms { rooms } => rooms.into_iter().next().map(|r| r.id),
        _ => None,
    }
}

fn print_indented(text: &str) {
    for line in text.trim_end().lines() {
        println!("    {line}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn encoded_subjects_decode() {
        assert_eq!(
            super::decode_subject(
                "=?utf-8?b?UmF1bSDigJ5QaHlzaWNzIGxhYuKAnCB3dXJkZQ==?= =?utf-8?b?IGZyZWlnZWdlYmVu?="
            ),
            "Raum „Physics lab“ wurde freigegeben"
        );
        assert_eq!(
            super::decode_subject("Plain words stay"),
            "Plain words stay"
        );
    }
}

//! The bot's Matrix client: one device with a persistent, passphrase-encrypted SQLite store,
//! its session saved beside the store and restored on the next start (never a new login that
//! would orphan the device's keys), cross-signing bootstrapped on first login and recovery set
//! up with the configured passphrase, so a lost store or a second instance recovers the same
//! identity. It posts the scheduler's room notices and joins rooms it is invited to by allowed
//! users.

use super::access::Access;
use super::front::{ChatFront, Direct, Incoming};
use super::notices::{self, ChatMessage, ChatSink, SinkError};
use crate::config::{MatrixAuth, MatrixConfig};
use crate::service::Service;
use async_trait::async_trait;
use matrix_sdk::authentication::matrix::MatrixSession;
use matrix_sdk::config::{RequestConfig, SyncSettings};
use matrix_sdk::encryption::recovery::RecoveryState;
use matrix_sdk::encryption::{BackupDownloadStrategy, EncryptionSettings};
use matrix_sdk::ruma::events::Mentions;
use matrix_sdk::ruma::events::reaction::{OriginalSyncReactionEvent, ReactionEventContent};
use matrix_sdk::ruma::events::relation::Annotation;
use matrix_sdk::ruma::events::room::member::StrippedRoomMemberEvent;
use matrix_sdk::ruma::events::room::message::{
    AddMentions, ForwardThread, MessageType, OriginalSyncRoomMessageEvent, Relation,
    RoomMessageEventContent, RoomMessageEventContentWithoutRelation,
};
use matrix_sdk::ruma::events::room::power_levels::UserPowerLevel;
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId, RoomAliasId, RoomId, RoomOrAliasId};
use matrix_sdk::{Client, Room, SessionMeta, SessionTokens};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Every Matrix request gives up after this long (the SDK's default is to wait forever).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Server-side long-poll of one sync.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);
/// Only the daemon holding this lease syncs (several daemons on one PostgreSQL store).
const SYNC_LEASE: &str = "matrix-sync";
/// How long the leadership lasts without renewal: a daemon that dies hands over after this.
const LEASE_TTL: jiff::SignedDuration = jiff::SignedDuration::from_secs(15);
/// The leader renews this often; a standby tries to take over this often.
const LEASE_RENEW: Duration = Duration::from_secs(4);
const STANDBY_POLL: Duration = Duration::from_secs(2);
/// After a takeover, commands up to this old that no daemon handled are answered.
const TAKEOVER_WINDOW: jiff::SignedDuration = jiff::SignedDuration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error("Matrix store {path}: {source}")]
    Store {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Matrix login as {user} failed: {message}")]
    Login { user: String, message: String },
    #[error("Matrix: {0}")]
    Matrix(String),
}

fn matrix_err(e: impl std::fmt::Display) -> BotError {
    BotError::Matrix(e.to_string())
}

/// The connected bot.
#[derive(Clone)]
pub struct MatrixBot {
    client: Client,
    config: MatrixConfig,
    service: Service,
    access: Arc<Access>,
    front: Arc<ChatFront>,
}

impl MatrixBot {
    /// Open the store, log in or restore the saved session, and set up encryption.
    pub async fn connect(config: &MatrixConfig, service: Service) -> Result<Self, BotError> {
        let dir = &config.store_dir;
        create_private_dir(dir)?;
        let client = build_client(config).await?;
        let session_file = dir.join(SESSION_FILE);
        match read_session(&session_file)? {
            Some(session) => client.restore_session(session).await.map_err(matrix_err)?,
            None => {
                let session = first_login(&client, config).await?;
                write_session(&session_file, &session)?;
            }
        }
        client
            .encryption()
            .wait_for_e2ee_initialization_tasks()
            .await;
        tracing::info!(
            user = %config.user_id,
            device = ?client.device_id().map(|d| d.to_string()),
            "Matrix session ready"
        );
        let access = Access::from_config(config);
        let front = ChatFront::new(
            service.clone(),
            access.clone(),
            &config.command_prefix,
            &config.user_id,
        )
        .with_display_name(client.account().get_display_name().await.ok().flatten());
        Ok(Self {
            client,
            config: config.clone(),
            service,
            access: Arc::new(access),
            front: Arc::new(front),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sync until `shutdown` resolves: join the configured rooms, accept invites from allowed
    /// users, answer commands, post room notices — while this daemon holds the `matrix-sync`
    /// lease. Several daemons on one PostgreSQL store each log in as their own device of the bot
    /// account; one syncs, the others wait and take over within seconds when it stops renewing.
    /// Commands are answered from the moment of the start (the backlog is skipped), or after a
    /// takeover from where the previous leader stopped; a command is answered by the first
    /// daemon that claims its event, so none is answered twice.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<(), BotError> {
        tokio::pin!(shutdown);
        let holder = format!(
            "{}/{}",
            self.client
                .device_id()
                .map(|d| d.to_string())
                .unwrap_or_default(),
            std::process::id()
        );
        // Wall-clock time: leases are shared between processes and compared with the homeserver's
        // event times (the service's clock may be a test's).
        let answer_from = Arc::new(std::sync::Mutex::new(jiff::Timestamp::now()));
        self.add_invite_handler();
        self.add_message_handler(answer_from.clone());
        self.add_reaction_handler();
        let mut set_up = false;
        loop {
            let from = tokio::select! {
                f = self.become_leader(&holder) => f,
                () = &mut shutdown => return Ok(()),
            };
            *answer_from.lock().unwrap_or_else(|e| e.into_inner()) = from;
            tracing::info!(%holder, answer_from = %from, "this daemon runs the Matrix sync");
            let first = self
                .client
                .sync_once(SyncSettings::default())
                .await
                .map_err(matrix_err)?;
            if !set_up {
                self.set_up_recovery().await;
                self.join_configured_rooms().await;
                set_up = true;
            }
            let notices = tokio::spawn(self.clone().notice_loop());
            let outcome = tokio::select! {
                r = self.sync_forever(first.next_batch) => Some(r),
                () = self.keep_lease(&holder) => None,
                () = &mut shutdown => {
                    notices.abort();
                    let _ = self.service.store().release_lease(SYNC_LEASE, &holder).await;
                    return Ok(());
                }
            };
            notices.abort();
            match outcome {
                Some(r) => {
                    let _ = self
                        .service
                        .store()
                        .release_lease(SYNC_LEASE, &holder)
                        .await;
                    return r;
                }
                None => tracing::warn!(%holder, "lost the Matrix sync lease; standing by"),
            }
        }
    }

    /// Waits until this daemon holds the sync lease; returns from when commands are answered:
    /// now on a fresh start, or where the previous holder stopped renewing after a takeover.
    async fn become_leader(&self, holder: &str) -> jiff::Timestamp {
        let store = self.service.store();
        let mut said = false;
        let mut recovered = false;
        let mut keys_up = false;
        loop {
            let now = jiff::Timestamp::now();
            let previous = store.lease(SYNC_LEASE).await.ok().flatten();
            match store
                .acquire_lease(SYNC_LEASE, holder, now + LEASE_TTL, now)
                .await
            {
                Ok(true) => {
                    return match previous {
                        Some((h, until)) if h != holder && until > now - TAKEOVER_WINDOW => {
                            (until - LEASE_TTL).max(now - TAKEOVER_WINDOW)
                        }
                        _ => now,
                    };
                }
                Ok(false) => {
                    if !said {
                        said = true;
                        tracing::info!(%holder, "another daemon runs the Matrix sync; standing by");
                    }
                    // A standby device publishes its keys (a sync without any room: nothing
                    // is answered, the client's position starts here) and cross-signs itself
                    // with the account's identity from secret storage once the leader has set
                    // it up, so users' clients share room keys with it before it takes over.
                    if !keys_up {
                        keys_up = self.publish_keys().await;
                    }
                    if !recovered {
                        recovered = self.recover_identity().await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the Matrix sync lease"),
            }
            tokio::time::sleep(STANDBY_POLL).await;
        }
    }

    /// Renews the lease until it cannot (another daemon took it): then returns.
    async fn keep_lease(&self, holder: &str) {
        let store = self.service.store();
        let mut failures = 0;
        let mut rounds = 0u32;
        loop {
            tokio::time::sleep(LEASE_RENEW).await;
            let now = jiff::Timestamp::now();
            rounds += 1;
            if rounds % 900 == 1 {
                // About hourly: claims older than a takeover could need.
                let _ = store.forget_events_before(now - TAKEOVER_WINDOW * 2).await;
            }
            match store
                .acquire_lease(SYNC_LEASE, holder, now + LEASE_TTL, now)
                .await
            {
                Ok(true) => failures = 0,
                Ok(false) => return,
                Err(e) => {
                    // The store away for a moment: keep going while the lease lasts.
                    failures += 1;
                    tracing::warn!(error = %e, "cannot renew the Matrix sync lease");
                    if failures * LEASE_RENEW.as_secs() as i64 >= LEASE_TTL.as_secs() - 2 {
                        return;
                    }
                }
            }
        }
    }

    /// Long-poll the homeserver, one sync after the other. Not the SDK's `Client::sync`: it
    /// pauses a second whenever two syncs return within a second, and the echo of each reply
    /// makes that happen after every command, so the next command would wait a second for
    /// nothing. Errors back off; a login the server no longer knows ends the loop (the caller
    /// connects anew).
    async fn sync_forever(&self, mut token: String) -> Result<(), BotError> {
        let mut failures = 0u32;
        loop {
            let settings = SyncSettings::default()
                .token(token.clone())
                .timeout(SYNC_TIMEOUT);
            match self.client.sync_once(settings).await {
                Ok(response) => {
                    token = response.next_batch;
                    failures = 0;
                }
                Err(e) => {
                    use matrix_sdk::ruma::api::error::ErrorKind;
                    if matches!(
                        e.client_api_error_kind(),
                        Some(ErrorKind::UnknownToken(_) | ErrorKind::Forbidden)
                    ) {
                        return Err(matrix_err(e));
                    }
                    failures += 1;
                    let wait = Duration::from_millis(500 << failures.min(6));
                    tracing::warn!(error = %e, retry_in = ?wait, "Matrix sync failed");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One sync that asks for no room at all: it uploads the device's keys (which the SDK does
    /// around a sync) without receiving, or answering, anything.
    async fn publish_keys(&self) -> bool {
        use matrix_sdk::ruma::api::client::filter::{FilterDefinition, RoomFilter};
        use matrix_sdk::ruma::api::client::sync::sync_events::v3::Filter;
        let mut rooms = RoomFilter::default();
        rooms.rooms = Some(Vec::new());
        let mut filter = FilterDefinition::default();
        filter.room = rooms;
        let settings = SyncSettings::default()
            .filter(Filter::FilterDefinition(filter))
            .timeout(Duration::ZERO);
        match self.client.sync_once(settings).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, "standby device: cannot publish its keys yet");
                false
            }
        }
    }

    /// A standby's recovery: only recover the identity the leader set up, never set up anew.
    async fn recover_identity(&self) -> bool {
        let Some(passphrase) = &self.config.recovery_passphrase else {
            return true;
        };
        let recovery = self.client.encryption().recovery();
        if recovery.state() == RecoveryState::Enabled {
            return true;
        }
        match recovery.recover(passphrase.expose()).await {
            Ok(()) => {
                tracing::info!("standby device: identity recovered from secret storage");
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "standby device: identity not recovered yet");
                false
            }
        }
    }

    /// Recover the account's identity with the passphrase, or set recovery up the first time.
    async fn set_up_recovery(&self) {
        let Some(passphrase) = &self.config.recovery_passphrase else {
            return;
        };
        let recovery = self.client.encryption().recovery();
        let outcome = match recovery.state() {
            RecoveryState::Enabled => return,
            RecoveryState::Disabled => recovery
                .enable()
                .with_passphrase(passphrase.expose())
                .await
                .map(|_| "recovery set up"),
            RecoveryState::Incomplete | RecoveryState::Unknown => recovery
                .recover(passphrase.expose())
                .await
                .map(|()| "identity recovered from secret storage"),
        };
        match outcome {
            Ok(what) => tracing::info!("{what}"),
            Err(e) => tracing::warn!(error = %e, "recovery failed; this device stays unverified"),
        }
    }

    async fn join_configured_rooms(&self) {
        for room in &self.config.rooms {
            let Ok(id) = <&RoomOrAliasId>::try_from(room.as_str()) else {
                continue;
            };
            if let Err(e) = self.client.join_room_by_id_or_alias(id, &[]).await {
                tracing::warn!(%room, error = %e, "cannot join a configured room");
            }
        }
    }

    /// Join rooms allowed users invite the bot to; refuse (leave) the others. Spawned: a join
    /// inside the handler would block the sync loop.
    fn add_invite_handler(&self) {
        let access = self.access.clone();
        self.client.add_event_handler(
            move |ev: StrippedRoomMemberEvent, room: Room, client: Client| {
                let access = access.clone();
                async move {
                    if Some(ev.state_key.as_ref()) != client.user_id() {
                        return;
                    }
                    tokio::spawn(answer_invite(room, ev.sender.to_string(), access));
                }
            },
        );
    }

    /// Commands: each is handled in its own task (BBB and Greenlight calls must not hold up
    /// the sync loop).
    /// Commands sent from `answer_from` on, each handled by the one daemon that claims it.
    fn add_message_handler(&self, answer_from: Arc<std::sync::Mutex<jiff::Timestamp>>) {
        let front = self.front.clone();
        let store = self.service.store().clone();
        let now = jiff::Timestamp::now;
        self.client.add_event_handler(
            move |ev: OriginalSyncRoomMessageEvent, room: Room, client: Client| {
                let front = front.clone();
                let store = store.clone();
                let from = *answer_from.lock().unwrap_or_else(|e| e.into_inner());
                let at = now();
                async move {
                    if Some(ev.sender.as_ref()) == client.user_id() {
                        return;
                    }
                    let sent =
                        jiff::Timestamp::from_millisecond(i64::from(ev.origin_server_ts.get()))
                            .unwrap_or(at);
                    if sent < from {
                        return;
                    }
                    match store.claim_event(ev.event_id.as_str(), at).await {
                        Ok(true) => {
                            tokio::spawn(handle_message(front, room, client, ev));
                        }
                        Ok(false) => {}
                        Err(e) => tracing::warn!(error = %e, "cannot claim a chat event"),
                    }
                }
            },
        );
    }

    /// ✅ on a confirmation prompt confirms it.
    fn add_reaction_handler(&self) {
        let front = self.front.clone();
        self.client.add_event_handler(
            move |ev: OriginalSyncReactionEvent, room: Room, client: Client| {
                let front = front.clone();
                async move {
                    if Some(ev.sender.as_ref()) == client.user_id() {
                        return;
                    }
                    tokio::spawn(async move {
                        let rel = &ev.content.relates_to;
                        let Some(reply) = front
                            .on_reaction(ev.sender.as_str(), rel.event_id.as_str(), &rel.key)
                            .await
                        else {
                            return;
                        };
                        let content = RoomMessageEventContent::notice_html(reply.plain, reply.html)
                            .add_mentions(Mentions::new());
                        if let Err(e) = room.send(content).await {
                            tracing::warn!(error = %e, "cannot answer a confirmation");
                        }
                        send_direct(&client, &room, &reply.direct).await;
                    });
                }
            },
        );
    }

    async fn notice_loop(self) {
        let sink = MatrixSink {
            client: self.client.clone(),
        };
        let server = self
            .client
            .user_id()
            .map(|u| u.server_name().to_string())
            .unwrap_or_default();
        loop {
            if let Err(e) = notices::deliver_due(&self.service, &self.access, &server, &sink).await
            {
                tracing::warn!(error = %e, "room notices: store error");
            }
            tokio::time::sleep(notices::POLL).await;
        }
    }
}

async fn handle_message(
    front: Arc<ChatFront>,
    room: Room,
    client: Client,
    ev: OriginalSyncRoomMessageEvent,
) {
    // Text only: notices are never answered (spec), edits are not commands.
    let MessageType::Text(text) = &ev.content.msgtype else {
        return;
    };
    if matches!(ev.content.relates_to, Some(Relation::Replacement(_))) {
        return;
    }
    let mentioned_bot = match (client.user_id(), ev.content.mentions.as_ref()) {
        (Some(me), Some(m)) => m.user_ids.iter().any(|u| u == me),
        _ => false,
    };
    let is_direct = room.is_direct().await.unwrap_or(false) || room.joined_members_count() <= 2;
    let power_level = match room.get_member(&ev.sender).await {
        Ok(Some(member)) => match member.power_level() {
            UserPowerLevel::Int(level) => i64::from(level),
            _ => i64::MAX,
        },
        _ => 0,
    };
    // Users picked from the client's list arrive as display names; the pills carry their IDs.
    let formatted = text.formatted.as_ref().map(|f| f.body.as_str());
    let me = client.user_id().map(|u| u.to_string()).unwrap_or_default();
    let body = crate::chat::pills_to_ids(&text.body, formatted, &me);
    if !front.knows_profile_zone(ev.sender.as_str()) {
        let zone = profile_zone(&client, &ev.sender).await;
        front.set_profile_zone(ev.sender.as_str(), zone.as_deref());
    }
    let incoming = Incoming {
        sender: ev.sender.as_str(),
        body: &body,
        is_direct,
        mentioned_bot,
        power_level,
        room: Some(room.room_id().as_str()),
    };
    let Some(reply) = front.respond(&incoming).await else {
        return;
    };
    let content = RoomMessageEventContentWithoutRelation::notice_html(reply.plain, reply.html)
        .add_mentions(Mentions::new())
        .make_reply_to(&ev, ForwardThread::Yes, AddMentions::No);
    match room.send(content).await {
        Ok(sent) => {
            if let Some(id) = reply.prompt {
                // The bot offers ✅ itself, so confirming is one click.
                let prompt = sent.response.event_id;
                front.remember_prompt(prompt.as_str(), id).await;
                let offer = ReactionEventContent::new(Annotation::new(prompt, "✅".into()));
                let _ = room.send(offer).await;
            }
        }
        Err(e) => tracing::warn!(room = %room.room_id(), error = %e, "cannot send a reply"),
    }
    send_direct(&client, &room, &reply.direct).await;
    let key = if reply.ok { "✅" } else { "❌" };
    let reaction = ReactionEventContent::new(Annotation::new(ev.event_id.clone(), key.into()));
    if let Err(e) = room.send(reaction).await {
        tracing::debug!(error = %e, "cannot react to a command");
    }
}

/// Secrets go to their user's direct chat with the bot (the room the command came from when
/// that is one), which is created, encrypted, when there is none yet. A failure is said in
/// `origin`, without the secret.
async fn send_direct(client: &Client, origin: &Room, messages: &[Direct]) {
    for m in messages {
        let result = match direct_room(client, origin, &m.to).await {
            Ok(room) => room
                .send(
                    RoomMessageEventContent::notice_html(&m.plain, &m.html)
                        .add_mentions(Mentions::new()),
                )
                .await
                .map(|_| ())
                .map_err(matrix_err),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(to = %m.to, error = %e, "cannot send a direct message");
            let text = format!("I could not send {} a direct message: {e}", m.to);
            let _ = origin
                .send(RoomMessageEventContent::notice_plain(text).add_mentions(Mentions::new()))
                .await;
        }
    }
}

async fn direct_room(client: &Client, origin: &Room, user: &str) -> Result<Room, BotError> {
    let user = <&matrix_sdk::ruma::UserId>::try_from(user).map_err(matrix_err)?;
    let is_origin = origin.is_direct().await.unwrap_or(false)
        && origin
            .direct_targets()
            .iter()
            .any(|t| t.as_str() == user.as_str());
    if is_origin {
        return Ok(origin.clone());
    }
    // One creation at a time, and rooms just created remembered until the sync reports them as
    // direct chats, so two quick messages do not open two rooms. Keyed by bot and user.
    static CREATED: tokio::sync::Mutex<Vec<(String, String, OwnedRoomId)>> =
        tokio::sync::Mutex::const_new(Vec::new());
    let mut created = CREATED.lock().await;
    if let Some(room) = client.get_dm_room(user) {
        return Ok(room);
    }
    let me = client.user_id().map(|u| u.to_string()).unwrap_or_default();
    let known = created
        .iter()
        .find(|(bot, to, _)| *bot == me && to == user.as_str())
        .and_then(|(_, _, id)| client.get_room(id))
        .filter(|r| r.state() == matrix_sdk::RoomState::Joined);
    if let Some(room) = known {
        return Ok(room);
    }
    let room = client.create_dm(user).await.map_err(matrix_err)?;
    created.push((me, user.to_string(), room.room_id().to_owned()));
    Ok(room)
}

/// The IANA zone a user publishes in their profile (`m.tz`, Matrix 1.16), if any. Asked only
/// when a command arrives, at most hourly per user. Asked on the stable path itself: the SDK
/// picks a path by the versions a server advertises, and Synapse serves the stable path
/// without advertising Matrix 1.16. A server without profile fields answers "not found",
/// which is the same as no zone.
async fn profile_zone(client: &Client, user: &matrix_sdk::ruma::UserId) -> Option<String> {
    let mut url = client.homeserver();
    url.path_segments_mut().ok()?.pop_if_empty().extend([
        "_matrix",
        "client",
        "v3",
        "profile",
        user.as_str(),
        "m.tz",
    ]);
    let mut request = client.http_client().get(url).timeout(PROFILE_TIMEOUT);
    if let Some(token) = client.access_token() {
        request = request.bearer_auth(token);
    }
    let answer = async {
        let response = request.send().await?.error_for_status()?;
        response.bytes().await
    };
    match answer.await {
        Ok(body) => serde_json::from_slice::<serde_json::Value>(&body)
            .ok()?
            .get("m.tz")?
            .as_str()
            .map(str::to_string),
        Err(e) => {
            tracing::debug!(%user, error = %e, "no time zone in the profile");
            None
        }
    }
}

/// A profile lookup must not hold up a command for long.
const PROFILE_TIMEOUT: Duration = Duration::from_secs(5);

async fn answer_invite(room: Room, inviter: String, access: Arc<Access>) {
    if access.may_command(&inviter).is_err() {
        tracing::info!(room = %room.room_id(), %inviter, "invite from a user who may not use the bot; declined");
        let _ = room.leave().await;
        return;
    }
    // Synapse may not have the room ready for a join right after the invite; try a few times.
    for attempt in 0..5u32 {
        match room.join().await {
            Ok(()) => {
                tracing::info!(room = %room.room_id(), %inviter, "joined on invite");
                return;
            }
            Err(e) => {
                tracing::debug!(attempt, error = %e, "join failed; retrying");
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            }
        }
    }
    tracing::warn!(room = %room.room_id(), "could not join after an invite");
}

/// Posts notices through the bot's client.
pub struct MatrixSink {
    pub client: Client,
}

#[async_trait]
impl ChatSink for MatrixSink {
    async fn post(&self, room: &str, message: &ChatMessage) -> Result<String, SinkError> {
        let joined = self.room(room).await?;
        let mentions: Vec<OwnedUserId> = message
            .mentions
            .iter()
            .filter_map(|m| m.parse().ok())
            .collect();
        let content = RoomMessageEventContent::text_html(&message.plain, &message.html)
            .add_mentions(Mentions::with_user_ids(mentions));
        joined
            .send(content)
            .await
            .map(|r| r.response.event_id.to_string())
            .map_err(|e| SinkError::Transient(e.to_string()))
    }
}

impl MatrixSink {
    async fn room(&self, room: &str) -> Result<Room, SinkError> {
        let id = if room.starts_with('#') {
            let alias = <&RoomAliasId>::try_from(room)
                .map_err(|e| SinkError::Permanent(format!("{room}: {e}")))?;
            self.client
                .resolve_room_alias(alias)
                .await
                .map_err(|e| SinkError::Transient(format!("resolving {room}: {e}")))?
                .room_id
        } else {
            <&RoomId>::try_from(room)
                .map_err(|e| SinkError::Permanent(format!("{room}: {e}")))?
                .to_owned()
        };
        match self.client.get_room(&id) {
            Some(r) if r.state() == matrix_sdk::RoomState::Joined => Ok(r),
            _ => Err(SinkError::Permanent(format!(
                "the bot is not in {room}; invite it there"
            ))),
        }
    }
}

/// The saved login in `store_dir` (user, device and access token).
pub const SESSION_FILE: &str = "session.json";

async fn build_client(config: &MatrixConfig) -> Result<Client, BotError> {
    let passphrase = config.store_passphrase.as_ref().map(|p| p.expose());
    let encryption = EncryptionSettings {
        auto_enable_cross_signing: true,
        backup_download_strategy: BackupDownloadStrategy::AfterDecryptionFailure,
        auto_enable_backups: true,
    };
    Client::builder()
        .homeserver_url(config.homeserver.as_str())
        .sqlite_store(&config.store_dir, passphrase)
        .with_encryption_settings(encryption)
        .request_config(RequestConfig::new().timeout(REQUEST_TIMEOUT).retry_limit(3))
        .build()
        .await
        .map_err(matrix_err)
}

/// The first start on this store: a password login makes a new device; an access token names
/// an existing one (its keys must be in this store, or it must be new).
async fn first_login(client: &Client, config: &MatrixConfig) -> Result<MatrixSession, BotError> {
    let login_error = |e: &dyn std::fmt::Display| BotError::Login {
        user: config.user_id.clone(),
        message: e.to_string(),
    };
    match &config.auth {
        MatrixAuth::Password(password) => {
            client
                .matrix_auth()
                .login_username(&config.user_id, password.expose())
                .initial_device_display_name(&config.device_name)
                .send()
                .await
                .map_err(|e| login_error(&e))?;
            client
                .matrix_auth()
                .session()
                .ok_or_else(|| login_error(&"no session after login"))
        }
        MatrixAuth::AccessToken { token, device_id } => {
            let device_id = match device_id {
                Some(d) => d.clone(),
                None => whoami_device(config, token.expose()).await?,
            };
            let session = MatrixSession {
                meta: SessionMeta {
                    user_id: config.user_id.parse().map_err(|e| login_error(&e))?,
                    device_id: device_id.as_str().into(),
                },
                tokens: SessionTokens {
                    access_token: token.expose().to_string(),
                    refresh_token: None,
                },
            };
            client
                .restore_session(session.clone())
                .await
                .map_err(|e| login_error(&e))?;
            Ok(session)
        }
    }
}

/// The device an access token belongs to (`/account/whoami`).
async fn whoami_device(config: &MatrixConfig, token: &str) -> Result<String, BotError> {
    let url = config
        .homeserver
        .join("_matrix/client/v3/account/whoami")
        .map_err(matrix_err)?;
    let body: serde_json::Value = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| BotError::Login {
            user: config.user_id.clone(),
            message: format!("whoami: {}", e.without_url()),
        })?
        .json()
        .await
        .map_err(matrix_err)?;
    body["device_id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| BotError::Login {
            user: config.user_id.clone(),
            message: "the access token has no device; set matrix.device_id".into(),
        })
}

fn create_private_dir(dir: &Path) -> Result<(), BotError> {
    let io = |source| BotError::Store {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}

pub(crate) fn read_session(path: &Path) -> Result<Option<MatrixSession>, BotError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| BotError::Store {
                path: path.to_path_buf(),
                source: std::io::Error::other(e),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(BotError::Store {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The session holds the access token: owner-only, written whole or not at all.
fn write_session(path: &Path, session: &MatrixSession) -> Result<(), BotError> {
    let io = |source| BotError::Store {
        path: path.to_path_buf(),
        source,
    };
    let json = serde_json::to_vec(session).map_err(|e| io(std::io::Error::other(e)))?;
    let tmp = path.with_extension("json.tmp");
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp).map_err(io)?;
        f.write_all(&json).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

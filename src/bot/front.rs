//! The chat front end without Matrix types: one message from one user in, one reply out.
//! Access check, parse, confirmation of destructive commands and of questions, execution
//! through the same [`Service`] as every other front end, and the reply text. The Matrix layer
//! only carries messages in and replies out.

use super::access::Access;
use crate::chat::{ChatContext, Parsed, command_text, parse};
use crate::cli::render::{self, RenderOptions};
use crate::domain::{Operation, Outcome, ServerId};
use crate::service::Service;
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use std::collections::HashMap;
use std::sync::Mutex;

/// The head of every direct message with join links.
const PRIVATE: &str = "Only for you: anyone with a moderator link joins as moderator, so do not \
                       pass it on.";

/// How long a zone read from a Matrix profile is used before it is read again.
const PROFILE_ZONE_FOR: SignedDuration = SignedDuration::from_hours(1);

/// How long a confirmation (or an answer to a question) may wait.
pub const CONFIRM_WITHIN: SignedDuration = SignedDuration::from_mins(10);

/// Where a message was written and what the bot knows about the sender there.
#[derive(Debug, Clone)]
pub struct Incoming<'a> {
    pub sender: &'a str,
    pub body: &'a str,
    /// A 1:1 room with the bot: no prefix needed, no power level check.
    pub is_direct: bool,
    /// The message's `m.mentions` names the bot.
    pub mentioned_bot: bool,
    /// The sender's power level in the room (`i64::MAX` for room creators in v12 rooms).
    pub power_level: i64,
    /// The room the message was written in: meetings scheduled there post their notices
    /// (reminder, started, ended, …) to it unless the command names another.
    pub room: Option<&'a str>,
}

/// The bot's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub plain: String,
    pub html: String,
    /// ✅ or ❌ on the command.
    pub ok: bool,
    /// The pending confirmation this reply asks for: a ✅ reaction on it confirms.
    pub prompt: Option<u32>,
    /// Secrets for one user each (moderator links), sent in a direct message, never to the room.
    pub direct: Vec<Direct>,
}

/// A message for one user's eyes only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Direct {
    /// The Matrix user.
    pub to: String,
    pub plain: String,
    pub html: String,
}

impl Direct {
    fn new(to: String, plain: String) -> Self {
        let html = super::notices::escape(&plain).replace('\n', "<br>");
        Self { to, plain, html }
    }
}

impl Reply {
    fn text(ok: bool, plain: impl Into<String>) -> Self {
        let plain = plain.into();
        let html = super::notices::escape(&plain).replace('\n', "<br>");
        Self {
            plain,
            html,
            ok,
            prompt: None,
            direct: Vec::new(),
        }
    }

    /// Tables and listings keep their columns.
    fn block(ok: bool, head: &str, block: &str) -> Self {
        let plain = if head.is_empty() {
            block.to_string()
        } else {
            format!("{head}\n{block}")
        };
        let esc = super::notices::escape;
        let html = if head.is_empty() {
            format!("<pre>{}</pre>", esc(block.trim_end()))
        } else {
            format!("{}<pre>{}</pre>", esc(head), esc(block.trim_end()))
        };
        Self {
            plain,
            html,
            ok,
            prompt: None,
            direct: Vec::new(),
        }
    }
}

/// The chat front end. Users' chosen time zones and pending confirmations live in the store, so
/// they survive a restart and are shared by every instance; zones read from Matrix profiles
/// are cached here.
pub struct ChatFront {
    service: Service,
    access: Access,
    prefix: String,
    bot_user_id: String,
    bot_display_name: Option<String>,
    /// Zones users publish in their Matrix profile (`m.tz`), with when they were read.
    profile_zones: Mutex<HashMap<String, (Option<TimeZone>, Timestamp)>>,
}

impl ChatFront {
    pub fn new(service: Service, access: Access, prefix: &str, bot_user_id: &str) -> Self {
        Self {
            service,
            access,
            prefix: prefix.to_string(),
            bot_user_id: bot_user_id.to_string(),
            bot_display_name: None,
            profile_zones: Mutex::new(HashMap::new()),
        }
    }

    pub fn with_display_name(mut self, name: Option<String>) -> Self {
        self.bot_display_name = name;
        self
    }

    /// The reply to one message, or None when the message is not for the bot.
    pub async fn respond(&self, m: &Incoming<'_>) -> Option<Reply> {
        let text = self.addressed(m)?;
        let reply = match self.checked_parse(m, text).await {
            Ok(parsed) => self.act(m.sender, notify_in(parsed, m.room)).await,
            Err(reply) => reply,
        };
        crate::telemetry::chat_command(reply.ok);
        Some(reply)
    }

    /// The command in a message, or None when the message is not for the bot.
    fn addressed<'a>(&self, m: &Incoming<'a>) -> Option<&'a str> {
        command_text(
            m.body,
            &self.prefix,
            &self.bot_user_id,
            self.bot_display_name.as_deref(),
            m.mentioned_bot,
            m.is_direct,
        )
    }

    /// Who may ask (allow-list, and the power level in group rooms), then the parse.
    async fn checked_parse(&self, m: &Incoming<'_>, text: &str) -> Result<Parsed, Reply> {
        self.access.may_command(m.sender).map_err(refused)?;
        if !m.is_direct {
            self.access.may_in_room(m.power_level).map_err(refused)?;
        }
        let ctx = self.context(m.sender).await?;
        parse(&self.map_user_ids(text), &ctx).map_err(|e| Reply::text(false, e.to_string()))
    }

    /// Remember the event of a confirmation prompt, so a ✅ on it confirms.
    pub async fn remember_prompt(&self, event_id: &str, id: u32) {
        if let Err(e) = self
            .service
            .store()
            .set_chat_prompt(i64::from(id), event_id)
            .await
        {
            tracing::warn!(error = %e, "cannot remember a confirmation prompt; `confirm {id}` still works");
        }
    }

    /// A reaction on one of the bot's prompts: ✅ from the requester confirms (the same
    /// checks as `confirm N`); anything else is ignored.
    pub async fn on_reaction(&self, sender: &str, event_id: &str, key: &str) -> Option<Reply> {
        if key.trim_end_matches('\u{fe0f}') != "✅" {
            return None;
        }
        if self.access.may_command(sender).is_err() {
            return None;
        }
        let id = match self.service.store().chat_pending_by_prompt(event_id).await {
            Ok(id) => u32::try_from(id?).ok()?,
            Err(e) => return Some(store_trouble(&e)),
        };
        Some(self.act(sender, Parsed::Confirm { id }).await)
    }

    /// What a command would do, without doing it (`schedulight chat --dry-run`): the access
    /// checks and the parse, nothing executed or held.
    pub async fn dry_run(&self, m: &Incoming<'_>) -> Result<Parsed, Reply> {
        let text = self
            .addressed(m)
            .ok_or_else(|| Reply::text(false, "That message is not addressed to the bot."))?;
        let parsed = notify_in(self.checked_parse(m, text).await?, m.room);
        if let Parsed::Run { op, .. } = &parsed {
            self.access.check_operation(m.sender, op).map_err(refused)?;
        }
        Ok(parsed)
    }

    /// Matrix users named in a command (`share room … with @bob:uni.example`) become their
    /// Greenlight e-mails; users the bot cannot map stay, and the parser asks for the address.
    fn map_user_ids(&self, text: &str) -> String {
        let mut out = text.to_string();
        for id in crate::chat::user_ids(text) {
            if let Some(email) = self.access.email_of(id) {
                out = out.replace(id, email.as_str());
            }
        }
        out
    }

    /// Whether the user's profile zone was read recently enough (an hour) to be used as is.
    pub fn knows_profile_zone(&self, user: &str) -> bool {
        let now = self.service.now();
        self.profile_zones
            .lock()
            .expect("profile zones lock")
            .get(user)
            .is_some_and(|(_, at)| now.duration_since(*at) < PROFILE_ZONE_FOR)
    }

    /// The zone in the user's Matrix profile (`m.tz`), None when there is none or it is not an
    /// IANA zone. Used when the user has not set one with `timezone`.
    pub fn set_profile_zone(&self, user: &str, zone: Option<&str>) {
        let zone = zone.and_then(|z| TimeZone::get(z.trim()).ok());
        self.profile_zones
            .lock()
            .expect("profile zones lock")
            .insert(user.to_string(), (zone, self.service.now()));
    }

    /// The user's zone: set with `timezone`, else from the profile, else the bot's default.
    async fn zone_of(&self, user: &str) -> Result<TimeZone, Reply> {
        let chosen = self
            .service
            .store()
            .chat_zone(user)
            .await
            .map_err(|e| store_trouble(&e))?;
        if let Some(z) = chosen.and_then(|z| TimeZone::get(&z).ok()) {
            return Ok(z);
        }
        let profile = self.profile_zones.lock().expect("profile zones lock");
        Ok(match profile.get(user) {
            Some((Some(z), _)) => z.clone(),
            _ => self.service.settings().default_time_zone.clone(),
        })
    }

    async fn context(&self, sender: &str) -> Result<ChatContext, Reply> {
        let zone = self.zone_of(sender).await?;
        Ok(ChatContext {
            now: self.service.now(),
            zone,
            actor_email: self.access.email_of(sender),
            default_server: self.default_server().await?,
            prefix: self.prefix.clone(),
        })
    }

    /// The server meetings go to when the command names none: the first configured one.
    async fn default_server(&self) -> Result<ServerId, Reply> {
        let servers = self
            .service
            .store()
            .list_servers()
            .await
            .map_err(|e| Reply::text(false, format!("The store cannot be read: {e}")))?;
        servers.into_iter().map(|s| s.id).min().ok_or_else(|| {
            Reply::text(
                false,
                "No BBB server is configured yet; an administrator adds one under \
                     `servers:` in bot-config.yml.",
            )
        })
    }

    async fn act(&self, sender: &str, parsed: Parsed) -> Reply {
        match parsed {
            Parsed::Help { text } => Reply::block(true, "", &text),
            Parsed::SetTimeZone(zone) => {
                let name = zone.iana_name().unwrap_or("UTC").to_string();
                let now = self.service.now();
                match self.service.store().set_chat_zone(sender, &name, now).await {
                    Ok(()) => Reply::text(true, format!("Your time zone is now {name}.")),
                    Err(e) => store_trouble(&e),
                }
            }
            Parsed::Run { op, confirm, echo } => {
                if let Err(refusal) = self.access.check_operation(sender, &op) {
                    return refused(refusal);
                }
                if confirm {
                    let id = match self.hold(sender, op.clone()).await {
                        Ok(id) => id,
                        Err(reply) => return reply,
                    };
                    let mut reply = Reply::text(
                        true,
                        format!(
                            "This cannot be undone: {}. To go ahead react ✅ here or write \
                             `{} confirm {id}` within {} minutes; `{} deny {id}` drops it.",
                            describe(&op),
                            self.prefix,
                            CONFIRM_WITHIN.as_mins(),
                            self.prefix
                        ),
                    );
                    reply.prompt = Some(id);
                    return reply;
                }
                self.run(sender, op, echo).await
            }
            Parsed::Question { text, choices } => {
                let mut lines = vec![text];
                for (label, op) in choices {
                    let id = match self.hold(sender, op).await {
                        Ok(id) => id,
                        Err(reply) => return reply,
                    };
                    lines.push(format!("• {label}: `{} confirm {id}`", self.prefix));
                }
                Reply::text(true, lines.join("\n"))
            }
            Parsed::Confirm { id } => match self.take(sender, id).await {
                Ok(op) => self.run(sender, op, None).await,
                Err(why) => Reply::text(false, why),
            },
            Parsed::Deny { id } => match self.take(sender, id).await {
                Ok(_) => Reply::text(true, format!("Dropped #{id}; nothing was done.")),
                Err(why) => Reply::text(false, why),
            },
        }
    }

    async fn run(&self, sender: &str, op: Operation, echo: Option<String>) -> Reply {
        let actor = self.access.actor(sender);
        match self.service.execute(&actor, op).await {
            Ok(outcome) => {
                let (outcome, direct, note) = self.keep_links_private(sender, outcome).await;
                let mut body = render::outcome(&outcome, RenderOptions::default());
                body.push_str(&note);
                let head = echo
                    .map(|e| format!("Understood: {e}."))
                    .unwrap_or_default();
                let mut reply = Reply::block(true, &head, &body);
                reply.direct = direct;
                reply
            }
            Err(e) => Reply::text(false, render::error(&e)),
        }
    }

    /// Join links are credentials: the room sees public room pages only. A moderator link goes
    /// by direct message to the owner of its room or meeting: for a listing only the requester's
    /// own (others ask for theirs), for a started meeting its owner, wherever it was started.
    async fn keep_links_private(
        &self,
        sender: &str,
        outcome: Outcome,
    ) -> (Outcome, Vec<Direct>, String) {
        let me = self.access.email_of(sender);
        match outcome {
            Outcome::Rooms { mut rooms } => {
                let mut mine = Vec::new();
                let mut others = std::collections::BTreeSet::new();
                for r in &mut rooms {
                    let (Some(moderator), viewer) = (r.moderator_link.take(), r.viewer_link.take())
                    else {
                        continue;
                    };
                    if me.as_ref().is_some_and(|e| e.as_str() == r.owner_email) {
                        let mut text =
                            format!("{} ({})\nModerator link: {moderator}\n", r.name, r.id);
                        if let Some(v) = viewer {
                            text.push_str(&format!("Viewer link: {v}\n"));
                        }
                        mine.push(text);
                    } else {
                        others.insert(r.owner_email.clone());
                    }
                }
                let mut note = String::new();
                let mut direct = Vec::new();
                if !mine.is_empty() {
                    note.push_str("Your moderator links: sent to you in a direct message.\n");
                    direct.push(Direct::new(
                        sender.to_string(),
                        format!("{PRIVATE}\n\n{}", mine.join("\n")),
                    ));
                }
                if !others.is_empty() {
                    let owners = others.into_iter().collect::<Vec<_>>().join(", ");
                    note.push_str(&format!(
                        "Moderator links go only to the rooms' owners ({owners}); they get \
                         theirs with `{} show links`.\n",
                        self.prefix
                    ));
                }
                (Outcome::Rooms { rooms }, direct, note)
            }
            Outcome::Started {
                id,
                server,
                bbb_meeting_id,
                already_running,
                links,
            } => {
                let how = if already_running {
                    "was already running"
                } else {
                    "started"
                };
                let mut message = format!(
                    "meeting '{id}' {how} on server '{server}' (BBB meetingID {bbb_meeting_id})"
                );
                if let Some(room) = &links.room {
                    message.push_str(&format!("\n  room page: {room}"));
                }
                let owner = self.meeting_owner(&id).await;
                let to = match &owner {
                    Some(email) if me.as_ref() == Some(email) => Some(sender.to_string()),
                    Some(email) => self.access.owner_user(email),
                    // A meeting without an owner: whoever may start it gets the link.
                    None => Some(sender.to_string()),
                };
                let mut direct = Vec::new();
                match (&to, &owner) {
                    (Some(to), _) => {
                        let whom = if to == sender {
                            "you".to_string()
                        } else {
                            to.clone()
                        };
                        message.push_str(&format!(
                            "\nThe moderator link was sent to {whom} in a direct message."
                        ));
                        direct.push(Direct::new(
                            to.clone(),
                            format!(
                                "{PRIVATE}\n\nMeeting '{id}' {how} (asked by {sender}).\n\
                                 Moderator link: {}\nViewer link: {}\n",
                                links.moderator, links.viewer
                            ),
                        ));
                    }
                    (None, Some(email)) => message.push_str(&format!(
                        "\nThe moderator link was not sent: no Matrix user is known for the \
                         owner {email} (an administrator maps it under matrix.emails)."
                    )),
                    (None, None) => {}
                }
                (Outcome::Done { message }, direct, String::new())
            }
            other => (other, Vec::new(), String::new()),
        }
    }

    async fn meeting_owner(&self, id: &crate::domain::MeetingId) -> Option<crate::domain::Email> {
        match self.service.store().get_meeting(id).await {
            Ok(Some(m)) => m.spec.owner.map(|o| o.email),
            _ => None,
        }
    }

    async fn hold(&self, user: &str, op: Operation) -> Result<u32, Reply> {
        let now = self.service.now();
        let id = self
            .service
            .store()
            .hold_chat_pending(user, &op, now + CONFIRM_WITHIN, now)
            .await
            .map_err(|e| store_trouble(&e))?;
        u32::try_from(id).map_err(|_| Reply::text(false, "Too many confirmations are waiting."))
    }

    /// The pending operation `id`, if it is `user`'s and has not expired; removed, so it runs
    /// once even when two instances see the confirmation. Other choices of the same question
    /// stay pending until they expire.
    async fn take(&self, user: &str, id: u32) -> Result<Operation, String> {
        let store = self.service.store();
        let trouble = |e: crate::store::StoreError| store_trouble(&e).plain;
        let held = store.chat_pending(i64::from(id)).await.map_err(trouble)?;
        let now = self.service.now();
        match held {
            None => Err(format!("There is nothing waiting under #{id}.")),
            Some(p) if p.user != user => Err(format!(
                "#{id} is waiting for the user who asked for it, not for you."
            )),
            Some(p) if p.expires_at <= now => {
                store.delete_chat_pending(p.id).await.map_err(trouble)?;
                Err(format!("#{id} has expired; give the command again."))
            }
            Some(p) => match store.delete_chat_pending(p.id).await.map_err(trouble)? {
                true => Ok(p.operation),
                false => Err(format!("#{id} has just been answered.")),
            },
        }
    }
}

fn store_trouble(e: &crate::store::StoreError) -> Reply {
    tracing::warn!(error = %e, "chat: store error");
    Reply::text(
        false,
        "The bot cannot reach its store right now; nothing was done. Try again in a minute.",
    )
}

/// Meetings scheduled in a room notify that room.
fn notify_in(parsed: Parsed, room: Option<&str>) -> Parsed {
    let Some(room) = room.and_then(|r| r.parse::<crate::domain::meeting::MatrixRoom>().ok()) else {
        return parsed;
    };
    let set = |op: Operation| match op {
        Operation::ScheduleMeeting { mut meeting } => {
            meeting.notify_room.get_or_insert(room.clone());
            Operation::ScheduleMeeting { meeting }
        }
        other => other,
    };
    match parsed {
        Parsed::Run { op, confirm, echo } => Parsed::Run {
            op: set(op),
            confirm,
            echo,
        },
        Parsed::Question { text, choices } => Parsed::Question {
            text,
            choices: choices.into_iter().map(|(l, op)| (l, set(op))).collect(),
        },
        other => other,
    }
}

fn refused(refusal: super::access::Refusal) -> Reply {
    Reply::text(false, format!("Sorry: {refusal}."))
}

/// A short description of a destructive operation for its confirmation prompt.
fn describe(op: &Operation) -> String {
    match op {
        Operation::DeleteUser { email, .. } => format!("delete the user {email}"),
        Operation::DeleteRoom { room, .. } => format!("delete the room {room}"),
        Operation::CancelMeeting { id } => format!("cancel meeting '{id}' and its future dates"),
        Operation::EndMeeting { id } => format!("end meeting '{id}' for everybody in it"),
        Operation::DeleteRecordings { records, .. } => {
            let ids: Vec<&str> = records.iter().map(|r| r.as_str()).collect();
            format!(
                "delete recording(s) {} on BBB and in Greenlight",
                ids.join(", ")
            )
        }
        other => other.name().replace('_', " "),
    }
}

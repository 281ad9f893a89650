//! One outbox mail request → one [`RenderedMail`], at send time, from the meeting's current
//! state.
//!
//! - Who sends to whom follows the original (seed-behaviour.md §7.4): for meeting mails the
//!   sender is the owner, then the server's `mailFrom`/`mailFromName`, then the meeting's (the
//!   last one present wins); bot-config.yml's `mail.from`/`from_name` stand in for a server
//!   that sets none. The recipient is redirected by the server's, then the meeting's
//!   `mailTo`/`mailToName` (staging). Room share mails come from the server (or bot-config) and
//!   go to the person shared with, without redirect, as the original's commands did.
//! - The text comes from a template: a meeting's `*Template` key (a file in
//!   `mail.templates_dir`), else `<templates_dir>/<lang>/<kind>.j2`, else the original's stock
//!   file name in that directory, else the built-in one (English or German, `mail.language`).
//!   Our templates have `subject`, `text` and `html` blocks rendered separately; the original's
//!   files (`Subject: …`, a blank line, an HTML body) read a `vars` dict like the original's
//!   `locals()`, but one that holds no secrets.
//! - The context ([`MailContext`]) holds only what a recipient may read: no BBB secret, no SMTP
//!   settings, no Greenlight database URL. A moderator join link is made only for the
//!   moderator-link mail, for that recipient.

mod compat;
mod templates;
mod text;

use super::{CalendarPart, Mailbox, RenderedMail};
use crate::config::MailConfig;
use crate::domain::{
    Channel, Email, MeetingId, MeetingSpec, NoticeKind, OpError, ServerId, ServerSpec,
};
use crate::service::Service;
use crate::store::{OutboxEntry, OutboxFilter, OutboxRequest, StoreError};
use jiff::Zoned;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use templates::seed_file_name;

/// Language of the built-in templates and of dates in mails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    De,
}

impl Language {
    pub const ALL: [Self; 2] = [Self::En, Self::De];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
        }
    }

    /// `en`, `de`, also with a region (`de-AT`, `en_GB`), any case.
    pub fn parse(s: &str) -> Option<Self> {
        let t = s.trim().to_ascii_lowercase();
        let base = t.split(['-', '_']).next().unwrap_or("");
        Self::ALL.into_iter().find(|l| l.as_str() == base)
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a mail could not be rendered. Messages never hold secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A template file named by a meeting (or on the command line) does not exist.
    #[error("mail template {name} not found ({searched})")]
    MissingTemplate { name: String, searched: String },
    /// A template does not parse, does not render, or lacks a part.
    #[error("mail template {name}: {reason}")]
    Template { name: String, reason: String },
    /// The request cannot become a mail as it stands (its meeting is gone, no sender address
    /// is configured, the recipient is not an address).
    #[error("{0}")]
    Unusable(String),
    /// Looking something up failed (store, Greenlight); a later try may work.
    #[error("{0}")]
    Lookup(String),
}

impl RenderError {
    /// Whether trying again unchanged is pointless (then the mail is dead-lettered at once).
    pub fn is_permanent(&self) -> bool {
        !matches!(self, Self::Lookup(_))
    }

    fn store(e: StoreError) -> Self {
        Self::Lookup(crate::service::internal_error(e).to_string())
    }

    /// Service errors: something that does not exist stays missing; trouble reaching a
    /// store, BBB or Greenlight may pass.
    fn op(e: OpError) -> Self {
        match e {
            OpError::Internal { .. } | OpError::Bbb { .. } => Self::Lookup(e.to_string()),
            other => Self::Unusable(other.to_string()),
        }
    }
}

/// What `mail preview` may change about a request: another template file or language.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// A file in `mail.templates_dir` (or one of the original's stock names) instead of the
    /// meeting's own template key.
    pub template: Option<String>,
    pub language: Option<Language>,
}

/// A name and address in the context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub email: String,
}

impl From<&Mailbox> for Person {
    fn from(m: &Mailbox) -> Self {
        Self {
            name: m.name.clone(),
            email: m.email.as_str().to_string(),
        }
    }
}

/// The meeting as a mail shows it. Times are in the meeting's zone, in the mail's language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeetingFacts {
    pub id: String,
    pub name: String,
    pub server: String,
    /// "Tuesday, 1 December 2026, 10:00 CET (Europe/Vienna)".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// RFC 9557: `2026-12-01T10:00:00+01:00[Europe/Vienna]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_iso: Option<String>,
    /// The original's `startDate` format, `2026-12-01 10:00`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// IANA name (or the offset of a fixed zone).
    pub time_zone: String,
    /// When `endAfterMinutes` closes it: "11:30" / "11:30 Uhr".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// BBB `duration` (0 = no limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_minutes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_after_minutes: Option<u32>,
    /// "every week" / "jede Woche" for a series.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeats: Option<String>,
    /// The room's access code, which participants need to enter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_code: Option<String>,
}

/// A Greenlight room of a share mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomFacts {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Everything a template sees (the original's files also get `vars`, built from this).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailContext {
    pub kind: &'static str,
    pub lang: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meeting: Option<MeetingFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Person>,
    /// Who the mail goes to (after a `mailTo` redirect).
    pub recipient: Person,
    pub sender: Person,
    /// The public link (Greenlight room, or the server's link base); never a signed join URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The signed moderator join URL; only in a moderator-link mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moderator_link: Option<String>,
    /// Minutes from now to the start (rounded, never negative).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minutes_left: Option<i64>,
    /// For a moved meeting: the start it had before, like `meeting.start`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<RoomFacts>,
    /// Who shared or unshared the room.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_by: Option<String>,
    /// The room-links report: what was searched (`owner: ann@uni.example`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// The room-links report's rooms (public links only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rooms: Vec<ReportRoom>,
    /// Recordings the retention rules will delete (dates in the recipient's language).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recordings: Vec<ExpiringRecording>,
}

/// One recording of a retention warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpiringRecording {
    pub id: String,
    pub name: String,
    pub recorded: String,
    pub delete_on: String,
    /// Playback link, when BBB gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The Greenlight room it belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
}

/// One room of the room-links report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ReportRoom {
    pub id: String,
    pub name: String,
    pub owner_name: String,
    pub owner_email: String,
    /// The public room link.
    pub link: String,
    /// `startDate` of a scheduled meeting in this room, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
}

/// Render one outbox entry (the mail sender's call).
pub async fn render_entry(
    service: &Service,
    mail: &MailConfig,
    entry: &OutboxEntry,
) -> Result<RenderedMail, RenderError> {
    render_request(service, mail, &entry.request, &Overrides::default()).await
}

/// Render a request, queued or made up for a preview.
pub async fn render_request(
    service: &Service,
    mail: &MailConfig,
    request: &OutboxRequest,
    overrides: &Overrides,
) -> Result<RenderedMail, RenderError> {
    if request.channel != Channel::Mail || request.kind.channel() != Channel::Mail {
        return Err(RenderError::Unusable(format!(
            "{} is not a mail",
            request.kind.as_str()
        )));
    }
    let recipient: Email = request.recipient.parse().map_err(|_| {
        RenderError::Unusable(format!("{:?} is not an e-mail address", request.recipient))
    })?;
    if request.kind == NoticeKind::ImportedMail {
        return imported(request, recipient);
    }
    let world = World::load(service, request).await?;
    let lang = overrides.language.unwrap_or(mail.language);
    let recipient_name = request.data["recipientName"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| recipient.local_part().to_string());
    let (from, to) = addressing(
        request.kind,
        world.spec(),
        world.server.as_ref(),
        mail,
        &recipient,
        &recipient_name,
    )?;
    let ctx = world
        .context(service, request, lang, &from, &to, &recipient_name)
        .await?;
    let named = overrides
        .template
        .as_deref()
        .or_else(|| world.spec().and_then(|s| meeting_template(s, request.kind)));
    let chosen = templates::choose(mail, lang, request.kind, named)?;
    let vars = compat::vars(&compat::Input {
        spec: world.spec(),
        ctx: &ctx,
        kind: request.kind,
        from: &from,
        to: &to,
    });
    let parts = templates::render(&chosen, &ctx, vars, lang)?;
    let calendar = calendar_part(
        service,
        request,
        world.spec(),
        &world.zone,
        &from,
        &to,
        &ctx,
    )
    .await?;
    Ok(RenderedMail {
        message_id: message_id(&request.unique_key, &from.email),
        from,
        to,
        subject: parts.subject,
        text: parts.text,
        html: parts.html,
        calendar,
        server: world.server.as_ref().map(|s| s.id.clone()),
    })
}

/// A mail the original rendered and queued: its text is `Subject: …`, a blank line, the body
/// (HTML unless it said `contentType: plain`).
fn imported(request: &OutboxRequest, to: Email) -> Result<RenderedMail, RenderError> {
    let d = &request.data;
    let from: Email = d["from"]
        .as_str()
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| RenderError::Unusable("the imported mail has no sender address".into()))?;
    let text = d["text"].as_str().unwrap_or_default();
    let (subject, body) = match text.split_once("\n\n") {
        Some((head, body)) if head.trim_start().starts_with("Subject:") => (
            head.trim_start()
                .trim_start_matches("Subject:")
                .trim()
                .to_string(),
            body.to_string(),
        ),
        _ => (String::new(), text.to_string()),
    };
    let plain = d["contentType"].as_str() == Some("plain");
    let mailbox = |name: &str, email: Email| Mailbox {
        name: Some(name.to_string()).filter(|n| !n.is_empty()),
        email,
    };
    Ok(RenderedMail {
        message_id: message_id(&request.unique_key, &from),
        from: mailbox(d["fromName"].as_str().unwrap_or_default(), from),
        to: mailbox(d["toName"].as_str().unwrap_or_default(), to),
        subject,
        text: if plain {
            body.clone()
        } else {
            text::html_to_text(&body)
        },
        html: (!plain).then_some(body),
        calendar: None,
        server: d["server"].as_str().and_then(|s| s.parse().ok()),
    })
}

/// The meeting and server a request is about, as they are now.
struct World {
    meeting: Option<crate::store::StoredMeeting>,
    server: Option<ServerSpec>,
    zone: jiff::tz::TimeZone,
}

impl World {
    async fn load(service: &Service, request: &OutboxRequest) -> Result<Self, RenderError> {
        let store = service.store();
        let meeting = match &request.meeting_id {
            Some(id) => Some(
                store
                    .get_meeting(id)
                    .await
                    .map_err(RenderError::store)?
                    .ok_or_else(|| {
                        RenderError::Unusable(format!("meeting '{id}' no longer exists"))
                    })?,
            ),
            None => None,
        };
        let is_room_mail = matches!(
            request.kind,
            NoticeKind::RoomShared | NoticeKind::RoomUnshared
        );
        let stands_alone = matches!(
            request.kind,
            NoticeKind::RoomLinks | NoticeKind::RecordingsExpiring
        );
        if meeting.is_none() && !is_room_mail && !stands_alone {
            return Err(RenderError::Unusable(format!(
                "a {} mail needs a meeting",
                request.kind.as_str()
            )));
        }
        let server_id: Option<ServerId> = match &meeting {
            Some(m) => Some(m.spec.server.clone()),
            None => request.data["server"].as_str().and_then(|s| s.parse().ok()),
        };
        let server = match &server_id {
            Some(id) => store.get_server(id).await.map_err(RenderError::store)?,
            None => None,
        };
        let default_zone = &service.settings().default_time_zone;
        let zone = match &meeting {
            Some(m) => crate::scheduler::plan::meeting_zone(&m.spec, default_zone)
                .map_err(|e| RenderError::Unusable(e.to_string()))?,
            None => default_zone.clone(),
        };
        Ok(Self {
            meeting,
            server,
            zone,
        })
    }

    fn spec(&self) -> Option<&MeetingSpec> {
        self.meeting.as_ref().map(|m| &m.spec)
    }

    /// The start a mail talks about: the occurrence it was queued for, else the next one,
    /// else the (past) start of a one-off meeting.
    fn start(&self, service: &Service, data: &Value) -> Option<Zoned> {
        if let Some(z) = data["start"].as_str().and_then(|s| s.parse::<Zoned>().ok()) {
            return Some(z.with_time_zone(self.zone.clone()));
        }
        let spec = self.spec()?;
        let start = spec.start?;
        crate::scheduler::plan::occurrences(spec, &self.zone, service.now(), 1)
            .ok()
            .and_then(|o| o.into_iter().next())
            .map(|o| o.start)
            .or_else(|| start.to_zoned(self.zone.clone()).ok())
    }

    async fn context(
        &self,
        service: &Service,
        request: &OutboxRequest,
        lang: Language,
        from: &Mailbox,
        to: &Mailbox,
        recipient_name: &str,
    ) -> Result<MailContext, RenderError> {
        let data = &request.data;
        let start = self.start(service, data);
        let meeting = self
            .spec()
            .map(|spec| meeting_facts(spec, start.as_ref(), &self.zone, lang));
        // A reminder rendered before it is due (a preview) says what it will say when due.
        let minutes_left = start.as_ref().map(|s| {
            let left = minutes_until(service.now(), s);
            match data["minutesBefore"].as_i64() {
                Some(due) if due >= 0 => left.min(due),
                _ => left,
            }
        });
        let previous_start = data["previousStart"]
            .as_str()
            .and_then(|s| s.parse::<Zoned>().ok())
            .map(|z| text::date_time(&z.with_time_zone(self.zone.clone()), lang));
        let is_room_mail = matches!(
            request.kind,
            NoticeKind::RoomShared | NoticeKind::RoomUnshared
        );
        let link = match (&request.meeting_id, is_room_mail) {
            (_, true) => data["link"].as_str().map(str::to_string),
            (Some(id), false) => service.public_link(id).await.map_err(RenderError::op)?,
            (None, false) => None,
        };
        let moderator_link = match (&request.meeting_id, request.kind) {
            (Some(id), NoticeKind::ModeratorLink) => Some(
                service
                    .moderator_link(id, recipient_name)
                    .await
                    .map_err(RenderError::op)?,
            ),
            _ => None,
        };
        let room = is_room_mail
            .then(|| {
                let id = data["room"].as_str().map(str::to_string).or_else(|| {
                    self.spec()
                        .and_then(|s| s.room.as_ref())
                        .map(|r| r.to_string())
                })?;
                Some(RoomFacts {
                    id,
                    name: data["roomName"].as_str().map(str::to_string),
                })
            })
            .flatten();
        if is_room_mail && room.is_none() {
            return Err(RenderError::Unusable(format!(
                "a {} mail needs the room (data.room or the meeting's meetingUID)",
                request.kind.as_str()
            )));
        }
        Ok(MailContext {
            kind: request.kind.as_str(),
            lang: lang.as_str(),
            meeting,
            owner: self.spec().and_then(|s| s.owner.as_ref()).map(|o| Person {
                name: Some(o.full_name.clone()),
                email: o.email.as_str().to_string(),
            }),
            recipient: Person::from(to),
            sender: Person::from(from),
            link,
            moderator_link,
            minutes_left,
            previous_start,
            room,
            // `by`: what share mails queued before this version carry.
            shared_by: data["senderName"]
                .as_str()
                .or_else(|| data["by"].as_str())
                .map(str::to_string),
            report: data["report"].as_str().map(str::to_string),
            rooms: serde_json::from_value(data["rooms"].clone()).unwrap_or_default(),
            recordings: expiring(data, &self.zone, lang),
        })
    }
}

/// The recordings of a retention warning, dates in the recipient's zone and language.
fn expiring(data: &Value, zone: &jiff::tz::TimeZone, lang: Language) -> Vec<ExpiringRecording> {
    let date = |v: &Value| {
        v.as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map(|t| text::date(&t.to_zoned(zone.clone()), lang))
            .unwrap_or_default()
    };
    data["recordings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| ExpiringRecording {
            id: r["id"].as_str().unwrap_or_default().to_string(),
            name: r["name"].as_str().unwrap_or_default().to_string(),
            recorded: date(&r["recorded"]),
            delete_on: date(&r["deleteOn"]),
            link: r["link"].as_str().map(str::to_string),
            room: r["room"].as_str().map(str::to_string),
        })
        .collect()
}

fn meeting_facts(
    spec: &MeetingSpec,
    start: Option<&Zoned>,
    zone: &jiff::tz::TimeZone,
    lang: Language,
) -> MeetingFacts {
    let end = start.and_then(|s| {
        let minutes = spec.end_after_minutes.filter(|m| *m > 0)?;
        let end = s.checked_add(jiff::SignedDuration::from_mins(i64::from(minutes)));
        end.ok().map(|e| text::time_of_day(&e, lang))
    });
    MeetingFacts {
        id: spec.id.to_string(),
        name: spec.name.clone(),
        server: spec.server.to_string(),
        start: start.map(|s| text::date_time(s, lang)),
        start_iso: start.map(|s| s.to_string()),
        start_date: start.map(|s| s.strftime("%Y-%m-%d %H:%M").to_string()),
        time_zone: text::zone_name(zone),
        end,
        duration_minutes: spec.duration,
        end_after_minutes: spec.end_after_minutes,
        repeats: spec.recurrence.as_ref().map(|r| text::repeats(r, lang)),
        access_code: spec.access_code.clone(),
    }
}

/// Minutes from `now` to `start`, rounded to the nearest minute and never negative (a
/// reminder sent on time says "15", not "14").
fn minutes_until(now: jiff::Timestamp, start: &Zoned) -> i64 {
    let secs = start.timestamp().as_second() - now.as_second();
    ((secs + 30).div_euclid(60)).max(0)
}

/// The meeting's own template key for a kind (`meetingOwnerInfoTemplate` …).
fn meeting_template(spec: &MeetingSpec, kind: NoticeKind) -> Option<&str> {
    match kind {
        NoticeKind::OwnerInfo => spec.owner_info_template.as_deref(),
        NoticeKind::OwnerReminder => spec.owner_reminder_template.as_deref(),
        NoticeKind::OwnerStarted => spec.owner_started_template.as_deref(),
        NoticeKind::ShareInfo => spec.share_info_template.as_deref(),
        NoticeKind::Invitation => spec.invitation_info_template.as_deref(),
        NoticeKind::ModeratorLink => spec.moderator_info_template.as_deref(),
        _ => None,
    }
}

/// The last value present in the original's precedence order.
fn last_present<T: Clone>(levels: [Option<&T>; 3]) -> Option<T> {
    levels.into_iter().flatten().last().cloned()
}

/// From and To of a mail (seed-behaviour.md §7.4).
pub fn addressing(
    kind: NoticeKind,
    spec: Option<&MeetingSpec>,
    server: Option<&ServerSpec>,
    mail: &MailConfig,
    recipient: &Email,
    recipient_name: &str,
) -> Result<(Mailbox, Mailbox), RenderError> {
    // bot-config.yml's sender is the default of the server-level setting.
    let server_from = server
        .and_then(|s| s.mail_from.as_ref())
        .or(mail.from.as_ref());
    let server_from_name = server
        .and_then(|s| s.mail_from_name.as_ref())
        .or(mail.from_name.as_ref());
    let recipient_name = recipient_name.to_string();
    let room_mail = matches!(kind, NoticeKind::RoomShared | NoticeKind::RoomUnshared);
    let (from, from_name, to, to_name) = match spec {
        Some(spec) if !room_mail => {
            let owner = spec.owner.as_ref();
            (
                last_present([
                    owner.map(|o| &o.email),
                    server_from,
                    spec.mail_from.as_ref(),
                ]),
                last_present([
                    owner.map(|o| &o.full_name),
                    server_from_name,
                    spec.mail_from_name.as_ref(),
                ]),
                last_present([
                    Some(recipient),
                    server.and_then(|s| s.mail_to.as_ref()),
                    spec.mail_to.as_ref(),
                ]),
                last_present([
                    Some(&recipient_name),
                    server.and_then(|s| s.mail_to_name.as_ref()),
                    spec.mail_to_name.as_ref(),
                ]),
            )
        }
        // The original's command mails: the server sends, to the address given, unredirected.
        _ => (
            server_from.cloned(),
            server_from_name.cloned(),
            Some(recipient.clone()),
            Some(recipient_name),
        ),
    };
    let from = from.ok_or_else(|| {
        let server = server
            .map(|s| format!(" or mailFrom on server '{}'", s.id))
            .unwrap_or_default();
        RenderError::Unusable(format!(
            "no sender address: set mail.from in bot-config.yml{server}"
        ))
    })?;
    let to = to.unwrap_or_else(|| recipient.clone());
    let nonempty = |n: Option<String>| n.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    Ok((
        Mailbox {
            name: nonempty(from_name),
            email: from,
        },
        Mailbox {
            name: nonempty(to_name),
            email: to,
        },
    ))
}

/// `<32 hex digits of sha256(unique key)@sender's domain>`: the same request always gets the
/// same Message-ID, so a resend after a crash is recognisably the same message.
pub fn message_id(unique_key: &str, from: &Email) -> String {
    let digest = Sha256::digest(unique_key.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let domain = from.as_str().rsplit('@').next().unwrap_or("localhost");
    format!("<{hex}@{domain}>")
}

/// SEQUENCE for a meeting's calendar parts: how many moves of the meeting were mailed (one
/// `meeting_changed` event per edit that moved it, whatever the number of recipients). It
/// grows with every move; deleting every mail of a move from the outbox would lower it.
pub async fn calendar_sequence(service: &Service, meeting: &MeetingId) -> Result<u32, RenderError> {
    let filter = OutboxFilter {
        state: crate::domain::operation::MailFilter::All,
        channel: Some(Channel::Mail),
        meeting: Some(meeting.clone()),
    };
    let entries = service
        .store()
        .list_outbox(&filter)
        .await
        .map_err(RenderError::store)?;
    let prefix = format!("{meeting}/");
    let marker = format!("/{}/", NoticeKind::MeetingChanged.as_str());
    let mut events: Vec<&str> = entries
        .iter()
        .filter(|e| e.request.kind == NoticeKind::MeetingChanged)
        .filter_map(|e| {
            let rest = e.request.unique_key.strip_prefix(&prefix)?;
            rest.find(&marker).map(|at| &rest[..at])
        })
        .collect();
    events.sort_unstable();
    events.dedup();
    Ok(u32::try_from(events.len()).unwrap_or(u32::MAX))
}

/// The calendar part: a REQUEST for invitations, owner info mails and moved meetings, a
/// CANCEL for cancellations, with SEQUENCE from [`calendar_sequence`]. A meeting that cannot
/// be put in a calendar (no start yet) gets its mail without one.
async fn calendar_part(
    service: &Service,
    request: &OutboxRequest,
    spec: Option<&crate::domain::MeetingSpec>,
    zone: &jiff::tz::TimeZone,
    from: &Mailbox,
    to: &Mailbox,
    ctx: &MailContext,
) -> Result<Option<CalendarPart>, RenderError> {
    let cancel = match request.kind {
        NoticeKind::Invitation | NoticeKind::OwnerInfo | NoticeKind::MeetingChanged => false,
        NoticeKind::MeetingCancelled => true,
        _ => return Ok(None),
    };
    let Some(spec) = spec else {
        return Ok(None);
    };
    // The zone the scheduler runs the meeting in: its own timeZone, else bot-config's default
    // (not the machine's, which may differ).
    let mut spec = std::borrow::Cow::Borrowed(spec);
    if spec.time_zone.is_none()
        && let Some(name) = zone.iana_name()
    {
        spec.to_mut().time_zone = Some(name.to_string());
    }
    let spec = spec.as_ref();
    let sequence = calendar_sequence(service, &spec.id).await?;
    // One occurrence of a series is addressed by its start; a single meeting as a whole.
    let occurrence = request
        .occurrence
        .as_deref()
        .filter(|_| spec.recurrence.is_some());
    let build = if cancel {
        crate::mail::ics::cancellation
    } else {
        crate::mail::ics::invitation
    };
    let now = service.now();
    match build(
        spec,
        occurrence,
        sequence,
        from,
        to,
        ctx.link.as_deref(),
        now,
    ) {
        Ok(part) => Ok(Some(part)),
        Err(e) => {
            tracing::debug!(meeting = %spec.id, error = %e, "no calendar part");
            Ok(None)
        }
    }
}

/// The request the workflow would queue for `kind` of `meeting`, for `mail preview`: to `to`,
/// else to the kind's natural recipient (the owner, the first invitee, moderator or sharee).
pub async fn preview_request(
    service: &Service,
    kind: NoticeKind,
    meeting: &MeetingId,
    to: Option<&Email>,
) -> Result<OutboxRequest, RenderError> {
    if kind.channel() != Channel::Mail {
        return Err(RenderError::Unusable(format!(
            "{} is a chat notice, not a mail",
            kind.as_str()
        )));
    }
    let stored = service
        .store()
        .get_meeting(meeting)
        .await
        .map_err(RenderError::store)?
        .ok_or_else(|| RenderError::Unusable(format!("no meeting named '{meeting}'")))?;
    let spec = &stored.spec;
    let (to, name) = preview_recipient(spec, kind, to)?;
    let mut data = json!({ "recipientName": name });
    let zone = crate::scheduler::plan::meeting_zone(spec, &service.settings().default_time_zone)
        .map_err(|e| RenderError::Unusable(e.to_string()))?;
    let next = spec.start.and_then(|_| {
        crate::scheduler::plan::occurrences(spec, &zone, service.now(), 1)
            .ok()
            .and_then(|o| o.into_iter().next())
    });
    if let Some(next) = &next {
        data["start"] = Value::String(next.start.to_string());
    }
    match kind {
        NoticeKind::OwnerReminder => {
            let minutes = service
                .settings()
                .plan_defaults
                .for_meeting(spec)
                .reminder_minutes;
            data["minutesBefore"] = json!(minutes);
        }
        NoticeKind::RoomShared | NoticeKind::RoomUnshared => {
            let room = spec.room.as_ref().ok_or_else(|| {
                RenderError::Unusable(format!("meeting '{meeting}' has no meetingUID (room)"))
            })?;
            data["server"] = Value::String(spec.server.to_string());
            data["room"] = Value::String(room.to_string());
            data["roomName"] = Value::String(spec.name.clone());
            if let Some(link) = service
                .public_link(meeting)
                .await
                .map_err(RenderError::op)?
            {
                data["link"] = Value::String(link);
            }
            if let Some(owner) = &spec.owner {
                data["senderName"] = Value::String(owner.full_name.clone());
            }
        }
        _ => {}
    }
    let occurrence = match kind {
        NoticeKind::OwnerReminder | NoticeKind::OwnerStarted => next.map(|o| o.key),
        _ => None,
    };
    let key = OutboxRequest::key_for(kind, Some(meeting), occurrence.as_deref(), to.as_str());
    Ok(OutboxRequest {
        unique_key: format!("preview/{key}"),
        channel: Channel::Mail,
        kind,
        meeting_id: Some(meeting.clone()),
        occurrence,
        recipient: to.as_str().to_string(),
        data,
        not_before: service.now(),
    })
}

/// Who a previewed mail goes to, and the name it greets, as the workflow would choose them.
fn preview_recipient(
    spec: &MeetingSpec,
    kind: NoticeKind,
    to: Option<&Email>,
) -> Result<(Email, String), RenderError> {
    let lists = [
        &spec.send_invitation_link,
        &spec.send_moderator_link,
        &spec.share_with,
    ];
    let owner = spec.owner.as_ref();
    if let Some(to) = to {
        let name = lists
            .iter()
            .find_map(|l| l.get(to).and_then(|r| r.full_name.clone()))
            .or_else(|| {
                owner
                    .filter(|o| o.email == *to)
                    .map(|o| o.full_name.clone())
            })
            .unwrap_or_else(|| to.local_part().to_string());
        return Ok((to.clone(), name));
    }
    let (list, what) = match kind {
        NoticeKind::Invitation => (&spec.send_invitation_link, "sendInvitationLink"),
        NoticeKind::ModeratorLink => (&spec.send_moderator_link, "sendModeratorLink"),
        NoticeKind::ShareInfo | NoticeKind::RoomShared | NoticeKind::RoomUnshared => {
            (&spec.share_with, "shareWith")
        }
        _ => {
            let owner = owner.ok_or_else(|| {
                RenderError::Unusable(format!("meeting '{}' has no owner; give --to", spec.id))
            })?;
            return Ok((owner.email.clone(), owner.full_name.clone()));
        }
    };
    let (email, r) = list.iter().next().ok_or_else(|| {
        RenderError::Unusable(format!(
            "meeting '{}' has nobody in {what}; give --to",
            spec.id
        ))
    })?;
    let name = r
        .full_name
        .clone()
        .unwrap_or_else(|| email.local_part().to_string());
    Ok((email.clone(), name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_parse_with_regions() {
        assert_eq!(Language::parse("de-AT"), Some(Language::De));
        assert_eq!(Language::parse(" EN_gb "), Some(Language::En));
        assert_eq!(Language::parse("fr"), None);
    }

    #[test]
    fn message_ids_are_stable_and_use_the_senders_domain() {
        let from: Email = "noreply@uni.example".parse().unwrap();
        let a = message_id("m/series/invitation/bob@x.org", &from);
        assert_eq!(a, message_id("m/series/invitation/bob@x.org", &from));
        assert_ne!(a, message_id("m/series/invitation/eve@x.org", &from));
        assert!(a.starts_with('<') && a.ends_with("@uni.example>"), "{a}");
        assert_eq!(a.len(), 1 + 32 + 1 + "uni.example".len() + 1);
    }

    #[test]
    fn minutes_are_rounded_and_not_negative() {
        let start: Zoned = "2026-12-01T10:00:00+01:00[Europe/Vienna]".parse().unwrap();
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        assert_eq!(minutes_until(at("2026-12-01T08:45:00.2Z"), &start), 15);
        assert_eq!(minutes_until(at("2026-12-01T08:45:40Z"), &start), 14);
        assert_eq!(minutes_until(at("2026-12-01T09:30:00Z"), &start), 0);
    }
}

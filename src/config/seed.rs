//! The original tool's file format: `servers:`, `meetings:`, `commands:` (seed-behaviour.md
//! §4.1, §9.1, §3.3), turned into `Operation`s that remember where they were written.

use super::error::ConfigErrors;
use super::read::{self, Ctx, Fields, join, shown};
use super::server::{EMAIL_HINT, check_http_url, check_id_matches, key_as, read_server};
use super::tree::{At, Kind, Node};
use crate::domain::meeting::{
    ExDate, GuestPolicy, LiveStreaming, MatrixRoom, MisfirePolicy, Recurrence, seed_datetime,
};
use crate::domain::operation::{CreateRoom, CreateUser, ShareRoom, UserRole};
use crate::domain::{
    BbbMeetingId, Email, MeetingId, MeetingSpec, Operation, Owner, Recipient, RoomRef, Secret,
    ServerId,
};
use crate::scheduler::plan::{self, PlanError};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

pub(crate) const SEED_KEYS: &[&str] = &["servers", "meetings", "commands"];

pub(crate) const MEETING_KEYS: &[&str] = &[
    "id",
    "server",
    "meetingName",
    "meetingID",
    "meetingUID",
    "useHomeRoom",
    "owner",
    "startDate",
    "timeZone",
    "reminderMinutes",
    "preOpenMinutes",
    "preStartMinutes",
    "endAfterMinutes",
    "accessCode",
    "muteOnStart",
    "record",
    "allowStartStopRecording",
    "autoStartRecording",
    "bannerText",
    "welcome",
    "duration",
    "logoutURL",
    "maxParticipants",
    "guestPolicy",
    "liveStreaming",
    "sendInvitationLink",
    "sendModeratorLink",
    "shareWith",
    "meetingInvitationInfoTemplate",
    "meetingModeratorInfoTemplate",
    "meetingOwnerInfoTemplate",
    "meetingOwnerReminderTemplate",
    "meetingOwnerStartedTemplate",
    "meetingShareInfoTemplate",
    "mailFrom",
    "mailFromName",
    "mailTo",
    "mailToName",
    "send_emails",
    "meetingTitle",
    "recurrence",
    "exdate",
    "misfire",
    "misfireGraceMinutes",
    "notifyRoom",
];
pub(crate) const OWNER_KEYS: &[&str] = &[
    "email",
    "fullName",
    "password",
    "password_file",
    "uid",
    "socialUid",
];
pub(crate) const RECIPIENT_KEYS: &[&str] = &["fullName", "send_emails"];
pub(crate) const LIVE_KEYS: &[&str] = &["streamerHost", "targetUrl", "playIntro"];
pub(crate) const COMMAND_KEYS: &[&str] = &["command", "server", "data"];
pub(crate) const COMMAND_NAMES: &[&str] = &[
    "create_user",
    "delete_user",
    "create_room",
    "delete_room",
    "rename_room",
    "share_room",
    "unshare_room",
];
const CREATE_USER_KEYS: &[&str] = &["fullName", "pwd", "pwd_file", "role", "provider"];
const CREATE_ROOM_KEYS: &[&str] = &["email", "roomUID", "accessCode"];
const RENAME_ROOM_KEYS: &[&str] = &["roomUID"];

const ROOM_HINT: &str = "write the room's id from its URL, e.g. abc-def-ghi";

/// Where an operation was written, for later reporting ("meetings.yml:14:3").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRef {
    pub file: String,
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedSection {
    Servers,
    Meetings,
    Commands,
}

/// One operation from a seed file.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedEntry {
    pub section: SeedSection,
    /// The YAML key of the server, meeting or command (`lecture`, `share_cmd`).
    pub key: String,
    /// Full key path, e.g. `commands.share_cmd.data.abc-def-ghi`.
    pub path: String,
    pub source: SourceRef,
    pub operation: Operation,
}

/// A parsed seed file: operations in file order (servers, then meetings, then commands).
#[derive(Debug, Clone, PartialEq)]
pub struct SeedFile {
    pub file: String,
    pub entries: Vec<SeedEntry>,
}

/// How much a seed file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeedCounts {
    pub servers: usize,
    /// Servers with their own `greenlight:` block.
    pub greenlight_servers: usize,
    pub meetings: usize,
    /// Command entries in the file (`commands:` keys).
    pub commands: usize,
    /// All operations; a command with several `data` entries gives several.
    pub operations: usize,
}

impl SeedFile {
    pub fn operations(&self) -> impl Iterator<Item = &Operation> {
        self.entries.iter().map(|e| &e.operation)
    }

    pub fn counts(&self) -> SeedCounts {
        let count = |s: SeedSection| self.entries.iter().filter(|e| e.section == s).count();
        let mut command_keys: Vec<&str> = self
            .entries
            .iter()
            .filter(|e| e.section == SeedSection::Commands)
            .map(|e| e.key.as_str())
            .collect();
        command_keys.dedup();
        SeedCounts {
            servers: count(SeedSection::Servers),
            greenlight_servers: self
                .operations()
                .filter(
                    |op| matches!(op, Operation::AddServer { server } if server.greenlight.is_some()),
                )
                .count(),
            meetings: count(SeedSection::Meetings),
            commands: command_keys.len(),
            operations: self.entries.len(),
        }
    }
}

/// Parses a seed file's text. `file_name` names it in errors and locations; relative
/// `*_FILE` / `*_file` secret paths are resolved against its directory.
pub fn parse_seed_file(text: &str, file_name: &str) -> Result<SeedFile, ConfigErrors> {
    let mut ctx = Ctx::new(file_name);
    let root = match super::parse_tree(&mut ctx, text) {
        Some(root) => root,
        None => return ctx.finish(empty(file_name)),
    };
    let entries = read_seed_root(&mut ctx, &root);
    ctx.finish(SeedFile {
        file: file_name.to_string(),
        entries,
    })
}

/// Reads and parses a seed file from disk.
pub fn load_seed_file(path: &Path) -> Result<SeedFile, ConfigErrors> {
    let name = path.display().to_string();
    let text = super::read_config_text(path)?;
    parse_seed_file(&text, &name)
}

fn empty(file_name: &str) -> SeedFile {
    SeedFile {
        file: file_name.to_string(),
        entries: Vec::new(),
    }
}

fn read_seed_root(ctx: &mut Ctx, root: &Node) -> Vec<SeedEntry> {
    let Some(top) = Fields::new(ctx, root, "", &At::start(), SEED_KEYS) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    read_section(ctx, &top, "servers", &mut out, |ctx, k, kn, v, p| {
        read_server(ctx, k, kn, v, p)
            .map(|s| {
                vec![(
                    kn.at.clone(),
                    join(p, k),
                    Operation::AddServer {
                        server: Box::new(s),
                    },
                )]
            })
            .unwrap_or_default()
    });
    read_section(ctx, &top, "meetings", &mut out, |ctx, k, kn, v, p| {
        read_meeting(ctx, k, kn, v, p)
            .map(|m| {
                let op = Operation::ScheduleMeeting {
                    meeting: Box::new(m),
                };
                vec![(kn.at.clone(), join(p, k), op)]
            })
            .unwrap_or_default()
    });
    read_section(ctx, &top, "commands", &mut out, read_command);
    out
}

type Located = (At, String, Operation);

/// Reads every entry of one top-level section with `read_one`.
fn read_section(
    ctx: &mut Ctx,
    top: &Fields<'_>,
    name: &str,
    out: &mut Vec<SeedEntry>,
    read_one: impl Fn(&mut Ctx, &str, &Node, &Node, &str) -> Vec<Located>,
) {
    let section = match name {
        "servers" => SeedSection::Servers,
        "meetings" => SeedSection::Meetings,
        _ => SeedSection::Commands,
    };
    let Some(node) = top.get(name) else { return };
    let what = format!("a mapping of {name}, one key each");
    let Some(items) = read::entries(ctx, node, name, &what) else {
        return;
    };
    for (key, key_node, value) in items {
        for (at, path, operation) in read_one(ctx, key, key_node, value, name) {
            let (line, column) = match at {
                At::Yaml { line, column } => (line, column),
                At::Env { .. } => (0, 0),
            };
            out.push(SeedEntry {
                section,
                key: key.to_string(),
                path,
                source: SourceRef {
                    file: ctx.file.clone(),
                    line,
                    column,
                },
                operation,
            });
        }
    }
}

// ---------------------------------------------------------------- meetings

fn placeholder_meeting_id() -> MeetingId {
    MeetingId::try_from("invalid").expect("a constant, valid meeting id")
}

fn placeholder_server_id() -> ServerId {
    ServerId::try_from("invalid").expect("a constant, valid server id")
}

/// Reads one meeting; None if it has any problem (all of them recorded).
fn read_meeting(
    ctx: &mut Ctx,
    key: &str,
    key_node: &Node,
    value: &Node,
    parent: &str,
) -> Option<MeetingSpec> {
    let before = ctx.errors.len();
    let path = join(parent, key);
    let id = key_as::<MeetingId>(ctx, key, key_node, &path);
    let f = Fields::new(ctx, value, &path, &key_node.at, MEETING_KEYS)?;
    check_id_matches(ctx, &f, key);
    let server = f.req_parsed::<ServerId>(ctx, "server", "write a server's key, e.g. bbb", "bbb");
    let name = f.req_text(ctx, "meetingName", "Lecture Algebra");
    // Collected into a scratch spec so every key is checked; it is dropped on any error.
    let mut m = MeetingSpec::new(
        id.unwrap_or_else(placeholder_meeting_id),
        server.unwrap_or_else(placeholder_server_id),
        name.unwrap_or_default(),
    );
    read_meeting_room(ctx, &f, &mut m);
    read_meeting_times(ctx, &f, &mut m);
    read_meeting_schedule(ctx, &f, &mut m);
    read_meeting_bbb(ctx, &f, &mut m);
    read_meeting_mail(ctx, &f, &mut m);
    (ctx.errors.len() == before).then_some(m)
}

fn read_meeting_room(ctx: &mut Ctx, f: &Fields<'_>, m: &mut MeetingSpec) {
    m.bbb_meeting_id =
        f.parsed::<BbbMeetingId>(ctx, "meetingID", "use 2 to 256 characters without commas");
    m.room = f.parsed::<RoomRef>(ctx, "meetingUID", ROOM_HINT);
    m.use_home_room = f.bool(ctx, "useHomeRoom");
    m.owner = f
        .entry("owner")
        .filter(|(_, v)| !v.is_null())
        .and_then(|(k, v)| read_owner(ctx, k, v, &f.key_path("owner")));
    m.access_code = f.text(ctx, "accessCode");
    if m.use_home_room == Some(true)
        && !f.has("owner")
        && let Some(node) = f.get("useHomeRoom")
    {
        ctx.error_hint(
            &node.at,
            &f.key_path("useHomeRoom"),
            "useHomeRoom needs an owner whose home room is used",
            "add `owner:` with `email:` and `fullName:`",
        );
    }
}

fn read_owner(ctx: &mut Ctx, key_node: &Node, value: &Node, path: &str) -> Option<Owner> {
    let f = Fields::new(ctx, value, path, &key_node.at, OWNER_KEYS)?;
    let email = f.req_parsed::<Email>(ctx, "email", EMAIL_HINT, "alice@uni.example");
    let full_name = f.text(ctx, "fullName");
    let password = f.secret(ctx, "password").map(Secret::new);
    let uid = f.text(ctx, "uid");
    let social_uid = f.text(ctx, "socialUid");
    let email = email?;
    Some(Owner {
        // The seed fell back to the local part of the address.
        full_name: full_name.unwrap_or_else(|| email.local_part().to_string()),
        email,
        password,
        uid,
        social_uid,
    })
}

fn read_meeting_times(ctx: &mut Ctx, f: &Fields<'_>, m: &mut MeetingSpec) {
    m.start = f.checked(
        ctx,
        "startDate",
        "write it as YYYY-MM-DD HH:MM, e.g. 2026-12-03 14:30",
        |s| seed_datetime::parse(s).map_err(|_| format!("{} is not a date and time", shown(s))),
    );
    m.time_zone = f.checked(ctx, "timeZone", TZ_HINT, check_time_zone);
    m.reminder_minutes = f.uint(ctx, "reminderMinutes");
    m.pre_open_minutes = f.uint(ctx, "preOpenMinutes");
    m.pre_start_minutes = f.uint(ctx, "preStartMinutes");
    m.end_after_minutes = f.uint(ctx, "endAfterMinutes");
    m.duration = f.uint(ctx, "duration");
}

const RRULE_HINT: &str = "write an RFC 5545 rule, e.g. FREQ=WEEKLY;BYDAY=TU;COUNT=12";
const EXDATE_HINT: &str = "write a day as YYYY-MM-DD or a day and time as YYYY-MM-DD HH:MM";

/// `recurrence`, `exdate`, `misfire`, `misfireGraceMinutes`, `notifyRoom`; then how they fit
/// `startDate` (run after `read_meeting_times`).
fn read_meeting_schedule(ctx: &mut Ctx, f: &Fields<'_>, m: &mut MeetingSpec) {
    m.recurrence = f.checked(ctx, "recurrence", RRULE_HINT, |s| {
        s.parse::<Recurrence>().map_err(|e| e.to_string())
    });
    m.exdate = read_exdates(ctx, f);
    m.misfire = f.checked(
        ctx,
        "misfire",
        "use grace (the default), always or skip",
        parse_misfire,
    );
    m.misfire_grace_minutes = f.uint(ctx, "misfireGraceMinutes");
    m.notify_room = f.checked(
        ctx,
        "notifyRoom",
        "write a room id like \"!abc:uni.example\" or an alias like \"#lectures:uni.example\" (quoted)",
        |s| s.parse::<MatrixRoom>().map_err(|e| e.reason),
    );
    check_schedule(ctx, f, m);
}

fn read_exdates(ctx: &mut Ctx, f: &Fields<'_>) -> Vec<ExDate> {
    let mut out = Vec::new();
    for (i, (at, value)) in f
        .text_list(ctx, "exdate")
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        match value.parse::<ExDate>() {
            Ok(d) => out.push(d),
            Err(_) => ctx.error_hint(
                &at,
                &format!("{}[{i}]", f.key_path("exdate")),
                format!("{} is not a day", shown(&value)),
                EXDATE_HINT,
            ),
        }
    }
    out
}

fn parse_misfire(s: &str) -> Result<MisfirePolicy, String> {
    s.parse::<MisfirePolicy>().map_err(|_| {
        let names = MisfirePolicy::ALL.map(MisfirePolicy::as_str);
        match read::suggest(s.trim(), names) {
            Some(n) => format!("{} is not a misfire policy; did you mean `{n}`?", shown(s)),
            None => format!("{} is not a misfire policy", shown(s)),
        }
    })
}

/// How the schedule keys fit together (a recurrence needs its first occurrence, exdates
/// belong to a recurrence and are at its time of day); each problem is reported at its key.
fn check_schedule(ctx: &mut Ctx, f: &Fields<'_>, m: &MeetingSpec) {
    // Keys whose value was refused are reported already; do not pile errors onto them.
    if m.recurrence.is_some()
        && (m.start.is_some() || !f.has("startDate"))
        && let Err(e) = plan::check_recurrence(m)
    {
        report_plan_error(ctx, f, e, None);
    }
    if m.recurrence.is_none() {
        // One error for the whole list; none when the recurrence itself was refused.
        if let Some(first) = m.exdate.first().filter(|_| !f.has("recurrence")) {
            let e = PlanError::ExdateWithoutRecurrence {
                exdate: first.to_string(),
            };
            report_plan_error(ctx, f, e, None);
        }
        return;
    }
    let Some(Kind::Seq(items)) = f.get("exdate").map(|n| &n.kind) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let Some(d) = item.as_text().and_then(|t| t.parse::<ExDate>().ok()) else {
            continue;
        };
        if let Err(e) = plan::check_exdate(m, &d) {
            report_plan_error(ctx, f, e, Some((i, item)));
        }
    }
}

fn report_plan_error(ctx: &mut Ctx, f: &Fields<'_>, e: PlanError, item: Option<(usize, &Node)>) {
    let key = e.key();
    let hint = match &e {
        PlanError::RecurrenceWithoutStart => {
            "add `startDate: YYYY-MM-DD HH:MM` (the first occurrence)"
        }
        PlanError::StartNotInRule { .. } => {
            "move startDate to a day of the rule, or change the rule"
        }
        PlanError::UntilBeforeStart { .. } => "move UNTIL after startDate",
        PlanError::ExdateWithoutRecurrence { .. } => "add `recurrence:` or remove `exdate:`",
        PlanError::ExdateTime { .. } => EXDATE_HINT,
        PlanError::ExdateNotInSeries { .. } => "pick a day on which the meeting takes place",
        _ => RRULE_HINT,
    };
    let (at, path) = match item {
        Some((i, node)) => (node.at.clone(), format!("{}[{i}]", f.key_path(key))),
        None => (
            f.get(key).map_or_else(|| f.at.clone(), |n| n.at.clone()),
            f.key_path(key),
        ),
    };
    ctx.error_hint(&at, &path, e.to_string(), hint);
}

pub(crate) const TZ_HINT: &str = "use an IANA time zone name, e.g. Europe/Vienna";

/// An IANA time zone name that jiff knows.
pub(crate) fn check_time_zone(s: &str) -> Result<String, String> {
    let t = s.trim();
    jiff::tz::TimeZone::get(t)
        .map(|_| t.to_string())
        .map_err(|_| format!("{} is not a known time zone", shown(t)))
}

fn read_meeting_bbb(ctx: &mut Ctx, f: &Fields<'_>, m: &mut MeetingSpec) {
    m.mute_on_start = f.bool(ctx, "muteOnStart");
    m.record = f.bool(ctx, "record");
    m.allow_start_stop_recording = f.bool(ctx, "allowStartStopRecording");
    m.auto_start_recording = f.bool(ctx, "autoStartRecording");
    m.banner_text = f.text(ctx, "bannerText");
    m.welcome = f.text(ctx, "welcome");
    m.logout_url = f.checked(
        ctx,
        "logoutURL",
        "write a web address, e.g. uni.example/goodbye or https://uni.example/goodbye",
        check_logout_url,
    );
    m.max_participants = f.uint(ctx, "maxParticipants");
    m.guest_policy = f.checked(
        ctx,
        "guestPolicy",
        "use ALWAYS_ACCEPT, ALWAYS_DENY or ASK_MODERATOR",
        parse_guest_policy,
    );
    m.live_streaming = f
        .entry("liveStreaming")
        .filter(|(_, v)| !v.is_null())
        .and_then(|(k, v)| read_live_streaming(ctx, k, v, &f.key_path("liveStreaming")));
    m.title = f.text(ctx, "meetingTitle");
}

/// The seed wrote the logout URL without a scheme and prefixed `https://`.
fn check_logout_url(s: &str) -> Result<String, String> {
    let t = s.trim();
    let full = if t.contains("://") {
        t.to_string()
    } else {
        format!("https://{t}")
    };
    check_http_url(&full).map(|_| t.to_string())
}

fn parse_guest_policy(s: &str) -> Result<GuestPolicy, String> {
    [
        GuestPolicy::AlwaysAccept,
        GuestPolicy::AlwaysDeny,
        GuestPolicy::AskModerator,
    ]
    .into_iter()
    .find(|p| p.as_bbb().eq_ignore_ascii_case(s.trim()))
    .ok_or_else(|| format!("{} is not a guest policy", shown(s)))
}

fn read_live_streaming(
    ctx: &mut Ctx,
    key_node: &Node,
    value: &Node,
    path: &str,
) -> Option<LiveStreaming> {
    let f = Fields::new(ctx, value, path, &key_node.at, LIVE_KEYS)?;
    if !f.has("streamerHost") {
        f.missing(ctx, "streamerHost", "streamer.uni.example");
    }
    if !f.has("targetUrl") {
        f.missing(ctx, "targetUrl", "rtmp://media.uni.example/stream/key");
    }
    let host = f.checked(
        ctx,
        "streamerHost",
        "write a host name without http://, e.g. streamer.uni.example",
        check_host,
    );
    let target = f.checked(
        ctx,
        "targetUrl",
        "write an rtmp:// or rtmps:// URL, e.g. rtmp://media.uni.example/stream/key",
        check_rtmp_url,
    );
    let intro = f.checked(
        ctx,
        "playIntro",
        "write a file path such as /video/intro.mp4",
        check_plain_path,
    );
    Some(LiveStreaming {
        streamer_host: host?,
        target_url: target?,
        play_intro: intro,
    })
}

/// A host name (optionally with port); nothing a shell or ssh could read as an option.
fn check_host(s: &str) -> Result<String, String> {
    let t = s.trim();
    let ok = !t.is_empty()
        && !t.starts_with('-')
        && t.len() <= 253
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    ok.then(|| t.to_string())
        .ok_or_else(|| format!("{} is not a host name", shown(t)))
}

fn check_rtmp_url(s: &str) -> Result<String, String> {
    let t = s.trim();
    let u = url::Url::parse(t).map_err(|e| format!("{} is not a URL: {e}", shown(t)))?;
    if !matches!(u.scheme(), "rtmp" | "rtmps") || u.host_str().is_none() {
        return Err(format!("{} is not an rtmp(s):// URL", shown(t)));
    }
    Ok(t.to_string())
}

fn check_plain_path(s: &str) -> Result<String, String> {
    let t = s.trim();
    let ok = !t.is_empty()
        && !t.starts_with('-')
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_'));
    ok.then(|| t.to_string())
        .ok_or_else(|| format!("{} is not a plain file path", shown(t)))
}

fn read_meeting_mail(ctx: &mut Ctx, f: &Fields<'_>, m: &mut MeetingSpec) {
    m.send_invitation_link = read_recipients(ctx, f, "sendInvitationLink");
    m.send_moderator_link = read_recipients(ctx, f, "sendModeratorLink");
    m.share_with = read_recipients(ctx, f, "shareWith");
    let template = |ctx: &mut Ctx, key| f.checked(ctx, key, TEMPLATE_HINT, check_template_name);
    m.invitation_info_template = template(ctx, "meetingInvitationInfoTemplate");
    m.moderator_info_template = template(ctx, "meetingModeratorInfoTemplate");
    m.owner_info_template = template(ctx, "meetingOwnerInfoTemplate");
    m.owner_reminder_template = template(ctx, "meetingOwnerReminderTemplate");
    m.owner_started_template = template(ctx, "meetingOwnerStartedTemplate");
    m.share_info_template = template(ctx, "meetingShareInfoTemplate");
    m.mail_from = f.parsed(ctx, "mailFrom", EMAIL_HINT);
    m.mail_from_name = f.text(ctx, "mailFromName");
    m.mail_to = f.parsed(ctx, "mailTo", EMAIL_HINT);
    m.mail_to_name = f.text(ctx, "mailToName");
    m.send_emails = f.bool(ctx, "send_emails");
}

const TEMPLATE_HINT: &str = "write a file name from the templates directory, e.g. invitation.j2";

/// A file name inside the templates directory: no directories, no `..` (the seed let
/// `../` names escape it).
fn check_template_name(s: &str) -> Result<String, String> {
    let t = s.trim();
    let ok = !t.is_empty()
        && !t.starts_with('.')
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    ok.then(|| t.to_string())
        .ok_or_else(|| format!("{} is not a plain template file name", shown(t)))
}

/// `shareWith` and friends: `{email: {fullName, send_emails}}`; a plain name or nothing is
/// accepted as well.
fn read_recipients(ctx: &mut Ctx, f: &Fields<'_>, key: &str) -> BTreeMap<Email, Recipient> {
    let mut out = BTreeMap::new();
    let Some(node) = f.get(key) else { return out };
    let path = f.key_path(key);
    read_email_map(ctx, node, &path, |ctx, email, k, v, p| {
        if let Some(r) = read_recipient(ctx, k, v, p) {
            out.insert(email, r);
        }
    });
    out
}

/// Iterates a mapping keyed by e-mail addresses, reporting bad and repeated addresses
/// (`Bob@X.org` and `bob@x.org` are the same person).
fn read_email_map(
    ctx: &mut Ctx,
    node: &Node,
    path: &str,
    mut each: impl FnMut(&mut Ctx, Email, &Node, &Node, &str),
) {
    let Some(items) = read::entries(ctx, node, path, "a mapping of e-mail addresses") else {
        return;
    };
    let mut seen: Vec<Email> = Vec::new();
    for (key, key_node, value) in items {
        let p = join(path, key);
        let Some(email) = key_as_email(ctx, key, key_node, &p) else {
            continue;
        };
        if seen.contains(&email) {
            ctx.error_hint(
                &key_node.at,
                &p,
                format!("{email} is listed twice"),
                "remove one of them (addresses are compared without case)",
            );
            continue;
        }
        seen.push(email.clone());
        each(ctx, email, key_node, value, &p);
    }
}

fn key_as_email(ctx: &mut Ctx, key: &str, key_node: &Node, path: &str) -> Option<Email> {
    match key.parse::<Email>() {
        Ok(e) => Some(e),
        Err(e) => {
            ctx.error_hint(&key_node.at, path, e.to_string(), EMAIL_HINT);
            None
        }
    }
}

fn read_recipient(ctx: &mut Ctx, key_node: &Node, value: &Node, path: &str) -> Option<Recipient> {
    match &value.kind {
        Kind::Null => Some(Recipient::default()),
        Kind::Scalar { text, .. } => Some(Recipient {
            full_name: Some(text.clone()),
            send_emails: None,
        }),
        Kind::Map(_) => {
            let f = Fields::new(ctx, value, path, &key_node.at, RECIPIENT_KEYS)?;
            Some(Recipient {
                full_name: f.text(ctx, "fullName"),
                send_emails: f.bool(ctx, "send_emails"),
            })
        }
        Kind::Seq(_) => {
            ctx.error_hint(
                &value.at,
                path,
                "expected a name or `{fullName: …}`, found a list",
                "write `fullName: Name` below the address",
            );
            None
        }
    }
}

// ---------------------------------------------------------------- commands

/// One command entry; each `data` entry becomes one operation.
fn read_command(
    ctx: &mut Ctx,
    key: &str,
    key_node: &Node,
    value: &Node,
    parent: &str,
) -> Vec<Located> {
    let path = join(parent, key);
    let Some(f) = Fields::new(ctx, value, &path, &key_node.at, COMMAND_KEYS) else {
        return Vec::new();
    };
    let name = f.req_text(ctx, "command", "share_room");
    let server = f.req_parsed::<ServerId>(ctx, "server", "write a server's key, e.g. bbb", "bbb");
    let name = name.and_then(|n| known_command(ctx, &f, n));
    let Some((data_key, data)) = f.entry("data") else {
        f.missing(ctx, "data", "{…}");
        return Vec::new();
    };
    let data_path = f.key_path("data");
    let Some(items) = read::entries(ctx, data, &data_path, "a mapping") else {
        return Vec::new();
    };
    if items.is_empty() {
        ctx.error_hint(
            &data_key.at,
            &data_path,
            "data is empty, so the command would do nothing",
            "add at least one entry below `data:`",
        );
    }
    let Some(name) = name else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut seen_emails: Vec<Email> = Vec::new();
    for (key, key_node, value) in items {
        let e = DataEntry {
            key,
            key_node,
            value,
            path: join(&data_path, key),
        };
        if let Some(op) = command_op(ctx, &name, server.clone(), &e, &mut seen_emails) {
            out.push((key_node.at.clone(), e.path, op));
        }
    }
    out
}

/// One entry below a command's `data:`.
struct DataEntry<'n> {
    key: &'n str,
    key_node: &'n Node,
    value: &'n Node,
    path: String,
}

fn known_command(ctx: &mut Ctx, f: &Fields<'_>, name: String) -> Option<String> {
    let n = name.trim();
    if COMMAND_NAMES.contains(&n) {
        return Some(n.to_string());
    }
    let node = f.get("command")?;
    let hint = match read::suggest(n, COMMAND_NAMES.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("use one of {}", COMMAND_NAMES.join(", ")),
    };
    ctx.error_hint(
        &node.at,
        &f.key_path("command"),
        format!("unknown command {}", shown(n)),
        hint,
    );
    None
}

/// Builds the operation of one `data` entry. The server may be missing (already reported);
/// the entry is still checked.
fn command_op(
    ctx: &mut Ctx,
    name: &str,
    server: Option<ServerId>,
    e: &DataEntry<'_>,
    seen_emails: &mut Vec<Email>,
) -> Option<Operation> {
    let before = ctx.errors.len();
    let op = match name {
        "create_user" => create_user(ctx, server, e, seen_emails),
        "delete_user" => {
            let email = unique_email(ctx, e, seen_emails);
            expect_no_settings(ctx, e, name);
            // The original deleted the user's rooms with the user; seed files keep that meaning.
            Some(Operation::DeleteUser {
                server: server?,
                email: email?,
                rooms: crate::domain::operation::RoomDisposition::Delete,
                with_recordings: false,
            })
        }
        "create_room" => create_room(ctx, server, e),
        "delete_room" => {
            let room = key_as_room(ctx, e.key, e.key_node, &e.path);
            expect_no_settings(ctx, e, name);
            Some(Operation::DeleteRoom {
                server: server?,
                room: room?,
                with_recordings: false,
            })
        }
        "rename_room" => rename_room(ctx, server, e),
        _ => share_room(ctx, name, server, e),
    };
    op.filter(|_| ctx.errors.len() == before)
}

/// E-mail keys of user commands must not repeat within one command.
fn unique_email(ctx: &mut Ctx, e: &DataEntry<'_>, seen: &mut Vec<Email>) -> Option<Email> {
    let email = key_as_email(ctx, e.key, e.key_node, &e.path)?;
    if seen.contains(&email) {
        ctx.error_hint(
            &e.key_node.at,
            &e.path,
            format!("{email} is listed twice"),
            "remove one of them (addresses are compared without case)",
        );
        return None;
    }
    seen.push(email.clone());
    Some(email)
}

fn key_as_room(ctx: &mut Ctx, key: &str, key_node: &Node, path: &str) -> Option<RoomRef> {
    match key.parse::<RoomRef>() {
        Ok(r) => Some(r),
        Err(e) => {
            ctx.error_hint(&key_node.at, path, e.to_string(), ROOM_HINT);
            None
        }
    }
}

/// `delete_room` / `delete_user` entries take no settings: `abc-def-ghi: {}`.
fn expect_no_settings(ctx: &mut Ctx, e: &DataEntry<'_>, command: &str) {
    let value = e.value;
    let empty = match &value.kind {
        Kind::Null => true,
        Kind::Map(m) => m.is_empty(),
        _ => false,
    };
    if !empty {
        ctx.error_hint(
            &value.at,
            &e.path,
            format!("{command} takes no settings, found {}", value.describe()),
            "write the entry as `key: {}`",
        );
    }
}

fn create_user(
    ctx: &mut Ctx,
    server: Option<ServerId>,
    e: &DataEntry<'_>,
    seen: &mut Vec<Email>,
) -> Option<Operation> {
    let email = unique_email(ctx, e, seen);
    let f = Fields::new(ctx, e.value, &e.path, &e.key_node.at, CREATE_USER_KEYS)?;
    let full_name = f.req_text(ctx, "fullName", "Alice Example");
    let password = f.secret(ctx, "pwd").map(Secret::new);
    let role = read_role(ctx, &f);
    let provider = f.text(ctx, "provider");
    Some(Operation::CreateUser(CreateUser {
        server: server?,
        email: email?,
        full_name: full_name?,
        password,
        role: role.unwrap_or_default(),
        provider,
        external_id: None,
    }))
}

/// A Greenlight role name (`user`, `admin` or another role of that Greenlight).
fn read_role(ctx: &mut Ctx, f: &Fields<'_>) -> Option<UserRole> {
    let node = f.get("role")?;
    let path = f.key_path("role");
    if matches!(
        node.kind,
        Kind::Scalar {
            ty: super::tree::ScalarType::Int(_),
            ..
        }
    ) {
        ctx.error_hint(
            &node.at,
            &path,
            "expected a role name, found a number",
            "write the role's name, e.g. `role: user` or `role: admin`",
        );
        return None;
    }
    let name = read::text(ctx, node, &path)?;
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "user" => UserRole::User,
        "admin" => UserRole::Admin,
        _ => UserRole::Named(name.trim().to_string()),
    })
}

fn create_room(ctx: &mut Ctx, server: Option<ServerId>, e: &DataEntry<'_>) -> Option<Operation> {
    let name = e.key.trim().to_string();
    let f = Fields::new(ctx, e.value, &e.path, &e.key_node.at, CREATE_ROOM_KEYS)?;
    let owner = f.req_parsed::<Email>(ctx, "email", EMAIL_HINT, "alice@uni.example");
    let uid = f.parsed::<RoomRef>(ctx, "roomUID", ROOM_HINT);
    let access_code = f.text(ctx, "accessCode");
    Some(Operation::CreateRoom(CreateRoom {
        server: server?,
        name,
        owner: owner?,
        uid,
        access_code,
    }))
}

fn rename_room(ctx: &mut Ctx, server: Option<ServerId>, e: &DataEntry<'_>) -> Option<Operation> {
    let room = key_as_room(ctx, e.key, e.key_node, &e.path);
    let f = Fields::new(ctx, e.value, &e.path, &e.key_node.at, RENAME_ROOM_KEYS)?;
    let new_uid = f.req_parsed::<RoomRef>(ctx, "roomUID", ROOM_HINT, "new-roo-mid");
    Some(Operation::RenameRoom {
        server: server?,
        room: room?,
        new_uid: new_uid?,
    })
}

/// `share_room` / `unshare_room`: `{roomUID: {email: name-or-{}}}`.
fn share_room(
    ctx: &mut Ctx,
    name: &str,
    server: Option<ServerId>,
    e: &DataEntry<'_>,
) -> Option<Operation> {
    let room = key_as_room(ctx, e.key, e.key_node, &e.path);
    let mut with = BTreeMap::new();
    read_email_map(ctx, e.value, &e.path, |ctx, email, k, v, p| {
        if let Some(r) = read_recipient(ctx, k, v, p) {
            with.insert(email, r);
        }
    });
    if with.is_empty() && !matches!(&e.value.kind, Kind::Map(m) if !m.is_empty()) {
        ctx.error_hint(
            &e.key_node.at,
            &e.path,
            format!("{name} lists nobody"),
            "add the addresses below the room, e.g. `bob@uni.example: Bob`",
        );
    }
    let share = ShareRoom {
        server: server?,
        room: room?,
        with,
    };
    Some(if name == "share_room" {
        Operation::ShareRoom(share)
    } else {
        Operation::UnshareRoom(share)
    })
}

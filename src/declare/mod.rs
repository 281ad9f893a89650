//! Declarative files: the original's YAML (servers, meetings, commands) and CSV imports describe
//! what should exist. [`plan`] says what applying them would change, field by field (secrets
//! only as fingerprints); [`apply`] does exactly that; `export` writes the store back as such a
//! file.
//!
//! Rules, fixing the original's reader (seed-behaviour.md §9.2):
//! * a server or meeting applied from a file is *managed* by that file (recorded in the store);
//!   removed from the file, it is deleted on the next apply of that file (a meeting is cancelled,
//!   so the people told are told again);
//! * objects made in chat, over the API or by other files are left alone unless `--prune` names
//!   their kind;
//! * a command entry runs once per key and content: its result is recorded, and it runs again
//!   only when its entry changes;
//! * a meeting cancelled in chat stays cancelled when the file still lists it;
//! * everything is checked before anything is applied (all or nothing).

pub mod csv;
mod diff;
pub mod export;
pub mod watch;

pub use diff::{FieldChange, fingerprint};

use crate::config::{ConfigError, ConfigErrors, SeedFile, SeedSection, SourceRef};
use crate::domain::{
    Actor, MeetingId, MeetingPhase, MeetingSpec, Operation, Outcome, ServerId, ServerSpec,
};
use crate::service::Service;
use crate::store::{AppliedEntry, StoredMeeting};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One file as loaded: the name it was given by, its absolute path (the origin recorded for what
/// it manages) and a digest of its text (a saved plan checks it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadedFile {
    pub name: String,
    pub origin: String,
    pub digest: String,
}

/// A server or meeting as a file declares it.
#[derive(Debug, Clone)]
pub struct Declared<T> {
    pub spec: T,
    pub at: SourceRef,
    pub origin: String,
}

/// A command entry: its key, and one operation per `data` item.
#[derive(Debug, Clone)]
pub struct DeclaredCommand {
    pub key: String,
    pub at: SourceRef,
    pub origin: String,
    pub items: Vec<(String, Operation)>,
    pub digest: String,
}

/// Everything the given files declare.
#[derive(Debug, Clone, Default)]
pub struct Declaration {
    pub files: Vec<LoadedFile>,
    pub servers: Vec<Declared<ServerSpec>>,
    pub meetings: Vec<Declared<MeetingSpec>>,
    pub commands: Vec<DeclaredCommand>,
}

/// Settings for reading files: CSV import defaults.
#[derive(Debug, Clone, Default)]
pub struct LoadSettings {
    pub csv: csv::CsvSettings,
}

/// Reads every file (YAML in the original's format, or CSV by extension); all problems of all
/// files are reported together, and an object declared twice is one of them.
pub fn load(paths: &[PathBuf], settings: &LoadSettings) -> Result<Declaration, ConfigErrors> {
    let mut errors = Vec::new();
    let mut out = Declaration::default();
    for path in paths {
        let name = path.display().to_string();
        let text = match crate::config::read_config_text(path) {
            Ok(t) => t,
            Err(e) => {
                errors.extend(e);
                continue;
            }
        };
        let origin = std::fs::canonicalize(path)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| name.clone());
        let parsed = if is_csv(path) {
            csv::parse(&text, &name, &settings.csv)
        } else {
            crate::config::parse_seed_file(&text, &name)
        };
        match parsed {
            Ok(seed) => add_file(&mut out, seed, &origin),
            Err(e) => errors.extend(e),
        }
        out.files.push(LoadedFile {
            name,
            origin,
            digest: sha256_hex(text.as_bytes()),
        });
    }
    errors.extend(duplicates(&out));
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ConfigErrors(errors))
    }
}

fn is_csv(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

fn add_file(out: &mut Declaration, seed: SeedFile, origin: &str) {
    let mut commands: BTreeMap<String, DeclaredCommand> = BTreeMap::new();
    for entry in seed.entries {
        match (entry.section, entry.operation) {
            (SeedSection::Servers, Operation::AddServer { server }) => out.servers.push(Declared {
                spec: *server,
                at: entry.source,
                origin: origin.to_string(),
            }),
            (SeedSection::Meetings, Operation::ScheduleMeeting { meeting }) => {
                out.meetings.push(Declared {
                    spec: *meeting,
                    at: entry.source,
                    origin: origin.to_string(),
                })
            }
            (SeedSection::Commands, op) => {
                commands
                    .entry(entry.key.clone())
                    .or_insert_with(|| DeclaredCommand {
                        key: entry.key.clone(),
                        at: entry.source.clone(),
                        origin: origin.to_string(),
                        items: Vec::new(),
                        digest: String::new(),
                    })
                    .items
                    .push((entry.path, op));
            }
            _ => {}
        }
    }
    for (_, mut c) in commands {
        let ops: Vec<&Operation> = c.items.iter().map(|(_, op)| op).collect();
        c.digest = sha256_hex(&serde_json::to_vec(&ops).unwrap_or_default());
        out.commands.push(c);
    }
}

/// The same server, meeting or command key in two places.
fn duplicates(d: &Declaration) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut check =
        |kind: &str, id: String, at: &SourceRef, seen: &mut BTreeMap<String, String>| {
            if let Some(first) = seen.get(&id) {
                errors.push(located(
                    at,
                    &format!("{kind}s.{id}"),
                    format!("{kind} '{id}' is also declared at {first}"),
                    "keep one of them",
                ));
            } else {
                seen.insert(id, at.to_string());
            }
        };
    let (mut s, mut m, mut c) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for x in &d.servers {
        check("server", x.spec.id.to_string(), &x.at, &mut s);
    }
    for x in &d.meetings {
        check("meeting", x.spec.id.to_string(), &x.at, &mut m);
    }
    for x in &d.commands {
        check("command", x.key.clone(), &x.at, &mut c);
    }
    errors
}

fn located(at: &SourceRef, path: &str, message: String, hint: &str) -> ConfigError {
    ConfigError {
        file: at.file.clone(),
        line: at.line,
        column: at.column,
        env_var: None,
        path: path.to_string(),
        message,
        hint: Some(hint.to_string()),
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::bbb::checksum::hex(&Sha256::digest(bytes))
}

/// The digest recorded for an applied server or meeting.
fn spec_digest<T: Serialize>(spec: &T) -> String {
    sha256_hex(&serde_json::to_vec(spec).unwrap_or_default())
}

// ---------------------------------------------------------------- the plan

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    Server,
    Meeting,
    Command,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Meeting => "meeting",
            Self::Command => "command",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
    /// A command entry that runs.
    Run,
    Unchanged,
}

impl Action {
    fn sign(self) -> &'static str {
        match self {
            Self::Create => "+",
            Self::Update => "~",
            Self::Delete => "-",
            Self::Run => ">",
            Self::Unchanged => "=",
        }
    }
}

/// One object's fate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub kind: ObjectKind,
    pub id: String,
    pub action: Action,
    /// `file:line:column` of the declaration (none for deletions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Unchanged, but worth a look (a command with failures, a meeting left cancelled).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub attention: bool,
}

/// Which kinds of objects not in the files `--prune` removes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prune {
    pub servers: bool,
    pub meetings: bool,
}

impl std::str::FromStr for Prune {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut p = Prune::default();
        for kind in s.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            match kind {
                "servers" | "server" => p.servers = true,
                "meetings" | "meeting" => p.meetings = true,
                "all" => {
                    p.servers = true;
                    p.meetings = true;
                }
                other => {
                    return Err(format!(
                        "cannot prune {other:?}: use meetings, servers or all"
                    ));
                }
            }
        }
        Ok(p)
    }
}

/// How a plan is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanOptions {
    pub prune: Prune,
    /// Run again the command entries that had failures.
    #[serde(default)]
    pub retry_failed: bool,
}

/// What applying the files would do. Saved with `plan --out`, it is applied only while the files
/// and the store still give the same plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub files: Vec<LoadedFile>,
    pub options: PlanOptions,
    pub changes: Vec<Change>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::Unchanged)
    }

    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    /// The plan as text: one line per change, field lines below updates, a summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in self
            .changes
            .iter()
            .filter(|c| c.action != Action::Unchanged)
        {
            out.push_str(&format!("{} {} {}", c.action.sign(), c.kind.as_str(), c.id));
            if let Some(s) = &c.source {
                out.push_str(&format!("  ({s})"));
            }
            if let Some(n) = &c.note {
                out.push_str(&format!(" — {n}"));
            }
            out.push('\n');
            if c.action == Action::Update {
                for f in &c.fields {
                    out.push_str(&format!("    {}\n", f.render()));
                }
            }
        }
        let kept: Vec<&Change> = self
            .changes
            .iter()
            .filter(|c| c.action == Action::Unchanged && c.attention)
            .collect();
        for c in kept {
            out.push_str(&format!(
                "= {} {} — {}\n",
                c.kind.as_str(),
                c.id,
                c.note.as_deref().unwrap_or_default()
            ));
        }
        out.push_str(&format!(
            "Plan: {} to create, {} to update, {} to delete, {} command(s) to run, {} unchanged.\n",
            self.count(Action::Create),
            self.count(Action::Update),
            self.count(Action::Delete),
            self.count(Action::Run),
            self.count(Action::Unchanged),
        ));
        if !self.has_changes() {
            out.push_str("No changes: the store matches the files.\n");
        }
        out
    }
}

/// The store as far as the plan needs it.
#[derive(Debug, Clone, Default)]
pub struct Current {
    pub servers: Vec<ServerSpec>,
    pub meetings: Vec<StoredMeeting>,
    pub applied: Vec<AppliedEntry>,
    /// Servers declared in bot-config.yml (synced at every start; never pruned).
    pub config_servers: BTreeSet<ServerId>,
    /// `applied` by (kind, key).
    index: std::collections::HashMap<(String, String), usize>,
}

impl Current {
    pub async fn read(
        store: &dyn crate::store::Store,
        config_servers: impl IntoIterator<Item = ServerId>,
    ) -> Result<Current, crate::store::StoreError> {
        let applied = store.applied_entries().await?;
        let index = applied
            .iter()
            .enumerate()
            .map(|(i, a)| ((a.kind.clone(), a.key.clone()), i))
            .collect();
        Ok(Current {
            servers: store.list_servers().await?,
            meetings: store.list_meetings().await?,
            applied,
            config_servers: config_servers.into_iter().collect(),
            index,
        })
    }

    fn applied(&self, kind: ObjectKind, key: &str) -> Option<&AppliedEntry> {
        self.index
            .get(&(kind.as_str().to_string(), key.to_string()))
            .map(|i| &self.applied[*i])
    }
}

/// Compares the files with the store. Errors (a meeting on a server that exists nowhere, a
/// server also in bot-config.yml, a server deleted while a meeting needs it) point into the
/// files; nothing may be applied then.
pub fn plan(d: &Declaration, cur: &Current, options: PlanOptions) -> Result<Plan, ConfigErrors> {
    let prune = options.prune;
    let mut errors = Vec::new();
    let mut changes = Vec::new();
    let origins: BTreeSet<&str> = d.files.iter().map(|f| f.origin.as_str()).collect();

    // Servers.
    let stored: BTreeMap<&ServerId, &ServerSpec> = cur.servers.iter().map(|s| (&s.id, s)).collect();
    let declared_servers: BTreeSet<&ServerId> = d.servers.iter().map(|s| &s.spec.id).collect();
    for s in &d.servers {
        if cur.config_servers.contains(&s.spec.id) {
            errors.push(located(
                &s.at,
                &format!("servers.{}", s.spec.id),
                format!("server '{}' is also defined in bot-config.yml", s.spec.id),
                "keep it in one place (bot-config.yml is synced at every start)",
            ));
            continue;
        }
        changes.push(compare(
            ObjectKind::Server,
            s.spec.id.as_str(),
            &s.at,
            stored.get(&s.spec.id).map(|x| json!(x)),
            json!(s.spec),
        ));
    }

    // Meetings.
    let meetings: BTreeMap<&MeetingId, &StoredMeeting> =
        cur.meetings.iter().map(|m| (&m.spec.id, m)).collect();
    let declared_meetings: BTreeSet<&MeetingId> = d.meetings.iter().map(|m| &m.spec.id).collect();
    for m in &d.meetings {
        if !stored.contains_key(&m.spec.server) && !declared_servers.contains(&m.spec.server) {
            errors.push(located(
                &m.at,
                &format!("meetings.{}.server", m.spec.id),
                format!("server '{}' does not exist", m.spec.server),
                "add it under servers: or to bot-config.yml",
            ));
            continue;
        }
        let before = meetings.get(&m.spec.id);
        let mut change = compare(
            ObjectKind::Meeting,
            m.spec.id.as_str(),
            &m.at,
            before.map(|x| json!(x.spec)),
            json!(m.spec),
        );
        if before.is_some_and(|b| b.phase == MeetingPhase::Cancelled) {
            change.note =
                Some("cancelled in chat, over the API or by the CLI; it stays cancelled".into());
            change.attention = true;
        }
        changes.push(change);
    }

    // Commands.
    for c in &d.commands {
        let server_ok = c.items.iter().all(|(_, op)| match op_server(op) {
            Some(s) => stored.contains_key(s) || declared_servers.contains(s),
            None => true,
        });
        if !server_ok {
            errors.push(located(
                &c.at,
                &format!("commands.{}.server", c.key),
                "the command's server does not exist".into(),
                "add it under servers: or to bot-config.yml",
            ));
            continue;
        }
        let had_failures = |a: &AppliedEntry| {
            a.result
                .as_ref()
                .and_then(|r| r["failed"].as_array())
                .is_some_and(|f| !f.is_empty())
        };
        let (action, note) = match cur.applied(ObjectKind::Command, &c.key) {
            Some(a) if a.digest == c.digest && options.retry_failed && had_failures(a) => (
                Action::Run,
                Some(format!(
                    "had failures when it ran {}; trying again",
                    a.applied_at.strftime("%Y-%m-%d %H:%M UTC")
                )),
            ),
            Some(a) if a.digest == c.digest => (
                Action::Unchanged,
                Some(format!(
                    "ran {}{}",
                    a.applied_at.strftime("%Y-%m-%d %H:%M UTC"),
                    result_note(a.result.as_ref())
                )),
            ),
            Some(a) => (
                Action::Run,
                Some(format!(
                    "changed since it ran {}",
                    a.applied_at.strftime("%Y-%m-%d %H:%M UTC")
                )),
            ),
            None => (Action::Run, Some(format!("{} item(s)", c.items.len()))),
        };
        let attention = action == Action::Unchanged
            && cur
                .applied(ObjectKind::Command, &c.key)
                .is_some_and(had_failures);
        changes.push(Change {
            kind: ObjectKind::Command,
            id: c.key.clone(),
            action,
            source: Some(c.at.to_string()),
            fields: Vec::new(),
            note,
            attention,
        });
    }

    // Deletions: what these files managed and no longer declare, and with --prune the rest.
    let managed_here = |kind: ObjectKind, key: &str| {
        cur.applied(kind, key)
            .is_some_and(|a| origins.contains(a.source.as_str()))
    };
    let mut deleted_servers = BTreeSet::new();
    for s in &cur.servers {
        if declared_servers.contains(&s.id) || cur.config_servers.contains(&s.id) {
            continue;
        }
        let here = managed_here(ObjectKind::Server, s.id.as_str());
        if here || prune.servers {
            deleted_servers.insert(s.id.clone());
            changes.push(deletion(ObjectKind::Server, s.id.as_str(), here));
        }
    }
    for m in &cur.meetings {
        if declared_meetings.contains(&m.spec.id)
            || matches!(m.phase, MeetingPhase::Cancelled | MeetingPhase::Ended)
        {
            continue;
        }
        let here = managed_here(ObjectKind::Meeting, m.spec.id.as_str());
        if here || prune.meetings {
            changes.push(deletion(ObjectKind::Meeting, m.spec.id.as_str(), here));
        } else if deleted_servers.contains(&m.spec.server) {
            errors.push(ConfigError {
                file: d.files.first().map(|f| f.name.clone()).unwrap_or_default(),
                line: 0,
                column: 0,
                env_var: None,
                path: format!("servers.{}", m.spec.server),
                message: format!(
                    "server '{}' would be deleted, but meeting '{}' (not in these files) uses it",
                    m.spec.server, m.spec.id
                ),
                hint: Some("keep the server in the file, or add --prune meetings".into()),
            });
        }
    }
    for m in &d.meetings {
        if deleted_servers.contains(&m.spec.server) {
            errors.push(located(
                &m.at,
                &format!("meetings.{}.server", m.spec.id),
                format!("server '{}' would be deleted", m.spec.server),
                "keep the server, or move the meeting to another one",
            ));
        }
    }

    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    changes.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
    Ok(Plan {
        files: d.files.clone(),
        options,
        changes,
    })
}

fn deletion(kind: ObjectKind, id: &str, managed: bool) -> Change {
    Change {
        kind,
        id: id.to_string(),
        action: Action::Delete,
        source: None,
        fields: Vec::new(),
        note: Some(if managed {
            "no longer in its file".into()
        } else {
            "not in the files (--prune)".into()
        }),
        attention: false,
    }
}

fn compare(
    kind: ObjectKind,
    id: &str,
    at: &SourceRef,
    before: Option<Value>,
    after: Value,
) -> Change {
    let (action, fields) = match &before {
        None => (Action::Create, diff::fields(None, &after)),
        Some(b) if *b == after => (Action::Unchanged, Vec::new()),
        Some(b) => (Action::Update, diff::fields(Some(b), &after)),
    };
    Change {
        kind,
        id: id.to_string(),
        action,
        source: Some(at.to_string()),
        fields,
        note: None,
        attention: false,
    }
}

fn op_server(op: &Operation) -> Option<&ServerId> {
    match op {
        Operation::CreateUser(u) => Some(&u.server),
        Operation::DeleteUser { server, .. }
        | Operation::DeleteRoom { server, .. }
        | Operation::RenameRoom { server, .. } => Some(server),
        Operation::CreateRoom(r) => Some(&r.server),
        Operation::ShareRoom(s) | Operation::UnshareRoom(s) => Some(&s.server),
        _ => None,
    }
}

fn result_note(result: Option<&Value>) -> String {
    let Some(r) = result else {
        return String::new();
    };
    let ok = r["ok"].as_u64().unwrap_or(0);
    let failed = r["failed"].as_array().map_or(0, Vec::len);
    if failed == 0 {
        format!(": {ok} item(s) done")
    } else {
        format!(": {ok} done, {failed} failed — `apply --retry-failed` runs it again")
    }
}

// ---------------------------------------------------------------- apply

/// New meetings are scheduled in batches of this many, with a progress report after each.
const PROGRESS_STEP: usize = 500;

/// What one applied change came to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Applied {
    pub kind: ObjectKind,
    pub id: String,
    pub action: Action,
    pub ok: bool,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ApplyReport {
    pub applied: Vec<Applied>,
}

impl ApplyReport {
    pub fn ok(&self) -> bool {
        self.applied.iter().all(|a| a.ok)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for a in &self.applied {
            out.push_str(&format!(
                "{} {} {} {}: {}\n",
                if a.ok { "✓" } else { "✗" },
                a.action.sign(),
                a.kind.as_str(),
                a.id,
                a.message
            ));
        }
        let failed = self.applied.iter().filter(|a| !a.ok).count();
        out.push_str(&format!(
            "Applied {} change(s){}.\n",
            self.applied.len() - failed,
            if failed > 0 {
                format!(", {failed} failed")
            } else {
                String::new()
            }
        ));
        out
    }
}

/// Executes `plan` (made from `d` against the store as it is): servers first, then meetings,
/// commands, deletions of meetings, deletions of servers. Every declared object is recorded as
/// managed by its file, so the next plan of the same files is empty.
pub async fn apply(
    service: &Service,
    actor: &Actor,
    d: &Declaration,
    plan: &Plan,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ApplyReport, crate::store::StoreError> {
    let store = service.store();
    let mut report = ApplyReport::default();
    let actions: std::collections::HashMap<(ObjectKind, &str), Action> = plan
        .changes
        .iter()
        .map(|c| ((c.kind, c.id.as_str()), c.action))
        .collect();
    let action_of = |kind: ObjectKind, id: &str| actions.get(&(kind, id)).copied();
    let now = service.now();
    let record = |kind: ObjectKind, key: &str, origin: &str, digest: String, result| AppliedEntry {
        kind: kind.as_str().into(),
        key: key.into(),
        source: origin.into(),
        digest,
        result,
        applied_at: now,
    };

    let mut records = Vec::new();
    for s in &d.servers {
        let op = match action_of(ObjectKind::Server, s.spec.id.as_str()) {
            Some(Action::Create) => Some(Operation::AddServer {
                server: Box::new(s.spec.clone()),
            }),
            Some(Action::Update) => Some(Operation::UpdateServer {
                server: Box::new(s.spec.clone()),
            }),
            _ => None,
        };
        if let Some(op) = op
            && !run(
                service,
                actor,
                &mut report,
                ObjectKind::Server,
                s.spec.id.as_str(),
                op,
            )
            .await
        {
            continue;
        }
        records.push(record(
            ObjectKind::Server,
            s.spec.id.as_str(),
            &s.origin,
            spec_digest(&s.spec),
            None,
        ));
    }
    store.record_applied(&std::mem::take(&mut records)).await?;

    let creates: Vec<&Declared<MeetingSpec>> = d
        .meetings
        .iter()
        .filter(|m| action_of(ObjectKind::Meeting, m.spec.id.as_str()) == Some(Action::Create))
        .collect();
    let mut failed_creates = BTreeSet::new();
    for (n, chunk) in creates.chunks(PROGRESS_STEP).enumerate() {
        let specs: Vec<MeetingSpec> = chunk.iter().map(|m| m.spec.clone()).collect();
        let results = service.schedule_meetings(actor, specs).await;
        progress(n * PROGRESS_STEP + chunk.len(), creates.len());
        for (m, result) in chunk.iter().zip(results) {
            let ok = result.is_ok();
            if !ok {
                failed_creates.insert(m.spec.id.as_str());
            }
            report.applied.push(Applied {
                kind: ObjectKind::Meeting,
                id: m.spec.id.to_string(),
                action: Action::Create,
                ok,
                message: match result {
                    Ok(()) => "scheduled".into(),
                    Err(e) => e.to_string(),
                },
            });
        }
    }
    for m in &d.meetings {
        let id = m.spec.id.as_str();
        match action_of(ObjectKind::Meeting, id) {
            Some(Action::Update) => {
                let op = Operation::UpdateMeeting {
                    meeting: Box::new(m.spec.clone()),
                };
                if !run(service, actor, &mut report, ObjectKind::Meeting, id, op).await {
                    continue;
                }
            }
            Some(Action::Create) if failed_creates.contains(id) => continue,
            _ => {}
        }
        records.push(record(
            ObjectKind::Meeting,
            id,
            &m.origin,
            spec_digest(&m.spec),
            None,
        ));
    }
    store.record_applied(&std::mem::take(&mut records)).await?;

    for c in &d.commands {
        if action_of(ObjectKind::Command, &c.key) != Some(Action::Run) {
            continue;
        }
        let mut ok = 0u64;
        let mut failed = Vec::new();
        for (item, op) in &c.items {
            match service.execute(actor, op.clone()).await {
                Ok(Outcome::Items { results, .. }) => {
                    for r in results {
                        if r.ok {
                            ok += 1;
                        } else {
                            failed.push(json!({ "item": format!("{item}: {}", r.item), "error": r.message }));
                        }
                    }
                }
                Ok(_) => ok += 1,
                Err(e) => failed.push(json!({ "item": item, "error": e.to_string() })),
            }
        }
        let message = if failed.is_empty() {
            format!("{ok} item(s) done")
        } else {
            let first = &failed[0];
            format!(
                "{ok} done, {} failed (first: {}: {})",
                failed.len(),
                first["item"].as_str().unwrap_or_default(),
                first["error"].as_str().unwrap_or_default()
            )
        };
        report.applied.push(Applied {
            kind: ObjectKind::Command,
            id: c.key.clone(),
            action: Action::Run,
            ok: failed.is_empty(),
            message,
        });
        let result = json!({ "ok": ok, "failed": failed });
        store
            .record_applied(&[record(
                ObjectKind::Command,
                &c.key,
                &c.origin,
                c.digest.clone(),
                Some(result),
            )])
            .await?;
    }

    for kind in [ObjectKind::Meeting, ObjectKind::Server] {
        for c in plan
            .changes
            .iter()
            .filter(|c| c.kind == kind && c.action == Action::Delete)
        {
            let op = match kind {
                ObjectKind::Meeting => Operation::CancelMeeting {
                    id: c.id.parse().map_err(|e| corrupt(&c.id, e))?,
                },
                _ => Operation::RemoveServer {
                    id: c.id.parse().map_err(|e| corrupt(&c.id, e))?,
                },
            };
            if run(service, actor, &mut report, kind, &c.id, op).await {
                store.forget_applied(kind.as_str(), &c.id).await?;
            }
        }
    }
    Ok(report)
}

fn corrupt(id: &str, e: impl std::fmt::Display) -> crate::store::StoreError {
    crate::store::StoreError::Corrupt {
        what: format!("id '{id}'"),
        reason: e.to_string(),
    }
}

/// Executes one operation and reports it; true when it succeeded.
async fn run(
    service: &Service,
    actor: &Actor,
    report: &mut ApplyReport,
    kind: ObjectKind,
    id: &str,
    op: Operation,
) -> bool {
    let action = match &op {
        Operation::AddServer { .. } => Action::Create,
        Operation::UpdateServer { .. } | Operation::UpdateMeeting { .. } => Action::Update,
        _ => Action::Delete,
    };
    let (ok, message) = match service.execute(actor, op).await {
        Ok(Outcome::Done { message }) => (true, message),
        Ok(_) => (
            true,
            match action {
                Action::Create => "added".into(),
                _ => "updated".into(),
            },
        ),
        Err(e) => (false, e.to_string()),
    };
    report.applied.push(Applied {
        kind,
        id: id.to_string(),
        action,
        ok,
        message,
    });
    ok
}

/// Reads the files, plans against the store and, unless `dry_run`, applies. A saved plan
/// (`expected`) is applied only if the fresh plan is the same.
pub async fn plan_and_apply(
    service: &Service,
    actor: &Actor,
    config_servers: impl IntoIterator<Item = ServerId>,
    d: &Declaration,
    options: PlanOptions,
    expected: Option<&Plan>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<(Plan, ApplyReport), PlanError> {
    let current = Current::read(service.store().as_ref(), config_servers)
        .await
        .map_err(|e| PlanError::Store(e.to_string()))?;
    let plan = plan(d, &current, options).map_err(PlanError::Files)?;
    if let Some(saved) = expected
        && saved != &plan
    {
        return Err(PlanError::Stale);
    }
    let report = apply(service, actor, d, &plan, progress)
        .await
        .map_err(|e| PlanError::Store(e.to_string()))?;
    Ok((plan, report))
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Files(ConfigErrors),
    #[error("the store: {0}")]
    Store(String),
    #[error(
        "the files or the store changed since the plan was saved; run `schedulight plan` again"
    )]
    Stale,
}

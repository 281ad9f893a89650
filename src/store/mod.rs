//! Our own state: servers, meetings (definition + state), step history, jobs, mail outbox, audit
//! log, API tokens. One trait, two backends (SQLite default, PostgreSQL for shared deployments),
//! and an in-memory fake for fast unit tests.

pub mod backup;
pub mod memory;
pub mod sql;

use crate::domain::operation::MailFilter;
use crate::domain::{
    Channel, MeetingId, MeetingPhase, MeetingSpec, NoticeKind, Scope, ServerId, ServerSpec,
    StepRecord,
};
use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use memory::MemoryStore;
pub use sql::SqlStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} '{id}' already exists")]
    Conflict { what: &'static str, id: String },
    #[error("cannot open the store at {location}: {reason}")]
    Open { location: String, reason: String },
    #[error("store migration failed: {0}")]
    Migration(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("stored data is unreadable ({what}): {reason}")]
    Corrupt { what: String, reason: String },
}

/// A meeting as stored: its definition and where the scheduler is with it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMeeting {
    pub spec: MeetingSpec,
    pub phase: MeetingPhase,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Work for the scheduler. `unique_key` makes enqueueing idempotent.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: String,
    pub meeting_id: Option<MeetingId>,
    pub due_at: Timestamp,
    pub payload: serde_json::Value,
    pub unique_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Pending,
    Running,
    Done,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub meeting_id: Option<MeetingId>,
    pub due_at: Timestamp,
    pub payload: serde_json::Value,
    pub unique_key: String,
    pub state: JobState,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// A typed request in the outbox: tell `recipient` about `kind` of `meeting`/`occurrence` over
/// `channel`. It holds no rendered text and no credentials (the sender renders at send time).
/// `unique_key` makes enqueueing idempotent and gives a stable Message-ID.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRequest {
    pub unique_key: String,
    pub channel: Channel,
    pub kind: NoticeKind,
    pub meeting_id: Option<MeetingId>,
    /// The occurrence key (`2026-12-03T14:00`), or None for series-wide requests.
    pub occurrence: Option<String>,
    /// An e-mail address (mail) or a Matrix room (chat).
    pub recipient: String,
    /// Kind-specific details the sender needs (a recipient's name, a record id, minutes
    /// before the start); never secrets.
    pub data: serde_json::Value,
    pub not_before: Timestamp,
}

impl OutboxRequest {
    /// The request's unique key: one `kind` per meeting, occurrence (or series) and recipient.
    pub fn key_for(
        kind: NoticeKind,
        meeting: Option<&MeetingId>,
        occurrence: Option<&str>,
        recipient: &str,
    ) -> String {
        format!(
            "{}/{}/{}/{}",
            meeting.map(MeetingId::as_str).unwrap_or("-"),
            occurrence.unwrap_or("series"),
            kind.as_str(),
            recipient.to_lowercase()
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    Pending,
    Sending,
    Sent,
    Failed,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub id: i64,
    pub request: OutboxRequest,
    pub state: OutboxState,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// What the far side answered on delivery (SMTP reply, Matrix event id).
    pub reply: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

/// Which outbox entries to list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutboxFilter {
    pub state: MailFilter,
    pub channel: Option<Channel>,
    pub meeting: Option<MeetingId>,
}

/// The result of enqueueing: the entry's id and whether this call added it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub id: i64,
    pub new: bool,
}

/// Cut-off times of [`Store::purge_old`]: records older than these go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PurgeCutoffs {
    pub step_history: Option<Timestamp>,
    pub sent_messages: Option<Timestamp>,
    pub audit: Option<Timestamp>,
}

/// Which audit entries: a time window (`since` inclusive, `until` exclusive), an actor
/// (`matrix:@ada:uni.example`, `api:deploy`, `cli:root`, `file:…`) and an object (a meeting, server
/// or room id), each optional; at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuditQuery {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub actor: Option<String>,
    pub target: Option<String>,
    pub limit: u32,
}

impl AuditQuery {
    pub fn matches(&self, e: &AuditEntry) -> bool {
        self.since.is_none_or(|s| e.at >= s)
            && self.until.is_none_or(|u| e.at < u)
            && self.actor.as_ref().is_none_or(|a| &e.actor == a)
            && self
                .target
                .as_ref()
                .is_none_or(|t| e.target.as_ref() == Some(t))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: Timestamp,
    pub actor: String,
    pub operation: String,
    /// What it acted on, e.g. a meeting or server id.
    pub target: Option<String>,
    /// `ok` or the error kind.
    pub result: String,
    /// A short, secret-free description.
    pub detail: Option<String>,
}

/// A chat command waiting for its requester's confirmation (`confirm N`, or ✅ on the prompt).
#[derive(Debug, Clone, PartialEq)]
pub struct ChatPending {
    pub id: i64,
    /// The Matrix user who asked; only they may confirm.
    pub user: String,
    pub operation: crate::domain::Operation,
    pub expires_at: Timestamp,
    /// The bot's prompt message, once posted.
    pub prompt_event: Option<String>,
}

/// The stored outcome of a multi-item command (the original only logged these).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandResultRecord {
    /// Assigned by the store; ignored when saving.
    pub id: i64,
    pub at: Timestamp,
    pub actor: String,
    pub operation: String,
    pub target: Option<String>,
    pub results: Vec<crate::domain::outcome::ItemResult>,
}

/// A new meeting with everything scheduling it writes: its first step record, its planned jobs
/// and its audit entry (a file with thousands of meetings is stored in one transaction).
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedMeeting {
    pub spec: MeetingSpec,
    pub step: StepRecord,
    pub jobs: Vec<NewJob>,
    pub audit: AuditEntry,
}

/// What `apply` last applied from a declarative file: a server or meeting the file manages, or a
/// command entry already run (with its result).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedEntry {
    /// `server`, `meeting` or `command`.
    pub kind: String,
    /// The server or meeting id, or the command's key in its file.
    pub key: String,
    /// The file (absolute path) that applied it.
    pub source: String,
    /// sha256 of what was applied (secrets only ever hashed).
    pub digest: String,
    /// Commands: a summary of the outcome.
    pub result: Option<serde_json::Value>,
    pub applied_at: Timestamp,
}

/// Jobs by state (`pending` …) and outbox entries by channel and state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreCounts {
    pub jobs: Vec<(String, i64)>,
    pub outbox: Vec<(String, String, i64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    /// Only a hash of the token is stored (sha256 hex).
    pub token_hash: String,
    pub scopes: Vec<Scope>,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked: bool,
}

#[async_trait]
pub trait Store: Send + Sync {
    // --- servers
    /// Insert or replace; returns true when it was new.
    async fn upsert_server(&self, server: &ServerSpec, now: Timestamp) -> Result<bool, StoreError>;
    async fn get_server(&self, id: &ServerId) -> Result<Option<ServerSpec>, StoreError>;
    /// Ordered by id.
    async fn list_servers(&self) -> Result<Vec<ServerSpec>, StoreError>;
    async fn delete_server(&self, id: &ServerId) -> Result<bool, StoreError>;

    // --- meetings
    /// `Conflict` when the id exists.
    async fn insert_meeting(
        &self,
        spec: &MeetingSpec,
        phase: MeetingPhase,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Replace the definition; false when there is no such meeting.
    async fn update_meeting_spec(
        &self,
        spec: &MeetingSpec,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    async fn get_meeting(&self, id: &MeetingId) -> Result<Option<StoredMeeting>, StoreError>;
    /// Ordered by id.
    async fn list_meetings(&self) -> Result<Vec<StoredMeeting>, StoreError>;
    async fn set_meeting_phase(
        &self,
        id: &MeetingId,
        phase: MeetingPhase,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Deletes the meeting with its steps and pending jobs.
    async fn delete_meeting(&self, id: &MeetingId) -> Result<bool, StoreError>;
    /// Inserts new meetings (phase `new`) with their step record, jobs and audit entry, all or
    /// nothing; per meeting, whether it was inserted (false: the id exists, or came earlier in
    /// the batch — nothing of it is written).
    async fn insert_meetings_planned(
        &self,
        batch: &[PlannedMeeting],
        now: Timestamp,
    ) -> Result<Vec<bool>, StoreError>;

    // --- step history
    /// Append unless the latest record of that step has the same code (seed semantics);
    /// returns whether it was appended.
    async fn record_step(
        &self,
        meeting: &MeetingId,
        record: &StepRecord,
    ) -> Result<bool, StoreError>;
    /// Whole history, oldest first.
    async fn step_history(&self, meeting: &MeetingId) -> Result<Vec<StepRecord>, StoreError>;
    /// Latest record per step, ordered by step name.
    async fn latest_steps(&self, meeting: &MeetingId) -> Result<Vec<StepRecord>, StoreError>;
    /// Forget one step or all; returns how many records went.
    async fn clear_steps(&self, meeting: &MeetingId, step: Option<&str>)
    -> Result<u64, StoreError>;

    // --- jobs
    /// Idempotent on `unique_key`: an existing job's id is returned and nothing changes.
    async fn enqueue_job(&self, job: &NewJob) -> Result<i64, StoreError>;
    /// Pending jobs due at `now`, oldest first, marked running with a lease until `lease_until`;
    /// running jobs whose lease expired are claimable again (crash recovery).
    async fn claim_due_jobs(
        &self,
        now: Timestamp,
        worker: &str,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError>;
    async fn complete_job(&self, id: i64, now: Timestamp) -> Result<(), StoreError>;
    /// Record a failure: back to pending at `retry_at`, or failed for good when None.
    async fn fail_job(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError>;
    /// Cancel pending jobs of a meeting; returns how many.
    async fn cancel_jobs(&self, meeting: &MeetingId) -> Result<u64, StoreError>;
    async fn list_jobs(&self, meeting: Option<&MeetingId>) -> Result<Vec<Job>, StoreError>;
    /// Earliest due time of a pending job.
    async fn next_job_due(&self) -> Result<Option<Timestamp>, StoreError>;
    /// How many jobs and outbox entries are in each state (for /metrics).
    async fn counts(&self) -> Result<StoreCounts, StoreError>;

    // --- outbox (mail and chat requests)
    /// Idempotent on `unique_key`: a second call returns the first entry with `new: false`.
    async fn enqueue_outbox(
        &self,
        request: &OutboxRequest,
        now: Timestamp,
    ) -> Result<Enqueued, StoreError>;
    /// Ordered by id.
    async fn list_outbox(&self, filter: &OutboxFilter) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Pending requests of `channel` whose `not_before` has come, and requests left sending
    /// by a worker whose lease has passed (it died before recording the result), marked
    /// sending with a lease until `lease_until`.
    async fn claim_outbox(
        &self,
        channel: Channel,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError>;
    async fn mark_outbox_sent(
        &self,
        id: i64,
        now: Timestamp,
        reply: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Back to pending at `retry_at`, or failed for good when None.
    async fn mark_outbox_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError>;
    async fn delete_outbox(&self, id: i64) -> Result<bool, StoreError>;

    // --- audit
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Newest first.
    async fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
    /// Entries matching `query`, newest first.
    async fn query_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError>;
    /// Deletes entries older than `before` (personal data kept no longer than needed); returns
    /// how many.
    async fn purge_audit(&self, before: Timestamp) -> Result<u64, StoreError>;

    // --- retention
    /// Removes (or, when `dry_run`, counts) step history older than `cut.step_history` except
    /// each step's latest entry (the meeting's status), sent mail and chat messages older than
    /// `cut.sent_messages`, audit entries older than `cut.audit`. A `None` cut-off purges
    /// nothing of that kind.
    async fn purge_old(
        &self,
        cut: &PurgeCutoffs,
        dry_run: bool,
    ) -> Result<crate::domain::retention::Purged, StoreError>;
    /// When each recording of `server` was announced for deletion (record id → time).
    async fn retention_warnings(
        &self,
        server: &ServerId,
    ) -> Result<BTreeMap<String, Timestamp>, StoreError>;
    /// Remember the warning (the first one counts); false when one was already recorded.
    async fn mark_retention_warned(
        &self,
        server: &ServerId,
        record_id: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Forget the warnings of recordings that are gone.
    async fn forget_retention_warnings(
        &self,
        server: &ServerId,
        record_ids: &[String],
    ) -> Result<u64, StoreError>;

    // --- command results
    /// Store the per-item results of a command; returns its id.
    async fn save_command_result(&self, record: &CommandResultRecord) -> Result<i64, StoreError>;
    async fn command_result(&self, id: i64) -> Result<Option<CommandResultRecord>, StoreError>;
    /// Newest first.
    async fn list_command_results(
        &self,
        limit: u32,
    ) -> Result<Vec<CommandResultRecord>, StoreError>;

    // --- several daemons: leases and handled chat events
    /// Take or renew the lease `name` for `holder` until `until`; true when `holder` holds it
    /// now (it was free, ran out before `now`, or was already its own).
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// The lease's holder and end, if anybody ever held it.
    async fn lease(&self, name: &str) -> Result<Option<(String, Timestamp)>, StoreError>;
    /// Give the lease up (only its holder can).
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
    /// True for the first caller with this event id: that one handles the event.
    async fn claim_event(&self, event_id: &str, at: Timestamp) -> Result<bool, StoreError>;
    /// Forget claims made before `before` (they only guard a takeover's short window).
    async fn forget_events_before(&self, before: Timestamp) -> Result<u64, StoreError>;

    // --- declarative files
    /// Insert or replace the entries of their (kind, key), in one transaction.
    async fn record_applied(&self, entries: &[AppliedEntry]) -> Result<(), StoreError>;
    /// Ordered by kind, then key.
    async fn applied_entries(&self) -> Result<Vec<AppliedEntry>, StoreError>;
    async fn forget_applied(&self, kind: &str, key: &str) -> Result<bool, StoreError>;

    // --- chat: users' time zones and confirmations, kept across restarts
    /// The zone a user chose with `timezone`.
    async fn chat_zone(&self, user: &str) -> Result<Option<String>, StoreError>;
    async fn set_chat_zone(&self, user: &str, zone: &str, now: Timestamp)
    -> Result<(), StoreError>;
    /// Hold `op` for `user` until `expires_at` (dropping expired holds first); returns its id.
    async fn hold_chat_pending(
        &self,
        user: &str,
        op: &crate::domain::Operation,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<i64, StoreError>;
    async fn chat_pending(&self, id: i64) -> Result<Option<ChatPending>, StoreError>;
    /// Remove a hold; true only for the caller that removed it, so it runs once.
    async fn delete_chat_pending(&self, id: i64) -> Result<bool, StoreError>;
    /// Remember the event of the prompt that asks for this hold.
    async fn set_chat_prompt(&self, id: i64, event_id: &str) -> Result<(), StoreError>;
    async fn chat_pending_by_prompt(&self, event_id: &str) -> Result<Option<i64>, StoreError>;

    // --- API tokens
    async fn create_token(
        &self,
        name: &str,
        token_hash: &str,
        scopes: &[Scope],
        now: Timestamp,
    ) -> Result<i64, StoreError>;
    /// A non-revoked token by hash; updates `last_used_at`.
    async fn use_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<ApiToken>, StoreError>;
    async fn list_tokens(&self) -> Result<Vec<ApiToken>, StoreError>;
    async fn revoke_token(&self, name: &str) -> Result<bool, StoreError>;
}

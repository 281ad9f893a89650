//! Row shapes as the schema stores them (portable types only) and their conversion to the
//! store's types. Times are unix microseconds; JSON is text.

use crate::domain::{
    Channel, MeetingId, MeetingPhase, MeetingSpec, NoticeKind, Scope, ServerSpec, StepRecord,
};
use crate::store::{
    ApiToken, AppliedEntry, AuditEntry, Job, JobState, OutboxEntry, OutboxRequest, OutboxState,
    StoreError, StoredMeeting,
};
use jiff::Timestamp;

/// The stored form of a time.
pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub(crate) fn time(what: &str, us: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(us).map_err(|e| corrupt(what, e))
}

fn opt_time(what: &str, us: Option<i64>) -> Result<Option<Timestamp>, StoreError> {
    us.map(|us| time(what, us)).transpose()
}

fn corrupt(what: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

fn count<T: TryFrom<i64>>(what: &str, n: i64) -> Result<T, StoreError> {
    T::try_from(n).map_err(|_| corrupt(what, format!("{n} is out of range")))
}

pub(crate) fn job_state_str(s: JobState) -> &'static str {
    match s {
        JobState::Pending => "pending",
        JobState::Running => "running",
        JobState::Done => "done",
        JobState::Failed => "failed",
        JobState::Cancelled => "cancelled",
    }
}

fn job_state(s: &str) -> Option<JobState> {
    [
        JobState::Pending,
        JobState::Running,
        JobState::Done,
        JobState::Failed,
        JobState::Cancelled,
    ]
    .into_iter()
    .find(|st| job_state_str(*st) == s)
}

pub(crate) fn outbox_state_str(s: OutboxState) -> &'static str {
    s.as_str()
}

fn outbox_state(s: &str) -> Option<OutboxState> {
    [
        OutboxState::Pending,
        OutboxState::Sending,
        OutboxState::Sent,
        OutboxState::Failed,
    ]
    .into_iter()
    .find(|st| outbox_state_str(*st) == s)
}

pub(crate) fn to_json<T: serde::Serialize>(what: &str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| corrupt(what, e))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

#[derive(sqlx::FromRow)]
pub(crate) struct ServerRow {
    pub id: String,
    pub spec: String,
}

impl ServerRow {
    pub fn into_spec(self) -> Result<ServerSpec, StoreError> {
        let spec: ServerSpec = from_json(&format!("server {}", self.id), &self.spec)?;
        Ok(spec)
    }
}

/// Parses an id column that the store itself wrote.
pub(crate) fn meeting_id(s: &str) -> Result<MeetingId, StoreError> {
    s.parse().map_err(|e| corrupt("meeting id", e))
}

#[derive(sqlx::FromRow)]
pub(crate) struct MeetingRow {
    pub id: String,
    pub spec: String,
    pub phase: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl MeetingRow {
    pub fn into_meeting(self) -> Result<StoredMeeting, StoreError> {
        let what = format!("meeting {}", self.id);
        Ok(StoredMeeting {
            spec: from_json::<MeetingSpec>(&what, &self.spec)?,
            phase: MeetingPhase::parse(&self.phase)
                .ok_or_else(|| corrupt(&what, format!("unknown phase {:?}", self.phase)))?,
            created_at: time(&what, self.created_at)?,
            updated_at: time(&what, self.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct StepRow {
    pub step: String,
    pub code: i64,
    pub message: String,
    pub at: i64,
}

impl StepRow {
    pub fn into_record(self) -> Result<StepRecord, StoreError> {
        let what = format!("step {}", self.step);
        Ok(StepRecord {
            code: count(&what, self.code)?,
            at: time(&what, self.at)?,
            step: self.step,
            message: self.message,
        })
    }
}

/// The columns every job query returns (a macro so queries stay `&'static str` via `concat!`).
macro_rules! job_columns {
    () => {
        "id, kind, meeting_id, due_at, payload, unique_key, state, attempts, last_error"
    };
}
pub(crate) use job_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    pub id: i64,
    pub kind: String,
    pub meeting_id: Option<String>,
    pub due_at: i64,
    pub payload: String,
    pub unique_key: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

impl JobRow {
    pub fn into_job(self) -> Result<Job, StoreError> {
        let what = format!("job {}", self.id);
        Ok(Job {
            id: self.id,
            kind: self.kind,
            meeting_id: self.meeting_id.as_deref().map(meeting_id).transpose()?,
            due_at: time(&what, self.due_at)?,
            payload: from_json(&what, &self.payload)?,
            unique_key: self.unique_key,
            state: job_state(&self.state)
                .ok_or_else(|| corrupt(&what, format!("unknown state {:?}", self.state)))?,
            attempts: count(&what, self.attempts)?,
            last_error: self.last_error,
        })
    }
}

macro_rules! outbox_columns {
    () => {
        "id, unique_key, channel, kind, meeting_id, occurrence, recipient, data, not_before, \
         state, attempts, last_error, reply, created_at, sent_at"
    };
}
pub(crate) use outbox_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct OutboxRow {
    pub id: i64,
    pub unique_key: String,
    pub channel: String,
    pub kind: String,
    pub meeting_id: Option<String>,
    pub occurrence: Option<String>,
    pub recipient: String,
    pub data: String,
    pub not_before: i64,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub reply: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

impl OutboxRow {
    pub fn into_entry(self) -> Result<OutboxEntry, StoreError> {
        let what = format!("outbox entry {}", self.id);
        Ok(OutboxEntry {
            id: self.id,
            request: OutboxRequest {
                unique_key: self.unique_key,
                channel: Channel::parse(&self.channel)
                    .ok_or_else(|| corrupt(&what, format!("unknown channel {:?}", self.channel)))?,
                kind: NoticeKind::parse(&self.kind)
                    .ok_or_else(|| corrupt(&what, format!("unknown kind {:?}", self.kind)))?,
                meeting_id: self.meeting_id.as_deref().map(meeting_id).transpose()?,
                occurrence: self.occurrence,
                recipient: self.recipient,
                data: serde_json::from_str(&self.data).map_err(|e| corrupt(&what, e))?,
                not_before: time(&what, self.not_before)?,
            },
            state: outbox_state(&self.state)
                .ok_or_else(|| corrupt(&what, format!("unknown state {:?}", self.state)))?,
            attempts: count(&what, self.attempts)?,
            last_error: self.last_error,
            reply: self.reply,
            created_at: time(&what, self.created_at)?,
            sent_at: opt_time(&what, self.sent_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub operation: String,
    pub target: Option<String>,
    pub result: String,
    pub detail: Option<String>,
}

impl AuditRow {
    pub fn into_entry(self) -> Result<AuditEntry, StoreError> {
        Ok(AuditEntry {
            at: time(&format!("audit entry {}", self.id), self.at)?,
            actor: self.actor,
            operation: self.operation,
            target: self.target,
            result: self.result,
            detail: self.detail,
        })
    }
}

macro_rules! token_columns {
    () => {
        "id, name, token_hash, scopes, created_at, last_used_at, revoked"
    };
}
pub(crate) use token_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow {
    pub id: i64,
    pub name: String,
    pub token_hash: String,
    pub scopes: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked: bool,
}

impl TokenRow {
    pub fn into_token(self) -> Result<ApiToken, StoreError> {
        let what = format!("token {}", self.name);
        Ok(ApiToken {
            id: self.id,
            scopes: from_json::<Vec<Scope>>(&what, &self.scopes)?,
            created_at: time(&what, self.created_at)?,
            last_used_at: opt_time(&what, self.last_used_at)?,
            revoked: self.revoked,
            name: self.name,
            token_hash: self.token_hash,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CommandResultRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub operation: String,
    pub target: Option<String>,
    pub results: String,
}

impl CommandResultRow {
    pub fn into_record(self) -> Result<crate::store::CommandResultRecord, StoreError> {
        let what = format!("command result {}", self.id);
        Ok(crate::store::CommandResultRecord {
            id: self.id,
            at: time(&what, self.at)?,
            actor: self.actor,
            operation: self.operation,
            target: self.target,
            results: from_json(&what, &self.results)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ChatPendingRow {
    pub id: i64,
    pub user_id: String,
    pub operation: String,
    pub expires_at: i64,
    pub prompt_event: Option<String>,
}

impl ChatPendingRow {
    pub fn into_pending(self) -> Result<crate::store::ChatPending, StoreError> {
        let what = format!("chat confirmation {}", self.id);
        Ok(crate::store::ChatPending {
            id: self.id,
            user: self.user_id,
            operation: from_json(&what, &self.operation)?,
            expires_at: time(&what, self.expires_at)?,
            prompt_event: self.prompt_event,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AppliedRow {
    kind: String,
    key: String,
    source: String,
    digest: String,
    result: Option<String>,
    applied_at: i64,
}

impl AppliedRow {
    pub fn into_entry(self) -> Result<AppliedEntry, StoreError> {
        let what = format!("applied {} '{}'", self.kind, self.key);
        let result = self
            .result
            .map(|r| serde_json::from_str(&r).map_err(|e| corrupt(&what, e)))
            .transpose()?;
        Ok(AppliedEntry {
            applied_at: time(&what, self.applied_at)?,
            kind: self.kind,
            key: self.key,
            source: self.source,
            digest: self.digest,
            result,
        })
    }
}

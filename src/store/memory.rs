//! In-memory [`Store`] for fast unit tests elsewhere. It follows the SQL store's semantics
//! exactly (see the list in [`crate::store::sql`]): the same ordering, the same id sequences
//! (from 1, never reused), the same microsecond precision for times, the same final states and
//! the same errors. The shared behaviour suite in `tests/store_suite.rs` runs against both.

use crate::domain::operation::MailFilter;
use crate::domain::retention::Purged;
use crate::domain::{
    Channel, MeetingId, MeetingPhase, MeetingSpec, Scope, ServerId, ServerSpec, StepRecord,
};
use crate::store::{
    ApiToken, AppliedEntry, AuditEntry, AuditQuery, ChatPending, CommandResultRecord, Enqueued,
    Job, JobState, NewJob, OutboxEntry, OutboxFilter, OutboxRequest, OutboxState, PlannedMeeting,
    PurgeCutoffs, Store, StoreError, StoredMeeting,
};
use async_trait::async_trait;
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

/// Times keep microseconds only, like the SQL columns.
fn us(t: Timestamp) -> Timestamp {
    Timestamp::from_microsecond(t.as_microsecond()).unwrap_or(t)
}

fn missing_meeting(id: &MeetingId) -> StoreError {
    StoreError::Database(format!("meeting '{id}' does not exist"))
}

struct StoredJob {
    job: Job,
    lease_until: Option<Timestamp>,
}

#[derive(Default)]
struct State {
    servers: BTreeMap<ServerId, ServerSpec>,
    meetings: BTreeMap<MeetingId, StoredMeeting>,
    /// Step records in insertion order: (sequence number, meeting, record).
    steps: Vec<(u64, MeetingId, StepRecord)>,
    jobs: BTreeMap<i64, StoredJob>,
    outbox: BTreeMap<i64, OutboxEntry>,
    /// Lease ends of outbox entries in state sending.
    outbox_leases: BTreeMap<i64, Timestamp>,
    audit: Vec<AuditEntry>,
    command_results: BTreeMap<i64, CommandResultRecord>,
    chat_zones: BTreeMap<String, String>,
    applied: BTreeMap<(String, String), AppliedEntry>,
    leases: BTreeMap<String, (String, Timestamp)>,
    handled: BTreeMap<String, Timestamp>,
    chat_pending: BTreeMap<i64, ChatPending>,
    last_pending: i64,
    tokens: BTreeMap<i64, ApiToken>,
    retention_warned: BTreeMap<(ServerId, String), Timestamp>,
    last_step: u64,
    last_job: i64,
    last_outbox: i64,
    last_token: i64,
}

/// The in-memory store. Cheap to create; share it behind an `Arc`.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind, still consistent enough for
        // a test double; keep going rather than poisoning every later call.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

fn claimable(j: &StoredJob, now: Timestamp) -> bool {
    match j.job.state {
        JobState::Pending => j.job.due_at <= now,
        JobState::Running => j.lease_until.is_some_and(|l| l <= now),
        _ => false,
    }
}

fn job_is_open(j: &StoredJob) -> bool {
    matches!(j.job.state, JobState::Pending | JobState::Running)
}

fn outbox_is_open(m: &OutboxEntry) -> bool {
    matches!(m.state, OutboxState::Pending | OutboxState::Sending)
}

fn sorted_jobs<'a>(jobs: impl Iterator<Item = &'a StoredJob>) -> Vec<Job> {
    let mut out: Vec<Job> = jobs.map(|j| j.job.clone()).collect();
    out.sort_by_key(|j| (j.due_at, j.id));
    out
}

#[async_trait]
impl Store for MemoryStore {
    // --- servers

    async fn upsert_server(
        &self,
        server: &ServerSpec,
        _now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut st = self.lock();
        Ok(st
            .servers
            .insert(server.id.clone(), server.clone())
            .is_none())
    }

    async fn get_server(&self, id: &ServerId) -> Result<Option<ServerSpec>, StoreError> {
        Ok(self.lock().servers.get(id).cloned())
    }

    async fn list_servers(&self) -> Result<Vec<ServerSpec>, StoreError> {
        Ok(self.lock().servers.values().cloned().collect())
    }

    async fn delete_server(&self, id: &ServerId) -> Result<bool, StoreError> {
        Ok(self.lock().servers.remove(id).is_some())
    }

    // --- meetings

    async fn insert_meeting(
        &self,
        spec: &MeetingSpec,
        phase: MeetingPhase,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut st = self.lock();
        if st.meetings.contains_key(&spec.id) {
            return Err(StoreError::Conflict {
                what: "meeting",
                id: spec.id.to_string(),
            });
        }
        let now = us(now);
        st.meetings.insert(
            spec.id.clone(),
            StoredMeeting {
                spec: spec.clone(),
                phase,
                created_at: now,
                updated_at: now,
            },
        );
        Ok(())
    }

    async fn update_meeting_spec(
        &self,
        spec: &MeetingSpec,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut st = self.lock();
        let Some(m) = st.meetings.get_mut(&spec.id) else {
            return Ok(false);
        };
        m.spec = spec.clone();
        m.updated_at = us(now);
        Ok(true)
    }

    async fn get_meeting(&self, id: &MeetingId) -> Result<Option<StoredMeeting>, StoreError> {
        Ok(self.lock().meetings.get(id).cloned())
    }

    async fn list_meetings(&self) -> Result<Vec<StoredMeeting>, StoreError> {
        Ok(self.lock().meetings.values().cloned().collect())
    }

    async fn set_meeting_phase(
        &self,
        id: &MeetingId,
        phase: MeetingPhase,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut st = self.lock();
        let Some(m) = st.meetings.get_mut(id) else {
            return Ok(false);
        };
        m.phase = phase;
        m.updated_at = us(now);
        Ok(true)
    }

    async fn delete_meeting(&self, id: &MeetingId) -> Result<bool, StoreError> {
        let mut st = self.lock();
        if st.meetings.remove(id).is_none() {
            return Ok(false);
        }
        st.steps.retain(|(_, m, _)| m != id);
        st.jobs.retain(|_, j| j.job.meeting_id.as_ref() != Some(id));
        Ok(true)
    }

    // --- step history

    async fn record_step(
        &self,
        meeting: &MeetingId,
        record: &StepRecord,
    ) -> Result<bool, StoreError> {
        let mut st = self.lock();
        if !st.meetings.contains_key(meeting) {
            return Err(missing_meeting(meeting));
        }
        let latest = st
            .steps
            .iter()
            .rev()
            .find(|(_, m, r)| m == meeting && r.step == record.step);
        if latest.is_some_and(|(_, _, r)| r.code == record.code) {
            return Ok(false);
        }
        st.last_step += 1;
        let seq = st.last_step;
        let mut record = record.clone();
        record.at = us(record.at);
        st.steps.push((seq, meeting.clone(), record));
        Ok(true)
    }

    async fn step_history(&self, meeting: &MeetingId) -> Result<Vec<StepRecord>, StoreError> {
        Ok(self
            .lock()
            .steps
            .iter()
            .filter(|(_, m, _)| m == meeting)
            .map(|(_, _, r)| r.clone())
            .collect())
    }

    async fn latest_steps(&self, meeting: &MeetingId) -> Result<Vec<StepRecord>, StoreError> {
        let st = self.lock();
        let mut latest: BTreeMap<&str, &StepRecord> = BTreeMap::new();
        for (_, m, r) in &st.steps {
            if m == meeting {
                latest.insert(r.step.as_str(), r);
            }
        }
        Ok(latest.into_values().cloned().collect())
    }

    async fn clear_steps(
        &self,
        meeting: &MeetingId,
        step: Option<&str>,
    ) -> Result<u64, StoreError> {
        let mut st = self.lock();
        let before = st.steps.len();
        st.steps
            .retain(|(_, m, r)| !(m == meeting && step.is_none_or(|s| r.step == s)));
        Ok((before - st.steps.len()) as u64)
    }

    // --- jobs

    async fn enqueue_job(&self, job: &NewJob) -> Result<i64, StoreError> {
        let mut st = self.lock();
        if let Some(existing) = st
            .jobs
            .values()
            .find(|j| j.job.unique_key == job.unique_key)
        {
            return Ok(existing.job.id);
        }
        if let Some(m) = &job.meeting_id
            && !st.meetings.contains_key(m)
        {
            return Err(missing_meeting(m));
        }
        st.last_job += 1;
        let id = st.last_job;
        st.jobs.insert(
            id,
            StoredJob {
                job: Job {
                    id,
                    kind: job.kind.clone(),
                    meeting_id: job.meeting_id.clone(),
                    due_at: us(job.due_at),
                    payload: job.payload.clone(),
                    unique_key: job.unique_key.clone(),
                    state: JobState::Pending,
                    attempts: 0,
                    last_error: None,
                },
                lease_until: None,
            },
        );
        Ok(id)
    }

    async fn claim_due_jobs(
        &self,
        now: Timestamp,
        _worker: &str,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        let mut st = self.lock();
        let (now, lease_until) = (us(now), us(lease_until));
        let mut due: Vec<(Timestamp, i64)> = st
            .jobs
            .values()
            .filter(|j| claimable(j, now))
            .map(|j| (j.job.due_at, j.job.id))
            .collect();
        due.sort();
        due.truncate(limit as usize);
        let mut claimed = Vec::with_capacity(due.len());
        for (_, id) in due {
            if let Some(j) = st.jobs.get_mut(&id) {
                j.job.state = JobState::Running;
                j.job.attempts = j.job.attempts.saturating_add(1);
                j.lease_until = Some(lease_until);
                claimed.push(j.job.clone());
            }
        }
        Ok(claimed)
    }

    async fn complete_job(&self, id: i64, _now: Timestamp) -> Result<(), StoreError> {
        let mut st = self.lock();
        if let Some(j) = st.jobs.get_mut(&id).filter(|j| job_is_open(j)) {
            j.job.state = JobState::Done;
            j.lease_until = None;
        }
        Ok(())
    }

    async fn fail_job(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let mut st = self.lock();
        if let Some(j) = st.jobs.get_mut(&id).filter(|j| job_is_open(j)) {
            j.job.last_error = Some(error.to_string());
            j.lease_until = None;
            match retry_at {
                Some(at) => {
                    j.job.state = JobState::Pending;
                    j.job.due_at = us(at);
                }
                None => j.job.state = JobState::Failed,
            }
        }
        Ok(())
    }

    async fn cancel_jobs(&self, meeting: &MeetingId) -> Result<u64, StoreError> {
        let mut st = self.lock();
        let mut n = 0;
        for j in st.jobs.values_mut() {
            if j.job.meeting_id.as_ref() == Some(meeting) && j.job.state == JobState::Pending {
                j.job.state = JobState::Cancelled;
                n += 1;
            }
        }
        Ok(n)
    }

    async fn list_jobs(&self, meeting: Option<&MeetingId>) -> Result<Vec<Job>, StoreError> {
        let st = self.lock();
        Ok(sorted_jobs(st.jobs.values().filter(|j| {
            meeting.is_none_or(|m| j.job.meeting_id.as_ref() == Some(m))
        })))
    }

    async fn next_job_due(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(self
            .lock()
            .jobs
            .values()
            .filter(|j| j.job.state == JobState::Pending)
            .map(|j| j.job.due_at)
            .min())
    }

    async fn counts(&self) -> Result<super::StoreCounts, StoreError> {
        let st = self.lock();
        let mut jobs = std::collections::BTreeMap::<String, i64>::new();
        for j in st.jobs.values() {
            *jobs
                .entry(super::sql::job_state_name(j.job.state).to_string())
                .or_default() += 1;
        }
        let mut outbox = std::collections::BTreeMap::<(String, String), i64>::new();
        for m in st.outbox.values() {
            *outbox
                .entry((
                    m.request.channel.as_str().to_string(),
                    m.state.as_str().to_string(),
                ))
                .or_default() += 1;
        }
        Ok(super::StoreCounts {
            jobs: jobs.into_iter().collect(),
            outbox: outbox.into_iter().map(|((c, s), n)| (c, s, n)).collect(),
        })
    }

    // --- outbox

    async fn enqueue_outbox(
        &self,
        request: &OutboxRequest,
        now: Timestamp,
    ) -> Result<Enqueued, StoreError> {
        let mut st = self.lock();
        if let Some(existing) = st
            .outbox
            .values()
            .find(|m| m.request.unique_key == request.unique_key)
        {
            return Ok(Enqueued {
                id: existing.id,
                new: false,
            });
        }
        st.last_outbox += 1;
        let id = st.last_outbox;
        let mut request = request.clone();
        request.not_before = us(request.not_before);
        st.outbox.insert(
            id,
            OutboxEntry {
                id,
                request,
                state: OutboxState::Pending,
                attempts: 0,
                last_error: None,
                reply: None,
                created_at: us(now),
                sent_at: None,
            },
        );
        Ok(Enqueued { id, new: true })
    }

    async fn list_outbox(&self, filter: &OutboxFilter) -> Result<Vec<OutboxEntry>, StoreError> {
        let wanted = |m: &OutboxEntry| {
            let state = match filter.state {
                MailFilter::Pending => outbox_is_open(m),
                MailFilter::Sent => m.state == OutboxState::Sent,
                MailFilter::Failed => m.state == OutboxState::Failed,
                MailFilter::All => true,
            };
            state
                && filter.channel.is_none_or(|c| m.request.channel == c)
                && filter
                    .meeting
                    .as_ref()
                    .is_none_or(|id| m.request.meeting_id.as_ref() == Some(id))
        };
        Ok(self
            .lock()
            .outbox
            .values()
            .filter(|m| wanted(m))
            .cloned()
            .collect())
    }

    async fn claim_outbox(
        &self,
        channel: Channel,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut st = self.lock();
        let now = us(now);
        let leases = &st.outbox_leases;
        let mut due: Vec<(Timestamp, i64)> = st
            .outbox
            .values()
            .filter(|m| {
                m.request.channel == channel
                    && match m.state {
                        OutboxState::Pending => m.request.not_before <= now,
                        OutboxState::Sending => leases.get(&m.id).is_some_and(|l| *l <= now),
                        _ => false,
                    }
            })
            .map(|m| (m.request.not_before, m.id))
            .collect();
        due.sort();
        due.truncate(limit as usize);
        let mut claimed = Vec::with_capacity(due.len());
        for (_, id) in due {
            st.outbox_leases.insert(id, us(lease_until));
            if let Some(m) = st.outbox.get_mut(&id) {
                m.state = OutboxState::Sending;
                m.attempts = m.attempts.saturating_add(1);
                claimed.push(m.clone());
            }
        }
        Ok(claimed)
    }

    async fn mark_outbox_sent(
        &self,
        id: i64,
        now: Timestamp,
        reply: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut st = self.lock();
        if let Some(m) = st.outbox.get_mut(&id).filter(|m| outbox_is_open(m)) {
            m.state = OutboxState::Sent;
            m.sent_at = Some(us(now));
            m.reply = reply.map(str::to_string);
        }
        Ok(())
    }

    async fn mark_outbox_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let mut st = self.lock();
        if let Some(m) = st.outbox.get_mut(&id).filter(|m| outbox_is_open(m)) {
            m.last_error = Some(error.to_string());
            match retry_at {
                Some(at) => {
                    m.state = OutboxState::Pending;
                    m.request.not_before = us(at);
                }
                None => m.state = OutboxState::Failed,
            }
        }
        Ok(())
    }

    async fn delete_outbox(&self, id: i64) -> Result<bool, StoreError> {
        Ok(self.lock().outbox.remove(&id).is_some())
    }

    // --- audit

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let mut entry = entry.clone();
        entry.at = us(entry.at);
        self.lock().audit.push(entry);
        Ok(())
    }

    async fn query_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let all = self.audit_entries(u32::MAX).await?;
        Ok(all
            .into_iter()
            .filter(|e| query.matches(e))
            .take(query.limit as usize)
            .collect())
    }

    async fn purge_audit(&self, before: Timestamp) -> Result<u64, StoreError> {
        let mut st = self.lock();
        let n = st.audit.len();
        st.audit.retain(|e| e.at >= before);
        Ok((n - st.audit.len()) as u64)
    }

    async fn purge_old(&self, cut: &PurgeCutoffs, dry_run: bool) -> Result<Purged, StoreError> {
        let mut st = self.lock();
        let latest: std::collections::BTreeSet<u64> = {
            let mut last: BTreeMap<(&MeetingId, &str), u64> = BTreeMap::new();
            for (seq, m, r) in &st.steps {
                last.insert((m, r.step.as_str()), *seq);
            }
            last.into_values().collect()
        };
        let old_step = |seq: &u64, r: &StepRecord| {
            cut.step_history.is_some_and(|c| r.at < c) && !latest.contains(seq)
        };
        let old_message = |e: &OutboxEntry| {
            e.state == OutboxState::Sent
                && cut
                    .sent_messages
                    .is_some_and(|c| e.sent_at.unwrap_or(e.created_at) < c)
        };
        let old_audit = |e: &AuditEntry| cut.audit.is_some_and(|c| e.at < c);
        let purged = Purged {
            step_history: st.steps.iter().filter(|(s, _, r)| old_step(s, r)).count() as u64,
            sent_messages: st.outbox.values().filter(|e| old_message(e)).count() as u64,
            audit_entries: st.audit.iter().filter(|e| old_audit(e)).count() as u64,
        };
        if !dry_run {
            let steps = std::mem::take(&mut st.steps);
            st.steps = steps
                .into_iter()
                .filter(|(s, _, r)| !old_step(s, r))
                .collect();
            st.outbox.retain(|_, e| !old_message(e));
            st.audit.retain(|e| !old_audit(e));
        }
        Ok(purged)
    }

    async fn retention_warnings(
        &self,
        server: &ServerId,
    ) -> Result<BTreeMap<String, Timestamp>, StoreError> {
        Ok(self
            .lock()
            .retention_warned
            .iter()
            .filter(|((s, _), _)| s == server)
            .map(|((_, r), at)| (r.clone(), *at))
            .collect())
    }

    async fn mark_retention_warned(
        &self,
        server: &ServerId,
        record_id: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut st = self.lock();
        let key = (server.clone(), record_id.to_string());
        if st.retention_warned.contains_key(&key) {
            return Ok(false);
        }
        st.retention_warned.insert(key, at);
        Ok(true)
    }

    async fn forget_retention_warnings(
        &self,
        server: &ServerId,
        record_ids: &[String],
    ) -> Result<u64, StoreError> {
        let mut st = self.lock();
        let mut n = 0;
        for r in record_ids {
            if st
                .retention_warned
                .remove(&(server.clone(), r.clone()))
                .is_some()
            {
                n += 1;
            }
        }
        Ok(n)
    }

    async fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let st = self.lock();
        // Newest first by time, then by insertion (the SQL store's `at DESC, id DESC`).
        let mut indexed: Vec<(usize, &AuditEntry)> = st.audit.iter().enumerate().collect();
        indexed.sort_by(|(ia, a), (ib, b)| b.at.cmp(&a.at).then(ib.cmp(ia)));
        Ok(indexed
            .into_iter()
            .take(limit as usize)
            .map(|(_, e)| e.clone())
            .collect())
    }

    // --- command results

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let free = match state.leases.get(name) {
            None => true,
            Some((h, u)) => h == holder || *u < now,
        };
        if free {
            state
                .leases
                .insert(name.to_string(), (holder.to_string(), until));
        }
        Ok(free)
    }

    async fn lease(&self, name: &str) -> Result<Option<(String, Timestamp)>, StoreError> {
        Ok(self.lock().leases.get(name).cloned())
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.leases.get(name).is_some_and(|(h, _)| h == holder) {
            state.leases.remove(name);
        }
        Ok(())
    }

    async fn claim_event(&self, event_id: &str, at: Timestamp) -> Result<bool, StoreError> {
        let mut state = self.lock();
        if state.handled.contains_key(event_id) {
            return Ok(false);
        }
        state.handled.insert(event_id.to_string(), at);
        Ok(true)
    }

    async fn forget_events_before(&self, before: Timestamp) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let n = state.handled.len();
        state.handled.retain(|_, at| *at >= before);
        Ok((n - state.handled.len()) as u64)
    }

    async fn record_applied(&self, entries: &[AppliedEntry]) -> Result<(), StoreError> {
        let mut state = self.lock();
        for e in entries {
            state
                .applied
                .insert((e.kind.clone(), e.key.clone()), e.clone());
        }
        Ok(())
    }

    async fn insert_meetings_planned(
        &self,
        batch: &[PlannedMeeting],
        now: Timestamp,
    ) -> Result<Vec<bool>, StoreError> {
        let mut out = Vec::with_capacity(batch.len());
        for m in batch {
            match self.insert_meeting(&m.spec, MeetingPhase::New, now).await {
                Ok(()) => {}
                Err(StoreError::Conflict { .. }) => {
                    out.push(false);
                    continue;
                }
                Err(e) => return Err(e),
            }
            self.record_step(&m.spec.id, &m.step).await?;
            for job in &m.jobs {
                self.enqueue_job(job).await?;
            }
            self.append_audit(&m.audit).await?;
            out.push(true);
        }
        Ok(out)
    }

    async fn applied_entries(&self) -> Result<Vec<AppliedEntry>, StoreError> {
        Ok(self.lock().applied.values().cloned().collect())
    }

    async fn forget_applied(&self, kind: &str, key: &str) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .applied
            .remove(&(kind.to_string(), key.to_string()))
            .is_some())
    }

    async fn chat_zone(&self, user: &str) -> Result<Option<String>, StoreError> {
        Ok(self.lock().chat_zones.get(user).cloned())
    }

    async fn set_chat_zone(
        &self,
        user: &str,
        zone: &str,
        _now: Timestamp,
    ) -> Result<(), StoreError> {
        self.lock()
            .chat_zones
            .insert(user.to_string(), zone.to_string());
        Ok(())
    }

    async fn hold_chat_pending(
        &self,
        user: &str,
        op: &crate::domain::Operation,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        let mut st = self.lock();
        st.chat_pending.retain(|_, p| p.expires_at > now);
        st.last_pending += 1;
        let id = st.last_pending;
        st.chat_pending.insert(
            id,
            ChatPending {
                id,
                user: user.to_string(),
                operation: op.clone(),
                expires_at: us(expires_at),
                prompt_event: None,
            },
        );
        Ok(id)
    }

    async fn chat_pending(&self, id: i64) -> Result<Option<ChatPending>, StoreError> {
        Ok(self.lock().chat_pending.get(&id).cloned())
    }

    async fn delete_chat_pending(&self, id: i64) -> Result<bool, StoreError> {
        Ok(self.lock().chat_pending.remove(&id).is_some())
    }

    async fn set_chat_prompt(&self, id: i64, event_id: &str) -> Result<(), StoreError> {
        if let Some(p) = self.lock().chat_pending.get_mut(&id) {
            p.prompt_event = Some(event_id.to_string());
        }
        Ok(())
    }

    async fn chat_pending_by_prompt(&self, event_id: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .lock()
            .chat_pending
            .values()
            .find(|p| p.prompt_event.as_deref() == Some(event_id))
            .map(|p| p.id))
    }

    async fn save_command_result(&self, record: &CommandResultRecord) -> Result<i64, StoreError> {
        let mut st = self.lock();
        let id = st.command_results.keys().next_back().copied().unwrap_or(0) + 1;
        let mut record = record.clone();
        record.id = id;
        record.at = us(record.at);
        st.command_results.insert(id, record);
        Ok(id)
    }

    async fn command_result(&self, id: i64) -> Result<Option<CommandResultRecord>, StoreError> {
        Ok(self.lock().command_results.get(&id).cloned())
    }

    async fn list_command_results(
        &self,
        limit: u32,
    ) -> Result<Vec<CommandResultRecord>, StoreError> {
        Ok(self
            .lock()
            .command_results
            .values()
            .rev()
            .take(limit as usize)
            .cloned()
            .collect())
    }

    // --- API tokens

    async fn create_token(
        &self,
        name: &str,
        token_hash: &str,
        scopes: &[Scope],
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        let mut st = self.lock();
        let clash = st
            .tokens
            .values()
            .any(|t| (t.name == name && !t.revoked) || t.token_hash == token_hash);
        if clash {
            return Err(StoreError::Conflict {
                what: "token",
                id: name.to_string(),
            });
        }
        st.last_token += 1;
        let id = st.last_token;
        st.tokens.insert(
            id,
            ApiToken {
                id,
                name: name.to_string(),
                token_hash: token_hash.to_string(),
                scopes: scopes.to_vec(),
                created_at: us(now),
                last_used_at: None,
                revoked: false,
            },
        );
        Ok(id)
    }

    async fn use_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<ApiToken>, StoreError> {
        let mut st = self.lock();
        let token = st
            .tokens
            .values_mut()
            .find(|t| t.token_hash == token_hash && !t.revoked);
        Ok(token.map(|t| {
            t.last_used_at = Some(us(now));
            t.clone()
        }))
    }

    async fn list_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        Ok(self.lock().tokens.values().cloned().collect())
    }

    async fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let mut st = self.lock();
        let mut any = false;
        for t in st.tokens.values_mut() {
            if t.name == name && !t.revoked {
                t.revoked = true;
                any = true;
            }
        }
        Ok(any)
    }
}

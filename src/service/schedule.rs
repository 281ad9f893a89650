//! Turning scheduled meetings into jobs, and running one job. The scheduler loop
//! (`crate::scheduler::engine`) only decides *when*; every effect happens here, through the same
//! code the front ends use, and every effect is idempotent (BBB create by meetingID, step
//! records deduplicated by code) because a job may run again after a crash.

use super::{Service, bbb_error, internal};
use crate::bbb::BbbError;
use crate::domain::{MeetingId, MeetingPhase, NoticeKind, OpError};
use crate::scheduler::plan::{self, Decision, Misfire, Occurrence, StepKind};
use crate::store::{Job, NewJob, StoredMeeting};
use jiff::{SignedDuration, Timestamp};

/// A timed step of one occurrence.
pub const STEP_JOB: &str = "meeting_step";
/// Polling an open meeting for its first participant (BBB sends no join callback).
pub const POLL_JOB: &str = "meeting_poll";
/// The occurrence of a meeting without a startDate: it starts as soon as it is scheduled, as
/// the original did.
pub const IMMEDIATE: &str = "immediate";
/// How often an open meeting is asked whether somebody joined.
pub const POLL_EVERY: SignedDuration = SignedDuration::from_secs(15);

/// The steps that open and close an occurrence; the last of them ends it.
fn is_timed(kind: StepKind) -> bool {
    matches!(
        kind,
        StepKind::PreOpen | StepKind::Start | StepKind::EndAfter
    )
}

/// Why a job did not complete; transient ones are retried with back-off.
#[derive(Debug, Clone, PartialEq)]
pub struct JobError {
    pub transient: bool,
    pub message: String,
}

impl JobError {
    /// Store trouble is worth a retry; anything else the operation refused is not.
    pub(super) fn from_op(e: OpError) -> Self {
        Self {
            transient: matches!(e, OpError::Internal { .. }),
            message: e.to_string(),
        }
    }
}

impl Service {
    /// Plan a meeting's current or next occurrence into jobs, replacing its pending ones.
    /// Plan a stored meeting's future steps afresh (after an import wrote it directly).
    pub async fn replan_meeting(&self, id: &MeetingId) -> Result<usize, OpError> {
        self.replan(id).await
    }

    pub(super) async fn replan(&self, id: &MeetingId) -> Result<usize, OpError> {
        self.store.cancel_jobs(id).await.map_err(internal)?;
        let m = self.meeting(id).await?;
        if matches!(m.phase, MeetingPhase::Disabled | MeetingPhase::Cancelled) {
            return Ok(0);
        }
        let now = self.clock.now();
        // Keep an occurrence that is running now: its end may still be ahead.
        let window = self.running_window(&m.spec);
        self.plan_from(&m, now - window).await
    }

    /// Enqueue the timed steps of the first occurrence starting at or after `after`.
    async fn plan_from(&self, m: &StoredMeeting, after: Timestamp) -> Result<usize, OpError> {
        let jobs = self.planned_jobs(m, after)?;
        for job in &jobs {
            self.store.enqueue_job(job).await.map_err(internal)?;
        }
        if !jobs.is_empty() {
            self.wake.notify_one();
        }
        Ok(jobs.len())
    }

    /// The jobs of the first occurrence starting at or after `after` (for a meeting without a
    /// startDate: one start, now, unless `after` is past now, which means it ran).
    pub(super) fn planned_jobs(
        &self,
        m: &StoredMeeting,
        after: Timestamp,
    ) -> Result<Vec<NewJob>, OpError> {
        let revision = m.updated_at.as_microsecond();
        if m.spec.start.is_none() {
            let now = self.clock.now();
            if after > now {
                return Ok(Vec::new());
            }
            return Ok(vec![NewJob {
                kind: STEP_JOB.into(),
                meeting_id: Some(m.spec.id.clone()),
                due_at: now,
                payload: serde_json::json!({ "occurrence": IMMEDIATE, "step": StepKind::Start }),
                unique_key: format!("{}/{IMMEDIATE}/start/{revision}", m.spec.id),
            }]);
        }
        let zone = self.zone_of(&m.spec)?;
        let next = plan::occurrences(&m.spec, &zone, after, 1)
            .map_err(|e| OpError::Invalid(e.to_string()))?;
        let Some(occ) = next.into_iter().next() else {
            return Ok(Vec::new());
        };
        let defaults = self.settings.plan_defaults;
        Ok(plan::timeline(&m.spec, &defaults, &occ, self.clock.now())
            .into_iter()
            .map(|step| NewJob {
                kind: STEP_JOB.into(),
                meeting_id: Some(m.spec.id.clone()),
                due_at: step.due,
                payload: serde_json::json!({ "occurrence": occ.key, "step": step.kind }),
                unique_key: format!(
                    "{}/{}/{}/{revision}",
                    m.spec.id,
                    step.key(&occ),
                    step.kind.as_str()
                ),
            })
            .collect())
    }

    /// Run one claimed job at `now`.
    pub async fn run_job(&self, job: &Job, now: Timestamp) -> Result<(), JobError> {
        let Some(id) = &job.meeting_id else {
            return Ok(());
        };
        let m = match self.meeting(id).await {
            Ok(m) => m,
            Err(OpError::NotFound { .. }) => return Ok(()),
            Err(e) => {
                return Err(JobError {
                    transient: true,
                    message: e.to_string(),
                });
            }
        };
        if matches!(m.phase, MeetingPhase::Disabled | MeetingPhase::Cancelled) {
            return Ok(());
        }
        let key = job
            .payload
            .get("occurrence")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let occ = self.occurrence(&m, key).map_err(JobError::from_op)?;
        match job.kind.as_str() {
            STEP_JOB => {
                let step = job
                    .payload
                    .get("step")
                    .and_then(|v| serde_json::from_value::<StepKind>(v.clone()).ok())
                    .ok_or_else(|| JobError {
                        transient: false,
                        message: "job without a step".into(),
                    })?;
                self.run_step(&m, &occ, step, job.due_at, now).await
            }
            POLL_JOB => self.poll_open(&m, &occ, now).await,
            other => Err(JobError {
                transient: false,
                message: format!("unknown job kind {other}"),
            }),
        }
    }

    fn occurrence(&self, m: &StoredMeeting, key: &str) -> Result<Occurrence, OpError> {
        let zone = self.zone_of(&m.spec)?;
        if key == IMMEDIATE || m.spec.start.is_none() {
            let start = self.clock.now().to_zoned(zone);
            return Ok(Occurrence {
                key: IMMEDIATE.into(),
                index: 0,
                start,
            });
        }
        let civil = jiff::civil::DateTime::strptime("%Y-%m-%dT%H:%M", key)
            .map_err(|_| OpError::Invalid(format!("occurrence key {key:?}")))?;
        let after = civil
            .to_zoned(zone.clone())
            .map_err(|e| OpError::Invalid(e.to_string()))?
            .timestamp()
            - SignedDuration::from_hours(3);
        plan::occurrences(&m.spec, &zone, after, 8)
            .map_err(|e| OpError::Invalid(e.to_string()))?
            .into_iter()
            .find(|o| o.key == key)
            .ok_or_else(|| {
                OpError::Invalid(format!(
                    "meeting '{}' has no occurrence {key} any more",
                    m.spec.id
                ))
            })
    }

    async fn run_step(
        &self,
        m: &StoredMeeting,
        occ: &Occurrence,
        step: StepKind,
        due: Timestamp,
        now: Timestamp,
    ) -> Result<(), JobError> {
        let id = &m.spec.id;
        let planned = plan::PlannedStep { kind: step, due };
        if Misfire::of(&m.spec).decide(&planned, now) == Decision::Missed {
            let msg = format!(
                "missed: due {} but the scheduler was not running",
                due.strftime("%Y-%m-%d %H:%M UTC")
            );
            self.step(id, step_record_name(step), 404, &msg)
                .await
                .map_err(JobError::from_op)?;
            tracing::warn!(meeting = %id, occurrence = %occ.key, step = step.as_str(), "step missed");
            if matches!(step, StepKind::PreOpen | StepKind::Start) {
                let data = serde_json::json!({
                    "step": step.as_str(),
                    "due": due.to_string(),
                    "start": occ.start.to_string(),
                });
                self.queue_missed(&m.spec, &occ.key, step, data)
                    .await
                    .map_err(JobError::from_op)?;
            }
        } else {
            match step {
                StepKind::PreOpen | StepKind::Start => {
                    self.open(m, occ, now, step == StepKind::PreOpen).await?;
                    let lag = self.clock.now().duration_since(due).as_secs_f64();
                    crate::telemetry::start_lag(step.as_str(), lag);
                }
                StepKind::EndAfter => {
                    self.stop_stream(m, occ).await;
                    self.close(m, occ).await?
                }
                StepKind::OwnerInfoMail
                | StepKind::Invitations
                | StepKind::ModeratorLinks
                | StepKind::OwnerReminder => self
                    .run_mail_step(&m.spec, occ, step)
                    .await
                    .map_err(JobError::from_op)?,
                other => self.run_setup(m, other).await?,
            }
        }
        if is_timed(step) && self.is_last_step(m, occ, step) {
            // The occurrence is done with: plan the next one of the series.
            let after = occ.start.timestamp() + SignedDuration::from_secs(1);
            self.plan_from(m, after).await.map_err(JobError::from_op)?;
        }
        Ok(())
    }

    fn is_last_step(&self, m: &StoredMeeting, occ: &Occurrence, step: StepKind) -> bool {
        if occ.key == IMMEDIATE {
            return false;
        }
        let defaults = self.settings.plan_defaults;
        plan::timeline(&m.spec, &defaults, occ, self.clock.now())
            .into_iter()
            .filter(|s| is_timed(s.kind))
            .max_by_key(|s| s.due)
            .is_some_and(|s| s.kind == step)
    }

    /// Create the meeting on BBB (pre-open or start); idempotent by meetingID.
    async fn open(
        &self,
        m: &StoredMeeting,
        occ: &Occurrence,
        now: Timestamp,
        pre_open: bool,
    ) -> Result<(), JobError> {
        let id = &m.spec.id;
        let server = self
            .server(&m.spec.server)
            .await
            .map_err(JobError::from_op)?;
        let room = self
            .meeting_room(&m.spec)
            .await
            .map_err(JobError::from_op)?;
        let (_, mut params) = self
            .room_create_params(&m.spec, &server, room.as_ref(), &occ.key)
            .map_err(JobError::from_op)?;
        // Keep an empty pre-opened room alive until the start (BBB closes it after 5 minutes).
        params.meeting_expire_if_no_user_joined_minutes =
            Some(plan::expire_if_no_user_joined_minutes(occ, now));
        let bbb = self.connect(&server);
        let created = match self
            .create_on_bbb(bbb.as_ref(), &params, room.as_ref())
            .await
        {
            Ok(c) => c,
            Err(e) => {
                let (rec, code) = if pre_open {
                    ("preOpen", 400)
                } else {
                    ("status", 400)
                };
                let _ = self
                    .step(id, rec, code, &format!("meeting could not be started: {e}"))
                    .await;
                return Err(JobError {
                    transient: e.is_transient(),
                    message: bbb_error(&server.id, e).to_string(),
                });
            }
        };
        let joined = created.has_user_joined;
        let (rec, code, msg, phase) = match (pre_open, joined) {
            (true, _) => (
                "preOpen",
                220,
                "meeting opened ahead of its start",
                MeetingPhase::PreOpened,
            ),
            (false, true) => (
                "status",
                220,
                "meeting started, users joined",
                MeetingPhase::Started,
            ),
            (false, false) => (
                "status",
                210,
                "meeting started, no users joined yet",
                MeetingPhase::Started,
            ),
        };
        self.step(id, rec, code, msg)
            .await
            .map_err(JobError::from_op)?;
        self.set_phase(id, phase).await.map_err(JobError::from_op)?;
        if joined {
            self.started(&m.spec, Some(&server), occ)
                .await
                .map_err(JobError::from_op)?;
        }
        if !joined {
            self.enqueue_poll(m, occ, now + POLL_EVERY)
                .await
                .map_err(JobError::from_op)?;
        } else if !pre_open {
            let bbb_id = crate::domain::BbbMeetingId::try_from(created.meeting_id.as_str())
                .map_err(|e| JobError {
                    transient: false,
                    message: e.to_string(),
                })?;
            self.start_stream(m, occ, &server, &bbb_id).await?;
        }
        Ok(())
    }

    async fn enqueue_poll(
        &self,
        m: &StoredMeeting,
        occ: &Occurrence,
        at: Timestamp,
    ) -> Result<(), OpError> {
        let job = NewJob {
            kind: POLL_JOB.into(),
            meeting_id: Some(m.spec.id.clone()),
            due_at: at,
            payload: serde_json::json!({ "occurrence": occ.key }),
            unique_key: format!("{}/{}/poll/{}", m.spec.id, occ.key, at.as_second()),
        };
        self.store.enqueue_job(&job).await.map_err(internal)?;
        Ok(())
    }

    /// Ask BBB whether somebody joined an open meeting; keep asking until then.
    async fn poll_open(
        &self,
        m: &StoredMeeting,
        occ: &Occurrence,
        now: Timestamp,
    ) -> Result<(), JobError> {
        let server = self
            .server(&m.spec.server)
            .await
            .map_err(JobError::from_op)?;
        let bbb_id =
            match self
                .meeting_room(&m.spec)
                .await
                .map_err(JobError::from_op)?
            {
                Some((_, r)) => crate::domain::BbbMeetingId::try_from(r.meeting_id.as_str())
                    .map_err(|e| JobError {
                        transient: false,
                        message: e.to_string(),
                    })?,
                None => m.spec.effective_bbb_id(),
            };
        match self.connect(&server).get_meeting_info(&bbb_id).await {
            Ok(info) if info.has_user_joined || info.participant_count > 0 => {
                self.step(&m.spec.id, "status", 220, "meeting started, users joined")
                    .await
                    .map_err(JobError::from_op)?;
                self.set_phase(&m.spec.id, MeetingPhase::Started)
                    .await
                    .map_err(JobError::from_op)?;
                self.started(&m.spec, Some(&server), occ)
                    .await
                    .map_err(JobError::from_op)?;
                self.start_stream(m, occ, &server, &bbb_id).await
            }
            Ok(_) => self
                .enqueue_poll(m, occ, now + POLL_EVERY)
                .await
                .map_err(JobError::from_op),
            // Gone from BBB: nobody will join this one any more.
            Err(BbbError::NotFound { .. }) => Ok(()),
            Err(e) if e.is_transient() => self
                .enqueue_poll(m, occ, now + POLL_EVERY)
                .await
                .map_err(JobError::from_op),
            Err(e) => Err(JobError {
                transient: false,
                message: e.to_string(),
            }),
        }
    }

    /// End the meeting on BBB (endAfterMinutes).
    async fn close(&self, m: &StoredMeeting, occ: &Occurrence) -> Result<(), JobError> {
        match self.end_meeting(&m.spec.id).await {
            Ok(_) => {
                let data = serde_json::json!({ "reason": "endAfterMinutes" });
                self.queue_chat(&m.spec, NoticeKind::Ended, Some(&occ.key), data)
                    .await
                    .map_err(JobError::from_op)?;
                Ok(())
            }
            Err(e @ OpError::Bbb { .. }) => Err(JobError {
                transient: true,
                message: e.to_string(),
            }),
            Err(e) => Err(JobError::from_op(e)),
        }
    }
}

/// The step-history name of a timed step (the original's names where it had them).
fn step_record_name(step: StepKind) -> &'static str {
    match step {
        StepKind::PreOpen => "preOpen",
        StepKind::Start => "status",
        StepKind::EndAfter => "endMeeting",
        StepKind::OwnerReminder => "owner_reminderMailSent",
        other => other.as_str(),
    }
}

//! The scheduler loop: claim due jobs from the store, run each through the service, sleep until
//! the next one is due or a definition changes. `step(now)` is the whole logic; tests call it
//! with a fake clock and nothing sleeps.

use crate::domain::OpError;
use crate::service::Service;
use crate::store::Job;
use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How long a claimed job stays ours before another worker may take it (crash recovery), unless
/// `scheduler.lease_seconds` says otherwise.
pub const DEFAULT_LEASE: SignedDuration = SignedDuration::from_secs(120);
/// Meetings whose jobs run at the same time.
const PARALLEL: usize = 32;
/// Jobs claimed per step.
const BATCH: u32 = 256;
// The longest sleep when nothing is due is the lease: a safety net, not a poll (definition
// changes wake us). A job a killed worker held is not pending, so no due time wakes us for it;
// sleeping at most one lease reclaims it at most one lease after it ran out.

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StepReport {
    pub ran: usize,
    pub failed: usize,
    pub retried: usize,
}

pub struct Engine {
    service: Service,
    worker: String,
    lease: SignedDuration,
}

impl Engine {
    pub fn new(service: Service) -> Self {
        let worker = format!("{}-{}", hostname(), std::process::id());
        Self {
            service,
            worker,
            lease: DEFAULT_LEASE,
        }
    }

    /// Another lease: how soon the jobs of a daemon that died go to the others.
    pub fn with_lease(mut self, lease: SignedDuration) -> Self {
        self.lease = lease;
        self
    }

    fn max_idle(&self) -> Duration {
        Duration::try_from(self.lease).unwrap_or(Duration::from_secs(120))
    }

    /// Run every job due at `now`.
    pub async fn step(&self, now: Timestamp) -> Result<StepReport, OpError> {
        let store = self.service.store().clone();
        let jobs = store
            .claim_due_jobs(now, &self.worker, now + self.lease, BATCH)
            .await
            .map_err(crate::service::internal_error)?;
        // Different meetings run side by side (a thousand lectures at 10:00 must not queue
        // behind each other); one meeting's jobs run in order (owner before room before shares).
        let mut groups: Vec<Vec<Job>> = Vec::new();
        for job in jobs {
            match groups
                .iter_mut()
                .find(|g| g[0].meeting_id == job.meeting_id)
            {
                Some(g) => g.push(job),
                None => groups.push(vec![job]),
            }
        }
        let reports = futures::stream::iter(groups)
            .map(|group| async move {
                let mut report = StepReport::default();
                for job in &group {
                    self.run_one(job, now, &mut report).await?;
                }
                Ok::<_, OpError>(report)
            })
            .buffer_unordered(PARALLEL)
            .collect::<Vec<_>>()
            .await;
        let mut total = StepReport::default();
        for r in reports {
            let r = r?;
            total.ran += r.ran;
            total.failed += r.failed;
            total.retried += r.retried;
        }
        Ok(total)
    }

    async fn run_one(
        &self,
        job: &Job,
        now: Timestamp,
        report: &mut StepReport,
    ) -> Result<(), OpError> {
        let store = self.service.store();
        match self.service.run_job(job, now).await {
            Ok(()) => {
                store
                    .complete_job(job.id, now)
                    .await
                    .map_err(crate::service::internal_error)?;
                report.ran += 1;
            }
            Err(e) if e.transient => {
                let retry = now + backoff(job.attempts);
                store
                    .fail_job(job.id, &e.message, Some(retry))
                    .await
                    .map_err(crate::service::internal_error)?;
                report.retried += 1;
                if job.attempts + 1 == TELL_AFTER_FAILURES {
                    self.tell_failure(job, &e.message, true).await;
                }
            }
            Err(e) => {
                store
                    .fail_job(job.id, &e.message, None)
                    .await
                    .map_err(crate::service::internal_error)?;
                report.failed += 1;
                self.tell_failure(job, &e.message, false).await;
            }
        }
        Ok(())
    }

    /// A failure notice to the meeting's room; the failure itself is recorded already, so a
    /// notice that cannot be queued is only logged.
    async fn tell_failure(&self, job: &Job, message: &str, retrying: bool) {
        if let Err(e) = self.service.queue_failure(job, message, retrying).await {
            tracing::warn!(job = job.id, error = %e, "cannot queue a failure notice");
        }
    }

    /// Until `shutdown` resolves: step, then sleep until the next job is due or we are woken.
    pub async fn run(&self, wake: Arc<Notify>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let now = self.service.now();
            if let Err(e) = self.step(now).await {
                tracing::error!(error = %e, "scheduler step failed; retrying shortly");
            }
            let sleep = match self.service.store().next_job_due().await {
                Ok(Some(due)) => due
                    .duration_since(self.service.now())
                    .try_into()
                    .unwrap_or(Duration::ZERO)
                    .min(self.max_idle()),
                Ok(None) => self.max_idle(),
                Err(_) => Duration::from_secs(5),
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    }
}

/// 15 s, 30 s, 1 min, … capped at 15 min.
/// A transient failure is told to the room when it happens this many times in a row (about a
/// minute and a half of retrying).
const TELL_AFTER_FAILURES: u32 = 3;

fn backoff(attempts: u32) -> SignedDuration {
    let secs = 15i64.saturating_mul(1 << attempts.min(6));
    SignedDuration::from_secs(secs.min(900))
}

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "schedulight".into())
}

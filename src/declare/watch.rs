//! The daemon's side of declarative files: `files.apply` in bot-config.yml is applied at start,
//! on SIGHUP and whenever one of the files changes (checked every few seconds by size, time and,
//! when those move, content). Each run logs the plan it applied and, with `files.report_room`
//! and the bot running, posts it to that room. A broken file is reported and nothing of it is
//! applied; the daemon keeps running on what it had.

use super::{Declaration, LoadSettings, PlanError, PlanOptions, sha256_hex};
use crate::domain::{Actor, Channel, NoticeKind, ServerId};
use crate::service::Service;
use crate::store::OutboxRequest;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// How often the files are looked at.
pub const POLL: Duration = Duration::from_secs(3);

pub struct FileWatcher {
    service: Service,
    files: Vec<PathBuf>,
    options: PlanOptions,
    settings: LoadSettings,
    config_servers: Vec<ServerId>,
    report_room: Option<String>,
    /// (modified, length) of each file when last looked at.
    seen: Vec<Option<(SystemTime, u64)>>,
    /// The content digests of the last run (applied, or refused as broken).
    digests: Vec<String>,
}

/// What one run came to, for tests and the log.
#[derive(Debug, Clone, PartialEq)]
pub enum RunResult {
    Applied { changes: usize, failed: usize },
    Unchanged,
    Refused(String),
}

impl FileWatcher {
    pub fn new(
        service: Service,
        files: Vec<PathBuf>,
        options: PlanOptions,
        settings: LoadSettings,
        config_servers: Vec<ServerId>,
        report_room: Option<String>,
    ) -> Self {
        let n = files.len();
        Self {
            service,
            files,
            options,
            settings,
            config_servers,
            report_room,
            seen: vec![None; n],
            digests: Vec::new(),
        }
    }

    /// Applies now, then on SIGHUP and on changes until `stop` fires.
    pub async fn run(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        self.apply_now("start").await;
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            let hup = async {
                match hangup.as_mut() {
                    Some(h) => {
                        h.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = stop.changed() => break,
                _ = hup => { self.apply_now("SIGHUP").await; }
                _ = tick.tick() => {
                    if self.changed() {
                        self.apply_now("a file changed").await;
                    }
                }
            }
        }
    }

    /// Whether a file's content differs from the last run's (cheap when nothing moved).
    pub fn changed(&mut self) -> bool {
        let now: Vec<Option<(SystemTime, u64)>> = self
            .files
            .iter()
            .map(|f| {
                std::fs::metadata(f)
                    .ok()
                    .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
            })
            .collect();
        if now == self.seen {
            return false;
        }
        self.seen = now;
        self.current_digests() != self.digests
    }

    fn current_digests(&self) -> Vec<String> {
        self.files
            .iter()
            .map(|f| std::fs::read(f).map(|b| sha256_hex(&b)).unwrap_or_default())
            .collect()
    }

    /// Loads, plans and applies the files once, logging (and reporting) what happened.
    pub async fn apply_now(&mut self, why: &str) -> RunResult {
        self.digests = self.current_digests();
        let names: Vec<String> = self.files.iter().map(|f| f.display().to_string()).collect();
        let names = names.join(", ");
        let result = match super::load(&self.files, &self.settings) {
            Err(e) => Err(PlanError::Files(e)),
            Ok(d) => self.plan_and_apply(&d).await,
        };
        let (outcome, text) = match result {
            Ok((plan, report)) if plan.has_changes() => {
                let failed = report.applied.iter().filter(|a| !a.ok).count();
                tracing::info!(files = %names, why, "applied:\n{}", report.render().trim_end());
                (
                    RunResult::Applied {
                        changes: report.applied.len(),
                        failed,
                    },
                    Some(format!(
                        "Applied {names} ({why}):\n{}",
                        report.render().trim_end()
                    )),
                )
            }
            Ok(_) => {
                tracing::info!(files = %names, why, "applied: no changes");
                (RunResult::Unchanged, None)
            }
            Err(e) => {
                tracing::error!(files = %names, why, "not applied, nothing changed:\n{e}");
                (
                    RunResult::Refused(e.to_string()),
                    Some(format!("Not applied ({why}), nothing changed:\n{e}")),
                )
            }
        };
        if let (Some(room), Some(text)) = (&self.report_room, text) {
            self.report(room, text).await;
        }
        outcome
    }

    async fn plan_and_apply(
        &self,
        d: &Declaration,
    ) -> Result<(super::Plan, super::ApplyReport), PlanError> {
        super::plan_and_apply(
            &self.service,
            &Actor::admin("file:daemon"),
            self.config_servers.clone(),
            d,
            self.options,
            None,
            &|_, _| {},
        )
        .await
    }

    async fn report(&self, room: &str, text: String) {
        let now = self.service.now();
        let request = OutboxRequest {
            unique_key: format!("files/{}", now.as_microsecond()),
            channel: Channel::Chat,
            kind: NoticeKind::FilesApplied,
            meeting_id: None,
            occurrence: None,
            recipient: room.to_string(),
            data: serde_json::json!({ "text": text }),
            not_before: now,
        };
        if let Err(e) = self.service.store().enqueue_outbox(&request, now).await {
            tracing::error!(error = %e, "could not queue the report to the room");
        }
    }
}

/// A bare SIGHUP handler for a daemon with no files to apply: SIGHUP must not end it.
pub async fn ignore_hangups(mut stop: tokio::sync::watch::Receiver<bool>) {
    let Ok(mut hangup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        return;
    };
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: nothing to reload (files.apply in bot-config.yml is empty)");
            }
        }
    }
}

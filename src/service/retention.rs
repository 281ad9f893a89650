//! The retention run (daily in the daemon, or `schedulight retention [--dry-run]`): recordings
//! past their rule are announced to their owners by mail and chat, then deleted a warning
//! period later; old step history, sent messages and audit entries are purged.

use super::recordings::{display_name, is_kept};
use super::{Service, internal};
use crate::bbb::{Recording, RecordingsQuery};
use crate::domain::retention::{
    DEFAULT_WARN_DAYS, RetentionAction, RetentionItem, RetentionReport, days_after, days_before,
    decide,
};
use crate::domain::{Actor, Channel, Email, NoticeKind, OpError, Outcome, RecordId, ServerSpec};
use crate::greenlight::{Greenlight, RoomSearch};
use crate::store::{AuditEntry, OutboxRequest, PurgeCutoffs};
use std::collections::BTreeMap;

/// Who a recording belongs to, as far as we can tell.
#[derive(Debug, Clone, Default)]
struct Belongs {
    owner: Option<Email>,
    /// Matrix room of the scheduled meeting.
    chat_room: Option<String>,
    /// Greenlight room (friendly id), for per-room rules.
    room: Option<String>,
    /// A playback or room link for the mail.
    link: Option<String>,
}

/// A recording the rules act on, with whom to tell and the warning period its rule gives.
struct Due {
    item: RetentionItem,
    belongs: Belongs,
    warn_days: u32,
}

impl Service {
    pub(super) async fn retention(&self, actor: &Actor, dry_run: bool) -> Result<Outcome, OpError> {
        let rules = &self.settings.retention;
        let now = self.clock.now();
        let mut report = RetentionReport {
            dry_run,
            at: now,
            recordings: Vec::new(),
            purged: Default::default(),
            problems: Vec::new(),
        };
        if rules.deletes_recordings() {
            for server in self.store.list_servers().await.map_err(internal)? {
                if let Err(e) = self
                    .retention_on(&server, actor, dry_run, &mut report)
                    .await
                {
                    report.problems.push(format!("server '{}': {e}", server.id));
                }
            }
        }
        let cut = |d: Option<u32>| d.filter(|d| *d > 0).and_then(|d| days_before(now, d));
        let cutoffs = PurgeCutoffs {
            step_history: cut(rules.step_history_days),
            sent_messages: cut(rules.sent_messages_days),
            audit: cut(rules.audit_days),
        };
        report.purged = self
            .store
            .purge_old(&cutoffs, dry_run)
            .await
            .map_err(internal)?;
        if !dry_run {
            // Claims of chat events only guard a failover's short window.
            if let Some(week) = days_before(now, 7) {
                self.store
                    .forget_events_before(week)
                    .await
                    .map_err(internal)?;
            }
            let p = report.purged;
            tracing::info!(
                warned = count(&report, RetentionAction::Warn),
                deleted = count(&report, RetentionAction::Delete),
                steps = p.step_history,
                messages = p.sent_messages,
                audit = p.audit_entries,
                "retention run done"
            );
        }
        Ok(Outcome::Retention {
            report: Box::new(report),
        })
    }

    async fn retention_on(
        &self,
        server: &ServerSpec,
        actor: &Actor,
        dry_run: bool,
        report: &mut RetentionReport,
    ) -> Result<(), OpError> {
        let rules = &self.settings.retention;
        let now = report.at;
        let recordings = self
            .all_recordings(server, RecordingsQuery::default())
            .await?;
        let warned = self
            .store
            .retention_warnings(&server.id)
            .await
            .map_err(internal)?;
        let mut whose = self.owners_on(server).await;
        // Opened once per run: recordings of rooms no meeting of ours names are looked up there.
        let gl = self.optional_greenlight(server).await;
        let mut items: Vec<Due> = Vec::new();
        for r in &recordings {
            let Ok(record_id) = RecordId::try_from(r.record_id.as_str()) else {
                continue;
            };
            let belongs = belongs(gl.as_deref(), server, &mut whose, r).await;
            let rule = rules.rule_for(&server.id, &r.meeting_id, belongs.room.as_deref());
            let recorded = jiff::Timestamp::from_millisecond(r.start_time)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            let Some((action, delete_on)) = decide(
                &rule,
                recorded,
                is_kept(r),
                warned.get(&r.record_id).copied(),
                now,
            ) else {
                continue;
            };
            let item = RetentionItem {
                server: server.id.clone(),
                record_id,
                name: display_name(r),
                meeting_id: r.meeting_id.clone(),
                recorded,
                delete_on,
                action,
                owner: belongs.owner.clone(),
            };
            items.push(Due {
                item,
                belongs,
                warn_days: rule.warn_days_before.unwrap_or(DEFAULT_WARN_DAYS),
            });
        }
        if !dry_run {
            self.warn_owners(server, &items).await?;
            self.delete_due(server, actor, &mut items, report).await;
        }
        report.recordings.extend(items.into_iter().map(|d| d.item));
        Ok(())
    }

    /// Scheduled meetings on this server by BBB meetingID: owner and chat room.
    async fn owners_on(&self, server: &ServerSpec) -> BTreeMap<String, Belongs> {
        let mut out = BTreeMap::new();
        let Ok(meetings) = self.store.list_meetings().await else {
            return out;
        };
        for m in meetings.into_iter().filter(|m| m.spec.server == server.id) {
            out.insert(
                m.spec.effective_bbb_id().to_string(),
                Belongs {
                    owner: m.spec.owner.as_ref().map(|o| o.email.clone()),
                    chat_room: m.spec.notify_room.as_ref().map(|r| r.to_string()),
                    room: m.spec.room.as_ref().map(|r| r.to_string()),
                    link: None,
                },
            );
        }
        out
    }

    /// Record the warnings, then queue one mail per owner and one notice per chat room.
    async fn warn_owners(&self, server: &ServerSpec, items: &[Due]) -> Result<(), OpError> {
        let now = self.clock.now();
        let mut mails: BTreeMap<Email, Vec<serde_json::Value>> = BTreeMap::new();
        let mut notices: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
        for Due {
            item,
            belongs,
            warn_days,
        } in items
            .iter()
            .filter(|d| d.item.action == RetentionAction::Warn)
        {
            self.store
                .mark_retention_warned(&server.id, item.record_id.as_str(), now)
                .await
                .map_err(internal)?;
            // The deletion waits a full warning period from today when the warning is late.
            let earliest = days_after(now, *warn_days).unwrap_or(now);
            let delete_on = item.delete_on.max(earliest);
            let line = serde_json::json!({
                "id": item.record_id.as_str(),
                "name": item.name,
                "recorded": item.recorded.to_string(),
                "deleteOn": delete_on.to_string(),
                "link": belongs.link,
                "room": belongs.room,
            });
            if let Some(owner) = &item.owner {
                mails.entry(owner.clone()).or_default().push(line.clone());
            }
            let room = belongs
                .chat_room
                .clone()
                .or_else(|| self.settings.retention.report_room.clone());
            if let Some(room) = room {
                let mut line = line;
                line["owner"] = serde_json::json!(item.owner);
                notices.entry(room).or_default().push(line);
            }
        }
        let day = now.strftime("%Y-%m-%d").to_string();
        for (owner, lines) in mails {
            let request = OutboxRequest {
                unique_key: format!("retention/{}/{day}/{owner}", server.id),
                channel: Channel::Mail,
                kind: NoticeKind::RecordingsExpiring,
                meeting_id: None,
                occurrence: None,
                recipient: owner.as_str().to_string(),
                data: serde_json::json!({
                    "server": server.id.as_str(),
                    "recordings": lines,
                    "recipientName": owner.local_part(),
                }),
                not_before: now,
            };
            self.enqueue(request).await?;
        }
        for (room, lines) in notices {
            let request = OutboxRequest {
                unique_key: format!("retention/{}/{day}/{room}", server.id),
                channel: Channel::Chat,
                kind: NoticeKind::RecordingsExpiringNotice,
                meeting_id: None,
                occurrence: None,
                recipient: room,
                data: serde_json::json!({
                    "server": server.id.as_str(),
                    "recordings": lines,
                }),
                not_before: now,
            };
            self.enqueue(request).await?;
        }
        Ok(())
    }

    /// Delete what is due, one recording at a time so one refusal does not keep the others;
    /// each deletion is audited under the run's actor.
    async fn delete_due(
        &self,
        server: &ServerSpec,
        actor: &Actor,
        items: &mut [Due],
        report: &mut RetentionReport,
    ) {
        for item in items
            .iter_mut()
            .map(|d| &mut d.item)
            .filter(|i| i.action == RetentionAction::Delete)
        {
            let records = [item.record_id.clone()];
            let result = self.delete_recordings(&server.id, &records).await;
            let entry = AuditEntry {
                at: self.clock.now(),
                actor: actor.name.clone(),
                operation: "retention_delete".into(),
                target: Some(item.record_id.to_string()),
                result: if result.is_ok() { "ok" } else { "failed" }.into(),
                detail: Some(match &result {
                    Ok(_) => format!(
                        "'{}' on server '{}', recorded {}",
                        item.name,
                        server.id,
                        item.recorded.strftime("%Y-%m-%d")
                    ),
                    Err(e) => e.to_string(),
                }),
            };
            if let Err(e) = self.store.append_audit(&entry).await {
                tracing::error!(error = %e, "could not write the audit log");
            }
            if let Err(e) = result {
                report.problems.push(format!(
                    "recording {} on server '{}' not deleted: {e}; the next run tries again",
                    item.record_id, server.id
                ));
                item.action = RetentionAction::Postponed;
            }
        }
    }
}

/// Who a recording belongs to: its scheduled meeting, else the Greenlight room with its
/// meetingID (looked up once per meeting).
async fn belongs(
    gl: Option<&dyn Greenlight>,
    server: &ServerSpec,
    known: &mut BTreeMap<String, Belongs>,
    r: &Recording,
) -> Belongs {
    let mut b = match known.get(&r.meeting_id) {
        Some(b) => b.clone(),
        None => {
            let found = match gl {
                Some(gl) => greenlight_room_of(gl, server, &r.meeting_id).await,
                None => Belongs::default(),
            };
            known.insert(r.meeting_id.clone(), found.clone());
            found
        }
    };
    b.link = r.playback.first().map(|p| p.url.clone());
    b
}

async fn greenlight_room_of(gl: &dyn Greenlight, server: &ServerSpec, meeting_id: &str) -> Belongs {
    match gl
        .search_rooms(&RoomSearch::MeetingId(meeting_id.to_string()))
        .await
    {
        Ok(rooms) => rooms
            .into_iter()
            .next()
            .map(|room| Belongs {
                owner: Some(room.owner_email),
                chat_room: None,
                room: Some(room.friendly_id),
                link: None,
            })
            .unwrap_or_default(),
        Err(e) => {
            tracing::warn!(server = %server.id, error = %e, "cannot look up a recording's Greenlight room");
            Belongs::default()
        }
    }
}

fn count(report: &RetentionReport, action: RetentionAction) -> usize {
    report
        .recordings
        .iter()
        .filter(|i| i.action == action)
        .count()
}

impl Service {
    /// The daemon's daily retention run at `retention.run_at` (in `defaults.timeZone`). A day's
    /// run is claimed in the store, so of several daemons one runs it; a daemon started after
    /// the hour catches up on the day's run.
    pub async fn run_daily_retention(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let Some(at) = self.settings.retention.run_at else {
            let _ = stop.changed().await;
            return;
        };
        let zone = self.settings.default_time_zone.clone();
        let actor = Actor::admin("retention");
        loop {
            let now = self.clock.now().to_zoned(zone.clone());
            let today = now.date();
            let due = today.to_datetime(at).to_zoned(zone.clone()).ok();
            if let Some(due) = &due
                && now >= *due
            {
                let key = format!("retention:{today}");
                match self.store.claim_event(&key, now.timestamp()).await {
                    Ok(true) => {
                        let op = crate::domain::Operation::Retention { dry_run: false };
                        if let Err(e) = self.execute(&actor, op).await {
                            tracing::error!(error = %e, "daily retention run failed; it runs again tomorrow");
                        }
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot claim today's retention run"),
                }
            }
            let next = match due {
                Some(d) if now < d => d,
                _ => today
                    .tomorrow()
                    .ok()
                    .and_then(|t| t.to_datetime(at).to_zoned(zone.clone()).ok())
                    .unwrap_or_else(|| now.clone() + jiff::SignedDuration::from_hours(24)),
            };
            let wait = (next.timestamp() - self.clock.now())
                .get_seconds()
                .clamp(1, 24 * 3600);
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_secs(wait.unsigned_abs())) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

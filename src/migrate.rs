//! `schedulight import-redis URL`: moving over from the Python scheduLight's Redis store
//! (seed-behaviour.md §10): its servers, meetings, per-step status hashes and queued mails.
//!
//! * Servers and meetings are read by the same reader as the original's YAML files, so they get
//!   the same checks (and a broken one is skipped with the reason).
//! * Step status is kept, so nothing already done is done again: the history goes into the step
//!   records (its times are when the Python process started, not when the steps happened — the
//!   original recorded no better), a meeting disabled with 900 stays disabled, one whose start
//!   has passed is imported as history, and the mails it had sent (owner info, invitations,
//!   moderator links, share mails: code 250) are marked sent so they are not sent twice.
//! * Queued mails (undelivered or unacknowledged `mailStream` entries) are imported already
//!   rendered, without the SMTP server, login and password the original copied into each.
//! * A report lists what was imported, what was skipped and why, and the meetings for which
//!   `send_emails` is set nowhere (the original mailed regardless; here mail is off by default).

use crate::domain::{
    Actor, Channel, Email, MeetingId, MeetingPhase, MeetingSpec, NoticeKind, Operation, ServerSpec,
    StepRecord,
};
use crate::service::Service;
use crate::store::{AuditEntry, OutboxRequest};
use redis::AsyncCommands;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// What the original's Redis holds, read and checked.
#[derive(Debug, Default)]
pub struct RedisState {
    pub servers: Vec<ServerSpec>,
    pub meetings: Vec<(MeetingSpec, BTreeMap<String, Vec<StepRecord>>)>,
    pub mails: Vec<QueuedMail>,
    pub skipped: Vec<Skipped>,
}

/// A mail the original had queued, without its SMTP credentials.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    /// The stream entry id.
    pub id: String,
    /// The entry's field name: a meeting id or a command name.
    pub about: String,
    pub data: Value,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub what: String,
    pub why: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub servers: Vec<String>,
    /// Meeting id → how it was imported (scheduled, disabled, history).
    pub meetings: Vec<(String, String)>,
    pub step_records: usize,
    pub mails_marked_sent: usize,
    pub queued_mails: usize,
    pub skipped: Vec<Skipped>,
    /// Meetings that would mail somebody but for which send_emails is set nowhere.
    pub send_emails_unset: Vec<String>,
}

impl ImportReport {
    pub fn render(&self, source: &str, dry_run: bool) -> String {
        let mut out = format!(
            "{} from {source}:\n",
            if dry_run { "Would import" } else { "Imported" }
        );
        out.push_str(&format!(
            "  servers: {} ({})\n",
            self.servers.len(),
            self.servers.join(", ")
        ));
        out.push_str(&format!("  meetings: {}\n", self.meetings.len()));
        for (id, how) in &self.meetings {
            out.push_str(&format!("    {id}: {how}\n"));
        }
        out.push_str(&format!(
            "  step history: {} records (their times are when scheduLight's process started, \
             not when the steps happened)\n",
            self.step_records
        ));
        out.push_str(&format!(
            "  mails already sent: {} marked, so they are not sent again\n",
            self.mails_marked_sent
        ));
        out.push_str(&format!(
            "  queued mails: {} imported without the SMTP credentials the original copied into \
             each\n",
            self.queued_mails
        ));
        if !self.skipped.is_empty() {
            out.push_str(&format!("  skipped: {}\n", self.skipped.len()));
            for s in &self.skipped {
                out.push_str(&format!("    {}: {}\n", s.what, s.why));
            }
        }
        if !self.send_emails_unset.is_empty() {
            out.push_str(&format!(
                "warning: send_emails is set nowhere for {} — the original mailed regardless, \
                 here mail is off until send_emails says so (on the meetings, their server, or \
                 mail.send_emails in bot-config.yml)\n",
                self.send_emails_unset.join(", ")
            ));
        }
        out
    }
}

fn redis_err(e: redis::RedisError) -> anyhow::Error {
    anyhow::anyhow!("Redis: {e}")
}

/// Reads everything the original keeps in Redis (`redis://host:port/db`).
pub async fn read(url: &str) -> anyhow::Result<RedisState> {
    let client = redis::Client::open(url).map_err(redis_err)?;
    let mut conn = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        client.get_multiplexed_async_connection(),
    )
    .await
    // The URL may carry a password: not in the message.
    .map_err(|_| anyhow::anyhow!("Redis did not answer within 10 s"))?
    .map_err(redis_err)?;
    let mut state = RedisState::default();

    let mut servers: Vec<String> = conn.smembers("servers").await.map_err(redis_err)?;
    servers.sort();
    for id in servers {
        let json: Option<String> = conn.get(format!("server:{id}")).await.map_err(redis_err)?;
        match json.map(|j| entry("servers", &id, &j)) {
            None => state.skipped.push(skip(
                &format!("server:{id}"),
                "listed in `servers` but its key is gone (readConfig gave it a TTL)",
            )),
            Some(Err(why)) => state.skipped.push(skip(&format!("server:{id}"), &why)),
            Some(Ok(Operation::AddServer { server })) => state.servers.push(*server),
            Some(Ok(_)) => {}
        }
    }

    let mut meetings: Vec<String> = conn.smembers("meetings").await.map_err(redis_err)?;
    meetings.sort();
    for id in meetings {
        let json: Option<String> = conn.get(format!("meeting:{id}")).await.map_err(redis_err)?;
        let spec = match json.map(|j| entry("meetings", &id, &j)) {
            None => {
                state.skipped.push(skip(
                    &format!("meeting:{id}"),
                    "listed in `meetings` but its key is gone",
                ));
                continue;
            }
            Some(Err(why)) => {
                state.skipped.push(skip(&format!("meeting:{id}"), &why));
                continue;
            }
            Some(Ok(Operation::ScheduleMeeting { meeting })) => *meeting,
            Some(Ok(_)) => continue,
        };
        let hash: BTreeMap<String, String> = conn
            .hgetall(format!("meeting:{id}:status"))
            .await
            .map_err(redis_err)?;
        let mut steps = BTreeMap::new();
        for (field, value) in hash {
            match history(&field, &value) {
                Ok(records) => {
                    steps.insert(field, records);
                }
                Err(why) => state
                    .skipped
                    .push(skip(&format!("meeting:{id}:status {field}"), &why)),
            }
        }
        state.meetings.push((spec, steps));
    }

    state.mails = queued_mails(&mut conn, &mut state.skipped).await?;
    Ok(state)
}

fn skip(what: &str, why: &str) -> Skipped {
    Skipped {
        what: what.to_string(),
        why: why.to_string(),
    }
}

/// One server or meeting JSON through the file reader, as `section.<id>` of a file.
fn entry(section: &str, id: &str, json: &str) -> Result<Operation, String> {
    let value: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let text = json!({ section: { id: value } }).to_string();
    let file = crate::config::parse_seed_file(&text, &format!("redis {section}:{id}")).map_err(
        |errors| {
            errors
                .iter()
                .map(|e| {
                    let mut m = format!("{}: {}", e.path, e.message);
                    if let Some(h) = &e.hint {
                        m.push_str(&format!(" ({h})"));
                    }
                    m
                })
                .collect::<Vec<_>>()
                .join("; ")
        },
    )?;
    file.operations()
        .next()
        .cloned()
        .ok_or_else(|| "nothing in it".to_string())
}

/// `["2020-06-13 18:15:02.123456|201|waiting for startDate …", …]` → step records.
fn history(field: &str, value: &str) -> Result<Vec<StepRecord>, String> {
    let list: Vec<String> =
        serde_json::from_str(value).map_err(|e| format!("not a JSON list: {e}"))?;
    list.iter()
        .map(|item| {
            let mut parts = item.splitn(3, '|');
            let (Some(at), Some(code), message) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!("{item:?} is not date|code|message"));
            };
            let code: u16 = code
                .trim()
                .parse()
                .map_err(|_| format!("{code:?} is not a status code"))?;
            Ok(StepRecord {
                step: field.to_string(),
                code,
                message: message.unwrap_or_default().to_string(),
                at: python_time(at.trim())?,
            })
        })
        .collect()
}

/// Python's `str(datetime.now())` (local time of the original's host; read as UTC).
fn python_time(s: &str) -> Result<jiff::Timestamp, String> {
    let civil: jiff::civil::DateTime = s
        .replacen(' ', "T", 1)
        .parse()
        .map_err(|_| format!("{s:?} is not a date and time"))?;
    civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .map_err(|e| e.to_string())
}

/// Entries of `mailStream` the mail processor has not acknowledged: after the group's last
/// delivered id, or pending in the group (delivered, not acked — it retried those forever).
async fn queued_mails(
    conn: &mut redis::aio::MultiplexedConnection,
    skipped: &mut Vec<Skipped>,
) -> anyhow::Result<Vec<QueuedMail>> {
    let exists: bool = conn.exists("mailStream").await.map_err(redis_err)?;
    if !exists {
        return Ok(Vec::new());
    }
    let groups: redis::streams::StreamInfoGroupsReply =
        conn.xinfo_groups("mailStream").await.map_err(redis_err)?;
    let group = groups.groups.iter().find(|g| g.name == "mailNotifications");
    let last = group.map(|g| g.last_delivered_id.clone());
    let pending: Vec<String> = match group {
        Some(_) => {
            let reply: redis::streams::StreamPendingCountReply = redis::cmd("XPENDING")
                .arg("mailStream")
                .arg("mailNotifications")
                .arg("-")
                .arg("+")
                .arg(1_000_000)
                .query_async(conn)
                .await
                .map_err(redis_err)?;
            reply.ids.into_iter().map(|p| p.id).collect()
        }
        None => Vec::new(),
    };
    let all: redis::streams::StreamRangeReply =
        conn.xrange_all("mailStream").await.map_err(redis_err)?;
    let mut out = Vec::new();
    for entry in all.ids {
        let undelivered = match &last {
            Some(l) => stream_id_after(&entry.id, l),
            None => true,
        };
        if !undelivered && !pending.contains(&entry.id) {
            continue;
        }
        for (about, value) in &entry.map {
            let text: Option<String> = redis::from_redis_value_ref(value).ok();
            let props: Option<Value> = text.as_deref().and_then(|t| serde_json::from_str(t).ok());
            let Some(props) = props else {
                skipped.push(skip(
                    &format!("mailStream {}", entry.id),
                    "not the original's mail JSON",
                ));
                continue;
            };
            let Some(to) = props["mailTo"].as_str().map(str::to_string) else {
                skipped.push(skip(&format!("mailStream {}", entry.id), "no mailTo"));
                continue;
            };
            // The SMTP server, login and password stay behind.
            let data = json!({
                "from": props["mailFrom"],
                "fromName": props["mailFromName"],
                "toName": props["mailToName"],
                "text": props["mailText"],
                "contentType": props["contentType"],
                "streamId": entry.id,
            });
            out.push(QueuedMail {
                id: entry.id.clone(),
                about: about.clone(),
                data,
                to,
            });
        }
    }
    Ok(out)
}

/// Stream ids `ms-seq` compared as numbers.
fn stream_id_after(id: &str, last: &str) -> bool {
    let parse = |s: &str| {
        let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
        (
            ms.parse::<u64>().unwrap_or(0),
            seq.parse::<u64>().unwrap_or(0),
        )
    };
    parse(id) > parse(last)
}

/// Mail steps of the original whose code 250 means the mail went out, and the request it is.
fn sent_mail(field: &str, spec: &MeetingSpec) -> Option<(NoticeKind, Email)> {
    if field == "owner_infoMailSent" {
        return spec
            .owner
            .as_ref()
            .map(|o| (NoticeKind::OwnerInfo, o.email.clone()));
    }
    let pick = |prefix: &str, suffix: &str| {
        field
            .strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(suffix))
            .and_then(|e| e.parse::<Email>().ok())
    };
    if let Some(e) = pick("shareWith_", "_sendShareMail") {
        return Some((NoticeKind::ShareInfo, e));
    }
    if let Some(e) = pick("sendInvitationLink_", "") {
        return Some((NoticeKind::Invitation, e));
    }
    pick("sendModeratorLink_", "").map(|e| (NoticeKind::ModeratorLink, e))
}

/// Brings what `read` found into the store (nothing when `dry_run`).
pub async fn import(
    service: &Service,
    actor: &Actor,
    state: RedisState,
    global_send_emails: bool,
    dry_run: bool,
) -> anyhow::Result<ImportReport> {
    let store = service.store();
    let now = service.now();
    let mut report = ImportReport {
        skipped: state.skipped,
        ..ImportReport::default()
    };
    let known_servers = store.list_servers().await?;
    for server in &state.servers {
        if known_servers.iter().any(|s| s.id == server.id) {
            report.skipped.push(skip(
                &format!("server:{}", server.id),
                "exists here already",
            ));
            continue;
        }
        if !dry_run {
            service
                .execute(
                    actor,
                    Operation::AddServer {
                        server: Box::new(server.clone()),
                    },
                )
                .await?;
        }
        report.servers.push(server.id.to_string());
    }

    let mut all_servers = known_servers;
    all_servers.extend(state.servers.iter().cloned());
    report.send_emails_unset = crate::mail::send_emails_unset(
        global_send_emails,
        &all_servers,
        state.meetings.iter().map(|(m, _)| m),
    )
    .iter()
    .map(|m| m.to_string())
    .collect();

    for (spec, steps) in &state.meetings {
        let id = spec.id.clone();
        if store.get_meeting(&id).await?.is_some() {
            report
                .skipped
                .push(skip(&format!("meeting:{id}"), "exists here already"));
            continue;
        }
        if !all_servers.iter().any(|s| s.id == spec.server) {
            report.skipped.push(skip(
                &format!("meeting:{id}"),
                &format!("its server '{}' is neither in Redis nor here", spec.server),
            ));
            continue;
        }
        let latest = |field: &str| steps.get(field).and_then(|h| h.last()).map(|r| r.code);
        let passed = spec.recurrence.is_none()
            && spec
                .start
                .is_some_and(|start| service.meeting_start(spec, &start).is_some_and(|t| t < now));
        let phase = if latest("status") == Some(900) {
            MeetingPhase::Disabled
        } else if passed || latest("endMeeting") == Some(220) {
            MeetingPhase::Ended
        } else {
            MeetingPhase::New
        };
        let how = match phase {
            MeetingPhase::Disabled => "disabled (status 900), as it was",
            MeetingPhase::Ended => "history: it has taken place (or its start has passed)",
            _ => "scheduled; the steps it had done are not done again",
        };
        report.step_records += steps.values().map(Vec::len).sum::<usize>();
        report.meetings.push((id.to_string(), how.to_string()));
        let sent: Vec<(NoticeKind, Email)> = steps
            .iter()
            .filter(|(_, h)| h.last().map(|r| r.code) == Some(250))
            .filter_map(|(field, _)| sent_mail(field, spec))
            .collect();
        report.mails_marked_sent += sent.len();
        if dry_run {
            continue;
        }
        // Mark the mails it sent before its steps are planned, so planning finds them done.
        for (kind, to) in &sent {
            mark_sent(service, &id, *kind, to).await?;
        }
        store.insert_meeting(spec, phase, now).await?;
        let mut records: Vec<&StepRecord> = steps.values().flatten().collect();
        records.sort_by_key(|r| r.at);
        for r in records {
            store.record_step(&id, r).await?;
        }
        store
            .record_step(
                &id,
                &StepRecord {
                    step: "imported".into(),
                    code: 200,
                    message: "imported from scheduLight's Redis; the times of the records before \
                              are when its process started"
                        .into(),
                    at: now,
                },
            )
            .await?;
        store
            .append_audit(&AuditEntry {
                at: now,
                actor: actor.name.clone(),
                operation: "import_meeting".into(),
                target: Some(id.to_string()),
                result: "ok".into(),
                detail: Some(how.to_string()),
            })
            .await?;
        if phase == MeetingPhase::New {
            service.replan_meeting(&id).await?;
        }
    }

    let imported_ids: Vec<&MeetingId> = state.meetings.iter().map(|(m, _)| &m.id).collect();
    for mail in &state.mails {
        report.queued_mails += 1;
        if dry_run {
            continue;
        }
        let meeting = mail
            .about
            .parse::<MeetingId>()
            .ok()
            .filter(|m| imported_ids.contains(&m));
        let request = OutboxRequest {
            unique_key: format!("imported/{}/{}", mail.id, mail.to.to_lowercase()),
            channel: Channel::Mail,
            kind: NoticeKind::ImportedMail,
            meeting_id: meeting,
            occurrence: None,
            recipient: mail.to.clone(),
            data: mail.data.clone(),
            not_before: now,
        };
        store.enqueue_outbox(&request, now).await?;
    }
    Ok(report)
}

/// An outbox entry in state sent under the key the scheduler would use, so it finds the mail
/// done.
async fn mark_sent(
    service: &Service,
    meeting: &MeetingId,
    kind: NoticeKind,
    to: &Email,
) -> anyhow::Result<()> {
    let store = service.store();
    let now = service.now();
    let request = OutboxRequest {
        unique_key: OutboxRequest::key_for(kind, Some(meeting), None, to.as_str()),
        channel: Channel::Mail,
        kind,
        meeting_id: Some(meeting.clone()),
        occurrence: None,
        recipient: to.to_string(),
        data: json!({ "imported": true }),
        not_before: now,
    };
    let queued = store.enqueue_outbox(&request, now).await?;
    store
        .mark_outbox_sent(
            queued.id,
            now,
            Some("sent by scheduLight before the import"),
        )
        .await?;
    Ok(())
}

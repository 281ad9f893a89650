//! Terminal rendering of outcomes and errors.

use crate::domain::{MeetingView, OpError, Outcome, RunningMeeting, ServerMeetings};
use std::fmt::Write;

/// What to show besides the essentials.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// Print join links (they are credentials: off unless asked for).
    pub links: bool,
}

pub fn outcome(o: &Outcome, opts: RenderOptions) -> String {
    let mut out = String::new();
    match o {
        Outcome::Servers { servers } if servers.is_empty() => {
            out.push_str("no servers configured; add one to bot-config.yml under 'servers:'\n");
        }
        Outcome::Servers { servers } => {
            let rows = servers
                .iter()
                .map(|s| {
                    vec![
                        s.id.to_string(),
                        s.url.clone(),
                        s.checksum.to_string(),
                        format!("{} ms", s.timeout_ms),
                    ]
                })
                .collect();
            out.push_str(&table(&["SERVER", "BBB_URL", "CHECKSUM", "TIMEOUT"], rows));
        }
        Outcome::Server { server, created } => {
            let verb = if *created { "added" } else { "updated" };
            let _ = writeln!(out, "server '{}' {verb} ({})", server.id, server.url);
        }
        Outcome::Meetings { meetings } if meetings.is_empty() => {
            out.push_str("no meetings scheduled\n")
        }
        Outcome::Meetings { meetings } => {
            let rows = meetings.iter().map(meeting_row).collect();
            out.push_str(&table(
                &["MEETING", "NAME", "SERVER", "STARTS", "STATE"],
                rows,
            ));
        }
        Outcome::Meeting { meeting, created } => {
            if *created {
                let _ = writeln!(out, "meeting '{}' scheduled", meeting.spec.id);
            }
            out.push_str(&meeting_detail(meeting));
        }
        Outcome::Started {
            id,
            server,
            bbb_meeting_id,
            already_running,
            links,
        } => {
            let how = if *already_running {
                "was already running"
            } else {
                "started"
            };
            let _ = writeln!(
                out,
                "meeting '{id}' {how} on server '{server}' (BBB meetingID {bbb_meeting_id})"
            );
            let _ = writeln!(out, "  moderator link: {}", links.moderator);
            let _ = writeln!(out, "  viewer link:    {}", links.viewer);
            if let Some(room) = &links.room {
                let _ = writeln!(out, "  room page:      {room}");
            }
        }
        Outcome::Ended { id, was_running } => {
            let what = if *was_running {
                "ended"
            } else {
                "was not running on BBB"
            };
            let _ = writeln!(out, "meeting '{id}' {what}");
        }
        Outcome::Running { servers } => out.push_str(&running(servers, opts)),
        Outcome::Found { meeting: None } => out.push_str("no running meeting has that name\n"),
        Outcome::Found { meeting: Some(m) } => out.push_str(&running_meeting(m, opts)),
        Outcome::Recordings { server, recordings } if recordings.is_empty() => {
            let _ = writeln!(out, "no recordings on server '{server}'");
        }
        Outcome::Recordings { recordings, .. } => {
            let rows = recordings
                .iter()
                .map(|r| {
                    let mut state = r.state.clone();
                    for (on, flag) in [
                        (r.protected, "protected"),
                        (r.listed, "listed"),
                        (r.keep, "keep"),
                    ] {
                        if on {
                            state.push_str(&format!(", {flag}"));
                        }
                    }
                    vec![
                        r.record_id.to_string(),
                        r.name.clone(),
                        state,
                        r.start_time.strftime("%Y-%m-%d %H:%M").to_string(),
                        r.playback.first().map(|p| p.1.clone()).unwrap_or_default(),
                    ]
                })
                .collect();
            out.push_str(&table(
                &["RECORDING", "NAME", "STATE", "STARTED (UTC)", "PLAYBACK"],
                rows,
            ));
        }
        Outcome::RecordingsChanged {
            server,
            action,
            records,
            note,
        } => {
            let ids: Vec<&str> = records.iter().map(|r| r.as_str()).collect();
            let _ = writeln!(
                out,
                "{} recording(s) {action} on server '{server}': {}",
                records.len(),
                ids.join(", ")
            );
            if let Some(note) = note {
                let _ = writeln!(out, "{note}");
            }
        }
        Outcome::Retention { report } => out.push_str(&retention(report)),
        Outcome::Rooms { rooms } if rooms.is_empty() => out.push_str("no rooms match\n"),
        Outcome::Rooms { rooms } => {
            for r in rooms {
                out.push_str(&room(r, opts));
            }
        }
        Outcome::User { user } => out.push_str(&user_detail(user)),
        Outcome::Items {
            operation,
            result_id,
            results,
        } => {
            let failed = results.iter().filter(|r| !r.ok).count();
            let _ = writeln!(
                out,
                "{}: {} ok, {failed} failed (result #{result_id})",
                operation.replace('_', " "),
                results.len() - failed
            );
            for r in results {
                let mark = if r.ok { "ok    " } else { "FAILED" };
                let _ = writeln!(out, "  {mark} {}: {}", r.item, r.message);
            }
        }
        Outcome::Mails { mails } if mails.is_empty() => {
            out.push_str("the mail outbox has no such mails\n")
        }
        Outcome::Mails { mails } => {
            for m in mails {
                let _ = write!(out, "#{} {} {} to {}", m.id, m.state, m.kind, m.recipient);
                if let Some(id) = &m.meeting {
                    let _ = write!(out, " — meeting {id}");
                }
                if let Some(o) = &m.occurrence {
                    let _ = write!(out, " {o}");
                }
                let _ = write!(out, " (attempts {})", m.attempts);
                match (m.state.as_str(), &m.sent_at, &m.reply, &m.last_error) {
                    ("sent", Some(at), reply, _) => {
                        let _ = write!(out, " sent {at}");
                        if let Some(r) = reply {
                            let _ = write!(out, ": {r}");
                        }
                    }
                    (state, _, _, error) => {
                        if state == "pending" && m.attempts > 0 {
                            let _ = write!(out, ", next try {}", m.not_before);
                        }
                        if let Some(e) = error {
                            let _ = write!(out, ": {e}");
                        }
                    }
                }
                out.push('\n');
            }
        }
        Outcome::TokenCreated {
            name,
            token,
            scopes,
        } => {
            let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            let _ = writeln!(out, "token {name} ({}):\n{token}", scopes.join(", "));
            out.push_str(
                "It is shown only now: keep it in a secret store. Send it as \
                 `Authorization: Bearer <token>`.\n",
            );
        }
        Outcome::Audit { entries } if entries.is_empty() => {
            out.push_str("No audit entries match.\n")
        }
        Outcome::Audit { entries } => {
            for e in entries {
                out.push_str(&format!(
                    "{}  {}  {}{}  {}{}\n",
                    e.at.strftime("%Y-%m-%d %H:%M:%S UTC"),
                    e.actor,
                    e.operation,
                    e.target
                        .as_ref()
                        .map(|t| format!(" {t}"))
                        .unwrap_or_default(),
                    e.result,
                    e.detail
                        .as_ref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                ));
            }
        }
        Outcome::Tokens { tokens } if tokens.is_empty() => out.push_str(
            "no API tokens; make one with `schedulight tokens create NAME --scope read`\n",
        ),
        Outcome::Tokens { tokens } => {
            let rows = tokens
                .iter()
                .map(|t| {
                    vec![
                        t.name.clone(),
                        t.scopes
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                        t.created_at.strftime("%Y-%m-%d %H:%M").to_string(),
                        t.last_used_at
                            .map(|u| u.strftime("%Y-%m-%d %H:%M").to_string())
                            .unwrap_or_else(|| "never".into()),
                        if t.revoked { "revoked" } else { "live" }.to_string(),
                    ]
                })
                .collect();
            out.push_str(&table(
                &["TOKEN", "SCOPES", "CREATED", "LAST USED", "STATE"],
                rows,
            ));
        }
        Outcome::Done { message } => {
            out.push_str(message);
            out.push('\n');
        }
    }
    out
}

pub fn error(e: &OpError) -> String {
    format!("error: {e}\n")
}

/// A retention run: what went (or would go), then the purge.
fn retention(report: &crate::domain::retention::RetentionReport) -> String {
    use crate::domain::retention::RetentionAction::*;
    let mut out = String::new();
    if report.dry_run {
        out.push_str("Dry run: nothing was changed.\n");
    }
    if report.recordings.is_empty() {
        out.push_str("No recording is due for a warning or deletion.\n");
    } else {
        let rows = report
            .recordings
            .iter()
            .map(|i| {
                let action = match (i.action, report.dry_run) {
                    (Warn, false) => "owner warned",
                    (Warn, true) => "warn owner",
                    (Delete, false) => "deleted",
                    (Delete, true) => "delete",
                    (Postponed, _) => "waits for warning period",
                    (Kept, _) => "kept",
                };
                vec![
                    i.server.to_string(),
                    i.record_id.to_string(),
                    i.name.clone(),
                    i.recorded.strftime("%Y-%m-%d").to_string(),
                    i.delete_on.strftime("%Y-%m-%d").to_string(),
                    action.to_string(),
                    i.owner.as_ref().map(|o| o.to_string()).unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "SERVER",
                "RECORDING",
                "NAME",
                "RECORDED",
                "DELETE ON",
                "ACTION",
                "OWNER",
            ],
            rows,
        ));
    }
    let p = report.purged;
    let verb = if report.dry_run {
        "would be purged"
    } else {
        "purged"
    };
    let _ = writeln!(
        out,
        "Old records {verb}: {} step history entries, {} sent messages, {} audit entries",
        p.step_history, p.sent_messages, p.audit_entries,
    );
    for problem in &report.problems {
        let _ = writeln!(out, "! {problem}");
    }
    out
}

fn room(r: &crate::domain::outcome::RoomView, opts: RenderOptions) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "----\n{}: {}", r.owner_name, r.name);
    let _ = writeln!(out, "Email: {}", r.owner_email);
    let _ = writeln!(out, "Meeting Link: {}", r.link);
    if opts.links {
        if let Some(m) = &r.moderator_link {
            let _ = writeln!(out, "Moderator Link: {m}");
        }
        if let Some(v) = &r.viewer_link {
            let _ = writeln!(out, "Viewer Link: {v}");
        }
    }
    if !r.shared_with.is_empty() {
        let _ = writeln!(out, "Shared with: {}", r.shared_with.join(", "));
    }
    out
}

fn user_detail(u: &crate::domain::outcome::UserView) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} <{}> on server '{}'", u.name, u.email, u.server);
    let role = u.role.as_deref().unwrap_or("-");
    let _ = writeln!(out, "  provider: {}, role: {role}", u.provider);
    let login = if u.has_password {
        "password"
    } else {
        "external sign-in"
    };
    let ext = u
        .external_id
        .as_deref()
        .map(|e| format!(" ({e})"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  signs in with: {login}{ext}; verified: {}",
        u.verified
    );
    let rooms = if u.rooms.is_empty() {
        "-".to_string()
    } else {
        u.rooms.join(", ")
    };
    let _ = writeln!(out, "  rooms: {rooms}");
    out
}

fn meeting_row(m: &MeetingView) -> Vec<String> {
    vec![
        m.spec.id.to_string(),
        m.spec.name.clone(),
        m.spec.server.to_string(),
        m.spec
            .start
            .map(|s| crate::domain::meeting::seed_datetime::format(&s))
            .unwrap_or_else(|| "-".into()),
        m.phase.as_str().to_string(),
    ]
}

fn meeting_detail(m: &MeetingView) -> String {
    let mut out = String::new();
    let s = &m.spec;
    let _ = writeln!(
        out,
        "{} ({}) on server '{}': {}",
        s.name,
        s.id,
        s.server,
        m.phase.as_str()
    );
    if let Some(start) = s.start {
        let zone = s.time_zone.as_deref().unwrap_or("default zone");
        let _ = writeln!(
            out,
            "  starts {} ({zone})",
            crate::domain::meeting::seed_datetime::format(&start)
        );
    }
    for n in &m.next {
        let retry = n
            .last_error
            .as_deref()
            .map(|e| format!(" (attempt {}: {e})", n.attempts))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  next: {} at {}{retry}",
            n.step.replace('_', " "),
            n.due.strftime("%Y-%m-%d %H:%M:%S UTC")
        );
    }
    for step in &m.steps {
        let _ = writeln!(
            out,
            "  {} {:<24} {} {}",
            step.at.strftime("%Y-%m-%d %H:%M:%S"),
            step.step,
            step.code,
            step.message
        );
    }
    out
}

fn running(servers: &[ServerMeetings], opts: RenderOptions) -> String {
    let mut out = String::new();
    for s in servers {
        match (&s.meetings, &s.error) {
            (Some(list), _) if list.is_empty() => {
                let _ = writeln!(
                    out,
                    "== {}: no meetings running ({} ms)",
                    s.server, s.elapsed_ms
                );
            }
            (Some(list), _) => {
                let _ = writeln!(
                    out,
                    "== {}: {} meeting(s) ({} ms)",
                    s.server,
                    list.len(),
                    s.elapsed_ms
                );
                for m in list {
                    out.push_str(&running_meeting(m, opts));
                }
            }
            (None, err) => {
                let why = err.as_deref().unwrap_or("no answer");
                let _ = writeln!(
                    out,
                    "== {}: NOT ANSWERING — {why} ({} ms)",
                    s.server, s.elapsed_ms
                );
            }
        }
    }
    out
}

fn running_meeting(m: &RunningMeeting, opts: RenderOptions) -> String {
    let mut out = String::new();
    let state = if m.running {
        "running"
    } else {
        "created, nobody in yet"
    };
    let rec = if m.recording { ", recording" } else { "" };
    let _ = writeln!(
        out,
        "{}\n  ID: {}\n  {state}{rec}; {} participant(s), {} moderator(s); created {}",
        m.name,
        m.meeting_id,
        m.participants,
        m.moderators,
        m.create_time.strftime("%Y-%m-%d %H:%M UTC")
    );
    if let (true, Some(links)) = (opts.links, &m.links) {
        let _ = writeln!(
            out,
            "  JOIN_MODERATOR_URL: {}\n  JOIN_ATTENDEE_URL:  {}",
            links.moderator, links.viewer
        );
    }
    out
}

/// A plain left-aligned table.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                let _ = write!(l, "{cell:<w$}  ", w = *w);
            }
        }
        l.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns() {
        let t = table(&["A", "BB"], vec![vec!["long".into(), "x".into()]]);
        assert_eq!(t, "A     BB\nlong  x\n");
    }
}

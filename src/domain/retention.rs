//! Retention rules for recordings and for our own records of people (bot-config.yml
//! `retention:`), and the pure decision what a rule means for one recording on one day.

use super::ids::{Email, RecordId, ServerId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long recordings live. Every field left out falls back to the wider rule: room → server
/// → the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingRule {
    /// Delete recordings this many days after they were recorded; `Some(0)` and `None` on
    /// every level: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_after_days: Option<u32>,
    /// Warn the owner (mail and chat) this many days before the deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_days_before: Option<u32>,
    /// Never delete (the whole server or room).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<bool>,
}

impl RecordingRule {
    /// `self` where it says something, else `wider`.
    fn over(&self, wider: &RecordingRule) -> RecordingRule {
        RecordingRule {
            delete_after_days: self.delete_after_days.or(wider.delete_after_days),
            warn_days_before: self.warn_days_before.or(wider.warn_days_before),
            keep: self.keep.or(wider.keep),
        }
    }
}

/// Warn this many days ahead when no rule says.
pub const DEFAULT_WARN_DAYS: u32 = 14;

/// bot-config.yml `retention:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionSettings {
    /// Local time (in `defaults.timeZone`) of the daily run; `None`: no daily run (the
    /// `retention` command still works).
    pub run_at: Option<jiff::civil::Time>,
    pub recordings: RecordingRule,
    pub servers: BTreeMap<ServerId, RecordingRule>,
    /// By Greenlight room id (friendly id) or BBB meetingID.
    pub rooms: BTreeMap<String, RecordingRule>,
    /// Where chat warnings go for recordings that belong to no scheduled meeting with a room.
    pub report_room: Option<String>,
    /// Purge step history (all but each step's latest entry) older than this.
    pub step_history_days: Option<u32>,
    /// Purge sent mail and chat messages older than this.
    pub sent_messages_days: Option<u32>,
    /// Purge audit entries older than this.
    pub audit_days: Option<u32>,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            run_at: Some(jiff::civil::time(3, 30, 0, 0)),
            recordings: RecordingRule::default(),
            servers: BTreeMap::new(),
            rooms: BTreeMap::new(),
            report_room: None,
            step_history_days: Some(365),
            sent_messages_days: Some(90),
            audit_days: Some(730),
        }
    }
}

impl RetentionSettings {
    /// The rule for a recording of `meeting_id` (and Greenlight room `room`, when it is one) on
    /// `server`.
    pub fn rule_for(
        &self,
        server: &ServerId,
        meeting_id: &str,
        room: Option<&str>,
    ) -> RecordingRule {
        let base = match self.servers.get(server) {
            Some(s) => s.over(&self.recordings),
            None => self.recordings.clone(),
        };
        let by_room = room.and_then(|r| self.rooms.get(r));
        match by_room.or_else(|| self.rooms.get(meeting_id)) {
            Some(r) => r.over(&base),
            None => base,
        }
    }

    /// Whether any recording can ever be deleted (so the daily run has to look at BBB).
    pub fn deletes_recordings(&self) -> bool {
        let deletes = |r: &RecordingRule| r.delete_after_days.is_some_and(|d| d > 0);
        deletes(&self.recordings)
            || self.servers.values().any(deletes)
            || self.rooms.values().any(deletes)
    }
}

/// What the rules do to one recording on one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionAction {
    /// Due within the warning period: the owner is told (once).
    Warn,
    /// Due, and the owner was warned long enough ago: deleted.
    Delete,
    /// Due, but the owner's warning went out too recently (or not at all): waits for the
    /// warning period, so nothing goes unannounced.
    Postponed,
    /// Due, but kept (its keep flag, or the room's or server's rule).
    Kept,
}

/// The decision for one recording, with what it rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionItem {
    pub server: ServerId,
    pub record_id: RecordId,
    pub name: String,
    pub meeting_id: String,
    pub recorded: jiff::Timestamp,
    /// When the rule deletes it (or would, for kept ones).
    pub delete_on: jiff::Timestamp,
    pub action: RetentionAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Email>,
}

/// How many of our own records a purge removed (or would remove).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purged {
    pub step_history: u64,
    pub sent_messages: u64,
    pub audit_entries: u64,
}

/// What a retention run did, or in a dry run would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionReport {
    pub dry_run: bool,
    pub at: jiff::Timestamp,
    /// Recordings with something to do (warned, deleted, postponed, kept although due).
    pub recordings: Vec<RetentionItem>,
    pub purged: Purged,
    /// What could not be done (a server unreachable, a deletion refused), to retry next run.
    pub problems: Vec<String>,
}

const DAY: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

fn days(n: u32) -> jiff::SignedDuration {
    DAY * i32::try_from(n).unwrap_or(i32::MAX)
}

/// `n` days before `t`.
pub fn days_before(t: jiff::Timestamp, n: u32) -> Option<jiff::Timestamp> {
    t.checked_sub(days(n)).ok()
}

/// `n` days after `t`.
pub fn days_after(t: jiff::Timestamp, n: u32) -> Option<jiff::Timestamp> {
    t.checked_add(days(n)).ok()
}

/// What `rule` says about a recording made at `recorded`, kept by its own flag when
/// `flagged`, whose owner was warned at `warned` (if ever), at `now`. `None`: nothing to do
/// yet (or ever).
pub fn decide(
    rule: &RecordingRule,
    recorded: jiff::Timestamp,
    flagged: bool,
    warned: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
) -> Option<(RetentionAction, jiff::Timestamp)> {
    let after = rule.delete_after_days.filter(|d| *d > 0)?;
    let delete_on = recorded.checked_add(days(after)).ok()?;
    let warn_days = rule.warn_days_before.unwrap_or(DEFAULT_WARN_DAYS);
    let warn_from = delete_on.checked_sub(days(warn_days)).ok()?;
    if now < warn_from {
        return None;
    }
    if flagged || rule.keep == Some(true) {
        return (now >= delete_on).then_some((RetentionAction::Kept, delete_on));
    }
    let action = match warned {
        // Never warned: warn now; the deletion waits a full warning period from today.
        None if warn_days > 0 => RetentionAction::Warn,
        None => RetentionAction::Delete,
        Some(w) if now >= delete_on && now >= w.checked_add(days(warn_days)).ok()? => {
            RetentionAction::Delete
        }
        Some(_) if now >= delete_on => RetentionAction::Postponed,
        // Warned, not due yet: nothing more to say.
        Some(_) => return None,
    };
    Some((action, delete_on))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    fn rule(after: u32, warn: u32) -> RecordingRule {
        RecordingRule {
            delete_after_days: Some(after),
            warn_days_before: Some(warn),
            keep: None,
        }
    }

    #[test]
    fn warn_then_delete() {
        let r = rule(30, 7);
        let rec = ts("2026-01-01T10:00:00Z");
        // Day 22: not yet in the warning window.
        assert_eq!(
            decide(&r, rec, false, None, ts("2026-01-24T09:59:59Z")),
            None
        );
        // Day 23 (delete_on − 7 days): warn.
        let (a, on) = decide(&r, rec, false, None, ts("2026-01-24T10:00:00Z")).unwrap();
        assert_eq!((a, on), (RetentionAction::Warn, ts("2026-01-31T10:00:00Z")));
        let warned = Some(ts("2026-01-24T10:00:00Z"));
        // Warned, before the day: quiet.
        assert_eq!(
            decide(&r, rec, false, warned, ts("2026-01-30T10:00:00Z")),
            None
        );
        // The day: deleted.
        assert_eq!(
            decide(&r, rec, false, warned, ts("2026-01-31T10:00:00Z")).map(|d| d.0),
            Some(RetentionAction::Delete)
        );
    }

    #[test]
    fn late_warning_postpones() {
        let r = rule(30, 7);
        let rec = ts("2026-01-01T10:00:00Z");
        // A rule introduced long after: warn first, never delete unannounced.
        assert_eq!(
            decide(&r, rec, false, None, ts("2026-06-01T00:00:00Z")).map(|d| d.0),
            Some(RetentionAction::Warn)
        );
        let warned = Some(ts("2026-06-01T00:00:00Z"));
        assert_eq!(
            decide(&r, rec, false, warned, ts("2026-06-05T00:00:00Z")).map(|d| d.0),
            Some(RetentionAction::Postponed)
        );
        assert_eq!(
            decide(&r, rec, false, warned, ts("2026-06-08T00:00:00Z")).map(|d| d.0),
            Some(RetentionAction::Delete)
        );
    }

    #[test]
    fn kept_and_never() {
        let rec = ts("2026-01-01T10:00:00Z");
        let late = ts("2027-01-01T00:00:00Z");
        assert_eq!(
            decide(&rule(30, 7), rec, true, None, late).map(|d| d.0),
            Some(RetentionAction::Kept)
        );
        let mut keep = rule(30, 7);
        keep.keep = Some(true);
        assert_eq!(
            decide(&keep, rec, false, None, late).map(|d| d.0),
            Some(RetentionAction::Kept)
        );
        assert_eq!(decide(&rule(0, 7), rec, false, None, late), None);
        assert_eq!(
            decide(&RecordingRule::default(), rec, false, None, late),
            None
        );
        // No warning period: deleted on the day.
        assert_eq!(
            decide(&rule(30, 0), rec, false, None, ts("2026-01-31T10:00:00Z")).map(|d| d.0),
            Some(RetentionAction::Delete)
        );
    }

    #[test]
    fn room_over_server_over_default() {
        let mut s = RetentionSettings {
            recordings: rule(365, 14),
            ..RetentionSettings::default()
        };
        let bbb: ServerId = "bbb".parse().unwrap();
        s.servers.insert(
            bbb.clone(),
            RecordingRule {
                delete_after_days: Some(90),
                ..Default::default()
            },
        );
        s.rooms.insert(
            "abc-def-ghi".into(),
            RecordingRule {
                keep: Some(true),
                ..Default::default()
            },
        );
        let other: ServerId = "other".parse().unwrap();
        assert_eq!(s.rule_for(&other, "m", None), rule(365, 14));
        assert_eq!(s.rule_for(&bbb, "m", None), rule(90, 14));
        let r = s.rule_for(&bbb, "m", Some("abc-def-ghi"));
        assert_eq!((r.delete_after_days, r.keep), (Some(90), Some(true)));
        assert!(s.deletes_recordings());
        assert!(!RetentionSettings::default().deletes_recordings());
    }
}

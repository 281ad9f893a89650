//! bot-config.yml `retention:` — recording rules (default, per server, per room) and how long
//! our own records of people are kept.

use super::read::{Ctx, Fields, entries};
use crate::domain::ServerId;
use crate::domain::retention::{RecordingRule, RetentionSettings};

pub(super) const RETENTION_KEYS: &[&str] = &[
    "run_at",
    "recordings",
    "servers",
    "rooms",
    "report_room",
    "step_history_days",
    "sent_messages_days",
    "audit_days",
];
const RULE_KEYS: &[&str] = &["delete_after_days", "warn_days_before", "keep"];

pub(super) fn read_retention(ctx: &mut Ctx, f: &Fields<'_>, r: &mut RetentionSettings) {
    if f.entry("run_at").is_some_and(|(_, v)| v.is_null()) {
        r.run_at = None;
    }
    if let Some(t) = f.checked(
        ctx,
        "run_at",
        "write a local time like \"03:30\" (quoted), or leave the value empty for no daily run",
        |s| {
            s.trim()
                .parse::<jiff::civil::Time>()
                .map_err(|_| format!("{s:?} is not a time of day"))
        },
    ) {
        r.run_at = Some(t);
    }
    if let Some((k, v)) = f.entry("recordings")
        && let Some(rule) = read_rule(ctx, v, &f.key_path("recordings"), &k.at)
    {
        r.recordings = rule;
    }
    for (name, key_at, rule) in named_rules(ctx, f, "servers") {
        match name.parse::<ServerId>() {
            Ok(id) => {
                r.servers.insert(id, rule);
            }
            Err(e) => ctx.error_hint(
                &key_at,
                &f.key_path("servers"),
                format!("{name:?} is not a server id: {}", e.reason),
                "use the `id` of a server under `servers:`",
            ),
        }
    }
    for (name, _, rule) in named_rules(ctx, f, "rooms") {
        r.rooms.insert(name, rule);
    }
    r.report_room = super::app::matrix_room(ctx, f, "report_room");
    for (key, slot) in [
        ("step_history_days", &mut r.step_history_days),
        ("sent_messages_days", &mut r.sent_messages_days),
        ("audit_days", &mut r.audit_days),
    ] {
        if f.entry(key).is_some_and(|(_, v)| v.is_null()) {
            *slot = None;
        } else if let Some(n) = f.uint::<u32>(ctx, key) {
            *slot = Some(n).filter(|n| *n > 0);
        }
    }
}

/// `servers:` / `rooms:` — a mapping of names to rules.
fn named_rules(
    ctx: &mut Ctx,
    f: &Fields<'_>,
    key: &str,
) -> Vec<(String, super::tree::At, RecordingRule)> {
    let Some(node) = f.get(key) else {
        return Vec::new();
    };
    let path = f.key_path(key);
    let Some(items) = entries(ctx, node, &path, "a mapping of names to rules") else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|(name, k, v)| {
            let rule = read_rule(ctx, v, &super::read::join(&path, name), &k.at)?;
            Some((name.to_string(), k.at.clone(), rule))
        })
        .collect()
}

fn read_rule(
    ctx: &mut Ctx,
    node: &super::tree::Node,
    path: &str,
    at: &super::tree::At,
) -> Option<RecordingRule> {
    let f = Fields::new(ctx, node, path, at, RULE_KEYS)?;
    Some(RecordingRule {
        delete_after_days: f.uint(ctx, "delete_after_days"),
        warn_days_before: f.uint(ctx, "warn_days_before"),
        keep: f.bool(ctx, "keep"),
    })
}

//! `recordings [for …]`, `<verb> recording <id>…`, `rename recording <id> to <name>`,
//! `audit […]` and `retention`.

use super::args;
use super::error::{Fail, shown};
use super::lex::{Word, join};
use super::{ChatContext, Parsed};
use crate::domain::ids::RecordId;
use crate::domain::operation::{Operation, RecordingChange, RecordingScope};

/// Entries `audit` shows in chat.
const AUDIT_LINES: u32 = 20;

fn run(op: Operation, confirm: bool) -> Parsed {
    Parsed::Run {
        op,
        confirm,
        echo: None,
    }
}

/// `recordings` (the requester's rooms, or all when the bot does not know their address),
/// `recordings for <room|e-mail|all>`, `recordings for meeting <id>`.
pub(super) fn list(rest: &[Word], ctx: &ChatContext) -> Result<Parsed, Fail> {
    let fail = || {
        Fail::new("Write `recordings`, or `recordings for <room|e-mail|meeting <id>|all>`.")
            .of("recordings")
    };
    let scope = match rest {
        [] => ctx.actor_email.clone().map(RecordingScope::Owner),
        [f, what @ ..] if f.is("for") => match what {
            [w] if w.is("all") => None,
            [w] if w.is_any(&["me", "mine", "my"]) => match &ctx.actor_email {
                Some(e) => Some(RecordingScope::Owner(e.clone())),
                None => {
                    return Err(Fail::new(
                        "I don't know your Greenlight e-mail address; write `recordings for <e-mail>`.",
                    )
                    .of("recordings"));
                }
            },
            [w] if w.text.contains('@') => Some(RecordingScope::Owner(args::email(w)?)),
            [m, id] if m.is("meeting") => Some(RecordingScope::Meeting(
                args::meeting_id(std::slice::from_ref(id)).map_err(|f| f.of("recordings"))?,
            )),
            [w] => Some(RecordingScope::Room(
                args::room(w).map_err(|f| f.of("recordings"))?,
            )),
            _ => return Err(fail()),
        },
        _ => return Err(fail()),
    };
    Ok(run(
        Operation::ListRecordings {
            server: ctx.default_server.clone(),
            scope,
        },
        false,
    ))
}

/// Record ids, separated by spaces, commas or "and".
fn record_ids(words: &[Word], cmd: &'static str) -> Result<Vec<RecordId>, Fail> {
    let ids = words
        .iter()
        .filter(|w| !w.is_any(&["and", "&"]))
        .flat_map(|w| w.text.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            RecordId::try_from(t).map_err(|e| {
                Fail::new(format!(
                    "{} is not a recording id: {} (`recordings` lists them).",
                    shown(t),
                    e.reason
                ))
                .of(cmd)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if ids.is_empty() {
        return Err(Fail::new("Which recording? Give its id; `recordings` lists them.").of(cmd));
    }
    Ok(ids)
}

/// `publish|unpublish|protect|unprotect|keep|unkeep|delete recording <id>…`; `rest` starts
/// after `recording`.
pub(super) fn change(verb: &str, rest: &[Word], ctx: &ChatContext) -> Result<Parsed, Fail> {
    let server = ctx.default_server.clone();
    let cmd = command_of(verb);
    let records = record_ids(rest, cmd)?;
    let update = |change| Operation::UpdateRecordings {
        server: server.clone(),
        records: records.clone(),
        change,
    };
    Ok(match verb {
        "publish" => run(
            Operation::PublishRecordings {
                server: server.clone(),
                records: records.clone(),
            },
            false,
        ),
        "unpublish" => run(
            Operation::UnpublishRecordings {
                server: server.clone(),
                records: records.clone(),
            },
            false,
        ),
        "protect" => run(update(RecordingChange::Protected(true)), false),
        "unprotect" => run(update(RecordingChange::Protected(false)), false),
        "keep" => run(update(RecordingChange::Keep(true)), false),
        "unkeep" => run(update(RecordingChange::Keep(false)), false),
        // Deleted recordings cannot be brought back: confirm first.
        _ => run(Operation::DeleteRecordings { server, records }, true),
    })
}

fn command_of(verb: &str) -> &'static str {
    match verb {
        "publish" | "unpublish" => "publish recording",
        "protect" | "unprotect" => "protect recording",
        "keep" | "unkeep" => "keep recording",
        _ => "delete recording",
    }
}

/// `rename recording <id> to <name>`; `rest` starts after `recording`.
pub(super) fn rename(rest: &[Word], ctx: &ChatContext) -> Result<Parsed, Fail> {
    let fail = |m: &str| Fail::new(m).of("rename recording");
    let Some(to) = rest.iter().position(|w| w.is("to")) else {
        return Err(fail("Write `rename recording <id> to <new name>`."));
    };
    let records = record_ids(&rest[..to], "rename recording")?;
    let name = join(&rest[to + 1..]);
    if name.trim().is_empty() {
        return Err(fail("Rename it to what?"));
    }
    Ok(run(
        Operation::UpdateRecordings {
            server: ctx.default_server.clone(),
            records,
            change: RecordingChange::Name(name),
        },
        false,
    ))
}

/// `audit [for <object>] [by <actor>]`: the latest entries (administrators only).
pub(super) fn audit(rest: &[Word]) -> Result<Parsed, Fail> {
    let mut query = crate::store::AuditQuery {
        limit: AUDIT_LINES,
        ..Default::default()
    };
    let mut words = rest;
    while let [kw, value, tail @ ..] = words {
        if kw.is("for") {
            query.target = Some(value.text.clone());
        } else if kw.is("by") {
            // Matrix users act as `matrix:@user:server`, tokens as `api:name`.
            let v = &value.text;
            query.actor = Some(if v.starts_with('@') {
                format!("matrix:{v}")
            } else {
                v.clone()
            });
        } else {
            break;
        }
        words = tail;
    }
    if !words.is_empty() {
        return Err(Fail::new(
            "Write `audit`, `audit for <meeting|room|recording>` or `audit by <@user:server|api:token>`.",
        )
        .of("audit"));
    }
    Ok(run(Operation::AuditLog { query }, false))
}

/// `retention`: what the rules would do now (a dry run; the daemon runs them daily).
pub(super) fn retention(rest: &[Word]) -> Result<Parsed, Fail> {
    match rest {
        [] => Ok(run(Operation::Retention { dry_run: true }, false)),
        [w] if w.is_any(&["plan", "preview"]) => {
            Ok(run(Operation::Retention { dry_run: true }, false))
        }
        _ => Err(Fail::new("`retention` takes nothing after it.").of("retention")),
    }
}

//! `users …`, `rooms …` and `results`: argv to Greenlight Operations.

use super::args::{LinksBy, RoomsCommand, ServerArg, UsersCommand};
use super::render::RenderOptions;
use crate::app::App;
use crate::domain::operation::{
    CreateRoom, CreateUser, RoomDisposition, RoomFilter, ShareRoom, UserRole,
};
use crate::domain::{Email, MeetingSpec, Operation, Recipient, RoomRef, Secret, ServerId};
use anyhow::{Context, anyhow, bail};
use std::collections::BTreeMap;
use std::io::BufRead;

/// The server named, or the only one there is.
async fn server(app: &App, arg: &ServerArg) -> anyhow::Result<ServerId> {
    if let Some(s) = &arg.server {
        return Ok(s.parse()?);
    }
    let servers = app.store.list_servers().await?;
    match servers.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => bail!("no servers are configured; add one to bot-config.yml"),
        many => bail!(
            "several servers are configured ({}); choose one with --server",
            many.iter()
                .map(|s| s.id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn email(s: &str) -> anyhow::Result<Email> {
    Ok(s.parse()?)
}

fn room(s: &str) -> anyhow::Result<RoomRef> {
    Ok(s.parse()?)
}

fn read_password(file: Option<&std::path::Path>, stdin: bool) -> anyhow::Result<Option<Secret>> {
    let line = match (file, stdin) {
        (Some(f), _) => std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the password file {}", f.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
        (None, true) => {
            let mut l = String::new();
            std::io::stdin().lock().read_line(&mut l)?;
            l.trim_end_matches(['\r', '\n']).to_string()
        }
        (None, false) => return Ok(None),
    };
    if line.is_empty() {
        bail!("the password is empty");
    }
    Ok(Some(Secret::new(line)))
}

pub(super) async fn users_op(app: &App, cmd: UsersCommand) -> anyhow::Result<Operation> {
    Ok(match cmd {
        UsersCommand::Show {
            email: e,
            server: s,
        } => Operation::ShowUser {
            server: server(app, &s).await?,
            email: email(&e)?,
        },
        UsersCommand::Create {
            email: e,
            name,
            password_file,
            password_stdin,
            role,
            external_id,
            provider,
            server: s,
        } => {
            let role = match role.as_deref() {
                None => UserRole::User,
                Some(r) if r.eq_ignore_ascii_case("user") => UserRole::User,
                Some(r) if r.eq_ignore_ascii_case("admin") => UserRole::Admin,
                Some(r) => UserRole::Named(r.to_string()),
            };
            Operation::CreateUser(CreateUser {
                server: server(app, &s).await?,
                email: email(&e)?,
                full_name: name,
                password: read_password(password_file.as_deref(), password_stdin)?,
                role,
                provider,
                external_id,
            })
        }
        UsersCommand::Delete {
            email: e,
            delete_rooms,
            transfer_rooms_to,
            with_recordings,
            server: s,
        } => {
            let rooms = match (delete_rooms, transfer_rooms_to) {
                (true, _) => RoomDisposition::Delete,
                (false, Some(to)) => RoomDisposition::TransferTo(email(&to)?),
                (false, None) => RoomDisposition::Refuse,
            };
            Operation::DeleteUser {
                server: server(app, &s).await?,
                email: email(&e)?,
                rooms,
                with_recordings,
            }
        }
    })
}

pub(super) async fn rooms_op(
    app: &App,
    cmd: RoomsCommand,
) -> anyhow::Result<(Operation, RenderOptions)> {
    let plain = RenderOptions::default();
    Ok(match cmd {
        RoomsCommand::Create {
            name,
            owner,
            id,
            access_code,
            server: s,
        } => (
            Operation::CreateRoom(CreateRoom {
                server: server(app, &s).await?,
                name,
                owner: email(&owner)?,
                uid: id.as_deref().map(room).transpose()?,
                access_code,
            }),
            plain,
        ),
        RoomsCommand::Delete {
            room: r,
            with_recordings,
            server: s,
        } => (
            Operation::DeleteRoom {
                server: server(app, &s).await?,
                room: room(&r)?,
                with_recordings,
            },
            plain,
        ),
        RoomsCommand::Rename {
            room: r,
            new_id,
            server: s,
        } => (
            Operation::RenameRoom {
                server: server(app, &s).await?,
                room: room(&r)?,
                new_uid: room(&new_id)?,
            },
            plain,
        ),
        RoomsCommand::Set {
            room: r,
            options,
            name,
            server: s,
        } => {
            let options = options
                .iter()
                .map(|kv| {
                    kv.split_once('=')
                        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                        .ok_or_else(|| anyhow!("{kv:?} is not OPTION=VALUE, e.g. record=true"))
                })
                .collect::<anyhow::Result<BTreeMap<_, _>>>()?;
            (
                Operation::SetRoom {
                    server: server(app, &s).await?,
                    room: room(&r)?,
                    name,
                    options,
                },
                plain,
            )
        }
        RoomsCommand::Share {
            room: r,
            users,
            server: s,
        } => (
            Operation::ShareRoom(share(app, &s, &r, &users).await?),
            plain,
        ),
        RoomsCommand::Unshare {
            room: r,
            users,
            server: s,
        } => (
            Operation::UnshareRoom(share(app, &s, &r, &users).await?),
            plain,
        ),
        RoomsCommand::Links {
            by,
            value,
            links,
            email: mail_to,
            server: s,
        } => {
            let need = || {
                value
                    .clone()
                    .ok_or_else(|| anyhow!("give what to look for after --by"))
            };
            let filter = match by {
                LinksBy::Name => RoomFilter::Name(need()?),
                LinksBy::Owner => RoomFilter::Owner(email(&need()?)?),
                LinksBy::Id => RoomFilter::Room(room(&need()?)?),
                LinksBy::Meetings => RoomFilter::Meetings,
            };
            (
                Operation::RoomLinks {
                    server: server(app, &s).await?,
                    filter,
                    mail_to: mail_to.as_deref().map(email).transpose()?,
                },
                RenderOptions { links },
            )
        }
    })
}

async fn share(app: &App, s: &ServerArg, r: &str, users: &[String]) -> anyhow::Result<ShareRoom> {
    let with = users
        .iter()
        .map(|u| Ok((email(u)?, Recipient::default())))
        .collect::<anyhow::Result<BTreeMap<_, _>>>()?;
    Ok(ShareRoom {
        server: server(app, s).await?,
        room: room(r)?,
        with,
    })
}

/// `meetings schedule`: one meeting from flags, or every meeting of a seed-format file.
pub(super) async fn schedule_ops(
    app: &App,
    args: super::args::ScheduleArgs,
) -> anyhow::Result<Vec<Operation>> {
    let wrap = |m: MeetingSpec| {
        if args.update {
            Operation::UpdateMeeting {
                meeting: Box::new(m),
            }
        } else {
            Operation::ScheduleMeeting {
                meeting: Box::new(m),
            }
        }
    };
    if let Some(file) = &args.file {
        let seed = crate::config::load_seed_file(file).map_err(|e| anyhow!("{e}"))?;
        let ops: Vec<Operation> = seed
            .operations()
            .filter_map(|op| match op {
                Operation::ScheduleMeeting { meeting } => Some(wrap((**meeting).clone())),
                _ => None,
            })
            .collect();
        if ops.is_empty() {
            bail!("{} has no meetings: section", file.display());
        }
        let mut servers = app.store.list_servers().await?;
        servers.extend(seed.operations().filter_map(|op| match op {
            Operation::AddServer { server } => Some((**server).clone()),
            _ => None,
        }));
        let quiet = crate::mail::send_emails_unset(
            app.config.mail.send_emails,
            &servers,
            ops.iter().filter_map(|op| match op {
                Operation::ScheduleMeeting { meeting } | Operation::UpdateMeeting { meeting } => {
                    Some(&**meeting)
                }
                _ => None,
            }),
        );
        if !quiet.is_empty() {
            let ids: Vec<&str> = quiet.iter().map(|m| m.as_str()).collect();
            eprintln!(
                "warning: {}: send_emails is set nowhere for {} ({}), so they get no mail. \
                 The original scheduLight mailed owners and invitees regardless; here mail is \
                 off by default. Set send_emails: true on the meetings, their server, or \
                 mail.send_emails in bot-config.yml to keep sending (schedulight doctor checks it).",
                file.display(),
                if ids.len() == 1 {
                    "meeting"
                } else {
                    "meetings"
                },
                ids.join(", ")
            );
        }
        return Ok(ops);
    }
    let (Some(id), Some(name)) = (&args.id, &args.name) else {
        bail!("give a meeting id and --name, or --file");
    };
    let mut m = MeetingSpec::new(id.parse()?, server(app, &args.server).await?, name.clone());
    m.start = args
        .start
        .as_deref()
        .map(crate::domain::meeting::seed_datetime::parse)
        .transpose()
        .map_err(|e| anyhow!("--start: {e}"))?;
    m.time_zone = args.time_zone.clone();
    m.room = args.room.as_deref().map(room).transpose()?;
    m.duration = args.duration;
    m.pre_open_minutes = args.pre_open_minutes;
    m.end_after_minutes = args.end_after_minutes;
    m.record = args.record.then_some(true);
    Ok(vec![wrap(m)])
}

/// `recordings …` → an Operation.
pub(super) async fn recordings_op(
    app: &App,
    command: super::args::RecordingsCommand,
) -> anyhow::Result<Operation> {
    use super::args::RecordingsCommand as C;
    use crate::domain::operation::{RecordingChange, RecordingScope};
    let ids = |r: &super::args::RecordIds| -> anyhow::Result<Vec<crate::domain::RecordId>> {
        r.records
            .iter()
            .map(|s| {
                crate::domain::RecordId::try_from(s.as_str())
                    .map_err(|e| anyhow!("{s:?} is not a record id: {}", e.reason))
            })
            .collect()
    };
    let update =
        |r: &super::args::RecordIds, change| -> anyhow::Result<_> { Ok((ids(r)?, change)) };
    let (r, change) = match &command {
        C::List {
            server: s,
            room: r,
            owner,
            meeting,
        } => {
            let scope = match (r, owner, meeting) {
                (Some(r), _, _) => Some(RecordingScope::Room(room(r)?)),
                (_, Some(o), _) => Some(RecordingScope::Owner(email(o)?)),
                (_, _, Some(m)) => Some(RecordingScope::Meeting(m.parse()?)),
                _ => None,
            };
            return Ok(Operation::ListRecordings {
                server: server(app, s).await?,
                scope,
            });
        }
        C::Publish(r) => {
            return Ok(Operation::PublishRecordings {
                server: server(app, &r.server).await?,
                records: ids(r)?,
            });
        }
        C::Unpublish(r) => {
            return Ok(Operation::UnpublishRecordings {
                server: server(app, &r.server).await?,
                records: ids(r)?,
            });
        }
        C::Delete(r) => {
            return Ok(Operation::DeleteRecordings {
                server: server(app, &r.server).await?,
                records: ids(r)?,
            });
        }
        C::Rename {
            server: s,
            record,
            name,
        } => {
            let id = crate::domain::RecordId::try_from(record.as_str())
                .map_err(|e| anyhow!("{record:?} is not a record id: {}", e.reason))?;
            return Ok(Operation::UpdateRecordings {
                server: server(app, s).await?,
                records: vec![id],
                change: RecordingChange::Name(name.clone()),
            });
        }
        C::Protect(r) => (r, update(r, RecordingChange::Protected(true))?),
        C::Unprotect(r) => (r, update(r, RecordingChange::Protected(false))?),
        C::ListPublicly(r) => (r, update(r, RecordingChange::Listed(true))?),
        C::Unlist(r) => (r, update(r, RecordingChange::Listed(false))?),
        C::Keep(r) => (r, update(r, RecordingChange::Keep(true))?),
        C::Unkeep(r) => (r, update(r, RecordingChange::Keep(false))?),
    };
    let (records, change) = change;
    Ok(Operation::UpdateRecordings {
        server: server(app, &r.server).await?,
        records,
        change,
    })
}

//! Every command but `schedule meeting`: a verb, then its arguments.

use super::args::{self, meeting_id, one_room};
use super::commands;
use super::error::{Fail, shown};
use super::lex::{Word, join};
use super::{ChatContext, Parsed, recordings, schedule, zone};
use crate::domain::ids::{Email, RoomRef};
use crate::domain::operation::{
    CreateRoom, CreateUser, Operation, RoomDisposition, RoomFilter, ShareRoom, UserRole,
};

/// The command words people start with, for "did you mean".
const VERBS: &[&str] = &[
    "schedule",
    "meetings",
    "show",
    "status",
    "start",
    "end",
    "cancel",
    "disable",
    "enable",
    "create",
    "rename",
    "delete",
    "share",
    "unshare",
    "timezone",
    "confirm",
    "deny",
    "help",
    "recordings",
    "publish",
    "unpublish",
    "protect",
    "unprotect",
    "keep",
    "unkeep",
    "audit",
    "retention",
];

/// Parses a whole command (already split into words, at least one).
pub(crate) fn dispatch(words: &[Word], ctx: &ChatContext) -> Result<Parsed, Fail> {
    let verb = words[0].lower();
    let rest = &words[1..];
    match verb.as_str() {
        "help" | "?" => Ok(help(rest, ctx)),
        "schedule" => schedule::parse(rest, ctx),
        "meetings" => no_args(rest, "meetings").map(|()| run(Operation::ListMeetings)),
        "list" => list(rest),
        "show" => show(rest, ctx),
        "status" | "disable" | "enable" | "start" | "end" => meeting_verb(&verb, rest),
        "cancel" => cancel(rest),
        "create" => create(rest, ctx),
        "rename" => rename(rest, ctx),
        "delete" | "remove" => delete(rest, ctx),
        "share" => share(rest, ctx, false),
        "unshare" => share(rest, ctx, true),
        "recordings" => recordings::list(rest, ctx),
        "publish" | "unpublish" | "protect" | "unprotect" | "keep" | "unkeep" => {
            recording_verb(&verb, rest, ctx)
        }
        "audit" => recordings::audit(rest),
        "retention" => recordings::retention(rest),
        "timezone" | "tz" => zone::parse(rest),
        "confirm" => number(rest, "confirm").map(|id| Parsed::Confirm { id }),
        "deny" => number(rest, "deny").map(|id| Parsed::Deny { id }),
        _ => Err(unknown(words)),
    }
}

/// `<verb> recording <id>…` (also `recordings`).
fn recording_verb(verb: &str, rest: &[Word], ctx: &ChatContext) -> Result<Parsed, Fail> {
    match rest.first() {
        Some(w) if w.is_any(&["recording", "recordings"]) => {
            recordings::change(verb, &rest[1..], ctx)
        }
        _ => Err(unknown_object(verb, rest, &["recording"])),
    }
}

fn help(rest: &[Word], ctx: &ChatContext) -> Parsed {
    let topic = join(rest);
    let topic = (!topic.is_empty()).then_some(topic.as_str());
    Parsed::Help {
        text: commands::help(topic, &ctx.prefix),
    }
}

fn run(op: Operation) -> Parsed {
    Parsed::Run {
        op,
        confirm: false,
        echo: None,
    }
}

fn confirmed(op: Operation) -> Parsed {
    Parsed::Run {
        op,
        confirm: true,
        echo: None,
    }
}

fn no_args(rest: &[Word], cmd: &'static str) -> Result<(), Fail> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(Fail::new(format!("`{cmd}` takes nothing after it.")).of(cmd))
    }
}

/// An unknown first word, with the closest command.
fn unknown(words: &[Word]) -> Fail {
    let typed = &words[0].text;
    let fail = Fail::new(format!(
        "I don't know the command {}. `help` lists the commands.",
        shown(typed)
    ));
    match crate::config::suggest(typed, VERBS.iter().copied()) {
        Some(verb) => {
            let mut fixed = vec![verb.to_string()];
            fixed.extend(words[1..].iter().map(|w| w.text.clone()));
            fail.suggest(fixed.join(" "))
        }
        None => fail,
    }
}

/// A second word that is not one of `allowed`, with the closest one.
fn unknown_object(verb: &str, rest: &[Word], allowed: &[&'static str]) -> Fail {
    let got = rest.first().map(|w| w.text.as_str()).unwrap_or("");
    let options = allowed
        .iter()
        .map(|a| format!("`{verb} {a}`"))
        .collect::<Vec<_>>()
        .join(" or ");
    let what = if got.is_empty() {
        format!("{verb} what? Use {options}.")
    } else {
        format!("I don't know `{verb} {got}`; use {options}.")
    };
    let fail = Fail::new(what);
    let Some(best) = crate::config::suggest(got, allowed.iter().copied()) else {
        return fail;
    };
    let mut fixed = vec![verb.to_string(), best.to_string()];
    fixed.extend(rest.iter().skip(1).map(|w| w.text.clone()));
    fail.suggest(fixed.join(" "))
}

/// `list meetings` (an alias of `meetings`).
fn list(rest: &[Word]) -> Result<Parsed, Fail> {
    match rest {
        [w] if w.is("meetings") => Ok(run(Operation::ListMeetings)),
        _ => Err(unknown_object("list", rest, &["meetings"]).of("meetings")),
    }
}

fn show(rest: &[Word], ctx: &ChatContext) -> Result<Parsed, Fail> {
    let Some(first) = rest.first() else {
        return Err(unknown_object("show", rest, &["meetings", "links"]));
    };
    let tail = &rest[1..];
    if first.is("links") {
        return links(tail, ctx).map_err(|f| f.of("show links"));
    }
    if first.is("meetings")
        || (first.is("running") && tail.first().is_some_and(|w| w.is("meetings")))
    {
        let tail = if first.is("running") {
            &tail[1..]
        } else {
            tail
        };
        return running(tail).map_err(|f| f.of("show meetings"));
    }
    Err(unknown_object("show", rest, &["meetings", "links"]))
}

/// `show meetings [on <server>]`.
fn running(rest: &[Word]) -> Result<Parsed, Fail> {
    let server = match rest {
        [] => None,
        [on, s] if on.is("on") => {
            Some(s.text.parse().map_err(|e: crate::domain::InvalidValue| {
                Fail::new(format!(
                    "{} is not a server id: {}.",
                    shown(&s.text),
                    e.reason
                ))
            })?)
        }
        _ => {
            return Err(Fail::new(
                "Write `show meetings` or `show meetings on <server>`.",
            ));
        }
    };
    Ok(run(Operation::ShowRunningMeetings { server }))
}

/// `show links [for <room|e-mail|name|meetings>]`; without `for`: the requester's rooms.
fn links(rest: &[Word], ctx: &ChatContext) -> Result<Parsed, Fail> {
    let filter = match rest {
        [] => RoomFilter::Owner(me(ctx, "show links for <e-mail>")?),
        [f, what @ ..] if f.is("for") && !what.is_empty() => link_filter(what, ctx)?,
        _ => {
            return Err(Fail::new(
                "Write `show links` or `show links for <room|e-mail|name>`.",
            ));
        }
    };
    Ok(run(Operation::RoomLinks {
        server: ctx.default_server.clone(),
        filter,
        mail_to: None,
    }))
}

fn link_filter(what: &[Word], ctx: &ChatContext) -> Result<RoomFilter, Fail> {
    if let [w] = what {
        if w.is("meetings") {
            return Ok(RoomFilter::Meetings);
        }
        if w.is_any(&["me", "mine", "my"]) {
            return Ok(RoomFilter::Owner(me(ctx, "show links for <e-mail>")?));
        }
        if w.text.contains('@') {
            return args::email(w).map(RoomFilter::Owner);
        }
        if !w.quoted && looks_like_room_id(&w.text) {
            return args::room(w).map(RoomFilter::Room);
        }
    }
    Ok(RoomFilter::Name(join(what)))
}

/// `abc-def-ghi` (v2 `abc-d3f-gh1`, v3 `abc-def-ghi-jkl`) or a pasted room link.
fn looks_like_room_id(s: &str) -> bool {
    let last = s.trim_end_matches('/').rsplit('/').next().unwrap_or(s);
    let parts: Vec<&str> = last.split('-').collect();
    (s.contains("://") && !last.is_empty())
        || (parts.len() >= 3
            && parts.iter().all(|p| {
                (2..=4).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric())
            }))
}

/// The requester's Greenlight address, or a request to name one.
fn me(ctx: &ChatContext, instead: &str) -> Result<Email, Fail> {
    ctx.actor_email.clone().ok_or_else(|| {
        Fail::new(format!(
            "I don't know your Greenlight e-mail address; write `{instead}`."
        ))
    })
}

/// `status|disable|enable|start|end [meeting] <meeting>`; `start` takes an optional `now`.
fn meeting_verb(verb: &str, rest: &[Word]) -> Result<Parsed, Fail> {
    let cmd = verb_command(verb);
    let mut rest = skip_meeting_word(rest);
    if verb == "start" && rest.len() == 2 && rest[1].is("now") {
        rest = &rest[..1];
    }
    let id = meeting_id(rest).map_err(|f| f.of(cmd))?;
    Ok(match verb {
        "status" => run(Operation::MeetingStatus { id }),
        "disable" => run(Operation::DisableMeeting { id }),
        "enable" => run(Operation::EnableMeeting { id }),
        "start" => run(Operation::StartMeetingNow { id }),
        // Ending sends everyone out of the meeting: confirm first.
        _ => confirmed(Operation::EndMeeting { id }),
    })
}

fn verb_command(verb: &str) -> &'static str {
    commands::COMMANDS
        .iter()
        .find(|c| c.name == verb)
        .map_or("help", |c| c.name)
}

/// `meeting <id>` → `<id>` (but a meeting called "meeting" stays).
fn skip_meeting_word(rest: &[Word]) -> &[Word] {
    match rest {
        [m, _, ..] if m.is("meeting") => &rest[1..],
        _ => rest,
    }
}

/// `cancel <number>` answers a confirmation (deny); `cancel [meeting] <id>` cancels a
/// meeting. A meeting whose id is all digits is cancelled with `cancel meeting <id>`.
fn cancel(rest: &[Word]) -> Result<Parsed, Fail> {
    if let [n] = rest
        && !n.quoted
        && !n.text.is_empty()
        && n.text.bytes().all(|b| b.is_ascii_digit())
    {
        return number(rest, "deny").map(|id| Parsed::Deny { id });
    }
    let id = meeting_id(skip_meeting_word(rest)).map_err(|f| f.of("cancel"))?;
    // A recurring meeting loses its whole series; the parser cannot tell, so always ask.
    Ok(confirmed(Operation::CancelMeeting { id }))
}

fn number(rest: &[Word], cmd: &'static str) -> Result<u32, Fail> {
    match rest {
        [n] => n
            .text
            .trim_start_matches('#')
            .parse::<u32>()
            .map_err(|_| Fail::new(format!("{} is not a number.", shown(&n.text))).of(cmd)),
        _ => Err(Fail::new("Give the number of the question, e.g. `confirm 7`.").of(cmd)),
    }
}

fn create(rest: &[Word], ctx: &ChatContext) -> Result<Parsed, Fail> {
    match rest.first() {
        Some(w) if w.is("room") => create_room(&rest[1..], ctx).map_err(|f| f.of("create room")),
        Some(w) if w.is("user") => create_user(&rest[1..], ctx).map_err(|f| f.of("create user")),
        _ => Err(unknown_object("create", rest, &["room", "user"])),
    }
}

/// `create room <name> [for <e-mail>]`.
fn create_room(rest: &[Word], ctx: &ChatContext) -> Result<Parsed, Fail> {
    let (name_words, owner) = match rest.iter().rposition(|w| w.is("for")) {
        Some(i) if i + 2 == rest.len() => (&rest[..i], args::email(&rest[i + 1])?),
        _ => (rest, me(ctx, "create room <name> for <e-mail>")?),
    };
    let name = join(name_words);
    if name.trim().is_empty() {
        return Err(Fail::new("What should the room be called?"));
    }
    Ok(run(Operation::CreateRoom(CreateRoom {
        server: ctx.default_server.clone(),
        name,
        owner,
        uid: None,
        access_code: None,
    })))
}

/// `create user <e-mail> <full name>`; never with a password.
fn create_user(rest: &[Word], ctx: &ChatContext) -> Result<Parsed, Fail> {
    let Some((first, name_words)) = rest.split_first() else {
        return Err(Fail::new("Give the user's e-mail address and full name."));
    };
    let email = args::email(first)?;
    if name_words.iter().any(args::looks_like_password) {
        return Err(args::password_refusal());
    }
    let full_name = join(name_words);
    if full_name.is_empty() {
        return Err(Fail::new(format!("What is {email}'s full name?")));
    }
    Ok(run(Operation::CreateUser(CreateUser {
        server: ctx.default_server.clone(),
        email,
        full_name,
        password: None,
        role: UserRole::User,
        provider: None,
        external_id: None,
    })))
}

/// `rename room <room> to <name>`. A new value shaped like a room id is asked back: the
/// room's name, or its id (link)?
fn rename(rest: &[Word], ctx: &ChatContext) -> Result<Parsed, Fail> {
    let fail = |m: &str| Fail::new(m).of("rename room");
    if rest.first().is_some_and(|w| w.is("recording")) {
        return recordings::rename(&rest[1..], ctx);
    }
    if !rest.first().is_some_and(|w| w.is("room")) {
        return Err(unknown_object("rename", rest, &["room", "recording"]));
    }
    let rest = &rest[1..];
    let Some(to) = rest.iter().position(|w| w.is("to")) else {
        return Err(fail("Write `rename room <room> to <new name>`."));
    };
    let room = one_room(&rest[..to]).map_err(|f| f.of("rename room"))?;
    let new = &rest[to + 1..];
    let name = join(new);
    if name.trim().is_empty() {
        return Err(fail("Rename it to what?"));
    }
    let set_name = Operation::SetRoom {
        server: ctx.default_server.clone(),
        room: room.clone(),
        name: Some(name.clone()),
        options: Default::default(),
    };
    match new {
        [w] if !w.quoted && looks_like_room_id(&w.text) => rename_question(room, w, set_name, ctx),
        _ => Ok(run(set_name)),
    }
}

fn rename_question(
    room: RoomRef,
    w: &Word,
    set_name: Operation,
    ctx: &ChatContext,
) -> Result<Parsed, Fail> {
    let new_uid = args::room(w)?;
    let change_id = Operation::RenameRoom {
        server: ctx.default_server.clone(),
        room: room.clone(),
        new_uid: new_uid.clone(),
    };
    Ok(Parsed::Question {
        text: format!(
            "{} looks like a room id. Change the room's name, or its id (the end of its link)?",
            shown(&w.text)
        ),
        choices: vec![
            (format!("Name {room} “{}”", w.text), set_name),
            (format!("Change the id {room} to {new_uid}"), change_id),
        ],
    })
}

fn delete(rest: &[Word], ctx: &ChatContext) -> Result<Parsed, Fail> {
    match rest.first() {
        Some(w) if w.is("room") => delete_room(&rest[1..], ctx).map_err(|f| f.of("delete room")),
        Some(w) if w.is("user") => delete_user(&rest[1..], ctx).map_err(|f| f.of("delete user")),
        Some(w) if w.is_any(&["recording", "recordings"]) => {
            recordings::change("delete", &rest[1..], ctx)
        }
        _ => Err(unknown_object(
            "delete",
            rest,
            &["room", "user", "recording"],
        )),
    }
}

/// `delete room <room> [with recordings]`.
fn delete_room(rest: &[Word], ctx: &ChatContext) -> Result<Parsed, Fail> {
    let (room_words, with_recordings) = match rest {
        [_, w, rec] if w.is("with") && rec.is_any(&["recordings", "recording"]) => {
            (&rest[..1], true)
        }
        _ => (rest, false),
    };
    let room = one_room(room_words)?;
    Ok(confirmed(Operation::DeleteRoom {
        server: ctx.default_server.clone(),
        room,
        with_recordings,
    }))
}

/// `delete user <e-mail>`: refused by the service while the user owns rooms.
fn delete_user(rest: &[Word], ctx: &ChatContext) -> Result<Parsed, Fail> {
    let [w] = rest else {
        return Err(Fail::new("Give one e-mail address."));
    };
    Ok(confirmed(Operation::DeleteUser {
        server: ctx.default_server.clone(),
        email: args::email(w)?,
        rooms: RoomDisposition::Refuse,
        with_recordings: false,
    }))
}

/// `share room <room> with <e-mail>…` / `unshare room <room> from <e-mail>…`.
fn share(rest: &[Word], ctx: &ChatContext, unshare: bool) -> Result<Parsed, Fail> {
    let (verb, cmd, link) = if unshare {
        ("unshare", "unshare room", ["from", "with"])
    } else {
        ("share", "share room", ["with", "to"])
    };
    if !rest.first().is_some_and(|w| w.is("room")) {
        return Err(unknown_object(verb, rest, &["room"]));
    }
    let rest = &rest[1..];
    let Some(at) = rest.iter().position(|w| w.is_any(&link)) else {
        return Err(
            Fail::new(format!("Write `{verb} room <room> {} <e-mail>…`.", link[0])).of(cmd),
        );
    };
    let room = one_room(&rest[..at]).map_err(|f| f.of(cmd))?;
    let with = args::emails(&rest[at + 1..]).map_err(|f| f.of(cmd))?;
    let share = ShareRoom {
        server: ctx.default_server.clone(),
        room,
        with,
    };
    Ok(run(if unshare {
        Operation::UnshareRoom(share)
    } else {
        Operation::ShareRoom(share)
    }))
}

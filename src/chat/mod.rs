//! Chat commands → [`Operation`]s. Pure: no I/O, no clock (the caller passes `now`), no
//! panics on any input.
//!
//! The bot calls [`command_text`] to see whether a message is for it, then [`parse`] with the
//! user's [`ChatContext`], and acts on the [`Parsed`] answer:
//!
//! * `Run` an operation, after the requester confirms when `confirm` is set (cancelling a
//!   meeting, ending one, deleting a room or a user), showing `echo` (the resolved time);
//! * ask a `Question` when the command can be read in more than one way ("next friday",
//!   "at 3", "3/4/2027", a time a DST change skips or repeats, a new room value that looks
//!   like an id) — the parser never guesses; each choice carries its operation;
//! * show `Help`, store a `SetTimeZone`, or resolve a pending confirmation (`Confirm`/`Deny`).
//!
//! Users are named by e-mail address: the bot replaces mentions of Matrix users by the
//! addresses it knows before calling [`parse`] ([`user_ids`] finds typed Matrix ids); an id
//! left in the text is refused with a request for the address. `cancel <number>` answers a
//! confirmation question (like `deny`); a meeting whose id is a number is cancelled with
//! `cancel meeting <id>`.

mod args;
mod commands;
mod duration;
mod error;
mod every;
mod lex;
mod mention;
mod ops;
mod recordings;
mod resolve;
mod schedule;
mod when;
mod zone;

pub use args::user_ids;
pub use commands::{COMMANDS, CommandDoc, commands, help};
pub use error::ParseError;
pub use mention::{command_text, pills_to_ids};

use crate::domain::ids::{Email, ServerId};
use crate::domain::operation::Operation;
use error::Fail;
use serde::{Deserialize, Serialize};

/// Who asks, where and when: everything a command's meaning depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatContext {
    pub now: jiff::Timestamp,
    /// The user's zone; dates are typed and shown in it.
    pub zone: jiff::tz::TimeZone,
    /// The Greenlight e-mail address of the Matrix sender, when the bot knows it.
    pub actor_email: Option<Email>,
    pub default_server: ServerId,
    /// The command prefix, e.g. `!bbb`, used in help and usage lines.
    pub prefix: String,
}

/// What a command asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parsed {
    /// Run `op`; when `confirm`, only after the requester confirms.
    Run {
        op: Operation,
        confirm: bool,
        /// How the command was understood, e.g. the absolute start
        /// "Thu 3 Dec 2026, 11:00 CET (Europe/Vienna)".
        echo: Option<String>,
    },
    /// The command can be read in more than one way: ask, offering each reading.
    Question {
        text: String,
        choices: Vec<(String, Operation)>,
    },
    Help {
        text: String,
    },
    /// The user's new time zone (serialised as its IANA name).
    SetTimeZone(#[serde(with = "zone_serde")] jiff::tz::TimeZone),
    /// Go ahead with pending confirmation `id`.
    Confirm {
        id: u32,
    },
    /// Drop pending confirmation `id`.
    Deny {
        id: u32,
    },
}

/// Parses `text`, a command without prefix or mention (see [`command_text`]).
pub fn parse(text: &str, ctx: &ChatContext) -> Result<Parsed, ParseError> {
    let words = lex::words(lex::trim_command(text));
    let result = if words.is_empty() {
        Ok(Parsed::Help {
            text: help(None, &ctx.prefix),
        })
    } else if args::carries_password(&words) {
        Err(args::password_refusal())
    } else {
        ops::dispatch(&words, ctx)
    };
    result.map_err(|f| public_error(f, &ctx.prefix))
}

fn public_error(f: Fail, prefix: &str) -> ParseError {
    let with_prefix = |s: String| {
        if prefix.is_empty() {
            s
        } else {
            format!("{prefix} {s}")
        }
    };
    ParseError {
        message: f.message,
        usage: f.command.and_then(|c| commands::usage_line(c, prefix)),
        did_you_mean: f.did_you_mean.map(with_prefix),
    }
}

/// `SetTimeZone` on the wire: the IANA name.
mod zone_serde {
    use jiff::tz::TimeZone;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(tz: &TimeZone, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.iana_name().unwrap_or("UTC"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TimeZone, D::Error> {
        let name = String::deserialize(d)?;
        TimeZone::get(&name).map_err(D::Error::custom)
    }
}

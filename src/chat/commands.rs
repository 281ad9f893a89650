//! The one table of chat commands. Help text, usage lines in errors and (later) the docs are
//! generated from it, so they cannot drift apart.

use serde::Serialize;

/// One chat command, documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CommandDoc {
    /// The command words, e.g. `schedule meeting`.
    pub name: &'static str,
    /// Group heading in the help.
    pub category: &'static str,
    /// Usage without the prefix: `<required>` and `[optional]` parts.
    pub usage: &'static str,
    /// One line.
    pub summary: &'static str,
    /// More detail for `help <command>`; may be empty.
    pub details: &'static str,
    /// Full commands without the prefix.
    pub examples: &'static [&'static str],
    /// Whether the bot asks the requester to confirm before it runs.
    pub confirm: bool,
}

const MEETINGS: &str = "Meetings";
const ROOMS: &str = "Rooms";
const USERS: &str = "Users";
const RECORDINGS: &str = "Recordings";
const ADMIN: &str = "Administration";
const SETTINGS: &str = "Settings and answers";

/// Every command, in help order.
pub const COMMANDS: &[CommandDoc] = &[
    CommandDoc {
        name: "schedule meeting",
        category: MEETINGS,
        usage: "schedule meeting [name] <when> [for <duration>] [in room <room>] \
                [with <e-mail>…] [every <rule> [until <date>]]",
        summary: "Schedule a meeting in your time zone.",
        details: "<when>: `tomorrow 11:00`, `friday 3pm`, `next friday 15:00`, `in 2 hours`, \
                  `3 December 14:30`, `14:30 on 3 Dec`, `2026-12-03 14:00`, `3.12.2026 9:00`. \
                  Times without am/pm are 24-hour; a bare hour (`at 3`), `next friday`, \
                  `3/4/2027` and times that a DST change skips or repeats are asked back. \
                  <duration>: `90 minutes`, `1h30`, `2 hours`. \
                  <rule>: `day`, `weekday`, `monday`, `monday and thursday`, `week`, \
                  `2 weeks on tuesday`, `month`; the first meeting is the first day on or \
                  after <when> that fits the rule. Put a name in quotes when it contains \
                  `for`, `with`, `in room` or `every`.",
        examples: &[
            "schedule meeting “Linear Algebra” tomorrow 11:00 for 90 minutes",
            "schedule meeting Standup every weekday 09:30 until 2027-02-01",
            "schedule meeting Review next friday 3pm in room abc-def-ghi with bob@uni.example",
        ],
        confirm: false,
    },
    CommandDoc {
        name: "meetings",
        category: MEETINGS,
        usage: "meetings",
        summary: "List the scheduled meetings.",
        details: "",
        examples: &["meetings"],
        confirm: false,
    },
    CommandDoc {
        name: "show meetings",
        category: MEETINGS,
        usage: "show meetings [on <server>]",
        summary: "Show the meetings running now, on one server or on all.",
        details: "",
        examples: &["show meetings", "show meetings on bbb"],
        confirm: false,
    },
    CommandDoc {
        name: "status",
        category: MEETINGS,
        usage: "status <meeting>",
        summary: "Show a scheduled meeting and its step history.",
        details: "<meeting> is the id shown by `meetings`.",
        examples: &["status linear-algebra-2026-12-03-1100"],
        confirm: false,
    },
    CommandDoc {
        name: "start",
        category: MEETINGS,
        usage: "start <meeting> now",
        summary: "Start a scheduled meeting now instead of at its time.",
        details: "",
        examples: &["start linear-algebra-2026-12-03-1100 now"],
        confirm: false,
    },
    CommandDoc {
        name: "end",
        category: MEETINGS,
        usage: "end <meeting>",
        summary: "End a running meeting; everyone in it is sent out.",
        details: "",
        examples: &["end linear-algebra-2026-12-03-1100"],
        confirm: true,
    },
    CommandDoc {
        name: "cancel",
        category: MEETINGS,
        usage: "cancel <meeting>",
        summary: "Cancel a scheduled meeting (a recurring one: the whole series).",
        details: "Always asks for confirmation, since it may be a whole series. `cancel` \
                  followed by a number answers a confirmation question instead (see `deny`); \
                  for a meeting whose id is a number write `cancel meeting <id>`.",
        examples: &["cancel linear-algebra-2026-12-03-1100", "cancel meeting 42"],
        confirm: true,
    },
    CommandDoc {
        name: "disable",
        category: MEETINGS,
        usage: "disable <meeting>",
        summary: "Pause a scheduled meeting; nothing runs until it is enabled.",
        details: "",
        examples: &["disable standup-2026-12-03-0930"],
        confirm: false,
    },
    CommandDoc {
        name: "enable",
        category: MEETINGS,
        usage: "enable <meeting>",
        summary: "Resume a disabled meeting.",
        details: "",
        examples: &["enable standup-2026-12-03-0930"],
        confirm: false,
    },
    CommandDoc {
        name: "show links",
        category: ROOMS,
        usage: "show links [for <room|e-mail|name|meetings>]",
        summary: "Show the join links of rooms: yours, one room, an owner's, by name, or \
                  those of scheduled meetings.",
        details: "",
        examples: &[
            "show links",
            "show links for abc-def-ghi",
            "show links for bob@uni.example",
            "show links for meetings",
        ],
        confirm: false,
    },
    CommandDoc {
        name: "create room",
        category: ROOMS,
        usage: "create room <name> [for <e-mail>]",
        summary: "Create a Greenlight room, owned by you or by the given user.",
        details: "",
        examples: &[
            "create room “Linear Algebra”",
            "create room Seminar for bob@uni.example",
        ],
        confirm: false,
    },
    CommandDoc {
        name: "rename room",
        category: ROOMS,
        usage: "rename room <room> to <name>",
        summary: "Give a room a new name (or, when asked, a new id).",
        details: "A new value that looks like a room id (`abc-def-ghi`) is asked back: the \
                  room's name or its id?",
        examples: &["rename room abc-def-ghi to “Linear Algebra II”"],
        confirm: false,
    },
    CommandDoc {
        name: "delete room",
        category: ROOMS,
        usage: "delete room <room> [with recordings]",
        summary: "Delete a Greenlight room (and its recordings when asked).",
        details: "",
        examples: &[
            "delete room abc-def-ghi",
            "delete room abc-def-ghi with recordings",
        ],
        confirm: true,
    },
    CommandDoc {
        name: "share room",
        category: ROOMS,
        usage: "share room <room> with <e-mail>…",
        summary: "Share a room with Greenlight users.",
        details: "Users are given by e-mail address; a mention of a Matrix user works when \
                  the bot knows their address.",
        examples: &["share room abc-def-ghi with bob@uni.example, carol@uni.example"],
        confirm: false,
    },
    CommandDoc {
        name: "unshare room",
        category: ROOMS,
        usage: "unshare room <room> from <e-mail>…",
        summary: "Stop sharing a room with Greenlight users.",
        details: "",
        examples: &["unshare room abc-def-ghi from bob@uni.example"],
        confirm: false,
    },
    CommandDoc {
        name: "create user",
        category: USERS,
        usage: "create user <e-mail> <full name>",
        summary: "Create a Greenlight user.",
        details: "Never type a password in chat: the room keeps it. The user sets one with \
                  Greenlight's password reset, or signs in through the identity provider.",
        examples: &["create user bob@uni.example Bob Builder"],
        confirm: false,
    },
    CommandDoc {
        name: "delete user",
        category: USERS,
        usage: "delete user <e-mail>",
        summary: "Delete a Greenlight user (refused while they own rooms).",
        details: "",
        examples: &["delete user bob@uni.example"],
        confirm: true,
    },
    CommandDoc {
        name: "recordings",
        category: RECORDINGS,
        usage: "recordings [for <room|e-mail|meeting <id>|all>]",
        summary: "List recordings: yours, a room's, a user's, a meeting's or all.",
        details: "Without `for`: the recordings of your Greenlight rooms (all of the server's \
                  when the bot does not know your address). Each line shows the recording id \
                  the other recording commands take, and whether it is published, protected, \
                  listed or kept.",
        examples: &[
            "recordings",
            "recordings for abc-def-ghi",
            "recordings for bob@uni.example",
            "recordings for meeting lecture",
        ],
        confirm: false,
    },
    CommandDoc {
        name: "publish recording",
        category: RECORDINGS,
        usage: "publish|unpublish recording <id>…",
        summary: "Make recordings watchable, or hide them.",
        details: "Greenlight's copy of the recording follows.",
        examples: &[
            "publish recording 183f0bf3a0982a127bdb8161e0c44eb696b3e75c-1531240585189",
            "unpublish recording 183f0bf3a0982a127bdb8161e0c44eb696b3e75c-1531240585189",
        ],
        confirm: false,
    },
    CommandDoc {
        name: "protect recording",
        category: RECORDINGS,
        usage: "protect|unprotect recording <id>…",
        summary: "Playback only for signed-in users (BBB 2.6 and later).",
        details: "Greenlight shows it as Protected.",
        examples: &["protect recording 183f0bf3a0982a127bdb8161e0c44eb696b3e75c-1531240585189"],
        confirm: false,
    },
    CommandDoc {
        name: "rename recording",
        category: RECORDINGS,
        usage: "rename recording <id> to <name>",
        summary: "Give a recording the name players and Greenlight show.",
        details: "",
        examples: &[
            "rename recording 183f0bf3a0982a127bdb8161e0c44eb696b3e75c-1531240585189 to “Lecture 3”",
        ],
        confirm: false,
    },
    CommandDoc {
        name: "keep recording",
        category: RECORDINGS,
        usage: "keep|unkeep recording <id>…",
        summary: "Exempt recordings from the retention rules (or hand them back).",
        details: "The mark is kept on the BBB server with the recording.",
        examples: &["keep recording 183f0bf3a0982a127bdb8161e0c44eb696b3e75c-1531240585189"],
        confirm: false,
    },
    CommandDoc {
        name: "delete recording",
        category: RECORDINGS,
        usage: "delete recording <id>…",
        summary: "Delete recordings on BBB and in Greenlight (administrators; cannot be undone).",
        details: "",
        examples: &["delete recording 183f0bf3a0982a127bdb8161e0c44eb696b3e75c-1531240585189"],
        confirm: true,
    },
    CommandDoc {
        name: "audit",
        category: ADMIN,
        usage: "audit [for <object>] [by <@user:server|api:token>]",
        summary: "Who changed what, latest first (administrators).",
        details: "Shows the last 20 entries; `schedulight audit` and GET /api/v1/audit query \
                  by time and export them.",
        examples: &["audit", "audit for lecture", "audit by @ada:uni.example"],
        confirm: false,
    },
    CommandDoc {
        name: "retention",
        category: ADMIN,
        usage: "retention",
        summary: "What the retention rules would warn about and delete now (administrators).",
        details: "Changes nothing; the daemon runs the rules daily (bot-config.yml `retention:`).",
        examples: &["retention"],
        confirm: false,
    },
    CommandDoc {
        name: "timezone",
        category: SETTINGS,
        usage: "timezone <zone>",
        summary: "Set your time zone (IANA name) for the dates you type and see.",
        details: "",
        examples: &["timezone Europe/Vienna", "timezone America/New_York"],
        confirm: false,
    },
    CommandDoc {
        name: "confirm",
        category: SETTINGS,
        usage: "confirm <number>",
        summary: "Go ahead with a command that waits for your confirmation.",
        details: "",
        examples: &["confirm 7"],
        confirm: false,
    },
    CommandDoc {
        name: "deny",
        category: SETTINGS,
        usage: "deny <number>",
        summary: "Drop a command that waits for your confirmation (also `cancel <number>`).",
        details: "",
        examples: &["deny 7", "cancel 7"],
        confirm: false,
    },
    CommandDoc {
        name: "help",
        category: SETTINGS,
        usage: "help [command]",
        summary: "This list, or details and examples of one command.",
        details: "",
        examples: &["help", "help schedule"],
        confirm: false,
    },
];

/// The whole table (for generated docs).
pub fn commands() -> &'static [CommandDoc] {
    COMMANDS
}

/// The entry called `name`.
pub(crate) fn doc(name: &str) -> Option<&'static CommandDoc> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// The usage line of `name` with the prefix.
pub(crate) fn usage_line(name: &str, prefix: &str) -> Option<String> {
    doc(name).map(|c| with_prefix(prefix, c.usage))
}

fn with_prefix(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() {
        rest.to_string()
    } else {
        format!("{prefix} {rest}")
    }
}

/// The help text: all commands by category, or the details of the commands matching
/// `command` (`schedule`, `create`, `delete room`).
pub fn help(command: Option<&str>, prefix: &str) -> String {
    let wanted = command
        .map(|c| {
            c.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        })
        .filter(|c| !c.is_empty());
    match wanted {
        None => overview(prefix),
        Some(c) => {
            let found = matching(&c);
            if found.is_empty() {
                unknown_help(&c, prefix)
            } else {
                found
                    .iter()
                    .map(|d| detail(d, prefix))
                    .collect::<Vec<_>>()
                    .join("\n\n")
            }
        }
    }
}

/// Entries whose name is `c`, or starts with or ends with it as whole words.
fn matching(c: &str) -> Vec<&'static CommandDoc> {
    let exact: Vec<_> = COMMANDS.iter().filter(|d| d.name == c).collect();
    if !exact.is_empty() {
        return exact;
    }
    COMMANDS
        .iter()
        .filter(|d| d.name.split(' ').any(|w| w == c) || d.name.starts_with(&format!("{c} ")))
        .collect()
}

fn overview(prefix: &str) -> String {
    let mut out = String::from("Commands");
    if !prefix.is_empty() {
        out.push_str(&format!(
            " (start with `{prefix}`; in a direct chat with me you can leave it out)"
        ));
    }
    out.push(':');
    let mut category = "";
    for d in COMMANDS {
        if d.category != category {
            category = d.category;
            out.push_str(&format!("\n\n{category}"));
        }
        out.push_str(&format!(
            "\n• `{}` — {}",
            with_prefix(prefix, d.usage),
            d.summary
        ));
    }
    out.push_str(&format!(
        "\n\n`{}` shows details and examples. Commands marked for confirmation wait for \
         `{}`.",
        with_prefix(prefix, "help <command>"),
        with_prefix(prefix, "confirm <number>")
    ));
    out
}

fn detail(d: &CommandDoc, prefix: &str) -> String {
    let mut out = format!("`{}`\n{}", with_prefix(prefix, d.usage), d.summary);
    if !d.details.is_empty() {
        out.push_str(&format!("\n{}", d.details));
    }
    if d.confirm {
        out.push_str("\nAsks you to confirm before it runs.");
    }
    out.push_str("\nExamples:");
    for e in d.examples {
        out.push_str(&format!("\n• `{}`", with_prefix(prefix, e)));
    }
    out
}

fn unknown_help(c: &str, prefix: &str) -> String {
    let names = COMMANDS.iter().map(|d| d.name);
    let mut out = format!("There is no command “{c}”.");
    if let Some(s) = crate::config::suggest(c, names) {
        out.push_str(&format!(
            " Did you mean `{}`?",
            with_prefix(prefix, &format!("help {s}"))
        ));
    }
    out.push_str(&format!(
        " `{}` lists all commands.",
        with_prefix(prefix, "help")
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overview_lists_every_command_with_prefix() {
        let h = help(None, "!bbb");
        for d in COMMANDS {
            assert!(h.contains(&format!("`!bbb {}`", d.usage)), "{}", d.name);
        }
        assert!(h.contains("Meetings") && h.contains("Rooms"));
    }

    #[test]
    fn detail_by_first_word() {
        let h = help(Some("create"), "!bbb");
        assert!(h.contains("create room") && h.contains("create user"));
        assert!(help(Some("Schedule"), "!x").contains("`!x schedule meeting “Linear"));
        assert!(help(Some("delete room"), "!x").contains("Asks you to confirm"));
        assert!(!help(Some("delete room"), "!x").contains("delete user"));
    }

    #[test]
    fn unknown_help_suggests() {
        let h = help(Some("shedule"), "!bbb");
        assert!(
            h.contains("Did you mean `!bbb help schedule meeting`?"),
            "{h}"
        );
    }

    #[test]
    fn names_are_unique_and_examples_use_their_command() {
        for (i, d) in COMMANDS.iter().enumerate() {
            assert!(COMMANDS[i + 1..].iter().all(|o| o.name != d.name));
            assert!(!d.examples.is_empty());
        }
    }
}

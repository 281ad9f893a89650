//! Front-end parity: the same request, given through chat, the command line, the original
//! tool's YAML files and the REST API, must mean the same thing.
//!
//! One table of requests; each row says how every front end expresses it, or that it cannot
//! (and why). Chat and YAML hand back an `Operation`, compared field by field. The CLI builds
//! its `Operation` in private functions (`cli::meetings_op`, `cli::greenlight::{users_op,
//! rooms_op, schedule_ops}`, over the private `cli::args` command enums), so a test cannot get
//! at it: its argv is parsed with `Cli::try_parse_from` and then run by the real binary with
//! `--json`, and compared by what it does: the outcome it prints and the state it leaves
//! (meetings, running meetings, Greenlight users and rooms, audit log) against the agreed
//! `Operation` executed through `Service::execute` on an identically prepared world (SQLite
//! store, BBB simulator, a throwaway PostgreSQL with the Greenlight v3 schema).
//!
//! Differences the front ends really have are listed per row (`known`) with the reason; every
//! difference found must be listed there, and every listed one must still be found, so the
//! table tells the truth in both directions.

mod common;

use clap::Parser;
use schedulight::app::App;
use schedulight::bbb::sim::{SimConfig, SimHandle};
use schedulight::chat::{ChatContext, Parsed};
use schedulight::cli::Cli;
use schedulight::config::{AppConfig, EnvVars, parse_seed_file};
use schedulight::domain::operation::{CreateRoom, CreateUser, RoomFilter, ShareRoom, UserRole};
use schedulight::domain::{Actor, Email, Operation, Recipient, Scope};
use schedulight::testkit::pg::PgCluster;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// Sunday 9 March 2031, 09:00 in Vienna: "tomorrow" is Monday 10 March.
const NOW: &str = "2031-03-09T08:00:00Z";
const ZONE: &str = "Europe/Vienna";
const ACTOR: &str = "ada@uni.example";
const SERVER: &str = "bbb";
const BBB_SECRET: &str = "parity-bbb-secret";
const LINK_BASE: &str = "https://gl.uni.example";
const V3_SCHEMA: &str = include_str!("fixtures/greenlight/v3-schema.sql");
/// Room ids the table uses; any other room id in a world was made up by Greenlight.
const KNOWN_ROOMS: &[&str] = &["lin-alg-001", "lin-alg-002", "sem-ina-r01"];
/// The people whose Greenlight accounts the snapshots show.
const PEOPLE: &[&str] = &["ada@uni.example", "bob@uni.example", "carol@uni.example"];
/// The meeting the meeting commands act on (set up by `Pre::Meeting`).
const SEMINAR: &str = "schedule meeting Seminar tomorrow 11:00 for 90 minutes in room sem-ina-r01";
const SEMINAR_ID: &str = "seminar-2031-03-10-1100";

// ---------------------------------------------------------------- the table

/// How the chat front end says it.
enum Chat {
    Says(&'static str),
    /// The command is asked back; the answer is choice number `.1` (from 0).
    Chooses(&'static str, usize),
    Cannot(&'static str),
}

/// In CLI arguments: the case's YAML, written to a file in the world's directory.
const YAML_FILE: &str = "{yaml}";

/// `schedulight …` arguments (without the program name).
enum CliArgs {
    Argv(&'static [&'static str]),
    /// Every request in the table has a CLI form today; the slot stays for those that will not.
    #[allow(dead_code)]
    Cannot(&'static str),
}

/// A file in the original tool's format.
enum Yaml {
    Seed(&'static str),
    Cannot(&'static str),
}

/// The REST API: a call compared by effect (the state it leaves, and for queries the outcome
/// it returns), like the CLI.
enum Rest {
    /// The case's YAML entry as the body of the original's endpoint: a `meetings:` entry is
    /// POSTed to /api/v1/meetings (with its key as `id`), a `commands:` entry to
    /// /api/v1/commands — the original's API takes exactly its files' objects.
    FromYaml,
    Call {
        method: &'static str,
        path: &'static str,
        body: Option<&'static str>,
        /// The answer's `data` is the outcome, compared with the reference's.
        outcome: bool,
    },
    Cannot(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Front {
    Yaml,
    Cli,
    Rest,
}

/// A difference a front end really has against the reference (chat, or YAML when chat cannot
/// say it): every difference whose JSON path starts with `path` is explained by `why`.
struct Known {
    front: Front,
    path: &'static str,
    why: &'static str,
}

/// What a world holds before the request (for the CLI's run and the reference run alike).
#[derive(Debug, Clone, Copy)]
enum Pre {
    /// The requester's Greenlight account.
    Ada,
    /// bob@ and carol@ as well.
    Others,
    /// lin-alg-001 ("Linear Algebra") and sem-ina-r01 ("Seminar"), both Ada's.
    Rooms,
    /// lin-alg-001 shared with bob@.
    Shared,
    /// The meeting `SEMINAR` scheduled (from chat).
    Meeting,
    Disabled,
    /// The seminar started on BBB.
    Running,
}

const ADA: &[Pre] = &[Pre::Ada];
const USERS: &[Pre] = &[Pre::Ada, Pre::Others];
const ROOMS: &[Pre] = &[Pre::Ada, Pre::Others, Pre::Rooms];
const SHARED: &[Pre] = &[Pre::Ada, Pre::Others, Pre::Rooms, Pre::Shared];
const MEETING: &[Pre] = &[Pre::Ada, Pre::Others, Pre::Rooms, Pre::Meeting];
const DISABLED: &[Pre] = &[
    Pre::Ada,
    Pre::Others,
    Pre::Rooms,
    Pre::Meeting,
    Pre::Disabled,
];
const RUNNING: &[Pre] = &[
    Pre::Ada,
    Pre::Others,
    Pre::Rooms,
    Pre::Meeting,
    Pre::Running,
];

struct Case {
    request: &'static str,
    chat: Chat,
    cli: CliArgs,
    yaml: Yaml,
    rest: Rest,
    before: &'static [Pre],
    known: &'static [Known],
}

const NO_OWNER_FLAG: &str = "`meetings schedule` has no --owner; the chat requester owns what \
     they schedule";
const NO_QUERIES_IN_YAML: &str =
    "the original's files define servers, meetings and Greenlight commands; they ask nothing";
const NO_LIVE_VERBS_IN_API: &str = "the original's API schedules meetings; starting or ending \
     one now is for the command line and chat";
const NO_RUNNING_IN_API: &str = "the original's API lists scheduled meetings; what runs on BBB is for the command line and chat";
const NO_MEETING_VERBS_IN_YAML: &str = "the original's files only define meetings; nothing in them \
     cancels, pauses, starts or ends one";

fn cases() -> Vec<Case> {
    vec![
        Case {
            request: "schedule a weekly series with invitees in a room, in the requester's zone",
            chat: Chat::Says(
                "schedule meeting “Linear Algebra” tomorrow 14:30 for 90 minutes in room \
                 lin-alg-001 with bob@uni.example, carol@uni.example every monday until 2031-06-30",
            ),
            // Its flags cannot name an owner, invitees or a recurrence; its --file can.
            cli: CliArgs::Argv(&["meetings", "schedule", "--file", YAML_FILE]),
            yaml: Yaml::Seed(
                "meetings:
  linear-algebra-2031-03-10-1430:
    server: bbb
    meetingName: Linear Algebra
    meetingUID: lin-alg-001
    owner:
      email: ada@uni.example
    startDate: 2031-03-10 14:30
    timeZone: Europe/Vienna
    duration: 90
    endAfterMinutes: 90
    sendInvitationLink:
      bob@uni.example:
      carol@uni.example:
    recurrence: FREQ=WEEKLY;BYDAY=MO;UNTIL=20310630
",
            ),
            rest: Rest::FromYaml,
            before: ROOMS,
            known: &[],
        },
        Case {
            request: "schedule a one-off meeting in a room for 90 minutes",
            chat: Chat::Says(SEMINAR),
            cli: CliArgs::Argv(&[
                "meetings",
                "schedule",
                SEMINAR_ID,
                "--name",
                "Seminar",
                "--start",
                "2031-03-10 11:00",
                "--time-zone",
                "Europe/Vienna",
                "--room",
                "sem-ina-r01",
                "--duration",
                "90",
                "--end-after-minutes",
                "90",
            ]),
            yaml: Yaml::Seed(
                "meetings:
  seminar-2031-03-10-1100:
    server: bbb
    meetingName: Seminar
    meetingUID: sem-ina-r01
    owner:
      email: ada@uni.example
    startDate: 2031-03-10 11:00
    timeZone: Europe/Vienna
    duration: 90
    endAfterMinutes: 90
",
            ),
            rest: Rest::FromYaml,
            before: ROOMS,
            known: &[
                Known {
                    front: Front::Cli,
                    path: "outcome.meeting.spec.owner",
                    why: NO_OWNER_FLAG,
                },
                Known {
                    front: Front::Cli,
                    path: "after.meetings.meetings[0].spec.owner",
                    why: NO_OWNER_FLAG,
                },
                Known {
                    front: Front::Cli,
                    path: "outcome.meeting.next",
                    why: "without an owner no ensure_owner / owner_info_mail steps are planned",
                },
            ],
        },
        Case {
            request: "share a room with two users",
            chat: Chat::Says("share room lin-alg-001 with bob@uni.example, carol@uni.example"),
            cli: CliArgs::Argv(&[
                "rooms",
                "share",
                "lin-alg-001",
                "bob@uni.example",
                "carol@uni.example",
            ]),
            yaml: Yaml::Seed(
                "commands:
  share:
    command: share_room
    server: bbb
    data:
      lin-alg-001:
        bob@uni.example:
        carol@uni.example:
",
            ),
            rest: Rest::FromYaml,
            before: ROOMS,
            known: &[],
        },
        Case {
            request: "unshare a room",
            chat: Chat::Says("unshare room lin-alg-001 from bob@uni.example"),
            cli: CliArgs::Argv(&["rooms", "unshare", "lin-alg-001", "bob@uni.example"]),
            yaml: Yaml::Seed(
                "commands:
  unshare:
    command: unshare_room
    server: bbb
    data:
      lin-alg-001:
        bob@uni.example: {}
",
            ),
            rest: Rest::FromYaml,
            before: SHARED,
            known: &[],
        },
        Case {
            request: "create a room owned by the requester",
            chat: Chat::Says("create room “Linear Algebra”"),
            cli: CliArgs::Argv(&["rooms", "create", "Linear Algebra", "--owner", ACTOR]),
            yaml: Yaml::Seed(
                "commands:
  create:
    command: create_room
    server: bbb
    data:
      Linear Algebra:
        email: ada@uni.example
",
            ),
            rest: Rest::FromYaml,
            before: USERS,
            known: &[],
        },
        Case {
            request: "give a room a new id",
            chat: Chat::Chooses("rename room lin-alg-001 to lin-alg-002", 1),
            cli: CliArgs::Argv(&["rooms", "rename", "lin-alg-001", "lin-alg-002"]),
            yaml: Yaml::Seed(
                "commands:
  rename:
    command: rename_room
    server: bbb
    data:
      lin-alg-001:
        roomUID: lin-alg-002
",
            ),
            rest: Rest::FromYaml,
            before: ROOMS,
            known: &[],
        },
        Case {
            request: "give a room a new name",
            chat: Chat::Says("rename room lin-alg-001 to “Linear Algebra II”"),
            cli: CliArgs::Argv(&["rooms", "set", "lin-alg-001", "--name", "Linear Algebra II"]),
            yaml: Yaml::Cannot("the original's rename_room changes only a room's id"),
            rest: Rest::Call {
                method: "PUT",
                path: "/api/v1/servers/bbb/rooms/lin-alg-001",
                body: Some(r#"{"name": "Linear Algebra II"}"#),
                outcome: false,
            },
            before: ROOMS,
            known: &[],
        },
        Case {
            request: "delete a room",
            chat: Chat::Says("delete room lin-alg-001"),
            cli: CliArgs::Argv(&["rooms", "delete", "lin-alg-001"]),
            yaml: Yaml::Seed(
                "commands:
  delete:
    command: delete_room
    server: bbb
    data:
      lin-alg-001: {}
",
            ),
            rest: Rest::FromYaml,
            before: ROOMS,
            known: &[],
        },
        Case {
            request: "delete a room with its recordings",
            chat: Chat::Says("delete room lin-alg-001 with recordings"),
            cli: CliArgs::Argv(&["rooms", "delete", "lin-alg-001", "--with-recordings"]),
            yaml: Yaml::Cannot("the original's delete_room has no settings"),
            rest: Rest::Call {
                method: "DELETE",
                path: "/api/v1/servers/bbb/rooms/lin-alg-001?with_recordings=true",
                body: None,
                outcome: false,
            },
            before: ROOMS,
            known: &[],
        },
        Case {
            request: "create a user (no password: signs in through the identity provider)",
            chat: Chat::Says("create user bob@uni.example Bob Builder"),
            cli: CliArgs::Argv(&[
                "users",
                "create",
                "bob@uni.example",
                "--name",
                "Bob Builder",
            ]),
            yaml: Yaml::Seed(
                "commands:
  create:
    command: create_user
    server: bbb
    data:
      bob@uni.example:
        fullName: Bob Builder
",
            ),
            rest: Rest::FromYaml,
            before: ADA,
            known: &[],
        },
        Case {
            request: "delete a user, refused while they own rooms",
            chat: Chat::Says("delete user bob@uni.example"),
            cli: CliArgs::Argv(&["users", "delete", "bob@uni.example"]),
            yaml: Yaml::Cannot("the original's delete_user always deletes the user's rooms too"),
            rest: Rest::Call {
                method: "DELETE",
                path: "/api/v1/servers/bbb/users/bob@uni.example",
                body: None,
                outcome: false,
            },
            before: USERS,
            known: &[],
        },
        Case {
            request: "delete a user and their rooms",
            chat: Chat::Cannot("`delete user` cannot say what happens to the user's rooms"),
            cli: CliArgs::Argv(&["users", "delete", ACTOR, "--delete-rooms"]),
            yaml: Yaml::Seed(
                "commands:
  delete:
    command: delete_user
    server: bbb
    data:
      ada@uni.example: {}
",
            ),
            rest: Rest::FromYaml,
            before: ROOMS,
            known: &[],
        },
        Case {
            request: "show the links of an owner's rooms",
            chat: Chat::Says("show links for ada@uni.example"),
            cli: CliArgs::Argv(&["rooms", "links", "--by", "owner", ACTOR]),
            yaml: Yaml::Cannot(NO_QUERIES_IN_YAML),
            rest: Rest::Call {
                method: "GET",
                path: "/api/v1/servers/bbb/rooms?by=owner&value=ada@uni.example",
                body: None,
                outcome: true,
            },
            before: SHARED,
            known: &[],
        },
        Case {
            request: "show the links of the requester's own rooms",
            chat: Chat::Says("show links"),
            cli: CliArgs::Argv(&["rooms", "links", "--by", "owner", ACTOR]),
            yaml: Yaml::Cannot(NO_QUERIES_IN_YAML),
            rest: Rest::Call {
                method: "GET",
                path: "/api/v1/servers/bbb/rooms?by=owner&value=ada@uni.example",
                body: None,
                outcome: true,
            },
            before: SHARED,
            known: &[],
        },
        Case {
            request: "cancel a meeting",
            chat: Chat::Says("cancel seminar-2031-03-10-1100"),
            cli: CliArgs::Argv(&["meetings", "cancel", SEMINAR_ID]),
            yaml: Yaml::Cannot(NO_MEETING_VERBS_IN_YAML),
            rest: Rest::Call {
                method: "DELETE",
                path: "/api/v1/meetings/seminar-2031-03-10-1100",
                body: None,
                outcome: false,
            },
            before: MEETING,
            known: &[],
        },
        Case {
            request: "disable a meeting",
            chat: Chat::Says("disable seminar-2031-03-10-1100"),
            cli: CliArgs::Argv(&["meetings", "disable", SEMINAR_ID]),
            yaml: Yaml::Cannot(NO_MEETING_VERBS_IN_YAML),
            rest: Rest::Call {
                method: "PUT",
                path: "/api/v1/meetings/seminar-2031-03-10-1100/status/meeting",
                body: Some(r#"{"status_code": 900, "status_message": "paused"}"#),
                outcome: false,
            },
            before: MEETING,
            known: &[],
        },
        Case {
            request: "enable a disabled meeting",
            chat: Chat::Says("enable meeting seminar-2031-03-10-1100"),
            cli: CliArgs::Argv(&["meetings", "enable", SEMINAR_ID]),
            yaml: Yaml::Cannot(NO_MEETING_VERBS_IN_YAML),
            rest: Rest::Call {
                method: "PUT",
                path: "/api/v1/meetings/seminar-2031-03-10-1100/status/meeting",
                body: Some(r#"{"status_code": 200, "status_message": "again"}"#),
                outcome: false,
            },
            before: DISABLED,
            known: &[],
        },
        Case {
            request: "a meeting's status",
            chat: Chat::Says("status seminar-2031-03-10-1100"),
            cli: CliArgs::Argv(&["meetings", "status", SEMINAR_ID]),
            yaml: Yaml::Cannot(NO_QUERIES_IN_YAML),
            rest: Rest::Call {
                method: "GET",
                path: "/api/v1/meetings/seminar-2031-03-10-1100/status",
                body: None,
                outcome: false,
            },
            before: MEETING,
            known: &[],
        },
        Case {
            request: "start a scheduled meeting now",
            chat: Chat::Says("start seminar-2031-03-10-1100 now"),
            cli: CliArgs::Argv(&["meetings", "start", SEMINAR_ID]),
            yaml: Yaml::Cannot(NO_MEETING_VERBS_IN_YAML),
            rest: Rest::Cannot(NO_LIVE_VERBS_IN_API),
            before: MEETING,
            known: &[],
        },
        Case {
            request: "end a running meeting",
            chat: Chat::Says("end seminar-2031-03-10-1100"),
            cli: CliArgs::Argv(&["meetings", "end", SEMINAR_ID]),
            yaml: Yaml::Cannot(NO_MEETING_VERBS_IN_YAML),
            rest: Rest::Cannot(NO_LIVE_VERBS_IN_API),
            before: RUNNING,
            known: &[],
        },
        Case {
            request: "show the meetings running on every server",
            chat: Chat::Says("show meetings"),
            cli: CliArgs::Argv(&["meetings", "running", "--all"]),
            yaml: Yaml::Cannot(NO_QUERIES_IN_YAML),
            rest: Rest::Cannot(NO_RUNNING_IN_API),
            before: RUNNING,
            known: &[],
        },
        Case {
            request: "show the meetings running on one server",
            chat: Chat::Says("show meetings on bbb"),
            cli: CliArgs::Argv(&["meetings", "running", "--server", SERVER]),
            yaml: Yaml::Cannot(NO_QUERIES_IN_YAML),
            rest: Rest::Cannot(NO_RUNNING_IN_API),
            before: RUNNING,
            known: &[],
        },
    ]
}

// ---------------------------------------------------------------- the test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_front_end_means_the_same() {
    let cluster = PgCluster::shared().expect("the throwaway PostgreSQL");
    let mut failures = Vec::new();
    let cases = cases();
    // The coverage, for `--nocapture`: who can say what, and why not.
    for case in &cases {
        println!("{}", coverage(case));
    }
    for case in &cases {
        if let Err(why) = check_case(cluster, case).await {
            failures.push(format!("── {}\n{why}", case.request));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} requests differ between front ends:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn coverage(case: &Case) -> String {
    let chat = match &case.chat {
        Chat::Says(_) | Chat::Chooses(..) => "yes".to_string(),
        Chat::Cannot(why) => format!("no ({why})"),
    };
    let cli = match &case.cli {
        CliArgs::Argv(argv) if argv.contains(&YAML_FILE) => "yes (by effect; the YAML file)".into(),
        CliArgs::Argv(_) => "yes (by effect)".to_string(),
        CliArgs::Cannot(why) => format!("no ({why})"),
    };
    let yaml = match &case.yaml {
        Yaml::Seed(_) => "yes".to_string(),
        Yaml::Cannot(why) => format!("no ({why})"),
    };
    let rest = match &case.rest {
        Rest::FromYaml => "yes (by effect; the YAML entry as the body)".to_string(),
        Rest::Call { .. } => "yes (by effect)".to_string(),
        Rest::Cannot(why) => format!("no ({why})"),
    };
    format!(
        "{}: chat {chat}; CLI {cli}; YAML {yaml}; REST {rest}",
        case.request
    )
}

/// Every front end that can say the request against the reference; Err lists the problems.
async fn check_case(cluster: &PgCluster, case: &Case) -> Result<(), String> {
    let chat = match &case.chat {
        Chat::Says(text) => Some(chat_operation(text, None)?),
        Chat::Chooses(text, n) => Some(chat_operation(text, Some(*n))?),
        Chat::Cannot(_) => None,
    };
    let yaml = match &case.yaml {
        Yaml::Seed(text) => Some(yaml_operation(text)?),
        Yaml::Cannot(_) => None,
    };
    let argv = match &case.cli {
        CliArgs::Argv(argv) => Some(cli_parses(argv)?),
        CliArgs::Cannot(_) => None,
    };
    let rest = match &case.rest {
        Rest::FromYaml => Some(rest_from_yaml(case)?),
        Rest::Call {
            method,
            path,
            body,
            outcome,
        } => Some(RestCall {
            method,
            path: path.to_string(),
            body: body.map(|b| serde_json::from_str(b).expect("the table's bodies are JSON")),
            outcome: *outcome,
        }),
        Rest::Cannot(_) => None,
    };
    let says = [
        chat.is_some(),
        yaml.is_some(),
        argv.is_some(),
        rest.is_some(),
    ];
    if says.iter().filter(|s| **s).count() < 2 {
        return Err("fewer than two front ends can say this: nothing to compare".into());
    }
    // Chat is the reference; YAML when chat cannot say it.
    let (reference, yaml_vs) = match (chat, yaml) {
        (Some(c), y) => (c, y),
        (None, Some(y)) => (y, None),
        (None, None) => return Err("neither chat nor YAML can say this".into()),
    };
    let mut problems = Vec::new();
    if let Some(y) = yaml_vs {
        let (r, y) = (to_json(&reference), to_json(&y));
        problems.extend(unexplained(case, Front::Yaml, &differences(&r, &y), &r, &y));
    }
    if let Some(argv) = argv {
        let (ours, theirs) = cli_effects(cluster, case, argv, &reference).await?;
        let found = differences(&ours, &theirs);
        problems.extend(unexplained(case, Front::Cli, &found, &ours, &theirs));
    }
    if let Some(call) = rest {
        let (ours, theirs) = rest_effects(cluster, case, &call, &reference).await?;
        let found = differences(&ours, &theirs);
        problems.extend(unexplained(case, Front::Rest, &found, &ours, &theirs));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn to_json(op: &Operation) -> Value {
    serde_json::to_value(op).expect("operations serialise")
}

/// Differences not listed in the case, and listed ones no longer found.
fn unexplained(
    case: &Case,
    front: Front,
    found: &[String],
    reference: &Value,
    other: &Value,
) -> Vec<String> {
    let known: Vec<&Known> = case.known.iter().filter(|k| k.front == front).collect();
    let mut out = Vec::new();
    let new: Vec<&String> = found
        .iter()
        .filter(|d| !known.iter().any(|k| under(d, k.path)))
        .collect();
    if !new.is_empty() {
        let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
        out.push(format!(
            "  {front:?} differs at {new:?}\n  reference: {}\n  {front:?}: {}",
            pretty(reference),
            pretty(other)
        ));
    }
    for k in known {
        if !found.iter().any(|d| under(d, k.path)) {
            out.push(format!(
                "  {front:?}: the listed difference at {} ({}) is gone; remove it from the table",
                k.path, k.why
            ));
        }
    }
    out
}

/// `path` is `prefix` or lies below it.
fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// JSON paths where `a` and `b` differ; lists of different lengths count as one difference.
fn differences(a: &Value, b: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_into(a, b, String::new(), &mut out);
    out
}

fn diff_into(a: &Value, b: &Value, path: String, out: &mut Vec<String>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                match (x.get(k), y.get(k)) {
                    (Some(v), Some(w)) => diff_into(v, w, join(k), out),
                    _ => out.push(join(k)),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                diff_into(v, w, format!("{path}[{i}]"), out);
            }
        }
        _ if a == b => {}
        _ => out.push(if path.is_empty() {
            "(the whole value)".into()
        } else {
            path
        }),
    }
}

// ---------------------------------------------------------------- chat and YAML

fn chat_context() -> ChatContext {
    ChatContext {
        now: NOW.parse().expect("a valid instant"),
        zone: jiff::tz::TimeZone::get(ZONE).expect("a known zone"),
        actor_email: Some(email(ACTOR)),
        default_server: SERVER.parse().expect("a valid server id"),
        prefix: "!sl".into(),
    }
}

fn chat_operation(text: &str, choice: Option<usize>) -> Result<Operation, String> {
    let parsed = schedulight::chat::parse(text, &chat_context())
        .map_err(|e| format!("chat refuses {text:?}: {e}"))?;
    match (parsed, choice) {
        (Parsed::Run { op, .. }, None) => Ok(op),
        (Parsed::Question { choices, .. }, Some(n)) => choices
            .into_iter()
            .nth(n)
            .map(|(_, op)| op)
            .ok_or_else(|| format!("chat offers no choice {n} for {text:?}")),
        (other, _) => Err(format!("chat answers {text:?} with {other:?}")),
    }
}

/// The one operation a seed file holds.
fn yaml_operation(text: &str) -> Result<Operation, String> {
    let seed = parse_seed_file(text, "parity.yml").map_err(|e| format!("YAML refused:\n{e}"))?;
    let ops: Vec<Operation> = seed.operations().cloned().collect();
    match <[Operation; 1]>::try_from(ops) {
        Ok([op]) => Ok(op),
        Err(ops) => Err(format!("the YAML gives {} operations, not 1", ops.len())),
    }
}

/// clap accepts the argv; it is handed back for the binary.
fn cli_parses(argv: &'static [&'static str]) -> Result<&'static [&'static str], String> {
    let full = std::iter::once("schedulight").chain(argv.iter().copied());
    Cli::try_parse_from(full)
        .map(|_| argv)
        .map_err(|e| format!("the CLI refuses {argv:?}: {e}"))
}

fn email(s: &str) -> Email {
    s.parse().expect("a valid address")
}

// ---------------------------------------------------------------- the CLI, by its effects

/// One prepared world: its own store, BBB simulator and Greenlight database.
struct World {
    dir: tempfile::TempDir,
    app: App,
    sim: SimHandle,
    gl: sqlx::PgPool,
}

/// The CLI binary's outcome and state against the reference's, both normalised.
async fn cli_effects(
    cluster: &PgCluster,
    case: &Case,
    argv: &[&str],
    reference: &Operation,
) -> Result<(Value, Value), String> {
    let (ours, theirs) = tokio::join!(world(cluster, case.before), world(cluster, case.before));
    let (ours, theirs) = (ours?, theirs?);
    let expected = execute(&ours.app, reference.clone()).await;
    // Two front ends failing alike would prove nothing: the request must work.
    if expected.get("error").is_some() {
        return Err(format!(
            "the request fails in the reference world: {expected}"
        ));
    }
    let argv = with_yaml_file(case, theirs.dir.path(), argv)?;
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let got = run_cli(theirs.dir.path(), &argv).await?;
    let mine = json!({"outcome": expected, "after": snapshot(&ours).await});
    let cli = json!({"outcome": got, "after": snapshot(&theirs).await});
    Ok((normalise(&ours, mine).await, normalise(&theirs, cli).await))
}

/// One REST request of the table.
struct RestCall {
    method: &'static str,
    path: String,
    body: Option<Value>,
    outcome: bool,
}

/// The YAML entry as the original API's body: meetings to /api/v1/meetings, commands to
/// /api/v1/commands.
fn rest_from_yaml(case: &Case) -> Result<RestCall, String> {
    let Yaml::Seed(text) = case.yaml else {
        return Err("Rest::FromYaml needs the case's YAML".into());
    };
    let doc: Value = serde_saphyr::from_str(text).map_err(|e| format!("the YAML as JSON: {e}"))?;
    let (section, path) = if doc.get("meetings").is_some() {
        ("meetings", "/api/v1/meetings")
    } else {
        ("commands", "/api/v1/commands")
    };
    let entries = doc[section].as_object().ok_or("an empty section")?;
    let [(key, entry)] = entries.iter().collect::<Vec<_>>()[..] else {
        return Err("Rest::FromYaml takes a file with one entry".into());
    };
    let mut body = entry.clone();
    if section == "meetings" {
        body["id"] = Value::String(key.clone());
    }
    Ok(RestCall {
        method: "POST",
        path: path.to_string(),
        body: Some(body),
        outcome: false,
    })
}

/// The API's answer and state against the reference's (executed as the API's actor), both
/// normalised.
async fn rest_effects(
    cluster: &PgCluster,
    case: &Case,
    call: &RestCall,
    reference: &Operation,
) -> Result<(Value, Value), String> {
    const ACTOR: &str = "api:parity";
    let (ours, theirs) = tokio::join!(world(cluster, case.before), world(cluster, case.before));
    let (ours, theirs) = (ours?, theirs?);
    let expected = execute_as(&ours.app, reference.clone(), ACTOR).await;
    if expected.get("error").is_some() {
        return Err(format!(
            "the request fails in the reference world: {expected}"
        ));
    }
    // A token straight in the store (no audit entry of its own), named as the actor.
    let token = schedulight::api::new_token();
    theirs
        .app
        .store
        .create_token(
            "parity",
            &schedulight::api::hash_token(&token),
            &Scope::ALL,
            jiff::Timestamp::now(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let api = schedulight::api::router(schedulight::api::ApiState {
        service: theirs.app.service.clone(),
        metrics_public: true,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let server = tokio::spawn(async move { axum::serve(listener, api).await });
    let mut request = reqwest::Client::new()
        .request(
            reqwest::Method::from_bytes(call.method.as_bytes()).map_err(|e| e.to_string())?,
            format!("{base}{}", call.path),
        )
        .bearer_auth(&token);
    if let Some(body) = &call.body {
        request = request.json(body);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    server.abort();
    if !status.is_success() {
        return Err(format!(
            "{} {} answered {status}: {text}",
            call.method, call.path
        ));
    }
    let mut mine = json!({"after": snapshot(&ours).await});
    let mut api = json!({"after": snapshot(&theirs).await});
    if call.outcome {
        let answer: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        mine["outcome"] = expected;
        api["outcome"] = answer["data"].clone();
    }
    Ok((normalise(&ours, mine).await, normalise(&theirs, api).await))
}

/// `argv` with `YAML_FILE` replaced by the path of the case's YAML, written into `dir`.
fn with_yaml_file(case: &Case, dir: &Path, argv: &[&str]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for arg in argv {
        if *arg != YAML_FILE {
            out.push(arg.to_string());
            continue;
        }
        let Yaml::Seed(text) = case.yaml else {
            return Err("the CLI argv names the YAML file, but the case has no YAML".into());
        };
        let path = dir.join("parity.yml");
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        out.push(path.display().to_string());
    }
    Ok(out)
}

async fn world(cluster: &PgCluster, before: &[Pre]) -> Result<World, String> {
    let url = cluster
        .fresh_database()
        .await
        .map_err(|e| format!("database: {e}"))?;
    let gl = sqlx::PgPool::connect(&url)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    sqlx::raw_sql(V3_SCHEMA)
        .execute(&gl)
        .await
        .map_err(|e| format!("Greenlight schema: {e}"))?;
    let sim = common::serve_sim(SimConfig::new(BBB_SECRET)).await;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let d = dir.path();
    std::fs::write(d.join("gl_url"), format!("{url}\n")).map_err(|e| e.to_string())?;
    let config = format!(
        "store:\n  location: {store}\n\
         defaults:\n  timeZone: {ZONE}\n\
         greenlight:\n  database_url_file: {gl}\n  link_base: {LINK_BASE}\n  bcrypt_cost: 4\n\
         servers:\n  {SERVER}:\n    BBB_URL: {bbb}\n    BBB_SECRET: {BBB_SECRET}\n",
        store = d.join("state.db").display(),
        gl = d.join("gl_url").display(),
        bbb = sim.base_url(),
    );
    let path = d.join("bot-config.yml");
    std::fs::write(&path, config).map_err(|e| e.to_string())?;
    let config =
        AppConfig::load_with_env(&path, &EnvVars::new()).map_err(|e| format!("config: {e}"))?;
    let app = App::build(config).await.map_err(|e| format!("app: {e}"))?;
    for op in before.iter().flat_map(|p| setup_ops(*p)) {
        let name = op.name();
        app.service
            .execute(&Actor::admin("parity:setup"), op)
            .await
            .map_err(|e| format!("setting up ({name}): {e}"))?;
    }
    Ok(World { dir, app, sim, gl })
}

fn setup_ops(pre: Pre) -> Vec<Operation> {
    let server = || SERVER.parse().expect("a valid server id");
    let user = |mail: &str, name: &str| {
        Operation::CreateUser(CreateUser {
            server: server(),
            email: email(mail),
            full_name: name.into(),
            password: None,
            role: UserRole::User,
            provider: None,
            external_id: None,
        })
    };
    let room = |name: &str, uid: &str| {
        Operation::CreateRoom(CreateRoom {
            server: server(),
            name: name.into(),
            owner: email(ACTOR),
            uid: Some(uid.parse().expect("a valid room id")),
            access_code: None,
        })
    };
    let seminar = || SEMINAR_ID.parse().expect("a valid meeting id");
    match pre {
        Pre::Ada => vec![user(ACTOR, "Ada Lovelace")],
        Pre::Others => vec![
            user("bob@uni.example", "Bob Builder"),
            user("carol@uni.example", "Carol Chemist"),
        ],
        Pre::Rooms => vec![
            room("Linear Algebra", "lin-alg-001"),
            room("Seminar", "sem-ina-r01"),
        ],
        Pre::Shared => vec![Operation::ShareRoom(ShareRoom {
            server: server(),
            room: "lin-alg-001".parse().expect("a valid room id"),
            with: BTreeMap::from([(email("bob@uni.example"), Recipient::default())]),
        })],
        Pre::Meeting => vec![chat_operation(SEMINAR, None).expect("the seminar parses")],
        Pre::Disabled => vec![Operation::DisableMeeting { id: seminar() }],
        Pre::Running => vec![Operation::StartMeetingNow { id: seminar() }],
    }
}

/// The result as the CLI prints it with `--json`: the outcome, or the error.
async fn execute(app: &App, op: Operation) -> Value {
    execute_as(app, op, "cli:parity").await
}

async fn execute_as(app: &App, op: Operation, actor: &str) -> Value {
    let admin = Actor::admin(actor);
    match app.service.execute(&admin, op).await {
        Ok(outcome) => serde_json::to_value(outcome).expect("outcomes serialise"),
        Err(e) => serde_json::to_value(e).expect("errors serialise"),
    }
}

/// The real binary in the world's directory, as local user `parity`.
async fn run_cli(dir: &Path, argv: &[&str]) -> Result<Value, String> {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_schedulight"));
    for (key, _) in std::env::vars() {
        if key.starts_with("SCHEDULIGHT_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .arg("--json")
        .args(argv)
        .current_dir(dir)
        .env("USER", "parity")
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run schedulight: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("panicked") {
        return Err(format!("schedulight {argv:?} panicked:\n{stderr}"));
    }
    // An argv the CLI cannot turn into an operation prints no JSON, only "error: …".
    Ok(serde_json::from_str(&stdout).unwrap_or_else(|_| json!({ "cli_error": stderr.trim() })))
}

/// What a world holds after the request, as a reader sees it (no signed join links).
async fn snapshot(w: &World) -> Value {
    let reader = Actor::with_scopes("parity:reader", [Scope::Read]);
    let server = || SERVER.parse().expect("a valid server id");
    let read = async |op: Operation| match w.app.service.execute(&reader, op).await {
        Ok(outcome) => serde_json::to_value(outcome).expect("outcomes serialise"),
        Err(e) => serde_json::to_value(e).expect("errors serialise"),
    };
    let mut users = serde_json::Map::new();
    for person in PEOPLE {
        let op = Operation::ShowUser {
            server: server(),
            email: email(person),
        };
        users.insert(person.to_string(), read(op).await);
    }
    let audit: Vec<Value> = w
        .app
        .store
        .audit_entries(200)
        .await
        .expect("the audit log")
        .into_iter()
        .map(|e| json!([e.actor, e.operation, e.target, e.result, e.detail]))
        .collect();
    let rooms = Operation::RoomLinks {
        server: server(),
        filter: RoomFilter::Name(String::new()),
        mail_to: None,
    };
    json!({
        "meetings": read(Operation::ListMeetings).await,
        "running": read(Operation::ShowRunningMeetings { server: Some(server()) }).await,
        "rooms": read(rooms).await,
        "users": users,
        "audit": audit,
    })
}

/// Replaces what differs between two worlds by construction: the simulator's address, times,
/// BBB's internal ids, checksums, and the ids Greenlight made up for new rooms.
async fn normalise(w: &World, v: Value) -> Value {
    let rooms: Vec<(String, String)> =
        sqlx::query_as("SELECT friendly_id, meeting_id FROM rooms ORDER BY name, created_at")
            .fetch_all(&w.gl)
            .await
            .expect("Greenlight rooms");
    let mut replace = vec![(w.sim.server_url(), "<bbb>".to_string())];
    let mut fresh = 0;
    for (friendly, meeting) in rooms {
        let label = if KNOWN_ROOMS.contains(&friendly.as_str()) {
            friendly.clone()
        } else {
            fresh += 1;
            let label = format!("<new-room-{fresh}>");
            replace.push((friendly, label.clone()));
            label
        };
        replace.push((meeting, format!("<meeting-of-{label}>")));
    }
    mask(v, &replace)
}

const VARYING_KEYS: &[&str] = &["at", "create_time", "internal_meeting_id", "elapsed_ms"];

fn mask(v: Value, replace: &[(String, String)]) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = if VARYING_KEYS.contains(&k.as_str()) {
                        json!("<varies>")
                    } else if k == "due" && is_about_now(&v) {
                        // Steps due at once (Greenlight owner and room) are due when the
                        // meeting was scheduled, by the real clock.
                        json!("<now>")
                    } else {
                        mask(v, replace)
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| mask(v, replace)).collect()),
        Value::String(s) => {
            let mut s = mask_link_params(&s);
            for (from, to) in replace {
                s = s.replace(from, to);
            }
            Value::String(s)
        }
        other => other,
    }
}

/// An instant within the last hour by the real clock (the table's own times are in 2031).
fn is_about_now(v: &Value) -> bool {
    let Some(t) = v.as_str().and_then(|s| s.parse::<jiff::Timestamp>().ok()) else {
        return false;
    };
    let age = jiff::Timestamp::now().duration_since(t);
    age >= jiff::SignedDuration::ZERO && age < jiff::SignedDuration::from_hours(1)
}

/// Query values that differ between worlds by construction in join links: BBB's create time,
/// and the checksum over everything.
fn mask_link_params(s: &str) -> String {
    let mut s = s.to_string();
    for key in ["createTime=", "checksum="] {
        s = mask_after(&s, key);
    }
    s
}

/// `key<alphanumerics>` → `key<varies>`.
fn mask_after(s: &str, key: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find(key) {
        let (head, tail) = rest.split_at(at + key.len());
        out.push_str(head);
        out.push_str("<varies>");
        rest = tail.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
    }
    out.push_str(rest);
    out
}

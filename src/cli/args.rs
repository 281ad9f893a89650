//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "schedulight",
    version,
    about = "Schedules and runs BigBlueButton meetings and Greenlight rooms"
)]
pub struct Cli {
    /// App-wide configuration file [default: bot-config.yml when it exists, else built-in
    /// defaults plus SCHEDULIGHT_* environment variables].
    #[arg(short, long, global = true, env = "SCHEDULIGHT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print results as JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (store, and the services later versions add).
    Run,
    /// Check configuration files (bot-config.yml or files in the original's format).
    CheckConfig {
        /// Files to check; the app config when none is given.
        files: Vec<PathBuf>,
    },
    /// BBB servers.
    Servers {
        #[command(subcommand)]
        command: ServersCommand,
    },
    /// Meetings: scheduled ones and those running on BBB.
    Meetings {
        #[command(subcommand)]
        command: MeetingsCommand,
    },
    /// Greenlight users.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Greenlight rooms: create, delete, rename, set options, share, links.
    Rooms {
        #[command(subcommand)]
        command: RoomsCommand,
    },
    /// Recordings on the BBB servers: list, publish, protect, rename, keep, delete.
    Recordings {
        #[command(subcommand)]
        command: RecordingsCommand,
    },
    /// Run the retention rules now (bot-config.yml `retention:`): warn owners of recordings
    /// due for deletion, delete the overdue ones, purge old step history, sent messages and
    /// audit entries. `--dry-run` shows what would happen and changes nothing.
    Retention {
        #[arg(long)]
        dry_run: bool,
    },
    /// Copy the SQLite store to FILE while the daemon runs (a consistent snapshot). For a
    /// PostgreSQL store use pg_dump (see the user guide).
    Backup { file: PathBuf },
    /// Replace the SQLite store with a backup made by `backup` (the daemon must be stopped);
    /// the store being replaced is kept beside it as <store>.before-restore.
    Restore { file: PathBuf },
    /// The mail outbox: preview one mail, list, delete, purge.
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
    /// API tokens: create (shown once), list, revoke.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Stored per-item results of earlier commands.
    Results {
        /// The result number printed by the command.
        id: i64,
    },
    /// Show what applying files in the original's format (YAML, or CSV imports) would change:
    /// create / update / delete / run, field by field, secrets as fingerprints. Exit code 0: no
    /// changes, 2: changes, 1: an error.
    Plan(PlanArgs),
    /// Apply files in the original's format (or a plan saved with `plan --out`): exactly what
    /// `plan` shows. Re-applying the same files changes nothing.
    Apply(ApplyArgs),
    /// Write the store's servers and meetings as a file in the original's format that `plan`
    /// shows as unchanged; secrets go to files named by `*_FILE` keys.
    Export(ExportArgs),
    /// The audit log: who changed what and when, newest first.
    Audit {
        /// From this time on (RFC 3339, or a day as YYYY-MM-DD in UTC).
        #[arg(long)]
        since: Option<String>,
        /// Before this time.
        #[arg(long)]
        until: Option<String>,
        /// Only this actor: cli:NAME, api:TOKEN, matrix:@user:server, file:…
        #[arg(long)]
        actor: Option<String>,
        /// Only this object (a meeting, server or room id).
        #[arg(long)]
        object: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// One JSON object per line (for exports).
        #[arg(long)]
        jsonl: bool,
    },
    /// Move over from the Python scheduLight: read its Redis store (servers, meetings, step
    /// status, queued mails) and import it, keeping what was done; prints what was imported and
    /// skipped. Its config.yml and CSV files load with `plan` / `apply`.
    ImportRedis {
        /// redis://host:port/db of the original (it used redis://localhost:6380/1).
        url: String,
        /// Read and report; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write the generated reference documents (chat commands, YAML reference and its JSON
    /// Schema, OpenAPI) into a directory; `--check` only says whether they are current.
    Docs {
        #[arg(long, default_value = "docs")]
        out: PathBuf,
        #[arg(long)]
        check: bool,
    },
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell), e.g.
    /// `schedulight completions bash > /etc/bash_completion.d/schedulight`.
    Completions { shell: clap_complete::Shell },
    /// Run one chat command through the bot's parser, permission check, executor and replies,
    /// and print the reply (`SCHEDULIGHT_NOW=<RFC 3339>` fixes the clock).
    Chat(ChatArgs),
    /// Check the installation: configuration, store, BBB servers, Greenlight databases, mail
    /// settings, Matrix homeserver. Exit code 1 when something is wrong.
    Doctor,
    /// Serve a simulated BBB server (for trying things out and for tests).
    BbbSim(BbbSimArgs),
    /// Start a simulated BBB server and a local store, create and start a demo meeting, print
    /// working join links.
    Demo(DemoArgs),
}

/// Which files, and how they are planned.
#[derive(Debug, Args)]
pub struct FileArgs {
    /// YAML files in the original's format, or CSV imports (by extension).
    pub files: Vec<PathBuf>,
    /// Also delete what is not in the files: meetings, servers or all (objects these files
    /// applied before and no longer declare are deleted anyway).
    #[arg(long, value_name = "KINDS")]
    pub prune: Option<String>,
    /// Run again the command entries whose last run had failures.
    #[arg(long)]
    pub retry_failed: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub what: FileArgs,
    /// Save the plan; `apply --plan FILE` applies exactly it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub what: FileArgs,
    /// Apply a plan saved with `plan --out` (refused if the files or the store changed since).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["files", "prune", "retry_failed"])]
    pub plan: Option<PathBuf>,
    /// Check and show the plan; apply nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The file to write.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Where the secret files go [default: OUT.secrets next to the file].
    #[arg(long)]
    pub secrets_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ServersCommand {
    /// List configured servers (no secrets).
    List,
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Render one mail of a meeting as it would be sent now, without sending or queueing it.
    Preview {
        /// A mail kind (owner_info, owner_reminder, owner_started, share_info, invitation,
        /// moderator_link, room_shared, room_unshared, meeting_cancelled, meeting_changed) or
        /// a template file in mail.templates_dir (e.g. meetingInvitationInfoTemplate.j2).
        what: String,
        /// The meeting the mail is about.
        #[arg(long)]
        meeting: String,
        /// Recipient [default: the kind's own: the owner, the first invitee, moderator or
        /// sharee].
        #[arg(long)]
        to: Option<String>,
        /// Language of the built-in templates (en, de) [default: mail.language].
        #[arg(long)]
        lang: Option<String>,
        /// With a template file: the mail it stands for [default: by the original's file name,
        /// else owner_info].
        #[arg(long)]
        kind: Option<String>,
    },
    /// Mails in the outbox.
    List {
        #[arg(long, value_enum, default_value = "queued")]
        state: MailState,
    },
    /// Delete one mail from the outbox (its number from `mail list`).
    Delete { id: i64 },
    /// Delete all mails of one state from the outbox.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["queued", "failed", "sent"])))]
    Purge {
        /// Mails not sent yet (waiting, being retried or being sent).
        #[arg(long)]
        queued: bool,
        /// Mails given up on.
        #[arg(long)]
        failed: bool,
        /// Mails delivered.
        #[arg(long)]
        sent: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum MailState {
    Queued,
    Sent,
    Failed,
    All,
}

#[derive(Debug, Subcommand)]
pub enum MeetingsCommand {
    /// Meetings running now on one server or on all of them (the original's show_meetings).
    Running {
        /// Only this server.
        #[arg(long, conflicts_with = "all")]
        server: Option<String>,
        /// Every configured server, in parallel (the default).
        #[arg(long)]
        all: bool,
        /// Also print moderator and attendee join links.
        #[arg(long)]
        links: bool,
    },
    /// Find a running meeting by part of its name.
    Find {
        title: String,
        #[arg(long)]
        server: Option<String>,
        #[arg(long)]
        links: bool,
    },
    /// Schedule meetings: one from flags, or every meeting of a file in the original tool's
    /// format (`meetings:` section; `--update` replaces existing ones).
    Schedule(ScheduleArgs),
    /// Scheduled meetings.
    List,
    /// Cancel a scheduled meeting (it stays listed, nothing more runs).
    Cancel { id: String },
    /// Stop the scheduler from touching a meeting until it is enabled again (the original's 900).
    Disable { id: String },
    /// Let the scheduler handle a disabled meeting again.
    Enable { id: String },
    /// Forget a meeting's step history (all, or one step) so its steps run again.
    Reset {
        id: String,
        #[arg(long)]
        step: Option<String>,
        /// Mail the owner, invitees, moderators and sharees again.
        #[arg(long)]
        resend: bool,
    },
    /// State and step history of a scheduled meeting.
    Status { id: String },
    /// Create the meeting on BBB now and print its join links.
    Start { id: String },
    /// End the meeting on BBB.
    End { id: String },
}

#[derive(Debug, Subcommand)]
pub enum RecordingsCommand {
    /// List recordings: all of a server's, or a Greenlight room's, an owner's or a scheduled
    /// meeting's.
    List {
        #[command(flatten)]
        server: ServerArg,
        /// A Greenlight room (id or link).
        #[arg(long, conflicts_with_all = ["owner", "meeting"])]
        room: Option<String>,
        /// The rooms of a Greenlight user.
        #[arg(long, conflicts_with = "meeting")]
        owner: Option<String>,
        /// A scheduled meeting's id.
        #[arg(long)]
        meeting: Option<String>,
    },
    Publish(RecordIds),
    Unpublish(RecordIds),
    /// Playback only for signed-in users (BBB 2.6+; Greenlight's "Protected").
    Protect(RecordIds),
    Unprotect(RecordIds),
    /// Greenlight lists them on the room's public page ("Public").
    ListPublicly(RecordIds),
    /// No longer listed on the room's public page.
    Unlist(RecordIds),
    /// Exempt from the retention rules.
    Keep(RecordIds),
    /// Hand back to the retention rules.
    Unkeep(RecordIds),
    /// Give one recording a new name.
    Rename {
        #[command(flatten)]
        server: ServerArg,
        record: String,
        name: String,
    },
    /// Delete on BBB and in Greenlight; cannot be undone.
    Delete(RecordIds),
}

#[derive(Debug, Args, Clone)]
pub struct RecordIds {
    #[command(flatten)]
    pub server: ServerArg,
    /// Record ids (as `recordings list` shows them).
    #[arg(required = true)]
    pub records: Vec<String>,
}

/// Which server's Greenlight to act on.
#[derive(Debug, Args, Clone)]
pub struct ServerArg {
    /// Server id; may be left out when only one server is configured.
    #[arg(long, short)]
    pub server: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Look a Greenlight user up by e-mail.
    Show {
        email: String,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Create a Greenlight user (an external/OIDC user when no password is given).
    Create {
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Read the password from this file (first line); never put it on the command line.
        #[arg(long, conflicts_with = "password_stdin")]
        password_file: Option<std::path::PathBuf>,
        /// Read the password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
        /// Role name (default: Greenlight's default role).
        #[arg(long)]
        role: Option<String>,
        /// The user's id at the identity provider (OIDC subject, LDAP DN).
        #[arg(long)]
        external_id: Option<String>,
        /// Greenlight 2: the user's auth provider (ldap, openid_connect, …).
        #[arg(long)]
        provider: Option<String>,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Delete a Greenlight user; refused while the user owns rooms unless told what to do with them.
    Delete {
        email: String,
        /// Delete the user's rooms too.
        #[arg(long, conflicts_with = "transfer_rooms_to")]
        delete_rooms: bool,
        /// Give the user's rooms to this user.
        #[arg(long)]
        transfer_rooms_to: Option<String>,
        /// With --delete-rooms: also delete their recordings (cannot be restored).
        #[arg(long, requires = "delete_rooms")]
        with_recordings: bool,
        #[command(flatten)]
        server: ServerArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoomsCommand {
    /// Create a room for an existing user.
    Create {
        name: String,
        #[arg(long)]
        owner: String,
        /// Custom room id (the original's roomUID); Greenlight's format when absent.
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        access_code: Option<String>,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Delete a room with its options and shares; its running meeting is ended.
    Delete {
        room: String,
        /// Also delete its recordings, on BBB and in Greenlight (cannot be restored).
        #[arg(long)]
        with_recordings: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Give a room a new id (its short URL).
    Rename {
        room: String,
        new_id: String,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Set a room's name and options: `rooms set abc-def-ghi record=true guestPolicy=ASK_MODERATOR`.
    Set {
        room: String,
        /// OPTION=VALUE pairs (record, muteOnStart, guestPolicy, glAnyoneCanStart,
        /// glAnyoneJoinAsModerator, glRequireAuthentication, glViewerAccessCode,
        /// glModeratorAccessCode, …).
        options: Vec<String>,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Share a room with one or more users.
    Share {
        room: String,
        #[arg(required = true)]
        users: Vec<String>,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Take a room's share away from one or more users.
    Unshare {
        room: String,
        #[arg(required = true)]
        users: Vec<String>,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Rooms with their links, by name, owner or id (the original's -l/-b), or those of
    /// scheduled meetings.
    Links {
        #[arg(long, value_enum, default_value = "name")]
        by: LinksBy,
        /// What to look for; not needed with --by meetings.
        value: Option<String>,
        /// Also print moderator and viewer join links.
        #[arg(long)]
        links: bool,
        /// Also mail the report (public room links only) to this address (the original's -e).
        #[arg(long, short = 'e', value_name = "ADDRESS")]
        email: Option<String>,
        #[command(flatten)]
        server: ServerArg,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LinksBy {
    Name,
    Owner,
    Id,
    Meetings,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// A YAML file in the original tool's format; its `meetings:` are scheduled.
    #[arg(long, conflicts_with_all = ["id", "name", "start"])]
    pub file: Option<std::path::PathBuf>,
    /// Replace meetings that exist already instead of refusing them.
    #[arg(long)]
    pub update: bool,
    /// Meeting id (when not using --file).
    #[arg(required_unless_present = "file")]
    pub id: Option<String>,
    #[arg(long, required_unless_present = "file")]
    pub name: Option<String>,
    /// Start, `YYYY-MM-DD HH:MM` in --time-zone (or the default zone).
    #[arg(long)]
    pub start: Option<String>,
    #[arg(long)]
    pub time_zone: Option<String>,
    /// Greenlight room id to hold the meeting in.
    #[arg(long)]
    pub room: Option<String>,
    #[arg(long)]
    pub duration: Option<u32>,
    #[arg(long)]
    pub pre_open_minutes: Option<u32>,
    #[arg(long)]
    pub end_after_minutes: Option<u32>,
    #[arg(long)]
    pub record: bool,
    #[command(flatten)]
    pub server: ServerArg,
}

#[derive(Debug, Args)]
pub struct BbbSimArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    pub listen: String,
    /// Port; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Shared secret; a random one when absent.
    #[arg(long, env = "SCHEDULIGHT_SIM_SECRET")]
    pub secret: Option<String>,
    /// Checksum algorithms the simulated server accepts.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "sha1,sha256,sha384,sha512"
    )]
    pub algorithms: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Store to use; a fresh SQLite file in a temporary directory when absent.
    #[arg(long)]
    pub store: Option<String>,
    /// Exit after printing the links and the chat transcript instead of serving until Ctrl-C.
    #[arg(long)]
    pub once: bool,
    /// Leave out the chat part (local Synapse, bot, scripted conversation).
    #[arg(long)]
    pub no_chat: bool,
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The Matrix user to act as; with a `matrix:` section its rules apply, without one this
    /// local user is an administrator.
    #[arg(long = "as", default_value = "@admin:localhost")]
    pub user: String,
    /// The Matrix room the command is written in (`!id` or `#alias:server`): meetings
    /// scheduled by it post their notices there, as from the bot in that room.
    #[arg(long)]
    pub room: Option<String>,
    /// Parse and check only; show what would happen.
    #[arg(long)]
    pub dry_run: bool,
    /// The command, e.g. "schedule meeting Seminar tomorrow 11:00" (the prefix is optional).
    #[arg(required = true, num_args = 1..)]
    pub text: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Make a token; it is printed once (only its hash is stored).
    Create {
        /// A name to recognise it by (unique among live tokens), e.g. `ci-deploy`.
        name: String,
        /// What it may do: read, servers:write, meetings:write, commands:write, rooms:write,
        /// users:write, recordings:write, mails:admin, tokens:admin (repeat or comma-separate).
        #[arg(long = "scope", value_delimiter = ',', required = true)]
        scopes: Vec<String>,
    },
    /// Tokens with their scopes and last use (never the tokens themselves).
    List,
    /// Revoke a token by name; requests with it are refused from then on.
    Revoke { name: String },
}

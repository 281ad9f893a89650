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
    /// Serve a simulated BBB server (for trying things out and for tests).
    BbbSim(BbbSimArgs),
    /// Start a simulated BBB server and a local store, create and start a demo meeting, print
    /// working join links.
    Demo(DemoArgs),
}

#[derive(Debug, Subcommand)]
pub enum ServersCommand {
    /// List configured servers (no secrets).
    List,
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
    /// Scheduled meetings.
    List,
    /// State and step history of a scheduled meeting.
    Status { id: String },
    /// Create the meeting on BBB now and print its join links.
    Start { id: String },
    /// End the meeting on BBB.
    End { id: String },
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
    /// Exit after printing the links instead of serving the simulator until Ctrl-C.
    #[arg(long)]
    pub once: bool,
}

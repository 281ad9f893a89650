//! Live streaming of a running meeting with BigBlueButton-liveStreaming.
//!
//! The original tool ran `ssh root@host "… BBB_SECRET=… docker-compose up -d"` through a
//! shell and logged that line: remote command execution through meeting fields and the BBB
//! secret in the process list and the log. Here every program runs with argv (no shell), all
//! values are validated first, and the secret and the stream URL reach the container only
//! through the child's environment (`docker run -e BBB_SECRET` makes docker read the value
//! from its own environment). Streams are named per meeting occurrence, which makes start and
//! stop idempotent.
//!
//! Two launchers: [`DockerLauncher`] (local docker, or a streamer host through
//! `DOCKER_HOST=ssh://user@host`) and [`CommandLauncher`] (an argv template of the operator's
//! choice). [`launcher_for`] picks one for a meeting.

mod command;
mod docker;
mod process;
mod request;

pub use command::CommandLauncher;
pub use docker::{DEFAULT_IMAGE, DockerLauncher};
pub use request::{
    ENV_INTRO, ENV_MEETING_ID, ENV_SECRET, ENV_STREAM_URL, ENV_URL, STREAM_ENV, StreamName,
    StreamRequest, StreamerHost,
};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// What `start` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStatus {
    /// The stream was launched now.
    Started,
    /// A stream by that name was running already; nothing was launched.
    AlreadyRunning,
}

/// What `stop` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// A running stream was stopped.
    Stopped,
    /// Nothing was running by that name (leftovers of an ended one were removed).
    NotRunning,
}

/// What `status` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamState {
    Running,
    /// Nothing by that name exists.
    Absent,
    /// It exists but does not run; docker's state word (`exited`, `created`, `dead`, …).
    Inactive(String),
    /// The launcher cannot tell (a command launcher without a status command).
    Unknown,
}

impl StreamState {
    pub fn is_running(&self) -> bool {
        matches!(self, Self::Running)
    }
}

/// Why a stream could not be started, stopped or looked at. Messages never contain the BBB
/// secret or the stream URL.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// A value was refused before anything ran.
    #[error("{what}{} is not valid: {reason}", shown(.value))]
    Invalid {
        what: &'static str,
        /// None for values that must not be echoed (secret, stream URL).
        value: Option<String>,
        reason: String,
    },
    /// The launcher's own settings are wrong (image name, command template, …).
    #[error("streaming configuration: {0}")]
    Config(String),
    #[error("{program} was not found: {hint}")]
    ProgramMissing { program: String, hint: String },
    #[error("could not run {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{action} failed ({}): {stderr}", exit_text(*.code))]
    Failed {
        program: String,
        action: String,
        code: Option<i32>,
        /// Redacted, shortened error output.
        stderr: String,
    },
    #[error("{action} did not finish within {} s and was stopped", .after.as_secs_f32())]
    Timeout {
        program: String,
        action: String,
        after: Duration,
    },
    #[error("{action} gave an answer we do not understand: {detail}")]
    Unexpected { action: String, detail: String },
}

impl StreamError {
    pub(crate) fn invalid(what: &'static str, value: Option<&str>, reason: String) -> Self {
        // Values are echoed to users; cap them so a pasted blob cannot flood a reply.
        let value = value.map(|v| v.chars().take(80).collect());
        Self::Invalid {
            what,
            value,
            reason,
        }
    }
}

fn shown(value: &Option<String>) -> String {
    value
        .as_ref()
        .map(|v| format!(" {v:?}"))
        .unwrap_or_default()
}

fn exit_text(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exit code {c}"),
        None => "killed by a signal".into(),
    }
}

/// Starts, stops and looks at streams by name. Every method is idempotent.
#[async_trait]
pub trait Launcher: Send + Sync {
    /// Launches the stream unless one by `req.name` is running already.
    async fn start(&self, req: &StreamRequest) -> Result<StreamStatus, StreamError>;
    /// Stops the stream by that name; nothing running is not an error.
    async fn stop(&self, name: &StreamName) -> Result<StopOutcome, StreamError>;
    async fn status(&self, name: &StreamName) -> Result<StreamState, StreamError>;
    /// Where streams run, for logs and status messages ("docker on root@host").
    fn describe(&self) -> String;
}

/// Streaming settings (the `streaming:` section of the app configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamingConfig {
    /// The docker CLI; a bare name is looked up in PATH.
    pub docker: PathBuf,
    /// The BigBlueButton-liveStreaming image.
    pub image: String,
    /// SSH user for `DOCKER_HOST=ssh://user@streamerHost` when the host names none.
    pub ssh_user: String,
    /// Extra `docker run` options placed before the image, e.g. a volume for intro files:
    /// `["-v", "/srv/streaming/videodata:/video"]`. Never put secrets here.
    pub run_args: Vec<String>,
    /// Extra environment for every docker call (`DOCKER_CONFIG`, `SSH_AUTH_SOCK`, `PATH`, …);
    /// BBB_* and DOCKER_HOST are refused.
    pub docker_env: BTreeMap<String, String>,
    /// Deadline of `docker ps` / `docker rm` and of command-template runs, in seconds.
    pub timeout_secs: u64,
    /// Deadline of `docker run`, which may first pull the image, in seconds.
    pub start_timeout_secs: u64,
    /// Launch streams with these commands instead of local docker, for meetings that name no
    /// streamer host.
    pub command: Option<CommandTemplates>,
}

impl Default for StreamingConfig {
    fn default() -> Self {
        Self {
            docker: PathBuf::from("docker"),
            image: DEFAULT_IMAGE.to_string(),
            ssh_user: "root".to_string(),
            run_args: Vec::new(),
            docker_env: BTreeMap::new(),
            timeout_secs: 30,
            start_timeout_secs: 300,
            command: None,
        }
    }
}

/// argv templates for [`CommandLauncher`]; `{name}` everywhere, `{meeting_id}` in `start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandTemplates {
    pub start: Vec<String>,
    pub stop: Vec<String>,
    /// Exit 0: running, exit 1: not running. Left out, start and stop must be idempotent
    /// themselves.
    #[serde(default)]
    pub status: Option<Vec<String>>,
}

/// The launcher for a meeting: docker on its `liveStreaming.streamerHost` when it names one
/// (the original's behaviour, minus the shell); otherwise the configured command templates,
/// or else the local docker.
pub fn launcher_for(
    host: Option<&str>,
    config: &StreamingConfig,
) -> Result<Box<dyn Launcher>, StreamError> {
    if let Some(host) = host {
        let host = StreamerHost::parse(host, &config.ssh_user)?;
        return Ok(Box::new(docker_launcher(config, Some(host))?));
    }
    if let Some(t) = &config.command {
        let launcher = CommandLauncher::new(t.start.clone(), t.stop.clone(), t.status.clone())?
            .with_timeout(Duration::from_secs(config.timeout_secs));
        return Ok(Box::new(launcher));
    }
    Ok(Box::new(docker_launcher(config, None)?))
}

fn docker_launcher(
    config: &StreamingConfig,
    host: Option<StreamerHost>,
) -> Result<DockerLauncher, StreamError> {
    let launcher = DockerLauncher {
        docker: config.docker.clone(),
        image: config.image.clone(),
        docker_host: host,
        run_args: config.run_args.clone(),
        extra_env: config
            .docker_env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        timeout: Duration::from_secs(config.timeout_secs),
        start_timeout: Duration::from_secs(config.start_timeout_secs),
    };
    launcher.validate()?;
    Ok(launcher)
}

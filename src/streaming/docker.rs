//! Streams as docker containers of the BigBlueButton-liveStreaming image, locally or on a
//! streamer host through `DOCKER_HOST=ssh://user@host`.

use super::process::{self, Finished, Invocation};
use super::request::{STREAM_ENV, check_image_safe};
use super::{
    Launcher, StopOutcome, StreamError, StreamName, StreamRequest, StreamState, StreamStatus,
    StreamerHost,
};
use async_trait::async_trait;
use std::path::PathBuf;
use std::time::Duration;

/// The image the original's docker-compose project ran.
pub const DEFAULT_IMAGE: &str = "aauzid/bigbluebutton-livestreaming:latest";

const MISSING_HINT: &str = "install the docker CLI (e.g. apt-get install docker.io) or set streaming.docker to its full path";

/// Runs `docker run -d --name <name> [run_args] -e BBB_URL -e BBB_SECRET -e BBB_MEETING_ID
/// -e BBB_STREAM_URL [-e BBB_INTRO] <image>` with the values in the child's environment.
#[derive(Debug, Clone)]
pub struct DockerLauncher {
    /// The docker CLI; a bare name is looked up in PATH (the child's PATH if `extra_env`
    /// sets one).
    pub docker: PathBuf,
    pub image: String,
    /// The streamer host; None: docker's own default (local socket or an inherited DOCKER_HOST).
    pub docker_host: Option<StreamerHost>,
    /// Extra `docker run` options before the image (volumes, shm size, …). No secrets here:
    /// they are visible in the process list.
    pub run_args: Vec<String>,
    /// Extra variables for every docker call (`DOCKER_CONFIG`, `PATH`, …); BBB_* and
    /// DOCKER_HOST are refused.
    pub extra_env: Vec<(String, String)>,
    /// Deadline of `docker ps` and `docker rm`.
    pub timeout: Duration,
    /// Deadline of `docker run` (it may pull the image first).
    pub start_timeout: Duration,
}

impl Default for DockerLauncher {
    fn default() -> Self {
        Self {
            docker: PathBuf::from("docker"),
            image: DEFAULT_IMAGE.to_string(),
            docker_host: None,
            run_args: Vec::new(),
            extra_env: Vec::new(),
            timeout: Duration::from_secs(30),
            start_timeout: Duration::from_secs(300),
        }
    }
}

impl DockerLauncher {
    /// Docker on `host` over SSH, other settings default.
    pub fn on_host(host: StreamerHost) -> Self {
        Self {
            docker_host: Some(host),
            ..Self::default()
        }
    }

    /// The launcher's own settings; checked before every call because fields are public.
    pub fn validate(&self) -> Result<(), StreamError> {
        if self.docker.as_os_str().is_empty() {
            return Err(StreamError::Config("the docker path is empty".into()));
        }
        let image_ok = !self.image.is_empty()
            && !self.image.starts_with('-')
            && self.image.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@')
            });
        if !image_ok {
            return Err(StreamError::Config(format!(
                "{:?} is not a docker image name such as {DEFAULT_IMAGE}",
                self.image
            )));
        }
        for (k, _) in &self.extra_env {
            let name_ok = !k.is_empty()
                && !k.starts_with(|c: char| c.is_ascii_digit())
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if !name_ok || k.starts_with("BBB_") || k == "DOCKER_HOST" {
                return Err(StreamError::Config(format!(
                    "{k:?} cannot be set as an extra docker variable"
                )));
            }
        }
        if self.timeout.is_zero() || self.start_timeout.is_zero() {
            return Err(StreamError::Config("timeouts must be above zero".into()));
        }
        Ok(())
    }

    /// The full `docker run` argv (after the program). Holds names of variables only.
    pub fn run_argv(&self, req: &StreamRequest) -> Vec<String> {
        let mut argv: Vec<String> = ["run", "-d", "--name", req.name.as_str()]
            .map(String::from)
            .to_vec();
        argv.extend(self.run_args.iter().cloned());
        for (name, _) in req.env() {
            argv.push("-e".into());
            argv.push(name.into());
        }
        argv.push(self.image.clone());
        argv
    }

    fn where_(&self) -> String {
        match &self.docker_host {
            Some(h) => h.to_string(),
            None => "local docker".into(),
        }
    }

    /// Environment common to every call: the host, the extras, and no stray BBB_* values.
    fn base_env(&self) -> Vec<(String, String)> {
        let mut env = self.extra_env.clone();
        if let Some(h) = &self.docker_host {
            env.push(("DOCKER_HOST".into(), h.docker_host()));
        }
        env
    }

    async fn docker(
        &self,
        action: &str,
        args: Vec<String>,
        env: Vec<(String, String)>,
        timeout: Duration,
    ) -> Result<Finished, StreamError> {
        tracing::debug!(
            argv = %process::show_argv(&self.docker, &args),
            host = %self.where_(),
            "running docker"
        );
        process::run(Invocation {
            program: &self.docker,
            args,
            env,
            env_remove: STREAM_ENV.to_vec(),
            timeout,
            action: format!("docker {action} on {}", self.where_()),
            missing_hint: MISSING_HINT,
        })
        .await
    }

    async fn state(&self, name: &StreamName) -> Result<StreamState, StreamError> {
        // Exact-name regex: '.' is the only regex metacharacter a stream name may hold.
        // Names carry a leading '/' inside docker; accept both forms.
        let pattern = format!("name=^/?{}$", name.as_str().replace('.', "\\."));
        let args = [
            "ps",
            "-a",
            "--filter",
            &pattern,
            "--format",
            "{{.Names}} {{.State}}",
        ]
        .map(String::from)
        .to_vec();
        let done = self
            .docker("ps", args, self.base_env(), self.timeout)
            .await?;
        if !done.success() {
            return Err(done.failure(&[]));
        }
        parse_ps(&done.stdout, name).map_err(|detail| StreamError::Unexpected {
            action: done.action.clone(),
            detail,
        })
    }

    /// `docker rm -f`; a container that vanished meanwhile counts as removed.
    async fn remove(&self, name: &StreamName) -> Result<(), StreamError> {
        let args = ["rm", "-f", name.as_str()].map(String::from).to_vec();
        let done = self
            .docker("rm", args, self.base_env(), self.timeout)
            .await?;
        if done.success() || done.stderr.contains("No such container") {
            return Ok(());
        }
        Err(done.failure(&[]))
    }

    async fn run_container(&self, req: &StreamRequest) -> Result<Finished, StreamError> {
        let mut env = self.base_env();
        env.extend(
            req.env()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let args = self.run_argv(req);
        tracing::debug!(
            argv = %process::show_argv(&self.docker, &args),
            host = %self.where_(),
            "running docker"
        );
        process::run(Invocation {
            program: &self.docker,
            args,
            env,
            // Unset BBB_INTRO when the request has none, so ours cannot leak in.
            env_remove: STREAM_ENV.to_vec(),
            timeout: self.start_timeout,
            action: format!("docker run on {}", self.where_()),
            missing_hint: MISSING_HINT,
        })
        .await
    }
}

/// Lines `name state`; the one whose name (one of a comma list, '/' trimmed) is ours counts.
fn parse_ps(stdout: &str, name: &StreamName) -> Result<StreamState, String> {
    for line in stdout.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut parts = line.split_whitespace();
        let (Some(names), Some(state)) = (parts.next(), parts.next()) else {
            return Err(format!("line {line:?} is not 'name state'"));
        };
        let ours = names
            .split(',')
            .any(|n| n.trim_start_matches('/') == name.as_str());
        if ours {
            return Ok(match state {
                // A restarting container is alive; starting another would fight it.
                "running" | "restarting" => StreamState::Running,
                other => StreamState::Inactive(other.to_string()),
            });
        }
    }
    Ok(StreamState::Absent)
}

#[async_trait]
impl Launcher for DockerLauncher {
    async fn start(&self, req: &StreamRequest) -> Result<StreamStatus, StreamError> {
        self.validate()?;
        req.validate()?;
        check_image_safe(req)?;
        let host = self.where_();
        match self.state(&req.name).await? {
            StreamState::Running => {
                tracing::info!(stream = %req.name, meeting_id = %req.meeting_id, %host,
                    "live stream already running");
                return Ok(StreamStatus::AlreadyRunning);
            }
            // An ended stream's container keeps the name; clear it so the new one can start.
            StreamState::Inactive(_) => self.remove(&req.name).await?,
            StreamState::Absent | StreamState::Unknown => {}
        }
        let done = self.run_container(req).await?;
        if done.success() {
            tracing::info!(stream = %req.name, meeting_id = %req.meeting_id, %host,
                "live stream started");
            return Ok(StreamStatus::Started);
        }
        // Two starts racing: the other one won, which is just as good.
        if done.stderr.contains("is already in use") && self.state(&req.name).await?.is_running() {
            tracing::info!(stream = %req.name, meeting_id = %req.meeting_id, %host,
                "live stream already running");
            return Ok(StreamStatus::AlreadyRunning);
        }
        let err = done.failure(&req.sensitive());
        tracing::warn!(stream = %req.name, meeting_id = %req.meeting_id, %host, error = %err,
            "live stream did not start");
        Err(err)
    }

    async fn stop(&self, name: &StreamName) -> Result<StopOutcome, StreamError> {
        self.validate()?;
        let host = self.where_();
        let outcome = match self.state(name).await? {
            StreamState::Absent => return Ok(StopOutcome::NotRunning),
            StreamState::Running => StopOutcome::Stopped,
            StreamState::Inactive(_) | StreamState::Unknown => StopOutcome::NotRunning,
        };
        self.remove(name).await?;
        tracing::info!(stream = %name, %host, ?outcome, "live stream stopped");
        Ok(outcome)
    }

    async fn status(&self, name: &StreamName) -> Result<StreamState, StreamError> {
        self.validate()?;
        self.state(name).await
    }

    fn describe(&self) -> String {
        format!("docker ({}) on {}", self.image, self.where_())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_output_is_matched_by_exact_name() {
        let n = StreamName::parse("sl-stream-a.1").unwrap();
        assert_eq!(parse_ps("", &n), Ok(StreamState::Absent));
        assert_eq!(
            parse_ps("sl-stream-a.1x running\n", &n),
            Ok(StreamState::Absent)
        );
        assert_eq!(
            parse_ps("other running\n/sl-stream-a.1 running\n", &n),
            Ok(StreamState::Running)
        );
        assert_eq!(
            parse_ps("x,sl-stream-a.1 exited\n", &n),
            Ok(StreamState::Inactive("exited".into()))
        );
        assert!(parse_ps("garbage\n", &n).is_err());
    }
}

//! Streams started and stopped by operator-chosen programs: argv templates with `{name}` and
//! `{meeting_id}` placeholders, substituted inside each argument (a value never splits into
//! several arguments and never reaches a shell). The stream values go by environment, as
//! for docker.

use super::process::{self, Finished, Invocation};
use super::request::STREAM_ENV;
use super::{
    Launcher, StopOutcome, StreamError, StreamName, StreamRequest, StreamState, StreamStatus,
};
use async_trait::async_trait;
use std::path::Path;
use std::time::Duration;

const PH_NAME: &str = "name";
const PH_MEETING_ID: &str = "meeting_id";
const MISSING_HINT: &str = "check the first item of the streaming command template";

/// argv templates; `start` may use `{name}` and `{meeting_id}`, `stop` and `status` only
/// `{name}` (they are called with a name alone). The program (first item) is literal.
/// `status`: exit 0 running, exit 1 not running, anything else an error.
#[derive(Debug, Clone)]
pub struct CommandLauncher {
    pub start: Vec<String>,
    pub stop: Vec<String>,
    pub status: Option<Vec<String>>,
    /// Deadline of every run.
    pub timeout: Duration,
}

impl CommandLauncher {
    pub fn new(
        start: Vec<String>,
        stop: Vec<String>,
        status: Option<Vec<String>>,
    ) -> Result<Self, StreamError> {
        let launcher = Self {
            start,
            stop,
            status,
            timeout: Duration::from_secs(30),
        };
        launcher.validate()?;
        Ok(launcher)
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks the templates; called again before every run because fields are public.
    pub fn validate(&self) -> Result<(), StreamError> {
        check_template("start", &self.start, &[PH_NAME, PH_MEETING_ID])?;
        check_template("stop", &self.stop, &[PH_NAME])?;
        if let Some(status) = &self.status {
            check_template("status", status, &[PH_NAME])?;
        }
        if self.timeout.is_zero() {
            return Err(StreamError::Config(
                "the command timeout must be above zero".into(),
            ));
        }
        Ok(())
    }

    /// The argv (program first) `template` gives for these values.
    pub fn render(
        template: &[String],
        values: &[(&str, &str)],
    ) -> Result<Vec<String>, StreamError> {
        template
            .iter()
            .map(|t| substitute(t, values).map_err(StreamError::Config))
            .collect()
    }

    async fn run_template(
        &self,
        what: &str,
        template: &[String],
        values: &[(&str, &str)],
        env: Vec<(String, String)>,
    ) -> Result<Finished, StreamError> {
        let argv = Self::render(template, values)?;
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| StreamError::Config(format!("the {what} command is empty")))?;
        let program = Path::new(program);
        tracing::debug!(argv = %process::show_argv(program, args), "running stream {what} command");
        process::run(Invocation {
            program,
            args: args.to_vec(),
            env,
            env_remove: STREAM_ENV.to_vec(),
            timeout: self.timeout,
            action: format!("stream {what} command {}", program.display()),
            missing_hint: MISSING_HINT,
        })
        .await
    }

    async fn state(&self, name: &StreamName) -> Result<StreamState, StreamError> {
        let Some(template) = &self.status else {
            return Ok(StreamState::Unknown);
        };
        let done = self
            .run_template("status", template, &[(PH_NAME, name.as_str())], Vec::new())
            .await?;
        match done.code {
            Some(0) => Ok(StreamState::Running),
            Some(1) => Ok(StreamState::Absent),
            _ => Err(done.failure(&[])),
        }
    }
}

#[async_trait]
impl Launcher for CommandLauncher {
    async fn start(&self, req: &StreamRequest) -> Result<StreamStatus, StreamError> {
        self.validate()?;
        req.validate()?;
        if self.state(&req.name).await?.is_running() {
            tracing::info!(stream = %req.name, meeting_id = %req.meeting_id,
                "live stream already running");
            return Ok(StreamStatus::AlreadyRunning);
        }
        let env = req
            .env()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let values = [
            (PH_NAME, req.name.as_str()),
            (PH_MEETING_ID, req.meeting_id.as_str()),
        ];
        let done = self
            .run_template("start", &self.start, &values, env)
            .await?;
        if !done.success() {
            let err = done.failure(&req.sensitive());
            tracing::warn!(stream = %req.name, meeting_id = %req.meeting_id, error = %err,
                "live stream did not start");
            return Err(err);
        }
        tracing::info!(stream = %req.name, meeting_id = %req.meeting_id, "live stream started");
        Ok(StreamStatus::Started)
    }

    async fn stop(&self, name: &StreamName) -> Result<StopOutcome, StreamError> {
        self.validate()?;
        let outcome = match self.state(name).await? {
            StreamState::Running => StopOutcome::Stopped,
            StreamState::Unknown => StopOutcome::Stopped,
            StreamState::Absent | StreamState::Inactive(_) => return Ok(StopOutcome::NotRunning),
        };
        let done = self
            .run_template("stop", &self.stop, &[(PH_NAME, name.as_str())], Vec::new())
            .await?;
        if !done.success() {
            return Err(done.failure(&[]));
        }
        tracing::info!(stream = %name, "live stream stopped");
        Ok(outcome)
    }

    async fn status(&self, name: &StreamName) -> Result<StreamState, StreamError> {
        self.validate()?;
        self.state(name).await
    }

    fn describe(&self) -> String {
        let program = self.start.first().map(String::as_str).unwrap_or("(none)");
        format!("command {program}")
    }
}

/// A template is usable: not empty, a literal program, known placeholders only.
fn check_template(what: &str, template: &[String], allowed: &[&str]) -> Result<(), StreamError> {
    let Some(program) = template.first() else {
        return Err(StreamError::Config(format!("the {what} command is empty")));
    };
    if program.is_empty() || !placeholders(program).is_empty() {
        return Err(StreamError::Config(format!(
            "the {what} command must start with a fixed program, not {program:?}"
        )));
    }
    for arg in template {
        for p in placeholders(arg) {
            if !allowed.contains(&p) {
                let list: Vec<String> = allowed.iter().map(|a| format!("{{{a}}}")).collect();
                return Err(StreamError::Config(format!(
                    "{{{p}}} is not available in the {what} command (use {})",
                    list.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// `{word}` with a lower-case word is a placeholder; any other brace text (`{{.Names}}`) is
/// literal.
fn placeholder_at(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('{')?;
    let end = inner.find('}')?;
    let key = &inner[..end];
    let ok = !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    ok.then_some(key)
}

fn placeholders(s: &str) -> Vec<&str> {
    s.char_indices()
        .filter(|(_, c)| *c == '{')
        .filter_map(|(i, _)| placeholder_at(&s[i..]))
        .collect()
}

/// One pass over `template`: placeholders are replaced, substituted text is never scanned
/// again (a meeting id holding `{name}` stays as it is).
fn substitute(template: &str, values: &[(&str, &str)]) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        match placeholder_at(tail) {
            Some(key) => {
                let (_, value) = values
                    .iter()
                    .find(|(k, _)| *k == key)
                    .ok_or_else(|| format!("{{{key}}} has no value here"))?;
                out.push_str(value);
                rest = &tail[key.len() + 2..];
            }
            None => {
                out.push('{');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn substitution_is_one_pass_and_per_argument() {
        let vals = [("name", "n1"), ("meeting_id", "a {name} 'b\" $(x)")];
        assert_eq!(
            substitute("--id={meeting_id}/{name}", &vals).unwrap(),
            "--id=a {name} 'b\" $(x)/n1"
        );
        assert_eq!(substitute("{{.Names}} {x", &vals).unwrap(), "{{.Names}} {x");
        assert!(substitute("{secret}", &vals).is_err());
    }

    #[test]
    fn templates_are_checked() {
        let ok = CommandLauncher::new(
            v(&["s", "{name}", "{meeting_id}"]),
            v(&["t", "{name}"]),
            None,
        );
        assert!(ok.is_ok());
        for (start, stop) in [
            (v(&[]), v(&["t"])),
            (v(&["{name}"]), v(&["t"])),
            (v(&["s", "{secret}"]), v(&["t"])),
            (v(&["s"]), v(&["t", "{meeting_id}"])),
        ] {
            assert!(
                CommandLauncher::new(start.clone(), stop.clone(), None).is_err(),
                "{start:?} {stop:?}"
            );
        }
        assert!(
            CommandLauncher::new(v(&["s"]), v(&["t"]), Some(v(&["q", "{meeting_id}"]))).is_err()
        );
    }
}

//! Runs one program with argv and a chosen environment (never through a shell), with a
//! deadline, bounded output capture and redacted error excerpts.

use super::StreamError;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

/// Output kept per stream; the rest is read and dropped so the child never blocks on a full pipe.
const CAPTURE_LIMIT: u64 = 64 * 1024;
/// Longest stderr excerpt put into an error message.
const EXCERPT_CHARS: usize = 400;

/// One program run.
pub(crate) struct Invocation<'a> {
    pub program: &'a Path,
    pub args: Vec<String>,
    /// Set in the child's environment (on top of ours).
    pub env: Vec<(String, String)>,
    /// Removed from the child's environment.
    pub env_remove: Vec<&'static str>,
    pub timeout: Duration,
    /// What we were doing, for messages: "docker run", "stop command".
    pub action: String,
    /// Told to the user when the program cannot be found.
    pub missing_hint: &'a str,
}

/// A finished run.
pub(crate) struct Finished {
    pub program: PathBuf,
    pub action: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The error for a non-zero exit, with a short stderr excerpt from which every
    /// `sensitive` value has been cut.
    pub fn failure(&self, sensitive: &[String]) -> StreamError {
        StreamError::Failed {
            program: self.program.display().to_string(),
            action: self.action.clone(),
            code: self.code,
            stderr: excerpt(&self.stderr, sensitive),
        }
    }
}

pub(crate) async fn run(inv: Invocation<'_>) -> Result<Finished, StreamError> {
    let mut cmd = Command::new(inv.program);
    cmd.args(&inv.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group, so a timeout also ends what it started (docker's ssh).
        .process_group(0);
    for name in &inv.env_remove {
        cmd.env_remove(name);
    }
    for (k, v) in &inv.env {
        cmd.env(k, v);
    }
    let program = inv.program.to_path_buf();
    let mut child = cmd
        .spawn()
        .map_err(|e| spawn_error(&program, inv.missing_hint, e))?;
    let pid = child.id();
    let out = child.stdout.take();
    let err = child.stderr.take();
    let waited = tokio::time::timeout(inv.timeout, async {
        let (stdout, stderr, status) = tokio::join!(capture(out), capture(err), child.wait());
        (stdout, stderr, status)
    })
    .await;
    match waited {
        Ok((stdout, stderr, status)) => {
            let status = status.map_err(|source| StreamError::Spawn {
                program: program.display().to_string(),
                source,
            })?;
            Ok(Finished {
                program,
                action: inv.action,
                code: status.code(),
                stdout,
                stderr,
            })
        }
        Err(_) => {
            kill_group(pid);
            // Reaps the child; it is already dead or dies now.
            let _ = child.kill().await;
            Err(StreamError::Timeout {
                program: program.display().to_string(),
                action: inv.action,
                after: inv.timeout,
            })
        }
    }
}

/// SIGKILL to the child's process group. The child is not reaped yet, so its pid (and so the
/// group id) cannot have been reused.
fn kill_group(pid: Option<u32>) {
    let Some(pgid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    // SAFETY: kill(2) has no memory effects; a negative pid addresses the process group.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

async fn capture<R: AsyncRead + Unpin>(stream: Option<R>) -> String {
    let Some(stream) = stream else {
        return String::new();
    };
    let mut limited = stream.take(CAPTURE_LIMIT);
    let mut buf = Vec::new();
    // A read error only shortens what we report; the exit status decides.
    let _ = limited.read_to_end(&mut buf).await;
    let _ = tokio::io::copy(&mut limited.into_inner(), &mut tokio::io::sink()).await;
    String::from_utf8_lossy(&buf).into_owned()
}

fn spawn_error(program: &Path, hint: &str, e: std::io::Error) -> StreamError {
    if e.kind() == std::io::ErrorKind::NotFound {
        StreamError::ProgramMissing {
            program: program.display().to_string(),
            hint: hint.to_string(),
        }
    } else {
        StreamError::Spawn {
            program: program.display().to_string(),
            source: e,
        }
    }
}

/// The end of `text` (where programs put the actual error), on one line, at most
/// [`EXCERPT_CHARS`] characters, with every sensitive value replaced by `***`.
pub(crate) fn excerpt(text: &str, sensitive: &[String]) -> String {
    let mut clean = text.to_string();
    for s in sensitive.iter().filter(|s| !s.is_empty()) {
        clean = clean.replace(s.as_str(), "***");
    }
    let one_line: String = clean
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let n = one_line.chars().count();
    if n <= EXCERPT_CHARS {
        return if one_line.is_empty() {
            "(no error output)".into()
        } else {
            one_line
        };
    }
    let tail: String = one_line.chars().skip(n - EXCERPT_CHARS).collect();
    format!("…{tail}")
}

/// argv for a debug log line; callers only pass argv that holds no secrets.
pub(crate) fn show_argv(program: &Path, args: &[String]) -> String {
    let mut parts: Vec<OsString> = vec![program.as_os_str().to_owned()];
    parts.extend(args.iter().map(OsString::from));
    format!("{parts:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_hides_secrets_and_keeps_the_end() {
        let s = vec!["s3cr3t".to_string(), String::new()];
        assert_eq!(
            excerpt("Error: bad\n  key s3cr3t here\n", &s),
            "Error: bad | key *** here"
        );
        let long = format!("{}END", "x".repeat(1000));
        let e = excerpt(&long, &s);
        assert!(e.ends_with("END") && e.chars().count() == EXCERPT_CHARS + 1);
        assert_eq!(excerpt("\n", &s), "(no error output)");
    }
}

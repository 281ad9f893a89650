//! A real SMTP server on loopback for the mail tests: Python's aiosmtpd from the test venv
//! (`tests/third_party/smtp_sink.py`), plain, STARTTLS or implicit TLS, with or without
//! AUTH, and able to refuse (550), defer (451) or hold back its DATA reply. Certificates come
//! from a throwaway CA made with the `openssl` program; [`SmtpSink::ca_file`] is what the
//! client must trust. Received messages are files; [`SmtpSink::messages`] reads them.
//!
//! The server reads its stdin until end of file: when the test process dies, the pipe closes
//! and the server exits, so no server outlives its test.

use super::python::{self, Venv};
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkTls {
    Plain,
    Starttls,
    /// TLS from the first byte (port 465 style).
    Implicit,
}

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    pub tls: SinkTls,
    /// Require AUTH with this login and password.
    pub login: Option<(String, String)>,
    /// Recipients containing this get `550`.
    pub reject: Option<String>,
    /// Recipients containing this get `451`.
    pub tempfail: Option<String>,
    /// Hold the DATA reply back this long after the message was written.
    pub hang_after_data: Option<Duration>,
    /// Listen here (to bring a server back on the port a client already knows).
    pub port: Option<u16>,
}

impl Default for SinkOptions {
    fn default() -> Self {
        Self {
            tls: SinkTls::Plain,
            login: None,
            reject: None,
            tempfail: None,
            hang_after_data: None,
            port: None,
        }
    }
}

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub raw: Vec<u8>,
    pub path: PathBuf,
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// The AUTH login, if the client logged in.
    pub login: Option<String>,
    /// Whether the session was encrypted.
    pub tls: bool,
    /// Which SMTP session (connection) carried it.
    pub session: u64,
}

pub struct SmtpSink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    ca: Option<PathBuf>,
}

impl SmtpSink {
    pub fn start(options: SinkOptions) -> Result<Self, String> {
        let venv = python::test_venv().map_err(|e| e.to_string())?;
        let dir = tempfile::Builder::new()
            .prefix("schedulight-smtp-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        Self::start_in(&venv, dir, options)
    }

    /// Start another server that writes into the same directory as `self` (message numbers go
    /// on), e.g. the same server "back" after it was down.
    pub fn restart(mut self, options: SinkOptions) -> Result<Self, String> {
        self.stop();
        let venv = python::test_venv().map_err(|e| e.to_string())?;
        let dir = std::mem::replace(
            &mut self.dir,
            tempfile::TempDir::new().map_err(|e| e.to_string())?,
        );
        Self::start_in(&venv, dir, options)
    }

    fn start_in(venv: &Venv, dir: tempfile::TempDir, options: SinkOptions) -> Result<Self, String> {
        let port = match options.port {
            Some(p) => p,
            None => free_port()?,
        };
        let messages = dir.path().join("messages");
        std::fs::create_dir_all(&messages).map_err(|e| format!("{}: {e}", messages.display()))?;
        let mut cmd = venv.command(python::manifest_dir().join("tests/third_party/smtp_sink.py"));
        cmd.arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(&messages);
        let ca = match options.tls {
            SinkTls::Plain => {
                cmd.args(["--mode", "plain"]);
                None
            }
            tls => {
                let (ca, cert, key) = make_certificates(dir.path())?;
                cmd.args([
                    "--mode",
                    if tls == SinkTls::Starttls {
                        "starttls"
                    } else {
                        "tls"
                    },
                ]);
                cmd.arg("--cert").arg(cert).arg("--key").arg(key);
                Some(ca)
            }
        };
        if let Some((user, password)) = &options.login {
            cmd.args(["--user", user, "--password", password]);
        }
        if let Some(r) = &options.reject {
            cmd.args(["--reject", r]);
        }
        if let Some(r) = &options.tempfail {
            cmd.args(["--tempfail", r]);
        }
        if let Some(h) = options.hang_after_data {
            cmd.arg("--hang-after-data")
                .arg(format!("{}", h.as_secs_f64()));
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting the SMTP server: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("SMTP server: {e}"))?;
        if line.trim() != "READY" {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("the SMTP server did not start (said {line:?})"));
        }
        Ok(Self {
            child,
            port,
            dir,
            ca,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA certificate (PEM) that signed the server's certificate.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_deref()
    }

    /// Stop the server (the port is free afterwards).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Messages received so far, in order.
    pub fn messages(&self) -> Vec<Received> {
        let dir = self.dir.path().join("messages");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .into_iter()
            .filter_map(|path| {
                let raw = std::fs::read(&path).ok()?;
                let meta: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(path.with_extension("json")).ok()?)
                        .ok()?;
                Some(Received {
                    raw,
                    path,
                    mail_from: meta["mail_from"].as_str().unwrap_or_default().to_string(),
                    rcpt_tos: meta["rcpt_tos"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                    login: meta["login"].as_str().map(str::to_string),
                    tls: meta["tls"].as_bool().unwrap_or(false),
                    session: meta["session"].as_u64().unwrap_or(0),
                })
            })
            .collect()
    }

    /// Wait until at least `n` messages arrived (or `timeout` passed); returns them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.messages();
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Received {
    /// The message read back by independent parsers (Python's `email` package and
    /// `icalendar`, `tests/third_party/mail_inspect.py`).
    pub fn inspect(&self) -> Result<serde_json::Value, String> {
        let venv = python::test_venv().map_err(|e| e.to_string())?;
        let out = venv
            .command(python::manifest_dir().join("tests/third_party/mail_inspect.py"))
            .arg(&self.path)
            .output()
            .map_err(|e| format!("mail_inspect.py: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mail_inspect.py failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("mail_inspect.py output: {e}"))
    }
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("free port: {e}"))
}

/// A CA and a server certificate for `localhost` and 127.0.0.1 signed by it, made with the
/// `openssl` program (argv only). Returns (ca.pem, server.pem, server.key).
fn make_certificates(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf), String> {
    let p = |n: &str| dir.join(n);
    let run = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| format!("openssl (Debian package openssl): {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "openssl {}: {}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    std::fs::write(
        p("server.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .map_err(|e| e.to_string())?;
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=schedulight test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ])?;
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ])?;
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ])?;
    Ok((p("ca.pem"), p("server.pem"), p("server.key")))
}

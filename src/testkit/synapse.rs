//! A throwaway Synapse (Matrix homeserver) for tests of the chat-ops bot.
//!
//! Synapse comes from PyPI, pinned with hashes in `tests/third_party/synapse-requirements.txt`
//! and installed into its own venv ([`python::synapse_venv`]). Each instance gets a fresh
//! directory under the system temp dir with a config written here (JSON, which is YAML too),
//! an SQLite database, a signing key Synapse generates on first start and `homeserver.log`.
//!
//! The config is the minimal one plus the settings that make tests fast and hermetic: one plain
//! HTTP listener on 127.0.0.1 only (client API and admin API), rate limits off, `bcrypt_rounds: 4`,
//! presence off, no key servers and no federation (nothing leaves loopback), registration by
//! shared secret (a random one per instance) and open registration without verification, and
//! the default room version pinned to 12 so a Synapse upgrade cannot change it under the tests.
//!
//! Lifetime, so no homeserver outlives its test process (the same scheme as
//! [`crate::testkit::pg`]):
//! * Synapse runs in its own process group and is spawned with a parent-death signal (SIGKILL)
//!   from a thread that lives as long as the instance, so the kernel stops it even when the test
//!   process is killed;
//! * [`Synapse::shared`] registers an exit hook that stops the server (SIGTERM to the group,
//!   SIGKILL if it is not gone in time) and removes its directory when the process exits
//!   normally; an owned [`Synapse`] does the same when dropped;
//! * a directory left behind by a process that was killed is removed by the next start (after
//!   killing its Synapse, should one still be running).

use crate::testkit::python::{self, Venv, VenvError};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, TryLockError};
use std::time::{Duration, Instant};

/// Prefix of the instance directories in the temp dir: `<prefix><pid>-<n>-<random>`.
const DIR_PREFIX: &str = "schedulight-synapse-";
const SERVER_NAME: &str = "localhost";
const CONFIG_FILE: &str = "homeserver.yaml";
const LOG_FILE: &str = "homeserver.log";
const PID_FILE: &str = "homeserver.pid";
/// Pinned so that user-visible room IDs (v12: no server part) do not change with Synapse.
const ROOM_VERSION: &str = "12";
/// The first start creates the schema (~3.6 s on 2 cores); leave room for a loaded machine.
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// Synapse needs 1–2 s after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Another process may grab the free port between our probe and Synapse's bind.
const START_ATTEMPTS: u32 = 4;
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
const LOG_TAIL_LINES: usize = 15;

#[derive(Debug, thiserror::Error)]
pub enum SynapseError {
    #[error("preparing the Synapse venv failed: {0}")]
    Venv(#[from] VenvError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("Synapse did not start: {0}")]
    Start(String),
    #[error("{what}: {source}")]
    Http {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    /// Synapse answered a registration with an error (say a wrong shared secret: 403 "HMAC
    /// incorrect"). Never carries the password or the secret.
    #[error("registering `{username}` was refused: HTTP {status} {errcode}: {message}")]
    Register {
        username: String,
        status: u16,
        errcode: String,
        message: String,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> SynapseError {
    let what = what.into();
    move |source| SynapseError::Io { what, source }
}

fn http_err(what: impl Into<String>) -> impl FnOnce(reqwest::Error) -> SynapseError {
    let what = what.into();
    move |source| SynapseError::Http { what, source }
}

/// An account made through the shared-secret admin API. Its access token belongs to a new
/// device (`device_id`).
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct RegisteredUser {
    pub user_id: String,
    pub access_token: String,
    pub device_id: String,
}

impl std::fmt::Debug for RegisteredUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredUser")
            .field("user_id", &self.user_id)
            .field("access_token", &"<redacted>")
            .field("device_id", &self.device_id)
            .finish()
    }
}

/// The running Synapse process and the thread that anchors its parent-death signal.
struct Process {
    child: Child,
    /// Tells the anchor thread to finish (which would send the parent-death signal).
    anchor_done: Arc<AtomicBool>,
    anchor: std::thread::Thread,
}

impl Process {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Why the process is gone, or None while it runs.
    fn exit_status(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    fn stop(mut self) {
        stop_child(&mut self.child);
        self.anchor_done.store(true, Ordering::SeqCst);
        self.anchor.unpark();
    }
}

/// A running throwaway homeserver. Dropping it stops the server and deletes its files.
pub struct Synapse {
    dir: PathBuf,
    port: u16,
    shared_secret: String,
    pid: u32,
    startup_time: Duration,
    process: Mutex<Option<Process>>,
}

impl std::fmt::Debug for Synapse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Synapse")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

static SHARED: OnceLock<Result<Synapse, String>> = OnceLock::new();

extern "C" fn stop_shared_at_exit() {
    if let Some(Ok(synapse)) = SHARED.get() {
        synapse.shutdown();
    }
}

impl Synapse {
    /// Starts a new homeserver owned by the caller; returns once `/_matrix/client/versions`
    /// answers. Blocks (the first call on a machine also installs the venv, ~45 s); call it
    /// from `spawn_blocking` in async code.
    pub fn start() -> Result<Synapse, SynapseError> {
        Self::start_with(None)
    }

    /// [`Synapse::start`], but the first attempt uses `port`; when that is taken, free ports
    /// as usual. Lets a test walk the port-collision path on purpose.
    pub fn start_trying_port_first(port: u16) -> Result<Synapse, SynapseError> {
        Self::start_with(Some(port))
    }

    fn start_with(first_port: Option<u16>) -> Result<Synapse, SynapseError> {
        let venv = python::synapse_venv()?;
        sweep_stale_dirs();
        let dir = make_dir()?;
        // From here on the directory must go again if anything fails.
        let started = Self::run_in(dir.clone(), &venv, first_port);
        if started.is_err() {
            let _ = fs::remove_dir_all(&dir);
        }
        started
    }

    /// The homeserver of this process, started on first use and stopped when the process exits.
    pub fn shared() -> Result<&'static Synapse, SynapseError> {
        let started = SHARED.get_or_init(|| {
            let synapse = Synapse::start().map_err(|e| e.to_string())?;
            // SAFETY: registers a plain function without captured state; it only touches the
            // static above, which lives until the process is gone.
            unsafe {
                libc::atexit(stop_shared_at_exit);
            }
            Ok(synapse)
        });
        started.as_ref().map_err(|e| SynapseError::Start(e.clone()))
    }

    /// Base URL of the client (and admin) API, `http://127.0.0.1:<port>`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The server name in user IDs and room aliases (`@alice:localhost`).
    pub fn server_name(&self) -> &str {
        SERVER_NAME
    }

    /// TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Directory holding the config, the database, the signing key and `homeserver.log`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Process id of the Synapse process (the leader of its process group).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Time from spawning Synapse until it answered `/_matrix/client/versions`.
    pub fn startup_time(&self) -> Duration {
        self.startup_time
    }

    /// The last lines of `homeserver.log`, for error messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.dir)
    }

    /// Registers `username` through the shared-secret admin API
    /// (`/_synapse/admin/v1/register`: a nonce, then the HMAC-signed request).
    pub async fn register(
        &self,
        username: &str,
        password: &str,
        admin: bool,
    ) -> Result<RegisteredUser, SynapseError> {
        self.register_with_secret(&self.shared_secret, username, password, admin)
            .await
    }

    /// [`Synapse::register`] with the given shared secret instead of the server's own (to test
    /// the refusal of a wrong one).
    pub async fn register_with_secret(
        &self,
        shared_secret: &str,
        username: &str,
        password: &str,
        admin: bool,
    ) -> Result<RegisteredUser, SynapseError> {
        #[derive(Deserialize)]
        struct Nonce {
            nonce: String,
        }
        let http = http_client()?;
        let endpoint = format!("{}/_synapse/admin/v1/register", self.url());
        let nonce: Nonce = http
            .get(&endpoint)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(http_err("fetching a registration nonce"))?
            .json()
            .await
            .map_err(http_err("reading the registration nonce"))?;
        let mac = registration_mac(shared_secret, &nonce.nonce, username, password, admin);
        let body = serde_json::json!({
            "nonce": nonce.nonce,
            "username": username,
            "password": password,
            "admin": admin,
            "mac": mac,
        });
        let response = http
            .post(&endpoint)
            .json(&body)
            .send()
            .await
            .map_err(http_err(format!("registering `{username}`")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(refusal(username, status, response).await);
        }
        response.json().await.map_err(http_err(format!(
            "reading the registration of `{username}`"
        )))
    }

    /// Stops the server (SIGTERM, SIGKILL after a grace period) and removes its files.
    /// Safe to call more than once.
    pub fn shutdown(&self) {
        // try_lock: this also runs from the exit hook, where waiting on a lock could hang.
        let process = match self.process.try_lock() {
            Ok(mut guard) => guard.take(),
            Err(TryLockError::Poisoned(p)) => p.into_inner().take(),
            Err(TryLockError::WouldBlock) => None,
        };
        if let Some(process) = process {
            process.stop();
        }
        if self.dir.exists()
            && let Err(e) = fs::remove_dir_all(&self.dir)
        {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not remove Synapse test dir");
        }
    }

    /// Writes the config and starts Synapse, on a new port after a port collision.
    fn run_in(dir: PathBuf, venv: &Venv, first_port: Option<u16>) -> Result<Synapse, SynapseError> {
        let shared_secret = random_token(32);
        let mut last_error = String::new();
        let mut first_port = first_port;
        for _ in 0..START_ATTEMPTS {
            let port = match first_port.take() {
                Some(port) => port,
                None => free_port()?,
            };
            write_config(&dir, port, &shared_secret)?;
            // Earlier attempts' lines stay in the log; only this attempt's count.
            let log_start = fs::metadata(dir.join(LOG_FILE)).map_or(0, |m| m.len());
            let spawned_at = Instant::now();
            let mut process = spawn_synapse(venv, &dir)?;
            match wait_ready(&mut process, &dir, port, log_start) {
                Ok(()) => {
                    let startup_time = spawned_at.elapsed();
                    tracing::debug!(port, dir = %dir.display(), ?startup_time, "throwaway Synapse is up");
                    return Ok(Synapse {
                        dir,
                        port,
                        shared_secret,
                        pid: process.pid(),
                        startup_time,
                        process: Mutex::new(Some(process)),
                    });
                }
                Err(NotReady::PortTaken(e)) => {
                    process.stop();
                    last_error = e;
                }
                Err(NotReady::Failed(e)) => {
                    process.stop();
                    return Err(SynapseError::Start(e));
                }
            }
        }
        Err(SynapseError::Start(format!(
            "no free port after {START_ATTEMPTS} attempts; last: {last_error}"
        )))
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn http_client() -> Result<reqwest::Client, SynapseError> {
    reqwest::Client::builder()
        // Loopback only: a proxy from the environment must not see these requests.
        .no_proxy()
        .timeout(HTTP_TIMEOUT)
        .build()
        .map_err(http_err("building the HTTP client"))
}

/// Hex HMAC-SHA1 over `nonce \0 username \0 password \0 admin|notadmin`, keyed with the
/// shared secret (Synapse's admin register API).
fn registration_mac(
    secret: &str,
    nonce: &str,
    username: &str,
    password: &str,
    admin: bool,
) -> String {
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    let role: &[u8] = if admin { b"admin" } else { b"notadmin" };
    for (i, part) in [
        nonce.as_bytes(),
        username.as_bytes(),
        password.as_bytes(),
        role,
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            mac.update(b"\0");
        }
        mac.update(part);
    }
    crate::bbb::checksum::hex(&mac.finalize().into_bytes())
}

/// The error of a refused registration, from Synapse's `{errcode, error}` body.
async fn refusal(
    username: &str,
    status: reqwest::StatusCode,
    response: reqwest::Response,
) -> SynapseError {
    #[derive(Deserialize, Default)]
    struct MatrixError {
        #[serde(default)]
        errcode: String,
        #[serde(default)]
        error: String,
    }
    let body: MatrixError = response.json().await.unwrap_or_default();
    SynapseError::Register {
        username: username.to_owned(),
        status: status.as_u16(),
        errcode: body.errcode,
        message: body.error,
    }
}

/// The whole config: the minimal settings plus the fast-test overlay. Written as JSON, which
/// Synapse's YAML loader reads as is (no quoting pitfalls with paths).
fn config(dir: &Path, port: u16, shared_secret: &str) -> serde_json::Value {
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let unlimited = serde_json::json!({ "per_second": 10000, "burst_count": 10000 });
    serde_json::json!({
        "server_name": SERVER_NAME,
        "public_baseurl": format!("http://127.0.0.1:{port}/"),
        "pid_file": path(PID_FILE),
        "report_stats": false,
        "listeners": [{
            "port": port,
            "type": "http",
            "tls": false,
            "x_forwarded": false,
            "bind_addresses": ["127.0.0.1"],
            "resources": [{ "names": ["client"], "compress": false }],
        }],
        "database": { "name": "sqlite3", "args": { "database": path("homeserver.db") } },
        "media_store_path": path("media_store"),
        "signing_key_path": path("signing.key"),
        // Nothing leaves loopback: no notary key servers, no federation, no URL previews.
        "trusted_key_servers": [],
        "suppress_key_server_warning": true,
        "federation_domain_whitelist": [],
        "url_preview_enabled": false,
        "registration_shared_secret": shared_secret,
        "macaroon_secret_key": random_token(32),
        "form_secret": random_token(32),
        "enable_registration": true,
        "enable_registration_without_verification": true,
        "bcrypt_rounds": 4,
        "presence": { "enabled": false },
        // An initial /sync right after a change must see it.
        "caches": { "sync_response_cache_duration": 0 },
        "default_room_version": ROOM_VERSION,
        "rc_message": unlimited,
        "rc_registration": unlimited,
        "rc_login": { "address": unlimited, "account": unlimited, "failed_attempts": unlimited },
        "rc_joins": { "local": unlimited, "remote": unlimited },
        "rc_joins_per_room": unlimited,
        "rc_invites": { "per_room": unlimited, "per_user": unlimited, "per_issuer": unlimited },
        "rc_room_creation": unlimited,
        "rc_admin_redaction": unlimited,
        "rc_3pid_validation": unlimited,
        "rc_presence": { "per_user": unlimited },
        "rc_delayed_event_mgmt": unlimited,
        "rc_user_directory": unlimited,
        "rc_profile": unlimited,
    })
}

fn write_config(dir: &Path, port: u16, shared_secret: &str) -> Result<(), SynapseError> {
    let text = serde_json::to_string_pretty(&config(dir, port, shared_secret))
        .expect("a JSON value always serialises");
    let path = dir.join(CONFIG_FILE);
    fs::write(&path, text).map_err(io_err(format!("writing {}", path.display())))
}

/// Spawns `python -m synapse.app.homeserver` in its own process group from a dedicated thread
/// that stays alive until the process is stopped: the parent-death signal fires when the
/// spawning *thread* ends, so it must not be a test thread.
fn spawn_synapse(venv: &Venv, dir: &Path) -> Result<Process, SynapseError> {
    let log_path = dir.join(LOG_FILE);
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io_err(format!("opening {}", log_path.display())))?;
    let log_err = log
        .try_clone()
        .map_err(io_err("duplicating the log handle"))?;
    let mut cmd = Command::new(venv.python());
    cmd.args(["-m", "synapse.app.homeserver", "--config-path"])
        // Without a `--generate-*` flag Synapse creates the missing signing key, then runs.
        // (Spelling that default out as `--generate-missing-and-run` is refused by 1.163.)
        .arg(dir.join(CONFIG_FILE))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        // Its own group: a terminal's Ctrl-C does not reach it half-way, and stopping signals
        // the whole group.
        .process_group(0);
    let parent = std::process::id();
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe functions.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before the prctl took effect.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let done = Arc::new(AtomicBool::new(false));
    let anchor_done = Arc::clone(&done);
    let anchor = std::thread::Builder::new()
        .name("synapse-anchor".into())
        .spawn(move || {
            let spawned = cmd.spawn();
            let ok = spawned.is_ok();
            let _ = tx.send(spawned);
            while ok && !done.load(Ordering::SeqCst) {
                std::thread::park();
            }
        })
        .map_err(io_err("starting the Synapse anchor thread"))?;
    let child = rx
        .recv()
        .map_err(|_| SynapseError::Start("the anchor thread died".into()))?
        .map_err(io_err(format!("running {}", venv.python().display())))?;
    Ok(Process {
        child,
        anchor_done,
        anchor: anchor.thread().clone(),
    })
}

enum NotReady {
    /// Someone else bound the port first; worth another attempt on a new one.
    PortTaken(String),
    Failed(String),
}

/// Waits until our Synapse has bound `port` (its log says so: an answer alone could come from
/// another server that holds the port) and `/_matrix/client/versions` answers 200.
fn wait_ready(
    process: &mut Process,
    dir: &Path,
    port: u16,
    log_start: u64,
) -> Result<(), NotReady> {
    let listening = format!("Synapse now listening on TCP port {port}");
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let log = log_since(dir, log_start);
        if log.contains(&listening) && versions_answer(port) {
            return Ok(());
        }
        if let Some(status) = process.exit_status() {
            let tail = log_tail(dir);
            let message = format!("synapse exited ({status}); log:\n{tail}");
            return Err(if log.contains("Address already in use") {
                NotReady::PortTaken(message)
            } else {
                NotReady::Failed(message)
            });
        }
        if Instant::now() > deadline {
            return Err(NotReady::Failed(format!(
                "not ready after {}s; log:\n{}",
                START_TIMEOUT.as_secs(),
                log_tail(dir)
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `GET /_matrix/client/versions` on 127.0.0.1:`port` answers 200. Plain HTTP/1.1 over
/// a std socket: start-up stays synchronous and tied to no async runtime.
fn versions_answer(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let timeout = Some(Duration::from_secs(5));
    if stream.set_read_timeout(timeout).is_err() || stream.set_write_timeout(timeout).is_err() {
        return false;
    }
    let request = format!(
        "GET /_matrix/client/versions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    // The status line is all we need: `HTTP/1.1 200 OK`.
    let mut head = Vec::new();
    if (&mut stream).take(64).read_to_end(&mut head).is_err() {
        return false;
    }
    head.split(|b| *b == b' ').nth(1) == Some(b"200".as_slice())
}

/// Sends SIGTERM to the process group, then SIGKILL if Synapse does not go in time.
fn stop_child(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let Ok(pgid) = libc::pid_t::try_from(child.id()) else {
        let _ = child.kill();
        let _ = child.wait();
        return;
    };
    // SAFETY: signalling the process group our own, not yet reaped child leads.
    unsafe {
        libc::kill(-pgid, libc::SIGTERM);
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    tracing::warn!(pid = pgid, "Synapse ignored SIGTERM; killing it");
    // SAFETY: as above; the leader has still not been reaped.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    let _ = child.wait();
}

/// The log from byte `start` on.
fn log_since(dir: &Path, start: u64) -> String {
    let bytes = fs::read(dir.join(LOG_FILE)).unwrap_or_default();
    let start = usize::try_from(start)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

fn log_tail(dir: &Path) -> String {
    let log = fs::read_to_string(dir.join(LOG_FILE)).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

fn random_token(len: usize) -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn make_dir() -> Result<PathBuf, SynapseError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "{DIR_PREFIX}{}-{n}-{}",
        std::process::id(),
        random_token(6)
    ));
    fs::create_dir(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
    // The config holds the shared secret.
    fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .map_err(io_err(format!("restricting {}", dir.display())))?;
    Ok(dir)
}

fn free_port() -> Result<u16, SynapseError> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io_err("finding a free local port"))?;
    let port = listener
        .local_addr()
        .map_err(io_err("finding a free local port"))?
        .port();
    Ok(port)
}

/// Removes instance directories of test processes that no longer exist (killed before their
/// exit hook ran). Their Synapse went with them (parent-death signal); one that is somehow
/// still up is killed first.
fn sweep_stale_dirs() {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(owner) = name
            .strip_prefix(DIR_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new("/proc").join(owner.to_string()).exists() {
            continue;
        }
        let dir = entry.path();
        if let Some(pid) = live_synapse(&dir) {
            // SAFETY: plain signal to a process we verified runs with this directory's config.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        tracing::debug!(dir = %dir.display(), "removing stale Synapse test dir");
        let _ = fs::remove_dir_all(&dir);
    }
}

/// The pid in the directory's pid file, if that process runs Synapse with this directory's
/// config (a recycled pid belongs to someone else).
fn live_synapse(dir: &Path) -> Option<libc::pid_t> {
    let pid: libc::pid_t = fs::read_to_string(dir.join(PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let config = dir.join(CONFIG_FILE);
    let config = config.as_os_str().as_encoded_bytes();
    cmdline
        .split(|b| *b == 0)
        .any(|arg| arg == config)
        .then_some(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_mac_matches_synapse_docs_layout() {
        // Reference values from Python: hmac.new(b"secret", b"abc\0alice\0pw\0notadmin", sha1).
        assert_eq!(
            registration_mac("secret", "abc", "alice", "pw", false),
            "42e32623fe124933c326f9d2d67ff7c617915a10"
        );
        assert_eq!(
            registration_mac("secret", "abc", "alice", "pw", true),
            "dc5ed98b283077684552e3f72d67f26b3366bf58"
        );
    }

    #[test]
    fn config_listens_on_loopback_only_and_pins_the_room_version() {
        let cfg = config(Path::new("/tmp/x"), 4242, "s3cret");
        assert_eq!(
            cfg["listeners"][0]["bind_addresses"],
            serde_json::json!(["127.0.0.1"])
        );
        assert_eq!(cfg["listeners"][0]["port"], 4242);
        assert_eq!(cfg["default_room_version"], "12");
        assert_eq!(cfg["trusted_key_servers"], serde_json::json!([]));
        assert_eq!(cfg["database"]["args"]["database"], "/tmp/x/homeserver.db");
    }
}

//! A throwaway PostgreSQL cluster for tests, benchmarks and the demo.
//!
//! `initdb` into a fresh directory under the system temp dir, then `postgres` on a free
//! 127.0.0.1 port with its unix socket in that directory and durability switched off (fsync,
//! synchronous commit, full-page writes): the data is thrown away anyway.
//!
//! The server binaries come from the Debian `postgresql` package
//! (`/usr/lib/postgresql/<newest>/bin`, or the directory in `SCHEDULIGHT_PG_BIN`). PostgreSQL
//! refuses to run as root, so as root the directory is handed to the `postgres` user and the
//! binaries run under its uid/gid (set by the spawning code, argv only).
//!
//! Lifetime, so no server outlives its test process:
//! * the postmaster is spawned with a parent-death signal (SIGQUIT, PostgreSQL's immediate
//!   shutdown) from a thread that lives as long as the cluster, so the kernel stops it even when
//!   the test process is killed. (Going through `sudo` would lose this: the kernel clears the
//!   parent-death signal when a set-user-ID program runs.)
//! * [`PgCluster::shared`] registers an exit hook that stops the server and removes the
//!   directory when the process exits normally (statics are never dropped);
//!   an owned [`PgCluster`] does the same when dropped;
//! * a directory left behind by a process that was killed is removed by the next start.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection, Executor};
use std::fs;
use std::io;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, TryLockError};
use std::time::{Duration, Instant};

/// Prefix of the cluster directories in the temp dir: `<prefix><pid>-<n>-<random>`.
const DIR_PREFIX: &str = "schedulight-pg-";
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const START_ATTEMPTS: u32 = 4;
const SUPERUSER: &str = "postgres";

#[derive(Debug, thiserror::Error)]
pub enum PgClusterError {
    /// Something the machine lacks (binaries, the `postgres` user); says which package to install.
    #[error("{0}")]
    Missing(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("PostgreSQL did not start: {0}")]
    Start(String),
    #[error("creating a test database failed: {0}")]
    Database(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> PgClusterError {
    let what = what.into();
    move |source| PgClusterError::Io { what, source }
}

/// The user the server runs as when we are root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

/// A running throwaway cluster. Dropping it stops the server and deletes its files.
pub struct PgCluster {
    root: PathBuf,
    bin: PathBuf,
    port: u16,
    password: String,
    run_as: Option<RunAs>,
    postmaster: Mutex<Option<Child>>,
    /// Tells the thread that spawned the postmaster (its parent-death anchor) to finish.
    anchor_done: Arc<AtomicBool>,
    anchor: Option<std::thread::Thread>,
    next_db: AtomicU64,
}

impl std::fmt::Debug for PgCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCluster")
            .field("root", &self.root)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

static SHARED: OnceLock<Result<PgCluster, String>> = OnceLock::new();

extern "C" fn stop_shared_at_exit() {
    if let Some(Ok(cluster)) = SHARED.get() {
        cluster.shutdown();
    }
}

impl PgCluster {
    /// Starts a new cluster owned by the caller.
    pub fn start() -> Result<PgCluster, PgClusterError> {
        let bin = find_bin_dir()?;
        let run_as = run_as()?;
        sweep_stale_dirs();
        let root = make_root(run_as)?;
        // From here on the directory must go again if anything fails.
        let cluster = Self::init_and_run(root.clone(), bin, run_as);
        if cluster.is_err() {
            let _ = fs::remove_dir_all(&root);
        }
        cluster
    }

    /// The cluster of this process, started on first use and stopped when the process exits.
    pub fn shared() -> Result<&'static PgCluster, PgClusterError> {
        let started = SHARED.get_or_init(|| {
            let cluster = PgCluster::start().map_err(|e| e.to_string())?;
            // SAFETY: registers a plain function without captured state; it only touches the
            // static above, which lives until the process is gone.
            unsafe {
                libc::atexit(stop_shared_at_exit);
            }
            Ok(cluster)
        });
        started
            .as_ref()
            .map_err(|e| PgClusterError::Start(e.clone()))
    }

    /// TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Directory holding the data directory, the socket and `postgres.log`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Connection URL of database `db` as the superuser (with its password).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{db}",
            self.password, self.port
        )
    }

    /// Creates a new, empty, uniquely named database and returns its URL.
    pub async fn fresh_database(&self) -> Result<String, PgClusterError> {
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        // Only digits and lower-case letters of our own making: safe to splice as an identifier.
        let name = format!(
            "t{n}_{}_{}",
            std::process::id(),
            random_token(6).to_ascii_lowercase()
        );
        let options = PgConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username(SUPERUSER)
            .password(&self.password)
            .database("postgres");
        let mut conn = PgConnection::connect_with(&options)
            .await
            .map_err(|e| PgClusterError::Database(e.to_string()))?;
        conn.execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await
            .map_err(|e| PgClusterError::Database(e.to_string()))?;
        // A failed close only leaks one connection of a throwaway cluster.
        let _ = conn.close().await;
        Ok(self.url(&name))
    }

    /// Stops the server (immediate shutdown: the data is disposable) and removes the files.
    /// Safe to call more than once.
    pub fn shutdown(&self) {
        // try_lock: this also runs from the exit hook, where waiting on a lock could hang.
        let child = match self.postmaster.try_lock() {
            Ok(mut guard) => guard.take(),
            Err(TryLockError::Poisoned(p)) => p.into_inner().take(),
            Err(TryLockError::WouldBlock) => None,
        };
        if let Some(mut child) = child {
            stop_child(&mut child);
        }
        self.anchor_done.store(true, Ordering::SeqCst);
        if let Some(t) = &self.anchor {
            t.unpark();
        }
        if self.root.exists()
            && let Err(e) = fs::remove_dir_all(&self.root)
        {
            tracing::warn!(dir = %self.root.display(), error = %e, "could not remove PostgreSQL test dir");
        }
    }

    fn init_and_run(
        root: PathBuf,
        bin: PathBuf,
        run_as: Option<RunAs>,
    ) -> Result<PgCluster, PgClusterError> {
        let password = random_token(24);
        initdb(&root, &bin, run_as, &password)?;
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            let anchor_done = Arc::new(AtomicBool::new(false));
            let (child, anchor) = spawn_postmaster(&root, &bin, run_as, port, &anchor_done)?;
            let mut cluster = PgCluster {
                root: root.clone(),
                bin: bin.clone(),
                port,
                password: password.clone(),
                run_as,
                postmaster: Mutex::new(Some(child)),
                anchor_done,
                anchor: Some(anchor),
                next_db: AtomicU64::new(1),
            };
            match cluster.wait_ready() {
                Ok(()) => {
                    tracing::debug!(port, dir = %root.display(), "throwaway PostgreSQL is up");
                    return Ok(cluster);
                }
                Err(e) => {
                    last_error = e;
                    // Another process may have taken the port in between: stop and retry.
                    cluster.stop_keep_files();
                }
            }
        }
        Err(PgClusterError::Start(last_error))
    }

    /// Waits until the postmaster reports `ready` in its pid file (what `pg_ctl -w` does).
    fn wait_ready(&mut self) -> Result<(), String> {
        let pid_file = self.root.join("data").join("postmaster.pid");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(text) = fs::read_to_string(&pid_file)
                && text.lines().nth(7).map(str::trim) == Some("ready")
            {
                return Ok(());
            }
            if let Some(status) = self.postmaster_exit_status() {
                return Err(format!("postgres exited ({status}); {}", self.log_tail()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "not ready after {}s; {}",
                    START_TIMEOUT.as_secs(),
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn postmaster_exit_status(&self) -> Option<String> {
        let mut guard = self.postmaster.lock().unwrap_or_else(|p| p.into_inner());
        let child = guard.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.root.join("postgres.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(8)..].join(" | ");
        format!("server log: {tail}")
    }

    /// Stops the server but keeps the initialised data directory (for a start retry).
    fn stop_keep_files(&mut self) {
        let child = self
            .postmaster
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(mut child) = child {
            stop_child(&mut child);
        }
        self.anchor_done.store(true, Ordering::SeqCst);
        if let Some(t) = self.anchor.take() {
            t.unpark();
        }
        // Keep root: the retry reuses the data directory; `Drop` would remove it.
        self.root = PathBuf::new();
    }

    /// The directory with `initdb`, `postgres` and friends in use.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// Whether the server processes run as the `postgres` user (because we are root).
    pub fn runs_as_postgres_user(&self) -> bool {
        self.run_as.is_some()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if !self.root.as_os_str().is_empty() {
            self.shutdown();
        }
    }
}

/// Sends SIGQUIT (immediate shutdown), then SIGKILL if the server does not go in time.
fn stop_child(child: &mut Child) {
    let Ok(pid) = libc::pid_t::try_from(child.id()) else {
        let _ = child.kill();
        let _ = child.wait();
        return;
    };
    // SAFETY: signalling our own child process, which has not been reaped yet.
    unsafe {
        libc::kill(pid, libc::SIGQUIT);
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn find_bin_dir() -> Result<PathBuf, PgClusterError> {
    let has_binaries = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("SCHEDULIGHT_PG_BIN") {
        let dir = PathBuf::from(dir);
        return if has_binaries(&dir) {
            Ok(dir)
        } else {
            Err(PgClusterError::Missing(format!(
                "SCHEDULIGHT_PG_BIN={} has no initdb/postgres binaries",
                dir.display()
            )))
        };
    }
    let base = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version: Option<Vec<u32>> = name.split('.').map(|p| p.parse().ok()).collect();
            let bin = entry.path().join("bin");
            version.filter(|_| has_binaries(&bin)).map(|v| (v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        PgClusterError::Missing(
            "PostgreSQL server binaries not found in /usr/lib/postgresql/<version>/bin; \
             install the Debian package `postgresql` (apt-get install postgresql) or set \
             SCHEDULIGHT_PG_BIN"
                .into(),
        )
    })
}

/// As root, the uid/gid of the `postgres` user; otherwise None (run as ourselves).
fn run_as() -> Result<Option<RunAs>, PgClusterError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd").map_err(io_err("reading /etc/passwd"))?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.as_slice() {
                [name, _, uid, gid, ..] if *name == SUPERUSER => Some(RunAs {
                    uid: uid.parse().ok()?,
                    gid: gid.parse().ok()?,
                }),
                _ => None,
            }
        })
        .map(Some)
        .ok_or_else(|| {
            PgClusterError::Missing(
                "PostgreSQL refuses to run as root and there is no `postgres` user to run it \
                 as; install the Debian package `postgresql` (it creates the user)"
                    .into(),
            )
        })
}

fn random_token(len: usize) -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// The system temp dir, unless the `postgres` user could not reach it (say TMPDIR under
/// /root): then `/tmp`.
fn base_dir() -> PathBuf {
    let tmp = std::env::temp_dir();
    let reachable = tmp
        .ancestors()
        .all(|dir| fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o001 != 0));
    if reachable {
        tmp
    } else {
        PathBuf::from("/tmp")
    }
}

fn make_root(run_as: Option<RunAs>) -> Result<PathBuf, PgClusterError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let root = base_dir().join(format!(
        "{DIR_PREFIX}{}-{n}-{}",
        std::process::id(),
        random_token(6)
    ));
    fs::create_dir(&root).map_err(io_err(format!("creating {}", root.display())))?;
    fs::set_permissions(&root, fs::Permissions::from_mode(0o700))
        .map_err(io_err(format!("restricting {}", root.display())))?;
    if let Some(u) = run_as {
        std::os::unix::fs::chown(&root, Some(u.uid), Some(u.gid))
            .map_err(io_err(format!("handing {} to postgres", root.display())))?;
    }
    Ok(root)
}

/// A command for one of the server binaries, as the right user, inside `root`. The kernel sends
/// it `death_signal` when the spawning thread ends, so nothing outlives a killed test process.
fn pg_command(
    bin: &Path,
    program: &str,
    root: &Path,
    run_as: Option<RunAs>,
    death_signal: libc::c_int,
) -> Command {
    let mut cmd = Command::new(bin.join(program));
    cmd.current_dir(root).stdin(Stdio::null());
    if let Some(u) = run_as {
        cmd.uid(u.uid).gid(u.gid);
    }
    let parent = std::process::id();
    // SAFETY: the closure runs between fork and exec (after the uid switch, which would clear
    // the setting otherwise) and calls only async-signal-safe functions.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, death_signal, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before the prctl took effect.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    cmd
}

fn initdb(
    root: &Path,
    bin: &Path,
    run_as: Option<RunAs>,
    password: &str,
) -> Result<(), PgClusterError> {
    let pwfile = root.join("pwfile");
    fs::write(&pwfile, password).map_err(io_err("writing the password file"))?;
    if let Some(u) = run_as {
        std::os::unix::fs::chown(&pwfile, Some(u.uid), Some(u.gid))
            .map_err(io_err("handing the password file to postgres"))?;
    }
    let output = pg_command(bin, "initdb", root, run_as, libc::SIGKILL)
        .arg("--pgdata")
        .arg(root.join("data"))
        .args([
            "--username",
            SUPERUSER,
            "--encoding",
            "UTF8",
            "--locale",
            "C",
        ])
        // Local socket: trust; TCP: a real password check, as in production.
        .args(["--auth-local", "trust", "--auth-host", "scram-sha-256"])
        .arg(format!("--pwfile={}", pwfile.display()))
        .arg("--no-sync")
        .output()
        .map_err(io_err(format!("running {}/initdb", bin.display())))?;
    let _ = fs::remove_file(&pwfile);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(PgClusterError::Start(format!(
            "initdb failed ({}): {}",
            output.status,
            stderr.trim()
        )));
    }
    Ok(())
}

fn free_port() -> Result<u16, PgClusterError> {
    let listener =
        TcpListener::bind(("127.0.0.1", 0)).map_err(io_err("finding a free local port"))?;
    let port = listener
        .local_addr()
        .map_err(io_err("finding a free local port"))?
        .port();
    Ok(port)
}

/// Spawns the postmaster from a dedicated thread that stays alive until `done` is set: the
/// parent-death signal fires when the spawning *thread* ends, so it must not be a test thread.
fn spawn_postmaster(
    root: &Path,
    bin: &Path,
    run_as: Option<RunAs>,
    port: u16,
    done: &Arc<AtomicBool>,
) -> Result<(Child, std::thread::Thread), PgClusterError> {
    let log =
        fs::File::create(root.join("postgres.log")).map_err(io_err("creating postgres.log"))?;
    let log_err = log.try_clone().map_err(io_err("opening postgres.log"))?;
    // SIGQUIT is PostgreSQL's immediate shutdown: the postmaster takes its backends along.
    let mut cmd = pg_command(bin, "postgres", root, run_as, libc::SIGQUIT);
    cmd.arg("-D")
        .arg(root.join("data"))
        .args(["-p", &port.to_string(), "-h", "127.0.0.1", "-k"])
        .arg(root)
        .args(["-c", "fsync=off"])
        .args(["-c", "synchronous_commit=off"])
        .args(["-c", "full_page_writes=off"])
        .args(["-c", "autovacuum=off"])
        .args(["-c", "max_connections=200"])
        .args(["-c", "shared_buffers=32MB"])
        .args(["-c", "log_min_messages=warning"])
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err));
    let (tx, rx) = std::sync::mpsc::channel();
    let done = Arc::clone(done);
    let anchor = std::thread::Builder::new()
        .name("pg-anchor".into())
        .spawn(move || {
            let spawned = cmd.spawn();
            let ok = spawned.is_ok();
            let _ = tx.send(spawned);
            while ok && !done.load(Ordering::SeqCst) {
                std::thread::park();
            }
        })
        .map_err(io_err("starting the postgres anchor thread"))?;
    let child = rx
        .recv()
        .map_err(|_| PgClusterError::Start("the anchor thread died".into()))?
        .map_err(io_err(format!("running {}/postgres", bin.display())))?;
    Ok((child, anchor.thread().clone()))
}

/// Removes cluster directories of test processes that no longer exist (killed before their
/// exit hook ran). Their servers went with them (parent-death signal); one that is somehow
/// still up gets SIGQUIT and its directory waits for the next sweep.
fn sweep_stale_dirs() {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(base_dir()) else {
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
        if let Some(pm) = live_postmaster(&dir) {
            // SAFETY: plain signal to a process we verified is a postgres server of that dir.
            unsafe {
                libc::kill(pm, libc::SIGQUIT);
            }
            continue;
        }
        tracing::debug!(dir = %dir.display(), "removing stale PostgreSQL test dir");
        let _ = fs::remove_dir_all(&dir);
    }
}

fn live_postmaster(dir: &Path) -> Option<libc::pid_t> {
    let text = fs::read_to_string(dir.join("data").join("postmaster.pid")).ok()?;
    let pid: libc::pid_t = text.lines().next()?.trim().parse().ok()?;
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == "postgres").then_some(pid)
}

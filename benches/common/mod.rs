//! What the scheduler benchmarks share: the stores to run on (an SQLite file, a throwaway
//! PostgreSQL), meetings scheduled through `Service::execute` as every front end does,
//! `schedulight run` as a child process, and what /proc says about it.
//!
//! Everything here is blocking; async work runs through the caller's runtime, so tasks the
//! caller spawned on it (the BBB simulator) keep running on its worker threads meanwhile.

use futures::StreamExt;
use schedulight::bbb::HttpConnector;
use schedulight::clock::SystemClock;
use schedulight::domain::{Actor, MeetingSpec, Operation, Secret, ServerSpec};
use schedulight::service::{Service, ServiceSettings};
use schedulight::store::{SqlStore, Store};
use schedulight::testkit::pg::PgCluster;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

pub const SECRET: &str = "bench-secret";
/// Meetings scheduled at once while populating; SQLite serialises the writes anyway.
const POPULATE_PARALLEL: usize = 4;

/// A store to run a benchmark on.
pub struct Backend {
    pub label: &'static str,
    pub location: String,
}

/// The SQLite file in `dir`, then a fresh database on the throwaway PostgreSQL; when that
/// cannot start, says why and leaves it out.
pub fn backends(rt: &Runtime, dir: &Path) -> Vec<Backend> {
    let mut list = vec![Backend {
        label: "SQLite",
        location: dir.join("state.db").display().to_string(),
    }];
    let pg = PgCluster::shared()
        .map_err(|e| e.to_string())
        .and_then(|c| rt.block_on(c.fresh_database()).map_err(|e| e.to_string()));
    match pg {
        Ok(url) => list.push(Backend {
            label: "PostgreSQL",
            location: url,
        }),
        Err(e) => println!("PostgreSQL part skipped: the throwaway cluster did not start: {e}"),
    }
    list
}

/// A service on the store at `location`, with server `bbb` at `bbb_url` added.
pub fn service(rt: &Runtime, location: &str, bbb_url: &str) -> (Service, Arc<SqlStore>) {
    rt.block_on(async {
        let sql = Arc::new(SqlStore::connect(location).await.expect("store"));
        let store: Arc<dyn Store> = sql.clone();
        let service = Service::new(
            store,
            Arc::new(HttpConnector::new()),
            Arc::new(SystemClock),
            ServiceSettings::default(),
        );
        let server = ServerSpec::new(
            "bbb".parse().expect("id"),
            bbb_url.parse().expect("url"),
            Secret::new(SECRET),
        );
        service
            .execute(
                &Actor::admin("bench"),
                Operation::AddServer {
                    server: Box::new(server),
                },
            )
            .await
            .expect("server");
        (service, sql)
    })
}

/// Schedule `meetings` through the service; returns how long it took.
pub fn schedule(rt: &Runtime, service: &Service, meetings: Vec<MeetingSpec>) -> Duration {
    let started = Instant::now();
    let admin = Actor::admin("bench");
    rt.block_on(
        futures::stream::iter(meetings)
            .map(|m| {
                let (service, admin) = (service.clone(), admin.clone());
                async move {
                    service
                        .execute(
                            &admin,
                            Operation::ScheduleMeeting {
                                meeting: Box::new(m),
                            },
                        )
                        .await
                        .expect("schedule");
                }
            })
            .buffer_unordered(POPULATE_PARALLEL)
            .collect::<Vec<()>>(),
    );
    started.elapsed()
}

/// `count` meetings `{prefix}00000`… spread over working hours of next year.
pub fn future_meetings(prefix: &str, count: usize) -> Vec<MeetingSpec> {
    let year = jiff::Zoned::now().year() + 1;
    (0..count)
        .map(|i| {
            let day = 1 + (i % 28);
            let month = 1 + (i / 28) % 12;
            let start =
                jiff::civil::date(year, month as i8, day as i8).at(8 + (i % 10) as i8, 0, 0, 0);
            meeting(&format!("{prefix}{i:05}"), start, "Europe/Vienna")
        })
        .collect()
}

/// A one-off meeting on server `bbb` without Greenlight, owner or recipients.
pub fn meeting(id: &str, start: jiff::civil::DateTime, zone: &str) -> MeetingSpec {
    let mut m = MeetingSpec::new(
        id.parse().expect("id"),
        "bbb".parse().expect("id"),
        format!("Lecture {id}"),
    );
    m.start = Some(start);
    m.time_zone = Some(zone.into());
    m
}

/// `schedulight run` in a directory of its own, logging JSON lines to a pipe.
pub struct Daemon {
    child: Child,
    lines: Receiver<serde_json::Value>,
    /// When the bench saw the "running" line, and the store statements counted up to then.
    pub ready_at: Instant,
    pub ready_queries: u64,
    /// Warnings and errors logged so far.
    pub problems: Vec<String>,
}

/// What the daemon said when it stopped.
pub struct Stopped {
    pub queries: u64,
    pub stopped_at: Instant,
    pub problems: Vec<String>,
}

impl Daemon {
    /// Start it on the store at `location` with server `bbb` at `bbb_url`, scheduler and
    /// callback listener on, bot off; wait until it is running.
    /// `extra`: more top-level config sections (e.g. `matrix:`), appended as they are.
    pub fn start_with(dir: &Path, location: &str, bbb_url: &str, extra: &str) -> Daemon {
        std::fs::create_dir_all(dir).expect("daemon dir");
        // JSON strings are valid YAML scalars, whatever the URL's password holds.
        let quote = |s: &str| serde_json::to_string(s).expect("string");
        std::fs::write(
            dir.join("bot-config.yml"),
            format!(
                "store:\n  location: {}\napi:\n  listen: 127.0.0.1:0\nlogging:\n  level: info\n  \
                 json: true\nservers:\n  bbb:\n    BBB_URL: {}\n    BBB_SECRET: {}\n{extra}",
                quote(location),
                quote(bbb_url),
                quote(SECRET)
            ),
        )
        .expect("config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_schedulight"))
            .arg("run")
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start schedulight run");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line).unwrap_or(serde_json::Value::String(line));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let mut daemon = Daemon {
            child,
            lines,
            ready_at: Instant::now(),
            ready_queries: 0,
            problems: Vec::new(),
        };
        let ready = daemon
            .wait_for(Duration::from_secs(60), |message| {
                message.starts_with("schedulight is running")
            })
            .expect("schedulight run did not start");
        daemon.ready_at = Instant::now();
        daemon.ready_queries = ready["fields"]["store_queries"]
            .as_u64()
            .expect("store_queries on the running line");
        daemon
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stop it as systemd would (SIGTERM) and read its closing statement count.
    pub fn stop(mut self) -> Stopped {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: kill has no memory preconditions; the pid is our own child, not yet reaped.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let stopped_at = Instant::now();
        let line = self.wait_for(Duration::from_secs(30), |message| {
            message.starts_with("store queries: ")
        });
        let _ = self.child.wait();
        let line = line.expect("schedulight run did not report its store queries");
        let message = line["fields"]["message"].as_str().unwrap_or_default();
        // "store queries: N in S s"
        let queries = message
            .strip_prefix("store queries: ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .expect("store query count");
        Stopped {
            queries,
            stopped_at,
            problems: std::mem::take(&mut self.problems),
        }
    }

    /// The next log line whose message matches, noting warnings and errors on the way.
    pub fn wait_for(
        &mut self,
        limit: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Option<serde_json::Value> {
        let until = Instant::now() + limit;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            };
            let message = line["fields"]["message"]
                .as_str()
                .or(line.as_str())
                .unwrap_or_default();
            if matches(message) {
                return Some(line);
            }
            if matches!(line["level"].as_str(), Some("WARN" | "ERROR")) || line.is_string() {
                self.problems.push(message.to_string());
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // After `stop` this finds the child reaped; otherwise (a failed assertion) it goes.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// utime + stime of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
}

pub fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

pub fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

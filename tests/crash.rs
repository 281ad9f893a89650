//! Crash recovery of the scheduler, end to end: the real binary runs `schedulight run` against a
//! `schedulight bbb-sim` process, gets `kill -9`ed at points of a meeting's workflow and is
//! started again on the same SQLite store. Nothing may happen twice (one BBB meeting, one step
//! record per outcome) and nothing may be lost (the first-participant polling goes on).

use serde_json::Value;
use sqlx::Row;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_schedulight");
const MEETING: &str = "crashy";
/// The engine's lease on a claimed job: a job the killed daemon held comes back after it.
const LEASE: Duration = Duration::from_secs(120);
/// How often the engine asks BBB whether somebody joined.
const POLL_EVERY: Duration = Duration::from_secs(15);

/// A child process that is SIGKILLed and reaped on every path out of the test.
struct Proc {
    name: &'static str,
    child: Child,
    stderr: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let stdout = dir.join(format!("{name}.out"));
        let stderr = dir.join(format!("{name}.err"));
        let mut cmd = base_command(dir);
        cmd.args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("create the stdout file"))
            .stderr(File::create(&stderr).expect("create the stderr file"));
        let child = cmd.spawn().expect("spawn schedulight");
        Proc {
            name,
            child,
            stderr,
        }
    }

    /// `kill -9`: no shutdown handler runs, whatever was in flight stays as it was.
    fn kill9(mut self) {
        self.reap();
    }

    fn reap(&mut self) {
        // Kill fails only when the process is gone already; wait reaps it either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early ({status}):\n{}", self.name, self.log());
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.reap();
    }
}

/// The binary with no `SCHEDULIGHT_*` settings leaking in from the environment.
fn base_command(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("SCHEDULIGHT_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "info").current_dir(dir);
    cmd
}

/// A one-shot CLI command that must succeed; its stdout.
fn cli(dir: &Path, args: &[&str]) -> String {
    let out = base_command(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run schedulight");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success() && !stderr.contains("panicked"),
        "{args:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

/// Poll `probe` until it yields a value; panic with `what` after `limit`.
async fn wait_for<T>(what: &str, limit: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Start a simulator on a port it picks itself and read its API URL from its banner.
async fn start_sim(dir: &Path, secret: &str) -> (Proc, String) {
    let sim = Proc::spawn(
        "bbb-sim",
        dir,
        &["bbb-sim", "--listen", "127.0.0.1", "--port", "0"],
        &[("SCHEDULIGHT_SIM_SECRET", secret)],
    );
    let banner = dir.join("bbb-sim.out");
    let url = wait_for(
        "the simulator's banner",
        Duration::from_secs(20),
        async || {
            let text = std::fs::read_to_string(&banner).ok()?;
            text.lines()
                .find_map(|l| l.trim().strip_prefix("BBB_URL:"))
                .map(|u| u.trim().to_string())
        },
    )
    .await;
    (sim, url)
}

/// `schedulight run`, once it says it is running (store opened, listener bound).
async fn start_daemon(name: &'static str, dir: &Path) -> Proc {
    let mut daemon = Proc::spawn(name, dir, &["run"], &[]);
    let stderr = daemon.stderr.clone();
    wait_for(
        "the daemon to report it is running",
        Duration::from_secs(20),
        async || {
            let log = std::fs::read_to_string(&stderr).ok()?;
            log.contains("schedulight is running").then_some(())
        },
    )
    .await;
    daemon.assert_alive();
    daemon
}

struct Sim {
    http: reqwest::Client,
    control: String,
}

impl Sim {
    fn new(api_url: &str) -> Sim {
        let root = api_url
            .split("/bigbluebutton/")
            .next()
            .expect("split yields at least one part");
        Sim {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("HTTP client"),
            control: format!("{root}/sim"),
        }
    }

    async fn meetings(&self) -> Vec<Value> {
        let resp = self
            .http
            .get(format!("{}/meetings", self.control))
            .send()
            .await
            .expect("GET /sim/meetings");
        assert!(resp.status().is_success(), "GET /sim/meetings: {resp:?}");
        resp.json().await.expect("the meeting list is JSON")
    }

    async fn add_participant(&self, meeting_id: &str, name: &str) {
        let resp = self
            .http
            .post(format!(
                "{}/meetings/{meeting_id}/participants",
                self.control
            ))
            .json(&serde_json::json!({ "name": name, "role": "VIEWER" }))
            .send()
            .await
            .expect("POST participant");
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "add participant: {status} {body}");
    }
}

/// The latest outcome of each step, as `schedulight meetings status` shows it.
fn latest_steps(dir: &Path) -> Vec<(String, u64)> {
    let out = cli(dir, &["--json", "meetings", "status", MEETING]);
    let v: Value = serde_json::from_str(&out).expect("status --json is JSON");
    v["meeting"]["steps"]
        .as_array()
        .expect("the status lists steps")
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap_or_default().to_string(),
                s["code"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

/// The read-only store; nothing else may change it while the test looks.
async fn open_store(db: &Path) -> sqlx::SqlitePool {
    let url = format!("sqlite://{}?mode=ro", db.display());
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("open the store read-only")
}

/// The meeting's whole step history as `(step, code)`, oldest first, from the SQLite file.
async fn step_history(db: &Path) -> Vec<(String, i64)> {
    let pool = open_store(db).await;
    let rows =
        sqlx::query("SELECT step, code FROM meeting_steps WHERE meeting_id = $1 ORDER BY seq")
            .bind(MEETING)
            .fetch_all(&pool)
            .await
            .expect("read the step history");
    pool.close().await;
    rows.iter()
        .map(|r| (r.get("step"), r.get("code")))
        .collect()
}

#[derive(Debug)]
struct JobRow {
    kind: String,
    state: String,
    payload: String,
    unique_key: String,
}

/// The meeting's jobs, straight from the SQLite file (read-only, nothing else may change it).
async fn jobs(db: &Path) -> Vec<JobRow> {
    let pool = open_store(db).await;
    let rows = sqlx::query(
        "SELECT kind, state, payload, unique_key FROM jobs WHERE meeting_id = $1 ORDER BY id",
    )
    .bind(MEETING)
    .fetch_all(&pool)
    .await
    .expect("read the jobs");
    pool.close().await;
    rows.iter()
        .map(|r| JobRow {
            kind: r.get("kind"),
            state: r.get("state"),
            payload: r.get("payload"),
            unique_key: r.get("unique_key"),
        })
        .collect()
}

fn start_job(jobs: &[JobRow]) -> Vec<&JobRow> {
    jobs.iter()
        .filter(|j| j.kind == "meeting_step" && j.payload.contains("\"start\""))
        .collect()
}

/// The next full minute at least `lead` ahead, as the CLI wants it (UTC).
fn start_time(lead: Duration) -> (jiff::Timestamp, String) {
    let earliest = jiff::Timestamp::now().as_second()
        + i64::try_from(lead.as_secs()).expect("a short lead fits");
    let start = jiff::Timestamp::from_second((earliest + 59) / 60 * 60).expect("a valid time");
    let text = start
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%d %H:%M")
        .to_string();
    (start, text)
}

fn until(t: jiff::Timestamp) -> Duration {
    let left = t.duration_since(jiff::Timestamp::now());
    Duration::try_from(left).unwrap_or(Duration::ZERO)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_any_point_loses_nothing_and_repeats_nothing() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let secret = format!("crash-{}", std::process::id());
    let (_sim, api_url) = start_sim(dir, &secret).await;
    let sim = Sim::new(&api_url);
    std::fs::write(
        dir.join("bot-config.yml"),
        format!(
            "store:\n  location: state.db\napi:\n  listen: 127.0.0.1:0\nservers:\n  \
             bbb:\n    BBB_URL: {api_url}\n    BBB_SECRET: {secret}\n"
        ),
    )
    .expect("write the config");

    // A meeting shortly ahead; it must not end while the test watches it.
    let (start, start_text) = start_time(Duration::from_secs(15));
    // In the original's file format, with an invitee and a Matrix room to tell.
    std::fs::write(
        dir.join("meetings.yml"),
        format!(
            "meetings:\n  {MEETING}:\n    id: {MEETING}\n    server: bbb\n    \
             meetingName: Crash Course\n    startDate: \"{start_text}\"\n    timeZone: UTC\n    \
             preOpenMinutes: 0\n    endAfterMinutes: 30\n    send_emails: true\n    \
             notifyRoom: \"!crash:uni.example\"\n    sendInvitationLink:\n      \
             eve@uni.example:\n        fullName: Eve\n"
        ),
    )
    .expect("write the meeting file");
    cli(dir, &["meetings", "schedule", "--file", "meetings.yml"]);

    // 1. Killed before anything is due: the planned jobs stay planned.
    let first = start_daemon("run-1", dir).await;
    assert!(
        until(start) > Duration::from_secs(2),
        "the start came too soon"
    );
    first.kill9();
    assert!(sim.meetings().await.is_empty(), "nothing was due yet");
    let planned = jobs(&dir.join("state.db")).await;
    assert_eq!(start_job(&planned).len(), 1, "{planned:?}");
    // The invitation is due at once (it may have run); the timed steps stay planned.
    assert!(
        planned
            .iter()
            .filter(|j| !j.payload.contains("invitations"))
            .all(|j| j.state == "pending"),
        "{planned:?}"
    );

    // 2. Killed right after the meeting appeared on BBB.
    let second = start_daemon("run-2", dir).await;
    let log2 = second.stderr.clone();
    let created = wait_for(
        "the meeting on the simulator",
        until(start) + Duration::from_secs(45),
        async || {
            let list = sim.meetings().await;
            (!list.is_empty()).then_some(list)
        },
    )
    .await;
    second.kill9();
    assert_eq!(created.len(), 1, "{created:?}");
    let bbb_id = created[0]["meeting_id"]
        .as_str()
        .expect("meeting_id")
        .to_string();
    let internal_id = created[0]["internal_meeting_id"]
        .as_str()
        .expect("internal_meeting_id")
        .to_string();
    let log2 = std::fs::read_to_string(log2).unwrap_or_default();
    assert!(!log2.contains("panicked"), "{log2}");

    // The kill may land before the start job was marked done; then it comes back after the
    // killed daemon's lease ran out, and must not create a second meeting.
    let after_kill = jobs(&dir.join("state.db")).await;
    let start_jobs = start_job(&after_kill);
    assert_eq!(start_jobs.len(), 1, "{after_kill:?}");
    let in_flight = start_jobs[0].state == "running";
    eprintln!(
        "start job at the kill: {} ({})",
        start_jobs[0].state, start_jobs[0].unique_key
    );

    // Somebody joins while no scheduler runs; only the polling can notice.
    sim.add_participant(&bbb_id, "Early Bird").await;

    // 3. Restarted: the work goes on where it stopped.
    let third = start_daemon("run-3", dir).await;
    let limit =
        POLL_EVERY + Duration::from_secs(30) + if in_flight { LEASE } else { Duration::ZERO };
    wait_for("status 220 (users joined)", limit, async || {
        latest_steps(dir)
            .contains(&("status".to_string(), 220))
            .then_some(())
    })
    .await;
    let history = step_history(&dir.join("state.db")).await;
    let log3 = third.log();
    third.kill9();
    assert!(!log3.contains("panicked"), "{log3}");

    // 4. Killed and restarted once more after everything ran: nothing runs twice.
    let fourth = start_daemon("run-4", dir).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log4 = fourth.log();
    fourth.kill9();
    assert!(!log4.contains("panicked"), "{log4}");

    // One BBB meeting throughout, the same one, with the participant still in it.
    let now_live = sim.meetings().await;
    assert_eq!(now_live.len(), 1, "{now_live:?}");
    assert_eq!(now_live[0]["meeting_id"], bbb_id.as_str());
    assert_eq!(
        now_live[0]["internal_meeting_id"],
        internal_id.as_str(),
        "the meeting was created again after the crash"
    );
    assert_eq!(
        now_live[0]["participants"].as_array().map(Vec::len),
        Some(1),
        "{now_live:?}"
    );

    // The step history: every outcome once, in order, ending with the users who joined.
    let final_history = step_history(&dir.join("state.db")).await;
    assert_eq!(
        final_history, history,
        "steps changed after the last restart"
    );
    for (i, entry) in final_history.iter().enumerate() {
        assert!(
            !final_history[..i].contains(entry),
            "duplicate step record {entry:?} in {final_history:?}"
        );
    }
    let status: Vec<i64> = final_history
        .iter()
        .filter(|(s, _)| s == "status")
        .map(|(_, c)| *c)
        .collect();
    assert_eq!(status.first(), Some(&200), "{final_history:?}");
    assert_eq!(status.last(), Some(&220), "{final_history:?}");
    assert!(
        status.iter().all(|c| [200, 210, 220].contains(c)),
        "{final_history:?}"
    );

    // The jobs: one start, done; the polling stopped once it saw the participant; the end is
    // still ahead; nothing failed and nothing is left leased by a dead daemon.
    let last = jobs(&dir.join("state.db")).await;
    let start_jobs = start_job(&last);
    assert_eq!(start_jobs.len(), 1, "{last:?}");
    assert_eq!(start_jobs[0].state, "done", "{last:?}");
    assert!(last.iter().all(|j| j.state != "failed"), "{last:?}");
    let polls: Vec<&JobRow> = last.iter().filter(|j| j.kind == "meeting_poll").collect();
    // When the kill caught the start step in flight, its re-run after the lease already finds
    // the participant, so nothing is left to poll for.
    assert!(in_flight || !polls.is_empty(), "{last:?}");
    assert!(polls.iter().all(|j| j.state == "done"), "{last:?}");
    let ends: Vec<&JobRow> = last
        .iter()
        .filter(|j| j.kind == "meeting_step" && j.payload.contains("end_after"))
        .collect();
    assert_eq!(ends.len(), 1, "{last:?}");
    assert_eq!(ends[0].state, "pending", "{last:?}");

    // The outbox: the invitation and the started notice, each once.
    assert_eq!(
        outbox(&dir.join("state.db")).await,
        [
            ("invitation".to_string(), "eve@uni.example".to_string()),
            ("started".to_string(), "!crash:uni.example".to_string()),
        ]
    );
}

async fn outbox(db: &Path) -> Vec<(String, String)> {
    let pool = open_store(db).await;
    let rows = sqlx::query("SELECT kind, recipient FROM outbox WHERE meeting_id = $1 ORDER BY id")
        .bind(MEETING)
        .fetch_all(&pool)
        .await
        .expect("read the outbox");
    pool.close().await;
    rows.iter()
        .map(|r| (r.get("kind"), r.get("recipient")))
        .collect()
}

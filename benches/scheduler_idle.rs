//! P2 and P4 of the scheduler: `schedulight run` with 10 000 future meetings in its store and
//! nothing due, on SQLite and then on a throwaway PostgreSQL. Measures the daemon's CPU use
//! over a quiet period (from /proc), its resident memory, and the store statements it sends
//! meanwhile (from the count it logs when it starts and when it stops).
//!
//! Requirements: under 1 % CPU, at most one store statement per second, RSS under 60 MB.
//!
//! Run: `cargo bench --bench scheduler_idle`

mod common;

use common::{Daemon, clock_ticks_per_second, cpu_ticks, rss_kb};
use std::time::{Duration, Instant};

const MEETINGS: usize = 10_000;
const QUIET: Duration = Duration::from_secs(30);
/// Nothing listens there: the daemon must not need BBB while idle.
const BBB_URL: &str = "http://127.0.0.1:9/bigbluebutton/api/";

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut ok = true;
    let backends = common::backends(&rt, dir.path());
    let sqlite = backends[0].location.clone();
    for backend in backends {
        ok &= idle(&rt, backend.label, &backend.location, dir.path(), None);
    }
    // P4 again with the Matrix bot logged in and syncing against a local Synapse.
    match bot_section(&rt, dir.path()) {
        Ok(matrix) => ok &= idle(&rt, "SQLite+bot", &sqlite, dir.path(), Some(&matrix)),
        Err(e) => println!("[SQLite+bot] skipped: no local Synapse ({e})"),
    }
    std::process::exit(if ok { 0 } else { 1 });
}

/// A throwaway Synapse (kept for the rest of the run) and the bot's `matrix:` section.
fn bot_section(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
) -> Result<String, schedulight::testkit::synapse::SynapseError> {
    let hs = schedulight::testkit::synapse::Synapse::shared()?;
    rt.block_on(hs.register("schedulight", "bench-bot-password", false))?;
    Ok(format!(
        "matrix:\n  homeserver: {}\n  user_id: \"@schedulight:{}\"\n  password: bench-bot-password\n  \
         allowed_users: [\"@*:{}\"]\n  store_passphrase: bench\n  store_dir: {}\n",
        hs.url(),
        hs.server_name(),
        hs.server_name(),
        dir.join("matrix-store").display()
    ))
}

fn idle(
    rt: &tokio::runtime::Runtime,
    label: &str,
    location: &str,
    dir: &std::path::Path,
    bot: Option<&str>,
) -> bool {
    if bot.is_none() {
        let (service, sql) = common::service(rt, location, BBB_URL);
        let took = common::schedule(rt, &service, common::future_meetings("m", MEETINGS));
        rt.block_on(sql.close());
        println!(
            "[{label}] scheduled {MEETINGS} future meetings in {:.1} s",
            took.as_secs_f64()
        );
    }
    let mut daemon =
        Daemon::start_with(&dir.join(label), location, BBB_URL, bot.unwrap_or_default());
    if bot.is_some() {
        daemon
            .wait_for(Duration::from_secs(120), |m| {
                m.starts_with("Matrix session ready")
            })
            .expect("the bot did not log in");
    }
    // Let start-up settle, then measure a quiet period.
    std::thread::sleep(Duration::from_secs(2));
    let pid = daemon.pid();
    let before = cpu_ticks(pid);
    let wall = Instant::now();
    std::thread::sleep(QUIET);
    let ticks = cpu_ticks(pid) - before;
    let secs = wall.elapsed().as_secs_f64();
    let cpu = ticks as f64 / clock_ticks_per_second() / secs * 100.0;
    let rss_kb = rss_kb(pid);
    let (ready_at, ready_queries) = (daemon.ready_at, daemon.ready_queries);
    let stopped = daemon.stop();
    // From the "running" line to SIGTERM: the quiet period plus the settling before it.
    let idle_queries = stopped.queries - ready_queries;
    let idle_secs = (stopped.stopped_at - ready_at).as_secs_f64();
    let qps = idle_queries as f64 / idle_secs;
    let rss_mb = rss_kb as f64 / 1024.0;
    println!(
        "[{label}] P2 idle: {MEETINGS} future meetings, nothing due: CPU {cpu:.3} % over {secs:.0} s \
         ({ticks} ticks) → {}",
        verdict(cpu < 1.0, "under 1 %", "OVER 1 %")
    );
    println!(
        "[{label}] P2 store: {idle_queries} statements in {idle_secs:.1} s while idle = \
         {qps:.3}/s ({ready_queries} at start-up) → {}",
        verdict(qps <= 1.0, "at most 1/s", "OVER 1/s")
    );
    println!(
        "[{label}] P4 memory: RSS {rss_mb:.1} MB with {MEETINGS} meetings in the store (bot {}) → {}",
        if bot.is_some() { "on" } else { "off" },
        verdict(rss_mb < 60.0, "under 60 MB", "OVER 60 MB")
    );
    for p in &stopped.problems {
        println!("[{label}] daemon logged: {p}");
    }
    cpu < 1.0 && qps <= 1.0 && rss_mb < 60.0
}

fn verdict(ok: bool, yes: &'static str, no: &'static str) -> &'static str {
    if ok { yes } else { no }
}

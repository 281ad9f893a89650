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
    for backend in common::backends(&rt, dir.path()) {
        ok &= idle(&rt, backend, dir.path());
    }
    std::process::exit(if ok { 0 } else { 1 });
}

fn idle(rt: &tokio::runtime::Runtime, backend: common::Backend, dir: &std::path::Path) -> bool {
    let label = backend.label;
    let (service, sql) = common::service(rt, &backend.location, BBB_URL);
    let took = common::schedule(rt, &service, common::future_meetings("m", MEETINGS));
    rt.block_on(sql.close());
    println!(
        "[{label}] scheduled {MEETINGS} future meetings in {:.1} s",
        took.as_secs_f64()
    );
    let daemon = Daemon::start(&dir.join(label), &backend.location, BBB_URL);
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
        "[{label}] P4 memory: RSS {rss_mb:.1} MB with {MEETINGS} meetings in the store (bot off) → {}",
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

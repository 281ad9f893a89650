//! P1 of the scheduler: start lag. `schedulight run` (scheduler and callback listener, bot off)
//! with 10 000 scheduled meetings, 1 000 of them starting at the same minute (preOpenMinutes 0,
//! so BBB `create` is due at the start), the rest next year; a BBB simulator on loopback in this
//! process records when each `create` arrives. Lag = arrival − due time. On SQLite, then on a
//! throwaway PostgreSQL.
//!
//! Requirements: all 1 000 created, none early, p99 under 1 s, max under 2 s.
//!
//! Run: `cargo bench --bench scheduler_start_lag`. `BENCH_BBB_LATENCY_MS=100` makes the
//! simulator answer every API call that much later, as a real BBB over a network would.

mod common;

use common::{Daemon, clock_ticks_per_second, cpu_ticks, rss_kb};
use schedulight::bbb::sim::{SimConfig, SimHandle, serve};
use schedulight::store::SqlStore;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

const MEETINGS: usize = 10_000;
const DUE: usize = 1_000;
/// Time the daemon gets after the due minute before the missing creates count as lost.
const DEADLINE: Duration = Duration::from_secs(90);
/// Room between the daemon being up and the due minute.
const HEADROOM: Duration = Duration::from_secs(8);

fn main() {
    let rt = Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut ok = true;
    for backend in common::backends(&rt, dir.path()) {
        ok &= start_lag(&rt, backend, dir.path());
    }
    std::process::exit(if ok { 0 } else { 1 });
}

fn start_lag(rt: &Runtime, backend: common::Backend, dir: &std::path::Path) -> bool {
    let label = backend.label;
    // The simulator's tasks run on the runtime's workers while this thread waits.
    let sim: SimHandle = rt
        .block_on(serve(
            "127.0.0.1:0".parse().expect("addr"),
            SimConfig::new(common::SECRET),
        ))
        .expect("BBB simulator");
    let bbb_url = sim.base_url();
    let latency = bbb_latency();
    sim.simulator.set_latency(latency);
    let (service, sql) = common::service(rt, &backend.location, &bbb_url);
    let far = MEETINGS - DUE;
    let took = common::schedule(rt, &service, common::future_meetings("far", far));
    println!(
        "[{label}] scheduled {far} meetings for next year in {:.1} s",
        took.as_secs_f64()
    );
    // The due minute: the first full minute after scheduling the rest (at the pace just seen,
    // with room to spare) and starting the daemon.
    let expected = took.mul_f64(DUE as f64 / far as f64 * 1.5) + HEADROOM;
    let due = next_minute(jiff::Timestamp::now() + expected);
    let due_civil = due.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    let due_meetings: Vec<_> = (0..DUE)
        .map(|i| {
            let mut m = common::meeting(&format!("due{i:05}"), due_civil, "UTC");
            m.pre_open_minutes = Some(0);
            m
        })
        .collect();
    let took = common::schedule(rt, &service, due_meetings);
    rt.block_on(sql.close());
    println!(
        "[{label}] scheduled {DUE} meetings starting at {due} in {:.1} s",
        took.as_secs_f64()
    );
    let daemon = Daemon::start_with(
        &dir.join(format!("lag-{label}")),
        &backend.location,
        &bbb_url,
        "",
    );
    let ahead = due.duration_since(jiff::Timestamp::now());
    if ahead.is_negative() {
        println!("[{label}] P1 not measured: the daemon came up after the due minute");
        return false;
    }
    println!(
        "[{label}] daemon running {:.1} s before the due minute",
        ahead.as_secs_f64()
    );
    let pid = daemon.pid();
    let ticks_before = cpu_ticks(pid);
    let arrivals = wait_for_creates(&sim, due);
    let burst_ticks = cpu_ticks(pid) - ticks_before;
    let rss_mb = rss_kb(pid) as f64 / 1024.0;
    let (ready_at, ready_queries) = (daemon.ready_at, daemon.ready_queries);
    let stopped = daemon.stop();
    let queries = stopped.queries - ready_queries;
    let secs = (stopped.stopped_at - ready_at).as_secs_f64();
    let jobs = rt.block_on(job_states(&backend.location));
    rt.block_on(sim.shutdown());

    let report = Lags::of(&arrivals, due);
    let label = if latency.is_zero() {
        label.to_string()
    } else {
        format!("{label}, BBB answers after {} ms", latency.as_millis())
    };
    println!(
        "[{label}] P1 start lag: {}/{DUE} created, {} early, p50 {:.3} s, p99 {:.3} s, \
         max {:.3} s (first {:.3} s) → {}",
        report.created,
        report.early,
        report.p50,
        report.p99,
        report.max,
        report.min,
        if report.meets() {
            "meets p99 < 1 s, max < 2 s"
        } else {
            "MISSES p99 < 1 s / max < 2 s"
        }
    );
    println!(
        "[{label}] daemon: {:.1} s CPU from the wait until all creates arrived; {queries} store \
         statements in {secs:.1} s after start-up ({:.1} per due meeting); RSS {rss_mb:.1} MB; \
         due meetings' jobs now: {jobs}",
        burst_ticks as f64 / clock_ticks_per_second(),
        queries as f64 / DUE as f64,
    );
    println!(
        "[{label}] creates per 100 ms after the due time: {}",
        report.histogram()
    );
    let duplicates = arrivals.values().filter(|v| v.len() > 1).count();
    if duplicates > 0 {
        println!("[{label}] {duplicates} meetings got more than one create");
    }
    for p in stopped.problems.iter().take(10) {
        println!("[{label}] daemon logged: {p}");
    }
    report.meets()
}

fn bbb_latency() -> Duration {
    std::env::var("BENCH_BBB_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::ZERO)
}

/// `at` rounded up to the next full minute (UTC; also in any zone with whole-minute offsets).
fn next_minute(at: jiff::Timestamp) -> jiff::Timestamp {
    let s = at.as_second();
    jiff::Timestamp::from_second((s / 60 + 1) * 60).expect("time")
}

/// Create arrival times per due meeting, once all due meetings have one or the deadline passed.
fn wait_for_creates(
    sim: &SimHandle,
    due: jiff::Timestamp,
) -> HashMap<String, Vec<jiff::Timestamp>> {
    let deadline = Instant::now()
        + due
            .duration_since(jiff::Timestamp::now())
            .try_into()
            .unwrap_or(Duration::ZERO)
        + DEADLINE;
    loop {
        let mut arrivals: HashMap<String, Vec<jiff::Timestamp>> = HashMap::new();
        for c in sim.simulator.create_log() {
            if c.meeting_id.starts_with("sl-due") {
                arrivals.entry(c.meeting_id).or_default().push(c.at);
            }
        }
        if arrivals.len() >= DUE || Instant::now() >= deadline {
            return arrivals;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The due meetings' job counts by kind and state, e.g. `meeting_step/Done 1000`.
async fn job_states(location: &str) -> String {
    let store = SqlStore::connect(location).await.expect("store");
    let jobs = schedulight::store::Store::list_jobs(&store, None)
        .await
        .expect("jobs");
    store.close().await;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let due = |j: &schedulight::store::Job| {
        j.meeting_id
            .as_ref()
            .is_some_and(|m| m.as_str().starts_with("due"))
    };
    for j in jobs.iter().filter(|j| due(j)) {
        *counts
            .entry(format!("{}/{:?}", j.kind, j.state))
            .or_default() += 1;
    }
    counts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

struct Lags {
    /// Sorted, in seconds.
    lags: Vec<f64>,
    created: usize,
    early: usize,
    min: f64,
    p50: f64,
    p99: f64,
    max: f64,
}

impl Lags {
    /// Seconds from `due` to each meeting's first create.
    fn of(arrivals: &HashMap<String, Vec<jiff::Timestamp>>, due: jiff::Timestamp) -> Lags {
        let mut lags: Vec<f64> = arrivals
            .values()
            .filter_map(|v| v.iter().min())
            .map(|at| at.duration_since(due).as_secs_f64())
            .collect();
        lags.sort_by(f64::total_cmp);
        // Nearest-rank percentiles over all due meetings: a missing create counts as infinitely
        // late, so it cannot hide in the tail.
        let rank = |p: f64| {
            let i = ((p * DUE as f64).ceil() as usize).clamp(1, DUE) - 1;
            lags.get(i).copied().unwrap_or(f64::INFINITY)
        };
        Lags {
            created: lags.len(),
            early: lags.iter().filter(|l| **l < 0.0).count(),
            min: lags.first().copied().unwrap_or(f64::INFINITY),
            p50: rank(0.50),
            p99: rank(0.99),
            max: if lags.len() == DUE {
                lags.last().copied().unwrap_or(f64::INFINITY)
            } else {
                f64::INFINITY
            },
            lags,
        }
    }

    /// How the creates spread over time: a steady rate, or bursts with gaps between them.
    fn histogram(&self) -> String {
        let mut buckets: BTreeMap<i64, usize> = BTreeMap::new();
        for l in &self.lags {
            *buckets.entry((l * 10.0).floor() as i64).or_default() += 1;
        }
        let Some(last) = buckets.keys().next_back().copied() else {
            return "none".into();
        };
        let first = buckets.keys().next().copied().unwrap_or(0).min(0);
        (first..=last)
            .map(|b| buckets.get(&b).copied().unwrap_or(0).to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn meets(&self) -> bool {
        self.created == DUE && self.early == 0 && self.p99 < 1.0 && self.max < 2.0
    }
}

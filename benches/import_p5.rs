//! P5: importing a 10 000-row CSV in the original's 9-column format — validate (read and
//! check every row), plan (compare with the store) and apply (store the meetings with their
//! planned steps) — on SQLite and PostgreSQL. Greenlight provisioning and password hashing are
//! not part of it: they happen later, in the scheduler's steps. Target: under 3 s.
//!
//! `cargo bench --bench import_p5`

#[allow(dead_code)] // the shared helpers serve several benchmarks
mod common;

use schedulight::declare::{self, Action, Current, LoadSettings, PlanOptions};
use schedulight::domain::Actor;
use std::fmt::Write as _;
use std::time::Instant;

const ROWS: usize = 10_000;
const TARGET_SECONDS: f64 = 3.0;

fn csv(rows: usize) -> String {
    let year = jiff::Zoned::now().year() + 1;
    let mut out = String::with_capacity(rows * 120);
    for i in 0..rows {
        let day = 1 + (i / 40) % 28;
        let month = 1 + (i / 1120) % 12;
        let hour = 8 + i % 10;
        let live = if i % 10 == 0 { "live.uni.example" } else { "" };
        writeln!(
            out,
            "Given{i};Family{i};person.{i}@uni.example;Pass-{i};{year}-{month:02}-{day:02} {hour:02}:00;room.invalid;{live};Course {i};bbb"
        )
        .expect("write");
    }
    out
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("import.csv");
    std::fs::write(&file, csv(ROWS)).expect("write the CSV");
    let mut all_met = true;
    for backend in common::backends(&rt, dir.path()) {
        let (service, sql) = common::service(
            &rt,
            &backend.location,
            "http://127.0.0.1:9/bigbluebutton/api",
        );
        let files = [file.clone()];
        let started = Instant::now();
        let d = declare::load(&files, &LoadSettings::default()).expect("the CSV loads");
        let validated = started.elapsed();
        let (plan, planned) = rt.block_on(async {
            let t = Instant::now();
            let cur = Current::read(service.store().as_ref(), [])
                .await
                .expect("store");
            let plan = declare::plan(&d, &cur, PlanOptions::default()).expect("plan");
            (plan, t.elapsed())
        });
        assert_eq!(plan.count(Action::Create), ROWS);
        let (report, applied) = rt.block_on(async {
            let t = Instant::now();
            let report = declare::apply(&service, &Actor::admin("bench"), &d, &plan, &|_, _| {})
                .await
                .expect("apply");
            (report, t.elapsed())
        });
        let total = started.elapsed();
        assert!(report.ok(), "{}", report.render());
        let jobs = rt
            .block_on(service.store().list_jobs(None))
            .expect("jobs")
            .len();
        // Again: nothing to do.
        let again_started = Instant::now();
        let again = rt.block_on(async {
            let d = declare::load(&files, &LoadSettings::default()).expect("loads");
            let cur = Current::read(service.store().as_ref(), [])
                .await
                .expect("store");
            declare::plan(&d, &cur, PlanOptions::default()).expect("plan")
        });
        let again_took = again_started.elapsed();
        assert!(!again.has_changes());
        rt.block_on(sql.close());
        let met = total.as_secs_f64() < TARGET_SECONDS;
        all_met &= met;
        println!(
            "[{label}] P5 import: {ROWS} CSV rows → {ROWS} meetings ({jobs} planned steps): validate {v:.2} s, plan {p:.2} s, apply {a:.2} s, total {t:.2} s → {verdict} < {TARGET_SECONDS} s; re-plan of the same file {r:.2} s, no changes",
            label = backend.label,
            v = validated.as_secs_f64(),
            p = planned.as_secs_f64(),
            a = applied.as_secs_f64(),
            t = total.as_secs_f64(),
            r = again_took.as_secs_f64(),
            verdict = if met { "meets" } else { "MISSES" },
        );
    }
    if !all_met {
        std::process::exit(1);
    }
}

//! `meetings running --all` over 20 simulated BBB servers, one of which never answers.
//!
//! The promise: the whole command finishes within the configured per-server timeout + 100 ms,
//! whatever a dead server does. Measured twice: in-process through `Service::execute`, and as
//! the real CLI process (start-up, store, config and all).
//!
//! Run: `cargo bench --bench meetings_running`

use schedulight::app::App;
use schedulight::bbb::sim::{SimConfig, SimHandle, serve};
use schedulight::bbb::{Bbb, BbbClient, CreateParams, JoinAuth, JoinParams, Role};
use schedulight::config::AppConfig;
use schedulight::domain::{Actor, Operation, Outcome, Secret, ServerSpec};
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

const SERVERS: usize = 20;
const DEAD: usize = 7;
const TIMEOUT_MS: u64 = 1_000;
const BOUND: Duration = Duration::from_millis(TIMEOUT_MS + 100);
const IN_PROCESS_RUNS: usize = 20;
const CLI_RUNS: usize = 10;

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let ok = rt.block_on(bench());
    std::process::exit(if ok { 0 } else { 1 });
}

async fn bench() -> bool {
    let sims = start_servers().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("bench-config.yml");
    std::fs::write(
        &config_path,
        config_yaml(&sims, &dir.path().join("bench.db")),
    )
    .expect("write config");
    sims[DEAD].simulator.hang();

    let config = AppConfig::load(&config_path).expect("bench config loads");
    let app = App::build(config).await.expect("app starts");
    let actor = Actor::admin("bench");
    let mut in_process = Vec::new();
    for _ in 0..IN_PROCESS_RUNS {
        let t = Instant::now();
        let out = app
            .service
            .execute(&actor, Operation::ShowRunningMeetings { server: None })
            .await;
        in_process.push(t.elapsed());
        check(&out);
    }

    let bin = env!("CARGO_BIN_EXE_schedulight");
    let mut cli = Vec::new();
    for _ in 0..CLI_RUNS {
        let t = Instant::now();
        let out = Command::new(bin)
            .args([
                "--config",
                config_path.to_str().expect("utf-8 path"),
                "meetings",
                "running",
                "--all",
            ])
            .env("RUST_LOG", "error")
            .output()
            .expect("run the CLI");
        cli.push(t.elapsed());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("NOT ANSWERING"),
            "dead server not reported:\n{text}"
        );
        assert_eq!(
            text.matches(" meeting(s) (").count(),
            SERVERS - 1,
            "live servers missing:\n{text}"
        );
    }

    println!("meetings running --all: {SERVERS} simulated servers, server #{DEAD} not answering");
    println!(
        "per-server timeout {TIMEOUT_MS} ms, bound {} ms",
        BOUND.as_millis()
    );
    let a = report("in-process Service::execute", &mut in_process);
    let b = report("CLI process (schedulight meetings running --all)", &mut cli);
    for s in sims {
        s.simulator.resume();
        s.shutdown().await;
    }
    a && b
}

fn check(out: &Result<Outcome, schedulight::domain::OpError>) {
    let Ok(Outcome::Running { servers }) = out else {
        panic!("unexpected: {out:?}")
    };
    let answered = servers.iter().filter(|s| s.meetings.is_some()).count();
    assert_eq!(answered, SERVERS - 1);
    assert!(
        servers
            .iter()
            .all(|s| s.meetings.as_ref().is_none_or(|m| m.len() == 3))
    );
}

fn report(what: &str, runs: &mut [Duration]) -> bool {
    runs.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let max = runs[runs.len() - 1];
    let ok = max <= BOUND;
    println!(
        "{what}: runs {} min {:.1} ms, median {:.1} ms, max {:.1} ms → {}",
        runs.len(),
        ms(runs[0]),
        ms(runs[runs.len() / 2]),
        ms(max),
        if ok { "within bound" } else { "OVER BOUND" }
    );
    ok
}

/// 20 simulators, each with three meetings, one of them with a participant.
async fn start_servers() -> Vec<SimHandle> {
    let mut sims = Vec::new();
    for i in 0..SERVERS {
        let sim = serve(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            SimConfig::new(secret(i)),
        )
        .await
        .expect("serve");
        let spec = server_spec(i, &sim);
        let client = BbbClient::new(&spec, reqwest::Client::new());
        for m in 0..3 {
            let params = CreateParams {
                meeting_id: Some(format!("bench-{i}-{m}").parse().expect("id")),
                name: format!("Lecture {m} on server {i}"),
                ..CreateParams::default()
            };
            client.create(&params).await.expect("create");
        }
        let join = JoinParams::new(
            format!("bench-{i}-0").parse().expect("id"),
            "Alice",
            JoinAuth::Role(Role::Moderator),
        );
        sim.simulator
            .join_from_url(&client.join_url(&join))
            .expect("join");
        sims.push(sim);
    }
    sims
}

fn secret(i: usize) -> String {
    format!("bench-secret-{i:02}-0123456789abcdef")
}

fn server_spec(i: usize, sim: &SimHandle) -> ServerSpec {
    ServerSpec::new(
        format!("sim{i:02}").parse().expect("id"),
        sim.base_url().parse().expect("url"),
        Secret::new(secret(i)),
    )
}

fn config_yaml(sims: &[SimHandle], store: &std::path::Path) -> String {
    let mut y = format!(
        "store:\n  location: {}\nlogging:\n  level: error\nservers:\n",
        store.display()
    );
    for (i, sim) in sims.iter().enumerate() {
        y.push_str(&format!(
            "  sim{i:02}:\n    BBB_URL: {}\n    BBB_SECRET: {}\n    timeoutMs: {TIMEOUT_MS}\n",
            sim.base_url(),
            secret(i)
        ));
    }
    y
}

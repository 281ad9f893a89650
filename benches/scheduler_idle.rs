//! P2 and P4 of the scheduler: `schedulight run` with 10 000 future meetings in its SQLite store
//! and nothing due. Measures the daemon's CPU use over a quiet period (from /proc) and its
//! resident memory.
//!
//! Run: `cargo bench --bench scheduler_idle`

use schedulight::bbb::HttpConnector;
use schedulight::clock::SystemClock;
use schedulight::domain::meeting::seed_datetime;
use schedulight::domain::{Actor, MeetingSpec, Operation, Secret, ServerSpec};
use schedulight::service::{Service, ServiceSettings};
use schedulight::store::{SqlStore, Store};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MEETINGS: usize = 10_000;
const QUIET: Duration = Duration::from_secs(30);

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("state.db");
    let t = Instant::now();
    rt.block_on(populate(&db.display().to_string()));
    println!(
        "scheduled {MEETINGS} future meetings in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    std::fs::write(
        dir.path().join("bot-config.yml"),
        "store:\n  location: state.db\napi:\n  listen: 127.0.0.1:0\nlogging:\n  level: info\n\
         servers:\n  bbb:\n    BBB_URL: http://127.0.0.1:9/bigbluebutton/api\n    BBB_SECRET: bench-secret\n",
    )
    .expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_schedulight"))
        .arg("run")
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start run");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let ready = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("schedulight is running"));
    assert!(ready, "run did not start");
    std::thread::spawn(move || for _ in lines {});
    // Let start-up settle, then measure a quiet period.
    std::thread::sleep(Duration::from_secs(2));
    let pid = child.id();
    let before = cpu_ticks(pid);
    let wall = Instant::now();
    std::thread::sleep(QUIET);
    let ticks = cpu_ticks(pid) - before;
    let secs = wall.elapsed().as_secs_f64();
    let hz = clock_ticks_per_second();
    let cpu = ticks as f64 / hz / secs * 100.0;
    let rss_kb = rss_kb(pid);
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "P2 idle: {MEETINGS} future meetings, nothing due: CPU {cpu:.3} % over {secs:.0} s ({ticks} ticks) → {}",
        if cpu < 1.0 { "under 1 %" } else { "OVER 1 %" }
    );
    println!(
        "P4 memory: RSS {:.1} MB with {MEETINGS} meetings in the store (bot off) → {}",
        rss_kb as f64 / 1024.0,
        if rss_kb < 60 * 1024 {
            "under 60 MB"
        } else {
            "OVER 60 MB"
        }
    );
    std::process::exit(if cpu < 1.0 && rss_kb < 60 * 1024 {
        0
    } else {
        1
    });
}

async fn populate(location: &str) {
    let store: Arc<dyn Store> = Arc::new(SqlStore::connect(location).await.expect("store"));
    let service = Service::new(
        store,
        Arc::new(HttpConnector::new()),
        Arc::new(SystemClock),
        ServiceSettings::default(),
    );
    let admin = Actor::admin("bench");
    let server = ServerSpec::new(
        "bbb".parse().expect("id"),
        "http://127.0.0.1:9/bigbluebutton/api/"
            .parse()
            .expect("url"),
        Secret::new("bench-secret"),
    );
    service
        .execute(
            &admin,
            Operation::AddServer {
                server: Box::new(server),
            },
        )
        .await
        .expect("server");
    let year = jiff::Zoned::now().year() + 1;
    for i in 0..MEETINGS {
        let mut m = MeetingSpec::new(
            format!("m{i:05}").parse().expect("id"),
            "bbb".parse().expect("id"),
            format!("Lecture {i}"),
        );
        let day = 1 + (i % 28);
        let month = 1 + (i / 28) % 12;
        m.start = Some(
            seed_datetime::parse(&format!("{year}-{month:02}-{day:02} {:02}:00", 8 + i % 10))
                .expect("date"),
        );
        m.time_zone = Some("Europe/Vienna".into());
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
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

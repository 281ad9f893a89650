//! `bbb-sim` and `demo`: a local sandbox that needs no BBB server, no database server and no
//! configuration.

use super::args::{BbbSimArgs, DemoArgs};
use super::render::{self, RenderOptions};
use super::{print_result, shutdown_signal};
use crate::app::App;
use crate::bbb::HttpConnector;
use crate::bbb::sim::{SimConfig, SimHandle, serve};
use crate::clock::SystemClock;
use crate::config::AppConfig;
use crate::domain::{
    Actor, ChecksumAlgorithm, MeetingSpec, Operation, Outcome, Secret, ServerSpec,
};
use crate::store::{SqlStore, Store};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

pub(super) fn random_secret() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 40)
}

pub(super) async fn bbb_sim(args: BbbSimArgs) -> anyhow::Result<ExitCode> {
    let allowed = args
        .algorithms
        .iter()
        .map(|a| a.parse::<ChecksumAlgorithm>())
        .collect::<Result<Vec<_>, _>>()?;
    let addr: SocketAddr = format!("{}:{}", args.listen, args.port)
        .parse()
        .map_err(|e| anyhow::anyhow!("--listen/--port do not form an address: {e}"))?;
    let secret = args.secret.unwrap_or_else(random_secret);
    let handle = serve(addr, SimConfig::new(secret.clone()).with_allowed(&allowed)).await?;
    println!("BBB simulator listening");
    println!("  BBB_URL:    {}", handle.base_url());
    println!("  BBB_SECRET: {secret}");
    println!("  checksums:  {}", names(&allowed));
    println!(
        "  control:    {}sim/ (test controls, no checksum)",
        handle.server_url()
    );
    println!("Stop it with Ctrl-C.");
    shutdown_signal().await;
    handle.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

fn names(algos: &[ChecksumAlgorithm]) -> String {
    algos
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Start a simulator and a store, then drive a meeting through the same Operation path the chat,
/// API and CLI use.
pub(super) async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let secret = random_secret();
    let sim = serve(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        SimConfig::new(secret.clone()),
    )
    .await?;
    // The demo store lives in a temporary directory that goes away with the demo.
    let tmp = tempfile::tempdir()?;
    let location = match &args.store {
        Some(s) => s.clone(),
        None => tmp.path().join("schedulight-demo.db").display().to_string(),
    };
    let store: Arc<dyn Store> = Arc::new(SqlStore::connect(&location).await?);
    let app = App::with_parts(
        AppConfig::default(),
        store,
        Arc::new(HttpConnector::try_new()?),
        Arc::new(SystemClock),
    )
    .await?;
    println!(
        "schedulight demo — simulated BBB at {}, store {location}\n",
        sim.base_url()
    );
    let ok = run_demo(&app, &sim, secret).await?;
    if !ok {
        return Ok(ExitCode::FAILURE);
    }
    let chat = if args.no_chat {
        None
    } else {
        match super::demo_chat::run(&app, "demo".parse()?, tmp.path()).await {
            Ok(chat) => Some(chat),
            Err(e) => {
                println!("  chat part skipped: {e:#}");
                println!(
                    "  (it needs python3 with venv and pip to install Synapse; \
                     `scripts/test-all` installs them)"
                );
                None
            }
        }
    };
    if !args.once {
        println!("\nThe simulated BBB server keeps serving these links until you press Ctrl-C.");
        if let Some(chat) = &chat {
            println!(
                "Matrix: log in at {} as @staff:{} with password {} using any Matrix client \
                 (Element: \"Edit\" the homeserver); the demo room is {}. The bot and the \
                 scheduler keep running: the demo seminar starts in about two minutes.",
                chat.synapse.url(),
                chat.synapse.server_name(),
                chat.staff_password,
                chat.room
            );
        }
        shutdown_signal().await;
    }
    drop(chat);
    sim.shutdown().await;
    drop(tmp);
    Ok(ExitCode::SUCCESS)
}

async fn run_demo(app: &App, sim: &SimHandle, secret: String) -> anyhow::Result<bool> {
    let actor = Actor::admin("cli:demo");
    let mut server = ServerSpec::new(
        "demo".parse()?,
        sim.base_url().parse()?,
        Secret::new(secret),
    );
    server.timeout_ms = 2_000;
    let mut meeting = MeetingSpec::new("demo".parse()?, server.id.clone(), "schedulight demo");
    let start = jiff::Zoned::now().checked_add(jiff::SignedDuration::from_mins(15))?;
    meeting.start = Some(start.datetime().round(jiff::Unit::Minute)?);
    meeting.time_zone = start.time_zone().iana_name().map(str::to_string);
    meeting.welcome = Some("Welcome to the schedulight demo, planned for __startDate__.".into());
    meeting.record = Some(true);

    let steps = [
        (
            "add the simulated server",
            Operation::AddServer {
                server: Box::new(server),
            },
        ),
        (
            "schedule a meeting",
            Operation::ScheduleMeeting {
                meeting: Box::new(meeting),
            },
        ),
        (
            "start it now",
            Operation::StartMeetingNow {
                id: "demo".parse()?,
            },
        ),
    ];
    let mut links = None;
    for (what, op) in steps {
        println!("» {what}");
        let result = app.service.execute(&actor, op).await;
        print_result(&result, false, RenderOptions::default());
        match result {
            Ok(Outcome::Started { links: l, .. }) => links = Some(l),
            Ok(_) => {}
            Err(_) => return Ok(false),
        }
    }
    let Some(links) = links else { return Ok(false) };
    println!("» open the moderator link as a browser would");
    let joined = open_link(&links.moderator).await?;
    println!("  BBB answered HTTP {} → {}", joined.0, joined.1);
    println!("» meetings running now");
    let running = app
        .service
        .execute(&actor, Operation::ShowRunningMeetings { server: None })
        .await;
    match &running {
        Ok(o) => print!("{}", render::outcome(o, RenderOptions::default())),
        Err(e) => print!("{}", render::error(e)),
    }
    Ok(joined.0 == 302 && running.is_ok())
}

/// GET a join link without following the redirect; returns status and Location.
async fn open_link(url: &str) -> anyhow::Result<(u16, String)> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let resp = http.get(url).send().await?;
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("(no redirect)")
        .to_string();
    Ok((resp.status().as_u16(), location))
}

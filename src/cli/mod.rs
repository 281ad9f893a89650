//! The command-line front end: parses argv into Operations, renders Outcomes.

mod args;
mod demo;
mod demo_chat;
mod doctor;
mod files;
mod greenlight;
mod mail;
pub mod render;

pub use args::Cli;
use args::{Command, MeetingsCommand, ServersCommand};

use crate::app::App;
use crate::config::{self, AppConfig};
use crate::domain::{Actor, MeetingId, OpError, Operation, Outcome, ServerId};
use render::RenderOptions;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

const DEFAULT_CONFIG: &str = "bot-config.yml";

/// Run a parsed command line to completion.
pub async fn run(cli: Cli) -> ExitCode {
    match dispatch(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let json = cli.json;
    match cli.command {
        Command::CheckConfig { files } => Ok(check_config(cli.config.as_deref(), files)),
        Command::BbbSim(args) => demo::bbb_sim(args).await,
        Command::Chat(args) => chat(cli.config.as_deref(), args, json).await,
        Command::Demo(args) => demo::demo(args).await,
        Command::Audit {
            since,
            until,
            actor,
            object,
            limit,
            jsonl,
        } => {
            let query = crate::store::AuditQuery {
                since: since.as_deref().map(audit_time).transpose()?,
                until: until.as_deref().map(audit_time).transpose()?,
                actor,
                target: object,
                limit,
            };
            let app = open_app(cli.config.as_deref()).await?;
            if !jsonl {
                return Ok(execute(
                    &app,
                    Operation::AuditLog { query },
                    json,
                    RenderOptions::default(),
                )
                .await);
            }
            let actor = Actor::admin(local_actor());
            match app
                .service
                .execute(&actor, Operation::AuditLog { query })
                .await?
            {
                Outcome::Audit { entries } => {
                    for e in entries {
                        println!("{}", serde_json::to_string(&e)?);
                    }
                    Ok(ExitCode::SUCCESS)
                }
                _ => Ok(ExitCode::FAILURE),
            }
        }
        Command::ImportRedis { url, dry_run } => {
            let app = open_app(cli.config.as_deref()).await?;
            let state = crate::migrate::read(&url).await?;
            let report = crate::migrate::import(
                &app.service,
                &Actor::admin(format!("import:{}", local_actor())),
                state,
                app.config.mail.send_emails,
                dry_run,
            )
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render(&redact_url(&url), dry_run));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Docs { out, check } => {
            if check {
                let stale = crate::docs::stale(&out);
                if stale.is_empty() {
                    println!("{}: current", out.display());
                    return Ok(ExitCode::SUCCESS);
                }
                eprintln!(
                    "stale in {}: {} — run `schedulight docs --out {}`",
                    out.display(),
                    stale.join(", "),
                    out.display()
                );
                return Ok(ExitCode::FAILURE);
            }
            for name in crate::docs::write_all(&out)? {
                println!("wrote {}", out.join(name).display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = args::Cli::command();
            clap_complete::generate(shell, &mut cmd, "schedulight", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan(args) => Ok(files::plan(cli.config.as_deref(), args, json).await),
        Command::Apply(args) => Ok(files::apply(cli.config.as_deref(), args, json).await),
        Command::Export(args) => files::export(cli.config.as_deref(), args, json).await,
        Command::Doctor => {
            let config = load_config(cli.config.as_deref())?;
            init_logging(&config);
            doctor::doctor(config, json).await
        }
        Command::Run => {
            let config = load_config(cli.config.as_deref())?;
            init_logging(&config);
            run_daemon(config).await
        }
        Command::Servers { command } => {
            let app = open_app(cli.config.as_deref()).await?;
            let ServersCommand::List = command;
            Ok(execute(&app, Operation::ListServers, json, RenderOptions::default()).await)
        }
        Command::Users { command } => {
            let app = open_app(cli.config.as_deref()).await?;
            let op = greenlight::users_op(&app, command).await?;
            Ok(execute(&app, op, json, RenderOptions::default()).await)
        }
        Command::Recordings { command } => {
            let app = open_app(cli.config.as_deref()).await?;
            let op = greenlight::recordings_op(&app, command).await?;
            Ok(execute(&app, op, json, RenderOptions::default()).await)
        }
        Command::Retention { dry_run } => {
            let app = open_app(cli.config.as_deref()).await?;
            let op = Operation::Retention { dry_run };
            Ok(execute(&app, op, json, RenderOptions::default()).await)
        }
        Command::Backup { file } => {
            let config = load_config(cli.config.as_deref())?;
            init_logging(&config);
            let n = crate::store::backup::backup(&config.store.location, &file).await?;
            println!("backed up the store to {} ({n} bytes)", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore { file } => {
            let config = load_config(cli.config.as_deref())?;
            init_logging(&config);
            let kept = crate::store::backup::restore(&config.store.location, &file).await?;
            println!(
                "restored the store from {}; the one it replaced is {}",
                file.display(),
                kept.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Rooms { command } => {
            let app = open_app(cli.config.as_deref()).await?;
            let (op, opts) = greenlight::rooms_op(&app, command).await?;
            Ok(execute(&app, op, json, opts).await)
        }
        Command::Mail { command } => {
            let app = open_app(cli.config.as_deref()).await?;
            mail::run(&app, command, json).await
        }
        Command::Tokens { command } => {
            let app = open_app(cli.config.as_deref()).await?;
            let op = match command {
                args::TokensCommand::Create { name, scopes } => {
                    let scopes = scopes
                        .iter()
                        .map(|s| {
                            crate::domain::Scope::parse(s).ok_or_else(|| {
                                let all: Vec<&str> = crate::domain::Scope::ALL
                                    .iter()
                                    .map(|s| s.as_str())
                                    .collect();
                                anyhow::anyhow!("unknown scope {s:?}: use {}", all.join(", "))
                            })
                        })
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    Operation::CreateToken { name, scopes }
                }
                args::TokensCommand::List => Operation::ListTokens,
                args::TokensCommand::Revoke { name } => Operation::RevokeToken { name },
            };
            Ok(execute(&app, op, json, RenderOptions::default()).await)
        }
        Command::Results { id } => {
            let app = open_app(cli.config.as_deref()).await?;
            Ok(execute(
                &app,
                Operation::CommandResult { id },
                json,
                RenderOptions::default(),
            )
            .await)
        }
        Command::Meetings {
            command: MeetingsCommand::Schedule(args),
        } => {
            let app = open_app(cli.config.as_deref()).await?;
            let ops = greenlight::schedule_ops(&app, args).await?;
            let mut code = ExitCode::SUCCESS;
            for op in ops {
                if execute(&app, op, json, RenderOptions::default()).await != ExitCode::SUCCESS {
                    code = ExitCode::FAILURE;
                }
            }
            Ok(code)
        }
        Command::Meetings { command } => {
            let app = open_app(cli.config.as_deref()).await?;
            let (op, opts) = meetings_op(command)?;
            Ok(execute(&app, op, json, opts).await)
        }
    }
}

fn meetings_op(command: MeetingsCommand) -> anyhow::Result<(Operation, RenderOptions)> {
    let server = |s: Option<String>| s.map(|s| s.parse::<ServerId>()).transpose();
    let id = |s: String| s.parse::<MeetingId>();
    Ok(match command {
        MeetingsCommand::Running {
            server: s,
            all: _,
            links,
        } => (
            Operation::ShowRunningMeetings { server: server(s)? },
            RenderOptions { links },
        ),
        MeetingsCommand::Find {
            title,
            server: s,
            links,
        } => (
            Operation::FindMeeting {
                title,
                server: server(s)?,
            },
            RenderOptions { links },
        ),
        MeetingsCommand::List => (Operation::ListMeetings, RenderOptions::default()),
        MeetingsCommand::Status { id: i } => (
            Operation::MeetingStatus { id: id(i)? },
            RenderOptions::default(),
        ),
        MeetingsCommand::Start { id: i } => (
            Operation::StartMeetingNow { id: id(i)? },
            RenderOptions::default(),
        ),
        MeetingsCommand::Cancel { id: i } => (
            Operation::CancelMeeting { id: id(i)? },
            RenderOptions::default(),
        ),
        MeetingsCommand::Disable { id: i } => (
            Operation::DisableMeeting { id: id(i)? },
            RenderOptions::default(),
        ),
        MeetingsCommand::Enable { id: i } => (
            Operation::EnableMeeting { id: id(i)? },
            RenderOptions::default(),
        ),
        MeetingsCommand::Reset {
            id: i,
            step,
            resend,
        } => (
            Operation::ResetMeeting {
                id: id(i)?,
                step,
                resend,
            },
            RenderOptions::default(),
        ),
        MeetingsCommand::Schedule(_) => anyhow::bail!("schedule is handled before"),
        MeetingsCommand::End { id: i } => (
            Operation::EndMeeting { id: id(i)? },
            RenderOptions::default(),
        ),
    })
}

/// Execute as the local administrator and print the result.
async fn execute(app: &App, op: Operation, json: bool, opts: RenderOptions) -> ExitCode {
    let actor = Actor::admin(local_actor());
    let result = app.service.execute(&actor, op).await;
    print_result(&result, json, opts);
    if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

pub(crate) fn print_result(result: &Result<Outcome, OpError>, json: bool, opts: RenderOptions) {
    match (result, json) {
        (Ok(o), false) => print!("{}", render::outcome(o, opts)),
        (Err(e), false) => eprint!("{}", render::error(e)),
        (Ok(o), true) => println!("{}", serde_json::to_string_pretty(o).unwrap_or_default()),
        (Err(e), true) => println!("{}", serde_json::to_string_pretty(e).unwrap_or_default()),
    }
}

/// `--since` / `--until`: RFC 3339, or a day (midnight UTC).
fn audit_time(s: &str) -> anyhow::Result<jiff::Timestamp> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    let day: jiff::civil::Date = s.parse().map_err(|_| {
        anyhow::anyhow!("{s:?} is not a time: write 2026-12-03 or 2026-12-03T14:30:00Z")
    })?;
    Ok(day.to_zoned(jiff::tz::TimeZone::UTC)?.timestamp())
}

/// A URL without its password, for output.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

fn local_actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "local".into())
    )
}

/// The explicit file, else `bot-config.yml` when present, else defaults plus environment.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<AppConfig> {
    let default = Path::new(DEFAULT_CONFIG);
    let loaded = match path {
        Some(p) => AppConfig::load(p),
        None if default.exists() => AppConfig::load(default),
        None => AppConfig::from_env(&config::process_env()),
    };
    loaded.map_err(|e| anyhow::anyhow!("the configuration has problems:\n{e}"))
}

/// `schedulight chat`: the bot's front end in a terminal.
async fn chat(path: Option<&Path>, args: args::ChatArgs, json: bool) -> anyhow::Result<ExitCode> {
    use crate::bot::access::Access;
    use crate::bot::front::{ChatFront, Incoming};
    let config = load_config(path)?;
    init_logging(&config);
    let matrix = config.matrix.clone();
    let app = match std::env::var("SCHEDULIGHT_NOW") {
        Ok(now) => {
            let now: jiff::Timestamp = now
                .parse()
                .map_err(|e| anyhow::anyhow!("SCHEDULIGHT_NOW={now:?}: {e}"))?;
            let store = Arc::new(crate::app::open_store(&config.store.location).await?);
            App::with_parts(
                config,
                store,
                Arc::new(crate::bbb::HttpConnector::try_new()?),
                Arc::new(crate::clock::ManualClock::new(now)),
            )
            .await?
        }
        Err(_) => App::build(config).await?,
    };
    let (access, prefix, bot) = match &matrix {
        Some(m) => (
            Access::from_config(m),
            m.command_prefix.clone(),
            m.user_id.clone(),
        ),
        None => (
            Access::local_admin(&args.user),
            "!sl".to_string(),
            "@schedulight:localhost".to_string(),
        ),
    };
    let front = ChatFront::new(app.service.clone(), access, &prefix, &bot);
    let body = args.text.join(" ");
    let incoming = Incoming {
        sender: &args.user,
        body: &body,
        is_direct: true,
        mentioned_bot: false,
        power_level: 0,
        room: args.room.as_deref(),
    };
    if args.dry_run {
        return Ok(match front.dry_run(&incoming).await {
            Ok(parsed) if json => {
                println!("{}", serde_json::to_string_pretty(&parsed)?);
                ExitCode::SUCCESS
            }
            Ok(parsed) => {
                println!("would do: {}", serde_json::to_string_pretty(&parsed)?);
                ExitCode::SUCCESS
            }
            Err(reply) => {
                println!("{}", reply.plain);
                ExitCode::FAILURE
            }
        });
    }
    let Some(reply) = front.respond(&incoming).await else {
        return Ok(ExitCode::FAILURE);
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": reply.ok, "plain": reply.plain, "html": reply.html
            }))?
        );
    } else {
        println!("{}", reply.plain.trim_end());
    }
    Ok(if reply.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn open_app(path: Option<&Path>) -> anyhow::Result<App> {
    let config = load_config(path)?;
    init_logging(&config);
    App::build(config).await
}

fn check_config(config: Option<&Path>, files: Vec<PathBuf>) -> ExitCode {
    let files = if files.is_empty() {
        vec![
            config
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG)),
        ]
    } else {
        files
    };
    let mut failed = false;
    for file in files {
        match config::check_file(&file) {
            Ok(report) => println!("{}: ok — {report}", file.display()),
            Err(errors) => {
                failed = true;
                eprintln!("{errors}");
            }
        }
    }
    if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

async fn run_daemon(config: AppConfig) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let _instance = crate::app::lock_single_instance(&config.store.location)?;
    let (app, sql) = App::build_sql(config).await?;
    let servers = app.store.list_servers().await?.len();
    let listen = app.config.api.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen} (api.listen): {e}"))?;
    let listen = listener.local_addr().unwrap_or(listen);
    crate::telemetry::install();
    let router = crate::callbacks::router(app.callback_state()).merge(crate::api::router(
        crate::api::ApiState {
            service: app.service.clone(),
            metrics_public: app.config.api.metrics_public,
        },
    ));
    // The statement count so far lets an observer tell start-up work from the running
    // daemon's (see the shutdown line).
    tracing::info!(
        store = %app.config.store.location.describe(),
        servers,
        %listen,
        store_queries = sql.queries(),
        "schedulight is running; stop it with Ctrl-C or SIGTERM"
    );
    // One shutdown signal for both: the HTTP listener and the scheduler stop together.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let engine = crate::scheduler::engine::Engine::new(app.service.clone()).with_lease(
        jiff::SignedDuration::try_from(app.config.scheduler_lease)
            .unwrap_or(crate::scheduler::engine::DEFAULT_LEASE),
    );
    let wake = app.service.wake();
    let mut engine_stop = stop_rx.clone();
    let scheduler = tokio::spawn(async move {
        engine
            .run(wake, async move {
                let _ = engine_stop.changed().await;
            })
            .await;
    });
    let mailer =
        match crate::mail::sender::MailSender::new(app.service.clone(), app.config.mail.clone()) {
            Ok(sender) => {
                let mut mail_stop = stop_rx.clone();
                Some(tokio::spawn(async move {
                    sender
                        .run(async move {
                            let _ = mail_stop.changed().await;
                        })
                        .await;
                }))
            }
            Err(e) => {
                tracing::error!(error = %e, "mail sender not started: mail stays queued");
                None
            }
        };
    let bot = app
        .config
        .matrix
        .clone()
        .map(|m| tokio::spawn(run_bot(m, app.service.clone(), stop_rx.clone())));
    let files = &app.config.files;
    let watcher = if files.apply.is_empty() {
        tokio::spawn(crate::declare::watch::ignore_hangups(stop_rx.clone()))
    } else {
        let watcher = crate::declare::watch::FileWatcher::new(
            app.service.clone(),
            files.apply.clone(),
            crate::declare::PlanOptions {
                prune: files.prune,
                retry_failed: false,
            },
            crate::declare::LoadSettings {
                csv: files.csv.clone(),
            },
            app.config.servers.keys().cloned().collect(),
            files
                .report_room
                .clone()
                .filter(|_| app.config.matrix.is_some()),
        );
        tokio::spawn(watcher.run(stop_rx.clone()))
    };
    let retention = {
        let service = app.service.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move { service.run_daily_retention(stop).await })
    };
    let mut http_stop = stop_rx;
    let http = axum::serve(listener, router).with_graceful_shutdown(async move {
        let _ = http_stop.changed().await;
    });
    let signal = async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    };
    let (served, _) = tokio::join!(http, signal);
    served?;
    let _ = scheduler.await;
    let _ = watcher.await;
    let _ = retention.await;
    if let Some(mailer) = mailer {
        let _ = mailer.await;
    }
    if let Some(bot) = bot {
        let _ = bot.await;
    }
    // One line at the end instead of a periodic report, which would itself wake the daemon.
    tracing::info!(
        "store queries: {} in {:.1} s",
        sql.queries(),
        started.elapsed().as_secs_f64()
    );
    tracing::info!("shut down");
    Ok(ExitCode::SUCCESS)
}

/// The Matrix bot beside the scheduler. The homeserver being away (or a wrong login) is
/// logged and retried: meetings keep running without chat.
async fn run_bot(
    config: crate::config::MatrixConfig,
    service: crate::service::Service,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    const RETRY: std::time::Duration = std::time::Duration::from_secs(30);
    loop {
        let mut bot_stop = stop.clone();
        let attempt = async {
            let bot = crate::bot::matrix::MatrixBot::connect(&config, service.clone()).await?;
            bot.run(async move {
                let _ = bot_stop.changed().await;
            })
            .await
        };
        tokio::select! {
            result = attempt => match result {
                Ok(()) => return,
                Err(e) => tracing::error!(error = %e, "Matrix bot stopped; retrying in 30 s"),
            },
            _ = stop.changed() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(RETRY) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Ctrl-C or SIGTERM (systemd's stop).
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Logs go to stderr so command output on stdout stays clean. `RUST_LOG` wins over the config.
pub fn init_logging(config: &AppConfig) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.logging.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: a journal or a log file gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = if config.logging.json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

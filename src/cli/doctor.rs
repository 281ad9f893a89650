//! `schedulight doctor`: is this installation ready? The configuration, the store, every BBB
//! server (a signed call, so a wrong secret shows), every Greenlight database (its schema), the
//! mail settings (with the warning that migrated users need: the original always sent mail, here
//! it is off until `send_emails` says otherwise) and the Matrix homeserver. Read-only.

use crate::app::App;
use crate::config::AppConfig;
use crate::domain::{Actor, Operation, Outcome};
use serde::Serialize;
use std::process::ExitCode;
use std::time::Duration;

/// How long a network check may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warning,
    Problem,
}

#[derive(Debug, Serialize)]
struct Check {
    what: String,
    status: Status,
    detail: String,
}

impl Check {
    fn new(what: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            status,
            detail: detail.into(),
        }
    }
}

pub(super) async fn doctor(config: AppConfig, json: bool) -> anyhow::Result<ExitCode> {
    let mut checks = vec![Check::new("configuration", Status::Ok, "loaded")];
    let matrix = config.matrix.clone();
    let app = match App::build(config).await {
        Ok(app) => app,
        Err(e) => {
            checks.push(Check::new("store", Status::Problem, format!("{e:#}")));
            return Ok(report(&checks, json));
        }
    };
    checks.push(store(&app).await);
    checks.extend(servers(&app).await);
    checks.extend(greenlight(&app).await);
    checks.extend(mail(&app).await);
    if let Some(m) = &matrix {
        checks.push(homeserver(m.homeserver.as_str()).await);
    }
    Ok(report(&checks, json))
}

fn report(checks: &[Check], json: bool) -> ExitCode {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(checks).unwrap_or_else(|e| e.to_string())
        );
    } else {
        for c in checks {
            let mark = match c.status {
                Status::Ok => "✓",
                Status::Warning => "!",
                Status::Problem => "✗",
            };
            println!("{mark} {}: {}", c.what, c.detail);
        }
    }
    if checks.iter().any(|c| c.status == Status::Problem) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn store(app: &App) -> Check {
    let what = format!("store ({})", app.config.store.location.describe());
    let meetings = app.store.list_meetings().await;
    let queued = app
        .store
        .list_outbox(&crate::store::OutboxFilter::default())
        .await;
    match (meetings, queued) {
        (Ok(m), Ok(q)) => Check::new(
            what,
            Status::Ok,
            format!(
                "opened and migrated; {} meetings, {} queued mails and notices",
                m.len(),
                q.len()
            ),
        ),
        (Err(e), _) | (_, Err(e)) => Check::new(what, Status::Problem, e.to_string()),
    }
}

/// One signed `getMeetings` per server, all at once: a wrong secret or URL shows here.
async fn servers(app: &App) -> Vec<Check> {
    let answer = app
        .service
        .execute(
            &Actor::admin("cli:doctor"),
            Operation::ShowRunningMeetings { server: None },
        )
        .await;
    match answer {
        Ok(Outcome::Running { servers }) if servers.is_empty() => vec![Check::new(
            "BBB servers",
            Status::Warning,
            "none configured; add one under `servers:` in bot-config.yml",
        )],
        Ok(Outcome::Running { servers }) => servers
            .into_iter()
            .map(|s| {
                let what = format!("BBB server {}", s.server);
                match (s.meetings, s.error) {
                    (Some(m), _) => Check::new(
                        what,
                        Status::Ok,
                        format!(
                            "answered a signed call in {} ms; {} meetings running",
                            s.elapsed_ms,
                            m.len()
                        ),
                    ),
                    (None, e) => Check::new(
                        what,
                        Status::Problem,
                        e.unwrap_or_else(|| "no answer".into()),
                    ),
                }
            })
            .collect(),
        Ok(_) => vec![Check::new(
            "BBB servers",
            Status::Problem,
            "the listing of running meetings gave an unexpected answer",
        )],
        Err(e) => vec![Check::new("BBB servers", Status::Problem, e.to_string())],
    }
}

/// Each Greenlight database a server uses: reachable, and a schema we can write.
async fn greenlight(app: &App) -> Vec<Check> {
    let Ok(servers) = app.store.list_servers().await else {
        return Vec::new();
    };
    let default = app.service.settings().default_greenlight.clone();
    let connector = app.service.greenlight_connector();
    let mut checks = Vec::new();
    for s in servers {
        let Some(settings) = s.greenlight.clone().or_else(|| default.clone()) else {
            continue;
        };
        let what = format!("Greenlight of {}", s.id);
        let opened = tokio::time::timeout(PROBE_TIMEOUT, connector.open(&settings)).await;
        checks.push(match opened {
            Ok(Ok(gl)) => Check::new(
                what,
                Status::Ok,
                format!("{:?} database reachable, schema checked", gl.version()),
            ),
            Ok(Err(e)) => Check::new(what, Status::Problem, e.to_string()),
            Err(_) => Check::new(
                what,
                Status::Problem,
                format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
            ),
        });
    }
    checks
}

/// Mail: off unless `send_emails` says so somewhere (the original sent every mail); a mail
/// that is on needs an SMTP host that accepts connections.
async fn mail(app: &App) -> Vec<Check> {
    let servers = app.store.list_servers().await.unwrap_or_default();
    let meetings = app.store.list_meetings().await.unwrap_or_default();
    let global = app.config.mail.send_emails;
    let anywhere = global
        || servers.iter().any(|s| s.send_emails == Some(true))
        || meetings.iter().any(|m| m.spec.send_emails == Some(true));
    let unset = servers.iter().all(|s| s.send_emails.is_none())
        && meetings.iter().all(|m| m.spec.send_emails.is_none());
    let mut checks = vec![mail_queue(app).await];
    if !anywhere {
        let detail = if unset {
            "no mail is sent: send_emails is set nowhere and is off by default. The original \
             scheduLight sent every mail regardless; set `mail.send_emails: true` in \
             bot-config.yml (or send_emails on servers / meetings) to keep sending."
        } else {
            "no mail is sent: send_emails is false wherever it is set"
        };
        checks.push(Check::new("mail", Status::Warning, detail));
        return checks;
    }
    let mut hosts: Vec<(String, String)> = servers
        .iter()
        .filter_map(|s| {
            s.mail_server
                .clone()
                .map(|h| (format!("SMTP of {}", s.id), h))
        })
        .collect();
    if let Some(h) = &app.config.mail.host {
        hosts.push((
            "SMTP (mail.host)".into(),
            format!("{h}:{}", app.config.mail.port),
        ));
    }
    if hosts.is_empty() {
        checks.push(Check::new(
            "mail",
            Status::Problem,
            "send_emails is on but no SMTP host is set (mail.host in bot-config.yml or \
             mailServer on a server)",
        ));
    }
    for (what, host) in hosts {
        let address = if host.contains(':') {
            host
        } else {
            format!("{host}:{}", app.config.mail.port)
        };
        let connected =
            tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(&address)).await;
        checks.push(match connected {
            Ok(Ok(_)) => Check::new(what, Status::Ok, format!("{address} accepts connections")),
            Ok(Err(e)) => Check::new(what, Status::Problem, format!("{address}: {e}")),
            Err(_) => Check::new(
                what,
                Status::Problem,
                format!("{address}: no answer within {} s", PROBE_TIMEOUT.as_secs()),
            ),
        });
    }
    checks
}

/// The mail queue: what waits, what failed, and whether the sender delivers at all.
async fn mail_queue(app: &App) -> Check {
    use crate::config::MailDelivery;
    use crate::domain::operation::MailFilter;
    let count = |state| async move {
        let filter = crate::store::OutboxFilter {
            state,
            channel: Some(crate::domain::Channel::Mail),
            meeting: None,
        };
        app.store.list_outbox(&filter).await.map(|l| l.len())
    };
    let (queued, failed) = match (
        count(MailFilter::Pending).await,
        count(MailFilter::Failed).await,
    ) {
        (Ok(q), Ok(f)) => (q, f),
        (Err(e), _) | (_, Err(e)) => {
            return Check::new("mail queue", Status::Problem, e.to_string());
        }
    };
    let summary = format!("{queued} queued, {failed} failed");
    match app.config.mail.delivery {
        MailDelivery::Off => Check::new(
            "mail queue",
            Status::Warning,
            format!("{summary}; mail.delivery is off: nothing is sent until it is switched on"),
        ),
        MailDelivery::Debug => Check::new(
            "mail queue",
            Status::Warning,
            format!("{summary}; mail.delivery is debug: mails are logged, not sent"),
        ),
        MailDelivery::Send if failed > 0 => Check::new(
            "mail queue",
            Status::Warning,
            format!("{summary}; see `schedulight mail list --state failed` for the SMTP replies"),
        ),
        MailDelivery::Send => Check::new("mail queue", Status::Ok, summary),
    }
}

async fn homeserver(url: &str) -> Check {
    let what = format!("Matrix homeserver {url}");
    let versions = format!("{}/_matrix/client/versions", url.trim_end_matches('/'));
    let client = match reqwest::Client::builder().timeout(PROBE_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => return Check::new(what, Status::Problem, e.to_string()),
    };
    match client.get(&versions).send().await {
        Ok(r) if r.status().is_success() => Check::new(what, Status::Ok, "answers"),
        Ok(r) => Check::new(what, Status::Problem, format!("HTTP {}", r.status())),
        Err(e) => Check::new(what, Status::Problem, e.to_string()),
    }
}

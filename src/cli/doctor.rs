//! `schedulight doctor`: is this installation ready? The configuration, the store, every BBB
//! server (a signed call, so a wrong secret shows), every Greenlight database (its schema), the
//! mail settings (with the warning that migrated users need: the original always sent mail, here
//! it is off until `send_emails` says otherwise) and each SMTP server (connect, EHLO, TLS, login),
//! and the Matrix session (`whoami` with the saved login, never a new one). Each check is one
//! line, with a hint when it fails. Read-only.

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
    /// What to do about a problem or warning.
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
}

impl Check {
    fn new(what: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            status,
            detail: detail.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        if self.status != Status::Ok {
            self.hint = Some(hint.into());
        }
        self
    }
}

pub(super) async fn doctor(config: AppConfig, json: bool) -> anyhow::Result<ExitCode> {
    let mut checks = vec![Check::new("configuration", Status::Ok, "loaded")];
    let matrix = config.matrix.clone();
    let app = match App::build(config).await {
        Ok(app) => app,
        Err(e) => {
            checks.push(
                Check::new("store", Status::Problem, format!("{e:#}"))
                    .hint("check store.location in bot-config.yml and that the database is up"),
            );
            return Ok(report(&checks, json));
        }
    };
    checks.push(store(&app).await);
    checks.extend(servers(&app).await);
    checks.extend(greenlight(&app).await);
    checks.extend(mail(&app).await);
    if let Some(m) = &matrix {
        let home = homeserver(m.homeserver.as_str()).await;
        let up = home.status == Status::Ok;
        checks.push(home);
        if up {
            checks.push(matrix_session(m).await);
        }
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
            match &c.hint {
                Some(h) => println!("{mark} {}: {} — {h}", c.what, c.detail),
                None => println!("{mark} {}: {}", c.what, c.detail),
            }
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
        (Err(e), _) | (_, Err(e)) => Check::new(what, Status::Problem, e.to_string())
            .hint("check store.location in bot-config.yml and that the database is up"),
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
                    (None, e) => {
                        let e = e.unwrap_or_else(|| "no answer".into());
                        let hint = if e.contains("checksum") {
                            "the shared secret does not match: set BBB_SECRET to the output of \
                             `bbb-conf --secret` on that server, and checksumAlgorithm to what it \
                             accepts"
                        } else {
                            "check BBB_URL (…/bigbluebutton/api) and that the server is up and \
                             reachable from here"
                        };
                        // The client's messages often say what to check already; a wrong
                        // secret gets the fuller hint anyway.
                        let said = e.contains("check ") && !e.contains("checksum");
                        let check = Check::new(what, Status::Problem, e);
                        if said { check } else { check.hint(hint) }
                    }
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
        let hint = "check database_url (postgres://user:password@host:5432/greenlight) and that \
                    PostgreSQL accepts connections from this host";
        let checked = match opened {
            Ok(Ok(gl)) => Ok(Ok((gl.version(), gl.check_schema().await))),
            Ok(Err(e)) => Ok(Err(e)),
            Err(e) => Err(e),
        };
        checks.push(match checked {
            Ok(Ok((version, Ok(report)))) => {
                let v = match version {
                    crate::greenlight::GreenlightVersion::V2 => "2",
                    crate::greenlight::GreenlightVersion::V3 => "3",
                };
                let migration = report
                    .schema_version
                    .map(|m| format!(" (schema migration {m})"))
                    .unwrap_or_default();
                let status = if report.warnings.is_empty() {
                    Status::Ok
                } else {
                    Status::Warning
                };
                let mut detail =
                    format!("Greenlight {v} database{migration}: the tables and columns schedulight writes are there");
                for w in &report.warnings {
                    detail.push_str(&format!("; {w}"));
                }
                Check::new(what, status, detail)
                    .hint("a newer Greenlight than the one schedulight was tested with; check the release notes")
            }
            Ok(Ok((_, Err(e)))) => Check::new(what, Status::Problem, e.to_string())
                .hint("point database_url at Greenlight's own database, migrated by Greenlight"),
            Ok(Err(e)) => Check::new(what, Status::Problem, e.to_string()).hint(hint),
            Err(_) => Check::new(
                what,
                Status::Problem,
                format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
            )
            .hint(hint),
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
    let mut targets = Vec::new();
    for server in servers.iter().filter(|s| s.mail_server.is_some()) {
        targets.push((
            format!("SMTP of {}", server.id),
            crate::mail::smtp::target(&app.config.mail, Some(server)),
        ));
    }
    if app.config.mail.host.is_some() {
        targets.push((
            "SMTP (mail.host)".into(),
            crate::mail::smtp::target(&app.config.mail, None),
        ));
    }
    if targets.is_empty() {
        checks.push(
            Check::new(
                "mail",
                Status::Problem,
                "send_emails is on but no SMTP host is set",
            )
            .hint("set mail.host in bot-config.yml, or mailServer on a server"),
        );
    }
    let pool = match crate::mail::smtp::SmtpPool::new(&app.config.mail) {
        Ok(p) => p,
        Err(e) => {
            checks.push(Check::new("mail", Status::Problem, e).hint("fix mail.ca_file"));
            return checks;
        }
    };
    for (what, target) in targets {
        let target = match target {
            Ok(t) => t,
            Err(e) => {
                checks.push(Check::new(what, Status::Problem, e.to_string()));
                continue;
            }
        };
        let probed = tokio::time::timeout(PROBE_TIMEOUT, pool.probe(&target)).await;
        let login = if target.user.is_some() {
            ", logged in"
        } else {
            ""
        };
        checks.push(match probed {
            Ok(Ok(())) => Check::new(
                what,
                Status::Ok,
                format!("{} greeted (EHLO){login}", target.describe()),
            ),
            Ok(Err(e)) => {
                let e = e.to_string();
                let hint = if e.contains("authentication") || e.contains("535") {
                    "the server refused the login: check mail.user / mail.password (mailUser / \
                     mailPassword on the server)"
                } else {
                    "check the host, port and tls mode (starttls on 587, tls on 465) and that the \
                     server accepts connections from this host"
                };
                Check::new(what, Status::Problem, e).hint(hint)
            }
            Err(_) => Check::new(
                what,
                Status::Problem,
                format!(
                    "{}: no answer within {} s",
                    target.describe(),
                    PROBE_TIMEOUT.as_secs()
                ),
            )
            .hint("check the host and port, and that no firewall drops the connection"),
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
    let hint = "check matrix.homeserver (the client API base, e.g. https://matrix.uni.example) \
                and that it is reachable from here";
    match client.get(&versions).send().await {
        Ok(r) if r.status().is_success() => Check::new(what, Status::Ok, "answers"),
        Ok(r) => Check::new(what, Status::Problem, format!("HTTP {}", r.status())).hint(hint),
        Err(e) => Check::new(what, Status::Problem, e.to_string()).hint(hint),
    }
}

/// `whoami` with the session the bot saved (never a new login, which would make a device).
async fn matrix_session(m: &crate::config::MatrixConfig) -> Check {
    let what = format!("Matrix session of {}", m.user_id);
    let file = m.store_dir.join(crate::bot::matrix::SESSION_FILE);
    let session = match crate::bot::matrix::read_session(&file) {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Check::new(
                what,
                Status::Warning,
                format!("no saved session in {}", m.store_dir.display()),
            )
            .hint("`schedulight run` logs in once and keeps the session there");
        }
        Err(e) => {
            return Check::new(what, Status::Problem, e.to_string())
                .hint("check that store_dir is readable by the service user");
        }
    };
    let url = format!(
        "{}/_matrix/client/v3/account/whoami",
        m.homeserver.as_str().trim_end_matches('/')
    );
    let client = match reqwest::Client::builder().timeout(PROBE_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => return Check::new(what, Status::Problem, e.to_string()),
    };
    let answer = client
        .get(&url)
        .bearer_auth(&session.tokens.access_token)
        .send()
        .await;
    match answer {
        Ok(r) if r.status().is_success() => {
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            let user = body["user_id"].as_str().unwrap_or_default();
            let device = body["device_id"].as_str().unwrap_or_default();
            if user == m.user_id {
                Check::new(
                    what,
                    Status::Ok,
                    format!("the saved session is valid (device {device})"),
                )
            } else {
                Check::new(
                    what,
                    Status::Problem,
                    format!("the saved session belongs to {user}, not {}", m.user_id),
                )
                .hint(format!(
                    "matrix.user_id changed: give this account its own store_dir, or remove {}",
                    file.display()
                ))
            }
        }
        Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => Check::new(
            what,
            Status::Problem,
            "the homeserver no longer accepts the saved session (logged out or token revoked)",
        )
        .hint(format!(
            "remove {} so that `schedulight run` logs in again (the recovery passphrase keeps the \
             bot's identity)",
            file.display()
        )),
        Ok(r) => Check::new(
            what,
            Status::Problem,
            format!("whoami: HTTP {}", r.status()),
        )
        .hint("check the homeserver's health"),
        Err(e) => Check::new(what, Status::Problem, e.to_string())
            .hint("check that the homeserver is reachable from here"),
    }
}

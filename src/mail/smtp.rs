//! SMTP delivery with lettre: a [`RenderedMail`] becomes a MIME message (text and HTML as
//! alternatives, an iCalendar part inline and as `invite.ics`), and goes out over STARTTLS,
//! implicit TLS (465) or — only to a relay on this machine — plain SMTP, with optional login,
//! timeouts and pooled connections per server.
//!
//! Which server: a BBB server's `mailServer` (`host` or `host:port`, the original's key; its
//! `mailUser` / `mailPassword`) wins over `mail.host` in bot-config.yml. bot-config's login is
//! only ever sent to bot-config's host.

use super::RenderedMail;
use crate::config::{MailConfig, TlsMode};
use crate::domain::{Secret, ServerSpec};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Message, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransport, PoolConfig};
use lettre::{AsyncTransport, Tokio1Executor};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Why a mail was not handed over. Messages never hold credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth another try later: the server is unreachable, timed out or answered 4xx.
    #[error("{0}")]
    Transient(String),
    /// Will not work unchanged: the server answered 5xx, or the settings forbid it.
    #[error("{0}")]
    Permanent(String),
}

/// `localhost`, 127.0.0.0/8 and ::1: the only places plain SMTP may go.
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Where one mail goes and how.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpTarget {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub user: Option<String>,
    password: Option<Secret>,
}

impl std::fmt::Debug for SmtpTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl SmtpTarget {
    /// `host:port (starttls)` for logs and errors.
    pub fn describe(&self) -> String {
        let tls = match self.tls {
            TlsMode::Starttls => "starttls",
            TlsMode::Tls => "tls",
            TlsMode::None => "plain",
        };
        format!("{}:{} ({tls})", self.host, self.port)
    }

    /// Pool key: the same server, mode and login share connections.
    fn key(&self) -> String {
        use sha2::{Digest, Sha256};
        let pw = self
            .password
            .as_ref()
            .map(|p| Sha256::digest(p.expose().as_bytes()))
            .map(|d| {
                d.iter()
                    .take(8)
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            })
            .unwrap_or_default();
        format!(
            "{}|{}|{:?}|{}|{pw}",
            self.host,
            self.port,
            self.tls,
            self.user.as_deref().unwrap_or("")
        )
    }
}

/// The SMTP server for a mail about `server` (None: a mail without a BBB server).
pub fn target(mail: &MailConfig, server: Option<&ServerSpec>) -> Result<SmtpTarget, SendError> {
    if let Some(s) = server
        && let Some(spec) = s.mail_server.as_deref().map(str::trim)
        && !spec.is_empty()
    {
        let (host, port) = split_host_port(spec).ok_or_else(|| {
            SendError::Permanent(format!(
                "mailServer {spec:?} on server '{}' is not host or host:port",
                s.id
            ))
        })?;
        // The original: port 25 unless given, always STARTTLS. 465 is implicit TLS.
        let port = port.unwrap_or(25);
        let tls = match (port, mail.tls) {
            (465, _) => TlsMode::Tls,
            (_, TlsMode::None) if is_loopback(&host) => TlsMode::None,
            _ => TlsMode::Starttls,
        };
        let same_host = mail.host.as_deref().is_some_and(|h| h == host);
        let (user, password) = match (&s.mail_user, &s.mail_password) {
            (Some(u), Some(p)) => (Some(u.clone()), Some(p.clone())),
            _ if same_host => (mail.user.clone(), mail.password.clone()),
            _ => (None, None),
        };
        return Ok(SmtpTarget {
            host,
            port,
            tls,
            user,
            password,
        });
    }
    let host = mail.host.clone().filter(|h| !h.is_empty()).ok_or_else(|| {
        let on = server
            .map(|s| format!(" or mailServer on server '{}'", s.id))
            .unwrap_or_default();
        SendError::Transient(format!(
            "no SMTP server: set mail.host in bot-config.yml{on}"
        ))
    })?;
    if mail.tls == TlsMode::None && !is_loopback(&host) {
        return Err(SendError::Permanent(format!(
            "plain SMTP to {host} refused: use tls: starttls or tls (plain is only for localhost)"
        )));
    }
    Ok(SmtpTarget {
        host,
        port: mail.port,
        tls: mail.tls,
        user: mail.user.clone(),
        password: mail.password.clone(),
    })
}

fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    let s = s
        .trim_start_matches("smtp://")
        .trim_start_matches("smtps://");
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            Some((host.to_string(), Some(port.parse().ok()?)))
        }
        Some(_) => Some((s.to_string(), None)),
        None if !s.is_empty() && !s.contains(['/', ' ']) => Some((s.to_string(), None)),
        None => None,
    }
}

/// The MIME message of a rendered mail. `date` is the Date header.
///
/// Structure: `multipart/alternative` (text, HTML, `text/calendar; method=…`), wrapped in
/// `multipart/mixed` with the same calendar as an `invite.ics` attachment when there is one —
/// the shape calendar clients recognise as an invitation.
pub fn message(mail: &RenderedMail, date: SystemTime) -> Result<Message, SendError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        SendError::Permanent(format!("cannot build the message ({what}): {e}"))
    };
    let mailbox = |m: &super::Mailbox| -> Result<lettre::message::Mailbox, SendError> {
        let address = m.email.as_str().parse().map_err(|e| bad("address", &e))?;
        Ok(lettre::message::Mailbox::new(m.name.clone(), address))
    };
    let builder = Message::builder()
        .from(mailbox(&mail.from)?)
        .to(mailbox(&mail.to)?)
        .subject(mail.subject.clone())
        .date(date)
        .message_id(Some(mail.message_id.clone()))
        .user_agent(concat!("schedulight/", env!("CARGO_PKG_VERSION")).to_string())
        // RFC 3834: vacation responders must not answer.
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_string(),
        ));
    let text = SinglePart::plain(mail.text.clone());
    let mut alternative = match &mail.html {
        Some(html) => MultiPart::alternative()
            .singlepart(text)
            .singlepart(SinglePart::html(html.clone())),
        None if mail.calendar.is_some() => MultiPart::alternative().singlepart(text),
        None => return builder.singlepart(text).map_err(|e| bad("body", &e)),
    };
    let Some(calendar) = &mail.calendar else {
        return builder.multipart(alternative).map_err(|e| bad("body", &e));
    };
    let inline = ContentType::parse(&format!(
        "text/calendar; charset=utf-8; method={}",
        calendar.method.as_str()
    ))
    .map_err(|e| bad("calendar type", &e))?;
    alternative = alternative.singlepart(
        SinglePart::builder()
            .content_type(inline)
            .body(calendar.ics.clone()),
    );
    let file = ContentType::parse("application/ics; name=\"invite.ics\"")
        .map_err(|e| bad("attachment type", &e))?;
    let mixed = MultiPart::mixed()
        .multipart(alternative)
        .singlepart(Attachment::new("invite.ics".to_string()).body(calendar.ics.clone(), file));
    builder.multipart(mixed).map_err(|e| bad("body", &e))
}

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// Pooled SMTP connections, one pool per server, mode and login.
pub struct SmtpPool {
    timeout: Duration,
    roots: Vec<Certificate>,
    transports: Mutex<HashMap<String, Transport>>,
}

impl SmtpPool {
    /// Reads `mail.ca_file` (extra root certificates) if set.
    pub fn new(mail: &MailConfig) -> Result<Self, String> {
        let mut roots = Vec::new();
        if let Some(path) = &mail.ca_file {
            let pem =
                std::fs::read(path).map_err(|e| format!("mail.ca_file {}: {e}", path.display()))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| format!("mail.ca_file {}: {e}", path.display()))?;
            roots.push(cert);
        }
        Ok(Self {
            timeout: mail.timeout,
            roots,
            transports: Mutex::new(HashMap::new()),
        })
    }

    fn transport(&self, target: &SmtpTarget) -> Result<Transport, SendError> {
        let key = target.key();
        let mut cache = self.transports.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = cache.get(&key) {
            return Ok(t.clone());
        }
        let tls_params = || {
            let mut b = TlsParameters::builder(target.host.clone());
            for root in &self.roots {
                b = b.add_root_certificate(root.clone());
            }
            b.build_rustls()
                .map_err(|e| SendError::Permanent(format!("TLS settings: {e}")))
        };
        let tls = match target.tls {
            TlsMode::Starttls => Tls::Required(tls_params()?),
            TlsMode::Tls => Tls::Wrapper(tls_params()?),
            TlsMode::None if is_loopback(&target.host) => Tls::None,
            TlsMode::None => {
                return Err(SendError::Permanent(format!(
                    "plain SMTP to {} refused: only a relay on this machine may be plain",
                    target.host
                )));
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&target.host)
            .port(target.port)
            .tls(tls)
            .timeout(Some(self.timeout))
            .pool_config(
                PoolConfig::new()
                    .max_size(4)
                    .idle_timeout(Duration::from_secs(60)),
            );
        if let (Some(user), Some(password)) = (&target.user, &target.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        let transport = builder.build();
        cache.insert(key, transport.clone());
        Ok(transport)
    }

    /// Connect, greet (EHLO), secure and log in as a send would, then quit: whether mail to
    /// `target` would get through. Nothing is sent.
    pub async fn probe(&self, target: &SmtpTarget) -> Result<(), SendError> {
        let transport = self.transport(target)?;
        match transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(SendError::Transient(format!(
                "SMTP {}: the server did not answer NOOP",
                target.describe()
            ))),
            Err(e) => Err(classify(target, &e)),
        }
    }

    /// Hand one message to the server; returns its reply (`250 …`).
    pub async fn send(&self, target: &SmtpTarget, message: &Message) -> Result<String, SendError> {
        let transport = self.transport(target)?;
        match transport.send(message.clone()).await {
            Ok(response) => Ok(reply_text(response.code(), response.message())),
            Err(e) => Err(classify(target, &e)),
        }
    }
}

fn reply_text<'a>(code: impl std::fmt::Display, lines: impl Iterator<Item = &'a str>) -> String {
    let text = lines.collect::<Vec<_>>().join(" ");
    format!("{code} {text}").trim().to_string()
}

/// 5xx replies are final; connection trouble, timeouts, TLS and 4xx are retried.
fn classify(target: &SmtpTarget, e: &lettre::transport::smtp::Error) -> SendError {
    let at = target.describe();
    let message = format!("SMTP {at}: {e}");
    if e.is_permanent() {
        SendError::Permanent(message)
    } else {
        SendError::Transient(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "127.0.0.1",
            "127.8.9.1",
            "::1",
            "[::1]",
            "LOCALHOST",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["smtp.uni.example", "10.0.0.1", "localhost.evil.example", ""] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn host_and_port() {
        assert_eq!(
            split_host_port("smtp.uni.example"),
            Some(("smtp.uni.example".into(), None))
        );
        assert_eq!(
            split_host_port("smtp.uni.example:465"),
            Some(("smtp.uni.example".into(), Some(465)))
        );
        assert_eq!(
            split_host_port("[::1]:2525"),
            Some(("::1".into(), Some(2525)))
        );
        assert_eq!(split_host_port("smtp:x"), None);
        assert_eq!(split_host_port("a b"), None);
    }

    fn server(mail_server: &str) -> ServerSpec {
        let mut s = ServerSpec::new(
            "bbb1".parse().unwrap(),
            "https://bbb.uni.example/bigbluebutton/api".parse().unwrap(),
            Secret::new("s"),
        );
        s.mail_server = Some(mail_server.into());
        s
    }

    #[test]
    fn server_settings_win_and_keep_logins_apart() {
        let mut mail = MailConfig {
            host: Some("relay.uni.example".into()),
            user: Some("bot".into()),
            password: Some(Secret::new("global")),
            ..MailConfig::default()
        };
        let t = target(&mail, None).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.tls),
            ("relay.uni.example", 587, TlsMode::Starttls)
        );
        assert_eq!(t.user.as_deref(), Some("bot"));

        // Another host on the server: the original's port 25 + STARTTLS, and never bot-config's
        // login.
        let t = target(&mail, Some(&server("smtp.faculty.example"))).unwrap();
        assert_eq!(
            (t.port, t.tls, t.user.clone()),
            (25, TlsMode::Starttls, None)
        );
        let t = target(&mail, Some(&server("smtp.faculty.example:465"))).unwrap();
        assert_eq!(t.tls, TlsMode::Tls);
        // The same host as bot-config: its login applies.
        let t = target(&mail, Some(&server("relay.uni.example:587"))).unwrap();
        assert_eq!(t.user.as_deref(), Some("bot"));
        // The server's own login wins.
        let mut s = server("smtp.faculty.example");
        s.mail_user = Some("faculty".into());
        s.mail_password = Some(Secret::new("pw"));
        assert_eq!(
            target(&mail, Some(&s)).unwrap().user.as_deref(),
            Some("faculty")
        );

        // Plain only to loopback.
        mail.tls = TlsMode::None;
        assert!(matches!(target(&mail, None), Err(SendError::Permanent(_))));
        let t = target(&mail, Some(&server("127.0.0.1:2525"))).unwrap();
        assert_eq!(t.tls, TlsMode::None);
        let t = target(&mail, Some(&server("smtp.faculty.example:2525"))).unwrap();
        assert_eq!(t.tls, TlsMode::Starttls);
        mail.host = None;
        assert!(matches!(target(&mail, None), Err(SendError::Transient(_))));
    }

    #[test]
    fn debug_output_hides_the_password() {
        let mail = MailConfig {
            host: Some("relay.uni.example".into()),
            user: Some("bot".into()),
            password: Some(Secret::new("hunter2")),
            ..MailConfig::default()
        };
        let shown = format!("{:?}", target(&mail, None).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}

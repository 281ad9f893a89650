//! The mail sender: claims due mail requests from the outbox, renders each from the meeting's
//! current state, hands it to SMTP and records the outcome — the server's reply when sent, the
//! error and the next try (exponential back-off) when not, dead-lettered (state failed) after
//! `mail.max_attempts` tries or at once when the failure is final (a 5xx reply, a template
//! that does not render).
//!
//! **Delivery guarantee: at least once.** A claim carries a lease. A sender that dies after
//! the SMTP server accepted a message and before the store recorded it leaves the request
//! claimed; when the lease has passed, a sender claims it again and sends it once more. The
//! Message-ID is derived from the request's unique key, so that second copy is the same
//! message to every mail client and duplicate filter. Nothing is lost; a duplicate is possible
//! only in that window.
//!
//! `mail.delivery: debug` (or a server's `mailDebug: true`) renders and logs instead of
//! sending, with join links redacted; `mail.delivery: off` leaves everything queued.

use super::RenderedMail;
use super::render::{self, RenderError};
use super::smtp::{self, SendError, SmtpPool};
use crate::config::{MailConfig, MailDelivery};
use crate::domain::{Channel, ServerSpec};
use crate::service::Service;
use crate::store::{OutboxEntry, StoreError};
use async_trait::async_trait;
use jiff::SignedDuration;
use std::sync::Arc;
use std::time::Duration;

/// Where rendered mail goes: SMTP, or a recorder in tests.
#[async_trait]
pub trait MailTransport: Send + Sync {
    /// Hand over one mail about `server`; returns the receiving server's reply.
    async fn send(
        &self,
        server: Option<&ServerSpec>,
        mail: &RenderedMail,
    ) -> Result<String, SendError>;
}

/// SMTP through lettre, the settings resolved per mail ([`smtp::target`]).
pub struct Smtp {
    config: MailConfig,
    pool: SmtpPool,
    clock: Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>,
}

impl Smtp {
    pub fn new(config: &MailConfig, service: &Service) -> Result<Self, String> {
        let svc = service.clone();
        Ok(Self {
            config: config.clone(),
            pool: SmtpPool::new(config)?,
            clock: Arc::new(move || svc.now()),
        })
    }
}

#[async_trait]
impl MailTransport for Smtp {
    async fn send(
        &self,
        server: Option<&ServerSpec>,
        mail: &RenderedMail,
    ) -> Result<String, SendError> {
        let target = smtp::target(&self.config, server)?;
        let message = smtp::message(mail, (self.clock)().into())?;
        self.pool.send(&target, &message).await
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Accepted by the SMTP server.
    pub sent: usize,
    /// Rendered and logged instead of sent (debug mode).
    pub logged: usize,
    /// Failed this time, to be tried again.
    pub retrying: usize,
    /// Given up (dead-lettered).
    pub failed: usize,
    /// The earliest next try of a mail that failed this time.
    pub next_try: Option<jiff::Timestamp>,
}

impl Delivered {
    pub fn handled(&self) -> usize {
        self.sent + self.logged + self.retrying + self.failed
    }
}

/// How many requests one pass claims.
const BATCH: u32 = 16;
/// The longest the sender sleeps: mail queued by another process (a second instance, the CLI)
/// or with a later `not_before` waits at most this long. Mail queued here wakes it at once.
pub const POLL: Duration = Duration::from_secs(60);

pub struct MailSender {
    service: Service,
    config: MailConfig,
    transport: Arc<dyn MailTransport>,
}

impl MailSender {
    /// The sender over SMTP.
    pub fn new(service: Service, config: MailConfig) -> Result<Self, String> {
        let transport = Arc::new(Smtp::new(&config, &service)?);
        Ok(Self::with_transport(service, config, transport))
    }

    pub fn with_transport(
        service: Service,
        config: MailConfig,
        transport: Arc<dyn MailTransport>,
    ) -> Self {
        Self {
            service,
            config,
            transport,
        }
    }

    /// How long a claim is ours: longer than a slow SMTP conversation (connect, TLS, login,
    /// data, each with the timeout) could take, so a live sender never loses its claim.
    pub fn lease(&self) -> SignedDuration {
        let t = self.config.timeout.as_secs().max(1) as i64;
        SignedDuration::from_secs(t * 3 + 30)
    }

    /// Deliver what is due now, batch by batch, until nothing is due.
    pub async fn deliver_due(&self) -> Result<Delivered, StoreError> {
        let mut total = Delivered::default();
        loop {
            let pass = self.deliver_batch().await?;
            total.sent += pass.sent;
            total.logged += pass.logged;
            total.retrying += pass.retrying;
            total.failed += pass.failed;
            total.next_try = match (total.next_try, pass.next_try) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if pass.handled() < BATCH as usize {
                return Ok(total);
            }
        }
    }

    async fn deliver_batch(&self) -> Result<Delivered, StoreError> {
        let mut done = Delivered::default();
        if self.config.delivery == MailDelivery::Off {
            return Ok(done);
        }
        let now = self.service.now();
        let store = self.service.store();
        let claimed = store
            .claim_outbox(Channel::Mail, now, now + self.lease(), BATCH)
            .await?;
        for entry in claimed {
            match self.deliver_one(&entry).await {
                Ok(Outcome::Sent(reply)) => {
                    store
                        .mark_outbox_sent(entry.id, self.service.now(), Some(&reply))
                        .await?;
                    tracing::info!(id = entry.id, kind = entry.request.kind.as_str(), %reply, "mail sent");
                    done.sent += 1;
                }
                Ok(Outcome::Logged) => {
                    store
                        .mark_outbox_sent(
                            entry.id,
                            self.service.now(),
                            Some("debug mode: rendered and logged, not sent"),
                        )
                        .await?;
                    done.logged += 1;
                }
                Err(Failure { error, permanent }) => {
                    let retry = (!permanent && entry.attempts < self.config.max_attempts)
                        .then(|| self.service.now() + backoff(entry.attempts));
                    tracing::warn!(
                        id = entry.id,
                        kind = entry.request.kind.as_str(),
                        attempt = entry.attempts,
                        error = %error,
                        retry_at = ?retry,
                        "mail not sent"
                    );
                    store.mark_outbox_failed(entry.id, &error, retry).await?;
                    if let Some(at) = retry {
                        done.next_try = Some(done.next_try.map_or(at, |t| t.min(at)));
                        done.retrying += 1;
                    } else {
                        done.failed += 1;
                    }
                }
            }
        }
        Ok(done)
    }

    async fn deliver_one(&self, entry: &OutboxEntry) -> Result<Outcome, Failure> {
        match self.service.mail_still_wanted(&entry.request).await {
            Ok(()) => {}
            Err(crate::domain::OpError::Invalid(why)) => {
                return Err(Failure {
                    error: format!("not sent: {why} (changed after it was queued)"),
                    permanent: true,
                });
            }
            Err(e) => {
                return Err(Failure {
                    error: e.to_string(),
                    permanent: false,
                });
            }
        }
        let mail = render::render_entry(&self.service, &self.config, entry)
            .await
            .map_err(Failure::render)?;
        let server = match &mail.server {
            Some(id) => self
                .service
                .store()
                .get_server(id)
                .await
                .map_err(|e| Failure {
                    error: crate::service::internal_error(e).to_string(),
                    permanent: false,
                })?,
            None => None,
        };
        let debug = self.config.delivery == MailDelivery::Debug
            || server.as_ref().and_then(|s| s.mail_debug) == Some(true);
        if debug {
            log_instead_of_sending(entry, &mail);
            return Ok(Outcome::Logged);
        }
        self.transport
            .send(server.as_ref(), &mail)
            .await
            .map(Outcome::Sent)
            .map_err(|e| Failure {
                permanent: matches!(e, SendError::Permanent(_)),
                error: e.to_string(),
            })
    }

    /// Deliver until `shutdown` resolves: after each pass it sleeps until a mail is queued in
    /// this process, a failed mail's next try is due, or [`POLL`] has passed. With delivery
    /// off it only says how much waits.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        if self.config.delivery == MailDelivery::Off {
            let waiting = self
                .service
                .store()
                .list_outbox(&crate::store::OutboxFilter {
                    state: crate::domain::operation::MailFilter::Pending,
                    channel: Some(Channel::Mail),
                    meeting: None,
                })
                .await
                .map(|l| l.len())
                .unwrap_or(0);
            tracing::warn!(
                waiting,
                "mail delivery is off (mail.delivery: off): mail stays queued until it is switched on"
            );
            shutdown.await;
            return;
        }
        let wake = self.service.mail_wake();
        loop {
            let wait = match self.deliver_due().await {
                Ok(done) => done
                    .next_try
                    .and_then(|at| {
                        let left = self.service.now().duration_until(at);
                        Duration::try_from(left).ok()
                    })
                    .map_or(POLL, |d| d.clamp(Duration::from_millis(100), POLL)),
                Err(e) => {
                    tracing::error!(error = %crate::service::internal_error(e), "mail sender: store unavailable; retrying");
                    Duration::from_secs(5)
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = wake.notified() => {}
                () = &mut shutdown => return,
            }
        }
    }
}

enum Outcome {
    Sent(String),
    Logged,
}

struct Failure {
    error: String,
    permanent: bool,
}

impl Failure {
    fn render(e: RenderError) -> Self {
        Self {
            permanent: e.is_permanent(),
            error: e.to_string(),
        }
    }
}

/// 1 min, 2 min, 4 min … capped at 2 h: eight tries span about four hours.
pub fn backoff(attempts: u32) -> SignedDuration {
    let secs = 60u64.saturating_mul(1 << attempts.saturating_sub(1).min(7));
    SignedDuration::from_secs(secs.min(7200) as i64)
}

fn log_instead_of_sending(entry: &OutboxEntry, mail: &RenderedMail) {
    tracing::info!(
        id = entry.id,
        kind = entry.request.kind.as_str(),
        from = %mail.from.email,
        to = %mail.to.email,
        subject = %mail.subject,
        message_id = %mail.message_id,
        calendar = mail.calendar.as_ref().map(|c| c.method.as_str()),
        text = %redact_join_links(&mail.text),
        "mail debug mode: rendered, not sent"
    );
}

/// Replace the query of every BBB join URL (it carries the checksum that lets anyone in, as
/// moderator for a moderator link) with `[redacted]`.
pub fn redact_join_links(text: &str) -> String {
    const MARK: &str = "/api/join?";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(MARK) {
        let (head, tail) = rest.split_at(i + MARK.len());
        out.push_str(head);
        out.push_str("[redacted]");
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ')'))
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_links_are_redacted() {
        let text = "Join: https://bbb.uni.example/bigbluebutton/api/join?fullName=Ann&meetingID=x&password=mp&checksum=abc\nor <a href=\"https://b/bigbluebutton/api/join?x=1\">here</a>";
        let r = redact_join_links(text);
        assert!(!r.contains("checksum"), "{r}");
        assert!(!r.contains("password=mp"), "{r}");
        assert!(r.contains("/api/join?[redacted]\nor"), "{r}");
        assert!(r.contains("join?[redacted]\">here"), "{r}");
        assert_eq!(redact_join_links("no links"), "no links");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let mins: Vec<i64> = (1..=10).map(|a| backoff(a).as_secs() / 60).collect();
        assert_eq!(mins, [1, 2, 4, 8, 16, 32, 64, 120, 120, 120]);
    }
}

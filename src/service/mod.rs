//! The one place that executes operations: `Service::execute(actor, op)` checks the actor's
//! permission, runs the operation against the adapters, and writes the audit log.

mod greenlight;
mod live;
mod meetings;
pub(crate) mod notify;
mod params;
mod recordings;
mod retention;
pub mod schedule;
mod servers;
mod setup;
mod stream;
mod tokens;

use crate::bbb::{Bbb, BbbConnector, BbbError};
use crate::clock::Clock;
use crate::domain::{Actor, OpError, Operation, Outcome, ServerId, ServerSpec};
use crate::greenlight::GreenlightConnector;
use crate::store::{AuditEntry, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

pub use params::create_params;

/// Settings the service needs from the app config.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// Zone for meeting start times that name none.
    pub default_time_zone: jiff::tz::TimeZone,
    /// Extra time allowed for a fan-out over all servers beyond each server's own timeout.
    pub fan_out_grace: Duration,
    /// The Greenlight of servers that name none.
    pub default_greenlight: Option<crate::greenlight::GreenlightSettings>,
    /// Public URL of this daemon, for BBB callbacks; without it, Greenlight rooms get
    /// Greenlight's own callback URLs.
    pub callback_base: Option<String>,
    /// preOpen/preStart/reminder/endAfter minutes for meetings that set none.
    pub plan_defaults: crate::scheduler::PlanDefaults,
    /// How live streams are launched.
    pub streaming: crate::streaming::StreamingConfig,
    /// `send_emails` for meetings whose recipient, meeting and server leave it unset
    /// (bot-config.yml `mail.send_emails`; off by default).
    pub send_emails: bool,
    /// Retention rules for recordings and our own records (bot-config.yml `retention:`).
    pub retention: crate::domain::retention::RetentionSettings,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            default_time_zone: jiff::tz::TimeZone::system(),
            fan_out_grace: Duration::from_millis(50),
            default_greenlight: None,
            callback_base: None,
            plan_defaults: crate::scheduler::PlanDefaults::default(),
            streaming: crate::streaming::StreamingConfig::default(),
            send_emails: false,
            retention: Default::default(),
        }
    }
}

/// Executes operations. Cheap to clone; every front end holds one.
#[derive(Clone)]
pub struct Service {
    store: Arc<dyn Store>,
    bbb: Arc<dyn BbbConnector>,
    clock: Arc<dyn Clock>,
    greenlight: Arc<dyn GreenlightConnector>,
    settings: ServiceSettings,
    /// Wakes the scheduler loop when jobs change.
    wake: Arc<tokio::sync::Notify>,
    /// Wakes the mail sender when a mail is queued.
    mail_wake: Arc<tokio::sync::Notify>,
}

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        bbb: Arc<dyn BbbConnector>,
        clock: Arc<dyn Clock>,
        settings: ServiceSettings,
    ) -> Self {
        let greenlight = Arc::new(crate::greenlight::connector::PgConnector::new());
        Self {
            store,
            bbb,
            clock,
            greenlight,
            settings,
            wake: Arc::new(tokio::sync::Notify::new()),
            mail_wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Use another way to reach Greenlight databases (tests).
    pub fn with_greenlight(mut self, connector: Arc<dyn GreenlightConnector>) -> Self {
        self.greenlight = connector;
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn settings(&self) -> &ServiceSettings {
        &self.settings
    }

    /// Notified whenever planned jobs change; the scheduler loop waits on it.
    pub fn wake(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    /// Notified whenever this process queues a mail; the mail sender waits on it.
    pub fn mail_wake(&self) -> Arc<tokio::sync::Notify> {
        self.mail_wake.clone()
    }

    pub fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }

    pub fn greenlight_connector(&self) -> Arc<dyn GreenlightConnector> {
        self.greenlight.clone()
    }

    /// Run one operation on behalf of `actor`.
    pub async fn execute(&self, actor: &Actor, op: Operation) -> Result<Outcome, OpError> {
        let scope = op.scope();
        if !actor.may(scope) {
            let err = OpError::Forbidden {
                op: op.name().replace('_', " "),
                scope: scope.as_str().to_string(),
            };
            self.audit(actor, &op, Err(&err)).await;
            return Err(err);
        }
        let result = self.dispatch(actor, &op).await;
        if is_change(&op) || result.is_err() {
            self.audit(actor, &op, result.as_ref().map(|_| ())).await;
        }
        result
    }

    async fn dispatch(&self, actor: &Actor, op: &Operation) -> Result<Outcome, OpError> {
        use Operation::*;
        match op {
            AddServer { server } => self.add_server(server).await,
            UpdateServer { server } => self.update_server(server).await,
            RemoveServer { id } => self.remove_server(id).await,
            ListServers => self.list_servers().await,
            ScheduleMeeting { meeting } => self.schedule_meeting(meeting).await,
            UpdateMeeting { meeting } => self.update_meeting(meeting).await,
            CancelMeeting { id } => self.cancel_meeting(id).await,
            DisableMeeting { id } => self.disable_meeting(id).await,
            EnableMeeting { id } => self.enable_meeting(id).await,
            MeetingStatus { id } => self.meeting_status(id).await,
            ResetMeeting { id, step, resend } => {
                self.reset_meeting(id, step.as_deref(), *resend).await
            }
            ListMeetings => self.list_meetings().await,
            StartMeetingNow { id } => self.start_meeting_now(id).await,
            EndMeeting { id } => self.end_meeting(id).await,
            ShowRunningMeetings { server } => self.running_meetings(actor, server.as_ref()).await,
            FindMeeting { title, server } => self.find_meeting(actor, title, server.as_ref()).await,
            ListRecordings { server, scope } => self.list_recordings(server, scope.as_ref()).await,
            PublishRecordings { server, records } => {
                self.publish_recordings(server, records, true).await
            }
            UnpublishRecordings { server, records } => {
                self.publish_recordings(server, records, false).await
            }
            DeleteRecordings { server, records } => self.delete_recordings(server, records).await,
            UpdateRecordings {
                server,
                records,
                change,
            } => self.update_recordings(server, records, change).await,
            Retention { dry_run } => self.retention(actor, *dry_run).await,
            ListMail { filter } => self.list_mail(*filter).await,
            DeleteMail { id } => self.delete_mail(*id).await,
            PurgeMail { state } => self.purge_mail(*state).await,
            CreateToken { name, scopes } => self.create_token(name, scopes).await,
            ListTokens => self.list_tokens().await,
            AuditLog { query } => {
                let mut query = query.clone();
                query.limit = query.limit.clamp(1, 10_000);
                let entries = self.store.query_audit(&query).await.map_err(internal)?;
                Ok(Outcome::Audit { entries })
            }
            RevokeToken { name } => self.revoke_token(name).await,
            CommandResult { id } => self.command_result(*id).await,
            CreateUser(_)
            | DeleteUser { .. }
            | CreateRoom(_)
            | DeleteRoom { .. }
            | RenameRoom { .. }
            | SetRoom { .. }
            | ShareRoom(_)
            | UnshareRoom(_) => self.greenlight_op(actor, op).await,
            ShowUser { server, email } => self.show_user(server, email).await,
            RoomLinks {
                server,
                filter,
                mail_to,
            } => {
                self.room_links(actor, server, filter, mail_to.as_ref())
                    .await
            }
        }
    }

    async fn server(&self, id: &ServerId) -> Result<ServerSpec, OpError> {
        self.store
            .get_server(id)
            .await
            .map_err(internal)?
            .ok_or_else(|| {
                OpError::not_found_hint(
                    "server",
                    id,
                    "; list them with 'schedulight servers list' or add it first",
                )
            })
    }

    fn connect(&self, server: &ServerSpec) -> Arc<dyn Bbb> {
        self.bbb.connect(server)
    }

    async fn audit(&self, actor: &Actor, op: &Operation, result: Result<(), &OpError>) {
        let entry = AuditEntry {
            at: self.clock.now(),
            actor: actor.name.clone(),
            operation: op.name().to_string(),
            target: target_of(op),
            result: match result {
                Ok(()) => "ok".into(),
                Err(e) => error_kind(e).into(),
            },
            detail: result.err().map(|e| e.to_string()),
        };
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::error!(error = %e, op = op.name(), "could not write the audit log");
        }
    }

    async fn list_mail(
        &self,
        filter: crate::domain::operation::MailFilter,
    ) -> Result<Outcome, OpError> {
        let filter = crate::store::OutboxFilter {
            state: filter,
            channel: Some(crate::domain::Channel::Mail),
            meeting: None,
        };
        let mails = self.store.list_outbox(&filter).await.map_err(internal)?;
        let mails = mails
            .into_iter()
            .map(|m| crate::domain::outcome::MailView {
                id: m.id,
                kind: m.request.kind.as_str().to_string(),
                state: m.state.as_str().to_string(),
                recipient: m.request.recipient,
                meeting: m.request.meeting_id,
                occurrence: m.request.occurrence,
                attempts: m.attempts,
                last_error: m.last_error,
                reply: m.reply,
                created_at: m.created_at,
                not_before: m.request.not_before,
                sent_at: m.sent_at,
            })
            .collect();
        Ok(Outcome::Mails { mails })
    }

    async fn command_result(&self, id: i64) -> Result<Outcome, OpError> {
        let record = self
            .store
            .command_result(id)
            .await
            .map_err(internal)?
            .ok_or_else(|| OpError::not_found("command result", format!("#{id}")))?;
        Ok(Outcome::Items {
            operation: record.operation,
            result_id: record.id,
            results: record.results,
        })
    }

    async fn delete_mail(&self, id: i64) -> Result<Outcome, OpError> {
        if self.store.delete_outbox(id).await.map_err(internal)? {
            Ok(Outcome::Done {
                message: format!("mail #{id} deleted from the outbox"),
            })
        } else {
            Err(OpError::not_found("mail", format!("#{id}")))
        }
    }

    /// Delete every mail of a state (chat notices are left alone). Entries the sender claims
    /// meanwhile are deleted too if listed; the count says how many went.
    async fn purge_mail(
        &self,
        state: crate::domain::operation::MailFilter,
    ) -> Result<Outcome, OpError> {
        use crate::domain::operation::MailFilter;
        let filter = crate::store::OutboxFilter {
            state,
            channel: Some(crate::domain::Channel::Mail),
            meeting: None,
        };
        let mails = self.store.list_outbox(&filter).await.map_err(internal)?;
        let mut deleted = 0usize;
        for m in &mails {
            if self.store.delete_outbox(m.id).await.map_err(internal)? {
                deleted += 1;
            }
        }
        let what = match state {
            MailFilter::Pending => "queued ",
            MailFilter::Sent => "sent ",
            MailFilter::Failed => "failed ",
            MailFilter::All => "",
        };
        let s = if deleted == 1 { "" } else { "s" };
        Ok(Outcome::Done {
            message: format!("{deleted} {what}mail{s} deleted from the outbox"),
        })
    }
}

/// Operations that change something get an audit entry even when they succeed.
fn is_change(op: &Operation) -> bool {
    use crate::domain::Scope::*;
    matches!(
        op.scope(),
        ServersWrite
            | MeetingsWrite
            | RoomsWrite
            | UsersWrite
            | RecordingsWrite
            | MailsAdmin
            | TokensAdmin
    ) && !matches!(op, Operation::ListMail { .. })
}

fn target_of(op: &Operation) -> Option<String> {
    let v = serde_json::to_value(op).ok()?;
    let pick = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    pick("id")
        .or_else(|| {
            v.get("meeting")
                .and_then(|m| m.get("id"))
                .and_then(|x| x.as_str())
                .map(str::to_string)
        })
        .or_else(|| {
            v.get("server")
                .and_then(|s| s.get("id"))
                .and_then(|x| x.as_str())
                .map(str::to_string)
        })
        .or_else(|| pick("room"))
        .or_else(|| pick("email"))
        // Recording operations: the record ids, so `audit for <recording>` finds them.
        .or_else(|| {
            let ids: Vec<&str> = v
                .get("records")?
                .as_array()?
                .iter()
                .filter_map(|x| x.as_str())
                .collect();
            (!ids.is_empty()).then(|| ids.join(","))
        })
        .or_else(|| pick("server"))
}

fn error_kind(e: &OpError) -> &'static str {
    match e {
        OpError::NotAvailableYet { .. } => "not_available_yet",
        OpError::Forbidden { .. } => "forbidden",
        OpError::NotFound { .. } => "not_found",
        OpError::AlreadyExists { .. } => "already_exists",
        OpError::Invalid(_) => "invalid",
        OpError::Bbb { .. } => "bbb",
        OpError::Internal { .. } => "internal",
    }
}

/// Store trouble is logged in full and shown to users only as a reference.
pub fn internal_error(e: StoreError) -> OpError {
    internal(e)
}

pub(crate) fn internal(e: StoreError) -> OpError {
    let reference = format!("E{:08x}", rand::random::<u32>());
    tracing::error!(%reference, error = %e, "store error");
    OpError::Internal { reference }
}

pub(crate) fn bbb_error(server: &ServerId, e: BbbError) -> OpError {
    let hint = match &e {
        BbbError::Unreachable(_) | BbbError::Timeout(_) | BbbError::Http(_) => {
            "; check BBB_URL and that the server is up, then try again"
        }
        _ => "",
    };
    OpError::Bbb {
        server: server.to_string(),
        message: format!("{e}{hint}"),
    }
}

//! The mails and chat notices of the workflow, written as typed outbox requests (kind,
//! meeting, occurrence, recipient). Nothing is rendered here: the mail sender and the bot render
//! each request at send time from the meeting's current state. Every request has a unique key,
//! so a step that runs again after a crash queues nothing twice.

use super::{Service, internal};
use crate::domain::{
    Channel, Email, MeetingId, MeetingSpec, NoticeKind, OpError, Recipient, ServerSpec,
};
use crate::store::{Enqueued, OutboxFilter, OutboxRequest};
use jiff::Timestamp;
use serde_json::{Value, json};

/// What became of a mail the workflow wanted to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailQueued {
    /// Queued now, or by an earlier run of the same step.
    Queued,
    /// `send_emails` is off for this recipient; the reason names where it was decided.
    Off(String),
}

impl MailQueued {
    /// Step-history code and message in the original's style (250 = queued), with 251 for
    /// mails that `send_emails` turned off (the original ignored the flag and always sent).
    pub fn record(&self, what: &str) -> (u16, String) {
        match self {
            Self::Queued => (250, format!("queued {what}")),
            Self::Off(why) => (251, format!("no {what}: {why}")),
        }
    }
}

/// Everything that decides one mail: who, about what, and when.
pub struct MailRequest<'a> {
    pub spec: &'a MeetingSpec,
    pub server: Option<&'a ServerSpec>,
    pub kind: NoticeKind,
    pub occurrence: Option<&'a str>,
    pub to: &'a Email,
    /// The recipient's entry in `shareWith`/`sendInvitationLink`/`sendModeratorLink`.
    pub recipient: Option<&'a Recipient>,
    /// The name to greet: fullName, or the address's local part as the original did.
    pub name: Option<&'a str>,
    pub data: Value,
    pub not_before: Timestamp,
}

impl Service {
    /// `send_emails` as the original documented it: the recipient's setting, else the
    /// meeting's, else the server's, else bot-config.yml's `mail.send_emails` (off by default).
    pub(super) fn mail_wanted(
        &self,
        spec: &MeetingSpec,
        server: Option<&ServerSpec>,
        recipient: Option<&Recipient>,
    ) -> Result<(), String> {
        let levels = [
            ("the recipient", recipient.and_then(|r| r.send_emails)),
            ("the meeting", spec.send_emails),
            ("the server", server.and_then(|s| s.send_emails)),
        ];
        match levels.into_iter().find_map(|(at, v)| v.map(|v| (at, v))) {
            Some((_, true)) => Ok(()),
            Some((at, false)) => Err(format!("send_emails is false on {at}")),
            None if self.settings.send_emails => Ok(()),
            None => Err(
                "mail is off by default; set send_emails: true on the meeting, \
                 its server or in bot-config.yml (mail.send_emails)"
                    .to_string(),
            ),
        }
    }

    /// `send_emails` again at send time, from the meeting as it is now: a meeting (or its
    /// server, or a recipient's entry) switched off after the mail was queued gets no mail.
    /// Mails without a meeting (room shares, reports) were decided when they were queued.
    pub async fn mail_still_wanted(&self, request: &OutboxRequest) -> Result<(), OpError> {
        let Some(id) = &request.meeting_id else {
            return Ok(());
        };
        let Some(meeting) = self.store.get_meeting(id).await.map_err(internal)? else {
            return Ok(());
        };
        let spec = &meeting.spec;
        let server = self
            .store
            .get_server(&spec.server)
            .await
            .map_err(internal)?;
        let to = request.recipient.parse::<Email>().ok();
        let recipient = to.as_ref().and_then(|to| {
            [
                &spec.send_invitation_link,
                &spec.send_moderator_link,
                &spec.share_with,
            ]
            .into_iter()
            .find_map(|list| list.get(to))
        });
        self.mail_wanted(spec, server.as_ref(), recipient)
            .map_err(OpError::Invalid)
    }

    /// Queue one mail unless `send_emails` says no.
    pub(super) async fn queue_mail(&self, r: MailRequest<'_>) -> Result<MailQueued, OpError> {
        if let Err(why) = self.mail_wanted(r.spec, r.server, r.recipient) {
            return Ok(MailQueued::Off(why));
        }
        let mut data = r.data;
        if let Value::Object(map) = &mut data {
            let name = r
                .name
                .map(str::to_string)
                .or_else(|| r.recipient.and_then(|x| x.full_name.clone()))
                .unwrap_or_else(|| r.to.local_part().to_string());
            map.entry("recipientName").or_insert(Value::String(name));
        }
        let key = OutboxRequest::key_for(r.kind, Some(&r.spec.id), r.occurrence, r.to.as_str());
        self.enqueue(OutboxRequest {
            unique_key: key,
            channel: Channel::Mail,
            kind: r.kind,
            meeting_id: Some(r.spec.id.clone()),
            occurrence: r.occurrence.map(str::to_string),
            recipient: r.to.as_str().to_string(),
            data,
            not_before: r.not_before,
        })
        .await?;
        Ok(MailQueued::Queued)
    }

    /// Queue a notice to the meeting's Matrix room; false when it names none.
    pub(super) async fn queue_chat(
        &self,
        spec: &MeetingSpec,
        kind: NoticeKind,
        occurrence: Option<&str>,
        data: Value,
    ) -> Result<bool, OpError> {
        let Some(request) = chat_request(spec, kind, occurrence, data, self.clock.now()) else {
            return Ok(false);
        };
        self.enqueue(request).await?;
        Ok(true)
    }

    /// The room's notice that a step of an occurrence was missed (one per step).
    pub(super) async fn queue_missed(
        &self,
        spec: &MeetingSpec,
        occurrence: &str,
        step: crate::scheduler::plan::StepKind,
        data: Value,
    ) -> Result<(), OpError> {
        let now = self.clock.now();
        if let Some(mut request) =
            chat_request(spec, NoticeKind::Missed, Some(occurrence), data, now)
        {
            request.unique_key = format!("{}/{}", request.unique_key, step.as_str());
            self.enqueue(request).await?;
        }
        Ok(())
    }

    /// The room's notice that a job of a meeting failed: once when it is given up, and once
    /// when it is still failing after a few retries (a short hiccup is not worth a message).
    pub async fn queue_failure(
        &self,
        job: &crate::store::Job,
        error: &str,
        retrying: bool,
    ) -> Result<(), OpError> {
        let Some(id) = &job.meeting_id else {
            return Ok(());
        };
        let Some(meeting) = self.store.get_meeting(id).await.map_err(internal)? else {
            return Ok(());
        };
        let occurrence = job.payload["occurrence"].as_str();
        let step = job.payload["step"].as_str().unwrap_or(&job.kind);
        let data = json!({ "step": step, "error": error, "retrying": retrying });
        let now = self.clock.now();
        if let Some(mut request) =
            chat_request(&meeting.spec, NoticeKind::Failed, occurrence, data, now)
        {
            let how = if retrying { "retrying" } else { "given-up" };
            request.unique_key = format!("{}/{}/{how}", request.unique_key, job.unique_key);
            self.enqueue(request).await?;
        }
        Ok(())
    }

    pub(super) async fn enqueue(&self, request: OutboxRequest) -> Result<Enqueued, OpError> {
        let done = self
            .store
            .enqueue_outbox(&request, self.clock.now())
            .await
            .map_err(internal)?;
        if done.new && request.channel == Channel::Mail {
            self.mail_wake.notify_one();
        }
        if done.new {
            tracing::info!(
                meeting = ?request.meeting_id.as_ref().map(MeetingId::as_str),
                kind = request.kind.as_str(),
                channel = request.channel.as_str(),
                id = done.id,
                "queued"
            );
        }
        Ok(done)
    }

    /// Addresses this meeting has told about itself (owner info, invitations, moderator
    /// links, shares): they are the ones to tell when it is cancelled or moved.
    pub(super) async fn told_recipients(
        &self,
        id: &MeetingId,
    ) -> Result<Vec<(Email, String)>, OpError> {
        let filter = OutboxFilter {
            state: crate::domain::operation::MailFilter::All,
            channel: Some(Channel::Mail),
            meeting: Some(id.clone()),
        };
        let mut told: Vec<(Email, String)> = Vec::new();
        for entry in self.store.list_outbox(&filter).await.map_err(internal)? {
            let r = entry.request;
            if !matches!(
                r.kind,
                NoticeKind::OwnerInfo
                    | NoticeKind::Invitation
                    | NoticeKind::ModeratorLink
                    | NoticeKind::ShareInfo
            ) {
                continue;
            }
            let Ok(to) = r.recipient.parse::<Email>() else {
                continue;
            };
            if told.iter().any(|(e, _)| *e == to) {
                continue;
            }
            let name = r.data["recipientName"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| to.local_part().to_string());
            told.push((to, name));
        }
        Ok(told)
    }

    /// Tell everybody who was told about the meeting that it was cancelled or moved. One mail
    /// per recipient and `event` (a cancel, or an edit identified by its time).
    pub(super) async fn tell_told(
        &self,
        spec: &MeetingSpec,
        kind: NoticeKind,
        event: &str,
        data: Value,
    ) -> Result<usize, OpError> {
        let server = self
            .store
            .get_server(&spec.server)
            .await
            .map_err(internal)?;
        let mut n = 0;
        for (to, name) in self.told_recipients(&spec.id).await? {
            let recipient = [
                &spec.send_invitation_link,
                &spec.send_moderator_link,
                &spec.share_with,
            ]
            .into_iter()
            .find_map(|m| m.get(&to));
            if self.mail_wanted(spec, server.as_ref(), recipient).is_err() {
                continue;
            }
            let mut data = data.clone();
            data["recipientName"] = Value::String(name);
            let key = OutboxRequest::key_for(kind, Some(&spec.id), Some(event), to.as_str());
            let request = OutboxRequest {
                unique_key: key,
                channel: Channel::Mail,
                kind,
                meeting_id: Some(spec.id.clone()),
                occurrence: None,
                recipient: to.as_str().to_string(),
                data,
                not_before: self.clock.now(),
            };
            if self.enqueue(request).await?.new {
                n += 1;
            }
        }
        Ok(n)
    }
}

/// A notice to the meeting's Matrix room, or None when it names none. Used by the service and
/// by the BBB callback listener.
pub(crate) fn chat_request(
    spec: &MeetingSpec,
    kind: NoticeKind,
    occurrence: Option<&str>,
    data: Value,
    now: Timestamp,
) -> Option<OutboxRequest> {
    let room = spec.notify_room.as_ref()?;
    Some(OutboxRequest {
        unique_key: OutboxRequest::key_for(kind, Some(&spec.id), occurrence, room.as_str()),
        channel: Channel::Chat,
        kind,
        meeting_id: Some(spec.id.clone()),
        occurrence: occurrence.map(str::to_string),
        recipient: room.as_str().to_string(),
        data,
        not_before: now,
    })
}

/// `{"start": "2026-12-03T14:00:00+01:00[Europe/Vienna]"}`-style details of an occurrence.
pub(crate) fn occurrence_data(start: &jiff::Zoned) -> Value {
    json!({ "start": start.to_string() })
}

/// The workflow's mail and notice steps.
impl Service {
    /// Run one of the mail steps of the timeline (only these read the server's `send_emails`,
    /// so the opening and closing steps do not pay for the lookup).
    pub(super) async fn run_mail_step(
        &self,
        spec: &MeetingSpec,
        occ: &crate::scheduler::plan::Occurrence,
        step: crate::scheduler::plan::StepKind,
    ) -> Result<(), OpError> {
        use crate::scheduler::plan::StepKind;
        let server = self
            .store
            .get_server(&spec.server)
            .await
            .map_err(internal)?;
        let server = server.as_ref();
        match step {
            StepKind::OwnerInfoMail => self.owner_info_mail(spec, server).await,
            StepKind::Invitations => {
                self.recipient_mails(spec, server, NoticeKind::Invitation)
                    .await
            }
            StepKind::ModeratorLinks => {
                self.recipient_mails(spec, server, NoticeKind::ModeratorLink)
                    .await
            }
            StepKind::OwnerReminder => {
                let minutes = self
                    .settings
                    .plan_defaults
                    .for_meeting(spec)
                    .reminder_minutes;
                self.reminder(spec, server, occ, minutes).await
            }
            _ => Ok(()),
        }
    }

    /// Owner info mail, once per series (`owner_infoMailSent`).
    pub(super) async fn owner_info_mail(
        &self,
        spec: &MeetingSpec,
        server: Option<&ServerSpec>,
    ) -> Result<(), OpError> {
        let mail = OwnerMail {
            kind: NoticeKind::OwnerInfo,
            occurrence: None,
            record: "owner_infoMailSent",
            what: "owner info mail",
        };
        self.owner_mail(spec, server, mail, json!({})).await
    }

    /// A mail to the meeting's owner, if it has one, recorded under the original's step name.
    async fn owner_mail(
        &self,
        spec: &MeetingSpec,
        server: Option<&ServerSpec>,
        mail: OwnerMail<'_>,
        data: Value,
    ) -> Result<(), OpError> {
        let Some(owner) = &spec.owner else {
            return Ok(());
        };
        let done = self
            .queue_mail(MailRequest {
                spec,
                server,
                kind: mail.kind,
                occurrence: mail.occurrence,
                to: &owner.email,
                recipient: None,
                name: Some(&owner.full_name),
                data,
                not_before: self.clock.now(),
            })
            .await?;
        let (code, msg) = done.record(mail.what);
        self.step(&spec.id, mail.record, code, &msg).await
    }

    /// One mail per `sendInvitationLink` (kind Invitation) or `sendModeratorLink` (kind
    /// ModeratorLink) recipient, once per series. The moderator join URL is made at send time
    /// and goes only into that recipient's mail; the request holds none.
    pub(super) async fn recipient_mails(
        &self,
        spec: &MeetingSpec,
        server: Option<&ServerSpec>,
        kind: NoticeKind,
    ) -> Result<(), OpError> {
        let (recipients, record, what) = match kind {
            NoticeKind::Invitation => (
                &spec.send_invitation_link,
                "sendInvitationLink",
                "invitation mail",
            ),
            _ => (
                &spec.send_moderator_link,
                "sendModeratorLink",
                "moderator link mail",
            ),
        };
        for (to, recipient) in recipients {
            let done = self
                .queue_mail(MailRequest {
                    spec,
                    server,
                    kind,
                    occurrence: None,
                    to,
                    recipient: Some(recipient),
                    name: None,
                    data: json!({}),
                    not_before: self.clock.now(),
                })
                .await?;
            let (code, msg) = done.record(what);
            self.step(&spec.id, &format!("{record}_{to}"), code, &msg)
                .await?;
        }
        Ok(())
    }

    /// The share mail of one user the room was shared with (`shareWith_<email>_sendShareMail`).
    pub(super) async fn share_mail(
        &self,
        spec: &MeetingSpec,
        server: Option<&ServerSpec>,
        to: &Email,
    ) -> Result<(), OpError> {
        let done = self
            .queue_mail(MailRequest {
                spec,
                server,
                kind: NoticeKind::ShareInfo,
                occurrence: None,
                to,
                recipient: spec.share_with.get(to),
                name: None,
                data: json!({}),
                not_before: self.clock.now(),
            })
            .await?;
        let (code, msg) = done.record("share mail");
        self.step(
            &spec.id,
            &format!("shareWith_{to}_sendShareMail"),
            code,
            &msg,
        )
        .await
    }

    /// The reminder before an occurrence: the owner's mail and the room's notice.
    pub(super) async fn reminder(
        &self,
        spec: &MeetingSpec,
        server: Option<&ServerSpec>,
        occ: &crate::scheduler::plan::Occurrence,
        minutes: u32,
    ) -> Result<(), OpError> {
        let mut data = occurrence_data(&occ.start);
        data["minutesBefore"] = json!(minutes);
        let mail = OwnerMail {
            kind: NoticeKind::OwnerReminder,
            occurrence: Some(&occ.key),
            record: "owner_reminderMailSent",
            what: "owner reminder mail",
        };
        self.owner_mail(spec, server, mail, data.clone()).await?;
        self.queue_chat(spec, NoticeKind::Reminder, Some(&occ.key), data)
            .await?;
        Ok(())
    }

    /// The first participant joined: the owner's started mail and the room's notice.
    pub(super) async fn started(
        &self,
        spec: &MeetingSpec,
        server: Option<&ServerSpec>,
        occ: &crate::scheduler::plan::Occurrence,
    ) -> Result<(), OpError> {
        let data = occurrence_data(&occ.start);
        let mail = OwnerMail {
            kind: NoticeKind::OwnerStarted,
            occurrence: Some(&occ.key),
            record: "owner_startMailSent",
            what: "owner start mail",
        };
        self.owner_mail(spec, server, mail, data.clone()).await?;
        self.queue_chat(spec, NoticeKind::Started, Some(&occ.key), data)
            .await?;
        Ok(())
    }
}

/// Which owner mail, and the step-history name it is recorded under.
struct OwnerMail<'a> {
    kind: NoticeKind,
    occurrence: Option<&'a str>,
    record: &'static str,
    what: &'static str,
}

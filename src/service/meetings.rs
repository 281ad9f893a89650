//! Scheduled-meeting operations.

use super::params::{create_params, join_links};
use super::{Service, bbb_error, internal};
use crate::bbb::BbbError;
use crate::domain::{
    MeetingId, MeetingPhase, MeetingSpec, MeetingView, OpError, Outcome, StepRecord,
};
use crate::store::StoredMeeting;
use jiff::SignedDuration;

/// How far in the past a new start may lie (clock skew, typing time) before it is refused.
const PAST_TOLERANCE: SignedDuration = SignedDuration::from_mins(5);

impl Service {
    pub(super) async fn schedule_meeting(&self, spec: &MeetingSpec) -> Result<Outcome, OpError> {
        self.check_meeting(spec).await?;
        let now = self.clock.now();
        self.store
            .insert_meeting(spec, MeetingPhase::New, now)
            .await
            .map_err(|e| match e {
                crate::store::StoreError::Conflict { .. } => OpError::AlreadyExists {
                    what: "meeting".into(),
                    id: spec.id.to_string(),
                },
                other => internal(other),
            })?;
        self.step(&spec.id, "status", 200, "new").await?;
        self.replan(&spec.id).await?;
        let view = self.view(&spec.id).await?;
        Ok(Outcome::Meeting {
            meeting: Box::new(view),
            created: true,
        })
    }

    /// Schedules many new meetings (a file being applied): each checked like
    /// `ScheduleMeeting`, then all of them stored with their plans in one transaction. One
    /// result per meeting, in order.
    pub async fn schedule_meetings(
        &self,
        actor: &crate::domain::Actor,
        specs: Vec<MeetingSpec>,
    ) -> Vec<Result<(), OpError>> {
        let scope = crate::domain::Scope::MeetingsWrite;
        if !actor.may(scope) {
            let err = OpError::Forbidden {
                op: "schedule meeting".into(),
                scope: scope.as_str().to_string(),
            };
            return specs.iter().map(|_| Err(err.clone())).collect();
        }
        let servers: std::collections::BTreeSet<crate::domain::ServerId> =
            match self.store.list_servers().await {
                Ok(list) => list.into_iter().map(|s| s.id).collect(),
                Err(e) => {
                    let err = internal(e);
                    return specs.iter().map(|_| Err(err.clone())).collect();
                }
            };
        let now = self.clock.now();
        let mut results: Vec<Result<(), OpError>> = Vec::with_capacity(specs.len());
        let mut batch = Vec::new();
        let mut slots = Vec::new();
        for spec in specs {
            let checked = if servers.contains(&spec.server) {
                self.check_definition(&spec)
            } else {
                Err(OpError::not_found("server", &spec.server))
            };
            let planned = checked.and_then(|()| {
                let m = StoredMeeting {
                    spec,
                    phase: MeetingPhase::New,
                    created_at: now,
                    updated_at: now,
                };
                let jobs = self.planned_jobs(&m, now - self.running_window(&m.spec))?;
                Ok(crate::store::PlannedMeeting {
                    step: crate::domain::StepRecord {
                        step: "status".into(),
                        code: 200,
                        message: "new".into(),
                        at: now,
                    },
                    jobs,
                    audit: crate::store::AuditEntry {
                        at: now,
                        actor: actor.name.clone(),
                        operation: "schedule_meeting".into(),
                        target: Some(m.spec.id.to_string()),
                        result: "ok".into(),
                        detail: None,
                    },
                    spec: m.spec,
                })
            });
            match planned {
                Ok(p) => {
                    slots.push(results.len());
                    batch.push(p);
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        match self.store.insert_meetings_planned(&batch, now).await {
            Ok(inserted) => {
                for ((slot, p), ok) in slots.into_iter().zip(&batch).zip(inserted) {
                    if !ok {
                        results[slot] = Err(OpError::AlreadyExists {
                            what: "meeting".into(),
                            id: p.spec.id.to_string(),
                        });
                    }
                }
            }
            Err(e) => {
                let err = internal(e);
                for slot in slots {
                    results[slot] = Err(err.clone());
                }
            }
        }
        self.wake.notify_one();
        results
    }

    pub(super) async fn update_meeting(&self, spec: &MeetingSpec) -> Result<Outcome, OpError> {
        let old = self.meeting(&spec.id).await?;
        self.check_meeting(spec).await?;
        self.store
            .update_meeting_spec(spec, self.clock.now())
            .await
            .map_err(internal)?;
        if old.phase == MeetingPhase::PreOpened && create_params(&old.spec) != create_params(spec) {
            self.apply_edit_to_open_room(spec).await?;
        }
        // A new startDate, recurrence or offsets move the future steps.
        self.replan(&spec.id).await?;
        self.tell_if_moved(&old, spec).await?;
        let view = self.view(&spec.id).await?;
        Ok(Outcome::Meeting {
            meeting: Box::new(view),
            created: false,
        })
    }

    /// An edit that changes create parameters after pre-open: BBB keeps a meeting's first
    /// parameters, so an empty room is ended and created again; with people in it the change
    /// waits for the next occurrence, and the step history says so.
    async fn apply_edit_to_open_room(&self, spec: &MeetingSpec) -> Result<(), OpError> {
        let server = self.server(&spec.server).await?;
        let room = self.meeting_room(spec).await?;
        let occ = self.current_occurrence(spec);
        let key = match &occ {
            Some(o) => o.key.clone(),
            None => self.on_demand_key(spec),
        };
        let (bbb_id, mut params) = self.room_create_params(spec, &server, room.as_ref(), &key)?;
        let bbb = self.connect(&server);
        let occupied = match bbb.get_meeting_info(&bbb_id).await {
            Ok(info) => info.participant_count > 0 || info.has_user_joined,
            Err(BbbError::NotFound { .. }) => false,
            Err(e) => return Err(bbb_error(&server.id, e)),
        };
        if occupied {
            let msg = "edit applies from the next occurrence: people are in the meeting";
            return self.step(&spec.id, "preOpen", 221, msg).await;
        }
        match bbb.end(&bbb_id).await {
            Ok(()) | Err(BbbError::NotFound { .. }) => {}
            Err(e) => return Err(bbb_error(&server.id, e)),
        }
        if let Some(o) = &occ {
            params.meeting_expire_if_no_user_joined_minutes = Some(
                crate::scheduler::plan::expire_if_no_user_joined_minutes(o, self.clock.now()),
            );
        }
        self.create_on_bbb(bbb.as_ref(), &params, room.as_ref())
            .await
            .map_err(|e| bbb_error(&server.id, e))?;
        self.step(
            &spec.id,
            "preOpen",
            220,
            "room ended and opened again with the edited settings",
        )
        .await
    }

    pub(super) async fn cancel_meeting(&self, id: &MeetingId) -> Result<Outcome, OpError> {
        let m = self.meeting(id).await?;
        self.store.cancel_jobs(id).await.map_err(internal)?;
        self.set_phase(id, MeetingPhase::Cancelled).await?;
        if m.phase != MeetingPhase::Cancelled {
            let event = format!("cancelled@{}", self.clock.now().as_microsecond());
            let data = match self.next_start(&m.spec) {
                Some(start) => crate::service::notify::occurrence_data(&start),
                None => serde_json::json!({}),
            };
            self.tell_told(
                &m.spec,
                crate::domain::NoticeKind::MeetingCancelled,
                &event,
                data,
            )
            .await?;
        }
        let note = if m.phase == MeetingPhase::Started {
            "; it was started on BBB — use 'end' to close it there"
        } else {
            ""
        };
        Ok(Outcome::Done {
            message: format!("meeting '{id}' cancelled{note}"),
        })
    }

    pub(super) async fn disable_meeting(&self, id: &MeetingId) -> Result<Outcome, OpError> {
        self.meeting(id).await?;
        self.store.cancel_jobs(id).await.map_err(internal)?;
        self.set_phase(id, MeetingPhase::Disabled).await?;
        self.step(id, "status", 900, "disabled").await?;
        Ok(Outcome::Done {
            message: format!("meeting '{id}' disabled; nothing runs until it is enabled"),
        })
    }

    pub(super) async fn enable_meeting(&self, id: &MeetingId) -> Result<Outcome, OpError> {
        let m = self.meeting(id).await?;
        if m.phase != MeetingPhase::Disabled {
            return Err(OpError::Invalid(format!(
                "meeting '{id}' is not disabled (it is {})",
                m.phase.as_str()
            )));
        }
        self.set_phase(id, MeetingPhase::New).await?;
        self.step(id, "status", 200, "enabled").await?;
        self.replan(id).await?;
        Ok(Outcome::Done {
            message: format!("meeting '{id}' enabled"),
        })
    }

    pub(super) async fn meeting_status(&self, id: &MeetingId) -> Result<Outcome, OpError> {
        let view = self.view(id).await?;
        Ok(Outcome::Meeting {
            meeting: Box::new(view),
            created: false,
        })
    }

    pub(super) async fn reset_meeting(
        &self,
        id: &MeetingId,
        step: Option<&str>,
        resend: bool,
    ) -> Result<Outcome, OpError> {
        self.meeting(id).await?;
        let resent = if resend {
            self.forget_sent_mails(id).await?
        } else {
            0
        };
        let n = self.store.clear_steps(id, step).await.map_err(internal)?;
        if step.is_none() {
            self.set_phase(id, MeetingPhase::New).await?;
            self.step(id, "status", 200, "reset").await?;
            self.replan(id).await?;
        }
        let what = step
            .map(|s| format!("step '{s}'"))
            .unwrap_or_else(|| "all steps".into());
        let mails = if resend {
            format!("; {resent} mail(s) will be sent again")
        } else {
            String::new()
        };
        Ok(Outcome::Done {
            message: format!("meeting '{id}': {what} reset ({n} records cleared){mails}"),
        })
    }

    /// Drop the outbox entries of the meeting's workflow mails that went out (or failed), so
    /// the re-run steps queue them afresh. Change and cancellation mails stay: the calendar's
    /// SEQUENCE counts them.
    async fn forget_sent_mails(&self, id: &MeetingId) -> Result<usize, OpError> {
        use crate::domain::NoticeKind::*;
        let filter = crate::store::OutboxFilter {
            state: crate::domain::operation::MailFilter::All,
            channel: Some(crate::domain::Channel::Mail),
            meeting: Some(id.clone()),
        };
        let entries = self.store.list_outbox(&filter).await.map_err(internal)?;
        let mut n = 0;
        for e in entries {
            let workflow = matches!(
                e.request.kind,
                OwnerInfo | Invitation | ModeratorLink | ShareInfo | OwnerReminder | OwnerStarted
            );
            let done = matches!(
                e.state,
                crate::store::OutboxState::Sent | crate::store::OutboxState::Failed
            );
            if workflow && done && self.store.delete_outbox(e.id).await.map_err(internal)? {
                n += 1;
            }
        }
        Ok(n)
    }

    pub(super) async fn list_meetings(&self) -> Result<Outcome, OpError> {
        let stored = self.store.list_meetings().await.map_err(internal)?;
        let meetings = stored
            .into_iter()
            .map(|m| self.view_of(m, Vec::new()))
            .collect();
        Ok(Outcome::Meetings { meetings })
    }

    pub(super) async fn start_meeting_now(&self, id: &MeetingId) -> Result<Outcome, OpError> {
        let m = self.meeting(id).await?;
        if matches!(m.phase, MeetingPhase::Disabled | MeetingPhase::Cancelled) {
            return Err(OpError::Invalid(format!(
                "meeting '{id}' is {}; enable or schedule it again first",
                m.phase.as_str()
            )));
        }
        let server = self.server(&m.spec.server).await?;
        let room = self.meeting_room(&m.spec).await?;
        let key = self.on_demand_key(&m.spec);
        let (bbb_id, params) = self.room_create_params(&m.spec, &server, room.as_ref(), &key)?;
        let bbb = self.connect(&server);
        let created = match self
            .create_on_bbb(bbb.as_ref(), &params, room.as_ref())
            .await
        {
            Ok(c) => c,
            Err(e) => {
                self.step(
                    id,
                    "status",
                    400,
                    &format!("meeting could not be started: {e}"),
                )
                .await?;
                return Err(bbb_error(&server.id, e));
            }
        };
        let (code, msg) = if created.has_user_joined {
            (220, "meeting started, users joined")
        } else {
            (210, "meeting started, no users joined yet")
        };
        self.step(id, "status", code, msg).await?;
        self.set_phase(id, MeetingPhase::Started).await?;
        let room_link = public_room_link(&server, &m.spec, room.as_ref());
        Ok(Outcome::Started {
            id: id.clone(),
            server: server.id.clone(),
            bbb_meeting_id: bbb_id.clone(),
            already_running: created.duplicate,
            links: join_links(bbb.as_ref(), &m.spec, &bbb_id, room_link, &created),
        })
    }

    /// Create on BBB; for a Greenlight room also record what Greenlight's own join buttons need
    /// (they carry last_session as createTime, greenlight.md §6.2).
    pub(super) async fn create_on_bbb(
        &self,
        bbb: &dyn crate::bbb::Bbb,
        params: &crate::bbb::CreateParams,
        room: Option<&(super::greenlight::GlTarget, crate::greenlight::GlRoom)>,
    ) -> Result<crate::bbb::CreatedMeeting, BbbError> {
        let created = bbb.create(params).await?;
        let Some((t, r)) = room else {
            return Ok(created);
        };
        if let Err(e) =
            t.gl.meeting_started(&r.meeting_id, created.create_time)
                .await
        {
            tracing::warn!(room = %r.friendly_id, error = %e, "could not update the Greenlight room");
        }
        Ok(created)
    }

    /// The meeting's Greenlight room (`meetingUID`, or the owner's home room with
    /// `useHomeRoom`), when its server has a Greenlight.
    pub(super) async fn meeting_room(
        &self,
        spec: &MeetingSpec,
    ) -> Result<Option<(super::greenlight::GlTarget, crate::greenlight::GlRoom)>, OpError> {
        let home = spec.use_home_room == Some(true);
        if spec.room.is_none() && !home {
            return Ok(None);
        }
        let server = self.server(&spec.server).await?;
        if server.greenlight.is_none() && self.settings.default_greenlight.is_none() {
            return Ok(None);
        }
        let t = self.greenlight(&spec.server).await?;
        let gl_err = |e| super::greenlight::gl_error(&spec.server, e);
        let room = match (&spec.room, &spec.owner) {
            (_, Some(owner)) if home => t.gl.home_room(&owner.email).await.map_err(gl_err)?,
            (Some(r), _) => t.gl.find_room(r).await.map_err(gl_err)?.ok_or_else(|| {
                OpError::not_found_hint(
                    "room",
                    r,
                    " in Greenlight; create it (rooms create) or fix meetingUID",
                )
            })?,
            (None, _) => {
                return Err(OpError::Invalid(
                    "useHomeRoom needs an owner with an e-mail".into(),
                ));
            }
        };
        Ok(Some((t, room)))
    }

    /// Create parameters; for a Greenlight room its meetingID, its callbacks and (v2) passwords.
    pub(super) fn room_create_params(
        &self,
        spec: &MeetingSpec,
        server: &crate::domain::ServerSpec,
        room: Option<&(super::greenlight::GlTarget, crate::greenlight::GlRoom)>,
        occurrence: &str,
    ) -> Result<(crate::domain::BbbMeetingId, crate::bbb::CreateParams), OpError> {
        let mut params = create_params(spec);
        let Some((t, r)) = room else {
            let bbb_id = spec.effective_bbb_id();
            if let Some(base) = &self.settings.callback_base {
                let (ended, ready) = crate::callbacks::callback_urls(
                    base,
                    server,
                    bbb_id.as_str(),
                    &spec.id,
                    occurrence,
                );
                params.meta.insert("endCallbackUrl".into(), ended);
                params.meta.insert("bbb-recording-ready-url".into(), ready);
            }
            return Ok((bbb_id, params));
        };
        let bbb_id = crate::domain::BbbMeetingId::try_from(r.meeting_id.as_str())
            .map_err(|e| OpError::Invalid(format!("Greenlight room {}: {e}", r.friendly_id)))?;
        params.meeting_id = Some(bbb_id.clone());
        let callbacks = match &self.settings.callback_base {
            Some(base) => Some(crate::callbacks::callback_urls(
                base,
                server,
                &r.meeting_id,
                &spec.id,
                occurrence,
            )),
            None => {
                crate::callbacks::greenlight_callback_urls(t.gl.version(), &t.settings.link_base)
            }
        };
        if let Some((ended, ready)) = callbacks {
            params.meta.insert("endCallbackUrl".into(), ended);
            params.meta.insert("bbb-recording-ready-url".into(), ready);
        }
        params
            .meta
            .insert("bbb-context-id".into(), r.friendly_id.clone());
        if t.gl.version() == crate::greenlight::GreenlightVersion::V2 {
            params.moderator_pw = r.moderator_pw.as_ref().map(|p| p.expose().to_string());
            params.attendee_pw = r.attendee_pw.as_ref().map(|p| p.expose().to_string());
        }
        Ok((bbb_id, params))
    }

    pub(super) async fn end_meeting(&self, id: &MeetingId) -> Result<Outcome, OpError> {
        let m = self.meeting(id).await?;
        let server = self.server(&m.spec.server).await?;
        let bbb_id = match self.meeting_room(&m.spec).await? {
            Some((_, r)) => crate::domain::BbbMeetingId::try_from(r.meeting_id.as_str())
                .map_err(|e| OpError::Invalid(e.to_string()))?,
            None => m.spec.effective_bbb_id(),
        };
        let was_running = match self.connect(&server).end(&bbb_id).await {
            Ok(()) => true,
            Err(BbbError::NotFound { .. }) => false,
            Err(e) => {
                self.step(
                    id,
                    "endMeeting",
                    420,
                    &format!("could not close meeting: {e}"),
                )
                .await?;
                return Err(bbb_error(&server.id, e));
            }
        };
        let msg = if was_running {
            "closed meeting"
        } else {
            "meeting was not running"
        };
        self.step(id, "endMeeting", 220, msg).await?;
        self.set_phase(id, MeetingPhase::Ended).await?;
        Ok(Outcome::Ended {
            id: id.clone(),
            was_running,
        })
    }

    /// Checks that do not depend on the stored state: server, zone, start time.
    async fn check_meeting(&self, spec: &MeetingSpec) -> Result<(), OpError> {
        self.server(&spec.server).await?;
        self.check_definition(spec)
    }

    /// The checks of a meeting that need no store: its rules, its zone, a start not past.
    fn check_definition(&self, spec: &MeetingSpec) -> Result<(), OpError> {
        crate::scheduler::check_definition(spec).map_err(|e| OpError::Invalid(e.to_string()))?;
        let zone = self.zone_of(spec)?;
        if let Some(start) = spec.start {
            let at = start
                .to_zoned(zone.clone())
                .map_err(|e| OpError::Invalid(format!("startDate: {e}")))?;
            if at.timestamp() < self.clock.now() - PAST_TOLERANCE {
                return Err(OpError::Invalid(format!(
                    "startDate {} ({}) is in the past; give a future date and time as YYYY-MM-DD HH:MM",
                    crate::domain::meeting::seed_datetime::format(&start),
                    zone.iana_name().unwrap_or("local time"),
                )));
            }
        }
        Ok(())
    }

    /// When `start` (a meeting's civil start) is, in the meeting's zone; None when the zone or
    /// the time is impossible.
    pub fn meeting_start(
        &self,
        spec: &MeetingSpec,
        start: &jiff::civil::DateTime,
    ) -> Option<jiff::Timestamp> {
        let zone = self.zone_of(spec).ok()?;
        start.to_zoned(zone).ok().map(|z| z.timestamp())
    }

    pub(super) fn zone_of(&self, spec: &MeetingSpec) -> Result<jiff::tz::TimeZone, OpError> {
        match &spec.time_zone {
            None => Ok(self.settings.default_time_zone.clone()),
            Some(name) => jiff::tz::TimeZone::get(name).map_err(|_| {
                OpError::Invalid(format!(
                    "timeZone {name:?} is not a known time zone; use an IANA name such as Europe/Vienna"
                ))
            }),
        }
    }

    pub(super) async fn meeting(&self, id: &MeetingId) -> Result<StoredMeeting, OpError> {
        self.store
            .get_meeting(id)
            .await
            .map_err(internal)?
            .ok_or_else(|| {
                OpError::not_found_hint(
                    "meeting",
                    id,
                    "; list them with 'schedulight meetings list'",
                )
            })
    }

    async fn view(&self, id: &MeetingId) -> Result<MeetingView, OpError> {
        let m = self.meeting(id).await?;
        let mut steps = self.store.latest_steps(id).await.map_err(internal)?;
        steps.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.step.cmp(&b.step)));
        let mut view = self.view_of(m, steps);
        let jobs = self.store.list_jobs(Some(id)).await.map_err(internal)?;
        view.next = jobs
            .into_iter()
            .filter(|j| j.state == crate::store::JobState::Pending)
            .map(|j| crate::domain::outcome::PlannedView {
                step: j
                    .payload
                    .get("step")
                    .and_then(|s| s.as_str())
                    .unwrap_or("poll")
                    .to_string(),
                due: j.due_at,
                attempts: j.attempts,
                last_error: j.last_error,
            })
            .collect();
        Ok(view)
    }

    fn view_of(&self, m: StoredMeeting, steps: Vec<StepRecord>) -> MeetingView {
        let starts_at = m.spec.start.and_then(|start| {
            let zone = self.zone_of(&m.spec).ok()?;
            start.to_zoned(zone).ok().map(|z| z.timestamp())
        });
        MeetingView {
            spec: m.spec,
            phase: m.phase,
            starts_at,
            steps,
            next: Vec::new(),
        }
    }

    pub(super) async fn set_phase(
        &self,
        id: &MeetingId,
        phase: MeetingPhase,
    ) -> Result<(), OpError> {
        self.store
            .set_meeting_phase(id, phase, self.clock.now())
            .await
            .map_err(internal)?;
        Ok(())
    }

    pub(super) async fn step(
        &self,
        id: &MeetingId,
        step: &str,
        code: u16,
        message: &str,
    ) -> Result<(), OpError> {
        let record = StepRecord {
            step: step.into(),
            code,
            message: message.into(),
            at: self.now(),
        };
        self.store
            .record_step(id, &record)
            .await
            .map_err(internal)?;
        Ok(())
    }

    /// The meeting's current occurrence: the one running now or the next one, if any.
    pub(super) fn current_occurrence(
        &self,
        spec: &MeetingSpec,
    ) -> Option<crate::scheduler::plan::Occurrence> {
        spec.start?;
        let zone = self.zone_of(spec).ok()?;
        let after = self.clock.now() - self.running_window(spec);
        crate::scheduler::plan::occurrences(spec, &zone, after, 1)
            .ok()?
            .into_iter()
            .next()
    }

    /// How far back an occurrence may have started and still be running (its end may be
    /// ahead): preStart + endAfter, at least the misfire grace.
    pub(super) fn running_window(&self, spec: &MeetingSpec) -> jiff::SignedDuration {
        let d = self.settings.plan_defaults.for_meeting(spec);
        jiff::SignedDuration::from_mins(i64::from(d.pre_start_minutes + d.end_after_minutes).max(
            i64::from(crate::scheduler::plan::DEFAULT_MISFIRE_GRACE_MINUTES),
        ))
    }

    fn next_start(&self, spec: &MeetingSpec) -> Option<jiff::Zoned> {
        self.current_occurrence(spec).map(|o| o.start)
    }

    /// The occurrence key of a start on demand (it has no planned occurrence).
    pub(super) fn on_demand_key(&self, spec: &MeetingSpec) -> String {
        let zone = self
            .zone_of(spec)
            .unwrap_or_else(|_| self.settings.default_time_zone.clone());
        format!(
            "now-{}",
            self.clock.now().to_zoned(zone).strftime("%Y-%m-%dT%H:%M")
        )
    }

    /// An edit that moves the next occurrence is mailed to everybody told about the meeting.
    async fn tell_if_moved(
        &self,
        old: &crate::store::StoredMeeting,
        spec: &MeetingSpec,
    ) -> Result<(), OpError> {
        if matches!(old.phase, MeetingPhase::Cancelled | MeetingPhase::Disabled) {
            return Ok(());
        }
        let (before, after) = (self.next_start(&old.spec), self.next_start(spec));
        let Some(start) = after.filter(|a| before.as_ref() != Some(a)) else {
            return Ok(());
        };
        let mut data = crate::service::notify::occurrence_data(&start);
        if let Some(b) = before {
            data["previousStart"] = serde_json::Value::String(b.to_string());
        }
        let event = format!("changed@{}", self.clock.now().as_microsecond());
        self.tell_told(
            spec,
            crate::domain::NoticeKind::MeetingChanged,
            &event,
            data,
        )
        .await?;
        Ok(())
    }

    /// The meeting's public link (the Greenlight room, or the server's link base), for notices
    /// in chat rooms; never a join URL with a checksum.
    pub async fn public_link(&self, id: &MeetingId) -> Result<Option<String>, OpError> {
        let m = self.meeting(id).await?;
        let server = self.server(&m.spec.server).await?;
        let room = self.meeting_room(&m.spec).await.ok().flatten();
        Ok(public_room_link(&server, &m.spec, room.as_ref()))
    }

    /// The moderator join link of a `sendModeratorLink` recipient's mail, made at send time
    /// like the original's `get_join_url(bbb_id, name, 'moderator', moderator_pw)`: the
    /// Greenlight room's BBB meeting (v3 the role form, v2 the room's moderator password),
    /// else the meeting's own BBB id. It carries no createTime, so it stays valid for every
    /// later session of the room, and it goes only into that recipient's mail.
    pub async fn moderator_link(&self, id: &MeetingId, name: &str) -> Result<String, OpError> {
        use crate::bbb::{JoinAuth, JoinParams, Role};
        let m = self.meeting(id).await?;
        let server = self.server(&m.spec.server).await?;
        let (bbb_id, auth) = match self.meeting_room(&m.spec).await? {
            Some((t, r)) => {
                let bbb_id =
                    crate::domain::BbbMeetingId::try_from(r.meeting_id.as_str()).map_err(|e| {
                        OpError::Invalid(format!("Greenlight room {}: {e}", r.friendly_id))
                    })?;
                let auth = match t.gl.version() {
                    crate::greenlight::GreenlightVersion::V3 => JoinAuth::Role(Role::Moderator),
                    crate::greenlight::GreenlightVersion::V2 => {
                        let pw = r.moderator_pw.as_ref().ok_or_else(|| {
                            OpError::Invalid(format!(
                                "Greenlight room {} has no moderator password",
                                r.friendly_id
                            ))
                        })?;
                        JoinAuth::Password(pw.expose().to_string())
                    }
                };
                (bbb_id, auth)
            }
            None => (m.spec.effective_bbb_id(), JoinAuth::Role(Role::Moderator)),
        };
        Ok(self
            .connect(&server)
            .join_url(&JoinParams::new(bbb_id, name, auth)))
    }
}

fn public_room_link(
    server: &crate::domain::ServerSpec,
    spec: &MeetingSpec,
    room: Option<&(super::greenlight::GlTarget, crate::greenlight::GlRoom)>,
) -> Option<String> {
    match room {
        Some((t, r)) => Some(crate::greenlight::room_link(
            t.gl.version(),
            &t.settings.link_base,
            &r.friendly_id,
        )),
        None => super::params::room_link(server, spec),
    }
}

//! The Greenlight side of a scheduled meeting, done once per series and again after an edit:
//! the owner's user, the room (named, or the owner's home room), its settings, its shares.
//! Every step looks before it writes, so running it again changes nothing.

use super::Service;
use super::greenlight::{GlTarget, gl_error};
use super::schedule::JobError;
use crate::domain::{MeetingSpec, OpError};
use crate::greenlight::{GreenlightError, NewRoom, NewUser};
use crate::scheduler::plan::StepKind;
use crate::store::StoredMeeting;
use std::collections::BTreeMap;

impl Service {
    /// Run one Greenlight setup step; a server without a Greenlight records why it cannot.
    pub(super) async fn run_setup(
        &self,
        m: &StoredMeeting,
        step: StepKind,
    ) -> Result<(), JobError> {
        let spec = &m.spec;
        let server = self.server(&spec.server).await.map_err(op)?;
        if server.greenlight.is_none() && self.settings.default_greenlight.is_none() {
            let msg = "server has no Greenlight; owner, room and shares are not managed";
            return self
                .step(&spec.id, record_name(step), 404, msg)
                .await
                .map_err(op);
        }
        let t = self.greenlight(&spec.server).await.map_err(op)?;
        match step {
            StepKind::EnsureOwner => self.ensure_owner(spec, &t).await,
            StepKind::EnsureRoom => self.ensure_room(spec, &t).await,
            StepKind::ApplyRoomSettings => self.apply_room_settings(spec, &t).await,
            StepKind::Shares => self.ensure_shares(spec, &t).await,
            _ => Ok(()),
        }
    }

    async fn ensure_owner(&self, spec: &MeetingSpec, t: &GlTarget) -> Result<(), JobError> {
        let Some(owner) = &spec.owner else {
            return Ok(());
        };
        let found = t.gl.find_user(&owner.email).await.map_err(|e| gl(t, e))?;
        if found.is_some() {
            return self
                .step(&spec.id, "owner", 220, "owner exists in Greenlight")
                .await
                .map_err(op);
        }
        let user = NewUser {
            email: owner.email.clone(),
            name: owner.full_name.clone(),
            password: owner.password.clone(),
            role: None,
            external_id: owner.social_uid.clone(),
            language: None,
            uid: owner.uid.clone(),
            provider: None,
        };
        match t.gl.create_user(&user).await {
            Ok(_) | Err(GreenlightError::UserExists(_)) => self
                .step(&spec.id, "owner", 220, "owner created in Greenlight")
                .await
                .map_err(op),
            Err(GreenlightError::Database(e)) => Err(retry(e)),
            Err(e) => {
                self.setup_failed(
                    spec,
                    "owner",
                    404,
                    format!("owner not found and creation failed: {e}"),
                )
                .await
            }
        }
    }

    async fn ensure_room(&self, spec: &MeetingSpec, t: &GlTarget) -> Result<(), JobError> {
        let home = spec.use_home_room == Some(true);
        let result = match (&spec.room, &spec.owner) {
            (_, Some(owner)) if home => t.gl.home_room(&owner.email).await.map(|r| (r, false)),
            (Some(room), Some(owner)) => match t.gl.find_room(room).await {
                Ok(Some(r)) => Ok((r, false)),
                Ok(None) => {
                    let new = NewRoom {
                        name: spec.name.clone(),
                        friendly_id: Some(room.clone()),
                        access_code: spec.access_code.clone(),
                        ..NewRoom::default()
                    };
                    t.gl.create_room(&owner.email, &new)
                        .await
                        .map(|r| (r, true))
                }
                Err(e) => Err(e),
            },
            (Some(room), None) => match t.gl.find_room(room).await {
                Ok(Some(r)) => Ok((r, false)),
                Ok(None) => Err(GreenlightError::RoomNotFound(room.to_string())),
                Err(e) => Err(e),
            },
            (None, _) => return Ok(()),
        };
        match result {
            Ok((r, created)) => {
                let what = if created {
                    "room created"
                } else {
                    "room found"
                };
                self.step(&spec.id, "room", 220, &format!("{what}: {}", r.friendly_id))
                    .await
                    .map_err(op)
            }
            // The owner step may still be retrying; try again later.
            Err(GreenlightError::UserNotFound(e)) => {
                Err(retry(format!("owner {e} not in Greenlight yet")))
            }
            Err(GreenlightError::Database(e)) => Err(retry(e)),
            Err(e) => {
                self.setup_failed(spec, "room", 401, format!("room could not be created: {e}"))
                    .await
            }
        }
    }

    /// The room options the meeting sets explicitly (others stay as the room has them).
    async fn apply_room_settings(&self, spec: &MeetingSpec, t: &GlTarget) -> Result<(), JobError> {
        let Some(room) = self.setup_room(spec, t).await? else {
            return Ok(());
        };
        let mut options = BTreeMap::new();
        let flag = |b: bool| if b { "true" } else { "false" }.to_string();
        if let Some(v) = spec.record {
            options.insert("record".to_string(), flag(v));
        }
        if let Some(v) = spec.mute_on_start {
            options.insert("muteOnStart".to_string(), flag(v));
        }
        if let Some(g) = spec.guest_policy {
            options.insert("guestPolicy".to_string(), g.as_bbb().to_string());
        }
        if let Some(code) = &spec.access_code {
            options.insert("glViewerAccessCode".to_string(), code.clone());
        }
        if options.is_empty() {
            return Ok(());
        }
        match t.gl.set_room_options(&room, &options).await {
            Ok(_) => self
                .step(&spec.id, "roomSettings", 220, "room settings applied")
                .await
                .map_err(op),
            Err(GreenlightError::Database(e)) => Err(retry(e)),
            Err(e) => {
                let msg = format!("room settings not applied: {e}");
                self.setup_failed(spec, "roomSettings", 400, msg).await
            }
        }
    }

    async fn ensure_shares(&self, spec: &MeetingSpec, t: &GlTarget) -> Result<(), JobError> {
        let Some(room) = self.setup_room(spec, t).await? else {
            return Ok(());
        };
        let users: Vec<_> = spec.share_with.keys().cloned().collect();
        let results = match t.gl.share_room(&room, &users).await {
            Ok(r) => r,
            Err(GreenlightError::Database(e)) => return Err(retry(e)),
            Err(e) => {
                return Err(JobError {
                    transient: false,
                    message: gl(t, e).message,
                });
            }
        };
        for r in results {
            let (code, msg) = if r.ok {
                (220, "room shared".to_string())
            } else {
                (404, r.message)
            };
            self.step(&spec.id, &format!("shareWith_{}", r.item), code, &msg)
                .await
                .map_err(op)?;
            // Only a user the room was shared with is told so (the original mailed even when
            // sharing failed).
            if let (true, Ok(to)) = (r.ok, r.item.parse::<crate::domain::Email>()) {
                self.share_mail(spec, Some(&t.server), &to)
                    .await
                    .map_err(op)?;
            }
        }
        Ok(())
    }

    /// The room the setup steps act on, once the room step found or made it.
    async fn setup_room(
        &self,
        spec: &MeetingSpec,
        t: &GlTarget,
    ) -> Result<Option<crate::domain::RoomRef>, JobError> {
        if spec.use_home_room == Some(true) {
            let Some(owner) = &spec.owner else {
                return Ok(None);
            };
            let r = t.gl.home_room(&owner.email).await.map_err(|e| gl(t, e))?;
            return Ok(crate::domain::RoomRef::try_from(r.friendly_id.as_str()).ok());
        }
        Ok(spec.room.clone())
    }
}

impl Service {
    /// Record a setup step that failed for good, and fail its job.
    async fn setup_failed(
        &self,
        spec: &MeetingSpec,
        record: &str,
        code: u16,
        message: String,
    ) -> Result<(), JobError> {
        self.step(&spec.id, record, code, &message)
            .await
            .map_err(op)?;
        Err(JobError {
            transient: false,
            message,
        })
    }
}

/// Try again later (the database hiccupped).
fn retry(message: String) -> JobError {
    JobError {
        transient: true,
        message,
    }
}

fn op(e: OpError) -> JobError {
    JobError {
        transient: matches!(e, OpError::Internal { .. }),
        message: e.to_string(),
    }
}

fn gl(t: &GlTarget, e: GreenlightError) -> JobError {
    let transient = matches!(
        e,
        GreenlightError::Database(_) | GreenlightError::Connect { .. }
    );
    JobError {
        transient,
        message: gl_error(&t.server.id, e).to_string(),
    }
}

fn record_name(step: StepKind) -> &'static str {
    match step {
        StepKind::EnsureOwner => "owner",
        StepKind::EnsureRoom => "room",
        StepKind::ApplyRoomSettings => "roomSettings",
        StepKind::Shares => "shareWith",
        other => other.as_str(),
    }
}

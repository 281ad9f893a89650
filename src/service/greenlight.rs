//! The original tool's seven commands and room links, against the server's Greenlight.

use super::{Service, bbb_error, internal};
use crate::bbb::{Bbb, JoinAuth, JoinParams, RecordingsQuery, Role};
use crate::domain::operation::{
    CreateRoom, CreateUser, RoomDisposition, RoomFilter, ShareRoom, UserRole,
};
use crate::domain::outcome::{ItemResult, RoomView, UserView};
use crate::domain::{
    Actor, BbbMeetingId, Email, OpError, Operation, Outcome, RecordId, RoomRef, Scope, ServerId,
    ServerSpec,
};
use crate::domain::{Channel, NoticeKind};
use crate::greenlight::{
    GlRoom, Greenlight, GreenlightError, GreenlightSettings, GreenlightVersion, NewRoom, NewUser,
    RoomSearch, room_link,
};
use crate::store::{CommandResultRecord, OutboxRequest};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A server's Greenlight, opened.
pub(super) struct GlTarget {
    pub server: ServerSpec,
    pub settings: GreenlightSettings,
    pub gl: Arc<dyn Greenlight>,
}

impl Service {
    pub(super) async fn greenlight(&self, server_id: &ServerId) -> Result<GlTarget, OpError> {
        let server = self.server(server_id).await?;
        let settings = server
            .greenlight
            .clone()
            .or_else(|| self.settings.default_greenlight.clone())
            .ok_or_else(|| {
                OpError::Invalid(format!(
                    "server '{server_id}' has no Greenlight; add a `greenlight:` block (database_url, link_base) \
                     to the server or the app-wide default in bot-config.yml"
                ))
            })?;
        let gl = self
            .greenlight
            .open(&settings)
            .await
            .map_err(|e| gl_error(server_id, e))?;
        Ok(GlTarget {
            server,
            settings,
            gl,
        })
    }

    pub(super) async fn greenlight_op(
        &self,
        actor: &Actor,
        op: &Operation,
    ) -> Result<Outcome, OpError> {
        use Operation::*;
        let (results, target) = match op {
            CreateUser(cu) => (self.create_user(cu).await?, Some(cu.email.to_string())),
            DeleteUser {
                server,
                email,
                rooms,
                with_recordings,
            } => (
                self.delete_user(server, email, rooms, *with_recordings)
                    .await?,
                Some(email.to_string()),
            ),
            CreateRoom(cr) => (
                self.create_room(cr).await?,
                cr.uid.as_ref().map(|u| u.to_string()),
            ),
            DeleteRoom {
                server,
                room,
                with_recordings,
            } => (
                self.delete_room(server, room, *with_recordings).await?,
                Some(room.to_string()),
            ),
            RenameRoom {
                server,
                room,
                new_uid,
            } => {
                let t = self.greenlight(server).await?;
                let r =
                    t.gl.rename_room(room, Some(new_uid), None)
                        .await
                        .map_err(|e| gl_error(server, e))?;
                (
                    vec![ItemResult::ok(
                        room.as_str(),
                        format!("renamed to {}", link_of(&t, &r)),
                    )],
                    Some(room.to_string()),
                )
            }
            SetRoom {
                server,
                room,
                name,
                options,
            } => (
                self.set_room(server, room, name.as_deref(), options)
                    .await?,
                Some(room.to_string()),
            ),
            ShareRoom(s) => (self.share(s, true).await?, Some(s.room.to_string())),
            UnshareRoom(s) => (self.share(s, false).await?, Some(s.room.to_string())),
            _ => {
                return Err(OpError::Invalid(format!(
                    "{} is not a Greenlight command",
                    op.name()
                )));
            }
        };
        let record = CommandResultRecord {
            id: 0,
            at: self.clock.now(),
            actor: actor.name.clone(),
            operation: op.name().to_string(),
            target,
            results: results.clone(),
        };
        let result_id = self
            .store
            .save_command_result(&record)
            .await
            .map_err(internal)?;
        match op {
            ShareRoom(s) => {
                self.queue_share_mails(actor, s, true, &results, result_id)
                    .await
            }
            UnshareRoom(s) => {
                self.queue_share_mails(actor, s, false, &results, result_id)
                    .await
            }
            _ => {}
        }
        if results.iter().all(|r| !r.ok) && results.len() == 1 {
            // A single item that failed is the operation failing: say so as an error.
            return Err(OpError::Invalid(format!(
                "{} (result #{result_id})",
                results[0].message
            )));
        }
        Ok(Outcome::Items {
            operation: op.name().to_string(),
            result_id,
            results,
        })
    }

    async fn create_user(&self, cu: &CreateUser) -> Result<Vec<ItemResult>, OpError> {
        let t = self.greenlight(&cu.server).await?;
        let user = NewUser {
            email: cu.email.clone(),
            name: cu.full_name.clone(),
            password: cu.password.clone(),
            role: role_name(&cu.role, t.gl.version()),
            external_id: cu.external_id.clone(),
            language: None,
            uid: None,
            provider: match t.gl.version() {
                GreenlightVersion::V2 => cu.provider.clone(),
                GreenlightVersion::V3 => None,
            },
        };
        Ok(vec![match t.gl.create_user(&user).await {
            Ok(u) => ItemResult::ok(
                cu.email.as_str(),
                format!(
                    "user created ({} role {})",
                    u.name,
                    u.role.unwrap_or_default()
                ),
            ),
            Err(GreenlightError::UserExists(_)) => {
                ItemResult::failed(cu.email.as_str(), "a user with this e-mail already exists")
            }
            Err(e) => return Err(gl_error(&cu.server, e)),
        }])
    }

    async fn delete_user(
        &self,
        server: &ServerId,
        email: &Email,
        rooms: &RoomDisposition,
        with_recordings: bool,
    ) -> Result<Vec<ItemResult>, OpError> {
        let t = self.greenlight(server).await?;
        let deleted = match t.gl.delete_user(email, rooms, with_recordings).await {
            Ok(d) => d,
            Err(e @ (GreenlightError::UserNotFound(_) | GreenlightError::OwnsRooms { .. })) => {
                return Ok(vec![ItemResult::failed(email.as_str(), e.to_string())]);
            }
            Err(e) => return Err(gl_error(server, e)),
        };
        let mut results = vec![ItemResult::ok(email.as_str(), "user deleted")];
        for room in &deleted.deleted_rooms {
            let note = self
                .clean_up_room_on_bbb(&t.server, &room.meeting_id, with_recordings)
                .await;
            results.push(ItemResult::ok(
                room.friendly_id.clone(),
                format!("room deleted{note}"),
            ));
        }
        for room in &deleted.transferred_rooms {
            results.push(ItemResult::ok(room.clone(), "room transferred"));
        }
        Ok(results)
    }

    async fn create_room(&self, cr: &CreateRoom) -> Result<Vec<ItemResult>, OpError> {
        let t = self.greenlight(&cr.server).await?;
        let room = NewRoom {
            name: cr.name.clone(),
            friendly_id: cr.uid.clone(),
            access_code: cr.access_code.clone(),
            ..NewRoom::default()
        };
        let item = cr
            .uid
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_else(|| cr.name.clone());
        Ok(vec![match t.gl.create_room(&cr.owner, &room).await {
            Ok(r) => ItemResult::ok(item, format!("room created: {}", link_of(&t, &r))),
            Err(
                e @ (GreenlightError::UserNotFound(_)
                | GreenlightError::RoomExists(_)
                | GreenlightError::Invalid(_)),
            ) => ItemResult::failed(item, e.to_string()),
            Err(e) => return Err(gl_error(&cr.server, e)),
        }])
    }

    async fn delete_room(
        &self,
        server: &ServerId,
        room: &RoomRef,
        with_recordings: bool,
    ) -> Result<Vec<ItemResult>, OpError> {
        let t = self.greenlight(server).await?;
        let deleted = match t.gl.delete_room(room, with_recordings).await {
            Ok(d) => d,
            Err(e @ GreenlightError::RoomNotFound(_)) => {
                return Ok(vec![ItemResult::failed(room.as_str(), e.to_string())]);
            }
            Err(e) => return Err(gl_error(server, e)),
        };
        let note = self
            .clean_up_room_on_bbb(&t.server, &deleted.meeting_id, with_recordings)
            .await;
        Ok(vec![ItemResult::ok(
            room.as_str(),
            format!("room deleted{note}"),
        )])
    }

    /// End the room's meeting if it runs, and delete its BBB recordings when asked. Problems are
    /// reported in the note, not as a failure: the room itself is gone already.
    async fn clean_up_room_on_bbb(
        &self,
        server: &ServerSpec,
        meeting_id: &str,
        with_recordings: bool,
    ) -> String {
        let Ok(id) = BbbMeetingId::try_from(meeting_id) else {
            return String::new();
        };
        let bbb = self.connect(server);
        let mut note = String::new();
        if let Ok(true) = bbb.is_meeting_running(&id).await {
            match bbb.end(&id).await {
                Ok(()) => note.push_str("; its running meeting was ended"),
                Err(e) => note.push_str(&format!("; its running meeting could not be ended: {e}")),
            }
        }
        if with_recordings {
            match delete_all_recordings(bbb.as_ref(), meeting_id).await {
                Ok(0) => note.push_str("; it had no recordings on BBB"),
                Ok(n) => note.push_str(&format!("; {n} recording(s) deleted on BBB")),
                Err(e) => note.push_str(&format!(
                    "; its BBB recordings could not be deleted: {}",
                    bbb_error(&server.id, e)
                )),
            }
        }
        note
    }

    async fn set_room(
        &self,
        server: &ServerId,
        room: &RoomRef,
        name: Option<&str>,
        options: &BTreeMap<String, String>,
    ) -> Result<Vec<ItemResult>, OpError> {
        if name.is_none() && options.is_empty() {
            return Err(OpError::Invalid(
                "give a new name or at least one option to set".into(),
            ));
        }
        let t = self.greenlight(server).await?;
        let mut results = Vec::new();
        if let Some(name) = name {
            t.gl.rename_room(room, None, Some(name))
                .await
                .map_err(|e| gl_error(server, e))?;
            results.push(ItemResult::ok("name", format!("set to {name:?}")));
        }
        if !options.is_empty() {
            let r =
                t.gl.set_room_options(room, options)
                    .await
                    .map_err(|e| gl_error(server, e))?;
            for key in options.keys() {
                let now = r.options.get(key).cloned().unwrap_or_default();
                results.push(ItemResult::ok(key.clone(), format!("now {now:?}")));
            }
        }
        Ok(results)
    }

    /// The original's `roomSharedTemplate` / `roomUnsharedTemplate` mails: one to each user the
    /// command shared the room with (or took it from), where `send_emails` says yes (the user's
    /// entry, then the server, then bot-config). Queued after the change; a mail that cannot be
    /// queued is logged, the share stands.
    async fn queue_share_mails(
        &self,
        actor: &Actor,
        s: &ShareRoom,
        share: bool,
        results: &[ItemResult],
        result_id: i64,
    ) {
        let server = self.store.get_server(&s.server).await.ok().flatten();
        let link = match self.greenlight(&s.server).await {
            Ok(t) => self
                .search(&t, RoomSearch::Id(s.room.clone()))
                .await
                .ok()
                .and_then(|rooms| rooms.first().map(|r| (r.name.clone(), link_of(&t, r)))),
            Err(_) => None,
        };
        let (kind, command) = if share {
            (NoticeKind::RoomShared, "share_room")
        } else {
            (NoticeKind::RoomUnshared, "unshare_room")
        };
        let occurrence = format!("command-{result_id}");
        for r in results.iter().filter(|r| r.ok) {
            let Ok(to) = r.item.parse::<Email>() else {
                continue;
            };
            let recipient = s.with.get(&to);
            let wanted = recipient
                .and_then(|x| x.send_emails)
                .or(server.as_ref().and_then(|x| x.send_emails))
                .unwrap_or(self.settings.send_emails);
            if !wanted {
                continue;
            }
            let name = recipient
                .and_then(|x| x.full_name.clone())
                .unwrap_or_else(|| to.local_part().to_string());
            let request = OutboxRequest {
                unique_key: OutboxRequest::key_for(kind, None, Some(&occurrence), to.as_str()),
                channel: Channel::Mail,
                kind,
                meeting_id: None,
                occurrence: Some(occurrence.clone()),
                recipient: to.as_str().to_string(),
                data: serde_json::json!({
                    "command": command,
                    "room": s.room.as_str(),
                    "roomName": link.as_ref().map(|l| l.0.clone()),
                    "link": link.as_ref().map(|l| l.1.clone()),
                    "server": s.server.as_str(),
                    "recipientName": name,
                    "senderName": actor.name,
                }),
                not_before: self.clock.now(),
            };
            match self.store.enqueue_outbox(&request, self.clock.now()).await {
                Ok(_) => self.mail_wake().notify_one(),
                Err(e) => {
                    tracing::warn!(room = %s.room, to = %to, error = %e, "cannot queue a share mail")
                }
            }
        }
    }

    async fn share(&self, s: &ShareRoom, share: bool) -> Result<Vec<ItemResult>, OpError> {
        if s.with.is_empty() {
            return Err(OpError::Invalid(
                "name at least one user to share the room with".into(),
            ));
        }
        let t = self.greenlight(&s.server).await?;
        let users: Vec<Email> = s.with.keys().cloned().collect();
        let result = if share {
            t.gl.share_room(&s.room, &users).await
        } else {
            t.gl.unshare_room(&s.room, &users).await
        };
        match result {
            Ok(r) => Ok(r),
            Err(e @ GreenlightError::RoomNotFound(_)) => {
                Ok(vec![ItemResult::failed(s.room.as_str(), e.to_string())])
            }
            Err(e) => Err(gl_error(&s.server, e)),
        }
    }

    /// The original's `slCli.py -l VALUE -b COLUMN`: rooms with their links.
    pub(super) async fn room_links(
        &self,
        actor: &Actor,
        server: &ServerId,
        filter: &RoomFilter,
        mail_to: Option<&Email>,
    ) -> Result<Outcome, OpError> {
        let t = self.greenlight(server).await?;
        let rooms = match filter {
            RoomFilter::Name(n) => self.search(&t, RoomSearch::Name(n.clone())).await?,
            RoomFilter::Owner(e) => self.search(&t, RoomSearch::OwnerEmail(e.clone())).await?,
            RoomFilter::Room(r) => self.search(&t, RoomSearch::Id(r.clone())).await?,
            RoomFilter::Meetings => self.meeting_rooms(&t).await?,
        };
        let with_links = actor.may(Scope::MeetingsWrite);
        let bbb = self.connect(&t.server);
        let rooms: Vec<RoomView> = rooms
            .iter()
            .map(|r| room_view(&t, bbb.as_ref(), r, with_links))
            .collect();
        if let Some(to) = mail_to {
            self.queue_room_links_report(server, filter, &rooms, to)
                .await?;
        }
        Ok(Outcome::Rooms { rooms })
    }

    /// The original CLI's `-e`: the report as a mail, with the public room links only (signed
    /// join links are credentials and never go to a report address). Queued like every mail,
    /// so it is retried when SMTP is down; explicitly asked for, so `send_emails` does not stop it.
    async fn queue_room_links_report(
        &self,
        server: &ServerId,
        filter: &RoomFilter,
        rooms: &[RoomView],
        to: &Email,
    ) -> Result<(), OpError> {
        let report = match filter {
            RoomFilter::Name(n) => format!("name: {n}"),
            RoomFilter::Room(r) => format!("id: {r}"),
            RoomFilter::Owner(e) => format!("owner: {e}"),
            RoomFilter::Meetings => "scheduled meetings".to_string(),
        };
        let meetings = self.store.list_meetings().await.map_err(internal)?;
        let start_of = |room: &str| {
            meetings
                .iter()
                .filter(|m| m.spec.server == *server)
                .find(|m| m.spec.room.as_ref().is_some_and(|r| r.to_string() == room))
                .and_then(|m| m.spec.start)
                .map(|s| s.strftime("%Y-%m-%d %H:%M").to_string())
        };
        let lines: Vec<crate::mail::render::ReportRoom> = rooms
            .iter()
            .map(|r| crate::mail::render::ReportRoom {
                id: r.id.clone(),
                name: r.name.clone(),
                owner_name: r.owner_name.clone(),
                owner_email: r.owner_email.clone(),
                link: r.link.clone(),
                start: start_of(&r.id),
            })
            .collect();
        let now = self.clock.now();
        let request = OutboxRequest {
            unique_key: format!("room_links/{server}/{}/{to}", now.as_microsecond()),
            channel: Channel::Mail,
            kind: NoticeKind::RoomLinks,
            meeting_id: None,
            occurrence: None,
            recipient: to.as_str().to_string(),
            data: serde_json::json!({
                "server": server.as_str(),
                "report": report,
                "rooms": lines,
                "recipientName": to.local_part(),
            }),
            not_before: now,
        };
        self.enqueue(request).await?;
        Ok(())
    }

    pub(super) async fn show_user(
        &self,
        server: &ServerId,
        email: &Email,
    ) -> Result<Outcome, OpError> {
        let t = self.greenlight(server).await?;
        let user =
            t.gl.find_user(email)
                .await
                .map_err(|e| gl_error(server, e))?
                .ok_or_else(|| OpError::not_found("Greenlight user", email))?;
        let rooms = self
            .search(&t, RoomSearch::OwnerEmail(email.clone()))
            .await?;
        Ok(Outcome::User {
            user: Box::new(UserView {
                server: server.clone(),
                email: user.email.to_string(),
                name: user.name,
                provider: user.provider,
                role: user.role,
                external_id: user.external_id,
                has_password: user.has_password,
                verified: user.verified,
                rooms: rooms.into_iter().map(|r| r.friendly_id).collect(),
            }),
        })
    }

    async fn search(&self, t: &GlTarget, by: RoomSearch) -> Result<Vec<GlRoom>, OpError> {
        t.gl.search_rooms(&by)
            .await
            .map_err(|e| gl_error(&t.server.id, e))
    }

    async fn meeting_rooms(&self, t: &GlTarget) -> Result<Vec<GlRoom>, OpError> {
        let meetings = self.store.list_meetings().await.map_err(internal)?;
        let mut rooms = Vec::new();
        let wanted = meetings
            .iter()
            .filter(|m| m.spec.server == t.server.id)
            .filter_map(|m| m.spec.room.as_ref());
        for room in wanted {
            let found =
                t.gl.find_room(room)
                    .await
                    .map_err(|e| gl_error(&t.server.id, e))?;
            rooms.extend(found);
        }
        Ok(rooms)
    }
}

fn role_name(role: &UserRole, version: GreenlightVersion) -> Option<String> {
    match (role, version) {
        (UserRole::User, _) => None,
        (UserRole::Admin, GreenlightVersion::V3) => Some("Administrator".into()),
        (UserRole::Admin, GreenlightVersion::V2) => Some("admin".into()),
        (UserRole::Named(n), _) => Some(n.clone()),
    }
}

fn link_of(t: &GlTarget, r: &GlRoom) -> String {
    room_link(t.gl.version(), &t.settings.link_base, &r.friendly_id)
}

/// A room with its public link and, for actors who may change meetings, signed join links
/// (v3: the 3.0 role form with Greenlight's createTime; v2: the password form).
fn room_view(t: &GlTarget, bbb: &dyn Bbb, r: &GlRoom, with_links: bool) -> RoomView {
    let join = |role: Role, name: &str| -> Option<String> {
        let id = BbbMeetingId::try_from(r.meeting_id.as_str()).ok()?;
        let auth = match (t.gl.version(), role) {
            (GreenlightVersion::V3, role) => JoinAuth::Role(role),
            (GreenlightVersion::V2, Role::Moderator) => {
                JoinAuth::Password(r.moderator_pw.as_ref()?.expose().to_string())
            }
            (GreenlightVersion::V2, Role::Viewer) => {
                JoinAuth::Password(r.attendee_pw.as_ref()?.expose().to_string())
            }
        };
        let mut p = JoinParams::new(id, name, auth);
        p.create_time = r.last_session.map(|t| t.as_millisecond());
        Some(bbb.join_url(&p))
    };
    RoomView {
        server: t.server.id.clone(),
        id: r.friendly_id.clone(),
        name: r.name.clone(),
        owner_email: r.owner_email.to_string(),
        owner_name: r.owner_name.clone(),
        link: link_of(t, r),
        moderator_link: with_links
            .then(|| join(Role::Moderator, &r.owner_name))
            .flatten(),
        viewer_link: with_links.then(|| join(Role::Viewer, "Guest")).flatten(),
        shared_with: r.shared_with.iter().map(|e| e.to_string()).collect(),
        options: r.options.clone(),
    }
}

async fn delete_all_recordings(
    bbb: &dyn Bbb,
    meeting_id: &str,
) -> Result<usize, crate::bbb::BbbError> {
    let query = RecordingsQuery {
        meeting_ids: vec![meeting_id.to_string()],
        states: vec!["any".into()],
        ..Default::default()
    };
    let ids: Vec<RecordId> = bbb
        .get_recordings(&query)
        .await?
        .iter()
        .filter_map(|r| RecordId::try_from(r.record_id.as_str()).ok())
        .collect();
    if !ids.is_empty() {
        bbb.delete_recordings(&ids).await?;
    }
    Ok(ids.len())
}

/// Greenlight trouble in words for the user; database details stay in the log.
pub(super) fn gl_error(server: &ServerId, e: GreenlightError) -> OpError {
    match e {
        GreenlightError::Database(_) => {
            let reference = format!("E{:08x}", rand::random::<u32>());
            tracing::error!(%reference, %server, error = %e, "greenlight database error");
            OpError::Internal { reference }
        }
        GreenlightError::RoomNotFound(r) => OpError::not_found("room", r),
        GreenlightError::UserNotFound(u) => OpError::not_found_hint(
            "Greenlight user",
            u,
            "; create the user first (users create)",
        ),
        other => OpError::Invalid(format!("Greenlight of server '{server}': {other}")),
    }
}

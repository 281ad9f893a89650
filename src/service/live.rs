//! Live meetings and recordings: questions asked of the BBB servers themselves.

use super::{Service, bbb_error, internal};
use crate::bbb::{Bbb, JoinAuth, JoinParams, MeetingInfo, Recording, RecordingsQuery, Role};
use crate::domain::operation::RecordingScope;
use crate::domain::outcome::RecordingView;
use crate::domain::{
    Actor, BbbMeetingId, JoinLinks, OpError, Outcome, RecordId, RunningMeeting, Scope, ServerId,
    ServerMeetings, ServerSpec,
};
use std::time::{Duration, Instant};

impl Service {
    /// The original's `show_meetings`, over one server or all of them in parallel. A server that
    /// does not answer within its timeout is reported as such; the others still are.
    pub(super) async fn running_meetings(
        &self,
        actor: &Actor,
        only: Option<&ServerId>,
    ) -> Result<Outcome, OpError> {
        let servers = self.fan_out(actor, only).await?;
        Ok(Outcome::Running { servers })
    }

    async fn fan_out(
        &self,
        actor: &Actor,
        only: Option<&ServerId>,
    ) -> Result<Vec<ServerMeetings>, OpError> {
        let servers = match only {
            Some(id) => vec![self.server(id).await?],
            None => self.store.list_servers().await.map_err(internal)?,
        };
        let with_links = actor.may(Scope::MeetingsWrite);
        let asks = servers.iter().map(|s| self.ask_server(s, with_links));
        Ok(futures::future::join_all(asks).await)
    }

    async fn ask_server(&self, server: &ServerSpec, with_links: bool) -> ServerMeetings {
        let bbb = self.connect(server);
        let limit = Duration::from_millis(server.timeout_ms) + self.settings.fan_out_grace;
        let started = Instant::now();
        let answer = tokio::time::timeout(limit, bbb.get_meetings()).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let (meetings, error) = match answer {
            Ok(Ok(list)) => {
                let meetings = list
                    .iter()
                    .map(|m| running(server, bbb.as_ref(), m, with_links))
                    .collect();
                (Some(meetings), None)
            }
            Ok(Err(e)) => (None, Some(bbb_error(&server.id, e).to_string())),
            Err(_) => (
                None,
                Some(format!("no answer within {} ms", limit.as_millis())),
            ),
        };
        ServerMeetings {
            server: server.id.clone(),
            meetings,
            error,
            elapsed_ms,
        }
    }

    /// The original's `find_meeting`: the first running meeting whose name contains `title`
    /// (case-insensitive here).
    pub(super) async fn find_meeting(
        &self,
        actor: &Actor,
        title: &str,
        only: Option<&ServerId>,
    ) -> Result<Outcome, OpError> {
        let needle = title.trim().to_lowercase();
        if needle.is_empty() {
            return Err(OpError::Invalid(
                "give part of the meeting's name to look for".into(),
            ));
        }
        let servers = self.fan_out(actor, only).await?;
        let found = servers
            .into_iter()
            .flat_map(|s| s.meetings.unwrap_or_default())
            .find(|m| m.name.to_lowercase().contains(&needle));
        Ok(Outcome::Found {
            meeting: found.map(Box::new),
        })
    }

    pub(super) async fn list_recordings(
        &self,
        server_id: &ServerId,
        scope: Option<&RecordingScope>,
    ) -> Result<Outcome, OpError> {
        let server = self.server(server_id).await?;
        let mut query = RecordingsQuery::default();
        match scope {
            None => {}
            Some(RecordingScope::Meeting(id)) => {
                let m = self.meeting(id).await?;
                query
                    .meeting_ids
                    .push(m.spec.effective_bbb_id().to_string());
            }
            Some(RecordingScope::BbbMeeting(id)) => query.meeting_ids.push(id.to_string()),
            Some(RecordingScope::Records(ids)) => query.record_ids = ids.clone(),
        }
        let list = self
            .connect(&server)
            .get_recordings(&query)
            .await
            .map_err(|e| bbb_error(server_id, e))?;
        let recordings = list.iter().filter_map(recording_view).collect();
        Ok(Outcome::Recordings {
            server: server_id.clone(),
            recordings,
        })
    }

    pub(super) async fn publish_recordings(
        &self,
        server_id: &ServerId,
        records: &[RecordId],
        publish: bool,
    ) -> Result<Outcome, OpError> {
        let server = self.server(server_id).await?;
        require_records(records)?;
        self.connect(&server)
            .publish_recordings(records, publish)
            .await
            .map_err(|e| recording_error(server_id, records, e))?;
        let action = if publish { "published" } else { "unpublished" };
        Ok(Outcome::RecordingsChanged {
            server: server_id.clone(),
            action: action.into(),
            records: records.to_vec(),
        })
    }

    pub(super) async fn delete_recordings(
        &self,
        server_id: &ServerId,
        records: &[RecordId],
    ) -> Result<Outcome, OpError> {
        let server = self.server(server_id).await?;
        require_records(records)?;
        self.connect(&server)
            .delete_recordings(records)
            .await
            .map_err(|e| recording_error(server_id, records, e))?;
        Ok(Outcome::RecordingsChanged {
            server: server_id.clone(),
            action: "deleted".into(),
            records: records.to_vec(),
        })
    }
}

/// BBB's `notFound` for recordings means the ids name no recording there: the caller's
/// mistake (404), not the server's failure.
fn recording_error(server: &ServerId, records: &[RecordId], e: crate::bbb::BbbError) -> OpError {
    match e {
        crate::bbb::BbbError::NotFound { .. } => {
            let ids: Vec<&str> = records.iter().map(|r| r.as_str()).collect();
            OpError::not_found_hint(
                "recording",
                ids.join(", "),
                format!("on server '{server}'; list them with GET …/recordings"),
            )
        }
        other => bbb_error(server, other),
    }
}

fn require_records(records: &[RecordId]) -> Result<(), OpError> {
    if records.is_empty() {
        return Err(OpError::Invalid("name at least one recording id".into()));
    }
    Ok(())
}

fn running(
    server: &ServerSpec,
    bbb: &dyn Bbb,
    m: &MeetingInfo,
    with_links: bool,
) -> RunningMeeting {
    let links = with_links.then(|| admin_links(bbb, m)).flatten();
    RunningMeeting {
        server: server.id.clone(),
        name: m.meeting_name.clone(),
        meeting_id: m.meeting_id.clone(),
        internal_meeting_id: m.internal_meeting_id.clone(),
        running: m.running,
        participants: m.participant_count,
        moderators: m.moderator_count,
        create_time: jiff::Timestamp::from_millisecond(m.create_time)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        recording: m.recording,
        links,
    }
}

/// Join links for an admin looking at a live meeting (the original printed these too).
fn admin_links(bbb: &dyn Bbb, m: &MeetingInfo) -> Option<JoinLinks> {
    let id = BbbMeetingId::try_from(m.meeting_id.as_str()).ok()?;
    let link = |role: Role| {
        let mut p = JoinParams::new(id.clone(), "Administrator", JoinAuth::Role(role));
        p.create_time = Some(m.create_time);
        bbb.join_url(&p)
    };
    Some(JoinLinks {
        moderator: link(Role::Moderator),
        viewer: link(Role::Viewer),
        room: None,
    })
}

fn recording_view(r: &Recording) -> Option<RecordingView> {
    let ts = |ms: i64| jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    Some(RecordingView {
        record_id: RecordId::try_from(r.record_id.as_str()).ok()?,
        meeting_id: r.meeting_id.clone(),
        name: r.name.clone(),
        published: r.published,
        state: r.state.clone(),
        start_time: ts(r.start_time),
        end_time: ts(r.end_time),
        participants: r.participants,
        playback: r
            .playback
            .iter()
            .map(|p| (p.format_type.clone(), p.url.clone()))
            .collect(),
    })
}

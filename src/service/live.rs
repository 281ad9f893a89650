//! Live meetings and recordings: questions asked of the BBB servers themselves.

use super::{Service, bbb_error, internal};
use crate::bbb::{Bbb, JoinAuth, JoinParams, MeetingInfo, Role};
use crate::domain::{
    Actor, BbbMeetingId, JoinLinks, OpError, Outcome, RunningMeeting, Scope, ServerId,
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

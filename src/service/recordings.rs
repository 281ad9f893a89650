//! Recordings on the BBB servers: list (per server, scheduled meeting, Greenlight room or
//! owner, every page), publish, protect, list publicly, rename, keep, delete — with
//! Greenlight v3's copy (`recordings` / `formats`) kept in step.

use super::{Service, bbb_error, internal};
use crate::bbb::{Recording, RecordingsQuery};
use crate::domain::operation::{RecordingChange, RecordingScope};
use crate::domain::outcome::RecordingView;
use crate::domain::{OpError, Outcome, RecordId, ServerId, ServerSpec};
use crate::greenlight::{GlRecording, RoomSearch};
use std::collections::BTreeMap;

/// getRecordings page size (BBB 2.6+ accepts 1–100).
const PAGE: u32 = 100;
/// Metadata that exempts a recording from the retention rules.
pub const KEEP_META: &str = "schedulight-keep";
/// Metadata Greenlight reads for "Public" (listed on the room's page).
const LISTED_META: &str = "gl-listed";

impl Service {
    pub(super) async fn list_recordings(
        &self,
        server_id: &ServerId,
        scope: Option<&RecordingScope>,
    ) -> Result<Outcome, OpError> {
        let server = self.server(server_id).await?;
        let list = match self.recordings_query(server_id, scope).await? {
            Some(query) => self.all_recordings(&server, query).await?,
            None => Vec::new(),
        };
        Ok(Outcome::Recordings {
            server: server_id.clone(),
            recordings: list.iter().filter_map(recording_view).collect(),
        })
    }

    /// The getRecordings filter for a scope; `None`: the scope has no meetings, so no
    /// recordings (an owner without rooms).
    async fn recordings_query(
        &self,
        server_id: &ServerId,
        scope: Option<&RecordingScope>,
    ) -> Result<Option<RecordingsQuery>, OpError> {
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
            Some(RecordingScope::Room(room)) => {
                let t = self.greenlight(server_id).await?;
                let found =
                    t.gl.find_room(room)
                        .await
                        .map_err(|e| super::greenlight::gl_error(server_id, e))?
                        .ok_or_else(|| {
                            OpError::not_found_hint("room", room, "; `show links` lists rooms")
                        })?;
                query.meeting_ids.push(found.meeting_id);
            }
            Some(RecordingScope::Owner(email)) => {
                let t = self.greenlight(server_id).await?;
                let rooms =
                    t.gl.search_rooms(&RoomSearch::OwnerEmail(email.clone()))
                        .await
                        .map_err(|e| super::greenlight::gl_error(server_id, e))?;
                if rooms.is_empty() {
                    return Ok(None);
                }
                query.meeting_ids = rooms.into_iter().map(|r| r.meeting_id).collect();
            }
        }
        Ok(Some(query))
    }

    /// Every page of a getRecordings query (published and unpublished unless it names states).
    pub(super) async fn all_recordings(
        &self,
        server: &ServerSpec,
        mut query: RecordingsQuery,
    ) -> Result<Vec<Recording>, OpError> {
        let bbb = self.connect(server);
        let mut out: Vec<Recording> = Vec::new();
        let mut offset = 0;
        loop {
            query.offset = Some(offset);
            query.limit = Some(PAGE);
            let page = bbb
                .get_recordings(&query)
                .await
                .map_err(|e| bbb_error(&server.id, e))?;
            let n = page.len();
            // A server before 2.6 ignores offset and limit: its first answer was all of them.
            if page
                .first()
                .is_some_and(|r| out.iter().any(|o| o.record_id == r.record_id))
            {
                break;
            }
            out.extend(page);
            if n < PAGE as usize {
                break;
            }
            offset += PAGE;
        }
        Ok(out)
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
        let note = self.sync_greenlight(&server, records, false).await;
        Ok(changed(server_id, action, records, note))
    }

    pub(super) async fn update_recordings(
        &self,
        server_id: &ServerId,
        records: &[RecordId],
        change: &RecordingChange,
    ) -> Result<Outcome, OpError> {
        let server = self.server(server_id).await?;
        require_records(records)?;
        let bbb = self.connect(&server);
        let meta = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        let flag = |b: bool| if b { "true" } else { "false" };
        let (result, action) = match change {
            RecordingChange::Protected(p) => (
                bbb.protect_recordings(records, *p).await,
                if *p { "protected" } else { "unprotected" },
            ),
            RecordingChange::Listed(l) => (
                bbb.update_recordings(records, &meta(LISTED_META, flag(*l)))
                    .await,
                if *l { "listed" } else { "unlisted" },
            ),
            RecordingChange::Name(name) => {
                let name = name.trim();
                if name.is_empty() || name.chars().count() > 255 {
                    return Err(OpError::Invalid(
                        "a recording's name has 1 to 255 characters".into(),
                    ));
                }
                (
                    bbb.update_recordings(records, &meta("name", name)).await,
                    "renamed",
                )
            }
            // An empty value removes the key (BBB and the simulator alike).
            RecordingChange::Keep(k) => (
                bbb.update_recordings(records, &meta(KEEP_META, if *k { "true" } else { "" }))
                    .await,
                if *k {
                    "kept from the retention rules"
                } else {
                    "left to the retention rules"
                },
            ),
        };
        result.map_err(|e| recording_error(server_id, records, e))?;
        let note = match change {
            RecordingChange::Keep(_) => None,
            _ => self.sync_greenlight(&server, records, false).await,
        };
        Ok(changed(server_id, action, records, note))
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
        let note = self.sync_greenlight(&server, records, true).await;
        let ids: Vec<String> = records.iter().map(|r| r.to_string()).collect();
        self.store
            .forget_retention_warnings(server_id, &ids)
            .await
            .map_err(internal)?;
        Ok(changed(server_id, "deleted", records, note))
    }

    /// The server's Greenlight when it has one and it can be opened (a failure is logged:
    /// callers go on without it).
    pub(super) async fn optional_greenlight(
        &self,
        server: &ServerSpec,
    ) -> Option<std::sync::Arc<dyn crate::greenlight::Greenlight>> {
        server
            .greenlight
            .as_ref()
            .or(self.settings.default_greenlight.as_ref())?;
        match self.greenlight(&server.id).await {
            Ok(t) => Some(t.gl),
            Err(e) => {
                tracing::warn!(server = %server.id, error = %e, "cannot open the server's Greenlight");
                None
            }
        }
    }

    /// Bring the server's Greenlight (v3) rows of `records` in line with BBB; what happened,
    /// for the answer. A Greenlight that cannot be reached does not undo the BBB change: the
    /// note says so, and Greenlight's own resync catches up.
    pub(super) async fn sync_greenlight(
        &self,
        server: &ServerSpec,
        records: &[RecordId],
        deleted: bool,
    ) -> Option<String> {
        server
            .greenlight
            .as_ref()
            .or(self.settings.default_greenlight.as_ref())?;
        let result = async {
            let gl = self.greenlight(&server.id).await?.gl;
            if deleted {
                let ids: Vec<String> = records.iter().map(|r| r.to_string()).collect();
                return gl
                    .forget_recordings(&ids)
                    .await
                    .map_err(|e| super::greenlight::gl_error(&server.id, e));
            }
            let query = RecordingsQuery {
                record_ids: records.to_vec(),
                states: vec!["any".into()],
                ..Default::default()
            };
            let now = self.all_recordings(server, query).await?;
            let rows: Vec<GlRecording> = now.iter().map(gl_recording).collect();
            gl.sync_recordings(&rows)
                .await
                .map_err(|e| super::greenlight::gl_error(&server.id, e))
        }
        .await;
        match result {
            Ok(0) => None,
            Ok(n) => Some(format!("Greenlight's copy updated ({n} row(s))")),
            Err(e) => {
                tracing::warn!(server = %server.id, error = %e, "Greenlight's recording rows not updated");
                Some(format!(
                    "Greenlight's copy not updated ({e}); its recording resync will catch up"
                ))
            }
        }
    }
}

fn changed(server: &ServerId, action: &str, records: &[RecordId], note: Option<String>) -> Outcome {
    Outcome::RecordingsChanged {
        server: server.clone(),
        action: action.into(),
        records: records.to_vec(),
        note,
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
                format!("on server '{server}'; list them with `recordings`"),
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

fn ts(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// The name people gave it (`meta_name`, as Greenlight renames), else BBB's.
pub(super) fn display_name(r: &Recording) -> String {
    r.metadata
        .get("name")
        .filter(|n| !n.trim().is_empty())
        .cloned()
        .unwrap_or_else(|| r.name.clone())
}

fn meta_true(r: &Recording, key: &str) -> bool {
    r.metadata.get(key).is_some_and(|v| v == "true")
}

pub(super) fn is_kept(r: &Recording) -> bool {
    meta_true(r, KEEP_META)
}

pub(super) fn recording_view(r: &Recording) -> Option<RecordingView> {
    Some(RecordingView {
        record_id: RecordId::try_from(r.record_id.as_str()).ok()?,
        meeting_id: r.meeting_id.clone(),
        name: display_name(r),
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
        protected: r.protected.unwrap_or(false),
        listed: meta_true(r, LISTED_META),
        keep: is_kept(r),
    })
}

/// Greenlight's row for a BBB recording (its `RecordingCreator`'s rules).
fn gl_recording(r: &Recording) -> GlRecording {
    let length = r
        .playback
        .iter()
        .find(|p| p.format_type == "presentation" || p.format_type == "video")
        .or(r.playback.first())
        .map_or(0, |p| p.length);
    GlRecording {
        meeting_id: r.meeting_id.clone(),
        record_id: r.record_id.clone(),
        name: display_name(r),
        visibility: crate::greenlight::visibility(
            r.published,
            r.protected.unwrap_or(false),
            meta_true(r, LISTED_META),
        )
        .to_string(),
        length_minutes: i32::try_from(length).unwrap_or(i32::MAX),
        participants: i32::try_from(r.participants).unwrap_or(i32::MAX),
        protectable: r.protected.is_some(),
        recorded_at: ts(r.start_time),
        formats: r
            .playback
            .iter()
            .map(|p| (p.format_type.clone(), p.url.clone()))
            .collect(),
    }
}

//! Live streaming of a scheduled meeting (`liveStreaming:`): started once participants joined,
//! stopped when the meeting ends. Launchers run docker (or a configured command) with argv and
//! pass the BBB secret through the environment only.

use super::Service;
use super::schedule::JobError;
use crate::domain::{BbbMeetingId, ServerSpec};
use crate::scheduler::plan::Occurrence;
use crate::store::StoredMeeting;
use crate::streaming::{StreamName, StreamRequest, launcher_for};

impl Service {
    /// Start the meeting's stream (idempotent: a running stream of that name is left alone).
    pub(super) async fn start_stream(
        &self,
        m: &StoredMeeting,
        occ: &Occurrence,
        server: &ServerSpec,
        bbb_id: &BbbMeetingId,
    ) -> Result<(), JobError> {
        let Some(ls) = &m.spec.live_streaming else {
            return Ok(());
        };
        let id = &m.spec.id;
        let name = StreamName::for_occurrence(id.as_str(), &occ.key);
        let started = async {
            let req = StreamRequest::new(
                name,
                server.url.clone(),
                server.secret.clone(),
                bbb_id.clone(),
                ls.target_url.clone(),
                ls.play_intro.clone(),
            )?;
            let launcher = launcher_for(Some(ls.streamer_host.as_str()), &self.settings.streaming)?;
            launcher.start(&req).await
        }
        .await;
        let (code, msg) = match &started {
            Ok(status) => (220, format!("liveStreaming started ({status:?})")),
            Err(e) => (400, format!("liveStreaming failed: {e}")),
        };
        self.step(id, "liveStreaming", code, &msg)
            .await
            .map_err(|e| JobError {
                transient: true,
                message: e.to_string(),
            })?;
        started.map(|_| ()).map_err(|e| JobError {
            transient: false,
            message: e.to_string(),
        })
    }

    /// Stop the stream of an occurrence; a stream that is not running is fine.
    pub(super) async fn stop_stream(&self, m: &StoredMeeting, occ: &Occurrence) {
        let Some(ls) = &m.spec.live_streaming else {
            return;
        };
        let name = StreamName::for_occurrence(m.spec.id.as_str(), &occ.key);
        let stopped = match launcher_for(Some(ls.streamer_host.as_str()), &self.settings.streaming)
        {
            Ok(l) => l.stop(&name).await.map(|_| ()),
            Err(e) => Err(e),
        };
        let (code, msg) = match stopped {
            Ok(()) => (210, "liveStreaming stopped".to_string()),
            Err(e) => (400, format!("liveStreaming could not be stopped: {e}")),
        };
        if let Err(e) = self.step(&m.spec.id, "liveStreaming", code, &msg).await {
            tracing::warn!(meeting = %m.spec.id, error = %e, "could not record the stream stop");
        }
    }
}

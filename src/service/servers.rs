//! Server operations.

use super::{Service, internal};
use crate::domain::{MeetingPhase, OpError, Outcome, ServerId, ServerSpec};
use std::ops::RangeInclusive;

/// Per-request timeouts a server may have; the same range `bot-config.yml` accepts. Without it a
/// server added at run time could get `0`, which the HTTP client takes as "no limit" while the
/// fan-out over servers gives up after the grace period.
const TIMEOUT_RANGE_MS: RangeInclusive<u64> = 100..=600_000;

fn check_server(server: &ServerSpec) -> Result<(), OpError> {
    if TIMEOUT_RANGE_MS.contains(&server.timeout_ms) {
        return Ok(());
    }
    Err(OpError::Invalid(format!(
        "timeoutMs {} of server '{}' is out of range; use {} to {} milliseconds (default 5000)",
        server.timeout_ms,
        server.id,
        TIMEOUT_RANGE_MS.start(),
        TIMEOUT_RANGE_MS.end()
    )))
}

impl Service {
    pub(super) async fn add_server(&self, server: &ServerSpec) -> Result<Outcome, OpError> {
        check_server(server)?;
        if self
            .store
            .get_server(&server.id)
            .await
            .map_err(internal)?
            .is_some()
        {
            return Err(OpError::AlreadyExists {
                what: "server".into(),
                id: server.id.to_string(),
            });
        }
        self.store
            .upsert_server(server, self.clock.now())
            .await
            .map_err(internal)?;
        Ok(Outcome::Server {
            server: server.summary(),
            created: true,
        })
    }

    pub(super) async fn update_server(&self, server: &ServerSpec) -> Result<Outcome, OpError> {
        self.server(&server.id).await?;
        check_server(server)?;
        self.store
            .upsert_server(server, self.clock.now())
            .await
            .map_err(internal)?;
        Ok(Outcome::Server {
            server: server.summary(),
            created: false,
        })
    }

    pub(super) async fn remove_server(&self, id: &ServerId) -> Result<Outcome, OpError> {
        self.server(id).await?;
        let users: Vec<String> = self
            .store
            .list_meetings()
            .await
            .map_err(internal)?
            .into_iter()
            // Cancelled meetings are history; the refusal below tells the admin to cancel.
            .filter(|m| &m.spec.server == id && m.phase != MeetingPhase::Cancelled)
            .map(|m| m.spec.id.to_string())
            .collect();
        if !users.is_empty() {
            return Err(OpError::Invalid(format!(
                "server '{id}' is used by meeting(s) {}; cancel them or move them to another server first",
                users.join(", ")
            )));
        }
        self.store.delete_server(id).await.map_err(internal)?;
        Ok(Outcome::Done {
            message: format!("server '{id}' removed"),
        })
    }

    pub(super) async fn list_servers(&self) -> Result<Outcome, OpError> {
        let servers = self.store.list_servers().await.map_err(internal)?;
        Ok(Outcome::Servers {
            servers: servers.iter().map(ServerSpec::summary).collect(),
        })
    }
}

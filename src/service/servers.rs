//! Server operations.

use super::{Service, internal};
use crate::domain::{OpError, Outcome, ServerId, ServerSpec};

impl Service {
    pub(super) async fn add_server(&self, server: &ServerSpec) -> Result<Outcome, OpError> {
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
            .filter(|m| &m.spec.server == id)
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

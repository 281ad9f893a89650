//! Opening Greenlight databases: one pool per distinct Greenlight, kept for reuse.

use super::common::{DEFAULT_BCRYPT_COST, connect, detect_version};
use super::{
    Greenlight, GreenlightConnector, GreenlightError, GreenlightSettings, GreenlightVersion,
};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;

/// Opens Greenlight databases over PostgreSQL, detecting the version when not configured, and
/// reuses the connection pool for the same settings.
#[derive(Default)]
pub struct PgConnector {
    open: Mutex<HashMap<String, Arc<dyn Greenlight>>>,
}

impl PgConnector {
    pub fn new() -> Self {
        Self::default()
    }
}

fn cache_key(s: &GreenlightSettings) -> String {
    format!(
        "{:?}|{}|{:?}|{:?}",
        s.version,
        s.database_url.expose(),
        s.provider,
        s.bcrypt_cost
    )
}

#[async_trait]
impl GreenlightConnector for PgConnector {
    async fn open(
        &self,
        settings: &GreenlightSettings,
    ) -> Result<Arc<dyn Greenlight>, GreenlightError> {
        let key = cache_key(settings);
        let mut open = self.open.lock().await;
        if let Some(gl) = open.get(&key) {
            return Ok(gl.clone());
        }
        let pool = connect(&settings.database_url).await?;
        let version = match settings.version {
            Some(v) => v,
            None => detect_version(&pool).await?,
        };
        let cost = settings.bcrypt_cost.unwrap_or(DEFAULT_BCRYPT_COST);
        let gl: Arc<dyn Greenlight> = match version {
            GreenlightVersion::V3 => Arc::new(super::v3::GreenlightV3::new(
                pool,
                settings.provider.clone(),
                cost,
            )),
            GreenlightVersion::V2 => Arc::new(super::v2::GreenlightV2::new(
                pool,
                settings.provider.clone(),
                cost,
            )),
        };
        let report = gl.check_schema().await?;
        for warning in &report.warnings {
            tracing::warn!(%warning, "Greenlight schema");
        }
        open.insert(key, gl.clone());
        Ok(gl)
    }
}

//! Start-up as a library function: open the store, bring the configured servers into it, build
//! the service. `main` only wires commands to this.

use crate::bbb::{BbbConnector, HttpConnector};
use crate::clock::{Clock, SystemClock};
use crate::config::{AppConfig, StoreLocation};
use crate::service::{Service, ServiceSettings};
use crate::store::{SqlStore, Store};
use std::sync::Arc;

/// The running application's handles.
pub struct App {
    pub config: AppConfig,
    pub service: Service,
    pub store: Arc<dyn Store>,
}

impl App {
    /// Open the store named in the config and sync the config's servers into it.
    pub async fn build(config: AppConfig) -> anyhow::Result<App> {
        Ok(Self::build_sql(config).await?.0)
    }

    /// Like [`App::build`], also handing back the concrete store (for its statement count).
    pub async fn build_sql(config: AppConfig) -> anyhow::Result<(App, Arc<SqlStore>)> {
        let sql = Arc::new(open_store(&config.store.location).await?);
        let app = Self::with_parts(
            config,
            sql.clone(),
            Arc::new(HttpConnector::try_new()?),
            Arc::new(SystemClock),
        )
        .await?;
        Ok((app, sql))
    }

    /// Build from given adapters (tests, the demo).
    pub async fn with_parts(
        config: AppConfig,
        store: Arc<dyn Store>,
        bbb: Arc<dyn BbbConnector>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<App> {
        let now = clock.now();
        for server in config.servers.values() {
            store.upsert_server(server, now).await?;
        }
        let settings = ServiceSettings {
            default_time_zone: config.defaults.tz(),
            default_greenlight: config.greenlight.clone(),
            callback_base: config.api.public_url.clone(),
            plan_defaults: crate::scheduler::PlanDefaults::from(&config.defaults),
            streaming: config.streaming.clone(),
            send_emails: config.mail.send_emails,
            ..ServiceSettings::default()
        };
        let service = Service::new(store.clone(), bbb, clock, settings);
        Ok(App {
            config,
            service,
            store,
        })
    }
}

impl App {
    /// What the BBB callback endpoints need.
    pub fn callback_state(&self) -> crate::callbacks::CallbackState {
        crate::callbacks::CallbackState {
            store: self.store.clone(),
            greenlight: self.service.greenlight_connector(),
            default_greenlight: self.service.settings().default_greenlight.clone(),
            http: reqwest::Client::new(),
        }
    }
}

pub async fn open_store(location: &StoreLocation) -> anyhow::Result<SqlStore> {
    let target = match location {
        StoreLocation::Sqlite(path) => path.display().to_string(),
        StoreLocation::Postgres(url) => url.expose().to_string(),
    };
    SqlStore::connect(&target)
        .await
        .map_err(|e| anyhow::anyhow!("{e} (store: {})", location.describe()))
}

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
            retention: config.retention.clone(),
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

/// The single-instance guard of a SQLite store: `schedulight run` holds an exclusive lock on
/// `<store>.lock` for as long as it runs, so a second daemon on the same file is refused (two
/// would each run every job: SQLite serves one instance; PostgreSQL serves several). One-shot
/// commands do not take it. Dropped with the returned file.
pub fn lock_single_instance(location: &StoreLocation) -> anyhow::Result<Option<std::fs::File>> {
    let StoreLocation::Sqlite(path) = location else {
        return Ok(None);
    };
    if path.as_os_str() == ":memory:" || path.to_string_lossy().contains("mode=memory") {
        return Ok(None);
    }
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = std::path::PathBuf::from(lock_path);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            use std::io::Write;
            let _ = file.set_len(0);
            let _ = (&file).write_all(format!("{}\n", std::process::id()).as_bytes());
            Ok(Some(file))
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&lock_path).unwrap_or_default();
            let holder = holder.trim();
            anyhow::bail!(
                "another `schedulight run` uses the SQLite store {}{}; a SQLite store serves one \
                 instance — stop the other, or put both on PostgreSQL (store.location: \
                 postgres://…) to run several",
                path.display(),
                if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {holder})")
                }
            )
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(anyhow::anyhow!("cannot lock {}: {e}", lock_path.display()))
        }
    }
}

//! The SQL store: SQLite by default (one file, WAL), PostgreSQL for shared deployments.
//!
//! One set of runtime-checked, parameterised statements serves both backends; where they differ
//! (row locks, how a write transaction starts) the statement is picked per [`Dialect`]. The schema
//! lives in `migrations/sqlite` and `migrations/postgres` and is applied on connect.
//!
//! Stored representation, identical on both backends:
//! * times are BIGINT unix **microseconds** (UTC); finer parts of a `Timestamp` are dropped;
//! * definitions (servers, meetings), job payloads and token scopes are JSON in TEXT columns;
//! * states are snake_case TEXT (`pending`, `running`, …).
//!
//! Semantics the trait leaves open, shared with [`MemoryStore`](crate::store::MemoryStore):
//! * steps and jobs need their meeting: recording a step or enqueueing a job for a meeting that is
//!   not stored fails with `StoreError::Database("meeting '…' does not exist")`;
//! * deleting a meeting deletes all its jobs (whatever their state, so a re-created meeting can
//!   enqueue the same unique keys again); outbox requests stay;
//! * every claim counts as an attempt (`attempts` goes up when a job or request is claimed);
//! * done, failed and cancelled jobs, and sent or failed outbox requests, are final: later
//!   `complete_job`/`fail_job`/`mark_outbox_*` calls leave them alone;
//! * `list_jobs` is ordered by due time, then id; `list_outbox` and `list_tokens` by id;
//! * `MailFilter::Pending` lists requests waiting or being sent;
//! * token names are unique among tokens that are not revoked.

mod error;
mod rows;

pub use error::redact_location;
pub(crate) use rows::job_state_str as job_state_name;

use self::rows::{
    AppliedRow, AuditRow, ChatPendingRow, CommandResultRow, JobRow, MeetingRow, OutboxRow,
    ServerRow, StepRow, TokenRow, job_columns, micros, outbox_columns, to_json, token_columns,
};
use crate::domain::operation::MailFilter;
use crate::domain::{
    Channel, MeetingId, MeetingPhase, MeetingSpec, Scope, ServerId, ServerSpec, StepRecord,
};
use crate::store::{
    ApiToken, AppliedEntry, AuditEntry, AuditQuery, ChatPending, CommandResultRecord, Enqueued,
    Job, NewJob, OutboxEntry, OutboxFilter, OutboxRequest, PlannedMeeting, PurgeCutoffs, Store,
    StoreError, StoredMeeting,
};
use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long an SQLite writer waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a caller waits for a free pooled connection (and, on connect, for a database that
/// refuses connections because it is still starting).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// SQLite serialises writers anyway; a few connections let reads run beside a write.
const SQLITE_MAX_CONNECTIONS: u32 = 4;
const POSTGRES_MAX_CONNECTIONS: u32 = 8;
/// Rows per multi-row statement in bulk writes: at most 7 columns × 500 = 3 500 parameters,
/// well inside SQLite's 32 766 and PostgreSQL's 65 535.
const BULK_ROWS: usize = 500;

enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Clone, Copy)]
enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    fn pick(self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self {
            Self::Sqlite => sqlite,
            Self::Postgres => postgres,
        }
    }

    /// SQLite transactions that will write take the write lock up front, so a concurrent writer
    /// waits on the busy timeout instead of failing when it upgrades its read lock.
    fn begin_write(self) -> &'static str {
        self.pick("BEGIN IMMEDIATE", "BEGIN")
    }
}

/// Runs the same body against whichever typed pool the store holds. sqlx's query API is generic,
/// so one body compiles once per backend without a lowest-common-denominator driver.
///
/// Counts one statement; a body that sends more (a transaction, a second lookup) tallies the
/// rest itself with [`SqlStore::tally`].
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {{
        $store.tally(1);
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    }};
    ($store:expr, |$pool:ident, $dialect:ident| $body:expr) => {{
        $store.tally(1);
        match &$store.pool {
            Pool::Sqlite($pool) => {
                let $dialect = Dialect::Sqlite;
                $body
            }
            Pool::Postgres($pool) => {
                let $dialect = Dialect::Postgres;
                $body
            }
        }
    }};
}

/// The SQL-backed [`Store`].
pub struct SqlStore {
    pool: Pool,
    /// Statements sent so far; see [`SqlStore::queries`].
    queries: AtomicU64,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pool options hold the connection password; show only the backend.
        f.debug_struct("SqlStore")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl SqlStore {
    /// Opens the store and brings its schema up to date.
    ///
    /// `location` is a `postgres://` / `postgresql://` URL for PostgreSQL; anything else is
    /// SQLite: an `sqlite:` URL or a file path. A missing SQLite file (and its directory) is
    /// created.
    pub async fn connect(location: &str) -> Result<SqlStore, StoreError> {
        let location = location.trim();
        if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            Self::connect_postgres(location).await
        } else if location.contains("://") && !location.starts_with("sqlite:") {
            Err(StoreError::Open {
                location: redact_location(location),
                reason: "unsupported database; use a file path, an sqlite: URL or a \
                         postgres:// URL"
                    .into(),
            })
        } else {
            Self::connect_sqlite(location).await
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Closes all connections; later calls fail. For orderly shutdown and reopen tests.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }

    /// Statements this store sent to the database since it was opened, each `BEGIN`,
    /// `COMMIT` and `ROLLBACK` included. Not counted: the schema migration on connect, the
    /// pool's own connection upkeep, the second round of an insert-or-find enqueue whose row
    /// vanished in between (rare), and `enqueue_mail`'s lookup of an already queued mail. For
    /// checking that an idle daemon leaves the database alone, and what a burst of jobs costs.
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Count `statements` more. Relaxed: a statistic, it orders nothing.
    fn tally(&self, statements: u64) {
        self.queries.fetch_add(statements, Ordering::Relaxed);
    }

    fn with(pool: Pool) -> SqlStore {
        SqlStore {
            pool,
            queries: AtomicU64::new(0),
        }
    }

    async fn connect_sqlite(location: &str) -> Result<SqlStore, StoreError> {
        let options = if location.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(location).map_err(|e| error::open(location, &e))?
        } else {
            create_parent_dir(location)?;
            SqliteConnectOptions::new().filename(location)
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true);
        // Several processes may open one file at once (a daemon and a CLI command starting
        // together). SQLite's migrations have no lock of their own, and two connections switching a
        // new file to WAL make one fail with "database is locked" without waiting. So the first
        // connection does both alone, under an exclusive lock on the file, before the pool opens.
        let in_memory = location.contains(":memory:") || location.contains("mode=memory");
        if !in_memory {
            let _lock = lock_file(location, options.get_filename()).await?;
            let first = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone())
                .await
                .map_err(|e| error::open(location, &e))?;
            sqlx::migrate!("migrations/sqlite")
                .run(&first)
                .await
                .map_err(error::migration)?;
            first.close().await;
        }
        // Keep one connection for the life of the pool: an `sqlite::memory:` database lives only
        // as long as a connection to it.
        let pool = SqlitePoolOptions::new()
            .max_connections(SQLITE_MAX_CONNECTIONS)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| error::open(location, &e))?;
        if in_memory {
            sqlx::migrate!("migrations/sqlite")
                .run(&pool)
                .await
                .map_err(error::migration)?;
        }
        tracing::debug!(location, "opened SQLite store");
        Ok(SqlStore::with(Pool::Sqlite(pool)))
    }

    async fn connect_postgres(location: &str) -> Result<SqlStore, StoreError> {
        let options =
            PgConnectOptions::from_str(location).map_err(|e| error::open(location, &e))?;
        let pool = PgPoolOptions::new()
            .max_connections(POSTGRES_MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| error::open(location, &e))?;
        // sqlx serialises concurrent migrators with an advisory lock, so several instances may
        // start at once.
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(error::migration)?;
        tracing::debug!(location = %redact_location(location), "opened PostgreSQL store");
        Ok(SqlStore::with(Pool::Postgres(pool)))
    }
}

/// An exclusive advisory lock (`flock`) on the database file, released when dropped. SQLite's own
/// locks are `fcntl` locks, which Linux keeps apart from `flock`, so this does not get in their way.
async fn lock_file(location: &str, path: &std::path::Path) -> Result<std::fs::File, StoreError> {
    let path = path.to_path_buf();
    let failed = |e: std::io::Error| StoreError::Open {
        location: redact_location(location),
        reason: format!("cannot lock {}: {e}", path.display()),
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(failed)?;
    tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))
        .and_then(|r| r)
        .map_err(failed)
}

fn create_parent_dir(path: &str) -> Result<(), StoreError> {
    let Some(parent) = std::path::Path::new(path).parent() else {
        return Ok(());
    };
    if parent.as_os_str().is_empty() || parent.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(parent).map_err(|e| StoreError::Open {
        location: path.to_string(),
        reason: format!("cannot create directory {}: {e}", parent.display()),
    })
}

#[async_trait]
impl Store for SqlStore {
    // --- servers

    async fn upsert_server(&self, server: &ServerSpec, now: Timestamp) -> Result<bool, StoreError> {
        const OP: &str = "save server";
        let spec = to_json("server", server)?;
        with_pool!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_write())
                .await
                .map_err(error::statement(OP))?;
            self.tally(1);
            let existed = sqlx::query(dialect.pick(
                "SELECT 1 FROM servers WHERE id = $1",
                "SELECT 1 FROM servers WHERE id = $1 FOR UPDATE",
            ))
            .bind(server.id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(error::statement(OP))?
            .is_some();
            self.tally(1);
            sqlx::query(
                "INSERT INTO servers (id, spec, created_at, updated_at) VALUES ($1, $2, $3, $3) \
                 ON CONFLICT (id) DO UPDATE SET spec = excluded.spec, \
                 updated_at = excluded.updated_at",
            )
            .bind(server.id.as_str())
            .bind(&spec)
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(error::statement(OP))?;
            self.tally(1);
            tx.commit().await.map_err(error::statement(OP))?;
            Ok(!existed)
        })
    }

    async fn get_server(&self, id: &ServerId) -> Result<Option<ServerSpec>, StoreError> {
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, ServerRow>("SELECT id, spec FROM servers WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(pool)
                .await
        })
        .map_err(error::statement("read server"))?;
        row.map(ServerRow::into_spec).transpose()
    }

    async fn list_servers(&self) -> Result<Vec<ServerSpec>, StoreError> {
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, ServerRow>("SELECT id, spec FROM servers ORDER BY id")
                .fetch_all(pool)
                .await
        })
        .map_err(error::statement("list servers"))?;
        rows.into_iter().map(ServerRow::into_spec).collect()
    }

    async fn delete_server(&self, id: &ServerId) -> Result<bool, StoreError> {
        let done = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM servers WHERE id = $1")
                .bind(id.as_str())
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(error::statement("delete server"))?;
        Ok(done > 0)
    }

    // --- meetings

    async fn insert_meeting(
        &self,
        spec: &MeetingSpec,
        phase: MeetingPhase,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let json = to_json("meeting", spec)?;
        let inserted = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO meetings (id, server_id, spec, phase, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (id) DO NOTHING",
            )
            .bind(spec.id.as_str())
            .bind(spec.server.as_str())
            .bind(&json)
            .bind(phase.as_str())
            .bind(micros(now))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })
        .map_err(error::statement("add meeting"))?;
        if inserted == 0 {
            return Err(StoreError::Conflict {
                what: "meeting",
                id: spec.id.to_string(),
            });
        }
        Ok(())
    }

    async fn update_meeting_spec(
        &self,
        spec: &MeetingSpec,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let json = to_json("meeting", spec)?;
        let updated = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE meetings SET spec = $2, server_id = $3, updated_at = $4 WHERE id = $1",
            )
            .bind(spec.id.as_str())
            .bind(&json)
            .bind(spec.server.as_str())
            .bind(micros(now))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })
        .map_err(error::statement("update meeting"))?;
        Ok(updated > 0)
    }

    async fn get_meeting(&self, id: &MeetingId) -> Result<Option<StoredMeeting>, StoreError> {
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, MeetingRow>(
                "SELECT id, spec, phase, created_at, updated_at FROM meetings WHERE id = $1",
            )
            .bind(id.as_str())
            .fetch_optional(pool)
            .await
        })
        .map_err(error::statement("read meeting"))?;
        row.map(MeetingRow::into_meeting).transpose()
    }

    async fn list_meetings(&self) -> Result<Vec<StoredMeeting>, StoreError> {
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, MeetingRow>(
                "SELECT id, spec, phase, created_at, updated_at FROM meetings ORDER BY id",
            )
            .fetch_all(pool)
            .await
        })
        .map_err(error::statement("list meetings"))?;
        rows.into_iter().map(MeetingRow::into_meeting).collect()
    }

    async fn set_meeting_phase(
        &self,
        id: &MeetingId,
        phase: MeetingPhase,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let updated = with_pool!(self, |pool| {
            sqlx::query("UPDATE meetings SET phase = $2, updated_at = $3 WHERE id = $1")
                .bind(id.as_str())
                .bind(phase.as_str())
                .bind(micros(now))
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(error::statement("set meeting phase"))?;
        Ok(updated > 0)
    }

    async fn delete_meeting(&self, id: &MeetingId) -> Result<bool, StoreError> {
        // Steps and jobs go through ON DELETE CASCADE in the same statement.
        let deleted = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM meetings WHERE id = $1")
                .bind(id.as_str())
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(error::statement("delete meeting"))?;
        Ok(deleted > 0)
    }

    // --- step history

    async fn record_step(
        &self,
        meeting: &MeetingId,
        record: &StepRecord,
    ) -> Result<bool, StoreError> {
        const OP: &str = "record step";
        with_pool!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_write())
                .await
                .map_err(error::statement(OP))?;
            // Locking the meeting row serialises recorders of one meeting on PostgreSQL, so the
            // "same code as the latest?" check cannot race; SQLite holds the write lock already.
            self.tally(1);
            let exists = sqlx::query(dialect.pick(
                "SELECT 1 FROM meetings WHERE id = $1",
                "SELECT 1 FROM meetings WHERE id = $1 FOR NO KEY UPDATE",
            ))
            .bind(meeting.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(error::statement(OP))?
            .is_some();
            if !exists {
                // The dropped `tx` sends a ROLLBACK.
                self.tally(1);
                return Err(error::missing_meeting(meeting.as_str()));
            }
            self.tally(1);
            let latest: Option<i64> = sqlx::query_scalar(
                "SELECT code FROM meeting_steps WHERE meeting_id = $1 AND step = $2 \
                 ORDER BY seq DESC LIMIT 1",
            )
            .bind(meeting.as_str())
            .bind(&record.step)
            .fetch_optional(&mut *tx)
            .await
            .map_err(error::statement(OP))?;
            if latest == Some(i64::from(record.code)) {
                self.tally(1);
                return Ok(false);
            }
            self.tally(1);
            sqlx::query(
                "INSERT INTO meeting_steps (meeting_id, step, code, message, at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(meeting.as_str())
            .bind(&record.step)
            .bind(i64::from(record.code))
            .bind(&record.message)
            .bind(micros(record.at))
            .execute(&mut *tx)
            .await
            .map_err(error::statement(OP))?;
            self.tally(1);
            tx.commit().await.map_err(error::statement(OP))?;
            Ok(true)
        })
    }

    async fn step_history(&self, meeting: &MeetingId) -> Result<Vec<StepRecord>, StoreError> {
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, StepRow>(
                "SELECT step, code, message, at FROM meeting_steps WHERE meeting_id = $1 \
                 ORDER BY seq",
            )
            .bind(meeting.as_str())
            .fetch_all(pool)
            .await
        })
        .map_err(error::statement("read step history"))?;
        rows.into_iter().map(StepRow::into_record).collect()
    }

    async fn latest_steps(&self, meeting: &MeetingId) -> Result<Vec<StepRecord>, StoreError> {
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, StepRow>(
                "SELECT s.step, s.code, s.message, s.at FROM meeting_steps s \
                 WHERE s.meeting_id = $1 AND s.seq = (SELECT MAX(t.seq) FROM meeting_steps t \
                 WHERE t.meeting_id = s.meeting_id AND t.step = s.step) \
                 ORDER BY s.step",
            )
            .bind(meeting.as_str())
            .fetch_all(pool)
            .await
        })
        .map_err(error::statement("read latest steps"))?;
        rows.into_iter().map(StepRow::into_record).collect()
    }

    async fn clear_steps(
        &self,
        meeting: &MeetingId,
        step: Option<&str>,
    ) -> Result<u64, StoreError> {
        with_pool!(self, |pool| {
            match step {
                Some(step) => {
                    sqlx::query("DELETE FROM meeting_steps WHERE meeting_id = $1 AND step = $2")
                        .bind(meeting.as_str())
                        .bind(step)
                        .execute(pool)
                        .await
                        .map(|r| r.rows_affected())
                }
                None => sqlx::query("DELETE FROM meeting_steps WHERE meeting_id = $1")
                    .bind(meeting.as_str())
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected()),
            }
        })
        .map_err(error::statement("clear steps"))
    }

    // --- jobs

    async fn enqueue_job(&self, job: &NewJob) -> Result<i64, StoreError> {
        const OP: &str = "enqueue job";
        let payload = to_json("job payload", &job.payload)?;
        let meeting = job.meeting_id.as_ref().map(MeetingId::as_str);
        with_pool!(self, |pool| {
            // Insert-or-find; the find can miss only if the job was deleted in between, so a
            // second round settles it.
            for _ in 0..2 {
                let inserted: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO jobs (kind, meeting_id, due_at, payload, unique_key, state, \
                     attempts) VALUES ($1, $2, $3, $4, $5, 'pending', 0) \
                     ON CONFLICT (unique_key) DO NOTHING RETURNING id",
                )
                .bind(&job.kind)
                .bind(meeting)
                .bind(micros(job.due_at))
                .bind(&payload)
                .bind(&job.unique_key)
                .fetch_optional(pool)
                .await
                .map_err(error::needs_meeting(OP, meeting))?;
                if let Some(id) = inserted {
                    return Ok(id);
                }
                self.tally(1);
                let existing: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM jobs WHERE unique_key = $1")
                        .bind(&job.unique_key)
                        .fetch_optional(pool)
                        .await
                        .map_err(error::statement(OP))?;
                if let Some(id) = existing {
                    return Ok(id);
                }
            }
            Err(StoreError::Database(format!(
                "{OP}: job '{}' changed while it was enqueued; try again",
                job.unique_key
            )))
        })
    }

    async fn claim_due_jobs(
        &self,
        now: Timestamp,
        worker: &str,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Job>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows = with_pool!(self, |pool, dialect| {
            // SQLite: one UPDATE statement holds the database write lock throughout, so two
            // claimers cannot pick the same row. PostgreSQL: SKIP LOCKED lets concurrent
            // claimers (other instances) take disjoint rows without waiting on each other.
            sqlx::query_as::<_, JobRow>(dialect.pick(
                concat!(
                    "UPDATE jobs SET state = 'running', locked_by = $2, lease_until = $3, ",
                    "attempts = attempts + 1 WHERE id IN (SELECT id FROM jobs ",
                    "WHERE (state = 'pending' AND due_at <= $1) ",
                    "OR (state = 'running' AND lease_until <= $1) ",
                    "ORDER BY due_at, id LIMIT $4) RETURNING ",
                    job_columns!()
                ),
                concat!(
                    "WITH picked AS (SELECT id AS picked_id FROM jobs ",
                    "WHERE (state = 'pending' AND due_at <= $1) ",
                    "OR (state = 'running' AND lease_until <= $1) ",
                    "ORDER BY due_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) ",
                    "UPDATE jobs SET state = 'running', locked_by = $2, lease_until = $3, ",
                    "attempts = attempts + 1 FROM picked WHERE jobs.id = picked.picked_id ",
                    "RETURNING ",
                    job_columns!()
                ),
            ))
            .bind(micros(now))
            .bind(worker)
            .bind(micros(lease_until))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })
        .map_err(error::statement("claim jobs"))?;
        let mut jobs = rows
            .into_iter()
            .map(JobRow::into_job)
            .collect::<Result<Vec<_>, _>>()?;
        // RETURNING has no defined order.
        jobs.sort_by_key(|j| (j.due_at, j.id));
        Ok(jobs)
    }

    async fn complete_job(&self, id: i64, now: Timestamp) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE jobs SET state = 'done', finished_at = $2, locked_by = NULL, \
                 lease_until = NULL WHERE id = $1 AND state IN ('pending', 'running')",
            )
            .bind(id)
            .bind(micros(now))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })
        .map_err(error::statement("complete job"))?;
        Ok(())
    }

    async fn fail_job(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            match retry_at {
                Some(at) => sqlx::query(
                    "UPDATE jobs SET state = 'pending', due_at = $3, last_error = $2, \
                         locked_by = NULL, lease_until = NULL \
                         WHERE id = $1 AND state IN ('pending', 'running')",
                )
                .bind(id)
                .bind(error)
                .bind(micros(at))
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
                None => sqlx::query(
                    "UPDATE jobs SET state = 'failed', last_error = $2, locked_by = NULL, \
                         lease_until = NULL WHERE id = $1 AND state IN ('pending', 'running')",
                )
                .bind(id)
                .bind(error)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
            }
        })
        .map_err(error::statement("record job failure"))?;
        Ok(())
    }

    async fn cancel_jobs(&self, meeting: &MeetingId) -> Result<u64, StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE jobs SET state = 'cancelled' WHERE meeting_id = $1 AND state = 'pending'",
            )
            .bind(meeting.as_str())
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })
        .map_err(error::statement("cancel jobs"))
    }

    async fn list_jobs(&self, meeting: Option<&MeetingId>) -> Result<Vec<Job>, StoreError> {
        let rows = with_pool!(self, |pool| {
            match meeting {
                Some(m) => {
                    sqlx::query_as::<_, JobRow>(concat!(
                        "SELECT ",
                        job_columns!(),
                        " FROM jobs WHERE meeting_id = $1 ORDER BY due_at, id"
                    ))
                    .bind(m.as_str())
                    .fetch_all(pool)
                    .await
                }
                None => {
                    sqlx::query_as::<_, JobRow>(concat!(
                        "SELECT ",
                        job_columns!(),
                        " FROM jobs ORDER BY due_at, id"
                    ))
                    .fetch_all(pool)
                    .await
                }
            }
        })
        .map_err(error::statement("list jobs"))?;
        rows.into_iter().map(JobRow::into_job).collect()
    }

    async fn next_job_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let due: Option<i64> = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT MIN(due_at) FROM jobs WHERE state = 'pending'")
                .fetch_one(pool)
                .await
        })
        .map_err(error::statement("find next job"))?;
        due.map(|us| {
            Timestamp::from_microsecond(us).map_err(|e| StoreError::Corrupt {
                what: "job due time".into(),
                reason: e.to_string(),
            })
        })
        .transpose()
    }

    async fn counts(&self) -> Result<super::StoreCounts, StoreError> {
        let jobs: Vec<(String, i64)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state")
                .fetch_all(pool)
                .await
        })
        .map_err(error::statement("count jobs"))?;
        let outbox: Vec<(String, String, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT channel, state, COUNT(*) FROM outbox GROUP BY channel, state \
                 ORDER BY channel, state",
            )
            .fetch_all(pool)
            .await
        })
        .map_err(error::statement("count outbox"))?;
        Ok(super::StoreCounts { jobs, outbox })
    }

    // --- outbox

    async fn enqueue_outbox(
        &self,
        request: &OutboxRequest,
        now: Timestamp,
    ) -> Result<Enqueued, StoreError> {
        const OP: &str = "queue outbox request";
        let data = to_json(OP, &request.data)?;
        with_pool!(self, |pool| {
            for _ in 0..2 {
                let inserted: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO outbox (unique_key, channel, kind, meeting_id, occurrence, \
                     recipient, data, not_before, state, attempts, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9) \
                     ON CONFLICT (unique_key) DO NOTHING RETURNING id",
                )
                .bind(&request.unique_key)
                .bind(request.channel.as_str())
                .bind(request.kind.as_str())
                .bind(request.meeting_id.as_ref().map(MeetingId::as_str))
                .bind(request.occurrence.as_deref())
                .bind(&request.recipient)
                .bind(&data)
                .bind(micros(request.not_before))
                .bind(micros(now))
                .fetch_optional(pool)
                .await
                .map_err(error::statement(OP))?;
                if let Some(id) = inserted {
                    return Ok(Enqueued { id, new: true });
                }
                let existing: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM outbox WHERE unique_key = $1")
                        .bind(&request.unique_key)
                        .fetch_optional(pool)
                        .await
                        .map_err(error::statement(OP))?;
                if let Some(id) = existing {
                    return Ok(Enqueued { id, new: false });
                }
            }
            Err(StoreError::Database(format!(
                "{OP}: '{}' changed while it was queued; try again",
                request.unique_key
            )))
        })
    }

    async fn list_outbox(&self, filter: &OutboxFilter) -> Result<Vec<OutboxEntry>, StoreError> {
        let states: &[&str] = match filter.state {
            MailFilter::Pending => &["pending", "sending"],
            MailFilter::Sent => &["sent"],
            MailFilter::Failed => &["failed"],
            MailFilter::All => &["pending", "sending", "sent", "failed"],
        };
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, OutboxRow>(concat!(
                "SELECT ",
                outbox_columns!(),
                " FROM outbox WHERE state IN ($1, $2, $3, $4) ",
                "AND ($5 IS NULL OR channel = $5) AND ($6 IS NULL OR meeting_id = $6) ",
                "ORDER BY id"
            ))
            .bind(states[0])
            .bind(states.get(1).copied().unwrap_or(states[0]))
            .bind(states.get(2).copied().unwrap_or(states[0]))
            .bind(states.get(3).copied().unwrap_or(states[0]))
            .bind(filter.channel.map(Channel::as_str))
            .bind(filter.meeting.as_ref().map(MeetingId::as_str))
            .fetch_all(pool)
            .await
        })
        .map_err(error::statement("list outbox"))?;
        rows.into_iter().map(OutboxRow::into_entry).collect()
    }

    async fn claim_outbox(
        &self,
        channel: Channel,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows = with_pool!(self, |pool, dialect| {
            sqlx::query_as::<_, OutboxRow>(dialect.pick(
                concat!(
                    "UPDATE outbox SET state = 'sending', attempts = attempts + 1, lease_until = $4 ",
                    "WHERE id IN (SELECT id FROM outbox WHERE channel = $3 AND ",
                    "((state = 'pending' AND not_before <= $1) OR (state = 'sending' AND lease_until <= $1)) ",
                    "ORDER BY not_before, id LIMIT $2) RETURNING ",
                    outbox_columns!()
                ),
                concat!(
                    "WITH picked AS (SELECT id AS picked_id FROM outbox ",
                    "WHERE channel = $3 AND ((state = 'pending' AND not_before <= $1) ",
                    "OR (state = 'sending' AND lease_until <= $1)) ",
                    "ORDER BY not_before, id LIMIT $2 FOR UPDATE SKIP LOCKED) ",
                    "UPDATE outbox SET state = 'sending', attempts = attempts + 1, lease_until = $4 ",
                    "FROM picked WHERE outbox.id = picked.picked_id RETURNING ",
                    outbox_columns!()
                ),
            ))
            .bind(micros(now))
            .bind(i64::from(limit))
            .bind(channel.as_str())
            .bind(micros(lease_until))
            .fetch_all(pool)
            .await
        })
        .map_err(error::statement("claim outbox"))?;
        let mut entries = rows
            .into_iter()
            .map(OutboxRow::into_entry)
            .collect::<Result<Vec<_>, _>>()?;
        entries.sort_by_key(|m| (m.request.not_before, m.id));
        Ok(entries)
    }

    async fn mark_outbox_sent(
        &self,
        id: i64,
        now: Timestamp,
        reply: Option<&str>,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE outbox SET state = 'sent', sent_at = $2, reply = $3 \
                 WHERE id = $1 AND state IN ('pending', 'sending')",
            )
            .bind(id)
            .bind(micros(now))
            .bind(reply)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })
        .map_err(error::statement("mark outbox request sent"))?;
        Ok(())
    }

    async fn mark_outbox_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            match retry_at {
                Some(at) => sqlx::query(
                    "UPDATE outbox SET state = 'pending', not_before = $3, \
                         last_error = $2 WHERE id = $1 AND state IN ('pending', 'sending')",
                )
                .bind(id)
                .bind(error)
                .bind(micros(at))
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
                None => sqlx::query(
                    "UPDATE outbox SET state = 'failed', last_error = $2 \
                         WHERE id = $1 AND state IN ('pending', 'sending')",
                )
                .bind(id)
                .bind(error)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
            }
        })
        .map_err(error::statement("mark outbox request failed"))?;
        Ok(())
    }

    async fn delete_outbox(&self, id: i64) -> Result<bool, StoreError> {
        let deleted = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM outbox WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(error::statement("delete outbox request"))?;
        Ok(deleted > 0)
    }

    // --- audit

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO audit_log (at, actor, operation, target, result, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(micros(entry.at))
            .bind(&entry.actor)
            .bind(&entry.operation)
            .bind(entry.target.as_deref())
            .bind(&entry.result)
            .bind(entry.detail.as_deref())
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })
        .map_err(error::statement("write audit entry"))?;
        Ok(())
    }

    async fn query_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        // Absent filters bind NULL and match everything: one statement for every combination.
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, AuditRow>(
                "SELECT id, at, actor, operation, target, result, detail FROM audit_log \
                 WHERE ($1 IS NULL OR at >= $1) AND ($2 IS NULL OR at < $2) \
                 AND ($3 IS NULL OR actor = $3) AND ($4 IS NULL OR target = $4) \
                 ORDER BY at DESC, id DESC LIMIT $5",
            )
            .bind(query.since.map(micros))
            .bind(query.until.map(micros))
            .bind(query.actor.as_deref())
            .bind(query.target.as_deref())
            .bind(i64::from(query.limit))
            .fetch_all(pool)
            .await
        })
        .map_err(error::statement("query the audit log"))?;
        rows.into_iter().map(AuditRow::into_entry).collect()
    }

    async fn purge_audit(&self, before: Timestamp) -> Result<u64, StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM audit_log WHERE at < $1")
                .bind(micros(before))
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(error::statement("purge the audit log"))
    }

    async fn purge_old(
        &self,
        cut: &PurgeCutoffs,
        dry_run: bool,
    ) -> Result<crate::domain::retention::Purged, StoreError> {
        const OP: &str = "purge old records";
        // Absent cut-offs bind NULL, and `at < NULL` is never true: one statement per table.
        // A step's latest entry is its current status and always stays.
        macro_rules! count_and_delete {
            ($from:literal) => {
                (
                    concat!("SELECT COUNT(*) ", $from),
                    concat!("DELETE ", $from),
                )
            };
        }
        let steps = count_and_delete!(
            "FROM meeting_steps WHERE at < $1 AND seq NOT IN \
             (SELECT MAX(seq) FROM meeting_steps GROUP BY meeting_id, step)"
        );
        let sent = count_and_delete!(
            "FROM outbox WHERE state = 'sent' AND COALESCE(sent_at, created_at) < $1"
        );
        let audit = count_and_delete!("FROM audit_log WHERE at < $1");
        let cuts = [
            (steps, cut.step_history),
            (sent, cut.sent_messages),
            (audit, cut.audit),
        ];
        let mut counts = [0u64; 3];
        with_pool!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_write())
                .await
                .map_err(error::statement(OP))?;
            for (i, ((count_sql, delete_sql), at)) in cuts.iter().enumerate() {
                let at = at.map(micros);
                self.tally(1);
                counts[i] = if dry_run {
                    let n: i64 = sqlx::query_scalar(*count_sql)
                        .bind(at)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(error::statement(OP))?;
                    u64::try_from(n).unwrap_or(0)
                } else {
                    sqlx::query(*delete_sql)
                        .bind(at)
                        .execute(&mut *tx)
                        .await
                        .map_err(error::statement(OP))?
                        .rows_affected()
                };
            }
            self.tally(1);
            tx.commit().await.map_err(error::statement(OP))
        })?;
        Ok(crate::domain::retention::Purged {
            step_history: counts[0],
            sent_messages: counts[1],
            audit_entries: counts[2],
        })
    }

    async fn retention_warnings(
        &self,
        server: &ServerId,
    ) -> Result<std::collections::BTreeMap<String, Timestamp>, StoreError> {
        let rows: Vec<(String, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT record_id, warned_at FROM retention_warnings WHERE server_id = $1",
            )
            .bind(server.as_str())
            .fetch_all(pool)
            .await
        })
        .map_err(error::statement("read retention warnings"))?;
        rows.into_iter()
            .map(|(r, at)| Ok((r, rows::time("retention warning", at)?)))
            .collect()
    }

    async fn mark_retention_warned(
        &self,
        server: &ServerId,
        record_id: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO retention_warnings (server_id, record_id, warned_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (server_id, record_id) DO NOTHING",
            )
            .bind(server.as_str())
            .bind(record_id)
            .bind(micros(at))
            .execute(pool)
            .await
            .map(|r| r.rows_affected() > 0)
        })
        .map_err(error::statement("record a retention warning"))
    }

    async fn forget_retention_warnings(
        &self,
        server: &ServerId,
        record_ids: &[String],
    ) -> Result<u64, StoreError> {
        let mut n = 0;
        for r in record_ids {
            n += with_pool!(self, |pool| {
                sqlx::query(
                    "DELETE FROM retention_warnings WHERE server_id = $1 AND record_id = $2",
                )
                .bind(server.as_str())
                .bind(r)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
            })
            .map_err(error::statement("forget retention warnings"))?;
        }
        Ok(n)
    }

    async fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, AuditRow>(
                "SELECT id, at, actor, operation, target, result, detail FROM audit_log \
                 ORDER BY at DESC, id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })
        .map_err(error::statement("read audit log"))?;
        rows.into_iter().map(AuditRow::into_entry).collect()
    }

    // --- command results

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
                 WHERE leases.holder = excluded.holder OR leases.until < $4",
            )
            .bind(name)
            .bind(holder)
            .bind(micros(until))
            .bind(micros(now))
            .execute(pool)
            .await
            .map(|r| r.rows_affected() > 0)
        })
        .map_err(error::statement("take a lease"))
    }

    async fn lease(&self, name: &str) -> Result<Option<(String, Timestamp)>, StoreError> {
        let row: Option<(String, i64)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT holder, until FROM leases WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await
        })
        .map_err(error::statement("read a lease"))?;
        row.map(|(holder, until)| {
            Timestamp::from_microsecond(until)
                .map(|t| (holder, t))
                .map_err(|e| StoreError::Corrupt {
                    what: format!("lease {name}"),
                    reason: e.to_string(),
                })
        })
        .transpose()
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(pool)
                .await
                .map(|_| ())
        })
        .map_err(error::statement("release a lease"))
    }

    async fn claim_event(&self, event_id: &str, at: Timestamp) -> Result<bool, StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO handled_events (event_id, at) VALUES ($1, $2) \
                 ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(event_id)
            .bind(micros(at))
            .execute(pool)
            .await
            .map(|r| r.rows_affected() > 0)
        })
        .map_err(error::statement("claim a chat event"))
    }

    async fn forget_events_before(&self, before: Timestamp) -> Result<u64, StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM handled_events WHERE at < $1")
                .bind(micros(before))
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(error::statement("forget handled chat events"))
    }

    async fn record_applied(&self, entries: &[AppliedEntry]) -> Result<(), StoreError> {
        const OP: &str = "record applied entries";
        if entries.is_empty() {
            return Ok(());
        }
        let results: Vec<Option<String>> = entries
            .iter()
            .map(|e| {
                e.result
                    .as_ref()
                    .map(|r| to_json("applied result", r))
                    .transpose()
            })
            .collect::<Result<_, _>>()?;
        with_pool!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_write())
                .await
                .map_err(error::statement(OP))?;
            for (chunk, results) in entries.chunks(BULK_ROWS).zip(results.chunks(BULK_ROWS)) {
                self.tally(1);
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO applied_entries (kind, key, source, digest, result, applied_at) ",
                );
                q.push_values(chunk.iter().zip(results), |mut row, (e, result)| {
                    row.push_bind(&e.kind)
                        .push_bind(&e.key)
                        .push_bind(&e.source)
                        .push_bind(&e.digest)
                        .push_bind(result.as_deref())
                        .push_bind(micros(e.applied_at));
                });
                q.push(
                    " ON CONFLICT (kind, key) DO UPDATE SET source = excluded.source, \
                     digest = excluded.digest, result = excluded.result, \
                     applied_at = excluded.applied_at",
                );
                q.build()
                    .execute(&mut *tx)
                    .await
                    .map_err(error::statement(OP))?;
            }
            self.tally(1);
            tx.commit().await.map_err(error::statement(OP))
        })
    }

    async fn insert_meetings_planned(
        &self,
        batch: &[PlannedMeeting],
        now: Timestamp,
    ) -> Result<Vec<bool>, StoreError> {
        const OP: &str = "add meetings";
        let specs: Vec<String> = batch
            .iter()
            .map(|m| to_json("meeting", &m.spec))
            .collect::<Result<_, _>>()?;
        let payloads: Vec<Vec<String>> = batch
            .iter()
            .map(|m| {
                m.jobs
                    .iter()
                    .map(|j| to_json("job payload", &j.payload))
                    .collect::<Result<_, _>>()
            })
            .collect::<Result<_, _>>()?;
        with_pool!(self, |pool, dialect| {
            let mut tx = pool
                .begin_with(dialect.begin_write())
                .await
                .map_err(error::statement(OP))?;
            // Which ids are taken: by the store, or earlier in the batch.
            let mut taken = std::collections::HashSet::new();
            for chunk in batch.chunks(BULK_ROWS) {
                self.tally(1);
                let mut q = sqlx::QueryBuilder::new("SELECT id FROM meetings WHERE id IN (");
                let mut ids = q.separated(", ");
                for m in chunk {
                    ids.push_bind(m.spec.id.as_str());
                }
                q.push(")");
                let found: Vec<String> = q
                    .build_query_scalar()
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(error::statement(OP))?;
                taken.extend(found);
            }
            let mut inserted = Vec::with_capacity(batch.len());
            for m in batch {
                inserted.push(taken.insert(m.spec.id.to_string()));
            }
            let new: Vec<(usize, &PlannedMeeting)> = batch
                .iter()
                .enumerate()
                .filter(|(i, _)| inserted[*i])
                .collect();
            for chunk in new.chunks(BULK_ROWS) {
                self.tally(1);
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO meetings (id, server_id, spec, phase, created_at, updated_at) ",
                );
                q.push_values(chunk, |mut row, (i, m)| {
                    row.push_bind(m.spec.id.as_str())
                        .push_bind(m.spec.server.as_str())
                        .push_bind(&specs[*i])
                        .push_bind(MeetingPhase::New.as_str())
                        .push_bind(micros(now))
                        .push_bind(micros(now));
                });
                q.build()
                    .execute(&mut *tx)
                    .await
                    .map_err(error::statement(OP))?;
                self.tally(1);
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO meeting_steps (meeting_id, step, code, message, at) ",
                );
                q.push_values(chunk, |mut row, (_, m)| {
                    row.push_bind(m.spec.id.as_str())
                        .push_bind(&m.step.step)
                        .push_bind(i64::from(m.step.code))
                        .push_bind(&m.step.message)
                        .push_bind(micros(m.step.at));
                });
                q.build()
                    .execute(&mut *tx)
                    .await
                    .map_err(error::statement(OP))?;
                self.tally(1);
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO audit_log (at, actor, operation, target, result, detail) ",
                );
                q.push_values(chunk, |mut row, (_, m)| {
                    row.push_bind(micros(m.audit.at))
                        .push_bind(&m.audit.actor)
                        .push_bind(&m.audit.operation)
                        .push_bind(m.audit.target.as_deref())
                        .push_bind(&m.audit.result)
                        .push_bind(m.audit.detail.as_deref());
                });
                q.build()
                    .execute(&mut *tx)
                    .await
                    .map_err(error::statement(OP))?;
            }
            let jobs: Vec<(&NewJob, &String)> = new
                .iter()
                .flat_map(|(i, m)| m.jobs.iter().zip(payloads[*i].iter()))
                .collect();
            for chunk in jobs.chunks(BULK_ROWS) {
                self.tally(1);
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO jobs (kind, meeting_id, due_at, payload, unique_key, state, \
                     attempts) ",
                );
                q.push_values(chunk, |mut row, (job, payload)| {
                    row.push_bind(&job.kind)
                        .push_bind(job.meeting_id.as_ref().map(MeetingId::as_str))
                        .push_bind(micros(job.due_at))
                        .push_bind(payload.as_str())
                        .push_bind(&job.unique_key)
                        .push_bind("pending")
                        .push_bind(0_i64);
                });
                q.push(" ON CONFLICT (unique_key) DO NOTHING");
                q.build()
                    .execute(&mut *tx)
                    .await
                    .map_err(error::statement(OP))?;
            }
            self.tally(1);
            tx.commit().await.map_err(error::statement(OP))?;
            Ok(inserted)
        })
    }

    async fn applied_entries(&self) -> Result<Vec<AppliedEntry>, StoreError> {
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, AppliedRow>(
                "SELECT kind, key, source, digest, result, applied_at FROM applied_entries \
                 ORDER BY kind, key",
            )
            .fetch_all(pool)
            .await
        })
        .map_err(error::statement("read applied entries"))?;
        rows.into_iter().map(AppliedRow::into_entry).collect()
    }

    async fn forget_applied(&self, kind: &str, key: &str) -> Result<bool, StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM applied_entries WHERE kind = $1 AND key = $2")
                .bind(kind)
                .bind(key)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
        })
        .map_err(error::statement("forget an applied entry"))
    }

    async fn chat_zone(&self, user: &str) -> Result<Option<String>, StoreError> {
        with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT time_zone FROM chat_users WHERE user_id = $1")
                .bind(user)
                .fetch_optional(pool)
                .await
        })
        .map_err(error::statement("read a chat user's time zone"))
    }

    async fn set_chat_zone(
        &self,
        user: &str,
        zone: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO chat_users (user_id, time_zone, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id) DO UPDATE SET time_zone = excluded.time_zone, \
                 updated_at = excluded.updated_at",
            )
            .bind(user)
            .bind(zone)
            .bind(micros(now))
            .execute(pool)
            .await
            .map(|_| ())
        })
        .map_err(error::statement("save a chat user's time zone"))
    }

    async fn hold_chat_pending(
        &self,
        user: &str,
        op: &crate::domain::Operation,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        let operation = to_json("chat confirmation", op)?;
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM chat_pending WHERE expires_at <= $1")
                .bind(micros(now))
                .execute(pool)
                .await
                .map(|_| ())
        })
        .map_err(error::statement("drop expired chat confirmations"))?;
        with_pool!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO chat_pending (user_id, operation, expires_at) VALUES ($1, $2, $3) \
                 RETURNING id",
            )
            .bind(user)
            .bind(&operation)
            .bind(micros(expires_at))
            .fetch_one(pool)
            .await
        })
        .map_err(error::statement("hold a chat confirmation"))
    }

    async fn chat_pending(&self, id: i64) -> Result<Option<ChatPending>, StoreError> {
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, ChatPendingRow>(
                "SELECT id, user_id, operation, expires_at, prompt_event FROM chat_pending \
                 WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
        })
        .map_err(error::statement("read a chat confirmation"))?;
        row.map(ChatPendingRow::into_pending).transpose()
    }

    async fn delete_chat_pending(&self, id: i64) -> Result<bool, StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM chat_pending WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() == 1)
        })
        .map_err(error::statement("drop a chat confirmation"))
    }

    async fn set_chat_prompt(&self, id: i64, event_id: &str) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE chat_pending SET prompt_event = $2 WHERE id = $1")
                .bind(id)
                .bind(event_id)
                .execute(pool)
                .await
                .map(|_| ())
        })
        .map_err(error::statement("remember a chat prompt"))
    }

    async fn chat_pending_by_prompt(&self, event_id: &str) -> Result<Option<i64>, StoreError> {
        with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT id FROM chat_pending WHERE prompt_event = $1")
                .bind(event_id)
                .fetch_optional(pool)
                .await
        })
        .map_err(error::statement("find a chat prompt"))
    }

    async fn save_command_result(&self, record: &CommandResultRecord) -> Result<i64, StoreError> {
        let results = to_json("command results", &record.results)?;
        with_pool!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO command_results (at, actor, operation, target, results) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(micros(record.at))
            .bind(&record.actor)
            .bind(&record.operation)
            .bind(record.target.as_deref())
            .bind(&results)
            .fetch_one(pool)
            .await
        })
        .map_err(error::statement("save command result"))
    }

    async fn command_result(&self, id: i64) -> Result<Option<CommandResultRecord>, StoreError> {
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, CommandResultRow>(
                "SELECT id, at, actor, operation, target, results FROM command_results WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
        })
        .map_err(error::statement("read command result"))?;
        row.map(CommandResultRow::into_record).transpose()
    }

    async fn list_command_results(
        &self,
        limit: u32,
    ) -> Result<Vec<CommandResultRecord>, StoreError> {
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, CommandResultRow>(
                "SELECT id, at, actor, operation, target, results FROM command_results \
                 ORDER BY id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })
        .map_err(error::statement("list command results"))?;
        rows.into_iter()
            .map(CommandResultRow::into_record)
            .collect()
    }

    // --- API tokens

    async fn create_token(
        &self,
        name: &str,
        token_hash: &str,
        scopes: &[Scope],
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        let scopes = to_json("token scopes", &scopes)?;
        // DO NOTHING without a target covers both the live-name index and the hash.
        let id: Option<i64> = with_pool!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO api_tokens (name, token_hash, scopes, created_at, revoked) \
                 VALUES ($1, $2, $3, $4, FALSE) ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(name)
            .bind(token_hash)
            .bind(&scopes)
            .bind(micros(now))
            .fetch_optional(pool)
            .await
        })
        .map_err(error::statement("create token"))?;
        id.ok_or_else(|| StoreError::Conflict {
            what: "token",
            id: name.to_string(),
        })
    }

    async fn use_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<ApiToken>, StoreError> {
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, TokenRow>(concat!(
                "UPDATE api_tokens SET last_used_at = $2 WHERE token_hash = $1 AND NOT revoked ",
                "RETURNING ",
                token_columns!()
            ))
            .bind(token_hash)
            .bind(micros(now))
            .fetch_optional(pool)
            .await
        })
        .map_err(error::statement("check token"))?;
        row.map(TokenRow::into_token).transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, TokenRow>(concat!(
                "SELECT ",
                token_columns!(),
                " FROM api_tokens ORDER BY id"
            ))
            .fetch_all(pool)
            .await
        })
        .map_err(error::statement("list tokens"))?;
        rows.into_iter().map(TokenRow::into_token).collect()
    }

    async fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let revoked = with_pool!(self, |pool| {
            sqlx::query("UPDATE api_tokens SET revoked = TRUE WHERE name = $1 AND NOT revoked")
                .bind(name)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(error::statement("revoke token"))?;
        Ok(revoked > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(code: u16) -> StepRecord {
        StepRecord {
            step: "status".into(),
            code,
            message: "started".into(),
            at: Timestamp::UNIX_EPOCH,
        }
    }

    /// The counter sees every round trip: a plain call is one statement, a transaction is its
    /// BEGIN, its statements and its COMMIT (or ROLLBACK).
    #[tokio::test]
    async fn counts_every_statement() {
        let store = SqlStore::connect("sqlite::memory:").await.expect("store");
        assert_eq!(store.queries(), 0, "the migration is not counted");
        let server = ServerSpec::new(
            "bbb".parse().expect("id"),
            "https://bbb.uni.example/bigbluebutton/api/"
                .parse()
                .expect("url"),
            crate::domain::Secret::new("secret"),
        );
        let now = Timestamp::UNIX_EPOCH;
        store.upsert_server(&server, now).await.expect("server");
        assert_eq!(store.queries(), 4, "BEGIN, SELECT, INSERT, COMMIT");
        store.get_server(&server.id).await.expect("read");
        assert_eq!(store.queries(), 5);
        let meeting = MeetingSpec::new("m1".parse().expect("id"), server.id.clone(), "M");
        store
            .insert_meeting(&meeting, MeetingPhase::Waiting, now)
            .await
            .expect("meeting");
        assert_eq!(store.queries(), 6);
        assert!(
            store
                .record_step(&meeting.id, &step(210))
                .await
                .expect("step")
        );
        assert_eq!(store.queries(), 11, "BEGIN, 2 SELECTs, INSERT, COMMIT");
        assert!(
            !store
                .record_step(&meeting.id, &step(210))
                .await
                .expect("same")
        );
        assert_eq!(store.queries(), 15, "BEGIN, 2 SELECTs, ROLLBACK");
        let missing = "nope".parse().expect("id");
        assert!(store.record_step(&missing, &step(210)).await.is_err());
        assert_eq!(store.queries(), 18, "BEGIN, SELECT, ROLLBACK");
        store.next_job_due().await.expect("next");
        assert_eq!(store.queries(), 19);
    }
}

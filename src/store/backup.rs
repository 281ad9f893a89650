//! `schedulight backup` / `restore` of our own store. SQLite: an online, consistent snapshot
//! (`VACUUM INTO`, which reads one transaction while the daemon keeps writing) and a checked
//! swap back while no daemon runs. PostgreSQL stores are backed up with `pg_dump`, which we
//! name rather than wrap: its flags are the operator's to choose.

use crate::config::StoreLocation;
use anyhow::{Context, anyhow, bail};
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use std::path::{Path, PathBuf};

const PG_BACKUP: &str = "the store is PostgreSQL: back it up with \
    `pg_dump --format=custom --file=schedulight.dump \"$DATABASE_URL\"` (the URL of store.location) \
    and restore it into an empty database with `pg_restore --no-owner --dbname=\"$DATABASE_URL\" \
    schedulight.dump`; see docs/user-guide.md, \"Backups\"";

fn sqlite_path(location: &StoreLocation) -> anyhow::Result<&Path> {
    match location {
        StoreLocation::Sqlite(p) if p.as_os_str() == ":memory:" => {
            bail!("the store is in memory; there is nothing to back up")
        }
        StoreLocation::Sqlite(p) => Ok(p),
        StoreLocation::Postgres(_) => bail!("{PG_BACKUP}"),
    }
}

async fn open(path: &Path, read_only: bool) -> anyhow::Result<SqliteConnection> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(read_only)
        .create_if_missing(false)
        .busy_timeout(std::time::Duration::from_secs(10));
    SqliteConnection::connect_with(&options)
        .await
        .with_context(|| format!("cannot open {}", path.display()))
}

/// Write a consistent copy of the store to `to` (which must not exist yet); returns its size.
pub async fn backup(location: &StoreLocation, to: &Path) -> anyhow::Result<u64> {
    let path = sqlite_path(location)?;
    if !path.exists() {
        bail!("the store {} does not exist yet", path.display());
    }
    if to.exists() {
        bail!(
            "{} exists; choose a new file name (a backup never overwrites)",
            to.display()
        );
    }
    let target = to
        .to_str()
        .ok_or_else(|| anyhow!("{} is not a UTF-8 path", to.display()))?;
    let mut conn = open(path, true).await?;
    sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(&mut conn)
        .await
        .with_context(|| format!("cannot write the backup {}", to.display()))?;
    conn.close().await.ok();
    Ok(std::fs::metadata(to)?.len())
}

/// Check that `file` is an intact schedulight store (a `backup` of one).
async fn check_backup(file: &Path) -> anyhow::Result<()> {
    let mut conn = open(file, true)
        .await
        .with_context(|| format!("{} is not a SQLite database", file.display()))?;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .with_context(|| format!("{} is not a SQLite database", file.display()))?;
    if integrity != "ok" {
        bail!("{} is damaged: {integrity}", file.display());
    }
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' \
         AND name IN ('_sqlx_migrations', 'meetings', 'servers', 'outbox')",
    )
    .fetch_one(&mut conn)
    .await?;
    if tables != 4 {
        bail!("{} is not a schedulight store", file.display());
    }
    conn.close().await.ok();
    Ok(())
}

/// Put the backup `file` in the store's place while no daemon uses it; the replaced store is
/// moved aside (returned) rather than deleted. The next start brings an older backup's
/// schema up to date.
pub async fn restore(location: &StoreLocation, file: &Path) -> anyhow::Result<PathBuf> {
    let path = sqlite_path(location)?;
    check_backup(file).await?;
    let _lock =
        crate::app::lock_single_instance(location).context("stop the daemon before restoring")?;
    let stamp = jiff::Timestamp::now().as_second();
    let aside = with_suffix(path, &format!(".before-restore-{stamp}"));
    if path.exists() {
        // Fold the write-ahead log into the file first, so the copy moved aside is whole.
        let mut conn = open(path, false).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await
            .context("cannot checkpoint the current store")?;
        conn.close().await.ok();
        std::fs::rename(path, &aside)
            .with_context(|| format!("cannot move {} aside", path.display()))?;
    }
    for ext in ["-wal", "-shm"] {
        let side = with_suffix(path, ext);
        if side.exists() {
            std::fs::remove_file(&side)
                .with_context(|| format!("cannot remove {}", side.display()))?;
        }
    }
    let partial = with_suffix(path, ".restoring");
    std::fs::copy(file, &partial).with_context(|| format!("cannot copy {}", file.display()))?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("cannot put the backup in place at {}", path.display()))?;
    Ok(aside)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

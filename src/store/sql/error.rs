//! Turning sqlx errors into `StoreError`s that are safe to show: no SQL text, no connection
//! string with its password. The full driver error goes to the debug log only.

use crate::store::StoreError;
use sqlx::error::ErrorKind;

/// A statement failed while doing `op` (a short, fixed description such as "claim jobs").
pub(crate) fn statement(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| {
        tracing::debug!(operation = op, error = %e, "store statement failed");
        StoreError::Database(format!("{op}: {}", describe(&e)))
    }
}

/// Like [`statement`], but a foreign-key violation means the named meeting does not exist.
pub(crate) fn needs_meeting(
    op: &'static str,
    meeting: Option<&str>,
) -> impl FnOnce(sqlx::Error) -> StoreError {
    let meeting = meeting.map(str::to_owned);
    move |e| match (&e, meeting) {
        (sqlx::Error::Database(d), Some(id)) if d.kind() == ErrorKind::ForeignKeyViolation => {
            missing_meeting(&id)
        }
        _ => statement(op)(e),
    }
}

/// The error for work on a meeting that is not stored (shared with the in-memory store).
pub(crate) fn missing_meeting(id: &str) -> StoreError {
    StoreError::Database(format!("meeting '{id}' does not exist"))
}

/// Why opening the store failed. Connection-time database messages (bad password, unknown
/// database) carry no secrets and are what an operator needs, so they are kept.
pub(crate) fn open(location: &str, e: &sqlx::Error) -> StoreError {
    tracing::debug!(location = %redact_location(location), error = %e, "opening the store failed");
    let reason = match e {
        sqlx::Error::Database(d) => d.message().to_string(),
        other => describe(other),
    };
    StoreError::Open {
        location: redact_location(location),
        reason,
    }
}

pub(crate) fn migration(e: sqlx::migrate::MigrateError) -> StoreError {
    use sqlx::migrate::MigrateError as M;
    tracing::debug!(error = %e, "store migration failed");
    match e {
        M::Execute(inner) => StoreError::Migration(describe(&inner)),
        M::ExecuteMigration(inner, version) => {
            StoreError::Migration(format!("migration {version}: {}", describe(&inner)))
        }
        // The remaining variants describe versions and checksums, never SQL.
        other => StoreError::Migration(other.to_string()),
    }
}

/// A short description of an sqlx error without statement text or connection details.
fn describe(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(d) => {
            let what = match d.kind() {
                ErrorKind::UniqueViolation => "a unique constraint was violated",
                ErrorKind::ForeignKeyViolation => "a referenced row does not exist",
                ErrorKind::NotNullViolation => "a required value is missing",
                ErrorKind::CheckViolation => "a value is not allowed",
                _ => "the database refused the statement",
            };
            match d.code() {
                Some(code) => format!("{what} (code {code})"),
                None => what.to_string(),
            }
        }
        sqlx::Error::Io(io) => format!("connection problem: {io}"),
        sqlx::Error::Tls(_) => "TLS problem on the database connection".into(),
        sqlx::Error::PoolTimedOut => "timed out waiting for a database connection".into(),
        sqlx::Error::PoolClosed => "the store has been closed".into(),
        sqlx::Error::Protocol(_) => "database protocol error".into(),
        sqlx::Error::Configuration(_) => "invalid database settings".into(),
        sqlx::Error::ColumnDecode { index, .. } => {
            format!("column {index} holds a value of an unexpected type")
        }
        sqlx::Error::ColumnNotFound(col) => format!("column {col} is missing"),
        sqlx::Error::Decode(_) => "a stored value could not be decoded".into(),
        sqlx::Error::Migrate(_) => "migration problem".into(),
        _ => "database failure".into(),
    }
}

/// The location with any password replaced by `***` (URL user info and `password=` parameters).
/// Plain file paths come back unchanged.
pub fn redact_location(location: &str) -> String {
    let Ok(mut url) = url::Url::parse(location) else {
        return location.to_string();
    };
    if url.password().is_some() {
        // Cannot fail for URLs that already carry a password.
        let _ = url.set_password(Some("***"));
    }
    let has_secret_param = url
        .query_pairs()
        .any(|(k, _)| k.eq_ignore_ascii_case("password"));
    if has_secret_param {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k.eq_ignore_ascii_case("password") {
                    "***".to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::redact_location;

    #[test]
    fn passwords_are_redacted() {
        let r = redact_location("postgres://app:s3cr%40t@db.example:5432/sl");
        assert_eq!(r, "postgres://app:***@db.example:5432/sl");
        let r =
            redact_location("postgres://db.example/sl?user=app&password=hunter2&sslmode=require");
        assert!(!r.contains("hunter2"), "{r}");
        assert!(r.contains("sslmode=require"), "{r}");
        assert_eq!(
            redact_location("/var/lib/sl/state.db"),
            "/var/lib/sl/state.db"
        );
        assert_eq!(redact_location("sqlite:state.db"), "sqlite:state.db");
    }
}

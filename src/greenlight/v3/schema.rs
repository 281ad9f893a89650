//! `check_schema`: the tables and columns we read and write, looked up by name (migrated
//! databases differ in column order), and the migration version for a compatibility warning.

use super::KNOWN_SCHEMA_VERSION;
use crate::greenlight::common::{self, db_error};
use crate::greenlight::{GreenlightError, GreenlightVersion, SchemaReport};
use sqlx::PgPool;

/// Everything this module touches, by table.
const NEEDED: &[(&str, &[&str])] = &[
    (
        "users",
        &[
            "id",
            "name",
            "email",
            "external_id",
            "provider",
            "password_digest",
            "created_at",
            "updated_at",
            "role_id",
            "language",
            "verified",
            "session_token",
            "session_expiry",
            "status",
        ],
    ),
    ("roles", &["id", "name", "provider", "created_at"]),
    (
        "rooms",
        &[
            "id",
            "user_id",
            "name",
            "friendly_id",
            "meeting_id",
            "last_session",
            "created_at",
            "updated_at",
            "recordings_processing",
            "online",
        ],
    ),
    (
        "meeting_options",
        &["id", "name", "default_value", "created_at"],
    ),
    (
        "room_meeting_options",
        &[
            "id",
            "room_id",
            "meeting_option_id",
            "value",
            "created_at",
            "updated_at",
        ],
    ),
    (
        "rooms_configurations",
        &["meeting_option_id", "provider", "value"],
    ),
    (
        "shared_accesses",
        &["id", "user_id", "room_id", "created_at", "updated_at"],
    ),
    ("recordings", &["id", "room_id"]),
    ("formats", &["id", "recording_id"]),
    ("settings", &["id", "name"]),
    ("site_settings", &["setting_id", "value", "provider"]),
    ("schema_migrations", &["version"]),
];

pub async fn check(pool: &PgPool, provider: &str) -> Result<SchemaReport, GreenlightError> {
    if common::detect_version(pool).await? != GreenlightVersion::V3 {
        return Err(GreenlightError::Schema(
            "this is a Greenlight v2 database (rooms.uid); configure version v2 for it".into(),
        ));
    }
    common::require_columns(pool, NEEDED).await?;
    let mut warnings = Vec::new();
    let schema_version = latest_migration(pool).await?;
    match &schema_version {
        None => warnings.push("schema_migrations is empty; was the database migrated?".into()),
        Some(v) if newer(v, KNOWN_SCHEMA_VERSION) => warnings.push(format!(
            "schema version {v} is newer than {KNOWN_SCHEMA_VERSION} (Greenlight 3.8.2.4), the release this tool was checked against; check Greenlight's changes before relying on it"
        )),
        Some(_) => {}
    }
    warnings.extend(provider_warnings(pool, provider).await?);
    Ok(SchemaReport {
        version: Some(GreenlightVersion::V3),
        schema_version,
        warnings,
    })
}

/// The highest version, compared as numbers (Rails versions are digit strings).
async fn latest_migration(pool: &PgPool) -> Result<Option<String>, GreenlightError> {
    let versions: Vec<String> = sqlx::query_scalar("SELECT version::text FROM schema_migrations")
        .fetch_all(pool)
        .await
        .map_err(db_error)?;
    Ok(versions
        .into_iter()
        .max_by(|a, b| version_key(a).cmp(&version_key(b))))
}

fn version_key(v: &str) -> (usize, &str) {
    let digits = v.trim_start_matches('0');
    (digits.len(), digits)
}

fn newer(v: &str, than: &str) -> bool {
    version_key(v) > version_key(than)
}

/// Things that make our rows odd without being fatal: a provider without roles (a typo in
/// `provider`?), no option catalogue, no room policy for the provider.
async fn provider_warnings(pool: &PgPool, provider: &str) -> Result<Vec<String>, GreenlightError> {
    let mut warnings = Vec::new();
    let roles: i64 = sqlx::query_scalar("SELECT count(*) FROM roles WHERE provider = $1")
        .bind(provider)
        .fetch_one(pool)
        .await
        .map_err(db_error)?;
    if roles == 0 {
        warnings.push(format!(
            "no roles for provider {provider:?}; users cannot be created (is the provider right?)"
        ));
    }
    let options: i64 = sqlx::query_scalar("SELECT count(*) FROM meeting_options")
        .fetch_one(pool)
        .await
        .map_err(db_error)?;
    if options == 0 {
        warnings.push("meeting_options is empty; rooms would get no option rows".into());
    }
    let configs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM rooms_configurations WHERE provider = $1")
            .bind(provider)
            .fetch_one(pool)
            .await
            .map_err(db_error)?;
    if configs == 0 {
        warnings.push(format!(
            "no rooms_configurations for provider {provider:?}; new rooms get the catalogue defaults"
        ));
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        assert!(newer("20260402000001", KNOWN_SCHEMA_VERSION));
        assert!(!newer(KNOWN_SCHEMA_VERSION, KNOWN_SCHEMA_VERSION));
        assert!(!newer("20230705183747", KNOWN_SCHEMA_VERSION));
        assert!(newer("120260402000000", KNOWN_SCHEMA_VERSION));
    }
}

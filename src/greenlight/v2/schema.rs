//! Is this a Greenlight 2 database we can write? Checked by table and column name (never by
//! position, as the original did), with warnings for what a newer release or a fork added.

use super::{GreenlightV2, ROLE_PROVIDER};
use crate::greenlight::common::{self, db_error};
use crate::greenlight::{GreenlightError, GreenlightVersion, SchemaReport};

/// The last v2 migration (2.14.x).
pub const LAST_V2_MIGRATION: &str = "20220209094148";

/// What we read or write, table by table.
const NEEDED: &[(&str, &[&str])] = &[
    (
        "users",
        &[
            "id",
            "room_id",
            "provider",
            "uid",
            "name",
            "username",
            "email",
            "social_uid",
            "password_digest",
            "accepted_terms",
            "created_at",
            "updated_at",
            "email_verified",
            "language",
            "deleted",
            "role_id",
        ],
    ),
    (
        "rooms",
        &[
            "id",
            "user_id",
            "name",
            "uid",
            "bbb_id",
            "sessions",
            "last_session",
            "created_at",
            "updated_at",
            "room_settings",
            "moderator_pw",
            "attendee_pw",
            "access_code",
            "deleted",
            "moderator_access_code",
        ],
    ),
    (
        "shared_accesses",
        &["id", "room_id", "user_id", "created_at", "updated_at"],
    ),
    ("roles", &["id", "name", "provider"]),
    ("role_permissions", &["role_id", "name", "value", "enabled"]),
];

/// Columns of 2.14 we do not touch; anything beyond these is new to us.
const KNOWN_OTHERS: &[(&str, &[&str])] = &[
    (
        "users",
        &[
            "image",
            "reset_digest",
            "reset_sent_at",
            "activation_digest",
            "activated_at",
            "last_login",
            "failed_attempts",
            "last_failed_attempt",
            "last_pwd_update",
        ],
    ),
    ("rooms", &[]),
    ("shared_accesses", &[]),
    (
        "roles",
        &[
            "priority",
            "can_create_rooms",
            "send_promoted_email",
            "send_demoted_email",
            "can_edit_site_settings",
            "can_edit_roles",
            "can_manage_users",
            "colour",
            "created_at",
            "updated_at",
        ],
    ),
    ("role_permissions", &["id", "created_at", "updated_at"]),
];

pub(super) async fn check(gl: &GreenlightV2) -> Result<SchemaReport, GreenlightError> {
    let pool = gl.pool();
    if common::detect_version(pool).await? == GreenlightVersion::V3 {
        return Err(GreenlightError::Schema(
            "this is a Greenlight 3 database (rooms.friendly_id); configure version v3".into(),
        ));
    }
    common::require_columns(pool, NEEDED).await?;
    let mut warnings = unknown_columns(gl).await?;
    let schema_version = schema_version(gl).await?;
    match &schema_version {
        Some(v) if v.as_str() > LAST_V2_MIGRATION => warnings.push(format!(
            "schema version {v} is newer than Greenlight 2.14 ({LAST_V2_MIGRATION}); \
             check that users, rooms and shares still work as expected"
        )),
        None => warnings.push("no schema_migrations versions found".into()),
        _ => {}
    }
    warnings.extend(role_warnings(gl).await?);
    for w in &warnings {
        tracing::warn!("Greenlight 2 schema: {w}");
    }
    Ok(SchemaReport {
        version: Some(GreenlightVersion::V2),
        schema_version,
        warnings,
    })
}

async fn unknown_columns(gl: &GreenlightV2) -> Result<Vec<String>, GreenlightError> {
    let mut warnings = Vec::new();
    for (table, needed) in NEEDED {
        let others = KNOWN_OTHERS
            .iter()
            .find(|(t, _)| t == table)
            .map(|(_, c)| *c)
            .unwrap_or_default();
        let mut extra: Vec<String> = common::columns(gl.pool(), table)
            .await?
            .into_iter()
            .filter(|c| !needed.contains(&c.as_str()) && !others.contains(&c.as_str()))
            .collect();
        extra.sort();
        warnings.extend(extra.into_iter().map(|c| {
            format!("unknown column {table}.{c} (a newer Greenlight or a fork); it is left alone")
        }));
    }
    Ok(warnings)
}

async fn schema_version(gl: &GreenlightV2) -> Result<Option<String>, GreenlightError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('schema_migrations') IS NOT NULL")
        .fetch_one(gl.pool())
        .await
        .map_err(db_error)?;
    if !exists {
        return Ok(None);
    }
    // Rails versions are timestamps of equal width, so text order is time order.
    sqlx::query_scalar("SELECT max(version)::text FROM schema_migrations")
        .fetch_one(gl.pool())
        .await
        .map_err(db_error)
}

/// Greenlight creates its roles with the first user; until then `create_user` cannot work.
async fn role_warnings(gl: &GreenlightV2) -> Result<Vec<String>, GreenlightError> {
    let (roles, has_default): (i64, bool) = sqlx::query_as(
        "SELECT count(*), COALESCE(bool_or(lower(name) = $2), false) FROM roles WHERE provider = $1",
    )
    .bind(ROLE_PROVIDER)
    .bind(super::DEFAULT_ROLE)
    .fetch_one(gl.pool())
    .await
    .map_err(db_error)?;
    Ok(if roles == 0 {
        vec![format!(
            "no roles of provider '{ROLE_PROVIDER}' yet (Greenlight creates them with its first \
             user, e.g. `rake admin:create`); users cannot be created before that"
        )]
    } else if !has_default {
        vec![format!(
            "no role '{}' of provider '{ROLE_PROVIDER}'; users need an explicit role",
            super::DEFAULT_ROLE
        )]
    } else {
        Vec::new()
    })
}

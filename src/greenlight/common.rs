//! What v2 and v3 share: ids in Greenlight's own formats, bcrypt, session tokens, connecting
//! and telling the versions apart.

use super::{GreenlightError, GreenlightVersion};
use crate::domain::Secret;
use rand::Rng;
use sha2::Digest;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

/// Greenlight's default bcrypt cost (bcrypt-ruby ≥ 3.1.13).
pub const DEFAULT_BCRYPT_COST: u32 = 12;
/// bcrypt looks at 72 bytes only; longer passwords are refused, as Rails does.
pub const MAX_PASSWORD_BYTES: usize = 72;

const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// `n` random characters from `[a-z0-9]` (Greenlight: `SecureRandom.alphanumeric(n).downcase`).
pub fn random_lower_alnum(n: usize) -> String {
    random_from(LOWER_ALNUM, n)
}

pub fn random_from(charset: &[u8], n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| charset[rng.random_range(0..charset.len())] as char)
        .collect()
}

/// v3 friendly_id: 12 characters in 4 groups of 3 (`xxx-xxx-xxx-xxx`).
pub fn v3_friendly_id() -> String {
    grouped(&random_lower_alnum(12))
}

fn grouped(s: &str) -> String {
    s.as_bytes()
        .chunks(3)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("-")
}

/// BBB meetingID as Greenlight (v3, v2 ≥ 2.6) makes it: 40 characters `[a-z0-9]`.
pub fn meeting_id() -> String {
    random_lower_alnum(40)
}

/// v2 ≥ 2.7 uid: first 3 characters of the owner's parameterised name (padded from
/// Greenlight's restricted set) and three groups of 3 random characters.
pub fn v2_uid(owner_name: &str) -> String {
    const PAD: &[u8] = b"acdefghjkmnpqrtuvwxyz2346779";
    let mut chunk: String = owner_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .take(3)
        .collect();
    while chunk.len() < 3 {
        chunk.push_str(&random_from(PAD, 1));
    }
    format!("{chunk}-{}", grouped(&random_lower_alnum(9)))
}

/// v3 access code: 6 characters `[a-z0-9]`.
pub fn access_code() -> String {
    random_lower_alnum(6)
}

/// v2 meeting passwords: 12 random alphanumerics.
pub fn v2_meeting_password() -> String {
    random_from(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        12,
    )
}

/// Greenlight's session token: SHA-256 hex of 40 random alphanumerics. Never leave it NULL
/// (greenlight.md §3.4: a NULL token matches anonymous visitors).
pub fn session_token() -> String {
    let raw = random_from(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        40,
    );
    crate::bbb::checksum::hex(&sha2::Sha256::digest(raw.as_bytes()))
}

/// bcrypt `$2a$` digest, as Ruby's bcrypt writes it.
pub fn hash_password(password: &Secret, cost: u32) -> Result<String, GreenlightError> {
    let bytes = password.expose().len();
    if bytes > MAX_PASSWORD_BYTES {
        return Err(GreenlightError::Invalid(format!(
            "the password is {bytes} bytes long; Greenlight passwords can be at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    if password.is_empty() {
        return Err(GreenlightError::Invalid(
            "the password is empty; leave it out for external (OIDC/LDAP) users".into(),
        ));
    }
    bcrypt::hash_with_result(password.expose(), cost)
        .map(|h| h.format_for_version(bcrypt::Version::TwoA))
        .map_err(|e| GreenlightError::Invalid(format!("cannot hash the password: {e}")))
}

/// A configured provider, trimmed, or `default` when none or blank.
pub fn provider_or(provider: Option<String>, default: &str) -> String {
    provider
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// Escape `%`, `_` and `\` so user text in a LIKE pattern matches literally.
pub fn like_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A connection pool to Greenlight's database; errors never show the password.
pub async fn connect(database_url: &Secret) -> Result<PgPool, GreenlightError> {
    PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect(database_url.expose())
        .await
        .map_err(|e| GreenlightError::Connect {
            location: crate::store::sql::redact_location(database_url.expose()),
            reason: crate::store::sql::redact_location(&e.to_string()),
        })
}

/// v3 has `rooms.friendly_id`, v2 `rooms.uid`.
pub async fn detect_version(pool: &PgPool) -> Result<GreenlightVersion, GreenlightError> {
    let cols: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = 'rooms'",
    )
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    if cols.iter().any(|c| c == "friendly_id") {
        Ok(GreenlightVersion::V3)
    } else if cols.iter().any(|c| c == "uid") {
        Ok(GreenlightVersion::V2)
    } else {
        Err(GreenlightError::Schema(
            "no Greenlight 'rooms' table (neither v3 friendly_id nor v2 uid); is database_url right?".into(),
        ))
    }
}

/// The columns of `table` in the current schema (to check what we use, by name).
pub async fn columns(pool: &PgPool, table: &str) -> Result<Vec<String>, GreenlightError> {
    sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1",
    )
    .bind(table)
    .fetch_all(pool)
    .await
    .map_err(db_error)
}

/// Refuse when a table or column we write is missing.
pub async fn require_columns(
    pool: &PgPool,
    needed: &[(&str, &[&str])],
) -> Result<(), GreenlightError> {
    let mut missing = Vec::new();
    for (table, cols) in needed {
        let have = columns(pool, table).await?;
        if have.is_empty() {
            missing.push(format!("table {table}"));
            continue;
        }
        missing.extend(
            cols.iter()
                .filter(|c| !have.iter().any(|h| h == *c))
                .map(|c| format!("{table}.{c}")),
        );
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(GreenlightError::Schema(format!(
            "missing {}",
            missing.join(", ")
        )))
    }
}

/// Database errors: the message without SQL text or connection details.
pub fn db_error(e: sqlx::Error) -> GreenlightError {
    let msg = match &e {
        sqlx::Error::Database(d) => format!("{} ({})", d.message(), d.code().unwrap_or_default()),
        sqlx::Error::PoolTimedOut => "the database did not answer in time".into(),
        other => crate::store::sql::redact_location(&other.to_string()),
    };
    tracing::debug!(error = %e, "greenlight database error");
    GreenlightError::Database(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_formats() {
        let f = v3_friendly_id();
        assert_eq!(f.len(), 15);
        assert!(f.split('-').all(|g| g.len() == 3));
        assert_eq!(meeting_id().len(), 40);
        let u = v2_uid("Zoe O'Brien");
        assert!(u.starts_with("zoe-"), "{u}");
        assert_eq!(u.len(), 15);
        assert_eq!(session_token().len(), 64);
        assert!(
            access_code()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }

    #[test]
    fn passwords() {
        let h = hash_password(&Secret::new("Gr33nl!ght-пароль"), 4).unwrap();
        assert!(h.starts_with("$2a$04$"));
        assert!(bcrypt::verify("Gr33nl!ght-пароль", &h).unwrap());
        assert!(hash_password(&Secret::new("x".repeat(73)), 4).is_err());
    }

    #[test]
    fn like_is_literal() {
        assert_eq!(like_literal("50%_a\\"), "50\\%\\_a\\\\");
    }
}

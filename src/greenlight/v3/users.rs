//! `users` rows (greenlight.md §1.1, §3): create as Greenlight's UserCreator and User model do,
//! look up, delete children first.

use super::{rooms, validate};
use crate::domain::Email;
use crate::greenlight::{
    DeletedUser, GlUser, GreenlightError, NewUser, RoomDisposition, common, common::db_error,
};
use sqlx::PgConnection;

/// The unique index that makes an e-mail unique per provider.
const EMAIL_INDEX: &str = "index_users_on_email_and_provider";
/// Attempts to draw a session token nobody has (256-bit random: one is always enough).
const TOKEN_ATTEMPTS: usize = 5;

/// A new user, checked; the password is hashed separately.
#[derive(Debug, Clone)]
pub struct Checked {
    email: Email,
    name: String,
    language: String,
    external_id: Option<String>,
    role: Option<String>,
}

/// A user row we hold a lock on.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Owner {
    pub id: String,
    pub name: String,
    pub provider: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Role {
    id: String,
    name: String,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    name: String,
    provider: String,
    role: Option<String>,
    external_id: Option<String>,
    has_password: bool,
    verified: bool,
}

/// Greenlight's model validations for a new user. A blank name becomes the e-mail's local
/// part (as the original tool did); the password rules apply to local accounts only.
pub fn check_new(user: &NewUser) -> Result<Checked, GreenlightError> {
    validate::email(&user.email)?;
    let name = if user.name.trim().is_empty() {
        user.email.local_part().to_string()
    } else {
        user.name.clone()
    };
    validate::name("user", &name)?;
    let language = validate::language(user.language.as_deref())?;
    validate::external_id(user.external_id.as_deref())?;
    if let Some(password) = &user.password
        && user.external_id.is_none()
    {
        validate::password_policy(password)?;
    }
    Ok(Checked {
        email: user.email.clone(),
        name,
        language,
        external_id: user.external_id.clone(),
        role: user
            .role
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string),
    })
}

/// The bcrypt digest (`$2a$`, the given cost) on a blocking thread; `None` without password.
pub async fn digest(user: &NewUser, cost: u32) -> Result<Option<String>, GreenlightError> {
    let Some(password) = user.password.clone() else {
        return Ok(None);
    };
    tokio::task::spawn_blocking(move || common::hash_password(&password, cost))
        .await
        .map_err(|_| GreenlightError::Invalid("hashing the password was interrupted".into()))?
        .map(Some)
}

pub async fn find(
    conn: &mut PgConnection,
    provider: &str,
    email: &Email,
) -> Result<Option<GlUser>, GreenlightError> {
    let row = sqlx::query_as::<_, UserRow>(
        "SELECT u.id::text AS id, u.name, u.provider, r.name AS role, u.external_id, \
                u.password_digest IS NOT NULL AS has_password, \
                COALESCE(u.verified, false) AS verified \
         FROM users u LEFT JOIN roles r ON r.id = u.role_id \
         WHERE u.email = $1 AND u.provider = $2",
    )
    .bind(email.as_str())
    .bind(provider)
    .fetch_optional(conn)
    .await
    .map_err(db_error)?;
    Ok(row.map(|r| GlUser {
        id: r.id,
        email: email.clone(),
        name: r.name,
        provider: r.provider,
        role: r.role,
        external_id: r.external_id,
        has_password: r.has_password,
        verified: r.verified,
    }))
}

async fn exists(
    conn: &mut PgConnection,
    provider: &str,
    email: &Email,
) -> Result<bool, GreenlightError> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE email = $1 AND provider = $2)")
        .bind(email.as_str())
        .bind(provider)
        .fetch_one(conn)
        .await
        .map_err(db_error)
}

/// Insert the user: lower-case e-mail, the tenant as provider, a role of the same provider,
/// verified and active, a unique session token valid 24 h, UTC timestamps.
pub async fn create(
    conn: &mut PgConnection,
    provider: &str,
    user: &Checked,
    digest: Option<String>,
) -> Result<GlUser, GreenlightError> {
    if exists(conn, provider, &user.email).await? {
        return Err(GreenlightError::UserExists(user.email.clone()));
    }
    let role = resolve_role(conn, provider, user.role.as_deref(), user.email.as_str()).await?;
    let token = unique_session_token(conn).await?;
    let has_password = digest.is_some();
    let inserted = sqlx::query_scalar::<_, String>(
        "INSERT INTO users (name, email, external_id, provider, password_digest, \
                            created_at, updated_at, role_id, language, verified, \
                            session_token, session_expiry, status) \
         VALUES ($1, $2, $3, $4, $5, \
                 now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', $6::uuid, $7, true, \
                 $8, (now() AT TIME ZONE 'UTC') + interval '24 hours', 0) \
         RETURNING id::text",
    )
    .bind(&user.name)
    .bind(user.email.as_str())
    .bind(user.external_id.as_deref())
    .bind(provider)
    .bind(digest)
    .bind(&role.id)
    .bind(&user.language)
    .bind(&token)
    .fetch_one(conn)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(sqlx::Error::Database(d)) if d.constraint() == Some(EMAIL_INDEX) => {
            return Err(GreenlightError::UserExists(user.email.clone()));
        }
        Err(e) => return Err(db_error(e)),
    };
    Ok(GlUser {
        id,
        email: user.email.clone(),
        name: user.name.clone(),
        provider: provider.to_string(),
        role: Some(role.name),
        external_id: user.external_id.clone(),
        has_password,
        verified: true,
    })
}

/// Greenlight's session token format, never NULL (greenlight.md §3.4), checked for
/// uniqueness like the model's `uniqueness` validation (the unique index backs it up).
async fn unique_session_token(conn: &mut PgConnection) -> Result<String, GreenlightError> {
    for _ in 0..TOKEN_ATTEMPTS {
        let token = common::session_token();
        let taken: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE session_token = $1)")
                .bind(&token)
                .fetch_one(&mut *conn)
                .await
                .map_err(db_error)?;
        if !taken {
            return Ok(token);
        }
    }
    Err(GreenlightError::Database(
        "could not draw an unused session token".into(),
    ))
}

/// The role: the one asked for (by name, any case), else what Greenlight gives a new user:
/// the RoleMapping rule matching the e-mail, else the DefaultRole setting, else `User`.
/// Always a role of the user's own provider.
async fn resolve_role(
    conn: &mut PgConnection,
    provider: &str,
    requested: Option<&str>,
    email: &str,
) -> Result<Role, GreenlightError> {
    if let Some(name) = requested {
        return role_by_name(conn, provider, name)
            .await?
            .ok_or_else(|| GreenlightError::RoleNotFound(name.to_string()));
    }
    if let Some(mapping) = site_setting(conn, provider, "RoleMapping").await?
        && let Some(name) = mapped_role(&mapping, email)
        && let Some(role) = role_by_name(conn, provider, &name).await?
    {
        return Ok(role);
    }
    if let Some(name) = site_setting(conn, provider, "DefaultRole").await?
        && !name.trim().is_empty()
        && let Some(role) = role_by_name(conn, provider, &name).await?
    {
        return Ok(role);
    }
    role_by_name(conn, provider, "User")
        .await?
        .ok_or_else(|| GreenlightError::RoleNotFound(format!("User (provider {provider})")))
}

/// RoleMapping is `Role=suffix,Role=suffix`; the first rule whose suffix ends the e-mail wins
/// (UserCreator#infer_role_from_email; rules without a suffix are skipped, as in Ruby).
fn mapped_role(mapping: &str, email: &str) -> Option<String> {
    mapping.split(',').find_map(|rule| {
        let mut parts = rule.split('=');
        let role = parts.next()?;
        let suffix = parts.next().filter(|s| !s.is_empty())?;
        email.ends_with(suffix).then(|| role.to_string())
    })
}

async fn role_by_name(
    conn: &mut PgConnection,
    provider: &str,
    name: &str,
) -> Result<Option<Role>, GreenlightError> {
    // Greenlight's role names are unique per provider case-insensitively (model check);
    // prefer the exact spelling should a database hold both.
    sqlx::query_as::<_, Role>(
        "SELECT id::text AS id, name FROM roles \
         WHERE lower(name) = lower($1) AND provider = $2 \
         ORDER BY (name = $1) DESC, created_at LIMIT 1",
    )
    .bind(name)
    .bind(provider)
    .fetch_optional(conn)
    .await
    .map_err(db_error)
}

/// A site setting as SettingGetter reads it: only when exactly one row exists.
async fn site_setting(
    conn: &mut PgConnection,
    provider: &str,
    name: &str,
) -> Result<Option<String>, GreenlightError> {
    let values: Vec<String> = sqlx::query_scalar(
        "SELECT ss.value FROM site_settings ss JOIN settings s ON s.id = ss.setting_id \
         WHERE s.name = $1 AND ss.provider = $2",
    )
    .bind(name)
    .bind(provider)
    .fetch_all(conn)
    .await
    .map_err(db_error)?;
    Ok(match values.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    })
}

/// The user row, locked for the rest of the transaction; `UserNotFound` when missing.
pub async fn lock_owner(
    conn: &mut PgConnection,
    provider: &str,
    email: &Email,
) -> Result<Owner, GreenlightError> {
    sqlx::query_as::<_, Owner>(
        "SELECT id::text AS id, name, provider FROM users \
         WHERE email = $1 AND provider = $2 FOR UPDATE",
    )
    .bind(email.as_str())
    .bind(provider)
    .fetch_optional(conn)
    .await
    .map_err(db_error)?
    .ok_or_else(|| GreenlightError::UserNotFound(email.clone()))
}

/// Delete a user as `User#destroy` would: rooms (deleted or handed over), the user's shares,
/// then the row. Children first: Greenlight's foreign keys do not cascade.
pub async fn delete(
    conn: &mut PgConnection,
    provider: &str,
    email: &Email,
    disposition: &RoomDisposition,
    with_recordings: bool,
) -> Result<DeletedUser, GreenlightError> {
    let user = lock_owner(conn, provider, email).await?;
    let new_owner = match disposition {
        RoomDisposition::TransferTo(to) if to == email => {
            return Err(GreenlightError::Invalid(format!(
                "cannot transfer {email}'s rooms to {email}; name another user"
            )));
        }
        RoomDisposition::TransferTo(to) => Some(lock_owner(conn, provider, to).await?),
        _ => None,
    };
    let owned = rooms::lock_owned(conn, &user.id).await?;
    let mut deleted_rooms = Vec::new();
    let mut transferred_rooms = Vec::new();
    if !owned.is_empty() {
        match (disposition, &new_owner) {
            (RoomDisposition::Refuse, _) => {
                return Err(GreenlightError::OwnsRooms {
                    email: email.clone(),
                    rooms: owned.len(),
                });
            }
            (RoomDisposition::Delete, _) => {
                for room in &owned {
                    deleted_rooms.push(rooms::delete(conn, room, with_recordings).await?);
                }
            }
            (RoomDisposition::TransferTo(_), Some(to)) => {
                transferred_rooms = rooms::transfer(conn, &owned, to).await?;
            }
            (RoomDisposition::TransferTo(to), None) => {
                return Err(GreenlightError::UserNotFound(to.clone()));
            }
        }
    }
    sqlx::query("DELETE FROM shared_accesses WHERE user_id = $1::uuid")
        .bind(&user.id)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    sqlx::query("DELETE FROM users WHERE id = $1::uuid")
        .bind(&user.id)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(DeletedUser {
        email: email.clone(),
        deleted_rooms,
        transferred_rooms,
    })
}

#[cfg(test)]
mod tests {
    use super::mapped_role;

    #[test]
    fn role_mapping_rules() {
        let m = "Administrator=@admin.uni.de,Guest=.extern.org,Broken=,=x";
        assert_eq!(
            mapped_role(m, "a@admin.uni.de").as_deref(),
            Some("Administrator")
        );
        assert_eq!(
            mapped_role(m, "b@mail.extern.org").as_deref(),
            Some("Guest")
        );
        assert_eq!(mapped_role(m, "c@uni.de"), None);
        assert_eq!(mapped_role("", "c@uni.de"), None);
    }
}

//! Greenlight 2 users: lookup, creation, permanent deletion.

use super::{DEFAULT_ROLE, GreenlightV2, ROLE_PROVIDER, checks, rooms};
use crate::domain::{Email, Secret};
use crate::greenlight::common::{self, db_error};
use crate::greenlight::{DeletedUser, GlUser, GreenlightError, NewUser, RoomDisposition};
use sqlx::PgConnection;

/// A `users` row as we read it.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct UserRow {
    pub id: i64,
    pub name: String,
    pub provider: String,
    pub role: Option<String>,
    pub social_uid: Option<String>,
    pub has_password: bool,
    pub verified: bool,
    /// The home room (`main_room`).
    pub room_id: Option<i64>,
}

impl UserRow {
    fn into_gl(self, email: &Email) -> GlUser {
        GlUser {
            id: self.id.to_string(),
            email: email.clone(),
            name: self.name,
            provider: self.provider,
            role: self.role,
            external_id: self.social_uid,
            has_password: self.has_password,
            verified: self.verified,
        }
    }
}

/// Which rows a lookup may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lookup {
    /// Visible users, read only.
    Live,
    /// Visible users, row locked until the transaction ends.
    LiveForUpdate,
    /// Soft-deleted users (to purge them), locked.
    DeletedForUpdate,
}

// Every lookup selects the same columns: our provider first, then the oldest row.
macro_rules! user_select {
    ($filter:literal, $lock:literal) => {
        concat!(
            "SELECT u.id::int8 AS id, COALESCE(u.name, '') AS name, ",
            "COALESCE(u.provider, '') AS provider, r.name AS role, u.social_uid, ",
            "(u.password_digest IS NOT NULL) AS has_password, ",
            "COALESCE(u.email_verified, false) AS verified, u.room_id::int8 AS room_id ",
            "FROM users u LEFT JOIN roles r ON r.id = u.role_id ",
            $filter,
            " ORDER BY (u.provider IS NOT DISTINCT FROM $2) DESC, u.id LIMIT 1",
            $lock
        )
    };
}

/// The user with this e-mail (compared lower-cased: Greenlight lower-cases on save, older tools
/// did not). Several providers may hold the same e-mail; ours wins, then the oldest row.
pub(super) async fn lookup(
    conn: &mut PgConnection,
    email: &Email,
    provider: &str,
    mode: Lookup,
) -> Result<Option<UserRow>, GreenlightError> {
    let sql = match mode {
        Lookup::Live => user_select!("WHERE lower(u.email) = $1 AND NOT u.deleted", ""),
        Lookup::LiveForUpdate => {
            user_select!(
                "WHERE lower(u.email) = $1 AND NOT u.deleted",
                " FOR UPDATE OF u"
            )
        }
        Lookup::DeletedForUpdate => {
            user_select!(
                "WHERE lower(u.email) = $1 AND u.deleted",
                " FOR UPDATE OF u"
            )
        }
    };
    sqlx::query_as::<_, UserRow>(sql)
        .bind(email.as_str())
        .bind(provider)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)
}

pub(super) async fn find(
    gl: &GreenlightV2,
    email: &Email,
) -> Result<Option<GlUser>, GreenlightError> {
    let mut conn = gl.pool().acquire().await.map_err(db_error)?;
    let row = lookup(&mut conn, email, gl.provider(), Lookup::Live).await?;
    Ok(row.map(|r| r.into_gl(email)))
}

/// Serialises writers on one key (an e-mail, a room uid): v2 has no unique constraints to
/// catch two concurrent inserts.
pub(super) async fn advisory_lock(
    conn: &mut PgConnection,
    key: &str,
) -> Result<(), GreenlightError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("schedulight/greenlight-v2/{key}"))
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// A role of the single-tenant provider, by name, case-insensitively.
#[derive(Debug, sqlx::FromRow)]
struct RoleRow {
    id: i64,
    name: String,
    can_create_rooms: bool,
}

async fn role(conn: &mut PgConnection, name: &str) -> Result<RoleRow, GreenlightError> {
    // `Role#get_permission`: an enabled row with value 'true'; otherwise the default (false).
    let row = sqlx::query_as::<_, RoleRow>(
        "SELECT r.id::int8 AS id, COALESCE(r.name, '') AS name, \
                EXISTS (SELECT 1 FROM role_permissions p WHERE p.role_id = r.id \
                        AND p.name = 'can_create_rooms' AND p.enabled IS TRUE AND p.value = 'true') \
                  AS can_create_rooms \
         FROM roles r WHERE lower(r.name) = lower($1) AND r.provider = $2 \
         ORDER BY r.id LIMIT 1",
    )
    .bind(name)
    .bind(ROLE_PROVIDER)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    row.ok_or_else(|| GreenlightError::RoleNotFound(name.to_string()))
}

/// What a NewUser becomes in the row, checked before anything is written.
struct Checked {
    name: String,
    external_id: Option<String>,
    language: String,
    role: String,
}

fn check_new_user(provider: &str, user: &NewUser) -> Result<Checked, GreenlightError> {
    checks::user_name(&user.name)?;
    let external_id = user.external_id.clone().filter(|s| !s.is_empty());
    if let Some(id) = &external_id {
        checks::external_id(id)?;
    }
    let local = provider == super::DEFAULT_PROVIDER;
    match (local, &external_id, &user.password) {
        (true, Some(_), _) => {
            return Err(GreenlightError::Invalid(
                "an external id (social_uid) is for users who sign in through LDAP or an OAuth \
                 provider; set that provider (for example ldap) for them"
                    .into(),
            ));
        }
        (false, None, _) => {
            return Err(GreenlightError::Invalid(format!(
                "users of provider '{provider}' are matched by their external id (LDAP DN or \
                 OAuth uid) when they sign in; give it"
            )));
        }
        (false, Some(_), Some(_)) => {
            return Err(GreenlightError::Invalid(format!(
                "users of provider '{provider}' cannot sign in with a Greenlight password; \
                 leave the password out"
            )));
        }
        _ => {}
    }
    let language = match user.language.as_deref().map(str::trim) {
        Some(l) if !l.is_empty() => {
            checks::language(l)?;
            l.to_string()
        }
        _ => "default".to_string(),
    };
    if let Some(uid) = &user.uid {
        checks::user_uid(uid)?;
    }
    let role = match user.role.as_deref().map(str::trim) {
        Some(r) if !r.is_empty() => r.to_string(),
        _ => DEFAULT_ROLE.to_string(),
    };
    Ok(Checked {
        name: user.name.clone(),
        external_id,
        language,
        role,
    })
}

/// bcrypt is slow on purpose (cost 12 ≈ 0.25 s): keep it off the async workers.
async fn hash(password: &Secret, cost: u32) -> Result<String, GreenlightError> {
    let password = password.clone();
    tokio::task::spawn_blocking(move || common::hash_password(&password, cost))
        .await
        .map_err(|e| GreenlightError::Database(format!("password hashing stopped: {e}")))?
}

/// `gl-` + 12 random lower-case letters (`User#setup_user`), unused by any user.
async fn new_user_uid(conn: &mut PgConnection) -> Result<String, GreenlightError> {
    for _ in 0..10 {
        let uid = format!(
            "gl-{}",
            common::random_from(b"abcdefghijklmnopqrstuvwxyz", 12)
        );
        if !uid_taken(conn, &uid).await? {
            return Ok(uid);
        }
    }
    Err(GreenlightError::Database(
        "could not find an unused user uid".into(),
    ))
}

async fn uid_taken(conn: &mut PgConnection, uid: &str) -> Result<bool, GreenlightError> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE uid = $1)")
        .bind(uid)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)
}

pub(super) async fn create(gl: &GreenlightV2, user: &NewUser) -> Result<GlUser, GreenlightError> {
    let provider = user
        .provider
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .unwrap_or(gl.provider());
    let c = check_new_user(provider, user)?;
    let digest = match &user.password {
        Some(pw) => Some(hash(pw, gl.bcrypt_cost()).await?),
        None => None,
    };
    let mut tx = gl.pool().begin().await.map_err(db_error)?;
    advisory_lock(&mut tx, &format!("user-email/{}", user.email)).await?;
    refuse_taken_email(&mut tx, &user.email, provider).await?;
    let role = role(&mut tx, &c.role).await?;
    let uid = match &user.uid {
        Some(uid) if uid_taken(&mut tx, uid).await? => {
            return Err(GreenlightError::Invalid(format!(
                "the user uid '{uid}' is taken by another Greenlight user"
            )));
        }
        Some(uid) => uid.clone(),
        None => new_user_uid(&mut tx).await?,
    };
    // The password digest has a UNIQUE index in v2; bcrypt's random salt makes a clash
    // practically impossible, and one would fail the transaction cleanly.
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (provider, uid, name, username, email, social_uid, password_digest, \
                            accepted_terms, email_verified, language, deleted, role_id, \
                            created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, true, true, $8, false, $9, \
                 now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC') \
         RETURNING id::int8",
    )
    .bind(provider)
    .bind(&uid)
    .bind(&c.name)
    // The original tool's owner.uid filled both uid and username; Greenlight fills a missing
    // username from LDAP/OAuth at the first sign-in.
    .bind(user.uid.as_deref())
    .bind(user.email.as_str())
    .bind(c.external_id.as_deref())
    .bind(digest.as_deref())
    .bind(&c.language)
    .bind(role.id)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_error)?;
    if role.can_create_rooms {
        rooms::create_home_room(&mut tx, id, &c.name).await?;
    }
    tx.commit().await.map_err(db_error)?;
    tracing::info!(email = %user.email, uid = %uid, provider, role = %role.name,
        "created Greenlight 2 user");
    Ok(GlUser {
        id: id.to_string(),
        email: user.email.clone(),
        name: c.name,
        provider: provider.to_string(),
        role: Some(role.name),
        external_id: c.external_id,
        has_password: digest.is_some(),
        verified: true,
    })
}

/// `UserExists` for a visible user of this provider; a soft-deleted one must be purged (or
/// restored in Greenlight) first, because Greenlight's sign-in and uniqueness checks still see
/// it.
async fn refuse_taken_email(
    conn: &mut PgConnection,
    email: &Email,
    provider: &str,
) -> Result<(), GreenlightError> {
    let deleted: Option<bool> = sqlx::query_scalar(
        "SELECT deleted FROM users WHERE lower(email) = $1 AND provider = $2 \
         ORDER BY deleted, id LIMIT 1",
    )
    .bind(email.as_str())
    .bind(provider)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    match deleted {
        None => Ok(()),
        Some(false) => Err(GreenlightError::UserExists(email.clone())),
        Some(true) => Err(GreenlightError::Invalid(format!(
            "a deleted Greenlight user with e-mail {email} is still kept by Greenlight; \
             delete it for good first (or restore it in Greenlight's admin panel)"
        ))),
    }
}

pub(super) async fn delete(
    gl: &GreenlightV2,
    email: &Email,
    disposition: &RoomDisposition,
) -> Result<DeletedUser, GreenlightError> {
    let mut tx = gl.pool().begin().await.map_err(db_error)?;
    let user = match lookup(&mut tx, email, gl.provider(), Lookup::LiveForUpdate).await? {
        Some(u) => u,
        None => lookup(&mut tx, email, gl.provider(), Lookup::DeletedForUpdate)
            .await?
            .ok_or_else(|| GreenlightError::UserNotFound(email.clone()))?,
    };
    let target = match disposition {
        RoomDisposition::TransferTo(to) => {
            let t = lookup(&mut tx, to, gl.provider(), Lookup::LiveForUpdate)
                .await?
                .ok_or_else(|| GreenlightError::UserNotFound(to.clone()))?;
            if t.id == user.id {
                return Err(GreenlightError::Invalid(
                    "cannot transfer the rooms of a user to that same user".into(),
                ));
            }
            Some(t.id)
        }
        _ => None,
    };
    let owned = rooms::owned_by(&mut tx, user.id).await?;
    let live_others = owned
        .iter()
        .filter(|r| !r.deleted && Some(r.id) != user.room_id)
        .count();
    if *disposition == RoomDisposition::Refuse && live_others > 0 {
        return Err(GreenlightError::OwnsRooms {
            email: email.clone(),
            rooms: live_others,
        });
    }
    let (to_move, to_purge): (Vec<_>, Vec<_>) = owned
        .into_iter()
        .partition(|r| target.is_some() && !r.deleted);
    if let Some(target) = target {
        rooms::transfer(&mut tx, &to_move, target).await?;
    }
    let deleted_rooms = rooms::purge(&mut tx, &to_purge).await?;
    purge_user(&mut tx, user.id).await?;
    tx.commit().await.map_err(db_error)?;
    tracing::info!(email = %email, rooms_deleted = deleted_rooms.len(),
        rooms_transferred = to_move.len(), "deleted Greenlight 2 user");
    Ok(DeletedUser {
        email: email.clone(),
        deleted_rooms,
        transferred_rooms: to_move.into_iter().map(|r| r.uid).collect(),
    })
}

/// The user row and what points at it: shares to the user (the original left them dangling)
/// and the obsolete rolify rows (Rails drops those with the user).
async fn purge_user(conn: &mut PgConnection, user_id: i64) -> Result<(), GreenlightError> {
    sqlx::query("DELETE FROM shared_accesses WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let has_users_roles: bool = sqlx::query_scalar("SELECT to_regclass('users_roles') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    if has_users_roles {
        sqlx::query("DELETE FROM users_roles WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(provider_ext: Option<&str>, pw: Option<&str>) -> NewUser {
        NewUser {
            email: "a@uni.example".parse().unwrap(),
            name: "Ann".into(),
            password: pw.map(Secret::new),
            role: None,
            external_id: provider_ext.map(str::to_string),
            language: None,
            uid: None,
            provider: None,
        }
    }

    #[test]
    fn provider_rules() {
        assert!(check_new_user("greenlight", &user(None, Some("pw"))).is_ok());
        assert!(check_new_user("greenlight", &user(None, None)).is_ok());
        assert!(check_new_user("greenlight", &user(Some("x"), None)).is_err());
        assert!(check_new_user("ldap", &user(None, None)).is_err());
        assert!(check_new_user("ldap", &user(Some("uid=a"), Some("pw"))).is_err());
        let c = check_new_user("ldap", &user(Some("uid=a"), None)).unwrap();
        assert_eq!(c.language, "default");
        assert_eq!(c.role, "user");
    }
}

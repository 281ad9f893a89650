//! Greenlight 2 rooms: creation (home rooms too), lookups, renames, options, shares, deletion
//! and the counters Greenlight moves when a meeting starts.

use super::options::V2Options;
use super::users::{self, Lookup};
use super::{GreenlightV2, checks};
use crate::domain::{Email, RoomRef, Secret};
use crate::greenlight::common::{self, db_error, like_literal};
use crate::greenlight::{DeletedRoom, GlRoom, GreenlightError, ItemResult, NewRoom, RoomSearch};
use sqlx::PgConnection;
use std::collections::{BTreeMap, HashMap};

/// I18n `home_room` of Greenlight's default locale.
const HOME_ROOM_NAME: &str = "Home Room";
/// Home rooms keep the column default; Greenlight reads missing keys as false.
const HOME_ROOM_SETTINGS: &str = "{ }";

/// A `rooms` row joined with its owner, as we read it.
#[derive(Debug, sqlx::FromRow)]
struct RoomRow {
    id: i64,
    uid: Option<String>,
    bbb_id: Option<String>,
    name: String,
    room_settings: Option<String>,
    access_code: Option<String>,
    moderator_access_code: Option<String>,
    moderator_pw: Option<String>,
    attendee_pw: Option<String>,
    /// `last_session` in µs since the epoch (the column holds UTC without a zone).
    last_session_us: Option<i64>,
    user_id: Option<i64>,
    owner_email: Option<String>,
    owner_name: Option<String>,
}

/// A room a user owns, for deleting or transferring it with the user.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct OwnedRoom {
    pub id: i64,
    pub uid: String,
    pub bbb_id: String,
    pub deleted: bool,
}

// Every lookup selects the same columns; only the WHERE/ORDER/LOCK tail differs.
macro_rules! room_select {
    ($tail:literal) => {
        concat!(
            "SELECT r.id::int8 AS id, r.uid, r.bbb_id, COALESCE(r.name, '') AS name, ",
            "r.room_settings, r.access_code, r.moderator_access_code, r.moderator_pw, ",
            "r.attendee_pw, (EXTRACT(EPOCH FROM r.last_session) * 1000000)::int8 AS last_session_us, ",
            "r.user_id::int8 AS user_id, u.email AS owner_email, u.name AS owner_name ",
            "FROM rooms r LEFT JOIN users u ON u.id = r.user_id ",
            $tail
        )
    };
}

/// The visible room with this uid (case-insensitive; the oldest if an old install holds
/// duplicates, which v2 does not prevent), optionally locked.
async fn room_by_uid(
    conn: &mut PgConnection,
    uid: &str,
    lock: bool,
) -> Result<Option<RoomRow>, GreenlightError> {
    let sql = if lock {
        room_select!(
            "WHERE NOT r.deleted AND lower(r.uid) = lower($1) ORDER BY r.id LIMIT 1 FOR UPDATE OF r"
        )
    } else {
        room_select!("WHERE NOT r.deleted AND lower(r.uid) = lower($1) ORDER BY r.id LIMIT 1")
    };
    sqlx::query_as::<_, RoomRow>(sql)
        .bind(uid)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)
}

async fn locked_room(conn: &mut PgConnection, room: &RoomRef) -> Result<RoomRow, GreenlightError> {
    room_by_uid(conn, room.as_str(), true)
        .await?
        .ok_or_else(|| GreenlightError::RoomNotFound(room.to_string()))
}

async fn room_by_id(conn: &mut PgConnection, id: i64) -> Result<GlRoom, GreenlightError> {
    let row = sqlx::query_as::<_, RoomRow>(room_select!("WHERE r.id = $1"))
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    let mut shares = shares_of(conn, &[row.id]).await?;
    to_gl_room(row, &mut shares)
}

/// Who each room is shared with (visible users, each e-mail once).
async fn shares_of(
    conn: &mut PgConnection,
    room_ids: &[i64],
) -> Result<HashMap<i64, Vec<Email>>, GreenlightError> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT DISTINCT s.room_id::int8, lower(u.email) \
         FROM shared_accesses s JOIN users u ON u.id = s.user_id \
         WHERE s.room_id = ANY($1) AND NOT u.deleted AND u.email IS NOT NULL \
         ORDER BY 1, 2",
    )
    .bind(room_ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let mut out: HashMap<i64, Vec<Email>> = HashMap::new();
    for (room, email) in rows {
        // Social accounts may carry odd addresses; they cannot be named in a share anyway.
        if let Ok(e) = email.parse::<Email>() {
            out.entry(room).or_default().push(e);
        }
    }
    Ok(out)
}

fn to_gl_room(
    row: RoomRow,
    shares: &mut HashMap<i64, Vec<Email>>,
) -> Result<GlRoom, GreenlightError> {
    let uid = row.uid.unwrap_or_default();
    let owner_email = row
        .owner_email
        .as_deref()
        .and_then(|e| e.parse::<Email>().ok())
        .ok_or_else(|| {
            GreenlightError::Invalid(format!(
                "Greenlight room '{uid}' has no owner with a usable e-mail address"
            ))
        })?;
    let options = V2Options::from_row(
        row.room_settings.as_deref(),
        row.access_code.as_deref(),
        row.moderator_access_code.as_deref(),
    );
    Ok(GlRoom {
        id: row.id.to_string(),
        friendly_id: uid,
        meeting_id: row.bbb_id.unwrap_or_default(),
        name: row.name,
        owner_email,
        owner_name: row.owner_name.unwrap_or_default(),
        options: options.v3_view(),
        moderator_pw: row.moderator_pw.map(Secret::new),
        attendee_pw: row.attendee_pw.map(Secret::new),
        shared_with: shares.remove(&row.id).unwrap_or_default(),
        // Greenlight 2 keeps no online flag; it asks BBB.
        online: false,
        last_session: row
            .last_session_us
            .and_then(|us| jiff::Timestamp::from_microsecond(us).ok()),
    })
}

/// Rows to rooms for listings: a room whose owner is unusable is left out with a warning
/// rather than failing the whole list.
async fn to_gl_rooms(
    conn: &mut PgConnection,
    rows: Vec<RoomRow>,
) -> Result<Vec<GlRoom>, GreenlightError> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut shares = shares_of(conn, &ids).await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| match to_gl_room(row, &mut shares) {
            Ok(room) => Some(room),
            Err(e) => {
                tracing::warn!(error = %e, "skipping a Greenlight room");
                None
            }
        })
        .collect())
}

/// `Room#random_room_uid` (≥ 2.7): owner-name chunk + 3 groups; v2 does not check uniqueness,
/// we do (against deleted rooms too, which Greenlight may restore).
async fn new_room_uid(
    conn: &mut PgConnection,
    owner_name: &str,
) -> Result<String, GreenlightError> {
    for _ in 0..10 {
        let uid = common::v2_uid(owner_name);
        let taken: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM rooms WHERE lower(uid) = $1)")
                .bind(&uid)
                .fetch_one(&mut *conn)
                .await
                .map_err(db_error)?;
        if !taken {
            return Ok(uid);
        }
    }
    Err(GreenlightError::Database(
        "could not find an unused room id".into(),
    ))
}

/// `Room#unique_bbb_id`: 40 random `[a-z0-9]` not used by any room, deleted ones included.
async fn new_bbb_id(conn: &mut PgConnection) -> Result<String, GreenlightError> {
    for _ in 0..10 {
        let id = common::meeting_id();
        let taken: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM rooms WHERE bbb_id = $1)")
                .bind(&id)
                .fetch_one(&mut *conn)
                .await
                .map_err(db_error)?;
        if !taken {
            return Ok(id);
        }
    }
    Err(GreenlightError::Database(
        "could not find an unused BBB meeting id".into(),
    ))
}

/// Custom uids must be free among visible rooms (a deleted room's uid may be reused: Greenlight
/// no longer routes to it).
async fn claim_uid(
    conn: &mut PgConnection,
    uid: &str,
    except: Option<i64>,
) -> Result<(), GreenlightError> {
    checks::room_uid(uid)?;
    users::advisory_lock(conn, &format!("room-uid/{}", uid.to_lowercase())).await?;
    let taken: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM rooms WHERE NOT deleted AND lower(uid) = lower($1) \
                        AND id IS DISTINCT FROM $2)",
    )
    .bind(uid)
    .bind(except)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;
    if taken {
        Err(GreenlightError::RoomExists(uid.to_string()))
    } else {
        Ok(())
    }
}

/// What a new room row needs besides its generated ids.
struct RoomInsert<'a> {
    owner_id: i64,
    owner_name: &'a str,
    name: &'a str,
    uid: Option<&'a str>,
    settings: String,
    access_code: Option<&'a str>,
    moderator_access_code: Option<&'a str>,
}

/// Insert a room as `Room#setup` does: uid, bbb_id, two 12-character passwords, no sessions.
async fn insert_room(conn: &mut PgConnection, r: RoomInsert<'_>) -> Result<i64, GreenlightError> {
    let uid = match r.uid {
        Some(uid) => uid.to_string(),
        None => new_room_uid(conn, r.owner_name).await?,
    };
    let bbb_id = new_bbb_id(conn).await?;
    let moderator_pw = common::v2_meeting_password();
    let mut attendee_pw = common::v2_meeting_password();
    // BBB tells moderators from viewers by the password: they must differ.
    while attendee_pw == moderator_pw {
        attendee_pw = common::v2_meeting_password();
    }
    sqlx::query_scalar(
        "INSERT INTO rooms (user_id, name, uid, bbb_id, sessions, last_session, room_settings, \
                            moderator_pw, attendee_pw, access_code, moderator_access_code, \
                            deleted, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 0, NULL, $5, $6, $7, $8, $9, false, \
                 now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC') \
         RETURNING id::int8",
    )
    .bind(r.owner_id)
    .bind(r.name)
    .bind(&uid)
    .bind(&bbb_id)
    .bind(&r.settings)
    .bind(&moderator_pw)
    .bind(&attendee_pw)
    .bind(r.access_code)
    .bind(r.moderator_access_code)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)
}

/// `User#create_home_room`: a "Home Room" with default settings, linked as `users.room_id`.
pub(super) async fn create_home_room(
    conn: &mut PgConnection,
    owner_id: i64,
    owner_name: &str,
) -> Result<i64, GreenlightError> {
    let id = insert_room(
        conn,
        RoomInsert {
            owner_id,
            owner_name,
            name: HOME_ROOM_NAME,
            uid: None,
            settings: HOME_ROOM_SETTINGS.to_string(),
            access_code: None,
            moderator_access_code: None,
        },
    )
    .await?;
    sqlx::query(
        "UPDATE users SET room_id = $1, updated_at = now() AT TIME ZONE 'UTC' WHERE id = $2",
    )
    .bind(id)
    .bind(owner_id)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(id)
}

async fn owner(
    conn: &mut PgConnection,
    gl: &GreenlightV2,
    email: &Email,
) -> Result<users::UserRow, GreenlightError> {
    users::lookup(conn, email, gl.provider(), Lookup::LiveForUpdate)
        .await?
        .ok_or_else(|| GreenlightError::UserNotFound(email.clone()))
}

pub(super) async fn create(
    gl: &GreenlightV2,
    owner_email: &Email,
    room: &NewRoom,
) -> Result<GlRoom, GreenlightError> {
    checks::display_name("room name", &room.name)?;
    let mut options = V2Options::new_room();
    options.set_all(&room.options)?;
    options.set_code_field(
        "glViewerAccessCode",
        room.access_code.as_deref(),
        &room.options,
    )?;
    options.set_code_field(
        "glModeratorAccessCode",
        room.moderator_access_code.as_deref(),
        &room.options,
    )?;
    let mut tx = gl.pool().begin().await.map_err(db_error)?;
    let owner = owner(&mut tx, gl, owner_email).await?;
    if let Some(uid) = &room.friendly_id {
        claim_uid(&mut tx, uid.as_str(), None).await?;
    }
    let id = insert_room(
        &mut tx,
        RoomInsert {
            owner_id: owner.id,
            owner_name: &owner.name,
            name: &room.name,
            uid: room.friendly_id.as_ref().map(RoomRef::as_str),
            settings: options.settings_json(),
            access_code: options.access_code.as_deref(),
            moderator_access_code: options.moderator_access_code.as_deref(),
        },
    )
    .await?;
    let created = room_by_id(&mut tx, id).await?;
    tx.commit().await.map_err(db_error)?;
    tracing::info!(room = %created.friendly_id, owner = %owner_email, "created Greenlight 2 room");
    Ok(created)
}

pub(super) async fn find(
    gl: &GreenlightV2,
    room: &RoomRef,
) -> Result<Option<GlRoom>, GreenlightError> {
    let mut conn = gl.pool().acquire().await.map_err(db_error)?;
    match room_by_uid(&mut conn, room.as_str(), false).await? {
        Some(row) => {
            let mut shares = shares_of(&mut conn, &[row.id]).await?;
            to_gl_room(row, &mut shares).map(Some)
        }
        None => Ok(None),
    }
}

pub(super) async fn home(
    gl: &GreenlightV2,
    owner_email: &Email,
) -> Result<GlRoom, GreenlightError> {
    let mut tx = gl.pool().begin().await.map_err(db_error)?;
    // Locking the owner keeps two callers from creating two home rooms.
    let owner = owner(&mut tx, gl, owner_email).await?;
    let existing = match owner.room_id {
        Some(id) => {
            sqlx::query_scalar::<_, i64>("SELECT id::int8 FROM rooms WHERE id = $1 AND NOT deleted")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?
        }
        None => None,
    };
    let id = match existing {
        Some(id) => id,
        None => {
            let id = create_home_room(&mut tx, owner.id, &owner.name).await?;
            tracing::info!(owner = %owner_email, "created Greenlight 2 home room");
            id
        }
    };
    let room = room_by_id(&mut tx, id).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(room)
}

pub(super) async fn rename(
    gl: &GreenlightV2,
    room: &RoomRef,
    new_id: Option<&RoomRef>,
    new_name: Option<&str>,
) -> Result<GlRoom, GreenlightError> {
    if new_id.is_none() && new_name.is_none() {
        return Err(GreenlightError::Invalid(
            "give a new room id, a new name, or both".into(),
        ));
    }
    if let Some(name) = new_name {
        checks::display_name("room name", name)?;
    }
    let mut tx = gl.pool().begin().await.map_err(db_error)?;
    let row = locked_room(&mut tx, room).await?;
    if let Some(new_id) = new_id {
        claim_uid(&mut tx, new_id.as_str(), Some(row.id)).await?;
    }
    sqlx::query(
        "UPDATE rooms SET uid = COALESCE($2, uid), name = COALESCE($3, name), \
                          updated_at = now() AT TIME ZONE 'UTC' \
         WHERE id = $1",
    )
    .bind(row.id)
    .bind(new_id.map(RoomRef::as_str))
    .bind(new_name)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    let renamed = room_by_id(&mut tx, row.id).await?;
    tx.commit().await.map_err(db_error)?;
    tracing::info!(room = %room, new_id = %renamed.friendly_id, "renamed Greenlight 2 room");
    Ok(renamed)
}

pub(super) async fn set_options(
    gl: &GreenlightV2,
    room: &RoomRef,
    options: &BTreeMap<String, String>,
) -> Result<GlRoom, GreenlightError> {
    let mut tx = gl.pool().begin().await.map_err(db_error)?;
    let row = locked_room(&mut tx, room).await?;
    if !options.is_empty() {
        let mut current = V2Options::from_row(
            row.room_settings.as_deref(),
            row.access_code.as_deref(),
            row.moderator_access_code.as_deref(),
        );
        current.set_all(options)?;
        sqlx::query(
            "UPDATE rooms SET room_settings = $2, access_code = $3, moderator_access_code = $4, \
                              updated_at = now() AT TIME ZONE 'UTC' \
             WHERE id = $1",
        )
        .bind(row.id)
        .bind(current.settings_json())
        .bind(current.access_code.as_deref())
        .bind(current.moderator_access_code.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    }
    let updated = room_by_id(&mut tx, row.id).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(updated)
}

pub(super) async fn delete(
    gl: &GreenlightV2,
    room: &RoomRef,
) -> Result<DeletedRoom, GreenlightError> {
    let mut tx = gl.pool().begin().await.map_err(db_error)?;
    let row = locked_room(&mut tx, room).await?;
    let owned = OwnedRoom {
        id: row.id,
        uid: row.uid.unwrap_or_default(),
        bbb_id: row.bbb_id.unwrap_or_default(),
        deleted: false,
    };
    let mut deleted = purge(&mut tx, std::slice::from_ref(&owned)).await?;
    tx.commit().await.map_err(db_error)?;
    tracing::info!(room = %room, "deleted Greenlight 2 room");
    deleted
        .pop()
        .ok_or_else(|| GreenlightError::RoomNotFound(room.to_string()))
}

/// Every room of a user, soft-deleted ones included.
pub(super) async fn owned_by(
    conn: &mut PgConnection,
    user_id: i64,
) -> Result<Vec<OwnedRoom>, GreenlightError> {
    sqlx::query_as::<_, OwnedRoom>(
        "SELECT id::int8 AS id, COALESCE(uid, '') AS uid, COALESCE(bbb_id, '') AS bbb_id, deleted \
         FROM rooms WHERE user_id = $1 ORDER BY id FOR UPDATE",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)
}

/// Give rooms to another user; a share of one of them with the new owner is dropped (owners
/// need none).
pub(super) async fn transfer(
    conn: &mut PgConnection,
    rooms: &[OwnedRoom],
    to_user: i64,
) -> Result<(), GreenlightError> {
    let ids: Vec<i64> = rooms.iter().map(|r| r.id).collect();
    sqlx::query(
        "UPDATE rooms SET user_id = $2, updated_at = now() AT TIME ZONE 'UTC' WHERE id = ANY($1)",
    )
    .bind(&ids)
    .bind(to_user)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    sqlx::query("DELETE FROM shared_accesses WHERE room_id = ANY($1) AND user_id = $2")
        .bind(&ids)
        .bind(to_user)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Hard-delete rooms with their shares (first: migrated installs have foreign keys) and unlink
/// any user's home room pointing at them (Greenlight's permanent `Room#destroy`).
pub(super) async fn purge(
    conn: &mut PgConnection,
    rooms: &[OwnedRoom],
) -> Result<Vec<DeletedRoom>, GreenlightError> {
    if rooms.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rooms.iter().map(|r| r.id).collect();
    sqlx::query("DELETE FROM shared_accesses WHERE room_id = ANY($1)")
        .bind(&ids)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let unlinked = sqlx::query(
        "UPDATE users SET room_id = NULL, updated_at = now() AT TIME ZONE 'UTC' \
         WHERE room_id = ANY($1)",
    )
    .bind(&ids)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?
    .rows_affected();
    if unlinked > 0 {
        tracing::debug!(
            users = unlinked,
            "home room deleted; Greenlight users get a new one from home_room"
        );
    }
    sqlx::query("DELETE FROM rooms WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(rooms
        .iter()
        .map(|r| DeletedRoom {
            friendly_id: r.uid.clone(),
            meeting_id: r.bbb_id.clone(),
            recordings_removed: 0,
        })
        .collect())
}

pub(super) async fn share(
    gl: &GreenlightV2,
    room: &RoomRef,
    emails: &[Email],
) -> Result<Vec<ItemResult>, GreenlightError> {
    let mut tx = gl.pool().begin().await.map_err(db_error)?;
    // The room lock serialises sharers: v2 has no unique index to stop duplicate rows.
    let row = locked_room(&mut tx, room).await?;
    let mut results = Vec::with_capacity(emails.len());
    for email in emails {
        let result = match users::lookup(&mut tx, email, gl.provider(), Lookup::Live).await? {
            None => ItemResult::failed(
                email.as_str(),
                "no Greenlight user with that e-mail; create it first",
            ),
            Some(u) if Some(u.id) == row.user_id => {
                ItemResult::failed(email.as_str(), "owns the room; nothing to share")
            }
            Some(u) => add_share(&mut tx, row.id, u.id, email).await?,
        };
        results.push(result);
    }
    tx.commit().await.map_err(db_error)?;
    Ok(results)
}

async fn add_share(
    conn: &mut PgConnection,
    room_id: i64,
    user_id: i64,
    email: &Email,
) -> Result<ItemResult, GreenlightError> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM shared_accesses WHERE room_id = $1 AND user_id = $2)",
    )
    .bind(room_id)
    .bind(user_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;
    if exists {
        return Ok(ItemResult::ok(email.as_str(), "already shared"));
    }
    sqlx::query(
        "INSERT INTO shared_accesses (room_id, user_id, created_at, updated_at) \
         VALUES ($1, $2, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')",
    )
    .bind(room_id)
    .bind(user_id)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(ItemResult::ok(email.as_str(), "shared"))
}

pub(super) async fn unshare(
    gl: &GreenlightV2,
    room: &RoomRef,
    emails: &[Email],
) -> Result<Vec<ItemResult>, GreenlightError> {
    let mut tx = gl.pool().begin().await.map_err(db_error)?;
    let row = locked_room(&mut tx, room).await?;
    let mut results = Vec::with_capacity(emails.len());
    for email in emails {
        if users::lookup(&mut tx, email, gl.provider(), Lookup::Live)
            .await?
            .is_none()
        {
            results.push(ItemResult::failed(
                email.as_str(),
                "no Greenlight user with that e-mail",
            ));
            continue;
        }
        // Every share row with a user of that e-mail: older tools wrote duplicates.
        let removed = sqlx::query(
            "DELETE FROM shared_accesses s USING users u \
             WHERE s.room_id = $1 AND s.user_id = u.id AND lower(u.email) = $2 AND NOT u.deleted",
        )
        .bind(row.id)
        .bind(email.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?
        .rows_affected();
        let message = if removed > 0 {
            "unshared"
        } else {
            "was not shared"
        };
        results.push(ItemResult::ok(email.as_str(), message));
    }
    tx.commit().await.map_err(db_error)?;
    Ok(results)
}

pub(super) async fn search(
    gl: &GreenlightV2,
    by: &RoomSearch,
) -> Result<Vec<GlRoom>, GreenlightError> {
    let mut conn = gl.pool().acquire().await.map_err(db_error)?;
    let rows = match by {
        RoomSearch::Name(text) => sqlx::query_as::<_, RoomRow>(room_select!(
            "WHERE NOT r.deleted AND r.name ILIKE '%' || $1 || '%' ESCAPE '\\' \
             ORDER BY lower(r.name), r.id"
        ))
        .bind(like_literal(text))
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?,
        // Greenlight's own order: the home room, then by last session (never-used last).
        RoomSearch::OwnerEmail(email) => sqlx::query_as::<_, RoomRow>(room_select!(
            "WHERE NOT r.deleted AND NOT u.deleted AND lower(u.email) = $1 \
             ORDER BY u.id, COALESCE(r.id = u.room_id, false) DESC, \
                      r.last_session DESC NULLS LAST, r.id"
        ))
        .bind(email.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?,
        RoomSearch::MeetingId(id) => sqlx::query_as::<_, RoomRow>(room_select!(
            "WHERE NOT r.deleted AND r.bbb_id = $1 ORDER BY r.id"
        ))
        .bind(id)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?,
        RoomSearch::Id(room) => room_by_uid(&mut conn, room.as_str(), false)
            .await?
            .into_iter()
            .collect(),
    };
    to_gl_rooms(&mut conn, rows).await
}

pub(super) async fn meeting_started(
    gl: &GreenlightV2,
    meeting_id: &str,
    create_time_ms: i64,
) -> Result<(), GreenlightError> {
    // BBB's createTime goes into last_session: Greenlight 2 sends it back as `createTime` in
    // join URLs, and BBB refuses joins whose createTime differs from the running meeting's.
    let created = jiff::Timestamp::from_millisecond(create_time_ms)
        .ok()
        .filter(|t| *t > jiff::Timestamp::UNIX_EPOCH)
        .ok_or_else(|| {
            GreenlightError::Invalid(format!(
                "{create_time_ms} is not a BBB createTime (milliseconds since 1970)"
            ))
        })?;
    let mut tx = gl.pool().begin().await.map_err(db_error)?;
    let updated = sqlx::query(
        "UPDATE rooms SET sessions = COALESCE(sessions, 0) + 1, \
                          last_session = $2::timestamptz AT TIME ZONE 'UTC', \
                          updated_at = now() AT TIME ZONE 'UTC' \
         WHERE bbb_id = $1 AND NOT deleted",
    )
    .bind(meeting_id)
    .bind(created.to_string())
    .execute(&mut *tx)
    .await
    .map_err(db_error)?
    .rows_affected();
    if updated == 0 {
        return Err(GreenlightError::RoomNotFound(meeting_id.to_string()));
    }
    tx.commit().await.map_err(db_error)?;
    Ok(())
}

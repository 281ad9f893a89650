//! `rooms`, `room_meeting_options` and `shared_accesses` rows (greenlight.md §1.5–§1.7, §2,
//! §4, §5): created as `Room` and its `after_create` hook create them, deleted children first.

use super::users::Owner;
use super::{is_unique_violation, options, validate};
use crate::domain::{Email, RoomRef};
use crate::greenlight::{
    DeletedRoom, GlRoom, GreenlightError, ItemResult, NewRoom, RoomSearch, common, common::db_error,
};
use sqlx::{Connection, PgConnection};
use std::collections::BTreeMap;

/// Draws of a fresh friendly_id/meeting_id before giving up (36^12 and 36^40 values: a
/// second draw is already astronomically rare).
const ID_ATTEMPTS: usize = 10;
/// Suffix of the room Greenlight creates for a new user (`room.new_room_name`, English).
const HOME_ROOM_SUFFIX: &str = "'s Room";

/// A room row we hold a lock on, with its owner.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LockedRoom {
    pub id: String,
    pub friendly_id: String,
    pub meeting_id: String,
    pub user_id: String,
    pub provider: String,
}

#[derive(sqlx::FromRow)]
struct RoomRow {
    id: String,
    friendly_id: String,
    meeting_id: String,
    name: String,
    owner_email: String,
    owner_name: String,
    online: bool,
    last_session_us: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct OptionRow {
    room_id: String,
    name: Option<String>,
    value: Option<String>,
    config: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ShareRow {
    room_id: String,
    email: String,
}

/// Create a room for `owner` with one option row per meeting option (§4.2), then the
/// requested options and access codes. Returns the new room's id.
pub async fn create(
    conn: &mut PgConnection,
    owner: &Owner,
    room: &NewRoom,
) -> Result<String, GreenlightError> {
    validate::name("room", &room.name)?;
    let custom = room
        .friendly_id
        .as_ref()
        .map(validate::friendly_id)
        .transpose()?;
    let catalogue = options::catalogue(conn, &owner.provider).await?;
    let requested = options::check(&requested_options(room)?, &catalogue)?;
    let (id, friendly_id) = insert_room(conn, owner, &room.name, custom.as_deref()).await?;
    warn_forced(&friendly_id, &requested);
    let (option_ids, values): (Vec<String>, Vec<Option<String>>) = catalogue
        .iter()
        .map(|opt| {
            let asked = requested.iter().find(|c| c.option_id == opt.id);
            let value = asked
                .map(|c| c.value.clone())
                .or_else(|| options::initial_value(opt));
            (opt.id.clone(), value)
        })
        .unzip();
    sqlx::query(
        "INSERT INTO room_meeting_options (room_id, meeting_option_id, value, created_at, updated_at) \
         SELECT $1::uuid, o.id::uuid, o.value, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC' \
         FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS o(id, value, n) \
         ORDER BY o.n",
    )
    .bind(&id)
    .bind(&option_ids)
    .bind(&values)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(id)
}

/// `NewRoom.options` plus its two access-code fields under their option names.
fn requested_options(room: &NewRoom) -> Result<BTreeMap<String, String>, GreenlightError> {
    let mut all = room.options.clone();
    for (name, code) in [
        (options::VIEWER_CODE, &room.access_code),
        (options::MODERATOR_CODE, &room.moderator_access_code),
    ] {
        let Some(code) = code else { continue };
        match all.get(name) {
            Some(other) if other != code => {
                return Err(GreenlightError::Invalid(format!(
                    "two different values for {name}; give the access code once"
                )));
            }
            _ => {
                all.insert(name.to_string(), code.clone());
            }
        }
    }
    Ok(all)
}

/// A value Greenlight will not use because the provider forces the option: say so.
fn warn_forced(friendly_id: &str, requested: &[options::Checked]) {
    for c in requested.iter().filter(|c| c.forced) {
        tracing::warn!(
            room = %friendly_id,
            option = %c.name,
            "the site's room configuration forces this option; Greenlight ignores the stored value"
        );
    }
}

/// Insert the `rooms` row with unused ids, drawn as Greenlight draws them (existence check,
/// then the unique indexes as the final word: a violation rolls back to a savepoint and
/// draws again). A custom friendly_id that is taken is `RoomExists`.
async fn insert_room(
    conn: &mut PgConnection,
    owner: &Owner,
    name: &str,
    custom: Option<&str>,
) -> Result<(String, String), GreenlightError> {
    if let Some(fid) = custom
        && friendly_id_taken(conn, fid).await?
    {
        return Err(GreenlightError::RoomExists(fid.to_string()));
    }
    for _ in 0..ID_ATTEMPTS {
        let friendly_id = match custom {
            Some(fid) => fid.to_string(),
            None => unused_friendly_id(conn).await?,
        };
        let meeting_id = unused_meeting_id(conn).await?;
        let mut savepoint = conn.begin().await.map_err(db_error)?;
        let inserted = sqlx::query_scalar::<_, String>(
            "INSERT INTO rooms (user_id, name, friendly_id, meeting_id, last_session, \
                                created_at, updated_at, recordings_processing, online) \
             VALUES ($1::uuid, $2, $3, $4, NULL, \
                     now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', 0, false) \
             RETURNING id::text",
        )
        .bind(&owner.id)
        .bind(name)
        .bind(&friendly_id)
        .bind(&meeting_id)
        .fetch_one(&mut *savepoint)
        .await;
        match inserted {
            Ok(id) => {
                savepoint.commit().await.map_err(db_error)?;
                return Ok((id, friendly_id));
            }
            Err(e) if is_unique_violation(&e) => {
                savepoint.rollback().await.map_err(db_error)?;
                if let Some(fid) = custom
                    && friendly_id_taken(conn, fid).await?
                {
                    return Err(GreenlightError::RoomExists(fid.to_string()));
                }
                tracing::debug!("room id collision on insert; drawing new ids");
            }
            Err(e) => return Err(db_error(e)),
        }
    }
    Err(GreenlightError::Database(
        "could not find unused room ids; try again".into(),
    ))
}

async fn friendly_id_taken(conn: &mut PgConnection, fid: &str) -> Result<bool, GreenlightError> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM rooms WHERE friendly_id = $1)")
        .bind(fid)
        .fetch_one(conn)
        .await
        .map_err(db_error)
}

async fn unused_friendly_id(conn: &mut PgConnection) -> Result<String, GreenlightError> {
    for _ in 0..ID_ATTEMPTS {
        let fid = common::v3_friendly_id();
        if !friendly_id_taken(conn, &fid).await? {
            return Ok(fid);
        }
    }
    Err(GreenlightError::Database(
        "could not find an unused room id; try again".into(),
    ))
}

async fn unused_meeting_id(conn: &mut PgConnection) -> Result<String, GreenlightError> {
    for _ in 0..ID_ATTEMPTS {
        let mid = common::meeting_id();
        let taken: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM rooms WHERE meeting_id = $1)")
                .bind(&mid)
                .fetch_one(&mut *conn)
                .await
                .map_err(db_error)?;
        if !taken {
            return Ok(mid);
        }
    }
    Err(GreenlightError::Database(
        "could not find an unused meeting id; try again".into(),
    ))
}

/// The owner's oldest room, or a new one named as Greenlight names a new user's room.
pub async fn home(conn: &mut PgConnection, owner: &Owner) -> Result<String, GreenlightError> {
    let oldest: Option<String> = sqlx::query_scalar(
        "SELECT id::text FROM rooms WHERE user_id = $1::uuid ORDER BY created_at, id LIMIT 1",
    )
    .bind(&owner.id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    if let Some(id) = oldest {
        return Ok(id);
    }
    let room = NewRoom {
        name: home_room_name(&owner.name),
        ..NewRoom::default()
    };
    create(conn, owner, &room).await
}

/// `"<name>'s Room"`, the user name shortened so the room name stays within 255 characters.
fn home_room_name(user_name: &str) -> String {
    let room_chars = validate::MAX_NAME_CHARS - HOME_ROOM_SUFFIX.chars().count();
    let short: String = user_name.chars().take(room_chars).collect();
    format!("{short}{HOME_ROOM_SUFFIX}")
}

/// A room of this provider by friendly_id: the exact id, else the only case-insensitive
/// match (room references arrive lower-cased; legacy ids may not be).
pub async fn find_id(
    conn: &mut PgConnection,
    provider: &str,
    room: &RoomRef,
) -> Result<Option<String>, GreenlightError> {
    let exact: Option<String> = sqlx::query_scalar(
        "SELECT r.id::text FROM rooms r JOIN users u ON u.id = r.user_id \
         WHERE u.provider = $1 AND r.friendly_id = $2",
    )
    .bind(provider)
    .bind(room.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    if exact.is_some() {
        return Ok(exact);
    }
    sqlx::query_scalar(
        "SELECT r.id::text FROM rooms r JOIN users u ON u.id = r.user_id \
         WHERE u.provider = $1 AND lower(r.friendly_id) = $2 \
         ORDER BY r.created_at, r.id LIMIT 1",
    )
    .bind(provider)
    .bind(room.as_str())
    .fetch_optional(conn)
    .await
    .map_err(db_error)
}

/// Lock a room of this provider for the rest of the transaction; `RoomNotFound` if missing.
pub async fn lock(
    conn: &mut PgConnection,
    provider: &str,
    room: &RoomRef,
) -> Result<LockedRoom, GreenlightError> {
    let Some(id) = find_id(conn, provider, room).await? else {
        return Err(GreenlightError::RoomNotFound(room.to_string()));
    };
    sqlx::query_as::<_, LockedRoom>(
        "SELECT r.id::text AS id, r.friendly_id, r.meeting_id, r.user_id::text AS user_id, \
                u.provider \
         FROM rooms r JOIN users u ON u.id = r.user_id \
         WHERE r.id = $1::uuid FOR UPDATE OF r",
    )
    .bind(&id)
    .fetch_optional(conn)
    .await
    .map_err(db_error)?
    .ok_or_else(|| GreenlightError::RoomNotFound(room.to_string()))
}

/// All rooms of a user, locked, oldest first.
pub async fn lock_owned(
    conn: &mut PgConnection,
    user_id: &str,
) -> Result<Vec<LockedRoom>, GreenlightError> {
    sqlx::query_as::<_, LockedRoom>(
        "SELECT r.id::text AS id, r.friendly_id, r.meeting_id, r.user_id::text AS user_id, \
                u.provider \
         FROM rooms r JOIN users u ON u.id = r.user_id \
         WHERE r.user_id = $1::uuid ORDER BY r.created_at, r.id FOR UPDATE OF r",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await
    .map_err(db_error)
}

/// New friendly_id and/or name; `updated_at` moves as Rails' `update` moves it.
pub async fn rename(
    conn: &mut PgConnection,
    room: &LockedRoom,
    new_id: Option<&RoomRef>,
    new_name: Option<&str>,
) -> Result<(), GreenlightError> {
    if new_id.is_none() && new_name.is_none() {
        return Err(GreenlightError::Invalid(
            "nothing to change: give a new room id or a new name".into(),
        ));
    }
    if let Some(name) = new_name {
        validate::name("room", name)?;
    }
    let new_id = new_id.map(validate::friendly_id).transpose()?;
    if let Some(fid) = &new_id
        && *fid != room.friendly_id
        && friendly_id_taken(conn, fid).await?
    {
        return Err(GreenlightError::RoomExists(fid.clone()));
    }
    let updated = sqlx::query(
        "UPDATE rooms SET friendly_id = COALESCE($2, friendly_id), name = COALESCE($3, name), \
                          updated_at = now() AT TIME ZONE 'UTC' \
         WHERE id = $1::uuid",
    )
    .bind(&room.id)
    .bind(new_id.as_deref())
    .bind(new_name)
    .execute(conn)
    .await;
    match updated {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(GreenlightError::RoomExists(
            new_id.unwrap_or_else(|| room.friendly_id.clone()),
        )),
        Err(e) => Err(db_error(e)),
    }
}

/// Store option values by name (checked against the catalogue). Every row Greenlight might
/// read is updated; a missing row (damaged or hand-made room) is added.
pub async fn set_options(
    conn: &mut PgConnection,
    room: &LockedRoom,
    requested: &BTreeMap<String, String>,
) -> Result<(), GreenlightError> {
    if requested.is_empty() {
        return Err(GreenlightError::Invalid("no room options given".into()));
    }
    let catalogue = options::catalogue(conn, &room.provider).await?;
    let checked = options::check(requested, &catalogue)?;
    warn_forced(&room.friendly_id, &checked);
    for c in &checked {
        let updated = sqlx::query(
            "UPDATE room_meeting_options SET value = $3, updated_at = now() AT TIME ZONE 'UTC' \
             WHERE room_id = $1::uuid AND meeting_option_id = $2::uuid",
        )
        .bind(&room.id)
        .bind(&c.option_id)
        .bind(&c.value)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
        if updated.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO room_meeting_options (room_id, meeting_option_id, value, created_at, updated_at) \
                 VALUES ($1::uuid, $2::uuid, $3, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')",
            )
            .bind(&room.id)
            .bind(&c.option_id)
            .bind(&c.value)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        }
    }
    Ok(())
}

/// Delete a room as `Room#destroy` does, children first: recording formats and recordings
/// (only when asked: otherwise a room with recordings is refused, since its recording rows
/// would block the delete), option rows, shares, the room.
pub async fn delete(
    conn: &mut PgConnection,
    room: &LockedRoom,
    with_recordings: bool,
) -> Result<DeletedRoom, GreenlightError> {
    let recordings: i64 =
        sqlx::query_scalar("SELECT count(*) FROM recordings WHERE room_id = $1::uuid")
            .bind(&room.id)
            .fetch_one(&mut *conn)
            .await
            .map_err(db_error)?;
    if recordings > 0 && !with_recordings {
        return Err(GreenlightError::Invalid(format!(
            "room {} has {recordings} recording(s) in Greenlight; delete them with the room or keep the room",
            room.friendly_id
        )));
    }
    let statements = [
        "DELETE FROM formats WHERE recording_id IN \
           (SELECT id FROM recordings WHERE room_id = $1::uuid)",
        "DELETE FROM recordings WHERE room_id = $1::uuid",
        "DELETE FROM room_meeting_options WHERE room_id = $1::uuid",
        "DELETE FROM shared_accesses WHERE room_id = $1::uuid",
        "DELETE FROM rooms WHERE id = $1::uuid",
    ];
    let mut recordings_removed = 0;
    for (i, sql) in statements.into_iter().enumerate() {
        let done = sqlx::query(sql)
            .bind(&room.id)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        if i == 1 {
            recordings_removed = done.rows_affected();
        }
    }
    Ok(DeletedRoom {
        friendly_id: room.friendly_id.clone(),
        meeting_id: room.meeting_id.clone(),
        recordings_removed,
    })
}

/// Hand rooms to another user; a share the new owner had on them is now pointless and goes.
pub async fn transfer(
    conn: &mut PgConnection,
    rooms: &[LockedRoom],
    to: &Owner,
) -> Result<Vec<String>, GreenlightError> {
    let ids: Vec<&str> = rooms.iter().map(|r| r.id.as_str()).collect();
    sqlx::query(
        "UPDATE rooms SET user_id = $1::uuid, updated_at = now() AT TIME ZONE 'UTC' \
         WHERE id = ANY($2::text[]::uuid[])",
    )
    .bind(&to.id)
    .bind(&ids)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    sqlx::query(
        "DELETE FROM shared_accesses WHERE user_id = $1::uuid AND room_id = ANY($2::text[]::uuid[])",
    )
    .bind(&to.id)
    .bind(&ids)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(rooms.iter().map(|r| r.friendly_id.clone()).collect())
}

/// A user of this provider, share-locked so it cannot vanish before we insert.
async fn user_id(
    conn: &mut PgConnection,
    provider: &str,
    email: &Email,
) -> Result<Option<String>, GreenlightError> {
    sqlx::query_scalar("SELECT id::text FROM users WHERE email = $1 AND provider = $2 FOR SHARE")
        .bind(email.as_str())
        .bind(provider)
        .fetch_optional(conn)
        .await
        .map_err(db_error)
}

const NO_USER: &str = "no Greenlight user with that e-mail; create the user first";

/// Share with each user: one `shared_accesses` row per (user, room), never for the owner.
pub async fn share(
    conn: &mut PgConnection,
    provider: &str,
    room: &LockedRoom,
    users: &[Email],
) -> Result<Vec<ItemResult>, GreenlightError> {
    let mut results = Vec::with_capacity(users.len());
    for email in users {
        let item = email.as_str();
        let result = match user_id(conn, provider, email).await? {
            None => ItemResult::failed(item, NO_USER),
            Some(id) if id == room.user_id => {
                ItemResult::failed(item, "already the owner of the room")
            }
            Some(id) => {
                let inserted = sqlx::query(
                    "INSERT INTO shared_accesses (user_id, room_id, created_at, updated_at) \
                     SELECT $1::uuid, $2::uuid, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC' \
                     WHERE NOT EXISTS (SELECT 1 FROM shared_accesses \
                                       WHERE user_id = $1::uuid AND room_id = $2::uuid)",
                )
                .bind(&id)
                .bind(&room.id)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
                if inserted.rows_affected() == 0 {
                    ItemResult::ok(item, "already shared")
                } else {
                    ItemResult::ok(item, "shared")
                }
            }
        };
        results.push(result);
    }
    Ok(results)
}

/// Remove each user's share; a user without one is fine (nothing to do).
pub async fn unshare(
    conn: &mut PgConnection,
    provider: &str,
    room: &LockedRoom,
    users: &[Email],
) -> Result<Vec<ItemResult>, GreenlightError> {
    let mut results = Vec::with_capacity(users.len());
    for email in users {
        let item = email.as_str();
        let result = match user_id(conn, provider, email).await? {
            None => ItemResult::failed(item, NO_USER),
            Some(id) if id == room.user_id => ItemResult::failed(
                item,
                "the owner of the room; ownership is not a share (transfer the room instead)",
            ),
            Some(id) => {
                let removed = sqlx::query(
                    "DELETE FROM shared_accesses WHERE user_id = $1::uuid AND room_id = $2::uuid",
                )
                .bind(&id)
                .bind(&room.id)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
                if removed.rows_affected() == 0 {
                    ItemResult::ok(item, "was not shared")
                } else {
                    ItemResult::ok(item, "unshared")
                }
            }
        };
        results.push(result);
    }
    Ok(results)
}

/// Ids of the rooms matching a search, oldest first, within this provider.
pub async fn search_ids(
    conn: &mut PgConnection,
    provider: &str,
    by: &RoomSearch,
) -> Result<Vec<String>, GreenlightError> {
    let (sql, arg) = match by {
        RoomSearch::Id(room) => {
            return Ok(find_id(conn, provider, room).await?.into_iter().collect());
        }
        RoomSearch::Name(text) => (
            "SELECT r.id::text FROM rooms r JOIN users u ON u.id = r.user_id \
             WHERE u.provider = $1 AND r.name ILIKE $2 ESCAPE '\\' \
             ORDER BY r.created_at, r.id",
            format!("%{}%", common::like_literal(text)),
        ),
        RoomSearch::OwnerEmail(email) => (
            "SELECT r.id::text FROM rooms r JOIN users u ON u.id = r.user_id \
             WHERE u.provider = $1 AND u.email = $2 \
             ORDER BY r.created_at, r.id",
            email.as_str().to_string(),
        ),
        RoomSearch::MeetingId(id) => (
            "SELECT r.id::text FROM rooms r JOIN users u ON u.id = r.user_id \
             WHERE u.provider = $1 AND r.meeting_id = $2 \
             ORDER BY r.created_at, r.id",
            id.clone(),
        ),
    };
    sqlx::query_scalar(sql)
        .bind(provider)
        .bind(arg)
        .fetch_all(conn)
        .await
        .map_err(db_error)
}

/// One room as the caller sees it.
pub async fn load_one(conn: &mut PgConnection, id: &str) -> Result<GlRoom, GreenlightError> {
    load(conn, &[id.to_string()])
        .await?
        .pop()
        .ok_or_else(|| GreenlightError::RoomNotFound(id.to_string()))
}

/// Rooms with owner, effective options and sharees, in three queries.
pub async fn load(conn: &mut PgConnection, ids: &[String]) -> Result<Vec<GlRoom>, GreenlightError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query_as::<_, RoomRow>(
        "SELECT r.id::text AS id, r.friendly_id, r.meeting_id, r.name, \
                u.email AS owner_email, u.name AS owner_name, \
                COALESCE(r.online, false) AS online, \
                floor(extract(epoch FROM r.last_session) * 1000000)::bigint AS last_session_us \
         FROM rooms r JOIN users u ON u.id = r.user_id \
         WHERE r.id = ANY($1::text[]::uuid[]) \
         ORDER BY r.created_at, r.id",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let option_rows = sqlx::query_as::<_, OptionRow>(
        "SELECT rmo.room_id::text AS room_id, mo.name, rmo.value, rc.value AS config \
         FROM room_meeting_options rmo \
         JOIN meeting_options mo ON mo.id = rmo.meeting_option_id \
         JOIN rooms r ON r.id = rmo.room_id \
         JOIN users u ON u.id = r.user_id \
         LEFT JOIN rooms_configurations rc \
           ON rc.meeting_option_id = mo.id AND rc.provider = u.provider \
         WHERE rmo.room_id = ANY($1::text[]::uuid[]) \
         ORDER BY rmo.created_at, rmo.id",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let share_rows = sqlx::query_as::<_, ShareRow>(
        "SELECT sa.room_id::text AS room_id, u.email \
         FROM shared_accesses sa JOIN users u ON u.id = sa.user_id \
         WHERE sa.room_id = ANY($1::text[]::uuid[]) \
         ORDER BY u.email",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    rows.into_iter()
        .map(|row| assemble(row, &option_rows, &share_rows))
        .collect()
}

fn assemble(
    row: RoomRow,
    option_rows: &[OptionRow],
    share_rows: &[ShareRow],
) -> Result<GlRoom, GreenlightError> {
    let owner_email: Email = row.owner_email.parse().map_err(|e| {
        GreenlightError::Invalid(format!(
            "room {}: the owner's stored e-mail cannot be used ({e})",
            row.friendly_id
        ))
    })?;
    let mut options = BTreeMap::new();
    for opt in option_rows.iter().filter(|o| o.room_id == row.id) {
        let Some(name) = &opt.name else { continue };
        // Greenlight reads the first row per option; later duplicates do not count.
        options.entry(name.clone()).or_insert_with(|| {
            options::effective(name, opt.value.as_deref(), opt.config.as_deref())
        });
    }
    let shared_with = share_rows
        .iter()
        .filter(|s| s.room_id == row.id)
        .filter_map(|s| match s.email.parse::<Email>() {
            Ok(e) => Some(e),
            Err(e) => {
                tracing::warn!(room = %row.friendly_id, error = %e, "skipping a sharee whose stored e-mail cannot be used");
                None
            }
        })
        .collect();
    Ok(GlRoom {
        id: row.id,
        friendly_id: row.friendly_id,
        meeting_id: row.meeting_id,
        name: row.name,
        owner_email,
        owner_name: row.owner_name,
        options,
        moderator_pw: None,
        attendee_pw: None,
        shared_with,
        online: row.online,
        last_session: row
            .last_session_us
            .and_then(|us| jiff::Timestamp::from_microsecond(us).ok()),
    })
}

/// BBB `createTime` (ms) of a meeting we created, as Greenlight's MeetingStarter stores it:
/// Greenlight's join URLs carry it, so it must match the running meeting (greenlight.md §6.2).
pub async fn meeting_started(
    conn: &mut PgConnection,
    provider: &str,
    meeting_id: &str,
    create_time_ms: i64,
) -> Result<(), GreenlightError> {
    if create_time_ms <= 0 {
        return Err(GreenlightError::Invalid(format!(
            "createTime {create_time_ms} is not a BBB create time (milliseconds since 1970)"
        )));
    }
    let done = sqlx::query(
        "UPDATE rooms r \
         SET last_session = TIMESTAMP '1970-01-01 00:00:00' \
                            + ($3::bigint / 1000) * INTERVAL '1 second' \
                            + ($3::bigint % 1000) * INTERVAL '1 millisecond', \
             online = true, updated_at = now() AT TIME ZONE 'UTC' \
         FROM users u \
         WHERE u.id = r.user_id AND u.provider = $1 AND r.meeting_id = $2",
    )
    .bind(provider)
    .bind(meeting_id)
    .bind(create_time_ms)
    .execute(conn)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(GreenlightError::RoomNotFound(meeting_id.to_string()));
    }
    Ok(())
}

/// BBB ended the meeting: Greenlight's `meeting_ended` callback sets `online = false`.
pub async fn meeting_ended(
    conn: &mut PgConnection,
    provider: &str,
    meeting_id: &str,
) -> Result<(), GreenlightError> {
    let done = sqlx::query(
        "UPDATE rooms r SET online = false, updated_at = now() AT TIME ZONE 'UTC' \
         FROM users u \
         WHERE u.id = r.user_id AND u.provider = $1 AND r.meeting_id = $2",
    )
    .bind(provider)
    .bind(meeting_id)
    .execute(conn)
    .await
    .map_err(db_error)?;
    if done.rows_affected() == 0 {
        return Err(GreenlightError::RoomNotFound(meeting_id.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_room_names_fit() {
        assert_eq!(home_room_name("Ann O'Neil"), "Ann O'Neil's Room");
        let long = home_room_name(&"é".repeat(255));
        assert_eq!(long.chars().count(), 255);
        assert!(long.ends_with("'s Room"));
    }

    #[test]
    fn access_code_fields_merge_into_options() {
        let mut room = NewRoom {
            name: "r".into(),
            access_code: Some("123456".into()),
            ..NewRoom::default()
        };
        let all = requested_options(&room).unwrap();
        assert_eq!(all[options::VIEWER_CODE], "123456");
        room.options
            .insert(options::VIEWER_CODE.into(), "654321".into());
        assert!(requested_options(&room).is_err());
    }
}

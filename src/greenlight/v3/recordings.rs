//! Greenlight's copy of recordings (`recordings`, `formats`; greenlight.md §1.10–1.11, §7),
//! kept in step with what we change on BBB, the way Greenlight's own `RecordingCreator` and
//! resync write it: one row per BBB record id in the room of its meetingID, one `formats` row
//! per playback type, visibility spelled exactly as Greenlight does.

use super::super::GlRecording;
use super::super::common::db_error;
use super::GreenlightError;
use sqlx::PgConnection;

/// Insert or update the rows of `recordings` whose meetingID is a room of `provider`; rows of
/// unknown rooms are left out (they belong to no Greenlight room). Returns the rows written.
pub(super) async fn upsert(
    conn: &mut PgConnection,
    provider: &str,
    recordings: &[GlRecording],
) -> Result<u64, GreenlightError> {
    let mut written = 0;
    for r in recordings {
        let room: Option<String> = sqlx::query_scalar(
            "SELECT r.id::text FROM rooms r JOIN users u ON u.id = r.user_id \
             WHERE u.provider = $1 AND r.meeting_id = $2 ORDER BY r.created_at LIMIT 1",
        )
        .bind(provider)
        .bind(&r.meeting_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
        let Some(room) = room else { continue };
        let recorded_us = r.recorded_at.as_microsecond();
        // record_id is not unique-indexed in Greenlight: update every row that carries it.
        let updated: Vec<String> = sqlx::query_scalar(
            "UPDATE recordings SET name = $2, visibility = $3, length = $4, participants = $5, \
                    protectable = $6, \
                    recorded_at = TIMESTAMP '1970-01-01 00:00:00' + $7::bigint * INTERVAL '1 microsecond', \
                    updated_at = now() AT TIME ZONE 'UTC' \
             WHERE record_id = $1 RETURNING id::text",
        )
        .bind(&r.record_id)
        .bind(&r.name)
        .bind(&r.visibility)
        .bind(r.length_minutes)
        .bind(r.participants)
        .bind(r.protectable)
        .bind(recorded_us)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        let ids = if updated.is_empty() {
            let id: String = sqlx::query_scalar(
                "INSERT INTO recordings (room_id, name, record_id, visibility, length, participants, \
                                         protectable, recorded_at, created_at, updated_at) \
                 VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, \
                         TIMESTAMP '1970-01-01 00:00:00' + $8::bigint * INTERVAL '1 microsecond', \
                         now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC') \
                 RETURNING id::text",
            )
            .bind(&room)
            .bind(&r.name)
            .bind(&r.record_id)
            .bind(&r.visibility)
            .bind(r.length_minutes)
            .bind(r.participants)
            .bind(r.protectable)
            .bind(recorded_us)
            .fetch_one(&mut *conn)
            .await
            .map_err(db_error)?;
            vec![id]
        } else {
            updated
        };
        for id in &ids {
            sqlx::query("DELETE FROM formats WHERE recording_id = $1::uuid")
                .bind(id)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
            for (kind, url) in &r.formats {
                sqlx::query(
                    "INSERT INTO formats (recording_id, recording_type, url, created_at, updated_at) \
                     VALUES ($1::uuid, $2, $3, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')",
                )
                .bind(id)
                .bind(kind)
                .bind(url)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
            }
            written += 1;
        }
    }
    Ok(written)
}

/// Remove the rows of recordings deleted on BBB (formats first: no cascading keys), within
/// `provider`'s rooms. Returns the recordings removed.
pub(super) async fn forget(
    conn: &mut PgConnection,
    provider: &str,
    record_ids: &[String],
) -> Result<u64, GreenlightError> {
    sqlx::query(
        "DELETE FROM formats WHERE recording_id IN (SELECT rec.id FROM recordings rec \
         JOIN rooms r ON r.id = rec.room_id JOIN users u ON u.id = r.user_id \
         WHERE u.provider = $1 AND rec.record_id = ANY($2))",
    )
    .bind(provider)
    .bind(record_ids)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    let done = sqlx::query(
        "DELETE FROM recordings WHERE id IN (SELECT rec.id FROM recordings rec \
         JOIN rooms r ON r.id = rec.room_id JOIN users u ON u.id = r.user_id \
         WHERE u.provider = $1 AND rec.record_id = ANY($2))",
    )
    .bind(provider)
    .bind(record_ids)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected())
}

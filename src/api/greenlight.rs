//! Greenlight rooms and users of a server: what the original could only do through queued
//! commands, as resources (`/api/v1/servers/{server}/rooms`, `…/users`). Each request is one
//! Operation; per-item results come back in `data`.

use super::ApiState;
use super::auth::Authed;
use super::error::ApiError;
use super::routes::{Envelope, ok};
use crate::domain::operation::{
    CreateRoom, CreateUser, RoomDisposition, RoomFilter, ShareRoom, UserRole,
};
use crate::domain::{Email, Operation, Outcome, Recipient, RoomRef, ServerId};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A typed body, or 422 naming the bad field (400 when it is not JSON at all).
fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(format!("the body is not JSON: {inner}"))
        } else {
            ApiError::invalid(Some(field), inner.to_string())
        }
    })
}

fn parse<T: std::str::FromStr>(field: &str, s: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    s.parse()
        .map_err(|e| ApiError::invalid(Some(field.into()), format!("{s:?}: {e}")))
}

fn server_of(s: &str) -> Result<ServerId, ApiError> {
    s.parse()
        .map_err(|e| ApiError::not_found(format!("no server {s:?} ({e})")))
}

/// Items outcomes: 2xx when every item worked, else 422 with the first reason and all results.
fn items(outcome: Outcome, created: bool) -> Result<Response, ApiError> {
    match outcome {
        Outcome::Items {
            results, result_id, ..
        } => {
            if let Some(failed) = results.iter().find(|r| !r.ok) {
                let mut e = ApiError::invalid(None, format!("{}: {}", failed.item, failed.message));
                e.errors = results
                    .iter()
                    .filter(|r| !r.ok)
                    .map(|r| super::error::FieldError {
                        field: Some(r.item.clone()),
                        message: r.message.clone(),
                    })
                    .collect();
                return Err(e);
            }
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok(ok(
                status,
                format!("done (result {result_id})"),
                json!(results),
            ))
        }
        other => Ok(ok(StatusCode::OK, "done", json!(other))),
    }
}

async fn run(st: &ApiState, actor: &Authed, op: Operation) -> Result<Outcome, ApiError> {
    Ok(st.service.execute(&actor.0, op).await?)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct RoomQuery {
    /// name (default), owner, id or meetings.
    #[serde(default)]
    by: Option<String>,
    /// What to look for (not with by=meetings).
    #[serde(default)]
    value: Option<String>,
    /// Also mail the report (public links only) to this address.
    #[serde(default)]
    mail_to: Option<String>,
}

/// Rooms with their links (the original's `slCli.py -l/-b/-e`). Join links only for tokens
/// with `meetings:write`.
#[utoipa::path(get, path = "/api/v1/servers/{server}/rooms", tag = "greenlight", security(("token" = [])), params(("server" = String, Path, example = "bbb"), RoomQuery), responses((status = 200, description = "rooms", body = Envelope), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub(super) async fn list_rooms(
    State(st): State<ApiState>,
    actor: Authed,
    Path(server): Path<String>,
    Query(q): Query<RoomQuery>,
) -> Result<Response, ApiError> {
    let server = server_of(&server)?;
    let value = || {
        q.value
            .clone()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| ApiError::invalid(Some("value".into()), "say what to look for"))
    };
    let filter = match q.by.as_deref().unwrap_or("name") {
        "name" => RoomFilter::Name(value()?),
        "owner" => RoomFilter::Owner(parse("value", &value()?)?),
        "id" => RoomFilter::Room(parse("value", &value()?)?),
        "meetings" => RoomFilter::Meetings,
        other => {
            return Err(ApiError::invalid(
                Some("by".into()),
                format!("{other:?}: use name, owner, id or meetings"),
            ));
        }
    };
    let mail_to = q
        .mail_to
        .as_deref()
        .map(|m| parse::<Email>("mail_to", m))
        .transpose()?;
    let outcome = run(
        &st,
        &actor,
        Operation::RoomLinks {
            server,
            filter,
            mail_to,
        },
    )
    .await?;
    Ok(ok(StatusCode::OK, "found rooms", json!(outcome)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewRoom {
    name: String,
    /// The owner's e-mail (a Greenlight user).
    owner: String,
    #[serde(rename = "roomUID", default)]
    room_uid: Option<String>,
    #[serde(rename = "accessCode", default)]
    access_code: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/servers/{server}/rooms", tag = "greenlight", security(("token" = [])), params(("server" = String, Path, example = "bbb")), request_body = NewRoom, responses((status = 201, description = "created", body = Envelope), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
pub(super) async fn create_room(
    State(st): State<ApiState>,
    actor: Authed,
    Path(server): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let server = server_of(&server)?;
    let b: NewRoom = body(&bytes)?;
    let op = Operation::CreateRoom(CreateRoom {
        server,
        name: b.name,
        owner: parse("owner", &b.owner)?,
        uid: b
            .room_uid
            .as_deref()
            .map(|u| parse::<RoomRef>("roomUID", u))
            .transpose()?,
        access_code: b.access_code,
    });
    items(run(&st, &actor, op).await?, true)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RoomChange {
    #[serde(default)]
    name: Option<String>,
    /// A new public id (the original's rename_room).
    #[serde(rename = "roomUID", default)]
    room_uid: Option<String>,
    /// Room options: record, muteOnStart, guestPolicy, glAnyoneCanStart, …
    #[serde(default)]
    options: BTreeMap<String, String>,
}

#[utoipa::path(put, path = "/api/v1/servers/{server}/rooms/{room}", tag = "greenlight", security(("token" = [])), params(("server" = String, Path, example = "bbb"), ("room" = String, Path, example = "abc-def-ghi")), request_body = RoomChange, responses((status = 200, description = "changed", body = Envelope), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
pub(super) async fn change_room(
    State(st): State<ApiState>,
    actor: Authed,
    Path((server, room)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let server = server_of(&server)?;
    let mut room: RoomRef = parse("room", &room)?;
    let b: RoomChange = body(&bytes)?;
    if b.name.is_none() && b.room_uid.is_none() && b.options.is_empty() {
        return Err(ApiError::invalid(
            None,
            "nothing to change: give name, roomUID or options",
        ));
    }
    let mut results = Vec::new();
    if let Some(new_uid) = &b.room_uid {
        let new_uid: RoomRef = parse("roomUID", new_uid)?;
        let op = Operation::RenameRoom {
            server: server.clone(),
            room: room.clone(),
            new_uid: new_uid.clone(),
        };
        results.push(items(run(&st, &actor, op).await?, false)?);
        room = new_uid;
    }
    if b.name.is_some() || !b.options.is_empty() {
        let op = Operation::SetRoom {
            server,
            room,
            name: b.name,
            options: b.options,
        };
        results.push(items(run(&st, &actor, op).await?, false)?);
    }
    Ok(results
        .pop()
        .unwrap_or_else(|| StatusCode::OK.into_response()))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct DeleteQuery {
    /// Also delete the room's recordings (they cannot be restored).
    #[serde(default)]
    with_recordings: Option<bool>,
    /// For users: what happens to their rooms — refuse (default), delete, or transfer.
    #[serde(default)]
    rooms: Option<String>,
    /// For users with rooms=transfer: the new owner.
    #[serde(default)]
    to: Option<String>,
}

#[utoipa::path(delete, path = "/api/v1/servers/{server}/rooms/{room}", tag = "greenlight", security(("token" = [])), params(("server" = String, Path, example = "bbb"), ("room" = String, Path, example = "abc-def-ghi"), DeleteQuery), responses((status = 200, description = "deleted", body = Envelope), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
pub(super) async fn delete_room(
    State(st): State<ApiState>,
    actor: Authed,
    Path((server, room)): Path<(String, String)>,
    Query(q): Query<DeleteQuery>,
) -> Result<Response, ApiError> {
    let op = Operation::DeleteRoom {
        server: server_of(&server)?,
        room: parse("room", &room)?,
        with_recordings: q.with_recordings.unwrap_or(false),
    };
    items(run(&st, &actor, op).await?, false)
}

/// `{"bob@uni.example": "Bob Builder", "carol@uni.example": null}` — the original's shape.
#[utoipa::path(post, path = "/api/v1/servers/{server}/rooms/{room}/shares", tag = "greenlight", security(("token" = [])), params(("server" = String, Path, example = "bbb"), ("room" = String, Path, example = "abc-def-ghi")), request_body(content = Object, description = "e-mail → display name (or null)"), responses((status = 200, description = "shared, one result per user", body = Envelope), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
pub(super) async fn share(
    State(st): State<ApiState>,
    actor: Authed,
    Path((server, room)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let users: BTreeMap<String, Option<String>> = body(&bytes)?;
    if users.is_empty() {
        return Err(ApiError::invalid(None, "name at least one user"));
    }
    let mut with = BTreeMap::new();
    for (email, name) in users {
        with.insert(
            parse::<Email>(&email, &email)?,
            Recipient {
                full_name: name,
                send_emails: None,
            },
        );
    }
    let op = Operation::ShareRoom(ShareRoom {
        server: server_of(&server)?,
        room: parse("room", &room)?,
        with,
    });
    items(run(&st, &actor, op).await?, false)
}

#[utoipa::path(delete, path = "/api/v1/servers/{server}/rooms/{room}/shares/{email}", tag = "greenlight", security(("token" = [])), params(("server" = String, Path, example = "bbb"), ("room" = String, Path, example = "abc-def-ghi"), ("email" = String, Path, example = "bob@uni.example")), responses((status = 200, description = "unshared", body = Envelope), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
pub(super) async fn unshare(
    State(st): State<ApiState>,
    actor: Authed,
    Path((server, room, email)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let op = Operation::UnshareRoom(ShareRoom {
        server: server_of(&server)?,
        room: parse("room", &room)?,
        with: BTreeMap::from([(parse::<Email>("email", &email)?, Recipient::default())]),
    });
    items(run(&st, &actor, op).await?, false)
}

#[utoipa::path(get, path = "/api/v1/servers/{server}/users/{email}", tag = "greenlight", security(("token" = [])), params(("server" = String, Path, example = "bbb"), ("email" = String, Path, example = "ada@uni.example")), responses((status = 200, description = "the user and the rooms they own", body = Envelope), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub(super) async fn show_user(
    State(st): State<ApiState>,
    actor: Authed,
    Path((server, email)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let op = Operation::ShowUser {
        server: server_of(&server)?,
        email: parse("email", &email)?,
    };
    match run(&st, &actor, op).await? {
        Outcome::User { user } => Ok(ok(StatusCode::OK, "user found", json!(user))),
        other => Ok(ok(StatusCode::OK, "done", json!(other))),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewUser {
    email: String,
    #[serde(rename = "fullName")]
    full_name: String,
    /// User (default), Administrator, or another role of that Greenlight.
    #[serde(default)]
    role: Option<String>,
    /// greenlight, ldap, openid_connect, …
    #[serde(default)]
    provider: Option<String>,
    /// The user's id at the identity provider (OIDC subject, LDAP DN).
    #[serde(rename = "externalId", default)]
    external_id: Option<String>,
    /// A password for a local account (stored bcrypt-hashed by Greenlight's rules).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pwd: Option<Value>,
}

#[utoipa::path(post, path = "/api/v1/servers/{server}/users", tag = "greenlight", security(("token" = [])), params(("server" = String, Path, example = "bbb")), request_body = NewUser, responses((status = 201, description = "created", body = Envelope), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
pub(super) async fn create_user(
    State(st): State<ApiState>,
    actor: Authed,
    Path(server): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: NewUser = body(&bytes)?;
    let password = match b.pwd {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(crate::domain::Secret::new(s)),
        Some(_) => {
            return Err(ApiError::invalid(
                Some("pwd".into()),
                "pwd must be a string",
            ));
        }
    };
    let role = match b.role.as_deref().map(str::trim) {
        None | Some("") => UserRole::User,
        Some(r) if r.eq_ignore_ascii_case("user") => UserRole::User,
        Some(r) if r.eq_ignore_ascii_case("admin") || r.eq_ignore_ascii_case("administrator") => {
            UserRole::Admin
        }
        Some(r) => UserRole::Named(r.to_string()),
    };
    let op = Operation::CreateUser(CreateUser {
        server: server_of(&server)?,
        email: parse("email", &b.email)?,
        full_name: b.full_name,
        password,
        role,
        provider: b.provider,
        external_id: b.external_id,
    });
    items(run(&st, &actor, op).await?, true)
}

#[utoipa::path(delete, path = "/api/v1/servers/{server}/users/{email}", tag = "greenlight", security(("token" = [])), params(("server" = String, Path, example = "bbb"), ("email" = String, Path, example = "ada@uni.example"), DeleteQuery), responses((status = 200, description = "deleted", body = Envelope), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
pub(super) async fn delete_user(
    State(st): State<ApiState>,
    actor: Authed,
    Path((server, email)): Path<(String, String)>,
    Query(q): Query<DeleteQuery>,
) -> Result<Response, ApiError> {
    let rooms = match q.rooms.as_deref().unwrap_or("refuse") {
        "refuse" => RoomDisposition::Refuse,
        "delete" => RoomDisposition::Delete,
        "transfer" => RoomDisposition::TransferTo(parse(
            "to",
            q.to.as_deref().ok_or_else(|| {
                ApiError::invalid(Some("to".into()), "rooms=transfer needs to=<e-mail>")
            })?,
        )?),
        other => {
            return Err(ApiError::invalid(
                Some("rooms".into()),
                format!("{other:?}: use refuse, delete or transfer"),
            ));
        }
    };
    let op = Operation::DeleteUser {
        server: server_of(&server)?,
        email: parse("email", &email)?,
        rooms,
        with_recordings: q.with_recordings.unwrap_or(false),
    };
    items(run(&st, &actor, op).await?, false)
}

// ---------------------------------------------------------------- recordings

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct RecordingQuery {
    /// Recordings of one scheduled meeting (its id here).
    #[serde(default)]
    meeting: Option<String>,
    /// Recordings of one BBB meetingID.
    #[serde(default)]
    bbb_meeting: Option<String>,
    /// Recordings of one Greenlight room (its id).
    #[serde(default)]
    room: Option<String>,
    /// Recordings of every Greenlight room of this user (e-mail).
    #[serde(default)]
    owner: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/servers/{server}/recordings", tag = "recordings", security(("token" = [])), params(("server" = String, Path, example = "bbb"), RecordingQuery), responses((status = 200, description = "recordings", body = Envelope), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub(super) async fn list_recordings(
    State(st): State<ApiState>,
    actor: Authed,
    Path(server): Path<String>,
    Query(q): Query<RecordingQuery>,
) -> Result<Response, ApiError> {
    use crate::domain::operation::RecordingScope;
    let given = [&q.meeting, &q.bbb_meeting, &q.room, &q.owner]
        .iter()
        .filter(|v| v.is_some())
        .count();
    if given > 1 {
        return Err(ApiError::invalid(
            Some("meeting".into()),
            "give one of meeting, bbb_meeting, room, owner",
        ));
    }
    let scope = if let Some(m) = &q.meeting {
        Some(RecordingScope::Meeting(parse("meeting", m)?))
    } else if let Some(b) = &q.bbb_meeting {
        Some(RecordingScope::BbbMeeting(parse("bbb_meeting", b)?))
    } else if let Some(r) = &q.room {
        Some(RecordingScope::Room(parse("room", r)?))
    } else if let Some(o) = &q.owner {
        Some(RecordingScope::Owner(parse("owner", o)?))
    } else {
        None
    };
    let outcome = run(
        &st,
        &actor,
        Operation::ListRecordings {
            server: server_of(&server)?,
            scope,
        },
    )
    .await?;
    Ok(ok(StatusCode::OK, "found recordings", json!(outcome)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RecordingChange {
    /// Record ids.
    records: Vec<String>,
    /// true publishes, false unpublishes.
    #[serde(default)]
    published: Option<bool>,
    /// Playback only for signed-in users (BBB 2.6+; Greenlight's "Protected").
    #[serde(default)]
    protected: Option<bool>,
    /// Listed on the room's public Greenlight page ("Public").
    #[serde(default)]
    listed: Option<bool>,
    /// A new name.
    #[serde(default)]
    name: Option<String>,
    /// Exempt from the retention rules.
    #[serde(default)]
    keep: Option<bool>,
}

#[utoipa::path(put, path = "/api/v1/servers/{server}/recordings", tag = "recordings", security(("token" = [])), params(("server" = String, Path, example = "bbb")), request_body = RecordingChange, responses((status = 200, description = "changed", body = Envelope), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
pub(super) async fn publish_recordings(
    State(st): State<ApiState>,
    actor: Authed,
    Path(server): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    use crate::domain::operation::RecordingChange as C;
    let b: RecordingChange = body(&bytes)?;
    let records = record_ids(&b.records)?;
    let server = server_of(&server)?;
    let mut changes = Vec::new();
    if let Some(p) = b.published {
        changes.push(if p {
            Operation::PublishRecordings {
                server: server.clone(),
                records: records.clone(),
            }
        } else {
            Operation::UnpublishRecordings {
                server: server.clone(),
                records: records.clone(),
            }
        });
    }
    let update = |change| Operation::UpdateRecordings {
        server: server.clone(),
        records: records.clone(),
        change,
    };
    changes.extend(b.protected.map(|v| update(C::Protected(v))));
    changes.extend(b.listed.map(|v| update(C::Listed(v))));
    changes.extend(b.name.map(|v| update(C::Name(v))));
    changes.extend(b.keep.map(|v| update(C::Keep(v))));
    if changes.len() != 1 {
        return Err(ApiError::invalid(
            None,
            "give exactly one of published, protected, listed, name, keep per request",
        ));
    }
    let op = changes.remove(0);
    let outcome = run(&st, &actor, op).await?;
    Ok(ok(StatusCode::OK, "changed recordings", json!(outcome)))
}

#[utoipa::path(delete, path = "/api/v1/servers/{server}/recordings/{record}", tag = "recordings", security(("token" = [])), params(("server" = String, Path, example = "bbb"), ("record" = String, Path, description = "A record id")), responses((status = 200, description = "deleted on BBB (cannot be restored)", body = Envelope), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
pub(super) async fn delete_recording(
    State(st): State<ApiState>,
    actor: Authed,
    Path((server, record)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let op = Operation::DeleteRecordings {
        server: server_of(&server)?,
        records: record_ids(&[record])?,
    };
    let outcome = run(&st, &actor, op).await?;
    Ok(ok(StatusCode::OK, "deleted recordings", json!(outcome)))
}

fn record_ids(ids: &[String]) -> Result<Vec<crate::domain::RecordId>, ApiError> {
    if ids.is_empty() {
        return Err(ApiError::invalid(
            Some("records".into()),
            "name at least one record",
        ));
    }
    ids.iter()
        .enumerate()
        .map(|(i, r)| parse(&format!("records[{i}]"), r))
        .collect()
}

// ---------------------------------------------------------------- tokens

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewToken {
    /// 1 to 64 letters, digits, '-', '_' or '.'; unique among live tokens.
    name: String,
    /// read, servers:write, meetings:write, commands:write, rooms:write, users:write,
    /// recordings:write, mails:admin, tokens:admin
    scopes: Vec<String>,
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditParams {
    /// From this time on (RFC 3339).
    since: Option<String>,
    /// Before this time (RFC 3339).
    until: Option<String>,
    /// Only this actor: `api:NAME`, `cli:NAME`, `matrix:@user:server`, `file:…`.
    actor: Option<String>,
    /// Only this object (a meeting, server or room id).
    object: Option<String>,
    /// At most this many (default 100, at most 10 000).
    limit: Option<String>,
}

fn audit_time(field: &str, v: Option<&str>) -> Result<Option<jiff::Timestamp>, ApiError> {
    v.filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim().parse::<jiff::Timestamp>().map_err(|_| {
                ApiError::invalid(
                    Some(field.into()),
                    format!("{s:?} is not an RFC 3339 time, e.g. 2026-12-03T14:30:00Z"),
                )
            })
        })
        .transpose()
}

/// Who changed what, when: newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("token" = [])), params(AuditParams), responses((status = 200, description = "audit entries, newest first", body = Envelope), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
pub(super) async fn audit(
    State(st): State<ApiState>,
    actor: Authed,
    axum::extract::Query(p): axum::extract::Query<AuditParams>,
) -> Result<Response, ApiError> {
    let limit = match p.limit.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => 100,
        Some(l) => l.parse::<u32>().map_err(|_| {
            ApiError::invalid(Some("limit".into()), format!("{l:?} is not a number"))
        })?,
    };
    let query = crate::store::AuditQuery {
        since: audit_time("since", p.since.as_deref())?,
        until: audit_time("until", p.until.as_deref())?,
        actor: p.actor.filter(|a| !a.is_empty()),
        target: p.object.filter(|o| !o.is_empty()),
        limit,
    };
    let entries = match run(&st, &actor, Operation::AuditLog { query }).await? {
        Outcome::Audit { entries } => json!(entries),
        other => json!(other),
    };
    Ok(ok(StatusCode::OK, "audit entries", entries))
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", security(("token" = [])), responses((status = 200, description = "tokens with scopes and last use (never the tokens)", body = Envelope), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub(super) async fn list_tokens(
    State(st): State<ApiState>,
    actor: Authed,
) -> Result<Response, ApiError> {
    let outcome = run(&st, &actor, Operation::ListTokens).await?;
    let tokens = match outcome {
        Outcome::Tokens { tokens } => json!(tokens),
        other => json!(other),
    };
    Ok(ok(StatusCode::OK, "found tokens", tokens))
}

/// The new token is in the answer, once; only its hash is kept.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", security(("token" = [])), request_body = NewToken, responses((status = 201, description = "made; data.token is shown only now", body = Envelope), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub(super) async fn create_token(
    State(st): State<ApiState>,
    actor: Authed,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: NewToken = body(&bytes)?;
    let scopes = b
        .scopes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            crate::domain::Scope::parse(s).ok_or_else(|| {
                ApiError::invalid(Some(format!("scopes[{i}]")), format!("unknown scope {s:?}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let outcome = run(
        &st,
        &actor,
        Operation::CreateToken {
            name: b.name,
            scopes,
        },
    )
    .await?;
    Ok(ok(StatusCode::CREATED, "token made", json!(outcome)))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{name}", tag = "tokens", security(("token" = [])), params(("name" = String, Path, example = "ci-deploy")), responses((status = 204, description = "revoked"), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub(super) async fn revoke_token(
    State(st): State<ApiState>,
    actor: Authed,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    run(&st, &actor, Operation::RevokeToken { name }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct RetentionParams {
    /// Only report what would happen (needs `read`); without it the run warns, deletes and
    /// purges (needs `servers:write`).
    #[serde(default)]
    dry_run: Option<bool>,
}

/// Run the retention rules now (the daemon runs them daily).
#[utoipa::path(post, path = "/api/v1/retention", tag = "recordings", security(("token" = [])), params(RetentionParams), responses((status = 200, description = "what the rules did, or would do", body = Envelope), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
pub(super) async fn retention(
    State(st): State<ApiState>,
    actor: Authed,
    Query(q): Query<RetentionParams>,
) -> Result<Response, ApiError> {
    let dry_run = q.dry_run.unwrap_or(false);
    let outcome = run(&st, &actor, Operation::Retention { dry_run }).await?;
    let message = if dry_run {
        "retention plan"
    } else {
        "retention run done"
    };
    Ok(ok(StatusCode::OK, message, json!(outcome)))
}

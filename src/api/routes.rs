//! The routes. Request bodies in the original's format are read by the same reader as the
//! original's YAML files (JSON is YAML), so a meeting or a command is checked the same way
//! wherever it comes from, and a bad key is named by its path.

use super::ApiState;
use super::auth::Authed;
use super::error::ApiError;
use super::greenlight as gl;
use crate::config::{ConfigErrors, parse_seed_file};
use crate::domain::operation::MailFilter;
use crate::domain::{MeetingId, Operation, Outcome, Scope, ServerId};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The API's routes and their OpenAPI document, made from the same handlers.
fn documented() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(metrics))
        .routes(routes!(ready))
        .routes(routes!(list_servers, add_server))
        .routes(routes!(get_server, put_server, delete_server))
        .routes(routes!(list_meetings, add_meeting))
        .routes(routes!(get_meeting, put_meeting, delete_meeting))
        .routes(routes!(get_status, reset_status))
        .routes(routes!(get_step, put_step, reset_step))
        .routes(routes!(post_command))
        .routes(routes!(get_command))
        .routes(routes!(list_mails, purge_mails))
        .routes(routes!(delete_mail))
        .routes(routes!(gl::list_rooms, gl::create_room))
        .routes(routes!(gl::change_room, gl::delete_room))
        .routes(routes!(gl::share))
        .routes(routes!(gl::unshare))
        .routes(routes!(gl::show_user, gl::delete_user))
        .routes(routes!(gl::create_user))
        .routes(routes!(gl::list_recordings, gl::publish_recordings))
        .routes(routes!(gl::delete_recording))
        .routes(routes!(gl::list_tokens, gl::create_token))
        .routes(routes!(gl::revoke_token))
        .routes(routes!(gl::audit))
        .routes(routes!(gl::retention))
}

/// The OpenAPI 3.1 document of the API.
pub fn openapi() -> Value {
    with_file_schemas(documented().into_openapi())
}

/// Bodies in the original's file format are read by the file reader, not by serde, so their
/// schemas come from `config::schema` (kept equal to the reader's keys by its test).
fn with_file_schemas(doc: utoipa::openapi::OpenApi) -> Value {
    use crate::config::schema;
    let mut doc = serde_json::to_value(doc).expect("an OpenAPI document serialises");
    let schemas = &mut doc["components"]["schemas"];
    schemas["Server"] = schema::server();
    schemas["Meeting"] = schema::meeting();
    schemas["Command"] = schema::command();
    schemas["Shares"] = schema::shares();
    for (path, method, name) in [
        ("/api/v1/servers", "post", "Server"),
        ("/api/v1/servers/{id}", "put", "Server"),
        ("/api/v1/meetings", "post", "Meeting"),
        ("/api/v1/meetings/{id}", "put", "Meeting"),
        ("/api/v1/commands", "post", "Command"),
        (
            "/api/v1/servers/{server}/rooms/{room}/shares",
            "post",
            "Shares",
        ),
    ] {
        let body = &mut doc["paths"][path][method]["requestBody"]["content"]["application/json"];
        debug_assert!(body.is_object(), "{method} {path} has a JSON body");
        body["schema"] = json!({ "$ref": format!("#/components/schemas/{name}") });
    }
    doc
}

pub fn router(state: ApiState) -> axum::Router {
    let (router, doc) = documented().split_for_parts();
    let doc = std::sync::Arc::new(with_file_schemas(doc));
    router
        .route(
            "/api/v1/openapi.json",
            get(move |_: Authed| {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(not_found)
        .with_state(state)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "schedulight",
        description = "BigBlueButton meetings and Greenlight rooms: the original scheduLight API (/api/v1) with tokens."
    ),
    modifiers(&BearerToken),
    components(schemas(ApiError, Envelope))
)]
struct ApiDoc;

struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("schedulight tokens create NAME --scope …"))
                    .build(),
            ),
        );
    }
}

/// The original's success shape: `{"message": …, "data": …}`.
#[derive(utoipa::ToSchema, serde::Serialize)]
pub struct Envelope {
    pub message: String,
    #[schema(value_type = Object)]
    pub data: Value,
}

/// The original's success shape.
pub(super) fn ok(status: StatusCode, message: impl Into<String>, data: Value) -> Response {
    (
        status,
        Json(json!({ "message": message.into(), "data": data })),
    )
        .into_response()
}

async fn run(state: &ApiState, actor: &Authed, op: Operation) -> Result<Outcome, ApiError> {
    Ok(state.service.execute(&actor.0, op).await?)
}

fn require(actor: &Authed, scope: Scope) -> Result<(), ApiError> {
    if actor.0.may(scope) {
        Ok(())
    } else {
        Err(crate::domain::OpError::Forbidden {
            op: "this request".into(),
            scope: scope.as_str().into(),
        }
        .into())
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see /api/v1/openapi.json")
}

#[utoipa::path(get, path = "/health", tag = "health", security(()), responses((status = 200, description = "the daemon runs", body = Object)))]
async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Prometheus text format. Open unless `api.metrics_public: false`, then it needs `read`.
#[utoipa::path(get, path = "/metrics", tag = "health", security((), ("token" = [])), responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain"), (status = 401, description = "a token is required (api.metrics_public: false)", body = ApiError)))]
async fn metrics(
    State(state): State<ApiState>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    if !state.metrics_public {
        let mut parts = axum::http::Request::new(()).into_parts().0;
        parts.headers = headers;
        let actor = <Authed as axum::extract::FromRequestParts<ApiState>>::from_request_parts(
            &mut parts, &state,
        )
        .await?;
        require(&actor, Scope::Read)?;
    }
    let text = crate::telemetry::render(state.service.store().as_ref())
        .await
        .map_err(|e| ApiError::from(crate::service::internal_error(e)))?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Ready when the store answers.
#[utoipa::path(get, path = "/ready", tag = "health", security(()), responses((status = 200, description = "the store answers", body = Object), (status = 503, description = "the store does not answer", body = Object)))]
async fn ready(State(state): State<ApiState>) -> Response {
    match state.service.store().list_servers().await {
        Ok(_) => Json(json!({ "status": "ready" })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "not ready", "reason": "the store does not answer" })),
            )
                .into_response()
        }
    }
}

// ---------------------------------------------------------------- bodies

/// A JSON object body, or 400 saying why it is not one.
fn object(body: &Bytes) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("the body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("the body is not JSON: {e}"))),
    }
}

/// Read `body` as one entry of the original's file format (`section.<key>`), with the file
/// reader's checks; errors name the field without the wrapper.
fn seed_entry(section: &str, key: &str, body: Value) -> Result<Vec<Operation>, ApiError> {
    let wrapped = json!({ section: { key: body } });
    let text = serde_json::to_string(&wrapped).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let prefix = format!("{section}.{key}");
    parse_seed_file(&text, "request body")
        .map(|seed| seed.operations().cloned().collect())
        .map_err(|errors| invalid_body(&errors, &prefix))
}

fn invalid_body(errors: &ConfigErrors, prefix: &str) -> ApiError {
    let all: Vec<super::error::FieldError> = errors
        .iter()
        .map(|e| {
            let field = e
                .path
                .strip_prefix(prefix)
                .map(|p| p.trim_start_matches('.').to_string())
                .unwrap_or_else(|| e.path.clone());
            let mut message = e.message.clone();
            if let Some(hint) = &e.hint {
                message.push_str(&format!(" ({hint})"));
            }
            super::error::FieldError {
                field: Some(field).filter(|f| !f.is_empty()),
                message,
            }
        })
        .collect();
    // The headline: the first problem that names a field, else the first.
    let Some(first) = all.iter().find(|e| e.field.is_some()).or(all.first()) else {
        return ApiError::invalid(None, "the body is not acceptable");
    };
    let mut message = first.message.clone();
    if all.len() > 1 {
        message.push_str(&format!(
            " — and {} more problem(s), see errors",
            all.len() - 1
        ));
    }
    let mut error = ApiError::invalid(first.field.clone(), message);
    if all.len() > 1 {
        error.errors = all;
    }
    error
}

/// The object's `id`, which must match the path's when both are given.
fn body_id(
    map: &serde_json::Map<String, Value>,
    path_id: Option<&str>,
    what: &str,
) -> Result<String, ApiError> {
    match (map.get("id"), path_id) {
        (Some(Value::String(id)), Some(p)) if id != p => Err(ApiError::invalid(
            Some("id".into()),
            format!("the body's id {id:?} differs from the {what} in the path ({p:?})"),
        )),
        (Some(Value::String(id)), _) => Ok(id.clone()),
        (None, Some(p)) => Ok(p.to_string()),
        (Some(_), _) => Err(ApiError::invalid(Some("id".into()), "id must be a string")),
        (None, None) => Err(ApiError::invalid(
            Some("id".into()),
            format!("please specify an id for the {what}"),
        )),
    }
}

fn parse_id<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    s.parse()
        .map_err(|e| ApiError::not_found(format!("no {what} {s:?} ({e})")))
}

// ---------------------------------------------------------------- servers

#[utoipa::path(get, path = "/api/v1/servers", tag = "servers", security(("token" = [])), responses((status = 200, description = "server ids", body = Envelope), (status = 401, description = "no or unknown token", body = ApiError), (status = 403, description = "the token lacks the scope", body = ApiError)))]
async fn list_servers(State(st): State<ApiState>, actor: Authed) -> Result<Response, ApiError> {
    let Outcome::Servers { servers } = run(&st, &actor, Operation::ListServers).await? else {
        return Err(ApiError::bad_request("unexpected outcome"));
    };
    let ids: Vec<&str> = servers.iter().map(|s| s.id.as_str()).collect();
    Ok(ok(StatusCode::OK, "found servers", json!(ids)))
}

async fn server_summary(st: &ApiState, actor: &Authed, id: &ServerId) -> Result<Value, ApiError> {
    let Outcome::Servers { servers } = run(st, actor, Operation::ListServers).await? else {
        return Err(ApiError::bad_request("unexpected outcome"));
    };
    servers
        .into_iter()
        .find(|s| &s.id == id)
        .map(|s| json!(s))
        .ok_or_else(|| ApiError::not_found(format!("server not found: {id}")))
}

#[utoipa::path(post, path = "/api/v1/servers", tag = "servers", security(("token" = [])), request_body(content = Object, description = "A server in the original format (id, BBB_URL, BBB_SECRET, link_base, mail…)"), responses((status = 201, description = "added; data without secrets", body = Envelope), (status = 409, description = "exists", body = ApiError), (status = 422, description = "invalid input, with the field", body = ApiError), (status = 400, description = "not a JSON object", body = ApiError), (status = 401, description = "no or unknown token", body = ApiError), (status = 403, description = "the token lacks the scope", body = ApiError)))]
async fn add_server(
    State(st): State<ApiState>,
    actor: Authed,
    body: Bytes,
) -> Result<Response, ApiError> {
    write_server(st, actor, body, None).await
}

#[utoipa::path(put, path = "/api/v1/servers/{id}", tag = "servers", security(("token" = [])), params(("id" = String, Path, description = "The server id", example = "bbb")), request_body(content = Object, description = "The whole server in the original format"), responses((status = 200, description = "updated", body = Envelope), (status = 404, description = "not found", body = ApiError), (status = 422, description = "invalid input, with the field", body = ApiError), (status = 400, description = "not a JSON object", body = ApiError), (status = 401, description = "no or unknown token", body = ApiError), (status = 403, description = "the token lacks the scope", body = ApiError)))]
async fn put_server(
    State(st): State<ApiState>,
    actor: Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    write_server(st, actor, body, Some(id)).await
}

async fn write_server(
    st: ApiState,
    actor: Authed,
    body: Bytes,
    path_id: Option<String>,
) -> Result<Response, ApiError> {
    require(&actor, Scope::ServersWrite)?;
    let map = object(&body)?;
    let id = body_id(&map, path_id.as_deref(), "server")?;
    let ops = seed_entry("servers", &id, Value::Object(map))?;
    let Some(Operation::AddServer { server }) = ops.into_iter().next() else {
        return Err(ApiError::invalid(None, "the body is not a server"));
    };
    let sid = server.id.clone();
    let exists = st
        .service
        .store()
        .get_server(&sid)
        .await
        .map_err(|e| ApiError::from(crate::service::internal_error(e)))?
        .is_some();
    let (op, status, message) = match (path_id.is_some(), exists) {
        (false, true) => {
            return Err(ApiError::conflict(format!(
                "server {sid} exists; PUT /api/v1/servers/{sid} changes it"
            )));
        }
        (true, false) => {
            return Err(ApiError::not_found(format!(
                "no server with this id: {sid}"
            )));
        }
        (false, false) => (
            Operation::AddServer { server },
            StatusCode::CREATED,
            "server added",
        ),
        (true, true) => (
            Operation::UpdateServer { server },
            StatusCode::OK,
            "updated server",
        ),
    };
    run(&st, &actor, op).await?;
    let data = server_summary(&st, &actor, &sid).await?;
    Ok(ok(status, message, data))
}

#[utoipa::path(get, path = "/api/v1/servers/{id}", tag = "servers", security(("token" = [])), params(("id" = String, Path, description = "The server id", example = "bbb")), responses((status = 200, description = "the server without secrets", body = Envelope), (status = 404, description = "not found", body = ApiError), (status = 401, description = "no or unknown token", body = ApiError), (status = 403, description = "the token lacks the scope", body = ApiError)))]
async fn get_server(
    State(st): State<ApiState>,
    actor: Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: ServerId = parse_id(&id, "server")?;
    let data = server_summary(&st, &actor, &id).await?;
    Ok(ok(StatusCode::OK, "server found", data))
}

#[utoipa::path(delete, path = "/api/v1/servers/{id}", tag = "servers", security(("token" = [])), params(("id" = String, Path, description = "The server id", example = "bbb")), responses((status = 204, description = "removed"), (status = 404, description = "not found", body = ApiError), (status = 401, description = "no or unknown token", body = ApiError), (status = 403, description = "the token lacks the scope", body = ApiError)))]
async fn delete_server(
    State(st): State<ApiState>,
    actor: Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: ServerId = parse_id(&id, "server")?;
    run(&st, &actor, Operation::RemoveServer { id }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- meetings

#[utoipa::path(get, path = "/api/v1/meetings", tag = "meetings", security(("token" = [])), responses((status = 200, description = "meeting ids", body = Envelope), (status = 401, description = "no or unknown token", body = ApiError), (status = 403, description = "the token lacks the scope", body = ApiError)))]
async fn list_meetings(State(st): State<ApiState>, actor: Authed) -> Result<Response, ApiError> {
    let Outcome::Meetings { meetings } = run(&st, &actor, Operation::ListMeetings).await? else {
        return Err(ApiError::bad_request("unexpected outcome"));
    };
    let ids: Vec<&str> = meetings.iter().map(|m| m.spec.id.as_str()).collect();
    Ok(ok(StatusCode::OK, "found meetings", json!(ids)))
}

/// A meeting as the API shows it: the definition in the original's keys (secrets left out)
/// and, beside it, where the scheduler is with it.
fn meeting_data(view: &crate::domain::MeetingView) -> (Value, Value) {
    let mut spec = json!(view.spec);
    if let Some(owner) = spec.get_mut("owner").and_then(Value::as_object_mut) {
        owner.remove("password");
    }
    let state = json!({
        "phase": view.phase,
        "startsAt": view.starts_at,
        "next": view.next,
    });
    (spec, state)
}

async fn meeting_view(
    st: &ApiState,
    actor: &Authed,
    id: MeetingId,
) -> Result<crate::domain::MeetingView, ApiError> {
    match run(st, actor, Operation::MeetingStatus { id }).await? {
        Outcome::Meeting { meeting, .. } => Ok(*meeting),
        _ => Err(ApiError::bad_request("unexpected outcome")),
    }
}

#[utoipa::path(post, path = "/api/v1/meetings", tag = "meetings", security(("token" = [])), request_body(content = Object, description = "A meeting in the original format (id, server, meetingName, startDate, owner, …)"), responses((status = 201, description = "scheduled", body = Envelope), (status = 409, description = "exists", body = ApiError), (status = 422, description = "invalid input, with the field", body = ApiError), (status = 400, description = "not a JSON object", body = ApiError), (status = 401, description = "no or unknown token", body = ApiError), (status = 403, description = "the token lacks the scope", body = ApiError)))]
async fn add_meeting(
    State(st): State<ApiState>,
    actor: Authed,
    body: Bytes,
) -> Result<Response, ApiError> {
    write_meeting(st, actor, body, None).await
}

#[utoipa::path(put, path = "/api/v1/meetings/{id}", tag = "meetings", security(("token" = [])), params(("id" = String, Path, description = "The meeting id", example = "lecture")), request_body(content = Object, description = "The whole meeting in the original format"), responses((status = 200, description = "updated and re-planned", body = Envelope), (status = 404, description = "not found", body = ApiError), (status = 422, description = "invalid input, with the field", body = ApiError), (status = 400, description = "not a JSON object", body = ApiError), (status = 401, description = "no or unknown token", body = ApiError), (status = 403, description = "the token lacks the scope", body = ApiError)))]
async fn put_meeting(
    State(st): State<ApiState>,
    actor: Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    write_meeting(st, actor, body, Some(id)).await
}

async fn write_meeting(
    st: ApiState,
    actor: Authed,
    body: Bytes,
    path_id: Option<String>,
) -> Result<Response, ApiError> {
    require(&actor, Scope::MeetingsWrite)?;
    let mut map = object(&body)?;
    let id = body_id(&map, path_id.as_deref(), "meeting")?;
    // Like the command line: the server may be left out when only one is configured (the
    // original README's example has none).
    if !map.contains_key("server") {
        let servers = st
            .service
            .store()
            .list_servers()
            .await
            .map_err(|e| ApiError::from(crate::service::internal_error(e)))?;
        match servers.as_slice() {
            [only] => {
                map.insert("server".into(), Value::String(only.id.to_string()));
            }
            _ => {
                return Err(ApiError::invalid(
                    Some("server".into()),
                    "please specify a target server for the meeting",
                ));
            }
        }
    }
    let ops = seed_entry("meetings", &id, Value::Object(map))?;
    let Some(Operation::ScheduleMeeting { meeting }) = ops.into_iter().next() else {
        return Err(ApiError::invalid(None, "the body is not a meeting"));
    };
    let mid = meeting.id.clone();
    let (op, status, message) = if path_id.is_some() {
        (
            Operation::UpdateMeeting { meeting },
            StatusCode::OK,
            "updated meeting",
        )
    } else {
        (
            Operation::ScheduleMeeting { meeting },
            StatusCode::CREATED,
            "meeting added",
        )
    };
    run(&st, &actor, op).await?;
    let view = meeting_view(&st, &actor, mid).await?;
    let (data, state) = meeting_data(&view);
    Ok((
        status,
        Json(json!({ "message": message, "data": data, "state": state })),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/meetings/{id}", tag = "meetings", security(("token" = [])), params(("id" = String, Path, description = "The meeting id", example = "lecture")), responses((status = 200, description = "the meeting (no secrets) and its state", body = Envelope), (status = 404, description = "not found", body = ApiError), (status = 401, description = "no or unknown token", body = ApiError), (status = 403, description = "the token lacks the scope", body = ApiError)))]
async fn get_meeting(
    State(st): State<ApiState>,
    actor: Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: MeetingId = parse_id(&id, "meeting")?;
    let view = meeting_view(&st, &actor, id).await?;
    let (data, state) = meeting_data(&view);
    Ok(Json(json!({ "message": "meeting found", "data": data, "state": state })).into_response())
}

/// Cancels the meeting: its future steps are dropped, everyone told is mailed.
#[utoipa::path(delete, path = "/api/v1/meetings/{id}", tag = "meetings", security(("token" = [])), params(("id" = String, Path, description = "The meeting id", example = "lecture")), responses((status = 204, description = "cancelled"), (status = 404, description = "not found", body = ApiError), (status = 401, description = "no or unknown token", body = ApiError), (status = 403, description = "the token lacks the scope", body = ApiError)))]
async fn delete_meeting(
    State(st): State<ApiState>,
    actor: Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: MeetingId = parse_id(&id, "meeting")?;
    run(&st, &actor, Operation::CancelMeeting { id }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- status

/// `{step: {code, message, at}}`, the latest record of each step.
fn status_map(view: &crate::domain::MeetingView, only: Option<&str>) -> Value {
    let mut map = serde_json::Map::new();
    for s in view
        .steps
        .iter()
        .filter(|s| only.is_none_or(|o| o == s.step))
    {
        map.entry(s.step.clone())
            .or_insert_with(|| json!({ "code": s.code, "message": s.message, "at": s.at }));
    }
    Value::Object(map)
}

#[utoipa::path(get, path = "/api/v1/meetings/{id}/status", tag = "status", security(("token" = [])), params(("id" = String, Path, description = "The meeting id", example = "lecture")), responses((status = 200, description = "the latest record of each step", body = Envelope), (status = 404, description = "not found", body = ApiError), (status = 401, description = "no or unknown token", body = ApiError), (status = 403, description = "the token lacks the scope", body = ApiError)))]
async fn get_status(
    State(st): State<ApiState>,
    actor: Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: MeetingId = parse_id(&id, "meeting")?;
    let view = meeting_view(&st, &actor, id).await?;
    Ok(ok(StatusCode::OK, "status found", status_map(&view, None)))
}

#[utoipa::path(get, path = "/api/v1/meetings/{id}/status/{step}", tag = "status", security(("token" = [])), params(("id" = String, Path, description = "The meeting id", example = "lecture"), ("step" = String, Path, description = "A step name", example = "start")), responses((status = 200, description = "the step's latest record", body = Envelope), (status = 404, description = "not found", body = ApiError), (status = 401, description = "no or unknown token", body = ApiError), (status = 403, description = "the token lacks the scope", body = ApiError)))]
async fn get_step(
    State(st): State<ApiState>,
    actor: Authed,
    Path((id, step)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id: MeetingId = parse_id(&id, "meeting")?;
    let view = meeting_view(&st, &actor, id).await?;
    let map = status_map(&view, Some(&step));
    let Some(entry) = map.get(&step) else {
        return Err(ApiError::not_found(format!("status not found: {step}")));
    };
    Ok(ok(StatusCode::OK, "status found", entry.clone()))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ResetQuery {
    /// Mail the owner, invitees, moderators and sharees again (true or false).
    #[serde(default)]
    resend: Option<String>,
}

impl ResetQuery {
    fn resend(&self) -> Result<bool, ApiError> {
        match self.resend.as_deref().map(str::trim) {
            None | Some("" | "false" | "0" | "no") => Ok(false),
            Some("true" | "1" | "yes") => Ok(true),
            Some(other) => Err(ApiError::invalid(
                Some("resend".into()),
                format!("resend must be true or false, not {other:?}"),
            )),
        }
    }
}

/// DELETE …/status: forget the step history so the steps run again; mails already sent go out
/// again only with `?resend=true`.
#[utoipa::path(delete, path = "/api/v1/meetings/{id}/status", tag = "status", security(("token" = [])), params(("id" = String, Path, description = "The meeting id", example = "lecture"), ResetQuery), responses((status = 204, description = "reset: the steps run again"), (status = 422, description = "invalid input, with the field", body = ApiError), (status = 404, description = "not found", body = ApiError), (status = 401, description = "no or unknown token", body = ApiError), (status = 403, description = "the token lacks the scope", body = ApiError)))]
async fn reset_status(
    State(st): State<ApiState>,
    actor: Authed,
    Path(id): Path<String>,
    Query(q): Query<ResetQuery>,
) -> Result<Response, ApiError> {
    let id: MeetingId = parse_id(&id, "meeting")?;
    let resend = q.resend()?;
    run(
        &st,
        &actor,
        Operation::ResetMeeting {
            id,
            step: None,
            resend,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(delete, path = "/api/v1/meetings/{id}/status/{step}", tag = "status", security(("token" = [])), params(("id" = String, Path, description = "The meeting id", example = "lecture"), ("step" = String, Path, description = "A step name", example = "start")), responses((status = 204, description = "the step runs again"), (status = 404, description = "not found", body = ApiError), (status = 401, description = "no or unknown token", body = ApiError), (status = 403, description = "the token lacks the scope", body = ApiError)))]
async fn reset_step(
    State(st): State<ApiState>,
    actor: Authed,
    Path((id, step)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id: MeetingId = parse_id(&id, "meeting")?;
    run(
        &st,
        &actor,
        Operation::ResetMeeting {
            id,
            step: Some(step),
            resend: false,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
struct SetStatus {
    /// 900 (disable) or 200 (enable), as a number or a string.
    #[schema(value_type = Object)]
    status_code: Value,
    #[serde(default)]
    status_message: Option<String>,
}

/// PUT …/status/{step} `{"status_code": 900}` disables the meeting (the original's code),
/// `{"status_code": 200}` enables it again. Other codes are the scheduler's to set.
#[utoipa::path(put, path = "/api/v1/meetings/{id}/status/{step}", tag = "status", security(("token" = [])), params(("id" = String, Path, description = "The meeting id", example = "lecture"), ("step" = String, Path, description = "A step name", example = "start")), request_body(content = SetStatus, description = "900 disables the meeting, 200 enables it"), responses((status = 200, description = "set", body = Envelope), (status = 404, description = "not found", body = ApiError), (status = 422, description = "invalid input, with the field", body = ApiError), (status = 400, description = "not a JSON object", body = ApiError), (status = 401, description = "no or unknown token", body = ApiError), (status = 403, description = "the token lacks the scope", body = ApiError)))]
async fn put_step(
    State(st): State<ApiState>,
    actor: Authed,
    Path((id, _step)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id: MeetingId = parse_id(&id, "meeting")?;
    let set: SetStatus = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "please provide status_code and status_message: {e}"
        ))
    })?;
    let code = match &set.status_code {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    let op = match code {
        Some(900) => Operation::DisableMeeting { id: id.clone() },
        Some(200) => Operation::EnableMeeting { id: id.clone() },
        _ => {
            return Err(ApiError::invalid(
                Some("status_code".into()),
                "allowed: 900 (disable the meeting) and 200 (enable it again); other codes \
                 are set by the scheduler",
            ));
        }
    };
    let _ = set.status_message;
    run(&st, &actor, op).await?;
    let view = meeting_view(&st, &actor, id).await?;
    Ok(ok(StatusCode::OK, "set status", status_map(&view, None)))
}

// ---------------------------------------------------------------- commands

/// POST /api/v1/commands: the original's `{"command", "server", "data"}`; every `data`
/// entry runs now, and the per-item results are stored (GET /api/v1/commands/{id}).
#[utoipa::path(post, path = "/api/v1/commands", tag = "commands", security(("token" = [])), request_body(content = Object, description = "The original format: command, server, data"), responses((status = 201, description = "executed; one result per data entry", body = Envelope), (status = 422, description = "invalid input, with the field", body = ApiError), (status = 400, description = "not a JSON object", body = ApiError), (status = 401, description = "no or unknown token", body = ApiError), (status = 403, description = "the token lacks the scope", body = ApiError)))]
async fn post_command(
    State(st): State<ApiState>,
    actor: Authed,
    body: Bytes,
) -> Result<Response, ApiError> {
    require(&actor, Scope::CommandsWrite)?;
    let map = object(&body)?;
    let ops = seed_entry("commands", "request", Value::Object(map))?;
    let mut results = Vec::new();
    for op in ops {
        let name = op.name();
        match st.service.execute(&actor.0, op).await {
            Ok(outcome) => {
                results.push(json!({ "operation": name, "ok": true, "outcome": outcome }))
            }
            Err(e) => {
                results.push(json!({ "operation": name, "ok": false, "error": ApiError::from(e) }))
            }
        }
    }
    let failed = results.iter().filter(|r| r["ok"] == false).count();
    let message = if failed == 0 {
        "command executed".to_string()
    } else {
        format!("command executed; {failed} of {} failed", results.len())
    };
    Ok(ok(StatusCode::CREATED, message, json!(results)))
}

#[utoipa::path(get, path = "/api/v1/commands/{id}", tag = "commands", security(("token" = [])), params(("id" = i64, Path, description = "The result number", example = 1)), responses((status = 200, description = "the stored per-item results", body = Envelope), (status = 404, description = "not found", body = ApiError), (status = 401, description = "no or unknown token", body = ApiError), (status = 403, description = "the token lacks the scope", body = ApiError)))]
async fn get_command(
    State(st): State<ApiState>,
    actor: Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id, "command result")?;
    let outcome = run(&st, &actor, Operation::CommandResult { id }).await?;
    Ok(ok(StatusCode::OK, "command result", json!(outcome)))
}

// ---------------------------------------------------------------- mails

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct MailQuery {
    /// queued (default for listing), sent, failed or all.
    #[serde(default)]
    state: Option<String>,
}

fn mail_filter(q: &MailQuery, default: MailFilter) -> Result<MailFilter, ApiError> {
    match q.state.as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some("queued" | "pending") => Ok(MailFilter::Pending),
        Some("sent") => Ok(MailFilter::Sent),
        Some("failed") => Ok(MailFilter::Failed),
        Some("all") => Ok(MailFilter::All),
        Some(other) => Err(ApiError::invalid(
            Some("state".into()),
            format!("unknown state {other:?}: use queued, sent, failed or all"),
        )),
    }
}

#[utoipa::path(get, path = "/api/v1/mails", tag = "mails", security(("token" = [])), params(MailQuery), responses((status = 200, description = "mails in the outbox", body = Envelope), (status = 422, description = "invalid input, with the field", body = ApiError), (status = 400, description = "not a JSON object", body = ApiError), (status = 401, description = "no or unknown token", body = ApiError), (status = 403, description = "the token lacks the scope", body = ApiError)))]
async fn list_mails(
    State(st): State<ApiState>,
    actor: Authed,
    Query(q): Query<MailQuery>,
) -> Result<Response, ApiError> {
    let filter = mail_filter(&q, MailFilter::Pending)?;
    let Outcome::Mails { mails } = run(&st, &actor, Operation::ListMail { filter }).await? else {
        return Err(ApiError::bad_request("unexpected outcome"));
    };
    Ok(ok(StatusCode::OK, "found mails", json!(mails)))
}

#[utoipa::path(delete, path = "/api/v1/mails/{id}", tag = "mails", security(("token" = [])), params(("id" = i64, Path, description = "The mail number", example = 1)), responses((status = 204, description = "deleted"), (status = 404, description = "not found", body = ApiError), (status = 401, description = "no or unknown token", body = ApiError), (status = 403, description = "the token lacks the scope", body = ApiError)))]
async fn delete_mail(
    State(st): State<ApiState>,
    actor: Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = parse_id(&id, "mail")?;
    run(&st, &actor, Operation::DeleteMail { id }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// DELETE /api/v1/mails?state=queued: the state must be named (no accidental purge of all).
#[utoipa::path(delete, path = "/api/v1/mails", tag = "mails", security(("token" = [])), params(MailQuery), responses((status = 200, description = "deleted", body = Envelope), (status = 422, description = "invalid input, with the field", body = ApiError), (status = 400, description = "not a JSON object", body = ApiError), (status = 401, description = "no or unknown token", body = ApiError), (status = 403, description = "the token lacks the scope", body = ApiError)))]
async fn purge_mails(
    State(st): State<ApiState>,
    actor: Authed,
    Query(q): Query<MailQuery>,
) -> Result<Response, ApiError> {
    if q.state.is_none() {
        return Err(ApiError::invalid(
            Some("state".into()),
            "name the mails to delete: ?state=queued, sent or failed",
        ));
    }
    let state = mail_filter(&q, MailFilter::Pending)?;
    let outcome = run(&st, &actor, Operation::PurgeMail { state }).await?;
    let message = match outcome {
        Outcome::Done { message } => message,
        other => json!(other).to_string(),
    };
    Ok(ok(StatusCode::OK, message, Value::Null))
}

//! The simulator over HTTP: BBB API under `/bigbluebutton/api/`, stand-in client pages under
//! `/html5client/`, JSON control API under `/sim/` (no checksum).

use super::api::{ApiReply, ApiRequest, Method};
use super::{FaultState, GuestStatus, NewParticipant, SimConfig, SimError, Simulator};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running simulator server. Dropping it stops the server.
pub struct SimHandle {
    pub addr: SocketAddr,
    pub simulator: Simulator,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    ticker: JoinHandle<()>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// `http://127.0.0.1:PORT` (the address actually bound).
    pub fn server_url(&self) -> String {
        format!("http://{}", url_addr(self.addr))
    }

    /// `http://127.0.0.1:PORT/bigbluebutton/api/`.
    pub fn base_url(&self) -> String {
        format!("{}/bigbluebutton/api/", self.server_url())
    }

    /// Stop serving: finish in-flight answers for up to a second, then cut the rest.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.ticker.abort();
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(1), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.ticker.abort();
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// An address usable in a URL: the unspecified address becomes loopback.
fn url_addr(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

/// Bind `addr` (port 0 picks a free port) and serve a new simulator.
pub async fn serve(addr: SocketAddr, config: SimConfig) -> std::io::Result<SimHandle> {
    serve_simulator(addr, Simulator::new(config)).await
}

/// Serve an existing simulator (shares its state with other handles and [`super::SimBbb`]s).
pub async fn serve_simulator(addr: SocketAddr, simulator: Simulator) -> std::io::Result<SimHandle> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    if simulator.config().server_url.is_none() {
        simulator.set_server_url(&format!("http://{}", url_addr(local)));
    }
    simulator.start_background();
    let (tx, rx) = oneshot::channel::<()>();
    let app = router(simulator.clone());
    let server = tokio::spawn(async move {
        let shutdown = async {
            let _ = rx.await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(error = %e, "BBB simulator server stopped with an error");
        }
    });
    let ticker = tokio::spawn(tick_loop(simulator.clone()));
    tracing::info!(addr = %local, "BBB simulator listening");
    Ok(SimHandle {
        addr: local,
        simulator,
        shutdown: Some(tx),
        server: Some(server),
        ticker,
    })
}

/// Expiry rules and recording processing advance even when nobody calls the API.
async fn tick_loop(sim: Simulator) {
    let mut every = tokio::time::interval(Duration::from_millis(200));
    loop {
        every.tick().await;
        sim.tick();
    }
}

fn router(sim: Simulator) -> Router {
    let api = Router::new()
        .route("/bigbluebutton/api", any(version))
        .route("/bigbluebutton/api/", any(version))
        .route("/bigbluebutton/api/{*call}", any(api_call))
        .route("/html5client/join", get(client_page))
        .route("/html5client/guestWait", get(client_page))
        .layer(middleware::from_fn_with_state(sim.clone(), faults));
    let control = Router::new()
        .route("/sim/meetings", get(list_meetings))
        .route("/sim/meetings/{meeting_id}", get(one_meeting))
        .route(
            "/sim/meetings/{meeting_id}/participants",
            post(add_participant),
        )
        .route(
            "/sim/meetings/{meeting_id}/participants/{user_id}",
            delete(remove_participant),
        )
        .route("/sim/recordings", get(list_recordings))
        .route("/sim/join", post(open_join_url))
        .route(
            "/sim/faults",
            get(get_faults).put(put_faults).delete(clear_faults),
        )
        .route("/sim/faults/latency", post(set_latency))
        .route("/sim/faults/fail", post(set_fail))
        .route("/sim/faults/hang", post(set_hang))
        .route("/sim/faults/resume", post(set_resume))
        .route("/sim/clock", get(get_clock))
        .route("/sim/clock/advance", post(advance_clock))
        .route("/sim/clock/set", post(set_clock))
        .route("/sim/clock/real", post(real_clock))
        .route("/sim/tick", post(tick))
        .route("/sim/callbacks", get(callbacks))
        .route("/sim/creates", get(creates));
    api.merge(control).with_state(sim)
}

/// Fault injection for the BBB-facing routes: hang, then latency, then HTTP 500.
async fn faults(State(sim): State<Simulator>, req: Request, next: Next) -> Response {
    let mut hang = sim.hang_watch();
    if *hang.borrow_and_update() {
        // Held until resumed; the sender lives as long as the simulator.
        let _ = hang.wait_for(|h| !*h).await;
    }
    let latency = sim.faults().latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if sim.take_failure() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response();
    }
    next.run(req).await
}

fn xml_response(body: String) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/xml;charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn render(reply: ApiReply) -> Response {
    match reply {
        ApiReply::Xml(body) => xml_response(body),
        ApiReply::Redirect(location) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, location),
                (header::CACHE_CONTROL, "no-cache".to_string()),
            ],
        )
            .into_response(),
        ApiReply::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

async fn version(State(sim): State<Simulator>) -> Response {
    xml_response(super::xml::version(&sim.server_url()))
}

async fn api_call(
    State(sim): State<Simulator>,
    method: axum::http::Method,
    Path(call): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let method = match method {
        axum::http::Method::GET | axum::http::Method::HEAD => Method::Get,
        axum::http::Method::POST => Method::Post,
        _ => Method::Other,
    };
    tracing::debug!(call = %call, "BBB simulator request");
    let reply = sim.handle_api(ApiRequest {
        method,
        call: &call,
        raw_query: query.as_deref().unwrap_or_default(),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        body: &body,
    });
    render(reply)
}

/// Stand-in for the HTML5 client / guest lobby: says whether the session is valid.
async fn client_page(
    State(sim): State<Simulator>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let status = q.get("sessionToken").and_then(|t| sim.session_status(t));
    match status {
        Some(GuestStatus::Allow) => {
            Html("<!doctype html><title>BBB simulator</title><p>joined</p>").into_response()
        }
        Some(GuestStatus::Wait) => {
            Html("<!doctype html><title>BBB simulator</title><p>waiting for a moderator</p>")
                .into_response()
        }
        _ => (
            StatusCode::NOT_FOUND,
            Html("<!doctype html><title>BBB simulator</title><p>invalid session</p>"),
        )
            .into_response(),
    }
}

// ----- control API -----

#[derive(Serialize)]
struct ErrorBody {
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

fn control_error(e: &SimError) -> Response {
    let (status, key) = match e {
        SimError::NoSuchMeeting(_) | SimError::NoSuchParticipant { .. } => {
            (StatusCode::NOT_FOUND, None)
        }
        SimError::BadUrl(_) => (StatusCode::BAD_REQUEST, None),
        SimError::Api(f) => (StatusCode::UNPROCESSABLE_ENTITY, Some(f.key.clone())),
    };
    (
        status,
        Json(ErrorBody {
            error: e.to_string(),
            key,
        }),
    )
        .into_response()
}

async fn list_meetings(State(sim): State<Simulator>) -> Response {
    Json(sim.meetings()).into_response()
}

async fn one_meeting(State(sim): State<Simulator>, Path(id): Path<String>) -> Response {
    match sim.meeting(&id) {
        Some(m) => Json(m).into_response(),
        None => control_error(&SimError::NoSuchMeeting(id)),
    }
}

async fn list_recordings(State(sim): State<Simulator>) -> Response {
    Json(sim.recordings()).into_response()
}

#[derive(Serialize)]
struct UserIdBody {
    user_id: String,
}

async fn add_participant(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    Json(np): Json<NewParticipant>,
) -> Response {
    match sim.add_participant_with(&id, &np) {
        Ok(user_id) => (StatusCode::CREATED, Json(UserIdBody { user_id })).into_response(),
        Err(e) => control_error(&e),
    }
}

async fn remove_participant(
    State(sim): State<Simulator>,
    Path((id, user)): Path<(String, String)>,
) -> Response {
    match sim.remove_participant(&id, &user) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => control_error(&e),
    }
}

#[derive(Deserialize)]
struct JoinBody {
    url: String,
}

async fn open_join_url(State(sim): State<Simulator>, Json(b): Json<JoinBody>) -> Response {
    match sim.join_from_url(&b.url) {
        Ok(j) => Json(j).into_response(),
        Err(e) => control_error(&e),
    }
}

async fn get_faults(State(sim): State<Simulator>) -> Response {
    Json(sim.faults()).into_response()
}

async fn put_faults(State(sim): State<Simulator>, Json(f): Json<FaultState>) -> Response {
    sim.clear_faults();
    sim.set_latency(Duration::from_millis(f.latency_ms));
    sim.fail_next(f.fail_next);
    if f.fail_always {
        sim.fail_always();
    }
    if f.hanging {
        sim.hang();
    }
    Json(sim.faults()).into_response()
}

async fn clear_faults(State(sim): State<Simulator>) -> Response {
    sim.clear_faults();
    Json(sim.faults()).into_response()
}

#[derive(Deserialize)]
struct LatencyBody {
    ms: u64,
}

async fn set_latency(State(sim): State<Simulator>, Json(b): Json<LatencyBody>) -> Response {
    sim.set_latency(Duration::from_millis(b.ms));
    Json(sim.faults()).into_response()
}

#[derive(Deserialize, Default)]
struct FailBody {
    /// How many next requests fail; absent means until cleared.
    #[serde(default)]
    count: Option<u32>,
}

async fn set_fail(State(sim): State<Simulator>, body: Option<Json<FailBody>>) -> Response {
    match body.map(|Json(b)| b).unwrap_or_default().count {
        Some(n) => sim.fail_next(n),
        None => sim.fail_always(),
    }
    Json(sim.faults()).into_response()
}

async fn set_hang(State(sim): State<Simulator>) -> Response {
    sim.hang();
    Json(sim.faults()).into_response()
}

async fn set_resume(State(sim): State<Simulator>) -> Response {
    sim.resume();
    Json(sim.faults()).into_response()
}

#[derive(Serialize, Deserialize)]
struct ClockBody {
    now_ms: i64,
}

async fn get_clock(State(sim): State<Simulator>) -> Response {
    Json(ClockBody {
        now_ms: sim.now_ms(),
    })
    .into_response()
}

#[derive(Deserialize)]
struct AdvanceBody {
    #[serde(default)]
    ms: u64,
    #[serde(default)]
    seconds: u64,
}

async fn advance_clock(State(sim): State<Simulator>, Json(b): Json<AdvanceBody>) -> Response {
    let by = Duration::from_millis(b.ms).saturating_add(Duration::from_secs(b.seconds));
    sim.advance(by);
    get_clock(State(sim)).await
}

async fn set_clock(State(sim): State<Simulator>, Json(b): Json<ClockBody>) -> Response {
    match jiff::Timestamp::from_millisecond(b.now_ms) {
        Ok(t) => {
            sim.set_now(t);
            get_clock(State(sim)).await
        }
        Err(_) => (
            StatusCode::BAD_REQUEST,
            Json(ErrorBody {
                error: "now_ms is out of range".into(),
                key: None,
            }),
        )
            .into_response(),
    }
}

async fn real_clock(State(sim): State<Simulator>) -> Response {
    sim.use_real_time();
    sim.tick();
    get_clock(State(sim)).await
}

async fn tick(State(sim): State<Simulator>) -> Response {
    sim.tick();
    StatusCode::NO_CONTENT.into_response()
}

async fn callbacks(State(sim): State<Simulator>) -> Response {
    Json(sim.callback_log()).into_response()
}

async fn creates(State(sim): State<Simulator>) -> Response {
    Json(sim.create_log()).into_response()
}

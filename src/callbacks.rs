//! BBB callbacks received by the daemon. BBB keeps one end callback and one recording-ready
//! callback per meeting; for Greenlight rooms we point both at ourselves, keep Greenlight's
//! rows right (`online`), and forward each callback to the URL Greenlight registers itself
//! (`<base>/meeting_ended`, `<base>/recording_ready`, greenlight.md §6–7).

use crate::domain::{MeetingId, MeetingPhase, NoticeKind, ServerId, ServerSpec};
use crate::greenlight::{GreenlightConnector, GreenlightVersion};
use crate::service::notify::chat_request;
use crate::store::Store;
use axum::extract::{Query, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Form, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub const MEETING_ENDED_PATH: &str = "/callbacks/meeting-ended";
pub const RECORDING_READY_PATH: &str = "/callbacks/recording-ready";

#[derive(Clone)]
pub struct CallbackState {
    pub store: Arc<dyn Store>,
    pub greenlight: Arc<dyn GreenlightConnector>,
    pub default_greenlight: Option<crate::greenlight::GreenlightSettings>,
    pub http: reqwest::Client,
}

pub fn router(state: CallbackState) -> Router {
    Router::new()
        .route(MEETING_ENDED_PATH, get(meeting_ended))
        .route(RECORDING_READY_PATH, post(recording_ready))
        .with_state(state)
}

/// Our callback URLs for a meeting on `server`, given the daemon's public base URL. The end
/// callback carries a token (HMAC-SHA256 with the server's BBB secret over server and meeting),
/// so nobody else can mark rooms offline through us; the recording-ready callback is a JWT
/// signed with that secret already.
pub fn callback_urls(
    public_base: &str,
    server: &ServerSpec,
    meeting_id: &str,
    scheduled: &MeetingId,
    occurrence: &str,
) -> (String, String) {
    let base = public_base.trim_end_matches('/');
    let routed = Routed {
        meeting_id,
        scheduled: scheduled.as_str(),
        occurrence,
    };
    let ended: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("server", server.id.as_str())
        .append_pair("m", meeting_id)
        .append_pair("meeting", scheduled.as_str())
        .append_pair("occ", occurrence)
        .append_pair("token", &end_token(server, &routed))
        .finish();
    // The recording-ready JWT is signed by BBB; these only say which meeting to tell.
    let ready: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("server", server.id.as_str())
        .append_pair("m", meeting_id)
        .append_pair("meeting", scheduled.as_str())
        .finish();
    (
        format!("{base}{MEETING_ENDED_PATH}?{ended}"),
        format!("{base}{RECORDING_READY_PATH}?{ready}"),
    )
}

/// What an end callback URL routes to: BBB's meeting, our meeting and its occurrence.
struct Routed<'a> {
    meeting_id: &'a str,
    scheduled: &'a str,
    occurrence: &'a str,
}

fn end_mac(server: &ServerSpec, r: &Routed<'_>) -> hmac::Hmac<sha2::Sha256> {
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(server.secret.expose().as_bytes())
            .expect("HMAC accepts keys of any length");
    mac.update(
        format!(
            "meeting-ended\n{}\n{}\n{}\n{}",
            server.id, r.meeting_id, r.scheduled, r.occurrence
        )
        .as_bytes(),
    );
    mac
}

fn end_token(server: &ServerSpec, r: &Routed<'_>) -> String {
    URL_SAFE_NO_PAD.encode(end_mac(server, r).finalize().into_bytes())
}

fn end_token_ok(server: &ServerSpec, r: &Routed<'_>, token: &str) -> bool {
    URL_SAFE_NO_PAD
        .decode(token)
        .is_ok_and(|t| end_mac(server, r).verify_slice(&t).is_ok())
}

/// Greenlight's own callback URLs (what it would register itself): v3 only.
pub fn greenlight_callback_urls(
    version: GreenlightVersion,
    link_base: &str,
) -> Option<(String, String)> {
    let base = link_base.trim_end_matches('/');
    (version == GreenlightVersion::V3).then(|| {
        (
            format!("{base}/meeting_ended"),
            format!("{base}/recording_ready"),
        )
    })
}

async fn server_of(
    state: &CallbackState,
    params: &BTreeMap<String, String>,
) -> Result<ServerSpec, StatusCode> {
    let id: ServerId = params
        .get("server")
        .and_then(|s| s.parse().ok())
        .ok_or(StatusCode::BAD_REQUEST)?;
    state
        .store
        .get_server(&id)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
        .ok_or(StatusCode::NOT_FOUND)
}

/// The server's Greenlight with its settings; `None` when the server has none.
async fn greenlight_of(
    state: &CallbackState,
    server: &ServerSpec,
) -> Result<
    Option<(
        crate::greenlight::GreenlightSettings,
        Arc<dyn crate::greenlight::Greenlight>,
    )>,
    StatusCode,
> {
    let Some(settings) = server
        .greenlight
        .clone()
        .or(state.default_greenlight.clone())
    else {
        return Ok(None);
    };
    match state.greenlight.open(&settings).await {
        Ok(gl) => Ok(Some((settings, gl))),
        Err(e) => {
            tracing::warn!(server = %server.id, error = %e, "cannot reach Greenlight for a callback");
            Err(StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

/// `GET …/meeting-ended?server=ID&meetingID=…&recordingmarks=…` from BBB.
async fn meeting_ended(
    State(state): State<CallbackState>,
    Query(params): Query<BTreeMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> StatusCode {
    let server = match server_of(&state, &params).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let (Some(meeting_id), Some(token)) = (params.get("m"), params.get("token")) else {
        return StatusCode::BAD_REQUEST;
    };
    let param = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
    let routed = Routed {
        meeting_id,
        scheduled: param("meeting"),
        occurrence: param("occ"),
    };
    // BBB appends meetingID itself; it must be the meeting the token was made for.
    if !end_token_ok(&server, &routed, token)
        || params.get("meetingID").is_some_and(|m| m != meeting_id)
    {
        tracing::warn!(server = %server.id, "end callback with a bad token");
        return StatusCode::UNAUTHORIZED;
    }
    tracing::info!(server = %server.id, %meeting_id, "BBB reports a meeting ended");
    if let Ok(id) = routed.scheduled.parse::<MeetingId>() {
        record_ended(&state, &id, routed.occurrence).await;
    }
    let (settings, gl) = match greenlight_of(&state, &server).await {
        Ok(Some(found)) => found,
        Ok(None) => return StatusCode::OK,
        Err(code) => return code,
    };
    if let Err(e) = gl.meeting_ended(meeting_id).await {
        tracing::warn!(server = %server.id, error = %e, "cannot mark the room offline");
    }
    let Some((ended_url, _)) = greenlight_callback_urls(gl.version(), &settings.link_base) else {
        return StatusCode::OK;
    };
    // Forward what BBB sent, minus our own routing parameter.
    let forwarded: String = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .filter(|(k, _)| !matches!(k.as_ref(), "server" | "m" | "meeting" | "occ" | "token"))
        .fold(
            form_urlencoded::Serializer::new(String::new()),
            |mut s, (k, v)| {
                s.append_pair(&k, &v);
                s
            },
        )
        .finish();
    forward(state.http.get(format!("{ended_url}?{forwarded}"))).await
}

/// The scheduled meeting's state follows what BBB reports, and its room hears of it.
async fn record_ended(state: &CallbackState, id: &MeetingId, occurrence: &str) {
    let now = jiff::Timestamp::now();
    let Ok(Some(m)) = state.store.get_meeting(id).await else {
        return;
    };
    let record = crate::domain::StepRecord {
        step: "meetingEnded".into(),
        code: 220,
        message: "BBB reports the meeting ended".into(),
        at: now,
    };
    if let Err(e) = state.store.record_step(id, &record).await {
        tracing::warn!(meeting = %id, error = %e, "cannot record the end of a meeting");
    }
    if matches!(m.phase, MeetingPhase::PreOpened | MeetingPhase::Started) {
        let _ = state
            .store
            .set_meeting_phase(id, MeetingPhase::Ended, now)
            .await;
    }
    let occurrence = Some(occurrence).filter(|o| !o.is_empty());
    let data = serde_json::json!({ "reason": "bbb" });
    notice(state, &m.spec, NoticeKind::Ended, occurrence, data, now).await;
}

/// Queue a notice to the meeting's room (the bot delivers it); failures are only logged, as
/// BBB would not retry a callback for them.
async fn notice(
    state: &CallbackState,
    spec: &crate::domain::MeetingSpec,
    kind: NoticeKind,
    occurrence: Option<&str>,
    data: serde_json::Value,
    now: jiff::Timestamp,
) {
    let Some(request) = chat_request(spec, kind, occurrence, data, now) else {
        return;
    };
    if let Err(e) = state.store.enqueue_outbox(&request, now).await {
        tracing::warn!(meeting = %spec.id, kind = kind.as_str(), error = %e, "cannot queue a notice");
    }
}

/// `POST …/recording-ready?server=ID` with `signed_parameters=<JWT signed with the BBB secret>`.
async fn recording_ready(
    State(state): State<CallbackState>,
    Query(params): Query<BTreeMap<String, String>>,
    Form(body): Form<BTreeMap<String, String>>,
) -> StatusCode {
    let server = match server_of(&state, &params).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let Some(token) = body.get("signed_parameters") else {
        return StatusCode::BAD_REQUEST;
    };
    let Some(claims) = verify_hs256(token, server.secret.expose()) else {
        tracing::warn!(server = %server.id, "recording-ready callback with a bad signature");
        return StatusCode::UNAUTHORIZED;
    };
    tracing::info!(server = %server.id, record_id = ?claims.get("record_id"), "BBB reports a recording ready");
    recording_notice(&state, &params, &claims).await;
    let (settings, gl) = match greenlight_of(&state, &server).await {
        Ok(Some(found)) => found,
        Ok(None) => return StatusCode::OK,
        Err(code) => return code,
    };
    let Some((_, ready_url)) = greenlight_callback_urls(gl.version(), &settings.link_base) else {
        return StatusCode::OK;
    };
    forward(
        state
            .http
            .post(ready_url)
            .form(&[("signed_parameters", token.as_str())]),
    )
    .await
}

/// Tell the scheduled meeting's room that its recording is ready, when the signed claims are
/// about the meeting the URL names.
async fn recording_notice(
    state: &CallbackState,
    params: &BTreeMap<String, String>,
    claims: &serde_json::Map<String, serde_json::Value>,
) {
    let (Some(m), Some(scheduled)) = (params.get("m"), params.get("meeting")) else {
        return;
    };
    let claimed = claims.get("meeting_id").and_then(|v| v.as_str());
    let Some(record_id) = claims.get("record_id").and_then(|v| v.as_str()) else {
        return;
    };
    if claimed != Some(m.as_str()) {
        tracing::warn!(%m, "recording-ready claims name another meeting; no notice");
        return;
    }
    let Ok(id) = scheduled.parse::<MeetingId>() else {
        return;
    };
    let Ok(Some(stored)) = state.store.get_meeting(&id).await else {
        return;
    };
    let data = serde_json::json!({ "recordId": record_id });
    // One notice per recording: the record id stands in for the occurrence.
    let key = format!("record-{record_id}");
    notice(
        state,
        &stored.spec,
        NoticeKind::RecordingReady,
        Some(&key),
        data,
        jiff::Timestamp::now(),
    )
    .await;
}

/// Pass Greenlight's answer class on, so BBB retries when Greenlight could not take it.
async fn forward(req: reqwest::RequestBuilder) -> StatusCode {
    match req.timeout(Duration::from_secs(10)).send().await {
        Ok(r) if r.status().is_success() => StatusCode::OK,
        Ok(r) => {
            tracing::warn!(status = %r.status(), "Greenlight refused a forwarded callback");
            StatusCode::BAD_GATEWAY
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot forward a callback to Greenlight");
            StatusCode::BAD_GATEWAY
        }
    }
}

/// Check an HS256 JWT and return its claims.
pub fn verify_hs256(
    token: &str,
    secret: &str,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let mut parts = token.split('.');
    let (header, payload, sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let head: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if head.get("alg")?.as_str()? != "HS256" {
        return None;
    }
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(format!("{header}.{payload}").as_bytes());
    mac.verify_slice(&URL_SAFE_NO_PAD.decode(sig).ok()?).ok()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_round_trip_and_tamper() {
        let claims = serde_json::json!({"meeting_id": "m", "record_id": "r"});
        let token = crate::bbb::sim::jwt_hs256(&claims, "s3cret");
        let got = verify_hs256(&token, "s3cret").expect("valid");
        assert_eq!(got["record_id"], "r");
        assert!(verify_hs256(&token, "other").is_none());
        let mut bad = token.clone();
        bad.push('x');
        assert!(verify_hs256(&bad, "s3cret").is_none());
    }

    #[test]
    fn urls() {
        let server = ServerSpec::new(
            "bbb".parse().unwrap(),
            "https://b.example/bigbluebutton/api".parse().unwrap(),
            crate::domain::Secret::new("s3cret"),
        );
        let lecture: MeetingId = "lecture".parse().unwrap();
        let (e, r) = callback_urls(
            "https://sl.uni.example/",
            &server,
            "room 1",
            &lecture,
            "2026-12-03T14:00",
        );
        let prefix = "https://sl.uni.example/callbacks/meeting-ended?server=bbb&m=room+1\
                      &meeting=lecture&occ=2026-12-03T14%3A00&token=";
        assert!(e.starts_with(prefix), "{e}");
        assert_eq!(
            r,
            "https://sl.uni.example/callbacks/recording-ready?server=bbb&m=room+1&meeting=lecture"
        );
        let token = e.rsplit("token=").next().unwrap();
        let routed = |m, s, o| Routed {
            meeting_id: m,
            scheduled: s,
            occurrence: o,
        };
        assert!(end_token_ok(
            &server,
            &routed("room 1", "lecture", "2026-12-03T14:00"),
            token
        ));
        for wrong in [
            routed("room 2", "lecture", "2026-12-03T14:00"),
            routed("room 1", "other", "2026-12-03T14:00"),
            routed("room 1", "lecture", "2026-12-10T14:00"),
        ] {
            assert!(!end_token_ok(&server, &wrong, token));
        }
        let mut other = server.clone();
        other.secret = crate::domain::Secret::new("other");
        assert!(!end_token_ok(
            &other,
            &routed("room 1", "lecture", "2026-12-03T14:00"),
            token
        ));
        assert_eq!(
            greenlight_callback_urls(GreenlightVersion::V3, "https://gl.x/"),
            Some((
                "https://gl.x/meeting_ended".into(),
                "https://gl.x/recording_ready".into()
            ))
        );
        assert_eq!(
            greenlight_callback_urls(GreenlightVersion::V2, "https://gl.x/b"),
            None
        );
    }
}

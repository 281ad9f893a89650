//! HTTP client for one BBB server (bbb-api.md §1–§3).
//!
//! Every call builds its parameters in a fixed order, form-encodes them once with
//! [`checksum::encode_query`], signs exactly those bytes with [`checksum::sign_query`] and sends
//! that string unchanged: BBB hashes the raw query it receives, so any re-encoding after signing
//! would break the checksum. The encoded alphabet (`A-Za-z0-9-._*`, `%XX`, `+`, `=`, `&`) is
//! left alone by the `url` parser reqwest uses; `tests/bbb_client.rs` checks the bytes that
//! arrive at a loopback server.

use super::{
    Bbb, BbbConnector, BbbError, CreateParams, CreatedMeeting, JoinAuth, JoinParams, MeetingInfo,
    Recording, RecordingsQuery, checksum, xml,
};
use crate::domain::{
    BbbMeetingId, BbbUrl, ChecksumAlgorithm, RecordId, Secret, ServerId, ServerSpec,
};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::debug;

/// Largest answer we read. getRecordings is the biggest call and is paged by `limit` (≤ 100);
/// anything beyond this is a misbehaving server, not data.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// An ordered parameter list; order is part of the signature.
type Params = Vec<(String, String)>;

/// Builds [`BbbClient`]s that share one connection pool (one `reqwest::Client`).
#[derive(Debug, Clone)]
pub struct HttpConnector {
    http: reqwest::Client,
}

impl HttpConnector {
    /// A pooled rustls client without a global timeout (each server has its own per-request
    /// timeout). Panics only if the TLS backend cannot be initialised at all, as
    /// `reqwest::Client::new` does; use [`HttpConnector::try_new`] to handle that.
    pub fn new() -> Self {
        Self::try_new().expect("the TLS backend (rustls) could not be initialised")
    }

    /// Like [`HttpConnector::new`], reporting a broken TLS setup instead of panicking.
    pub fn try_new() -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("schedulight/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_keepalive(Duration::from_secs(60))
            .build()?;
        Ok(Self { http })
    }

    /// Share an existing client (and its pool).
    pub fn with_client(http: reqwest::Client) -> Self {
        Self { http }
    }

    /// The shared client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

impl Default for HttpConnector {
    fn default() -> Self {
        Self::new()
    }
}

impl BbbConnector for HttpConnector {
    fn connect(&self, server: &ServerSpec) -> Arc<dyn Bbb> {
        Arc::new(BbbClient::new(server, self.http.clone()))
    }
}

/// Client for one BBB server.
#[derive(Clone)]
pub struct BbbClient {
    server_id: ServerId,
    url: BbbUrl,
    secret: Secret,
    algo: ChecksumAlgorithm,
    timeout_ms: u64,
    http: reqwest::Client,
}

impl std::fmt::Debug for BbbClient {
    // No secret here (Secret hides itself anyway), and no pool internals.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BbbClient")
            .field("server_id", &self.server_id)
            .field("url", &self.url)
            .field("algo", &self.algo)
            .field("timeout_ms", &self.timeout_ms)
            .finish_non_exhaustive()
    }
}

impl BbbClient {
    /// A client for `server`; `http` is cloned cheaply and shares its pool.
    pub fn new(server: &ServerSpec, http: reqwest::Client) -> Self {
        Self {
            server_id: server.id.clone(),
            url: server.url.clone(),
            secret: server.secret.clone(),
            algo: server.checksum,
            timeout_ms: server.timeout_ms,
            http,
        }
    }

    /// The full signed URL of `call` with `params` in the given order.
    pub fn signed_url(&self, call: &str, params: &[(String, String)]) -> String {
        let query = checksum::encode_query(params);
        let signed = checksum::sign_query(self.algo, call, &query, self.secret.expose());
        format!("{}?{}", self.url.call(call), signed)
    }

    /// One API call: sign, GET, check the status, read the body, all within the timeout.
    async fn call(
        &self,
        call: &'static str,
        params: &[(String, String)],
        meeting_id: Option<&str>,
    ) -> Result<String, BbbError> {
        let url = self.signed_url(call, params);
        let started = Instant::now();
        let result = match self.timeout() {
            Some(limit) => tokio::time::timeout(limit, self.fetch(&url))
                .await
                .unwrap_or(Err(BbbError::Timeout(self.timeout_ms))),
            None => self.fetch(&url).await,
        };
        crate::telemetry::bbb_call(
            call,
            match &result {
                Ok(_) => "ok",
                Err(BbbError::Timeout(_)) => "timeout",
                Err(BbbError::Unreachable(_)) => "unreachable",
                Err(BbbError::Http(_)) => "http_error",
                Err(_) => "bad_response",
            },
        );
        debug!(
            server = %self.server_id,
            call,
            meeting_id,
            elapsed_ms = started.elapsed().as_millis() as u64,
            error = result.as_ref().err().map(tracing::field::display),
            "BBB call"
        );
        result
    }

    /// `timeoutMs: 0` means no limit (the config default is 5000).
    fn timeout(&self) -> Option<Duration> {
        (self.timeout_ms > 0).then(|| Duration::from_millis(self.timeout_ms))
    }

    async fn fetch(&self, url: &str) -> Result<String, BbbError> {
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(BbbError::Http(status.as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(e))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(BbbError::BadResponse(format!(
                    "the answer is larger than {MAX_BODY_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body)
            .map_err(|_| BbbError::BadResponse("the answer is not valid UTF-8".into()))
    }

    /// Map a reqwest error without its URL (the URL carries the checksum).
    fn transport_error(&self, e: reqwest::Error) -> BbbError {
        if e.is_timeout() {
            return BbbError::Timeout(self.timeout_ms);
        }
        if e.is_redirect() {
            return BbbError::BadResponse("too many redirects".into());
        }
        BbbError::Unreachable(describe(&e.without_url()))
    }
}

/// The error and its causes on one line, e.g. "error sending request: … Connection refused".
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// Appends `(key, value)` pairs, skipping unset optional values.
#[derive(Default)]
struct ParamList(Params);

impl ParamList {
    fn put(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.0.push((key.to_string(), value.into()));
        self
    }

    fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.put(key, v);
        }
        self
    }

    fn opt_bool(&mut self, key: &str, value: Option<bool>) -> &mut Self {
        if let Some(v) = value {
            self.put(key, bool_str(v));
        }
        self
    }

    fn opt_num(&mut self, key: &str, value: Option<impl ToString>) -> &mut Self {
        if let Some(v) = value {
            self.put(key, v.to_string());
        }
        self
    }

    fn csv(&mut self, key: &str, values: &[impl AsRef<str>]) -> &mut Self {
        if !values.is_empty() {
            let joined: Vec<&str> = values.iter().map(AsRef::as_ref).collect();
            self.put(key, joined.join(","));
        }
        self
    }

    /// `prefix<key>` for every entry, in key order (BTreeMap).
    fn prefixed(&mut self, prefix: &str, map: &BTreeMap<String, String>) -> &mut Self {
        for (k, v) in map {
            self.put(&format!("{prefix}{k}"), v.as_str());
        }
        self
    }

    fn done(&mut self) -> Params {
        std::mem::take(&mut self.0)
    }
}

fn missing_meeting_id() -> BbbError {
    BbbError::MissingParam {
        key: "missingParamMeetingID".into(),
        message: "You must provide a meeting ID".into(),
    }
}

fn missing_record_id() -> BbbError {
    BbbError::MissingParam {
        key: "missingParamRecordID".into(),
        message: "You must specify a recordID.".into(),
    }
}

/// `create` parameters (bbb-api.md §2.1) in a fixed order: known parameters, `meta_*` sorted by
/// key, then `extra` as given.
pub(crate) fn create_params(p: &CreateParams) -> Result<Params, BbbError> {
    let meeting_id = p.meeting_id.as_ref().ok_or_else(missing_meeting_id)?;
    let l = &p.lock_settings;
    let mut q = ParamList::default();
    q.put("name", p.name.as_str())
        .put("meetingID", meeting_id.as_str())
        .opt_str("attendeePW", p.attendee_pw.as_deref())
        .opt_str("moderatorPW", p.moderator_pw.as_deref())
        .opt_str("welcome", p.welcome.as_deref())
        .opt_str("moderatorOnlyMessage", p.moderator_only_message.as_deref())
        .opt_str("bannerText", p.banner_text.as_deref())
        .opt_str("bannerColor", p.banner_color.as_deref())
        .opt_str("dialNumber", p.dial_number.as_deref())
        .opt_str("voiceBridge", p.voice_bridge.as_deref())
        .opt_num("maxParticipants", p.max_participants)
        .opt_str("logoutURL", p.logout_url.as_deref())
        .opt_bool("record", p.record)
        .opt_bool("autoStartRecording", p.auto_start_recording)
        .opt_bool("allowStartStopRecording", p.allow_start_stop_recording)
        .opt_num("duration", p.duration)
        .opt_bool("muteOnStart", p.mute_on_start)
        .opt_bool("allowModsToUnmuteUsers", p.allow_mods_to_unmute_users)
        .opt_bool("webcamsOnlyForModerator", p.webcams_only_for_moderator)
        .opt_bool("lockSettingsDisableCam", l.disable_cam)
        .opt_bool("lockSettingsDisableMic", l.disable_mic)
        .opt_bool("lockSettingsDisablePrivateChat", l.disable_private_chat)
        .opt_bool("lockSettingsDisablePublicChat", l.disable_public_chat)
        // 2.6+ name; `lockSettingsDisableNote` is the deprecated spelling.
        .opt_bool("lockSettingsDisableNotes", l.disable_note)
        .opt_bool("lockSettingsHideUserList", l.hide_user_list)
        .opt_bool("lockSettingsLockOnJoin", l.lock_on_join)
        .opt_str("guestPolicy", p.guest_policy.as_deref())
        .opt_bool("endWhenNoModerator", p.end_when_no_moderator)
        .opt_num(
            "meetingExpireIfNoUserJoinedInMinutes",
            p.meeting_expire_if_no_user_joined_minutes,
        )
        .opt_num(
            "meetingExpireWhenLastUserLeftInMinutes",
            p.meeting_expire_when_last_user_left_minutes,
        )
        .opt_str("meetingLayout", p.meeting_layout.as_deref())
        .csv("disabledFeatures", &p.disabled_features)
        .prefixed("meta_", &p.meta);
    for (k, v) in &p.extra {
        q.put(k, v.as_str());
    }
    Ok(q.done())
}

/// `join` parameters (bbb-api.md §2.2): `role=` (3.0) or the legacy `password=`.
pub(crate) fn join_params(p: &JoinParams) -> Params {
    let mut q = ParamList::default();
    q.put("fullName", p.full_name.as_str())
        .put("meetingID", p.meeting_id.as_str());
    match &p.auth {
        JoinAuth::Role(role) => q.put("role", role.as_bbb()),
        JoinAuth::Password(pw) => q.put("password", pw.as_str()),
    };
    q.opt_num("createTime", p.create_time)
        .opt_str("userID", p.user_id.as_deref())
        .opt_bool("redirect", p.redirect)
        .opt_bool("guest", p.guest)
        .prefixed("userdata-", &p.userdata)
        .done()
}

/// `getRecordings` filters (bbb-api.md §2.7).
pub(crate) fn recordings_params(q: &RecordingsQuery) -> Params {
    ParamList::default()
        .csv("meetingID", &q.meeting_ids)
        .csv("recordID", &record_strs(&q.record_ids))
        .csv("state", &q.states)
        .prefixed("meta_", &q.meta)
        .opt_num("offset", q.offset)
        .opt_num("limit", q.limit)
        .done()
}

fn record_strs(ids: &[RecordId]) -> Vec<&str> {
    ids.iter().map(RecordId::as_str).collect()
}

/// `recordID=<csv>` for the recording-management calls, which all require it.
fn record_ids_param(ids: &[RecordId]) -> Result<ParamList, BbbError> {
    if ids.is_empty() {
        return Err(missing_record_id());
    }
    let mut q = ParamList::default();
    q.csv("recordID", &record_strs(ids));
    Ok(q)
}

fn meeting_id_param(id: &BbbMeetingId) -> Params {
    vec![("meetingID".to_string(), id.as_str().to_string())]
}

#[async_trait]
impl Bbb for BbbClient {
    async fn create(&self, params: &CreateParams) -> Result<CreatedMeeting, BbbError> {
        let query = create_params(params)?;
        let id = params.meeting_id.as_ref().map(BbbMeetingId::as_str);
        let body = self.call("create", &query, id).await?;
        let created = xml::create(&body)?;
        if created.duplicate {
            debug!(server = %self.server_id, meeting_id = id, "create: meeting already existed");
        }
        Ok(created)
    }

    fn join_url(&self, params: &JoinParams) -> String {
        debug!(
            server = %self.server_id,
            meeting_id = params.meeting_id.as_str(),
            "join URL built"
        );
        self.signed_url("join", &join_params(params))
    }

    async fn end(&self, meeting_id: &BbbMeetingId) -> Result<(), BbbError> {
        let body = self
            .call(
                "end",
                &meeting_id_param(meeting_id),
                Some(meeting_id.as_str()),
            )
            .await?;
        xml::end(&body)
    }

    async fn is_meeting_running(&self, meeting_id: &BbbMeetingId) -> Result<bool, BbbError> {
        let query = meeting_id_param(meeting_id);
        let body = self
            .call("isMeetingRunning", &query, Some(meeting_id.as_str()))
            .await?;
        xml::running(&body)
    }

    async fn get_meeting_info(&self, meeting_id: &BbbMeetingId) -> Result<MeetingInfo, BbbError> {
        let query = meeting_id_param(meeting_id);
        let body = self
            .call("getMeetingInfo", &query, Some(meeting_id.as_str()))
            .await?;
        xml::meeting_info(&body)
    }

    async fn get_meetings(&self) -> Result<Vec<MeetingInfo>, BbbError> {
        let body = self.call("getMeetings", &[], None).await?;
        xml::meetings(&body)
    }

    async fn get_recordings(&self, query: &RecordingsQuery) -> Result<Vec<Recording>, BbbError> {
        let ids = query.meeting_ids.join(",");
        let meeting = (!ids.is_empty()).then_some(ids.as_str());
        let body = self
            .call("getRecordings", &recordings_params(query), meeting)
            .await?;
        xml::recordings(&body)
    }

    async fn publish_recordings(&self, ids: &[RecordId], publish: bool) -> Result<bool, BbbError> {
        let query = record_ids_param(ids)?
            .put("publish", bool_str(publish))
            .done();
        let body = self.call("publishRecordings", &query, None).await?;
        xml::published(&body)
    }

    async fn update_recordings(
        &self,
        ids: &[RecordId],
        meta: &BTreeMap<String, String>,
    ) -> Result<bool, BbbError> {
        let query = record_ids_param(ids)?.prefixed("meta_", meta).done();
        let body = self.call("updateRecordings", &query, None).await?;
        xml::updated(&body)
    }

    async fn delete_recordings(&self, ids: &[RecordId]) -> Result<bool, BbbError> {
        let query = record_ids_param(ids)?.done();
        let body = self.call("deleteRecordings", &query, None).await?;
        xml::deleted(&body)
    }

    async fn protect_recordings(&self, ids: &[RecordId], protect: bool) -> Result<bool, BbbError> {
        let query = record_ids_param(ids)?
            .put("protect", bool_str(protect))
            .done();
        let body = self.call("updateRecordings", &query, None).await?;
        xml::updated(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bbb::{LockSettings, Role};

    fn server(algo: ChecksumAlgorithm) -> ServerSpec {
        let mut s = ServerSpec::new(
            "bbb".parse().expect("valid id"),
            "https://bbb.example/bigbluebutton/api"
                .parse()
                .expect("valid url"),
            Secret::new("639259d4-9dd8-4b25-bf01-95f9567eaf4b"),
        );
        s.checksum = algo;
        s
    }

    fn client(algo: ChecksumAlgorithm) -> BbbClient {
        BbbClient::new(&server(algo), reqwest::Client::new())
    }

    fn keys(p: &Params) -> Vec<&str> {
        p.iter().map(|(k, _)| k.as_str()).collect()
    }

    fn mid(s: &str) -> BbbMeetingId {
        s.parse().expect("valid meeting id")
    }

    fn full_create() -> CreateParams {
        CreateParams {
            meeting_id: Some(mid("abc123")),
            name: "Test Meeting".into(),
            attendee_pw: Some("111222".into()),
            moderator_pw: Some("333444".into()),
            welcome: Some("Hi %%CONFNAME%%".into()),
            moderator_only_message: Some("mods".into()),
            banner_text: Some("banner".into()),
            banner_color: Some("#FF0000".into()),
            dial_number: Some("613-555-1234".into()),
            voice_bridge: Some("01234".into()),
            max_participants: Some(25),
            logout_url: Some("https://example.org/bye".into()),
            record: Some(true),
            auto_start_recording: Some(false),
            allow_start_stop_recording: Some(true),
            duration: Some(90),
            mute_on_start: Some(true),
            allow_mods_to_unmute_users: Some(false),
            webcams_only_for_moderator: Some(true),
            lock_settings: LockSettings {
                disable_cam: Some(true),
                disable_mic: Some(false),
                disable_private_chat: Some(true),
                disable_public_chat: Some(false),
                disable_note: Some(true),
                hide_user_list: Some(false),
                lock_on_join: Some(true),
            },
            guest_policy: Some("ASK_MODERATOR".into()),
            end_when_no_moderator: Some(true),
            meeting_expire_if_no_user_joined_minutes: Some(10),
            meeting_expire_when_last_user_left_minutes: Some(0),
            meeting_layout: Some("SMART_LAYOUT".into()),
            disabled_features: vec!["chat".into(), "polls".into()],
            meta: BTreeMap::from([
                (
                    "endCallbackUrl".to_string(),
                    "https://sl.example/cb?a=1&b=2".to_string(),
                ),
                ("bbb-origin".to_string(), "schedulight".to_string()),
            ]),
            extra: vec![
                ("zzz".into(), "last".into()),
                ("allowModsToEjectCameras".into(), "true".into()),
            ],
        }
    }

    #[test]
    fn create_params_every_field_in_order() {
        let p = create_params(&full_create()).expect("meeting id set");
        assert_eq!(
            keys(&p),
            vec![
                "name",
                "meetingID",
                "attendeePW",
                "moderatorPW",
                "welcome",
                "moderatorOnlyMessage",
                "bannerText",
                "bannerColor",
                "dialNumber",
                "voiceBridge",
                "maxParticipants",
                "logoutURL",
                "record",
                "autoStartRecording",
                "allowStartStopRecording",
                "duration",
                "muteOnStart",
                "allowModsToUnmuteUsers",
                "webcamsOnlyForModerator",
                "lockSettingsDisableCam",
                "lockSettingsDisableMic",
                "lockSettingsDisablePrivateChat",
                "lockSettingsDisablePublicChat",
                "lockSettingsDisableNotes",
                "lockSettingsHideUserList",
                "lockSettingsLockOnJoin",
                "guestPolicy",
                "endWhenNoModerator",
                "meetingExpireIfNoUserJoinedInMinutes",
                "meetingExpireWhenLastUserLeftInMinutes",
                "meetingLayout",
                "disabledFeatures",
                "meta_bbb-origin",
                "meta_endCallbackUrl",
                "zzz",
                "allowModsToEjectCameras",
            ]
        );
        let get = |k: &str| p.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("record"), Some("true"));
        assert_eq!(get("autoStartRecording"), Some("false"));
        assert_eq!(get("maxParticipants"), Some("25"));
        assert_eq!(get("voiceBridge"), Some("01234"));
        assert_eq!(get("meetingExpireWhenLastUserLeftInMinutes"), Some("0"));
        assert_eq!(get("disabledFeatures"), Some("chat,polls"));
        assert_eq!(
            get("meta_endCallbackUrl"),
            Some("https://sl.example/cb?a=1&b=2")
        );
    }

    #[test]
    fn create_params_minimal_and_docs_vector() {
        let p = CreateParams {
            meeting_id: Some(mid("abc123")),
            name: "Test Meeting".into(),
            attendee_pw: Some("111222".into()),
            moderator_pw: Some("333444".into()),
            ..CreateParams::default()
        };
        let q = create_params(&p).expect("meeting id set");
        // Same parameters and order as the official docs example (bbb-api.md §1.4 vector 1).
        let url = client(ChecksumAlgorithm::Sha1).signed_url("create", &q);
        assert_eq!(
            url,
            "https://bbb.example/bigbluebutton/api/create?name=Test+Meeting&meetingID=abc123\
&attendeePW=111222&moderatorPW=333444&checksum=1fcbb0c4fc1f039f73aa6d697d2db9ba7f803f17"
        );
    }

    #[test]
    fn create_without_meeting_id_fails_locally() {
        let p = CreateParams {
            name: "x".into(),
            ..CreateParams::default()
        };
        assert!(matches!(
            create_params(&p),
            Err(BbbError::MissingParam { key, .. }) if key == "missingParamMeetingID"
        ));
    }

    fn query_of(url: &str) -> &str {
        url.split_once('?').map(|(_, q)| q).unwrap_or("")
    }

    #[test]
    fn join_url_role_form() {
        let mut p = JoinParams::new(
            mid("room 1"),
            "Ann O'Neil (Guest)!",
            JoinAuth::Role(Role::Moderator),
        );
        p.create_time = Some(1_531_155_809_613);
        p.user_id = Some("u-1".into());
        p.redirect = Some(false);
        p.guest = Some(true);
        p.userdata = BTreeMap::from([
            ("bbb_skip_check_audio".to_string(), "true".to_string()),
            ("bbb_auto_join_audio".to_string(), "false".to_string()),
        ]);
        for algo in ChecksumAlgorithm::ALL {
            let c = client(algo);
            let url = c.join_url(&p);
            assert!(url.starts_with("https://bbb.example/bigbluebutton/api/join?"));
            let q = query_of(&url);
            assert!(
                q.starts_with(
                    "fullName=Ann+O%27Neil+%28Guest%29%21&meetingID=room+1&role=MODERATOR\
&createTime=1531155809613&userID=u-1&redirect=false&guest=true\
&userdata-bbb_auto_join_audio=false&userdata-bbb_skip_check_audio=true&checksum="
                ),
                "{q}"
            );
            assert_eq!(
                checksum::verify("join", q, "639259d4-9dd8-4b25-bf01-95f9567eaf4b", &[algo]),
                Ok(algo)
            );
        }
    }

    #[test]
    fn join_url_password_form() {
        let p = JoinParams::new(mid("abc123"), "Viewer", JoinAuth::Password("111222".into()));
        let url = client(ChecksumAlgorithm::Sha256).join_url(&p);
        let q = query_of(&url);
        assert!(
            q.starts_with("fullName=Viewer&meetingID=abc123&password=111222&checksum="),
            "{q}"
        );
        assert_eq!(
            checksum::verify(
                "join",
                q,
                "639259d4-9dd8-4b25-bf01-95f9567eaf4b",
                &ChecksumAlgorithm::ALL
            ),
            Ok(ChecksumAlgorithm::Sha256)
        );
        let viewer = JoinParams::new(mid("abc123"), "V", JoinAuth::Role(Role::Viewer));
        assert!(
            query_of(&client(ChecksumAlgorithm::Sha1).join_url(&viewer)).contains("&role=VIEWER&")
        );
    }

    #[test]
    fn recordings_params_order_and_csv() {
        let q = RecordingsQuery {
            meeting_ids: vec!["m1".into(), "m 2".into()],
            record_ids: vec!["aaa-1".parse().expect("id"), "bbb-2".parse().expect("id")],
            states: vec!["published".into(), "unpublished".into()],
            meta: BTreeMap::from([
                ("z".to_string(), "1".to_string()),
                ("a".to_string(), "2".to_string()),
            ]),
            offset: Some(0),
            limit: Some(50),
        };
        let p = recordings_params(&q);
        assert_eq!(
            checksum::encode_query(&p),
            "meetingID=m1%2Cm+2&recordID=aaa-1%2Cbbb-2&state=published%2Cunpublished\
&meta_a=2&meta_z=1&offset=0&limit=50"
        );
        assert!(recordings_params(&RecordingsQuery::default()).is_empty());
    }

    #[test]
    fn get_meetings_signs_the_empty_query() {
        let url = client(ChecksumAlgorithm::Sha1).signed_url("getMeetings", &[]);
        assert_eq!(
            url,
            "https://bbb.example/bigbluebutton/api/getMeetings?checksum=2027baa7771026e9e93392f55031535d1444c41f"
        );
    }

    #[tokio::test]
    async fn recording_calls_need_ids() {
        let c = client(ChecksumAlgorithm::Sha256);
        let missing = |r: Result<bool, BbbError>| matches!(r, Err(BbbError::MissingParam { key, .. }) if key == "missingParamRecordID");
        assert!(missing(c.publish_recordings(&[], true).await));
        assert!(missing(c.delete_recordings(&[]).await));
        assert!(missing(c.update_recordings(&[], &BTreeMap::new()).await));
    }

    #[test]
    fn debug_hides_the_secret() {
        let text = format!("{:?}", client(ChecksumAlgorithm::Sha1));
        assert!(!text.contains("639259d4"), "{text}");
    }
}

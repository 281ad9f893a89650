//! The BBB client against a tiny loopback BBB stand-in: what arrives on the wire (raw query,
//! checksum, encoding), error mapping (timeout, refused, HTTP status, bad XML, FAILED) and
//! connection reuse.

use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use schedulight::bbb::checksum;
use schedulight::bbb::{
    Bbb, BbbConnector, BbbError, CreateParams, HttpConnector, JoinAuth, JoinParams,
    RecordingsQuery, Role,
};
use schedulight::domain::{BbbMeetingId, ChecksumAlgorithm, RecordId, Secret, ServerSpec};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "8cd8ef52e8e101574e400365b55e11a6";

/// What the stand-in does with the next requests.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Verify the checksum and answer like BBB.
    Bbb,
    /// Answer only after this long.
    Slow(Duration),
    /// Answer with this HTTP status and an empty body.
    Status(u16),
    /// Answer 200 with something that is not BBB XML.
    Garbage,
}

/// One request as received.
#[derive(Debug, Clone)]
struct Seen {
    call: String,
    raw_query: String,
    peer: SocketAddr,
    algo: Option<ChecksumAlgorithm>,
}

#[derive(Clone)]
struct Fake {
    mode: Arc<Mutex<Mode>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().expect("mode lock") = mode;
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen lock").clone()
    }

    fn last(&self) -> Seen {
        self.seen().last().cloned().expect("at least one request")
    }
}

/// Start the stand-in on a free loopback port; returns its state and API base URL.
async fn start_fake() -> (Fake, String) {
    let fake = Fake {
        mode: Arc::new(Mutex::new(Mode::Bbb)),
        seen: Arc::new(Mutex::new(Vec::new())),
    };
    let app = Router::new()
        .route("/bigbluebutton/api/{call}", get(api))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("fake BBB server");
    });
    (fake, format!("http://{addr}/bigbluebutton/api"))
}

async fn api(
    State(fake): State<Fake>,
    Path(call): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
) -> Response {
    // The raw query exactly as it came over the wire: no decoding, as BBB does.
    let raw_query = uri.query().unwrap_or("").to_string();
    let algo = checksum::verify(&call, &raw_query, SECRET, &ChecksumAlgorithm::ALL).ok();
    fake.seen.lock().expect("seen lock").push(Seen {
        call: call.clone(),
        raw_query: raw_query.clone(),
        peer,
        algo,
    });
    let mode = *fake.mode.lock().expect("mode lock");
    match mode {
        Mode::Bbb => {}
        Mode::Slow(d) => {
            tokio::time::sleep(d).await;
        }
        Mode::Status(code) => {
            return StatusCode::from_u16(code)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                .into_response();
        }
        Mode::Garbage => return "<html><body>Bad Gateway</body></html>".into_response(),
    }
    if algo.is_none() {
        return xml(failed("checksumError", "Checksums do not match"));
    }
    let params: BTreeMap<String, String> = form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    xml(answer(&call, &params))
}

fn xml(body: String) -> Response {
    ([("content-type", "text/xml")], body).into_response()
}

fn failed(key: &str, message: &str) -> String {
    format!(
        "<response><returncode>FAILED</returncode><messageKey>{key}</messageKey>\
<message>{message}</message></response>"
    )
}

fn success(body: &str) -> String {
    format!("<response><returncode>SUCCESS</returncode>{body}</response>")
}

fn meeting_fields(id: &str) -> String {
    format!(
        "<meetingName>{id}</meetingName><meetingID>{id}</meetingID>\
<internalMeetingID>183f0bf3a0982a127bdb8161e0c44eb696b3e75c-1531240585189</internalMeetingID>\
<createTime>1531240585189</createTime><createDate>Tue Jul 10 16:36:25 UTC 2018</createDate>\
<voiceBridge>70066</voiceBridge><dialNumber>613-555-1234</dialNumber><attendeePW>ap</attendeePW>\
<moderatorPW>mp</moderatorPW><running>true</running><duration>0</duration>\
<hasUserJoined>true</hasUserJoined><recording>false</recording>\
<hasBeenForciblyEnded>false</hasBeenForciblyEnded><startTime>1531240585239</startTime>\
<endTime>0</endTime><participantCount>1</participantCount><listenerCount>0</listenerCount>\
<voiceParticipantCount>0</voiceParticipantCount><videoCount>0</videoCount><maxUsers>0</maxUsers>\
<moderatorCount>1</moderatorCount><attendees><attendee><userID>w_abc</userID>\
<fullName>Mod</fullName><role>MODERATOR</role><isPresenter>true</isPresenter>\
<isListeningOnly>false</isListeningOnly><hasJoinedVoice>false</hasJoinedVoice>\
<hasVideo>false</hasVideo><clientType>HTML5</clientType></attendee></attendees>\
<metadata><bbb-origin>schedulight</bbb-origin></metadata><isBreakout>false</isBreakout>"
    )
}

/// A BBB-shaped answer for each call (bbb-api.md §2), echoing the request's IDs.
fn answer(call: &str, p: &BTreeMap<String, String>) -> String {
    let id = p.get("meetingID").map(String::as_str).unwrap_or("");
    match call {
        "create" => success(&format!(
            "<meetingID>{id}</meetingID>\
<internalMeetingID>640ab2bae07bedc4c163f679a746f7ab7fb5d1fa-1531155809613</internalMeetingID>\
<parentMeetingID>bbb-none</parentMeetingID><attendeePW>ap</attendeePW><moderatorPW>mp</moderatorPW>\
<createTime>1531155809613</createTime><voiceBridge>70757</voiceBridge>\
<dialNumber>613-555-1234</dialNumber><createDate>Mon Jul 09 17:03:29 UTC 2018</createDate>\
<hasUserJoined>false</hasUserJoined><duration>0</duration>\
<hasBeenForciblyEnded>false</hasBeenForciblyEnded><messageKey></messageKey><message></message>"
        )),
        "join" => success("<messageKey>successfullyJoined</messageKey>"),
        "end" => success(
            "<messageKey>sentEndMeetingRequest</messageKey>\
<message>A request to end the meeting was sent.</message>",
        ),
        "isMeetingRunning" => success("<running>true</running>"),
        "getMeetingInfo" if id == "gone" => {
            failed("notFound", "A meeting with that ID does not exist")
        }
        "getMeetingInfo" => success(&meeting_fields(id)),
        "getMeetings" => success(&format!(
            "<meetings><meeting>{}</meeting><meeting>{}</meeting></meetings>",
            meeting_fields("one"),
            meeting_fields("two")
        )),
        "getRecordings" => success(
            "<recordings><recording><recordID>ffbf-1</recordID><meetingID>m1</meetingID>\
<internalMeetingID>ffbf-1</internalMeetingID><name>Rec</name><isBreakout>false</isBreakout>\
<published>true</published><state>published</state><startTime>1</startTime><endTime>2</endTime>\
<participants>3</participants><metadata><gl-listed>false</gl-listed></metadata><playback>\
<format><type>presentation</type><url>https://x/p</url><processingTime>7</processingTime>\
<length>1</length></format><format><type>video</type><url>https://x/v</url>\
<processingTime>0</processingTime><length>1</length></format></playback></recording></recordings>",
        ),
        "publishRecordings" => success(&format!(
            "<published>{}</published>",
            p.get("publish").map(String::as_str).unwrap_or("false")
        )),
        "updateRecordings" => success("<updated>true</updated>"),
        "deleteRecordings" => success("<deleted>true</deleted>"),
        _ => failed("unsupportedRequest", "This request is not supported."),
    }
}

fn spec(base: &str, algo: ChecksumAlgorithm, timeout_ms: u64) -> ServerSpec {
    let mut s = ServerSpec::new(
        "loopback".parse().expect("server id"),
        base.parse().expect("api url"),
        Secret::new(SECRET),
    );
    s.checksum = algo;
    s.timeout_ms = timeout_ms;
    s
}

fn mid(s: &str) -> BbbMeetingId {
    s.parse().expect("meeting id")
}

fn rid(s: &str) -> RecordId {
    s.parse().expect("record id")
}

fn create_params(id: &str, name: &str) -> CreateParams {
    CreateParams {
        meeting_id: Some(mid(id)),
        name: name.into(),
        record: Some(false),
        meta: BTreeMap::from([("bbb-origin".to_string(), "schedulight".to_string())]),
        ..CreateParams::default()
    }
}

/// Every call once; returns how many requests went over the wire.
async fn exercise_all_calls(bbb: &dyn Bbb) -> usize {
    let created = bbb
        .create(&create_params("abc 123", "Weekly (team) 'sync'!"))
        .await
        .expect("create");
    assert_eq!(created.meeting_id, "abc 123");
    assert!(!created.duplicate);
    bbb.end(&mid("abc 123")).await.expect("end");
    assert!(
        bbb.is_meeting_running(&mid("abc 123"))
            .await
            .expect("isMeetingRunning")
    );
    let info = bbb
        .get_meeting_info(&mid("abc 123"))
        .await
        .expect("getMeetingInfo");
    assert_eq!(info.meeting_id, "abc 123");
    assert_eq!(info.attendees.len(), 1);
    assert_eq!(
        info.metadata.get("bbb-origin").map(String::as_str),
        Some("schedulight")
    );
    let all = bbb.get_meetings().await.expect("getMeetings");
    assert_eq!(all.len(), 2);
    let recs = bbb
        .get_recordings(&RecordingsQuery {
            meeting_ids: vec!["m1".into(), "m2".into()],
            states: vec!["any".into()],
            meta: BTreeMap::from([("gl-listed".to_string(), "false".to_string())]),
            offset: Some(0),
            limit: Some(10),
            ..RecordingsQuery::default()
        })
        .await
        .expect("getRecordings");
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].playback.len(), 2);
    let ids = [rid("ffbf-1"), rid("ffbf-2")];
    assert!(bbb.publish_recordings(&ids, true).await.expect("publish"));
    assert!(
        !bbb.publish_recordings(&ids, false)
            .await
            .expect("unpublish")
    );
    let meta = BTreeMap::from([("name".to_string(), "New name".to_string())]);
    assert!(bbb.update_recordings(&ids, &meta).await.expect("update"));
    assert!(bbb.delete_recordings(&ids).await.expect("delete"));
    10
}

#[tokio::test]
async fn every_call_verifies_on_the_wire_with_every_algorithm() {
    let (fake, base) = start_fake().await;
    let connector = HttpConnector::new();
    let mut expected = 0;
    for algo in ChecksumAlgorithm::ALL {
        let bbb = connector.connect(&spec(&base, algo, 5_000));
        expected += exercise_all_calls(bbb.as_ref()).await;

        // The join URL is not fetched by the service, but it must survive an HTTP client too.
        let mut join = JoinParams::new(mid("abc 123"), "Zoë (guest)", JoinAuth::Role(Role::Viewer));
        join.userdata = BTreeMap::from([("bbb_auto_join_audio".to_string(), "true".to_string())]);
        let url = bbb.join_url(&join);
        let body = connector
            .http()
            .get(&url)
            .send()
            .await
            .expect("join GET")
            .text()
            .await
            .expect("join body");
        assert!(body.contains("SUCCESS"), "{body}");
        expected += 1;
        let last = fake.last();
        assert_eq!(last.call, "join");
        assert_eq!(
            Some(last.raw_query.as_str()),
            url.split_once('?').map(|(_, q)| q)
        );
    }
    let seen = fake.seen();
    assert_eq!(seen.len(), expected);
    for (i, s) in seen.iter().enumerate() {
        let algo = ChecksumAlgorithm::ALL[i / (expected / 4)];
        assert_eq!(
            s.algo,
            Some(algo),
            "{} #{i} did not verify: {}",
            s.call,
            s.raw_query
        );
    }
    let calls: Vec<&str> = seen[..11].iter().map(|s| s.call.as_str()).collect();
    assert_eq!(
        calls,
        vec![
            "create",
            "end",
            "isMeetingRunning",
            "getMeetingInfo",
            "getMeetings",
            "getRecordings",
            "publishRecordings",
            "publishRecordings",
            "updateRecordings",
            "deleteRecordings",
            "join"
        ]
    );
    assert!(
        seen[4].raw_query.starts_with("checksum="),
        "getMeetings has no other params"
    );
    assert!(
        seen[5].raw_query.starts_with(
            "meetingID=m1%2Cm2&state=any&meta_gl-listed=false&offset=0&limit=10&checksum="
        ),
        "{}",
        seen[5].raw_query
    );
    assert!(
        seen[6]
            .raw_query
            .starts_with("recordID=ffbf-1%2Cffbf-2&publish=true&checksum="),
        "{}",
        seen[6].raw_query
    );
    assert!(
        seen[1].raw_query.starts_with("meetingID=abc+123&checksum="),
        "end sends meetingID only: {}",
        seen[1].raw_query
    );
}

#[tokio::test]
async fn spaces_are_plus_and_quotes_are_escaped_on_the_wire() {
    let (fake, base) = start_fake().await;
    let bbb = HttpConnector::new().connect(&spec(&base, ChecksumAlgorithm::Sha1, 5_000));
    bbb.create(&create_params("room one", "Team 'A' (x)! *~"))
        .await
        .expect("create");
    let seen = fake.last();
    assert_eq!(seen.call, "create");
    assert!(
        seen.raw_query.starts_with(
            "name=Team+%27A%27+%28x%29%21+*%7E&meetingID=room+one&record=false\
&meta_bbb-origin=schedulight&checksum="
        ),
        "{}",
        seen.raw_query
    );
    assert_eq!(seen.algo, Some(ChecksumAlgorithm::Sha1));
}

#[tokio::test]
async fn wrong_secret_is_a_checksum_error() {
    let (_fake, base) = start_fake().await;
    let mut s = spec(&base, ChecksumAlgorithm::Sha256, 5_000);
    s.secret = Secret::new("not-the-secret");
    let bbb = HttpConnector::new().connect(&s);
    assert_eq!(
        bbb.end(&mid("abc")).await,
        Err(BbbError::Checksum {
            message: "Checksums do not match".into()
        })
    );
}

#[tokio::test]
async fn failed_answer_becomes_typed_error() {
    let (_fake, base) = start_fake().await;
    let bbb = HttpConnector::new().connect(&spec(&base, ChecksumAlgorithm::Sha512, 5_000));
    assert_eq!(
        bbb.get_meeting_info(&mid("gone")).await,
        Err(BbbError::NotFound {
            message: "A meeting with that ID does not exist".into()
        })
    );
}

#[tokio::test]
async fn slow_server_times_out_after_timeout_ms() {
    let (fake, base) = start_fake().await;
    fake.set_mode(Mode::Slow(Duration::from_secs(5)));
    let bbb = HttpConnector::new().connect(&spec(&base, ChecksumAlgorithm::Sha256, 300));
    let started = Instant::now();
    let result = bbb.is_meeting_running(&mid("abc")).await;
    let elapsed = started.elapsed();
    assert_eq!(result, Err(BbbError::Timeout(300)));
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    // generous margin for a loaded 2-core CI box; the server would answer only after 5 s
    assert!(elapsed < Duration::from_millis(1_300), "{elapsed:?}");
    assert!(BbbError::Timeout(300).is_transient());
}

#[tokio::test]
async fn refused_connection_is_unreachable() {
    // Bind and release a port so nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let base = format!("http://127.0.0.1:{port}/bigbluebutton/api");
    let bbb = HttpConnector::new().connect(&spec(&base, ChecksumAlgorithm::Sha256, 2_000));
    match bbb.get_meetings().await {
        Err(BbbError::Unreachable(msg)) => {
            assert!(!msg.contains("checksum"), "no URL in errors: {msg}");
            assert!(!msg.contains(SECRET));
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

#[tokio::test]
async fn http_status_errors() {
    let (fake, base) = start_fake().await;
    let bbb = HttpConnector::new().connect(&spec(&base, ChecksumAlgorithm::Sha256, 5_000));
    fake.set_mode(Mode::Status(500));
    let err = bbb.end(&mid("abc")).await.expect_err("HTTP 500");
    assert_eq!(err, BbbError::Http(500));
    assert!(err.is_transient());
    fake.set_mode(Mode::Status(404));
    assert_eq!(bbb.end(&mid("abc")).await, Err(BbbError::Http(404)));
}

#[tokio::test]
async fn non_bbb_answer_is_bad_response() {
    let (fake, base) = start_fake().await;
    fake.set_mode(Mode::Garbage);
    let bbb = HttpConnector::new().connect(&spec(&base, ChecksumAlgorithm::Sha256, 5_000));
    assert!(matches!(
        bbb.get_meetings().await,
        Err(BbbError::BadResponse(_))
    ));
}

#[tokio::test]
async fn calls_reuse_one_pooled_connection() {
    let (fake, base) = start_fake().await;
    let connector = HttpConnector::new();
    // Two clients for the same server share the connector's pool.
    let a = connector.connect(&spec(&base, ChecksumAlgorithm::Sha1, 5_000));
    let b = connector.connect(&spec(&base, ChecksumAlgorithm::Sha512, 5_000));
    for _ in 0..4 {
        assert!(a.is_meeting_running(&mid("abc")).await.expect("running"));
        assert_eq!(b.get_meetings().await.expect("meetings").len(), 2);
    }
    let seen = fake.seen();
    assert_eq!(seen.len(), 8);
    assert!(seen.iter().all(|s| s.algo.is_some()));
    let peers: std::collections::BTreeSet<SocketAddr> = seen.iter().map(|s| s.peer).collect();
    assert_eq!(
        peers.len(),
        1,
        "sequential calls used {} connections",
        peers.len()
    );
}

//! The BBB simulator over real HTTP: checksums, calls, state rules, callbacks, control API,
//! faults, and a third-party client (the original tool's Python library).

use axum::extract::{Form, RawQuery, State};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use schedulight::bbb::checksum::{encode_query, sign_query};
use schedulight::bbb::sim::{SimConfig, SimHandle, serve};
use schedulight::domain::ChecksumAlgorithm::{self, Sha1, Sha256, Sha384, Sha512};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const SECRET: &str = "639259d4-9dd8-4b25-bf01-95f9567eaf4b";

// ----- helpers -----

async fn start(config: SimConfig) -> SimHandle {
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    serve(addr, config).await.expect("serve")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

fn signed(h: &SimHandle, call: &str, query: &str, algo: ChecksumAlgorithm, secret: &str) -> String {
    format!(
        "{}{call}?{}",
        h.base_url(),
        sign_query(algo, call, query, secret)
    )
}

fn q(pairs: &[(&str, &str)]) -> String {
    encode_query(pairs)
}

/// A loosely parsed XML element.
#[derive(Debug, Default, Clone)]
struct Node {
    name: String,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Text of the element at a `/`-separated path, "" when absent.
    fn get(&self, path: &str) -> String {
        self.at(path).map(|n| n.text.clone()).unwrap_or_default()
    }

    fn at(&self, path: &str) -> Option<&Node> {
        path.split('/').try_fold(self, |n, part| n.child(part))
    }

    fn all(&self, name: &str) -> Vec<&Node> {
        self.children.iter().filter(|c| c.name == name).collect()
    }

    fn names(&self) -> Vec<&str> {
        self.children.iter().map(|c| c.name.as_str()).collect()
    }
}

fn parse_xml(s: &str) -> Node {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(s);
    let mut stack: Vec<(Node, String)> = vec![(Node::default(), String::new())];
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                let name = e.name().as_ref().to_string();
                stack.push((
                    Node {
                        name,
                        ..Node::default()
                    },
                    String::new(),
                ));
            }
            Event::Empty(e) => {
                let name = e.name().as_ref().to_string();
                let node = Node {
                    name,
                    ..Node::default()
                };
                stack.last_mut().expect("parent").0.children.push(node);
            }
            Event::Text(t) => stack.last_mut().expect("open").1.push_str(t.as_ref()),
            Event::CData(t) => stack
                .last_mut()
                .expect("open")
                .1
                .push_str(&quick_xml::escape::escape(t.as_ref())),
            Event::GeneralRef(r) => {
                let raw = format!("&{};", r.into_inner());
                stack.last_mut().expect("open").1.push_str(&raw);
            }
            Event::End(_) => {
                let (mut node, raw) = stack.pop().expect("balanced");
                node.text = quick_xml::escape::unescape(&raw)
                    .expect("entities")
                    .into_owned();
                stack.last_mut().expect("parent").0.children.push(node);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let (root, _) = stack.pop().expect("root");
    root.children.into_iter().next().expect("a root element")
}

async fn get_xml(url: &str) -> Node {
    let resp = client().get(url).send().await.expect("request");
    assert_eq!(resp.status(), 200, "BBB answers 200 even for FAILED");
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(ct.starts_with("text/xml"), "content type {ct}");
    parse_xml(&resp.text().await.expect("body"))
}

async fn call(h: &SimHandle, name: &str, pairs: &[(&str, &str)]) -> Node {
    get_xml(&signed(h, name, &q(pairs), Sha256, SECRET)).await
}

async fn create(h: &SimHandle, pairs: &[(&str, &str)]) -> Node {
    call(h, "create", pairs).await
}

/// Join and return the redirect target.
async fn join(h: &SimHandle, pairs: &[(&str, &str)]) -> String {
    let resp = client()
        .get(signed(h, "join", &q(pairs), Sha256, SECRET))
        .send()
        .await
        .expect("join");
    assert_eq!(resp.status(), 302, "join redirects");
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_string()
}

fn assert_failed(x: &Node, key: &str) {
    assert_eq!(x.get("returncode"), "FAILED", "{x:?}");
    assert_eq!(x.get("messageKey"), key, "{x:?}");
}

fn redirect_error_key(location: &str) -> String {
    let url = url::Url::parse(location).expect("url");
    let errors = url
        .query_pairs()
        .find(|(k, _)| k == "errors")
        .map(|(_, v)| v.into_owned())
        .expect("errors param");
    let v: serde_json::Value = serde_json::from_str(&errors).expect("json");
    v[0]["key"].as_str().expect("key").to_string()
}

// ----- checksum (§1) -----

#[tokio::test]
async fn version_needs_no_checksum() {
    let h = start(SimConfig::new(SECRET)).await;
    for url in [
        format!(
            "{}bigbluebutton/api",
            h.server_url().trim_end_matches('/').to_string() + "/"
        ),
        h.base_url(),
        format!("{}?checksum=whatever", h.base_url()),
    ] {
        let x = get_xml(&url).await;
        assert_eq!(x.get("returncode"), "SUCCESS");
        assert_eq!(x.get("version"), "2.0");
        assert_eq!(x.get("apiVersion"), "2.0");
    }
}

#[tokio::test]
async fn wrong_secret_or_missing_checksum_is_refused() {
    let h = start(SimConfig::new(SECRET)).await;
    let query = q(&[("name", "Room"), ("meetingID", "room-1")]);
    let x = get_xml(&signed(&h, "create", &query, Sha256, "not-the-secret")).await;
    assert_failed(&x, "checksumError");
    assert_eq!(x.get("message"), "Checksums do not match");
    assert_eq!(x.names(), ["returncode", "messageKey", "message"]);

    let x = get_xml(&format!("{}create?{query}", h.base_url())).await;
    assert_failed(&x, "checksumError");
    assert_eq!(x.get("message"), "You must provide the checksum");

    // signed for another call
    let sum = sign_query(Sha256, "join", &query, SECRET);
    let x = get_xml(&format!("{}create?{sum}", h.base_url())).await;
    assert_failed(&x, "checksumError");

    // recordings use the legacy message
    let x = get_xml(&signed(&h, "getRecordings", "", Sha1, "nope")).await;
    assert_failed(&x, "checksumError");
    assert_eq!(
        x.get("message"),
        "You did not pass the checksum security check"
    );
    assert!(h.simulator.meetings().is_empty());
}

#[tokio::test]
async fn algorithm_outside_allowed_list_is_refused() {
    let h = start(SimConfig::new(SECRET).with_allowed(&[Sha256, Sha512])).await;
    for (algo, ok) in [
        (Sha1, false),
        (Sha256, true),
        (Sha384, false),
        (Sha512, true),
    ] {
        let x = get_xml(&signed(&h, "getMeetings", "", algo, SECRET)).await;
        let expected = if ok { "SUCCESS" } else { "FAILED" };
        assert_eq!(x.get("returncode"), expected, "{algo}");
        if !ok {
            assert_eq!(x.get("messageKey"), "checksumError");
        }
    }
}

#[tokio::test]
async fn every_algorithm_accepted_when_allowed() {
    let h = start(SimConfig::new(SECRET)).await;
    for (i, algo) in ChecksumAlgorithm::ALL.into_iter().enumerate() {
        let id = format!("algo-{i}");
        let query = q(&[("name", "Algorithms"), ("meetingID", &id)]);
        let x = get_xml(&signed(&h, "create", &query, algo, SECRET)).await;
        assert_eq!(x.get("returncode"), "SUCCESS", "{algo}");
        // upper-case hex too
        let sum = schedulight::bbb::checksum::checksum(
            algo,
            "isMeetingRunning",
            &format!("meetingID={id}"),
            SECRET,
        );
        let url = format!(
            "{}isMeetingRunning?meetingID={id}&checksum={}",
            h.base_url(),
            sum.to_uppercase()
        );
        assert_eq!(
            get_xml(&url).await.get("returncode"),
            "SUCCESS",
            "{algo} upper"
        );
    }
    assert_eq!(h.simulator.meetings().len(), 4);
}

#[tokio::test]
async fn plus_and_percent_twenty_both_work_when_hash_and_url_agree() {
    let h = start(SimConfig::new(SECRET)).await;
    let plus = "name=Test+Meeting&meetingID=space-plus";
    let pct = "name=Test%20Meeting&meetingID=space-pct";
    for query in [plus, pct] {
        let x = get_xml(&signed(&h, "create", query, Sha1, SECRET)).await;
        assert_eq!(x.get("returncode"), "SUCCESS", "{query}");
    }
    for m in h.simulator.meetings() {
        assert_eq!(m.name, "Test Meeting");
    }
    // hashed with '+', sent with '%20': the server hashes the raw string and refuses
    let sum = schedulight::bbb::checksum::checksum(
        Sha1,
        "create",
        "name=Other+Room&meetingID=mix",
        SECRET,
    );
    let url = format!(
        "{}create?name=Other%20Room&meetingID=mix&checksum={sum}",
        h.base_url()
    );
    assert_failed(&get_xml(&url).await, "checksumError");
}

#[tokio::test]
async fn unknown_call_is_a_clear_failure() {
    let h = start(SimConfig::new(SECRET)).await;
    let x = get_xml(&signed(&h, "frobnicate", "", Sha1, SECRET)).await;
    assert_failed(&x, "unsupportedRequest");
}

// ----- create (§2.1, §3) -----

#[tokio::test]
async fn create_response_and_idempotency() {
    let h = start(SimConfig::new(SECRET)).await;
    let x = create(
        &h,
        &[
            ("name", "Room"),
            ("meetingID", "Test"),
            ("meta_bbb-origin", "schedulight"),
        ],
    )
    .await;
    assert_eq!(
        x.names(),
        [
            "returncode",
            "meetingID",
            "internalMeetingID",
            "parentMeetingID",
            "attendeePW",
            "moderatorPW",
            "createTime",
            "voiceBridge",
            "dialNumber",
            "createDate",
            "hasUserJoined",
            "duration",
            "hasBeenForciblyEnded",
            "messageKey",
            "message"
        ]
    );
    let create_time = x.get("createTime");
    assert_eq!(
        x.get("internalMeetingID"),
        format!("640ab2bae07bedc4c163f679a746f7ab7fb5d1fa-{create_time}")
    );
    assert_eq!(x.get("parentMeetingID"), "bbb-none");
    assert_eq!(x.get("attendeePW").len(), 8);
    assert_eq!(x.get("moderatorPW").len(), 8);
    assert!(
        x.get("attendeePW")
            .chars()
            .all(|c| c.is_ascii_alphanumeric())
    );
    let vb = x.get("voiceBridge");
    assert!(
        vb.len() == 5 && vb.chars().all(|c| c.is_ascii_digit()),
        "{vb}"
    );
    assert_eq!(x.get("dialNumber"), "613-555-1234");
    assert!(x.get("createDate").ends_with(" UTC ") || x.get("createDate").contains(" UTC "));
    assert_eq!(x.get("messageKey"), "");

    // no passwords: duplicate with the existing data
    let again = create(&h, &[("name", "Room"), ("meetingID", "Test")]).await;
    assert_eq!(again.get("returncode"), "SUCCESS");
    assert_eq!(again.get("messageKey"), "duplicateWarning");
    assert_eq!(
        again.get("message"),
        "This conference was already in existence and may currently be in progress."
    );
    assert_eq!(again.get("createTime"), create_time);
    assert_eq!(again.get("moderatorPW"), x.get("moderatorPW"));

    // same passwords: duplicate; other passwords: idNotUnique
    let (ap, mp) = (x.get("attendeePW"), x.get("moderatorPW"));
    let same = create(
        &h,
        &[
            ("name", "Room"),
            ("meetingID", "Test"),
            ("attendeePW", &ap),
            ("moderatorPW", &mp),
        ],
    )
    .await;
    assert_eq!(same.get("messageKey"), "duplicateWarning");
    let other = create(
        &h,
        &[
            ("name", "Room"),
            ("meetingID", "Test"),
            ("attendeePW", "x"),
            ("moderatorPW", &mp),
        ],
    )
    .await;
    assert_failed(&other, "idNotUnique");
    assert_eq!(
        other.get("message"),
        "A meeting already exists with that meeting ID.  Please use a different meeting ID."
    );
    assert_eq!(h.simulator.meetings().len(), 1);
}

#[tokio::test]
async fn create_validation() {
    let h = start(SimConfig::new(SECRET)).await;
    assert_failed(
        &create(&h, &[("name", "Room")]).await,
        "missingParamMeetingID",
    );
    let x = create(&h, &[("name", "Room"), ("meetingID", "a")]).await;
    assert_failed(&x, "validationError");
    assert_eq!(
        x.get("message"),
        "Meeting ID must be between 2 and 256 characters"
    );
    let x = create(&h, &[("name", "Room"), ("meetingID", "a,b")]).await;
    assert_eq!(x.get("message"), "Meeting ID cannot contain ','");
    assert_failed(
        &create(&h, &[("meetingID", "no-name")]).await,
        "validationError",
    );
    let x = create(
        &h,
        &[("name", "Room"), ("meetingID", "rec"), ("record", "yes")],
    )
    .await;
    assert_eq!(
        x.get("message"),
        "Record must be a boolean value (true or false)"
    );
    // voice bridge in use by another live meeting
    create(
        &h,
        &[
            ("name", "Room"),
            ("meetingID", "vb-1"),
            ("voiceBridge", "70123"),
        ],
    )
    .await;
    let x = create(
        &h,
        &[
            ("name", "Room"),
            ("meetingID", "vb-2"),
            ("voiceBridge", "70123"),
        ],
    )
    .await;
    assert_eq!(x.get("returncode"), "FAILED");
    assert_eq!(x.get("errors/error/key"), "nonUniqueVoiceBridge");
}

#[tokio::test]
async fn create_by_post() {
    let h = start(SimConfig::new(SECRET)).await;
    let http = client();
    // query signed, extra params in a form body
    let url = signed(
        &h,
        "create",
        &q(&[("meetingID", "post-form")]),
        Sha256,
        SECRET,
    );
    let resp = http
        .post(&url)
        .form(&[("name", "Form Room"), ("meta_course", "maths")])
        .send()
        .await
        .expect("post");
    let x = parse_xml(&resp.text().await.expect("body"));
    assert_eq!(x.get("returncode"), "SUCCESS", "{x:?}");
    let m = h.simulator.meeting("post-form").expect("meeting");
    assert_eq!(m.name, "Form Room");
    assert_eq!(m.metadata.get("course").map(String::as_str), Some("maths"));

    // everything in the body, checksum over the sorted parameter map (2.x)
    let body_params = [("name", "Body Room"), ("meetingID", "post-body")];
    let mut sorted = body_params.to_vec();
    sorted.sort();
    let sum = schedulight::bbb::checksum::checksum(Sha1, "create", &q(&sorted), SECRET);
    let mut form = body_params.to_vec();
    form.push(("checksum", &sum));
    let resp = http
        .post(format!("{}create", h.base_url()))
        .form(&form)
        .send()
        .await
        .expect("post");
    let x = parse_xml(&resp.text().await.expect("body"));
    assert_eq!(x.get("returncode"), "SUCCESS", "{x:?}");

    // XML modules body: parameters stay in the query
    let url = signed(
        &h,
        "create",
        &q(&[("name", "Xml Room"), ("meetingID", "post-xml")]),
        Sha256,
        SECRET,
    );
    let modules = r#"<modules><module name="presentation"><document url="https://example.invalid/a.pdf" filename="a.pdf"/></module></modules>"#;
    let resp = http
        .post(&url)
        .header("content-type", "application/xml")
        .body(modules)
        .send()
        .await
        .expect("post");
    assert_eq!(
        parse_xml(&resp.text().await.expect("body")).get("returncode"),
        "SUCCESS"
    );

    // unsupported content type
    let url = signed(
        &h,
        "create",
        &q(&[("name", "Plain"), ("meetingID", "post-plain")]),
        Sha256,
        SECRET,
    );
    let resp = http
        .post(&url)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .expect("post");
    assert_failed(
        &parse_xml(&resp.text().await.expect("body")),
        "unsupportedContentType",
    );

    // the same parameter in URL and body breaks the checksum
    let url = signed(
        &h,
        "create",
        &q(&[("name", "Dup"), ("meetingID", "post-dup")]),
        Sha256,
        SECRET,
    );
    let resp = http
        .post(&url)
        .form(&[("name", "Dup")])
        .send()
        .await
        .expect("post");
    assert_failed(
        &parse_xml(&resp.text().await.expect("body")),
        "checksumError",
    );
}

// ----- join, running, info (§2.2–§2.6) -----

#[tokio::test]
async fn join_redirects_registers_and_makes_meeting_running() {
    let h = start(SimConfig::new(SECRET)).await;
    let x = create(
        &h,
        &[
            ("name", "Join Room"),
            ("meetingID", "join-1"),
            ("attendeePW", "ap"),
            ("moderatorPW", "mp"),
        ],
    )
    .await;
    let ct = x.get("createTime");
    let running = call(&h, "isMeetingRunning", &[("meetingID", "join-1")]).await;
    assert_eq!(running.names(), ["returncode", "running"]);
    assert_eq!(running.get("running"), "false");

    let location = join(
        &h,
        &[
            ("fullName", "Alice Mod"),
            ("meetingID", "join-1"),
            ("role", "moderator"),
            ("createTime", &ct),
        ],
    )
    .await;
    assert!(
        location.starts_with(&format!(
            "{}/html5client/join?sessionToken=",
            h.server_url()
        )),
        "{location}"
    );
    let page = client().get(&location).send().await.expect("client page");
    assert_eq!(page.status(), 200);

    // legacy password join, XML answer
    let url = signed(
        &h,
        "join",
        &q(&[
            ("fullName", "Bob Viewer"),
            ("meetingID", "join-1"),
            ("password", "ap"),
            ("redirect", "false"),
            ("userdata-bbb_auto_join_audio", "true"),
        ]),
        Sha1,
        SECRET,
    );
    let x = get_xml(&url).await;
    assert_eq!(
        x.names(),
        [
            "returncode",
            "messageKey",
            "message",
            "meeting_id",
            "user_id",
            "auth_token",
            "session_token",
            "guestStatus",
            "url"
        ]
    );
    assert_eq!(x.get("messageKey"), "successfullyJoined");
    assert_eq!(x.get("message"), "You have joined successfully.");
    assert!(x.get("user_id").starts_with("w_") && x.get("user_id").len() == 14);
    assert_eq!(x.get("auth_token").len(), 12);
    assert_eq!(x.get("session_token").len(), 16);
    assert_eq!(x.get("guestStatus"), "ALLOW");
    assert!(x.get("url").ends_with(&x.get("session_token")));

    assert_eq!(
        call(&h, "isMeetingRunning", &[("meetingID", "join-1")])
            .await
            .get("running"),
        "true"
    );
    let info = call(&h, "getMeetingInfo", &[("meetingID", "join-1")]).await;
    assert_eq!(
        info.names(),
        [
            "returncode",
            "meetingName",
            "meetingID",
            "internalMeetingID",
            "createTime",
            "createDate",
            "voiceBridge",
            "dialNumber",
            "attendeePW",
            "moderatorPW",
            "running",
            "duration",
            "hasUserJoined",
            "recording",
            "hasBeenForciblyEnded",
            "startTime",
            "endTime",
            "participantCount",
            "listenerCount",
            "voiceParticipantCount",
            "videoCount",
            "maxUsers",
            "moderatorCount",
            "attendees",
            "metadata",
            "isBreakout"
        ]
    );
    assert_eq!(info.get("participantCount"), "2");
    assert_eq!(info.get("moderatorCount"), "1");
    assert_eq!(info.get("hasUserJoined"), "true");
    assert_eq!(info.get("endTime"), "0");
    let attendees = info.child("attendees").expect("attendees").all("attendee");
    assert_eq!(attendees.len(), 2);
    assert_eq!(attendees[0].get("fullName"), "Alice Mod");
    assert_eq!(attendees[0].get("role"), "MODERATOR");
    assert_eq!(attendees[0].get("isPresenter"), "true");
    assert_eq!(attendees[1].get("role"), "VIEWER");
    assert_eq!(attendees[1].get("customdata/bbb_auto_join_audio"), "true");

    let all = call(&h, "getMeetings", &[]).await;
    let meetings = all.child("meetings").expect("meetings").all("meeting");
    assert_eq!(meetings.len(), 1);
    assert_eq!(meetings[0].get("meetingName"), "Join Room");
}

#[tokio::test]
async fn join_errors() {
    let h = start(SimConfig::new(SECRET)).await;
    create(
        &h,
        &[
            ("name", "Err Room"),
            ("meetingID", "err-1"),
            ("attendeePW", "ap"),
            ("moderatorPW", "mp"),
            ("maxParticipants", "1"),
        ],
    )
    .await;

    // unknown meeting: redirect with the error
    let loc = join(
        &h,
        &[
            ("fullName", "X"),
            ("meetingID", "nope-1"),
            ("role", "viewer"),
        ],
    )
    .await;
    assert_eq!(redirect_error_key(&loc), "notFound");
    // old link from an earlier run
    let loc = join(
        &h,
        &[
            ("fullName", "X"),
            ("meetingID", "err-1"),
            ("role", "viewer"),
            ("createTime", "12345"),
        ],
    )
    .await;
    assert_eq!(redirect_error_key(&loc), "mismatchCreateTimeParam");
    // wrong password: XML
    let x = get_xml(&signed(
        &h,
        "join",
        &q(&[
            ("fullName", "X"),
            ("meetingID", "err-1"),
            ("password", "bad"),
        ]),
        Sha256,
        SECRET,
    ))
    .await;
    assert_failed(&x, "Params required");
    assert_eq!(x.get("message"), "You must enter a valid password");
    let x = get_xml(&signed(
        &h,
        "join",
        &q(&[("fullName", "X"), ("meetingID", "err-1")]),
        Sha256,
        SECRET,
    ))
    .await;
    assert_failed(&x, "Params required");
    // checksum errors are XML, not redirects
    let x = get_xml(&signed(
        &h,
        "join",
        &q(&[
            ("fullName", "X"),
            ("meetingID", "err-1"),
            ("role", "viewer"),
        ]),
        Sha256,
        "bad",
    ))
    .await;
    assert_failed(&x, "checksumError");

    // maxParticipants: counted on external user ids; the same id may rejoin
    join(
        &h,
        &[
            ("fullName", "First"),
            ("meetingID", "err-1"),
            ("role", "viewer"),
            ("userID", "u1"),
        ],
    )
    .await;
    // errors go to the join request's logoutURL (else the server default), as respondWithRedirect does
    let loc = join(
        &h,
        &[
            ("fullName", "Second"),
            ("meetingID", "err-1"),
            ("role", "viewer"),
            ("userID", "u2"),
        ],
    )
    .await;
    assert!(
        loc.starts_with(&format!("{}?errors=", h.server_url())),
        "{loc}"
    );
    assert_eq!(redirect_error_key(&loc), "maxParticipantsReached");
    let loc = join(
        &h,
        &[
            ("fullName", "Second"),
            ("meetingID", "err-1"),
            ("role", "viewer"),
            ("userID", "u2"),
            ("logoutURL", "https://logout.example.invalid/bye"),
        ],
    )
    .await;
    assert!(
        loc.starts_with("https://logout.example.invalid/bye?errors="),
        "{loc}"
    );
    assert_eq!(redirect_error_key(&loc), "maxParticipantsReached");
    let loc = join(
        &h,
        &[
            ("fullName", "First again"),
            ("meetingID", "err-1"),
            ("role", "viewer"),
            ("userID", "u1"),
        ],
    )
    .await;
    assert!(loc.contains("/html5client/join?sessionToken="));

    // guest policy
    create(
        &h,
        &[
            ("name", "Deny"),
            ("meetingID", "deny-1"),
            ("guestPolicy", "ALWAYS_DENY"),
        ],
    )
    .await;
    let loc = join(
        &h,
        &[
            ("fullName", "G"),
            ("meetingID", "deny-1"),
            ("role", "viewer"),
            ("guest", "true"),
        ],
    )
    .await;
    assert_eq!(redirect_error_key(&loc), "guestDeniedAccess");
    let loc = join(
        &h,
        &[
            ("fullName", "M"),
            ("meetingID", "deny-1"),
            ("role", "moderator"),
            ("guest", "true"),
        ],
    )
    .await;
    assert!(
        loc.contains("/html5client/join?sessionToken="),
        "moderators always pass"
    );

    create(
        &h,
        &[
            ("name", "Ask"),
            ("meetingID", "ask-1"),
            ("guestPolicy", "ASK_MODERATOR"),
        ],
    )
    .await;
    let x = get_xml(&signed(
        &h,
        "join",
        &q(&[
            ("fullName", "G"),
            ("meetingID", "ask-1"),
            ("role", "viewer"),
            ("guest", "true"),
            ("redirect", "false"),
        ]),
        Sha256,
        SECRET,
    ))
    .await;
    assert_eq!(x.get("messageKey"), "guestWait");
    assert_eq!(x.get("guestStatus"), "WAIT");
    assert!(
        x.get("url")
            .contains("/html5client/guestWait?sessionToken=")
    );
    assert_eq!(
        call(&h, "isMeetingRunning", &[("meetingID", "ask-1")])
            .await
            .get("running"),
        "false"
    );
}

// ----- state rules on the clock (§4) -----

#[tokio::test]
async fn meeting_expires_when_nobody_joins() {
    let h = start(SimConfig::new(SECRET)).await;
    create(&h, &[("name", "Idle"), ("meetingID", "idle-1")]).await;
    create(
        &h,
        &[
            ("name", "Idle ten"),
            ("meetingID", "idle-10"),
            ("meetingExpireIfNoUserJoinedInMinutes", "10"),
        ],
    )
    .await;
    h.simulator.advance(Duration::from_secs(4 * 60));
    assert_eq!(
        call(&h, "getMeetingInfo", &[("meetingID", "idle-1")])
            .await
            .get("returncode"),
        "SUCCESS"
    );
    h.simulator.advance(Duration::from_secs(61 + 1));
    assert_failed(
        &call(&h, "getMeetingInfo", &[("meetingID", "idle-1")]).await,
        "notFound",
    );
    assert_eq!(
        call(&h, "getMeetingInfo", &[("meetingID", "idle-10")])
            .await
            .get("returncode"),
        "SUCCESS"
    );
    h.simulator.advance(Duration::from_secs(5 * 60));
    assert_failed(
        &call(&h, "getMeetingInfo", &[("meetingID", "idle-10")]).await,
        "notFound",
    );
}

#[tokio::test]
async fn meeting_ends_after_last_user_left_and_after_duration() {
    let h = start(SimConfig::new(SECRET)).await;
    let sim = &h.simulator;
    create(&h, &[("name", "Leave"), ("meetingID", "leave-1")]).await;
    let user = sim
        .add_participant("leave-1", "Ann", schedulight::bbb::Role::Moderator)
        .expect("add");
    sim.advance(Duration::from_secs(30 * 60));
    assert!(
        sim.meeting("leave-1").expect("live").running(),
        "users present: no expiry"
    );
    sim.remove_participant("leave-1", &user).expect("remove");
    let m = sim.meeting("leave-1").expect("still there");
    assert!(!m.running());
    assert_eq!(m.end_time, sim.now_ms());
    sim.advance(Duration::from_secs(60));
    assert!(sim.meeting("leave-1").is_some(), "1 minute is not past yet");
    sim.advance(Duration::from_secs(1));
    assert!(
        sim.meeting("leave-1").is_none(),
        "ended 1 minute after the last user left"
    );

    // meetingExpireWhenLastUserLeftInMinutes=0 ends at once
    create(
        &h,
        &[
            ("name", "Zero"),
            ("meetingID", "zero-1"),
            ("meetingExpireWhenLastUserLeftInMinutes", "0"),
        ],
    )
    .await;
    let u = sim
        .add_participant("zero-1", "Z", schedulight::bbb::Role::Viewer)
        .expect("add");
    sim.remove_participant("zero-1", &u).expect("remove");
    assert!(sim.meeting("zero-1").is_none());

    // duration counts from creation, users or not
    create(
        &h,
        &[
            ("name", "Short"),
            ("meetingID", "short-1"),
            ("duration", "2"),
        ],
    )
    .await;
    sim.add_participant("short-1", "S", schedulight::bbb::Role::Viewer)
        .expect("add");
    sim.advance(Duration::from_secs(2 * 60 + 1));
    assert_failed(
        &call(&h, "getMeetingInfo", &[("meetingID", "short-1")]).await,
        "notFound",
    );
}

#[tokio::test]
async fn end_then_not_found_and_create_makes_a_new_meeting() {
    let h = start(SimConfig::new(SECRET)).await;
    let first = create(&h, &[("name", "Again"), ("meetingID", "again-1")]).await;
    join(
        &h,
        &[
            ("fullName", "A"),
            ("meetingID", "again-1"),
            ("role", "moderator"),
        ],
    )
    .await;
    let x = call(
        &h,
        "end",
        &[("meetingID", "again-1"), ("password", "ignored")],
    )
    .await;
    assert_eq!(x.get("returncode"), "SUCCESS");
    assert_eq!(x.get("messageKey"), "sentEndMeetingRequest");
    let info = call(&h, "getMeetingInfo", &[("meetingID", "again-1")]).await;
    assert_failed(&info, "notFound");
    assert_eq!(info.get("message"), "A meeting with that ID does not exist");
    assert_eq!(
        call(&h, "isMeetingRunning", &[("meetingID", "again-1")])
            .await
            .get("running"),
        "false"
    );
    assert_failed(
        &call(&h, "end", &[("meetingID", "again-1")]).await,
        "notFound",
    );
    let meetings = call(&h, "getMeetings", &[]).await;
    assert_eq!(meetings.get("messageKey"), "noMeetings");
    assert!(
        meetings
            .child("meetings")
            .is_some_and(|m| m.children.is_empty())
    );

    let second = create(&h, &[("name", "Again"), ("meetingID", "again-1")]).await;
    assert_eq!(second.get("messageKey"), "");
    assert_ne!(
        second.get("internalMeetingID"),
        first.get("internalMeetingID")
    );
    assert!(second.get("createTime") > first.get("createTime"));
}

// ----- recordings (§2.7, §2.8) -----

#[tokio::test]
async fn recording_appears_after_end() {
    let h = start(SimConfig::new(SECRET)).await;
    let sim = &h.simulator;
    for (id, course) in [("rec-a", "maths"), ("rec-b", "physics"), ("rec-c", "maths")] {
        create(
            &h,
            &[
                ("name", "Rec Room"),
                ("meetingID", id),
                ("record", "true"),
                ("meta_course", course),
            ],
        )
        .await;
        sim.add_participant(id, "P", schedulight::bbb::Role::Moderator)
            .expect("add");
        sim.advance(Duration::from_secs(90));
    }
    create(&h, &[("name", "No rec"), ("meetingID", "rec-none")]).await;
    assert_eq!(
        call(&h, "getRecordings", &[]).await.get("messageKey"),
        "noRecordings"
    );
    for id in ["rec-a", "rec-b", "rec-c", "rec-none"] {
        call(&h, "end", &[("meetingID", id)]).await;
    }
    let all = call(&h, "getRecordings", &[]).await;
    let recs = all
        .child("recordings")
        .expect("recordings")
        .all("recording");
    assert_eq!(recs.len(), 3);
    let a = recs[0];
    assert_eq!(
        a.names(),
        [
            "recordID",
            "meetingID",
            "internalMeetingID",
            "name",
            "isBreakout",
            "published",
            "state",
            "startTime",
            "endTime",
            "participants",
            "protected",
            "metadata",
            "playback"
        ]
    );
    assert_eq!(a.get("meetingID"), "rec-a");
    assert_eq!(a.get("recordID"), a.get("internalMeetingID"));
    assert_eq!(a.get("published"), "true");
    assert_eq!(a.get("state"), "published");
    assert_eq!(a.get("participants"), "1");
    assert_eq!(a.get("metadata/course"), "maths");
    assert_eq!(a.get("metadata/meetingId"), "rec-a");
    assert_eq!(a.get("playback/format/type"), "presentation");
    assert!(
        a.get("playback/format/url")
            .ends_with(&format!("/playback/presentation/2.3/{}", a.get("recordID")))
    );
    let rec_a = a.get("recordID");
    let rec_b = recs[1].get("recordID");

    let count = |x: &Node| {
        x.child("recordings")
            .map(|r| r.all("recording").len())
            .unwrap_or(0)
    };
    assert_eq!(
        count(&call(&h, "getRecordings", &[("meetingID", "rec-a,rec-b")]).await),
        2
    );
    assert_eq!(
        count(&call(&h, "getRecordings", &[("meta_course", "maths")]).await),
        2
    );
    assert_eq!(
        count(&call(&h, "getRecordings", &[("recordID", &rec_a[..40])]).await),
        1,
        "prefix match"
    );
    assert_eq!(
        count(&call(&h, "getRecordings", &[("offset", "1"), ("limit", "1")]).await),
        1
    );
    assert_eq!(
        count(&call(&h, "getRecordings", &[("meetingID", ""), ("recordID", "")]).await),
        3
    );

    let x = call(
        &h,
        "publishRecordings",
        &[("recordID", &rec_a), ("publish", "false")],
    )
    .await;
    assert_eq!(x.get("published"), "false");
    assert_eq!(
        count(&call(&h, "getRecordings", &[("state", "published")]).await),
        2
    );
    assert_eq!(
        count(&call(&h, "getRecordings", &[]).await),
        3,
        "default: published + unpublished"
    );
    let x = call(
        &h,
        "updateRecordings",
        &[("recordID", &rec_a), ("meta_course", "chemistry")],
    )
    .await;
    assert_eq!(x.get("updated"), "true");
    assert_eq!(
        count(&call(&h, "getRecordings", &[("meta_course", "chemistry")]).await),
        1
    );
    let x = call(&h, "deleteRecordings", &[("recordID", &rec_b)]).await;
    assert_eq!(x.get("deleted"), "true");
    assert_eq!(count(&call(&h, "getRecordings", &[]).await), 2);
    assert_eq!(
        count(&call(&h, "getRecordings", &[("state", "any")]).await),
        3
    );
    assert_eq!(
        count(&call(&h, "getRecordings", &[("state", "deleted")]).await),
        1
    );

    assert_failed(
        &call(&h, "publishRecordings", &[("publish", "true")]).await,
        "missingParamRecordID",
    );
    assert_failed(
        &call(&h, "publishRecordings", &[("recordID", &rec_a)]).await,
        "missingParamPublish",
    );
    let x = call(&h, "deleteRecordings", &[("recordID", "nope")]).await;
    assert_failed(&x, "notFound");
    assert_eq!(x.get("message"), "We could not find recordings");
}

// ----- callbacks (§3) -----

#[derive(Debug)]
enum Received {
    End(String),
    Ready(HashMap<String, String>),
}

async fn callback_receiver() -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new()
        .route(
            "/end",
            get(|State(tx): State<mpsc::UnboundedSender<Received>>, RawQuery(q): RawQuery| async move {
                let _ = tx.send(Received::End(q.unwrap_or_default()));
                "ok"
            }),
        )
        .route(
            "/ready",
            post(|State(tx): State<mpsc::UnboundedSender<Received>>, Form(f): Form<HashMap<String, String>>| async move {
                let _ = tx.send(Received::Ready(f));
                "ok"
            }),
        )
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, rx)
}

/// Verify an HS256 JWT independently of the simulator's code; return its claims.
fn verify_jwt(token: &str, secret: &str) -> serde_json::Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "JWT has three parts");
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("json");
    assert_eq!(header["alg"], "HS256");
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
    mac.verify_slice(&URL_SAFE_NO_PAD.decode(parts[2]).expect("b64"))
        .expect("valid signature");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("claims")
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("callback in time")
        .expect("open")
}

#[tokio::test]
async fn end_and_recording_ready_callbacks_reach_a_loopback_receiver() {
    let (addr, mut rx) = callback_receiver().await;
    let mut config = SimConfig::new(SECRET);
    config.recording_processing = Duration::from_secs(120);
    let h = start(config).await;
    let end_url = format!("http://{addr}/end?room=x%2Fy");
    let ready_url = format!("http://{addr}/ready");
    create(
        &h,
        &[
            ("name", "Callback Room"),
            ("meetingID", "cb room 1"),
            ("record", "true"),
            ("meta_endCallbackUrl", &end_url),
            ("meta_bbb-recording-ready-url", &ready_url),
        ],
    )
    .await;
    let internal = h
        .simulator
        .meeting("cb room 1")
        .expect("meeting")
        .internal_meeting_id;
    join(
        &h,
        &[
            ("fullName", "A"),
            ("meetingID", "cb room 1"),
            ("role", "moderator"),
        ],
    )
    .await;
    call(&h, "end", &[("meetingID", "cb room 1")]).await;

    match next(&mut rx).await {
        Received::End(q) => {
            assert_eq!(q, "room=x%2Fy&recordingmarks=true&meetingID=cb+room+1");
        }
        other => panic!("expected the end callback first, got {other:?}"),
    }
    // still processing: not listed by default, and no ready callback yet
    assert_eq!(
        call(&h, "getRecordings", &[]).await.get("messageKey"),
        "noRecordings"
    );
    assert_eq!(
        call(&h, "getRecordings", &[("state", "processing")])
            .await
            .get("recordings/recording/state"),
        "processing"
    );
    h.simulator.advance(Duration::from_secs(121));
    match next(&mut rx).await {
        Received::Ready(form) => {
            let claims = verify_jwt(
                form.get("signed_parameters").expect("signed_parameters"),
                SECRET,
            );
            assert_eq!(claims["meeting_id"], "cb room 1");
            assert_eq!(claims["record_id"], internal.as_str());
        }
        other => panic!("expected the ready callback, got {other:?}"),
    }
    // the log is updated right after the receiver answered
    let deadline = Instant::now() + Duration::from_secs(5);
    let log = loop {
        let log = h.simulator.callback_log();
        if log.iter().all(|r| r.done) || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(log.len(), 2);
    assert!(
        log.iter().all(|r| r.status == Some(200) && r.attempts == 1),
        "{log:?}"
    );
}

#[tokio::test]
async fn background_tick_publishes_and_expires_without_api_calls() {
    let (addr, mut rx) = callback_receiver().await;
    let mut config = SimConfig::new(SECRET);
    config.recording_processing = Duration::from_millis(300);
    let h = start(config).await;
    let ready_url = format!("http://{addr}/ready");
    create(
        &h,
        &[
            ("name", "Tick Room"),
            ("meetingID", "tick-1"),
            ("record", "true"),
            ("meta_bbb-recording-ready-url", &ready_url),
            ("meetingExpireIfNoUserJoinedInMinutes", "0"),
        ],
    )
    .await;
    // expires on its own (no user joined, 0 minutes), then processing finishes on real time
    assert!(matches!(next(&mut rx).await, Received::Ready(_)));
    assert!(h.simulator.meetings().is_empty());
    assert_eq!(h.simulator.recordings()[0].state, "published");
}

// ----- control API and faults -----

#[tokio::test]
async fn control_api_over_http() {
    let h = start(SimConfig::new(SECRET)).await;
    let http = client();
    let sim_url = |p: &str| format!("{}/sim/{p}", h.server_url());
    create(&h, &[("name", "Ctl Room"), ("meetingID", "ctl room")]).await;
    let resp = http
        .post(sim_url("meetings/ctl%20room/participants"))
        .json(&serde_json::json!({"name": "Carol", "role": "MODERATOR"}))
        .send()
        .await
        .expect("add");
    assert_eq!(resp.status(), 201);
    let user: serde_json::Value = resp.json().await.expect("json");
    let user_id = user["user_id"].as_str().expect("user id").to_string();
    assert_eq!(
        call(&h, "isMeetingRunning", &[("meetingID", "ctl room")])
            .await
            .get("running"),
        "true"
    );

    let meetings: serde_json::Value = http
        .get(sim_url("meetings"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(meetings[0]["meeting_id"], "ctl room");
    assert_eq!(meetings[0]["participants"][0]["full_name"], "Carol");
    assert_eq!(meetings[0]["create_params"][0][0], "name");

    let resp = http
        .delete(sim_url(&format!(
            "meetings/ctl%20room/participants/{user_id}"
        )))
        .send()
        .await
        .expect("remove");
    assert_eq!(resp.status(), 204);
    let resp = http
        .delete(sim_url(&format!(
            "meetings/ctl%20room/participants/{user_id}"
        )))
        .send()
        .await
        .expect("remove");
    assert_eq!(resp.status(), 404);
    let resp = http
        .post(sim_url("meetings/none/participants"))
        .json(&serde_json::json!({"name": "X"}))
        .send()
        .await
        .expect("add");
    assert_eq!(resp.status(), 404);

    // clock: 61 s after the last user left the meeting is gone
    let before: serde_json::Value = http
        .get(sim_url("clock"))
        .send()
        .await
        .expect("clock")
        .json()
        .await
        .expect("json");
    let after: serde_json::Value = http
        .post(sim_url("clock/advance"))
        .json(&serde_json::json!({"seconds": 61}))
        .send()
        .await
        .expect("advance")
        .json()
        .await
        .expect("json");
    assert!(
        after["now_ms"].as_i64().expect("ms") >= before["now_ms"].as_i64().expect("ms") + 61_000
    );
    assert_failed(
        &call(&h, "getMeetingInfo", &[("meetingID", "ctl room")]).await,
        "notFound",
    );

    // open a join URL through the control API
    create(&h, &[("name", "Ctl Two"), ("meetingID", "ctl-2")]).await;
    let url = signed(
        &h,
        "join",
        &q(&[
            ("fullName", "Dan"),
            ("meetingID", "ctl-2"),
            ("role", "viewer"),
        ]),
        Sha512,
        SECRET,
    );
    let joined: serde_json::Value = http
        .post(sim_url("join"))
        .json(&serde_json::json!({"url": url}))
        .send()
        .await
        .expect("join")
        .json()
        .await
        .expect("json");
    assert_eq!(joined["guest_status"], "ALLOW");
    assert_eq!(
        h.simulator
            .meeting("ctl-2")
            .expect("live")
            .participants
            .len(),
        1
    );
}

#[tokio::test]
async fn faults_latency_http_500_and_hang() {
    let h = start(SimConfig::new(SECRET)).await;
    let http = client();
    let sim_url = |p: &str| format!("{}/sim/{p}", h.server_url());
    let meetings_url = signed(&h, "getMeetings", "", Sha1, SECRET);

    http.post(sim_url("faults/latency"))
        .json(&serde_json::json!({"ms": 300}))
        .send()
        .await
        .expect("latency");
    let t = Instant::now();
    assert_eq!(
        http.get(&meetings_url).send().await.expect("slow").status(),
        200
    );
    assert!(t.elapsed() >= Duration::from_millis(300));
    http.delete(sim_url("faults")).send().await.expect("clear");

    http.post(sim_url("faults/fail"))
        .json(&serde_json::json!({"count": 2}))
        .send()
        .await
        .expect("fail");
    let statuses = [
        http.get(&meetings_url)
            .send()
            .await
            .expect("1")
            .status()
            .as_u16(),
        http.get(&meetings_url)
            .send()
            .await
            .expect("2")
            .status()
            .as_u16(),
        http.get(&meetings_url)
            .send()
            .await
            .expect("3")
            .status()
            .as_u16(),
    ];
    assert_eq!(statuses, [500, 500, 200]);
    http.post(sim_url("faults/fail"))
        .send()
        .await
        .expect("fail always");
    for _ in 0..3 {
        assert_eq!(
            http.get(&meetings_url).send().await.expect("x").status(),
            500
        );
    }
    // control routes keep working while the API fails
    let faults: serde_json::Value = http
        .get(sim_url("faults"))
        .send()
        .await
        .expect("faults")
        .json()
        .await
        .expect("json");
    assert_eq!(faults["fail_always"], true);
    http.delete(sim_url("faults")).send().await.expect("clear");
    assert_eq!(
        http.get(&meetings_url).send().await.expect("ok").status(),
        200
    );

    http.post(sim_url("faults/hang"))
        .send()
        .await
        .expect("hang");
    let err = http
        .get(&meetings_url)
        .timeout(Duration::from_millis(500))
        .send()
        .await
        .expect_err("hangs");
    assert!(err.is_timeout(), "{err}");
    // a request made while hanging is answered once resumed
    let pending = tokio::spawn({
        let (http, url) = (http.clone(), meetings_url.clone());
        async move { http.get(&url).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!pending.is_finished());
    http.post(sim_url("faults/resume"))
        .send()
        .await
        .expect("resume");
    assert_eq!(pending.await.expect("task").expect("answered"), 200);
}

#[tokio::test]
async fn shutdown_frees_the_port() {
    let h = start(SimConfig::new(SECRET)).await;
    let addr = h.addr;
    let url = h.base_url();
    assert_eq!(get_xml(&url).await.get("returncode"), "SUCCESS");
    h.shutdown().await;
    assert!(client().get(&url).send().await.is_err());
    tokio::net::TcpListener::bind(addr)
        .await
        .expect("port is free again");
}

// ----- third-party client -----

#[tokio::test]
async fn python_client_library_works_against_the_simulator() {
    let venv = tokio::task::spawn_blocking(schedulight::testkit::python::test_venv)
        .await
        .expect("task")
        .expect("test venv with bigbluebutton_api_python");
    let h = start(SimConfig::new(SECRET)).await;
    let script =
        schedulight::testkit::python::manifest_dir().join("tests/third_party/bbb_python_client.py");
    let mut cmd = venv.command(&script);
    cmd.arg(h.base_url()).arg(SECRET);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("task")
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python client failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    println!("{stdout}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

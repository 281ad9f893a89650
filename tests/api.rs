//! The REST API served on a free loopback port with a real SQLite store and the BBB simulator
//! over HTTP: the original's endpoints and body shapes, tokens and scopes on every route but
//! /health and /ready, one JSON error shape naming the field, no secret in any response.

mod common;

use reqwest::{Client, Method, StatusCode};
use schedulight::api::{ApiState, router};
use schedulight::bbb::HttpConnector;
use schedulight::bbb::sim::SimConfig;
use schedulight::clock::SystemClock;
use schedulight::domain::{Actor, Operation, Outcome, Scope};
use schedulight::service::{Service, ServiceSettings};
use schedulight::store::{SqlStore, Store};
use serde_json::{Value, json};
use std::sync::Arc;

struct World {
    base: String,
    http: Client,
    service: Service,
    secret: String,
    sim_url: String,
    sim: schedulight::bbb::sim::SimHandle,
    _dir: tempfile::TempDir,
}

/// Every route the API serves, with a path that matches it; each must refuse a request
/// without a token.
const PROTECTED: &[(&str, &str)] = &[
    ("GET", "/api/v1/servers"),
    ("POST", "/api/v1/servers"),
    ("GET", "/api/v1/servers/{id}"),
    ("PUT", "/api/v1/servers/{id}"),
    ("DELETE", "/api/v1/servers/{id}"),
    ("GET", "/api/v1/meetings"),
    ("POST", "/api/v1/meetings"),
    ("GET", "/api/v1/meetings/{id}"),
    ("PUT", "/api/v1/meetings/{id}"),
    ("DELETE", "/api/v1/meetings/{id}"),
    ("GET", "/api/v1/meetings/{id}/status"),
    ("DELETE", "/api/v1/meetings/{id}/status"),
    ("GET", "/api/v1/meetings/{id}/status/{step}"),
    ("PUT", "/api/v1/meetings/{id}/status/{step}"),
    ("DELETE", "/api/v1/meetings/{id}/status/{step}"),
    ("POST", "/api/v1/commands"),
    ("GET", "/api/v1/commands/{id}"),
    ("GET", "/api/v1/mails"),
    ("DELETE", "/api/v1/mails"),
    ("DELETE", "/api/v1/mails/{id}"),
    ("GET", "/api/v1/servers/{server}/rooms"),
    ("POST", "/api/v1/servers/{server}/rooms"),
    ("PUT", "/api/v1/servers/{server}/rooms/{room}"),
    ("DELETE", "/api/v1/servers/{server}/rooms/{room}"),
    ("POST", "/api/v1/servers/{server}/rooms/{room}/shares"),
    (
        "DELETE",
        "/api/v1/servers/{server}/rooms/{room}/shares/{email}",
    ),
    ("GET", "/api/v1/servers/{server}/users/{email}"),
    ("DELETE", "/api/v1/servers/{server}/users/{email}"),
    ("POST", "/api/v1/servers/{server}/users"),
    ("GET", "/api/v1/servers/{server}/recordings"),
    ("PUT", "/api/v1/servers/{server}/recordings"),
    ("DELETE", "/api/v1/servers/{server}/recordings/{record}"),
    ("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/tokens"),
    ("DELETE", "/api/v1/tokens/{name}"),
    ("GET", "/api/v1/audit"),
    ("POST", "/api/v1/retention"),
];

/// A request path for a route template.
fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{step}", "start")
        .replace("{server}", "bbb")
        .replace("{room}", "abc-def-ghi")
        .replace("{email}", "bob@uni.example")
        .replace("{record}", "abc-1")
        .replace("{name}", "ci")
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store: Arc<dyn Store> = Arc::new(SqlStore::connect(&url).await.unwrap());
    let secret = common::random_secret();
    let sim = common::serve_sim(SimConfig::new(secret.clone())).await;
    let service = Service::new(
        store,
        Arc::new(HttpConnector::new()),
        Arc::new(SystemClock),
        ServiceSettings {
            default_time_zone: jiff::tz::TimeZone::get("Europe/Vienna").unwrap(),
            ..ServiceSettings::default()
        },
    );
    schedulight::telemetry::install();
    let app = router(ApiState {
        service: service.clone(),
        metrics_public: true,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    World {
        base,
        http: Client::new(),
        service,
        secret,
        sim_url: sim.base_url().to_string(),
        sim,
        _dir: dir,
    }
}

impl World {
    async fn token(&self, name: &str, scopes: &[Scope]) -> String {
        match self
            .service
            .execute(
                &Actor::admin("test"),
                Operation::CreateToken {
                    name: name.into(),
                    scopes: scopes.to_vec(),
                },
            )
            .await
            .unwrap()
        {
            Outcome::TokenCreated { token, .. } => token,
            other => panic!("{other:?}"),
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut req = self.http.request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", self.base),
        );
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let json = headers
            .get("content-type")
            .is_some_and(|c| c.to_str().unwrap_or("").starts_with("application/json"));
        let value = if text.is_empty() {
            Value::Null
        } else if json {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
        } else {
            Value::String(text.clone())
        };
        assert!(
            !text.contains(&self.secret),
            "{method} {path} returned the BBB secret"
        );
        (status, value, headers)
    }

    /// The original README's server body, filled in.
    fn server_body(&self) -> Value {
        json!({
            "id": "server_to_use",
            "BBB_SECRET": self.secret,
            "BBB_URL": self.sim_url,
            "link_base": "https://bbb.uni.example/b",
            "mailFrom": "noreply@uni.example",
            "mailFromName": "BBB scheduling",
            "mailPassword": "smtp-password-9Zq",
            "mailServer": "smtp.uni.example",
            "mailUser": "noreply",
            "send_emails": false
        })
    }
}

fn next_year() -> i16 {
    jiff::Zoned::now().year() + 1
}

fn error_shape(v: &Value, kind: &str) {
    assert_eq!(v["error"], kind, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_health_and_ready_needs_a_token() {
    let w = world().await;
    for (method, path) in PROTECTED {
        let path = &concrete(path);
        let (status, body, headers) = w.call(method, path, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        error_shape(&body, "unauthorized");
        assert!(
            headers
                .get("www-authenticate")
                .is_some_and(|h| h.to_str().unwrap().starts_with("Bearer")),
            "{method} {path}"
        );
        let (status, _, _) = w
            .call(method, path, Some("sl_not-a-real-token"), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    for path in ["/health", "/ready"] {
        let (status, body, _) = w.call("GET", path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    // A revoked token is refused from then on.
    let token = w.token("gone", &[Scope::Read]).await;
    assert_eq!(
        w.call("GET", "/api/v1/servers", Some(&token), None).await.0,
        StatusCode::OK
    );
    w.service
        .execute(
            &Actor::admin("test"),
            Operation::RevokeToken {
                name: "gone".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        w.call("GET", "/api/v1/servers", Some(&token), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The OpenAPI document lists every route; each one that declares the token must refuse a
    // request without it (a new route is in the document because the router is built from it).
    let (status, _, _) = w.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let reader = w.token("doc", &[Scope::Read]).await;
    let (status, doc, _) = w
        .call("GET", "/api/v1/openapi.json", Some(&reader), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    // Every body is described: a free-form object tells clients (and the fuzzer) nothing.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(body) = op.get("requestBody") else {
                continue;
            };
            let schema = &body["content"]["application/json"]["schema"];
            let schema = match schema["$ref"].as_str() {
                Some(r) => &doc["components"]["schemas"][r.rsplit('/').next().unwrap()],
                None => schema,
            };
            assert!(
                schema.get("properties").is_some() || schema.get("additionalProperties").is_some(),
                "{method} {path}: the body is not described: {schema}"
            );
        }
    }
    let meeting = &doc["components"]["schemas"]["Meeting"];
    assert_eq!(meeting["properties"]["startDate"]["type"], "string");
    assert_eq!(meeting["properties"]["owner"]["required"], json!(["email"]));
    let server = &doc["components"]["schemas"]["Server"];
    assert_eq!(server["properties"]["BBB_SECRET"]["writeOnly"], true);

    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let open = op["security"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
            });
            let (status, _, _) = w
                .call(&method.to_uppercase(), &concrete(path), None, None)
                .await;
            if open {
                assert_eq!(status, StatusCode::OK, "{method} {path} is open");
            } else {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
                documented.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    let mut listed: Vec<(String, String)> = PROTECTED
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    listed.sort();
    documented.sort();
    assert_eq!(
        documented, listed,
        "the document and this test list the same routes"
    );

    // Unknown paths answer in the same error shape.
    let (status, body, _) = w.call("GET", "/api/v1/nothing", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    error_shape(&body, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_in_the_originals_shapes_without_secrets() {
    let w = world().await;
    let admin = w.token("admin", &Scope::ALL).await;
    let t = Some(admin.as_str());
    let (status, body, _) = w
        .call("POST", "/api/v1/servers", t, Some(w.server_body()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["message"], "server added");
    assert_eq!(body["data"]["id"], "server_to_use");
    let text = body.to_string();
    assert!(!text.contains("smtp-password-9Zq"), "{text}");
    // Adding it again is a conflict, not a silent overwrite.
    let (status, body, _) = w
        .call("POST", "/api/v1/servers", t, Some(w.server_body()))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    error_shape(&body, "conflict");

    let (status, body, _) = w.call("GET", "/api/v1/servers", t, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"message": "found servers", "data": ["server_to_use"]})
    );
    let (status, body, _) = w
        .call("GET", "/api/v1/servers/server_to_use", t, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["message"], "server found");
    assert!(!body.to_string().contains("smtp-password-9Zq"));

    let mut changed = w.server_body();
    changed["link_base"] = json!("https://gl.uni.example/rooms");
    let (status, body, _) = w
        .call("PUT", "/api/v1/servers/server_to_use", t, Some(changed))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], "updated server");
    let (status, body, _) = w
        .call("PUT", "/api/v1/servers/other", t, Some(w.server_body()))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "id");

    let (status, _, _) = w
        .call("DELETE", "/api/v1/servers/server_to_use", t, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body, _) = w
        .call("GET", "/api/v1/servers/server_to_use", t, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    error_shape(&body, "not_found");

    // Each change is in the audit log once, with the token as the actor.
    let (status, body, _) = w
        .call(
            "GET",
            "/api/v1/audit?actor=api:admin&object=server_to_use",
            t,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ops: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        ["remove_server", "update_server", "add_server"],
        "newest first: {body}"
    );
    let (status, body, _) = w
        .call("GET", "/api/v1/audit?since=yesterday", t, None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "since");
    let reader = w.token("reader", &[Scope::Read]).await;
    let (status, _, _) = w.call("GET", "/api/v1/audit", Some(&reader), None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the audit log needs audit:read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meetings_and_their_status() {
    let w = world().await;
    let admin = w.token("admin", &Scope::ALL).await;
    let t = Some(admin.as_str());
    w.call("POST", "/api/v1/servers", t, Some(w.server_body()))
        .await;
    // The original README's meeting, with a start in the future.
    let meeting = json!({
        "id": "meeting_1",
        "server": "server_to_use",
        "meetingName": "Lecture 1",
        "startDate": format!("{}-06-24 11:00", next_year()),
        "owner": {"email": "owner@uni.example", "fullName": "Olga Owner", "password": "owner-pass-77"},
        "endAfterMinutes": 90
    });
    let (status, body, _) = w
        .call("POST", "/api/v1/meetings", t, Some(meeting.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["message"], "meeting added");
    assert_eq!(body["data"]["meetingName"], "Lecture 1");
    assert!(!body.to_string().contains("owner-pass-77"), "{body}");
    assert!(
        body["state"]["next"]
            .as_array()
            .is_some_and(|n| !n.is_empty())
    );

    let (_, body, _) = w.call("GET", "/api/v1/meetings", t, None).await;
    assert_eq!(body["data"], json!(["meeting_1"]));
    let (status, body, _) = w.call("GET", "/api/v1/meetings/meeting_1", t, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["owner"]["email"], "owner@uni.example");
    assert!(body["data"]["owner"].get("password").is_none());

    // PUT 900 disables (the original's code), 200 enables again, others are refused.
    let (status, body, _) = w
        .call(
            "PUT",
            "/api/v1/meetings/meeting_1/status/meeting",
            t,
            Some(json!({"status_code": "900", "status_message": "off for the holidays"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, status_body, _) = w
        .call("GET", "/api/v1/meetings/meeting_1/status", t, None)
        .await;
    assert!(status_body.to_string().contains("900"), "{status_body}");
    let (status, _, _) = w
        .call(
            "PUT",
            "/api/v1/meetings/meeting_1/status/meeting",
            t,
            Some(json!({"status_code": 200, "status_message": "back"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body, _) = w
        .call(
            "PUT",
            "/api/v1/meetings/meeting_1/status/meeting",
            t,
            Some(json!({"status_code": 250, "status_message": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "status_code");
    let (status, _, _) = w
        .call("DELETE", "/api/v1/meetings/meeting_1/status", t, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = w
        .call(
            "DELETE",
            "/api/v1/meetings/meeting_1/status?resend=true",
            t,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body, _) = w
        .call(
            "DELETE",
            "/api/v1/meetings/meeting_1/status?resend=perhaps",
            t,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "resend");

    // PUT changes it; the path's id wins and must agree with the body's.
    let mut moved = meeting.clone();
    moved["meetingName"] = json!("Lecture 1 (moved)");
    let (status, body, _) = w
        .call("PUT", "/api/v1/meetings/meeting_1", t, Some(moved))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["meetingName"], "Lecture 1 (moved)");

    let (status, _, _) = w
        .call("DELETE", "/api/v1/meetings/meeting_1", t, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_names_the_field_and_nothing_is_stored() {
    let w = world().await;
    let admin = w.token("admin", &Scope::ALL).await;
    let t = Some(admin.as_str());
    w.call("POST", "/api/v1/servers", t, Some(w.server_body()))
        .await;
    let cases = [
        (
            json!({"id": "m1", "server": "server_to_use", "meetingName": "X", "startDate": "tomorrow-ish"}),
            "startDate",
        ),
        (
            json!({"id": "m1", "server": "server_to_use", "meetingNmae": "X"}),
            "meetingNmae",
        ),
        (
            json!({"id": "m1", "server": "server_to_use", "meetingName": "X", "endAfterMinutes": "lots"}),
            "endAfterMinutes",
        ),
        (json!({"server": "server_to_use", "meetingName": "X"}), "id"),
    ];
    for (body, field) in cases {
        let (status, answer, _) = w.call("POST", "/api/v1/meetings", t, Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        error_shape(&answer, "invalid");
        assert_eq!(answer["field"], field, "{answer}");
    }
    // Not JSON at all.
    let resp = w
        .http
        .post(format!("{}/api/v1/meetings", w.base))
        .bearer_auth(&admin)
        .body("meetingName: yaml?")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let (_, body, _) = w.call("GET", "/api/v1/meetings", t, None).await;
    assert_eq!(body["data"], json!([]), "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_limit_what_a_token_may_do() {
    let w = world().await;
    let reader = w.token("reader", &[Scope::Read]).await;
    let (status, _, _) = w.call("GET", "/api/v1/servers", Some(&reader), None).await;
    assert_eq!(status, StatusCode::OK);
    for (method, path, body) in [
        ("POST", "/api/v1/servers", Some(w.server_body())),
        ("GET", "/api/v1/mails", None),
        (
            "POST",
            "/api/v1/commands",
            Some(json!({"command": "share_room", "server": "server_to_use", "data": {}})),
        ),
    ] {
        let (status, body, _) = w.call(method, path, Some(&reader), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        error_shape(&body, "forbidden");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mail_queue() {
    let w = world().await;
    let admin = w.token("mails", &[Scope::MailsAdmin]).await;
    let t = Some(admin.as_str());
    let store = w.service.store();
    for to in ["a@uni.example", "b@uni.example"] {
        store
            .enqueue_outbox(
                &schedulight::store::OutboxRequest {
                    unique_key: format!("test/{to}"),
                    channel: schedulight::domain::Channel::Mail,
                    kind: schedulight::domain::NoticeKind::RoomShared,
                    meeting_id: None,
                    occurrence: None,
                    recipient: to.into(),
                    data: json!({}),
                    not_before: jiff::Timestamp::now(),
                },
                jiff::Timestamp::now(),
            )
            .await
            .unwrap();
    }
    let (status, body, _) = w.call("GET", "/api/v1/mails?state=queued", t, None).await;
    assert_eq!(status, StatusCode::OK);
    let mails = body["data"].as_array().unwrap();
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[0]["state"], "pending");
    let id = mails[0]["id"].as_i64().unwrap();
    let (status, _, _) = w
        .call("DELETE", &format!("/api/v1/mails/{id}"), t, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body, _) = w.call("DELETE", "/api/v1/mails", t, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "state");
    let (status, _, _) = w
        .call("DELETE", "/api/v1/mails?state=queued", t, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body, _) = w.call("GET", "/api/v1/mails?state=all", t, None).await;
    assert_eq!(body["data"], json!([]));
    let (status, body, _) = w.call("GET", "/api/v1/mails?state=lost", t, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_checked_like_files_and_report_each_item() {
    let w = world().await;
    let admin = w.token("admin", &Scope::ALL).await;
    let t = Some(admin.as_str());
    w.call("POST", "/api/v1/servers", t, Some(w.server_body()))
        .await;
    let (status, body, _) = w
        .call(
            "POST",
            "/api/v1/commands",
            t,
            Some(json!({"command": "shre_room", "server": "server_to_use", "data": {"abc-def-ghi": {"bob@uni.example": "Bob"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "command");
    assert!(
        body["message"].as_str().unwrap().contains("share_room"),
        "{body}"
    );

    // A well-formed command on a server without a Greenlight: accepted, each item says why
    // it failed.
    let (status, body, _) = w
        .call(
            "POST",
            "/api/v1/commands",
            t,
            Some(json!({"command": "share_room", "server": "server_to_use", "data": {"abc-def-ghi": {"bob@uni.example": "Bob"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let results = body["data"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["ok"], false);
    assert!(
        results[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("has no Greenlight"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_in_prometheus_text() {
    let w = world().await;
    let admin = w.token("admin", &Scope::ALL).await;
    let t = Some(admin.as_str());
    w.call("POST", "/api/v1/servers", t, Some(w.server_body()))
        .await;
    let meeting = json!({
        "id": "measured", "server": "server_to_use", "meetingName": "M",
        "startDate": format!("{}-06-24 11:00", next_year())
    });
    w.call("POST", "/api/v1/meetings", t, Some(meeting)).await;
    // One BBB call, counted by its result.
    w.service
        .execute(
            &Actor::admin("test"),
            Operation::ShowRunningMeetings { server: None },
        )
        .await
        .unwrap();
    let resp = w
        .http
        .get(format!("{}/metrics", w.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("schedulight_jobs{state=\"pending\"}"),
        "{text}"
    );
    assert!(text.contains("# TYPE schedulight_outbox gauge"), "{text}");
    assert!(
        text.contains("schedulight_bbb_calls_total{call=\"getMeetings\",result=\"ok\"}"),
        "{text}"
    );
    assert!(!text.contains(&w.secret));

    // Closed to the public: a token with read is needed.
    let closed = router(ApiState {
        service: w.service.clone(),
        metrics_public: false,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, closed).await.unwrap() });
    let status = w
        .http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let status = w
        .http
        .get(format!("{base}/metrics"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::OK);
}

/// The original README's curl examples, with ids and dates filled in and a token added.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_readme_examples_work_with_a_token() {
    use schedulight::domain::operation::{CreateRoom, CreateUser, UserRole};
    let w = world().await;
    // A Greenlight v3 database behind the server, for the rename_room command.
    let cluster = schedulight::testkit::pg::PgCluster::shared().expect("throwaway PostgreSQL");
    let url = cluster.fresh_database().await.expect("fresh database");
    let db = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::raw_sql(include_str!("fixtures/greenlight/v3-schema.sql"))
        .execute(&db)
        .await
        .unwrap();
    let admin = w.token("admin", &Scope::ALL).await;
    let t = Some(admin.as_str());
    let mut server = w.server_body();
    server["greenlight"] =
        json!({"database_url": url, "link_base": "https://gl.uni.example/rooms"});
    let (status, body, _) = w.call("POST", "/api/v1/servers", t, Some(server)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sid: schedulight::domain::ServerId = "server_to_use".parse().unwrap();
    let root = Actor::admin("test");
    w.service
        .execute(
            &root,
            Operation::CreateUser(CreateUser {
                server: sid.clone(),
                email: "owner@uni.example".parse().unwrap(),
                full_name: "Olga Owner".into(),
                password: None,
                role: UserRole::User,
                provider: None,
                external_id: None,
            }),
        )
        .await
        .unwrap();
    w.service
        .execute(
            &root,
            Operation::CreateRoom(CreateRoom {
                server: sid,
                name: "Old room".into(),
                owner: "owner@uni.example".parse().unwrap(),
                uid: Some("old-roo-mid".parse().unwrap()),
                access_code: None,
            }),
        )
        .await
        .unwrap();

    // curl -d '{ "command": "rename_room", "server": "server_to_use", "data": { "old_room_uid": { "roomUID": "new_room_uid" } } }' … /api/v1/commands
    let (status, body, _) = w
        .call(
            "POST",
            "/api/v1/commands",
            t,
            Some(json!({ "command": "rename_room", "server": "server_to_use", "data": { "old-roo-mid": { "roomUID": "new-roo-mid" } } })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"][0]["ok"], true, "{body}");
    let renamed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM rooms WHERE friendly_id = 'new-roo-mid'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(renamed, 1, "the room was renamed in Greenlight");

    // curl -d '{"startDate": "2020-06-24 11:00", "id": "id_to_use", "meetingName": "test Meeting via Api", "owner": {"email": "email_of_owner", "fullName": "your name"}}' … /api/v1/meetings
    let (status, body, _) = w
        .call(
            "POST",
            "/api/v1/meetings",
            t,
            Some(json!({"startDate": format!("{}-06-24 11:00", next_year()), "id": "id_to_use", "meetingName": "test Meeting via Api", "owner": {"email": "owner@uni.example", "fullName": "your name"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["server"], "server_to_use");
    // curl -X GET …/api/v1/meetings
    let (status, body, _) = w.call("GET", "/api/v1/meetings", t, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"], json!(["id_to_use"]));
    // curl -X GET …/api/v1/meetings/meetingID
    let (status, body, _) = w.call("GET", "/api/v1/meetings/id_to_use", t, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["meetingName"], "test Meeting via Api");
}

/// Greenlight rooms and users as resources, against a real Greenlight v3 database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_and_users_of_a_greenlight() {
    let w = world().await;
    let cluster = schedulight::testkit::pg::PgCluster::shared().expect("throwaway PostgreSQL");
    let url = cluster.fresh_database().await.expect("fresh database");
    let db = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::raw_sql(include_str!("fixtures/greenlight/v3-schema.sql"))
        .execute(&db)
        .await
        .unwrap();
    let admin = w.token("admin", &Scope::ALL).await;
    let t = Some(admin.as_str());
    let mut server = w.server_body();
    server["id"] = json!("bbb");
    server["greenlight"] =
        json!({"database_url": url, "link_base": "https://gl.uni.example/rooms", "bcrypt_cost": 4});
    let (status, body, _) = w.call("POST", "/api/v1/servers", t, Some(server)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        !body.to_string().contains("postgres://"),
        "no database URL returned"
    );

    for (email, name) in [("ada@uni.example", "Ada"), ("bob@uni.example", "Bob")] {
        let (status, body, _) = w
            .call(
                "POST",
                "/api/v1/servers/bbb/users",
                t,
                Some(json!({"email": email, "fullName": name, "pwd": "a-Long-passw0rd"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body, _) = w
        .call(
            "POST",
            "/api/v1/servers/bbb/users",
            t,
            Some(json!({"email": "ada@uni.example", "fullName": "Ada again"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a second Ada: {body}"
    );
    let (status, body, _) = w
        .call(
            "POST",
            "/api/v1/servers/bbb/users",
            t,
            Some(json!({"email": "not-an-address", "fullName": "X"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "email");
    let (status, body, _) = w
        .call(
            "POST",
            "/api/v1/servers/bbb/users",
            t,
            Some(json!({"email": "x@uni.example", "fullName": "X", "admin": true})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown key: {body}"
    );

    let (status, body, _) = w
        .call(
            "POST",
            "/api/v1/servers/bbb/rooms",
            t,
            Some(
                json!({"name": "Ada's lab", "owner": "ada@uni.example", "roomUID": "ada-lab-one"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body, _) = w
        .call(
            "POST",
            "/api/v1/servers/bbb/rooms/ada-lab-one/shares",
            t,
            Some(json!({"bob@uni.example": "Bob"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body, _) = w
        .call(
            "GET",
            "/api/v1/servers/bbb/rooms?by=owner&value=ada@uni.example",
            t,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rooms = body["data"]["rooms"].as_array().unwrap();
    assert_eq!(rooms.len(), 1, "{body}");
    assert_eq!(rooms[0]["shared_with"], json!(["bob@uni.example"]));
    let (status, body, _) = w
        .call(
            "PUT",
            "/api/v1/servers/bbb/rooms/ada-lab-one",
            t,
            Some(json!({"roomUID": "ada-lab-two", "name": "Ada's new lab", "options": {"record": "true"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let name: String =
        sqlx::query_scalar("SELECT name FROM rooms WHERE friendly_id = 'ada-lab-two'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(name, "Ada's new lab");
    let (status, body, _) = w
        .call(
            "DELETE",
            "/api/v1/servers/bbb/rooms/ada-lab-two/shares/bob@uni.example",
            t,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body, _) = w
        .call("GET", "/api/v1/servers/bbb/users/ada@uni.example", t, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["rooms"], json!(["ada-lab-two"]));
    assert!(!body.to_string().contains("a-Long-passw0rd"));
    // Ada owns a room: deleting her is refused unless told what happens to it.
    let (status, _, _) = w
        .call(
            "DELETE",
            "/api/v1/servers/bbb/users/ada@uni.example",
            t,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body, _) = w
        .call(
            "DELETE",
            "/api/v1/servers/bbb/users/ada@uni.example?rooms=transfer&to=bob@uni.example",
            t,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body, _) = w
        .call("DELETE", "/api/v1/servers/bbb/rooms/ada-lab-two", t, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Scopes: rooms:write does not make users.
    let rooms_only = w.token("rooms", &[Scope::RoomsWrite]).await;
    let (status, _, _) = w
        .call(
            "POST",
            "/api/v1/servers/bbb/users",
            Some(&rooms_only),
            Some(json!({"email": "c@uni.example", "fullName": "C"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Recordings on a server: list (by scheduled meeting), unpublish, publish, delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_of_a_server() {
    let w = world().await;
    let admin = w.token("admin", &Scope::ALL).await;
    let t = Some(admin.as_str());
    let mut server = w.server_body();
    server["id"] = json!("bbb");
    w.call("POST", "/api/v1/servers", t, Some(server)).await;
    let (status, body, _) = w
        .call(
            "POST",
            "/api/v1/meetings",
            t,
            Some(
                json!({"id": "seminar", "server": "bbb", "meetingName": "Seminar", "record": true}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let root = Actor::admin("test");
    let links = match w
        .service
        .execute(
            &root,
            Operation::StartMeetingNow {
                id: "seminar".parse().unwrap(),
            },
        )
        .await
        .unwrap()
    {
        Outcome::Started { links, .. } => links,
        other => panic!("{other:?}"),
    };
    assert!(common::open_link(&links.moderator).await.status < 400);
    w.service
        .execute(
            &root,
            Operation::EndMeeting {
                id: "seminar".parse().unwrap(),
            },
        )
        .await
        .unwrap();
    let record = w.sim.simulator.recordings()[0].record_id.clone();

    let (status, body, _) = w
        .call(
            "GET",
            "/api/v1/servers/bbb/recordings?meeting=seminar",
            t,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.to_string().contains(&record), "{body}");
    let (status, body, _) = w
        .call(
            "PUT",
            "/api/v1/servers/bbb/recordings",
            t,
            Some(json!({"records": [record.clone()], "published": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!w.sim.simulator.recordings()[0].published);
    let (status, body, _) = w
        .call(
            "PUT",
            "/api/v1/servers/bbb/recordings",
            t,
            Some(json!({"records": [], "published": true})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "records");
    let reader = w.token("reader", &[Scope::Read]).await;
    let (status, _, _) = w
        .call(
            "DELETE",
            &format!("/api/v1/servers/bbb/recordings/{record}"),
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "recordings:write needed");
    let (status, body, _) = w
        .call(
            "DELETE",
            &format!("/api/v1/servers/bbb/recordings/{record}"),
            t,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(w.sim.simulator.recordings()[0].state, "deleted");
}

/// Tokens over the API: only with tokens:admin; the new token is shown once and works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_over_the_api() {
    let w = world().await;
    let boss = w.token("boss", &[Scope::TokensAdmin]).await;
    let t = Some(boss.as_str());
    let (status, body, _) = w
        .call(
            "POST",
            "/api/v1/tokens",
            t,
            Some(json!({"name": "ci", "scopes": ["read"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["data"]["token"].as_str().unwrap().to_string();
    assert_eq!(
        w.call("GET", "/api/v1/servers", Some(&token), None).await.0,
        StatusCode::OK
    );
    let (status, body, _) = w
        .call(
            "POST",
            "/api/v1/tokens",
            t,
            Some(json!({"name": "ci", "scopes": ["read"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body, _) = w
        .call(
            "POST",
            "/api/v1/tokens",
            t,
            Some(json!({"name": "x", "scopes": ["read", "root"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "scopes[1]");
    let (status, body, _) = w.call("GET", "/api/v1/tokens", t, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.to_string().contains(&token[3..]), "never listed");
    assert_eq!(
        w.call("GET", "/api/v1/tokens", Some(&token), None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.call("DELETE", "/api/v1/tokens/ci", t, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        w.call("GET", "/api/v1/servers", Some(&token), None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// Found by the fuzzer: recording ids that name nothing were a 502 (BBB's notFound passed on as a
/// server failure); they are the caller's mistake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_recordings_are_not_found() {
    let w = world().await;
    let admin = w.token("admin", &Scope::ALL).await;
    let t = Some(admin.as_str());
    let mut server = w.server_body();
    server["id"] = json!("bbb");
    w.call("POST", "/api/v1/servers", t, Some(server)).await;
    let (status, body, _) = w
        .call("DELETE", "/api/v1/servers/bbb/recordings/0", t, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    error_shape(&body, "not_found");
    let (status, _, _) = w
        .call(
            "PUT",
            "/api/v1/servers/bbb/recordings",
            t,
            Some(json!({"records": ["nothing-here"], "published": true})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

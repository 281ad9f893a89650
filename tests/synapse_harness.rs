//! The throwaway Synapse of `testkit::synapse` against the plain client-server API: accounts by
//! shared secret, a room, an invite, a join, a message seen through `/sync`; a refused
//! registration; parallel instances on their own ports that leave nothing behind; a taken port
//! left for a free one; and matrix-nio (from the Synapse venv) as an independent client in a room.

use reqwest::Method;
use schedulight::testkit::python;
use schedulight::testkit::synapse::{RegisteredUser, Synapse, SynapseError};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery staple";
const SYNC_WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- helpers

/// The process-wide homeserver (start-up blocks, so off the async worker).
async fn shared() -> &'static Synapse {
    tokio::task::spawn_blocking(Synapse::shared)
        .await
        .expect("start task")
        .expect("shared Synapse")
}

async fn start_owned() -> Synapse {
    tokio::task::spawn_blocking(Synapse::start)
        .await
        .expect("start task")
        .expect("owned Synapse")
}

/// A localpart no other test of this process uses on the shared server.
fn unique(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{name}_{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Just enough of the client-server API, with the user's access token.
struct Client {
    http: reqwest::Client,
    base: url::Url,
    token: String,
    user_id: String,
}

impl Client {
    fn new(synapse: &Synapse, user: &RegisteredUser) -> Client {
        Client {
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("HTTP client"),
            base: url::Url::parse(&synapse.url()).expect("Synapse URL"),
            token: user.access_token.clone(),
            user_id: user.user_id.clone(),
        }
    }

    /// `/_matrix/client/v3/<segments…>`, each segment percent-encoded (room IDs start with `!`).
    fn endpoint(&self, segments: &[&str]) -> url::Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("http URL has a path")
            .extend(["_matrix", "client", "v3"])
            .extend(segments);
        url
    }

    async fn call(&self, method: Method, url: url::Url, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request to Synapse");
        let status = response.status();
        let body: Value = response.json().await.expect("JSON answer");
        assert!(status.is_success(), "{method} {url}: {status} {body}");
        body
    }

    async fn create_room(&self, name: &str) -> String {
        let body = json!({ "name": name, "preset": "private_chat" });
        let answer = self
            .call(Method::POST, self.endpoint(&["createRoom"]), Some(body))
            .await;
        answer["room_id"]
            .as_str()
            .expect("createRoom returns room_id")
            .to_owned()
    }

    async fn invite(&self, room_id: &str, user_id: &str) {
        let url = self.endpoint(&["rooms", room_id, "invite"]);
        self.call(Method::POST, url, Some(json!({ "user_id": user_id })))
            .await;
    }

    async fn join(&self, room_id: &str) {
        let url = self.endpoint(&["join", room_id]);
        self.call(Method::POST, url, Some(json!({}))).await;
    }

    async fn send_text(&self, room_id: &str, txn: &str, body: &str) -> String {
        let url = self.endpoint(&["rooms", room_id, "send", "m.room.message", txn]);
        let content = json!({ "msgtype": "m.text", "body": body, "m.mentions": {} });
        let answer = self.call(Method::PUT, url, Some(content)).await;
        answer["event_id"]
            .as_str()
            .expect("send returns event_id")
            .to_owned()
    }

    /// Syncs until an `m.room.message` with `body` from `sender` is in the room's timeline.
    async fn wait_for_text(&self, room_id: &str, sender: &str, body: &str) -> Value {
        let deadline = Instant::now() + SYNC_WAIT;
        let mut since: Option<String> = None;
        while Instant::now() < deadline {
            let mut url = self.endpoint(&["sync"]);
            url.query_pairs_mut().append_pair("timeout", "1000");
            if let Some(since) = &since {
                url.query_pairs_mut().append_pair("since", since);
            }
            let answer = self.call(Method::GET, url, None).await;
            let events = answer["rooms"]["join"][room_id]["timeline"]["events"].as_array();
            let found = events.into_iter().flatten().find(|e| {
                e["type"] == "m.room.message"
                    && e["sender"] == sender
                    && e["content"]["body"] == body
            });
            if let Some(event) = found {
                return event.clone();
            }
            since = answer["next_batch"].as_str().map(str::to_owned);
        }
        panic!(
            "{} did not see {body:?} from {sender} in {room_id} within {SYNC_WAIT:?}",
            self.user_id
        );
    }
}

fn process_runs_config(pid: u32, dir: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let config = dir.join("homeserver.yaml");
    cmdline
        .split(|b| *b == 0)
        .any(|arg| arg == config.as_os_str().as_encoded_bytes())
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn two_users_talk_through_a_room() {
    let synapse = shared().await;
    println!(
        "Synapse {} up in {:.2?} (pid {})",
        synapse.url(),
        synapse.startup_time(),
        synapse.pid()
    );

    let alice_name = unique("alice");
    let alice = synapse
        .register(&alice_name, PASSWORD, true)
        .await
        .expect("register alice");
    let bob = synapse
        .register(&unique("bob"), PASSWORD, false)
        .await
        .expect("register bob");
    assert_eq!(
        alice.user_id,
        format!("@{alice_name}:{}", synapse.server_name())
    );
    assert!(!alice.device_id.is_empty() && !alice.access_token.is_empty());
    assert_ne!(alice.access_token, bob.access_token);
    assert!(
        !format!("{alice:?}").contains(&alice.access_token),
        "Debug hides the token"
    );

    let a = Client::new(synapse, &alice);
    let b = Client::new(synapse, &bob);
    let room = a.create_room("harness").await;
    // Room version 12 (pinned): room IDs have no server part.
    assert!(
        room.starts_with('!') && !room.contains(':'),
        "v12 room id: {room}"
    );
    a.invite(&room, &bob.user_id).await;
    b.join(&room).await;
    let event_id = a.send_text(&room, "txn-1", "hello from alice").await;

    let seen = b
        .wait_for_text(&room, &alice.user_id, "hello from alice")
        .await;
    assert_eq!(seen["event_id"], event_id.as_str());
}

#[tokio::test]
async fn registration_with_a_wrong_shared_secret_is_refused() {
    let synapse = shared().await;
    let name = unique("mallory");
    let secret_password = "do-not-print-me";
    let err = synapse
        .register_with_secret("not-the-shared-secret", &name, secret_password, true)
        .await
        .expect_err("a wrong shared secret must not register anyone");
    match &err {
        SynapseError::Register {
            username,
            status,
            errcode,
            message,
        } => {
            assert_eq!(username, &name);
            assert_eq!(*status, 403);
            // Synapse raises this refusal without a specific code.
            assert_eq!(errcode, "M_UNKNOWN");
            assert_eq!(message, "HMAC incorrect");
        }
        other => panic!("expected a refusal, got {other}"),
    }
    let shown = err.to_string();
    assert!(
        shown.contains("403") && shown.contains("HMAC incorrect") && shown.contains(&name),
        "{shown}"
    );
    assert!(!shown.contains(secret_password), "{shown}");

    // Nothing was created: the right secret registers the same name afterwards.
    let user = synapse
        .register(&name, secret_password, false)
        .await
        .expect("register with the right secret");
    assert_eq!(user.user_id, format!("@{name}:localhost"));
}

#[tokio::test]
async fn parallel_instances_get_their_own_ports_and_leave_nothing_behind() {
    let shared = shared().await;
    let (one, two) = tokio::join!(start_owned(), start_owned());
    for s in [&one, &two] {
        println!(
            "owned Synapse {} up in {:.2?} (pid {})",
            s.url(),
            s.startup_time(),
            s.pid()
        );
    }
    let ports = [shared.port(), one.port(), two.port()];
    assert!(
        ports[0] != ports[1] && ports[1] != ports[2] && ports[0] != ports[2],
        "{ports:?}"
    );

    // Separate databases: the same name registers on both.
    let on_one = one.register("same_name", PASSWORD, false).await;
    let on_two = two.register("same_name", PASSWORD, false).await;
    assert_eq!(on_one.expect("on one").user_id, "@same_name:localhost");
    assert_eq!(on_two.expect("on two").user_id, "@same_name:localhost");

    let gone = [
        (one.pid(), one.dir().to_path_buf()),
        (two.pid(), two.dir().to_path_buf()),
    ];
    for (pid, dir) in &gone {
        assert!(process_runs_config(*pid, dir), "pid {pid} runs Synapse");
    }
    drop(one);
    drop(two);
    for (pid, dir) in &gone {
        assert!(!process_runs_config(*pid, dir), "pid {pid} still runs");
        assert!(!dir.exists(), "{} removed", dir.display());
    }
}

#[tokio::test]
async fn matrix_nio_joins_reads_and_replies() {
    let synapse = shared().await;
    let venv = tokio::task::spawn_blocking(python::synapse_venv)
        .await
        .expect("venv task")
        .expect("Synapse venv with matrix-nio");
    let alice = synapse
        .register(&unique("alice"), PASSWORD, false)
        .await
        .expect("register alice");
    let carol = synapse
        .register(&unique("carol"), PASSWORD, false)
        .await
        .expect("register carol");
    let a = Client::new(synapse, &alice);
    let room = a.create_room("with nio").await;
    a.invite(&room, &carol.user_id).await;
    a.send_text(&room, "txn-1", "ping for nio").await;

    let script = python::manifest_dir().join("tests/third_party/nio_peer.py");
    let mut cmd = venv.command(&script);
    cmd.arg(synapse.url())
        .arg(&carol.user_id)
        .arg(&room)
        .args(["ping for nio", "pong from nio"])
        .env("NIO_PEER_PASSWORD", PASSWORD);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("task")
        .expect("run nio_peer.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "nio peer failed ({}):\n{stdout}\n{stderr}\nSynapse log:\n{}",
        out.status,
        synapse.log_tail()
    );
    let reply_id = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|v| v["event_id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no event id in nio output:\n{stdout}"));

    let reply = a
        .wait_for_text(&room, &carol.user_id, "pong from nio")
        .await;
    assert_eq!(reply["event_id"], reply_id.as_str());
    assert_eq!(
        reply["content"]["m.mentions"]["user_ids"],
        json!([alice.user_id])
    );
}

#[tokio::test]
async fn a_taken_port_is_left_for_a_free_one() {
    // Held for the whole test: Synapse's bind on it fails with "Address already in use".
    let taken = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind a port");
    let port = taken.local_addr().expect("local addr").port();
    let synapse = tokio::task::spawn_blocking(move || Synapse::start_trying_port_first(port))
        .await
        .expect("start task")
        .expect("Synapse on another port");
    println!(
        "Synapse moved from taken port {port} to {} in {:.2?}",
        synapse.port(),
        synapse.startup_time()
    );
    assert_ne!(synapse.port(), port);
    let log = std::fs::read_to_string(synapse.dir().join("homeserver.log")).expect("log");
    assert!(
        log.contains("Address already in use"),
        "the first attempt hit the taken port"
    );
    synapse
        .register("after_retry", PASSWORD, false)
        .await
        .expect("the retried server works");
    drop(taken);
}

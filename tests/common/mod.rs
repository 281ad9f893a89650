//! Helpers shared by the end-to-end test binaries: simulators served on loopback, server specs
//! pointing at them, and opening join links as a browser would.
//!
//! Each test binary uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use schedulight::bbb::BbbError;
use schedulight::bbb::sim::{SimConfig, SimHandle, serve};
use schedulight::domain::{ChecksumAlgorithm, Secret, ServerSpec};
use std::net::SocketAddr;
use std::sync::OnceLock;

/// A fresh simulator served on a free loopback port.
pub async fn serve_sim(config: SimConfig) -> SimHandle {
    serve(SocketAddr::from(([127, 0, 0, 1], 0)), config)
        .await
        .expect("serve the BBB simulator on loopback")
}

/// A server spec for a served simulator.
pub fn server_spec(
    id: &str,
    handle: &SimHandle,
    secret: &str,
    algo: ChecksumAlgorithm,
    timeout_ms: u64,
) -> ServerSpec {
    let mut s = ServerSpec::new(
        id.parse().expect("valid server id"),
        handle
            .base_url()
            .parse()
            .expect("the simulator URL is valid"),
        Secret::new(secret),
    );
    s.checksum = algo;
    s.timeout_ms = timeout_ms;
    s
}

/// A secret that looks like `bbb-conf --secret` output and is unique per call, so a test can
/// search any output for it.
pub fn random_secret() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    format!("sec{}", Alphanumeric.sample_string(&mut rand::rng(), 37))
}

/// A loopback address nothing listens on (bound, then released).
pub fn dead_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("local address")
}

/// What a browser gets when it opens a link, without following the redirect.
#[derive(Debug, Clone)]
pub struct Opened {
    pub status: u16,
    pub location: Option<String>,
}

impl Opened {
    /// Redirected into the (simulated) HTML5 client: the join worked.
    pub fn entered_client(&self) -> bool {
        self.status == 302
            && self
                .location
                .as_deref()
                .is_some_and(|l| l.contains("/html5client/join?sessionToken="))
    }

    /// Redirected to the guest lobby.
    pub fn waiting_as_guest(&self) -> bool {
        self.status == 302
            && self
                .location
                .as_deref()
                .is_some_and(|l| l.contains("/html5client/guestWait?sessionToken="))
    }

    /// The join errors BBB put into the logout redirect (`errors=[{key,message}]`), typed.
    pub fn join_errors(&self) -> Vec<BbbError> {
        let Some(location) = &self.location else {
            return Vec::new();
        };
        let Ok(url) = url::Url::parse(location) else {
            return Vec::new();
        };
        let Some((_, errors)) = url.query_pairs().find(|(k, _)| k == "errors") else {
            return Vec::new();
        };
        let list: Vec<serde_json::Value> = serde_json::from_str(&errors).unwrap_or_default();
        list.iter()
            .map(|e| {
                BbbError::from_key(
                    e["key"].as_str().unwrap_or_default(),
                    e["message"].as_str().unwrap_or_default(),
                )
            })
            .collect()
    }
}

/// One client for the whole test binary. It keeps no idle connections: every test has its own
/// runtime, and a pooled connection must not outlive the runtime that opened it.
fn browser() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("HTTP client")
    })
}

/// GET `url` as a browser would, but stop at the first redirect.
pub async fn open_link(url: &str) -> Opened {
    let resp = browser().get(url).send().await.expect("GET the link");
    Opened {
        status: resp.status().as_u16(),
        location: resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    }
}

/// GET `url` and return status and body (the simulated client pages).
pub async fn fetch(url: &str) -> (u16, String) {
    let resp = browser().get(url).send().await.expect("GET");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// The `schedulight` binary with no `SCHEDULIGHT_*` settings leaking in from the environment,
/// logging at info, in `dir`.
pub fn schedulight(dir: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_schedulight"));
    for (key, _) in std::env::vars() {
        if key.starts_with("SCHEDULIGHT_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "info").current_dir(dir);
    cmd
}

/// A one-shot command: (succeeded, stdout, stderr); it must not panic.
pub fn schedulight_run(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = schedulight(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run schedulight");
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(!e.contains("panicked"), "{args:?}:\n{e}");
    (out.status.success(), o, e)
}

/// A child process killed and reaped when the test ends, however it ends.
pub struct Daemon(pub std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

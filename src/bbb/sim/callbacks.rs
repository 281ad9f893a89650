//! Outgoing callbacks (bbb-api.md §3): the end callback (GET) and the recording-ready callback
//! (POST `signed_parameters=<JWT>`). Sent from background tasks so the API never waits on them.

use super::model::Effect;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// What happened to one callback, for tests and the control API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackRecord {
    /// `meeting-ended` or `recording-ready`.
    pub kind: String,
    pub url: String,
    pub attempts: u32,
    /// Last HTTP status received, if any.
    pub status: Option<u16>,
    /// Last transport error, if any.
    pub error: Option<String>,
    /// Whether delivery is finished (success or a final refusal).
    pub done: bool,
}

/// An HS256 JWT made by hand: `b64url(header).b64url(claims).b64url(hmac)`.
pub fn jwt_hs256(claims: &serde_json::Value, secret: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes());
    let signing_input = format!("{header}.{payload}");
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(signing_input.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{sig}")
}

#[derive(Debug, Clone)]
struct Job {
    effect: Effect,
    index: usize,
}

/// Queue plus a lazily started worker; the worker needs a tokio runtime, which the simulator
/// may not have when it is built.
pub(crate) struct Dispatcher {
    tx: mpsc::UnboundedSender<Job>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Job>>>,
    log: Arc<Mutex<Vec<CallbackRecord>>>,
    secret: String,
    timeout: Duration,
    attempts: u32,
    retry_delay: Duration,
}

impl Dispatcher {
    pub(crate) fn new(
        secret: String,
        timeout: Duration,
        attempts: u32,
        retry_delay: Duration,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
            log: Arc::new(Mutex::new(Vec::new())),
            secret,
            timeout,
            attempts: attempts.max(1),
            retry_delay,
        }
    }

    pub(crate) fn log(&self) -> Vec<CallbackRecord> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Queue effects; delivery starts as soon as a runtime is available.
    pub(crate) fn send(&self, effects: Vec<Effect>) {
        if effects.is_empty() {
            return;
        }
        for effect in effects {
            let index = self.record(&effect);
            // The receiver lives as long as the dispatcher, so this cannot fail while we exist.
            let _ = self.tx.send(Job { effect, index });
        }
        self.start_worker();
    }

    fn record(&self, effect: &Effect) -> usize {
        let (kind, url) = match effect {
            Effect::MeetingEnded { url } => ("meeting-ended", url),
            Effect::RecordingReady { url, .. } => ("recording-ready", url),
        };
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.push(CallbackRecord {
            kind: kind.into(),
            url: url.clone(),
            attempts: 0,
            status: None,
            error: None,
            done: false,
        });
        log.len() - 1
    }

    /// Start the worker on the current runtime if there is one and it is not running yet.
    pub(crate) fn start_worker(&self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Some(mut rx) = self.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let sender = Sender {
            client: reqwest::Client::builder()
                .timeout(self.timeout)
                .build()
                .unwrap_or_default(),
            log: self.log.clone(),
            secret: self.secret.clone(),
            attempts: self.attempts,
            retry_delay: self.retry_delay,
        };
        handle.spawn(async move {
            while let Some(job) = rx.recv().await {
                // One task per callback: a slow receiver must not hold up the others.
                let sender = sender.clone();
                tokio::spawn(async move { sender.deliver(job).await });
            }
        });
    }
}

#[derive(Clone)]
struct Sender {
    client: reqwest::Client,
    log: Arc<Mutex<Vec<CallbackRecord>>>,
    secret: String,
    attempts: u32,
    retry_delay: Duration,
}

enum Verdict {
    Done,
    Retry,
}

impl Sender {
    async fn deliver(&self, job: Job) {
        for attempt in 1..=self.attempts {
            let result = self.attempt(&job.effect).await;
            let verdict = self.note(job.index, attempt, &job.effect, result);
            if matches!(verdict, Verdict::Done) {
                return;
            }
            if attempt < self.attempts {
                tokio::time::sleep(self.retry_delay).await;
            }
        }
        self.update(job.index, |r| r.done = true);
    }

    async fn attempt(&self, effect: &Effect) -> Result<u16, String> {
        let request = match effect {
            Effect::MeetingEnded { url } => self.client.get(url),
            Effect::RecordingReady {
                url,
                meeting_id,
                record_id,
            } => {
                let claims =
                    serde_json::json!({ "meeting_id": meeting_id, "record_id": record_id });
                let token = jwt_hs256(&claims, &self.secret);
                self.client.post(url).form(&[("signed_parameters", token)])
            }
        };
        request
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| e.without_url().to_string())
    }

    /// Record the attempt; 2xx ends it, and for recording-ready 401/410 are final refusals too.
    fn note(
        &self,
        index: usize,
        attempt: u32,
        effect: &Effect,
        result: Result<u16, String>,
    ) -> Verdict {
        let final_refusal =
            |s: u16| matches!(effect, Effect::RecordingReady { .. }) && matches!(s, 401 | 410);
        let verdict = match &result {
            Ok(s) if (200..300).contains(s) || final_refusal(*s) => Verdict::Done,
            _ => Verdict::Retry,
        };
        tracing::debug!(attempt, ?result, "simulator callback attempt");
        self.update(index, |r| {
            r.attempts = attempt;
            match result {
                Ok(s) => {
                    r.status = Some(s);
                    r.error = None;
                }
                Err(e) => r.error = Some(e),
            }
            r.done = matches!(verdict, Verdict::Done);
        });
        verdict
    }

    fn update(&self, index: usize, f: impl FnOnce(&mut CallbackRecord)) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = log.get_mut(index) {
            f(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_known_vector() {
        // jwt.io's default HS256 example.
        let claims =
            serde_json::json!({"sub": "1234567890", "name": "John Doe", "iat": 1516239022});
        let token = jwt_hs256(&claims, "your-256-bit-secret");
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let payload = URL_SAFE_NO_PAD.decode(parts[1]).expect("base64");
        let back: serde_json::Value = serde_json::from_slice(&payload).expect("json");
        assert_eq!(back, claims);
        let mut mac =
            <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(b"your-256-bit-secret").expect("key");
        mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).expect("base64");
        assert!(mac.verify_slice(&sig).is_ok());
    }
}

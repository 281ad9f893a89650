//! Metrics for `/metrics` (Prometheus text format): counters and histograms recorded where
//! things happen, through the `metrics` facade, and store counts read at scrape time.
//!
//! - `schedulight_jobs{state}` — scheduled steps by state (from the store);
//! - `schedulight_outbox{channel,state}` — mails and chat notices by state (from the store);
//! - `schedulight_start_lag_seconds{step}` — due time → meeting created (pre-open / start);
//! - `schedulight_bbb_calls_total{call,result}` — BBB API calls by transport result;
//! - `schedulight_chat_commands_total{result}` — chat commands by result (ok / failed).
//!
//! The recorder is installed once per process by [`install`]; without it the facade's calls
//! cost nothing.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::fmt::Write;
use std::sync::OnceLock;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Start lag buckets: the scheduler's target is under a second, at most two.
const LAG_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0, 10.0, 30.0, 60.0,
];

/// Install the Prometheus recorder (once per process; later calls return the same handle).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        "schedulight_start_lag_seconds".into(),
                    ),
                    LAG_BUCKETS,
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

pub fn start_lag(step: &'static str, seconds: f64) {
    metrics::histogram!("schedulight_start_lag_seconds", "step" => step).record(seconds.max(0.0));
}

pub fn bbb_call(call: &'static str, result: &'static str) {
    metrics::counter!("schedulight_bbb_calls_total", "call" => call, "result" => result)
        .increment(1);
}

pub fn chat_command(ok: bool) {
    let result = if ok { "ok" } else { "failed" };
    metrics::counter!("schedulight_chat_commands_total", "result" => result).increment(1);
}

/// The whole exposition: the recorded metrics and the store's counts now.
pub async fn render(store: &dyn crate::store::Store) -> Result<String, crate::store::StoreError> {
    let counts = store.counts().await?;
    let mut out = install().map(|h| h.render()).unwrap_or_default();
    out.push_str("# HELP schedulight_jobs Scheduled steps by state.\n");
    out.push_str("# TYPE schedulight_jobs gauge\n");
    for (state, n) in &counts.jobs {
        let _ = writeln!(out, "schedulight_jobs{{state=\"{}\"}} {n}", label(state));
    }
    out.push_str("# HELP schedulight_outbox Mails and chat notices by state.\n");
    out.push_str("# TYPE schedulight_outbox gauge\n");
    for (channel, state, n) in &counts.outbox {
        let _ = writeln!(
            out,
            "schedulight_outbox{{channel=\"{}\",state=\"{}\"}} {n}",
            label(channel),
            label(state)
        );
    }
    Ok(out)
}

/// A label value as the text format wants it (our values are plain words; escape anyway).
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

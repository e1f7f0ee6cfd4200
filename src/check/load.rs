//! The load mode of `invoke check` (`--repeat N --concurrency C`): N of the
//! smallest calls, C at a time, over one client (kept-alive connections)
//! and one set of credentials, with the latency distribution, the errors
//! by type, the request rate and the client's CPU time per request.

use super::report::{Status, Step};
use super::setup::Setup;
use crate::aws::signed::{Failure, Signed};
use aws_credential_types::provider::SharedCredentialsProvider;
use bytes::Bytes;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// CPU time this process has used (user and system), in microseconds.
fn cpu_us() -> u64 {
    // SAFETY: getrusage only writes into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0;
    }
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(usage.ru_utime) + us(usage.ru_stime)
}

/// What the calls came to.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: BTreeMap<String, usize>,
}

impl Tally {
    fn failed(&self) -> usize {
        self.errors.values().sum()
    }

    fn total(&self) -> usize {
        self.latencies.len() + self.failed()
    }

    /// The latency at fraction `p` of the sorted latencies, in ms.
    fn percentile(&self, p: f64) -> Option<f64> {
        let n = self.latencies.len();
        let i = ((n as f64 * p) as usize).min(n.saturating_sub(1));
        self.latencies.get(i).map(|d| crate::invoke::reply::ms(*d))
    }
}

/// The error type of a failed call, as the report counts it.
fn error_kind(f: &Failure) -> String {
    match f {
        Failure::Service { code, .. } => code.clone(),
        Failure::Dispatch(e) if e.is_timeout() => "Timeout".into(),
        Failure::Dispatch(_) => "ConnectionFailed".into(),
        Failure::Credentials(_) => "CredentialsFailed".into(),
        Failure::Response(_) => "ResponseError".into(),
    }
}

/// The smallest Converse call (one word in, one token out), as
/// `check`'s Bedrock step makes it through the SDK, signed and sent by
/// the tool itself: a load generator should cost the endpoint's time,
/// not its own (docs/performance.md has the figures).
async fn ping(client: &Signed, path: &str) -> Result<(), Failure> {
    const PING: &str = r#"{"messages":[{"role":"user","content":[{"text":"ping"}]}],"inferenceConfig":{"maxTokens":1}}"#;
    let body = client
        .post(path, Bytes::from_static(PING.as_bytes()))
        .await?;
    let reply: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| Failure::Response(format!("the Converse answer is not JSON: {e}")))?;
    if reply["output"]["message"]["content"].is_array() {
        Ok(())
    } else {
        Err(Failure::Response(
            "the Converse answer has no output message".into(),
        ))
    }
}

/// Sends `n` calls, `concurrency` at a time; the step reports them.
pub(crate) async fn run(
    setup: &Setup,
    model: &str,
    provider: SharedCredentialsProvider,
    n: usize,
    concurrency: usize,
) -> Step {
    let plan = &setup.plan;
    // One attempt a call: the load counts every answer (a throttled call
    // is an error of its own), and a retry's backoff would be latency.
    let client = plan.signed(&plan.bedrock, provider).with_attempts(1);
    let path = format!("/model/{}/converse", crate::aws::signed::label(model));
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = cpu_us();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.min(n.max(1)) {
        let (client, next, path) = (client.clone(), next.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let t = Instant::now();
                match ping(&client, &path).await {
                    Ok(_) => tally.latencies.push(t.elapsed()),
                    Err(e) => *tally.errors.entry(error_kind(&e)).or_default() += 1,
                }
            }
            tally
        }));
    }
    let mut tally = Tally::default();
    for t in tasks {
        if let Ok(part) = t.await {
            tally.latencies.extend(part.latencies);
            for (k, v) in part.errors {
                *tally.errors.entry(k).or_default() += v;
            }
        }
    }
    tally.latencies.sort();
    let cpu = cpu_us().saturating_sub(cpu_before);
    report(&tally, concurrency, started, cpu)
}

fn report(tally: &Tally, concurrency: usize, started: Instant, cpu: u64) -> Step {
    let elapsed = started.elapsed();
    let (ok, failed, total) = (tally.latencies.len(), tally.failed(), tally.total());
    let rps = total as f64 / elapsed.as_secs_f64();
    let cpu_per_request = cpu as f64 / total.max(1) as f64;
    let shown = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
    let max = tally.latencies.last().map(|d| crate::invoke::reply::ms(*d));
    let summary = format!(
        "{total} calls, {concurrency} at a time: {ok} ok, {failed} failed; {rps:.0} req/s; latency p50 {} p90 {} p99 {} max {} ms; client CPU {cpu_per_request:.0} us/request",
        shown(tally.percentile(0.50)),
        shown(tally.percentile(0.90)),
        shown(tally.percentile(0.99)),
        shown(max),
    );
    let status = if failed == 0 {
        Status::Pass
    } else {
        Status::Warn
    };
    let mut step = Step::new("load", None, status, started, summary);
    step.details = json!({
        "requests": total,
        "concurrency": concurrency,
        "ok": ok,
        "errors": tally.errors,
        "requests_per_second": rps,
        "latency_ms": {"p50": tally.percentile(0.50), "p90": tally.percentile(0.90),
                       "p99": tally.percentile(0.99), "max": max},
        "client_cpu_us_per_request": cpu_per_request,
    });
    if failed > 0 {
        let by_type: Vec<String> = tally
            .errors
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        step.hint = Some(format!("errors by type: {}", by_type.join(", ")));
    }
    step
}

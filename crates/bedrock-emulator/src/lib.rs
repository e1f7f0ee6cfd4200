//! A local endpoint emulator for Bedrock runtime, STS and EC2 instance
//! metadata, on one loopback port.
//!
//! It stands in for the VPC endpoint, the public endpoint, STS and IMDS in
//! every test, demo and benchmark, since no machine here reaches AWS. The
//! real SDK clients cannot tell it apart: it speaks the same paths, content
//! types, event-stream framing and error shapes, verifies every SigV4
//! signature, and enforces trust policies and model permissions, so a wrong
//! key, region or role fails the way it fails on AWS. A record of every
//! request, faults chosen at start, and an HTTPS mode with a generated CA
//! serve tests and diagnosis.

mod bedrock;
pub mod catalogue;
pub mod cli;
mod control;
mod converse;
pub mod embeddings;
pub mod guardrails;
pub mod identity;
pub mod images;
mod imds;
pub mod models;
pub mod oidc;
mod record;
pub mod shapes;
pub mod sigv4;
mod sts;
mod tls;

pub use record::{Record, RecordEntry};
pub use tls::TlsMaterial;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use identity::{Directory, Identities};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;

/// A response body: whole, or a stream of event-stream frames.
pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

/// Faults chosen at start, each shaped the way AWS produces it.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Answer the first N Bedrock calls with 429 ThrottlingException.
    pub throttle_first: u32,
    /// Answer the first N Bedrock calls (after any throttled ones) with
    /// `fail_with` (by default 503 ServiceUnavailableException).
    pub fail_first: u32,
    /// The error type `fail_first` answers with: any error the Bedrock
    /// runtime API definition lists, with the status it gives it.
    pub fail_with: Option<String>,
    /// Wait this long before the first byte of a Bedrock reply (for streams,
    /// before the first event).
    pub first_byte_delay: Duration,
    /// Drop the connection after this many events of a stream.
    pub cut_stream_after: Option<usize>,
    /// Send an exception event after this many events of a stream.
    pub stream_error_after: Option<usize>,
    /// Which exception event (default: modelStreamErrorException).
    pub stream_error_kind: StreamException,
    /// Fail only the first N streams (all when unset), so a client's retry
    /// can succeed.
    pub stream_error_times: Option<u32>,
    /// Stop sending after this many events of a stream, keeping the
    /// connection open: a stalled stream, as a hung model or a middlebox
    /// that stops forwarding leaves it.
    pub stall_stream_after: Option<usize>,
    /// Stall only the first N streams (all when unset), so that a client
    /// that gives up on one can carry on with the next.
    pub stall_stream_times: Option<u32>,
    /// Make issued credentials stop working after this long, whatever
    /// expiry the client was told.
    pub session_ttl: Option<Duration>,
}

/// The exception events of Bedrock's two stream unions
/// (`ConverseStreamOutput`, `ResponseStream` in the API definition).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum StreamException {
    /// `internalServerException`.
    InternalServer,
    /// `modelStreamErrorException`.
    #[default]
    ModelStreamError,
    /// `validationException`.
    Validation,
    /// `throttlingException`.
    Throttling,
    /// `modelTimeoutException` (InvokeModelWithResponseStream only; a
    /// ConverseStream gets modelStreamErrorException, which its union has).
    ModelTimeout,
    /// `serviceUnavailableException`.
    ServiceUnavailable,
}

impl StreamException {
    /// The event's `:exception-type`, and AWS's message for it.
    pub fn event(self, converse: bool) -> (&'static str, &'static str) {
        match self {
            StreamException::InternalServer => (
                "internalServerException",
                "The server encountered an internal error while processing the request.",
            ),
            StreamException::ModelStreamError => (
                "modelStreamErrorException",
                "The model stream was interrupted (injected fault).",
            ),
            StreamException::Validation => (
                "validationException",
                "Input is too long for requested model.",
            ),
            StreamException::Throttling => (
                "throttlingException",
                "Too many tokens, please wait before trying again.",
            ),
            StreamException::ModelTimeout if converse => (
                "modelStreamErrorException",
                "The model stream was interrupted (injected fault).",
            ),
            StreamException::ModelTimeout => (
                "modelTimeoutException",
                "Model has timed out in processing the request. Try your request again.",
            ),
            StreamException::ServiceUnavailable => (
                "serviceUnavailableException",
                "Bedrock is unable to process your request.",
            ),
        }
    }
}

/// How to run the emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Port on 127.0.0.1; 0 for any free port.
    pub port: u16,
    /// The region it serves, unless the Host header names another.
    pub region: String,
    /// Users, roles and permissions.
    pub directory: Directory,
    /// Faults to inject.
    pub faults: Faults,
    /// Serve HTTPS with a certificate for these names (and 127.0.0.1).
    pub tls_names: Option<Vec<String>>,
    /// Append each record entry as a JSON line to this file.
    pub record_file: Option<PathBuf>,
}

impl Default for EmulatorConfig {
    fn default() -> EmulatorConfig {
        EmulatorConfig {
            port: 0,
            region: "us-west-2".into(),
            directory: Directory::default(),
            faults: Faults::default(),
            tls_names: None,
            record_file: None,
        }
    }
}

/// Shared state of a running emulator.
pub(crate) struct State {
    pub region: String,
    pub identities: Identities,
    pub faults: Faults,
    pub record: Arc<Record>,
    pub model_calls: Mutex<u32>,
    pub imds_tokens: Mutex<HashMap<String, SystemTime>>,
    /// How many streams the stream-error fault has failed.
    pub streams_failed: Mutex<u32>,
    /// How many streams were stalled by fault injection.
    pub streams_stalled: Mutex<u32>,
}

impl State {
    /// The region a request is for: the one its Host names, else ours.
    pub(crate) fn region_for(&self, host: &str) -> String {
        let host = host.split(':').next().unwrap_or(host);
        let labels: Vec<&str> = host.split('.').collect();
        for (i, l) in labels.iter().enumerate() {
            if (*l == "bedrock-runtime" || *l == "sts") && i + 2 < labels.len() {
                let candidate = labels[i + 1];
                if is_region_name(candidate) {
                    return candidate.to_string();
                }
            }
        }
        self.region.clone()
    }

    /// Whether this stream gets the stream-error fault (counting it).
    pub(crate) fn stream_fails(&self) -> bool {
        let mut n = self
            .streams_failed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let due = self.faults.stream_error_times.is_none_or(|max| *n < max);
        if due {
            *n += 1;
        }
        due
    }

    /// Whether this stream gets the stall fault (counting it).
    pub(crate) fn stream_stalls(&self) -> bool {
        if self.faults.stall_stream_after.is_none() {
            return false;
        }
        let mut n = self
            .streams_stalled
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let due = self.faults.stall_stream_times.is_none_or(|max| *n < max);
        if due {
            *n += 1;
        }
        due
    }

    /// Counts a model call and says which fault, if any, it gets. A call
    /// whose operation cannot return the `--fail-with` error (its
    /// definition does not list it) is served, and not counted.
    pub(crate) fn next_call_fault(&self, fail_applies: bool) -> Option<CallFault> {
        let mut n = self.model_calls.lock().expect("calls lock");
        let next = *n + 1;
        let fault = if next <= self.faults.throttle_first {
            Some(CallFault::Throttle)
        } else if next <= self.faults.throttle_first + self.faults.fail_first {
            Some(CallFault::Unavailable)
        } else {
            None
        };
        if fault == Some(CallFault::Unavailable) && !fail_applies {
            return None;
        }
        *n = next;
        fault
    }
}

/// Whether `label` has the shape of an AWS region name, as the endpoint
/// rules of the SDKs match it: a two-letter area, one or more words, a
/// number (`us-west-2`, `us-gov-west-1`, `ap-southeast-3`).
pub fn is_region_name(label: &str) -> bool {
    let parts: Vec<&str> = label.split('-').collect();
    let word = |s: &&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1].iter().all(word)
        && !parts[parts.len() - 1].is_empty()
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

/// A fault applied to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallFault {
    Throttle,
    Unavailable,
}

/// A running emulator; stops when dropped.
pub struct Emulator {
    /// `http://127.0.0.1:PORT` or `https://...`.
    pub base_url: String,
    /// The port it listens on.
    pub port: u16,
    /// The request record.
    pub record: Arc<Record>,
    /// The CA certificate (PEM) in HTTPS mode.
    pub ca_pem: Option<String>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Emulator {
    /// Starts on its own thread and runtime and returns once it accepts
    /// connections.
    pub fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("bedrock-emulator".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    match bind(config).await {
                        Ok(server) => {
                            let _ = ready_tx.send(Ok((
                                server.base_url.clone(),
                                server.port,
                                server.record.clone(),
                                server.ca_pem.clone(),
                            )));
                            server
                                .serve(async {
                                    let _ = stop_rx.await;
                                })
                                .await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })?;
        let (base_url, port, record, ca_pem) = ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("emulator thread ended"))??;
        Ok(Emulator {
            base_url,
            port,
            record,
            ca_pem,
            shutdown: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A bound, not yet serving, emulator.
pub struct Server {
    listener: TcpListener,
    state: Arc<State>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// Base URL.
    pub base_url: String,
    /// Port.
    pub port: u16,
    /// Request record.
    pub record: Arc<Record>,
    /// CA certificate in HTTPS mode.
    pub ca_pem: Option<String>,
}

/// Binds the port and prepares TLS; nothing is served until [`Server::serve`].
pub async fn bind(config: EmulatorConfig) -> std::io::Result<Server> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], config.port))).await?;
    let port = listener.local_addr()?.port();
    let (tls, ca_pem) = match &config.tls_names {
        Some(names) => {
            let material = TlsMaterial::generate(names).map_err(std::io::Error::other)?;
            (Some(material.acceptor()?), Some(material.ca_pem))
        }
        None => (None, None),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let record = Arc::new(Record::new(config.record_file.clone()));
    let state = Arc::new(State {
        region: config.region,
        identities: Identities::new(config.directory),
        faults: config.faults,
        record: record.clone(),
        model_calls: Mutex::new(0),
        streams_failed: Mutex::new(0),
        streams_stalled: Mutex::new(0),
        imds_tokens: Mutex::new(HashMap::new()),
    });
    Ok(Server {
        listener,
        state,
        tls,
        base_url: format!("{scheme}://127.0.0.1:{port}"),
        port,
        record,
        ca_pem,
    })
}

impl Server {
    /// Serves until `stop` completes; connections in flight are dropped then.
    pub async fn serve(self, stop: impl std::future::Future<Output = ()>) {
        let Server {
            listener,
            state,
            tls,
            ..
        } = self;
        let accept = async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(route(state, req).await) }
                    });
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match tls {
                        Some(acceptor) => {
                            if let Ok(tls_stream) = acceptor.accept(stream).await {
                                let _ = builder
                                    .serve_connection(TokioIo::new(tls_stream), service)
                                    .await;
                            }
                        }
                        None => {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                });
            }
        };
        tokio::select! {
            _ = accept => {}
            _ = stop => {}
        }
    }
}

/// Sends each request to its service.
async fn route(
    state: Arc<State>,
    req: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Body> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return plain(400, "could not read the request body"),
    };
    let path = parts.uri.path().to_string();
    if path.starts_with("/__emulator/") {
        return admin(&state, &parts, &path);
    }
    if path.starts_with("/latest/") {
        return imds::handle(&state, &parts, &path);
    }
    if path.starts_with("/model/") {
        return bedrock::handle(state, &parts, &body).await;
    }
    if control::serves(&path) {
        return control::handle(&state, &parts, &body);
    }
    if parts.method == http::Method::POST && path == "/" {
        return sts::handle(&state, &parts, &body);
    }
    plain(404, "UnknownOperationException")
}

fn admin(state: &State, parts: &http::request::Parts, path: &str) -> hyper::Response<Body> {
    match (parts.method.clone(), path) {
        (http::Method::GET, "/__emulator/requests") => {
            let json = serde_json::to_vec(&state.record.entries()).unwrap_or_default();
            response(200, &[("content-type", "application/json")], json)
        }
        (http::Method::DELETE, "/__emulator/requests") => {
            state.record.clear();
            response(204, &[], Vec::new())
        }
        // A token of the emulator's OIDC provider, for
        // AWS_WEB_IDENTITY_TOKEN_FILE: `?sub=...&aud=...&ttl=SECONDS`.
        (http::Method::GET, "/__emulator/web-identity-token") => {
            let query: std::collections::HashMap<String, String> =
                url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                    .into_owned()
                    .collect();
            let get = |k: &str, default: &str| query.get(k).cloned().unwrap_or(default.into());
            let Ok(ttl) = get("ttl", "3600").parse::<u64>() else {
                return plain(400, "ttl: expected seconds");
            };
            let token = oidc::token(
                &get("sub", "system:serviceaccount:workshop:demo"),
                &get("aud", oidc::DEMO_AUDIENCE),
                Duration::from_secs(ttl),
            );
            plain(200, &token)
        }
        _ => plain(404, "unknown admin path"),
    }
}

/// A whole response with headers.
pub(crate) fn response(
    status: u16,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> hyper::Response<Body> {
    let mut builder = hyper::Response::builder().status(status);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder
        .body(
            Full::new(body.into())
                .map_err(|never| match never {})
                .boxed(),
        )
        .expect("valid response")
}

fn plain(status: u16, text: &str) -> hyper::Response<Body> {
    response(status, &[("content-type", "text/plain")], text.to_string())
}

/// The host a request was sent to: the Host header (HTTP/1.1) or the
/// `:authority` (HTTP/2, where there is no Host header).
pub(crate) fn host_of(parts: &http::request::Parts) -> String {
    parts
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default()
}

/// A request id in AWS's shape.
pub(crate) fn request_id() -> String {
    let n = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let h = format!(
        "{:032x}",
        n.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C834)
    );
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

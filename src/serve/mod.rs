//! `invoke serve`: a private gateway to Bedrock for tools that cannot
//! assume a role or be pointed at a VPC endpoint. It serves an
//! OpenAI-compatible API, authenticates clients with its own tokens (kept
//! as salted hashes in the config), and calls Bedrock with the config's
//! credentials through the config's endpoint, refreshing those credentials
//! in the background so that no request waits on STS after the first.
//!
//! It keeps no state beyond its credentials and per-process counters, so
//! several can run behind a load balancer (`docs/gateway.md`).

pub(crate) mod http;
pub(crate) mod native;
pub(crate) mod openai;
pub(crate) mod tokens;

use crate::aws::credentials::{self, Resolved, RunTime};
use crate::aws::diagnose::{self, Context};
use crate::aws::plan::{Auth, BedrockAuth, Plan};
use crate::config::ModelAlias;
use crate::error::{Error, ExitCode, Hop, Result};
use crate::invoke::{Options, cache_for, load};
use crate::prompt::Terminal;
use aws_credential_types::Credentials;
use aws_credential_types::provider::future::ProvideCredentials as CredentialsFuture;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_bedrockruntime::primitives::Blob;
use hyper::body::Incoming;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};
use tokens::Token;

/// How `invoke serve` listens and what it allows.
#[derive(Debug, Clone)]
pub(crate) struct ServeOptions {
    /// `--listen ADDR:PORT` (default 127.0.0.1:8080).
    pub(crate) listen: SocketAddr,
    /// `--tls-cert` and `--tls-key`: PEM files.
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    /// `--insecure-http`: plain HTTP on a non-loopback address.
    pub(crate) insecure_http: bool,
    /// `--max-body BYTES`.
    pub(crate) max_body: usize,
    /// `--max-streams N`: upstream calls in flight at once.
    pub(crate) max_streams: usize,
    /// `--access-log FILE` (default standard error).
    pub(crate) access_log: Option<PathBuf>,
    /// `--shutdown-grace SECS`: how long open requests may finish after
    /// SIGTERM.
    pub(crate) shutdown_grace: Duration,
}

/// `invoke serve token ...`.
#[derive(Debug, Clone)]
pub(crate) enum TokenAction {
    Add {
        name: String,
        models: Vec<String>,
        rpm: Option<u32>,
    },
    List,
    Revoke {
        name: String,
    },
}

/// Runs a token command on the config.
pub(crate) fn token(opts: &Options, action: &TokenAction) -> Result<ExitCode> {
    let path = crate::invoke::config_path(opts.config.path.as_deref(), &mut Terminal)?;
    match action {
        TokenAction::List => {
            let opened = crate::config::sealed::open(&path, &opts.config.keys)?;
            let list = tokens::read(&opened.doc)?;
            if list.is_empty() {
                eprintln!("no tokens: `invoke serve token add NAME` makes one");
            }
            for t in list {
                let models = if t.models.is_empty() {
                    "all models".to_string()
                } else {
                    t.models.join(",")
                };
                let rpm = t.rpm.map_or("no rate limit".to_string(), |r| {
                    format!("{r} requests a minute")
                });
                println!("{}\t{models}\t{rpm}", t.name);
            }
        }
        TokenAction::Add { name, models, rpm } => {
            let mut made = None;
            crate::encrypt::set::edit_sealed(
                &path,
                &opts.config.keys,
                &mut crate::encrypt::Disk,
                |doc| {
                    made = Some(tokens::add(doc, name, models, *rpm)?);
                    Ok(())
                },
            )?;
            let token = made.expect("the edit ran");
            eprintln!(
                "invoke: token {name} added to {}; it is shown this once, keep it in a secret store:",
                path.display()
            );
            println!("{}", token.expose());
        }
        TokenAction::Revoke { name } => {
            crate::encrypt::set::edit_sealed(
                &path,
                &opts.config.keys,
                &mut crate::encrypt::Disk,
                |doc| tokens::revoke(doc, name),
            )?;
            eprintln!(
                "invoke: token {name} revoked in {}; gateways running with the old file keep it until restarted",
                path.display()
            );
        }
    }
    Ok(ExitCode::Ok)
}

/// Credentials handed out at once from memory, and replaced in the
/// background before they expire: a request never waits on STS.
#[derive(Debug)]
struct Current(Arc<RwLock<Credentials>>);

impl ProvideCredentials for Current {
    fn provide_credentials<'a>(&'a self) -> CredentialsFuture<'a>
    where
        Self: 'a,
    {
        let c = self.0.read().unwrap_or_else(|e| e.into_inner()).clone();
        CredentialsFuture::ready(Ok(c))
    }
}

/// Counters for `/metrics`.
#[derive(Default)]
struct Metrics {
    requests: Mutex<HashMap<(String, u16), u64>>,
    tokens_in: AtomicU64,
    tokens_out: AtomicU64,
    streams_open: AtomicU64,
    refreshes: AtomicU64,
    refresh_failures: AtomicU64,
}

impl Metrics {
    fn count(&self, route: &str, status: u16) {
        let mut m = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry((route.to_string(), status)).or_default() += 1;
    }

    fn render(&self) -> String {
        let mut out = String::from(
            "# HELP bedrock_gateway_requests_total Requests by route and status.\n# TYPE bedrock_gateway_requests_total counter\n",
        );
        let m = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<_> = m.iter().collect();
        rows.sort();
        for ((route, status), n) in rows {
            out += &format!(
                "bedrock_gateway_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}\n"
            );
        }
        for (name, help, kind, v) in [
            (
                "bedrock_gateway_tokens_in_total",
                "Input tokens Bedrock counted.",
                "counter",
                &self.tokens_in,
            ),
            (
                "bedrock_gateway_tokens_out_total",
                "Output tokens Bedrock counted.",
                "counter",
                &self.tokens_out,
            ),
            (
                "bedrock_gateway_streams_open",
                "Upstream streams open now.",
                "gauge",
                &self.streams_open,
            ),
            (
                "bedrock_gateway_credential_refreshes_total",
                "Credentials refreshed.",
                "counter",
                &self.refreshes,
            ),
            (
                "bedrock_gateway_credential_refresh_failures_total",
                "Refreshes that failed (retried).",
                "counter",
                &self.refresh_failures,
            ),
        ] {
            out += &format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}\n",
                v.load(Ordering::Relaxed)
            );
        }
        out
    }
}

/// Everything a request needs.
struct Gateway {
    plan: Plan,
    runtime: RunTime,
    client: aws_sdk_bedrockruntime::Client,
    /// The same, without retries: a relayed request's failures go back to
    /// the client, whose SDK retries as it is configured to.
    relay_client: aws_sdk_bedrockruntime::Client,
    credentials: Option<Arc<RwLock<Credentials>>>,
    /// Serialises refreshes; holds when the last one was made.
    refreshing: tokio::sync::Mutex<Option<Instant>>,
    tokens: Vec<Token>,
    aliases: Vec<ModelAlias>,
    /// Request times per token in the last minute.
    windows: Mutex<HashMap<String, VecDeque<Instant>>>,
    streams: Arc<tokio::sync::Semaphore>,
    metrics: Metrics,
    log: Mutex<Box<dyn std::io::Write + Send>>,
    max_body: usize,
    ctx: Context,
}

/// One access log line: never a prompt, a reply or a secret.
struct Access {
    started: Instant,
    token: Option<String>,
    route: &'static str,
    model: Option<String>,
    tokens_in: Option<i32>,
    tokens_out: Option<i32>,
    /// Where it is logged, and whether it was: a request its client
    /// abandons is logged when its handler is dropped, as 499.
    gw: Arc<Gateway>,
    logged: std::sync::atomic::AtomicBool,
}

impl Drop for Access {
    fn drop(&mut self) {
        if !self.logged.load(Ordering::Relaxed) {
            let gw = self.gw.clone();
            gw.log(self, 499);
        }
    }
}

impl Gateway {
    fn log(&self, a: &Access, status: u16) {
        if a.logged.swap(true, Ordering::Relaxed) {
            return;
        }
        self.metrics.count(a.route, status);
        if let Some(n) = a.tokens_in {
            self.metrics
                .tokens_in
                .fetch_add(n.max(0) as u64, Ordering::Relaxed);
        }
        if let Some(n) = a.tokens_out {
            self.metrics
                .tokens_out
                .fetch_add(n.max(0) as u64, Ordering::Relaxed);
        }
        let line = json!({
            "time": crate::output::iso_time(SystemTime::now()),
            "token": a.token,
            "route": a.route,
            "model": a.model,
            "status": status,
            "tokens_in": a.tokens_in,
            "tokens_out": a.tokens_out,
            "latency_ms": crate::invoke::reply::ms(a.started.elapsed()),
        });
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(log, "{line}");
        let _ = log.flush();
    }

    /// The token a request presents, if it is one of ours.
    fn authenticate(&self, req: &hyper::Request<Incoming>) -> Option<&Token> {
        let header = req.headers().get("authorization")?.to_str().ok()?;
        // The scheme is case-insensitive (RFC 9110).
        let (scheme, presented) = header.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let presented = presented.trim();
        // Every hash is checked, so the time taken does not say which
        // token came close.
        let mut found = None;
        for t in &self.tokens {
            if t.matches(presented) && found.is_none() {
                found = Some(t);
            }
        }
        found
    }

    /// Whether `token` may make another request now (its requests a minute).
    fn admit(&self, token: &Token) -> bool {
        let Some(rpm) = token.rpm else { return true };
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let window = windows.entry(token.name.clone()).or_default();
        let now = Instant::now();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            window.pop_front();
        }
        if window.len() as u64 >= u64::from(rpm) {
            return false;
        }
        window.push_back(now);
        true
    }

    /// The model id a client's name stands for: a `[models]` alias, or the
    /// name itself.
    fn model_id(&self, name: &str) -> String {
        crate::invoke::model_choice::lookup(name, &self.aliases)
            .map(|m| m.id)
            .unwrap_or_else(|| name.to_string())
    }

    /// New credentials from the source, unless another request refreshed
    /// them in the last few seconds.
    async fn refresh(&self) -> Result<()> {
        let Some(current) = &self.credentials else {
            return Ok(());
        };
        let mut last = self.refreshing.lock().await;
        // Requests that met the same refusal wait here for one refresh,
        // then use what it brought.
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return Ok(());
        }
        let mut ctx = self.plan.context(None);
        let fresh = credentials::resolve(&self.plan, &self.runtime, &mut ctx).await;
        *last = Some(Instant::now());
        match fresh {
            Ok(r) => {
                let c = r
                    .provider
                    .provide_credentials()
                    .await
                    .map_err(|e| diagnose::credentials_error(Hop::Sts, &e, &ctx))?;
                *current.write().unwrap_or_else(|e| e.into_inner()) = c;
                self.metrics.refreshes.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.metrics
                    .refresh_failures
                    .fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Makes a call, and makes it once more with fresh credentials when
    /// Bedrock refused the ones in use (`refused` reads the outcome): a
    /// session revoked or expired early costs the client nothing.
    async fn with_fresh_credentials<T, F, Fut>(&self, refused: impl Fn(&T) -> bool, call: F) -> T
    where
        F: Fn() -> Fut,
        Fut: Future<Output = T>,
    {
        let out = call().await;
        if refused(&out) && self.refresh().await.is_ok() {
            return call().await;
        }
        out
    }
}

/// The error codes with which Bedrock refuses credentials that fresh ones
/// may fix: an expired, revoked or unknown session.
const REFUSED_CREDENTIALS: [&str; 4] = [
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredToken",
];

/// When to refresh credentials that expire at `expiry`: five minutes
/// before, or halfway there for short sessions; never sooner than 10 s.
fn refresh_in(expiry: Option<SystemTime>) -> Option<Duration> {
    let left = expiry?
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    let ahead = Duration::from_secs(300).min(left / 2);
    Some(left.saturating_sub(ahead).max(Duration::from_secs(10)))
}

/// Keeps the credentials fresh until the process ends: a failure is logged
/// and tried again while the old credentials still work.
async fn keep_fresh(gw: Arc<Gateway>) {
    loop {
        let expiry = gw
            .credentials
            .as_ref()
            .and_then(|c| c.read().unwrap_or_else(|e| e.into_inner()).expiry());
        let Some(wait) = refresh_in(expiry) else {
            return;
        };
        tokio::time::sleep(wait).await;
        loop {
            match gw.refresh().await {
                Ok(()) => break,
                Err(e) => {
                    eprintln!(
                        "invoke serve: warning: credential refresh failed, trying again in 30 s: {e}"
                    );
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            }
        }
    }
}

/// Runs `invoke serve`.
pub(crate) async fn run(opts: &Options, s: &ServeOptions) -> Result<ExitCode> {
    let loopback = s.listen.ip().is_loopback();
    if !loopback && s.tls.is_none() && !s.insecure_http {
        return Err(Error::Usage(format!(
            "--listen {}: not a loopback address, so the tokens would cross the network in clear: give --tls-cert and --tls-key, \
             or --insecure-http when TLS ends in front of the gateway (a load balancer)",
            s.listen
        )));
    }
    let loaded = load(&opts.config, &mut Terminal)?;
    crate::invoke::warn_all(&loaded.warnings);
    let opened = crate::config::sealed::open(&loaded.config.path, &opts.config.keys)?;
    let tokens = tokens::read(&opened.doc)?;
    if tokens.is_empty() {
        return Err(Error::Usage(
            "no gateway tokens in the config: add one with `invoke serve token add NAME` (it is shown once)".into(),
        ));
    }
    let plan = Plan::new(loaded.config, opts.aws.clone()).await?;
    crate::invoke::warn_all(&plan.warnings);
    let runtime = RunTime {
        interactive: false,
        cache: cache_for(loaded.key, plan.options.cache_dir.clone()),
    };
    let mut ctx = plan.context(None);
    let (client, credentials) = match &plan.options.auth {
        Auth::Bearer(token) => (
            plan.bedrock_client(&plan.bedrock, BedrockAuth::Bearer(token.clone())),
            None,
        ),
        Auth::SigV4 { .. } => {
            let resolved: Resolved = credentials::resolve(&plan, &runtime, &mut ctx).await?;
            crate::output::note(
                "credentials",
                &format!("{} (key {})", resolved.description, resolved.key_id),
            );
            let first = resolved
                .provider
                .provide_credentials()
                .await
                .map_err(|e| diagnose::credentials_error(Hop::Sts, &e, &ctx))?;
            let current = Arc::new(RwLock::new(first));
            let provider = SharedCredentialsProvider::new(Current(current.clone()));
            let client = plan.bedrock_client(&plan.bedrock, BedrockAuth::SigV4(provider));
            // No cache in the client: `Current` answers from memory, and a
            // cache would keep the replaced credentials until their expiry.
            let config = client
                .config()
                .to_builder()
                .identity_cache(aws_sdk_bedrockruntime::config::IdentityCache::no_cache())
                .build();
            (
                aws_sdk_bedrockruntime::Client::from_conf(config),
                Some(current),
            )
        }
    };
    ctx.host = Some(plan.bedrock.url.shown_host().to_string());
    let log: Box<dyn std::io::Write + Send> = match &s.access_log {
        None => Box::new(std::io::stderr()),
        Some(p) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|source| Error::Write {
                    path: p.clone(),
                    source,
                })?,
        ),
    };
    let listener = tokio::net::TcpListener::bind(s.listen)
        .await
        .map_err(|e| Error::Usage(format!("--listen {}: cannot listen there: {e}", s.listen)))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::Usage(e.to_string()))?;
    let tls = match &s.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let aliases = plan.config.models.clone();
    let relay_client = aws_sdk_bedrockruntime::Client::from_conf(
        client
            .config()
            .to_builder()
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .build(),
    );
    let gw = Arc::new(Gateway {
        relay_client,
        // Refreshes ask the source itself: the cache would hand back the
        // session being replaced.
        runtime: RunTime {
            interactive: false,
            cache: None,
        },
        client,
        credentials,
        refreshing: tokio::sync::Mutex::new(None),
        tokens,
        aliases,
        windows: Mutex::new(HashMap::new()),
        streams: Arc::new(tokio::sync::Semaphore::new(s.max_streams.max(1))),
        metrics: Metrics::default(),
        log: Mutex::new(log),
        max_body: s.max_body,
        ctx,
        plan,
    });
    crate::output::note("endpoint", &gw.plan.bedrock.to_string());
    let scheme = if tls.is_some() { "https" } else { "http" };
    // The address on stdout, alone on its line, once it accepts: what a
    // script or a test waits for.
    println!("{scheme}://{local}");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    tokio::spawn(keep_fresh(gw.clone()));
    serve(listener, tls, gw, s.shutdown_grace).await;
    Ok(ExitCode::Ok)
}

fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |flag: &str, path: &std::path::Path, why: String| {
        Error::Usage(format!("{flag} {}: {why}", path.display()))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("--tls-cert", cert, e.to_string()))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad("--tls-cert", cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(
            "--tls-cert",
            cert,
            "no certificate in it (expected PEM)".into(),
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        bad(
            "--tls-key",
            key,
            format!("no private key read from it (expected PEM): {e}"),
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Usage(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| {
            bad(
                "--tls-key",
                key,
                format!("does not go with the certificate: {e}"),
            )
        })?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections until SIGTERM or SIGINT, then lets open requests
/// finish for up to `grace`.
async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    gw: Arc<Gateway>,
    grace: Duration,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let stop = async {
        match term.as_mut() {
            Some(t) => {
                tokio::select! {
                    _ = t.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(stop);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let open = Arc::new(AtomicU64::new(0));
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => {
                    // Out of file handles, most likely: wait for some to
                    // close rather than spin.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Beyond the bound, a connection is closed at once: one client
        // holding many cannot take every handle.
        if open.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let gw = gw.clone();
        let tls = tls.clone();
        let open = open.clone();
        let watcher = graceful.watcher();
        open.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let gw = gw.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(gw, req).await) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            // A client that sends its headers slowly, or never, is let go.
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            match tls {
                Some(acceptor) => {
                    let accepted =
                        tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await;
                    if let Ok(Ok(s)) = accepted {
                        let _ = watcher
                            .watch(builder.serve_connection(TokioIo::new(s), service))
                            .await;
                    }
                }
                None => {
                    let _ = watcher
                        .watch(builder.serve_connection(TokioIo::new(stream), service))
                        .await;
                }
            }
            open.fetch_sub(1, Ordering::SeqCst);
        });
    }
    // No new connections; idle ones are closed, open requests may finish.
    drop(listener);
    eprintln!(
        "invoke serve: stopping: no new connections; open requests have {} s to finish",
        grace.as_secs()
    );
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(grace) => {
            eprintln!("invoke serve: requests still open after {} s were cut", grace.as_secs());
        }
    }
}

/// Inputs one embeddings request may carry.
const MAX_EMBEDDING_INPUTS: usize = 128;

/// Connections open at once; more are closed as they come.
const MAX_CONNECTIONS: u64 = 1024;

/// How long a client may take to send a request's headers (and the TLS
/// handshake before them).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Routes a request.
async fn handle(gw: Arc<Gateway>, req: hyper::Request<Incoming>) -> hyper::Response<http::Body> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    match (method.as_str(), path.as_str()) {
        ("GET", "/healthz") => return http::json(200, &json!({"status": "ok"})),
        ("GET", "/metrics") => {
            return http::text(200, "text/plain; version=0.0.4", gw.metrics.render());
        }
        _ => {}
    }
    if method == hyper::Method::POST
        && let Some((op, model)) = native::Op::route(&path)
    {
        return relay(gw, req, op, model).await;
    }
    let route: &'static str = match (method.as_str(), path.as_str()) {
        ("GET", "/v1/models") => "/v1/models",
        ("POST", "/v1/chat/completions") => "/v1/chat/completions",
        ("POST", "/v1/embeddings") => "/v1/embeddings",
        _ => {
            return http::json(
                404,
                &openai::error(
                    &format!("no route {method} {path}"),
                    "invalid_request_error",
                    "not_found",
                ),
            );
        }
    };
    let mut access = Access {
        started: Instant::now(),
        token: None,
        route,
        model: None,
        tokens_in: None,
        tokens_out: None,
        gw: gw.clone(),
        logged: std::sync::atomic::AtomicBool::new(false),
    };
    let Some(token) = gw.authenticate(&req) else {
        gw.log(&access, 401);
        return http::json(
            401,
            &openai::error(
                "a valid gateway token is required (Authorization: Bearer ...)",
                "invalid_request_error",
                "invalid_api_key",
            ),
        );
    };
    let token = token.clone();
    access.token = Some(token.name.clone());
    if !gw.admit(&token) {
        gw.log(&access, 429);
        return http::json(
            429,
            &openai::error(
                "this token's requests a minute are used up: wait and try again",
                "rate_limit_error",
                "rate_limit_exceeded",
            ),
        );
    }
    if route == "/v1/models" {
        let data: Vec<Value> = gw
            .aliases
            .iter()
            .filter(|a| token.allows(&a.id))
            .flat_map(|a| {
                [a.alias.clone(), a.id.clone()].map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": a.id.split('.').next().unwrap_or("aws")}))
            })
            .collect();
        gw.log(&access, 200);
        return http::json(200, &json!({"object": "list", "data": data}));
    }
    let body = match http::read(req.into_body(), gw.max_body).await {
        Ok(b) => b,
        Err(http::BodyError::TooLarge) => {
            gw.log(&access, 413);
            return http::json(
                413,
                &openai::error(
                    &format!("the request body is over {} bytes", gw.max_body),
                    "invalid_request_error",
                    "request_too_large",
                ),
            );
        }
        Err(http::BodyError::Broken) => {
            gw.log(&access, 400);
            return http::json(
                400,
                &openai::error(
                    "the request body could not be read",
                    "invalid_request_error",
                    "bad_body",
                ),
            );
        }
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            gw.log(&access, 400);
            return http::json(
                400,
                &openai::error(
                    &format!("the body is not JSON: {e}"),
                    "invalid_request_error",
                    "bad_json",
                ),
            );
        }
    };
    let Some(named) = value["model"].as_str().filter(|m| !m.trim().is_empty()) else {
        gw.log(&access, 400);
        return http::json(
            400,
            &openai::error("model is required", "invalid_request_error", "bad_request"),
        );
    };
    let model = gw.model_id(named);
    access.model = Some(model.clone());
    if !token.allows(&model) {
        gw.log(&access, 403);
        return http::json(
            403,
            &openai::error(
                &format!("this token may not call {model}"),
                "permission_error",
                "model_not_allowed",
            ),
        );
    }
    if route == "/v1/embeddings" {
        return embeddings(&gw, access, &model, &value).await;
    }
    chat(gw, access, &model, &value).await
}

/// A Bedrock error in Bedrock's own shape (the runtime's REST-JSON), for
/// the native routes: what an AWS SDK reads.
fn bedrock_error(status: u16, kind: &str, message: &str) -> hyper::Response<http::Body> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-errortype", kind)
        .body(http::full(json!({"message": message}).to_string()))
        .expect("a valid response")
}

/// A Bedrock-native request, relayed: the token checked as a Bedrock API
/// key, the body sent on signed with the config's credentials, Bedrock's
/// answer returned as it came.
async fn relay(
    gw: Arc<Gateway>,
    req: hyper::Request<Incoming>,
    op: native::Op,
    model: String,
) -> hyper::Response<http::Body> {
    let mut access = Access {
        started: Instant::now(),
        token: None,
        route: op.name(),
        model: Some(model.clone()),
        tokens_in: None,
        tokens_out: None,
        gw: gw.clone(),
        logged: std::sync::atomic::AtomicBool::new(false),
    };
    let Some(token) = gw.authenticate(&req).cloned() else {
        gw.log(&access, 403);
        // Bedrock's answer to an unknown API key.
        return bedrock_error(
            403,
            "AccessDeniedException",
            "Authentication failed: Please make sure your API Key is valid.",
        );
    };
    access.token = Some(token.name.clone());
    if !gw.admit(&token) {
        gw.log(&access, 429);
        return bedrock_error(
            429,
            "ThrottlingException",
            "Too many requests for this gateway token, please wait before trying again.",
        );
    }
    let model = gw.model_id(&model);
    access.model = Some(model.clone());
    if !token.allows(&model) {
        gw.log(&access, 403);
        return bedrock_error(
            403,
            "AccessDeniedException",
            &format!("This gateway token may not call {model}."),
        );
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (content_type, accept) = (header("content-type"), header("accept"));
    let (guardrail, guardrail_version, trace) = (
        header("x-amzn-bedrock-guardrailidentifier"),
        header("x-amzn-bedrock-guardrailversion"),
        header("x-amzn-bedrock-trace"),
    );
    let body = match http::read(req.into_body(), gw.max_body).await {
        Ok(b) => b,
        Err(http::BodyError::TooLarge) => {
            gw.log(&access, 413);
            return bedrock_error(
                413,
                "ValidationException",
                &format!(
                    "The request body is over this gateway's limit of {} bytes.",
                    gw.max_body
                ),
            );
        }
        Err(http::BodyError::Broken) => {
            gw.log(&access, 400);
            return bedrock_error(
                400,
                "ValidationException",
                "The request body could not be read.",
            );
        }
    };
    let Ok(permit) = gw.streams.clone().try_acquire_owned() else {
        gw.log(&access, 429);
        return bedrock_error(
            429,
            "ThrottlingException",
            "The gateway has as many calls open as it allows; try again shortly.",
        );
    };
    let send = |client: aws_sdk_bedrockruntime::Client| {
        let swap = matches!(op, native::Op::Converse | native::Op::ConverseStream);
        let (interceptor, taken) = native::Relay::new(swap.then(|| body.clone()));
        let model = model.clone();
        let (ct, ac, g, gv, tr) = (
            content_type.clone(),
            accept.clone(),
            guardrail.clone(),
            guardrail_version.clone(),
            trace.clone(),
        );
        let blob = Blob::new(body.to_vec());
        async move {
            let _ = match op {
                native::Op::Converse => client
                    .converse()
                    .model_id(model)
                    .customize()
                    .interceptor(interceptor)
                    .send()
                    .await
                    .map(drop)
                    .map_err(drop),
                native::Op::ConverseStream => client
                    .converse_stream()
                    .model_id(model)
                    .customize()
                    .interceptor(interceptor)
                    .send()
                    .await
                    .map(drop)
                    .map_err(drop),
                native::Op::Invoke => client
                    .invoke_model()
                    .model_id(model)
                    .body(blob)
                    .set_content_type(ct)
                    .set_accept(ac)
                    .set_guardrail_identifier(g)
                    .set_guardrail_version(gv)
                    .set_trace(tr.map(|t| t.as_str().into()))
                    .customize()
                    .interceptor(interceptor)
                    .send()
                    .await
                    .map(drop)
                    .map_err(drop),
                native::Op::InvokeStream => client
                    .invoke_model_with_response_stream()
                    .model_id(model)
                    .body(blob)
                    .set_content_type(ct)
                    .set_accept(ac)
                    .set_guardrail_identifier(g)
                    .set_guardrail_version(gv)
                    .set_trace(tr.map(|t| t.as_str().into()))
                    .customize()
                    .interceptor(interceptor)
                    .send()
                    .await
                    .map(drop)
                    .map_err(drop),
            };
            taken.lock().unwrap_or_else(|e| e.into_inner()).take()
        }
    };
    let relayed = gw
        .with_fresh_credentials(
            |r: &Option<native::Relayed>| {
                r.as_ref().is_some_and(|r| {
                    r.status == 403
                        && r.error_type()
                            .is_some_and(|t| REFUSED_CREDENTIALS.contains(&t))
                })
            },
            || send(gw.relay_client.clone()),
        )
        .await;
    let Some(relayed) = relayed else {
        gw.log(&access, 502);
        drop(permit);
        return bedrock_error(
            502,
            "ServiceUnavailableException",
            "The gateway could not reach Bedrock.",
        );
    };
    access.tokens_in = relayed.number("x-amzn-bedrock-input-token-count");
    access.tokens_out = relayed.number("x-amzn-bedrock-output-token-count");
    let status = relayed.status;
    let mut builder = hyper::Response::builder().status(status);
    for (k, v) in relayed.headers.iter().filter(|(k, _)| native::passes(k)) {
        builder = builder.header(k, v);
    }
    if status >= 400 {
        // An error is small and whole: read, with the role's ARN and
        // account masked as everywhere else, before it goes back.
        let bytes = http_body_util::BodyExt::collect(relayed.body)
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let shown = gw.ctx.scrubber.scrub(&String::from_utf8_lossy(&bytes));
        gw.log(&access, status);
        return builder.body(http::full(shown)).expect("a valid response");
    }
    gw.metrics.streams_open.fetch_add(1, Ordering::Relaxed);
    let wait = gw.plan.options.read_timeout;
    let body = Guarded {
        inner: relayed.body,
        _permit: permit,
        gw: gw.clone(),
        access: Some(access),
        wait,
        idle: Box::pin(tokio::time::sleep(wait)),
    };
    builder
        .body(http_body_util::BodyExt::boxed(
            http_body_util::BodyExt::map_err(body, std::io::Error::other),
        ))
        .expect("a valid response")
}

/// A relayed body: it holds its stream slot and the open-stream gauge
/// until it ends, gives up when Bedrock sends nothing for
/// `--read-timeout`, and logs the request when it is over: 200 at its
/// end, 504 at a timeout, 502 when Bedrock's side broke, 499 when the
/// client went away first.
struct Guarded {
    inner: aws_smithy_types::body::SdkBody,
    _permit: tokio::sync::OwnedSemaphorePermit,
    gw: Arc<Gateway>,
    access: Option<Access>,
    wait: Duration,
    idle: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Guarded {
    fn finish(&mut self, status: u16) {
        if let Some(a) = self.access.take() {
            self.gw.log(&a, status);
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.finish(499);
        self.gw.metrics.streams_open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl hyper::body::Body for Guarded {
    type Data = bytes::Bytes;
    type Error = aws_smithy_types::body::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>>
    {
        use std::future::Future as _;
        use std::task::Poll;
        let this = self.get_mut();
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + this.wait;
                this.idle.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.finish(502);
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.finish(200);
                Poll::Ready(None)
            }
            Poll::Pending => {
                if this.idle.as_mut().poll(cx).is_ready() {
                    this.finish(504);
                    return Poll::Ready(Some(Err(
                        "Bedrock sent nothing within --read-timeout".into()
                    )));
                }
                Poll::Pending
            }
        }
    }
}

/// The status and OpenAI error for a Bedrock failure.
fn upstream_error(e: &Error) -> (u16, Value) {
    let (code, message) = match e {
        Error::Remote { code, message, .. } => (code.clone(), message.clone()),
        other => ("Error".into(), other.to_string()),
    };
    let status = match code.as_str() {
        "ValidationException" => 400,
        "AccessDeniedException" => 403,
        "ResourceNotFoundException" => 404,
        "ThrottlingException" | "ServiceQuotaExceededException" => 429,
        "ModelTimeoutException" | "ReadTimeout" | "Timeout" => 504,
        _ => 502,
    };
    let kind = if status == 400 {
        "invalid_request_error"
    } else {
        "api_error"
    };
    (
        status,
        openai::error(&format!("Bedrock: {code}: {message}"), kind, &code),
    )
}

fn completion_id() -> String {
    let n = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("chatcmpl-{n:x}")
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether a call failed because the credentials in use were refused.
fn credentials_refused<T>(out: &Result<T>) -> bool {
    matches!(out, Err(Error::Remote { code, .. }) if REFUSED_CREDENTIALS.contains(&code.as_str()))
}

async fn chat(
    gw: Arc<Gateway>,
    mut access: Access,
    model: &str,
    body: &Value,
) -> hyper::Response<http::Body> {
    let request = match openai::chat_request(body) {
        Ok(r) => r,
        Err(why) => {
            gw.log(&access, 400);
            return http::json(
                400,
                &openai::error(&why, "invalid_request_error", "bad_request"),
            );
        }
    };
    let Ok(permit) = gw.streams.clone().try_acquire_owned() else {
        gw.log(&access, 429);
        return http::json(
            429,
            &openai::error(
                "the gateway has as many calls open as it allows: try again shortly",
                "rate_limit_error",
                "too_many_streams",
            ),
        );
    };
    let (id, created) = (completion_id(), now_secs());
    if !request.stream {
        let call = || {
            gw.client
                .converse()
                .model_id(model)
                .set_system(Some(request.system.clone()).filter(|s| !s.is_empty()))
                .set_messages(Some(request.messages.clone()))
                .inference_config(request.inference.clone())
                .set_tool_config(request.tools.clone())
                .send()
        };
        let out = gw
            .with_fresh_credentials(credentials_refused, || async {
                call()
                    .await
                    .map_err(|e| diagnose::sdk_error(Hop::Bedrock, &e, &gw.ctx))
            })
            .await;
        drop(permit);
        return match out {
            Ok(out) => {
                let message = out.output().and_then(|o| o.as_message().ok()).map_or_else(
                    || openai::assistant_message(&[], request.tools_offered),
                    |m| openai::assistant_message(m.content(), request.tools_offered),
                );
                let (i, o) = openai::tokens(out.usage());
                access.tokens_in = Some(i);
                access.tokens_out = Some(o);
                gw.log(&access, 200);
                http::json(
                    200,
                    &openai::completion(
                        &id,
                        created,
                        &request.model,
                        message,
                        openai::finish_reason(out.stop_reason(), request.tools_offered),
                        openai::usage(i, o),
                    ),
                )
            }
            Err(e) => {
                let (status, body) = upstream_error(&e);
                gw.log(&access, status);
                http::json(status, &body)
            }
        };
    }
    let started = gw
        .with_fresh_credentials(credentials_refused, || async {
            gw.client
                .converse_stream()
                .model_id(model)
                .set_system(Some(request.system.clone()).filter(|s| !s.is_empty()))
                .set_messages(Some(request.messages.clone()))
                .inference_config(request.inference.clone())
                .set_tool_config(request.tools.clone())
                .send()
                .await
                .map_err(|e| diagnose::sdk_error(Hop::Bedrock, &e, &gw.ctx))
        })
        .await;
    let mut out = match started {
        Ok(out) => out,
        Err(e) => {
            let (status, body) = upstream_error(&e);
            gw.log(&access, status);
            return http::json(status, &body);
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let include_usage = request.include_usage;
    let mut chunks = openai::Chunks::new(id, created, request.model, request.tools_offered);
    let task_gw = gw.clone();
    tokio::spawn(async move {
        let gw = task_gw;
        gw.metrics.streams_open.fetch_add(1, Ordering::Relaxed);
        let mut status = 200;
        let mut client_gone = tx
            .send(http::event(&chunks.first().to_string()))
            .await
            .is_err();
        let read_timeout = gw.plan.options.read_timeout;
        while !client_gone {
            let next = tokio::select! {
                // The client went away while Bedrock was silent.
                _ = tx.closed() => {
                    client_gone = true;
                    break;
                }
                next = tokio::time::timeout(read_timeout, out.stream.recv()) => next,
            };
            let event = match next {
                Ok(Ok(Some(e))) => e,
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    let err = diagnose::sdk_error(Hop::Bedrock, &e, &gw.ctx);
                    let (s, body) = upstream_error(&err);
                    status = s;
                    let _ = tx.send(http::event(&body.to_string())).await;
                    break;
                }
                Err(_) => {
                    status = 504;
                    let body = openai::error(
                        "Bedrock sent nothing within the read timeout",
                        "api_error",
                        "timeout",
                    );
                    let _ = tx.send(http::event(&body.to_string())).await;
                    break;
                }
            };
            let piece = match chunks.translate(&event) {
                openai::Translated::Chunk(c) => Some(c),
                openai::Translated::Usage(i, o) => {
                    access.tokens_in = Some(i);
                    access.tokens_out = Some(o);
                    include_usage.then(|| chunks.usage(i, o))
                }
                openai::Translated::Nothing => None,
            };
            if let Some(p) = piece {
                client_gone = tx.send(http::event(&p.to_string())).await.is_err();
            }
        }
        if client_gone {
            // The client went away: dropping the stream ends the upstream call.
            status = 499;
        } else if status == 200 {
            let _ = tx.send(http::event("[DONE]")).await;
        }
        drop(out);
        gw.metrics.streams_open.fetch_sub(1, Ordering::Relaxed);
        gw.log(&access, status);
        drop(permit);
    });
    http::events(rx)
}

async fn embeddings(
    gw: &Gateway,
    mut access: Access,
    model: &str,
    body: &Value,
) -> hyper::Response<http::Body> {
    use crate::invoke::embed;
    let inputs = match openai::embedding_inputs(body) {
        Ok(i) => i,
        Err(why) => {
            gw.log(&access, 400);
            return http::json(
                400,
                &openai::error(&why, "invalid_request_error", "bad_request"),
            );
        }
    };
    // Each input is a call to Bedrock (Cohere's take 96 at once): a bound,
    // so that one request cannot make thousands.
    if inputs.len() > MAX_EMBEDDING_INPUTS {
        gw.log(&access, 400);
        return http::json(
            400,
            &openai::error(
                &format!("at most {MAX_EMBEDDING_INPUTS} inputs a request"),
                "invalid_request_error",
                "too_many_inputs",
            ),
        );
    }
    let Ok(_slot) = gw.streams.try_acquire() else {
        gw.log(&access, 429);
        return http::json(
            429,
            &openai::error(
                "the gateway has as many calls open as it allows: try again shortly",
                "rate_limit_error",
                "too_many_streams",
            ),
        );
    };
    let Some(family) = embed::family(model) else {
        gw.log(&access, 400);
        return http::json(
            400,
            &openai::error(
                &format!(
                    "{model} is not an embedding model this gateway knows (Titan Text Embeddings, Cohere Embed)"
                ),
                "invalid_request_error",
                "model_not_supported",
            ),
        );
    };
    let options = embed::EmbedOptions {
        dimensions: body["dimensions"].as_u64().map(|d| d as u32),
        ..embed::EmbedOptions::default()
    };
    let mut vectors = Vec::new();
    let mut tokens = 0u64;
    for b in embed::bodies(&options, family, &inputs) {
        let out = gw
            .client
            .invoke_model()
            .model_id(model)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(b.to_string()))
            .send()
            .await
            .map_err(|e| diagnose::sdk_error(Hop::Bedrock, &e, &gw.ctx));
        match out {
            Ok(out) => {
                let reply: Value = serde_json::from_slice(out.body().as_ref()).unwrap_or_default();
                tokens += reply["inputTextTokenCount"].as_u64().unwrap_or(0);
                vectors.extend(embed::vectors(family, &reply));
            }
            Err(e) => {
                let (status, body) = upstream_error(&e);
                gw.log(&access, status);
                return http::json(status, &body);
            }
        }
    }
    access.tokens_in = Some(tokens as i32);
    gw.log(&access, 200);
    http::json(200, &openai::embeddings(model, &vectors, tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_come_before_expiry() {
        let in_an_hour = SystemTime::now() + Duration::from_secs(3600);
        let wait = refresh_in(Some(in_an_hour)).unwrap();
        assert!(
            wait <= Duration::from_secs(3300) && wait > Duration::from_secs(3200),
            "{wait:?}"
        );
        let soon = SystemTime::now() + Duration::from_secs(60);
        let wait = refresh_in(Some(soon)).unwrap();
        assert!(wait <= Duration::from_secs(31), "{wait:?}");
        assert_eq!(refresh_in(None), None);
    }
}

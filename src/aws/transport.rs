//! The HTTP client every AWS client of the tool shares: rustls with the
//! system roots plus a custom CA bundle, proxies from the environment, and
//! `--resolve` overrides for name resolution.
//!
//! The SDK's default client honours `HTTPS_PROXY`/`NO_PROXY` but reads no CA
//! bundle (`AWS_CA_BUNDLE` and the profile's `ca_bundle` are ignored by the
//! Rust SDK) and resolves names only through the system, so the tool brings
//! its own, which the SDK's clients call through its `HttpClient` trait.
//!
//! It is the tool's own, not `aws-smithy-http-client` configured, for the
//! cost of a call: that crate parses the trust store's PEM again for every
//! TLS configuration it builds (one per ALPN variant, three a run: 82 % of a
//! cold call's instructions) and accepts no parsed store outside an unstable
//! compiler flag. Here the store is read and parsed once a process, into
//! one rustls configuration every connection shares. The system's trust
//! store is also read faster: the bundle file alone, not the bundle file
//! *and* every file of `/etc/ssl/certs` (about 300 on Debian, the same
//! certificates again); the folder is read only when no bundle file is
//! found or `SSL_CERT_DIR` asks for it.
//!
//! What it keeps of the SDK's client: connect and read timeouts, HTTPS
//! proxies through a CONNECT tunnel (plain-HTTP targets through a
//! forwarding proxy), `NO_PROXY`, HTTP/2 by ALPN with HTTP/1.1 beside it,
//! a pool of kept-alive connections, and the same classes of errors
//! (timeout, I/O, user) that decide what the SDK's retries try again.

use crate::aws::resolve::Overrides;
use crate::error::{Error, Result};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::body::SdkBody;
use http::Uri;
use hyper_util::client::legacy::Client as Pool;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector as TcpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Reads a PEM CA bundle, checking that it holds a certificate.
pub(crate) fn read_bundle(bundle: &Path) -> Result<Vec<u8>> {
    let pem = std::fs::read(bundle).map_err(|source| Error::Read {
        path: bundle.to_path_buf(),
        source,
    })?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(Error::Usage(format!(
            "{}: not a PEM CA bundle (no BEGIN CERTIFICATE block)",
            bundle.display()
        )));
    }
    Ok(pem)
}

/// Where the system keeps its CA bundle: `SSL_CERT_FILE`, else the first
/// of the usual places that exists.
pub(crate) fn system_bundle() -> Option<std::path::PathBuf> {
    if std::env::var_os("SSL_CERT_DIR").is_some() {
        return None;
    }
    if let Some(f) = std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()) {
        return Some(f.into());
    }
    [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/ca-bundle.pem",
        "/etc/pki/tls/cacert.pem",
        "/etc/ssl/cert.pem",
    ]
    .into_iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.is_file())
}

/// The roots the tool trusts: the system's (its bundle file, else
/// `rustls-native-certs`, which also reads `SSL_CERT_DIR`) and those of
/// `bundle` (PEM). A certificate rustls cannot use is skipped, as the
/// system's tools skip it.
pub(crate) fn roots(bundle: Option<&[u8]>) -> rustls::RootCertStore {
    let mut store = rustls::RootCertStore::empty();
    match system_bundle().and_then(|p| std::fs::read(p).ok()) {
        Some(pem) => {
            store.add_parsable_certificates(CertificateDer::pem_slice_iter(&pem).flatten());
        }
        None => {
            store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    if let Some(pem) = bundle {
        store.add_parsable_certificates(CertificateDer::pem_slice_iter(pem).flatten());
    }
    store
}

/// An HTTPS client that trusts the system roots and `bundle`, and resolves
/// names through `overrides` first.
pub(crate) fn client(bundle: Option<&Path>, overrides: &Overrides) -> Result<Transport> {
    let extra = bundle.map(read_bundle).transpose()?;
    Ok(Transport(Client {
        shared: Shared::new(extra.as_deref(), overrides, Matcher::from_env())?,
        pools: Arc::new(Mutex::new(HashMap::new())),
    }))
}

/// The run's HTTP client, for the SDK's clients and for the requests the
/// tool signs itself ([`crate::aws::signed`]): both share its connections.
#[derive(Clone, Debug)]
pub(crate) struct Transport(Client);

impl Transport {
    /// The client as the SDK's clients take it.
    pub(crate) fn sdk(&self) -> SharedHttpClient {
        SharedHttpClient::new(self.0.clone())
    }

    /// The pool of connections with these timeouts.
    pub(crate) fn connector(
        &self,
        connect: Option<Duration>,
        read: Option<Duration>,
    ) -> SharedHttpConnector {
        self.0.pool((connect, read))
    }
}

/// What every connection of a run shares: one TLS configuration (its
/// roots parsed once), the name overrides and the proxy rules.
struct Shared {
    tls: rustls::ClientConfig,
    overrides: Overrides,
    proxies: Matcher,
}

impl Shared {
    fn new(bundle: Option<&[u8]>, overrides: &Overrides, proxies: Matcher) -> Result<Arc<Shared>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Usage(format!("cannot set up TLS: {e}")))?
            .with_root_certificates(roots(bundle))
            .with_no_client_auth();
        Ok(Arc::new(Shared {
            tls,
            overrides: overrides.clone(),
            proxies,
        }))
    }
}

/// A connect timeout and a read timeout.
type Timeouts = (Option<Duration>, Option<Duration>);

/// The tool's `HttpClient`: one pool of connections for each pair of
/// timeouts the SDK's clients ask for (a run's clients all ask for the
/// same pair, IMDS for its own), so STS and Bedrock calls to one host
/// share kept-alive connections.
#[derive(Clone)]
struct Client {
    shared: Arc<Shared>,
    pools: Arc<Mutex<HashMap<Timeouts, SharedHttpConnector>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("transport::Client")
    }
}

impl HttpClient for Client {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.pool((settings.connect_timeout(), settings.read_timeout()))
    }
}

impl Client {
    fn pool(&self, key: Timeouts) -> SharedHttpConnector {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools
            .entry(key)
            .or_insert_with(|| SharedHttpConnector::new(Connector::new(&self.shared, key.0, key.1)))
            .clone()
    }
}

type Connect = TimedConnect<hyper_rustls::HttpsConnector<ProxyConnect>>;

/// One pool of connections with its timeouts.
struct Connector {
    pool: Pool<Connect, SdkBody>,
    shared: Arc<Shared>,
    read_timeout: Option<Duration>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("transport::Connector")
    }
}

impl Connector {
    fn new(
        shared: &Arc<Shared>,
        connect_timeout: Option<Duration>,
        read_timeout: Option<Duration>,
    ) -> Connector {
        let mut tcp = TcpConnector::new_with_resolver(Resolver(shared.overrides.clone()));
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(shared.tls.clone())
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(ProxyConnect {
                tcp,
                shared: shared.clone(),
            });
        let pool = Pool::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(TimedConnect {
                inner: https,
                timeout: connect_timeout,
            });
        Connector {
            pool,
            shared: shared.clone(),
            read_timeout,
        }
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let mut request = match request.try_into_http1x() {
            Ok(r) => r,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(e.into()))),
        };
        // A plain-HTTP request through a forwarding proxy carries the
        // proxy's credentials itself; an HTTPS one gives them to CONNECT.
        if request.uri().scheme() == Some(&http::uri::Scheme::HTTP)
            && let Some(auth) = self
                .shared
                .proxies
                .intercept(request.uri())
                .and_then(|i| i.basic_auth().cloned())
        {
            request
                .headers_mut()
                .insert(http::header::PROXY_AUTHORIZATION, auth);
        }
        let sending = self.pool.request(request);
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let answer = match read_timeout {
                Some(limit) => tokio::time::timeout(limit, sending).await.map_err(|_| {
                    ConnectorError::timeout(Box::new(TimedOut {
                        what: "HTTP read",
                        after: limit,
                    }))
                })?,
                None => sending.await,
            };
            let response = answer.map_err(|e| classify(Box::new(e)))?;
            Response::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// The SDK's class of a failed request, which decides whether its retry
/// strategy tries again: timeouts and I/O (refused, reset, DNS, TLS) are
/// transient (of HTTP/2's, only a GOAWAY or a refused stream, as the
/// SDK's own client has it); a request hyper refused to send is the
/// caller's.
fn classify(error: BoxError) -> ConnectorError {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error.as_ref());
    let mut io = false;
    while let Some(e) = next {
        if e.is::<TimedOut>() {
            return ConnectorError::timeout(error);
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_timeout() {
                return ConnectorError::timeout(error);
            }
            if h.is_user() {
                return ConnectorError::user(error);
            }
            if h.is_closed() || h.is_canceled() || h.is_incomplete_message() {
                io = true;
            }
        }
        if let Some(c) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
            io |= c.is_connect();
        }
        // Of HTTP/2's errors only those that say the request was not
        // processed are safe to send again (a Converse call is billed).
        io |= e.is::<std::io::Error>()
            || e.downcast_ref::<h2::Error>().is_some_and(|h| {
                h.is_go_away() || (h.is_reset() && h.reason() == Some(h2::Reason::REFUSED_STREAM))
            });
        next = e.source();
    }
    if io {
        ConnectorError::io(error)
    } else {
        ConnectorError::other(error, None)
    }
}

/// A timeout that fired, named so that diagnosis can tell a connection
/// never made ("HTTP connect timeout") from a reply that never started
/// ("HTTP read timeout").
#[derive(Debug)]
struct TimedOut {
    what: &'static str,
    after: Duration,
}

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} timeout occurred after {:?}", self.what, self.after)
    }
}

impl std::error::Error for TimedOut {}

/// Name resolution through `--resolve` first, then the system.
#[derive(Clone)]
struct Resolver(Overrides);

impl Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let overrides = self.0.clone();
        Box::pin(async move {
            let ips = overrides
                .lookup(name.as_str(), Duration::from_secs(5))
                .await?;
            Ok(ips
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 0))
                .collect::<Vec<_>>()
                .into_iter())
        })
    }
}

/// The connection to a host, or to the proxy the environment names for
/// it: through a CONNECT tunnel for HTTPS, to a forwarding proxy for
/// plain HTTP.
#[derive(Clone)]
struct ProxyConnect {
    tcp: TcpConnector<Resolver>,
    shared: Arc<Shared>,
}

type Connecting = Pin<Box<dyn Future<Output = std::result::Result<Stream, BoxError>> + Send>>;

impl Service<Uri> for ProxyConnect {
    type Response = Stream;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::result::Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Connecting {
        let mut tcp = self.tcp.clone();
        let intercept = self.shared.proxies.intercept(&dst);
        Box::pin(async move {
            let Some(proxy) = intercept else {
                let io = tcp.call(dst).await?;
                return Ok(Stream { io, forward: false });
            };
            if dst.scheme() == Some(&http::uri::Scheme::HTTPS) {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), tcp);
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let io = tunnel.call(dst).await?;
                Ok(Stream { io, forward: false })
            } else {
                let io = tcp.call(proxy.uri().clone()).await?;
                Ok(Stream { io, forward: true })
            }
        })
    }
}

/// A TCP connection, marked when it goes to a forwarding proxy (whose
/// requests hyper then writes with the whole URL).
struct Stream {
    io: TokioIo<TcpStream>,
    forward: bool,
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.forward)
    }
}

impl hyper::rt::Read for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The whole connection (name, TCP, proxy, TLS) within the connect
/// timeout, as the SDK's own client counts it.
#[derive(Clone)]
struct TimedConnect<C> {
    inner: C,
    timeout: Option<Duration>,
}

impl<C> tower_service::Service<Uri> for TimedConnect<C>
where
    C: Service<Uri>,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let connecting = self.inner.call(dst);
        let limit = self.timeout;
        Box::pin(async move {
            match limit {
                Some(after) => match tokio::time::timeout(after, connecting).await {
                    Ok(done) => done.map_err(Into::into),
                    Err(_) => Err(Box::new(TimedOut {
                        what: "HTTP connect",
                        after,
                    }) as BoxError),
                },
                None => connecting.await.map_err(Into::into),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server on loopback that reads one request head, hands it over,
    /// and answers with `reply` (or holds the connection, for `None`).
    async fn server(reply: Option<&'static str>) -> (u16, tokio::sync::oneshot::Receiver<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
            match reply {
                Some(r) => socket.write_all(r.as_bytes()).await.unwrap(),
                None => tokio::time::sleep(Duration::from_secs(30)).await,
            }
        });
        (port, rx)
    }

    fn connector(proxies: Matcher, connect: Option<Duration>, read: Option<Duration>) -> Connector {
        let shared = Shared::new(None, &Overrides::default(), proxies).unwrap();
        Connector::new(&shared, connect, read)
    }

    fn get(url: &str) -> HttpRequest {
        HttpRequest::try_from(
            http::Request::builder()
                .uri(url)
                .body(SdkBody::empty())
                .unwrap(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn plain_http_goes_to_a_forwarding_proxy_with_its_credentials() {
        let (port, head) = server(Some("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")).await;
        let proxies = Matcher::builder()
            .http(format!("http://user:pass@127.0.0.1:{port}"))
            .build();
        let response = connector(proxies, None, None)
            .call(get("http://bedrock.example.invalid/models"))
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let head = head.await.unwrap().to_ascii_lowercase();
        assert!(
            head.starts_with("get http://bedrock.example.invalid/models http/1.1\r\n"),
            "{head}"
        );
        // base64("user:pass")
        assert!(
            head.contains("proxy-authorization: basic dxnlcjpwyxnz"),
            "{head}"
        );
    }

    #[tokio::test]
    async fn https_goes_through_a_connect_tunnel_and_a_silent_one_times_out_connecting() {
        let (port, head) = server(None).await;
        let proxies = Matcher::builder()
            .https(format!("http://127.0.0.1:{port}"))
            .build();
        let error = connector(proxies, Some(Duration::from_millis(300)), None)
            .call(get("https://bedrock.example.invalid/models"))
            .await
            .unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
        let text = crate::aws::diagnose::chain(&error);
        assert!(text.contains("HTTP connect timeout"), "{text}");
        let head = head.await.unwrap();
        assert!(
            head.starts_with("CONNECT bedrock.example.invalid:443 HTTP/1.1\r\n"),
            "{head}"
        );
    }

    #[tokio::test]
    async fn a_reply_that_never_starts_is_a_read_timeout() {
        let (port, _head) = server(None).await;
        let error = connector(
            Matcher::builder().build(),
            None,
            Some(Duration::from_millis(300)),
        )
        .call(get(&format!("http://127.0.0.1:{port}/")))
        .await
        .unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
        let text = crate::aws::diagnose::chain(&error);
        assert!(text.contains("HTTP read timeout"), "{text}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_io_which_the_sdk_retries() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = connector(Matcher::builder().build(), None, None)
            .call(get(&format!("http://127.0.0.1:{closed}/")))
            .await
            .unwrap_err();
        assert!(error.is_io(), "{error:?}");
        let text = crate::aws::diagnose::chain(&error).to_ascii_lowercase();
        assert!(text.contains("connection refused"), "{text}");
    }
}

//! Requests to Bedrock that the tool signs itself with `aws-sigv4` and
//! sends over the run's own connections ([`crate::aws::transport`]),
//! without a generated SDK client: the control plane's three reads
//! (`invoke models --available`, the model-access step of `invoke check`)
//! and the load mode's smallest Converse call.
//!
//! Why not the generated clients: the control plane's (`aws-sdk-bedrock`)
//! is the largest crate of the build, linked for three GETs, and a tenth of
//! the binary, which a call pages in part of; under load, the generated
//! client's per-call work (its orchestrator, interceptors and builders)
//! was most of the client's CPU time a request, where what the load mode
//! measures is the endpoint. What is kept of the SDK: SigV4 itself
//! (`aws-sigv4`, the SDK's own signer), the credentials providers, the
//! standard retry rules (which errors are tried again, and the backoff),
//! and the same diagnosis of what comes back.

use crate::aws::transport::Transport;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4::SigningParams;
use aws_smithy_runtime_api::client::http::{HttpConnector, SharedHttpConnector};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body_util::BodyExt;
use std::time::{Duration, SystemTime};

/// The standard retry mode's backoff: the first retry waits up to a
/// second, each one after twice as long, never more than 20 seconds, each
/// wait a random fraction of that ("full jitter").
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(20);

/// How long before its expiry a kept identity is replaced.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(60);

/// How long the credentials provider may take (as the SDK's identity
/// cache bounds it): a hung `credential_process` or metadata service is
/// an error, not a hang.
const IDENTITY_TIMEOUT: Duration = Duration::from_secs(30);

/// Who is calling, as AWS's request logs show it.
const USER_AGENT: &str = concat!("bedrock-private/", env!("CARGO_PKG_VERSION"));

/// Why a signed request got no answer it could use.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The service answered with an error.
    Service {
        status: u16,
        code: String,
        message: String,
    },
    /// No answer: the connection or the request failed, or timed out.
    Dispatch(ConnectorError),
    /// The credentials to sign with could not be had.
    Credentials(CredentialsError),
    /// An answer, but not one the operation gives.
    Response(String),
}

impl Failure {
    /// Whether the standard retry mode tries again after this: throttling,
    /// a server's transient errors, and connections that failed or timed
    /// out.
    fn transient(&self) -> bool {
        match self {
            Failure::Service { status, code, .. } => {
                matches!(status, 429 | 500 | 502 | 503 | 504)
                    || matches!(
                        code.as_str(),
                        "ThrottlingException"
                            | "Throttling"
                            | "TooManyRequestsException"
                            | "RequestLimitExceeded"
                            | "ServiceUnavailableException"
                            | "InternalServerException"
                            | "RequestTimeout"
                            | "RequestTimeoutException"
                    )
            }
            Failure::Dispatch(e) => e.is_io() || e.is_timeout(),
            Failure::Credentials(_) | Failure::Response(_) => false,
        }
    }
}

/// A signer and sender of JSON requests to one endpoint of one service.
#[derive(Clone)]
pub(crate) struct Signed {
    connector: SharedHttpConnector,
    provider: SharedCredentialsProvider,
    /// The endpoint's URL without a trailing slash (a secret for a VPC
    /// endpoint: never shown).
    base: String,
    region: String,
    /// The signing name: `bedrock` for the runtime and the control plane.
    service: &'static str,
    max_attempts: u32,
    read_timeout: Duration,
    /// The identity last signed with, until it nears its expiry: the
    /// provider's credentials, converted once rather than for every
    /// request, and refreshed by one request at a time (the others wait
    /// for it rather than each asking the provider).
    identity: std::sync::Arc<tokio::sync::Mutex<Option<Identity>>>,
}

impl Signed {
    /// Requests to `base` signed for `service` in `region` with
    /// `provider`'s credentials, over `transport`.
    pub(crate) fn new(
        transport: &Transport,
        provider: SharedCredentialsProvider,
        base: &str,
        region: &str,
        connect_timeout: Duration,
        read_timeout: Duration,
        max_attempts: u32,
    ) -> Signed {
        Signed {
            connector: transport.connector(Some(connect_timeout), Some(read_timeout)),
            provider,
            base: base.trim_end_matches('/').to_string(),
            region: region.to_string(),
            service: "bedrock",
            max_attempts: max_attempts.max(1),
            read_timeout,
            identity: Default::default(),
        }
    }

    /// The same requests with `n` attempts each (at least one).
    pub(crate) fn with_attempts(mut self, n: u32) -> Signed {
        self.max_attempts = n.max(1);
        self
    }

    /// GET `path` (with its query), the answer's JSON read as `T`.
    pub(crate) async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<T, Failure> {
        let body = self.send(http::Method::GET, path, Bytes::new()).await?;
        serde_json::from_slice(&body).map_err(|e| {
            Failure::Response(format!(
                "the answer to GET {path} is not what it should be: {e}"
            ))
        })
    }

    /// POST `body` (JSON) to `path`; the answer's body.
    pub(crate) async fn post(&self, path: &str, body: Bytes) -> Result<Bytes, Failure> {
        self.send(http::Method::POST, path, body).await
    }

    /// Sends with the standard retry mode's rules.
    async fn send(&self, method: http::Method, path: &str, body: Bytes) -> Result<Bytes, Failure> {
        let mut attempt = 1;
        loop {
            match self.once(&method, path, body.clone()).await {
                Err(f) if attempt < self.max_attempts && f.transient() => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                done => return done,
            }
        }
    }

    async fn once(&self, method: &http::Method, path: &str, body: Bytes) -> Result<Bytes, Failure> {
        let identity = self.identity().await?;
        let url = format!("{}{path}", self.base);
        let mut request = http::Request::builder()
            .method(method.clone())
            .uri(&url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, USER_AGENT)
            .body(())
            .map_err(|e| Failure::Response(format!("cannot form the request: {e}")))?;
        let params = SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Failure::Response(format!("cannot sign the request: {e}")))?
            .into();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
        let signable =
            SignableRequest::new(method.as_str(), &url, headers, SignableBody::Bytes(&body))
                .map_err(|e| Failure::Response(format!("cannot sign the request: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| Failure::Response(format!("cannot sign the request: {e}")))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut request);
        let request = HttpRequest::try_from(request.map(|()| SdkBody::from(body)))
            .map_err(|e| Failure::Response(format!("cannot form the request: {e}")))?;
        let response = self
            .connector
            .call(request)
            .await
            .map_err(Failure::Dispatch)?;
        let status = response.status().as_u16();
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .map(str::to_string);
        let body = tokio::time::timeout(self.read_timeout, response.into_body().collect())
            .await
            .map_err(|_| {
                Failure::Dispatch(ConnectorError::timeout(
                    "HTTP read timeout: the answer stopped in the middle".into(),
                ))
            })?
            .map_err(|e| Failure::Dispatch(ConnectorError::io(e)))?
            .to_bytes();
        if (200..300).contains(&status) {
            return Ok(body);
        }
        Err(service_failure(status, error_type.as_deref(), &body))
    }

    /// The identity to sign with: the one kept, unless it expires within
    /// a minute, else the provider's, asked within [`IDENTITY_TIMEOUT`].
    async fn identity(&self) -> Result<Identity, Failure> {
        let fresh = |i: &Identity| {
            i.expiration()
                .is_none_or(|e| e > SystemTime::now() + REFRESH_BEFORE_EXPIRY)
        };
        let mut kept = self.identity.lock().await;
        if let Some(identity) = kept.as_ref().filter(|i| fresh(i)) {
            return Ok(identity.clone());
        }
        let credentials =
            tokio::time::timeout(IDENTITY_TIMEOUT, self.provider.provide_credentials())
                .await
                .map_err(|_| {
                    Failure::Credentials(CredentialsError::provider_timed_out(IDENTITY_TIMEOUT))
                })?
                .map_err(Failure::Credentials)?;
        let identity = Identity::from(credentials);
        *kept = Some(identity.clone());
        Ok(identity)
    }
}

/// A service's error from its answer: the code from `x-amzn-errortype`
/// (`Code:namespace`) or the body's `__type`/`code` (`namespace#Code`),
/// the message from the body's `message` in either case. REST-JSON's rules,
/// as every Bedrock service answers.
fn service_failure(status: u16, error_type: Option<&str>, body: &[u8]) -> Failure {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |k: &str| json.get(k).and_then(|v| v.as_str());
    let code = error_type
        .or_else(|| text("__type"))
        .or_else(|| text("code"))
        .map(|c| {
            let c = c.split(':').next().unwrap_or(c);
            c.rsplit('#').next().unwrap_or(c).to_string()
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| format!("HTTP{status}"));
    let message = text("message")
        .or_else(|| text("Message"))
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect());
    Failure::Service {
        status,
        code,
        message,
    }
}

/// A URI label as REST-JSON puts it in a path: every byte but the
/// unreserved ones percent-encoded (a model id's `:` among them).
pub(crate) fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// How long to wait before retry `attempt` (1 for the first).
fn backoff(attempt: u32) -> Duration {
    let ceiling = INITIAL_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    ceiling.mul_f64(jitter())
}

/// A random fraction in [0, 1), from the standard library's per-process
/// random hashing keys and the clock: enough to spread retries apart.
fn jitter() -> f64 {
    use std::hash::BuildHasher;
    let bits = std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages_come_from_either_place() {
        let f = service_failure(
            403,
            Some("AccessDeniedException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            br#"{"message":"not allowed"}"#,
        );
        assert!(
            matches!(&f, Failure::Service { status: 403, code, message } if code == "AccessDeniedException" && message == "not allowed"),
            "{f:?}"
        );
        let f = service_failure(
            400,
            None,
            br#"{"__type":"com.amazon.bedrock#ValidationException","Message":"bad id"}"#,
        );
        assert!(
            matches!(&f, Failure::Service { code, message, .. } if code == "ValidationException" && message == "bad id"),
            "{f:?}"
        );
        let f = service_failure(502, None, b"<html>bad gateway</html>");
        assert!(
            matches!(&f, Failure::Service { code, message, .. } if code == "HTTP502" && message.contains("bad gateway")),
            "{f:?}"
        );
        assert!(f.transient());
        assert!(!service_failure(400, Some("ValidationException"), b"{}").transient());
        assert!(service_failure(400, Some("ThrottlingException"), b"{}").transient());
    }

    /// Counts the credentials it hands out, each expiring `lasting` from now.
    #[derive(Debug)]
    struct Counting {
        calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
        lasting: Duration,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            aws_credential_types::provider::future::ProvideCredentials::ready(Ok(
                aws_credential_types::Credentials::new(
                    "AKIDEXAMPLE",
                    "secret",
                    None,
                    Some(SystemTime::now() + self.lasting),
                    "test",
                ),
            ))
        }
    }

    #[tokio::test]
    async fn credentials_are_asked_for_again_only_near_their_expiry() {
        let transport = crate::aws::transport::client(None, &Default::default()).unwrap();
        for (lasting, asked) in [(Duration::from_secs(3600), 1), (Duration::from_secs(30), 3)] {
            let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let provider = SharedCredentialsProvider::new(Counting {
                calls: calls.clone(),
                lasting,
            });
            let signed = Signed::new(
                &transport,
                provider,
                "https://bedrock.us-west-2.amazonaws.com",
                "us-west-2",
                Duration::from_secs(1),
                Duration::from_secs(1),
                1,
            );
            for _ in 0..3 {
                signed.identity().await.unwrap();
            }
            assert_eq!(
                calls.load(std::sync::atomic::Ordering::SeqCst),
                asked,
                "{lasting:?}"
            );
        }
    }

    #[tokio::test]
    async fn requests_in_flight_share_one_refresh() {
        let transport = crate::aws::transport::client(None, &Default::default()).unwrap();
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let signed = Signed::new(
            &transport,
            SharedCredentialsProvider::new(Counting {
                calls: calls.clone(),
                lasting: Duration::from_secs(3600),
            }),
            "https://bedrock.us-west-2.amazonaws.com",
            "us-west-2",
            Duration::from_secs(1),
            Duration::from_secs(1),
            1,
        );
        let (a, b, c, d) = tokio::join!(
            signed.identity(),
            signed.identity(),
            signed.identity(),
            signed.identity()
        );
        assert!(a.is_ok() && b.is_ok() && c.is_ok() && d.is_ok());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn labels_are_percent_encoded_but_for_unreserved_bytes() {
        assert_eq!(
            label("anthropic.claude-3-haiku-20240307-v1:0"),
            "anthropic.claude-3-haiku-20240307-v1%3A0"
        );
        assert_eq!(label("a/b c~d_e"), "a%2Fb%20c~d_e");
    }

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        for attempt in 1..40 {
            let ceiling = Duration::from_secs(1 << (attempt - 1).min(5)).min(MAX_BACKOFF);
            let wait = backoff(attempt);
            assert!(wait < ceiling, "attempt {attempt}: {wait:?} >= {ceiling:?}");
        }
        let waits: std::collections::HashSet<Duration> = (0..20).map(|_| backoff(3)).collect();
        assert!(waits.len() > 10, "the waits are spread: {waits:?}");
    }
}

//! Turns SDK failures into errors that name the hop, the AWS error code and
//! the likely cause with what to do, following what users actually hit:
//! wrong keys, a stray session token, a clock off, a region mismatch, trust
//! policies, endpoint policies, model access, inference profiles, quotas and
//! unreachable endpoints.
//!
//! Every message from AWS passes through the [`Scrubber`] first: AWS names
//! the role ARN it refused, which this tool treats as a secret.

use crate::aws::signed::Failure;
use crate::error::{Error, Hop, RemoteKind};
use crate::invoke::families;
use crate::secret::Scrubber;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What the diagnosis may mention.
#[derive(Debug, Clone, Default)]
pub(crate) struct Context {
    /// The signing region.
    pub(crate) region: String,
    /// The credential source, described.
    pub(crate) source: String,
    /// The access key id in use, redacted.
    pub(crate) key_id: Option<String>,
    /// The role being assumed, redacted.
    pub(crate) role: Option<String>,
    /// The identity assuming it, if known.
    pub(crate) source_arn: Option<String>,
    /// Whether an external id was sent.
    pub(crate) external_id: bool,
    /// The model id.
    pub(crate) model: Option<String>,
    /// The endpoint, as shown, and its kind.
    pub(crate) endpoint: Option<String>,
    /// The host a hop connects to, as shown (a VPC endpoint's id masked).
    pub(crate) host: Option<String>,
    /// Removes secrets from AWS's messages.
    pub(crate) scrubber: Scrubber,
    /// Whether `AWS_SESSION_TOKEN` is set, which breaks keys it does not
    /// belong to.
    pub(crate) session_token_in_env: bool,
    /// `--read-timeout`, to say how long a silent endpoint was waited for.
    pub(crate) read_timeout: Option<std::time::Duration>,
    /// The HTTPS proxy of the environment, as `host:port` (never its
    /// credentials), to name it when it fails.
    pub(crate) proxy: Option<String>,
    /// The extra CA bundle trusted, and where it was named (`CABundle`,
    /// `AWS_CA_BUNDLE`), to say that it did not hold the issuer.
    pub(crate) ca_bundle: Option<String>,
}

/// The HTTPS proxy the environment names (`HTTPS_PROXY`, `ALL_PROXY`, in
/// either case), as `host:port`: a proxy URL may carry a user and
/// password, which are never shown.
pub(crate) fn proxy_from_env() -> Option<String> {
    ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.trim().is_empty())
        .map(|v| {
            let url = url::Url::parse(&v).or_else(|_| url::Url::parse(&format!("http://{v}")));
            match url {
                Ok(u) => format!(
                    "{}:{}",
                    u.host_str().unwrap_or("?"),
                    u.port_or_known_default().unwrap_or(80)
                ),
                Err(_) => "(unreadable proxy URL)".into(),
            }
        })
}

/// aws-config's list of what the chain tried (a line per provider, each
/// "Name: the credential provider was not enabled: why") on one line:
/// "no credentials found; tried Environment (environment variable not
/// set), Profile, ...".
fn chain_attempts(detail: &str) -> String {
    let tried: Vec<String> = detail
        .lines()
        .skip(1)
        .filter_map(|line| {
            let (name, rest) = line.trim().split_once(": ")?;
            let why = rest
                .trim_start_matches("the credential provider was not enabled")
                .trim_start_matches(": ")
                .trim();
            Some(if why.is_empty() {
                name.to_string()
            } else {
                format!("{name} ({why})")
            })
        })
        .collect();
    if tried.is_empty() {
        return detail.to_string();
    }
    format!("no credentials found; tried {}", tried.join(", "))
}

/// What a connection failure was, in words, when its text says: the code,
/// the message and the hint.
///
/// Only Bedrock and STS calls are the tool's own, so only for them is the
/// host known; the chain's calls go where the AWS settings say.
fn connect_failure(hop: Hop, lower: &str, ctx: &Context) -> Option<(&'static str, String, String)> {
    let known = matches!(hop, Hop::Bedrock | Hop::Sts | Hop::Control);
    let target = ctx
        .host
        .as_deref()
        .filter(|_| known)
        .unwrap_or("the endpoint");
    let host = without_port(target);
    if let Some(proxy) = ctx
        .proxy
        .as_deref()
        .filter(|_| lower.contains("tunnel error") || lower.contains("proxy"))
    {
        let what = if lower.contains("refused") {
            "refused the connection"
        } else if lower.contains("dns error") || lower.contains("lookup address") {
            "does not resolve"
        } else {
            "did not open a tunnel"
        };
        return Some((
            "ProxyFailed",
            format!("the HTTPS proxy {proxy} (from HTTPS_PROXY) {what}, on the way to {target}"),
            format!(
                "check that the proxy runs and allows CONNECT to {target}, or exclude {host} with NO_PROXY (a VPC endpoint needs no proxy)"
            ),
        ));
    }
    if !known {
        return None;
    }
    // TLS sent, plain text back: the port speaks HTTP.
    if lower.contains("corrupt message") || lower.contains("invalidcontenttype") {
        return Some((
            "NotHttps",
            format!(
                "{target} answered the TLS handshake with plain text: the port speaks HTTP, not HTTPS"
            ),
            "check the URL's port (AWS endpoints speak HTTPS on 443); a local emulator without --tls is reached with http://"
                .to_string(),
        ));
    }
    // Plain HTTP sent, something else back (a TLS alert): the port speaks HTTPS.
    if lower.contains("invalid http version") || lower.contains("invalid http") {
        return Some((
            "NotPlainHttp",
            format!(
                "{target} did not answer plain HTTP: the port speaks something else, most likely HTTPS"
            ),
            "use https:// in the endpoint URL".to_string(),
        ));
    }
    if lower.contains("connection refused") {
        return Some((
            "ConnectionRefused",
            format!("connection refused at {target}"),
            format!(
                "nothing is listening at {target}: is the endpoint running, and is the port right (AWS endpoints listen on 443)?"
            ),
        ));
    }
    if lower.contains("dns error") || lower.contains("failed to lookup address") {
        return Some((
            "DnsFailed",
            format!("{host} does not resolve"),
            format!(
                "check the name; a VPC endpoint's own DNS names resolve only inside its VPC (or with private DNS on), and `invoke check --resolve {host}:ADDRESS` tests another address"
            ),
        ));
    }
    None
}

/// An error and its sources, each shown once and joined by `: `: what
/// `DisplayErrorContext` shows, without the Rust Debug dump it appends
/// (which belongs in `--debug` logs, not in a message a person reads).
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut next = err.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// A connection failure's words without the layers it passed through
/// ("dispatch failure: io error: client error (Connect): "), which name
/// the SDK's plumbing, not the cause.
fn without_plumbing(detail: &str) -> String {
    const LAYERS: [&str; 6] = [
        "dispatch failure: ",
        "io error: ",
        "other: ",
        "client error (Connect): ",
        "client error (SendRequest): ",
        "error trying to connect: ",
    ];
    let mut rest = detail;
    while let Some(stripped) = LAYERS.iter().find_map(|l| rest.strip_prefix(l)) {
        rest = stripped;
    }
    if rest.is_empty() {
        detail.to_string()
    } else {
        rest.to_string()
    }
}

/// `host:port` without the port (an IPv6 address in brackets kept whole).
fn without_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// The error with every secret the scrubber knows removed from its message
/// and hint: hints name hosts and identities, which follow the same rule as
/// the rest of the output.
fn scrubbed(error: Error, ctx: &Context) -> Error {
    error.map_remote(|_, message, hint| {
        *message = ctx.scrubber.scrub(message);
        if let Some(h) = hint {
            *h = ctx.scrubber.scrub(h);
        }
    })
}

/// Diagnoses an SDK error from `hop`.
pub(crate) fn sdk_error<E, R>(hop: Hop, err: &SdkError<E, R>, ctx: &Context) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    scrubbed(sdk_error_unscrubbed(hop, err, ctx), ctx)
}

/// A hop that waited `--read-timeout` for data in vain (a network failure:
/// the connection was made and the request sent).
pub(crate) fn read_timeout(hop: Hop, message: String, hint: &str) -> Error {
    Error::Remote {
        hop,
        code: "ReadTimeout".into(),
        message,
        hint: Some(hint.into()),
        kind: RemoteKind::Network,
    }
}

/// "no data for N s: `what`", the message of a read timeout.
pub(crate) fn no_data_for(wait: std::time::Duration, what: &str) -> String {
    format!("no data for {} s: {what}", wait.as_secs_f64())
}

fn sdk_error_unscrubbed<E, R>(hop: Hop, err: &SdkError<E, R>, ctx: &Context) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("Unknown").to_string();
            let message = ctx.scrubber.scrub(e.message().unwrap_or(""));
            service_error(hop, code, message, ctx)
        }
        SdkError::TimeoutError(_) => {
            let host = ctx.host.as_deref().unwrap_or("the endpoint");
            Error::Remote {
                hop,
                code: "Timeout".into(),
                message: format!("{host} gave no answer within the time allowed (--connect-timeout and --read-timeout)"),
                hint: Some(format!(
                    "either the connection was never accepted (a security group, network ACL or firewall dropping TCP to {host}; \
                     `invoke check` says which) or it was and nothing came back (an overloaded endpoint, or a proxy holding the \
                     connection): run again, or raise --connect-timeout or --read-timeout{}",
                    ctx.proxy.as_deref().map_or(String::new(), |p| format!(
                        "; HTTPS_PROXY sends the calls through {p}: check that it answers, or exclude the host with NO_PROXY"
                    ))
                )),
                kind: RemoteKind::Network,
            }
        }
        SdkError::DispatchFailure(d) => dispatch(hop, d.is_timeout(), &chain(err), ctx),
        other => Error::Remote {
            hop,
            code: "ResponseError".into(),
            message: ctx.scrubber.scrub(&chain(other)),
            hint: None,
            kind: RemoteKind::Service,
        },
    }
}

/// A request that got no answer: the connection failed, or timed out
/// (`timeout`), as `text` (the error and its causes) tells.
fn dispatch(hop: Hop, timeout: bool, text: &str, ctx: &Context) -> Error {
    if timeout && text.contains("read timeout") {
        // The connection was made and the request sent; nothing came
        // back in time. Not a connect failure, and not a DNS question.
        let message = match ctx.read_timeout {
            Some(t) if text.contains("stopped in the middle") => {
                no_data_for(t, "the answer stopped in the middle")
            }
            Some(t) => no_data_for(t, "the reply did not start"),
            None => ctx.scrubber.scrub(text),
        };
        return read_timeout(
            hop,
            message,
            match hop {
                Hop::Bedrock => {
                    "the endpoint took the request and sent nothing within --read-timeout: without streaming \
                     the reply starts only once the model has finished, so a long reply needs a longer --read-timeout \
                     (or streaming); otherwise a hung model, or a proxy or firewall holding the connection open"
                }
                _ => {
                    "the endpoint took the request and sent nothing within --read-timeout: a proxy or firewall \
                      holding the connection open, or an overloaded endpoint; run again or raise --read-timeout"
                }
            },
        );
    }
    let code = if timeout {
        "ConnectTimeout"
    } else {
        "ConnectionFailed"
    };
    network(hop, code, ctx.scrubber.scrub(text), ctx)
}

/// Diagnoses a request the tool signed itself ([`crate::aws::signed`]) as
/// the SDK's errors are: the service's code and message, or what became
/// of the connection.
pub(crate) fn signed_failure(hop: Hop, failure: &Failure, ctx: &Context) -> Error {
    match failure {
        Failure::Service { code, message, .. } => {
            service_error(hop, code.clone(), ctx.scrubber.scrub(message), ctx)
        }
        Failure::Dispatch(e) => scrubbed(dispatch(hop, e.is_timeout(), &chain(e), ctx), ctx),
        Failure::Credentials(e) => scrubbed(
            Error::Remote {
                hop,
                code: "CredentialsFailed".into(),
                message: format!(
                    "the credentials to sign with could not be had: {}",
                    chain(e)
                ),
                hint: None,
                kind: RemoteKind::Credentials,
            },
            ctx,
        ),
        Failure::Response(text) => scrubbed(
            Error::Remote {
                hop,
                code: "ResponseError".into(),
                message: text.clone(),
                hint: None,
                kind: RemoteKind::Service,
            },
            ctx,
        ),
    }
}

/// Diagnoses an error code and message that a service returned.
pub(crate) fn service_error(hop: Hop, code: String, message: String, ctx: &Context) -> Error {
    scrubbed(service_error_unscrubbed(hop, code, message, ctx), ctx)
}

fn service_error_unscrubbed(hop: Hop, code: String, message: String, ctx: &Context) -> Error {
    let hint = if hop == Hop::WebIdentity {
        web_identity_hint(&code).map(|h| (RemoteKind::Credentials, Some(h)))
    } else {
        credentials_hint(&code, &message, ctx).map(|h| (RemoteKind::Credentials, Some(h)))
    };
    let (kind, hint) =
        hint.unwrap_or_else(|| (RemoteKind::Service, service_hint(hop, &code, &message, ctx)));
    Error::Remote {
        hop,
        code,
        message,
        hint,
        kind,
    }
}

/// The key in use as a hint names it: its kind (AKIA long-term, ASIA
/// temporary) and its redacted id.
fn key_described(ctx: &Context) -> String {
    let Some(k) = ctx.key_id.as_deref() else {
        return "no key id known".into();
    };
    let kind = if k.starts_with("ASIA") {
        "temporary"
    } else if k.starts_with("AKIA") {
        "long-term"
    } else {
        "unknown kind of"
    };
    format!("{kind} key {k}")
}

/// The hint for an error that condemns the credentials (exit code 253);
/// `None` for any other error.
fn credentials_hint(code: &str, message: &str, ctx: &Context) -> Option<String> {
    let key = key_described(ctx);
    Some(match code {
        "UnrecognizedClientException" | "InvalidClientTokenId" => {
            let stray = if ctx.session_token_in_env {
                "; AWS_SESSION_TOKEN is set in the environment: if it does not belong to these keys, unset it"
            } else {
                ""
            };
            format!(
                "the credentials ({}, {key}) are not known to AWS: wrong, deleted or deactivated keys{stray}",
                ctx.source
            )
        }
        "InvalidSignatureException" | "SignatureDoesNotMatch" => {
            if message.contains("Signature expired") || message.contains("not yet current") {
                "this machine's clock is more than 5 minutes off: synchronise it (chrony, ntpdate)"
                    .to_string()
            } else if message.contains("region") {
                format!(
                    "the request was signed for {} but the endpoint belongs to another region: set Region to the endpoint's region",
                    ctx.region
                )
            } else {
                format!(
                    "the secret key does not belong to the access key ({key}): enter SecretKey again"
                )
            }
        }
        "ExpiredTokenException" | "ExpiredToken" => format!(
            "the temporary credentials ({}, {key}) expired: run again for fresh ones rather than retrying; \
             SessionDuration sets how long assumed-role credentials last",
            ctx.source
        ),
        "AccessDeniedException" if message.contains("API Key") => format!(
            "the Bedrock API key in {} was refused: it is wrong, expired (short-term keys last at most 12 hours) \
             or for another region; leave --auth bearer out to sign with the config's credentials",
            crate::aws::plan::BEARER_ENV
        ),
        _ => return None,
    })
}

/// The hint for STS's refusal of a web identity token: each is about the
/// token, its issuer or the role's trust in it (exit code 253).
fn web_identity_hint(code: &str) -> Option<String> {
    Some(match code {
        "ExpiredTokenException" => "the web identity token in AWS_WEB_IDENTITY_TOKEN_FILE has expired: its issuer (EKS, the CI system) writes a fresh one before then; if nothing refreshes the file, get a new token".into(),
        "InvalidIdentityToken" => "STS does not accept the token in AWS_WEB_IDENTITY_TOKEN_FILE: the account needs an IAM OIDC provider for the token's issuer (iss), with the token's audience (aud) among its client ids, and the token must be an ID token, not an access token".into(),
        "IDPRejectedClaim" | "AccessDenied" => "the role in AWS_ROLE_ARN does not trust this token: its trust policy must name the OIDC provider as a Federated principal, allow sts:AssumeRoleWithWebIdentity, and its conditions (aud, sub) must match the token's claims".into(),
        "IDPCommunicationError" => "STS could not reach the token's issuer to verify it: run again; if it persists, the issuer's discovery document or keys are not reachable from AWS".into(),
        _ => return None,
    })
}

/// The hint for an error the service returned about the request, the
/// policies or its own state (exit code 254).
fn service_hint(hop: Hop, code: &str, message: &str, ctx: &Context) -> Option<String> {
    Some(match code {
        "AccessDenied" if hop == Hop::Sts => format!(
            "{} may not assume {}: the role's trust policy must name this identity{}, and the identity needs sts:AssumeRole on the role",
            ctx.source_arn.as_deref().unwrap_or("the source identity"),
            ctx.role.as_deref().unwrap_or("the role"),
            if ctx.external_id {
                "; the ExternalId sent must be the one the trust policy requires"
            } else {
                "; if the trust policy requires an external id, set ExternalId"
            }
        ),
        "AccessDeniedException" => access_denied_hint(message, ctx),
        "ValidationException" => validation_hint(message, ctx),
        "ResourceNotFoundException" => "the model is not available to this account: for Anthropic models submit the use-case details in the Bedrock console; legacy models are retired".into(),
        "ThrottlingException" | "Throttling" => "a quota was reached and the retries with backoff did not get through: wait and run again, or ask for a higher quota".into(),
        "ServiceUnavailableException" | "InternalServerException" => {
            "a transient failure on the service side, and the retries did not get through: run again".into()
        }
        "ModelNotReadyException" => "the model is not ready to serve yet (it is being loaded or scaled): wait a minute and run again".into(),
        "ModelTimeoutException" => "the model took too long over this request: shorten the prompt, lower --max-tokens, or stream the reply".into(),
        "ModelErrorException" => "the model itself failed on this request: run again; if it fails the same way, change the prompt or its parameters, or try another model".into(),
        "ModelStreamErrorException" => "the model failed in the middle of its reply: run again".into(),
        "ServiceQuotaExceededException" => "a quota of the account is exceeded (tokens or requests per minute, or a request over a hard limit): lower --max-tokens, or ask for a higher quota in Service Quotas".into(),
        "ConflictException" => "another request on the same resource is in progress: wait for it, then run again".into(),
        _ => return None,
    })
}

fn access_denied_hint(message: &str, ctx: &Context) -> String {
    let lower = message.to_ascii_lowercase();
    let path = ctx.endpoint.as_deref().unwrap_or("the endpoint");
    if lower.contains("sourcevpce") || lower.contains("vpc endpoint") || lower.contains("vpce") {
        format!(
            "a VPC endpoint condition refused the call (aws:SourceVpce in a policy, or the endpoint policy); it went through {path}"
        )
    } else if lower.contains("service control policy") {
        "a service control policy of the organization denies it: ask the organization's administrators".into()
    } else if lower.contains("don't have access to the model")
        || lower.contains("do not have access to the model")
    {
        format!(
            "model access is not granted in {}: enable the model under Model access in the Bedrock console of {}",
            ctx.region, ctx.region
        )
    } else if lower.contains("explicit deny") {
        "an explicit Deny in an IAM, resource or endpoint policy matches this call".into()
    } else {
        format!(
            "the identity's IAM policies do not allow this call on {}: add bedrock:InvokeModel (and bedrock:InvokeModelWithResponseStream for streaming) on the model's ARN",
            ctx.model.as_deref().unwrap_or("this model")
        )
    }
}

/// The hint for a ValidationException: the causes users hit, else what
/// the message means in general.
fn validation_hint(message: &str, ctx: &Context) -> String {
    let lower = message.to_ascii_lowercase();
    let model = ctx.model.as_deref().unwrap_or("");
    if lower.contains("on-demand throughput") || lower.contains("inference profile") {
        format!(
            "this model needs an inference profile for on-demand use: use --model {}.{}",
            families::profile_prefix(&ctx.region),
            families::base_model_id(model)
        )
    } else if lower.contains("model identifier is invalid") {
        format!(
            "no model {model} in {}: check the id; `invoke models` lists the aliases of the config",
            ctx.region
        )
    } else if lower.contains("system messages") {
        "this model takes no system prompt: the workshop flow folds it into the user message; with --prompt, leave SystemPromptFile out".into()
    } else if lower.contains("guardrail identifier or version") {
        "no such guardrail in this account and region, or not that version: check --guardrail's id (or ARN) and version (DRAFT or a published number)".into()
    } else if lower.contains("input is too long") || lower.contains("too many input tokens") {
        "the prompt (with --max-tokens of output) is longer than the model's context window: shorten it, or use a model with a longer one".into()
    } else if lower.contains("maximum tokens") {
        "--max-tokens is above what this model can write: lower it to the limit the message gives"
            .into()
    } else if lower.contains("malformed input request") {
        "the --body does not fit the model's documented parameters: the message names the key; the model's parameter page in the Bedrock User Guide lists them".into()
    } else {
        "the request does not fit what this model or the API accepts: the message says which part; `invoke --dry-run` shows what would be sent".into()
    }
}

fn network(hop: Hop, code: &str, detail: String, ctx: &Context) -> Error {
    let host = ctx.host.as_deref().map_or("the endpoint", without_port);
    let lower = detail.to_ascii_lowercase();
    let detail = without_plumbing(&detail);
    if let Some((code, message, hint)) = connect_failure(hop, &lower, ctx) {
        return Error::Remote {
            hop,
            code: code.into(),
            message,
            hint: Some(hint),
            kind: RemoteKind::Network,
        };
    }
    let hint = if let Some(bundle) = ctx.ca_bundle.as_deref().filter(|_| {
        ["unknownissuer", "unknown issuer", "badsignature"]
            .iter()
            .any(|w| lower.contains(w))
    }) {
        format!(
            "TLS verification of {host} failed: its certificate's issuer is neither a system root nor in the CA bundle \
             {bundle}: that bundle does not hold the CA of this endpoint (or of the proxy in the path); \
             `invoke check` shows the certificate's issuer"
        )
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        format!(
            "TLS verification of {host} failed: if a proxy or a private CA is in the path, give its CA certificate in CABundle \
             (or AWS_CA_BUNDLE); if a custom DNS name fronts the endpoint, use the endpoint's own name. Never turn verification off"
        )
    } else {
        match hop {
            Hop::Imds => "the instance metadata service did not answer: not on EC2 or Cloud9, IMDS disabled, or in a container with a hop limit of 1 (it must be 2)".into(),
            Hop::Chain => "a call the credential chain makes itself (the instance metadata service, SSO, or STS for a profile's role) could not connect: on EC2 or Cloud9 check IMDS (a container needs a hop limit of 2); for a profile, its endpoints follow the AWS settings (AWS_ENDPOINT_URL_STS)".into(),
            Hop::Sts => format!(
                "cannot reach STS at {host}: in a private subnet without NAT, STS needs its own VPC endpoint (STSEndpointURL) in {}; check DNS and the security group (TCP 443)",
                ctx.region
            ),
            Hop::WebIdentity => format!(
                "cannot reach STS to trade the web identity token: the standard chain makes that call itself, to AWS_ENDPOINT_URL_STS (or the profile's endpoint_url) when set, else to STS in {}; \
                 STSEndpointURL covers only this tool's own AssumeRole, so in a private subnet set AWS_ENDPOINT_URL_STS to the same STS VPC endpoint",
                ctx.region
            ),
            Hop::Bedrock => format!(
                "cannot reach {host}: check that it resolves (private DNS of the VPC endpoint, or a NAT for the public endpoint), \
                 that the endpoint's security group allows TCP 443 from here, and that the endpoint is in {}",
                ctx.region
            ),
            Hop::Control => format!(
                "cannot reach the Bedrock control plane at {host}: in a private subnet without NAT it needs a VPC endpoint of \
                 com.amazonaws.{}.bedrock (not bedrock-runtime), named in ControlPlaneEndpointURL; calls to models do not need it",
                ctx.region
            ),
        }
    };
    Error::Remote {
        hop,
        code: code.into(),
        message: detail,
        hint: Some(hint),
        kind: RemoteKind::Network,
    }
}

/// Diagnoses a failed call to the instance metadata service.
pub(crate) fn imds_error(err: &dyn std::error::Error, ctx: &Context) -> Error {
    let detail = ctx.scrubber.scrub(&chain(err));
    let lower = detail.to_ascii_lowercase();
    if lower.contains("forbidden") || lower.contains("403") {
        return Error::Remote {
            hop: Hop::Imds,
            code: "Forbidden".into(),
            message: detail,
            hint: Some("IMDS refused the token request: IMDS is disabled on this instance (its metadata options), or a container's hop limit of 1 stops the answer (it must be 2)".into()),
            kind: RemoteKind::Network,
        };
    }
    network(Hop::Imds, "ImdsUnavailable", detail, ctx)
}

/// Where the instance metadata service is asked, as aws-config reads it.
fn imds_endpoint() -> String {
    std::env::var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "http://169.254.169.254".into())
}

/// What an instance-metadata failure inside a credentials provider was,
/// read from its words: turned off, unreachable (a network failure, exit
/// 255), or refused (403). `None` when it says none of these.
fn imds_cause(hop: Hop, detail: &str) -> Option<Error> {
    let lower = detail.to_ascii_lowercase();
    let about_imds = lower.contains("imds") || lower.contains("metadata");
    if !about_imds {
        return None;
    }
    let endpoint = imds_endpoint();
    let remote = |code: &str, message: String, hint: String, kind: RemoteKind| Error::Remote {
        hop,
        code: code.into(),
        message,
        hint: Some(hint),
        kind,
    };
    if std::env::var("AWS_EC2_METADATA_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
        return Some(remote(
            "ImdsDisabled",
            "the instance metadata service is turned off by AWS_EC2_METADATA_DISABLED=true".into(),
            "unset AWS_EC2_METADATA_DISABLED to use the instance role, or choose another GetCredentialsFrom mode".into(),
            RemoteKind::Credentials,
        ));
    }
    if lower.contains("forbidden") || lower.contains("403") {
        return Some(remote(
            "Forbidden",
            format!("the instance metadata service at {endpoint} refused the token request (403)"),
            "IMDS is disabled in this instance's metadata options, or a container's hop limit of 1 stops the answer (it must be 2)".into(),
            RemoteKind::Credentials,
        ));
    }
    let unreachable = [
        "connection refused",
        "tcp connect error",
        "timed out",
        "timeout",
        "dispatch failure",
        "dns error",
    ];
    if unreachable.iter().any(|w| lower.contains(w)) {
        let what = if lower.contains("refused") {
            "refused the connection"
        } else if lower.contains("time") {
            "did not answer in time"
        } else {
            "could not be reached"
        };
        return Some(remote(
            "ImdsUnavailable",
            format!("the instance metadata service at {endpoint} {what}"),
            "not on EC2 or Cloud9, IMDS disabled, or in a container with a hop limit of 1 (it must be 2); \
             AWS_EC2_METADATA_SERVICE_ENDPOINT names another address"
                .into(),
            RemoteKind::Network,
        ));
    }
    None
}

/// Diagnoses a credentials provider failure: an STS error inside it gets
/// the STS diagnosis; otherwise the failure is described for its hop.
pub(crate) fn credentials_error(
    hop: Hop,
    err: &aws_credential_types::provider::error::CredentialsError,
    ctx: &Context,
) -> Error {
    scrubbed(credentials_error_unscrubbed(hop, err, ctx), ctx)
}

fn credentials_error_unscrubbed(
    hop: Hop,
    err: &aws_credential_types::provider::error::CredentialsError,
    ctx: &Context,
) -> Error {
    use aws_credential_types::provider::error::CredentialsError as C;
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = source {
        if let Some(sdk) = e.downcast_ref::<SdkError<
            aws_sdk_sts::operation::assume_role::AssumeRoleError,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >>() {
            return sdk_error(Hop::Sts, sdk, ctx);
        }
        if let Some(sdk) = e.downcast_ref::<SdkError<
            aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityError,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >>() {
            return sdk_error(Hop::WebIdentity, sdk, ctx);
        }
        source = e.source();
    }
    let detail = ctx.scrubber.scrub(&chain(err));
    if hop == Hop::Imds
        && let Some(e) = imds_cause(hop, &detail)
    {
        return e;
    }
    match err {
        C::ProviderTimedOut(_) => network(hop, "Timeout", detail, ctx),
        C::CredentialsNotLoaded(_) => Error::Remote {
            hop,
            code: "CredentialsNotLoaded".into(),
            hint: Some(match hop {
                Hop::Imds => "no instance role credentials: attach an instance profile with a role to this instance, or check that IMDS is reachable".into(),
                Hop::Chain => "no source of credentials is set up here: on EC2 or Cloud9, attach an instance profile (and keep IMDS reachable); elsewhere set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, choose a profile (Profile in the config, or AWS_PROFILE), or run `aws sso login`".into(),
                _ => format!("no credentials for {}: set them in the environment or a profile (aws configure, aws sso login)", ctx.source),
            }),
            message: if hop == Hop::Chain { chain_attempts(&detail) } else { detail },
            kind: RemoteKind::Credentials,
        },
        _ if detail.to_ascii_lowercase().contains("dispatch failure")
            || detail.to_ascii_lowercase().contains("connect") =>
        {
            network(hop, "ConnectionFailed", detail, ctx)
        }
        _ => Error::Remote {
            hop,
            code: "CredentialsError".into(),
            hint: (hop == Hop::Chain).then(|| {
                "the standard chain found no usable credentials (its last source, the instance metadata service, \
                 refused or failed): elsewhere than EC2 or Cloud9, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
                 choose a profile (Profile in the config, or AWS_PROFILE), or run `aws sso login`"
                    .to_string()
            }),
            message: if hop == Hop::Chain { chain_attempts(&detail) } else { detail },
            kind: RemoteKind::Credentials,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn ctx() -> Context {
        let mut scrubber = Scrubber::new();
        let role = Secret::new("arn:aws:iam::222222222222:role/Bedrock");
        scrubber.add(&role, crate::secret::redact_arn(&role));
        Context {
            region: "us-west-2".into(),
            source: "2 (access-keys)".into(),
            key_id: Some("ASIA************ABCD".into()),
            role: Some("arn:aws:iam::2222********:role/...".into()),
            model: Some("anthropic.claude-3-7-sonnet-20250219-v1:0".into()),
            endpoint: Some("the VPC endpoint https://vpce-0a1*****.bedrock-runtime.us-west-2.vpce.amazonaws.com".into()),
            host: Some("vpce-0a1*****.bedrock-runtime.us-west-2.vpce.amazonaws.com:443".into()),
            scrubber,
            ..Context::default()
        }
    }

    /// Code, message, exit code and the hint's telling words.
    fn diagnosed(hop: Hop, code: &str, message: &str) -> (crate::error::ExitCode, String) {
        match service_error(hop, code.into(), message.into(), &ctx()) {
            e @ Error::Remote { .. } => {
                let code = e.exit_code();
                let Error::Remote { hint, .. } = e else {
                    unreachable!()
                };
                (code, hint.unwrap_or_default())
            }
            other => panic!("not a remote error: {other}"),
        }
    }

    #[test]
    fn each_cause_users_hit_gets_its_hint_and_exit_code() {
        use crate::error::ExitCode::{Config, Service};
        let cases: &[(Hop, &str, &str, crate::error::ExitCode, &str)] = &[
            (
                Hop::Bedrock,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
                Config,
                "temporary key ASIA************ABCD",
            ),
            (
                Hop::Bedrock,
                "InvalidSignatureException",
                "Signature expired: 20261202T080000Z is now earlier than ...",
                Config,
                "clock is more than 5 minutes off",
            ),
            (
                Hop::Bedrock,
                "InvalidSignatureException",
                "Credential should be scoped to a valid region.",
                Config,
                "signed for us-west-2",
            ),
            (
                Hop::Bedrock,
                "InvalidSignatureException",
                "The request signature we calculated does not match",
                Config,
                "secret key does not belong",
            ),
            (
                Hop::Bedrock,
                "ExpiredTokenException",
                "The security token included in the request is expired",
                Config,
                "run again for fresh ones",
            ),
            (
                Hop::Sts,
                "AccessDenied",
                "User: x is not authorized to perform: sts:AssumeRole",
                Service,
                "trust policy must name this identity",
            ),
            (
                Hop::Bedrock,
                "AccessDeniedException",
                "... with an explicit deny in a VPC endpoint policy (aws:SourceVpce)",
                Service,
                "VPC endpoint condition",
            ),
            (
                Hop::Bedrock,
                "AccessDeniedException",
                "You don't have access to the model with the specified model ID.",
                Service,
                "enable the model under Model access",
            ),
            (
                Hop::Bedrock,
                "AccessDeniedException",
                "... because no identity-based policy allows the bedrock:InvokeModel action",
                Service,
                "add bedrock:InvokeModel",
            ),
            (
                Hop::Bedrock,
                "AccessDeniedException",
                "Authentication failed: Please make sure your API Key is valid.",
                Config,
                "Bedrock API key",
            ),
            (
                Hop::Bedrock,
                "ValidationException",
                "Invocation of model ID anthropic.claude-3-7-sonnet-20250219-v1:0 with on-demand throughput isn't supported.",
                Service,
                "--model us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            ),
            (
                Hop::Bedrock,
                "ValidationException",
                "The provided model identifier is invalid.",
                Service,
                "no model anthropic.claude-3-7-sonnet",
            ),
            (
                Hop::Bedrock,
                "ThrottlingException",
                "Too many requests",
                Service,
                "wait and run again",
            ),
            (
                Hop::Bedrock,
                "ResourceNotFoundException",
                "Model use case details have not been submitted",
                Service,
                "use-case details",
            ),
        ];
        for (hop, code, message, exit, words) in cases {
            let (got, hint) = diagnosed(*hop, code, message);
            assert_eq!(got, *exit, "{code}: {message}");
            assert!(
                hint.contains(words),
                "{code}: {message}: {hint:?} lacks {words:?}"
            );
        }
    }

    #[test]
    fn what_aws_says_is_scrubbed_of_the_role() {
        let e = service_error(
            Hop::Sts,
            "AccessDenied".into(),
            "User: arn:aws:iam::111111111111:user/u is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::222222222222:role/Bedrock".into(),
            &ctx(),
        )
        .to_string();
        assert!(!e.contains("role/Bedrock"), "{e}");
        assert!(e.contains("arn:aws:iam::2222********:role/..."), "{e}");
    }

    #[test]
    fn an_unreachable_hop_is_told_by_its_hop() {
        for (hop, words) in [
            (Hop::Imds, "instance metadata service did not answer"),
            (Hop::Sts, "STS needs its own VPC endpoint"),
            (Hop::Bedrock, "security group allows TCP 443"),
        ] {
            let Error::Remote { hint, kind, .. } =
                network(hop, "ConnectionFailed", "io error".into(), &ctx())
            else {
                panic!("not remote")
            };
            assert_eq!(kind, RemoteKind::Network);
            assert!(hint.unwrap().contains(words), "{hop}");
        }
        let Error::Remote { hint, .. } = network(
            Hop::Bedrock,
            "ConnectionFailed",
            "invalid peer certificate: UnknownIssuer".into(),
            &ctx(),
        ) else {
            panic!("not remote")
        };
        assert!(
            hint.unwrap().contains("TLS verification of vpce-0a1*****"),
            "TLS hint names the host without its port"
        );
    }
}

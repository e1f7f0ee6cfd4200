//! The four credential sources of `GetCredentialsFrom`, built from
//! aws-config's own providers, and the assume-role step on top.
//!
//! - instance-role: IMDSv2 directly (not the whole default chain, which on
//!   Cloud9 would pick the managed temporary credentials first);
//! - assume-role: the ambient credentials (the default chain: on EC2, the
//!   instance role) assume `AssumeRoleARN`;
//! - access-keys: the configured keys assume `AssumeRoleARN`, or are used
//!   directly without one;
//! - default-chain: environment, profile (with `Profile`), SSO.
//!
//! STS is reached through the `SdkConfig` given here, whose endpoint is
//! `STSEndpointURL` when set and never the Bedrock VPC endpoint.
//! `AssumeRoleProvider` cannot send an MFA code, so with `MFASerial` the
//! tool calls AssumeRole itself; a code typed on the terminal that STS
//! refuses is asked again, up to [`MFA_TRIES`] times.
//!
//! An STS that cannot be reached costs one bounded wait: all attempts of an
//! STS call share one attempt's worth of time (connect plus read timeout),
//! and after a network failure no further STS call (such as the diagnostic
//! GetCallerIdentity) is made.

pub mod cache;

use crate::aws::diagnose::{self, Context};
use crate::config::{Config, CredentialSource};
use crate::error::{Error, Hop, RemoteKind, Result};
use crate::secret::{self, Secret};
use aws_config::SdkConfig;
use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use std::time::Duration;

/// Default assumed-role session length, as the workshop tool used.
pub const DEFAULT_SESSION_SECONDS: u32 = 900;

/// The environment variable that gives the MFA code, so that scripts need
/// not put it on the command line (where `ps` shows it).
pub const MFA_CODE_ENV: &str = "BEDROCK_PRIVATE_MFA_CODE";

/// How many codes typed on a terminal STS may refuse before the run ends.
pub const MFA_TRIES: u32 = 3;

/// Bedrock's answers that condemn the credentials themselves rather than
/// the request: a cached session that gets one is evicted and replaced once.
const REFUSALS: [&str; 4] = [
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
];

/// Credentials ready for Bedrock, and how they were obtained.
#[derive(Debug)]
pub struct Resolved {
    /// The provider the Bedrock client uses (it refreshes on expiry).
    pub provider: SharedCredentialsProvider,
    /// The source identity's provider: the same as `provider` unless a role
    /// is assumed, then the credentials that assume it.
    pub source: SharedCredentialsProvider,
    /// How they were obtained, for the user.
    pub description: String,
    /// The access key id in use, redacted.
    pub key_id: String,
    /// When they expire, if they do.
    pub expiry: Option<std::time::SystemTime>,
    /// Whether they came from the credential cache (no STS call).
    pub cached: bool,
    /// The cache entry they came from or went to, for [`Resolved::evict`].
    pub cache_key: Option<crate::aws::credentials::cache::CacheKey>,
}

impl Resolved {
    /// Whether `err`, from a call made with these credentials, says AWS
    /// refused the cached session itself (expired or revoked early, a key
    /// it does not know, a secret that does not match), so that a fresh
    /// session from STS may succeed. A clock or region problem is not the
    /// session's fault: fresh credentials would fail the same way.
    pub fn refused_from_cache(&self, err: &Error) -> Option<String> {
        let Error::Remote {
            hop: Hop::Bedrock,
            code,
            message,
            ..
        } = err
        else {
            return None;
        };
        let not_theirs = ["Signature expired", "not yet current", "scoped"]
            .iter()
            .any(|m| message.contains(m));
        (self.cached && REFUSALS.contains(&code.as_str()) && !not_theirs).then(|| code.clone())
    }

    /// Removes the cache entry these credentials came from, so that resolving
    /// again asks STS.
    pub fn evict(&self, runtime: &RunTime) {
        if let (Some(cache), Some(k)) = (&runtime.cache, &self.cache_key) {
            cache.evict(k);
        }
    }
}

/// What the run supplies beyond the config.
#[derive(Debug, Default)]
pub struct RunTime {
    /// `--mfa-code`, `--mfa-code-fd` or [`MFA_CODE_ENV`]: never asked again.
    pub mfa_code: Option<Secret>,
    /// Whether the MFA code may be asked on the terminal.
    pub interactive: bool,
    /// Where assumed-role credentials are kept between runs, if anywhere.
    pub cache: Option<crate::aws::credentials::cache::CredentialCache>,
}

/// A provider that hands out credentials already resolved until shortly
/// before they expire, then asks the provider behind it. Resolving once up
/// front (to report a failing hop before Bedrock is called) must not cost a
/// second AssumeRole or IMDS round trip when the Bedrock client asks.
#[derive(Debug)]
struct Primed {
    first: std::sync::Mutex<Option<Credentials>>,
    inner: SharedCredentialsProvider,
}

/// How long before expiry resolved credentials stop being handed out.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

impl ProvideCredentials for Primed {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let fresh = self.first.lock().expect("primed lock").clone().filter(|c| {
            c.expiry()
                .is_none_or(|e| e > std::time::SystemTime::now() + EXPIRY_MARGIN)
        });
        match fresh {
            Some(c) => aws_credential_types::provider::future::ProvideCredentials::ready(Ok(c)),
            None => {
                *self.first.lock().expect("primed lock") = None;
                self.inner.provide_credentials()
            }
        }
    }
}

type Building = std::pin::Pin<Box<dyn std::future::Future<Output = AssumeRoleProvider> + Send>>;

/// A provider built on first use: after a cache hit, the assume-role
/// provider (and the STS client inside it) is usually never needed.
struct Lazy {
    build: std::sync::Mutex<Option<Building>>,
    built: tokio::sync::OnceCell<AssumeRoleProvider>,
}

impl std::fmt::Debug for Lazy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lazy(AssumeRoleProvider)")
    }
}

impl ProvideCredentials for Lazy {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::new(async move {
            let provider = self
                .built
                .get_or_init(|| async {
                    let building = self.build.lock().expect("lazy lock").take();
                    building.expect("built once").await
                })
                .await;
            provider.provide_credentials().await
        })
    }
}

fn primed(inner: SharedCredentialsProvider, first: Credentials) -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Primed {
        first: std::sync::Mutex::new(Some(first)),
        inner,
    })
}

/// A session name that says which tool and which user: `bedrock-private-<user>`.
pub fn default_session_name() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "user".into());
    let clean: String = user
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c))
        .collect();
    let name = format!("bedrock-private-{clean}");
    name.chars().take(64).collect()
}

/// The description of a source without resolving it, for `--dry-run`.
pub fn describe(config: &Config) -> String {
    let base = config.source.to_string();
    match (&config.assume_role_arn, config.source) {
        (Some(arn), CredentialSource::AssumeRole | CredentialSource::AccessKeys) => format!(
            "{base}, assuming {}{}",
            secret::redact_arn(arn.secret()),
            if config.mfa_serial.is_some() {
                " with MFA"
            } else {
                ""
            }
        ),
        (None, CredentialSource::AccessKeys) => format!("{base}, keys used directly"),
        (_, CredentialSource::DefaultChain) => match &config.profile {
            Some(p) => format!("{base}, profile {p}"),
            None => base,
        },
        _ => base,
    }
}

/// Builds the providers for `config` and resolves credentials once, so a
/// failure is reported before Bedrock is called, with its hop.
pub async fn resolve(
    config: &Config,
    sts_config: &SdkConfig,
    runtime: &RunTime,
    ctx: &mut Context,
) -> Result<Resolved> {
    ctx.source = describe(config);
    let sts_config = &bounded(sts_config);
    let (base, base_hop): (SharedCredentialsProvider, Hop) = match config.source {
        CredentialSource::InstanceRole => (
            SharedCredentialsProvider::new(ImdsCredentialsProvider::builder().build()),
            Hop::Imds,
        ),
        CredentialSource::AssumeRole => {
            let chain = DefaultCredentialsChain::builder()
                .region(sts_config.region().cloned().expect("region set"))
                .build()
                .await;
            (SharedCredentialsProvider::new(chain), Hop::Imds)
        }
        CredentialSource::AccessKeys => {
            let (Some(ak), Some(sk)) = (&config.access_key, &config.secret_key) else {
                unreachable!("validation requires both keys in mode 2");
            };
            (
                SharedCredentialsProvider::new(Credentials::new(
                    ak.expose(),
                    sk.expose(),
                    None,
                    None,
                    "config-access-keys",
                )),
                Hop::Sts,
            )
        }
        CredentialSource::DefaultChain => {
            let mut builder = DefaultCredentialsChain::builder()
                .region(sts_config.region().cloned().expect("region set"));
            if let Some(profile) = &config.profile {
                builder = builder.profile_name(profile);
            }
            (
                SharedCredentialsProvider::new(builder.build().await),
                Hop::Sts,
            )
        }
    };

    let role = match config.source {
        CredentialSource::AssumeRole | CredentialSource::AccessKeys => {
            config.assume_role_arn.as_ref()
        }
        _ => None,
    };
    let Some(role) = role else {
        let creds = base
            .provide_credentials()
            .await
            .map_err(|e| diagnose::credentials_error(base_hop, &e, ctx))?;
        ctx.key_id = Some(secret::redact_access_key(&Secret::new(
            creds.access_key_id(),
        )));
        let provider = primed(base, creds.clone());
        return Ok(Resolved {
            key_id: ctx.key_id.clone().unwrap_or_default(),
            expiry: creds.expiry(),
            source: provider.clone(),
            provider,
            description: ctx.source.clone(),
            cached: false,
            cache_key: None,
        });
    };

    ctx.role = Some(secret::redact_arn(role.secret()));
    ctx.external_id = config.external_id.is_some();
    let session_name = config
        .role_session_name
        .clone()
        .unwrap_or_else(default_session_name);
    let seconds = config.session_duration.unwrap_or(DEFAULT_SESSION_SECONDS);
    // Resolve the source identity first: a failure here is the source's,
    // and its ARN makes an AssumeRole refusal explainable.
    let source_creds = base
        .provide_credentials()
        .await
        .map_err(|e| diagnose::credentials_error(base_hop, &e, ctx))?;
    ctx.key_id = Some(secret::redact_access_key(&Secret::new(
        source_creds.access_key_id(),
    )));
    let cache_key = crate::aws::credentials::cache::CacheKey {
        role: role.secret().expose().to_string(),
        external_id: config.external_id.as_ref().map(|e| e.expose().to_string()),
        mfa_serial: config.mfa_serial.as_ref().map(|m| m.expose().to_string()),
        source: source_creds.access_key_id().to_string(),
        region: sts_config
            .region()
            .map(|r| r.to_string())
            .unwrap_or_default(),
        sts_endpoint: config
            .sts_endpoint_url
            .as_ref()
            .map(|u| u.secret().expose().to_string()),
        session: format!("{session_name}/{seconds}"),
    };
    let base = primed(base, source_creds);
    let sts_conf = sts_config
        .to_builder()
        .credentials_provider(base.clone())
        .build();
    let refresher = || {
        let mut builder = AssumeRoleProvider::builder(role.secret().expose())
            .session_name(&session_name)
            .session_length(Duration::from_secs(u64::from(seconds)))
            .configure(sts_config);
        if let Some(region) = sts_config.region() {
            builder = builder.region(region.clone());
        }
        if let Some(id) = &config.external_id {
            builder = builder.external_id(id.expose());
        }
        builder
    };

    if let Some(cached) = runtime.cache.as_ref().and_then(|c| c.load(&cache_key)) {
        tracing::debug!("assumed-role credentials from the cache; no STS call");
        ctx.key_id = Some(secret::redact_access_key(&Secret::new(
            cached.access_key_id(),
        )));
        let inner = if config.mfa_serial.is_some() {
            // An MFA session cannot be renewed without a new code.
            SharedCredentialsProvider::new(cached.clone())
        } else {
            // Built only if the cached credentials run out during this run.
            SharedCredentialsProvider::new(Lazy {
                build: std::sync::Mutex::new(Some(Box::pin(
                    refresher().build_from_provider(base.clone()),
                ))),
                built: tokio::sync::OnceCell::new(),
            })
        };
        return Ok(Resolved {
            key_id: ctx.key_id.clone().unwrap_or_default(),
            expiry: cached.expiry(),
            provider: primed(inner, cached),
            source: base,
            description: ctx.source.clone(),
            cached: true,
            cache_key: Some(cache_key),
        });
    }

    let provider = if let Some(serial) = &config.mfa_serial {
        let mfa = Mfa {
            role: role.secret(),
            serial,
            session_name: &session_name,
            seconds,
            external_id: config.external_id.as_ref(),
        };
        SharedCredentialsProvider::new(mfa.assume(&sts_conf, runtime, ctx).await?)
    } else {
        SharedCredentialsProvider::new(refresher().build_from_provider(base.clone()).await)
    };
    let creds = match provider.provide_credentials().await {
        Ok(c) => c,
        Err(e) => {
            return Err(explain(&sts_conf, ctx, |ctx| {
                diagnose::credentials_error(Hop::Sts, &e, ctx)
            })
            .await);
        }
    };
    ctx.key_id = Some(secret::redact_access_key(&Secret::new(
        creds.access_key_id(),
    )));
    if let Some(cache) = &runtime.cache {
        cache.store(&cache_key, &creds);
    }
    Ok(Resolved {
        key_id: ctx.key_id.clone().unwrap_or_default(),
        expiry: creds.expiry(),
        provider: primed(provider, creds),
        source: base,
        description: ctx.source.clone(),
        cached: false,
        cache_key: runtime.cache.is_some().then_some(cache_key),
    })
}

/// The STS settings with one bound on each call: all its attempts together
/// get one attempt's worth of time (connect plus read timeout). Without it,
/// an STS that accepts connections and never answers costs a full read
/// timeout per attempt; quick failures (refused connections, throttling)
/// are still retried inside the bound.
fn bounded(sts_config: &SdkConfig) -> SdkConfig {
    let Some(timeouts) = sts_config.timeout_config() else {
        return sts_config.clone();
    };
    let (Some(connect), Some(read)) = (timeouts.connect_timeout(), timeouts.read_timeout()) else {
        return sts_config.clone();
    };
    sts_config
        .to_builder()
        .timeout_config(
            timeouts
                .to_builder()
                .operation_timeout(connect + read)
                .build(),
        )
        .build()
}

/// Diagnoses a failed STS call. Only an AccessDenied from STS itself is
/// worth a GetCallerIdentity (its ARN names who may not assume the role);
/// after a network failure, another call would only wait again.
async fn explain(
    sts_conf: &SdkConfig,
    ctx: &mut Context,
    diagnose: impl Fn(&Context) -> Error,
) -> Error {
    let first = diagnose(ctx);
    let worth_asking = matches!(
        &first,
        Error::Remote { hop: Hop::Sts, code, kind: RemoteKind::Service, .. } if code == "AccessDenied"
    ) && !mfa_refused(&first);
    if worth_asking {
        ctx.source_arn = source_arn(sts_conf).await;
        if ctx.source_arn.is_some() {
            return diagnose(ctx);
        }
    }
    first
}

/// Whether STS refused the MFA code (AWS says "MultiFactorAuthentication
/// failed ..." in an AccessDenied).
fn mfa_refused(err: &Error) -> bool {
    matches!(
        err,
        Error::Remote { hop: Hop::Sts, code, message, .. }
            if code == "AccessDenied" && message.contains("MultiFactorAuthentication")
    )
}

/// What the hint says when STS refuses an MFA code.
const MFA_REFUSED: &str = "the MFA code was refused: wrong or expired (codes change every 30 s)";

/// An AssumeRole with an MFA code, which `AssumeRoleProvider` cannot send.
struct Mfa<'a> {
    role: &'a Secret,
    serial: &'a Secret,
    session_name: &'a str,
    seconds: u32,
    external_id: Option<&'a Secret>,
}

impl Mfa<'_> {
    /// Assumes the role with the code the run was given, or with codes asked
    /// on the terminal: one STS refuses is asked again, up to [`MFA_TRIES`]
    /// codes. A given code is never asked again: a script would hang.
    async fn assume(
        &self,
        sts_conf: &SdkConfig,
        runtime: &RunTime,
        ctx: &mut Context,
    ) -> Result<Credentials> {
        use crate::prompt::Prompter;
        let shown = secret::redact_mfa_serial(self.serial);
        if runtime.mfa_code.is_none() && !runtime.interactive {
            return Err(Error::Usage(format!(
                "MFASerial is set: give the current code with --mfa-code-fd N, ${MFA_CODE_ENV} or --mfa-code (or run on a terminal to be asked)"
            )));
        }
        let client = aws_sdk_sts::Client::new(sts_conf);
        let mut tries = 0;
        loop {
            tries += 1;
            let code = match &runtime.mfa_code {
                Some(code) => code.clone(),
                None => crate::prompt::Terminal
                    .secret(&format!("MFA code for {shown}: "))?
                    .ok_or(Error::Interrupted)?,
            };
            let out = client
                .assume_role()
                .role_arn(self.role.expose())
                .role_session_name(self.session_name)
                .set_external_id(self.external_id.map(|e| e.expose().to_string()))
                .duration_seconds(self.seconds as i32)
                .serial_number(self.serial.expose())
                .token_code(code.expose())
                .send()
                .await;
            drop(code);
            let out = match out {
                Ok(out) => out,
                Err(e) => {
                    let err =
                        explain(sts_conf, ctx, |ctx| diagnose::sdk_error(Hop::Sts, &e, ctx)).await;
                    if !mfa_refused(&err) {
                        return Err(err);
                    }
                    if runtime.mfa_code.is_none() && tries < MFA_TRIES {
                        eprintln!(
                            "{MFA_REFUSED}; enter the code the device shows now (try {} of {MFA_TRIES})",
                            tries + 1
                        );
                        continue;
                    }
                    return Err(err.map_remote(|_, _, hint| {
                        *hint = Some(format!(
                            "{MFA_REFUSED}: run again with the code the device shows now; MFASerial ({shown}) must name the MFA device of the identity that assumes the role"
                        ))
                    }));
                }
            };
            let c = out.credentials().ok_or_else(|| Error::Remote {
                hop: Hop::Sts,
                code: "NoCredentials".into(),
                message: "AssumeRole returned no credentials".into(),
                hint: None,
                kind: RemoteKind::Service,
            })?;
            return Ok(Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_string()),
                std::time::SystemTime::try_from(*c.expiration()).ok(),
                "assume-role-mfa",
            ));
        }
    }
}

/// The MFA code given to the run, first found: `--mfa-code`, the first line
/// read from descriptor `--mfa-code-fd`, or [`MFA_CODE_ENV`]. `None` leaves
/// asking on the terminal possible.
pub fn given_mfa_code(flag: Option<&str>, fd: Option<i32>) -> Result<Option<Secret>> {
    if let Some(code) = flag {
        return Ok(Some(Secret::new(code.trim())).filter(|c| !c.is_empty()));
    }
    if let Some(fd) = fd {
        return match crate::prompt::line_from_fd(fd) {
            Ok(Some(code)) => Ok(Some(code)),
            Ok(None) => Err(Error::Usage(format!(
                "--mfa-code-fd {fd}: no code: the first line read from descriptor {fd} is empty"
            ))),
            Err(e) => Err(Error::Usage(format!(
                "--mfa-code-fd {fd}: cannot read descriptor {fd} ({e}): open it for the command, as in `--mfa-code-fd 3 3<file`"
            ))),
        };
    }
    Ok(std::env::var(MFA_CODE_ENV)
        .ok()
        .map(|c| Secret::new(c.trim()))
        .filter(|c| !c.is_empty()))
}

/// The ARN of the source identity, to explain an AssumeRole refusal.
async fn source_arn(sts_conf: &SdkConfig) -> Option<String> {
    aws_sdk_sts::Client::new(sts_conf)
        .get_caller_identity()
        .send()
        .await
        .ok()
        .and_then(|o| o.arn().map(str::to_string))
}

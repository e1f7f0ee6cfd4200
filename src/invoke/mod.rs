//! What `invoke` does, in order: read and verify the config, choose region,
//! endpoint, model and request, resolve credentials (reporting the hop that
//! fails), call Bedrock, and show the reply as it streams.

pub mod cli;
pub mod families;
pub mod model_choice;
pub mod request;

use crate::aws::credentials::{self, RunTime};
use crate::aws::diagnose::{self, Context};
use crate::aws::endpoint::{self, Endpoint, EndpointKind};
use crate::config::crypto::ConfigKey;
use crate::config::{Config, Region};
use crate::error::{Error, Hop, Result};

use crate::config::keys::KeyOptions;
use crate::config::sealed;
use crate::logging::Logging;
use crate::output::{self, CallReport, CredentialsReport, EndpointReport, Format, Timings, Usage};
use crate::prompt::{Prompter, Terminal};
use crate::secret::{self, Scrubber, Secret};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseStreamOutput, InferenceConfiguration, Message,
    ResponseStream, SystemContentBlock,
};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use model_choice::ModelChoice;
use request::{Request, RequestArgs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The file read when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "config.properties";

/// Everything `invoke` was asked to do, typed.
#[derive(Debug, Clone)]
pub struct InvokeOptions {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--key-file`.
    pub key_file: Option<PathBuf>,
    /// `--require-sealed`.
    pub require_sealed: bool,
    /// `--model`.
    pub model: Option<String>,
    /// Prompt sources.
    pub request: RequestArgs,
    /// Converse `maxTokens`.
    pub max_tokens: i32,
    /// Converse `temperature`.
    pub temperature: f32,
    /// Converse `topP`.
    pub top_p: Option<f32>,
    /// Stream the reply.
    pub stream: bool,
    /// Output format.
    pub format: Format,
    /// Print the plan only.
    pub dry_run: bool,
    /// `--endpoint-url`.
    pub endpoint_url: Option<String>,
    /// `--region`.
    pub region: Option<String>,
    /// `--mfa-code`.
    pub mfa_code: Option<Secret>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Read timeout (also between stream events).
    pub read_timeout: Duration,
    /// Attempts per call, including retries of throttling and 5xx.
    pub max_attempts: u32,
    /// `--debug`.
    pub debug: bool,
    /// `--resolve` overrides.
    pub overrides: crate::aws::resolve::Overrides,
    /// `--no-cache`: always ask STS.
    pub no_cache: bool,
    /// `--auth`: how the Bedrock call is authenticated.
    pub auth: Auth,
}

/// How the Bedrock call is authenticated (`--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Auth {
    /// SigV4, with the credentials the config describes.
    #[default]
    Sigv4,
    /// The Bedrock API key in `AWS_BEARER_TOKEN_BEDROCK`, as a bearer token.
    Bearer,
}

/// The environment variable holding a Bedrock API key, which the SDK would
/// send on its own; this tool sends it only with `--auth bearer`.
pub const BEARER_ENV: &str = "AWS_BEARER_TOKEN_BEDROCK";

/// The Bedrock API key for `--auth bearer`; `None` for SigV4.
pub(crate) fn bearer_token(auth: Auth) -> Result<Option<Secret>> {
    match auth {
        Auth::Sigv4 => Ok(None),
        Auth::Bearer => match std::env::var(BEARER_ENV) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(Secret::new(v.trim()))),
            _ => Err(Error::Usage(format!(
                "--auth bearer: {BEARER_ENV} is not set; set it to a Bedrock API key, \
                 or leave --auth out to sign with the config's credentials"
            ))),
        },
    }
}

/// One line on how the Bedrock call is authenticated, for the plan and the notes.
fn describe_auth(bearer: Option<&Secret>) -> String {
    match bearer {
        Some(token) => format!(
            "bearer: the Bedrock API key in {BEARER_ENV} ({} characters); the config's credentials are not used",
            token.char_count()
        ),
        None if std::env::var_os(BEARER_ENV).is_some() => format!(
            "SigV4 with the config's credentials; {BEARER_ENV} is set and not sent (--auth bearer sends it)"
        ),
        None => "SigV4 with the config's credentials".into(),
    }
}

/// What authenticates a Bedrock client.
pub(crate) enum BedrockAuth {
    /// SigV4 with these credentials.
    SigV4(aws_credential_types::provider::SharedCredentialsProvider),
    /// A Bedrock API key, sent as a bearer token.
    Bearer(Secret),
}

/// The configuration of a Bedrock client for `url`, authenticated the way
/// `auth` says and no other.
///
/// Built from an `SdkConfig`, the SDK reads `AWS_BEARER_TOKEN_BEDROCK` on
/// its own, prefers it to SigV4 and sends it: a token left in the
/// environment would replace the credentials the config names and the tool
/// reports. So for SigV4 the scheme is chosen explicitly and the bearer
/// identity replaced by one that never yields a token.
pub(crate) fn bedrock_config(
    base: &SdkConfig,
    url: &str,
    auth: BedrockAuth,
) -> aws_sdk_bedrockruntime::config::Builder {
    use aws_smithy_runtime_api::client::auth::AuthSchemeId;
    use aws_smithy_runtime_api::client::auth::http::HTTP_BEARER_AUTH_SCHEME_ID;
    let builder = aws_sdk_bedrockruntime::config::Builder::from(base).endpoint_url(url);
    match auth {
        BedrockAuth::SigV4(provider) => builder
            .credentials_provider(provider)
            .auth_scheme_preference([AuthSchemeId::new("sigv4")])
            .token_provider(NoBearerToken),
        BedrockAuth::Bearer(token) => builder
            .auth_scheme_preference([HTTP_BEARER_AUTH_SCHEME_ID])
            .bearer_token(aws_sdk_bedrockruntime::config::Token::new(
                token.expose(),
                None,
            )),
    }
}

/// The bearer identity of a SigV4 client: never a token, so the one in the
/// environment cannot be sent even if the SDK chose bearer auth.
#[derive(Debug)]
struct NoBearerToken;

impl aws_credential_types::provider::token::ProvideToken for NoBearerToken {
    fn provide_token<'a>(&'a self) -> aws_credential_types::provider::future::ProvideToken<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideToken::ready(Err(
            aws_credential_types::provider::error::TokenError::not_loaded(
                "bearer auth is off: --auth bearer turns it on",
            ),
        ))
    }
}

/// The operation a request and streaming choice lead to.
fn operation(request: &Request, stream: bool) -> &'static str {
    match (request, stream) {
        (Request::Converse { .. }, true) => "ConverseStream",
        (Request::Converse { .. }, false) => "Converse",
        (Request::Invoke { .. }, true) => "InvokeModelWithResponseStream",
        (Request::Invoke { .. }, false) => "InvokeModel",
    }
}

/// Finds the config: `--config`, else `./config.properties`, else asks on a terminal.
fn config_path(flag: Option<&Path>, prompter: &mut dyn Prompter) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    let default = PathBuf::from(DEFAULT_CONFIG);
    if default.exists() || !Terminal::is_interactive() {
        return Ok(default);
    }
    let answer = prompter.line(&format!("Configuration file [{DEFAULT_CONFIG}]: "))?;
    Ok(answer.map(|a| PathBuf::from(a.trim())).unwrap_or(default))
}

/// Opens, verifies and validates the config, printing its warnings.
pub fn load_config(
    flag: Option<&Path>,
    keys: &KeyOptions,
    prompter: &mut dyn Prompter,
) -> Result<(PathBuf, Config, Option<ConfigKey>)> {
    let path = config_path(flag, prompter)?;
    let (opened, validated) = sealed::open_validated(&path, keys)?;
    for w in &validated.warnings {
        eprintln!("warning: {w}");
    }
    Ok((path, validated.config, opened.key.map(|(k, _)| k)))
}

/// The credential cache for a config encrypted with `key`; a plaintext
/// config has no key to protect a cache with, so it gets none.
fn cache_for(key: Option<ConfigKey>) -> Option<crate::aws::credentials::cache::CredentialCache> {
    Some(crate::aws::credentials::cache::CredentialCache::new(
        crate::aws::credentials::cache::default_dir()?,
        key?,
    ))
}

/// Every secret of the config, to scrub from what AWS says and from hints:
/// each shown by the same rule as everywhere else.
pub(crate) fn scrubber(config: &Config, extra: &[&Secret]) -> Scrubber {
    let mut s = Scrubber::new();
    if let Some(a) = &config.assume_role_arn {
        s.add(a.secret(), secret::redact_arn(a.secret()));
        // AWS names the role's sessions (`arn:aws:sts::ACCOUNT:assumed-role/
        // NAME/SESSION`) and its account in its own messages and in
        // GetCallerIdentity: both give the role away.
        let parts: Vec<&str> = a.secret().expose().splitn(6, ':').collect();
        if let [_, partition, _, _, account, resource] = parts[..] {
            let name = resource.rsplit('/').next().unwrap_or(resource);
            let session = Secret::new(format!(
                "arn:{partition}:sts::{account}:assumed-role/{name}"
            ));
            s.add(&session, secret::redact_arn(&session));
            s.add(&Secret::new(account), secret::redact_account(account));
        }
    }
    let sts_env = sts_endpoint_from_env();
    for u in [
        config.vpc_endpoint_url.as_ref().map(|u| u.secret()),
        config.sts_endpoint_url.as_ref().map(|u| u.secret()),
        sts_env.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        scrub_endpoint(&mut s, u);
    }
    for k in [&config.access_key].into_iter().flatten() {
        s.add(k, secret::redact_access_key(k));
    }
    for k in [&config.secret_key, &config.external_id, &config.mfa_serial]
        .into_iter()
        .flatten()
    {
        s.add(k, "(redacted)".into());
    }
    for e in extra {
        s.add(e, "(redacted)".into());
    }
    s
}

/// Adds an endpoint URL and its host to `s`, each shown as
/// [`secret::redact_url`] shows it.
pub(crate) fn scrub_endpoint(s: &mut Scrubber, url: &Secret) {
    s.add(url, secret::redact_url(url));
    if let Ok(parsed) = url::Url::parse(url.expose())
        && let Some(host) = parsed.host_str()
    {
        let shown =
            diagnose::shown_host(&secret::redact_url(&Secret::new(format!("https://{host}"))));
        if shown != host {
            s.add(&Secret::new(host), shown);
        }
    }
}

/// `AWS_ENDPOINT_URL_STS`, which the SDK honours for STS when the config
/// names no STS endpoint.
fn sts_endpoint_from_env() -> Option<Secret> {
    std::env::var("AWS_ENDPOINT_URL_STS")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(Secret::new)
}

/// The STS endpoint in use when it is not the public one: the config's
/// `STSEndpointURL`, else `AWS_ENDPOINT_URL_STS`.
pub(crate) fn sts_endpoint(config: &Config) -> Option<Secret> {
    config
        .sts_endpoint_url
        .as_ref()
        .map(|u| u.secret().clone())
        .or_else(sts_endpoint_from_env)
}

/// The STS host as it may be shown: the configured (or environment's)
/// endpoint with its id masked, else the regional public name.
pub(crate) fn sts_host_shown(config: &Config, region: &Region) -> String {
    match sts_endpoint(config) {
        Some(u) => diagnose::shown_host(&secret::redact_url(&u)),
        None => format!("sts.{region}.amazonaws.com"),
    }
}

/// The region: the file's, `--region`, or the AWS environment; a file and a
/// flag that disagree are an error rather than a silent choice.
pub(crate) async fn region(
    config: &Config,
    config_path: &Path,
    flag: Option<&str>,
) -> Result<Region> {
    let flag = match flag {
        Some(r) => Some(Region::parse(r).ok_or_else(|| {
            Error::Usage(format!("--region {r}: expected a region such as us-west-2"))
        })?),
        None => None,
    };
    match (&config.region, flag) {
        (Some(file), Some(flag)) if *file != flag => Err(Error::Usage(format!(
            "--region {flag} disagrees with Region = {file} in {}: remove one",
            config_path.display()
        ))),
        (Some(r), _) => Ok(r.clone()),
        (None, Some(r)) => Ok(r),
        (None, None) => {
            let found = aws_config::meta::region::RegionProviderChain::default_provider()
                .region()
                .await;
            let name = found.map(|r| r.to_string()).ok_or_else(|| {
                Error::Usage(
                    "no region: set Region in the config, give --region, or set AWS_REGION".into(),
                )
            })?;
            Region::parse(&name).ok_or_else(|| {
                Error::Usage(format!(
                    "the AWS environment names region {name}, which is not a region name"
                ))
            })
        }
    }
}

/// The extra CA bundle to trust: `CABundle`, else `AWS_CA_BUNDLE`, which
/// the Rust SDK itself does not read.
///
/// A relative `CABundle` is relative to the config's folder and nowhere
/// else: the bundle decides which servers are trusted with signed requests,
/// so one that happens to lie in the working folder must never be picked up
/// in its place. A bundle that is not there is an error naming the path.
pub(crate) fn ca_bundle_path(config: &Config, config_path: &Path) -> Result<Option<PathBuf>> {
    match &config.ca_bundle {
        Some(p) => {
            let path = crate::config::resolve_relative(config_path, p);
            if !path.is_file() {
                return Err(Error::Invalid {
                    at: crate::error::Location {
                        file: config_path.to_path_buf(),
                        line: None,
                        section: crate::config::DEFAULT_SECTION.into(),
                        key: Some("CABundle".into()),
                    },
                    message: format!(
                        "no file {}{}",
                        path.display(),
                        if p.is_relative() {
                            " (a relative path is relative to the config's folder)"
                        } else {
                            ""
                        }
                    ),
                });
            }
            Ok(Some(path))
        }
        None => Ok(std::env::var_os("AWS_CA_BUNDLE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)),
    }
}

/// The SDK configuration shared by STS and Bedrock: region, timeouts,
/// retries, and the HTTP client (with the CA bundle when there is one).
pub(crate) async fn base_sdk_config(
    config: &Config,
    config_path: &Path,
    region: &Region,
    opts: &InvokeOptions,
) -> Result<SdkConfig> {
    // No credentials here: every client is given its own, and the default
    // chain this would build (with an STS client of its own) goes unused.
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .no_credentials()
        .region(aws_config::Region::new(region.to_string()))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(opts.connect_timeout)
                .read_timeout(opts.read_timeout)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(opts.max_attempts.max(1)));
    let bundle = ca_bundle_path(config, config_path)?;
    if let Some(client) = crate::aws::transport::client(bundle.as_deref(), &opts.overrides)? {
        tracing::debug!(bundle = ?bundle, "HTTP client with a CA bundle or resolver overrides");
        loader = loader.http_client(client);
    }
    Ok(loader.load().await)
}

fn warn_environment(config: &Config) {
    let uses_env = matches!(
        config.source,
        crate::config::CredentialSource::AssumeRole | crate::config::CredentialSource::DefaultChain
    );
    if uses_env
        && std::env::var_os("AWS_SESSION_TOKEN").is_some()
        && std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
    {
        eprintln!(
            "warning: AWS_SESSION_TOKEN is set without AWS_ACCESS_KEY_ID: a stray token from another session; unset it"
        );
    }
}

/// Runs `invoke`.
pub async fn run(opts: InvokeOptions, logging: &Logging) -> Result<()> {
    let mut terminal = Terminal;
    let (path, config, config_key) = load_config(
        opts.config.as_deref(),
        &KeyOptions::from_env(opts.key_file.clone(), opts.require_sealed),
        &mut terminal,
    )?;
    if config.debug && !opts.debug {
        logging.enable_debug();
    }
    tracing::debug!(config = ?config, "configuration loaded");
    let region = region(&config, &path, opts.region.as_deref()).await?;
    let endpoint = endpoint::choose(
        &config,
        &path,
        &region,
        opts.endpoint_url.as_deref(),
        std::env::var(endpoint::ENDPOINT_ENV).ok(),
    )?;
    let model = model_choice::choose(
        opts.model.as_deref(),
        &config,
        Terminal::is_interactive(),
        &mut terminal,
    )?;
    let mut warnings = Vec::new();
    let request = request::build(
        &opts.request,
        &config,
        &path,
        &model.id,
        Terminal::is_interactive(),
        read_stdin,
        &mut warnings,
    )?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let op = operation(&request, opts.stream);
    let bearer = bearer_token(opts.auth)?;

    if opts.dry_run {
        print_plan(
            &opts,
            bearer.as_ref(),
            &config,
            &region,
            &endpoint,
            &model,
            &request,
            op,
        );
        return Ok(());
    }
    warn_environment(&config);

    let mfa_code = opts.mfa_code.clone();
    let mut ctx = Context {
        region: region.to_string(),
        model: Some(model.id.clone()),
        endpoint: Some(format!("the {} {}", endpoint.kind, endpoint.shown())),
        scrubber: scrubber(&config, &mfa_code.iter().collect::<Vec<_>>()),
        host: Some(sts_host_shown(&config, &region)),
        read_timeout: Some(opts.read_timeout),
        ..Context::default()
    };
    if endpoint.kind != EndpointKind::Public {
        scrub_endpoint(&mut ctx.scrubber, &endpoint.url);
    }

    let base = base_sdk_config(&config, &path, &region, &opts).await?;
    let mut sts_builder = base.to_builder();
    if let Some(url) = &config.sts_endpoint_url {
        sts_builder = sts_builder.endpoint_url(url.secret().expose());
    }
    let sts_config = sts_builder.build();

    output::note(
        "endpoint",
        &format!("{} {}", endpoint.kind, endpoint.shown()),
    );
    let runtime = RunTime {
        mfa_code,
        interactive: Terminal::is_interactive(),
        cache: if opts.no_cache {
            None
        } else {
            cache_for(config_key)
        },
    };
    let sts_host = ctx.host.clone();
    // With a bearer token no SigV4 credentials are used, so none are
    // resolved (no STS call) or reported.
    let mut resolved = match bearer {
        Some(_) => None,
        None => Some(credentials::resolve(&config, &sts_config, &runtime, &mut ctx).await?),
    };
    let note_credentials = |resolved: &credentials::Resolved| {
        output::note(
            "credentials",
            &format!(
                "{} (key {}{})",
                resolved.description,
                resolved.key_id,
                if resolved.cached {
                    ", from the credential cache"
                } else {
                    ""
                }
            ),
        )
    };
    match &resolved {
        Some(r) => note_credentials(r),
        None => ctx.source = "the Bedrock API key".into(),
    }
    if resolved.is_none() || std::env::var_os(BEARER_ENV).is_some() {
        output::note("auth", &describe_auth(bearer.as_ref()));
    }
    output::note("model", &format!("{model} via {op}"));

    let mut reply = output::Reply {
        print: opts.format == Format::Text,
        ..Default::default()
    };
    let started = Instant::now();
    let mut first_token: Option<Duration> = None;
    let mut refreshed = false;
    let outcome = loop {
        ctx.host = Some(diagnose::shown_host(&endpoint.shown()));
        let auth = match (&bearer, &resolved) {
            (Some(token), _) => BedrockAuth::Bearer(token.clone()),
            (None, Some(r)) => BedrockAuth::SigV4(r.provider.clone()),
            (None, None) => unreachable!("SigV4 credentials are resolved above"),
        };
        let client = aws_sdk_bedrockruntime::Client::from_conf(
            bedrock_config(&base, endpoint.url.expose(), auth).build(),
        );
        let call = call(
            &client,
            &opts,
            &model,
            &request,
            &mut reply,
            &mut first_token,
            started,
            &ctx,
        );
        let outcome = tokio::select! {
            r = call => r,
            _ = tokio::signal::ctrl_c() => {
                reply.finish();
                return Err(Error::Interrupted);
            }
        };
        // A cached session AWS refuses (expired or revoked early) is evicted
        // and the call made once more, with fresh credentials from STS.
        if let Err(e) = &outcome
            && !refreshed
            && reply.text.is_empty()
            && let Some(r) = &resolved
            && let Some(code) = r.refused_from_cache(e)
        {
            refreshed = true;
            output::note(
                "credentials",
                &format!("the cached credentials were refused ({code}): evicted; asking STS"),
            );
            r.evict(&runtime);
            ctx.host = sts_host.clone();
            let fresh = credentials::resolve(&config, &sts_config, &runtime, &mut ctx).await?;
            note_credentials(&fresh);
            resolved = Some(fresh);
            continue;
        }
        break outcome;
    };
    let total = started.elapsed();
    reply.finish();
    let (stop_reason, usage) = outcome?;
    let timings = Timings {
        first_token: first_token.map(ms),
        total: ms(total),
    };
    match opts.format {
        Format::Text => {
            let mut parts = vec![format!(
                "stop {}",
                stop_reason.as_deref().unwrap_or("(none)")
            )];
            parts.push(format!(
                "tokens {} in, {} out",
                usage.input_tokens.map_or("?".into(), |n| n.to_string()),
                usage.output_tokens.map_or("?".into(), |n| n.to_string())
            ));
            if let Some(t) = timings.first_token {
                parts.push(format!("first token {t:.0} ms"));
            }
            parts.push(format!("total {:.0} ms", timings.total));
            output::note("done", &parts.join(" · "));
        }
        Format::Json => {
            let report = CallReport {
                text: reply.text.clone(),
                model: model.id.clone(),
                alias: model.alias.clone(),
                operation: op.to_string(),
                endpoint: EndpointReport {
                    kind: match endpoint.kind {
                        EndpointKind::Vpc => "vpc",
                        EndpointKind::Public => "public",
                        EndpointKind::Environment => "environment",
                        EndpointKind::Flag => "flag",
                    }
                    .into(),
                    url: endpoint.shown(),
                },
                credentials: match &resolved {
                    Some(r) => CredentialsReport {
                        auth: "sigv4",
                        source: r.description.clone(),
                        access_key_id: Some(r.key_id.clone()),
                    },
                    None => CredentialsReport {
                        auth: "bearer",
                        source: format!("the Bedrock API key in {BEARER_ENV}"),
                        access_key_id: None,
                    },
                },
                stop_reason,
                usage,
                timings_ms: timings,
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("serialisable")
            );
        }
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

fn read_stdin() -> Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|source| Error::Read {
            path: "standard input".into(),
            source,
        })?;
    Ok(text)
}

#[allow(clippy::too_many_arguments)]
fn print_plan(
    opts: &InvokeOptions,
    bearer: Option<&Secret>,
    config: &Config,
    region: &Region,
    endpoint: &Endpoint,
    model: &ModelChoice,
    request: &Request,
    op: &str,
) {
    let what = match request {
        Request::Converse { system, user } => format!(
            "one user message ({} characters){}",
            user.chars().count(),
            if system.is_some() {
                " and a system prompt"
            } else {
                ""
            }
        ),
        Request::Invoke { body, from } => {
            format!("the JSON body of {} ({} bytes)", from.display(), body.len())
        }
    };
    let sts = match &config.sts_endpoint_url {
        Some(u) => secret::redact_url(u.secret()),
        None => format!("https://sts.{region}.amazonaws.com"),
    };
    let rows = [
        ("region", region.to_string()),
        (
            "endpoint",
            format!("{} {}", endpoint.kind, endpoint.shown()),
        ),
        (
            "credentials",
            match bearer {
                Some(_) => format!(
                    "not used (--auth bearer): {}",
                    credentials::describe(config)
                ),
                None => credentials::describe(config),
            },
        ),
        ("auth", describe_auth(bearer)),
        ("sts", sts),
        ("model", model.to_string()),
        ("operation", op.to_string()),
        ("request", what),
    ];
    match opts.format {
        Format::Text => {
            for (k, v) in rows {
                println!("{k:<12} {v}");
            }
        }
        Format::Json => {
            let map: serde_json::Map<String, serde_json::Value> = rows
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.into()))
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&map).expect("serialisable")
            );
        }
    }
}

/// Makes the call and feeds the reply to `reply`; returns the stop reason and usage.
#[allow(clippy::too_many_arguments)]
async fn call(
    client: &aws_sdk_bedrockruntime::Client,
    opts: &InvokeOptions,
    model: &ModelChoice,
    request: &Request,
    reply: &mut output::Reply,
    first_token: &mut Option<Duration>,
    started: Instant,
    ctx: &Context,
) -> Result<(Option<String>, Usage)> {
    let mut mark = |reply: &mut output::Reply, text: &str| {
        if first_token.is_none() && !text.is_empty() {
            *first_token = Some(started.elapsed());
        }
        reply.push(text);
    };
    match request {
        Request::Converse { system, user } => {
            let message = Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text(user.clone()))
                .build()
                .expect("role and content set");
            let mut inference = InferenceConfiguration::builder()
                .max_tokens(opts.max_tokens)
                .temperature(opts.temperature);
            if let Some(p) = opts.top_p {
                inference = inference.top_p(p);
            }
            let system = system.clone().map(|s| vec![SystemContentBlock::Text(s)]);
            if opts.stream {
                let mut out = client
                    .converse_stream()
                    .model_id(&model.id)
                    .set_system(system)
                    .messages(message)
                    .inference_config(inference.build())
                    .send()
                    .await
                    .map_err(|e| diagnose::sdk_error(Hop::Bedrock, &e, ctx))?;
                let (mut stop, mut usage) = (None, Usage::default());
                loop {
                    match next_event(opts.read_timeout, out.stream.recv(), reply).await? {
                        Ok(Some(ConverseStreamOutput::ContentBlockDelta(d))) => {
                            if let Some(text) = d.delta().and_then(|d| d.as_text().ok()) {
                                mark(reply, text);
                            }
                        }
                        Ok(Some(ConverseStreamOutput::MessageStop(m))) => {
                            stop = Some(m.stop_reason().as_str().to_string())
                        }
                        Ok(Some(ConverseStreamOutput::Metadata(m))) => {
                            if let Some(u) = m.usage() {
                                usage = Usage {
                                    input_tokens: Some(u.input_tokens() as u64),
                                    output_tokens: Some(u.output_tokens() as u64),
                                };
                            }
                        }
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(e) => return Err(stream_failure(&e, converse_stream_code, reply, ctx)),
                    }
                }
                Ok((stop, usage))
            } else {
                let out = client
                    .converse()
                    .model_id(&model.id)
                    .set_system(system)
                    .messages(message)
                    .inference_config(inference.build())
                    .send()
                    .await
                    .map_err(|e| diagnose::sdk_error(Hop::Bedrock, &e, ctx))?;
                if let Some(msg) = out.output().and_then(|o| o.as_message().ok()) {
                    for block in msg.content() {
                        if let Ok(t) = block.as_text() {
                            mark(reply, t);
                        }
                    }
                }
                let usage = out.usage().map(|u| Usage {
                    input_tokens: Some(u.input_tokens() as u64),
                    output_tokens: Some(u.output_tokens() as u64),
                });
                Ok((
                    Some(out.stop_reason().as_str().to_string()),
                    usage.unwrap_or_default(),
                ))
            }
        }
        Request::Invoke { body, .. } => {
            if opts.stream {
                let mut out = client
                    .invoke_model_with_response_stream()
                    .model_id(&model.id)
                    .content_type("application/json")
                    .accept("application/json")
                    .body(Blob::new(body.clone()))
                    .send()
                    .await
                    .map_err(|e| diagnose::sdk_error(Hop::Bedrock, &e, ctx))?;
                let (mut stop, mut usage) = (None, Usage::default());
                loop {
                    match next_event(opts.read_timeout, out.body.recv(), reply).await? {
                        Ok(Some(ResponseStream::Chunk(part))) => {
                            let Some(bytes) = part.bytes() else { continue };
                            let Ok(chunk) =
                                serde_json::from_slice::<serde_json::Value>(bytes.as_ref())
                            else {
                                continue;
                            };
                            let piece = families::read_chunk(&chunk);
                            mark(reply, &piece.text);
                            stop = piece.stop_reason.or(stop);
                            usage.input_tokens = piece.input_tokens.or(usage.input_tokens);
                            usage.output_tokens = piece.output_tokens.or(usage.output_tokens);
                        }
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(e) => return Err(stream_failure(&e, response_stream_code, reply, ctx)),
                    }
                }
                Ok((stop, usage))
            } else {
                let out = client
                    .invoke_model()
                    .model_id(&model.id)
                    .content_type("application/json")
                    .accept("application/json")
                    .body(Blob::new(body.clone()))
                    .send()
                    .await
                    .map_err(|e| diagnose::sdk_error(Hop::Bedrock, &e, ctx))?;
                let value: serde_json::Value =
                    serde_json::from_slice(out.body().as_ref()).unwrap_or_default();
                let piece = families::read_reply(&value);
                mark(reply, &piece.text);
                Ok((
                    piece.stop_reason,
                    Usage {
                        input_tokens: piece.input_tokens,
                        output_tokens: piece.output_tokens,
                    },
                ))
            }
        }
    }
}

/// The next event of a stream, bounded by `--read-timeout`. The SDK's read
/// timeout covers the wait for the response headers only: a stream that
/// stalls after them (a hung model, a proxy that stops forwarding) would
/// otherwise wait for as long as the connection lives.
async fn next_event<T>(
    wait: Duration,
    recv: impl std::future::Future<Output = T>,
    reply: &output::Reply,
) -> Result<T> {
    tokio::time::timeout(wait, recv).await.map_err(|_| {
        reply.finish();
        let what = format!(
            "the stream stalled after {} characters",
            reply.text.chars().count()
        );
        diagnose::read_timeout(
            Hop::Bedrock,
            diagnose::no_data_for(wait, &what),
            "the endpoint stopped sending in the middle of the reply (a hung model, or a proxy or \
             firewall holding the connection open); run again, or raise --read-timeout for a model \
             that pauses longer",
        )
    })
}

fn converse_stream_code(
    e: &aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError,
) -> &'static str {
    use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError as E;
    match e {
        E::InternalServerException(_) => "InternalServerException",
        E::ModelStreamErrorException(_) => "ModelStreamErrorException",
        E::ServiceUnavailableException(_) => "ServiceUnavailableException",
        E::ThrottlingException(_) => "ThrottlingException",
        E::ValidationException(_) => "ValidationException",
        _ => "StreamError",
    }
}

fn response_stream_code(
    e: &aws_sdk_bedrockruntime::types::error::ResponseStreamError,
) -> &'static str {
    use aws_sdk_bedrockruntime::types::error::ResponseStreamError as E;
    match e {
        E::InternalServerException(_) => "InternalServerException",
        E::ModelStreamErrorException(_) => "ModelStreamErrorException",
        E::ModelTimeoutException(_) => "ModelTimeoutException",
        E::ServiceUnavailableException(_) => "ServiceUnavailableException",
        E::ThrottlingException(_) => "ThrottlingException",
        E::ValidationException(_) => "ValidationException",
        _ => "StreamError",
    }
}

/// A failure in the middle of a stream: an exception event, or a broken
/// connection. The text already printed stays; the error says so.
fn stream_failure<E, R>(
    err: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
    code_of: fn(&E) -> &'static str,
    reply: &output::Reply,
    ctx: &Context,
) -> Error
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    reply.finish();
    let error = match err {
        aws_smithy_runtime_api::client::result::SdkError::ServiceError(s) => {
            diagnose::service_error(
                Hop::Bedrock,
                code_of(s.err()).to_string(),
                ctx.scrubber.scrub(s.err().message().unwrap_or("")),
                ctx,
            )
        }
        other => diagnose::sdk_error(Hop::Bedrock, other, ctx).map_remote(|code, _, hint| {
            *code = "StreamInterrupted".into();
            *hint = Some("the connection broke in the middle of the reply: run again".into());
        }),
    };
    error.map_remote(|_, message, _| {
        message.push_str(&format!(
            " (the stream stopped after {} characters)",
            reply.text.chars().count()
        ))
    })
}

/// `invoke models`: the aliases of the config, numbered as in the menu.
pub fn list_models(config: Option<&Path>, keys: &KeyOptions) -> Result<()> {
    let (path, config, _) = load_config(config, keys, &mut Terminal)?;
    if config.models.is_empty() {
        return Err(Error::Usage(format!(
            "{} has no [models] section",
            path.display()
        )));
    }
    for line in model_choice::menu(&config.models) {
        println!("{line}");
    }
    if let Some(default) = &config.model_id {
        eprintln!("default (ModelID): {default}");
    }
    Ok(())
}

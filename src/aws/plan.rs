//! The plan of a run: everything a call will use, decided once from the
//! config, the flags and the environment, before anything is sent.
//!
//! `invoke`, `invoke --dry-run`, `invoke check` and the load mode all take
//! their region, endpoints, credential source, redaction and clients from
//! here, so that no two of them can disagree about which endpoint a call
//! goes to, and `--dry-run` prints exactly what the call would use.
//!
//! Endpoints follow one rule per service, honouring the same AWS settings
//! everywhere, as the AWS SDKs read them (`AWS_ENDPOINT_URL_<SERVICE>`,
//! `AWS_ENDPOINT_URL`, the profile's `endpoint_url` and `services` section,
//! `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`):
//!
//! - Bedrock: `--endpoint-url`, else `VPCEndpointURL` with `UseVPCe = true`,
//!   else the configured endpoint, else `https://bedrock-runtime.<region>...`;
//! - STS: `STSEndpointURL`, else the configured endpoint, else
//!   `https://sts.<region>...`.
//!
//! Each client is given its endpoint explicitly, so a setting meant for one
//! service never reaches the other.

use crate::aws::diagnose::Context;
use crate::aws::resolve::Overrides;
use crate::aws::signed::Signed;
use crate::aws::transport;
use crate::config::schema::{self, DEFAULT_SECTION};
use crate::config::{BedrockEndpoint, Config, CredentialSource, EndpointUrl, Region};
use crate::error::{Error, Location, Result};
use crate::secret::{self, Scrubber, Secret};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::service_config::ServiceConfigKey;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The environment variable holding a Bedrock API key, which the SDK would
/// send on its own; this tool sends it only with `--auth bearer`.
pub(crate) const BEARER_ENV: &str = "AWS_BEARER_TOKEN_BEDROCK";

/// How the Bedrock call is authenticated.
#[derive(Debug, Clone)]
pub(crate) enum Auth {
    /// SigV4 with the credentials the config describes.
    SigV4 {
        /// Whether [`BEARER_ENV`] is set (and deliberately not sent).
        bearer_in_env: bool,
    },
    /// The Bedrock API key from [`BEARER_ENV`], as a bearer token.
    Bearer(Secret),
}

impl Auth {
    /// `sigv4` or `bearer`, for JSON.
    pub(crate) fn word(&self) -> &'static str {
        match self {
            Auth::SigV4 { .. } => "sigv4",
            Auth::Bearer(_) => "bearer",
        }
    }

    /// One line on how the Bedrock call is authenticated.
    pub(crate) fn describe(&self) -> String {
        match self {
            Auth::Bearer(token) => format!(
                "bearer: the Bedrock API key in {BEARER_ENV} ({} characters); the config's credentials are not used",
                token.char_count()
            ),
            Auth::SigV4 {
                bearer_in_env: true,
            } => format!(
                "SigV4 with the config's credentials; {BEARER_ENV} is set and not sent (--auth bearer sends it)"
            ),
            Auth::SigV4 { .. } => "SigV4 with the config's credentials".into(),
        }
    }
}

/// What the command line and the environment add to the config, typed.
#[derive(Debug, Clone)]
pub(crate) struct AwsOptions {
    /// `--region`.
    pub(crate) region: Option<Region>,
    /// `--endpoint-url`.
    pub(crate) endpoint_url: Option<EndpointUrl>,
    /// How long to wait for a connection.
    pub(crate) connect_timeout: Duration,
    /// How long to wait for data, also between stream events.
    pub(crate) read_timeout: Duration,
    /// Attempts per call, retrying throttling and server errors.
    pub(crate) max_attempts: u32,
    /// `AWS_RETRY_MODE=adaptive`: the SDK's client-side rate limiting too.
    pub(crate) adaptive_retries: bool,
    /// `--profile`, which wins over the config's `Profile`.
    pub(crate) profile: Option<String>,
    /// `--resolve` overrides.
    pub(crate) overrides: Overrides,
    /// `--auth`, with the key when it is a bearer token.
    pub(crate) auth: Auth,
    /// The MFA code given to the run, never asked again.
    pub(crate) mfa_code: Option<Secret>,
    /// `AWS_CA_BUNDLE`, used when the config has no `CABundle`.
    pub(crate) ca_bundle_env: Option<PathBuf>,
    /// Where assumed-role credentials are kept between runs: none with
    /// `--no-cache` or when no home or cache folder is known.
    pub(crate) cache_dir: Option<PathBuf>,
}

impl Default for AwsOptions {
    fn default() -> AwsOptions {
        AwsOptions {
            region: None,
            endpoint_url: None,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(60),
            max_attempts: 3,
            adaptive_retries: false,
            profile: None,
            overrides: Overrides::default(),
            auth: Auth::SigV4 {
                bearer_in_env: false,
            },
            mfa_code: None,
            ca_bundle_env: None,
            cache_dir: None,
        }
    }
}

/// Where an endpoint came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// `VPCEndpointURL` with `UseVPCe = true`.
    Vpc,
    /// `STSEndpointURL`.
    StsEndpointUrl,
    /// `ControlPlaneEndpointURL`.
    ControlPlaneEndpointUrl,
    /// `--endpoint-url`.
    Flag,
    /// An AWS setting: this environment variable.
    Environment(&'static str),
    /// An AWS setting: the profile's `endpoint_url` or `services` section.
    AwsConfigFile,
    /// AWS's public endpoint for the region.
    Public,
}

impl Origin {
    /// A machine value for JSON.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Origin::Vpc => "vpc",
            Origin::StsEndpointUrl | Origin::ControlPlaneEndpointUrl => "config",
            Origin::Flag => "flag",
            Origin::Environment(_) => "environment",
            Origin::AwsConfigFile => "aws-config-file",
            Origin::Public => "public",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Vpc => f.write_str("VPC endpoint"),
            Origin::StsEndpointUrl => f.write_str("endpoint from STSEndpointURL"),
            Origin::ControlPlaneEndpointUrl => f.write_str("endpoint from ControlPlaneEndpointURL"),
            Origin::Flag => f.write_str("endpoint from --endpoint-url"),
            Origin::Environment(var) => write!(f, "endpoint from {var}"),
            Origin::AwsConfigFile => f.write_str("endpoint from the AWS config file"),
            Origin::Public => f.write_str("public endpoint"),
        }
    }
}

/// An endpoint and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The URL.
    pub(crate) url: EndpointUrl,
    /// Where it came from.
    pub(crate) origin: Origin,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.origin, self.url.shown())
    }
}

/// What authenticates a Bedrock client.
pub(crate) enum BedrockAuth {
    /// SigV4 with these credentials.
    SigV4(SharedCredentialsProvider),
    /// A Bedrock API key, sent as a bearer token.
    Bearer(Secret),
}

/// Everything a run will use.
pub(crate) struct Plan {
    /// The configuration.
    pub(crate) config: Config,
    /// The signing region.
    pub(crate) region: Region,
    /// Where Bedrock calls go.
    pub(crate) bedrock: Endpoint,
    /// Where a Bedrock call would go without the VPC endpoint and
    /// `--endpoint-url`: the endpoint the AWS settings name, else AWS's
    /// regional one; `None` when an AWS setting names an invalid URL.
    pub(crate) direct_bedrock: Option<Endpoint>,
    /// Where STS calls go.
    pub(crate) sts: Endpoint,
    /// Where the Bedrock control plane's calls (model access) go when the
    /// config or the AWS settings name an endpoint; AWS's public one is
    /// resolved only when asked for ([`Plan::control`]): most runs never
    /// call the control plane, and its endpoint rules are a lot of code to
    /// run (and to page in) for nothing.
    control: Option<Endpoint>,
    /// The CA bundle trusted besides the system's, checked to exist.
    pub(crate) ca_bundle: Option<PathBuf>,
    /// The flags and environment the plan was made with.
    pub(crate) options: AwsOptions,
    /// Removes every secret of the run from text that comes from elsewhere.
    pub(crate) scrubber: Scrubber,
    /// Things that work but are probably not what the user meant.
    pub(crate) warnings: Vec<String>,
    /// Whether `AWS_SESSION_TOKEN` is set, for hints about stray tokens.
    pub(crate) session_token_in_env: bool,
    /// Whether the standard chain's identity is a web identity token
    /// (`AWS_WEB_IDENTITY_TOKEN_FILE`, without keys in the environment,
    /// which the chain would take first), so that its failures are told
    /// at that hop.
    pub(crate) web_identity_in_env: bool,
    base: SdkConfig,
    /// The HTTP client of `base`, for the requests the tool signs itself.
    transport: transport::Transport,
}

/// The endpoints and region only: the AWS settings inside (`base`) hold
/// the profile files, secrets included.
impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("region", &self.region)
            .field("bedrock", &self.bedrock)
            .field("sts", &self.sts)
            .finish_non_exhaustive()
    }
}

impl Plan {
    /// Decides everything: region, CA bundle, endpoints, redaction. Reads
    /// the AWS settings once, through aws-config; sends nothing.
    pub(crate) async fn new(mut config: Config, options: AwsOptions) -> Result<Plan> {
        if let Some(p) = &options.profile {
            config.profile = Some(p.clone());
        }
        check_profile(&config, options.profile.is_some()).await?;
        check_imds_endpoint()?;
        check_proxy_env()?;
        let profile = config.profile.as_deref();
        let ca_bundle = ca_bundle(&config, &options)?;
        let transport = transport::client(ca_bundle.as_deref(), &options.overrides)?;
        let http = transport.sdk();
        let region = region(&config, options.region.as_ref(), profile, &http).await?;
        let base = base_sdk_config(&region, &options, profile, http).await;
        let direct_bedrock = match configured(&base, BEDROCK_SERVICE) {
            Ok(Some(e)) => Ok(e),
            Ok(None) => aws_public(&base, BEDROCK_SERVICE, &region).await,
            Err(e) => Err(e),
        };
        let (bedrock, direct_bedrock) = match (&options.endpoint_url, &config.bedrock) {
            (Some(url), _) => (
                Endpoint {
                    url: url.clone(),
                    origin: Origin::Flag,
                },
                direct_bedrock.ok(),
            ),
            (None, BedrockEndpoint::Vpc(url)) => (
                Endpoint {
                    url: url.clone(),
                    origin: Origin::Vpc,
                },
                direct_bedrock.ok(),
            ),
            // An invalid AWS setting is an error only when it would be used.
            (None, BedrockEndpoint::Public) => {
                let direct = direct_bedrock?;
                (direct.clone(), Some(direct))
            }
        };
        let sts = match (&config.sts_endpoint, configured(&base, STS_SERVICE)?) {
            (Some(url), _) => Endpoint {
                url: url.clone(),
                origin: Origin::StsEndpointUrl,
            },
            (None, Some(e)) => e,
            (None, None) => aws_public(&base, STS_SERVICE, &region).await?,
        };
        let control = match (
            &config.control_endpoint,
            configured(&base, CONTROL_SERVICE)?,
        ) {
            (Some(url), _) => Some(Endpoint {
                url: url.clone(),
                origin: Origin::ControlPlaneEndpointUrl,
            }),
            (None, e) => e,
        };
        for endpoint in [
            Some(&bedrock),
            Some(&sts),
            control.as_ref(),
            direct_bedrock.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            check_region(endpoint, &region, &config)?;
        }
        let in_use = [
            Some(&bedrock),
            Some(&sts),
            control.as_ref(),
            direct_bedrock.as_ref(),
        ];
        let scrubber = scrubber(
            &config,
            in_use.into_iter().flatten(),
            options.mfa_code.as_ref(),
        );
        let session_token_in_env = std::env::var_os("AWS_SESSION_TOKEN").is_some();
        let web_identity_in_env = std::env::var_os("AWS_WEB_IDENTITY_TOKEN_FILE").is_some()
            && std::env::var_os("AWS_ACCESS_KEY_ID").is_none();
        Ok(Plan {
            warnings: environment_warnings(&config.source, session_token_in_env),
            config,
            region,
            bedrock,
            direct_bedrock,
            sts,
            control,
            ca_bundle,
            options,
            scrubber,
            session_token_in_env,
            web_identity_in_env,
            base,
            transport,
        })
    }

    /// Where the control plane's calls go: the endpoint the config or the
    /// AWS settings name, else AWS's public one for the region.
    pub(crate) async fn control(&self) -> Result<Endpoint> {
        match &self.control {
            Some(e) => Ok(e.clone()),
            None => aws_public(&self.base, CONTROL_SERVICE, &self.region).await,
        }
    }

    /// Whether the config or the AWS settings name the control plane's
    /// endpoint (else it is AWS's public one).
    pub(crate) fn control_is_named(&self) -> bool {
        self.control.is_some()
    }

    /// The AWS profile of the run.
    pub(crate) fn profile(&self) -> Option<&str> {
        self.config.profile.as_deref()
    }

    /// What aws-config's own providers (IMDS, the standard chain) are built
    /// with: the run's region, HTTP client (CA bundle, `--resolve`), FIPS
    /// and dual-stack settings. Their timeouts stay aws-config's (IMDS
    /// answers within a second or is not there).
    pub(crate) fn provider_config(&self) -> aws_config::provider_config::ProviderConfig {
        let base = &self.base;
        let mut config = aws_config::provider_config::ProviderConfig::without_region()
            .with_region(base.region().cloned())
            .with_use_fips(base.use_fips())
            .with_use_dual_stack(base.use_dual_stack());
        if let Some(http) = base.http_client() {
            config = config.with_http_client(http);
        }
        if let Some(sleep) = base.sleep_impl() {
            config = config.with_sleep_impl(sleep);
        }
        config
    }

    /// An STS client signing with `provider`.
    pub(crate) fn sts_client(&self, provider: SharedCredentialsProvider) -> aws_sdk_sts::Client {
        let config = self
            .sts_config()
            .to_builder()
            .credentials_provider(provider)
            .build();
        aws_sdk_sts::Client::new(&config)
    }

    /// The STS settings: its endpoint, and one bound on each call. All its
    /// attempts together get one attempt's worth of time (connect plus read
    /// timeout): an STS that accepts connections and never answers would
    /// otherwise cost a full read timeout per attempt; quick failures
    /// (refused connections, throttling) are still retried inside the bound.
    pub(crate) fn sts_config(&self) -> SdkConfig {
        let o = &self.options;
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(o.connect_timeout)
            .read_timeout(o.read_timeout)
            .operation_timeout(o.connect_timeout + o.read_timeout)
            .build();
        let mut builder = self
            .base
            .to_builder()
            .endpoint_url(self.sts.url.secret().expose())
            .timeout_config(timeouts);
        // Marked as set in code: otherwise an STS client made from these
        // settings (the one inside aws-config's assume-role provider) would
        // prefer AWS_ENDPOINT_URL_STS or the profile's to the plan's choice.
        builder.insert_origin("endpoint_url", aws_types::origin::Origin::shared_config());
        builder.build()
    }

    /// A Bedrock client for `endpoint`, authenticated the way `auth` says
    /// and no other.
    ///
    /// Built from an `SdkConfig`, the SDK reads `AWS_BEARER_TOKEN_BEDROCK` on
    /// its own, prefers it to SigV4 and sends it: a token left in the
    /// environment would replace the config's credentials without a word.
    /// So SigV4 clients choose SigV4 explicitly and get a bearer identity
    /// that never yields a token; bearer clients get the token given.
    pub(crate) fn bedrock_client(
        &self,
        endpoint: &Endpoint,
        auth: BedrockAuth,
    ) -> aws_sdk_bedrockruntime::Client {
        use aws_smithy_runtime_api::client::auth::AuthSchemeId;
        use aws_smithy_runtime_api::client::auth::http::HTTP_BEARER_AUTH_SCHEME_ID;
        let builder = aws_sdk_bedrockruntime::config::Builder::from(&self.base)
            .endpoint_url(endpoint.url.secret().expose());
        let builder = match auth {
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
        };
        aws_sdk_bedrockruntime::Client::from_conf(builder.build())
    }

    /// Requests signed by the tool itself ([`crate::aws::signed`]) to
    /// `endpoint` with `provider`'s credentials, with the run's timeouts
    /// and attempts: the control plane's (model access) and the load
    /// mode's.
    pub(crate) fn signed(
        &self,
        endpoint: &Endpoint,
        provider: SharedCredentialsProvider,
    ) -> Signed {
        let o = &self.options;
        Signed::new(
            &self.transport,
            provider,
            endpoint.url.secret().expose(),
            &self.region.to_string(),
            o.connect_timeout,
            o.read_timeout,
            o.max_attempts,
        )
    }

    /// What a diagnosis may mention, for a call to `model`.
    pub(crate) fn context(&self, model: Option<&str>) -> Context {
        Context {
            region: self.region.to_string(),
            source: crate::aws::credentials::describe(&self.config.source, self.profile()),
            model: model.map(str::to_string),
            endpoint: Some(format!("the {}", self.bedrock)),
            host: Some(self.sts.url.shown_host().to_string()),
            scrubber: self.scrubber.clone(),
            read_timeout: Some(self.options.read_timeout),
            session_token_in_env: self.session_token_in_env,
            proxy: crate::aws::diagnose::proxy_from_env(),
            ca_bundle: self.ca_bundle.as_ref().map(|p| {
                let from = if self.config.ca_bundle.is_some() {
                    "CABundle"
                } else {
                    "AWS_CA_BUNDLE"
                };
                format!("{} (from {from})", p.display())
            }),
            ..Context::default()
        }
    }

    /// The plan as `--dry-run` and `invoke check` show it: name and value.
    pub(crate) fn rows(&self) -> Vec<(&'static str, String)> {
        let credentials = crate::aws::credentials::describe(&self.config.source, self.profile());
        vec![
            ("region", self.region.to_string()),
            ("endpoint", self.bedrock.to_string()),
            (
                "credentials",
                match &self.options.auth {
                    Auth::Bearer(_) => format!("not used (--auth bearer): {credentials}"),
                    Auth::SigV4 { .. } => credentials,
                },
            ),
            ("auth", self.options.auth.describe()),
            ("sts", self.sts.to_string()),
        ]
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

/// A service as the AWS settings and endpoint rules know it.
#[derive(Clone, Copy)]
struct Service {
    /// The SDK's service id, which names its settings.
    id: &'static str,
    /// Its own endpoint variable.
    variable: &'static str,
}

const BEDROCK_SERVICE: Service = Service {
    id: "Bedrock Runtime",
    variable: "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
};

const STS_SERVICE: Service = Service {
    id: "STS",
    variable: "AWS_ENDPOINT_URL_STS",
};

const CONTROL_SERVICE: Service = Service {
    id: "Bedrock",
    variable: "AWS_ENDPOINT_URL_BEDROCK",
};

/// AWS's own endpoint for `service` in `region`, from the SDK's endpoint
/// rules: the partition's domain, FIPS and dual-stack as the AWS settings
/// ask (`AWS_USE_FIPS_ENDPOINT`, `AWS_USE_DUALSTACK_ENDPOINT`).
async fn aws_public(base: &SdkConfig, service: Service, region: &Region) -> Result<Endpoint> {
    let fips = base.use_fips().unwrap_or(false);
    let dual = base.use_dual_stack().unwrap_or(false);
    let resolved = if service.id == STS_SERVICE.id {
        use aws_sdk_sts::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
        let params = Params::builder()
            .region(region.to_string())
            .use_fips(fips)
            .use_dual_stack(dual)
            .use_global_endpoint(false)
            .build()
            .map_err(|e| Error::Usage(format!("region {region}: {e}")))?;
        DefaultResolver::new().resolve_endpoint(&params).await
    } else {
        use aws_sdk_bedrockruntime::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
        let params = Params::builder()
            .region(region.to_string())
            .use_fips(fips)
            .use_dual_stack(dual)
            .build()
            .map_err(|e| Error::Usage(format!("region {region}: {e}")))?;
        DefaultResolver::new().resolve_endpoint(&params).await
    };
    let endpoint = resolved.map_err(|e| {
        Error::Usage(format!(
            "{} has no endpoint in region {region}{}: {e}",
            service.id,
            if fips { " with FIPS" } else { "" }
        ))
    })?;
    let mut found = endpoint.url().to_string();
    if service.id == CONTROL_SERVICE.id {
        found = control_plane_of(&found).ok_or_else(|| {
            Error::Usage(format!(
                "the endpoint rules of Bedrock Runtime give {found}, from which the control plane's endpoint \
                 cannot be told: set ControlPlaneEndpointURL"
            ))
        })?;
    }
    let url = EndpointUrl::aws(&found).map_err(|why| {
        Error::Usage(format!(
            "the endpoint rules of {} give {found}: {why}",
            service.id,
        ))
    })?;
    Ok(Endpoint {
        url,
        origin: Origin::Public,
    })
}

/// The control plane's endpoint beside a runtime endpoint of AWS's:
/// `bedrock-runtime[-fips].REGION.SUFFIX` becomes `bedrock[-fips].REGION.SUFFIX`.
///
/// The two services' endpoint rules (botocore's `endpoint-rule-set-1.json`
/// of `bedrock` and `bedrock-runtime`) are the same rules with these two
/// names, for every partition, FIPS and dual-stack; deriving one from the
/// other spares the tool the control plane's whole generated client,
/// which it would link for these rules and three read-only calls.
fn control_plane_of(runtime_url: &str) -> Option<String> {
    let (scheme, rest) = runtime_url.split_once("://")?;
    let rest = rest.strip_prefix("bedrock-runtime")?;
    (rest.starts_with('.') || rest.starts_with("-fips."))
        .then(|| format!("{scheme}://bedrock{rest}"))
}

/// The endpoint the AWS settings name for a service, as the SDK's own
/// client configuration reads them: the service's variable, else
/// `AWS_ENDPOINT_URL`, else the profile's `services` section, else its
/// `endpoint_url`; none when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is set.
/// A blank value counts as unset.
fn configured(base: &SdkConfig, service: Service) -> Result<Option<Endpoint>> {
    let key = ServiceConfigKey::builder()
        .service_id(service.id)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .expect("all fields set");
    let value = base
        .service_config()
        .and_then(|c| c.load_config(key))
        .filter(|v| !v.trim().is_empty())
        .or_else(|| {
            base.endpoint_url()
                .filter(|v| !v.trim().is_empty())
                .map(str::to_string)
        });
    let Some(url) = value else {
        return Ok(None);
    };
    let origin = configured_origin(service);
    let url = EndpointUrl::parse(Secret::new(url))
        .map_err(|why| Error::Usage(format!("the {origin}: {why}")))?;
    Ok(Some(Endpoint { url, origin }))
}

/// Which setting named a configured endpoint: the variables win over the
/// profile, the service's over the generic one.
fn configured_origin(service: Service) -> Origin {
    let set = |v: &str| std::env::var_os(v).is_some_and(|v| !v.is_empty());
    if set(service.variable) {
        Origin::Environment(service.variable)
    } else if set("AWS_ENDPOINT_URL") {
        Origin::Environment("AWS_ENDPOINT_URL")
    } else {
        Origin::AwsConfigFile
    }
}

/// The region: the file's, `--region`, or the AWS chain's (environment,
/// profile, then IMDS over `http`, the one HTTP client of the run: no other
/// is built in); a file and a flag that disagree are an error rather than a
/// silent choice.
async fn region(
    config: &Config,
    flag: Option<&Region>,
    profile: Option<&str>,
    http: &SharedHttpClient,
) -> Result<Region> {
    match (&config.region, flag) {
        (Some(file), Some(flag)) if file != flag => Err(Error::Usage(format!(
            "--region {flag} disagrees with Region = {file} in {}: remove one",
            config.path.display()
        ))),
        (Some(r), _) | (None, Some(r)) => Ok(r.clone()),
        (None, None) => {
            // aws-config's default region chain, assembled from its parts
            // so that its IMDS lookup uses this run's HTTP client.
            use aws_config::meta::region::RegionProviderChain;
            let providers = aws_config::provider_config::ProviderConfig::without_region()
                .with_http_client(http.clone());
            let mut from_profile =
                aws_config::profile::region::ProfileFileRegionProvider::builder()
                    .configure(&providers);
            if let Some(p) = profile {
                from_profile = from_profile.profile_name(p);
            }
            let chain = RegionProviderChain::first_try(
                aws_config::environment::region::EnvironmentVariableRegionProvider::new(),
            )
            .or_else(from_profile.build())
            .or_else(
                aws_config::imds::region::ImdsRegionProvider::builder()
                    .configure(&providers)
                    .build(),
            );
            let found = chain.region().await;
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
/// the Rust SDK itself does not read. A bundle that is not there is an
/// error naming the path and where it came from.
fn ca_bundle(config: &Config, options: &AwsOptions) -> Result<Option<PathBuf>> {
    match (&config.ca_bundle, &options.ca_bundle_env) {
        (Some(p), _) if p.resolved.is_file() => Ok(Some(p.resolved.clone())),
        (Some(p), _) => Err(Error::Invalid {
            at: key_location(config, "CABundle"),
            message: format!(
                "no file {}{}",
                p.resolved.display(),
                if p.written.is_relative() {
                    " (a relative path is relative to the config's folder)"
                } else {
                    ""
                }
            ),
        }),
        (None, Some(p)) if p.is_file() => Ok(Some(p.clone())),
        (None, Some(p)) => Err(Error::Usage(format!(
            "AWS_CA_BUNDLE names {}, which is not a file",
            p.display()
        ))),
        (None, None) => Ok(None),
    }
}

fn key_location(config: &Config, key: &str) -> Location {
    Location {
        file: config.path.clone(),
        line: None,
        section: DEFAULT_SECTION.into(),
        key: Some(key.into()),
    }
}

/// A profile named by the config or `--profile` must exist in the AWS
/// files: the standard chain would otherwise skip it without a word and
/// use whatever else it finds.
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT`, when set, is a URL aws-config can
/// send to: checked here, so that a typo is a usage error naming the
/// variable, not a failure deep inside the instance-role provider.
fn check_imds_endpoint() -> Result<()> {
    let Some(value) = std::env::var_os("AWS_EC2_METADATA_SERVICE_ENDPOINT") else {
        return Ok(());
    };
    let value = value.to_string_lossy();
    if value.trim().is_empty() {
        return Ok(());
    }
    let ok = url::Url::parse(&value).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT={value}: expected a URL such as http://169.254.169.254 (or http://[fd00:ec2::254] for IPv6)"
        )))
    }
}

/// Every proxy variable the calls follow, when set, is a URL with a host
/// and a port: hyper's own reading is lenient (`http://host:notaport` becomes
/// port 80, garbage is ignored), so a typo would send the calls elsewhere
/// without a word. The value is not shown: it may hold a password.
fn check_proxy_env() -> Result<()> {
    for name in [
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "HTTP_PROXY",
        "http_proxy",
    ] {
        match std::env::var(name) {
            Ok(value) if !value.trim().is_empty() => check_proxy_url(name, value.trim())?,
            _ => {}
        }
    }
    Ok(())
}

/// One proxy variable's value: `http://[user:password@]HOST[:PORT]`.
///
/// A proxy reached over TLS (`https://`) or SOCKS is refused rather than
/// spoken to as plain HTTP: the CONNECT request and its credentials would
/// go in clear text to a port that expects TLS.
fn check_proxy_url(name: &str, value: &str) -> Result<()> {
    if value.to_ascii_lowercase().starts_with("https://") {
        return Err(Error::Usage(format!(
            "{name}: a proxy reached over TLS (https://) is not supported: give the proxy as http://HOST:PORT \
             (the calls to AWS stay TLS end to end through its tunnel), or unset {name} to connect directly"
        )));
    }
    let parsed = if value.contains("://") {
        url::Url::parse(value)
    } else {
        url::Url::parse(&format!("http://{value}"))
    };
    let ok = parsed.is_ok_and(|u| {
        u.scheme() == "http"
            && u.host_str().is_some_and(|h| !h.is_empty())
            && u.path().trim_matches('/').is_empty()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "{name}: not a proxy URL the calls can use: expected http://HOST:PORT (as http://proxy.example.com:3128, \
             with user:password@ before the host if the proxy needs them); unset {name} to connect directly"
        )))
    }
}

async fn check_profile(config: &Config, from_flag: bool) -> Result<()> {
    use aws_types::os_shim_internal::{Env, Fs};
    // AWS_PROFILE matters for credentials only where the standard chain
    // gives them (modes 1 and 3); elsewhere a stray one is harmless, and
    // `invoke env` is often run under one.
    let chain = matches!(
        config.source,
        CredentialSource::AssumeRole(_) | CredentialSource::DefaultChain
    );
    let from_env = std::env::var("AWS_PROFILE")
        .ok()
        .filter(|p| chain && !p.trim().is_empty());
    let Some(name) = config.profile.as_deref().or(from_env.as_deref()) else {
        return Ok(());
    };
    let by_env = config.profile.is_none();
    let files = aws_runtime::env_config::file::EnvConfigFiles::default();
    let set = aws_config::profile::load(&Fs::real(), &Env::real(), &files, None).await;
    let known: Vec<String> = match &set {
        Ok(set) if set.get_profile(name).is_some() => return Ok(()),
        Ok(set) => set.profiles().map(str::to_string).collect(),
        Err(_) => Vec::new(),
    };
    let there = if known.is_empty() {
        "there are none".to_string()
    } else {
        format!("those there: {}", known.join(", "))
    };
    let message = format!(
        "no profile {name} in the AWS config and credentials files ($AWS_CONFIG_FILE, $AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/config and ~/.aws/credentials); {there}"
    );
    Err(if from_flag {
        Error::Usage(format!("--profile {name}: {message}"))
    } else if by_env {
        Error::Usage(format!("AWS_PROFILE={name}: {message}"))
    } else {
        Error::Invalid {
            at: key_location(config, "Profile"),
            message,
        }
    })
}

/// The settings shared by every client: region, timeouts, retries, the AWS
/// profile, and the HTTP client with the CA bundle and `--resolve`.
async fn base_sdk_config(
    region: &Region,
    options: &AwsOptions,
    profile: Option<&str>,
    http: SharedHttpClient,
) -> SdkConfig {
    // No credentials here: every client is given its own, and the default
    // chain this would build (with an STS client of its own) goes unused.
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .no_credentials()
        .region(aws_config::Region::new(region.to_string()))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(options.connect_timeout)
                .read_timeout(options.read_timeout)
                .build(),
        )
        .retry_config(
            if options.adaptive_retries {
                RetryConfig::adaptive()
            } else {
                RetryConfig::standard()
            }
            .with_max_attempts(options.max_attempts.max(1)),
        )
        .http_client(http);
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    loader.load().await
}

/// A VPC endpoint host names its region; requests signed for another are
/// refused (InvalidSignatureException), so the mismatch is caught before
/// anything is signed.
fn check_region(endpoint: &Endpoint, region: &Region, config: &Config) -> Result<()> {
    let Some(named) = endpoint.url.vpce_region() else {
        return Ok(());
    };
    if named == region.as_str() {
        return Ok(());
    }
    let message = crate::config::types::region_mismatch(named, region);
    Err(match endpoint.origin {
        Origin::Vpc => Error::Invalid {
            at: key_location(config, "VPCEndpointURL"),
            message,
        },
        Origin::StsEndpointUrl => Error::Invalid {
            at: key_location(config, "STSEndpointURL"),
            message,
        },
        origin => Error::Usage(format!("{origin}: {message}")),
    })
}

/// Every secret of the run, each shown by the rule of its field: the
/// config's sensitive values, the endpoints in use, the MFA code, and what
/// AWS says of an assumed role (its sessions' ARN and its account).
fn scrubber<'a>(
    config: &Config,
    endpoints: impl Iterator<Item = &'a Endpoint>,
    mfa_code: Option<&Secret>,
) -> Scrubber {
    let mut s = Scrubber::new();
    for v in &config.sensitive {
        match v.field {
            // With their hosts, below.
            "VPCEndpointURL" | "STSEndpointURL" => {}
            "AssumeRoleARN" => scrub_role(&mut s, &v.value),
            field => s.add(&v.value, schema::shown_value(field, &v.value)),
        }
    }
    let in_use = endpoints.filter(|e| e.origin != Origin::Public);
    for url in config.endpoints.iter().chain(in_use.map(|e| &e.url)) {
        scrub_endpoint(&mut s, url);
    }
    if let Some(code) = mfa_code {
        s.add(code, "(redacted)".into());
    }
    s
}

/// An endpoint URL and its host, each shown as the endpoint shows them.
fn scrub_endpoint(s: &mut Scrubber, url: &EndpointUrl) {
    s.add(url.secret(), url.shown().to_string());
    let host = url.shown_host();
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    if host.trim_start_matches('[').trim_end_matches(']') != url.host().expose() {
        s.add(url.host(), host.to_string());
    }
}

/// A role ARN, and what AWS says of it in its own messages and in
/// GetCallerIdentity: its sessions (`arn:aws:sts::ACCOUNT:assumed-role/
/// NAME/SESSION`) and its account, both of which give the role away.
fn scrub_role(s: &mut Scrubber, arn: &Secret) {
    s.add(arn, secret::redact_arn(arn));
    let parts: Vec<&str> = arn.expose().splitn(6, ':').collect();
    if let [_, partition, _, _, account, resource] = parts[..] {
        let name = resource.rsplit('/').next().unwrap_or(resource);
        let session = Secret::new(format!(
            "arn:{partition}:sts::{account}:assumed-role/{name}"
        ));
        s.add(&session, secret::redact_arn(&session));
        s.add(&Secret::new(account), secret::redact_account(account));
    }
}

/// A stray `AWS_SESSION_TOKEN` (without its access key) breaks the ambient
/// credentials of modes 1 and 3 in a way AWS reports only as unknown keys.
fn environment_warnings(source: &CredentialSource, session_token: bool) -> Vec<String> {
    let ambient = matches!(
        source,
        CredentialSource::AssumeRole(_) | CredentialSource::DefaultChain
    );
    if ambient && session_token && std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        vec!["AWS_SESSION_TOKEN is set without AWS_ACCESS_KEY_ID: a stray token from another session; unset it".into()]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> EndpointUrl {
        EndpointUrl::parse(Secret::new(text)).unwrap()
    }

    /// The control plane's public endpoints are those of botocore's
    /// `bedrock` endpoint rules (`https://bedrock[-fips].{Region}.{dnsSuffix}`
    /// or `{dualStackDnsSuffix}`), derived from the runtime's.
    #[tokio::test]
    async fn the_control_plane_endpoint_follows_the_runtime_rules() {
        for (region, fips, dual, expected) in [
            (
                "us-west-2",
                false,
                false,
                "https://bedrock.us-west-2.amazonaws.com",
            ),
            (
                "us-east-1",
                true,
                false,
                "https://bedrock-fips.us-east-1.amazonaws.com",
            ),
            (
                "us-east-1",
                false,
                true,
                "https://bedrock.us-east-1.api.aws",
            ),
            (
                "cn-north-1",
                false,
                false,
                "https://bedrock.cn-north-1.amazonaws.com.cn",
            ),
            (
                "us-gov-west-1",
                true,
                false,
                "https://bedrock-fips.us-gov-west-1.amazonaws.com",
            ),
        ] {
            let base = SdkConfig::builder()
                .use_fips(fips)
                .use_dual_stack(dual)
                .build();
            let found = aws_public(&base, CONTROL_SERVICE, &Region::parse(region).unwrap())
                .await
                .unwrap();
            assert_eq!(
                found.url.shown(),
                expected,
                "{region} fips {fips} dual {dual}"
            );
            assert_eq!(found.origin, Origin::Public);
        }
        // A runtime endpoint of another shape is not guessed from.
        assert_eq!(
            control_plane_of("https://runtime.bedrock.example.com"),
            None
        );
        assert_eq!(
            control_plane_of("https://bedrock-runtimex.us-west-2.amazonaws.com"),
            None
        );
    }

    #[test]
    fn an_endpoint_and_its_host_are_scrubbed_as_shown() {
        let mut s = Scrubber::new();
        let u = url(
            "https://vpce-0a1b2c3d4e5f67890-abcdefgh.bedrock-runtime.us-west-2.vpce.amazonaws.com",
        );
        scrub_endpoint(&mut s, &u);
        let text = s.scrub(
            "could not connect to vpce-0a1b2c3d4e5f67890-abcdefgh.bedrock-runtime.us-west-2.vpce.amazonaws.com:443",
        );
        assert!(!text.contains("abcdefgh"), "{text}");
        assert!(text.contains("vpce-0a1*"), "{text}");
    }

    #[test]
    fn a_role_gives_away_its_sessions_and_account() {
        let mut s = Scrubber::new();
        scrub_role(
            &mut s,
            &Secret::new("arn:aws:iam::222222222222:role/team/Bedrock"),
        );
        let text = s.scrub(
            "User: arn:aws:sts::222222222222:assumed-role/Bedrock/session in account 222222222222",
        );
        assert!(!text.contains("222222222222"), "{text}");
        assert!(!text.contains("Bedrock/"), "{text}");
    }

    #[test]
    fn a_vpc_endpoint_of_another_region_is_refused_before_signing() {
        let values = crate::config::Values::of(
            std::path::Path::new("c.properties"),
            &[("GetCredentialsFrom", "0"), ("Region", "us-west-2")],
        );
        let config = crate::config::validate(&values).unwrap().config;
        let region = Region::parse("us-west-2").unwrap();
        let vpc = Endpoint {
            url: url("https://vpce-1-a.bedrock-runtime.eu-west-1.vpce.amazonaws.com"),
            origin: Origin::Vpc,
        };
        let e = check_region(&vpc, &region, &config)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[default] VPCEndpointURL: the endpoint is in region eu-west-1"),
            "{e}"
        );
        let flag = Endpoint {
            origin: Origin::Flag,
            ..vpc.clone()
        };
        let e = check_region(&flag, &region, &config)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("endpoint from --endpoint-url: the endpoint is in region eu-west-1"),
            "{e}"
        );
        let same = Endpoint {
            url: url("https://vpce-1-a.sts.us-west-2.vpce.amazonaws.com"),
            origin: Origin::StsEndpointUrl,
        };
        assert!(check_region(&same, &region, &config).is_ok());
    }
}

//! The role assumed with the source's credentials: from the credential
//! cache when a fresh session is there, else from STS through aws-config's
//! `AssumeRoleProvider`, or through a direct AssumeRole with an MFA code
//! (which that provider cannot send).

use super::mfa::Mfa;
use super::primed::{lazy, primed};
use super::{Resolved, RunTime, cache::CacheKey};
use crate::aws::diagnose::{self, Context};
use crate::aws::plan::{Origin, Plan};
use crate::config::RoleToAssume;
use crate::error::{Error, Hop, RemoteKind, Result};
use crate::secret::{self, Secret};
use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use std::time::Duration;

/// Default assumed-role session length, as the workshop tool used.
pub(crate) const DEFAULT_SESSION_SECONDS: u32 = 900;

/// A session name that says which tool and which user: `bedrock-private-<user>`.
pub(crate) fn default_session_name() -> String {
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

/// The AssumeRole call as the config shapes it.
#[derive(Debug, Clone)]
pub(super) struct Session {
    pub(super) role: RoleToAssume,
    pub(super) name: String,
    pub(super) seconds: u32,
    /// The MFA code given to the run, if any: never asked again.
    pub(super) mfa_code: Option<Secret>,
}

impl Session {
    /// aws-config's provider for this session, through `sts`.
    fn provider(&self, sts: &SdkConfig) -> aws_config::sts::AssumeRoleProviderBuilder {
        let mut builder = AssumeRoleProvider::builder(self.role.arn.secret().expose())
            .session_name(&self.name)
            .session_length(Duration::from_secs(u64::from(self.seconds)))
            .configure(sts);
        if let Some(region) = sts.region() {
            builder = builder.region(region.clone());
        }
        if let Some(id) = &self.role.external_id {
            builder = builder.external_id(id.expose());
        }
        builder
    }
}

/// Assumes `role` with `source` (already primed with `source_creds`).
pub(super) async fn resolve(
    role: &RoleToAssume,
    source: SharedCredentialsProvider,
    source_creds: &Credentials,
    plan: &Plan,
    runtime: &RunTime,
    ctx: &mut Context,
) -> Result<Resolved> {
    ctx.role = Some(secret::redact_arn(role.arn.secret()));
    ctx.external_id = role.external_id.is_some();
    let session = Session {
        role: role.clone(),
        name: role
            .session_name
            .clone()
            .unwrap_or_else(default_session_name),
        seconds: role.duration.unwrap_or(DEFAULT_SESSION_SECONDS),
        mfa_code: plan.options.mfa_code.clone(),
    };
    let sts = plan.sts_config();
    let resolved = Resolved {
        source_key_id: ctx.key_id.clone().unwrap_or_default(),
        key_id: String::new(),
        expiry: None,
        provider: source.clone(),
        source,
        description: ctx.source.clone(),
        cached: false,
        cache_key: Some(cache_key(&session, source_creds, plan)),
    };
    if let Some(hit) = from_cache(&session, &sts, &resolved, runtime, ctx) {
        return Ok(hit);
    }
    let client = plan.sts_client(resolved.source.clone());
    from_sts(&session, &sts, &client, resolved, runtime, ctx).await
}

/// What identifies the session in the credential cache.
fn cache_key(session: &Session, source: &Credentials, plan: &Plan) -> CacheKey {
    CacheKey {
        role: session.role.arn.secret().clone(),
        external_id: session.role.external_id.clone(),
        mfa_serial: session.role.mfa_serial.clone(),
        source: Secret::new(source.access_key_id()),
        region: plan.region.to_string(),
        sts_endpoint: (plan.sts.origin != Origin::Public).then(|| plan.sts.url.secret().clone()),
        session: format!("{}/{}", session.name, session.seconds),
    }
}

/// The cached session, if the cache has a fresh one: no STS call.
fn from_cache(
    session: &Session,
    sts: &SdkConfig,
    resolved: &Resolved,
    runtime: &RunTime,
    ctx: &mut Context,
) -> Option<Resolved> {
    let cache = runtime.cache.as_ref()?;
    let cached = cache.load(resolved.cache_key.as_ref()?)?;
    tracing::debug!("assumed-role credentials from the cache; no STS call");
    let key_id = secret::redact_access_key(&Secret::new(cached.access_key_id()));
    ctx.key_id = Some(key_id.clone());
    let renewal = if session.role.mfa_serial.is_some() {
        // An MFA session cannot be renewed without a new code.
        SharedCredentialsProvider::new(cached.clone())
    } else {
        // Built only if the cached credentials run out during this run.
        let (session, sts, source) = (session.clone(), sts.clone(), resolved.source.clone());
        lazy(move || Box::pin(session.provider(&sts).build_from_provider(source.clone())))
    };
    Some(Resolved {
        key_id,
        expiry: cached.expiry(),
        provider: primed(renewal, cached),
        source: resolved.source.clone(),
        source_key_id: resolved.source_key_id.clone(),
        description: resolved.description.clone(),
        cached: true,
        cache_key: resolved.cache_key.clone(),
    })
}

/// A new session from STS, stored in the cache.
async fn from_sts(
    session: &Session,
    sts: &SdkConfig,
    client: &aws_sdk_sts::Client,
    mut resolved: Resolved,
    runtime: &RunTime,
    ctx: &mut Context,
) -> Result<Resolved> {
    let provider = match &session.role.mfa_serial {
        Some(serial) => {
            let mfa = Mfa { session, serial };
            SharedCredentialsProvider::new(mfa.assume(client, runtime, ctx).await?)
        }
        None => SharedCredentialsProvider::new(
            session
                .provider(sts)
                .build_from_provider(resolved.source.clone())
                .await,
        ),
    };
    let creds = match provider.provide_credentials().await {
        Ok(c) => c,
        Err(e) => {
            return Err(explain(client, ctx, |ctx| {
                diagnose::credentials_error(Hop::Sts, &e, ctx)
            })
            .await);
        }
    };
    resolved.key_id = secret::redact_access_key(&Secret::new(creds.access_key_id()));
    ctx.key_id = Some(resolved.key_id.clone());
    match (&runtime.cache, &resolved.cache_key) {
        (Some(cache), Some(key)) => cache.store(key, &creds),
        _ => resolved.cache_key = None,
    }
    resolved.expiry = creds.expiry();
    resolved.provider = primed(provider, creds);
    Ok(resolved)
}

/// Diagnoses a failed STS call. Only an AccessDenied from STS itself is
/// worth a GetCallerIdentity (its ARN names who may not assume the role);
/// after a network failure, another call would only wait again.
pub(super) async fn explain(
    client: &aws_sdk_sts::Client,
    ctx: &mut Context,
    diagnose: impl Fn(&Context) -> Error,
) -> Error {
    let first = diagnose(ctx);
    let worth_asking = matches!(
        &first,
        Error::Remote { hop: Hop::Sts, code, kind: RemoteKind::Service, .. } if code == "AccessDenied"
    ) && !super::mfa::refused(&first);
    if worth_asking {
        ctx.source_arn = client
            .get_caller_identity()
            .send()
            .await
            .ok()
            .and_then(|o| o.arn().map(str::to_string));
        if ctx.source_arn.is_some() {
            return diagnose(ctx);
        }
    }
    first
}

//! The credentials of a run: the source's own (see `sources`), then the
//! role assumed with them when the config names one (see `assume_role`),
//! resolved once up front so that a failure is reported with its hop
//! before Bedrock is called.
//!
//! AssumeRole is sent to the plan's STS endpoint (`STSEndpointURL`, else
//! the AWS settings', else AWS's regional one), never to the Bedrock VPC
//! endpoint. The standard chain's own STS calls in modes 1 and 3 (a
//! profile's `role_arn`, web identity) follow the AWS settings alone. An STS that cannot be reached costs one
//! bounded wait, and after a network failure no further STS call (such as
//! the diagnostic GetCallerIdentity) is made.

mod assume_role;
pub mod cache;
pub(crate) mod mfa;
mod primed;
mod sources;

use crate::aws::diagnose::{self, Context};
use crate::aws::plan::Plan;
use crate::config::CredentialSource;
use crate::error::{Error, Hop, Result};
use crate::secret::{self, Secret};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

pub(crate) use mfa::MFA_CODE_ENV;

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
pub(crate) struct Resolved {
    /// The provider the Bedrock client uses (it refreshes on expiry).
    pub(crate) provider: SharedCredentialsProvider,
    /// The source identity's provider: the same as `provider` unless a role
    /// is assumed, then the credentials that assume it.
    pub(crate) source: SharedCredentialsProvider,
    /// The access key id of the source identity, redacted.
    pub(crate) source_key_id: String,
    /// How they were obtained, for the user.
    pub(crate) description: String,
    /// The access key id in use, redacted.
    pub(crate) key_id: String,
    /// When they expire, if they do.
    pub(crate) expiry: Option<std::time::SystemTime>,
    /// Whether they came from the credential cache (no STS call).
    pub(crate) cached: bool,
    /// The cache entry they came from or went to, for [`Resolved::evict`].
    pub(crate) cache_key: Option<cache::CacheKey>,
}

impl Resolved {
    /// Whether `err`, from a call made with these credentials, says AWS
    /// refused the cached session itself (expired or revoked early, a key
    /// it does not know, a secret that does not match), so that a fresh
    /// session from STS may succeed. A clock or region problem is not the
    /// session's fault: fresh credentials would fail the same way.
    pub(crate) fn refused_from_cache(&self, err: &Error) -> Option<String> {
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
    pub(crate) fn evict(&self, runtime: &RunTime) {
        if let (Some(cache), Some(k)) = (&runtime.cache, &self.cache_key) {
            cache.evict(k);
        }
    }
}

/// What the run supplies beyond the plan.
#[derive(Debug, Default)]
pub(crate) struct RunTime {
    /// Whether the MFA code may be asked on the terminal.
    pub(crate) interactive: bool,
    /// Where assumed-role credentials are kept between runs, if anywhere.
    pub(crate) cache: Option<cache::CredentialCache>,
}

/// The description of a source without resolving it, for the plan.
pub(crate) fn describe(source: &CredentialSource, profile: Option<&str>) -> String {
    let base = source.mode().to_string();
    let ambient = matches!(
        source,
        CredentialSource::AssumeRole(_) | CredentialSource::DefaultChain
    );
    let profile = match profile {
        Some(p) if ambient => format!(", profile {p}"),
        _ => String::new(),
    };
    match (source.role(), source) {
        (Some(role), _) => format!(
            "{base}{profile}, assuming {}{}",
            secret::redact_arn(role.arn.secret()),
            if role.mfa_serial.is_some() {
                " with MFA"
            } else {
                ""
            }
        ),
        (None, CredentialSource::AccessKeys { .. }) => format!("{base}, keys used directly"),
        _ => format!("{base}{profile}"),
    }
}

/// Builds the providers of the plan's source and resolves credentials once,
/// so a failure is reported before Bedrock is called, with its hop.
pub(crate) async fn resolve(plan: &Plan, runtime: &RunTime, ctx: &mut Context) -> Result<Resolved> {
    let source = &plan.config.source;
    ctx.source = describe(source, plan.profile());
    let base = sources::source(source, plan).await;
    // Resolve the source identity first: a failure here is the source's,
    // and its ARN makes an AssumeRole refusal explainable.
    let creds = base
        .provider
        .provide_credentials()
        .await
        .map_err(|e| diagnose::credentials_error(base.hop, &e, ctx))?;
    let key_id = secret::redact_access_key(&Secret::new(creds.access_key_id()));
    ctx.key_id = Some(key_id.clone());
    let provider = primed::primed(base.provider, creds.clone());
    match source.role() {
        Some(role) => assume_role::resolve(role, provider, &creds, plan, runtime, ctx).await,
        None => Ok(Resolved {
            source_key_id: key_id.clone(),
            key_id,
            expiry: creds.expiry(),
            source: provider.clone(),
            provider,
            description: ctx.source.clone(),
            cached: false,
            cache_key: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AccessKeys, RoleArn, RoleToAssume};

    fn role(mfa: bool) -> RoleToAssume {
        RoleToAssume {
            arn: RoleArn::parse(Secret::new("arn:aws:iam::222222222222:role/team/Bedrock"))
                .unwrap(),
            external_id: None,
            mfa_serial: mfa.then(|| Secret::new("arn:aws:iam::111111111111:mfa/u")),
            session_name: None,
            duration: None,
        }
    }

    #[test]
    fn each_source_is_described_without_its_secrets() {
        let keys = AccessKeys {
            id: Secret::new("AKIAIOSFODNN7EXAMPLE"),
            secret: Secret::new("s3cret"),
        };
        let cases = [
            (
                CredentialSource::InstanceRole,
                Some("p"),
                "0 (instance-role)",
            ),
            (
                CredentialSource::AssumeRole(role(false)),
                Some("team"),
                "1 (assume-role), profile team, assuming arn:aws:iam::2222********:role/...",
            ),
            (
                CredentialSource::AccessKeys {
                    keys: keys.clone(),
                    role: Some(role(true)),
                },
                Some("p"),
                "2 (access-keys), assuming arn:aws:iam::2222********:role/... with MFA",
            ),
            (
                CredentialSource::AccessKeys { keys, role: None },
                None,
                "2 (access-keys), keys used directly",
            ),
            (
                CredentialSource::DefaultChain,
                Some("team"),
                "3 (default-chain), profile team",
            ),
            (CredentialSource::DefaultChain, None, "3 (default-chain)"),
        ];
        for (source, profile, expected) in cases {
            let shown = describe(&source, profile);
            assert_eq!(shown, expected);
            assert!(
                !shown.contains("Bedrock") && !shown.contains("AKIA"),
                "{shown}"
            );
        }
    }

    #[test]
    fn only_a_cached_session_aws_refuses_is_replaced() {
        let resolved = |cached| Resolved {
            provider: SharedCredentialsProvider::new(aws_credential_types::Credentials::for_tests()),
            source: SharedCredentialsProvider::new(aws_credential_types::Credentials::for_tests()),
            source_key_id: String::new(),
            description: String::new(),
            key_id: String::new(),
            expiry: None,
            cached,
            cache_key: None,
        };
        let refusal = |hop, code: &str, message: &str| Error::Remote {
            hop,
            code: code.into(),
            message: message.into(),
            hint: None,
            kind: crate::error::RemoteKind::Credentials,
        };
        let expired = refusal(
            Hop::Bedrock,
            "ExpiredTokenException",
            "The security token included in the request is expired",
        );
        assert_eq!(
            resolved(true).refused_from_cache(&expired).as_deref(),
            Some("ExpiredTokenException")
        );
        assert_eq!(
            resolved(false).refused_from_cache(&expired),
            None,
            "fresh from STS: nothing to replace"
        );
        let clock = refusal(
            Hop::Bedrock,
            "InvalidSignatureException",
            "Signature expired: ...",
        );
        assert_eq!(
            resolved(true).refused_from_cache(&clock),
            None,
            "the clock, not the session"
        );
        let sts = refusal(Hop::Sts, "ExpiredToken", "expired");
        assert_eq!(resolved(true).refused_from_cache(&sts), None);
    }
}

//! One provider per credential source, each built from aws-config's own
//! providers and named, so that its calls are logged in a span of its
//! name (as aws-config's chain does) and a failure names its hop.
//!
//! - instance-role: IMDSv2 directly (not the whole default chain, which on
//!   Cloud9 would pick the managed temporary credentials first);
//! - ambient (the source of assume-role) and default-chain: the standard
//!   chain (environment, profile, SSO, web identity, IMDS), with the run's
//!   profile;
//!
//! Each is built with the plan's HTTP client, so a CA bundle and
//! `--resolve` reach IMDS and the chain's own calls too.
//! - access-keys: the configured keys.

use crate::aws::plan::Plan;
use crate::config::{AccessKeys, CredentialSource};
use crate::error::Hop;
use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_credential_types::Credentials;
use aws_credential_types::provider::future::ProvideCredentials as Future;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use tracing::Instrument;

/// The credentials a source starts from, before any role is assumed.
pub(super) struct Source {
    /// The provider.
    pub(super) provider: SharedCredentialsProvider,
    /// The hop a failure of it is reported at.
    pub(super) hop: Hop,
}

/// A provider whose calls run in a span named after it.
struct Named {
    name: &'static str,
    inner: SharedCredentialsProvider,
}

/// The name only: the provider behind it may show a key id.
impl std::fmt::Debug for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Named({})", self.name)
    }
}

impl ProvideCredentials for Named {
    fn provide_credentials<'a>(&'a self) -> Future<'a>
    where
        Self: 'a,
    {
        let span = tracing::debug_span!("load_credentials", provider = self.name);
        Future::new(self.inner.provide_credentials().instrument(span))
    }
}

fn named(name: &'static str, hop: Hop, inner: impl ProvideCredentials + 'static) -> Source {
    Source {
        provider: SharedCredentialsProvider::new(Named {
            name,
            inner: SharedCredentialsProvider::new(inner),
        }),
        hop,
    }
}

/// The provider for `source` in `plan`.
pub(super) async fn source(source: &CredentialSource, plan: &Plan) -> Source {
    match source {
        CredentialSource::InstanceRole => instance_role(plan),
        CredentialSource::AssumeRole(_) => {
            let hop = if plan.web_identity_in_env {
                Hop::WebIdentity
            } else {
                Hop::Chain
            };
            standard_chain("Ambient", hop, plan).await
        }
        CredentialSource::AccessKeys { keys, .. } => access_keys(keys),
        CredentialSource::DefaultChain => {
            let hop = if plan.web_identity_in_env {
                Hop::WebIdentity
            } else {
                Hop::Chain
            };
            standard_chain("DefaultChain", hop, plan).await
        }
    }
}

/// The instance role through IMDSv2, honouring `AWS_EC2_METADATA_*`.
fn instance_role(plan: &Plan) -> Source {
    let provider = ImdsCredentialsProvider::builder()
        .configure(&plan.provider_config())
        .build();
    named("InstanceRole", Hop::Imds, provider)
}

/// The standard chain with the run's region and profile.
async fn standard_chain(name: &'static str, hop: Hop, plan: &Plan) -> Source {
    let mut builder = DefaultCredentialsChain::builder()
        .configure(plan.provider_config())
        .region(aws_config::Region::new(plan.region.to_string()));
    if let Some(profile) = plan.profile() {
        builder = builder.profile_name(profile);
    }
    named(name, hop, builder.build().await)
}

/// The configured access keys, as static credentials.
fn access_keys(keys: &AccessKeys) -> Source {
    named(
        "AccessKeys",
        Hop::Sts,
        Credentials::new(
            keys.id.expose(),
            keys.secret.expose(),
            None,
            None,
            "config-access-keys",
        ),
    )
}

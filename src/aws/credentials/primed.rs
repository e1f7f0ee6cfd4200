//! Providers that avoid a second round trip: one primed with credentials
//! already resolved, and one that builds its provider on first use.

use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::Credentials;
use aws_credential_types::provider::future::ProvideCredentials as Future;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use std::time::{Duration, SystemTime};

/// How long before expiry resolved credentials stop being handed out.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// A provider that hands out credentials already resolved until shortly
/// before they expire, then asks the provider behind it. Resolving once up
/// front (to report a failing hop before Bedrock is called) must not cost a
/// second AssumeRole or IMDS round trip when the Bedrock client asks.
struct Primed {
    first: std::sync::Mutex<Option<Credentials>>,
    inner: SharedCredentialsProvider,
}

/// Only the name: the provider behind it may hold a role ARN and an
/// external id in its own `Debug`.
impl std::fmt::Debug for Primed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Primed")
    }
}

impl ProvideCredentials for Primed {
    fn provide_credentials<'a>(&'a self) -> Future<'a>
    where
        Self: 'a,
    {
        let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = first.clone().filter(|c| {
            c.expiry()
                .is_none_or(|e| e > SystemTime::now() + EXPIRY_MARGIN)
        });
        match fresh {
            Some(c) => Future::ready(Ok(c)),
            None => {
                *first = None;
                self.inner.provide_credentials()
            }
        }
    }
}

/// `inner`, primed with `first`.
pub(super) fn primed(
    inner: SharedCredentialsProvider,
    first: Credentials,
) -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Primed {
        first: std::sync::Mutex::new(Some(first)),
        inner,
    })
}

/// The building of an `AssumeRoleProvider`.
pub(super) type Building =
    std::pin::Pin<Box<dyn std::future::Future<Output = AssumeRoleProvider> + Send>>;

/// A provider built on first use: after a cache hit, the assume-role
/// provider (and the STS client inside it) is usually never needed. A
/// building cut short (the call timed out) starts again at the next ask.
struct Lazy {
    build: Box<dyn Fn() -> Building + Send + Sync>,
    built: tokio::sync::OnceCell<AssumeRoleProvider>,
}

impl std::fmt::Debug for Lazy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lazy(AssumeRoleProvider)")
    }
}

impl ProvideCredentials for Lazy {
    fn provide_credentials<'a>(&'a self) -> Future<'a>
    where
        Self: 'a,
    {
        Future::new(async move {
            let provider = self.built.get_or_init(|| (self.build)()).await;
            provider.provide_credentials().await
        })
    }
}

/// A provider that builds `AssumeRoleProvider` with `build` when first asked.
pub(super) fn lazy(
    build: impl Fn() -> Building + Send + Sync + 'static,
) -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Lazy {
        build: Box::new(build),
        built: tokio::sync::OnceCell::new(),
    })
}

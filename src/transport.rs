//! The HTTP client every AWS client of the tool shares: rustls with the
//! system roots plus a custom CA bundle, proxies from the environment, and
//! `--resolve` overrides for name resolution.
//!
//! The SDK's default client honours `HTTPS_PROXY`/`NO_PROXY` but reads no CA
//! bundle (`AWS_CA_BUNDLE` and the profile's `ca_bundle` are ignored by the
//! Rust SDK) and resolves names only through the system, so when either is
//! needed the tool builds the same client itself with those added.

use crate::error::{Error, Result};
use crate::resolve::Overrides;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use std::path::Path;

/// Reads a PEM CA bundle, checking that it holds a certificate.
pub fn read_bundle(bundle: &Path) -> Result<Vec<u8>> {
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

/// An HTTPS client that also trusts `bundle` and resolves names through
/// `overrides` first; `None` when neither is needed (the SDK default fits).
pub fn client(bundle: Option<&Path>, overrides: &Overrides) -> Result<Option<SharedHttpClient>> {
    if bundle.is_none() && overrides.is_empty() {
        return Ok(None);
    }
    let mut trust = TrustStore::default();
    if let Some(b) = bundle {
        trust = trust.with_pem_certificate(read_bundle(b)?);
    }
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| Error::Usage(format!("cannot use the CA bundle: {e}")))?;
    let overrides = overrides.clone();
    Ok(Some(Builder::new().build_with_connector_fn(
        move |settings, components| {
            let mut conn = ConnectorBuilder::default()
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::AwsLc,
                ))
                .tls_context(context.clone());
            conn.set_connector_settings(settings.cloned());
            if let Some(c) = components {
                conn.set_sleep_impl(c.sleep_impl());
            }
            conn.set_proxy_config(Some(ProxyConfig::from_env()));
            conn.build_with_resolver(overrides.clone())
        },
    )))
}

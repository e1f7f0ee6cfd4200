//! The HTTP client every AWS client of the tool shares: rustls with the
//! system roots plus a custom CA bundle, and proxies from the environment.
//!
//! The SDK's default client honours `HTTPS_PROXY`/`NO_PROXY` but reads no CA
//! bundle (`AWS_CA_BUNDLE` and the profile's `ca_bundle` are ignored by the
//! Rust SDK), so with a bundle the tool builds the same client itself with a
//! trust store that adds it.

use crate::error::{Error, Result};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use std::path::Path;

/// An HTTPS client that also trusts the PEM certificates in `bundle`.
pub fn client_with_bundle(bundle: &Path) -> Result<SharedHttpClient> {
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
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::default().with_pem_certificate(pem))
        .build()
        .map_err(|e| {
            Error::Usage(format!(
                "{}: cannot use as a CA bundle: {e}",
                bundle.display()
            ))
        })?;
    Ok(
        Builder::new().build_with_connector_fn(move |settings, components| {
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
            conn.build()
        }),
    )
}

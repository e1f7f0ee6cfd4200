//! The HTTP client every AWS client of the tool shares: rustls with the
//! system roots plus a custom CA bundle, proxies from the environment, and
//! `--resolve` overrides for name resolution.
//!
//! The SDK's default client honours `HTTPS_PROXY`/`NO_PROXY` but reads no CA
//! bundle (`AWS_CA_BUNDLE` and the profile's `ca_bundle` are ignored by the
//! Rust SDK) and resolves names only through the system, so the tool builds
//! the same client itself with those added.
//!
//! It also loads the system's trust store faster: the default reads the
//! system bundle file *and* every file of `/etc/ssl/certs` (about 300 on
//! Debian, the same certificates again), which cost a third of a whole call
//! in the benchmark. The bundle file alone holds them all; the folder is
//! read only when no bundle file is found or `SSL_CERT_DIR` asks for it.

use crate::aws::resolve::Overrides;
use crate::error::{Error, Result};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use std::path::Path;

/// Reads a PEM CA bundle, checking that it holds a certificate.
pub(crate) fn read_bundle(bundle: &Path) -> Result<Vec<u8>> {
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

/// Where the system keeps its CA bundle: `SSL_CERT_FILE`, else the first
/// of the usual places that exists.
pub(crate) fn system_bundle() -> Option<std::path::PathBuf> {
    if std::env::var_os("SSL_CERT_DIR").is_some() {
        return None;
    }
    if let Some(f) = std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()) {
        return Some(f.into());
    }
    [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/ca-bundle.pem",
        "/etc/pki/tls/cacert.pem",
        "/etc/ssl/cert.pem",
    ]
    .into_iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.is_file())
}

/// An HTTPS client that trusts the system roots and `bundle`, and resolves
/// names through `overrides` first.
pub(crate) fn client(bundle: Option<&Path>, overrides: &Overrides) -> Result<SharedHttpClient> {
    let mut trust = match system_bundle().and_then(|p| std::fs::read(p).ok()) {
        Some(pem) => TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(pem),
        None => TrustStore::default(),
    };
    if let Some(b) = bundle {
        trust = trust.with_pem_certificate(read_bundle(b)?);
    }
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| Error::Usage(format!("cannot use the CA bundle: {e}")))?;
    let overrides = overrides.clone();
    Ok(
        Builder::new().build_with_connector_fn(move |settings, components| {
            let mut conn = ConnectorBuilder::default()
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::Ring,
                ))
                .tls_context(context.clone());
            conn.set_connector_settings(settings.cloned());
            if let Some(c) = components {
                conn.set_sleep_impl(c.sleep_impl());
            }
            conn.set_proxy_config(Some(ProxyConfig::from_env()));
            conn.build_with_resolver(overrides.clone())
        }),
    )
}

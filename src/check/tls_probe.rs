//! The TLS step of `invoke check`: a handshake with the endpoint, verified
//! against the system roots plus `CABundle`, and what its certificate says
//! (subject, names, issuer, expiry), shown even when verification fails,
//! because that is when it is needed.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// Why a handshake failed, for the hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum TlsFailure {
    /// The certificate does not name the host.
    NameMismatch,
    /// No trusted CA issued it.
    UntrustedIssuer,
    /// It has expired or is not yet valid.
    Expired,
    /// Anything else.
    Other,
}

/// What a certificate says.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct CertInfo {
    /// Subject.
    pub(crate) subject: String,
    /// Subject alternative names.
    pub(crate) names: Vec<String>,
    /// Issuer.
    pub(crate) issuer: String,
    /// Expiry (RFC 2822 form).
    pub(crate) not_after: String,
}

/// The outcome of a handshake.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct TlsReport {
    /// Whether the chain verified for the host.
    pub(crate) verified: bool,
    /// The failure, if any.
    pub(crate) failure: Option<TlsFailure>,
    /// rustls's words for it.
    pub(crate) error: Option<String>,
    /// The server certificate, if one was seen.
    pub(crate) certificate: Option<CertInfo>,
    /// The protocol version negotiated.
    pub(crate) protocol: Option<String>,
    /// Handshake time in milliseconds.
    pub(crate) ms: f64,
}

/// Records the server certificate, then lets webpki decide.
#[derive(Debug)]
struct Recording {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    seen: Mutex<Option<Vec<u8>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().expect("seen lock") = Some(end_entity.to_vec());
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A failed handshake's report.
fn failed(
    error: String,
    failure: TlsFailure,
    certificate: Option<CertInfo>,
    started: Instant,
) -> TlsReport {
    TlsReport {
        verified: false,
        failure: Some(failure),
        error: Some(error),
        certificate,
        protocol: None,
        ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}

/// A client that trusts the system roots and `bundle`, and records the
/// server certificate it is shown.
fn client_config(
    bundle: Option<&[u8]>,
) -> std::result::Result<(rustls::ClientConfig, Arc<Recording>), (String, TlsFailure)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let store = crate::aws::transport::roots(bundle);
    if store.is_empty() {
        return Err((
            "no trusted root certificates: the system has none and no CABundle was given".into(),
            TlsFailure::UntrustedIssuer,
        ));
    }
    let other = |e: &dyn std::fmt::Display| (e.to_string(), TlsFailure::Other);
    let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(store),
        provider.clone(),
    )
    .build()
    .map_err(|e| other(&e))?;
    let verifier = Arc::new(Recording {
        inner,
        seen: Mutex::new(None),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| other(&e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    Ok((config, verifier))
}

/// What rustls's words for a failed handshake mean, for the hint.
fn classify(text: &str) -> TlsFailure {
    if text.contains("NotValidForName") || text.contains("not valid for name") {
        TlsFailure::NameMismatch
    } else if text.contains("UnknownIssuer") || text.contains("unknown issuer") {
        TlsFailure::UntrustedIssuer
    } else if text.contains("Expired") || text.contains("NotValidYet") {
        TlsFailure::Expired
    } else {
        TlsFailure::Other
    }
}

/// Connects to `addr`, shakes hands as `host`, and reports.
pub(crate) async fn probe(
    host: &str,
    addr: SocketAddr,
    bundle: Option<&[u8]>,
    timeout: Duration,
) -> TlsReport {
    let started = Instant::now();
    let (config, verifier) = match client_config(bundle) {
        Ok(c) => c,
        Err((error, failure)) => return failed(error, failure, None, started),
    };
    let name = match ServerName::try_from(host.to_string()) {
        Ok(n) => n,
        Err(e) => return failed(e.to_string(), TlsFailure::Other, None, started),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        connector.connect(name, tcp).await
    };
    let result = tokio::time::timeout(timeout, attempt).await;
    let certificate = verifier
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_deref()
        .and_then(describe);
    match result {
        Err(_) => failed(
            "the handshake timed out".into(),
            TlsFailure::Other,
            certificate,
            started,
        ),
        Ok(Err(e)) => failed(
            e.to_string(),
            classify(&e.to_string()),
            certificate,
            started,
        ),
        Ok(Ok(stream)) => TlsReport {
            verified: true,
            failure: None,
            error: None,
            protocol: stream
                .get_ref()
                .1
                .protocol_version()
                .map(|v| format!("{v:?}")),
            certificate,
            ms: started.elapsed().as_secs_f64() * 1000.0,
        },
    }
}

fn describe(der: &[u8]) -> Option<CertInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => d.to_string(),
                    x509_parser::extensions::GeneralName::IPAddress(b) => match b.len() {
                        4 => std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string(),
                        16 => <[u8; 16]>::try_from(*b)
                            .map(|a| std::net::Ipv6Addr::from(a).to_string())
                            .unwrap_or_default(),
                        _ => String::new(),
                    },
                    other => format!("{other}"),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(CertInfo {
        subject: cert.subject().to_string(),
        names,
        issuer: cert.issuer().to_string(),
        not_after: cert.validity().not_after.to_rfc2822().unwrap_or_default(),
    })
}

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
    /// Expiry (RFC 3339, UTC).
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

/// Reads what a certificate says for the report. The certificate comes from
/// the server, before or without verification, so every string taken from
/// it is made printable: a name that carries terminal control characters
/// shows them escaped. Names are in RFC 4514's form (the most specific
/// attribute first), the expiry in RFC 3339's, in UTC.
fn describe(der: &[u8]) -> Option<CertInfo> {
    use x509_cert::der::Decode;
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::pkix::name::GeneralName;

    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let tbs = &cert.tbs_certificate;
    let names = match tbs.get::<SubjectAltName>() {
        Ok(Some((_, san))) => san
            .0
            .iter()
            .filter_map(|n| match n {
                GeneralName::DnsName(d) => Some(printable(d.as_str())),
                GeneralName::IpAddress(b) => ip_text(b.as_bytes()),
                GeneralName::Rfc822Name(m) => Some(format!("email:{}", printable(m.as_str()))),
                GeneralName::UniformResourceIdentifier(u) => {
                    Some(format!("URI:{}", printable(u.as_str())))
                }
                GeneralName::DirectoryName(name) => Some(format!("DirName:{name}")),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Some(CertInfo {
        subject: tbs.subject.to_string(),
        names,
        issuer: tbs.issuer.to_string(),
        not_after: tbs.validity.not_after.to_string(),
    })
}

/// An address from a subjectAltName's iPAddress: 4 or 16 bytes.
fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => Some(std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|a| std::net::Ipv6Addr::from(a).to_string()),
        _ => None,
    }
}

/// The text with control characters written as `\xNN` (`\u{NNNN}` beyond
/// ASCII).
fn printable(text: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_control() {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else if c.is_control() {
            let _ = write!(out, "\\u{{{:04x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};

    fn certificate(common_name: &str, organisation: &str, dns: &str) -> Vec<u8> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::OrganizationName, organisation);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.subject_alt_names = vec![
            SanType::DnsName(dns.to_string().try_into().unwrap()),
            SanType::IpAddress("127.0.0.1".parse().unwrap()),
            SanType::IpAddress("::1".parse().unwrap()),
            SanType::URI("https://example.com/x".to_string().try_into().unwrap()),
        ];
        params.not_after = rcgen::date_time_ymd(2031, 7, 9);
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn describes_subject_names_issuer_and_expiry() {
        let der = certificate(
            "vpce-1.bedrock-runtime.us-west-2.vpce.amazonaws.com",
            "Example, Inc",
            "bedrock-runtime.us-west-2.amazonaws.com",
        );
        let info = describe(&der).unwrap();
        // RFC 4514: the last attribute first (rcgen writes the common name
        // first), a comma in a value escaped.
        assert_eq!(
            info.subject,
            "O=Example\\, Inc,CN=vpce-1.bedrock-runtime.us-west-2.vpce.amazonaws.com"
        );
        assert_eq!(info.issuer, info.subject, "self-signed");
        assert_eq!(
            info.names,
            [
                "bedrock-runtime.us-west-2.amazonaws.com",
                "127.0.0.1",
                "::1",
                "URI:https://example.com/x"
            ]
        );
        assert_eq!(info.not_after, "2031-07-09T00:00:00Z");
    }

    #[test]
    fn control_characters_from_the_server_are_shown_escaped() {
        let der = certificate("evil\u{1b}[2J", "x\u{7}", "a\u{1b}]0;title\u{7}.example");
        let info = describe(&der).unwrap();
        for text in [&info.subject, &info.issuer, &info.names[0]] {
            assert!(
                !text.chars().any(|c| c.is_control()),
                "{text:?} holds a control character"
            );
        }
        assert_eq!(info.names[0], "a\\x1b]0;title\\x07.example");
        assert_eq!(info.subject, "O=x\\07,CN=evil\\1b[2J");
    }

    #[test]
    fn what_is_not_a_certificate_describes_nothing() {
        assert!(describe(b"").is_none());
        assert!(describe(b"\x30\x03\x02\x01\x00").is_none());
        let der = certificate("a", "b", "c.example");
        assert!(describe(&der[..der.len() / 2]).is_none());
    }

    #[test]
    fn printable_escapes_only_control_characters() {
        assert_eq!(printable("plain.example-1"), "plain.example-1");
        assert_eq!(printable("a\tb\u{7f}"), "a\\x09b\\x7f");
        assert_eq!(printable("é\u{85}"), "é\\u{0085}");
    }
}

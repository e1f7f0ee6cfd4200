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
    /// Why the certificate could not be read, when it could not (the other
    /// fields are then empty): DER stricter than the TLS library's, say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) unreadable: Option<String>,
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
        // rustls's words can quote the names the certificate presents.
        error: Some(printable(&error)),
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
        .map(describe);
    match result {
        Err(_) => failed(
            "the handshake timed out".into(),
            TlsFailure::Other,
            certificate,
            started,
        ),
        Ok(Err(e)) => {
            let failure = classify(&e.to_string());
            // rustls's words for a name mismatch quote the names the
            // certificate presents, unescaped: they are shown from the
            // certificate itself instead, each escaped.
            let error = if failure == TlsFailure::NameMismatch {
                format!("invalid peer certificate: it does not name {host}")
            } else {
                e.to_string()
            };
            failed(error, failure, certificate, started)
        }
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
/// it is made printable (see [`printable`]). Names are in RFC 4514's form
/// (the most specific attribute first), the expiry in RFC 3339's, in UTC.
fn describe(der: &[u8]) -> CertInfo {
    use x509_cert::der::Decode;
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::pkix::name::GeneralName;

    let cert = match x509_cert::Certificate::from_der(der) {
        Ok(cert) => cert,
        Err(e) => {
            return CertInfo {
                subject: String::new(),
                names: Vec::new(),
                issuer: String::new(),
                not_after: String::new(),
                unreadable: Some(printable(&e.to_string())),
            };
        }
    };
    let tbs = &cert.tbs_certificate;
    let names = match tbs.get::<SubjectAltName>() {
        Ok(Some((_, san))) => san
            .0
            .iter()
            .filter_map(|n| match n {
                GeneralName::DnsName(d) => Some(list_item(d.as_str())),
                GeneralName::IpAddress(b) => ip_text(b.as_bytes()),
                GeneralName::Rfc822Name(m) => Some(format!("email:{}", list_item(m.as_str()))),
                GeneralName::UniformResourceIdentifier(u) => {
                    Some(format!("URI:{}", list_item(u.as_str())))
                }
                GeneralName::DirectoryName(name) => {
                    Some(format!("DirName:{}", list_item(&dn_text(name))))
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    CertInfo {
        subject: dn_text(&tbs.subject),
        names,
        issuer: dn_text(&tbs.issuer),
        not_after: tbs.validity.not_after.to_string(),
        unreadable: None,
    }
}

/// A distinguished name in RFC 4514's form: the last RDN first, `,`
/// between RDNs, `+` within one. Unlike the form x509-cert prints, a value
/// is read as text whatever its string type (a PrintableString holding a
/// `*`, as some proxies' certificates have, is still read), and everything
/// is then made [`printable`].
fn dn_text(name: &x509_cert::name::Name) -> String {
    let rdns: Vec<String> = name
        .0
        .iter()
        .rev()
        .map(|rdn| {
            rdn.0
                .iter()
                .map(|atv| match attribute_name(&atv.oid) {
                    Some(name) => format!("{name}={}", attribute_value(&atv.value)),
                    // RFC 4514: an attribute named by its OID has its value
                    // in the hex form.
                    None => format!("{}={}", atv.oid, der_hex(&atv.value)),
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    printable(&rdns.join(","))
}

/// RFC 4514's short names, plus the two other attributes certificates
/// commonly carry; any other attribute is shown by its OID.
fn attribute_name(oid: &x509_cert::der::oid::ObjectIdentifier) -> Option<&'static str> {
    let name = match oid.to_string().as_str() {
        "2.5.4.3" => "CN",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.6" => "C",
        "2.5.4.9" => "STREET",
        "2.5.4.5" => "serialNumber",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        "1.2.840.113549.1.9.1" => "emailAddress",
        _ => return None,
    };
    Some(name)
}

/// An attribute's value as RFC 4514 writes it: text with its special
/// characters escaped, or `#` and the hex of its DER when it is not text.
fn attribute_value(value: &x509_cert::der::Any) -> String {
    use x509_cert::der::{Tag, Tagged};
    let bytes = value.value();
    let text = match value.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::VisibleString
        | Tag::TeletexString => String::from_utf8_lossy(bytes).into_owned(),
        Tag::BmpString => {
            let units = bytes.chunks_exact(2);
            let odd = !units.remainder().is_empty();
            let mut text: String =
                char::decode_utf16(units.map(|p| u16::from_be_bytes([p[0], p[1]])))
                    .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                    .collect();
            if odd {
                text.push(char::REPLACEMENT_CHARACTER);
            }
            text
        }
        _ => return der_hex(value),
    };
    let last = text.chars().count().saturating_sub(1);
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        let special = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
            || (i == 0 && matches!(c, '#' | ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// RFC 4514's hex form of a value: `#` and its DER.
fn der_hex(value: &x509_cert::der::Any) -> String {
    use x509_cert::der::Encode;
    let der = value.to_der().unwrap_or_default();
    format!("#{}", crate::config::crypto::hex(&der))
}

/// One item of a comma-separated list: a `\` or `,` in it is escaped, so
/// that a name holding ", other.example" cannot pass for two names.
fn list_item(text: &str) -> String {
    printable(&text.replace('\\', "\\\\").replace(',', "\\,"))
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

/// Characters that show nothing, or turn the text around: Unicode's
/// default-ignorable code points (format characters, zero-width ones,
/// variation selectors, tags, fillers), the interlinear annotation
/// characters, and the line and paragraph separators.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
        | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}' | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}'
        | '\u{ffa0}' | '\u{fff0}'..='\u{fffb}' | '\u{1bca0}'..='\u{1bca3}'
        | '\u{1d173}'..='\u{1d17a}' | '\u{e0000}'..='\u{e0fff}')
}

/// The text with every character that a terminal could act on, or that
/// would make it read other than it is, escaped: ASCII control characters
/// as `\xNN`, other control characters (C1, which some terminals take as
/// the start of an escape sequence) and the [`invisible`] ones
/// (bidirectional overrides, zero-width characters, tags) as `\u{NNNN}`.
fn printable(text: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_control() {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else if c.is_control() || invisible(c) {
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
        let info = describe(&der);
        // RFC 4514: the last attribute first (rcgen writes its default common
        // name first, and the one pushed takes its place), a comma escaped.
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
        let info = describe(&der);
        for text in [&info.subject, &info.issuer, &info.names[0]] {
            assert!(
                !text.chars().any(|c| c.is_control()),
                "{text:?} holds a control character"
            );
        }
        assert_eq!(info.names[0], "a\\x1b]0;title\\x07.example");
        assert_eq!(info.subject, "O=x\\x07,CN=evil\\x1b[2J");
    }

    #[test]
    fn c1_controls_and_bidirectional_overrides_in_a_name_are_escaped() {
        // U+009B is a one-character CSI for some terminals; U+202E turns
        // the rest of the line around.
        let der = certificate("a\u{9b}31m\u{202e}moc.elpmaxe", "b\u{200b}", "c.example");
        let info = describe(&der);
        assert_eq!(
            info.subject,
            "O=b\\u{200b},CN=a\\u{009b}31m\\u{202e}moc.elpmaxe"
        );
    }

    #[test]
    fn a_name_cannot_pass_for_two_in_the_list() {
        let der = certificate("a", "b", "x.example, vpce-1.example");
        let info = describe(&der);
        assert_eq!(info.names[0], "x.example\\, vpce-1.example");
        assert_eq!(info.names.len(), 4);
    }

    #[test]
    fn values_of_other_string_types_are_read_as_text_or_shown_in_hex() {
        use rcgen::DnValue;
        use rcgen::string::BmpString;
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(
            DnType::LocalityName,
            DnValue::BmpString(BmpString::try_from("Zürich").unwrap()),
        );
        params
            .distinguished_name
            .push(DnType::CustomDnType(vec![1, 2, 3, 4]), " #lead, trail ");
        let key = KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        let info = describe(&der);
        // BMPString is UTF-16; an attribute without a short name is shown
        // by its OID and its value in hex (RFC 4514): 0c is UTF8String.
        assert_eq!(
            info.subject,
            "1.2.3.4=#0c0e20236c6561642c20747261696c20,L=Zürich,CN=rcgen self signed cert"
        );
        // A value that is not a string: RFC 4514's hex form of its DER.
        let integer = x509_cert::der::Any::new(x509_cert::der::Tag::Integer, [5u8]).unwrap();
        assert_eq!(attribute_value(&integer), "#020105");
    }

    #[test]
    fn the_handshake_error_is_made_printable() {
        let report = failed(
            "invalid peer certificate: NotValidForName: a\u{1b}[2J".into(),
            TlsFailure::NameMismatch,
            None,
            Instant::now(),
        );
        assert_eq!(
            report.error.as_deref(),
            Some("invalid peer certificate: NotValidForName: a\\x1b[2J")
        );
    }

    #[test]
    fn what_is_not_a_certificate_describes_nothing() {
        for der in [&b""[..], b"\x30\x03\x02\x01\x00"] {
            let info = describe(der);
            assert!(info.unreadable.is_some(), "{der:?}");
            assert!(info.subject.is_empty() && info.names.is_empty());
        }
        let der = certificate("a", "b", "c.example");
        assert!(describe(&der[..der.len() / 2]).unreadable.is_some());
        assert_eq!(describe(&der).unreadable, None);
    }

    #[test]
    fn printable_escapes_control_and_invisible_characters_only() {
        assert_eq!(
            printable("plain.example-1 Zürich"),
            "plain.example-1 Zürich"
        );
        assert_eq!(printable("a\tb\u{7f}"), "a\\x09b\\x7f");
        assert_eq!(printable("é\u{85}"), "é\\u{0085}");
        assert_eq!(printable("a\u{2067}b\u{feff}"), "a\\u{2067}b\\u{feff}");
        // Tags, a variation selector, a filler, a line separator.
        assert_eq!(
            printable("x\u{e0041}\u{fe0f}\u{3164}\u{2028}"),
            "x\\u{e0041}\\u{fe0f}\\u{3164}\\u{2028}"
        );
    }

    #[test]
    fn values_are_read_whatever_their_string_type_and_escaped() {
        use x509_cert::der::{Any, Tag};
        // A PrintableString may not hold `*`, but proxies' certificates do.
        let wildcard = Any::new(Tag::PrintableString, *b"*.example").unwrap();
        assert_eq!(attribute_value(&wildcard), "*.example");
        let hash = Any::new(Tag::Utf8String, *b"#1;a<b>").unwrap();
        assert_eq!(attribute_value(&hash), "\\#1\\;a\\<b\\>");
        // An odd BMPString: the byte left over is a replacement character,
        // not half of a made-up one.
        let odd = Any::new(Tag::BmpString, [0u8, 0x41, 0x42]).unwrap();
        assert_eq!(attribute_value(&odd), "A\u{fffd}");
    }

    #[test]
    fn a_backslash_in_a_listed_name_is_doubled() {
        assert_eq!(list_item("a\\,b.example"), "a\\\\\\,b.example");
        assert_eq!(list_item("a\\x1b"), "a\\\\x1b");
        assert_eq!(list_item("a\u{1b}"), "a\\x1b");
    }
}

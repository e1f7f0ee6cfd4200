//! SigV4 verification of incoming requests, with `aws-sigv4` doing the
//! signing: the request is signed again with the secret the emulator holds
//! for the access key it names, and the two signatures must match.
//!
//! Failures carry the error codes and messages AWS uses, per protocol: the
//! JSON services (Bedrock) and the query services (STS) name them differently.

use super::identity::{Identities, KeyOwner};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use std::time::{Duration, SystemTime};

/// How far a request's clock may be from ours, as on AWS.
pub const ALLOWED_SKEW: Duration = Duration::from_secs(300);

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No Authorization header.
    Missing,
    /// The header could not be parsed.
    Incomplete(String),
    /// Unknown access key, or a temporary key without its token.
    UnknownKey,
    /// The signature does not match.
    BadSignature,
    /// The credential scope names another region.
    WrongRegion(String),
    /// The credential scope names another service.
    WrongService(String),
    /// The session token expired.
    Expired,
    /// The request's time is too far from ours.
    Skewed(String),
}

/// A verified request: who signed it and how.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The access key id used.
    pub access_key_id: String,
    /// The signing region.
    pub region: String,
    /// The owner of the key.
    pub owner: KeyOwner,
}

/// The parts of an Authorization header.
#[derive(Debug, Clone)]
pub struct Authorization {
    /// Access key id.
    pub access_key_id: String,
    /// Scope date.
    pub date: String,
    /// Scope region.
    pub region: String,
    /// Scope service.
    pub service: String,
    /// Signed header names.
    pub signed_headers: Vec<String>,
    /// The signature.
    pub signature: String,
}

/// Parses `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
pub fn parse_authorization(value: &str) -> Result<Authorization, AuthError> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(|| {
        AuthError::Incomplete("Authorization header requires the AWS4-HMAC-SHA256 algorithm".into())
    })?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let missing = |what: &str| {
        AuthError::Incomplete(format!("Authorization header requires '{what}' parameter"))
    };
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 || scope[4] != "aws4_request" {
        return Err(AuthError::Incomplete(
            "Credential should be scoped to a valid region and service, and end in aws4_request"
                .into(),
        ));
    }
    Ok(Authorization {
        access_key_id: scope[0].to_string(),
        date: scope[1].to_string(),
        region: scope[2].to_string(),
        service: scope[3].to_string(),
        signed_headers: signed
            .ok_or_else(|| missing("SignedHeaders"))?
            .split(';')
            .map(str::to_string)
            .collect(),
        signature: signature.ok_or_else(|| missing("Signature"))?.to_string(),
    })
}

/// Verifies a request signed for `service` in `region`.
pub fn verify(
    identities: &Identities,
    req: &http::request::Parts,
    body: &[u8],
    service: &str,
    region: &str,
    now: SystemTime,
) -> Result<Verified, AuthError> {
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let auth = parse_authorization(header("authorization").ok_or(AuthError::Missing)?)?;
    let owner = identities
        .owner(&auth.access_key_id)
        .ok_or(AuthError::UnknownKey)?;
    let signed_at = check_time(header("x-amz-date"), now)?;
    if auth.service != service {
        return Err(AuthError::WrongService(service.to_string()));
    }
    if auth.region != region {
        return Err(AuthError::WrongRegion(region.to_string()));
    }
    let token = header("x-amz-security-token");
    match (&owner.token, token) {
        (Some(expected), Some(given)) if expected == given => {}
        (None, None) => {}
        _ => return Err(AuthError::UnknownKey),
    }
    let expected = signature(req, body, &auth, &owner.secret, token, signed_at)?;
    if expected != auth.signature {
        return Err(AuthError::BadSignature);
    }
    if let Some(expires) = owner.expires
        && now >= expires
    {
        return Err(AuthError::Expired);
    }
    Ok(Verified {
        access_key_id: auth.access_key_id,
        region: auth.region,
        owner,
    })
}

/// The signing time of `X-Amz-Date`, refused when it is more than five
/// minutes from `now`, with AWS's messages.
fn check_time(amz_date: Option<&str>, now: SystemTime) -> Result<SystemTime, AuthError> {
    let amz_date = amz_date.ok_or_else(|| {
        AuthError::Incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header"
                .into(),
        )
    })?;
    let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
        AuthError::Incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'"
        ))
    })?;
    let skew = now
        .duration_since(signed_at)
        .unwrap_or_else(|e| e.duration());
    if skew <= ALLOWED_SKEW {
        return Ok(signed_at);
    }
    Err(AuthError::Skewed(if signed_at < now {
        format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
            format_amz_date(now - ALLOWED_SKEW),
            format_amz_date(now)
        )
    } else {
        format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 5 min.)",
            format_amz_date(now + ALLOWED_SKEW),
            format_amz_date(now)
        )
    }))
}

/// The request signed again with our copy of the secret, over exactly the
/// headers the client signed; aws-sigv4 adds the date and token headers
/// itself.
fn signature(
    req: &http::request::Parts,
    body: &[u8],
    auth: &Authorization,
    secret: &str,
    token: Option<&str>,
    signed_at: SystemTime,
) -> Result<String, AuthError> {
    let signed: Vec<(&str, &str)> = req
        .headers
        .iter()
        .filter(|(name, _)| {
            let n = name.as_str();
            auth.signed_headers.iter().any(|s| s == n) && n != "x-amz-security-token"
        })
        .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)))
        .collect();
    let host = match super::host_of(req) {
        h if h.is_empty() => "localhost".to_string(),
        h => h,
    };
    let uri = format!(
        "http://{host}{}",
        req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let body = match req
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some(hash) => SignableBody::Precomputed(hash.to_string()),
        None => SignableBody::Bytes(body),
    };
    let request = SignableRequest::new(req.method.as_str(), uri, signed.into_iter(), body)
        .map_err(|_| AuthError::BadSignature)?;
    let identity = Credentials::new(
        &auth.access_key_id,
        secret,
        token.map(str::to_string),
        None,
        "emulator",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&auth.region)
        .name(&auth.service)
        .time(signed_at)
        .settings(SigningSettings::default())
        .build()
        .map_err(|_| AuthError::BadSignature)?
        .into();
    let output = sign(request, &params).map_err(|_| AuthError::BadSignature)?;
    Ok(output.signature().to_string())
}

/// The access key id named in a request, verified or not (for the record).
pub fn claimed_key(req: &http::request::Parts) -> Option<String> {
    let value = req.headers.get("authorization")?.to_str().ok()?;
    parse_authorization(value).ok().map(|a| a.access_key_id)
}

/// How a request says it is authenticated, for the record: `sigv4` for an
/// `AWS4-HMAC-SHA256` Authorization header, `bearer` for `Bearer` (a
/// Bedrock API key), `other` for anything else, `None` without the header.
/// Never the credential itself.
pub fn claimed_auth(req: &http::request::Parts) -> Option<String> {
    let value = req.headers.get("authorization")?.to_str().unwrap_or("");
    let scheme = value.split_whitespace().next().unwrap_or("");
    Some(
        if scheme == "AWS4-HMAC-SHA256" {
            "sigv4"
        } else if scheme.eq_ignore_ascii_case("bearer") {
            "bearer"
        } else {
            "other"
        }
        .to_string(),
    )
}

/// The signing region named in a request, verified or not (for the record).
pub fn claimed_region(req: &http::request::Parts) -> Option<String> {
    let value = req.headers.get("authorization")?.to_str().ok()?;
    parse_authorization(value).ok().map(|a| a.region)
}

/// Parses `20240101T120000Z`.
pub fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, s) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    u64::try_from(secs)
        .ok()
        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
}

/// Formats a time as `20240101T120000Z`.
pub fn format_amz_date(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// Formats a time as ISO 8601 with seconds: `2024-01-01T12:00:00Z`.
pub fn format_iso(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

fn civil(t: SystemTime) -> (i64, i64, i64, i64, i64, i64) {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, mo, d) = civil_from_days(days);
    (y, mo, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let t = parse_amz_date("20240229T235959Z").unwrap();
        assert_eq!(format_amz_date(t), "20240229T235959Z");
        assert_eq!(format_iso(t), "2024-02-29T23:59:59Z");
        assert_eq!(
            parse_amz_date("19700101T000000Z"),
            Some(SystemTime::UNIX_EPOCH)
        );
        assert!(parse_amz_date("2024-02-29").is_none());
    }

    #[test]
    fn authorization_parses() {
        let a = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-west-2/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
        )
        .unwrap();
        assert_eq!(a.access_key_id, "AKID");
        assert_eq!(a.region, "us-west-2");
        assert_eq!(a.service, "bedrock");
        assert_eq!(a.signed_headers, ["host", "x-amz-date"]);
        assert!(parse_authorization("Basic xyz").is_err());
    }
}

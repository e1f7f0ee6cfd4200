//! EC2 instance metadata, IMDSv2 only: a session token from `PUT
//! /latest/api/token`, then the role listing and the role's credentials,
//! which aws-config reads through `AWS_EC2_METADATA_SERVICE_ENDPOINT`.

use super::identity::{Principal, SessionFacts};
use super::record::RecordEntry;
use super::sigv4::format_iso;
use super::{Body, State, response};
use serde_json::json;
use std::time::{Duration, SystemTime};

/// How long instance-role credentials last, as on EC2.
const CREDENTIAL_LIFETIME: Duration = Duration::from_secs(6 * 3600);

/// A reply, recorded under `op`.
fn finish(
    state: &State,
    mut entry: RecordEntry,
    op: &str,
    status: u16,
    body: String,
    content_type: &str,
) -> hyper::Response<Body> {
    entry.operation = op.to_string();
    entry.status = status;
    if status >= 400 {
        entry.error = Some(body.clone());
    }
    state.record.push(entry);
    response(status, &[("content-type", content_type)], body)
}

/// A plain-text error, as IMDS sends them.
fn refuse(
    state: &State,
    entry: RecordEntry,
    op: &str,
    status: u16,
    text: &str,
) -> hyper::Response<Body> {
    finish(state, entry, op, status, text.into(), "text/plain")
}

/// Handles a request under `/latest/`.
pub(crate) fn handle(
    state: &State,
    parts: &http::request::Parts,
    path: &str,
) -> hyper::Response<Body> {
    let entry = RecordEntry::begin("imds", "", parts);
    if path == "/latest/api/token" {
        return token(state, parts, entry);
    }
    // IMDSv2 only: every other request needs a live token.
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let valid = header("x-aws-ec2-metadata-token").is_some_and(|t| {
        state
            .imds_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(t)
            .is_some_and(|exp| SystemTime::now() < *exp)
    });
    if !valid {
        return refuse(state, entry, "GetMetadata", 401, "Unauthorized");
    }
    // The instance's region, as the SDKs' region chains read it.
    if path == "/latest/meta-data/placement/region" {
        return finish(
            state,
            entry,
            "GetRegion",
            200,
            state.region.clone(),
            "text/plain",
        );
    }
    let Some(role_name) = state.identities.directory.instance_role.clone() else {
        return refuse(state, entry, "GetMetadata", 404, "Not Found");
    };
    match path.strip_prefix("/latest/meta-data/iam/security-credentials/") {
        Some("") => finish(state, entry, "ListRoles", 200, role_name, "text/plain"),
        Some(name) if name == role_name => credentials(state, entry, &role_name),
        _ => refuse(state, entry, "GetMetadata", 404, "Not Found"),
    }
}

/// `PUT /latest/api/token`: a session token for the TTL asked (1 s to 6 h).
fn token(
    state: &State,
    parts: &http::request::Parts,
    mut entry: RecordEntry,
) -> hyper::Response<Body> {
    if parts.method != http::Method::PUT {
        return refuse(state, entry, "GetToken", 405, "Method Not Allowed");
    }
    let ttl = parts
        .headers
        .get("x-aws-ec2-metadata-token-ttl-seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| (1..=21600).contains(t));
    let Some(ttl) = ttl else {
        return refuse(state, entry, "GetToken", 400, "Bad Request");
    };
    let token = format!("AQAEA{}", super::request_id().replace('-', ""));
    state
        .imds_tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(token.clone(), SystemTime::now() + Duration::from_secs(ttl));
    entry.operation = "GetToken".into();
    state.record.push(entry);
    response(
        200,
        &[
            ("content-type", "text/plain"),
            ("x-aws-ec2-metadata-token-ttl-seconds", &ttl.to_string()),
        ],
        token,
    )
}

/// The instance role's credentials, in IMDS's JSON shape.
fn credentials(state: &State, mut entry: RecordEntry, role_name: &str) -> hyper::Response<Body> {
    let directory = &state.identities.directory;
    let account = directory
        .roles
        .iter()
        .find(|r| r.name == role_name)
        .map(|r| r.account.clone())
        .unwrap_or_default();
    let role_arn = format!("arn:aws:iam::{account}:role/{role_name}");
    let Some(role) = state.identities.role(&role_arn).cloned() else {
        return refuse(state, entry, "GetCredentials", 404, "Not Found");
    };
    let lifetime = state
        .faults
        .session_ttl
        .map_or(CREDENTIAL_LIFETIME, |t| t.min(CREDENTIAL_LIFETIME));
    let (key_id, session) = state.identities.issue(
        Principal::role_session(&role, "i-0emulator0000000"),
        SessionFacts::default(),
        lifetime,
    );
    let now = SystemTime::now();
    entry.access_key_id = Some(key_id.clone());
    entry.caller = Some(session.principal.caller_arn().to_string());
    let body = json!({
        "Code": "Success",
        "LastUpdated": format_iso(now),
        "Type": "AWS-HMAC",
        "AccessKeyId": key_id,
        "SecretAccessKey": session.secret,
        "Token": session.token,
        "Expiration": format_iso(now + CREDENTIAL_LIFETIME)
    });
    finish(
        state,
        entry,
        "GetCredentials",
        200,
        body.to_string(),
        "application/json",
    )
}

//! EC2 instance metadata, IMDSv2 only: a session token from `PUT
//! /latest/api/token`, then the role listing and the role's credentials,
//! which aws-config reads through `AWS_EC2_METADATA_SERVICE_ENDPOINT`.

use super::record::RecordEntry;
use super::sigv4::format_iso;
use super::{Body, State, response};
use serde_json::json;
use std::time::{Duration, SystemTime};

/// How long instance-role credentials last, as on EC2.
const CREDENTIAL_LIFETIME: Duration = Duration::from_secs(6 * 3600);

pub(crate) fn handle(
    state: &State,
    parts: &http::request::Parts,
    path: &str,
) -> hyper::Response<Body> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let mut entry = RecordEntry::begin("imds", "", parts);
    let finish =
        |entry: &mut RecordEntry, op: &str, status: u16, body: String, content_type: &str| {
            entry.operation = op.to_string();
            entry.status = status;
            if status >= 400 {
                entry.error = Some(body.clone());
            }
            state.record.push(entry.clone());
            response(status, &[("content-type", content_type)], body)
        };

    if path == "/latest/api/token" {
        if parts.method != http::Method::PUT {
            return finish(
                &mut entry,
                "GetToken",
                405,
                "Method Not Allowed".into(),
                "text/plain",
            );
        }
        let ttl =
            header("x-aws-ec2-metadata-token-ttl-seconds").and_then(|t| t.parse::<u64>().ok());
        let Some(ttl) = ttl.filter(|t| (1..=21600).contains(t)) else {
            return finish(
                &mut entry,
                "GetToken",
                400,
                "Bad Request".into(),
                "text/plain",
            );
        };
        let token = format!("AQAEA{}", super::request_id().replace('-', ""));
        state
            .imds_tokens
            .lock()
            .expect("tokens lock")
            .insert(token.clone(), SystemTime::now() + Duration::from_secs(ttl));
        entry.operation = "GetToken".into();
        state.record.push(entry);
        return response(
            200,
            &[
                ("content-type", "text/plain"),
                ("x-aws-ec2-metadata-token-ttl-seconds", &ttl.to_string()),
            ],
            token,
        );
    }

    // IMDSv2 only: every other request needs a live token.
    let valid = header("x-aws-ec2-metadata-token").is_some_and(|t| {
        state
            .imds_tokens
            .lock()
            .expect("tokens lock")
            .get(t)
            .is_some_and(|exp| SystemTime::now() < *exp)
    });
    if !valid {
        return finish(
            &mut entry,
            "GetMetadata",
            401,
            "Unauthorized".into(),
            "text/plain",
        );
    }
    let Some(role_name) = state.identities.directory.instance_role.clone() else {
        return finish(
            &mut entry,
            "GetMetadata",
            404,
            "Not Found".into(),
            "text/plain",
        );
    };
    match path.strip_prefix("/latest/meta-data/iam/security-credentials/") {
        Some("") => finish(&mut entry, "ListRoles", 200, role_name, "text/plain"),
        Some(name) if name == role_name => {
            let role_arn = format!(
                "arn:aws:iam::{}:role/{role_name}",
                state
                    .identities
                    .directory
                    .roles
                    .iter()
                    .find(|r| r.name == role_name)
                    .map(|r| r.account.clone())
                    .unwrap_or_default()
            );
            let Some(role) = state.identities.role(&role_arn).cloned() else {
                return finish(
                    &mut entry,
                    "GetCredentials",
                    404,
                    "Not Found".into(),
                    "text/plain",
                );
            };
            let lifetime = state
                .faults
                .session_ttl
                .map_or(CREDENTIAL_LIFETIME, |t| t.min(CREDENTIAL_LIFETIME));
            let (key_id, session) = state
                .identities
                .issue(&role, "i-0emulator0000000", lifetime);
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
                &mut entry,
                "GetCredentials",
                200,
                body.to_string(),
                "application/json",
            )
        }
        _ => finish(
            &mut entry,
            "GetMetadata",
            404,
            "Not Found".into(),
            "text/plain",
        ),
    }
}

//! STS in the query protocol: AssumeRole (external id, duration, MFA) and
//! GetCallerIdentity, with AWS's XML responses and error shapes.

use super::identity::Principal;
use super::record::RecordEntry;
use super::sigv4::{self, AuthError, format_iso};
use super::{Body, State, request_id, response};
use bytes::Bytes;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

fn error(status: u16, code: &str, message: &str) -> hyper::Response<Body> {
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    let body = format!(
        "<ErrorResponse xmlns=\"{NS}\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{code}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{}</RequestId>\n</ErrorResponse>\n",
        xml_escape(message),
        request_id()
    );
    response(status, &[("content-type", "text/xml")], body)
}

fn auth_error(e: &AuthError) -> (u16, &'static str, String) {
    let mismatch = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
    match e {
        AuthError::Missing => (
            403,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token".into(),
        ),
        AuthError::Incomplete(m) => (400, "IncompleteSignature", m.clone()),
        AuthError::UnknownKey => (
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.".into(),
        ),
        AuthError::BadSignature => (403, "SignatureDoesNotMatch", mismatch.into()),
        AuthError::WrongRegion(r) => (
            403,
            "SignatureDoesNotMatch",
            format!("Credential should be scoped to a valid region. This endpoint serves '{r}'."),
        ),
        AuthError::WrongService(s) => (
            403,
            "SignatureDoesNotMatch",
            format!("Credential should be scoped to correct service: '{s}'."),
        ),
        AuthError::Expired => (
            400,
            "ExpiredToken",
            "The security token included in the request is expired".into(),
        ),
        AuthError::Skewed(m) => (403, "SignatureDoesNotMatch", m.clone()),
    }
}

/// Handles `POST /` with a form body.
pub(crate) fn handle(
    state: &State,
    parts: &http::request::Parts,
    body: &Bytes,
) -> hyper::Response<Body> {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let action = form.get("Action").cloned().unwrap_or_default();
    let host = super::host_of(parts);
    let mut entry = RecordEntry::begin("sts", &action, parts);
    let fail = |entry: &mut RecordEntry, status: u16, code: &str, message: &str| {
        state.record.push(entry.failed(status, code));
        error(status, code, message)
    };
    let region = state.region_for(&host);
    let verified = match sigv4::verify(
        &state.identities,
        parts,
        body,
        "sts",
        &region,
        SystemTime::now(),
    ) {
        Ok(v) => v,
        Err(e) => {
            let (status, code, message) = auth_error(&e);
            return fail(&mut entry, status, code, &message);
        }
    };
    let caller = verified.owner.principal.clone();
    entry.caller = Some(caller.caller_arn().to_string());
    match action.as_str() {
        "GetCallerIdentity" => {
            state.record.push(entry);
            let user_id = match &caller {
                Principal::User { name, .. } => {
                    format!("AIDA{}", name.to_ascii_uppercase().replace('-', ""))
                }
                Principal::Session {
                    assumed_arn, role, ..
                } => {
                    format!(
                        "AROA{}:{}",
                        role.to_ascii_uppercase(),
                        assumed_arn.rsplit('/').next().unwrap_or("")
                    )
                }
            };
            let body = format!(
                "<GetCallerIdentityResponse xmlns=\"{NS}\">\n  <GetCallerIdentityResult>\n    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
                xml_escape(caller.caller_arn()),
                xml_escape(&user_id),
                caller.account(),
                request_id()
            );
            response(200, &[("content-type", "text/xml")], body)
        }
        "AssumeRole" => assume_role(state, &form, &caller, entry),
        "" => fail(&mut entry, 400, "MissingAction", "Missing Action"),
        other => fail(
            &mut entry,
            400,
            "InvalidAction",
            &format!("Could not find operation {other} for version 2011-06-15"),
        ),
    }
}

fn assume_role(
    state: &State,
    form: &HashMap<String, String>,
    caller: &Principal,
    mut entry: RecordEntry,
) -> hyper::Response<Body> {
    let fail = |entry: &mut RecordEntry, status: u16, code: &str, message: &str| {
        state.record.push(entry.failed(status, code));
        error(status, code, message)
    };
    let role_arn = form.get("RoleArn").cloned().unwrap_or_default();
    let session_name = form.get("RoleSessionName").cloned().unwrap_or_default();
    if role_arn.len() < 20 {
        return fail(
            &mut entry,
            400,
            "ValidationError",
            "1 validation error detected: Value at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20",
        );
    }
    if !(2..=64).contains(&session_name.len())
        || !session_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
    {
        return fail(
            &mut entry,
            400,
            "ValidationError",
            "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
        );
    }
    let denied = format!(
        "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
        caller.caller_arn()
    );
    let Some(role) = state.identities.role(&role_arn) else {
        return fail(&mut entry, 403, "AccessDenied", &denied);
    };
    if !role.trusts.iter().any(|t| t == caller.trust_arn()) {
        return fail(&mut entry, 403, "AccessDenied", &denied);
    }
    if let Some(required) = &role.external_id
        && form.get("ExternalId") != Some(required)
    {
        return fail(&mut entry, 403, "AccessDenied", &denied);
    }
    if role.mfa_required {
        let device = state.identities.user(caller).and_then(|u| u.mfa.clone());
        let ok = device.is_some_and(|d| {
            form.get("SerialNumber") == Some(&d.serial) && form.get("TokenCode") == Some(&d.code)
        });
        if !ok {
            return fail(
                &mut entry,
                403,
                "AccessDenied",
                &format!("{denied} (MultiFactorAuthentication required)"),
            );
        }
    }
    let duration = match form.get("DurationSeconds").map(|d| d.parse::<u32>()) {
        None => 3600,
        Some(Ok(d)) if d >= 900 => d,
        Some(_) => {
            return fail(
                &mut entry,
                400,
                "ValidationError",
                "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
            );
        }
    };
    if matches!(caller, Principal::Session { .. }) && duration > 3600 {
        return fail(
            &mut entry,
            400,
            "ValidationError",
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        );
    }
    if duration > role.max_session_seconds {
        return fail(
            &mut entry,
            400,
            "ValidationError",
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        );
    }
    let told = Duration::from_secs(u64::from(duration));
    let lifetime = state.faults.session_ttl.map_or(told, |ttl| ttl.min(told));
    let (key_id, session) = state.identities.issue(role, &session_name, lifetime);
    let expiration = SystemTime::now() + told;
    state.record.push(entry);
    let assumed = session.principal.caller_arn().to_string();
    let body = format!(
        "<AssumeRoleResponse xmlns=\"{NS}\">\n  <AssumeRoleResult>\n    <AssumedRoleUser>\n      <AssumedRoleId>AROA{}:{}</AssumedRoleId>\n      <Arn>{}</Arn>\n    </AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>{key_id}</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      <Expiration>{}</Expiration>\n    </Credentials>\n  </AssumeRoleResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</AssumeRoleResponse>\n",
        role.name.to_ascii_uppercase(),
        xml_escape(&session_name),
        xml_escape(&assumed),
        session.secret,
        session.token,
        format_iso(expiration),
        request_id()
    );
    response(200, &[("content-type", "text/xml")], body)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

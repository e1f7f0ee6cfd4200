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

/// An STS error: status, code and message, as AWS sends them.
struct Refusal {
    status: u16,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn validation(message: &str) -> Refusal {
        Refusal {
            status: 400,
            code: "ValidationError",
            message: message.to_string(),
        }
    }

    fn denied(message: String) -> Refusal {
        Refusal {
            status: 403,
            code: "AccessDenied",
            message,
        }
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
    let mut entry = RecordEntry::begin("sts", &action, parts);
    let region = state.region_for(&super::host_of(parts));
    let result = match sigv4::verify(
        &state.identities,
        parts,
        body,
        "sts",
        &region,
        SystemTime::now(),
    ) {
        Err(e) => {
            let (status, code, message) = auth_error(&e);
            Err(Refusal {
                status,
                code,
                message,
            })
        }
        Ok(verified) => {
            let caller = verified.owner.principal.clone();
            entry.caller = Some(caller.caller_arn().to_string());
            match action.as_str() {
                "GetCallerIdentity" => Ok(get_caller_identity(&caller)),
                "AssumeRole" => assume_role(state, &form, &caller),
                "" => Err(Refusal {
                    status: 400,
                    code: "MissingAction",
                    message: "Missing Action".into(),
                }),
                other => Err(Refusal {
                    status: 400,
                    code: "InvalidAction",
                    message: format!("Could not find operation {other} for version 2011-06-15"),
                }),
            }
        }
    };
    match result {
        Ok(body) => {
            state.record.push(entry);
            response(200, &[("content-type", "text/xml")], body)
        }
        Err(r) => {
            state.record.push(entry.failed(r.status, r.code));
            error(r.status, r.code, &r.message)
        }
    }
}

/// GetCallerIdentity's result: the caller's ARN, user id and account.
fn get_caller_identity(caller: &Principal) -> String {
    let user_id = match caller {
        Principal::User { name, .. } => {
            format!("AIDA{}", name.to_ascii_uppercase().replace('-', ""))
        }
        Principal::Session {
            assumed_arn, role, ..
        } => format!(
            "AROA{}:{}",
            role.to_ascii_uppercase(),
            assumed_arn.rsplit('/').next().unwrap_or("")
        ),
    };
    format!(
        "<GetCallerIdentityResponse xmlns=\"{NS}\">\n  <GetCallerIdentityResult>\n    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
        xml_escape(caller.caller_arn()),
        xml_escape(&user_id),
        caller.account(),
        request_id()
    )
}

/// AssumeRole: the request's members checked, the role's trust policy
/// (principal, external id, MFA) applied, the duration bounded, and a
/// session issued.
fn assume_role(
    state: &State,
    form: &HashMap<String, String>,
    caller: &Principal,
) -> Result<String, Refusal> {
    let role_arn = form.get("RoleArn").cloned().unwrap_or_default();
    let session_name = form.get("RoleSessionName").cloned().unwrap_or_default();
    check_members(&role_arn, &session_name)?;
    let role = state.identities.role(&role_arn);
    let role = trusted(state, role, form, caller, &role_arn)?;
    let duration = duration(form, caller, role.max_session_seconds)?;
    let told = Duration::from_secs(u64::from(duration));
    let lifetime = state.faults.session_ttl.map_or(told, |ttl| ttl.min(told));
    let (key_id, session) = state.identities.issue(role, &session_name, lifetime);
    let expiration = SystemTime::now() + told;
    let assumed = session.principal.caller_arn().to_string();
    Ok(format!(
        "<AssumeRoleResponse xmlns=\"{NS}\">\n  <AssumeRoleResult>\n    <AssumedRoleUser>\n      <AssumedRoleId>AROA{}:{}</AssumedRoleId>\n      <Arn>{}</Arn>\n    </AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>{key_id}</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      <Expiration>{}</Expiration>\n    </Credentials>\n  </AssumeRoleResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</AssumeRoleResponse>\n",
        role.name.to_ascii_uppercase(),
        xml_escape(&session_name),
        xml_escape(&assumed),
        session.secret,
        session.token,
        format_iso(expiration),
        request_id()
    ))
}

/// The members' constraints from the STS API definition.
fn check_members(role_arn: &str, session_name: &str) -> Result<(), Refusal> {
    if role_arn.len() < 20 {
        return Err(Refusal::validation(
            "1 validation error detected: Value at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20",
        ));
    }
    let name_ok = (2..=64).contains(&session_name.len())
        && session_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if !name_ok {
        return Err(Refusal::validation(
            "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
        ));
    }
    Ok(())
}

/// The role, if its trust policy lets `caller` assume it with what the
/// request sent; AWS says the same thing whatever the reason.
fn trusted<'a>(
    state: &State,
    role: Option<&'a super::identity::Role>,
    form: &HashMap<String, String>,
    caller: &Principal,
    role_arn: &str,
) -> Result<&'a super::identity::Role, Refusal> {
    let denied = format!(
        "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
        caller.caller_arn()
    );
    let Some(role) = role.filter(|r| r.trusts.iter().any(|t| t == caller.trust_arn())) else {
        return Err(Refusal::denied(denied));
    };
    if let Some(required) = &role.external_id
        && form.get("ExternalId") != Some(required)
    {
        return Err(Refusal::denied(denied));
    }
    if role.mfa_required {
        let device = state.identities.user(caller).and_then(|u| u.mfa.clone());
        let ok = device.is_some_and(|d| {
            form.get("SerialNumber") == Some(&d.serial) && form.get("TokenCode") == Some(&d.code)
        });
        if !ok {
            return Err(Refusal::denied(format!(
                "{denied} (MultiFactorAuthentication required)"
            )));
        }
    }
    Ok(role)
}

/// `DurationSeconds`, default an hour, bounded by the API (900 at least),
/// by role chaining (an hour) and by the role's maximum.
fn duration(form: &HashMap<String, String>, caller: &Principal, max: u32) -> Result<u32, Refusal> {
    let duration = match form.get("DurationSeconds").map(|d| d.parse::<u32>()) {
        None => 3600,
        Some(Ok(d)) if d >= 900 => d,
        Some(_) => {
            return Err(Refusal::validation(
                "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
            ));
        }
    };
    if matches!(caller, Principal::Session { .. }) && duration > 3600 {
        return Err(Refusal::validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        ));
    }
    if duration > max {
        return Err(Refusal::validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    Ok(duration)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

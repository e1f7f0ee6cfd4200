//! STS in the query protocol, with AWS's XML responses and error shapes:
//! AssumeRole (trust policy, external id, MFA, duration, session policy,
//! tags and source identity), AssumeRoleWithWebIdentity (tokens of the
//! emulator's OIDC provider, unsigned as on AWS), GetSessionToken,
//! GetCallerIdentity and GetAccessKeyInfo. Every request is first checked
//! against the STS API definition.

mod form;
mod session;

use super::identity::{KeyOwner, Principal, Role, Session, SessionFacts};
use super::record::RecordEntry;
use super::shapes::Api;
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
            403,
            "ExpiredToken",
            "The security token included in the request is expired".into(),
        ),
        AuthError::Skewed(m) => (403, "SignatureDoesNotMatch", m.clone()),
    }
}

/// An STS error: status, code and message, as AWS sends them.
#[derive(Debug)]
struct Refusal {
    status: u16,
    code: String,
    message: String,
}

impl Refusal {
    fn new(status: u16, code: &str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code: code.to_string(),
            message: message.into(),
        }
    }

    fn validation(message: &str) -> Refusal {
        Refusal::new(400, "ValidationError", message)
    }

    fn denied(message: String) -> Refusal {
        Refusal::new(403, "AccessDenied", message)
    }
}

/// The actions served; any other is `InvalidAction`.
const ACTIONS: [&str; 5] = [
    "AssumeRole",
    "AssumeRoleWithWebIdentity",
    "GetAccessKeyInfo",
    "GetCallerIdentity",
    "GetSessionToken",
];

/// Handles `POST /` with a form body.
pub(crate) fn handle(
    state: &State,
    parts: &http::request::Parts,
    body: &Bytes,
) -> hyper::Response<Body> {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let action = form.get("Action").cloned().unwrap_or_default();
    let mut entry = RecordEntry::begin("sts", &action, parts);
    match dispatch(state, parts, body, &form, &action, &mut entry) {
        Ok(body) => {
            state.record.push(entry);
            response(200, &[("content-type", "text/xml")], body)
        }
        Err(r) => {
            state.record.push(entry.failed(r.status, &r.code));
            error(r.status, &r.code, &r.message)
        }
    }
}

/// Authenticates (except for web identity, which AWS takes unsigned),
/// checks the input against the API definition, and runs the action.
fn dispatch(
    state: &State,
    parts: &http::request::Parts,
    body: &Bytes,
    form: &HashMap<String, String>,
    action: &str,
    entry: &mut RecordEntry,
) -> Result<String, Refusal> {
    if action.is_empty() {
        return Err(Refusal::new(400, "MissingAction", "Missing Action"));
    }
    if !ACTIONS.contains(&action) {
        return Err(Refusal::new(
            400,
            "InvalidAction",
            format!("Could not find operation {action} for version 2011-06-15"),
        ));
    }
    let owner = if action == "AssumeRoleWithWebIdentity" {
        None
    } else {
        let region = state.region_for(&super::host_of(parts));
        let verified = sigv4::verify(
            &state.identities,
            parts,
            body,
            "sts",
            &region,
            SystemTime::now(),
        )
        .map_err(|e| {
            let (status, code, message) = auth_error(&e);
            Refusal::new(status, code, message)
        })?;
        entry.caller = Some(verified.owner.principal.caller_arn().to_string());
        Some(verified.owner)
    };
    let api = Api::sts();
    let shape = format!("{action}Request");
    let input = form::read(api, &shape, form);
    let mut violations = form::not_numbers(api, &shape, &input);
    violations.extend(api.violations(&shape, &input));
    if let Some(message) = Api::message(&violations) {
        return Err(Refusal::validation(&message));
    }
    match (action, owner) {
        ("AssumeRoleWithWebIdentity", _) => assume_role_with_web_identity(state, &input, entry),
        (_, None) => unreachable!("every other action is signed"),
        ("GetCallerIdentity", Some(owner)) => Ok(get_caller_identity(&owner.principal)),
        ("GetAccessKeyInfo", Some(_)) => get_access_key_info(state, &input),
        ("GetSessionToken", Some(owner)) => get_session_token(state, &input, &owner),
        (_, Some(owner)) => assume_role(state, &input, &owner),
    }
}

/// `<{action}Response>` around `<{action}Result>` with `members`.
fn result(action: &str, members: &str) -> String {
    format!(
        "<{action}Response xmlns=\"{NS}\">\n  <{action}Result>\n{members}  </{action}Result>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</{action}Response>\n",
        request_id()
    )
}

/// `<name>value</name>` as a member of a result.
fn leaf(name: &str, value: &str) -> String {
    format!("    <{name}>{}</{name}>\n", xml_escape(value))
}

/// A structure member of a result, from its leaves.
fn nested(name: &str, leaves: &[(&str, &str)]) -> String {
    let inner: String = leaves
        .iter()
        .map(|(n, v)| format!("      <{n}>{}</{n}>\n", xml_escape(v)))
        .collect();
    format!("    <{name}>\n{inner}    </{name}>\n")
}

/// Issues credentials lasting `told` seconds (or less, when a fault says
/// sessions die early) and returns their `<Credentials>`.
fn issue(state: &State, principal: Principal, facts: SessionFacts, told: u32) -> (Session, String) {
    let told = Duration::from_secs(u64::from(told));
    let lifetime = state.faults.session_ttl.map_or(told, |ttl| ttl.min(told));
    let (key_id, session) = state.identities.issue(principal, facts, lifetime);
    let xml = nested(
        "Credentials",
        &[
            ("AccessKeyId", &key_id),
            ("SecretAccessKey", &session.secret),
            ("SessionToken", &session.token),
            ("Expiration", &format_iso(SystemTime::now() + told)),
        ],
    );
    (session, xml)
}

/// `<AssumedRoleUser>` for a session of `role` named `session_name`.
fn assumed_role_user(role: &Role, session_name: &str, principal: &Principal) -> String {
    nested(
        "AssumedRoleUser",
        &[
            (
                "AssumedRoleId",
                &format!("{}:{session_name}", role_id(role)),
            ),
            ("Arn", principal.caller_arn()),
        ],
    )
}

/// The role's unique id (AROA...), stable for a role name.
fn role_id(role: &Role) -> String {
    format!("AROA{}", role.name.to_ascii_uppercase())
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
    result(
        "GetCallerIdentity",
        &[
            leaf("Arn", caller.caller_arn()),
            leaf("UserId", &user_id),
            leaf("Account", caller.account()),
        ]
        .concat(),
    )
}

/// GetAccessKeyInfo: the account an access key id belongs to, for the
/// keys the emulator knows.
fn get_access_key_info(state: &State, input: &serde_json::Value) -> Result<String, Refusal> {
    let key = input["AccessKeyId"].as_str().unwrap_or_default();
    let owner = state.identities.owner(key).ok_or_else(|| {
        Refusal::denied(format!(
            "The access key ID {key} is not one this emulator issued or knows."
        ))
    })?;
    Ok(result(
        "GetAccessKeyInfo",
        &leaf("Account", owner.principal.account()),
    ))
}

/// GetSessionToken: temporary credentials for an IAM user's own long-term
/// keys, MFA-authenticated when a code is given.
fn get_session_token(
    state: &State,
    input: &serde_json::Value,
    owner: &KeyOwner,
) -> Result<String, Refusal> {
    if owner.token.is_some() {
        return Err(Refusal::denied(
            "Cannot call GetSessionToken with session credentials".into(),
        ));
    }
    let serial = input["SerialNumber"].as_str();
    let code = input["TokenCode"].as_str();
    let mfa = match (serial, code) {
        (None, None) => false,
        (Some(serial), Some(code)) => {
            let device = state
                .identities
                .user(&owner.principal)
                .and_then(|u| u.mfa.clone());
            if !device.is_some_and(|d| d.serial == serial && d.code == code) {
                return Err(Refusal::denied(
                    "MultiFactorAuthentication failed with invalid MFA one time pass code. ".into(),
                ));
            }
            true
        }
        _ => {
            return Err(Refusal::denied(
                "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code.".into(),
            ));
        }
    };
    let duration = input["DurationSeconds"]
        .as_u64()
        .map_or(43200, |d| u32::try_from(d).unwrap_or(u32::MAX));
    let facts = SessionFacts {
        mfa,
        ..SessionFacts::default()
    };
    let (_, credentials) = issue(state, owner.principal.clone(), facts, duration);
    Ok(result("GetSessionToken", &credentials))
}

/// AssumeRole: the role's trust policy (principal, external id, MFA)
/// applied, the session options and duration checked, and a session
/// issued.
fn assume_role(
    state: &State,
    input: &serde_json::Value,
    caller: &KeyOwner,
) -> Result<String, Refusal> {
    let role_arn = input["RoleArn"].as_str().unwrap_or_default();
    let session_name = input["RoleSessionName"].as_str().unwrap_or_default();
    let role = trusted(state, input, caller, role_arn)?;
    let options = session::options(input, role, Some(caller))?;
    let chained = matches!(caller.principal, Principal::Session { .. });
    let duration = session::role_duration(input, chained, role)?;
    let principal = Principal::role_session(role, session_name);
    let facts = SessionFacts {
        mfa: mfa_present(state, input, caller),
        source_identity: options.source_identity.clone(),
        policy_models: options.policy_models.clone(),
    };
    let (session, credentials) = issue(state, principal, facts, duration);
    let mut members = assumed_role_user(role, session_name, &session.principal) + &credentials;
    members += &session_members(&options);
    Ok(result("AssumeRole", &members))
}

/// `PackedPolicySize` and `SourceIdentity`, when the session has them.
fn session_members(options: &session::Options) -> String {
    let mut out = String::new();
    if let Some(size) = options.packed_size {
        out += &leaf("PackedPolicySize", &size.to_string());
    }
    if let Some(source) = &options.source_identity {
        out += &leaf("SourceIdentity", source);
    }
    out
}

/// The role, if its trust policy lets `caller` assume it with what the
/// request sent; AWS says the same thing whatever the reason.
fn trusted<'a>(
    state: &'a State,
    input: &serde_json::Value,
    caller: &KeyOwner,
    role_arn: &str,
) -> Result<&'a Role, Refusal> {
    let denied = format!(
        "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
        caller.principal.caller_arn()
    );
    let role = state.identities.role(role_arn);
    let Some(role) = role.filter(|r| r.trusts.iter().any(|t| t == caller.principal.trust_arn()))
    else {
        return Err(Refusal::denied(denied));
    };
    if let Some(required) = &role.external_id
        && input["ExternalId"].as_str() != Some(required)
    {
        return Err(Refusal::denied(denied));
    }
    if role.mfa_required && !mfa_present(state, input, caller) {
        return Err(Refusal::denied(format!(
            "{denied} (MultiFactorAuthentication required)"
        )));
    }
    Ok(role)
}

/// `aws:MultiFactorAuthPresent`: the caller's session was MFA-authenticated,
/// or this request carries the current code of the caller's device.
fn mfa_present(state: &State, input: &serde_json::Value, caller: &KeyOwner) -> bool {
    let device = state
        .identities
        .user(&caller.principal)
        .and_then(|u| u.mfa.clone());
    caller.facts.mfa
        || device.is_some_and(|d| {
            input["SerialNumber"].as_str() == Some(&d.serial)
                && input["TokenCode"].as_str() == Some(&d.code)
        })
}

/// AssumeRoleWithWebIdentity: a token of the emulator's OIDC provider for
/// a role whose trust policy names that provider and the token's audience.
fn assume_role_with_web_identity(
    state: &State,
    input: &serde_json::Value,
    entry: &mut RecordEntry,
) -> Result<String, Refusal> {
    let token = input["WebIdentityToken"].as_str().unwrap_or_default();
    let claims = crate::oidc::verify(token, SystemTime::now())
        .map_err(|r| Refusal::new(r.status, r.code, r.message))?;
    let role_arn = input["RoleArn"].as_str().unwrap_or_default();
    let session_name = input["RoleSessionName"].as_str().unwrap_or_default();
    let role = state
        .identities
        .role(role_arn)
        .filter(|r| {
            r.web_identity
                .as_ref()
                .is_some_and(|w| w.issuer == claims.issuer)
        })
        .ok_or_else(|| {
            Refusal::denied("Not authorized to perform sts:AssumeRoleWithWebIdentity".into())
        })?;
    if role
        .web_identity
        .as_ref()
        .is_some_and(|w| w.audience != claims.audience)
    {
        return Err(Refusal::new(
            400,
            "InvalidIdentityToken",
            "Incorrect token audience",
        ));
    }
    let options = session::options(input, role, None)?;
    let duration = session::role_duration(input, false, role)?;
    let principal = Principal::role_session(role, session_name);
    entry.caller = Some(principal.caller_arn().to_string());
    let facts = SessionFacts {
        policy_models: options.policy_models.clone(),
        ..SessionFacts::default()
    };
    let (session, credentials) = issue(state, principal, facts, duration);
    let members = [
        credentials,
        leaf("SubjectFromWebIdentityToken", &claims.subject),
        assumed_role_user(role, session_name, &session.principal),
        session_members(&options),
        leaf("Provider", &claims.issuer),
        leaf("Audience", &claims.audience),
    ]
    .concat();
    Ok(result("AssumeRoleWithWebIdentity", &members))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

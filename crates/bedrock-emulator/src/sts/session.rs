//! What a caller may ask a new role session to carry: a session policy
//! (inline or managed ARNs), session tags and a source identity, each with
//! the trust policy permission AWS requires for it, and their packed size.

use super::Refusal;
use crate::identity::{KeyOwner, Role};
use serde_json::Value;

/// The session options of a request, checked.
#[derive(Debug, Default)]
pub(super) struct Options {
    /// The model patterns the inline session policy allows, when there is
    /// one.
    pub(super) policy_models: Option<Vec<String>>,
    /// The source identity the new session carries.
    pub(super) source_identity: Option<String>,
    /// `PackedPolicySize`, when a policy or tags were passed.
    pub(super) packed_size: Option<u32>,
}

/// The packed-size budget, in bytes of minified policy text plus tag text.
/// AWS packs (compresses) the policies and tags into a binary form with a
/// limit of its own and reports the share used; the emulator counts the
/// text against this budget instead, so that the largest inline policy the
/// API allows fills it.
const PACKED_BUDGET: usize = 2048;

/// Reads the session options of `input` for a session of `role` asked for
/// by `caller` (none for web identity).
pub(super) fn options(
    input: &Value,
    role: &Role,
    caller: Option<&KeyOwner>,
) -> Result<Options, Refusal> {
    let caller_arn = caller.map_or("", |c| c.principal.caller_arn());
    let not_authorized = |permission: &str| {
        Refusal::denied(format!(
            "User: {caller_arn} is not authorized to perform: {permission} on resource: {}",
            role.arn()
        ))
    };
    let policy = match input["Policy"].as_str() {
        None => None,
        Some(text) => Some(policy_document(text)?),
    };
    let tags = input["Tags"].as_array().cloned().unwrap_or_default();
    let transitive = input["TransitiveTagKeys"].as_array().map_or(0, Vec::len);
    if (!tags.is_empty() || transitive > 0) && !role.tag_session {
        return Err(not_authorized("sts:TagSession"));
    }
    let inherited = caller.and_then(|c| c.facts.source_identity.clone());
    let asked = input["SourceIdentity"].as_str().map(str::to_string);
    let source_identity = match (inherited, asked) {
        (Some(kept), Some(asked)) if kept != asked => {
            // Once set, a source identity stays for the whole chain.
            return Err(not_authorized("sts:SetSourceIdentity"));
        }
        (Some(kept), _) => Some(kept),
        (None, Some(_)) if !role.set_source_identity => {
            return Err(not_authorized("sts:SetSourceIdentity"));
        }
        (None, asked) => asked,
    };
    let arns = input["PolicyArns"].as_array().map_or(0, Vec::len);
    let packed_size = (policy.is_some() || !tags.is_empty() || arns > 0).then(|| {
        let policy_bytes = policy.as_ref().map_or(0, |p| p.to_string().len());
        let tag_bytes: usize = tags
            .iter()
            .map(|t| {
                t["Key"].as_str().map_or(0, str::len) + t["Value"].as_str().map_or(0, str::len)
            })
            .sum();
        let arn_bytes: usize = input["PolicyArns"].as_array().map_or(0, |a| {
            a.iter()
                .map(|p| p["arn"].as_str().map_or(0, str::len))
                .sum()
        });
        let bytes = policy_bytes + tag_bytes + arn_bytes;
        u32::try_from((bytes * 100).div_ceil(PACKED_BUDGET)).unwrap_or(u32::MAX)
    });
    if let Some(size) = packed_size.filter(|s| *s > 100) {
        return Err(Refusal::new(
            400,
            "PackedPolicyTooLarge",
            format!(
                "Packed policy consumes {size}% of allotted space, please use smaller policy for this session."
            ),
        ));
    }
    Ok(Options {
        policy_models: policy.as_ref().map(allowed_models),
        source_identity,
        packed_size,
    })
}

/// An inline session policy, parsed: JSON with a `Statement`, each with an
/// `Effect` of `Allow` or `Deny`.
fn policy_document(text: &str) -> Result<Value, Refusal> {
    let malformed = || Refusal::new(400, "MalformedPolicyDocument", "Syntax errors in policy.");
    let doc: Value = serde_json::from_str(text).map_err(|_| malformed())?;
    let statements = statements(&doc).ok_or_else(malformed)?;
    let effects_ok = statements
        .iter()
        .all(|s| matches!(s["Effect"].as_str(), Some("Allow" | "Deny")));
    if statements.is_empty() || !effects_ok {
        return Err(malformed());
    }
    Ok(doc)
}

fn statements(doc: &Value) -> Option<Vec<Value>> {
    match &doc["Statement"] {
        Value::Array(items) => Some(items.clone()),
        item @ Value::Object(_) => Some(vec![item.clone()]),
        _ => None,
    }
}

/// `Action` or `Resource`: one string or a list.
fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether IAM's wildcard `pattern` (`*` any run, `?` one character)
/// matches `text`, case-insensitively as actions are.
fn wildcard(pattern: &str, text: &str) -> bool {
    let re = regex::escape(&pattern.to_ascii_lowercase())
        .replace(r"\*", ".*")
        .replace(r"\?", ".");
    regex::Regex::new(&format!("^{re}$")).is_ok_and(|r| r.is_match(&text.to_ascii_lowercase()))
}

/// The model id patterns a policy's `Allow` statements grant
/// `bedrock:InvokeModel` on (Converse and streams need the same grant
/// here). Deny statements are not evaluated.
fn allowed_models(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for s in statements(doc).unwrap_or_default() {
        let invokes = strings(&s["Action"])
            .iter()
            .any(|a| wildcard(a, "bedrock:InvokeModel"));
        if s["Effect"] != "Allow" || !invokes {
            continue;
        }
        for resource in strings(&s["Resource"]) {
            if resource == "*" {
                out.push("*".to_string());
            } else if let Some((_, model)) = resource.split_once(":foundation-model/") {
                out.push(model.to_string());
            }
        }
    }
    out
}

/// `DurationSeconds` for a role session: an hour unless asked (the API
/// definition bounds the ask), at most an hour when chaining roles, and at
/// most the role's maximum.
pub(super) fn role_duration(input: &Value, chained: bool, role: &Role) -> Result<u32, Refusal> {
    let asked = input["DurationSeconds"].as_u64();
    let duration = asked.map_or(3600, |d| u32::try_from(d).unwrap_or(u32::MAX));
    if chained && duration > 3600 {
        return Err(Refusal::validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        ));
    }
    if duration > role.max_session_seconds {
        return Err(Refusal::validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn session_policies_grant_models_by_resource() {
        let doc = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["bedrock:Invoke*"], "Resource": "arn:aws:bedrock:*::foundation-model/amazon.titan-*"},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
            {"Effect": "Deny", "Action": "bedrock:*", "Resource": "*"}
        ]});
        assert_eq!(allowed_models(&doc), ["amazon.titan-*"]);
        let all = json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}});
        assert_eq!(allowed_models(&all), ["*"]);
        for bad in [
            "{",
            "{}",
            r#"{"Statement": [{"Effect": "Maybe"}]}"#,
            r#"{"Statement": []}"#,
        ] {
            assert_eq!(
                policy_document(bad).unwrap_err().code,
                "MalformedPolicyDocument",
                "{bad}"
            );
        }
    }
}

//! The names of the properties file: its sections, every key it knows,
//! which keys hold secrets, and how each secret is shown.
//!
//! One place decides how a secret field is shown, so that `encrypt-config
//! --check`, the plan, hints and AWS's own messages (through the scrubber)
//! show the same value the same way.

use crate::secret::{self, Secret};

/// The section with the tool's settings.
pub const DEFAULT_SECTION: &str = "default";
/// The section with model aliases.
pub const MODELS_SECTION: &str = "models";

/// The fields stored encrypted, in the order they are asked for.
pub const SENSITIVE_FIELDS: [&str; 8] = [
    "AccessKey",
    "SecretKey",
    "AssumeRoleARN",
    "ExternalId",
    "MFASerial",
    "VPCEndpointURL",
    "STSEndpointURL",
    "ControlPlaneEndpointURL",
];

/// Every key the `[default]` section knows, with its canonical spelling.
pub const KNOWN_KEYS: [&str; 21] = [
    "UseVPCe",
    "GetCredentialsFrom",
    "Region",
    "AccessKey",
    "SecretKey",
    "AssumeRoleARN",
    "VPCEndpointURL",
    "PromptFilePath",
    "Debug",
    "ModelID",
    "ExternalId",
    "RoleSessionName",
    "SessionDuration",
    "MFASerial",
    "STSEndpointURL",
    "SystemPromptFile",
    "UserQueryFile",
    "CABundle",
    "Profile",
    "ControlPlaneEndpointURL",
    "SecretKeyFernet",
];

/// The keys a user may set with `encrypt-config --set`: all but the
/// Python tool's embedded key, which only `--upgrade` removes.
pub(crate) fn settable_keys() -> &'static [&'static str] {
    &KNOWN_KEYS[..KNOWN_KEYS.len() - 1]
}

/// Whether `key` names a field that is stored encrypted.
pub fn is_sensitive(key: &str) -> bool {
    SENSITIVE_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(key))
}

/// The canonical spelling of a known `[default]` key.
pub fn canonical_key(key: &str) -> Option<&'static str> {
    KNOWN_KEYS
        .iter()
        .copied()
        .find(|k| k.eq_ignore_ascii_case(key))
}

/// How the value of sensitive `field` is shown: access keys by their first
/// and last four characters, ARNs by partition, account prefix and type,
/// endpoint URLs with the endpoint id masked, anything else by its length.
pub fn shown_value(field: &str, value: &Secret) -> String {
    match canonical_key(field) {
        Some("AccessKey") => secret::redact_access_key(value),
        Some("AssumeRoleARN") => secret::redact_arn(value),
        Some("MFASerial") => secret::redact_mfa_serial(value),
        Some("VPCEndpointURL" | "STSEndpointURL" | "ControlPlaneEndpointURL") => {
            secret::redact_url(value)
        }
        _ => secret::redact_fully(value),
    }
}

/// Booleans as Python's configparser reads them.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// " (did you mean K?)" for a key that is a prefix of a known key, has one
/// as a prefix, or is within two edits of one; empty otherwise.
pub(crate) fn suggestion(key: &str) -> String {
    closest(key, KNOWN_KEYS.iter().copied())
        .map(|k| format!(" (did you mean {k}?)"))
        .unwrap_or_default()
}

/// The first of `candidates` that `word` looks like a typing slip of: one
/// is the other's beginning, or they are at most two edits apart (ASCII
/// case ignored).
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let w = word.as_bytes();
    let prefix = |long: &[u8], short: &[u8]| {
        !short.is_empty()
            && long.len() >= short.len()
            && long[..short.len()].eq_ignore_ascii_case(short)
    };
    candidates.into_iter().find(|c| {
        let c = c.as_bytes();
        prefix(c, w) || prefix(w, c) || within_two_edits(c, w)
    })
}

/// Whether the edit distance of `a` and `b`, ignoring ASCII case, is at
/// most 2. It allocates nothing and stops as soon as no alignment can get
/// there, so a file of many unknown keys costs a few steps per key.
fn within_two_edits(a: &[u8], b: &[u8]) -> bool {
    const LIMIT: usize = 2;
    const LONGEST: usize = 64;
    if a.len().abs_diff(b.len()) > LIMIT || a.len() > LONGEST || b.len() > LONGEST {
        return false;
    }
    let mut prev = [0usize; LONGEST + 1];
    let mut cur = [0usize; LONGEST + 1];
    for (j, p) in prev.iter_mut().enumerate().take(b.len() + 1) {
        *p = j;
    }
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(!ca.eq_ignore_ascii_case(cb));
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        if cur[..=b.len()].iter().all(|d| *d > LIMIT) {
            return false;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()] <= LIMIT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_within_two_edits() {
        let near = |a: &str, b: &str| within_two_edits(a.as_bytes(), b.as_bytes());
        assert!(near("UseVPCe", "usevpc"));
        assert!(near("Region", "regoin"));
        assert!(near("Profile", "profile"));
        assert!(!near("Region", "reg"));
        assert!(!near("Debug", "ModelID"));
        assert!(!near("abcdef", "uvwxyz"));
    }

    #[test]
    fn each_secret_field_has_its_form() {
        let shown = |f: &str, v: &str| shown_value(f, &Secret::new(v));
        assert_eq!(
            shown("accesskey", "AKIAIOSFODNN7EXAMPLE"),
            "AKIA************MPLE"
        );
        assert_eq!(shown("SecretKey", "abcdef"), "(6 characters)");
        assert_eq!(
            shown("AssumeRoleARN", "arn:aws:iam::222222222222:role/x"),
            "arn:aws:iam::2222********:role/..."
        );
        assert_eq!(shown("ExternalId", "abc"), "(3 characters)");
        assert!(
            shown(
                "VPCEndpointURL",
                "https://vpce-0123456789-abc.bedrock-runtime.us-west-2.vpce.amazonaws.com"
            )
            .ends_with(".bedrock-runtime.us-west-2.vpce.amazonaws.com")
        );
        assert!(settable_keys().contains(&"Profile"));
        assert!(!settable_keys().contains(&"SecretKeyFernet"));
    }
}

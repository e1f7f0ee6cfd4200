//! The one type that holds secret values, and the redacted forms shown to users.
//!
//! Every secret the tool handles (access keys, secret keys, role ARNs, endpoint
//! URLs, external ids, MFA serials, Fernet keys) lives in a [`Secret`], whose
//! `Debug` and `Display` print `(redacted)`. Logging a whole struct that holds
//! one is therefore safe, and reading the value takes a visible call to
//! [`Secret::expose`]. The memory is wiped when the value is dropped.

use std::fmt;
use zeroize::Zeroizing;

/// A secret string: redacted when formatted, zeroed when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(Zeroizing::new(value.into()))
    }

    /// The value itself. Call only to use it, never to print or log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of characters, which is safe to show.
    pub fn char_count(&self) -> usize {
        self.0.chars().count()
    }
}

/// The empty secret.
impl Default for Secret {
    fn default() -> Secret {
        Secret::new("")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

/// Masks all but the first and last four characters: `AKIA************WXYZ`.
/// Access key ids are designed to be shown this way (the console does);
/// short values are masked entirely.
pub fn redact_access_key(value: &Secret) -> String {
    let chars: Vec<char> = value.expose().chars().collect();
    if chars.len() < 12 {
        return "*".repeat(chars.len().max(4));
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 8))
}

/// Shows an ARN's partition, service, the first four digits of its account
/// and the resource type, masking the rest:
/// `arn:aws:iam::2222********:role/...`.
pub fn redact_arn(value: &Secret) -> String {
    let parts: Vec<&str> = value.expose().splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return format!("({} characters)", value.char_count());
    }
    let account = redact_account(parts[4]);
    let kind = parts[5].split('/').next().unwrap_or("");
    format!("arn:{}:{}::{account}:{kind}/...", parts[1], parts[2])
}

/// An account id as [`redact_arn`] shows it: its first four digits.
pub fn redact_account(account: &str) -> String {
    let shown: String = account.chars().take(4).collect();
    let masked = "*".repeat(account.chars().count().saturating_sub(4));
    format!("{shown}{masked}")
}

/// Masks the first label of a URL's host beyond its first few characters and
/// drops the path: `https://vpce-0a1****.bedrock-runtime.us-west-2.vpce.amazonaws.com`.
/// The rest of the host names the service and region, which a reader needs.
pub fn redact_url(value: &Secret) -> String {
    let Ok(url) = url::Url::parse(value.expose()) else {
        return format!("({} characters)", value.char_count());
    };
    let host = url.host_str().unwrap_or("");
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    if loopback {
        // A local emulator's address says nothing about any network.
        return format!("{}://{host}{port}", url.scheme());
    }
    // An address names a network as a VPC endpoint's name does: only its
    // first part is shown.
    match url.host() {
        Some(url::Host::Ipv4(ip)) => {
            return format!("{}://{}.*.*.*{port}", url.scheme(), ip.octets()[0]);
        }
        Some(url::Host::Ipv6(ip)) => {
            return format!("{}://[{:x}:*]{port}", url.scheme(), ip.segments()[0]);
        }
        _ => {}
    }
    let (first, rest) = match host.split_once('.') {
        Some((first, rest)) => (first, format!(".{rest}")),
        None => (host, String::new()),
    };
    let keep = first.chars().count().div_ceil(3).min(8);
    let shown: String = first.chars().take(keep).collect();
    let masked = "*".repeat(first.chars().count() - keep);
    format!("{}://{shown}{masked}{rest}{port}", url.scheme())
}

/// An MFA device: redacted as an ARN when it is one, else fully.
pub fn redact_mfa_serial(value: &Secret) -> String {
    if value.expose().starts_with("arn:") {
        redact_arn(value)
    } else {
        redact_fully(value)
    }
}

/// Says only that a value is set and how long it is.
pub fn redact_fully(value: &Secret) -> String {
    format!("({} characters)", value.char_count())
}

/// Replaces every known secret in a text with its redacted form, for text
/// that comes from elsewhere: an AWS error message names the role ARN it
/// refused, which this tool holds as a secret.
#[derive(Debug, Default, Clone)]
pub struct Scrubber {
    pairs: Vec<(Secret, String)>,
}

impl Scrubber {
    /// An empty scrubber.
    pub fn new() -> Scrubber {
        Scrubber::default()
    }

    /// Adds a secret and what to show instead.
    pub fn add(&mut self, secret: &Secret, shown: String) {
        if secret.expose().len() >= 4 {
            self.pairs.push((secret.clone(), shown));
            self.pairs
                .sort_by_key(|(s, _)| std::cmp::Reverse(s.expose().len()));
        }
    }

    /// The text with every secret replaced.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (secret, shown) in &self.pairs {
            out = out.replace(secret.expose(), shown);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let s = Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        assert_eq!(format!("{s}"), "(redacted)");
        assert_eq!(format!("{s:?}"), "(redacted)");
        assert_eq!(format!("{:?}", Some(&s)), "Some((redacted))");
    }

    #[test]
    fn scrubber_replaces_longest_first() {
        let mut s = Scrubber::new();
        let arn = Secret::new("arn:aws:iam::222222222222:role/Bedrock");
        s.add(&Secret::new("222222222222"), "2222********".into());
        s.add(&arn, redact_arn(&arn));
        assert_eq!(
            s.scrub("not authorized on resource: arn:aws:iam::222222222222:role/Bedrock"),
            "not authorized on resource: arn:aws:iam::2222********:role/..."
        );
    }

    #[test]
    fn access_key_keeps_prefix_and_suffix() {
        let s = Secret::new("AKIAIOSFODNN7EXAMPLE");
        assert_eq!(redact_access_key(&s), "AKIA************MPLE");
        assert_eq!(redact_access_key(&Secret::new("short")), "*****");
    }

    #[test]
    fn arn_keeps_partition_and_account_prefix() {
        let s = Secret::new("arn:aws:iam::222222222222:role/team/BedrockAccess");
        assert_eq!(redact_arn(&s), "arn:aws:iam::2222********:role/...");
        assert!(!redact_arn(&s).contains("BedrockAccess"));
    }

    #[test]
    fn url_masks_the_endpoint_id() {
        let s = Secret::new(
            "https://vpce-0a1b2c3d4e5f-abcdefgh.bedrock-runtime.us-west-2.vpce.amazonaws.com/",
        );
        let r = redact_url(&s);
        assert!(r.starts_with("https://vpce-0a1*"), "{r}");
        assert!(
            r.ends_with(".bedrock-runtime.us-west-2.vpce.amazonaws.com"),
            "{r}"
        );
        assert!(!r.contains("abcdefgh"), "{r}");
        let local = Secret::new("http://127.0.0.1:4599/");
        assert_eq!(redact_url(&local), "http://127.0.0.1:4599");
        let private = Secret::new("https://10.1.2.3:8443");
        assert_eq!(redact_url(&private), "https://10.*.*.*:8443");
        let six = Secret::new("https://[fd00:1:2::3]");
        assert_eq!(redact_url(&six), "https://[fd00:*]");
    }
}

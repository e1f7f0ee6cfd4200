//! The gateway's own tokens: `invoke serve token add|list|revoke`.
//!
//! A token is shown once, when it is made, and never stored: the config
//! keeps a random salt and the HMAC-SHA256 of the token under it, in the
//! `[gateway]` section, which the config's MAC covers like every other
//! section (a hash added or a model list widened by hand breaks the seal).
//! A presented token is checked against every stored hash in constant time.
//!
//! ```ini
//! [gateway]
//! token.ci = v1:<salt, base64url>:<hmac, base64url>
//! token.ci.models = anthropic.*,amazon.nova-*
//! token.ci.rpm = 60
//! ```

use crate::config::document::Document;
use crate::error::{Error, Result};
use crate::secret::Secret;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The section the tokens live in.
pub(crate) const SECTION: &str = "gateway";
/// What every token starts with, so that one found in a log or a file is
/// recognised for what it is.
pub(crate) const PREFIX: &str = "bpg_";

/// A token as the config keeps it.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    /// Its name, for logs and revocation.
    pub(crate) name: String,
    salt: Vec<u8>,
    hash: Vec<u8>,
    /// Model id patterns it may call (`*` at the end matches any rest);
    /// empty for all.
    pub(crate) models: Vec<String>,
    /// Requests a minute it may make; `None` for no limit.
    pub(crate) rpm: Option<u32>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

fn mac(salt: &[u8], token: &str) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(salt).expect("HMAC takes any key length");
    m.update(token.as_bytes());
    m
}

/// 32 random bytes from the system's generator, as base64url.
fn random() -> String {
    // A Fernet key is exactly that: 32 bytes from the OS, base64url.
    fernet::Fernet::generate_key()
        .trim_end_matches('=')
        .to_string()
}

impl Token {
    /// Whether `presented` is this token; constant time in its bytes.
    pub(crate) fn matches(&self, presented: &str) -> bool {
        mac(&self.salt, presented).verify_slice(&self.hash).is_ok()
    }

    /// Whether the token may call `model` (a model id, an inference
    /// profile id, or an ARN of either): its list is matched against the
    /// foundation model the name calls ([`target_model`]); a name that
    /// calls none this gateway can tell is refused to a token with a list.
    pub(crate) fn allows(&self, model: &str) -> bool {
        if self.models.is_empty() {
            return true;
        }
        let Some(base) = target_model(model) else {
            return false;
        };
        self.models.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => base.starts_with(prefix),
            None => base == *p,
        })
    }
}

/// The foundation model a name calls, as Bedrock reads it: a model id, a
/// system-defined inference profile id (`us.anthropic...`), or the ARN of
/// either; `None` for anything else, such as a `/` outside a well-formed
/// ARN (Bedrock takes the part after the last `/`, so `anthropic.x/amazon.y`
/// calls `amazon.y`) or an application inference profile, whose model the
/// name does not say.
pub(crate) fn target_model(model: &str) -> Option<String> {
    let id = if model.starts_with("arn:") {
        let parts: Vec<&str> = model.splitn(6, ':').collect();
        if parts.len() != 6 || parts[2] != "bedrock" {
            return None;
        }
        let (kind, id) = parts[5].split_once('/')?;
        if !matches!(kind, "foundation-model" | "inference-profile") {
            return None;
        }
        id
    } else {
        model
    };
    let ok = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:_".contains(&b));
    ok.then(|| crate::invoke::families::base_model_id(id).to_string())
}

/// The tokens of a config's `[gateway]` section.
pub(crate) fn read(doc: &Document) -> Result<Vec<Token>> {
    let entries: Vec<_> = doc
        .entries()
        .into_iter()
        .filter(|e| e.section.eq_ignore_ascii_case(SECTION))
        .collect();
    let mut tokens = Vec::new();
    for e in &entries {
        let Some(name) = e.key.strip_prefix("token.") else {
            continue;
        };
        if name.contains('.') {
            continue;
        }
        let bad = || {
            Error::Usage(format!(
                "{}:{}: [gateway] {}: expected v1:SALT:HASH as `invoke serve token add` writes it",
                doc.path().display(),
                e.line,
                e.key
            ))
        };
        let parts: Vec<&str> = e.value.split(':').collect();
        let (salt, hash) = match parts.as_slice() {
            ["v1", salt, hash] => (unb64(salt).ok_or_else(bad)?, unb64(hash).ok_or_else(bad)?),
            _ => return Err(bad()),
        };
        let setting = |what: &str| {
            entries
                .iter()
                .find(|x| x.key.eq_ignore_ascii_case(&format!("token.{name}.{what}")))
                .map(|x| x.value.clone())
        };
        let models = setting("models")
            .map(|m| {
                m.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let rpm = match setting("rpm") {
            None => None,
            Some(v) => Some(v.parse::<u32>().map_err(|_| {
                Error::Usage(format!(
                    "{}: [gateway] token.{name}.rpm = {v}: expected a whole number of requests a minute",
                    doc.path().display()
                ))
            })?),
        };
        tokens.push(Token {
            name: name.to_string(),
            salt,
            hash,
            models,
            rpm,
        });
    }
    Ok(tokens)
}

/// A valid token name: what a log line and a `[gateway]` key can hold.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "token name {name:?}: expected 1 to 64 letters, digits, - or _"
        )))
    }
}

/// Adds token `name` to `doc` (which must not have it), with its model
/// patterns and rate; returns the token itself, to be shown once.
pub(crate) fn add(
    doc: &mut Document,
    name: &str,
    models: &[String],
    rpm: Option<u32>,
) -> Result<Secret> {
    check_name(name)?;
    if read(doc)?.iter().any(|t| t.name.eq_ignore_ascii_case(name)) {
        return Err(Error::Usage(format!(
            "token {name} exists: revoke it first (invoke serve token revoke {name}), or choose another name"
        )));
    }
    for p in models {
        let body = p.strip_suffix('*').unwrap_or(p);
        if body.contains('*') || body.contains(',') || p.trim().is_empty() {
            return Err(Error::Usage(format!(
                "--models {p}: expected a model id, or a prefix ending in * (anthropic.*)"
            )));
        }
    }
    let token = Secret::new(format!("{PREFIX}{}", random()));
    let salt = unb64(&random()).expect("random() is base64url");
    let hash = mac(&salt, token.expose()).finalize().into_bytes();
    let mut entries = vec![(
        format!("token.{name}"),
        format!("v1:{}:{}", b64(&salt), b64(&hash)),
    )];
    if !models.is_empty() {
        entries.push((format!("token.{name}.models"), models.join(",")));
    }
    if let Some(rpm) = rpm {
        entries.push((format!("token.{name}.rpm"), rpm.to_string()));
    }
    if doc.has_section(SECTION) {
        for (k, v) in &entries {
            doc.insert(SECTION, k, v);
        }
    } else {
        let entries: Vec<(&str, &str)> = entries
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        doc.append_section(
            SECTION,
            &["Tokens of `invoke serve`: salted hashes only (invoke serve token add|list|revoke)."],
            &entries,
        );
    }
    Ok(token)
}

/// Removes token `name` and its settings from `doc`.
pub(crate) fn revoke(doc: &mut Document, name: &str) -> Result<()> {
    let key = format!("token.{name}");
    let mut lines: Vec<usize> = doc
        .entries()
        .into_iter()
        .filter(|e| {
            e.section.eq_ignore_ascii_case(SECTION)
                && (e.key.eq_ignore_ascii_case(&key)
                    || e.key
                        .to_ascii_lowercase()
                        .starts_with(&format!("{}.", key.to_ascii_lowercase())))
        })
        .map(|e| e.index)
        .collect();
    if lines.is_empty() {
        return Err(Error::Usage(format!(
            "no token {name}: `invoke serve token list` shows the tokens"
        )));
    }
    lines.sort_unstable();
    for index in lines.into_iter().rev() {
        doc.remove(index);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_kept_as_salted_hashes_and_checked() {
        let mut doc = Document::parse(
            std::path::Path::new("c.properties"),
            "[default]\nUseVPCe = false\n",
        )
        .unwrap();
        let t = add(&mut doc, "ci", &["anthropic.*".into()], Some(5)).unwrap();
        assert!(t.expose().starts_with(PREFIX));
        let text = doc.render();
        assert!(
            !text.contains(t.expose()),
            "the token itself is never stored"
        );
        let read = read(&doc).unwrap();
        assert_eq!(read.len(), 1);
        assert!(read[0].matches(t.expose()));
        assert!(!read[0].matches("bpg_wrong"));
        assert!(read[0].allows("anthropic.claude-3-haiku-20240307-v1:0"));
        assert!(!read[0].allows("amazon.nova-lite-v1:0"));
        // Names Bedrock reads differently from their start.
        assert!(!read[0].allows("anthropic.x/../../amazon.nova-lite-v1:0"));
        assert!(!read[0].allows("anthropic.x/amazon.nova-lite-v1:0"));
        assert!(!read[0].allows("anthropic.x%2Famazon.nova-lite-v1:0"));
        assert!(read[0].allows("us.anthropic.claude-3-haiku-20240307-v1:0"));
        assert!(read[0].allows(
            "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
        ));
        assert!(!read[0].allows("arn:aws:bedrock:us-west-2:1:application-inference-profile/abc"));
        assert_eq!(read[0].rpm, Some(5));
        assert!(add(&mut doc, "ci", &[], None).is_err(), "names are unique");
        assert!(add(&mut doc, "bad name", &[], None).is_err());
        let other = add(&mut doc, "two", &[], None).unwrap();
        assert_ne!(other.expose(), t.expose());
        revoke(&mut doc, "ci").unwrap();
        let left = super::read(&doc).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].name, "two");
        assert!(!doc.render().contains("token.ci"));
        assert!(revoke(&mut doc, "ci").is_err());
    }
}

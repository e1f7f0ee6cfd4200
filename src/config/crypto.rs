//! Fernet encryption of single values, the file MAC, and key identities.
//!
//! Values are encrypted with the `fernet` crate (pure-Rust backend) and
//! written as `ENC[fernet:<token>]`, so an encrypted value says what it is and
//! is never encrypted twice. A file's MAC is an HMAC-SHA256 over every entry
//! in document order, keyed by a key derived from the Fernet key: it catches a
//! value edited in clear text, moved, or swapped with another, which Fernet
//! alone cannot, because each token is valid wherever it is pasted.
//!
//! The Python workshop tool wrote `base64(token)` instead, with no marker and
//! no MAC; [`python_token`] recognises those values so they can still be read.

use crate::error::{Error, Result};
use crate::secret::Secret;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// The prefix and suffix that mark an encrypted value.
const MARKER_PREFIX: &str = "ENC[fernet:";
const MARKER_SUFFIX: &str = "]";

/// Standard base64 of `gAAAAA`, the start of every Fernet token in the
/// Python tool's files (version byte 0x80 and the high timestamp bytes).
const PYTHON_PREFIX: &str = "Z0FBQUFB";

/// Labels for deriving the MAC key, so the Fernet key is never used directly
/// for two purposes, and a MAC of one format never verifies as the other's.
const MAC_LABEL_V1: &[u8] = b"bedrock-private config MAC v1";
const MAC_LABEL_V2: &[u8] = b"bedrock-private config MAC v2";

/// Which MAC a file carries: format 1 covered every entry outside
/// `[encryption]`; format 2 covers every entry of the file but the MAC
/// itself, so the key's location and the generation are under it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacVersion {
    /// Format 1 files, read for compatibility.
    V1,
    /// What is written now.
    V2,
}
/// Label for deriving the public key id.
const KEY_ID_LABEL: &[u8] = b"bedrock-private key id v1";

/// A Fernet key that protects one configuration file.
#[derive(Clone)]
pub struct ConfigKey {
    text: Secret,
    fernet: fernet::Fernet,
    id: KeyId,
}

/// A short public fingerprint of a key, stored in the file so that a wrong
/// key is told apart from a tampered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyId(pub String);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfigKey({})", self.id)
    }
}

impl ConfigKey {
    /// A fresh random key.
    pub fn generate() -> ConfigKey {
        let text = Secret::new(fernet::Fernet::generate_key());
        ConfigKey::parse(text, "a generated key").expect("a generated key is valid")
    }

    /// Checks and wraps a key in URL-safe base64; `source_name` says where it
    /// came from for the error message.
    pub fn parse(text: Secret, source_name: &str) -> Result<ConfigKey> {
        let trimmed = Secret::new(text.expose().trim());
        let bad = || Error::BadKey {
            source_name: source_name.to_string(),
        };
        let fernet = fernet::Fernet::new(trimmed.expose()).ok_or_else(bad)?;
        let raw = zeroize::Zeroizing::new(URL_SAFE.decode(trimmed.expose()).map_err(|_| bad())?);
        let id = KeyId(hex(&hmac_sha256(&raw, KEY_ID_LABEL)[..8]));
        Ok(ConfigKey {
            text: trimmed,
            fernet,
            id,
        })
    }

    /// The key's public fingerprint.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The key itself, for writing to a key file.
    pub fn text(&self) -> &Secret {
        &self.text
    }

    /// Encrypts a value into a marked token: `ENC[fernet:...]`.
    pub fn encrypt(&self, plaintext: &Secret) -> String {
        format!(
            "{MARKER_PREFIX}{}{MARKER_SUFFIX}",
            self.fernet.encrypt(plaintext.expose().as_bytes())
        )
    }

    /// Decrypts a Fernet token the way Python's `cryptography` does without a
    /// TTL: any timestamp is accepted, because a configuration value does not
    /// expire and a file written on a machine whose clock ran ahead must still
    /// open. Returns `None` for a wrong key or a damaged token.
    pub fn decrypt_token(&self, token: &str) -> Option<Secret> {
        self.decrypt_at(token, None, 0)
    }

    /// Decrypts a token as the Fernet specification says: with a TTL, the
    /// token must be at most `ttl_secs` old at `now` and not more than 60 s
    /// in its future; without one, its timestamp is not checked at all
    /// (as in Python's `cryptography`).
    pub fn decrypt_at(&self, token: &str, ttl_secs: Option<u64>, now: u64) -> Option<Secret> {
        // The crate refuses timestamps more than 60 s after `now` even
        // without a TTL; with no TTL, the largest time that cannot overflow
        // turns that check off.
        let now = if ttl_secs.is_some() {
            now
        } else {
            u64::MAX - 60
        };
        let bytes = self
            .fernet
            .decrypt_at_time(token.trim(), ttl_secs, now)
            .ok()?;
        String::from_utf8(bytes).ok().map(Secret::new)
    }

    /// A bare Fernet token for `plaintext` stamped with time `now` (seconds
    /// since the epoch) and a random IV.
    pub fn token_at(&self, plaintext: &Secret, now: u64) -> String {
        self.fernet
            .encrypt_at_time(plaintext.expose().as_bytes(), now)
    }

    /// The MAC of a file's entries, in the form stored in the file.
    pub fn mac<'a>(
        &self,
        version: MacVersion,
        entries: impl IntoIterator<Item = MacEntry<'a>>,
    ) -> String {
        let raw = zeroize::Zeroizing::new(
            URL_SAFE
                .decode(self.text.expose())
                .expect("a parsed key decodes"),
        );
        let label = match version {
            MacVersion::V1 => MAC_LABEL_V1,
            MacVersion::V2 => MAC_LABEL_V2,
        };
        let mac_key = hmac_sha256(&raw, label);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&mac_key).expect("any key length");
        for entry in entries {
            for part in [entry.section, entry.key, entry.value] {
                mac.update(&(part.len() as u64).to_be_bytes());
                mac.update(part.as_bytes());
            }
        }
        format!("hmac-sha256:{}", hex(&mac.finalize().into_bytes()))
    }
}

/// One entry as the MAC sees it: section and key lower-cased (names match
/// case-insensitively), the value exactly as written.
#[derive(Debug, Clone, Copy)]
pub struct MacEntry<'a> {
    /// Lower-cased section name.
    pub section: &'a str,
    /// Lower-cased key name.
    pub key: &'a str,
    /// The value as written in the file.
    pub value: &'a str,
}

/// The token inside an `ENC[fernet:...]` value, if the value is one.
pub fn marked_token(value: &str) -> Option<&str> {
    value
        .strip_prefix(MARKER_PREFIX)
        .and_then(|v| v.strip_suffix(MARKER_SUFFIX))
}

/// The Fernet token inside a value written by the Python workshop tool
/// (standard base64 of the token), if the value is one.
pub fn python_token(value: &str) -> Option<String> {
    if !value.starts_with(PYTHON_PREFIX) {
        return None;
    }
    let bytes = STANDARD.decode(value.trim()).ok()?;
    let token = String::from_utf8(bytes).ok()?;
    token.starts_with("gAAAAA").then_some(token)
}

/// Whether a string is a well-formed Fernet key (used to spot the Python
/// tool's defect of storing the key where the access key belongs).
pub fn looks_like_fernet_key(value: &str) -> bool {
    fernet::Fernet::new(value.trim()).is_some()
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Lower-case hex of `bytes`: key ids, MACs, file names and the like.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_marker() {
        let key = ConfigKey::generate();
        let value = key.encrypt(&Secret::new("AKIAIOSFODNN7EXAMPLE"));
        assert!(value.starts_with("ENC[fernet:gAAAAA"), "{value}");
        let token = marked_token(&value).unwrap();
        assert_eq!(
            key.decrypt_token(token).unwrap().expose(),
            "AKIAIOSFODNN7EXAMPLE"
        );
        assert!(ConfigKey::generate().decrypt_token(token).is_none());
    }

    #[test]
    fn mac_depends_on_order_names_and_key() {
        let key = ConfigKey::generate();
        let a = MacEntry {
            section: "default",
            key: "accesskey",
            value: "x",
        };
        let b = MacEntry {
            section: "default",
            key: "secretkey",
            value: "y",
        };
        let swapped_a = MacEntry { value: "y", ..a };
        let swapped_b = MacEntry { value: "x", ..b };
        let v = MacVersion::V2;
        let m = key.mac(v, [a, b]);
        assert_eq!(m, key.mac(v, [a, b]));
        assert_ne!(m, key.mac(v, [b, a]));
        assert_ne!(m, key.mac(v, [swapped_a, swapped_b]));
        assert_ne!(m, ConfigKey::generate().mac(v, [a, b]));
        assert_ne!(m, key.mac(MacVersion::V1, [a, b]), "versions never agree");
    }

    #[test]
    fn key_id_is_stable_and_distinct() {
        let text = Secret::new("cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=");
        let k1 = ConfigKey::parse(text.clone(), "t").unwrap();
        let k2 = ConfigKey::parse(text, "t").unwrap();
        assert_eq!(k1.id(), k2.id());
        assert_eq!(k1.id().0.len(), 16);
        assert_ne!(k1.id(), ConfigKey::generate().id());
        assert!(format!("{k1:?}").starts_with("ConfigKey("));
    }

    #[test]
    fn bad_keys_are_rejected_by_source_name() {
        let err = ConfigKey::parse(Secret::new("not-a-key"), "KEYVAR").unwrap_err();
        assert!(
            err.to_string().starts_with("KEYVAR: not a Fernet key"),
            "{err}"
        );
    }

    #[test]
    fn python_values_are_recognised() {
        let token = "gAAAAABlGSkq-example";
        let value = STANDARD.encode(token);
        assert!(value.starts_with(PYTHON_PREFIX));
        assert_eq!(python_token(&value).as_deref(), Some(token));
        assert_eq!(python_token("AKIAIOSFODNN7EXAMPLE"), None);
    }
}

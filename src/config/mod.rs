//! The properties file: read line by line, its values decrypted with a key
//! kept apart from it, its MAC verified, its history checked, and its values
//! validated into a typed [`Config`].
//!
//! In pipeline order: [`document`] reads and rewrites the INI text,
//! [`keys`] finds the Fernet key, [`crypto`] decrypts and computes the MAC,
//! [`sealed`] opens a file in any of its formats and refuses what integrity
//! forbids, [`generation`] keeps the records that stop rollbacks, and
//! validation turns the decrypted values into a [`Config`].

pub mod crypto;
pub mod document;
pub mod generation;
pub mod keys;
pub mod sealed;
mod validate;

pub use validate::{
    Config, CredentialSource, DEFAULT_SECTION, EndpointUrl, KNOWN_KEYS, MODELS_SECTION, ModelAlias,
    Region, RoleArn, SENSITIVE_FIELDS, Validated, Value, Values, canonical_key, is_sensitive,
    parse_bool, resolve_relative, validate,
};

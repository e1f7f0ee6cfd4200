//! The properties file: read line by line, its values decrypted with a key
//! kept apart from it, its MAC verified, its history checked, and its values
//! validated into a typed [`Config`].
//!
//! In pipeline order: [`document`] reads and rewrites the INI text,
//! [`keys`] finds the Fernet key, [`crypto`] decrypts and computes the MAC,
//! [`sealed`] opens a file in any of its formats and refuses what integrity
//! forbids, `generation` keeps the records that stop rollbacks, [`schema`]
//! names every key, and validation turns the decrypted values into the
//! typed values of [`types`].

pub mod crypto;
pub mod document;
pub(crate) mod generation;
pub mod keys;
pub mod schema;
pub mod sealed;
pub mod types;
mod validate;

pub use schema::{DEFAULT_SECTION, MODELS_SECTION};
pub use types::{
    AccessKeys, BedrockEndpoint, Config, ConfigPath, CredentialSource, EndpointUrl, Mode,
    ModelAlias, Region, RoleArn, RoleToAssume,
};
pub use validate::{Validated, Value, Values, check_field, validate};

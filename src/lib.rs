//! Private, cross-account access to Amazon Bedrock from Cloud9 and EC2 shells.
//!
//! The library holds all the logic; the binaries in `src/bin/` only parse
//! arguments, call in here and turn the result into an exit code:
//!
//! - `encrypt-config` ([`encrypt_cli`]) encrypts the sensitive fields of a
//!   properties file with Fernet and seals it with a MAC.
//! - `invoke` reads such a file and calls Bedrock.

pub mod cache;
pub mod check;
pub mod config;
pub mod credentials;
pub mod crypto;
pub mod diagnose;
pub mod document;
pub mod encrypt;
pub mod encrypt_cli;
pub mod endpoint;
pub mod error;
pub mod families;
pub mod fsutil;
pub mod generation;
pub mod invoke;
pub mod invoke_cli;
pub mod keys;
pub mod logging;
pub mod model_choice;
pub mod output;
pub mod prompt;
pub mod request;
pub mod resolve;
pub mod sealed;
pub mod secret;
pub mod tls_probe;
pub mod transport;

pub use error::{Error, ExitCode, Result};
pub use secret::Secret;

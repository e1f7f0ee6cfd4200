//! Private, cross-account access to Amazon Bedrock from Cloud9 and EC2 shells.
//!
//! The library holds all the logic; the binaries in `src/bin/` only parse
//! arguments, call in here and turn the result into an exit code. The
//! modules follow the pipeline of a call:
//!
//! - [`config`]: the properties file, its key, its MAC and its typed values;
//! - [`aws`]: endpoints, the HTTP client, credentials, and what AWS answers;
//! - [`invoke`]: the request, the call and the reply (`invoke`);
//! - [`check`]: the path proved hop by hop (`invoke check`);
//! - [`encrypt`]: encrypting, changing and rotating a file (`encrypt-config`).
//!
//! Beside them: [`error`] (the one error type and exit-code table),
//! [`secret`] (the redacting type every secret lives in), [`fsutil`] (private
//! atomic writes), [`prompt`] (questions on the terminal), [`output`] and
//! [`logging`].

pub mod aws;
pub mod check;
pub mod config;
pub mod encrypt;
pub mod error;
pub mod fsutil;
pub mod invoke;
pub mod logging;
pub mod output;
pub mod prompt;
pub mod secret;

pub use error::{Error, ExitCode, Result};
pub use secret::Secret;

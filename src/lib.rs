//! Private, cross-account access to Amazon Bedrock from Cloud9 and EC2 shells.
//!
//! The library holds all the logic; the binaries in `src/bin/` only parse
//! arguments, call in here and turn the result into an exit code. The
//! modules follow the pipeline of a call:
//!
//! - [`config`]: the properties file, its key, its MAC and its typed values;
//! - [`aws`]: endpoints, the HTTP client, credentials, and what AWS answers;
//! - [`invoke`]: the request, the call and the reply (`invoke`);
//! - `check`: the path proved hop by hop (`invoke check`);
//! - [`encrypt`]: encrypting, changing and rotating a file (`encrypt-config`).
//!
//! Beside them: [`error`] (the one error type and exit-code table),
//! [`secret`] (the redacting type every secret lives in), [`fsutil`] (private
//! atomic writes), and, inside the crate, questions on the terminal, output
//! and logging.
//!
//! What is public is what a program other than the two binaries may use:
//! the sealed file format ([`config`]: open, verify, decrypt, seal), the
//! credential cache ([`aws::credentials::cache`]), the private writes of
//! [`fsutil`], and the binaries' entry points ([`invoke::cli::main`],
//! [`encrypt::cli::main`]). Everything else is `pub(crate)`, and the
//! `unreachable_pub` lint keeps it so.

pub mod aws;
pub(crate) mod check;
pub mod config;
pub mod encrypt;
pub mod error;
pub mod fsutil;
pub mod invoke;
pub(crate) mod logging;
pub(crate) mod output;
pub(crate) mod prompt;
pub mod secret;
pub(crate) mod serve;

pub use error::{Error, ExitCode, Result};
pub use secret::Secret;

//! The one error type of the library and the one table from error to exit code.
//!
//! Every variant names the file, section, key or flag it concerns and what was
//! expected, never a value that could be secret: callers may print any error
//! as it is. The exit codes follow the AWS CLI's so that scripts written for
//! one keep working with the other, plus one code of our own for integrity
//! failures, which need a different response (restore the file or find the
//! right key) from a merely invalid configuration.

use std::fmt;
use std::path::{Path, PathBuf};

/// The process exit codes, documented in `docs/exit-codes.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything worked.
    Ok,
    /// Interrupted by the user (Ctrl-C, or end of input at a prompt).
    Interrupted,
    /// A guardrail intervened; the reply is its message (`--guardrail-ok`
    /// makes this 0).
    Guardrail,
    /// The service answered, but no answer could be read from the reply.
    NoAnswer,
    /// `invoke check`: it works, but a hop would go over a public address.
    NotPrivate,
    /// The file was tampered with, or the key does not belong to it.
    Integrity,
    /// Bad command-line arguments, or a request the input does not allow.
    Usage,
    /// Invalid configuration or credentials.
    Config,
    /// The service returned an error.
    Service,
    /// Anything else, such as an I/O failure while writing.
    Other,
    /// `invoke exec`: the command ran, and this is its own exit code.
    Child(u8),
}

impl ExitCode {
    /// The numeric code handed to the operating system.
    pub fn code(self) -> u8 {
        match self {
            ExitCode::Ok => 0,
            ExitCode::Interrupted => 130,
            ExitCode::Guardrail => 248,
            ExitCode::NoAnswer => 249,
            ExitCode::NotPrivate => 250,
            ExitCode::Integrity => 251,
            ExitCode::Usage => 252,
            ExitCode::Config => 253,
            ExitCode::Service => 254,
            ExitCode::Other => 255,
            ExitCode::Child(code) => code,
        }
    }
}

/// Where in a properties file something was found: file, line, section, key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// One-based line number, when the thing is on a line of the file.
    pub line: Option<usize>,
    /// The section, as written in the file.
    pub section: String,
    /// The key, as written in the file, when the thing concerns one key.
    pub key: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": [{}]", self.section)?;
        if let Some(key) = &self.key {
            write!(f, " {key}")?;
        }
        Ok(())
    }
}

/// A network hop of a call: where a failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// The EC2 instance metadata service.
    Imds,
    /// AWS STS.
    Sts,
    /// The standard AWS credential chain (environment, profile, web
    /// identity, container, instance metadata), as a whole.
    Chain,
    /// AWS STS, called by the standard chain to trade a web identity token
    /// (`AWS_WEB_IDENTITY_TOKEN_FILE`) for the role in `AWS_ROLE_ARN`.
    WebIdentity,
    /// The Bedrock runtime endpoint.
    Bedrock,
    /// The Bedrock control plane (`bedrock.<region>`): model access.
    Control,
}

impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hop::Imds => "IMDS",
            Hop::Sts => "STS",
            Hop::WebIdentity => "STS (web identity)",
            Hop::Chain => "AWS credential chain",
            Hop::Bedrock => "Bedrock",
            Hop::Control => "Bedrock control plane",
        })
    }
}

/// What kind of remote failure, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteKind {
    /// The credentials were refused or could not be obtained (253).
    Credentials,
    /// The service answered with an error (254).
    Service,
    /// The service could not be reached: DNS, connect, TLS, timeout (255).
    Network,
}

/// Every way the library can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command-line argument was wrong or missing.
    #[error("{0}")]
    Usage(String),

    /// The user interrupted a prompt.
    #[error("interrupted: Ctrl-C, or the end of input before a question was answered")]
    Interrupted,

    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// The async runtime could not start (out of threads or memory).
    #[error("cannot start: {0}")]
    Runtime(std::io::Error),

    /// The reply held nothing that reads as an answer (no text, no tool
    /// use): its stop reason and the end of what arrived, redacted.
    #[error(
        "Bedrock: NoAnswer: no answer could be read from the reply (stop reason {stop}); what arrived ended with: {raw}"
    )]
    NoAnswer {
        /// The stop reason, or "(none)".
        stop: String,
        /// The end of the raw reply, with every secret removed.
        raw: String,
    },

    /// A guardrail intervened: the reply shown is its message.
    #[error(
        "Bedrock: GuardrailIntervened: a guardrail blocked the request or the reply; the text shown is the guardrail's message, not the model's (--guardrail-ok accepts it)"
    )]
    Guardrail,

    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// An output file exists and `--force` was not given.
    #[error("{} already exists; choose another path or pass --force to replace it", path.display())]
    OutputExists {
        /// The file that exists.
        path: PathBuf,
    },

    /// The properties file is not valid INI.
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// One-based line number.
        line: usize,
        /// What is wrong, never containing a value.
        message: String,
    },

    /// A value or the combination of values is invalid.
    #[error("{at}: {message}")]
    Invalid {
        /// Where.
        at: Location,
        /// What was expected, never containing a secret value.
        message: String,
    },

    /// The request does not fit the state of the input file
    /// (encrypting a file that is already encrypted, for example).
    #[error("{}: {message}", path.display())]
    Refused {
        /// The file.
        path: PathBuf,
        /// Why, and what to do instead.
        message: String,
    },

    /// No Fernet key could be found for an encrypted file.
    #[error("{}: {message}", path.display())]
    KeyNotFound {
        /// The configuration file.
        path: PathBuf,
        /// Where the key was looked for and how to supply it.
        message: String,
    },

    /// A Fernet key is malformed.
    #[error(
        "{source_name}: not a Fernet key (expected 32 bytes in URL-safe base64, 44 characters)"
    )]
    BadKey {
        /// Where the key came from (a path or an environment variable).
        source_name: String,
    },

    /// A key file cannot be used: not a regular file, too large, not text,
    /// or owned by someone else.
    #[error("{}: {message}", path.display())]
    BadKeyFile {
        /// The key file.
        path: PathBuf,
        /// Why, and what to do.
        message: String,
    },

    /// A remote hop failed. The message and hint have had every secret of
    /// the configuration removed.
    #[error("{hop}: {code}: {message}{}", hint.as_ref().map(|h| format!("\n  likely cause: {h}")).unwrap_or_default())]
    Remote {
        /// Which hop.
        hop: Hop,
        /// AWS's error code, or a short name for a network failure.
        code: String,
        /// AWS's message, or what failed.
        message: String,
        /// The likely cause and what to do.
        hint: Option<String>,
        /// Which exit code it gets.
        kind: RemoteKind,
    },

    /// Integrity failure: the MAC does not match, is missing, a value cannot
    /// be decrypted, or the key belongs to another file.
    #[error("{}: integrity check failed: {message}", path.display())]
    Integrity {
        /// The configuration file.
        path: PathBuf,
        /// What failed and what it usually means.
        message: String,
    },
}

impl Error {
    /// The error as `--output json` reports it: machine fields (`hop`,
    /// `code`, `file`, `line`, `section`, `key`) where the error has them,
    /// and the same `message` and `hint` a person reads on stderr.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let mut v = match self {
            Error::Remote {
                hop,
                code,
                message,
                hint,
                ..
            } => json!({"hop": hop.to_string(), "code": code, "message": message, "hint": hint}),
            Error::Invalid { at, message } => json!({
                "file": at.file, "line": at.line, "section": at.section, "key": at.key,
                "message": message,
            }),
            Error::Syntax {
                path,
                line,
                message,
            } => json!({"file": path, "line": line, "message": message}),
            other => json!({"message": other.to_string()}),
        };
        v["exit_code"] = self.exit_code().code().into();
        json!({ "schema": crate::output::SCHEMA, "error": v })
    }

    /// The exit code for this error: the single table the binaries use.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) | Error::OutputExists { .. } | Error::Refused { .. } => ExitCode::Usage,
            Error::Interrupted => ExitCode::Interrupted,
            Error::Read { .. }
            | Error::Syntax { .. }
            | Error::Invalid { .. }
            | Error::KeyNotFound { .. }
            | Error::BadKey { .. }
            | Error::BadKeyFile { .. } => ExitCode::Config,
            Error::Integrity { .. } => ExitCode::Integrity,
            Error::Remote { kind, .. } => match kind {
                RemoteKind::Credentials => ExitCode::Config,
                RemoteKind::Service => ExitCode::Service,
                RemoteKind::Network => ExitCode::Other,
            },
            Error::Write { .. } | Error::Runtime(_) => ExitCode::Other,
            Error::NoAnswer { .. } => ExitCode::NoAnswer,
            Error::Guardrail => ExitCode::Guardrail,
        }
    }

    /// A remote failure with its code, message or hint changed by `edit`,
    /// for a caller that knows more than the place that diagnosed it; any
    /// other error is returned as it is.
    pub(crate) fn map_remote(
        self,
        edit: impl FnOnce(&mut String, &mut String, &mut Option<String>),
    ) -> Error {
        match self {
            Error::Remote {
                hop,
                mut code,
                mut message,
                mut hint,
                kind,
            } => {
                edit(&mut code, &mut message, &mut hint);
                Error::Remote {
                    hop,
                    code,
                    message,
                    hint,
                    kind,
                }
            }
            other => other,
        }
    }

    /// Shorthand for an integrity error on `path`.
    pub(crate) fn integrity(path: &Path, message: impl Into<String>) -> Error {
        Error::Integrity {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// Shorthand for a refusal on `path`.
    pub(crate) fn refused(path: &Path, message: impl Into<String>) -> Error {
        Error::Refused {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Parses a command line with clap; on failure prints clap's message and
/// returns the exit code from the table: 0 for `--help` and `--version`,
/// [`ExitCode::Usage`] for a mistake (clap's own code would be 2).
///
/// With `--output json` on the command line, a mistake is also the usual
/// JSON error object on stdout, as every other failure is.
pub fn parse_args<T: clap::Parser>(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> std::result::Result<T, ExitCode> {
    let args: Vec<std::ffi::OsString> = args.into_iter().collect();
    T::try_parse_from(&args).map_err(|e| {
        let _ = e.print();
        if !e.use_stderr() {
            return ExitCode::Ok;
        }
        if wants_json(&args) {
            let first = e
                .render()
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_string();
            crate::output::print_json(&Error::Usage(first).to_json());
        }
        ExitCode::Usage
    })
}

/// Whether the command line asks for `--output json`.
fn wants_json(args: &[std::ffi::OsString]) -> bool {
    let args: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    args.contains(&"--output=json")
        || args
            .windows(2)
            .any(|w| w[0] == "--output" && w[1] == "json")
}

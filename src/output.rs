//! How `invoke` shows things: the reply on stdout as it arrives, what it is
//! doing on stderr, and one JSON object with `--output json`.

use serde::Serialize;
use std::io::{IsTerminal, Write};

/// Whether colour may be used: a terminal, and no `NO_COLOR`.
pub fn colour_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Whether colour may be used on stdout: a terminal, and no `NO_COLOR`.
pub fn colour_allowed_stdout() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// A time as ISO 8601 in UTC to the second (`2026-12-02T09:15:00Z`), as
/// AWS writes credential expiries.
pub fn iso_time(t: std::time::SystemTime) -> String {
    use aws_smithy_types::date_time::{DateTime, Format};
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| format!("{secs} s after 1970"))
}

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Text as it arrives, details on stderr.
    #[default]
    Text,
    /// One JSON object on stdout at the end.
    Json,
}

/// A line on stderr about what the tool does.
pub fn note(label: &str, text: &str) {
    if colour_allowed() {
        eprintln!("\x1b[2minvoke: {label:<11}\x1b[0m {text}");
    } else {
        eprintln!("invoke: {label:<11} {text}");
    }
}

/// Writes reply text to stdout as it arrives.
#[derive(Debug, Default)]
pub struct Reply {
    /// Everything written so far.
    pub text: String,
    /// Whether to print (not in JSON mode).
    pub print: bool,
}

impl Reply {
    /// Appends and prints a piece of text.
    pub fn push(&mut self, piece: &str) {
        if piece.is_empty() {
            return;
        }
        self.text.push_str(piece);
        if self.print {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(piece.as_bytes());
            let _ = out.flush();
        }
    }

    /// Ends the printed text with a newline.
    pub fn finish(&self) {
        if self.print && !self.text.is_empty() && !self.text.ends_with('\n') {
            println!();
        }
    }
}

/// The result of a call, as `--output json` prints it.
#[derive(Debug, Serialize)]
pub struct CallReport {
    /// The reply text.
    pub text: String,
    /// Model id.
    pub model: String,
    /// Alias, if chosen by one.
    pub alias: Option<String>,
    /// Operation used.
    pub operation: String,
    /// Endpoint.
    pub endpoint: EndpointReport,
    /// Credentials.
    pub credentials: CredentialsReport,
    /// Stop reason.
    pub stop_reason: Option<String>,
    /// Token usage.
    pub usage: Usage,
    /// Timings.
    pub timings_ms: Timings,
}

/// The endpoint part of a report.
#[derive(Debug, Serialize)]
pub struct EndpointReport {
    /// `vpc`, `public`, `environment` or `flag`.
    pub kind: String,
    /// The URL as shown (a VPC endpoint id masked).
    pub url: String,
}

/// The credentials part of a report.
#[derive(Debug, Serialize)]
pub struct CredentialsReport {
    /// `sigv4` or `bearer`: what authenticated the call.
    pub auth: &'static str,
    /// How they were obtained.
    pub source: String,
    /// The access key id, redacted; none for a bearer token.
    pub access_key_id: Option<String>,
}

/// Token counts.
#[derive(Debug, Serialize, Default, Clone, Copy)]
pub struct Usage {
    /// Input tokens.
    pub input_tokens: Option<u64>,
    /// Output tokens.
    pub output_tokens: Option<u64>,
}

/// Timings in milliseconds.
#[derive(Debug, Serialize, Default, Clone, Copy)]
pub struct Timings {
    /// From sending the request to the first text.
    pub first_token: Option<f64>,
    /// From sending the request to the end of the reply.
    pub total: f64,
}

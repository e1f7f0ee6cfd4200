//! The reply as it arrives: text on stdout as it streams (never in JSON
//! mode), the time to the first token, and the report `--output json`
//! prints at the end.

use serde::Serialize;
use std::io::Write;
use std::time::{Duration, Instant};

/// Reply text, printed as it arrives and kept.
#[derive(Debug)]
pub(crate) struct Reply {
    /// Everything received so far.
    pub(crate) text: String,
    /// Whether to print (not in JSON mode).
    print: bool,
    /// When the request was sent.
    started: Instant,
    /// When the first text arrived, after `started`.
    first_token: Option<Duration>,
}

impl Reply {
    /// A reply to a request sent now.
    pub(crate) fn new(print: bool) -> Reply {
        Reply {
            text: String::new(),
            print,
            started: Instant::now(),
            first_token: None,
        }
    }

    /// Appends and prints a piece of text.
    pub(crate) fn push(&mut self, piece: &str) {
        if piece.is_empty() {
            return;
        }
        if self.first_token.is_none() {
            self.first_token = Some(self.started.elapsed());
        }
        self.text.push_str(piece);
        if self.print {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(piece.as_bytes());
            let _ = out.flush();
        }
    }

    /// Ends the printed text with a newline.
    pub(crate) fn finish(&self) {
        if self.print && !self.text.is_empty() && !self.text.ends_with('\n') {
            println!();
        }
    }

    /// Time to the first text, and in all.
    pub(crate) fn timings(&self) -> Timings {
        Timings {
            first_token: self.first_token.map(ms),
            total: ms(self.started.elapsed()),
        }
    }
}

/// Milliseconds, to the microsecond.
pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The result of a call, as `--output json` prints it.
#[derive(Debug, Serialize)]
pub(crate) struct CallReport {
    /// The reply text.
    pub(crate) text: String,
    /// Model id.
    pub(crate) model: String,
    /// Alias, if chosen by one.
    pub(crate) alias: Option<String>,
    /// Operation used.
    pub(crate) operation: String,
    /// Endpoint.
    pub(crate) endpoint: EndpointReport,
    /// Credentials.
    pub(crate) credentials: CredentialsReport,
    /// Stop reason.
    pub(crate) stop_reason: Option<String>,
    /// Token usage.
    pub(crate) usage: Usage,
    /// Timings.
    pub(crate) timings_ms: Timings,
}

/// The endpoint part of a report.
#[derive(Debug, Serialize)]
pub(crate) struct EndpointReport {
    /// Where it came from: `vpc`, `flag`, `environment`, `aws-config-file`, `public`.
    pub(crate) kind: String,
    /// The URL as shown (a VPC endpoint id masked).
    pub(crate) url: String,
}

/// The credentials part of a report.
#[derive(Debug, Serialize)]
pub(crate) struct CredentialsReport {
    /// `sigv4` or `bearer`: what authenticated the call.
    pub(crate) auth: &'static str,
    /// How they were obtained.
    pub(crate) source: String,
    /// The access key id, redacted; none for a bearer token.
    pub(crate) access_key_id: Option<String>,
}

/// Token counts.
#[derive(Debug, Serialize, Default, Clone, Copy)]
pub(crate) struct Usage {
    /// Input tokens.
    pub(crate) input_tokens: Option<u64>,
    /// Output tokens.
    pub(crate) output_tokens: Option<u64>,
}

/// Timings in milliseconds.
#[derive(Debug, Serialize, Default, Clone, Copy)]
pub(crate) struct Timings {
    /// From sending the request to the first text.
    pub(crate) first_token: Option<f64>,
    /// From sending the request to the end of the reply.
    pub(crate) total: f64,
}

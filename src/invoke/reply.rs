//! The reply as it arrives: text on stdout as it streams (never in JSON
//! mode), the time to the first token, and the report `--output json`
//! prints at the end.

use super::replies::{Piece, ToolUse};
use serde::Serialize;
use std::io::Write;
use std::time::{Duration, Instant};

/// The most of a raw reply kept, to show when no answer can be read.
const RAW_TAIL: usize = 2048;

/// A reply as it arrives: the answer printed on stdout, the reasoning on
/// stderr (text mode only), and everything kept for the report.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The answer received so far.
    pub(crate) text: String,
    /// The model's reasoning, when it shows it.
    pub(crate) reasoning: String,
    /// Tools the model asks to be called.
    pub(crate) tool_uses: Vec<ToolUse>,
    /// Sources the answer cites.
    pub(crate) citations: Vec<String>,
    /// Whether a guardrail intervened (the text is then its message).
    pub(crate) guardrail: bool,
    /// Whether a stream had begun (its first bytes arrived) when it ended.
    pub(crate) streaming: bool,
    /// A tool-use request whose input is still arriving: name and JSON so far.
    pending_tool: Option<(String, String)>,
    /// The end of the raw reply (bodies, chunks, or the kinds of blocks).
    raw: String,
    /// Whether to print (not in JSON mode).
    print: bool,
    /// Whether the reasoning's label was printed.
    reasoning_shown: bool,
    /// Whether the closing newline was printed.
    finished: std::cell::Cell<bool>,
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
            reasoning: String::new(),
            tool_uses: Vec::new(),
            citations: Vec::new(),
            guardrail: false,
            streaming: false,
            pending_tool: None,
            raw: String::new(),
            print,
            reasoning_shown: false,
            finished: std::cell::Cell::new(false),
            started: Instant::now(),
            first_token: None,
        }
    }

    /// Appends and prints a piece of the answer.
    pub(crate) fn push(&mut self, piece: &str) {
        if piece.is_empty() {
            return;
        }
        if self.first_token.is_none() {
            self.first_token = Some(self.started.elapsed());
        }
        crate::output::waiting_done();
        if self.print && self.reasoning_shown && self.text.is_empty() {
            eprintln!();
        }
        self.text.push_str(piece);
        if self.print {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(piece.as_bytes());
            let _ = out.flush();
        }
    }

    /// Appends and shows a piece of reasoning, on stderr: it is not the answer.
    pub(crate) fn reason(&mut self, piece: &str) {
        if piece.is_empty() {
            return;
        }
        self.reasoning.push_str(piece);
        crate::output::waiting_done();
        if self.print {
            if !self.reasoning_shown {
                crate::output::note("reasoning", "");
                self.reasoning_shown = true;
            }
            eprint!("{piece}");
        }
    }

    /// Takes what a piece of an InvokeModel reply holds.
    pub(crate) fn take(&mut self, p: Piece) {
        self.reason(&p.reasoning);
        self.push(&p.text);
        if let Some(name) = p.tool_start {
            self.tool_done();
            self.pending_tool = Some((name, String::new()));
        }
        if let Some((_, input)) = &mut self.pending_tool {
            input.push_str(&p.tool_input);
        }
        self.tool_uses.extend(p.tool_uses);
        self.guardrail |= p.guardrail;
    }

    /// A tool-use request whose input arrives in parts begins.
    pub(crate) fn tool_start(&mut self, name: &str) {
        self.tool_done();
        self.pending_tool = Some((name.to_string(), String::new()));
    }

    /// A part of the current tool-use request's input.
    pub(crate) fn tool_input(&mut self, part: &str) {
        if let Some((_, input)) = &mut self.pending_tool {
            input.push_str(part);
        }
    }

    /// The current tool-use request is complete.
    pub(crate) fn tool_done(&mut self) {
        if let Some((name, input)) = self.pending_tool.take() {
            let input = serde_json::from_str(&input).unwrap_or(serde_json::Value::String(input));
            self.tool_uses.push(ToolUse { name, input });
        }
    }

    /// Keeps the end of what arrived raw, to show if no answer is found in it.
    pub(crate) fn raw(&mut self, part: &str) {
        self.raw.push_str(part);
        if self.raw.len() > 2 * RAW_TAIL {
            let cut = self.raw.len() - RAW_TAIL;
            let cut = (cut..self.raw.len())
                .find(|i| self.raw.is_char_boundary(*i))
                .unwrap_or(0);
            self.raw.drain(..cut);
        }
    }

    /// The end of the raw reply, at most [`RAW_TAIL`] bytes.
    pub(crate) fn raw_tail(&self) -> &str {
        let start = self.raw.len().saturating_sub(RAW_TAIL);
        let start = (start..=self.raw.len())
            .find(|i| self.raw.is_char_boundary(*i))
            .unwrap_or(0);
        &self.raw[start..]
    }

    /// Whether the reply holds an answer: text, or a tool-use request.
    pub(crate) fn answered(&self) -> bool {
        !self.text.trim().is_empty() || !self.tool_uses.is_empty()
    }

    /// Whether the answer is printed as it arrives (not in JSON mode).
    pub(crate) fn printing(&self) -> bool {
        self.print
    }

    /// Ends the printed text with a newline, once.
    pub(crate) fn finish(&self) {
        if self.finished.replace(true) || !self.print {
            return;
        }
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            println!();
        } else if self.text.is_empty() && self.reasoning_shown {
            eprintln!();
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
    /// The JSON schema's version ([`crate::output::SCHEMA`]).
    pub(crate) schema: &'static str,
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
    /// The model's reasoning, when it showed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reasoning: Option<String>,
    /// Tools the model asks to be called.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) tool_use: Vec<ToolUse>,
    /// Sources the answer cites.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) citations: Vec<String>,
    /// Whether a guardrail intervened.
    pub(crate) guardrail_intervened: bool,
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

//! How the tools show things: data on stdout, what they are doing on
//! stderr, colour only on a terminal and never with `NO_COLOR`, and one JSON
//! object with `--output json`.

use std::io::IsTerminal;

/// Whether colour may be used: a terminal, and no `NO_COLOR`.
pub(crate) fn colour_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Whether colour may be used on stdout: a terminal, and no `NO_COLOR`.
pub(crate) fn colour_allowed_stdout() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// A time as ISO 8601 in UTC to the second (`2026-12-02T09:15:00Z`), as
/// AWS writes credential expiries.
pub(crate) fn iso_time(t: std::time::SystemTime) -> String {
    use aws_smithy_types::date_time::{DateTime, Format};
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| format!("{secs} s after 1970"))
}

/// The version of the JSON that `--output json` prints, in every object
/// (`invoke`, `check`, `--dry-run`, `models`, errors): bumped when a field
/// changes meaning or goes away, not when one is added.
pub(crate) const SCHEMA: &str = "bedrock-private/1";

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum Format {
    /// Text as it arrives, details on stderr.
    #[default]
    Text,
    /// One JSON object on stdout at the end.
    Json,
}

/// `--quiet`: no notes.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Turns the notes off (`--quiet`) or on.
pub(crate) fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

/// A line on stderr about what the tool does, unless `--quiet`.
pub(crate) fn note(label: &str, text: &str) {
    waiting_done();
    if QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    if colour_allowed() {
        eprintln!("\x1b[2minvoke: {label:<11}\x1b[0m {text}");
    } else {
        eprintln!("invoke: {label:<11} {text}");
    }
}

/// Whether the "waiting" line is on the terminal, to be erased.
static WAITING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Shows that the request is out and the first word not yet in: on a
/// terminal only (stderr and stdout both), never with `--quiet`, and
/// erased by [`waiting_done`] before anything else is written there.
pub(crate) fn waiting(what: &str) {
    if QUIET.load(std::sync::atomic::Ordering::Relaxed)
        || !std::io::stderr().is_terminal()
        || !std::io::stdout().is_terminal()
    {
        return;
    }
    eprint!("\x1b[2minvoke: {what}…\x1b[0m");
    WAITING.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Erases the line [`waiting`] showed, if it is there.
pub(crate) fn waiting_done() {
    if WAITING.swap(false, std::sync::atomic::Ordering::Relaxed) {
        eprint!("\r\x1b[K");
    }
}

/// Whether a JSON object went to stdout: `--output json` prints one.
static JSON_PRINTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a JSON object was printed already (an error found after the
/// report, such as a guardrail's intervention, is then on stderr only).
pub(crate) fn json_printed() -> bool {
    JSON_PRINTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn print_json(value: &impl serde::Serialize) {
    JSON_PRINTED.store(true, std::sync::atomic::Ordering::Relaxed);
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: the JSON output could not be written: {e}"),
    }
}

/// Prints name-value rows: aligned text, or one JSON object.
pub(crate) fn print_rows(rows: &[(&str, String)], format: Format) {
    match format {
        Format::Text => {
            for (k, v) in rows {
                println!("{k:<12} {v}");
            }
        }
        Format::Json => {
            let map: serde_json::Map<String, serde_json::Value> =
                std::iter::once(("schema".to_string(), SCHEMA.into()))
                    .chain(rows.iter().map(|(k, v)| (k.to_string(), v.clone().into())))
                    .collect();
            print_json(&map);
        }
    }
}

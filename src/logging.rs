//! Diagnostic logs on stderr, off unless asked for.
//!
//! Logs go to stderr only (stdout carries data) and never to files unless a
//! user asks. Everything logged passes through types whose formatting is
//! redacted ([`crate::Secret`]), so `--debug` is safe to paste into an issue.

use tracing_subscriber::fmt::format::FmtSpan;

/// Starts logging at debug level when `debug` is set, else warnings only.
pub fn init(debug: bool) {
    let level = if debug {
        tracing::Level::DEBUG
    } else {
        tracing::Level::WARN
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .with_span_events(FmtSpan::NONE)
        .try_init();
}

//! Diagnostic logs on stderr, off unless asked for.
//!
//! Logs go to stderr (stdout carries data), or to a file only when a user
//! names one. Everything this crate logs passes through types whose
//! formatting is redacted ([`crate::Secret`]). The AWS crates' own logs are
//! off at every level: even their warnings quote AWS's messages whole (an
//! AssumeRole refusal names the role ARN, a secret here), and every failure
//! they would warn about reaches the user through [`crate::diagnose`],
//! scrubbed. The level
//! can be raised after start, because `Debug = true` is only known once the
//! config has been read.

use std::path::Path;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{Registry, reload};

/// A handle to raise the level later.
pub struct Logging {
    handle: Option<reload::Handle<Targets, Registry>>,
}

fn filter(debug: bool) -> Targets {
    let ours = if debug {
        LevelFilter::DEBUG
    } else {
        LevelFilter::WARN
    };
    Targets::new()
        .with_target("bedrock_private", ours)
        .with_default(LevelFilter::OFF)
}

/// Starts logging: debug for this crate when `debug`, else warnings only;
/// to `file` (appended) when given, else stderr.
pub fn init(debug: bool, file: Option<&Path>) -> std::io::Result<Logging> {
    let writer = match file {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            BoxMakeWriter::new(std::sync::Mutex::new(f))
        }
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let (layer, handle) = reload::Layer::new(filter(debug));
    let installed = tracing_subscriber::registry()
        .with(layer)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_target(false)
                .with_ansi(file.is_none() && crate::output::colour_allowed()),
        )
        .try_init()
        .is_ok();
    Ok(Logging {
        handle: installed.then_some(handle),
    })
}

impl Logging {
    /// Raises this crate's logs to debug.
    pub fn enable_debug(&self) {
        if let Some(h) = &self.handle {
            let _ = h.modify(|f| *f = filter(true));
        }
    }
}

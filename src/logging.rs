//! Diagnostic logs on stderr, off unless asked for.
//!
//! Logs go to stderr (stdout carries data), or to a file only when a user
//! names one: a private file, never reached through a link. Everything this crate logs passes through types whose
//! formatting is redacted ([`crate::Secret`]). The AWS crates' own logs are
//! off at every level: even their warnings quote AWS's messages whole (an
//! AssumeRole refusal names the role ARN, a secret here), and every failure
//! they would warn about reaches the user through [`crate::aws::diagnose`],
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
pub(crate) struct Logging {
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
/// to `file` (appended, see [`open_log_file`]) when given, else stderr.
pub(crate) fn init(debug: bool, file: Option<&Path>) -> std::io::Result<Logging> {
    let mut tightened = None;
    let writer = match file {
        Some(path) => {
            let (f, was) = open_log_file(path)?;
            tightened = was;
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
    if let (Some(mode), Some(path)) = (tightened, file) {
        tracing::warn!(
            "log file {} was open to group or others (mode {mode:03o}); it is now 0600",
            path.display()
        );
    }
    Ok(Logging {
        handle: installed.then_some(handle),
    })
}

#[cfg(unix)]
const NOT_REGULAR: &str =
    "is not a regular file (a FIFO, device or folder); give the path of a regular file";

/// Opens the `--log-file` for appending: created with mode 0600, never
/// through a symbolic link (whoever can write the folder could point one at
/// a file of the user's, or at a place they can read), never a FIFO or
/// device. An existing regular file must belong to the user; if group or
/// others can read or write it, it is set to 0600 and its old mode
/// returned, so the logs after it are as private as a new file's.
#[cfg(unix)]
pub(crate) fn open_log_file(path: &Path) -> std::io::Result<(std::fs::File, Option<u32>)> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let refuse =
        |why: String| std::io::Error::other(format!("--log-file {}: {why}", path.display()));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        // O_NONBLOCK: opening a FIFO must not wait for a reader.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => refuse(
                "is a symbolic link; logs are never written through one: give the path of a regular file"
                    .into(),
            ),
            // A FIFO without a reader, opened without waiting for one.
            Some(libc::ENXIO) => refuse(NOT_REGULAR.into()),
            _ => refuse(e.to_string()),
        })?;
    let meta = file.metadata().map_err(|e| refuse(e.to_string()))?;
    if !meta.file_type().is_file() {
        return Err(refuse(NOT_REGULAR.into()));
    }
    let me = crate::fsutil::current_uid();
    if meta.uid() != me {
        return Err(refuse(format!(
            "belongs to another user (uid {}); logs go only to a file of your own",
            meta.uid()
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    let mut tightened = None;
    if mode & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| refuse(format!("cannot set it to mode 0600: {e}")))?;
        tightened = Some(mode);
    }
    Ok((file, tightened))
}

/// Opens the `--log-file` for appending (no modes outside Unix).
#[cfg(not(unix))]
pub(crate) fn open_log_file(path: &Path) -> std::io::Result<(std::fs::File, Option<u32>)> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| std::io::Error::other(format!("--log-file {}: {e}", path.display())))?;
    Ok((file, None))
}

impl Logging {
    /// Raises this crate's logs to debug.
    pub(crate) fn enable_debug(&self) {
        if let Some(h) = &self.handle {
            let _ = h.modify(|f| *f = filter(true));
        }
    }
}

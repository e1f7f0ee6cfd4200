//! What was seen before: each config path pinned to its key, file id and
//! generation in the state folder, and the highest generation of each file
//! recorded beside its key. A file that does not fit what was seen (a
//! downgrade, another key, another config, an older generation) is refused;
//! a reader that can record nothing says that rollback protection is off.

use super::{Format, KeyOptions, Lineage, Opened, require_sealed_error};
use crate::config::crypto::ConfigKey;
use crate::config::generation::{self, Pin};
use crate::config::keys::KeyOrigin;
use crate::error::{Error, Result};
use std::path::Path;

/// What a sealed format 2 file is: its pin, and what made it.
struct Sealing<'a> {
    pin: Pin,
    key: &'a ConfigKey,
    origin: &'a KeyOrigin,
    lineage: &'a Lineage,
}

/// What a config at this path is now, for the records: `None` for an
/// unsealed or format 1 file.
fn sealing(opened: &Opened) -> Option<Sealing<'_>> {
    match (&opened.key, &opened.lineage) {
        (Some((key, origin)), Some(lineage)) if opened.format == Format::Sealed => Some(Sealing {
            pin: Pin {
                key_id: key.id().0.clone(),
                file_id: lineage.file_id.clone(),
                generation: lineage.generation,
            },
            key,
            origin,
            lineage,
        }),
        _ => None,
    }
}

/// Checks an opened file against what was seen before, and records it.
/// Refuses what does not fit; warns (or refuses under `--require-sealed`)
/// when nothing could be recorded.
pub(super) fn check_history(opened: &mut Opened, opts: &KeyOptions) -> Result<()> {
    let path = opened.doc.path().to_path_buf();
    let canonical = generation::pin_key(&path);
    let state = opts.state_dir.as_deref();
    let pins = state.map(generation::pins_path);
    let seen = pins
        .as_ref()
        .map(|p| generation::pinned(p, &canonical))
        .unwrap_or_default();
    let current = sealing(opened);
    if let Some(pins) = &pins
        && let Some(problem) = pin_problem(opened.format, current.as_ref().map(|c| &c.pin), &seen)
    {
        return Err(Error::integrity(
            &path,
            format!(
                "{problem}. Restore the config that was here; if you replaced it on purpose, delete the \
                 line for {} from {}",
                canonical.display(),
                pins.display()
            ),
        ));
    }
    let Some(current) = current else {
        return Ok(());
    };
    let beside = generation::record_path(current.origin, state)
        .filter(|_| *current.origin != KeyOrigin::Embedded);
    let id = current.lineage.record_id(current.key.id());
    let beside_seen = beside.as_ref().and_then(|r| generation::highest(r, &id));
    check_record(&path, &current, beside.as_deref(), beside_seen)?;
    let already = |p: &[Pin]| matches!(p, [only] if *only == current.pin);
    let pinned = pins.as_ref().is_some_and(|pins| {
        already(&seen)
            || record(generation::pin(
                pins,
                &canonical,
                &current.pin,
                generation::PinChange::Seen,
            ))
    });
    let noted = beside.as_ref().is_some_and(|r| {
        beside_seen == Some(current.lineage.generation)
            || record(generation::note(r, &id, current.lineage.generation))
    });
    if pinned || noted {
        return Ok(());
    }
    // Reading must not fail because a folder is read-only; but a reader
    // that can record nothing at all has no rollback protection, and says so.
    let message = format!(
        "{}: rollback protection is off: neither the key's folder nor a state folder could record this \
         file's generation (set {} or HOME to a folder you can write)",
        path.display(),
        generation::STATE_ENV
    );
    if opts.require_sealed {
        return Err(require_sealed_error(&path, &message));
    }
    opened.warnings.push(message);
    Ok(())
}

/// Whether a record was written; a failure is only logged, since reading
/// must not fail because a folder is read-only.
fn record(result: Result<()>) -> bool {
    match result {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(error = %e, "not recorded");
            false
        }
    }
}

/// What is wrong with the file now at a path, given the pins seen there.
fn pin_problem(format: Format, current: Option<&Pin>, seen: &[Pin]) -> Option<String> {
    let first = seen.first()?;
    let matching = current.and_then(|now| {
        seen.iter()
            .find(|p| p.key_id == now.key_id && p.file_id == now.file_id)
    });
    match (current, matching) {
        (None, _) if format != Format::Sealed => Some(format!(
            "the file is not sealed, but a config sealed with key {} was opened at this path before: \
             a sealed file has been replaced by an unsealed one (a downgrade)",
            first.key_id
        )),
        (None, _) => Some(format!(
            "the file is sealed in format 1, but a format 2 config (key {}) was opened at this path before: \
             an older copy has been put back",
            first.key_id
        )),
        (Some(now), Some(p)) if now.generation < p.generation => Some(format!(
            "rollback: this is generation {} of the file, but generation {} was opened at this path \
             before: an older copy has been put back in place of the newest, and with it older values",
            now.generation, p.generation
        )),
        (Some(_), Some(_)) => None,
        (Some(now), None) if seen.iter().all(|p| p.key_id != now.key_id) => Some(format!(
            "sealed with key {}, but the config opened at this path before was sealed with key {}: \
             the file has been resealed with another key",
            now.key_id, first.key_id
        )),
        (Some(now), None) => Some(format!(
            "this is config {} (key {}), but config {} was opened at this path before: another config \
             sealed with the same key has been put in its place",
            now.file_id, now.key_id, first.file_id
        )),
    }
}

/// Refuses a generation older than the one recorded beside the key.
fn check_record(
    path: &Path,
    current: &Sealing<'_>,
    record: Option<&Path>,
    seen: Option<u64>,
) -> Result<()> {
    let (Some(record), Some(seen)) = (record, seen) else {
        return Ok(());
    };
    if current.lineage.generation >= seen {
        return Ok(());
    }
    Err(Error::integrity(
        path,
        format!(
            "rollback: this is generation {} of the file, but generation {seen} was opened before \
             (recorded in {}): an older copy has been put back in place of the newest, and with it older \
             values. Restore the newest copy; if you put this one back on purpose, delete the line for {} \
             from that record",
            current.lineage.generation,
            record.display(),
            current.lineage.record_id(current.key.id())
        ),
    ))
}

/// Records a file `encrypt-config` is about to write (`written` false) or
/// has written (`written` true): the path's pin, and after the write the
/// generation beside its key, so that the copy it replaced can no longer be
/// put back. Pinning before the write as well keeps a run that stops
/// between the two from locking the user out of either file. Returns a
/// warning when nothing could be recorded.
pub(crate) fn record_write(
    config: &Path,
    key: &ConfigKey,
    origin: &KeyOrigin,
    lineage: &Lineage,
    state: Option<&Path>,
    written: bool,
) -> Option<String> {
    let pin = generation::Pin {
        key_id: key.id().0.clone(),
        file_id: lineage.file_id.clone(),
        generation: lineage.generation,
    };
    let change = match written {
        true => generation::PinChange::Written,
        false => generation::PinChange::Expected,
    };
    let pinned = state
        .map(|s| {
            generation::pin(
                &generation::pins_path(s),
                &generation::pin_key(config),
                &pin,
                change,
            )
            .is_ok()
        })
        .unwrap_or(false);
    if !written {
        return None;
    }
    let noted = generation::record_path(origin, state)
        .filter(|_| *origin != KeyOrigin::Embedded)
        .map(|record| {
            generation::note(&record, &lineage.record_id(key.id()), lineage.generation).is_ok()
        })
        .unwrap_or(false);
    (!pinned && !noted).then(|| {
        format!(
            "{}: generation {} could not be recorded (set {} or HOME to a folder you can write): \
             an older copy could be put back unnoticed",
            config.display(),
            lineage.generation,
            generation::STATE_ENV
        )
    })
}

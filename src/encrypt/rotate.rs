//! `encrypt-config --rotate CONFIG`: every field re-encrypted with a new
//! key, which goes where the old one was; the key file holds both keys
//! until the new config is in place.

use super::{Outcome, Store, by_line, check_next, commit, next_lineage, recorded};
use crate::config::crypto::{self, ConfigKey};
use crate::config::keys::{KEY_ENV, KeyOptions, KeyOrigin};
use crate::config::sealed::{self, Format, KeyRecord};
use crate::error::{Error, Result};
use crate::fsutil::Existing;
use std::path::{Path, PathBuf};

/// Re-encrypts every field of a sealed file with a new key. The key goes
/// where the old one was; a key that came from [`KEY_ENV`] needs
/// `new_key_file`, since the environment cannot be rewritten.
pub(crate) fn rotate(
    config_path: &Path,
    keys_in: &KeyOptions,
    new_key_file: Option<&Path>,
    force: bool,
    store: &mut dyn Store,
) -> Result<Outcome> {
    let opened = sealed::open(config_path, keys_in)?;
    let (old_key, origin) = match (&opened.format, &opened.key) {
        (Format::Sealed, Some(key)) => key.clone(),
        _ => {
            return Err(Error::refused(
                config_path,
                "only a file written by encrypt-config can be rotated; use --upgrade for the Python tool's files",
            ));
        }
    };
    let key_file = new_key_place(config_path, &origin, new_key_file, force)?;
    let key = ConfigKey::generate();
    let mut doc = opened.doc.clone();
    let mut plain = by_line(&opened.values.default);
    plain.extend(by_line(&opened.values.models));
    for entry in doc.entries() {
        if crypto::marked_token(&entry.value).is_some()
            && let Some(value) = plain.get(&entry.line)
        {
            doc.set_value(entry.index, &key.encrypt(value));
        }
    }
    let (record, new_origin) = match &key_file {
        Some(p) => (
            KeyRecord::File(sealed::key_file_record(config_path, p)),
            KeyOrigin::File(p.clone()),
        ),
        None => (KeyRecord::Embedded, KeyOrigin::Embedded),
    };
    let lineage = next_lineage(&opened);
    sealed::seal(&mut doc, &key, &record, &lineage);
    let mut warnings = sealed::reopen(doc.clone(), &key, &new_origin)?
        .validate()?
        .warnings;
    let state = keys_in.state_dir.as_deref();
    let (_, unrecorded) = recorded(config_path, &key, &new_origin, &lineage, state, || {
        let contents = doc.render();
        commit(
            store,
            key_file.as_deref(),
            &key,
            &[&old_key],
            config_path,
            &contents,
            Existing::Replace,
        )
    })?;
    warnings.extend(unrecorded);
    Ok(Outcome {
        output: config_path.to_path_buf(),
        encrypted: opened.encrypted.clone(),
        key_location: new_origin.to_string(),
        key_id: key.id().to_string(),
        warnings,
        next: check_next(config_path),
    })
}

/// Where the new key goes: `--new-key-file`, else where the old key was;
/// none for an embedded key (it stays embedded).
fn new_key_place(
    config_path: &Path,
    origin: &KeyOrigin,
    new_key_file: Option<&Path>,
    force: bool,
) -> Result<Option<PathBuf>> {
    match (origin, new_key_file) {
        (_, Some(p)) if !force && p.exists() => Err(Error::OutputExists {
            path: p.to_path_buf(),
        }),
        (_, Some(p)) => Ok(Some(p.to_path_buf())),
        (KeyOrigin::Flag(p) | KeyOrigin::File(p), None) => Ok(Some(p.clone())),
        (KeyOrigin::Embedded, None) => Ok(None),
        (KeyOrigin::Env, None) => Err(Error::Usage(format!(
            "the key of {} comes from ${KEY_ENV}, which this tool cannot change: \
             give --new-key-file PATH for the new key (and later store it where ${KEY_ENV} comes from)",
            config_path.display()
        ))),
    }
}

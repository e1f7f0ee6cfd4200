//! Opening a sealed file: the key found (a key kept apart from the file
//! first, else the key file it names, else the key embedded in it), its id
//! matched, the MAC verified, and only then the values decrypted.

use super::header::{Header, header};
use super::{
    Format, KeyOptions, Opened, constant_time_eq, decrypt_values, mac_of, require_sealed_error,
};
use crate::config::crypto::{self, ConfigKey};
use crate::config::document::Document;
use crate::config::keys::{self, KEY_ENV, KeyOrigin};
use crate::config::schema::SENSITIVE_FIELDS;
use crate::error::{Error, Result};
use crate::secret::Secret;
use std::path::Path;

/// Keys found for a file, where they were found, and what to say about them.
pub(super) struct Found {
    pub(super) keys: Vec<ConfigKey>,
    pub(super) origin: KeyOrigin,
    pub(super) warnings: Vec<String>,
}

/// The key kept for this config apart from it, if any: `--key-file`, then
/// [`KEY_ENV`], then `CONFIG.key`.
pub(super) fn own_key(config: &Path, opts: &KeyOptions) -> Result<Option<Found>> {
    if let Some(file) = &opts.key_file {
        return key_file(file, KeyOrigin::Flag(file.clone()), opts).map(Some);
    }
    if let Some(text) = &opts.env_key {
        return Ok(Some(Found {
            keys: vec![ConfigKey::parse(text.clone(), KEY_ENV)?],
            origin: KeyOrigin::Env,
            warnings: Vec::new(),
        }));
    }
    let default = keys::default_key_path(config);
    // A dangling link counts as present: reading it then fails loudly.
    if std::fs::symlink_metadata(&default).is_ok() {
        return key_file(&default, KeyOrigin::File(default.clone()), opts).map(Some);
    }
    Ok(None)
}

fn key_file(path: &Path, origin: KeyOrigin, opts: &KeyOptions) -> Result<Found> {
    let file = keys::read_key_file(path)?;
    let mut warnings = Vec::new();
    if let Some(mode) = file.loose_mode {
        let message = keys::loose_mode_message(path, mode);
        if opts.require_sealed {
            return Err(require_sealed_error(path, &message));
        }
        warnings.push(message);
    }
    Ok(Found {
        keys: file.keys,
        origin,
        warnings,
    })
}

/// Opens a sealed document with `own` (the key kept for it), or else the
/// key it names.
pub(super) fn open_sealed(doc: Document, own: Option<Found>, opts: &KeyOptions) -> Result<Opened> {
    let path = doc.path().to_path_buf();
    let header = header(&doc)?;
    let from_own = own.is_some();
    let found = match own {
        Some(found) => found,
        None => key_named_by(&doc, &header, opts)?,
    };
    if found.origin == KeyOrigin::Embedded && opts.require_sealed {
        return Err(require_sealed_error(
            &path,
            "the file's key is embedded in it ([encryption] SecretKeyFernet)",
        ));
    }
    let names_own_key = header.embedded.is_some() || header.key_file.is_some();
    let key = keys::pick(&path, found.keys, &header.key_id, &found.origin).map_err(|e| {
        match (&e, from_own && names_own_key) {
            (Error::Integrity { message, .. }, true) => Error::integrity(
                &path,
                format!(
                    "{message}. The file names a key of its own, and the key kept for it does not open it: \
                     either the key file given is not this config's (check --key-file), or the config was \
                     replaced with one encrypted under another key"
                ),
            ),
            _ => e,
        }
    })?;
    tracing::debug!(key_id = %key.id(), origin = %found.origin, "key found");
    let expected = mac_of(&doc, &key, header.version);
    if !constant_time_eq(expected.as_bytes(), header.mac.as_bytes()) {
        return Err(Error::integrity(
            &path,
            "the MAC does not match: a value was edited, moved or swapped after encryption. \
             Restore the file as encrypt-config wrote it, or change values with `encrypt-config --set`",
        ));
    }
    tracing::debug!("MAC verified");
    let token = |value: &str| crypto::marked_token(value).map(str::to_string);
    let mut opened = decrypt_values(doc, Format::Sealed, token, &key)?;
    opened.warnings = found.warnings;
    sealed_warnings(&mut opened, &header, opts)?;
    opened.key = Some((key, found.origin));
    opened.lineage = header.lineage;
    Ok(opened)
}

/// What a sealed file that opened still deserves: an embedded key, format
/// 1 (refused under `--require-sealed`), fields left in clear text.
fn sealed_warnings(opened: &mut Opened, header: &Header, opts: &KeyOptions) -> Result<()> {
    let path = opened.doc.path().to_path_buf();
    let shown = path.display();
    if header.embedded.is_some() {
        opened.warnings.push(format!(
            "{shown}: the key is embedded in the file (--embed-key): anyone who can read it can decrypt it, and anyone \
             who can write it can reseal it with values of their own; keep the key apart: \
             encrypt-config --rotate {shown} --new-key-file {}",
            keys::default_key_path(&path).display()
        ));
    }
    if header.version == crypto::MacVersion::V1 {
        if opts.require_sealed {
            return Err(require_sealed_error(
                &path,
                "the file is sealed in format 1, which has no generation to stop an older copy from being put back; \
                 reseal it: encrypt-config --rotate FILE",
            ));
        }
        opened.warnings.push(format!(
            "{shown}: sealed in format 1, whose MAC leaves [encryption] out and which has no generation to stop an \
             older copy from being put back; reseal it with a new key: encrypt-config --rotate {shown}"
        ));
    }
    for field in SENSITIVE_FIELDS {
        let set = opened
            .values
            .default
            .iter()
            .any(|v| v.key.eq_ignore_ascii_case(field) && !v.value.is_empty());
        if set && !opened.encrypted.iter().any(|e| e == field) {
            opened.warnings.push(format!(
                "{shown}: [default] {field} is stored in clear text; encrypt it with `encrypt-config --set {field} {shown}`"
            ));
        }
    }
    Ok(())
}

/// When no key is kept for the file apart from it: the key file it names,
/// else the key embedded in it.
fn key_named_by(doc: &Document, header: &Header, opts: &KeyOptions) -> Result<Found> {
    let path = doc.path();
    let default = keys::default_key_path(path);
    if let Some(named) = &header.key_file
        && std::fs::symlink_metadata(named).is_ok()
    {
        return key_file(named, KeyOrigin::File(named.clone()), opts);
    }
    if let Some(entry) = &header.embedded {
        let source = format!("{}:{} SecretKeyFernet", path.display(), entry.line);
        return Ok(Found {
            keys: vec![ConfigKey::parse(Secret::new(entry.value.clone()), &source)?],
            origin: KeyOrigin::Embedded,
            warnings: Vec::new(),
        });
    }
    let recorded = if header.key_env {
        format!("this file's key was given in ${KEY_ENV} when it was encrypted; set it again")
    } else {
        let missing = header.key_file.as_ref().unwrap_or(&default);
        format!("its key file {} does not exist", missing.display())
    };
    Err(Error::KeyNotFound {
        path: path.to_path_buf(),
        message: format!(
            "no key to decrypt this file: {recorded}. Give the key with --key-file PATH or in ${KEY_ENV}"
        ),
    })
}

//! `encrypt-config --set FIELD CONFIG`: one field changed in place, asked
//! for without echo when it is sensitive, and the file resealed one
//! generation up.

use super::{Outcome, Store, check_next, next_lineage, recorded};
use crate::config::keys::KeyOptions;
use crate::config::schema::{self, DEFAULT_SECTION};
use crate::config::sealed::{self, EMBEDDED_KEY, ENCRYPTION_SECTION, Format, Opened};
use crate::error::{Error, Result};
use crate::fsutil::Existing;
use crate::prompt::Prompter;
use crate::secret::Secret;
use std::path::Path;

/// A field named on the command line, checked against the file.
struct Field {
    section: String,
    key: String,
    sensitive: bool,
}

/// Sets one field of a sealed file in place, asking for its value (without
/// echo for sensitive fields), and reseals the file.
pub(crate) fn set(
    config_path: &Path,
    field: &str,
    keys_in: &KeyOptions,
    prompter: &mut dyn Prompter,
    store: &mut dyn Store,
) -> Result<Outcome> {
    let opened = sealed::open(config_path, keys_in)?;
    // Refused before anything is asked: a file this cannot reseal.
    let (key, _) = sealed_key(&opened, config_path)?;
    let target = parse_field(field, &opened, config_path)?;
    let question = format!("{} for {}: ", target.key, config_path.display());
    let value = if target.sensitive {
        prompter.secret(&question)?
    } else {
        prompter.line(&question)?.map(Secret::new)
    }
    .unwrap_or_else(|| Secret::new(""));
    let stored = if target.sensitive && !value.is_empty() {
        key.encrypt(&value)
    } else {
        value.expose().to_string()
    };
    let mut outcome = reseal(config_path, &opened, keys_in, store, |doc| {
        match doc.get(&target.section, &target.key) {
            Some(e) => doc.set_value(e.index, &stored),
            None => doc.insert(&target.section, &target.key, &stored),
        }
        Ok(())
    })?;
    outcome.next = check_next(config_path);
    Ok(outcome)
}

/// Changes a sealed file in place with `change` and reseals it one
/// generation up, as `--set` does: for edits other commands make, such as
/// the gateway's tokens in `[gateway]`.
pub(crate) fn edit_sealed(
    config_path: &Path,
    keys_in: &KeyOptions,
    store: &mut dyn Store,
    change: impl FnOnce(&mut crate::config::document::Document) -> Result<()>,
) -> Result<Outcome> {
    let opened = sealed::open(config_path, keys_in)?;
    reseal(config_path, &opened, keys_in, store, change)
}

/// The lines of `opened` changed by `change`, sealed one generation up
/// with its key, checked by opening them again, and written in place with
/// the generation recorded.
fn reseal(
    config_path: &Path,
    opened: &Opened,
    keys_in: &KeyOptions,
    store: &mut dyn Store,
    change: impl FnOnce(&mut crate::config::document::Document) -> Result<()>,
) -> Result<Outcome> {
    let (key, origin) = sealed_key(opened, config_path)?;
    let mut doc = opened.doc.clone();
    change(&mut doc)?;
    let record = sealed::record_for(config_path, &origin);
    let lineage = next_lineage(opened);
    sealed::seal(&mut doc, &key, &record, &lineage);
    let reopened = sealed::reopen(doc.clone(), &key, &origin)?;
    let mut warnings = reopened.validate()?.warnings;
    let state = keys_in.state_dir.as_deref();
    let ((), unrecorded) = recorded(config_path, &key, &origin, &lineage, state, || {
        store.write(config_path, doc.render().as_bytes(), Existing::Replace)
    })?;
    warnings.extend(unrecorded);
    Ok(Outcome {
        output: config_path.to_path_buf(),
        encrypted: reopened.encrypted.clone(),
        key_location: origin.to_string(),
        key_id: key.id().to_string(),
        warnings,
        next: Vec::new(),
    })
}

/// The key of a file sealed in format 2; anything else is refused.
fn sealed_key(
    opened: &Opened,
    config_path: &Path,
) -> Result<(
    crate::config::crypto::ConfigKey,
    crate::config::keys::KeyOrigin,
)> {
    let refuse = |why: String| Err(Error::refused(config_path, why));
    match (&opened.format, &opened.key, &opened.lineage) {
        (Format::Python, _, _) => refuse(
            "written by the Python workshop tool; convert it first with `encrypt-config --upgrade`"
                .into(),
        ),
        (Format::Plain, _, _) | (_, None, _) => refuse(
            "not encrypted; edit it directly, then encrypt it with `encrypt-config FILE -o OUTPUT`"
                .into(),
        ),
        // Format 1 left [encryption] out of its MAC: nothing in it may be
        // carried into a file sealed now, and a reseal with the same key
        // would leave every format 1 copy able to come back.
        (_, Some(_), None) => refuse(format!(
            "sealed in format 1; reseal it with a new key first: encrypt-config --rotate {}",
            config_path.display()
        )),
        (_, Some(key), Some(_)) => Ok(key.clone()),
    }
}

/// `KEY` (in `[default]`) or `SECTION.KEY`, checked: never `[encryption]`
/// or the embedded key, a section the file has, a known `[default]` key.
fn parse_field(field: &str, opened: &Opened, config_path: &Path) -> Result<Field> {
    let (section, key) = match field.split_once('.') {
        Some((s, k)) => (s.to_string(), k.to_string()),
        None => (DEFAULT_SECTION.to_string(), field.to_string()),
    };
    if section.eq_ignore_ascii_case(ENCRYPTION_SECTION) || key.eq_ignore_ascii_case(EMBEDDED_KEY) {
        return Err(Error::Usage(format!(
            "--set {field}: the [encryption] section is managed by encrypt-config; use --rotate for a new key"
        )));
    }
    if !opened.doc.has_section(&section) {
        return Err(Error::Usage(format!(
            "--set {field}: {} has no [{section}] section",
            config_path.display()
        )));
    }
    if !section.eq_ignore_ascii_case(DEFAULT_SECTION) {
        return Ok(Field {
            section,
            key,
            sensitive: false,
        });
    }
    let key = schema::canonical_key(&key).ok_or_else(|| {
        Error::Usage(format!(
            "--set {field}: not a key of [default]; expected one of {}",
            schema::settable_keys().join(", ")
        ))
    })?;
    Ok(Field {
        section,
        key: key.to_string(),
        sensitive: schema::is_sensitive(key),
    })
}

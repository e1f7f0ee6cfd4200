//! Opening a properties file in any of its three forms, and sealing one.
//!
//! - Sealed: written by `encrypt-config`; values marked `ENC[fernet:...]`
//!   and an `[encryption]` section with the key id, where the key is, and the
//!   MAC over every entry. Opening checks the key id, then the MAC, then
//!   decrypts.
//! - Python: written by the workshop's `encryptConfig.py`; `base64(token)`
//!   values and the key in `SecretKeyFernet`. No MAC exists to check.
//! - Plain: no encrypted values at all.
//!
//! Nothing is decrypted before the MAC is verified, so a tampered file is
//! refused before any of its values is used.

use crate::config::{self, DEFAULT_SECTION, MODELS_SECTION, Validated, Value, Values};
use crate::crypto::{self, ConfigKey, KeyId, MacEntry};
use crate::document::Document;
use crate::error::{Error, Location, Result};
use crate::keys::{self, KEY_ENV, KeyOptions, KeyOrigin};
use crate::secret::Secret;
use std::path::{Path, PathBuf};

/// The section `encrypt-config` adds.
pub const ENCRYPTION_SECTION: &str = "encryption";
/// The format version written in `[encryption] Format`.
pub const FORMAT_VERSION: &str = "1";
/// Where the workshop tool kept its key (in `[default]`), and where an
/// embedded key goes (in `[encryption]`).
pub const EMBEDDED_KEY: &str = "SecretKeyFernet";

/// Which of the three forms a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// No encrypted values.
    Plain,
    /// Written by `encrypt-config`.
    Sealed,
    /// Written by the Python workshop tool.
    Python,
}

/// How a sealed file records where its key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRecord {
    /// A key file, as written in `KeyFile` (relative to the config's folder
    /// when it is beside it).
    File(PathBuf),
    /// The [`KEY_ENV`] environment variable.
    Env,
    /// In the file itself.
    Embedded,
}

/// An opened file: its lines, its decrypted values and what was learned.
#[derive(Debug)]
pub struct Opened {
    /// The file's lines, for editing.
    pub doc: Document,
    /// Its form.
    pub format: Format,
    /// The key and where it was found, for encrypted forms.
    pub key: Option<(ConfigKey, KeyOrigin)>,
    /// Decrypted values.
    pub values: Values,
    /// Canonical names of the fields that were stored encrypted.
    pub encrypted: Vec<String>,
    /// Things worth telling the user.
    pub warnings: Vec<String>,
    /// The Python tool stored the Fernet key in `AccessKey`; the value was
    /// dropped.
    pub access_key_defect: bool,
}

impl Opened {
    /// Validates the decrypted values; the Python tool's AccessKey defect is
    /// reported as such when the mode needs an access key.
    pub fn validate(&self) -> Result<Validated> {
        let mut validated =
            config::validate(&self.values).map_err(|e| match (&e, self.access_key_defect) {
                (Error::Invalid { at, .. }, true)
                    if at
                        .key
                        .as_deref()
                        .is_some_and(|k| k.eq_ignore_ascii_case("AccessKey")) =>
                {
                    access_key_defect_error(&self.doc)
                }
                _ => e,
            })?;
        let mut warnings = self.warnings.clone();
        warnings.append(&mut validated.warnings);
        validated.warnings = warnings;
        Ok(validated)
    }
}

fn access_key_defect_error(doc: &Document) -> Error {
    let line = doc.get(DEFAULT_SECTION, "AccessKey").map(|e| e.line);
    Error::Invalid {
        at: Location {
            file: doc.path().to_path_buf(),
            line,
            section: DEFAULT_SECTION.into(),
            key: Some("AccessKey".into()),
        },
        message: "holds the file's Fernet key, not an access key (the Python workshop tool's encryptConfig.py \
                  wrote it there); the access key must be entered again: run `encrypt-config --upgrade` \
                  on this file, then `encrypt-config --set AccessKey` on the result"
            .into(),
    }
}

/// Opens `path` in whichever form it is, verifying and decrypting it.
pub fn open(path: &Path, opts: &KeyOptions) -> Result<Opened> {
    open_doc(Document::read(path)?, opts)
}

/// Opens a document already in memory, finding its key as [`open`] does.
pub fn open_doc(doc: Document, opts: &KeyOptions) -> Result<Opened> {
    if doc.has_section(ENCRYPTION_SECTION) {
        open_sealed(doc, |doc| find_keys(doc, opts))
    } else if doc.get(DEFAULT_SECTION, EMBEDDED_KEY).is_some() {
        open_python(doc)
    } else {
        open_plain(doc)
    }
}

/// Opens and validates in one step.
pub fn open_validated(path: &Path, opts: &KeyOptions) -> Result<(Opened, Validated)> {
    let opened = open(path, opts)?;
    let validated = opened.validate()?;
    Ok((opened, validated))
}

fn section_value(doc: &Document, key: &str) -> Option<String> {
    doc.get(ENCRYPTION_SECTION, key)
        .map(|e| e.value)
        .filter(|v| !v.is_empty())
}

/// Opens a sealed document in memory with a key the caller holds, to check
/// an edit before it is written.
pub fn reopen(doc: Document, key: &ConfigKey, origin: &KeyOrigin) -> Result<Opened> {
    open_sealed(doc, |_| Ok((vec![key.clone()], origin.clone())))
}

fn open_sealed(
    doc: Document,
    find: impl FnOnce(&Document) -> Result<(Vec<ConfigKey>, KeyOrigin)>,
) -> Result<Opened> {
    let path = doc.path().to_path_buf();
    match section_value(&doc, "Format").as_deref() {
        Some(FORMAT_VERSION) => {}
        Some(other) => {
            return Err(Error::refused(
                &path,
                format!(
                    "[encryption] Format = {other} is not a format this version knows (expected {FORMAT_VERSION}); use a newer release"
                ),
            ));
        }
        None => {
            return Err(Error::integrity(
                &path,
                "[encryption] has no Format; the section was edited",
            ));
        }
    }
    let wanted = KeyId(section_value(&doc, "KeyId").ok_or_else(|| {
        Error::integrity(&path, "[encryption] has no KeyId; the section was edited")
    })?);
    let stored_mac = section_value(&doc, "MAC").ok_or_else(|| {
        Error::integrity(&path, "[encryption] has no MAC; the section was edited")
    })?;

    let (candidates, origin) = find(&doc)?;
    let key = keys::pick(&path, candidates, &wanted, &origin)?;
    tracing::debug!(key_id = %key.id(), origin = %origin, "key found");

    if mac_of(&doc, &key) != stored_mac {
        return Err(Error::integrity(
            &path,
            "the MAC does not match: a value was edited, moved or swapped after encryption. \
             Restore the file as encrypt-config wrote it, or change values with `encrypt-config --set`",
        ));
    }
    tracing::debug!("MAC verified");

    let mut opened = decrypt_values(
        doc,
        Format::Sealed,
        |value| crypto::marked_token(value).map(str::to_string),
        &key,
    )?;
    for field in config::SENSITIVE_FIELDS {
        let clear = opened
            .values
            .default
            .iter()
            .any(|v| v.key.eq_ignore_ascii_case(field) && !v.value.is_empty())
            && !opened.encrypted.iter().any(|e| e == field);
        if clear {
            opened.warnings.push(format!(
                "{}: [default] {field} is stored in clear text; encrypt it with `encrypt-config --set {field} {}`",
                path.display(),
                path.display()
            ));
        }
    }
    opened.key = Some((key, origin));
    Ok(opened)
}

/// Looks for the key in the order: `--key-file`, [`KEY_ENV`], embedded, the
/// `KeyFile` the config names, `CONFIG.key`.
fn find_keys(doc: &Document, opts: &KeyOptions) -> Result<(Vec<ConfigKey>, KeyOrigin)> {
    let path = doc.path();
    if let Some(file) = &opts.key_file {
        return Ok((keys::read_key_file(file)?, KeyOrigin::Flag(file.clone())));
    }
    if let Some(text) = &opts.env_key {
        return Ok((
            vec![ConfigKey::parse(text.clone(), KEY_ENV)?],
            KeyOrigin::Env,
        ));
    }
    if let Some(entry) = doc.get(ENCRYPTION_SECTION, EMBEDDED_KEY) {
        let source = format!("{}:{} SecretKeyFernet", path.display(), entry.line);
        return Ok((
            vec![ConfigKey::parse(Secret::new(entry.value), &source)?],
            KeyOrigin::Embedded,
        ));
    }
    let named =
        section_value(doc, "KeyFile").map(|f| config::resolve_relative(path, Path::new(&f)));
    let candidate = named
        .clone()
        .unwrap_or_else(|| keys::default_key_path(path));
    if candidate.exists() {
        return Ok((keys::read_key_file(&candidate)?, KeyOrigin::File(candidate)));
    }
    let recorded = if section_value(doc, "KeyEnv").is_some() {
        format!("this file's key was given in ${KEY_ENV} when it was encrypted; set it again")
    } else {
        format!("its key file {} does not exist", candidate.display())
    };
    Err(Error::KeyNotFound {
        path: path.to_path_buf(),
        message: format!(
            "no key to decrypt this file: {recorded}. Give the key with --key-file PATH or in ${KEY_ENV}"
        ),
    })
}

fn open_python(doc: Document) -> Result<Opened> {
    let path = doc.path().to_path_buf();
    let entry = doc
        .get(DEFAULT_SECTION, EMBEDDED_KEY)
        .expect("checked by caller");
    let source = format!("{}:{} SecretKeyFernet", path.display(), entry.line);
    let key = ConfigKey::parse(Secret::new(entry.value), &source)?;
    if doc
        .entries()
        .iter()
        .any(|e| crypto::marked_token(&e.value).is_some())
    {
        return Err(Error::refused(
            &path,
            "mixes the Python tool's format (SecretKeyFernet) with ENC[fernet:...] values; restore one form",
        ));
    }
    let mut opened = decrypt_values(doc, Format::Python, crypto::python_token, &key)?;
    if let Some(i) = opened
        .values
        .default
        .iter()
        .position(|v| v.key.eq_ignore_ascii_case("AccessKey"))
    {
        let v = &opened.values.default[i];
        let is_key = v.value.expose().trim() == key.text().expose()
            || crypto::looks_like_fernet_key(v.value.expose());
        let line = v.line;
        if is_key {
            opened.values.default[i].value = Secret::new("");
            opened.access_key_defect = true;
            opened.warnings.push(format!(
                "{}:{}: [default] AccessKey holds the file's Fernet key, not an access key \
                 (written so by the Python workshop tool); it is ignored and must be entered again",
                path.display(),
                line
            ));
        }
    }
    opened.warnings.push(format!(
        "{}: written by the Python workshop tool: the key is stored in the file and no MAC protects it; \
         convert it with `encrypt-config --upgrade {} -o NEW`",
        path.display(),
        path.display()
    ));
    opened.key = Some((key, KeyOrigin::Embedded));
    Ok(opened)
}

fn open_plain(doc: Document) -> Result<Opened> {
    let path = doc.path().to_path_buf();
    for e in doc.entries() {
        if crypto::marked_token(&e.value).is_some() {
            return Err(Error::integrity(
                &path,
                format!(
                    "line {}: [{}] {} is encrypted but the file has no [encryption] section with its key id and MAC; \
                     the section was removed. Restore the file as encrypt-config wrote it",
                    e.line, e.section, e.key
                ),
            ));
        }
        if crypto::python_token(&e.value).is_some() && config::is_sensitive(&e.key) {
            return Err(Error::KeyNotFound {
                path,
                message: format!(
                    "line {}: [{}] {} looks encrypted by the Python workshop tool, but the file has no SecretKeyFernet",
                    e.line, e.section, e.key
                ),
            });
        }
    }
    let (values, encrypted) = collect_values(&doc, |_| Ok(None))?;
    let clear: Vec<&str> = config::SENSITIVE_FIELDS
        .into_iter()
        .filter(|f| {
            values
                .default
                .iter()
                .any(|v| v.key.eq_ignore_ascii_case(f) && !v.value.is_empty())
        })
        .collect();
    let mut warnings = Vec::new();
    if !clear.is_empty() {
        warnings.push(format!(
            "{}: not encrypted: {} in clear text; encrypt it with `encrypt-config {} -o NEW`",
            path.display(),
            clear.join(", "),
            path.display()
        ));
    }
    Ok(Opened {
        doc,
        format: Format::Plain,
        key: None,
        values,
        encrypted,
        warnings,
        access_key_defect: false,
    })
}

fn decrypt_values(
    doc: Document,
    format: Format,
    token_of: impl Fn(&str) -> Option<String>,
    key: &ConfigKey,
) -> Result<Opened> {
    let path = doc.path().to_path_buf();
    let (values, encrypted) = collect_values(&doc, |e| match token_of(&e.value) {
        None => Ok(None),
        Some(token) => key.decrypt_token(&token).map(Some).ok_or_else(|| {
            Error::integrity(
                &path,
                format!(
                    "line {}: [{}] {} cannot be decrypted with this file's key",
                    e.line, e.section, e.key
                ),
            )
        }),
    })?;
    Ok(Opened {
        doc,
        format,
        key: None,
        values,
        encrypted,
        warnings: Vec::new(),
        access_key_defect: false,
    })
}

/// Gathers `[default]` and `[models]` values, decrypting where `decrypt`
/// returns a value; returns the values and the names of encrypted fields.
fn collect_values(
    doc: &Document,
    decrypt: impl Fn(&crate::document::Entry) -> Result<Option<Secret>>,
) -> Result<(Values, Vec<String>)> {
    let mut values = Values {
        path: doc.path().to_path_buf(),
        ..Values::default()
    };
    let mut encrypted = Vec::new();
    for e in doc.entries() {
        let in_default = e.section.eq_ignore_ascii_case(DEFAULT_SECTION);
        let in_models = e.section.eq_ignore_ascii_case(MODELS_SECTION);
        if !(in_default || in_models) || (in_default && e.key.eq_ignore_ascii_case(EMBEDDED_KEY)) {
            continue;
        }
        let value = match decrypt(&e)? {
            Some(plain) => {
                encrypted.push(
                    config::canonical_key(&e.key)
                        .map(str::to_string)
                        .unwrap_or_else(|| e.key.clone()),
                );
                plain
            }
            None => Secret::new(e.value.clone()),
        };
        let v = Value {
            line: e.line,
            key: e.key.clone(),
            value,
        };
        if in_default {
            values.default.push(v);
        } else {
            values.models.push(v);
        }
    }
    Ok((values, encrypted))
}

/// The MAC over every entry outside `[encryption]`, in document order.
pub fn mac_of(doc: &Document, key: &ConfigKey) -> String {
    let owned: Vec<(String, String, String)> = doc
        .entries()
        .into_iter()
        .filter(|e| !e.section.eq_ignore_ascii_case(ENCRYPTION_SECTION))
        .map(|e| {
            (
                e.section.to_ascii_lowercase(),
                e.key.to_ascii_lowercase(),
                e.value,
            )
        })
        .collect();
    key.mac(owned.iter().map(|(s, k, v)| MacEntry {
        section: s,
        key: k,
        value: v,
    }))
}

/// Replaces the `[encryption]` section with a fresh one for `key`: format,
/// key id, where the key is, and the MAC over everything else.
pub fn seal(doc: &mut Document, key: &ConfigKey, record: &KeyRecord) {
    doc.remove_section(ENCRYPTION_SECTION);
    let mac = mac_of(doc, key);
    let id = key.id().to_string();
    let location = match record {
        KeyRecord::File(p) => ("KeyFile", p.display().to_string()),
        KeyRecord::Env => ("KeyEnv", KEY_ENV.to_string()),
        KeyRecord::Embedded => (EMBEDDED_KEY, key.text().expose().to_string()),
    };
    let note = match record {
        KeyRecord::Embedded => {
            "The key is embedded below: anyone who has this file can decrypt it."
        }
        _ => "The key is kept apart from this file; keep it as safe as the secrets.",
    };
    doc.append_section(
        ENCRYPTION_SECTION,
        &[
            "Written by encrypt-config. The MAC covers every value above, in order:",
            "change values with `encrypt-config --set`, not by hand.",
            note,
        ],
        &[
            ("Format", FORMAT_VERSION),
            ("KeyId", &id),
            (location.0, &location.1),
            ("MAC", &mac),
        ],
    );
}

/// How a sealed document records its key now.
pub fn current_record(doc: &Document) -> KeyRecord {
    if doc.get(ENCRYPTION_SECTION, EMBEDDED_KEY).is_some() {
        KeyRecord::Embedded
    } else if let Some(file) = section_value(doc, "KeyFile") {
        KeyRecord::File(PathBuf::from(file))
    } else if section_value(doc, "KeyEnv").is_some() {
        KeyRecord::Env
    } else {
        KeyRecord::File(
            keys::default_key_path(doc.path())
                .file_name()
                .map(PathBuf::from)
                .unwrap_or_default(),
        )
    }
}

/// What a sealed file's `KeyFile` should say for a key file at `key_path`:
/// its bare name when it is beside the config, else the absolute path.
pub fn key_file_record(config: &Path, key_path: &Path) -> PathBuf {
    let dir = |p: &Path| crate::fsutil::parent_dir(p).canonicalize().ok();
    match (dir(config), dir(key_path), key_path.file_name()) {
        (Some(a), Some(b), Some(name)) if a == b => PathBuf::from(name),
        (_, Some(b), Some(name)) => b.join(name),
        _ => key_path.to_path_buf(),
    }
}

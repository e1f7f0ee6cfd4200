//! Opening a properties file in any of its three forms, and sealing one.
//!
//! - Sealed: written by `encrypt-config`; values marked `ENC[fernet:...]`
//!   and, last in the file, an `[encryption]` section with the format, the
//!   key id, where the key is, the file's id and generation, and the MAC over
//!   every entry of the file but the MAC itself. Opening checks the key id,
//!   then the MAC, then the generation, then decrypts.
//! - Python: written by the workshop's `encryptConfig.py`; `base64(token)`
//!   values and the key in `SecretKeyFernet`. No MAC exists to check.
//! - Plain: no encrypted values at all.
//!
//! Nothing is decrypted before the MAC is verified, so a tampered file is
//! refused before any of its values is used. Where the key comes from is
//! decided outside the file first: a key kept for it (`--key-file`,
//! [`KEY_ENV`], `CONFIG.key`) always wins over anything the file says, and
//! when such a key exists the file must be sealed with it. Otherwise anyone
//! who could write the config could name (or embed) a key of their own,
//! reseal the file with it, and send requests where they like. The threat
//! model is in `docs/security.md`.

mod header;
mod history;
mod keyed;
mod unsealed;

pub(crate) use history::record_write;

use crate::config::crypto::{ConfigKey, KeyId, MacEntry, MacVersion};
use crate::config::document::{Document, shown_name};
use crate::config::keys::{KEY_ENV, KeyOptions, KeyOrigin, REQUIRE_SEALED_ENV};
use crate::config::{self, DEFAULT_SECTION, MODELS_SECTION, Validated, Value, Values};
use crate::error::{Error, Location, Result};
use crate::secret::Secret;
use history::check_history;
use keyed::{Found, open_sealed, own_key};
use std::path::{Path, PathBuf};

/// The section `encrypt-config` adds.
pub const ENCRYPTION_SECTION: &str = "encryption";
/// The format version written in `[encryption] Format`.
pub const FORMAT_VERSION: &str = "2";
/// The first format, still read: its MAC leaves `[encryption]` out.
const LEGACY_FORMAT: &str = "1";
/// Where the workshop tool kept its key (in `[default]`), and where an
/// embedded key goes (in `[encryption]`).
pub const EMBEDDED_KEY: &str = "SecretKeyFernet";
/// The entry that holds the MAC: always the file's last entry.
const MAC_KEY: &str = "MAC";

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

/// A sealed file's identity and how many times it has been written, both
/// under the MAC: what rollback protection compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lineage {
    /// A random id given when the file is first encrypted, kept for life.
    pub file_id: String,
    /// 1 when first encrypted, one more at every change.
    pub generation: u64,
}

impl Lineage {
    /// The lineage of a newly encrypted file.
    pub fn new() -> Lineage {
        let mut id = [0u8; 8];
        random_bytes(&mut id);
        Lineage {
            file_id: crate::config::crypto::hex(&id),
            generation: 1,
        }
    }

    /// The lineage after one more write.
    pub fn next(&self) -> Lineage {
        Lineage {
            file_id: self.file_id.clone(),
            generation: self.generation.saturating_add(1),
        }
    }

    /// The name under which the record keeps this file's generation for `key`.
    fn record_id(&self, key: &KeyId) -> KeyId {
        KeyId(format!("{key}/{}", self.file_id))
    }
}

impl Default for Lineage {
    fn default() -> Self {
        Lineage::new()
    }
}

/// Random bytes from a fresh Fernet key (the one random source already in
/// use), so no second generator is pulled in for eight bytes.
fn random_bytes(out: &mut [u8]) {
    use base64::Engine;
    let key = zeroize::Zeroizing::new(fernet::Fernet::generate_key());
    let raw = zeroize::Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE
            .decode(key.as_bytes())
            .expect("a generated key decodes"),
    );
    for (o, r) in out.iter_mut().zip(raw.iter()) {
        *o = *r;
    }
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
    /// A sealed file's identity and generation (format 2 only).
    pub lineage: Option<Lineage>,
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

/// Opens a document already in memory, finding its key as [`open`] does,
/// refusing downgrades and rollbacks, and noting its generation.
pub fn open_doc(doc: Document, opts: &KeyOptions) -> Result<Opened> {
    let own = own_key(doc.path(), opts)?;
    if doc.has_section(ENCRYPTION_SECTION) {
        let mut opened = open_sealed(doc, own, opts)?;
        check_history(&mut opened, opts)?;
        return Ok(opened);
    }
    let python = doc.get(DEFAULT_SECTION, EMBEDDED_KEY).is_some();
    let form = if python {
        "in the Python workshop tool's format (its key is inside it and no MAC protects it)"
    } else {
        "not sealed (plaintext)"
    };
    let path = doc.path().to_path_buf();
    // Read first: encrypted values with no [encryption] section say more
    // precisely what happened than the downgrade does.
    let mut opened = read_unsealed(doc)?;
    if let Some(found) = &own {
        return Err(Error::integrity(
            &path,
            format!(
                "the file is {form}, but a key for it exists ({}): a sealed file may have been replaced \
                 by an unsealed one (a downgrade), and nothing in this one can be trusted. Restore the sealed \
                 file; if this one is meant to replace it, encrypt it with `encrypt-config FILE -o OUTPUT --force`{}",
                found.origin,
                unset_env_hint(&found.origin)
            ),
        ));
    }
    if opts.require_sealed {
        return Err(require_sealed_error(&path, &format!("the file is {form}")));
    }
    check_history(&mut opened, opts)?;
    opened.warnings.push(format!(
        "{}: {form}: nothing in it is verified, so anyone who can write it decides where requests go; \
         seal it with `encrypt-config`, and set ${REQUIRE_SEALED_ENV}=1 to refuse unsealed files",
        path.display()
    ));
    Ok(opened)
}

/// Opens a file that is not sealed (plain or the Python tool's), with no
/// policy about downgrades: for `encrypt-config`, which reads such files to
/// seal them.
pub fn read_unsealed(doc: Document) -> Result<Opened> {
    match doc.get(DEFAULT_SECTION, EMBEDDED_KEY) {
        Some(entry) => unsealed::open_python(doc, entry),
        None => unsealed::open_plain(doc),
    }
}

/// Opens and validates in one step.
pub fn open_validated(path: &Path, opts: &KeyOptions) -> Result<(Opened, Validated)> {
    let opened = open(path, opts)?;
    let validated = opened.validate()?;
    Ok((opened, validated))
}

fn unset_env_hint(origin: &KeyOrigin) -> String {
    match origin {
        KeyOrigin::Env => format!(" (or unset {KEY_ENV} if it holds another file's key)"),
        _ => String::new(),
    }
}

fn require_sealed_error(path: &Path, what: &str) -> Error {
    Error::integrity(
        path,
        format!(
            "{what}, and --require-sealed (or ${REQUIRE_SEALED_ENV}) accepts only files sealed \
             with a key kept apart from them"
        ),
    )
}

/// Opens a sealed document in memory with a key the caller holds, to check
/// an edit before it is written.
pub fn reopen(doc: Document, key: &ConfigKey, origin: &KeyOrigin) -> Result<Opened> {
    let found = Found {
        keys: vec![key.clone()],
        origin: origin.clone(),
        warnings: Vec::new(),
    };
    open_sealed(doc, Some(found), &KeyOptions::default())
}

/// Equality that takes as long whatever the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
                    e.line,
                    shown_name(&e.section),
                    shown_name(&e.key)
                ),
            )
        }),
    })?;
    Ok(Opened {
        doc,
        format,
        key: None,
        lineage: None,
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
    decrypt: impl Fn(&crate::config::document::Entry) -> Result<Option<Secret>>,
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
                    config::schema::canonical_key(&e.key)
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

/// The MAC of a document: format 2 covers every entry but the MAC itself,
/// in document order; format 1 covered every entry outside `[encryption]`.
pub fn mac_of(doc: &Document, key: &ConfigKey, version: MacVersion) -> String {
    let owned: Vec<(String, String, String)> = doc
        .entries()
        .into_iter()
        .filter(|e| {
            let in_header = e.section.eq_ignore_ascii_case(ENCRYPTION_SECTION);
            match version {
                MacVersion::V1 => !in_header,
                MacVersion::V2 => !(in_header && e.key.eq_ignore_ascii_case(MAC_KEY)),
            }
        })
        .map(|e| {
            (
                e.section.to_ascii_lowercase(),
                e.key.to_ascii_lowercase(),
                e.value,
            )
        })
        .collect();
    key.mac(
        version,
        owned.iter().map(|(s, k, v)| MacEntry {
            section: s,
            key: k,
            value: v,
        }),
    )
}

/// Replaces the `[encryption]` section with a fresh one for `key` at the end
/// of the file: format, key id, file id and generation, where the key is,
/// and last the MAC over everything before it.
pub fn seal(doc: &mut Document, key: &ConfigKey, record: &KeyRecord, lineage: &Lineage) {
    doc.remove_section(ENCRYPTION_SECTION);
    let id = key.id().to_string();
    let generation = lineage.generation.to_string();
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
            "Written by encrypt-config. The MAC covers every value of the file, this section's too:",
            "change values with `encrypt-config --set`, not by hand.",
            note,
        ],
        &[
            ("Format", FORMAT_VERSION),
            ("KeyId", &id),
            ("FileId", &lineage.file_id),
            ("Generation", &generation),
            (location.0, &location.1),
            (MAC_KEY, "pending"),
        ],
    );
    let mac = mac_of(doc, key, MacVersion::V2);
    let entry = doc
        .get(ENCRYPTION_SECTION, MAC_KEY)
        .expect("the MAC entry was just written");
    doc.set_value(entry.index, &mac);
}

/// How a file sealed with a key found at `origin` records where its key
/// is: from where the key really was, never from the file's own word.
pub fn record_for(config: &Path, origin: &KeyOrigin) -> KeyRecord {
    match origin {
        KeyOrigin::Flag(p) | KeyOrigin::File(p) => KeyRecord::File(key_file_record(config, p)),
        KeyOrigin::Env => KeyRecord::Env,
        KeyOrigin::Embedded => KeyRecord::Embedded,
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

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

use crate::config::crypto::{self, ConfigKey, KeyId, MacEntry, MacVersion};
use crate::config::document::{Document, Entry, shown_name};
use crate::config::generation;
use crate::config::keys::{self, KEY_ENV, KeyOptions, KeyOrigin, REQUIRE_SEALED_ENV};
use crate::config::{self, DEFAULT_SECTION, MODELS_SECTION, Validated, Value, Values};
use crate::error::{Error, Location, Result};
use crate::secret::Secret;
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
/// Every key `[encryption]` may hold; anything else was added by hand.
const HEADER_KEYS: [&str; 7] = [
    "Format",
    "KeyId",
    "FileId",
    "Generation",
    "KeyFile",
    "KeyEnv",
    EMBEDDED_KEY,
];
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
            file_id: id.iter().map(|b| format!("{b:02x}")).collect(),
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
    if doc.get(DEFAULT_SECTION, EMBEDDED_KEY).is_some() {
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

/// Keys found for a file, where they were found, and what to say about them.
struct Found {
    keys: Vec<ConfigKey>,
    origin: KeyOrigin,
    warnings: Vec<String>,
}

/// The key kept for this config apart from it, if any: `--key-file`, then
/// [`KEY_ENV`], then `CONFIG.key`.
fn own_key(config: &Path, opts: &KeyOptions) -> Result<Option<Found>> {
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

/// What `[encryption]` says, checked for shape before any key is used.
struct Header {
    version: MacVersion,
    key_id: KeyId,
    lineage: Option<Lineage>,
    mac: String,
    key_file: Option<PathBuf>,
    embedded: Option<Entry>,
    key_env: bool,
}

fn header(doc: &Document) -> Result<Header> {
    let path = doc.path();
    let edited = |what: &str| Error::integrity(path, format!("{what}; the section was edited"));
    let entries = doc.entries();
    let mut mac_entry = None;
    for e in &entries {
        if !e.section.eq_ignore_ascii_case(ENCRYPTION_SECTION) {
            continue;
        }
        if e.key.eq_ignore_ascii_case(MAC_KEY) {
            mac_entry = Some(e);
        } else if !HEADER_KEYS.iter().any(|k| k.eq_ignore_ascii_case(&e.key)) {
            return Err(Error::integrity(
                path,
                format!(
                    "line {}: [encryption] {} is not something encrypt-config writes; it was added by hand. \
                     Remove it (the section is managed by encrypt-config)",
                    e.line,
                    shown_name(&e.key)
                ),
            ));
        }
    }
    let mac_entry = mac_entry.ok_or_else(|| edited("[encryption] has no MAC"))?;
    if let Some(after) = entries.iter().find(|e| e.index > mac_entry.index) {
        return Err(Error::integrity(
            path,
            format!(
                "line {}: [{}] {} comes after the MAC, which encrypt-config always writes last: it was added \
                 after the file was sealed, and nothing vouches for it. Remove it; change values with \
                 `encrypt-config --set`",
                after.line,
                shown_name(&after.section),
                shown_name(&after.key)
            ),
        ));
    }
    let value = |key: &str| {
        doc.get(ENCRYPTION_SECTION, key)
            .map(|e| e.value)
            .filter(|v| !v.is_empty())
    };
    let version = match value("Format").as_deref() {
        Some(FORMAT_VERSION) => MacVersion::V2,
        Some(LEGACY_FORMAT) => MacVersion::V1,
        Some(_) => {
            return Err(Error::integrity(
                path,
                format!(
                    "[encryption] Format is not a format this version knows ({LEGACY_FORMAT} or {FORMAT_VERSION}): \
                     the section was edited, or the file was written by a newer release"
                ),
            ));
        }
        None => return Err(edited("[encryption] has no Format")),
    };
    let lineage = match version {
        MacVersion::V2 => {
            let file_id = value("FileId").ok_or_else(|| edited("[encryption] has no FileId"))?;
            let generation = value("Generation")
                .and_then(|g| g.parse::<u64>().ok())
                .filter(|g| *g > 0)
                .ok_or_else(|| edited("[encryption] has no Generation (a whole number from 1)"))?;
            Some(Lineage {
                file_id,
                generation,
            })
        }
        MacVersion::V1 => {
            if let Some(k) = ["FileId", "Generation"]
                .into_iter()
                .find(|k| value(k).is_some())
            {
                return Err(edited(&format!(
                    "[encryption] {k} is not part of format 1, whose MAC would not cover it"
                )));
            }
            None
        }
    };
    Ok(Header {
        version,
        key_id: KeyId(value("KeyId").ok_or_else(|| edited("[encryption] has no KeyId"))?),
        lineage,
        mac: mac_entry.value.clone(),
        key_file: value("KeyFile").map(|f| config::ConfigPath::beside(path, &f).resolved),
        embedded: doc.get(ENCRYPTION_SECTION, EMBEDDED_KEY),
        key_env: value("KeyEnv").is_some(),
    })
}

fn open_sealed(doc: Document, own: Option<Found>, opts: &KeyOptions) -> Result<Opened> {
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
    let key = keys::pick(&path, found.keys, &header.key_id, &found.origin).map_err(|e| {
        match (&e, from_own && (header.embedded.is_some() || header.key_file.is_some())) {
            (Error::Integrity { message, .. }, true) => Error::integrity(
                &path,
                format!(
                    "{message}. The file names a key of its own, and the key kept for it does not open it: \
                     this is how a config replaced by someone else looks"
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

    let mut opened = decrypt_values(
        doc,
        Format::Sealed,
        |value| crypto::marked_token(value).map(str::to_string),
        &key,
    )?;
    opened.warnings = found.warnings;
    if header.embedded.is_some() {
        opened.warnings.push(format!(
            "{}: the key is embedded in the file (--embed-key): anyone who can read it can decrypt it, and anyone \
             who can write it can reseal it with values of their own; keep the key apart: \
             encrypt-config --rotate {} --new-key-file {}",
            path.display(),
            path.display(),
            keys::default_key_path(&path).display()
        ));
    }
    if header.version == MacVersion::V1 && opts.require_sealed {
        return Err(require_sealed_error(
            &path,
            "the file is sealed in format 1, which has no generation to stop an older copy from being put back; \
             reseal it: encrypt-config --rotate FILE",
        ));
    }
    if header.version == MacVersion::V1 {
        opened.warnings.push(format!(
            "{}: sealed in format 1, whose MAC leaves [encryption] out and which has no generation to stop an \
             older copy from being put back; reseal it with a new key: encrypt-config --rotate {}",
            path.display(),
            path.display()
        ));
    }
    for field in config::schema::SENSITIVE_FIELDS {
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
    opened.key = Some((key, found.origin));
    opened.lineage = header.lineage;
    Ok(opened)
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

/// What a config at this path is now, for the records: `None` for an
/// unsealed or format 1 file.
fn pin_of(opened: &Opened) -> Option<generation::Pin> {
    match (&opened.key, &opened.lineage) {
        (Some((key, _)), Some(lineage)) if opened.format == Format::Sealed => {
            Some(generation::Pin {
                key_id: key.id().0.clone(),
                file_id: lineage.file_id.clone(),
                generation: lineage.generation,
            })
        }
        _ => None,
    }
}

/// Checks an opened file against what was seen before, and records it: the
/// pin of its path (another key, another config, an unsealed or format 1
/// file, or an older generation where a sealed config was seen), and the
/// generation record beside its key. Refuses what does not fit; warns (or
/// refuses under `--require-sealed`) when nothing could be recorded.
fn check_history(opened: &mut Opened, opts: &KeyOptions) -> Result<()> {
    let path = opened.doc.path().to_path_buf();
    let canonical = generation::pin_key(&path);
    let state = opts.state_dir.as_deref();
    let pins = state.map(generation::pins_path);
    let current = pin_of(opened);
    let seen = pins
        .as_ref()
        .map(|p| generation::pinned(p, &canonical))
        .unwrap_or_default();
    if let (Some(pins), Some(first)) = (&pins, seen.first()) {
        let matching = current.as_ref().and_then(|now| {
            seen.iter()
                .find(|p| p.key_id == now.key_id && p.file_id == now.file_id)
        });
        let problem = match (&current, matching) {
            (None, _) if opened.format != Format::Sealed => Some(format!(
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
        };
        if let Some(problem) = problem {
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
    }
    let Some(current) = current else {
        return Ok(());
    };
    let (key, origin) = opened.key.as_ref().expect("a sealed file has a key");
    let lineage = opened
        .lineage
        .as_ref()
        .expect("pinned files have a lineage");
    let beside = generation::record_path(origin, state).filter(|_| *origin != KeyOrigin::Embedded);
    let id = lineage.record_id(key.id());
    let beside_seen = beside.as_ref().and_then(|r| generation::highest(r, &id));
    if let (Some(record), Some(seen)) = (&beside, beside_seen)
        && lineage.generation < seen
    {
        return Err(Error::integrity(
            &path,
            format!(
                "rollback: this is generation {} of the file, but generation {seen} was opened before \
                 (recorded in {}): an older copy has been put back in place of the newest, and with it older \
                 values. Restore the newest copy; if you put this one back on purpose, delete the line for {} \
                 from that record",
                lineage.generation,
                record.display(),
                id
            ),
        ));
    }
    // Reading must not fail because a folder is read-only; but a reader
    // that can record nothing at all has no rollback protection, and says so.
    // What was just read may already record this very file: the usual case,
    // and then nothing is read or written again.
    let mut recorded = false;
    if let Some(pins) = &pins {
        recorded = matches!(seen.as_slice(), [only] if *only == current)
            || match generation::pin(pins, &canonical, &current, generation::PinChange::Seen) {
                Ok(()) => true,
                Err(e) => {
                    tracing::debug!(error = %e, "config path not pinned");
                    false
                }
            };
    }
    if let Some(record) = &beside {
        recorded |= beside_seen == Some(lineage.generation)
            || match generation::note(record, &id, lineage.generation) {
                Ok(()) => true,
                Err(e) => {
                    tracing::debug!(error = %e, "generation not recorded beside the key");
                    false
                }
            };
    }
    if !recorded {
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
    }
    Ok(())
}

/// Records a file `encrypt-config` is about to write (`written` false) or
/// has written (`written` true): the path's pin, and after the write the
/// generation beside its key, so that the copy it replaced can no longer be
/// put back. Pinning before the write as well keeps a run that stops
/// between the two from locking the user out of either file. Returns a
/// warning when nothing could be recorded.
pub fn record_write(
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

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
                    e.line,
                    shown_name(&e.section),
                    shown_name(&e.key)
                ),
            ));
        }
        if crypto::python_token(&e.value).is_some() && config::schema::is_sensitive(&e.key) {
            return Err(Error::KeyNotFound {
                path,
                message: format!(
                    "line {}: [{}] {} looks encrypted by the Python workshop tool, but the file has no SecretKeyFernet",
                    e.line,
                    shown_name(&e.section),
                    shown_name(&e.key)
                ),
            });
        }
    }
    let (values, encrypted) = collect_values(&doc, |_| Ok(None))?;
    let clear: Vec<&str> = config::schema::SENSITIVE_FIELDS
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
        lineage: None,
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

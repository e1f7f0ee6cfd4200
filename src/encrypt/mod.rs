//! What `encrypt-config` does: encrypt, upgrade, set, rotate and check.
//!
//! Every operation reads its input whole, makes its changes in memory,
//! validates the result by opening it exactly as `invoke` will, and only then
//! writes, through a [`Store`], atomically. When a key file and a config must
//! both change, the key file first holds the new key and the old ones, so
//! that whichever config is on disk at any moment can still be opened.

pub mod cli;

use crate::config::crypto::{self, ConfigKey};
use crate::config::document::Document;
use crate::config::keys::{self, KEY_ENV, KeyOptions, KeyOrigin};
use crate::config::sealed::{
    self, EMBEDDED_KEY, ENCRYPTION_SECTION, Format, KeyRecord, Lineage, Opened,
};
use crate::config::{self, BedrockEndpoint, DEFAULT_SECTION, Mode, Validated};
use crate::error::{Error, Location, Result};
use crate::fsutil::{self, Existing};
use crate::prompt::Prompter;
use crate::secret::Secret;
use std::path::{Path, PathBuf};

/// Where the key of a newly encrypted file goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyDest {
    /// A key file (default `OUTPUT.key`).
    File(PathBuf),
    /// Into the config itself (`--embed-key`).
    Embed,
    /// Nowhere: the key comes from [`KEY_ENV`] (`--key-from-env`).
    Env,
}

/// Options for encrypting a plaintext file or upgrading a Python-format one.
#[derive(Debug, Clone)]
pub struct EncryptOptions {
    /// The file to read; never modified.
    pub input: PathBuf,
    /// The file to write.
    pub output: PathBuf,
    /// Where the key goes.
    pub key_dest: KeyDest,
    /// Replace existing output and key files.
    pub force: bool,
    /// Ask for the sensitive fields instead of reading them from the file.
    pub prompt_secrets: bool,
}

/// What an operation did, for the report the binary prints.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The file written.
    pub output: PathBuf,
    /// Fields now encrypted in it.
    pub encrypted: Vec<String>,
    /// Where the key is.
    pub key_location: String,
    /// The key's public id.
    pub key_id: String,
    /// Things worth telling the user.
    pub warnings: Vec<String>,
    /// What to do next.
    pub next: Vec<String>,
}

/// Writes files; the disk in production, a failing stand-in in tests.
pub trait Store {
    /// Writes `contents` to `path` atomically with mode 0600.
    fn write(&mut self, path: &Path, contents: &[u8], existing: Existing) -> Result<()>;
    /// Removes a file this operation created.
    fn remove(&mut self, path: &Path);
}

/// The real file system.
#[derive(Debug, Default)]
pub struct Disk;

impl Store for Disk {
    fn write(&mut self, path: &Path, contents: &[u8], existing: Existing) -> Result<()> {
        fsutil::write_private(path, contents, existing)
    }
    fn remove(&mut self, path: &Path) {
        fsutil::remove_quietly(path);
    }
}

/// Encrypts every sensitive field of a plaintext file into a new file.
pub fn encrypt(
    opts: &EncryptOptions,
    keys_in: &KeyOptions,
    prompter: &mut dyn Prompter,
    store: &mut dyn Store,
) -> Result<Outcome> {
    let mut doc = Document::read(&opts.input)?;
    refuse_non_plain(&doc)?;
    require_default_section(&doc)?;
    let outputs = Outputs::check(opts, keys_in)?;
    if opts.prompt_secrets {
        ask_secrets(&mut doc, prompter)?;
    }
    let plain = sealed::read_unsealed(doc.clone())?;
    // Validation only: the plain file's own warning (secrets in clear text)
    // is what this command is about to fix.
    let validated = config::validate(&plain.values)?;
    let key = new_key(&opts.key_dest, keys_in)?;
    let encrypted = encrypt_fields(&mut doc, &plain, &key);
    finish(
        doc,
        key,
        opts,
        outputs,
        encrypted,
        validated.warnings,
        store,
    )
}

/// Converts a file written by the Python workshop tool into the sealed
/// format with a fresh key, dropping the Fernet key it stored in itself.
pub fn upgrade(
    opts: &EncryptOptions,
    keys_in: &KeyOptions,
    prompter: &mut dyn Prompter,
    store: &mut dyn Store,
) -> Result<Outcome> {
    let input = Document::read(&opts.input)?;
    let opened = match input.has_section(ENCRYPTION_SECTION) {
        true => None,
        false => Some(sealed::read_unsealed(input)?),
    }
    .filter(|o| o.format == Format::Python)
    .ok_or_else(|| {
        Error::refused(
            &opts.input,
            "not in the Python workshop tool's format (no SecretKeyFernet in [default]); \
             encrypt a plaintext file without --upgrade",
        )
    })?;
    let outputs = Outputs::check(opts, keys_in)?;
    let mut doc = opened.doc.clone();
    // Replace each Python token with its plaintext, then encrypt as usual.
    let plain = by_line(&opened.values.default);
    for entry in doc.entries() {
        if crypto::python_token(&entry.value).is_some()
            && let Some(value) = plain.get(&entry.line)
        {
            doc.set_value(entry.index, value.expose());
        }
    }
    if let Some(e) = doc.get(DEFAULT_SECTION, EMBEDDED_KEY) {
        doc.remove(e.index);
    }
    if opened.access_key_defect
        && let Some(e) = doc.get(DEFAULT_SECTION, "AccessKey")
    {
        doc.set_value(e.index, "");
    }
    if opts.prompt_secrets {
        ask_secrets(&mut doc, prompter)?;
    }
    let plain = sealed::read_unsealed(doc.clone())?;
    let mut warnings: Vec<String> = opened
        .warnings
        .iter()
        .filter(|w| !w.contains("written by the Python workshop tool"))
        .cloned()
        .collect();
    let mut next = Vec::new();
    match config::validate(&plain.values) {
        Ok(mut v) => warnings.append(&mut v.warnings),
        Err(Error::Invalid { at, .. })
            if opened.access_key_defect
                && at
                    .key
                    .as_deref()
                    .is_some_and(|k| k.eq_ignore_ascii_case("AccessKey")) =>
        {
            next.push(format!(
                "enter the access key again: encrypt-config --set AccessKey {}",
                opts.output.display()
            ));
        }
        Err(e) => return Err(e),
    }
    let key = new_key(&opts.key_dest, keys_in)?;
    let encrypted = encrypt_fields(&mut doc, &plain, &key);
    let mut outcome = finish(doc, key, opts, outputs, encrypted, warnings, store)?;
    next.append(&mut outcome.next);
    outcome.next = next;
    Ok(outcome)
}

/// Sets one field of a sealed file in place, asking for its value (without
/// echo for sensitive fields), and reseals the file.
pub fn set(
    config_path: &Path,
    field: &str,
    keys_in: &KeyOptions,
    prompter: &mut dyn Prompter,
    store: &mut dyn Store,
) -> Result<Outcome> {
    let opened = sealed::open(config_path, keys_in)?;
    if opened.format != Format::Sealed {
        return Err(Error::refused(
            config_path,
            match opened.format {
                Format::Python => {
                    "written by the Python workshop tool; convert it first with `encrypt-config --upgrade`"
                }
                _ => {
                    "not encrypted; edit it directly, then encrypt it with `encrypt-config FILE -o OUTPUT`"
                }
            },
        ));
    }
    let (section, key_name) = match field.split_once('.') {
        Some((s, k)) => (s.to_string(), k.to_string()),
        None => (DEFAULT_SECTION.to_string(), field.to_string()),
    };
    if section.eq_ignore_ascii_case(ENCRYPTION_SECTION)
        || key_name.eq_ignore_ascii_case(EMBEDDED_KEY)
    {
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
    let in_default = section.eq_ignore_ascii_case(DEFAULT_SECTION);
    let key_name = match config::schema::canonical_key(&key_name) {
        Some(k) if in_default => k.to_string(),
        None if in_default => {
            return Err(Error::Usage(format!(
                "--set {field}: not a key of [default]; expected one of {}",
                config::schema::settable_keys().join(", ")
            )));
        }
        _ => key_name,
    };
    let sensitive = in_default && config::schema::is_sensitive(&key_name);
    let question = format!("{key_name} for {}: ", config_path.display());
    let value = if sensitive {
        prompter.secret(&question)?
    } else {
        prompter.line(&question)?.map(Secret::new)
    }
    .unwrap_or_else(|| Secret::new(""));

    let (key, origin) = opened.key.clone().expect("a sealed file has a key");
    if opened.lineage.is_none() {
        // Format 1 left [encryption] out of its MAC: nothing in it may be
        // carried into a file sealed now, and a reseal with the same key
        // would leave every format 1 copy able to come back.
        return Err(Error::refused(
            config_path,
            format!(
                "sealed in format 1; reseal it with a new key first: encrypt-config --rotate {}",
                config_path.display()
            ),
        ));
    }
    let mut doc = opened.doc.clone();
    let stored = if sensitive && !value.is_empty() {
        key.encrypt(&value)
    } else {
        value.expose().to_string()
    };
    match doc.get(&section, &key_name) {
        Some(e) => doc.set_value(e.index, &stored),
        None => doc.insert(&section, &key_name, &stored),
    }
    let record = sealed::record_for(config_path, &origin);
    let lineage = next_lineage(&opened);
    sealed::seal(&mut doc, &key, &record, &lineage);
    let reopened = sealed::reopen(doc.clone(), &key, &origin)?;
    let mut warnings = validated_warnings(&reopened)?;
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
        next: vec![format!(
            "check it: encrypt-config --check {}",
            config_path.display()
        )],
    })
}

/// Re-encrypts every field of a sealed file with a new key. The key goes
/// where the old one was; a key that came from [`KEY_ENV`] needs
/// `new_key_file`, since the environment cannot be rewritten.
pub fn rotate(
    config_path: &Path,
    keys_in: &KeyOptions,
    new_key_file: Option<&Path>,
    force: bool,
    store: &mut dyn Store,
) -> Result<Outcome> {
    let opened = sealed::open(config_path, keys_in)?;
    if opened.format != Format::Sealed {
        return Err(Error::refused(
            config_path,
            "only a file written by encrypt-config can be rotated; use --upgrade for the Python tool's files",
        ));
    }
    let (old_key, origin) = opened.key.clone().expect("a sealed file has a key");
    let key_file: Option<PathBuf> = match (&origin, new_key_file) {
        (_, Some(p)) => {
            if !force && p.exists() {
                return Err(Error::OutputExists {
                    path: p.to_path_buf(),
                });
            }
            Some(p.to_path_buf())
        }
        (KeyOrigin::Flag(p) | KeyOrigin::File(p), None) => Some(p.clone()),
        (KeyOrigin::Embedded, None) => None,
        (KeyOrigin::Env, None) => {
            return Err(Error::Usage(format!(
                "the key of {} comes from ${KEY_ENV}, which this tool cannot change: \
                 give --new-key-file PATH for the new key (and later store it where ${KEY_ENV} comes from)",
                config_path.display()
            )));
        }
    };
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
    let record = match &key_file {
        Some(p) => KeyRecord::File(sealed::key_file_record(config_path, p)),
        None => KeyRecord::Embedded,
    };
    let lineage = next_lineage(&opened);
    sealed::seal(&mut doc, &key, &record, &lineage);
    let new_origin = key_file
        .clone()
        .map(KeyOrigin::File)
        .unwrap_or(KeyOrigin::Embedded);
    let mut warnings = validated_warnings(&sealed::reopen(doc.clone(), &key, &new_origin)?)?;
    let state = keys_in.state_dir.as_deref();
    let (_, unrecorded) = recorded(config_path, &key, &new_origin, &lineage, state, || {
        commit(
            store,
            key_file.as_deref(),
            &key,
            &[&old_key],
            config_path,
            &doc.render(),
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
        next: vec![format!(
            "check it: encrypt-config --check {}",
            config_path.display()
        )],
    })
}

/// The lineage a rewrite of `opened` gets: one generation more, or a new
/// lineage for a format 1 file, which had none.
fn next_lineage(opened: &Opened) -> Lineage {
    opened
        .lineage
        .as_ref()
        .map(Lineage::next)
        .unwrap_or_default()
}

/// The warnings of a file about to be written, without the one about its
/// old format, which the write itself fixes.
fn validated_warnings(reopened: &Opened) -> Result<Vec<String>> {
    Ok(reopened.validate()?.warnings)
}

/// The redacted summary `--check` prints.
#[derive(Debug, Clone)]
pub struct Summary {
    /// One line per fact, already redacted.
    pub lines: Vec<String>,
    /// Warnings.
    pub warnings: Vec<String>,
}

/// Opens, verifies, decrypts and validates a file, and describes it with
/// every secret redacted.
pub fn check(config_path: &Path, keys_in: &KeyOptions) -> Result<Summary> {
    let (opened, validated) = sealed::open_validated(config_path, keys_in)?;
    Ok(Summary {
        lines: summary_lines(&opened, &validated),
        warnings: validated.warnings,
    })
}

fn summary_lines(opened: &Opened, v: &Validated) -> Vec<String> {
    let c = &v.config;
    let mut out = Vec::new();
    let path = opened.doc.path().display();
    match (&opened.format, &opened.key) {
        (Format::Sealed, Some((key, origin))) => {
            out.push(format!(
                "{path}: MAC verified, {} field(s) decrypted",
                opened.encrypted.len()
            ));
            out.push(row("key", &format!("{} (from {origin})", key.id())));
            out.push(row(
                "generation",
                &match &opened.lineage {
                    Some(l) => format!("{} (file {})", l.generation, l.file_id),
                    None => "none (format 1)".to_string(),
                },
            ));
        }
        (Format::Python, _) => out.push(format!(
            "{path}: Python workshop tool format, {} field(s) decrypted, no MAC",
            opened.encrypted.len()
        )),
        _ => out.push(format!("{path}: plaintext, nothing encrypted")),
    }
    let enc = |field: &str| {
        if opened.encrypted.iter().any(|e| e == field) {
            "  (encrypted)"
        } else {
            "  (clear text)"
        }
    };
    out.push(row(
        "UseVPCe",
        &matches!(c.bedrock, BedrockEndpoint::Vpc(_)).to_string(),
    ));
    out.push(row("GetCredentialsFrom", &c.source.mode().to_string()));
    out.push(row(
        "Region",
        c.region
            .as_ref()
            .map(|r| r.as_str())
            .unwrap_or("(not set: from --region or the AWS environment)"),
    ));
    for s in &c.sensitive {
        out.push(row(
            s.field,
            &format!(
                "{}{}",
                config::schema::shown_value(s.field, &s.value),
                enc(s.field)
            ),
        ));
    }
    let plain: [(&str, Option<String>); 10] = [
        (
            "RoleSessionName",
            c.source.role().and_then(|r| r.session_name.clone()),
        ),
        (
            "SessionDuration",
            c.source
                .role()
                .and_then(|r| r.duration)
                .map(|d| format!("{d} s")),
        ),
        ("Profile", c.profile.clone()),
        ("ModelID", c.model_id.clone()),
        (
            "PromptFilePath",
            c.prompt_file
                .as_ref()
                .map(|p| p.written.display().to_string()),
        ),
        (
            "SystemPromptFile",
            c.system_prompt_file
                .as_ref()
                .map(|p| p.written.display().to_string()),
        ),
        (
            "UserQueryFile",
            c.user_query_file
                .as_ref()
                .map(|p| p.written.display().to_string()),
        ),
        (
            "CABundle",
            c.ca_bundle
                .as_ref()
                .map(|p| p.written.display().to_string()),
        ),
        ("Debug", c.debug.then(|| "true".to_string())),
        (
            "models",
            (!c.models.is_empty()).then(|| {
                let names: Vec<String> = c
                    .models
                    .iter()
                    .map(|m| crate::config::document::shown_name(&m.alias))
                    .collect();
                format!("{} ({})", c.models.len(), names.join(", "))
            }),
        ),
    ];
    for (field, shown) in plain {
        if let Some(shown) = shown {
            out.push(row(field, &shown));
        }
    }
    out
}

fn row(name: &str, value: &str) -> String {
    format!("  {name:<19} {value}")
}

/// Output and key paths, checked before anything is written, and the state
/// folder where the new file is recorded.
struct Outputs {
    key_file: Option<PathBuf>,
    state_dir: Option<PathBuf>,
}

impl Outputs {
    fn check(opts: &EncryptOptions, keys_in: &KeyOptions) -> Result<Outputs> {
        if fsutil::same_file(&opts.input, &opts.output) || opts.input == opts.output {
            return Err(Error::Usage(format!(
                "the output {} is the input; the input is never modified: choose another output path",
                opts.output.display()
            )));
        }
        let key_file = match &opts.key_dest {
            KeyDest::File(p) => Some(p.clone()),
            _ => None,
        };
        if let Some(k) = &key_file
            && (k == &opts.output || k == &opts.input || fsutil::same_file(k, &opts.input))
        {
            return Err(Error::Usage(format!(
                "the key file {} must differ from the input and the output",
                k.display()
            )));
        }
        // An existing key file alone does not block: with no config beside
        // it, it is kept and the new key added ahead of its keys.
        if !opts.force && opts.output.exists() {
            return Err(Error::OutputExists {
                path: opts.output.clone(),
            });
        }
        if let Some(k) = &key_file
            && !opts.force
            && std::fs::symlink_metadata(k).is_ok()
            && keys::read_key_file(k).is_err()
        {
            return Err(Error::refused(
                k,
                "already exists and is not a key file whose keys can be kept; choose another --key-file \
                 or pass --force to replace it",
            ));
        }
        Ok(Outputs {
            key_file,
            state_dir: keys_in.state_dir.clone(),
        })
    }
}

fn refuse_non_plain(doc: &Document) -> Result<()> {
    let path = doc.path();
    if doc.get(DEFAULT_SECTION, EMBEDDED_KEY).is_some() {
        return Err(Error::refused(
            path,
            "written by the Python workshop tool (it has SecretKeyFernet); convert it with \
             `encrypt-config --upgrade INPUT -o OUTPUT`",
        ));
    }
    let entries = doc.entries();
    let marked: Vec<String> = entries
        .iter()
        .filter(|e| crypto::marked_token(&e.value).is_some())
        .map(|e| e.key.clone())
        .collect();
    let clear: Vec<String> = entries
        .iter()
        .filter(|e| {
            e.section.eq_ignore_ascii_case(DEFAULT_SECTION)
                && config::schema::is_sensitive(&e.key)
                && !e.value.is_empty()
                && crypto::marked_token(&e.value).is_none()
        })
        .map(|e| e.key.clone())
        .collect();
    if marked.is_empty() && !doc.has_section(ENCRYPTION_SECTION) {
        return Ok(());
    }
    if clear.is_empty() {
        return Err(Error::refused(
            path,
            "already encrypted; nothing is encrypted twice. Inspect it with `encrypt-config --check`, \
             change a field with `--set FIELD`, or make a new key with `--rotate`",
        ));
    }
    Err(Error::refused(
        path,
        format!(
            "partly encrypted: {} encrypted, {} in clear text. Encrypt a field into it with \
             `encrypt-config --set FIELD {}`",
            if marked.is_empty() {
                "nothing".to_string()
            } else {
                marked.join(", ")
            },
            clear.join(", "),
            path.display()
        ),
    ))
}

fn require_default_section(doc: &Document) -> Result<()> {
    if doc.has_section(DEFAULT_SECTION) {
        return Ok(());
    }
    Err(Error::Invalid {
        at: Location {
            file: doc.path().to_path_buf(),
            line: None,
            section: DEFAULT_SECTION.into(),
            key: None,
        },
        message: "missing; the settings belong in a [default] section".into(),
    })
}

/// The fields worth asking for, given the mode and `UseVPCe` in the file.
fn fields_to_ask(doc: &Document) -> Vec<&'static str> {
    let mode = doc
        .get(DEFAULT_SECTION, "GetCredentialsFrom")
        .and_then(|e| Mode::parse(&e.value));
    let vpce = doc
        .get(DEFAULT_SECTION, "UseVPCe")
        .map(|e| config::schema::parse_bool(&e.value).unwrap_or(true))
        .unwrap_or(false);
    config::schema::SENSITIVE_FIELDS
        .into_iter()
        .filter(|f| match *f {
            "AccessKey" | "SecretKey" => matches!(mode, None | Some(Mode::AccessKeys)),
            "VPCEndpointURL" => vpce,
            _ => matches!(mode, None | Some(Mode::AccessKeys | Mode::AssumeRole)),
        })
        .collect()
}

/// Asks for each relevant sensitive field; an empty answer keeps the file's value.
fn ask_secrets(doc: &mut Document, prompter: &mut dyn Prompter) -> Result<()> {
    for field in fields_to_ask(doc) {
        let existing = doc.get(DEFAULT_SECTION, field);
        let hint = match &existing {
            Some(e) if !e.value.is_empty() && !e.value.starts_with('<') => {
                "Enter keeps the file's value"
            }
            _ if matches!(field, "ExternalId" | "MFASerial" | "STSEndpointURL") => {
                "optional, Enter to skip"
            }
            _ => "Enter to leave unset",
        };
        let Some(value) = prompter.secret(&format!("{field} ({hint}): "))? else {
            continue;
        };
        let value = value.expose().trim().to_string();
        match existing {
            Some(e) => doc.set_value(e.index, &value),
            None => doc.insert(DEFAULT_SECTION, field, &value),
        }
    }
    Ok(())
}

fn new_key(dest: &KeyDest, keys_in: &KeyOptions) -> Result<ConfigKey> {
    match dest {
        KeyDest::Env => {
            let text = keys_in
                .env_key
                .clone()
                .ok_or_else(|| Error::Usage(format!("--key-from-env: ${KEY_ENV} is not set")))?;
            ConfigKey::parse(text, KEY_ENV)
        }
        _ => Ok(ConfigKey::generate()),
    }
}

/// Decrypted values by line number, to put back where they were read.
fn by_line(values: &[config::Value]) -> std::collections::HashMap<usize, &Secret> {
    values.iter().map(|v| (v.line, &v.value)).collect()
}

/// Encrypts the non-empty sensitive fields of `[default]` in place.
fn encrypt_fields(doc: &mut Document, plain: &Opened, key: &ConfigKey) -> Vec<String> {
    let mut names = Vec::new();
    let values = by_line(&plain.values.default);
    for entry in doc.entries() {
        if !entry.section.eq_ignore_ascii_case(DEFAULT_SECTION)
            || !config::schema::is_sensitive(&entry.key)
        {
            continue;
        }
        let Some(value) = values.get(&entry.line) else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        doc.set_value(entry.index, &key.encrypt(value));
        names.push(
            config::schema::canonical_key(&entry.key)
                .unwrap_or("?")
                .to_string(),
        );
    }
    names
}

fn finish(
    mut doc: Document,
    key: ConfigKey,
    opts: &EncryptOptions,
    outputs: Outputs,
    encrypted: Vec<String>,
    mut warnings: Vec<String>,
    store: &mut dyn Store,
) -> Result<Outcome> {
    let state = outputs.state_dir.as_deref();
    let record = match &opts.key_dest {
        KeyDest::File(p) => KeyRecord::File(sealed::key_file_record(&opts.output, p)),
        KeyDest::Embed => KeyRecord::Embedded,
        KeyDest::Env => KeyRecord::Env,
    };
    // The document is checked where it will live, so relative paths resolve.
    let mut placed = Document::parse(&opts.output, &doc.render())?;
    let lineage = Lineage::new();
    sealed::seal(&mut placed, &key, &record, &lineage);
    doc = placed;
    let origin = match &outputs.key_file {
        Some(p) => KeyOrigin::File(p.clone()),
        None if opts.key_dest == KeyDest::Env => KeyOrigin::Env,
        None => KeyOrigin::Embedded,
    };
    // Values were validated before encryption; this proves the sealed text
    // opens with its key before anything is written.
    sealed::reopen(doc.clone(), &key, &origin)?;
    let existing = if opts.force {
        Existing::Replace
    } else {
        Existing::Refuse
    };
    let (kept, unrecorded) = recorded(&opts.output, &key, &origin, &lineage, state, || {
        commit(
            store,
            outputs.key_file.as_deref(),
            &key,
            &[],
            &opts.output,
            &doc.render(),
            existing,
        )
    })?;
    if kept > 0
        && let Some(kf) = &outputs.key_file
    {
        warnings.push(format!(
            "{} already held {kept} key(s) and no {} existed (left by an earlier run that did not finish?): \
             they are kept after the new key; remove them once no other config needs them",
            kf.display(),
            opts.output.display()
        ));
    }
    warnings.extend(unrecorded);
    if opts.key_dest == KeyDest::Embed {
        warnings.push(format!(
            "{}: the key is embedded (--embed-key): anyone who can read this file can decrypt it; \
             it protects against casual reading only",
            opts.output.display()
        ));
    }
    let mut next = vec![format!(
        "check it: encrypt-config --check {}",
        opts.output.display()
    )];
    next.push(format!(
        "then delete the plaintext input, which still holds the secrets: rm {}",
        opts.input.display()
    ));
    if opts.key_dest == KeyDest::Env {
        next.push(format!("readers need ${KEY_ENV} set to the same key"));
    }
    Ok(Outcome {
        output: opts.output.clone(),
        encrypted,
        key_location: origin.to_string(),
        key_id: key.id().to_string(),
        warnings,
        next,
    })
}

/// Runs `write`, which writes `config`, with the file recorded as expected
/// before and as written after (see [`sealed::record_write`]); returns what
/// `write` returned and a warning when nothing could be recorded.
fn recorded<T>(
    config: &Path,
    key: &ConfigKey,
    origin: &KeyOrigin,
    lineage: &Lineage,
    state: Option<&Path>,
    write: impl FnOnce() -> Result<T>,
) -> Result<(T, Option<String>)> {
    sealed::record_write(config, key, origin, lineage, state, false);
    let out = write()?;
    Ok((
        out,
        sealed::record_write(config, key, origin, lineage, state, true),
    ))
}

/// Writes a config and, when there is one, its key file, so that at every
/// moment the config on disk can be opened with the key file on disk.
///
/// A new key file is written first and removed again if the config cannot
/// be written. An existing key file first receives the new key ahead of the
/// keys it held and `old_keys`, then the config is replaced, then the key
/// file is trimmed to the new key; a failure between steps leaves a key file
/// that opens either config.
///
/// A key file that exists while the config does not (left by a run that
/// stopped between the two writes, or named on purpose) is not trimmed:
/// its keys may open some other config, so they stay after the new one.
/// Returns how many such keys were kept.
fn commit(
    store: &mut dyn Store,
    key_file: Option<&Path>,
    key: &ConfigKey,
    old_keys: &[&ConfigKey],
    output: &Path,
    contents: &str,
    existing: Existing,
) -> Result<usize> {
    let Some(kf) = key_file else {
        return store
            .write(output, contents.as_bytes(), existing)
            .map(|()| 0);
    };
    if !kf.exists() {
        store.write(
            kf,
            keys::key_file_text(&[key]).expose().as_bytes(),
            Existing::Refuse,
        )?;
        if let Err(e) = store.write(output, contents.as_bytes(), existing) {
            store.remove(kf);
            return Err(e);
        }
        return Ok(0);
    }
    let orphan = !output.exists();
    let previous = keys::read_key_file(kf).map(|f| f.keys).unwrap_or_default();
    // What the key file must keep opening: what it held, and the old keys.
    let mut kept: Vec<&ConfigKey> = previous.iter().collect();
    kept.extend(
        old_keys
            .iter()
            .copied()
            .filter(|o| !previous.iter().any(|p| p.id() == o.id())),
    );
    let mut both: Vec<&ConfigKey> = vec![key];
    both.extend(kept.iter().copied());
    store.write(
        kf,
        keys::key_file_text(&both).expose().as_bytes(),
        Existing::Replace,
    )?;
    if let Err(e) = store.write(output, contents.as_bytes(), existing) {
        if !kept.is_empty() {
            let _ = store.write(
                kf,
                keys::key_file_text(&kept).expose().as_bytes(),
                Existing::Replace,
            );
        }
        return Err(e);
    }
    if orphan {
        return Ok(kept.len());
    }
    store
        .write(
            kf,
            keys::key_file_text(&[key]).expose().as_bytes(),
            Existing::Replace,
        )
        .map(|()| 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that fails on its `fail_at`-th write (0-based), as a crash
    /// or a full disk would at that point.
    struct FailingStore {
        writes: usize,
        fail_at: usize,
    }

    impl Store for FailingStore {
        fn write(&mut self, path: &Path, contents: &[u8], existing: Existing) -> Result<()> {
            let n = self.writes;
            self.writes += 1;
            if n == self.fail_at {
                return Err(Error::Write {
                    path: path.to_path_buf(),
                    source: std::io::Error::other("injected failure"),
                });
            }
            fsutil::write_private(path, contents, existing)
        }
        fn remove(&mut self, path: &Path) {
            fsutil::remove_quietly(path);
        }
    }

    struct NoPrompts;
    impl Prompter for NoPrompts {
        fn secret(&mut self, _: &str) -> Result<Option<Secret>> {
            panic!("no prompt expected")
        }
        fn line(&mut self, _: &str) -> Result<Option<String>> {
            panic!("no prompt expected")
        }
    }

    const PLAIN: &str = "[default]\nUseVPCe = true\nGetCredentialsFrom = 2\nRegion = us-west-2\n\
        AccessKey = AKIAIOSFODNN7EXAMPLE\nSecretKey = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\
        AssumeRoleARN = arn:aws:iam::222222222222:role/Bedrock\n\
        VPCEndpointURL = https://vpce-1.bedrock-runtime.us-west-2.vpce.amazonaws.com\n";

    fn encrypted_fixture(dir: &Path) -> (PathBuf, PathBuf) {
        let input = dir.join("plain.properties");
        std::fs::write(&input, PLAIN).unwrap();
        let output = dir.join("config.properties");
        let key = dir.join("config.properties.key");
        let opts = EncryptOptions {
            input,
            output: output.clone(),
            key_dest: KeyDest::File(key.clone()),
            force: false,
            prompt_secrets: false,
        };
        encrypt(&opts, &KeyOptions::default(), &mut NoPrompts, &mut Disk).unwrap();
        (output, key)
    }

    /// Key options with a state folder beside `config`, so that the pins
    /// of what was seen are exercised too.
    fn with_state(config: &Path) -> KeyOptions {
        KeyOptions {
            state_dir: Some(config.with_file_name("state")),
            ..KeyOptions::default()
        }
    }

    fn secret_of(config: &Path, field: &str) -> String {
        let (_, v) = sealed::open_validated(config, &with_state(config)).unwrap();
        match field {
            "AccessKey" | "SecretKey" => v.config.sensitive(field).unwrap().expose().to_string(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn rotation_survives_a_failure_at_every_step() {
        for fail_at in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let (config, key) = encrypted_fixture(dir.path());
            // Seen once before the rotation, so its path is pinned.
            secret_of(&config, "AccessKey");
            let before = std::fs::read_to_string(&config).unwrap();
            let mut store = FailingStore { writes: 0, fail_at };
            let result = rotate(&config, &with_state(&config), None, false, &mut store);
            assert!(result.is_err(), "step {fail_at} must fail");
            // Whatever happened, the config on disk opens with the key file on disk.
            assert_eq!(
                secret_of(&config, "AccessKey"),
                "AKIAIOSFODNN7EXAMPLE",
                "after failing step {fail_at}"
            );
            assert_eq!(
                secret_of(&config, "SecretKey"),
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
            );
            let after = std::fs::read_to_string(&config).unwrap();
            if fail_at < 2 {
                assert_eq!(before, after, "config untouched when step {fail_at} fails");
            } else {
                assert_ne!(before, after, "config rotated before the last step failed");
                assert_eq!(
                    keys::read_key_file(&key).unwrap().keys.len(),
                    2,
                    "both keys kept"
                );
            }
        }
    }

    #[test]
    fn rotation_changes_key_and_keeps_values() {
        let dir = tempfile::tempdir().unwrap();
        let (config, key) = encrypted_fixture(dir.path());
        let old_key = std::fs::read_to_string(&key).unwrap();
        let outcome = rotate(&config, &KeyOptions::default(), None, false, &mut Disk).unwrap();
        let new_key = std::fs::read_to_string(&key).unwrap();
        assert_ne!(old_key, new_key);
        assert_eq!(new_key.lines().count(), 1);
        assert_eq!(outcome.encrypted.len(), 4);
        assert_eq!(secret_of(&config, "AccessKey"), "AKIAIOSFODNN7EXAMPLE");
        // The old key no longer opens it.
        let old = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(old.path(), old_key).unwrap();
        let opts = KeyOptions {
            key_file: Some(old.path().to_path_buf()),
            ..KeyOptions::default()
        };
        let err = sealed::open(&config, &opts).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::ExitCode::Integrity, "{err}");
    }

    #[test]
    fn failed_config_write_removes_the_new_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("plain.properties");
        std::fs::write(&input, PLAIN).unwrap();
        let opts = EncryptOptions {
            input,
            output: dir.path().join("out.properties"),
            key_dest: KeyDest::File(dir.path().join("out.properties.key")),
            force: false,
            prompt_secrets: false,
        };
        let mut store = FailingStore {
            writes: 0,
            fail_at: 1,
        };
        encrypt(&opts, &KeyOptions::default(), &mut NoPrompts, &mut store).unwrap_err();
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("plain.properties")]);
    }
}

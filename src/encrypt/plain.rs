//! Encrypting a plaintext file, and converting one the Python workshop
//! tool wrote: the input is never modified; the output and its key are
//! checked before anything is written, and written so that at every moment
//! the config on disk opens with the key on disk.

use super::{Outcome, Store, by_line, commit, recorded};
use crate::config::crypto::{self, ConfigKey};
use crate::config::document::Document;
use crate::config::keys::{self, KEY_ENV, KeyOptions, KeyOrigin};
use crate::config::schema::{self, DEFAULT_SECTION};
use crate::config::sealed::{
    self, EMBEDDED_KEY, ENCRYPTION_SECTION, Format, KeyRecord, Lineage, Opened,
};
use crate::config::{self, Mode};
use crate::error::{Error, Location, Result};
use crate::fsutil::{self, Existing};
use crate::prompt::Prompter;
use std::path::{Path, PathBuf};

/// Where the key of a newly encrypted file goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyDest {
    /// A key file (default `OUTPUT.key`).
    File(PathBuf),
    /// Into the config itself (`--embed-key`).
    Embed,
    /// Nowhere: the key comes from [`KEY_ENV`] (`--key-from-env`).
    Env,
}

/// Options for encrypting a plaintext file or upgrading a Python-format one.
#[derive(Debug, Clone)]
pub(crate) struct EncryptOptions {
    /// The file to read; never modified.
    pub(crate) input: PathBuf,
    /// The file to write.
    pub(crate) output: PathBuf,
    /// Where the key goes.
    pub(crate) key_dest: KeyDest,
    /// Replace existing output and key files.
    pub(crate) force: bool,
    /// Ask for the sensitive fields instead of reading them from the file.
    pub(crate) prompt_secrets: bool,
}

/// Encrypts every sensitive field of a plaintext file into a new file.
pub(crate) fn encrypt(
    opts: &EncryptOptions,
    keys_in: &KeyOptions,
    prompter: &mut dyn Prompter,
    store: &mut dyn Store,
) -> Result<Outcome> {
    let mut doc = Document::read(&opts.input)?;
    refuse_non_plain(&doc)?;
    require_default_section(&doc)?;
    let key_file = check_outputs(opts)?;
    if opts.prompt_secrets {
        ask_secrets(&mut doc, prompter)?;
    }
    let plain = sealed::read_unsealed(doc.clone())?;
    // Validation only: the plain file's own warning (secrets in clear text)
    // is what this command is about to fix.
    let validated = config::validate(&plain.values)?;
    let written = Written::new(&mut doc, &plain, opts, keys_in, key_file)?;
    finish(doc, written, opts, keys_in, validated.warnings, store)
}

/// Converts a file written by the Python workshop tool into the sealed
/// format with a fresh key, dropping the Fernet key it stored in itself.
pub(crate) fn upgrade(
    opts: &EncryptOptions,
    keys_in: &KeyOptions,
    prompter: &mut dyn Prompter,
    store: &mut dyn Store,
) -> Result<Outcome> {
    let opened = open_python(&opts.input)?;
    let key_file = check_outputs(opts)?;
    let mut doc = plain_of_python(&opened);
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
    let written = Written::new(&mut doc, &plain, opts, keys_in, key_file)?;
    let mut outcome = finish(doc, written, opts, keys_in, warnings, store)?;
    next.append(&mut outcome.next);
    outcome.next = next;
    Ok(outcome)
}

/// A file in the Python tool's format, opened; anything else is refused.
fn open_python(input: &Path) -> Result<Opened> {
    let doc = Document::read(input)?;
    let opened = match doc.has_section(ENCRYPTION_SECTION) {
        true => None,
        false => Some(sealed::read_unsealed(doc)?),
    };
    opened
        .filter(|o| o.format == Format::Python)
        .ok_or_else(|| {
            Error::refused(
                input,
                "not in the Python workshop tool's format (no SecretKeyFernet in [default]); \
             encrypt a plaintext file without --upgrade",
            )
        })
}

/// The Python tool's file in clear text: each token replaced with its
/// plaintext, the embedded key removed, and an `AccessKey` that holds the
/// tool's key (its defect) emptied.
fn plain_of_python(opened: &Opened) -> Document {
    let mut doc = opened.doc.clone();
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
    doc
}

/// Checks the output and key paths before anything is written; returns the
/// key file, if the key goes to one.
fn check_outputs(opts: &EncryptOptions) -> Result<Option<PathBuf>> {
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
    Ok(key_file)
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
    if marked.is_empty() && !doc.has_section(ENCRYPTION_SECTION) {
        return Ok(());
    }
    let clear: Vec<String> = entries
        .iter()
        .filter(|e| {
            e.section.eq_ignore_ascii_case(DEFAULT_SECTION)
                && schema::is_sensitive(&e.key)
                && !e.value.is_empty()
                && crypto::marked_token(&e.value).is_none()
        })
        .map(|e| e.key.clone())
        .collect();
    if clear.is_empty() {
        return Err(Error::refused(
            path,
            "already encrypted; nothing is encrypted twice. Inspect it with `encrypt-config --check`, \
             change a field with `--set FIELD`, or make a new key with `--rotate`",
        ));
    }
    let marked = if marked.is_empty() {
        "nothing".to_string()
    } else {
        marked.join(", ")
    };
    Err(Error::refused(
        path,
        format!(
            "partly encrypted: {marked} encrypted, {} in clear text. Encrypt a field into it with \
             `encrypt-config --set FIELD {}`",
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
        .map(|e| schema::parse_bool(&e.value).unwrap_or(true))
        .unwrap_or(false);
    schema::SENSITIVE_FIELDS
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
            _ if matches!(
                field,
                "ExternalId" | "MFASerial" | "STSEndpointURL" | "ControlPlaneEndpointURL"
            ) =>
            {
                "optional, Enter to skip"
            }
            _ => "Enter to leave unset",
        };
        // Each value is checked as it is typed and asked again when it does
        // not fit, so one slip does not lose everything typed before it.
        let value = loop {
            let Some(value) = prompter.secret(&format!("{field} ({hint}): "))? else {
                break None;
            };
            let value = crate::secret::Secret::new(value.expose().trim());
            if value.expose().is_empty() {
                break Some(value);
            }
            match crate::config::check_field(field, &value) {
                Ok(()) => break Some(value),
                Err(why) => eprintln!("{field}: {why}; try again (Ctrl-D to stop)"),
            }
        };
        let Some(value) = value else { continue };
        match existing {
            Some(e) => doc.set_value(e.index, value.expose()),
            None => doc.insert(DEFAULT_SECTION, field, value.expose()),
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

/// Encrypts the non-empty sensitive fields of `[default]` in place.
fn encrypt_fields(doc: &mut Document, plain: &Opened, key: &ConfigKey) -> Vec<String> {
    let mut names = Vec::new();
    let values = by_line(&plain.values.default);
    for entry in doc.entries() {
        if !entry.section.eq_ignore_ascii_case(DEFAULT_SECTION) || !schema::is_sensitive(&entry.key)
        {
            continue;
        }
        let Some(value) = values.get(&entry.line).filter(|v| !v.is_empty()) else {
            continue;
        };
        doc.set_value(entry.index, &key.encrypt(value));
        names.push(schema::canonical_key(&entry.key).unwrap_or("?").to_string());
    }
    names
}

/// What the new file is sealed with.
struct Written {
    key: ConfigKey,
    key_file: Option<PathBuf>,
    encrypted: Vec<String>,
}

impl Written {
    /// A new key (or the environment's), and every sensitive field of
    /// `plain` encrypted with it into `doc`.
    fn new(
        doc: &mut Document,
        plain: &Opened,
        opts: &EncryptOptions,
        keys_in: &KeyOptions,
        key_file: Option<PathBuf>,
    ) -> Result<Written> {
        let key = new_key(&opts.key_dest, keys_in)?;
        let encrypted = encrypt_fields(doc, plain, &key);
        Ok(Written {
            key,
            key_file,
            encrypted,
        })
    }
}

/// Seals the document where it will live, proves it opens with its key,
/// writes it and its key, and says what was done and what to do next.
fn finish(
    doc: Document,
    written: Written,
    opts: &EncryptOptions,
    keys_in: &KeyOptions,
    mut warnings: Vec<String>,
    store: &mut dyn Store,
) -> Result<Outcome> {
    let Written {
        key,
        key_file,
        encrypted,
    } = written;
    let (record, origin) = match (&opts.key_dest, &key_file) {
        (KeyDest::File(p), _) => (
            KeyRecord::File(sealed::key_file_record(&opts.output, p)),
            KeyOrigin::File(p.clone()),
        ),
        (KeyDest::Env, _) => (KeyRecord::Env, KeyOrigin::Env),
        (KeyDest::Embed, _) => (KeyRecord::Embedded, KeyOrigin::Embedded),
    };
    // The document is checked where it will live, so relative paths resolve.
    let mut doc = Document::parse(&opts.output, &doc.render())?;
    let lineage = Lineage::new();
    sealed::seal(&mut doc, &key, &record, &lineage);
    // Values were validated before encryption; this proves the sealed text
    // opens with its key before anything is written.
    sealed::reopen(doc.clone(), &key, &origin)?;
    let existing = if opts.force {
        Existing::Replace
    } else {
        Existing::Refuse
    };
    let state = keys_in.state_dir.as_deref();
    let (kept, unrecorded) = recorded(&opts.output, &key, &origin, &lineage, state, || {
        let contents = doc.render();
        commit(
            store,
            key_file.as_deref(),
            &key,
            &[],
            &opts.output,
            &contents,
            existing,
        )
    })?;
    if kept > 0
        && let Some(kf) = &key_file
    {
        warnings.push(format!(
            "{} already held {kept} key(s) and no {} existed (left by an earlier run that did not finish?): \
             they are kept after the new key; remove them once no other config needs them",
            kf.display(),
            opts.output.display()
        ));
    }
    warnings.extend(unrecorded);
    Ok(Outcome {
        output: opts.output.clone(),
        encrypted,
        key_location: origin.to_string(),
        key_id: key.id().to_string(),
        next: next_steps(opts, &mut warnings),
        warnings,
    })
}

/// Whether the file at `path` has a sensitive field with a real value in
/// `[default]` (not empty, not a `<placeholder>`).
fn input_holds_secrets(path: &Path) -> bool {
    let Ok(doc) = Document::read(path) else {
        return true;
    };
    doc.entries().iter().any(|e| {
        e.section.eq_ignore_ascii_case(DEFAULT_SECTION)
            && schema::is_sensitive(&e.key)
            && !e.value.trim().is_empty()
            && !e.value.trim().starts_with('<')
    })
}

/// What to do after encrypting, and the warning an embedded key deserves.
fn next_steps(opts: &EncryptOptions, warnings: &mut Vec<String>) -> Vec<String> {
    if opts.key_dest == KeyDest::Embed {
        warnings.push(format!(
            "{}: the key is embedded (--embed-key): anyone who can read this file can decrypt it; \
             it protects against casual reading only",
            opts.output.display()
        ));
    }
    let mut next = super::check_next(&opts.output);
    // With --prompt-secrets the input may be a template that never held a
    // secret: deleting it is advice only where there is something to lose.
    if !opts.prompt_secrets || input_holds_secrets(&opts.input) {
        next.push(format!(
            "then delete the plaintext input, which still holds the secrets: rm {}",
            opts.input.display()
        ));
    }
    if opts.key_dest == KeyDest::Env {
        next.push(format!("readers need ${KEY_ENV} set to the same key"));
    }
    next
}

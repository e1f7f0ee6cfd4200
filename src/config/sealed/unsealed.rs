//! Files that are not sealed: the Python workshop tool's (its key inside
//! it, no MAC) and plaintext ones. Read as they are, with what they lack
//! said in warnings.

use super::{Format, Opened, collect_values, decrypt_values};
use crate::config::crypto::{self, ConfigKey};
use crate::config::document::{Document, shown_name};
use crate::config::keys::KeyOrigin;
use crate::config::schema;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// Opens a file the Python tool wrote; its key is the `SecretKeyFernet` entry `entry`.
pub(super) fn open_python(doc: Document, entry: crate::config::document::Entry) -> Result<Opened> {
    let path = doc.path().to_path_buf();
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

/// Opens a plaintext file.
pub(super) fn open_plain(doc: Document) -> Result<Opened> {
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
        if crypto::python_token(&e.value).is_some() && schema::is_sensitive(&e.key) {
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
    let clear: Vec<&str> = schema::SENSITIVE_FIELDS
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

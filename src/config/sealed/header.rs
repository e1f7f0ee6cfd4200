//! The `[encryption]` section of a sealed file, checked for shape before
//! any key is used: only the keys `encrypt-config` writes, the MAC last in
//! the file, a format this version knows, and the lineage format 2 needs.

use super::{EMBEDDED_KEY, ENCRYPTION_SECTION, FORMAT_VERSION, LEGACY_FORMAT, Lineage, MAC_KEY};
use crate::config::ConfigPath;
use crate::config::crypto::{KeyId, MacVersion};
use crate::config::document::{Document, Entry, shown_name};
use crate::error::{Error, Result};
use std::path::PathBuf;

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

/// What `[encryption]` says.
pub(super) struct Header {
    pub(super) version: MacVersion,
    pub(super) key_id: KeyId,
    pub(super) lineage: Option<Lineage>,
    pub(super) mac: String,
    pub(super) key_file: Option<PathBuf>,
    pub(super) embedded: Option<Entry>,
    pub(super) key_env: bool,
}

/// Reads and checks the header of `doc`.
pub(super) fn header(doc: &Document) -> Result<Header> {
    let path = doc.path();
    let edited = |what: &str| Error::integrity(path, format!("{what}; the section was edited"));
    let mac_entry = mac_entry(doc)?;
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
    Ok(Header {
        lineage: lineage(version, &value).map_err(|what| edited(&what))?,
        version,
        key_id: KeyId(value("KeyId").ok_or_else(|| edited("[encryption] has no KeyId"))?),
        mac: mac_entry.value,
        key_file: value("KeyFile").map(|f| ConfigPath::beside(path, &f).resolved),
        embedded: doc.get(ENCRYPTION_SECTION, EMBEDDED_KEY),
        key_env: value("KeyEnv").is_some(),
    })
}

/// The MAC entry, once every `[encryption]` key is known and nothing
/// follows the MAC.
fn mac_entry(doc: &Document) -> Result<Entry> {
    let path = doc.path();
    let entries = doc.entries();
    let mut mac = None;
    for e in entries
        .iter()
        .filter(|e| e.section.eq_ignore_ascii_case(ENCRYPTION_SECTION))
    {
        if e.key.eq_ignore_ascii_case(MAC_KEY) {
            mac = Some(e);
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
    let mac = mac
        .ok_or_else(|| Error::integrity(path, "[encryption] has no MAC; the section was edited"))?;
    if let Some(after) = entries.iter().find(|e| e.index > mac.index) {
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
    Ok(mac.clone())
}

/// Format 2's file id and generation; format 1 has none, and may not
/// carry them (its MAC would not cover them). The error says what is wrong.
fn lineage(
    version: MacVersion,
    value: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<Option<Lineage>, String> {
    match version {
        MacVersion::V2 => {
            let file_id = value("FileId").ok_or("[encryption] has no FileId")?;
            let generation = value("Generation")
                .and_then(|g| g.parse::<u64>().ok())
                .filter(|g| *g > 0)
                .ok_or("[encryption] has no Generation (a whole number from 1)")?;
            Ok(Some(Lineage {
                file_id,
                generation,
            }))
        }
        MacVersion::V1 => match ["FileId", "Generation"]
            .into_iter()
            .find(|k| value(k).is_some())
        {
            Some(k) => Err(format!(
                "[encryption] {k} is not part of format 1, whose MAC would not cover it"
            )),
            None => Ok(None),
        },
    }
}

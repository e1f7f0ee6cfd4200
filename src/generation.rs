//! Rollback protection: the highest generation of a sealed config seen per
//! key id, kept beside the key.
//!
//! Every write of a sealed config (`encrypt-config`, `--set`, `--rotate`)
//! raises the `Generation` recorded in its `[encryption]` section, under the
//! MAC. An older sealed copy put back in place of the current one still has a
//! valid MAC, so the MAC alone cannot catch it; this record can. Whoever
//! opens a config notes its generation here, and a generation lower than one
//! already seen for the same key is refused.
//!
//! The record lives where the key does, with the key's protection: beside a
//! key file (`KEYFILE.generation`), or, for a key given in the environment,
//! in the user's state folder. A config whose key is embedded in itself has
//! no record: whoever can write it can write its key too.

use crate::crypto::KeyId;
use crate::error::Result;
use crate::keys::KeyOrigin;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The environment variable that moves the state folder (where records for
/// keys given in the environment are kept).
pub const STATE_ENV: &str = "BEDROCK_PRIVATE_STATE_DIR";

/// A record larger than this is not ours; it is read as empty.
const MAX_RECORD_BYTES: u64 = 1024 * 1024;

/// Where the generation record for a key found at `origin` is kept, if
/// anywhere.
pub fn record_path(origin: &KeyOrigin) -> Option<PathBuf> {
    match origin {
        KeyOrigin::Flag(p) | KeyOrigin::File(p) => {
            let mut name = p.as_os_str().to_owned();
            name.push(".generation");
            Some(PathBuf::from(name))
        }
        KeyOrigin::Env => state_dir().map(|d| d.join("generations")),
        KeyOrigin::Embedded => None,
    }
}

/// `$BEDROCK_PRIVATE_STATE_DIR`, else `$XDG_STATE_HOME/bedrock-private`,
/// else `~/.local/state/bedrock-private`.
fn state_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(d) = var(STATE_ENV) {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = var("XDG_STATE_HOME") {
        return Some(PathBuf::from(d).join("bedrock-private"));
    }
    var("HOME").map(|h| PathBuf::from(h).join(".local/state/bedrock-private"))
}

/// The highest generation recorded for `id` in the record at `path`; a
/// missing or unreadable record holds none.
pub fn highest(path: &Path, id: &KeyId) -> Option<u64> {
    entries(path)
        .into_iter()
        .find(|(k, _)| k == &id.0)
        .map(|(_, g)| g)
}

/// Records that generation `generation` of a config sealed with key `id`
/// was seen, when it is higher than what the record holds.
pub fn note(path: &Path, id: &KeyId, generation: u64) -> Result<()> {
    let mut all = entries(path);
    match all.iter_mut().find(|(k, _)| k == &id.0) {
        Some((_, g)) if *g >= generation => return Ok(()),
        Some((_, g)) => *g = generation,
        None => all.push((id.0.clone(), generation)),
    }
    let mut text = String::from(
        "# The highest generation of a sealed config seen per key id, written by bedrock-private.\n\
         # A config older than this is refused as a rollback. Delete a line to accept an older copy.\n",
    );
    for (k, g) in &all {
        text.push_str(&format!("{k} {g}\n"));
    }
    let dir = crate::fsutil::parent_dir(path);
    if !dir.exists() {
        create_private_dir(&dir).map_err(|source| crate::error::Error::Write {
            path: dir.clone(),
            source,
        })?;
    }
    crate::fsutil::write_private(path, text.as_bytes(), crate::fsutil::Existing::Replace)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// The `(key id, generation)` lines of a record; malformed lines are
/// skipped, since a record only ever raises a bar.
fn entries(path: &Path) -> Vec<(String, u64)> {
    let Ok(file) = crate::keys::open_nonblocking(path) else {
        return Vec::new();
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Vec::new();
    }
    let mut text = String::new();
    if file
        .take(MAX_RECORD_BYTES)
        .read_to_string(&mut text)
        .is_err()
    {
        return Vec::new();
    }
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (id, generation) = l.split_once(' ')?;
            Some((id.to_string(), generation.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_only_raises() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.generation");
        let a = KeyId("aaaa".into());
        let b = KeyId("bbbb".into());
        assert_eq!(highest(&path, &a), None);
        note(&path, &a, 3).unwrap();
        note(&path, &a, 2).unwrap();
        note(&path, &b, 7).unwrap();
        assert_eq!(highest(&path, &a), Some(3));
        assert_eq!(highest(&path, &b), Some(7));
        note(&path, &a, 5).unwrap();
        assert_eq!(highest(&path, &a), Some(5));
    }

    #[test]
    fn record_sits_beside_a_key_file() {
        let p = record_path(&KeyOrigin::File(PathBuf::from("/x/c.properties.key")));
        assert_eq!(p, Some(PathBuf::from("/x/c.properties.key.generation")));
        assert_eq!(record_path(&KeyOrigin::Embedded), None);
    }
}

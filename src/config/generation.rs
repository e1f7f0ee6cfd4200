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
//!
//! A key can seal several configs (one key in the environment for dev and
//! prod), and the record beside it cannot tell them apart. So each config's
//! path is also pinned, in the user's state folder, to the key id, file id
//! and generation last seen there ([`Pin`]): another config copied over it,
//! a config resealed with someone else's key (embedded, or named in the
//! file), or an unsealed file in its place is refused. `encrypt-config`
//! moves a pin when it writes a config; readers only raise the generation.

use crate::config::crypto::KeyId;
use crate::config::keys::KeyOrigin;
use crate::error::Result;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The environment variable that moves the state folder (where records for
/// keys given in the environment are kept).
pub(crate) const STATE_ENV: &str = "BEDROCK_PRIVATE_STATE_DIR";

/// A record larger than this is not ours; it is read as empty.
const MAX_RECORD_BYTES: u64 = 1024 * 1024;

/// What a config's path was last seen holding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pin {
    /// The id of the key it was sealed with.
    pub(crate) key_id: String,
    /// Its file id.
    pub(crate) file_id: String,
    /// Its generation.
    pub(crate) generation: u64,
}

/// Where the pins of config paths are kept: `configs` in the state folder.
pub(crate) fn pins_path(state: &Path) -> PathBuf {
    state.join("configs")
}

/// The path a config is pinned under: its folder resolved, its own name
/// as it is (a config that is a link is pinned as the link). It works for a
/// file not written yet.
pub(crate) fn pin_key(config: &Path) -> PathBuf {
    let dir = crate::fsutil::parent_dir(config);
    let dir = dir.canonicalize().unwrap_or(dir);
    match config.file_name() {
        Some(name) => dir.join(name),
        None => config.to_path_buf(),
    }
}

/// The pins of the config at `config` (a canonical path) in the pins file
/// at `pins`: one, or two while `encrypt-config` replaces the config.
pub(crate) fn pinned(pins: &Path, config: &Path) -> Vec<Pin> {
    let wanted = config.to_string_lossy();
    lines(pins)
        .iter()
        .filter_map(|l| {
            let (pin, path) = parse_pin(l)?;
            (path == wanted).then_some(pin)
        })
        .collect()
}

/// How [`pin`] changes the pins of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PinChange {
    /// A reader opened this file: when it matches a pin (key and file id),
    /// it becomes the only pin, at the higher generation; a file matching
    /// none changes nothing.
    Seen,
    /// `encrypt-config` is about to write this file: it is pinned beside
    /// what is pinned now, so that whichever is on disk after a crash opens.
    Expected,
    /// `encrypt-config` has written this file: it becomes the only pin.
    Written,
}

/// Changes the pins of `config` (a canonical path) as `change` says.
pub(crate) fn pin(pins: &Path, config: &Path, pin: &Pin, change: PinChange) -> Result<()> {
    let wanted = config.to_string_lossy();
    let mut kept = Vec::new();
    let mut current = Vec::new();
    for l in lines(pins) {
        match parse_pin(&l) {
            Some((old, path)) if path == wanted => current.push((old, l)),
            Some(_) => kept.push(l),
            None => {}
        }
    }
    let same = |p: &Pin| p.key_id == pin.key_id && p.file_id == pin.file_id;
    match change {
        PinChange::Seen if current.is_empty() => {}
        PinChange::Seen => {
            let Some((old, _)) = current.iter().find(|(p, _)| same(p)) else {
                return Ok(());
            };
            if current.len() == 1 && old.generation >= pin.generation {
                return Ok(());
            }
        }
        PinChange::Expected => kept.extend(
            current
                .into_iter()
                .filter(|(p, _)| !same(p))
                .map(|(_, l)| l),
        ),
        PinChange::Written => {}
    }
    kept.push(format!(
        "{} {} {} {wanted}",
        pin.key_id, pin.file_id, pin.generation
    ));
    write_record(
        pins,
        "# Each config path with the key id, file id and generation last seen there, written by bedrock-private.\n\
         # Another config, another key or an unsealed file at a pinned path is refused. Delete a line to allow it.\n",
        &kept,
    )
}

fn parse_pin(line: &str) -> Option<(Pin, &str)> {
    let mut parts = line.splitn(4, ' ');
    let key_id = parts.next()?.to_string();
    let file_id = parts.next()?.to_string();
    let generation = parts.next()?.parse().ok()?;
    let path = parts.next()?;
    Some((
        Pin {
            key_id,
            file_id,
            generation,
        },
        path,
    ))
}

/// Where the generation record for a key found at `origin` is kept, if
/// anywhere.
pub(crate) fn record_path(origin: &KeyOrigin, state: Option<&Path>) -> Option<PathBuf> {
    match origin {
        KeyOrigin::Flag(p) | KeyOrigin::File(p) => {
            let mut name = p.as_os_str().to_owned();
            name.push(".generation");
            Some(PathBuf::from(name))
        }
        KeyOrigin::Env => state.map(|d| d.join("generations")),
        KeyOrigin::Embedded => None,
    }
}

/// The state folder from the environment: `$BEDROCK_PRIVATE_STATE_DIR`,
/// else `$XDG_STATE_HOME/bedrock-private`, else
/// `~/.local/state/bedrock-private`.
pub(crate) fn state_dir_from_env() -> Option<PathBuf> {
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
pub(crate) fn highest(path: &Path, id: &KeyId) -> Option<u64> {
    entries(path)
        .into_iter()
        .find(|(k, _)| k == &id.0)
        .map(|(_, g)| g)
}

fn entries(path: &Path) -> Vec<(String, u64)> {
    lines(path)
        .iter()
        .filter_map(|l| {
            let (id, generation) = l.split_once(' ')?;
            Some((id.to_string(), generation.trim().parse().ok()?))
        })
        .collect()
}

/// Records that generation `generation` of a config sealed with key `id`
/// was seen, when it is higher than what the record holds.
pub(crate) fn note(path: &Path, id: &KeyId, generation: u64) -> Result<()> {
    let mut all = entries(path);
    match all.iter_mut().find(|(k, _)| k == &id.0) {
        Some((_, g)) if *g >= generation => return Ok(()),
        Some((_, g)) => *g = generation,
        None => all.push((id.0.clone(), generation)),
    }
    let lines: Vec<String> = all.iter().map(|(k, g)| format!("{k} {g}")).collect();
    write_record(
        path,
        "# The highest generation of a sealed config seen per key id, written by bedrock-private.\n\
         # A config older than this is refused as a rollback. Delete a line to accept an older copy.\n",
        &lines,
    )
}

/// Writes a record: its comment, then one line each, atomically, 0600, in
/// a folder created 0700 when missing.
fn write_record(path: &Path, comment: &str, lines: &[String]) -> Result<()> {
    let mut text = String::from(comment);
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    let dir = crate::fsutil::parent_dir(path);
    if !dir.exists() {
        create_private_dir(&dir).map_err(|source| crate::error::Error::Write {
            path: dir.clone(),
            source,
        })?;
    }
    // The record is this tool's own file: a link in its place was put there
    // by someone else, and is refused rather than followed.
    crate::fsutil::write_private_with(
        path,
        text.as_bytes(),
        crate::fsutil::Existing::Replace,
        crate::fsutil::Links::Refuse,
    )
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

/// The lines of a record but comments and blank lines; a record that is
/// missing, not a regular file or too large holds none.
fn lines(path: &Path) -> Vec<String> {
    let links = crate::fsutil::Links::Follow;
    let Ok((mut reader, _)) = crate::fsutil::open_small(path, MAX_RECORD_BYTES, links) else {
        return Vec::new();
    };
    let mut text = String::new();
    if reader.read_to_string(&mut text).is_err() {
        return Vec::new();
    }
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
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
    fn pins_move_only_when_written() {
        let dir = tempfile::tempdir().unwrap();
        let pins = dir.path().join("configs");
        let config = Path::new("/x/my config.properties");
        let pin_of = |k: &str, f: &str, g| Pin {
            key_id: k.into(),
            file_id: f.into(),
            generation: g,
        };
        use PinChange::*;
        assert_eq!(pinned(&pins, config), vec![]);
        pin(&pins, config, &pin_of("k1", "f1", 2), Written).unwrap();
        pin(&pins, config, &pin_of("k1", "f1", 1), Seen).unwrap();
        pin(&pins, config, &pin_of("k2", "f2", 9), Seen).unwrap();
        assert_eq!(pinned(&pins, config), vec![pin_of("k1", "f1", 2)]);
        pin(&pins, config, &pin_of("k1", "f1", 3), Seen).unwrap();
        assert_eq!(pinned(&pins, config), vec![pin_of("k1", "f1", 3)]);
        // A rewrite in progress: both open until one is seen or written.
        pin(&pins, config, &pin_of("k2", "f1", 4), Expected).unwrap();
        assert_eq!(
            pinned(&pins, config),
            vec![pin_of("k1", "f1", 3), pin_of("k2", "f1", 4)]
        );
        pin(&pins, config, &pin_of("k1", "f1", 3), Seen).unwrap();
        assert_eq!(pinned(&pins, config), vec![pin_of("k1", "f1", 3)]);
        pin(&pins, config, &pin_of("k2", "f2", 1), Written).unwrap();
        assert_eq!(pinned(&pins, config), vec![pin_of("k2", "f2", 1)]);
        assert_eq!(pinned(&pins, Path::new("/x/my")), vec![]);
    }

    #[cfg(unix)]
    #[test]
    fn a_link_in_place_of_a_record_is_refused_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, "mine\n").unwrap();
        let path = dir.path().join("k.generation");
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        assert!(note(&path, &KeyId("aaaa".into()), 3).is_err());
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "mine\n");
    }

    #[test]
    fn record_sits_beside_a_key_file() {
        let p = record_path(&KeyOrigin::File(PathBuf::from("/x/c.properties.key")), None);
        assert_eq!(p, Some(PathBuf::from("/x/c.properties.key.generation")));
        assert_eq!(
            record_path(&KeyOrigin::Embedded, Some(Path::new("/s"))),
            None
        );
        assert_eq!(
            record_path(&KeyOrigin::Env, Some(Path::new("/s"))),
            Some(PathBuf::from("/s/generations"))
        );
    }
}

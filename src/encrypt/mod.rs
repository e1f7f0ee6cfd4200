//! What `encrypt-config` does: encrypt and upgrade (`plain`), set one
//! field (`set`), rotate the key (`rotate`) and check (`summary`).
//!
//! Every operation reads its input whole, makes its changes in memory,
//! validates the result by opening it exactly as `invoke` will, and only then
//! writes, through a `Store`, atomically. When a key file and a config must
//! both change, the key file first holds the new key and the old ones, so
//! that whichever config is on disk at any moment can still be opened.

pub mod cli;
mod plain;
mod rotate;
pub(crate) mod set;
mod summary;

pub(crate) use plain::{EncryptOptions, KeyDest, encrypt, upgrade};
pub(crate) use rotate::rotate;
pub(crate) use set::set;
pub(crate) use summary::check;

use crate::config::crypto::ConfigKey;
use crate::config::keys::{self, KeyOrigin};
use crate::config::sealed::{self, Lineage, Opened};
use crate::error::Result;
use crate::fsutil::{self, Existing};
use crate::secret::Secret;
use std::path::{Path, PathBuf};

/// What an operation did, for the report the binary prints.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome {
    /// The file written.
    pub(crate) output: PathBuf,
    /// Fields now encrypted in it.
    pub(crate) encrypted: Vec<String>,
    /// Where the key is.
    pub(crate) key_location: String,
    /// The key's public id.
    pub(crate) key_id: String,
    /// Things worth telling the user.
    pub(crate) warnings: Vec<String>,
    /// What to do next.
    pub(crate) next: Vec<String>,
}

/// Writes files; the disk in production, a failing stand-in in tests.
pub(crate) trait Store {
    /// Writes `contents` to `path` atomically with mode 0600.
    fn write(&mut self, path: &Path, contents: &[u8], existing: Existing) -> Result<()>;
    /// Removes a file this operation created.
    fn remove(&mut self, path: &Path);
}

/// The real file system.
#[derive(Debug, Default)]
pub(crate) struct Disk;

impl Store for Disk {
    fn write(&mut self, path: &Path, contents: &[u8], existing: Existing) -> Result<()> {
        fsutil::write_private(path, contents, existing)
    }
    fn remove(&mut self, path: &Path) {
        fsutil::remove_quietly(path);
    }
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

/// Decrypted values by line number, to put back where they were read.
fn by_line(values: &[crate::config::Value]) -> std::collections::HashMap<usize, &Secret> {
    values.iter().map(|v| (v.line, &v.value)).collect()
}

/// The first thing to do after any write.
fn check_next(config: &Path) -> Vec<String> {
    vec![format!(
        "check it: encrypt-config --check {}",
        config.display()
    )]
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
    use crate::config::keys::KeyOptions;
    use crate::error::Error;
    use crate::prompt::Prompter;

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

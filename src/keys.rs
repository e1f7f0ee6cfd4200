//! Where a file's Fernet key is kept and how it is found again.
//!
//! By default the key lives in its own file beside the config (`CONFIG.key`,
//! mode 0600), never in the file it protects. It can instead come from the
//! environment variable [`KEY_ENV`] (for secret managers and CI), or be
//! embedded in the config on request, as the workshop tool did. A key file
//! may hold more than one key, newest first: during rotation it briefly holds
//! the new and the old, so that whichever config is on disk can be opened.

use crate::crypto::{ConfigKey, KeyId};
use crate::error::{Error, Result};
use crate::secret::Secret;
use std::fmt;
use std::path::{Path, PathBuf};

/// The environment variable that can hold a config's Fernet key.
pub const KEY_ENV: &str = "BEDROCK_PRIVATE_CONFIG_KEY";

/// Where to look for keys beyond what the file itself records; the binaries
/// fill this from flags and the environment.
#[derive(Debug, Clone, Default)]
pub struct KeyOptions {
    /// `--key-file`: takes precedence over everything else.
    pub key_file: Option<PathBuf>,
    /// The value of [`KEY_ENV`], if set.
    pub env_key: Option<Secret>,
}

impl KeyOptions {
    /// Reads [`KEY_ENV`] from the process environment.
    pub fn from_env(key_file: Option<PathBuf>) -> KeyOptions {
        KeyOptions {
            key_file,
            env_key: std::env::var(KEY_ENV)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(Secret::new),
        }
    }
}

/// Where a key was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// A key file given with `--key-file`.
    Flag(PathBuf),
    /// The [`KEY_ENV`] environment variable.
    Env,
    /// `SecretKeyFernet` inside the config itself.
    Embedded,
    /// The key file the config names, or `CONFIG.key`.
    File(PathBuf),
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyOrigin::Flag(p) | KeyOrigin::File(p) => write!(f, "{}", p.display()),
            KeyOrigin::Env => write!(f, "${KEY_ENV}"),
            KeyOrigin::Embedded => write!(f, "SecretKeyFernet in the file itself"),
        }
    }
}

/// The key file that goes with a config by default: `CONFIG.key`.
pub fn default_key_path(config: &Path) -> PathBuf {
    let mut name = config.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

/// Reads the keys in a key file: one per line, newest first; blank lines and
/// lines starting with `#` are ignored.
pub fn read_key_file(path: &Path) -> Result<Vec<ConfigKey>> {
    let text = Secret::new(std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?);
    let name = path.display().to_string();
    let keys = text
        .expose()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| ConfigKey::parse(Secret::new(l), &name))
        .collect::<Result<Vec<_>>>()?;
    if keys.is_empty() {
        return Err(Error::BadKey { source_name: name });
    }
    Ok(keys)
}

/// The text of a key file holding `keys`, newest first.
pub fn key_file_text(keys: &[&ConfigKey]) -> Secret {
    let mut text = String::new();
    for k in keys {
        text.push_str(k.text().expose());
        text.push('\n');
    }
    Secret::new(text)
}

/// Picks the key with id `wanted` from `candidates`, or explains the mismatch.
pub fn pick(
    config: &Path,
    candidates: Vec<ConfigKey>,
    wanted: &KeyId,
    origin: &KeyOrigin,
) -> Result<ConfigKey> {
    let ids: Vec<String> = candidates.iter().map(|k| k.id().to_string()).collect();
    candidates
        .into_iter()
        .find(|k| k.id() == wanted)
        .ok_or_else(|| {
            Error::integrity(
                config,
                format!(
                    "wrong key: the key from {origin} has id {}, but this file was encrypted with key {wanted}; \
                     use the key file written with it (--key-file) or unset {KEY_ENV} if it holds another file's key",
                    ids.join(", ")
                ),
            )
        })
}

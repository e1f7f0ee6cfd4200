//! Where a file's Fernet key is kept and how it is found again.
//!
//! By default the key lives in its own file beside the config (`CONFIG.key`,
//! mode 0600), never in the file it protects. It can instead come from the
//! environment variable [`KEY_ENV`] (for secret managers and CI), or be
//! embedded in the config on request, as the workshop tool did. A key file
//! may hold more than one key, newest first: during rotation it briefly holds
//! the new and the old, so that whichever config is on disk can be opened.

use crate::config::crypto::{ConfigKey, KeyId};
use crate::error::{Error, Result};
use crate::secret::Secret;
use std::fmt;
use std::path::{Path, PathBuf};

/// The environment variable that can hold a config's Fernet key.
pub const KEY_ENV: &str = "BEDROCK_PRIVATE_CONFIG_KEY";

/// The environment variable that turns on `--require-sealed` for every run.
pub const REQUIRE_SEALED_ENV: &str = "BEDROCK_PRIVATE_REQUIRE_SEALED";

/// The largest key file read: a key is 44 characters, and a key file during
/// rotation holds a few; anything bigger is not a key file (a device, a log
/// file named by mistake) and is refused before it is read whole.
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Where to look for keys beyond what the file itself records; the binaries
/// fill this from flags and the environment.
#[derive(Debug, Clone, Default)]
pub struct KeyOptions {
    /// `--key-file`: takes precedence over everything else.
    pub key_file: Option<PathBuf>,
    /// The value of [`KEY_ENV`], if set.
    pub env_key: Option<Secret>,
    /// `--require-sealed` or [`REQUIRE_SEALED_ENV`]: refuse files that are
    /// not sealed with a key kept apart from them, and key files others can
    /// read.
    pub require_sealed: bool,
    /// Where what was seen of each config is kept (see
    /// `crate::config::generation`); `None` records nothing there.
    pub state_dir: Option<PathBuf>,
}

impl KeyOptions {
    /// Reads [`KEY_ENV`] and [`REQUIRE_SEALED_ENV`] from the process
    /// environment; `require_sealed` is the command-line flag, which the
    /// variable can turn on but never off.
    pub fn from_env(key_file: Option<PathBuf>, require_sealed: bool) -> KeyOptions {
        KeyOptions {
            key_file,
            env_key: std::env::var(KEY_ENV)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(Secret::new),
            require_sealed: require_sealed || env_flag(REQUIRE_SEALED_ENV),
            state_dir: crate::config::generation::state_dir_from_env(),
        }
    }
}

/// Whether an on/off environment variable is on: `1`, `true`, `yes`, `on`.
fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
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

/// The keys of a key file, and what its permissions say about it.
#[derive(Debug)]
pub struct KeyFile {
    /// The keys, newest first.
    pub keys: Vec<ConfigKey>,
    /// Set when group or others may read or write the file: a warning, or
    /// a refusal under `--require-sealed`.
    pub loose_mode: Option<u32>,
}

/// Reads the keys in a key file: one per line, newest first; blank lines and
/// lines starting with `#` are ignored.
///
/// Only a regular file owned by the current user (or root) is read: a FIFO
/// or device would hang or feed garbage, and a key file someone else owns
/// can be swapped for their key, which would then open (and vouch for) a
/// config they wrote. The file is opened without blocking, checked on the
/// open descriptor (so it cannot be swapped between check and read), and
/// read up to [`MAX_KEY_FILE_BYTES`].
pub fn read_key_file(path: &Path) -> Result<KeyFile> {
    use crate::fsutil::{self, Links, Unopened};
    use std::io::Read;
    let read_err = |source: std::io::Error| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let refuse = |why: String| Error::BadKeyFile {
        path: path.to_path_buf(),
        message: why,
    };
    let (mut reader, meta) =
        fsutil::open_small(path, MAX_KEY_FILE_BYTES, Links::Follow).map_err(|e| match e {
            Unopened::NotRegular | Unopened::Link => {
                refuse("not a regular file (a key file is a plain file of one key per line)".into())
            }
            Unopened::TooLarge(len) => refuse(format!(
                "{len} bytes: too large for a key file (at most {MAX_KEY_FILE_BYTES})"
            )),
            Unopened::Io(e) => read_err(e),
        })?;
    let loose_mode = ownership(&meta).map_err(refuse)?;
    let mut bytes = zeroize::Zeroizing::new(Vec::new());
    reader.read_to_end(&mut bytes).map_err(read_err)?;
    let text = Secret::new(
        String::from_utf8(bytes.to_vec())
            .map_err(|_| refuse("not text: a key file holds Fernet keys in base64".into()))?,
    );
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
    Ok(KeyFile { keys, loose_mode })
}

/// What a key file's owner and mode say: an error when someone else owns
/// it or can write it, the mode when group or others can read it.
#[cfg(unix)]
fn ownership(meta: &std::fs::Metadata) -> std::result::Result<Option<u32>, String> {
    use std::os::unix::fs::MetadataExt;
    let me = crate::fsutil::current_uid();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(format!(
            "owned by user id {}, not by you (user id {me}) or root: whoever owns a key file can replace the key, \
             and with it vouch for a config they wrote. Use a key file of your own",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "mode {mode:04o}: group or others can write it, and so put their key in it and vouch for a config \
             they wrote; make it private: chmod 600 FILE"
        ));
    }
    Ok((mode & 0o077 != 0).then_some(mode))
}

#[cfg(not(unix))]
fn ownership(_meta: &std::fs::Metadata) -> std::result::Result<Option<u32>, String> {
    Ok(None)
}

/// The warning for a key file group or others can read, or the refusal
/// under `--require-sealed`.
pub fn loose_mode_message(path: &Path, mode: u32) -> String {
    format!(
        "key file {} has mode {mode:04o}: group or others can read it, and with it every secret of the config; \
         make it private: chmod 600 {}",
        path.display(),
        path.display()
    )
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

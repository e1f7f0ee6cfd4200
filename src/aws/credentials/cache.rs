//! Assumed-role credentials kept between runs, so that a second call within
//! the session skips STS.
//!
//! Each entry is one file, Fernet-encrypted with the config's own key (so it
//! is as safe as the config), mode 0600 in a 0700 folder: by default
//! `$XDG_CACHE_HOME/bedrock-private/credentials` or
//! `~/.cache/bedrock-private/credentials`, moved by [`CACHE_ENV`]. An entry
//! is keyed by role, external id, MFA device, source identity, region and
//! STS endpoint; it is used only until five minutes before it expires.
//!
//! The cache is a convenience, never a reason for a call to fail, and never
//! a way for someone else to feed this tool credentials or make it write
//! through a link:
//! - an entry is opened without following a symlink and without blocking on
//!   a FIFO, and used only if it is a regular file of this user with mode
//!   0600, of a sane size, that decrypts, with an expiry no STS session
//!   could exceed; anything else is a miss, and is replaced by a new file
//!   (the link itself, never its target);
//! - the folder is created 0700 when missing; an existing folder that is a
//!   symlink or belongs to another user is never chmod'ed or used: the run
//!   goes on without the cache, with one warning;
//! - an entry AWS refuses is [evicted](CredentialCache::evict) and not read
//!   again in this run.

use crate::config::crypto::ConfigKey;
use crate::fsutil::{self, Existing};
use crate::secret::Secret;
use aws_credential_types::Credentials;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The environment variable that moves the cache folder.
pub const CACHE_ENV: &str = "BEDROCK_PRIVATE_CACHE_DIR";

/// How long before expiry an entry stops being used.
pub const MARGIN: Duration = Duration::from_secs(300);

/// The furthest ahead an entry may claim to expire: the longest session STS
/// issues for AssumeRole (12 hours), plus five minutes of clock difference.
/// Anything later was not written by this tool.
const LONGEST_SESSION: Duration = Duration::from_secs(12 * 3600 + 300);

/// The largest entry read: a real one is under 2 KiB.
const MAX_ENTRY_BYTES: u64 = 64 * 1024;

/// What identifies an entry. Its parts name the role, its external id,
/// the MFA device, the source identity and a VPC endpoint, so each is a
/// [`Secret`] and the key shows only its hash when formatted.
#[derive(Clone, Default)]
pub struct CacheKey {
    /// The role ARN.
    pub role: Secret,
    /// The external id, if any.
    pub external_id: Option<Secret>,
    /// The MFA device, if any.
    pub mfa_serial: Option<Secret>,
    /// The access key id of the source credentials.
    pub source: Secret,
    /// The region.
    pub region: String,
    /// The STS endpoint, if not AWS's own.
    pub sts_endpoint: Option<Secret>,
    /// The session name and length asked for.
    pub session: String,
}

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CacheKey({})", self.file_name())
    }
}

impl CacheKey {
    /// The entry's file name: a hash, so the folder listing reveals nothing.
    fn file_name(&self) -> String {
        let mut h = Sha256::new();
        fn shown(s: &Option<Secret>) -> &str {
            s.as_ref().map_or("", |s| s.expose())
        }
        for part in [
            self.role.expose(),
            shown(&self.external_id),
            shown(&self.mfa_serial),
            self.source.expose(),
            self.region.as_str(),
            shown(&self.sts_endpoint),
            self.session.as_str(),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        let digest = h.finalize();
        crate::config::crypto::hex(&digest[..16]) + ".cred"
    }
}

/// An entry of the cache folder, as `invoke cache list` shows it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its file.
    pub path: PathBuf,
    /// When this config's key opens it: when the session expires, and its
    /// access key id, redacted.
    pub session: Option<(SystemTime, String)>,
}

/// The cache of one config (entries are encrypted with its key).
///
/// Clones share what one run learns: whether the folder may be used (decided,
/// and warned about, once) and which entries AWS refused.
#[derive(Debug, Clone)]
pub struct CredentialCache {
    dir: PathBuf,
    key: ConfigKey,
    /// `Ok` once the folder is known to be this user's, or why it is not.
    folder: Arc<OnceLock<Result<(), String>>>,
    /// File names of entries evicted in this run.
    evicted: Arc<Mutex<HashSet<String>>>,
}

/// The default folder, if a home or cache folder is known.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os(CACHE_ENV).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(d));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("bedrock-private").join("credentials"))
}

impl CredentialCache {
    /// A cache in `dir` for a config encrypted with `key`.
    pub fn new(dir: PathBuf, key: ConfigKey) -> CredentialCache {
        CredentialCache {
            dir,
            key,
            folder: Arc::new(OnceLock::new()),
            evicted: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The credentials for `k`, if cached and not about to expire.
    pub fn load(&self, k: &CacheKey) -> Option<Credentials> {
        let name = k.file_name();
        if self.evicted.lock().expect("evicted lock").contains(&name) {
            return None;
        }
        if !self.folder_usable(false) {
            return None;
        }
        let path = self.dir.join(&name);
        let token = match read_entry(&path) {
            Ok(t) => t,
            Err(why) => {
                tracing::debug!(path = %path.display(), "cache entry not used: {why}");
                return None;
            }
        };
        let Some(plain) = self.key.decrypt_token(&token) else {
            tracing::debug!(path = %path.display(), "cache entry cannot be decrypted: a miss");
            return None;
        };
        let v: serde_json::Value = serde_json::from_str(plain.expose()).ok()?;
        let expires = match sane_expiry(v.get("expires")?, SystemTime::now()) {
            Ok(e) => e,
            Err(why) => {
                tracing::debug!("cache entry {why}: a miss");
                return None;
            }
        };
        Some(Credentials::new(
            v.get("access_key_id")?.as_str()?,
            v.get("secret_access_key")?.as_str()?,
            Some(v.get("session_token")?.as_str()?.to_string()),
            Some(expires),
            "credential-cache",
        ))
    }

    /// Stores credentials that expire; failures only cost the next run a call.
    pub fn store(&self, k: &CacheKey, creds: &Credentials) {
        let Some(expires) = creds.expiry() else {
            return;
        };
        let Some(token) = creds.session_token() else {
            return;
        };
        if !self.folder_usable(true) {
            return;
        }
        let body = Secret::new(
            serde_json::json!({
                "access_key_id": creds.access_key_id(),
                "secret_access_key": creds.secret_access_key(),
                "session_token": token,
                "expires": expires.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(),
            })
            .to_string(),
        );
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let sealed = self.key.token_at(&body, now);
        let path = self.dir.join(k.file_name());
        // A link in place of the entry goes, not its target; one put back
        // before the write is refused, never followed.
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            fsutil::remove_quietly(&path);
        }
        if let Err(e) = fsutil::write_private_with(
            &path,
            sealed.as_bytes(),
            Existing::Replace,
            fsutil::Links::Refuse,
        ) {
            tracing::debug!(error = %e, "cache entry not written");
        }
    }

    /// Every entry in the folder: its path, and for those this config's
    /// key opens, when the session expires and its access key id.
    pub fn entries(&self) -> Vec<Entry> {
        let Ok(listing) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut entries: Vec<Entry> = listing
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "cred"))
            .map(|path| {
                let session = read_entry(&path)
                    .ok()
                    .and_then(|t| self.key.decrypt_token(&t))
                    .and_then(|plain| {
                        serde_json::from_str::<serde_json::Value>(plain.expose()).ok()
                    })
                    .and_then(|v| {
                        let expires = UNIX_EPOCH
                            + std::time::Duration::from_secs(v.get("expires")?.as_u64()?);
                        let key_id = Secret::new(v.get("access_key_id")?.as_str()?);
                        Some((expires, crate::secret::redact_access_key(&key_id)))
                    });
                Entry { path, session }
            })
            .collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        entries
    }

    /// Removes every entry of the folder (only `*.cred` files, never a
    /// link's target); the number removed.
    pub fn clear(&self) -> usize {
        self.entries()
            .iter()
            .filter(|e| std::fs::remove_file(&e.path).is_ok())
            .count()
    }

    /// Removes the entry for `k`, which AWS refused (expired or revoked
    /// early, or not valid at all), and keeps it from being read again in
    /// this run, so the retry gets fresh credentials from STS.
    pub fn evict(&self, k: &CacheKey) {
        let name = k.file_name();
        tracing::debug!("cache entry refused by AWS: evicted");
        if self.folder_usable(false) {
            fsutil::remove_quietly(&self.dir.join(&name));
        }
        self.evicted.lock().expect("evicted lock").insert(name);
    }

    /// Whether the folder may be used; with `create`, a missing one is made.
    /// The verdict on an existing folder is reached once, and a refusal is
    /// warned about once: the run goes on without the cache.
    fn folder_usable(&self, create: bool) -> bool {
        if let Some(verdict) = self.folder.get() {
            return verdict.is_ok();
        }
        match std::fs::symlink_metadata(&self.dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !create {
                    return false;
                }
                if let Err(e) = create_dir(&self.dir) {
                    tracing::debug!(error = %e, "cache folder not created");
                    return false;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "cache folder unusable");
                return false;
            }
            Ok(_) => {}
        }
        let verdict = self.folder.get_or_init(|| {
            let verdict = check_dir(&self.dir);
            if let Err(why) = &verdict {
                eprintln!(
                    "warning: credential cache not used: {why}; set {CACHE_ENV} to a folder of your own, or give --no-cache"
                );
            }
            verdict
        });
        verdict.is_ok()
    }
}

/// Whether `expires` (seconds since the epoch) is an expiry a cached session
/// can have: later than the margin from `now`, and no later than the longest
/// session. Negative, fractional, huge or non-numeric values are refused,
/// never turned into a time that overflows.
fn sane_expiry(expires: &serde_json::Value, now: SystemTime) -> Result<SystemTime, &'static str> {
    let secs = expires.as_u64().ok_or("has no valid expiry")?;
    let at = UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .ok_or("expires beyond any time this system can hold")?;
    if now.checked_add(MARGIN).is_none_or(|limit| at <= limit) {
        return Err("expires within the margin");
    }
    if now
        .checked_add(LONGEST_SESSION)
        .is_some_and(|limit| at > limit)
    {
        return Err("expires later than any STS session could");
    }
    Ok(at)
}

/// Makes the folder (and missing parents) with mode 0700.
fn create_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Checks an existing folder: not a link, this user's, and then made 0700
/// through the opened descriptor (so a folder swapped for a link in between
/// is never chmod'ed). The error names the folder and says what is wrong.
#[cfg(unix)]
fn check_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let shown = dir.display();
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("{shown}: {e}"))?;
    if meta.file_type().is_symlink() {
        return Err(format!("{shown} is a symbolic link"));
    }
    if !meta.is_dir() {
        return Err(format!("{shown} is not a folder"));
    }
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir)
        .map_err(|e| format!("{shown}: {e}"))?;
    let meta = opened.metadata().map_err(|e| format!("{shown}: {e}"))?;
    let me = fsutil::current_uid();
    if meta.uid() != me {
        return Err(format!(
            "{shown} belongs to user {}, not to this user ({me})",
            meta.uid()
        ));
    }
    if meta.mode() & 0o777 != 0o700 {
        opened
            .set_permissions(std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("{shown}: cannot make it private: {e}"))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_dir(dir: &Path) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if meta.is_dir() {
        Ok(())
    } else {
        Err(format!("{} is not a folder", dir.display()))
    }
}

/// Reads an entry: opened without following a symlink or waiting on a FIFO,
/// then judged on the opened file itself (fstat): a regular file of this
/// user, mode 0600, of a sane size. The error says why it is not used.
#[cfg(unix)]
fn read_entry(path: &Path) -> Result<String, String> {
    use fsutil::Unopened;
    use std::os::unix::fs::MetadataExt;
    let (mut reader, meta) = fsutil::open_small(path, MAX_ENTRY_BYTES, fsutil::Links::Refuse)
        .map_err(|e| match e {
            Unopened::Link => "it is a symbolic link".to_string(),
            Unopened::NotRegular => "it is not a regular file".into(),
            Unopened::TooLarge(len) => format!("it is {len} bytes long"),
            Unopened::Io(e) => e.to_string(),
        })?;
    if meta.uid() != fsutil::current_uid() {
        return Err(format!("it belongs to user {}", meta.uid()));
    }
    if meta.mode() & 0o7777 != 0o600 {
        return Err(format!("its mode is {:o}, not 600", meta.mode() & 0o7777));
    }
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    Ok(text)
}

#[cfg(not(unix))]
fn read_entry(path: &Path) -> Result<String, String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() || meta.len() > MAX_ENTRY_BYTES {
        return Err("it is not a small regular file".into());
    }
    std::fs::read_to_string(path).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_expiries_are_refused_without_panicking() {
        let now = SystemTime::now();
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs();
        let ok = secs(now + Duration::from_secs(3600));
        assert!(sane_expiry(&ok.into(), now).is_ok());
        for bad in [
            serde_json::json!(u64::MAX),
            serde_json::json!(i64::MAX),
            serde_json::json!(secs(now + Duration::from_secs(13 * 3600))),
            serde_json::json!(secs(now + Duration::from_secs(60))),
            serde_json::json!(0),
            serde_json::json!(-1),
            serde_json::json!(1.5e300),
            serde_json::json!("tomorrow"),
            serde_json::Value::Null,
        ] {
            assert!(sane_expiry(&bad, now).is_err(), "{bad}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn store_replaces_a_symlinked_entry_not_its_target() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache_dir = dir.path().join("cache");
        let cache = CredentialCache::new(cache_dir.clone(), ConfigKey::generate());
        let k = CacheKey::default();
        let creds = Credentials::new(
            "ASIAEXAMPLE000000001",
            "secret",
            Some("token".into()),
            Some(SystemTime::now() + Duration::from_secs(3600)),
            "test",
        );
        cache.store(&k, &creds);
        assert_eq!(
            std::fs::metadata(&cache_dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let entry = cache_dir.join(k.file_name());
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        std::fs::remove_file(&entry).unwrap();
        std::os::unix::fs::symlink(&victim, &entry).unwrap();
        assert!(cache.load(&k).is_none(), "a link is a miss");
        cache.store(&k, &creds);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        assert!(std::fs::symlink_metadata(&entry).unwrap().is_file());
        assert_eq!(
            cache.load(&k).unwrap().access_key_id(),
            "ASIAEXAMPLE000000001"
        );
        cache.evict(&k);
        assert!(!entry.exists());
        cache.store(&k, &creds);
        assert!(cache.load(&k).is_none(), "evicted for the rest of the run");
    }
}

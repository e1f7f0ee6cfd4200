//! Assumed-role credentials kept between runs, so that a second call within
//! the session skips STS.
//!
//! Each entry is one file, Fernet-encrypted with the config's own key (so it
//! is as safe as the config), mode 0600 in a 0700 folder: by default
//! `$XDG_CACHE_HOME/bedrock-private/credentials` or
//! `~/.cache/bedrock-private/credentials`, moved by [`CACHE_ENV`]. An entry
//! is keyed by role, external id, MFA device, source identity, region and
//! STS endpoint; it is used only until five minutes before it expires. An
//! entry that cannot be read or decrypted counts as a miss and is replaced.

use crate::crypto::ConfigKey;
use crate::fsutil::{self, Existing};
use crate::secret::Secret;
use aws_credential_types::Credentials;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The environment variable that moves the cache folder.
pub const CACHE_ENV: &str = "BEDROCK_PRIVATE_CACHE_DIR";

/// How long before expiry an entry stops being used.
pub const MARGIN: Duration = Duration::from_secs(300);

/// What identifies an entry.
#[derive(Debug, Clone, Default)]
pub struct CacheKey {
    /// The role ARN.
    pub role: String,
    /// The external id, if any.
    pub external_id: Option<String>,
    /// The MFA device, if any.
    pub mfa_serial: Option<String>,
    /// The access key id of the source credentials.
    pub source: String,
    /// The region.
    pub region: String,
    /// The STS endpoint, if not the default.
    pub sts_endpoint: Option<String>,
    /// The session name and length asked for.
    pub session: String,
}

impl CacheKey {
    /// The entry's file name: a hash, so the folder listing reveals nothing.
    fn file_name(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            self.role.as_str(),
            self.external_id.as_deref().unwrap_or(""),
            self.mfa_serial.as_deref().unwrap_or(""),
            self.source.as_str(),
            self.region.as_str(),
            self.sts_endpoint.as_deref().unwrap_or(""),
            self.session.as_str(),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        let digest = h.finalize();
        digest
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            + ".cred"
    }
}

/// The cache of one config (entries are encrypted with its key).
#[derive(Debug, Clone)]
pub struct CredentialCache {
    dir: PathBuf,
    key: ConfigKey,
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
        CredentialCache { dir, key }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The credentials for `k`, if cached and not about to expire.
    pub fn load(&self, k: &CacheKey) -> Option<Credentials> {
        let path = self.dir.join(k.file_name());
        let token = std::fs::read_to_string(&path).ok()?;
        let plain = match self.key.decrypt_token(&token) {
            Some(p) => p,
            None => {
                tracing::debug!(path = %path.display(), "cache entry cannot be decrypted: a miss");
                return None;
            }
        };
        let v: serde_json::Value = serde_json::from_str(plain.expose()).ok()?;
        let expires = UNIX_EPOCH + Duration::from_secs(v.get("expires")?.as_u64()?);
        if expires <= SystemTime::now() + MARGIN {
            tracing::debug!("cache entry expires within the margin: a miss");
            return None;
        }
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
        if let Err(e) = self.ensure_dir() {
            tracing::debug!(error = %e, "cache folder unusable");
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
        if let Err(e) = fsutil::write_private(
            &self.dir.join(k.file_name()),
            sealed.as_bytes(),
            Existing::Replace,
        ) {
            tracing::debug!(error = %e, "cache entry not written");
        }
    }

    fn ensure_dir(&self) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)?;
            std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
        }
        #[cfg(not(unix))]
        std::fs::create_dir_all(&self.dir)
    }
}

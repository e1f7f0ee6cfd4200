//! Atomic, private file writes.
//!
//! Files with secrets are written to a temporary file in the same folder,
//! flushed to disk, given mode 0600 and renamed into place, so a reader sees
//! either the old file or the whole new one, never a part; the folder is
//! synced so the rename itself survives a crash. Without `overwrite` the
//! rename refuses to replace an existing file, which closes the gap between
//! checking for a file and writing it.
//!
//! A destination that is a symbolic link (a config or key kept elsewhere and
//! linked into place) is written where the link points, in the target's own
//! folder, so the link keeps working; renaming over the link itself would
//! silently put a copy in its place and leave the target stale. A link that
//! points nowhere, or at something other than a regular file, is refused.
//!
//! A crash between creating the temporary file and renaming it leaves a
//! `.NAME.XXXXXX.tmp` behind; the next write of NAME removes those older
//! than `STALE_AFTER`. Age decides, not mere presence, because another
//! writer may be mid-write with its own temporary file (no lock is held).

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How old a temporary file of ours must be to count as a crash's leftover.
/// A write takes milliseconds; a minute leaves a wide margin for a writer
/// that is still at work.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(60);

/// How [`write_private`] treats an existing file at the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Refuse with [`Error::OutputExists`].
    Refuse,
    /// Replace it atomically.
    Replace,
}

/// What [`write_private_with`] does with a destination that is a symbolic
/// link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Links {
    /// Write the regular file the link points to (configs and keys that are
    /// kept elsewhere and linked into place).
    Follow,
    /// Refuse it (files in a folder the tool owns, where a link can only
    /// have been put by someone else).
    Refuse,
}

/// Writes `contents` to `path` atomically with mode 0600; a link at `path`
/// is followed to the file it points to (see `Links::Follow`).
pub fn write_private(path: &Path, contents: &[u8], existing: Existing) -> Result<()> {
    write_private_with(path, contents, existing, Links::Follow)
}

/// Writes `contents` to `path` atomically with mode 0600, treating a link at
/// `path` as `links` says.
pub(crate) fn write_private_with(
    path: &Path,
    contents: &[u8],
    existing: Existing,
    links: Links,
) -> Result<()> {
    if existing == Existing::Refuse && path.exists() {
        return Err(Error::OutputExists {
            path: path.to_path_buf(),
        });
    }
    check_folder(path)?;
    let target = destination(path, links)?;
    remove_stale_temporaries(path);
    if target != path {
        remove_stale_temporaries(&target);
    }
    // tempfile's errors name the temporary file: the user named `path`.
    let write_err = |source: std::io::Error| Error::Write {
        path: path.to_path_buf(),
        source: source
            .raw_os_error()
            .map_or(source, std::io::Error::from_raw_os_error),
    };
    let dir = parent_dir(&target);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", file_name(&target)))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(write_err)?;
    set_private(tmp.path()).map_err(write_err)?;
    tmp.write_all(contents).map_err(write_err)?;
    tmp.as_file().sync_all().map_err(write_err)?;
    match existing {
        Existing::Replace => tmp
            .persist(&target)
            .map(drop)
            .map_err(|e| write_err(e.error))?,
        Existing::Refuse => tmp.persist_noclobber(&target).map(drop).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                Error::OutputExists {
                    path: path.to_path_buf(),
                }
            } else {
                write_err(e.error)
            }
        })?,
    }
    sync_dir(&dir);
    Ok(())
}

/// Checks that the folder `path` would be written in exists and is a
/// folder: before a call whose answer is to be saved, so that nothing paid
/// for is lost to a typo in a path.
pub(crate) fn check_folder(path: &Path) -> Result<()> {
    let dir = parent_dir(path);
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::refused(
            path,
            format!("cannot be written: {} is not a folder", dir.display()),
        )),
        Err(_) => Err(Error::refused(
            path,
            format!(
                "cannot be written: the folder {} does not exist",
                dir.display()
            ),
        )),
    }
}

/// Where a write of `path` goes: `path` itself, or for a link, the regular
/// file it finally points to.
fn destination(path: &Path, links: Links) -> Result<PathBuf> {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        return Ok(path.to_path_buf());
    }
    let refuse = |why: String| Error::refused(path, why);
    if links == Links::Refuse {
        return Err(refuse(
            "is a symbolic link, and this file is never written through one; remove the link"
                .into(),
        ));
    }
    let shown = std::fs::read_link(path)
        .map(|t| t.display().to_string())
        .unwrap_or_default();
    let target = std::fs::canonicalize(path).map_err(|e| {
        refuse(format!(
            "is a symbolic link to {shown}, which cannot be followed ({e}); nothing is written through \
             a link that points nowhere: create the file it points to, or remove the link"
        ))
    })?;
    let meta = std::fs::metadata(&target).map_err(|e| Error::Write {
        path: target.clone(),
        source: e,
    })?;
    if !meta.is_file() {
        return Err(refuse(format!(
            "is a symbolic link to {}, which is not a regular file; link to a regular file or remove the link",
            target.display()
        )));
    }
    Ok(target)
}

/// Removes temporary files a crashed write of `path` left beside it:
/// `.NAME.XXXXXX.tmp`, regular files of ours, older than [`STALE_AFTER`].
/// Best effort: a leftover that cannot be removed stays for next time.
fn remove_stale_temporaries(path: &Path) {
    let name = file_name(path);
    let prefix = format!(".{name}.");
    let Ok(entries) = std::fs::read_dir(parent_dir(path)) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(file) = file.to_str() else {
            continue;
        };
        let ours = file
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .is_some_and(|random| {
                (1..=16).contains(&random.len())
                    && random.bytes().all(|b| b.is_ascii_alphanumeric())
            });
        if !ours {
            continue;
        }
        // Not followed: a link or anything but a regular file is left alone.
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > STALE_AFTER);
        if meta.file_type().is_file() && owned_by_me(&meta) && old {
            tracing::debug!(file = %entry.path().display(), "stale temporary file removed");
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(unix)]
fn owned_by_me(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.uid() == current_uid()
}

/// The effective user id of this process: who a private file must belong to.
#[cfg(unix)]
pub(crate) fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Why [`open_small`] did not open a file.
#[derive(Debug)]
pub(crate) enum Unopened {
    /// Its last component is a symbolic link, and links were refused.
    Link,
    /// Not a regular file: a FIFO, a device or a folder.
    NotRegular,
    /// Larger than allowed; its size in bytes.
    TooLarge(u64),
    /// It could not be opened or examined.
    Io(std::io::Error),
}

/// Opens a small regular file for reading: without blocking on a FIFO or
/// device, without following a last-component link when `links` is
/// [`Links::Refuse`], and judged on the opened descriptor (so the file
/// checked is the file read). Returns a reader bounded to `max` bytes and
/// the file's metadata, for the caller's own checks of owner and mode.
pub(crate) fn open_small(
    path: &Path,
    max: u64,
    links: Links,
) -> std::result::Result<(std::io::Take<std::fs::File>, std::fs::Metadata), Unopened> {
    use std::io::Read;
    let file = open_nonblocking(path, links).map_err(|e| {
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return Unopened::Link;
        }
        Unopened::Io(e)
    })?;
    let meta = file.metadata().map_err(Unopened::Io)?;
    if !meta.is_file() {
        return Err(Unopened::NotRegular);
    }
    if meta.len() > max {
        return Err(Unopened::TooLarge(meta.len()));
    }
    Ok((file.take(max), meta))
}

#[cfg(unix)]
fn open_nonblocking(path: &Path, links: Links) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let nofollow = match links {
        Links::Follow => 0,
        Links::Refuse => libc::O_NOFOLLOW,
    };
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | nofollow)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path, links: Links) -> std::io::Result<std::fs::File> {
    if links == Links::Refuse
        && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
    {
        return Err(std::io::Error::other("a symbolic link"));
    }
    std::fs::File::open(path)
}

#[cfg(not(unix))]
fn owned_by_me(_meta: &std::fs::Metadata) -> bool {
    true
}

/// The folder a path is in, `.` for a bare file name.
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Whether two paths name the same file (both must exist to be equal).
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Removes a file we created, ignoring a file that is already gone.
pub(crate) fn remove_quietly(path: &Path) {
    let _ = std::fs::remove_file(path);
}

#[cfg(unix)]
fn set_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn set_private(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn sync_dir(dir: &Path) {
    // Best effort: some file systems do not support syncing a folder.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_0600_and_refuses_to_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.properties");
        write_private(&p, b"one", Existing::Refuse).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let e = write_private(&p, b"two", Existing::Refuse).unwrap_err();
        assert!(matches!(e, Error::OutputExists { .. }));
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        write_private(&p, b"two", Existing::Replace).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left behind");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_is_written_through_to_its_target() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let target = elsewhere.path().join("real.properties");
        std::fs::write(&target, "old").unwrap();
        let link = dir.path().join("config.properties");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_private(&link, b"new", Existing::Replace).unwrap();
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 1);

        let e = write_private_with(&link, b"x", Existing::Replace, Links::Refuse).unwrap_err();
        assert!(e.to_string().contains("is a symbolic link"), "{e}");
        assert!(matches!(
            write_private(&link, b"x", Existing::Refuse).unwrap_err(),
            Error::OutputExists { .. }
        ));

        let dangling = dir.path().join("dangling.properties");
        std::os::unix::fs::symlink(elsewhere.path().join("none"), &dangling).unwrap();
        for existing in [Existing::Replace, Existing::Refuse] {
            let e = write_private(&dangling, b"x", existing)
                .unwrap_err()
                .to_string();
            assert!(e.contains("which cannot be followed"), "{e}");
        }
        assert!(!elsewhere.path().join("none").exists());
    }

    #[test]
    fn stale_temporaries_of_the_same_file_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.properties");
        let old = SystemTime::now() - STALE_AFTER * 2;
        let make = |name: &str, modified: SystemTime| {
            let f = std::fs::File::create(dir.path().join(name)).unwrap();
            f.set_modified(modified).unwrap();
        };
        make(".out.properties.Ab3dE9.tmp", old);
        make(".out.properties.Zz9yX8.tmp", SystemTime::now());
        make(".out.properties.key.Ab3dE9.tmp", old);
        make(".other.Ab3dE9.tmp", old);
        write_private(&p, b"one", Existing::Replace).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ".other.Ab3dE9.tmp",
                ".out.properties.Zz9yX8.tmp",
                ".out.properties.key.Ab3dE9.tmp",
                "out.properties"
            ]
        );
    }
}

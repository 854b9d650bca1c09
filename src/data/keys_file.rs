//! Keys files on disk: load an i2pd keys file, or create one like i2pd does
//! when it is missing (docs/i2pd-config.md "The keys option"; docs/keys-file.md).
//!
//! Unlike i2pd, a file that exists but cannot be used is an error, never a
//! silent fallback to transient keys, and it is never modified: a user's
//! destination (their address) must not be lost to a truncated copy or an
//! unsupported key type.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;
use zeroize::Zeroizing;

use super::keys::KeysError;
use super::{CRYPTO_ELGAMAL, DataError, PrivateKeys};

/// Read at most this much: a keys file is < 1 KiB and trailing bytes are
/// ignored anyway, so a wrong path to a huge file costs nothing.
const MAX_READ: u64 = 64 * 1024;
/// Keys files hold private keys: owner-only (i2pd writes 0644; harmless difference).
const FILE_MODE: u32 = 0o600;
/// Mode for a missing parent directory we create.
const DIR_MODE: u32 = 0o700;

/// What went wrong with a keys file; every message names the file.
#[derive(Debug, Error)]
pub enum KeysFileError {
    /// The file exists but its bytes are not a usable keys file. It was left untouched.
    #[error("{}", refused_message(path, reason))]
    Refused { path: PathBuf, reason: KeysError },
    /// The file exists but could not be read (permissions, a directory, I/O error).
    #[error("cannot read keys file {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// The file was missing and could not be created.
    #[error("cannot create keys file {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    /// The file was missing and keys of the configured type cannot be generated.
    #[error("cannot generate keys for {}: {source} (set signaturetype = 7)", path.display())]
    Generate { path: PathBuf, source: DataError },
    /// Another process holds the file's lock: it is running with this destination.
    #[error("{}", in_use_message(path, lock_path, *holder))]
    InUse {
        path: PathBuf,
        lock_path: PathBuf,
        /// The holder's PID as it wrote it into the lock file, when readable.
        holder: Option<u32>,
    },
    /// The lock could not be taken for another reason.
    #[error("cannot lock keys file {} (lock file {}): {source}", path.display(), lock_path.display())]
    Lock {
        path: PathBuf,
        lock_path: PathBuf,
        source: io::Error,
    },
}

fn in_use_message(path: &Path, lock_path: &Path, holder: Option<u32>) -> String {
    let holder = match holder {
        Some(pid) => format!("process {pid}"),
        None => "another process".to_string(),
    };
    format!(
        "keys file {} is in use by {holder} (it holds {}): one destination can have only one \
         running i2psocks; stop that one, or give this one other keys (--socksproxy.keys)",
        path.display(),
        lock_path.display()
    )
}

/// Wording for a refused file: "corrupt" for damage, "not usable" for types we
/// do not support; both tell the user how to get going again.
fn refused_message(path: &Path, reason: &KeysError) -> String {
    let what = match reason {
        KeysError::UnsupportedSigType { .. }
        | KeysError::UnsupportedCryptoType { .. }
        | KeysError::OfflineSigned => "cannot be used",
        _ => "is corrupt",
    };
    format!(
        "keys file {} {what}: {reason}; refusing to overwrite it — move it away to generate new keys, \
         or restore a backup",
        path.display()
    )
}

/// Load the keys at `path`, or generate (sig type `sig_type`, crypto type 0
/// like i2pd's SOCKS proxy) and save them there when the file does not exist.
/// Returns the keys and whether they were created.
pub fn load_or_create(path: &Path, sig_type: u16) -> Result<(PrivateKeys, bool), KeysFileError> {
    match read_keys_file(path)? {
        Some(bytes) => Ok((parse(path, &bytes)?, false)),
        None => create(path, sig_type),
    }
}

/// Keys that are never written anywhere (`keys = transient…`, docs/i2pd-config.md "The keys
/// option").
pub fn transient(sig_type: u16) -> Result<PrivateKeys, DataError> {
    PrivateKeys::generate(sig_type, CRYPTO_ELGAMAL)
}

/// Load an existing keys file; a missing file is an error too.
pub fn load(path: &Path) -> Result<PrivateKeys, KeysFileError> {
    match read_keys_file(path)? {
        Some(bytes) => parse(path, &bytes),
        None => Err(KeysFileError::Read {
            path: path.to_owned(),
            source: io::ErrorKind::NotFound.into(),
        }),
    }
}

/// An exclusive lock on a keys file, held until dropped (or the process ends, when the
/// kernel releases it: a crash leaves no stale lock).
///
/// The lock is `flock(2)` on a lock file beside the keys file (`NAME.lock`, holding the
/// PID), not on the keys file itself, because a new keys file appears by a link of a
/// temporary file and the lock must be held before it exists. Where that file cannot be
/// created (a read-only directory) the keys file itself is locked, without a PID.
///
/// A clean exit (the lock dropped) empties the lock file, so a PID found there when the
/// lock is taken is the PID of an instance that ended without dropping it: it crashed or
/// was killed, and the router may not have noticed its closed I2CP connection yet.
#[derive(Debug)]
pub struct KeysLock {
    file: File,
    writes_pid: bool,
    unclean_predecessor: Option<u32>,
}

impl KeysLock {
    /// The PID of an earlier holder that ended without releasing the lock cleanly.
    pub fn unclean_predecessor(&self) -> Option<u32> {
        self.unclean_predecessor
    }
}

impl Drop for KeysLock {
    fn drop(&mut self) {
        if self.writes_pid {
            // Best effort: a lock file we cannot empty only makes the next start cautious.
            let _ = self.file.set_len(0);
        }
    }
}

/// Take the lock for the keys file at `path`, or say who holds it.
pub fn lock(path: &Path) -> Result<KeysLock, KeysFileError> {
    let lock_path = lock_path(path);
    let lock_err = |lock_path: &Path, source| KeysFileError::Lock {
        path: path.to_owned(),
        lock_path: lock_path.to_owned(),
        source,
    };
    let (file, lock_path, writes_pid) = match open_lock_file(&lock_path) {
        Ok(file) => (file, lock_path, true),
        Err(e) if fallback_to_keys_file(&e) && path.exists() => {
            let file = File::open(path).map_err(|e| lock_err(path, e))?;
            (file, path.to_owned(), false)
        }
        Err(e) => return Err(lock_err(&lock_path, e)),
    };
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
            let holder = if writes_pid {
                read_holder(&lock_path)
            } else {
                None
            };
            return Err(KeysFileError::InUse {
                path: path.to_owned(),
                lock_path,
                holder,
            });
        }
        Err(e) => return Err(lock_err(&lock_path, e.into())),
    }
    let unclean_predecessor = if writes_pid {
        let previous = read_holder(&lock_path);
        write_pid(&file).map_err(|e| lock_err(&lock_path, e))?;
        previous
    } else {
        None
    };
    Ok(KeysLock {
        file,
        writes_pid,
        unclean_predecessor,
    })
}

/// `DIR/NAME.lock` for `DIR/NAME`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

fn open_lock_file(lock_path: &Path) -> io::Result<File> {
    if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(lock_path)
}

/// A lock file that cannot be created because the directory is not writable.
fn fallback_to_keys_file(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
    )
}

fn write_pid(mut file: &File) -> io::Result<()> {
    file.set_len(0)?;
    file.write_all(format!("{}\n", std::process::id()).as_bytes())?;
    file.flush()
}

/// The PID the holder wrote; `None` while it is still writing it or when unreadable.
fn read_holder(lock_path: &Path) -> Option<u32> {
    let mut text = String::new();
    File::open(lock_path)
        .ok()?
        .take(32)
        .read_to_string(&mut text)
        .ok()?;
    text.trim().parse().ok()
}

fn parse(path: &Path, bytes: &[u8]) -> Result<PrivateKeys, KeysFileError> {
    PrivateKeys::parse(bytes).map_err(|reason| KeysFileError::Refused {
        path: path.to_owned(),
        reason,
    })
}

/// The file's bytes (zeroized after use), or `None` when it does not exist.
fn read_keys_file(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>, KeysFileError> {
    let read_err = |source| KeysFileError::Read {
        path: path.to_owned(),
        source,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(e)),
    };
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_READ)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    Ok(Some(bytes))
}

/// Generate keys and publish them at `path` atomically.
fn create(path: &Path, sig_type: u16) -> Result<(PrivateKeys, bool), KeysFileError> {
    let keys = PrivateKeys::generate(sig_type, CRYPTO_ELGAMAL).map_err(|source| {
        KeysFileError::Generate {
            path: path.to_owned(),
            source,
        }
    })?;
    let bytes = Zeroizing::new(keys.to_bytes());
    match write_new_file(path, &bytes) {
        Ok(()) => Ok((keys, true)),
        // Another process created it between our read and our link: use theirs.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok((load(path)?, false)),
        Err(source) => Err(KeysFileError::Write {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Write `bytes` to a temporary file beside `path` (mode 0600, fsynced), then
/// publish it under `path` without ever replacing an existing file: a hard
/// link fails if `path` exists, where a rename would silently overwrite it.
fn write_new_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("keys path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{:08x}",
        name.to_string_lossy(),
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = write_synced(&tmp, bytes).and_then(|()| publish(&tmp, path));
    // The temporary name is ours alone (create_new); always clean it up.
    let _ = fs::remove_file(&tmp);
    result?;
    // Best effort: the file is complete and in place; a failed directory
    // fsync only weakens durability across a power cut.
    let _ = sync_dir(dir);
    Ok(())
}

fn write_synced(tmp: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Make `tmp` visible as `path`, failing with `AlreadyExists` if `path` exists.
fn publish(tmp: &Path, path: &Path) -> io::Result<()> {
    match fs::hard_link(tmp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        // File systems without hard links: rename, re-checking just before.
        Err(_) if fs::symlink_metadata(path).is_ok() => Err(io::ErrorKind::AlreadyExists.into()),
        Err(_) => fs::rename(tmp, path),
    }
}

/// Persist the new directory entry.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_file_and_the_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("socks.dat");
        let held = lock(&path).expect("first lock");
        let err = lock(&path).expect_err("second lock must fail");
        match &err {
            KeysFileError::InUse { holder, .. } => {
                assert_eq!(*holder, Some(std::process::id()));
            }
            other => panic!("{other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(
            text.contains(&format!("process {}", std::process::id())),
            "{text}"
        );
        drop(held);
        let _again = lock(&path).expect("free again after drop");
        assert_eq!(
            lock_path(&path),
            dir.path().join("sub").join("socks.dat.lock")
        );
    }

    #[test]
    fn a_lock_left_by_a_crash_names_the_predecessor_and_a_clean_one_does_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("socks.dat");
        let first = lock(&path).expect("first lock");
        assert_eq!(first.unclean_predecessor(), None, "no one held it before");
        drop(first);
        let second = lock(&path).expect("lock after a clean release");
        assert_eq!(second.unclean_predecessor(), None, "released cleanly");
        drop(second);
        // A killed holder's kernel lock is gone but its PID stays in the file.
        fs::write(lock_path(&path), "4242\n").expect("write a crashed holder's PID");
        let third = lock(&path).expect("lock after a crash");
        assert_eq!(third.unclean_predecessor(), Some(4242));
    }

    #[test]
    fn publishing_never_replaces_an_existing_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("socks.dat");
        fs::write(&path, b"someone else's keys").expect("write");
        let err = write_new_file(&path, b"ours").expect_err("must not overwrite");
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).expect("read"), b"someone else's keys");
        assert_eq!(
            fs::read_dir(dir.path()).expect("ls").count(),
            1,
            "temporary file removed"
        );
    }

    #[test]
    fn lost_creation_race_loads_the_winner() {
        // create() after another process published its file: the AlreadyExists
        // branch must hand back the file's keys, not ours.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("socks.dat");
        let winner = PrivateKeys::generate(7, 4).expect("generate");
        fs::write(&path, winner.to_bytes()).expect("write");
        let (keys, created) = create(&path, 7).expect("falls back to loading");
        assert!(!created);
        assert_eq!(keys.destination(), winner.destination());
    }
}

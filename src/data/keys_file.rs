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

/// Keys that are never written anywhere (`keys = transient…`, docs/i2pd-config.md "The keys option").
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

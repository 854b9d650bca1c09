//! Keys files on disk: creation (0600, atomic), loading, and refusal to touch
//! files that exist but cannot be used.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use i2psocks::data::keys_file::{KeysFileError, load, load_or_create, transient};
use i2psocks::data::{KeysError, PrivateKeys};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

/// Load a file that must be refused and check it was not modified.
fn assert_refused_untouched(path: &Path) -> KeysFileError {
    let before = fs::read(path).expect("read before");
    let mtime = fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("mtime before");
    let err = match load_or_create(path, 7) {
        Ok(_) => panic!("{} must be refused", path.display()),
        Err(e) => e,
    };
    assert_eq!(
        fs::read(path).expect("read after"),
        before,
        "bytes unchanged"
    );
    assert_eq!(
        fs::metadata(path)
            .and_then(|m| m.modified())
            .expect("mtime after"),
        mtime
    );
    assert_eq!(
        fs::read_dir(path.parent().expect("dir"))
            .expect("ls")
            .count(),
        1,
        "no stray files"
    );
    err
}

/// `load_or_create` on a missing `dir/relative` creates it, mode 0600.
fn created_private(dir: &Path, relative: &str) -> (PathBuf, PrivateKeys) {
    let path = dir.join(relative);
    let (keys, created) = load_or_create(&path, 7).expect("create");
    assert!(created, "{relative} created");
    assert_eq!(mode(&path), 0o600, "{relative} mode");
    (path, keys)
}

#[test]
fn creates_missing_file_with_mode_0600() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, keys) = created_private(dir.path(), "socks.dat");
    let on_disk = fs::read(&path).expect("read");
    assert_eq!(on_disk.len(), 679, "crypto type 0 like i2pd's SOCKS keys");
    assert_eq!(on_disk, keys.to_bytes());
    let names: Vec<_> = fs::read_dir(dir.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec!["socks.dat"], "temporary file removed");

    let (again, created) = load_or_create(&path, 7).expect("load");
    assert!(!created);
    assert_eq!(again.destination(), keys.destination());
    assert_eq!(load(&path).expect("load").to_bytes(), on_disk);
}

#[test]
fn creates_missing_parent_directories() {
    let dir = tempfile::tempdir().expect("tempdir");
    created_private(dir.path(), "a/b/socks.dat");
    assert_eq!(
        mode(&dir.path().join("a")) & 0o077,
        0,
        "created dirs are private"
    );
}

/// A keys file `socks.dat` in `dir` with new Ed25519 keys of `crypto` type.
fn written_keys(dir: &Path, crypto: u16) -> (PathBuf, PrivateKeys) {
    let path = dir.join("socks.dat");
    let keys = PrivateKeys::generate(7, crypto).expect("generate");
    fs::write(&path, keys.to_bytes()).expect("write");
    (path, keys)
}

#[test]
fn loads_existing_crypto4_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, keys) = written_keys(dir.path(), 4);
    let (loaded, created) = load_or_create(&path, 7).expect("load");
    assert!(!created);
    assert_eq!(loaded.destination(), keys.destination());
}

#[test]
fn refuses_truncated_file_without_touching_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("socks.dat");
    let keys = PrivateKeys::generate(7, 0).expect("generate");
    fs::write(&path, &keys.to_bytes()[..200]).expect("write");
    let err = assert_refused_untouched(&path);
    let text = err.to_string();
    assert!(
        matches!(
            &err,
            KeysFileError::Refused {
                reason: KeysError::TooShort { len: 200 },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        text.starts_with(&format!("keys file {} is corrupt: ", path.display())),
        "{text}"
    );
    assert!(text.contains("refusing to overwrite it"), "{text}");
    assert!(text.contains("move it away"), "{text}");

    fs::write(&path, &keys.to_bytes()[..500]).expect("write");
    let text = assert_refused_untouched(&path).to_string();
    assert!(
        text.contains("expected 679 bytes in total, file has 500"),
        "{text}"
    );
}

#[test]
fn refuses_empty_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("socks.dat");
    fs::write(&path, b"").expect("write");
    let err = assert_refused_untouched(&path);
    assert!(matches!(
        err,
        KeysFileError::Refused {
            reason: KeysError::TooShort { len: 0 },
            ..
        }
    ));
}

#[test]
fn refuses_unsupported_type_without_touching_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("socks.dat");
    let mut file = PrivateKeys::generate(7, 0).expect("generate").to_bytes();
    file[388] = 11; // KEY cert signing type 7 → 11 (RedDSA)
    fs::write(&path, &file).expect("write");
    let err = assert_refused_untouched(&path);
    let text = err.to_string();
    assert!(matches!(
        err,
        KeysFileError::Refused {
            reason: KeysError::UnsupportedSigType { code: 11 },
            ..
        }
    ));
    assert!(
        text.contains("cannot be used: unsupported signing key type 11"),
        "{text}"
    );
    assert!(text.contains(&path.display().to_string()), "{text}");
}

#[test]
fn refuses_offline_signed_file_without_touching_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("socks.dat");
    let mut file = PrivateKeys::generate(7, 0).expect("generate").to_bytes();
    let n = file.len();
    file[n - 32..].fill(0);
    fs::write(&path, &file).expect("write");
    let text = assert_refused_untouched(&path).to_string();
    assert!(text.contains("offline-signed"), "{text}");
}

#[test]
fn unreadable_path_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("socks.dat");
    fs::create_dir(&path).expect("a directory where the file should be");
    let err = load_or_create(&path, 7)
        .map(|_| ())
        .expect_err("a directory is not a keys file");
    assert!(matches!(err, KeysFileError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()));
    assert!(path.is_dir(), "left alone");
}

#[test]
fn permission_denied_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _) = written_keys(dir.path(), 0);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).expect("chmod");
    if fs::read(&path).is_ok() {
        eprintln!(
            "running with CAP_DAC_OVERRIDE (root): permission check not observable, skipping"
        );
        return;
    }
    let err = load_or_create(&path, 7)
        .map(|_| ())
        .expect_err("unreadable");
    assert!(matches!(err, KeysFileError::Read { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot read keys file {}", path.display()))
    );
}

#[test]
fn write_failure_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = dir.path().join("not-a-dir");
    fs::write(&blocker, b"x").expect("write");
    let path = blocker.join("socks.dat");
    let err = load_or_create(&path, 7)
        .map(|_| ())
        .expect_err("parent is a file");
    // Opening "<file>/socks.dat" fails with ENOTDIR: reported as unreadable.
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(fs::read(&blocker).expect("read"), b"x");
}

#[test]
fn refuses_to_generate_unsupported_signing_type() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("socks.dat");
    let err = load_or_create(&path, 11)
        .map(|_| ())
        .expect_err("type 11 cannot be generated");
    assert!(matches!(err, KeysFileError::Generate { .. }), "{err:?}");
    assert!(
        err.to_string().contains("unsupported signing key type 11"),
        "{err}"
    );
    assert!(!path.exists(), "nothing written");
}

#[test]
fn transient_keys_are_fresh_and_never_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd_before = fs::read_dir(".").expect("ls").count();
    let a = transient(7).expect("transient");
    let b = transient(7).expect("transient");
    assert_ne!(a.destination(), b.destination());
    assert_eq!(a.to_bytes().len(), 679);
    assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 0);
    assert_eq!(fs::read_dir(".").expect("ls").count(), cwd_before);
    assert!(transient(3).is_err());
}

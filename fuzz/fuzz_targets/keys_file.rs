//! Keys-file reader (src/data/keys_file.rs over src/data/keys.rs), through the real file path.
//!
//! Each input is written to a keys file in a private temporary directory and loaded with
//! `load` and `load_or_create`, as i2psocks does at start-up. Invariants beyond "no panic":
//! * the file is never modified, replaced or joined by other files, whatever its bytes
//!   (a refused file must survive for the user to rescue);
//! * `load_or_create` on an existing file never "creates", and agrees with `load`;
//! * every error names the file, and loading holds no more heap than a small multiple of
//!   the file (alloc_bound.rs);
//! * accepted keys serialise back to exactly the bytes they were read from (trailing bytes
//!   are ignored, as i2pd does) and re-parse to the same destination.
#![no_main]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use i2psocks::data::PrivateKeys;
use i2psocks::data::keys_file;
use libfuzzer_sys::fuzz_target;

#[path = "alloc_bound.rs"]
mod alloc_bound;

#[global_allocator]
static ALLOC: alloc_bound::Counting = alloc_bound::Counting;

struct Scratch {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    path: PathBuf,
}

fn scratch() -> &'static Scratch {
    static SCRATCH: OnceLock<Scratch> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        // Prefer a RAM file system: ext4 flushes a truncated-and-rewritten file on close
        // (auto_da_alloc), which caps a disk-backed run at a few hundred executions a second.
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("temporary directory");
        let path = dir.path().join("socks.dat");
        Scratch {
            dir: dir.path().to_owned(),
            path,
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let s = scratch();
    fs::write(&s.path, data).expect("write the input");

    let ((loaded, created), peak) = alloc_bound::peak_during(|| {
        (
            keys_file::load(&s.path),
            keys_file::load_or_create(&s.path, 7),
        )
    });
    alloc_bound::assert_bounded(peak, data.len(), "keys_file::load");

    assert_eq!(
        fs::read(&s.path).expect("read back"),
        data,
        "keys file modified"
    );
    let names: Vec<_> = fs::read_dir(&s.dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 1, "stray files: {names:?}");

    match (loaded, created) {
        (Ok(keys), Ok((again, was_created))) => {
            assert!(!was_created, "an existing file was 'created'");
            assert_eq!(keys.destination(), again.destination());
            let bytes = keys.to_bytes();
            assert_eq!(bytes.len(), keys.serialized_len());
            assert!(
                data.starts_with(&bytes),
                "to_bytes is not the file's prefix"
            );
            let back = PrivateKeys::parse(&bytes).expect("own bytes parse");
            assert_eq!(back.destination(), keys.destination());
        }
        (Err(a), Err(b)) => {
            let path = s.path.display().to_string();
            for err in [a.to_string(), b.to_string()] {
                assert!(err.contains(&path), "error does not name the file: {err}");
            }
            assert_eq!(a.to_string(), b.to_string());
        }
        (a, b) => panic!(
            "load and load_or_create disagree: {:?} vs {:?}",
            a.is_ok(),
            b.is_ok()
        ),
    }
});

//! Config files (src/config/ini.rs) and the configuration built from them (src/config/load.rs).
//!
//! Input: one selector byte (which file the bytes are: i2pd.conf or i2psocks.conf; --strict),
//! then the file's bytes. Invariants beyond "no panic":
//! * entries have non-empty, unique, trimmed keys, trimmed values without `#` or newlines,
//!   and strictly increasing line numbers within the file;
//! * comments and blank lines change nothing: appending them gives the same entries;
//! * entries written back as `key = value` lines parse to the same key/value pairs;
//! * every error names the file, and parsing holds no more heap than a small multiple of the
//!   file (alloc_bound.rs);
//! * `build` (the pure part of `load`) accepts or rejects any parsed file without panicking,
//!   and its errors name the file or the option.
#![no_main]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use i2psocks::config::ini::{self, IniFile};
use i2psocks::config::load::{Inputs, build};
use i2psocks::config::{Cli, known, settings};
use libfuzzer_sys::fuzz_target;

#[path = "alloc_bound.rs"]
mod alloc_bound;

#[global_allocator]
static ALLOC: alloc_bound::Counting = alloc_bound::Counting;

const BLANKS: &[char] = &[' ', '\t', '\r', '\n'];

fn clis() -> &'static [Cli; 2] {
    static CLIS: OnceLock<[Cli; 2]> = OnceLock::new();
    CLIS.get_or_init(|| {
        use clap::Parser as _;
        let plain = Cli::try_parse_from(["i2psocks"]).expect("no arguments");
        let strict = Cli::try_parse_from(["i2psocks", "--strict"]).expect("--strict");
        [plain, strict]
    })
}

fn pairs(file: &IniFile) -> Vec<(String, String)> {
    file.entries
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect()
}

fn check_entries(file: &IniFile, lines: usize) {
    let mut keys = HashSet::new();
    let mut last = 0;
    for e in &file.entries {
        assert!(!e.key.is_empty());
        assert!(keys.insert(e.key.as_str()), "duplicate key {}", e.key);
        assert!(!e.key.contains('\n') && !e.key.contains('#'), "{:?}", e.key);
        assert_eq!(e.value, e.value.trim_matches(BLANKS), "untrimmed value");
        assert!(
            !e.value.contains('#') && !e.value.contains('\n'),
            "{:?}",
            e.value
        );
        assert!(
            e.line > last && e.line <= lines,
            "line {} after {last}",
            e.line
        );
        last = e.line;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let own_settings = selector & 1 == 1;
    let sections: &[&'static str] = if own_settings {
        settings::SECTIONS
    } else {
        known::SECTIONS
    };
    let path = Path::new("/fuzz/i2pd.conf");
    let lines = bytes.split(|&b| b == b'\n').count();

    let (parsed, peak) = alloc_bound::peak_during(|| ini::parse(path, bytes, sections));
    alloc_bound::assert_bounded(peak, bytes.len(), "ini::parse");
    let file = match parsed {
        Ok(file) => file,
        Err(err) => {
            let msg = err.to_string();
            assert!(
                msg.contains("/fuzz/i2pd.conf"),
                "error does not name the file: {msg}"
            );
            return;
        }
    };
    check_entries(&file, lines);
    assert_eq!(file.path, path);

    // Comments and blank lines are inert.
    let mut padded = bytes.to_vec();
    padded.extend_from_slice(b"\n  # [socksproxy] port = 1 \n\t\r\n");
    let padded = ini::parse(path, &padded, sections).expect("padding breaks nothing");
    assert_eq!(padded.entries, file.entries);

    // Write back the entries whose full key can stand alone on a top-level line (a key built
    // from a section with blanks or `=` in its name cannot) and parse them again.
    let standalone: Vec<(String, String)> = pairs(&file)
        .into_iter()
        .filter(|(k, _)| k.trim_matches(BLANKS) == k && !k.contains('=') && !k.starts_with('['))
        .collect();
    // Starts with a comment line: a key may begin with U+FEFF, which only counts as a byte
    // order mark (an error) on the first line.
    let text: String = std::iter::once("# written back\n".to_owned())
        .chain(standalone.iter().map(|(k, v)| format!("{k} = {v}\n")))
        .collect();
    let again = ini::parse(path, text.as_bytes(), sections).expect("written-back entries parse");
    assert_eq!(pairs(&again), standalone, "written-back entries differ");

    // The typed configuration from this file (no I/O).
    let cli = &clis()[usize::from(selector >> 1 & 1)];
    let datadir = PathBuf::from("/fuzz");
    let inputs = Inputs {
        cli,
        overrides: &[],
        datadir,
        conf: (!own_settings).then_some(&file),
        settings: own_settings.then_some(&file),
    };
    match build(&inputs) {
        Ok(built) => {
            let _ = built.config.render_effective();
            let _ = built.config.session_options();
        }
        Err(err) => {
            let msg = err.to_string();
            assert!(!msg.is_empty());
        }
    }
});

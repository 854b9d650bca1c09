//! Property tests for the Boost-compatible i2pd.conf lexer (i2pd-reference A.2).

use std::path::Path;

use i2psocks::config::ini::{self, IniFile};
use i2psocks::config::known::SECTIONS;
use proptest::prelude::*;

fn parse(text: &str) -> Result<IniFile, i2psocks::config::ConfigError> {
    ini::parse(Path::new("/p.conf"), text.as_bytes(), SECTIONS)
}

fn pairs(file: &IniFile) -> Vec<(String, String)> {
    file.entries
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect()
}

/// Names and values without `#`, `=`, `[`, `]` or line breaks, and not blank-padded.
fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_.]{0,12}"
}
fn value() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.;:/,\"' -]{0,16}".prop_map(|v| v.trim_matches(' ').to_owned())
}
fn blanks() -> impl Strategy<Value = String> {
    "[ \t]{0,3}"
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = ini::parse(Path::new("/p.conf"), &bytes, SECTIONS);
    }

    #[test]
    fn never_panics_on_arbitrary_text(text in "\\PC{0,300}") {
        let _ = parse(&text);
    }

    #[test]
    fn comment_text_is_ignored(k in name(), v in value(), comment in "[^\n]{0,40}") {
        let plain = parse(&format!("{k} = {v}\n")).map(|f| pairs(&f));
        let commented = parse(&format!("{k} = {v}#{comment}\n")).map(|f| pairs(&f));
        prop_assert_eq!(plain.ok(), commented.ok());
    }

    #[test]
    fn whitespace_around_names_and_values_is_trimmed(
        k in name(), v in value(), a in blanks(), b in blanks(), c in blanks(), d in blanks(), crlf in any::<bool>()
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let file = parse(&format!("{a}{k}{b}={c}{v}{d}{eol}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(pairs(&file), vec![(k, v)]);
    }

    #[test]
    fn dotted_global_equals_sectioned_key(
        section in prop::sample::select(SECTIONS), k in name(), v in value()
    ) {
        let dotted = parse(&format!("{section}.{k} = {v}\n")).map(|f| pairs(&f));
        let sectioned = parse(&format!("[{section}]\n{k} = {v}\n")).map(|f| pairs(&f));
        prop_assert!(dotted.is_ok());
        prop_assert_eq!(dotted.ok(), sectioned.ok());
    }

    #[test]
    fn each_key_keeps_its_line_number(keys in proptest::collection::btree_set(name(), 1..8)) {
        let text: String = keys.iter().map(|k| format!("{k} = 1\n# comment\n\n")).collect();
        let file = parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (i, entry) in file.entries.iter().enumerate() {
            prop_assert_eq!(entry.line, 1 + 3 * i);
        }
    }
}

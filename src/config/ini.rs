//! i2pd.conf lexer: the rules of Boost `parse_config_file` as i2pd uses it (docs/i2pd-config.md
//! "File syntax"). Hand-written on purpose: rust-ini treats `;`, quotes and mid-line `#`
//! differently (README.md "Dependencies").
//!
//! Rules, in the order they are applied to each `\n`-separated line:
//! 1. the first `#` anywhere starts a comment (`pass = a#b` gives `a`); `;` is ordinary text;
//! 2. the rest is trimmed of space, tab, CR and LF; empty lines are skipped;
//! 3. `[name]` sets the prefix `name.` (no trimming inside, case-sensitive, a trailing dot is not doubled);
//! 4. otherwise the line must contain `=`: key = prefix + trimmed text before the first `=`,
//!    value = trimmed text after it, no quoting or escapes;
//! 5. any other line is an error ("invalid line"), and so is a key seen twice.
//!
//! Keys before any section have no prefix, so a top-level `socksproxy.port = 4448` is the same
//! option as `port = 4448` under `[socksproxy]`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::error::{ConfigError, Source};

/// The UTF-8 byte order mark; i2pd glues it to the first line and then fails (docs/i2pd-config.md
/// "File syntax").
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Characters Boost's `trim_ws` removes.
const BLANKS: &[char] = &[' ', '\t', '\r', '\n'];

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Full option name (section prefix + key), e.g. `socksproxy.port`.
    pub key: String,
    /// Trimmed value; may be empty.
    pub value: String,
    /// 1-based line number in the file.
    pub line: usize,
}

/// A parsed file: its entries in file order, each key at most once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniFile {
    /// Path the file was read from (used in every message).
    pub path: PathBuf,
    /// Entries in file order.
    pub entries: Vec<Entry>,
}

impl IniFile {
    /// The entry for a full option name, if the file sets it.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// Where an entry came from, for messages.
    pub fn source_of(&self, entry: &Entry) -> Source {
        Source::File {
            path: self.path.clone(),
            line: entry.line,
        }
    }
}

/// Parses the bytes of a config file.
///
/// `known_sections` lists the section names the caller expects (exact spelling); a header that
/// matches one of them only when case and surrounding blanks are ignored (`[SOCKSProxy]`,
/// `[ i2cp ]`) is reported as [`ConfigError::MiscasedSection`], because i2pd would treat every key
/// under it as unknown. Other unknown sections are left to the caller's key check.
pub fn parse(
    path: &Path,
    bytes: &[u8],
    known_sections: &[&'static str],
) -> Result<IniFile, ConfigError> {
    if bytes.starts_with(BOM) {
        return Err(ConfigError::ByteOrderMark {
            path: path.to_owned(),
        });
    }
    let mut prefix = String::new();
    let mut entries: Vec<Entry> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        // Comments are cut on bytes first: i2pd never looks at them, so a Latin-1 comment must not
        // make the file unreadable ('#' is ASCII and never part of a multi-byte UTF-8 sequence).
        let text = std::str::from_utf8(strip_comment(raw)).map_err(|_| ConfigError::NotUtf8 {
            path: path.to_owned(),
            line,
        })?;
        let text = text.trim_matches(BLANKS);
        if text.is_empty() {
            continue;
        }
        if let Some(name) = section_name(text) {
            check_section(path, line, text, name, known_sections)?;
            prefix = section_prefix(name);
            continue;
        }
        let Some((key, value)) = text.split_once('=') else {
            return Err(ConfigError::InvalidLine {
                path: path.to_owned(),
                line,
                text: text.to_owned(),
            });
        };
        let key = key.trim_matches(BLANKS);
        if key.is_empty() {
            return Err(ConfigError::EmptyName {
                path: path.to_owned(),
                line,
                what: "key",
                text: text.to_owned(),
            });
        }
        let full = format!("{prefix}{key}");
        if let Some(&first) = seen.get(&full) {
            return Err(ConfigError::Duplicate {
                origin: Source::File {
                    path: path.to_owned(),
                    line,
                },
                key: full,
                first: Source::File {
                    path: path.to_owned(),
                    line: first,
                },
            });
        }
        seen.insert(full.clone(), line);
        entries.push(Entry {
            key: full,
            value: value.trim_matches(BLANKS).to_owned(),
            line,
        });
    }
    Ok(IniFile {
        path: path.to_owned(),
        entries,
    })
}

/// Everything before the first `#` (Boost: a comment may start anywhere, even inside a value).
fn strip_comment(raw: &[u8]) -> &[u8] {
    match raw.iter().position(|&b| b == b'#') {
        Some(at) => raw.get(..at).unwrap_or(raw),
        None => raw,
    }
}

/// The text between the brackets if the trimmed line is `[...]`.
fn section_name(text: &str) -> Option<&str> {
    text.strip_prefix('[')?.strip_suffix(']')
}

/// `name` → `name.`, but `name.` stays `name.` (Boost does not double the dot).
fn section_prefix(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

fn check_section(
    path: &Path,
    line: usize,
    text: &str,
    name: &str,
    known_sections: &[&'static str],
) -> Result<(), ConfigError> {
    if name.is_empty() {
        return Err(ConfigError::EmptyName {
            path: path.to_owned(),
            line,
            what: "section name",
            text: text.to_owned(),
        });
    }
    let bare = name.trim_matches(BLANKS).trim_end_matches('.');
    if known_sections.contains(&name.trim_end_matches('.')) {
        return Ok(());
    }
    match known_sections
        .iter()
        .find(|known| known.eq_ignore_ascii_case(bare))
    {
        Some(expected) => Err(ConfigError::MiscasedSection {
            path: path.to_owned(),
            line,
            found: name.to_owned(),
            expected,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECTIONS: &[&str] = &["socksproxy", "i2cp"];

    fn p(text: &str) -> Result<IniFile, ConfigError> {
        parse(Path::new("/t.conf"), text.as_bytes(), SECTIONS)
    }

    fn pairs(text: &str) -> Vec<(String, String)> {
        p(text)
            .map(|f| f.entries.into_iter().map(|e| (e.key, e.value)).collect())
            .unwrap_or_else(|e| panic!("unexpected error: {e}"))
    }

    #[test]
    fn hash_anywhere_starts_comment_semicolon_does_not() {
        assert_eq!(
            pairs("pass = a#b\nx = 1;2 # c"),
            vec![("pass".into(), "a".into()), ("x".into(), "1;2".into())]
        );
        assert_eq!(
            pairs("; not a comment = 1"),
            vec![("; not a comment".into(), "1".into())]
        );
    }

    #[test]
    fn sections_prefix_keys_and_trailing_dot_is_not_doubled() {
        assert_eq!(
            pairs("[socksproxy]\nport=1\n[i2cp.]\nport = 2\n"),
            vec![
                ("socksproxy.port".into(), "1".into()),
                ("i2cp.port".into(), "2".into())
            ]
        );
    }

    #[test]
    fn trims_blanks_and_crlf_and_keeps_quotes() {
        assert_eq!(
            pairs(" \t key \t= \t\"v\" \r\n"),
            vec![("key".into(), "\"v\"".into())]
        );
        assert_eq!(pairs("k =\n"), vec![("k".into(), String::new())]);
        assert_eq!(pairs("k = a = b"), vec![("k".into(), "a = b".into())]);
    }

    #[test]
    fn invalid_line_names_file_and_line() {
        let err = p("a = 1\n\nbogus line\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/t.conf:3: invalid line 'bogus line' (expected [section] or key = value)"
        );
    }

    #[test]
    fn duplicate_after_prefixing_is_an_error() {
        let err = p("socksproxy.port = 1\n[socksproxy]\nport = 2\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/t.conf:3: key 'socksproxy.port' given more than once (first at /t.conf:1); i2pd rejects repeated options"
        );
    }

    #[test]
    fn bom_is_an_error() {
        let err = parse(Path::new("/t.conf"), b"\xEF\xBB\xBFport = 1\n", SECTIONS).unwrap_err();
        assert!(matches!(err, ConfigError::ByteOrderMark { .. }));
        assert!(
            err.to_string()
                .starts_with("/t.conf:1: file starts with a UTF-8 byte order mark")
        );
    }

    #[test]
    fn miscased_or_padded_known_section_is_an_error() {
        let err = p("\n[SOCKSProxy]\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/t.conf:2: unknown section [SOCKSProxy]: did you mean [socksproxy]? (section names are case-sensitive and not trimmed)"
        );
        let err = p("[ i2cp ]").unwrap_err();
        assert!(err.to_string().contains("did you mean [i2cp]?"), "{err}");
        // An unrelated unknown section is left to the key check.
        assert_eq!(pairs("[other]\na=1"), vec![("other.a".into(), "1".into())]);
    }

    #[test]
    fn empty_names_are_errors() {
        assert!(matches!(
            p("[]").unwrap_err(),
            ConfigError::EmptyName {
                what: "section name",
                ..
            }
        ));
        assert!(matches!(
            p(" = 1").unwrap_err(),
            ConfigError::EmptyName {
                what: "key",
                line: 1,
                ..
            }
        ));
    }

    #[test]
    fn not_utf8_names_the_line() {
        let err = parse(Path::new("/t.conf"), b"a = 1\nb = \xff\n", SECTIONS).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/t.conf:2: line is not valid UTF-8 (outside a comment)"
        );
        // A Latin-1 comment is fine: i2pd never reads comments.
        assert_eq!(
            parse(
                Path::new("/t.conf"),
                b"# Gr\xfc\xdfe\na = 1 # \xe9\n",
                SECTIONS
            )
            .map(|f| f.entries.len())
            .ok(),
            Some(1)
        );
    }

    #[test]
    fn line_numbers_count_comments_and_blank_lines() {
        let f = p("# c\n\n[socksproxy]\n  # x\nport = 1\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.entries[0].line, 5);
        assert_eq!(f.get("socksproxy.port").map(|e| e.line), Some(5));
    }
}

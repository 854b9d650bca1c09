//! Typed configuration errors and the origin of every setting.
//!
//! Every error names where the offending text came from (`FILE:LINE`, or `command line`) and, when
//! there is one, the full option name, so a user can fix the file without guessing.

use std::fmt;
use std::path::PathBuf;

/// Where an effective setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Built-in default (i2pd's default where i2pd has the option).
    Default,
    /// A line in a configuration file (1-based line number).
    File {
        /// Path of the file as given or discovered.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// The command line (`--socksproxy.port=4448`, `--loglevel debug`, …).
    CommandLine,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File { path, line } => write!(f, "{}:{}", path.display(), line),
            Source::CommandLine => f.write_str("command line"),
        }
    }
}

/// Everything that can make loading the configuration fail.
///
/// The `Display` text is meant for the user as is (no extra context needed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `--conf` / `--settings` named a file that cannot be read (docs/i2pd-config.md "Data dir and
    /// config file": fatal in i2pd too).
    #[error("missing/unreadable config file: {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file starts with a UTF-8 byte order mark, which i2pd rejects (docs/i2pd-config.md "File
    /// syntax").
    #[error(
        "{}:1: file starts with a UTF-8 byte order mark (EF BB BF); i2pd rejects such a file, save it without BOM",
        path.display()
    )]
    ByteOrderMark {
        /// The file.
        path: PathBuf,
    },
    /// A line is not valid UTF-8.
    #[error("{}:{line}: line is not valid UTF-8 (outside a comment)", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// A line that is neither `[section]` nor `key = value` (Boost: "invalid line").
    #[error("{}:{line}: invalid line '{text}' (expected [section] or key = value)", path.display())]
    InvalidLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The line after comment removal and trimming.
        text: String,
    },
    /// `[]` or `= value`.
    #[error("{}:{line}: empty {what} in '{text}'", path.display())]
    EmptyName {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// "section name" or "key".
        what: &'static str,
        /// The line after comment removal and trimming.
        text: String,
    },
    /// A section header that differs from a known section only by case or surrounding blanks.
    #[error(
        "{}:{line}: unknown section [{found}]: did you mean [{expected}]? (section names are case-sensitive and not trimmed)",
        path.display()
    )]
    MiscasedSection {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The text between the brackets.
        found: String,
        /// The spelling i2pd expects.
        expected: &'static str,
    },
    /// The same option appears twice (i2pd: "option '…' cannot be specified more than once").
    #[error(
        "{origin}: key '{key}' given more than once (first at {first}); i2pd rejects repeated options"
    )]
    Duplicate {
        /// Where the second occurrence is.
        origin: Source,
        /// Full option name.
        key: String,
        /// Where the first occurrence is.
        first: Source,
    },
    /// A value that does not parse as the option's type.
    #[error("{origin}: key '{key}': invalid value '{value}' (expected {expected})")]
    InvalidValue {
        /// Where the value came from.
        origin: Source,
        /// Full option name.
        key: String,
        /// The offending value.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// An option nobody declares (fatal only with `--strict`, or in i2psocks' own settings file).
    #[error("{origin}: unknown key '{key}'{hint}")]
    UnknownKey {
        /// Where it appeared.
        origin: Source,
        /// Full option name.
        key: String,
        /// Extra explanation, starting with a separator, or empty.
        hint: String,
    },
    /// A malformed i2pd-style `--section.key[=value]` argument.
    #[error("command line: '{arg}': {reason}")]
    BadOverride {
        /// The argument as given.
        arg: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// clap rejected the command line, or `--help` / `--version` was asked for.
    ///
    /// `main` should call [`clap::Error::exit`] on it so help goes to stdout with status 0.
    #[error(transparent)]
    Clap(#[from] clap::Error),
}

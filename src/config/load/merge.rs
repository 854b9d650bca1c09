//! The raw i2pd.conf key table: file entries with command-line overrides on top, the
//! unknown-key policy, and [`Values`], which hands out typed values and records where
//! each came from. Apart from `load.rs` so that file reads as discovery plus assembly.

use std::collections::BTreeMap;

use super::super::error::{ConfigError, Source};
use super::super::known;
use super::super::options::{EXPECT_BOOL, invalid, parse_bool, parse_u16};
use super::super::settings;
use super::{Inputs, SETTINGS_NAME};

/// One raw value and where it came from.
#[derive(Debug, Clone)]
pub(super) struct Raw {
    pub(super) value: String,
    pub(super) source: Source,
}

/// Merged raw values (command line over file) plus a record of the origin of every value read.
pub(super) struct Values {
    pub(super) raw: BTreeMap<String, Raw>,
    pub(super) sources: BTreeMap<String, Source>,
}

impl Values {
    /// The value of `key` (or `default`) and its origin; remembers the origin for `check`.
    pub(super) fn text(&mut self, key: &str, default: &str) -> (String, Source) {
        let (value, source) = match self.raw.get(key) {
            Some(raw) => (raw.value.clone(), raw.source.clone()),
            None => (default.to_owned(), Source::Default),
        };
        self.sources.insert(key.to_owned(), source.clone());
        (value, source)
    }

    pub(super) fn string(&mut self, key: &str, default: &str) -> String {
        self.text(key, default).0
    }

    pub(super) fn bool(&mut self, key: &str, default: bool) -> Result<bool, ConfigError> {
        self.typed(key, default, parse_bool, EXPECT_BOOL)
    }

    pub(super) fn u16(
        &mut self,
        key: &str,
        default: u16,
        expected: &'static str,
    ) -> Result<u16, ConfigError> {
        self.typed(key, default, parse_u16, expected)
    }

    /// An unset key yields `default`; a set one must parse (docs/i2pd-config.md "File syntax":
    /// fatal otherwise).
    pub(super) fn typed<T>(
        &mut self,
        key: &str,
        default: T,
        parse: fn(&str) -> Option<T>,
        expected: &'static str,
    ) -> Result<T, ConfigError> {
        let (text, source) = self.text(key, "");
        if source == Source::Default {
            return Ok(default);
        }
        parse(&text).ok_or_else(|| invalid(&source, key, &text, expected))
    }

    pub(super) fn is_set(&self, key: &str) -> Option<&Raw> {
        self.raw.get(key)
    }
}

/// File entries, then command-line overrides on top (docs/i2pd-config.md "Command line": the
/// command line wins). Unknown i2pd keys are reported here.
pub(super) fn merge(
    inputs: &Inputs<'_>,
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<String, Raw>, ConfigError> {
    let strict = inputs.cli.strict;
    let mut raw = BTreeMap::new();
    if let Some(file) = inputs.conf {
        for entry in &file.entries {
            let source = file.source_of(entry);
            check_known(&entry.key, &source, strict, warnings)?;
            let value = entry.value.clone();
            raw.insert(entry.key.clone(), Raw { value, source });
        }
        warn_file_only_globals(&raw, warnings);
    }
    for o in inputs.overrides {
        check_known(&o.key, &o.source(), strict, warnings)?;
        insert_cli(&mut raw, &o.key, Some(o.value.clone()));
    }
    let cli = inputs.cli;
    insert_cli(&mut raw, "log", cli.log.clone());
    insert_cli(&mut raw, "loglevel", cli.loglevel.clone());
    let logfile = cli
        .logfile
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned());
    insert_cli(&mut raw, "logfile", logfile);
    Ok(raw)
}

pub(super) fn insert_cli(raw: &mut BTreeMap<String, Raw>, key: &str, value: Option<String>) {
    if let Some(value) = value {
        raw.insert(
            key.to_owned(),
            Raw {
                value,
                source: Source::CommandLine,
            },
        );
    }
}

/// Unknown i2pd option: a warning (i2pd itself would refuse to start), an error with `--strict`.
pub(super) fn check_known(
    key: &str,
    source: &Source,
    strict: bool,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    if known::is_known(key) {
        return Ok(());
    }
    let hint = match known::case_insensitive_match(key) {
        Some(name) => format!(" (did you mean '{name}'? option names are case-sensitive)"),
        None if settings::KEYS.contains(&key) => format!(
            " (an i2psocks setting: put it in {SETTINGS_NAME}, i2pd would refuse to start with it)"
        ),
        None => " (i2pd does not declare it and would refuse to start)".to_owned(),
    };
    let err = ConfigError::UnknownKey {
        origin: source.clone(),
        key: key.to_owned(),
        hint,
    };
    if strict {
        return Err(err);
    }
    warnings.push(format!("{err}; ignored"));
    Ok(())
}

/// `datadir` and `service` are read from the command line only (docs/i2pd-config.md "Data dir and
/// config file"); in the file they do nothing.
pub(super) fn warn_file_only_globals(raw: &BTreeMap<String, Raw>, warnings: &mut Vec<String>) {
    for key in ["datadir", "service"] {
        if let Some(r) = raw.get(key) {
            warnings.push(format!(
                "{}: '{key} = {}' has no effect in a config file (the data dir is fixed before the file is read); use --{key} on the command line",
                r.source, r.value
            ));
        }
    }
}

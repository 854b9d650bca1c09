//! Property tests for the Boost-compatible i2pd.conf lexer (docs/i2pd-config.md "File syntax").

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

/// A line of a config file as users write them, with some damage: known sections (and
/// miscased ones), known keys with typical and random values, comments, junk.
fn config_line() -> impl Strategy<Value = String> {
    let section = prop::sample::select(SECTIONS.to_vec());
    let key = prop::sample::select(vec![
        "port",
        "address",
        "enabled",
        "keys",
        "signaturetype",
        "outproxy",
        "outproxy.enabled",
        "outproxyport",
        "inbound.length",
        "outbound.quantity",
        "log",
        "loglevel",
        "logfile",
        "handshake_timeout",
        "max_connections",
        "lookup_timeout",
        "reconnect_max_delay",
        "x",
    ]);
    let value = prop_oneof![
        Just(String::new()),
        Just("true".to_owned()),
        Just("0".to_owned()),
        Just("65536".to_owned()),
        Just("127.0.0.1".to_owned()),
        Just("transient".to_owned()),
        "[ -~]{0,12}",
    ];
    prop_oneof![
        section.clone().prop_map(|s| format!("[{s}]")),
        section.prop_map(|s| format!("[{}]", s.to_uppercase())),
        (key.clone(), value.clone()).prop_map(|(k, v)| format!("{k} = {v}")),
        (prop::sample::select(SECTIONS.to_vec()), key, value)
            .prop_map(|(s, k, v)| format!("{s}.{k}={v}")),
        "#[ -~]{0,10}",
        "[ -~]{0,10}",
    ]
}

proptest! {
    /// The config fuzz target's invariants on stable (fuzz/fuzz_targets/config_ini.rs): any
    /// parsed file, as i2pd.conf or as i2psocks.conf, builds a configuration or a clean
    /// error, and its entries written back parse to the same pairs.
    #[test]
    fn parsed_files_build_and_write_back(
        lines in proptest::collection::vec(config_line(), 0..12),
        own_settings in any::<bool>(),
        strict in any::<bool>(),
    ) {
        use clap::Parser as _;
        use i2psocks::config::load::{Inputs, build};
        let text = lines.join("\n");
        let sections = if own_settings {
            i2psocks::config::settings::SECTIONS
        } else {
            SECTIONS
        };
        let Ok(file) = ini::parse(Path::new("/p.conf"), text.as_bytes(), sections) else {
            return Ok(());
        };
        let standalone: Vec<(String, String)> = pairs(&file)
            .into_iter()
            .filter(|(k, _)| !k.contains('=') && !k.starts_with('[') && k.trim() == k)
            .collect();
        let written: String = standalone.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        let again = ini::parse(Path::new("/p.conf"), written.as_bytes(), sections)
            .expect("written-back entries parse");
        prop_assert_eq!(pairs(&again), standalone);

        let args: &[&str] = if strict { &["i2psocks", "--strict"] } else { &["i2psocks"] };
        let cli = i2psocks::config::Cli::try_parse_from(args).expect("cli");
        let inputs = Inputs {
            cli: &cli,
            overrides: &[],
            datadir: "/d".into(),
            conf: (!own_settings).then_some(&file),
            settings: own_settings.then_some(&file),
        };
        match build(&inputs) {
            Ok(built) => prop_assert!(!built.config.render_effective().is_empty()),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}

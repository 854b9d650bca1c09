//! End-to-end configuration loading: discovery, precedence, typed values and exact messages.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use i2psocks::config::load::discover_datadir;
use i2psocks::config::{
    Command, ConfigError, KeysSpec, Loaded, LogLevel, LogTarget, Outproxy, Source, load_with_home,
    resolve_keys,
};
use tempfile::TempDir;

/// A fake `$HOME` whose default data dir (`$HOME/.i2pd`) does not exist unless a test creates it.
struct Home {
    dir: TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}")),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn datadir(&self) -> PathBuf {
        self.path().join(".i2pd")
    }

    /// Writes `name` under the home dir (creating parents) and returns its path.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write: {e}"));
        path
    }

    fn load(&self, args: &[&str]) -> Result<Loaded, ConfigError> {
        let mut argv = vec![OsString::from("i2psocks")];
        argv.extend(args.iter().map(OsString::from));
        load_with_home(argv, Some(self.path().as_os_str()))
    }

    fn load_ok(&self, args: &[&str]) -> Loaded {
        self.load(args)
            .unwrap_or_else(|e| panic!("load failed: {e}"))
    }

    /// Loads `text` as the i2pd.conf given with `--conf`, plus extra arguments.
    fn with_conf(&self, text: &str, extra: &[&str]) -> (PathBuf, Result<Loaded, ConfigError>) {
        let conf = self.write("conf/i2pd.conf", text);
        let conf_arg = conf.to_string_lossy().into_owned();
        let mut args = vec!["--conf", conf_arg.as_str()];
        args.extend_from_slice(extra);
        let result = self.load(&args);
        (conf, result)
    }
}

fn file_src(path: &Path, line: usize) -> Source {
    Source::File {
        path: path.to_owned(),
        line,
    }
}

#[test]
fn no_file_gives_i2pd_defaults() {
    let home = Home::new();
    let loaded = home.load_ok(&[]);
    let c = &loaded.config;
    assert_eq!(loaded.cli.effective_command(), Command::Run);
    assert_eq!(c.datadir, home.datadir());
    assert_eq!(c.conf_file, None);
    assert_eq!(c.settings_file, None);
    assert_eq!(c.socks.address, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(c.socks.port, 4447);
    assert_eq!(c.socks.keys, KeysSpec::Transient);
    assert_eq!(c.socks.signature_type, 7);
    assert_eq!(c.socks.tunnel.inbound_length, "3");
    assert_eq!(c.socks.tunnel.outbound_quantity, "5");
    assert_eq!(c.socks.tunnel.inbound_length_variance, "0");
    assert_eq!(c.socks.tunnel.latency_max, "0");
    assert_eq!(c.socks.outproxy, None);
    assert_eq!(c.socks.lease_set_type, "3");
    assert_eq!(c.socks.lease_set_enc_type, "4,0");
    assert_eq!(c.socks.lease_set_priv_key, "");
    assert_eq!(c.socks.streaming_profile, "1");
    assert_eq!(c.socks.max_window_size, "512");
    assert_eq!(c.socks.handshake_timeout, Some(Duration::from_secs(30)));
    assert_eq!(c.socks.max_connections, 4096);
    assert!(!c.i2cp.enabled);
    assert_eq!(c.i2cp.address, "127.0.0.1");
    assert_eq!(c.i2cp.port, 7654);
    assert_eq!(c.i2cp.lookup_timeout, Duration::from_secs(15));
    assert_eq!(c.i2cp.reconnect_max_delay, Duration::from_secs(1));
    assert_eq!(c.log.target, LogTarget::Stdout);
    assert_eq!(c.log.level, LogLevel::Warn);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(c.sources.get("socksproxy.port"), Some(&Source::Default));
}

#[test]
fn session_options_are_sorted_and_complete() {
    let home = Home::new();
    let loaded = home.load_ok(&[
        "--socksproxy.inbound.length=1",
        "--socksproxy.i2cp.leaseSetEncType=4",
    ]);
    let got = loaded.config.session_options();
    let expected: Vec<(String, String)> = [
        ("i2cp.dontPublishLeaseSet", "true"),
        ("i2cp.fastReceive", "true"),
        ("i2cp.leaseSetEncType", "4"),
        ("i2cp.leaseSetType", "3"),
        ("i2cp.messageReliability", "none"),
        ("i2p.streaming.profile", "1"),
        ("inbound.length", "1"),
        ("inbound.lengthVariance", "0"),
        ("inbound.nickname", "SOCKSProxy"),
        ("inbound.quantity", "5"),
        ("latency.max", "0"),
        ("latency.min", "0"),
        ("outbound.length", "3"),
        ("outbound.lengthVariance", "0"),
        ("outbound.nickname", "SOCKSProxy"),
        ("outbound.quantity", "5"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(got, sorted);
    assert_eq!(got.len(), expected.len());
}

#[test]
fn datadir_discovery_follows_i2pd() {
    let home = Path::new("/home/u");
    assert_eq!(
        discover_datadir(Some(Path::new("/d")), true, Some(home.as_os_str())),
        PathBuf::from("/d")
    );
    assert_eq!(
        discover_datadir(None, true, Some(home.as_os_str())),
        PathBuf::from("/var/lib/i2pd")
    );
    assert_eq!(
        discover_datadir(None, false, Some(home.as_os_str())),
        PathBuf::from("/home/u/.i2pd")
    );
    assert_eq!(
        discover_datadir(None, false, Some("".as_ref())),
        PathBuf::from("/tmp/i2pd")
    );
    assert_eq!(
        discover_datadir(None, false, None),
        PathBuf::from("/tmp/i2pd")
    );
}

#[test]
fn conf_in_datadir_is_found_and_cli_datadir_wins() {
    let home = Home::new();
    let conf = home.write(".i2pd/i2pd.conf", "[socksproxy]\nport = 5000\n");
    let loaded = home.load_ok(&[]);
    assert_eq!(loaded.config.conf_file, Some(conf.clone()));
    assert_eq!(loaded.config.socks.port, 5000);
    assert_eq!(
        loaded.config.sources.get("socksproxy.port"),
        Some(&file_src(&conf, 2))
    );

    let other = home.write("other/i2pd.conf", "socksproxy.port = 6000\n");
    let dir = home.path().join("other");
    let loaded = home.load_ok(&["--datadir", &dir.to_string_lossy()]);
    assert_eq!(loaded.config.datadir, dir);
    assert_eq!(loaded.config.conf_file, Some(other));
    assert_eq!(loaded.config.socks.port, 6000);
}

#[test]
fn missing_conf_is_an_error() {
    let home = Home::new();
    let missing = home.path().join("nope.conf");
    let err = home
        .load(&["--conf", &missing.to_string_lossy()])
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "missing/unreadable config file: {}: ",
            missing.display()
        )),
        "{text}"
    );
}

#[test]
fn bad_port_names_file_line_and_key() {
    let home = Home::new();
    let (conf, result) = home.with_conf(
        "# comment\n[socksproxy]\naddress = 127.0.0.1\nport = abc\n",
        &[],
    );
    let err = result.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:4: key 'socksproxy.port': invalid value 'abc' (expected a port number 0-65535)",
            conf.display()
        )
    );
    for bad in ["", "65536", "-1", "4447x"] {
        let (_, result) = home.with_conf(&format!("socksproxy.port = {bad}\n"), &[]);
        assert!(
            matches!(result, Err(ConfigError::InvalidValue { ref key, .. }) if key == "socksproxy.port"),
            "{bad:?}"
        );
    }
}

#[test]
fn bad_values_of_other_types_name_the_key() {
    let home = Home::new();
    let cases = [
        (
            "[socksproxy]\noutproxy.enabled = maybe\n",
            "socksproxy.outproxy.enabled",
            "maybe",
            "true/yes/on/1 or false/no/off/0; empty means true",
        ),
        (
            "[socksproxy]\naddress = localhost\n",
            "socksproxy.address",
            "localhost",
            "an IPv4 or IPv6 address literal, no host name",
        ),
        (
            "[socksproxy]\naddress = \"127.0.0.1\"\n",
            "socksproxy.address",
            "\"127.0.0.1\"",
            "an IPv4 or IPv6 address literal, no host name",
        ),
        (
            "[socksproxy]\nsignaturetype = seven\n",
            "socksproxy.signaturetype",
            "seven",
            "a number 0-65535",
        ),
        (
            "[i2cp]\nport = 70000\n",
            "i2cp.port",
            "70000",
            "a port number 0-65535",
        ),
        (
            "[i2cp]\nenabled = 2\n",
            "i2cp.enabled",
            "2",
            "true/yes/on/1 or false/no/off/0; empty means true",
        ),
    ];
    for (text, key, value, expected) in cases {
        let (conf, result) = home.with_conf(text, &[]);
        let err = result.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:2: key '{key}': invalid value '{value}' (expected {expected})",
                conf.display()
            )
        );
    }
}

#[test]
fn empty_bool_means_true() {
    let home = Home::new();
    let (_, result) = home.with_conf("[i2cp]\nenabled =\n[socksproxy]\noutproxy.enabled=\n", &[]);
    let loaded = result.unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.config.i2cp.enabled);
    assert_eq!(
        loaded.config.socks.outproxy,
        Some(Outproxy {
            host: "127.0.0.1".into(),
            port: 9050
        })
    );
}

#[test]
fn dotted_cli_override_beats_the_file_in_every_form() {
    let home = Home::new();
    for form in [
        vec!["--socksproxy.port=4448"],
        vec!["--socksproxy.port", "4448"],
        vec!["-socksproxy.port=4448"],
        vec!["-socksproxy.port", "4448"],
    ] {
        let (_, result) = home.with_conf("[socksproxy]\nport = 5555\n", &form);
        let loaded = result.unwrap_or_else(|e| panic!("{form:?}: {e}"));
        assert_eq!(loaded.config.socks.port, 4448, "{form:?}");
        assert_eq!(
            loaded.config.sources.get("socksproxy.port"),
            Some(&Source::CommandLine)
        );
    }
    let (_, result) = home.with_conf(
        "[i2cp]\nport = 1\n",
        &["check", "--i2cp.port=7655", "--i2cp.enabled=true"],
    );
    let loaded = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.cli.effective_command(), Command::Check);
    assert_eq!(loaded.config.i2cp.port, 7655);
    assert!(loaded.config.i2cp.enabled);
}

#[test]
fn bad_cli_override_value_says_command_line() {
    let home = Home::new();
    let err = home.load(&["--socksproxy.port=abc"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "command line: key 'socksproxy.port': invalid value 'abc' (expected a port number 0-65535)"
    );
    let err = home.load(&["--socksproxy.enabled"]).unwrap_err();
    assert!(matches!(err, ConfigError::BadOverride { .. }), "{err}");
}

#[test]
fn unknown_keys_warn_with_file_line_and_fail_with_strict() {
    let home = Home::new();
    let text = "[socksproxy]\nport = 4447\nfoo = 1\ni2cp.leasesetenctype = 4\n";
    let (conf, result) = home.with_conf(text, &[]);
    let loaded = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        loaded.warnings,
        vec![
            format!(
                "{}:3: unknown key 'socksproxy.foo' (i2pd does not declare it and would refuse to start); ignored",
                conf.display()
            ),
            format!(
                "{}:4: unknown key 'socksproxy.i2cp.leasesetenctype' (did you mean 'socksproxy.i2cp.leaseSetEncType'? option names are case-sensitive); ignored",
                conf.display()
            ),
        ]
    );
    let (conf, result) = home.with_conf(text, &["--strict"]);
    assert_eq!(
        result.unwrap_err().to_string(),
        format!(
            "{}:3: unknown key 'socksproxy.foo' (i2pd does not declare it and would refuse to start)",
            conf.display()
        )
    );
}

#[test]
fn unknown_cli_override_warns_and_fails_with_strict() {
    let home = Home::new();
    let loaded = home.load_ok(&["--socksproxy.bogus=1"]);
    assert_eq!(loaded.warnings, vec![
        "command line: unknown key 'socksproxy.bogus' (i2pd does not declare it and would refuse to start); ignored"
            .to_owned()
    ]);
    let err = home
        .load(&["--strict", "--socksproxy.bogus=1"])
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::UnknownKey {
                origin: Source::CommandLine,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn miscased_section_and_bom_fail_through_load() {
    let home = Home::new();
    let (conf, result) = home.with_conf("ipv4 = true\n[SOCKSProxy]\nport = 1\n", &[]);
    assert_eq!(
        result.unwrap_err().to_string(),
        format!(
            "{}:2: unknown section [SOCKSProxy]: did you mean [socksproxy]? (section names are case-sensitive and not trimmed)",
            conf.display()
        )
    );
    let (_, result) = home.with_conf("[I2CP]\n", &[]);
    assert!(
        result
            .unwrap_err()
            .to_string()
            .contains("did you mean [i2cp]?")
    );
    let (_, result) = home.with_conf("\u{feff}[socksproxy]\n", &[]);
    assert!(matches!(result, Err(ConfigError::ByteOrderMark { .. })));
}

#[test]
fn duplicate_key_fails() {
    let home = Home::new();
    let (conf, result) = home.with_conf("socksproxy.port = 1\n[socksproxy]\nport = 2\n", &[]);
    assert_eq!(
        result.unwrap_err().to_string(),
        format!(
            "{0}:3: key 'socksproxy.port' given more than once (first at {0}:1); i2pd rejects repeated options",
            conf.display()
        )
    );
}

#[test]
fn keys_resolution() {
    let d = Path::new("/var/lib/i2pd");
    assert_eq!(resolve_keys("transient", d), KeysSpec::Transient);
    assert_eq!(resolve_keys("transient-proxy", d), KeysSpec::Transient);
    assert_eq!(resolve_keys("transientXYZ", d), KeysSpec::Transient);
    assert_eq!(resolve_keys("", d), KeysSpec::Transient);
    assert_eq!(
        resolve_keys("socks.dat", d),
        KeysSpec::File("/var/lib/i2pd/socks.dat".into())
    );
    // Absolute values are still prefixed, exactly like i2pd (docs/i2pd-config.md "The keys
    // option").
    let KeysSpec::File(abs) = resolve_keys("/etc/k.dat", d) else {
        panic!("expected a file")
    };
    assert_eq!(abs.as_os_str(), "/var/lib/i2pd//etc/k.dat");
    assert_eq!(abs, PathBuf::from("/var/lib/i2pd/etc/k.dat"));
}

#[test]
fn keys_notes_and_shared_destination_warning() {
    let home = Home::new();
    let (conf, result) = home.with_conf("[socksproxy]\nkeys =\n", &[]);
    let loaded = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.config.socks.keys, KeysSpec::Transient);
    assert!(loaded.notes.contains(&format!(
        "{}:2: socksproxy.keys is empty: i2pd would use its shared local destination; i2psocks uses a transient one",
        conf.display()
    )));

    let (conf, result) = home.with_conf(
        "[httpproxy]\nkeys = p.dat\n[socksproxy]\nkeys = p.dat\n",
        &[],
    );
    let loaded = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        loaded.config.socks.keys,
        KeysSpec::File(home.datadir().join("p.dat"))
    );
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].starts_with(&format!(
        "{}:4: socksproxy.keys = httpproxy.keys = 'p.dat': i2pd's HTTP proxy uses the same keys file",
        conf.display()
    )));

    // Same keys but the HTTP proxy is off: nothing is shared.
    let (_, result) = home.with_conf(
        "[httpproxy]\nenabled = false\nkeys = p.dat\n[socksproxy]\nkeys = p.dat\n",
        &[],
    );
    let loaded = result.unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);

    // Default transient keys: only a note (both are throw-away addresses anyway).
    let loaded = home.load_ok(&[]);
    assert!(loaded.warnings.is_empty());
    assert!(
        loaded
            .notes
            .iter()
            .any(|n| n.contains("i2pd would share the HTTP proxy's destination"))
    );
}

#[test]
fn socksproxy_enabled_is_ignored_with_a_note() {
    let home = Home::new();
    let (conf, result) = home.with_conf("[socksproxy]\nenabled = false\n", &[]);
    let loaded = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.config.socks.port, 4447);
    assert!(loaded.notes.contains(&format!(
        "{}:2: socksproxy.enabled = false is ignored by i2psocks: it switches i2pd's built-in SOCKS proxy, i2psocks always listens",
        conf.display()
    )));
}

#[test]
fn outproxy_needs_enabled_and_host() {
    let home = Home::new();
    let (_, r) = home.with_conf(
        "[socksproxy]\noutproxy = 10.0.0.1\noutproxyport = 1080\n",
        &[],
    );
    assert_eq!(
        r.unwrap_or_else(|e| panic!("{e}")).config.socks.outproxy,
        None
    );
    let (_, r) = home.with_conf("[socksproxy]\noutproxy.enabled = yes\noutproxy =\n", &[]);
    assert_eq!(
        r.unwrap_or_else(|e| panic!("{e}")).config.socks.outproxy,
        None
    );
    let (_, r) = home.with_conf(
        "[socksproxy]\noutproxy.enabled = ON\noutproxy = /run/tor/socks\noutproxyport = 0\n",
        &[],
    );
    assert_eq!(
        r.unwrap_or_else(|e| panic!("{e}")).config.socks.outproxy,
        Some(Outproxy {
            host: "/run/tor/socks".into(),
            port: 0
        })
    );
}

#[test]
fn datadir_and_service_in_the_file_warn() {
    let home = Home::new();
    let (conf, result) = home.with_conf("datadir = /elsewhere\nservice = true\n", &[]);
    let loaded = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.config.datadir, home.datadir());
    assert_eq!(
        loaded.warnings,
        vec![
            format!(
                "{}:1: 'datadir = /elsewhere' has no effect in a config file (the data dir is fixed before the file is read); use --datadir on the command line",
                conf.display()
            ),
            format!(
                "{}:2: 'service = true' has no effect in a config file (the data dir is fixed before the file is read); use --service on the command line",
                conf.display()
            ),
        ]
    );
}

#[test]
fn logging_rules() {
    let home = Home::new();
    let (_, r) = home.with_conf("log = file\nloglevel = DEBUG\n", &[]);
    let c = r.unwrap_or_else(|e| panic!("{e}")).config;
    assert_eq!(
        c.log.target,
        LogTarget::File(home.datadir().join("i2psocks.log"))
    );
    assert_eq!(c.log.level, LogLevel::Debug);

    let (_, r) = home.with_conf("log = syslog\nlogfile = /x.log\n", &["--loglevel", "error"]);
    let c = r.unwrap_or_else(|e| panic!("{e}")).config;
    assert_eq!(c.log.target, LogTarget::Syslog);
    assert_eq!(c.log.level, LogLevel::Error);

    // i2pd: a daemon logging to stdout switches to a file; an explicit --log wins.
    let (_, r) = home.with_conf("daemon = true\nlogfile = /var/log/x.log\n", &[]);
    assert_eq!(
        r.unwrap_or_else(|e| panic!("{e}")).config.log.target,
        LogTarget::File("/var/log/x.log".into())
    );
    let (_, r) = home.with_conf("daemon = true\n", &["--log", "stdout"]);
    assert_eq!(
        r.unwrap_or_else(|e| panic!("{e}")).config.log.target,
        LogTarget::Stdout
    );

    // Bad values in the file: warning and i2pd's fallback; on the command line: error.
    let (conf, r) = home.with_conf("loglevel = loud\nlog = pipe\n", &[]);
    let loaded = r.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.config.log.level, LogLevel::Warn);
    assert_eq!(loaded.config.log.target, LogTarget::Stdout);
    assert_eq!(
        loaded.warnings,
        vec![
            format!(
                "{}:2: key 'log': unknown value 'pipe' (expected stdout, file or syslog); logging to stdout like i2pd",
                conf.display()
            ),
            format!(
                "{}:1: key 'loglevel': unknown value 'loud' (expected none, critical, error, warn, info or debug); using warn like i2pd",
                conf.display()
            ),
        ]
    );
    let err = home.load(&["--loglevel", "loud"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "command line: key 'loglevel': invalid value 'loud' (expected none, critical, error, warn, info or debug)"
    );
    let err = home.load(&["--log", "pipe"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "command line: key 'log': invalid value 'pipe' (expected stdout, file or syslog)"
    );
}

#[test]
fn own_settings_file_and_flags() {
    let home = Home::new();
    let settings = home.write(".i2pd/i2psocks.conf", "[socks]\nhandshaketimeout = 0\nmaxconnections = 100\n[i2cp]\nlookuptimeout = 20\nreconnectmaxdelay = 90\n");
    let loaded = home.load_ok(&["--max-connections", "50"]);
    let c = &loaded.config;
    assert_eq!(c.settings_file, Some(settings.clone()));
    assert_eq!(c.socks.handshake_timeout, None);
    assert_eq!(c.socks.max_connections, 50);
    assert_eq!(c.i2cp.lookup_timeout, Duration::from_secs(20));
    assert_eq!(c.i2cp.reconnect_max_delay, Duration::from_secs(90));
    assert_eq!(
        c.sources.get("socks.maxconnections"),
        Some(&Source::CommandLine)
    );
    assert_eq!(
        c.sources.get("i2cp.lookuptimeout"),
        Some(&file_src(&settings, 5))
    );

    let other = home.write("etc/i2psocks.conf", "[socks]\nhandshaketimeout = 5\n");
    let loaded = home.load_ok(&[
        "--settings",
        &other.to_string_lossy(),
        "--lookup-timeout=3",
        "--handshake-timeout",
        "7",
    ]);
    assert_eq!(loaded.config.settings_file, Some(other));
    assert_eq!(
        loaded.config.socks.handshake_timeout,
        Some(Duration::from_secs(7))
    );
    assert_eq!(loaded.config.i2cp.lookup_timeout, Duration::from_secs(3));

    let bad = home.write("etc/bad.conf", "[socks]\nport = 1\n");
    let err = home
        .load(&["--settings", &bad.to_string_lossy()])
        .unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "{}:2: unknown key 'socks.port' in the i2psocks settings file",
            bad.display()
        )),
        "{err}"
    );
    let missing = home.path().join("missing.conf");
    let err = home
        .load(&["--settings", &missing.to_string_lossy()])
        .unwrap_err();
    assert!(matches!(err, ConfigError::Unreadable { .. }));
}

#[test]
fn help_and_version_come_back_as_clap_errors() {
    let home = Home::new();
    let err = home.load(&["--help"]).unwrap_err();
    let ConfigError::Clap(clap_err) = err else {
        panic!("expected a clap error")
    };
    assert_eq!(clap_err.kind(), clap::error::ErrorKind::DisplayHelp);
    let help = clap_err.to_string();
    for flag in [
        "--conf",
        "--datadir",
        "--service",
        "--log",
        "--logfile",
        "--loglevel",
        "--settings",
        "--strict",
        "--handshake-timeout",
        "--max-connections",
        "--lookup-timeout",
        "check",
        "address",
    ] {
        assert!(help.contains(flag), "help lacks {flag}");
    }
    let err = home.load(&["--version"]).unwrap_err();
    assert!(
        matches!(err, ConfigError::Clap(ref e) if e.kind() == clap::error::ErrorKind::DisplayVersion)
    );
    let err = home.load(&["--no-such-flag"]).unwrap_err();
    assert!(matches!(err, ConfigError::Clap(_)));
}

#[test]
fn render_effective_lists_values_with_origin() {
    let home = Home::new();
    let (conf, r) = home.with_conf(
        "[socksproxy]\nport = 4448\ni2cp.leaseSetPrivKey = c2VjcmV0\n",
        &["--i2cp.port=7777"],
    );
    let text = r
        .unwrap_or_else(|e| panic!("{e}"))
        .config
        .render_effective();
    let line_with = |prefix: &str| -> String {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{text}"))
            .to_owned()
    };
    assert!(line_with("port = 4448").ends_with(&format!("# {}:2", conf.display())));
    assert!(line_with("port = 7777").ends_with("# command line"));
    assert!(line_with("address = 127.0.0.1").ends_with("# default"));
    assert!(line_with("maxconnections = 4096").ends_with("# default"));
    assert!(line_with("i2cp.leaseSetPrivKey = (set, not shown)").contains('#'));
    assert!(!text.contains("c2VjcmV0"), "key material printed:\n{text}");
    assert!(line_with("outproxy.enabled = false").ends_with("# default"));
    assert!(
        !text.contains("outproxyport"),
        "unused outproxy shown:\n{text}"
    );
    assert!(
        text.contains("\n[socksproxy]\n")
            && text.contains("\n[i2cp]\n")
            && text.contains("\n[socks]\n")
    );
}

#[test]
fn ipv6_listen_address_override() {
    let home = Home::new();
    let loaded = home.load_ok(&["--socksproxy.address", "::1"]);
    assert_eq!(loaded.config.socks.address, IpAddr::V6(Ipv6Addr::LOCALHOST));
}

#[test]
fn own_setting_in_i2pd_conf_points_to_the_settings_file() {
    let home = Home::new();
    let (conf, result) = home.with_conf("[socks]\nmaxconnections = 5\n", &[]);
    let loaded = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.config.socks.max_connections, 4096);
    assert_eq!(
        loaded.warnings,
        vec![format!(
            "{}:2: unknown key 'socks.maxconnections' (an i2psocks setting: put it in i2psocks.conf, i2pd would refuse to start with it); ignored",
            conf.display()
        )]
    );
}

/// `i2p.streaming.maxWindowSize` becomes our streaming window ceiling, read as i2pd reads
/// it (not a number: 512; below 3: 3), capped at 1024; an adjusted value is noted.
#[test]
fn max_window_size_reaches_the_streaming_window() {
    let home = Home::new();
    let loaded = home.load_ok(&[]);
    assert_eq!(loaded.config.socks.max_window_packets(), 512);
    for (text, packets, noted) in [
        ("128", 128, false),
        ("1", 3, true),
        ("abc", 512, true),
        ("100000", 1024, true),
    ] {
        let (_, result) = home.with_conf(
            &format!("[socksproxy]\ni2p.streaming.maxWindowSize = {text}\n"),
            &[],
        );
        let loaded = result.unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(loaded.config.socks.max_window_packets(), packets, "{text}");
        let note = loaded
            .notes
            .iter()
            .any(|n| n.contains("maxWindowSize") && n.contains(&format!("using {packets}")));
        assert_eq!(note, noted, "{text}: {:?}", loaded.notes);
    }
}

/// Post-quantum LeaseSet encryption types (5-7, i2pd 2.58+) need keys i2psocks does not
/// make; they are refused with the value named, other lists are passed on as written.
#[test]
fn post_quantum_lease_set_enc_types_are_refused_by_value() {
    let home = Home::new();
    for bad in ["6,4", "5", "4, 7", "0,4,6"] {
        let (conf, result) = home.with_conf(
            &format!("[socksproxy]\ni2cp.leaseSetEncType = {bad}\n"),
            &[],
        );
        let err = result.unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "{}:2: key 'socksproxy.i2cp.leaseSetEncType': invalid value '{bad}'",
                conf.display()
            )),
            "{text}"
        );
        assert!(text.contains("post-quantum"), "{text}");
    }
    for good in ["4", "4,0", "0", "0,4"] {
        let (_, result) = home.with_conf(
            &format!("[socksproxy]\ni2cp.leaseSetEncType = {good}\n"),
            &[],
        );
        let loaded = result.unwrap_or_else(|e| panic!("{good}: {e}"));
        assert!(
            loaded
                .config
                .session_options()
                .contains(&("i2cp.leaseSetEncType".to_string(), good.to_string())),
            "{good} passed on"
        );
    }
    let err = home
        .load(&["--socksproxy.i2cp.leaseSetEncType=6"])
        .unwrap_err();
    assert!(err.to_string().contains("invalid value '6'"), "{err}");
}

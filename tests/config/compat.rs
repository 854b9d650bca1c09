//! Real-world files: Debian's shipped /etc/i2pd/i2pd.conf (i2pd 2.45.1) and a hand-written
//! fixture using every section and option of i2pd master's sample config.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use i2psocks::config::{
    KeysSpec, Loaded, LogLevel, LogTarget, Outproxy, SocksConfig, Source, TunnelOptions,
    load_with_home,
};

const DEBIAN_CONF: &str = "/etc/i2pd/i2pd.conf";

/// The eight tunnel options in one row, so a fixture's values read as one line.
fn tunnel_values(t: &TunnelOptions) -> [&str; 8] {
    [
        &t.inbound_length,
        &t.outbound_length,
        &t.inbound_quantity,
        &t.outbound_quantity,
        &t.inbound_length_variance,
        &t.outbound_length_variance,
        &t.latency_min,
        &t.latency_max,
    ]
}

/// The I2CP session strings taken from `[socksproxy]`, in one row.
fn session_values(s: &SocksConfig) -> [&str; 5] {
    [
        &s.lease_set_type,
        &s.lease_set_enc_type,
        &s.lease_set_priv_key,
        &s.streaming_profile,
        &s.max_window_size,
    ]
}

fn load(conf: &Path, home: &Path) -> Loaded {
    let argv: Vec<OsString> = vec![
        "i2psocks".into(),
        "--conf".into(),
        conf.as_os_str().to_owned(),
    ];
    load_with_home(argv, Some(home.as_os_str()))
        .unwrap_or_else(|e| panic!("{} failed to load: {e}", conf.display()))
}

/// 1-based number of the first line equal to `wanted` (after trimming) following the line `after`.
fn line_of(text: &str, after: &str, wanted: &str) -> usize {
    let start = text
        .lines()
        .position(|l| l.trim() == after)
        .unwrap_or_else(|| panic!("no line {after:?}"));
    text.lines()
        .enumerate()
        .skip(start)
        .find(|(_, l)| l.trim() == wanted)
        .map(|(i, _)| i + 1)
        .unwrap_or_else(|| panic!("no line {wanted:?} after {after:?}"))
}

#[test]
fn debian_shipped_conf_parses_without_warnings() {
    let conf = Path::new(DEBIAN_CONF);
    if !conf.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{DEBIAN_CONF} is missing in CI: install it with `apt-get install -y i2pd`"
        );
        eprintln!(
            "SKIPPED debian_shipped_conf_parses_without_warnings: {DEBIAN_CONF} not installed (apt-get install -y i2pd)"
        );
        return;
    }
    let text = std::fs::read_to_string(conf).unwrap_or_else(|e| panic!("read {DEBIAN_CONF}: {e}"));
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let loaded = load(conf, home.path());
    assert!(
        loaded.warnings.is_empty(),
        "warnings: {:#?}",
        loaded.warnings
    );
    let c = &loaded.config;
    assert_eq!(c.conf_file.as_deref(), Some(conf));
    assert_eq!(c.datadir, home.path().join(".i2pd"));
    assert_eq!(c.socks.address, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(c.socks.port, 4447);
    assert_eq!(c.socks.keys, KeysSpec::Transient);
    assert_eq!(c.socks.signature_type, 7);
    assert_eq!(
        tunnel_values(&c.socks.tunnel),
        ["3", "3", "5", "5", "0", "0", "0", "0"],
        "in/out length, in/out quantity, in/out variance, latency min/max"
    );
    assert_eq!(c.socks.outproxy, None);
    assert_eq!(
        session_values(&c.socks),
        ["3", "4,0", "", "1", "512"],
        "leaseSetType, leaseSetEncType, leaseSetPrivKey, streaming profile, maxWindowSize"
    );
    assert!(!c.i2cp.enabled);
    assert_eq!(c.i2cp.address, "127.0.0.1");
    assert_eq!(c.i2cp.port, 7654);
    assert_eq!(c.log.target, LogTarget::Stdout);
    assert_eq!(c.log.level, LogLevel::Warn);
    // The values come from the file, line for line.
    let file = |line| Source::File {
        path: conf.to_owned(),
        line,
    };
    assert_eq!(
        c.sources.get("socksproxy.port"),
        Some(&file(line_of(&text, "[socksproxy]", "port = 4447")))
    );
    assert_eq!(
        c.sources.get("socksproxy.address"),
        Some(&file(line_of(&text, "[socksproxy]", "address = 127.0.0.1")))
    );
    assert_eq!(c.sources.get("i2cp.port"), Some(&Source::Default));
    // The I2CP server is off in the shipped file: the user must be told (as a note, not a warning).
    assert!(
        loaded
            .notes
            .iter()
            .any(|n| n.starts_with("i2cp.enabled is false")),
        "{:#?}",
        loaded.notes
    );
}

#[test]
fn master_style_fixture_parses_without_warnings() {
    let conf = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/conf/master-style.conf");
    let text = std::fs::read_to_string(&conf).unwrap_or_else(|e| panic!("{e}"));
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let loaded = load(&conf, home.path());
    assert!(
        loaded.warnings.is_empty(),
        "warnings: {:#?}",
        loaded.warnings
    );
    let c = &loaded.config;
    let datadir = home.path().join(".i2pd");
    assert_eq!(c.socks.address, IpAddr::V6(Ipv6Addr::LOCALHOST));
    assert_eq!(c.socks.port, 14447);
    assert_eq!(c.socks.keys, KeysSpec::File(datadir.join("socks-keys.dat")));
    assert_eq!(c.socks.signature_type, 7);
    assert_eq!(
        tunnel_values(&c.socks.tunnel),
        ["2", "4", "3", "6", "1", "-1", "100", "900"],
        "in/out length, in/out quantity, in/out variance, latency min/max"
    );
    assert_eq!(
        c.socks.outproxy,
        Some(Outproxy {
            host: "127.0.0.1".into(),
            port: 9150
        })
    );
    assert_eq!(
        session_values(&c.socks),
        ["3", "4", "", "2", "256"],
        "leaseSetType, leaseSetEncType, leaseSetPrivKey, streaming profile, maxWindowSize"
    );
    assert!(c.i2cp.enabled);
    assert_eq!(c.i2cp.address, "127.0.0.2");
    assert_eq!(c.i2cp.port, 17654);
    assert_eq!(
        c.log.target,
        LogTarget::File("/srv/i2p/log/router.log".into())
    );
    assert_eq!(c.log.level, LogLevel::Info);
    let enabled_line = line_of(
        &text,
        "[socksproxy]",
        "enabled = false   # switch off the router's own proxy; i2psocks ignores this",
    );
    assert!(
        loaded.notes.contains(&format!(
            "{}:{enabled_line}: socksproxy.enabled = false is ignored by i2psocks: it switches i2pd's built-in SOCKS proxy, i2psocks always listens",
            conf.display()
        )),
        "{:#?}",
        loaded.notes
    );
    let session = c.session_options();
    assert!(session.contains(&("outbound.quantity".to_owned(), "6".to_owned())));
    assert!(session.contains(&("i2p.streaming.profile".to_owned(), "2".to_owned())));
}

#[test]
fn sample_settings_file_gives_the_defaults() {
    let settings = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/conf/i2psocks.conf");
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let argv: Vec<OsString> = vec![
        "i2psocks".into(),
        "--settings".into(),
        settings.as_os_str().to_owned(),
    ];
    let loaded =
        load_with_home(argv, Some(home.path().as_os_str())).unwrap_or_else(|e| panic!("{e}"));
    let c = &loaded.config;
    assert_eq!(c.settings_file.as_deref(), Some(settings.as_path()));
    assert_eq!(
        c.socks.handshake_timeout,
        Some(std::time::Duration::from_secs(30))
    );
    assert_eq!(c.socks.max_connections, 4096);
    assert_eq!(c.i2cp.lookup_timeout, std::time::Duration::from_secs(15));
    assert_eq!(
        c.i2cp.reconnect_max_delay,
        std::time::Duration::from_secs(30)
    );
    // Every value really came from the file.
    for key in [
        "socks.handshaketimeout",
        "socks.maxconnections",
        "i2cp.lookuptimeout",
        "i2cp.reconnectmaxdelay",
    ] {
        assert!(
            matches!(c.sources.get(key), Some(Source::File { .. })),
            "{key}"
        );
    }
}

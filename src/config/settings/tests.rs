//! Unit tests of i2psocks.conf resolution: defaults, file values, flags winning, and the
//! exact error texts; in their own file to keep `settings.rs` short.

use std::path::Path;

use super::*;
use crate::config::ini;

fn file(text: &str) -> IniFile {
    ini::parse(Path::new("/s.conf"), text.as_bytes(), SECTIONS).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn udp_defaults_file_and_flags() {
    let s = resolve(None, &SettingsFlags::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.udp, (true, Source::Default));
    assert_eq!(s.max_udp_associations, (256, Source::Default));
    assert_eq!(s.udp_raw, (true, Source::Default));
    let f = file("[socks]\nudp = false\nmaxudpassociations = 3\nudpraw = no\n");
    let s = resolve(Some(&f), &SettingsFlags::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(!s.udp.0);
    assert!(!s.udp_raw.0);
    assert_eq!(s.max_udp_associations.0, 3);
    let flags = SettingsFlags {
        udp: Some("on".into()),
        max_udp_associations: Some("9".into()),
        ..SettingsFlags::default()
    };
    let s = resolve(Some(&f), &flags).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.udp, (true, Source::CommandLine));
    assert_eq!(s.max_udp_associations, (9, Source::CommandLine));
    for bad in [
        "[socks]\nudp = maybe\n",
        "[socks]\nmaxudpassociations = 0\n",
    ] {
        assert!(
            resolve(Some(&file(bad)), &SettingsFlags::default()).is_err(),
            "{bad}"
        );
    }
    let flags = SettingsFlags {
        udp: Some("2".into()),
        ..SettingsFlags::default()
    };
    let err = resolve(None, &flags).unwrap_err().to_string();
    assert!(err.contains("--udp"), "{err}");
}

#[test]
fn defaults_without_file_or_flags() {
    let s = resolve(None, &SettingsFlags::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.handshake_timeout,
        (Some(Duration::from_secs(30)), Source::Default)
    );
    assert_eq!(s.max_connections, (4096, Source::Default));
    assert_eq!(s.lookup_timeout, (Duration::from_secs(15), Source::Default));
    assert_eq!(
        s.reconnect_max_delay,
        (Duration::from_secs(1), Source::Default)
    );
}

#[test]
fn file_values_and_zero_handshake_means_none() {
    let f = file(
        "[socks]\nhandshaketimeout = 0\nmaxconnections = 10\n[i2cp]\nlookuptimeout=5\nreconnectmaxdelay=60\n",
    );
    let s = resolve(Some(&f), &SettingsFlags::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.handshake_timeout.0, None);
    assert_eq!(
        s.max_connections,
        (
            10,
            Source::File {
                path: "/s.conf".into(),
                line: 3
            }
        )
    );
    assert_eq!(s.lookup_timeout.0, Duration::from_secs(5));
    assert_eq!(s.reconnect_max_delay.0, Duration::from_secs(60));
}

#[test]
fn flags_win_over_file() {
    let f = file("[socks]\nmaxconnections = 10\n");
    let flags = SettingsFlags {
        max_connections: Some("20".into()),
        ..SettingsFlags::default()
    };
    let s = resolve(Some(&f), &flags).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.max_connections, (20, Source::CommandLine));
}

#[test]
fn udp_format_defaults_to_datagram1() {
    let s = resolve(None, &SettingsFlags::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.udp_format, (UdpFormat::Datagram1, Source::Default));
    let f = file("[socks]\nudpformat = datagram3\n");
    let s = resolve(Some(&f), &SettingsFlags::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.udp_format.0, UdpFormat::Datagram3);
    let bad = resolve(
        Some(&file("[socks]\nudpformat = 4\n")),
        &SettingsFlags::default(),
    );
    assert!(bad.is_err_and(|e| e.to_string().contains("socks.udpformat")));
}

#[test]
fn detour_defaults_on_and_can_be_switched_off() {
    let s = resolve(None, &SettingsFlags::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.detour, (true, Source::Default));
    let f = file("[i2cp]\ndetour = false\n");
    let s = resolve(Some(&f), &SettingsFlags::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(!s.detour.0);
    let bad = resolve(
        Some(&file("[i2cp]\ndetour = maybe\n")),
        &SettingsFlags::default(),
    );
    assert!(bad.is_err_and(|e| e.to_string().contains("i2cp.detour")));
}

#[test]
fn unknown_key_is_an_error_with_file_line() {
    let err = resolve(
        Some(&file("[socks]\n\nport = 1\n")),
        &SettingsFlags::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "/s.conf:3: unknown key 'socks.port' in the i2psocks settings file (known: {})",
            KEYS.join(", ")
        )
    );
    assert!(
        err.to_string()
            .contains("socks.sessionidletimeout, socks.allowopenproxy")
    );
}

#[test]
fn bad_values_name_file_line_and_key() {
    let err = resolve(
        Some(&file("[i2cp]\nlookuptimeout = 0\n")),
        &SettingsFlags::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "/s.conf:2: key 'i2cp.lookuptimeout': invalid value '0' (expected whole seconds 1-86400)"
    );
    let flags = SettingsFlags {
        handshake_timeout: Some("x".into()),
        ..SettingsFlags::default()
    };
    let err = resolve(None, &flags).unwrap_err();
    assert_eq!(
        err.to_string(),
        "command line: key '--handshake-timeout': invalid value 'x' (expected whole seconds 0-86400, 0 = no limit)"
    );
}

#[test]
fn auth_and_isolation_defaults_file_and_flags() {
    let s = resolve(None, &SettingsFlags::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.require_auth, (false, Source::Default));
    assert_eq!(s.isolate, (false, Source::Default));
    assert_eq!(s.users_file.0, "i2psocks.users");
    assert_eq!(s.isolation_keys.0, "");
    assert_eq!(s.max_sessions.0, 32);
    assert_eq!(s.session_idle_timeout.0, Duration::from_secs(600));
    let f = file(
        "[socks]\nrequireauth = yes\nisolate = on\nusersfile = /etc/u\nisolationkeys = per-user\nmaxsessions = 3\nsessionidletimeout = 20\n",
    );
    let flags = SettingsFlags {
        isolate: Some("false".into()),
        ..SettingsFlags::default()
    };
    let s = resolve(Some(&f), &flags).unwrap_or_else(|e| panic!("{e}"));
    assert!(s.require_auth.0);
    assert_eq!(s.isolate, (false, Source::CommandLine));
    assert_eq!(s.users_file.0, "/etc/u");
    assert_eq!(s.isolation_keys.0, "per-user");
    assert_eq!(s.max_sessions.0, 3);
    assert_eq!(s.session_idle_timeout.0, Duration::from_secs(20));
    let bad = SettingsFlags {
        require_auth: Some("maybe".into()),
        ..SettingsFlags::default()
    };
    let err = resolve(None, &bad).unwrap_err().to_string();
    assert!(err.contains("'--require-auth'"), "{err}");
    let err = resolve(
        Some(&file("[socks]\nmaxsessions = 0\n")),
        &SettingsFlags::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("socks.maxsessions"), "{err}");
    let err = resolve(
        Some(&file("[socks]\nusersfile =\n")),
        &SettingsFlags::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("socks.usersfile"), "{err}");
}

#[test]
fn resolve_and_extended_errors_defaults_file_and_flags() {
    let s = resolve(None, &SettingsFlags::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.virtual_range.0.map(|r| r.to_string()).as_deref(),
        Some("240.0.0.0/4")
    );
    assert_eq!(s.virtual_idle_timeout.0, Duration::from_secs(86_400));
    assert_eq!(s.extended_errors, (false, Source::Default));
    let f = file(
        "[socks]\nvirtualrange = 10.99.0.0/16\nvirtualidletimeout = 60\nextendederrors = true\n",
    );
    let s = resolve(Some(&f), &SettingsFlags::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.virtual_range.0.map(|r| r.to_string()).as_deref(),
        Some("10.99.0.0/16")
    );
    assert_eq!(s.virtual_idle_timeout.0, Duration::from_secs(60));
    assert!(s.extended_errors.0);
    let flags = SettingsFlags {
        virtual_range: Some(String::new()),
        extended_errors: Some("false".into()),
        ..SettingsFlags::default()
    };
    let s = resolve(Some(&f), &flags).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.virtual_range, (None, Source::CommandLine));
    assert!(!s.extended_errors.0);
    let err = resolve(
        Some(&file("[socks]\nvirtualrange = 240.0.0.1/4\n")),
        &SettingsFlags::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("socks.virtualrange") && err.contains("below the prefix"),
        "{err}"
    );
    let flags = SettingsFlags {
        virtual_range: Some("10.0.0.0".into()),
        ..SettingsFlags::default()
    };
    let err = resolve(None, &flags).unwrap_err().to_string();
    assert!(err.contains("--virtual-range"), "{err}");
}

#[test]
fn i2p_outproxies_file_and_flag() {
    let s = resolve(None, &SettingsFlags::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(s.i2p_outproxies.0.is_empty());
    let f = file("[socks]\ni2poutproxies = exit.i2p, b.b32.i2p:4444\n");
    let s = resolve(Some(&f), &SettingsFlags::default()).unwrap_or_else(|e| panic!("{e}"));
    let shown: Vec<String> = s.i2p_outproxies.0.iter().map(|o| o.to_string()).collect();
    assert_eq!(shown, ["exit.i2p:80", "b.b32.i2p:4444"]);
    let flags = SettingsFlags {
        i2p_outproxies: Some("example.com".into()),
        ..SettingsFlags::default()
    };
    let err = resolve(Some(&f), &flags).unwrap_err().to_string();
    assert!(err.contains("--i2p-outproxies"), "{err}");
}

#[test]
fn miscased_section_is_an_error() {
    let err = ini::parse(Path::new("/s.conf"), b"[Socks]\n", SECTIONS).unwrap_err();
    assert!(err.to_string().contains("did you mean [socks]?"), "{err}");
}

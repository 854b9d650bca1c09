//! Reading each i2pd.conf section that i2psocks uses (`socksproxy.*`, the keys, `i2cp.*`,
//! logging) into its typed config; apart from `load.rs` because each section is long and
//! they do not depend on one another.

use std::path::{Path, PathBuf};

use super::super::error::{ConfigError, Source};
use super::super::options::{
    self, EXPECT_IP, EXPECT_LOG, EXPECT_LOGLEVEL, EXPECT_PORT, EXPECT_U16, I2cpConfig, KeysSpec,
    LogConfig, LogLevel, LogTarget, Outproxy, SocksConfig, TunnelOptions, UnixSocketOptions,
    invalid, parse_ip,
};
use super::super::settings;
use super::merge::Values;
use super::{LOGFILE_NAME, resolve_keys};

/// What `i2cp.leaseSetEncType` may list instead of a post-quantum type.
pub(super) const EXPECT_ENC_TYPES: &str = "a list of encryption types without 5, 6 and 7, e.g. 4,0: \
    the post-quantum ML-KEM hybrids 5-7 (i2pd 2.58+ with OpenSSL 3.5+) need keys that \
    i2psocks does not make; it signs its own LeaseSet with an X25519 (type 4) key";

/// `i2cp.leaseSetEncType` (default `4,0`), passed on to the router. Types 5-7 are refused
/// here rather than passed on: with I2CP the client makes the LeaseSet and hands the
/// router its private keys (CreateLeaseSet2, I2CP spec), so the router could only
/// publish a post-quantum key that i2psocks had made (i2pd 2.59 libi2pd_client/I2CP.cpp
/// takes the keys from that message, whatever the option says).
pub(super) fn without_post_quantum(
    key: &str,
    (value, origin): (String, Source),
) -> Result<String, ConfigError> {
    let post_quantum = value
        .split(',')
        .any(|t| matches!(t.trim().parse::<u16>(), Ok(5..=7)));
    if post_quantum {
        return Err(ConfigError::InvalidValue {
            origin,
            key: key.to_owned(),
            value,
            expected: EXPECT_ENC_TYPES,
        });
    }
    Ok(value)
}

pub(super) const SP: &str = "socksproxy.";

pub(super) fn sp(key: &str) -> String {
    format!("{SP}{key}")
}

pub(super) fn read_socks(
    v: &mut Values,
    datadir: &Path,
    warnings: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<SocksConfig, ConfigError> {
    // Validated like i2pd would, then ignored: it is how users switch off i2pd's own proxy.
    if v.is_set("socksproxy.enabled").is_some() {
        let enabled = v.bool("socksproxy.enabled", true)?;
        let src = v.text("socksproxy.enabled", "").1;
        notes.push(format!(
            "{src}: socksproxy.enabled = {enabled} is ignored by i2psocks: it switches i2pd's built-in SOCKS proxy, i2psocks always listens"
        ));
    }
    let (addr_text, addr_src) = v.text("socksproxy.address", "127.0.0.1");
    let address = parse_ip(&addr_text)
        .ok_or_else(|| invalid(&addr_src, "socksproxy.address", &addr_text, EXPECT_IP))?;
    let port = v.u16("socksproxy.port", 4447, EXPECT_PORT)?;
    let keys = read_keys(v, datadir, warnings, notes)?;
    let signature_type = v.u16("socksproxy.signaturetype", 7, EXPECT_U16)?;
    let tunnel = TunnelOptions {
        inbound_length: v.string(&sp("inbound.length"), "3"),
        outbound_length: v.string(&sp("outbound.length"), "3"),
        inbound_quantity: v.string(&sp("inbound.quantity"), "5"),
        outbound_quantity: v.string(&sp("outbound.quantity"), "5"),
        inbound_length_variance: v.string(&sp("inbound.lengthVariance"), "0"),
        outbound_length_variance: v.string(&sp("outbound.lengthVariance"), "0"),
        latency_min: v.string(&sp("latency.min"), "0"),
        latency_max: v.string(&sp("latency.max"), "0"),
    };
    let outproxy_enabled = v.bool("socksproxy.outproxy.enabled", false)?;
    let outproxy_host = v.string("socksproxy.outproxy", "127.0.0.1");
    let outproxy_port = v.u16("socksproxy.outproxyport", 9050, EXPECT_PORT)?;
    let outproxy = (outproxy_enabled && !outproxy_host.is_empty()).then_some(Outproxy {
        host: outproxy_host,
        port: outproxy_port,
    });
    for key in [
        "i2p.streaming.maxOutboundSpeed",
        "i2p.streaming.maxInboundSpeed",
    ] {
        let (value, src) = v.text(&sp(key), "1730000000");
        if src != Source::Default {
            notes.push(format!(
                "{src}: {SP}{key} = {value} has no effect (i2pd declares it but never applies it either)"
            ));
        }
    }
    let (window_text, window_src) = v.text(&sp("i2p.streaming.maxWindowSize"), "512");
    let window = options::parse_max_window(&window_text);
    if window_src != Source::Default && window.to_string() != window_text.trim() {
        notes.push(format!(
            "{window_src}: {SP}i2p.streaming.maxWindowSize = {window_text}: using {window} packets \
             (a number from {} to {})",
            options::MIN_MAX_WINDOW,
            options::MAX_MAX_WINDOW
        ));
    }
    Ok(SocksConfig {
        address,
        port,
        keys,
        signature_type,
        tunnel,
        outproxy,
        lease_set_type: v.string(&sp("i2cp.leaseSetType"), "3"),
        lease_set_enc_type: without_post_quantum(
            &sp("i2cp.leaseSetEncType"),
            v.text(&sp("i2cp.leaseSetEncType"), "4,0"),
        )?,
        lease_set_priv_key: v.string(&sp("i2cp.leaseSetPrivKey"), ""),
        streaming_profile: v.string(&sp("i2p.streaming.profile"), "1"),
        max_window_size: window_text,
        handshake_timeout: None,
        max_connections: settings::DEFAULT_MAX_CONNECTIONS,
        udp: true,
        max_udp_associations: settings::DEFAULT_MAX_UDP_ASSOCIATIONS,
        udp_raw: true,
        udp_format: options::UdpFormat::Datagram1,
        require_auth: false,
        users_file: datadir.join(settings::DEFAULT_USERS_FILE),
        isolate: false,
        isolation_keys: None,
        max_sessions: settings::DEFAULT_MAX_SESSIONS,
        session_idle_timeout: std::time::Duration::from_secs(settings::DEFAULT_SESSION_IDLE_SECS),
        allow_open_proxy: false,
        listen: Vec::new(),
        unix_socket: UnixSocketOptions::default(),
        virtual_range: None,
        virtual_idle_timeout: std::time::Duration::from_secs(settings::DEFAULT_VIRTUAL_IDLE_SECS),
        extended_errors: false,
        i2p_outproxies: Vec::new(),
    })
}

pub(super) fn read_keys(
    v: &mut Values,
    datadir: &Path,
    warnings: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<KeysSpec, ConfigError> {
    let (keys_text, keys_src) = v.text("socksproxy.keys", "transient-proxy");
    let keys = resolve_keys(&keys_text, datadir);
    if keys_text.is_empty() {
        notes.push(format!(
            "{keys_src}: socksproxy.keys is empty: i2pd would use its shared local destination; i2psocks uses a transient one"
        ));
    }
    // docs/i2pd-config.md "The keys option": i2pd's SOCKS proxy reuses the HTTP proxy's destination
    // when the keys are equal.
    let http_enabled = v.bool("httpproxy.enabled", true)?;
    let http_keys = v.string("httpproxy.keys", "transient-proxy");
    if http_enabled && http_keys == keys_text && !keys_text.is_empty() {
        match &keys {
            KeysSpec::File(path) => warnings.push(format!(
                "{keys_src}: socksproxy.keys = httpproxy.keys = '{keys_text}': i2pd's HTTP proxy uses the same keys file {}; running the same destination in two places breaks both; give [socksproxy] its own keys",
                path.display()
            )),
            KeysSpec::Transient => notes.push(format!(
                "{}socksproxy.keys = httpproxy.keys = '{keys_text}': i2pd would share the HTTP proxy's destination (and ignore the [socksproxy] tunnel options); i2psocks uses its own transient destination built from [socksproxy]",
                at(&keys_src)
            )),
        }
    }
    Ok(keys)
}

/// `"FILE:LINE: "` or `"command line: "` in front of a message; nothing for defaults.
pub(super) fn at(source: &Source) -> String {
    match source {
        Source::Default => String::new(),
        other => format!("{other}: "),
    }
}

pub(super) fn read_i2cp(
    v: &mut Values,
    notes: &mut Vec<String>,
) -> Result<I2cpConfig, ConfigError> {
    let enabled = v.bool("i2cp.enabled", false)?;
    let (address, _) = v.text("i2cp.address", "127.0.0.1");
    let port = v.u16("i2cp.port", 7654, EXPECT_PORT)?;
    if !enabled {
        notes.push(format!(
            "i2cp.enabled is false in this configuration: an i2pd router reading it does not serve I2CP; set [i2cp] enabled = true for the router i2psocks connects to ({address}:{port})"
        ));
    }
    Ok(I2cpConfig {
        enabled,
        address,
        port,
        lookup_timeout: std::time::Duration::from_secs(settings::DEFAULT_LOOKUP_SECS),
        reconnect_max_delay: std::time::Duration::from_secs(settings::DEFAULT_RECONNECT_SECS),
        detour: true,
    })
}

pub(super) fn read_log(
    v: &mut Values,
    datadir: &Path,
    warnings: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<LogConfig, ConfigError> {
    let (log_text, log_src) = v.text("log", "");
    let mut target = match log_text.as_str() {
        "" | "stdout" => LogTarget::Stdout,
        "file" => LogTarget::File(PathBuf::new()),
        "syslog" => LogTarget::Syslog,
        other if log_src == Source::CommandLine => {
            return Err(invalid(&log_src, "log", other, EXPECT_LOG));
        }
        other => {
            // i2pd logs to stdout for any other value.
            warnings.push(format!("{log_src}: key 'log': unknown value '{other}' (expected {EXPECT_LOG}); logging to stdout like i2pd"));
            LogTarget::Stdout
        }
    };
    // i2pd: a daemon logging to stdout switches to a file. An explicit --log always wins here,
    // so a service manager can keep logs on stdout.
    let daemon = v.bool("daemon", false)?;
    if daemon && target == LogTarget::Stdout && log_src != Source::CommandLine {
        notes.push(format!(
            "{}: daemon = true: logging to a file like i2pd (pass --log stdout to keep stdout)",
            v.text("daemon", "").1
        ));
        target = LogTarget::File(PathBuf::new());
    }
    if target == LogTarget::File(PathBuf::new()) {
        let logfile = v.string("logfile", "");
        target = LogTarget::File(if logfile.is_empty() {
            datadir.join(LOGFILE_NAME)
        } else {
            PathBuf::from(logfile)
        });
    }
    let (level_text, level_src) = v.text("loglevel", "warn");
    let level = match LogLevel::parse(&level_text) {
        Some(level) => level,
        None if level_src == Source::CommandLine => {
            return Err(invalid(
                &level_src,
                "loglevel",
                &level_text,
                EXPECT_LOGLEVEL,
            ));
        }
        None => {
            warnings.push(format!("{level_src}: key 'loglevel': unknown value '{level_text}' (expected {EXPECT_LOGLEVEL}); using warn like i2pd"));
            LogLevel::Warn
        }
    };
    Ok(LogConfig { target, level })
}

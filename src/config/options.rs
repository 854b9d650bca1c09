//! Typed values with i2pd's rules (docs/i2pd-config.md "File syntax") and the settings i2psocks
//! reads.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::error::{ConfigError, Source};

/// What a bool option accepts, for messages.
pub const EXPECT_BOOL: &str = "true/yes/on/1 or false/no/off/0; empty means true";
/// What a port option accepts, for messages.
pub const EXPECT_PORT: &str = "a port number 0-65535";
/// What a 16-bit number accepts, for messages.
pub const EXPECT_U16: &str = "a number 0-65535";
/// What an address option accepts, for messages.
pub const EXPECT_IP: &str = "an IPv4 or IPv6 address literal, no host name";
/// What `loglevel` accepts, for messages.
pub const EXPECT_LOGLEVEL: &str = "none, critical, error, warn, info or debug";
/// What `log` accepts, for messages.
pub const EXPECT_LOG: &str = "stdout, file or syslog";

/// i2pd's `value<bool>`: case-insensitive `true/yes/on/1`, `false/no/off/0`; an empty value means true.
pub fn parse_bool(text: &str) -> Option<bool> {
    const TRUE: &[&str] = &["", "true", "yes", "on", "1"];
    const FALSE: &[&str] = &["false", "no", "off", "0"];
    let lower = text.to_ascii_lowercase();
    if TRUE.contains(&lower.as_str()) {
        Some(true)
    } else if FALSE.contains(&lower.as_str()) {
        Some(false)
    } else {
        None
    }
}

/// i2pd's `value<uint16_t>`: decimal digits only, 0..=65535; empty, signs and garbage fail.
///
/// (Boost would wrap a leading `-`; accepting that would only hide a typo, so it fails here.)
pub fn parse_u16(text: &str) -> Option<u16> {
    parse_decimal(text).and_then(|n| u16::try_from(n).ok())
}

/// Decimal digits only, no sign, no blanks, at most u64.
pub fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A listen address: an IP literal like i2pd's `address::from_string` (no host names).
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse().ok()
}

/// Builds the "invalid value" error for one option.
pub fn invalid(origin: &Source, key: &str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::InvalidValue {
        origin: origin.clone(),
        key: key.to_owned(),
        value: value.to_owned(),
        expected,
    }
}

/// Which I2P datagram format UDP ASSOCIATE sends (all are received).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpFormat {
    /// Repliable datagram, protocol 17: every i2pd and Java I2P version accepts it.
    Datagram1,
    /// Datagram2, protocol 19 (i2pd 2.58+, Java I2P 2.7+; see `data::datagram`).
    Datagram2,
    /// Datagram3, protocol 20: unsigned, the sender's hash only (i2pd 2.58+, Java I2P 2.7+).
    Datagram3,
}

impl UdpFormat {
    /// The setting's spelling.
    pub fn name(self) -> &'static str {
        match self {
            UdpFormat::Datagram1 => "datagram1",
            UdpFormat::Datagram2 => "datagram2",
            UdpFormat::Datagram3 => "datagram3",
        }
    }

    /// Parse the setting's spelling.
    pub fn parse(text: &str) -> Option<UdpFormat> {
        [
            UdpFormat::Datagram1,
            UdpFormat::Datagram2,
            UdpFormat::Datagram3,
        ]
        .into_iter()
        .find(|f| f.name() == text)
    }
}

/// Log verbosity, i2pd's names (docs/i2pd-config.md "Logging").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Log nothing.
    None,
    /// Only critical messages.
    Critical,
    /// Errors and worse.
    Error,
    /// Warnings and worse (i2pd's default).
    Warn,
    /// Informational and worse.
    Info,
    /// Everything.
    Debug,
}

impl LogLevel {
    /// Case-insensitive i2pd level name.
    pub fn parse(text: &str) -> Option<LogLevel> {
        match text.to_ascii_lowercase().as_str() {
            "none" => Some(LogLevel::None),
            "critical" => Some(LogLevel::Critical),
            "error" => Some(LogLevel::Error),
            "warn" => Some(LogLevel::Warn),
            "info" => Some(LogLevel::Info),
            "debug" => Some(LogLevel::Debug),
            _ => None,
        }
    }

    /// The matching `tracing` filter (`critical` has no own tracing level and maps to ERROR).
    pub fn level_filter(self) -> tracing::level_filters::LevelFilter {
        use tracing::level_filters::LevelFilter;
        match self {
            LogLevel::None => LevelFilter::OFF,
            LogLevel::Critical | LogLevel::Error => LevelFilter::ERROR,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Debug => LevelFilter::DEBUG,
        }
    }

    /// The i2pd spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::None => "none",
            LogLevel::Critical => "critical",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }
}

/// Where log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard output (i2pd's default; the journal under systemd).
    Stdout,
    /// Append to this file.
    File(PathBuf),
    /// The system log.
    Syslog,
}

/// Logging settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Destination.
    pub target: LogTarget,
    /// Minimum level.
    pub level: LogLevel,
}

/// Where the SOCKS destination's keys come from (docs/i2pd-config.md "The keys option").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeysSpec {
    /// Fresh random keys at every start, never written (`keys` starts with `transient`, or is empty).
    Transient,
    /// A keys file: `<datadir>/<keys>`, always prefixed, even when `keys` is absolute (like i2pd).
    /// Load it if it exists, else generate and write it.
    File(PathBuf),
}

/// Tunnel options passed to the router, as strings like i2pd does (docs/i2pd-config.md
/// "[socksproxy] options": declared as strings, validated by the destination code, bad values fall
/// back to the router's defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelOptions {
    /// `inbound.length` (default 3).
    pub inbound_length: String,
    /// `outbound.length` (default 3).
    pub outbound_length: String,
    /// `inbound.quantity` (default 5).
    pub inbound_quantity: String,
    /// `outbound.quantity` (default 5).
    pub outbound_quantity: String,
    /// `inbound.lengthVariance` (default 0).
    pub inbound_length_variance: String,
    /// `outbound.lengthVariance` (default 0).
    pub outbound_length_variance: String,
    /// `latency.min` in ms, i2pd-only (default 0).
    pub latency_min: String,
    /// `latency.max` in ms, i2pd-only (default 0).
    pub latency_max: String,
}

/// Upstream proxy for names outside I2P.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outproxy {
    /// Host name or IP; when `port` is 0 a unix socket path (i2pd ≥ 2.51).
    pub host: String,
    /// Port; 0 means `host` is a unix socket path.
    pub port: u16,
}

/// The `[socksproxy]` settings plus i2psocks' own SOCKS limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocksConfig {
    /// Listen address (`socksproxy.address`, default 127.0.0.1).
    pub address: IpAddr,
    /// Listen port (`socksproxy.port`, default 4447; 0 = ephemeral).
    pub port: u16,
    /// Destination keys (`socksproxy.keys`, default `transient-proxy`).
    pub keys: KeysSpec,
    /// Signature type for newly generated keys (`socksproxy.signaturetype`, default 7 = Ed25519).
    pub signature_type: u16,
    /// Tunnel shape.
    pub tunnel: TunnelOptions,
    /// Upstream proxy: `Some` only if `outproxy.enabled` and `outproxy` is non-empty.
    pub outproxy: Option<Outproxy>,
    /// `i2cp.leaseSetType` (default 3).
    pub lease_set_type: String,
    /// `i2cp.leaseSetEncType` (default `4,0`, i2pd ≥ 2.58).
    pub lease_set_enc_type: String,
    /// `i2cp.leaseSetPrivKey` (default empty).
    pub lease_set_priv_key: String,
    /// `i2p.streaming.profile` (default 1).
    pub streaming_profile: String,
    /// `i2p.streaming.maxWindowSize` (default 512).
    pub max_window_size: String,
    /// Close a client that has not finished its SOCKS request in this time (`None` = wait forever).
    pub handshake_timeout: Option<Duration>,
    /// Refuse clients beyond this many concurrent connections.
    pub max_connections: usize,
    /// Serve SOCKS5 UDP ASSOCIATE over I2P datagrams (else refuse it with `07` like i2pd).
    pub udp: bool,
    /// Refuse UDP ASSOCIATE beyond this many concurrent associations.
    pub max_udp_associations: usize,
    /// Accept raw (unsigned, protocol 18) datagrams for UDP associations.
    pub udp_raw: bool,
    /// Format of the datagrams UDP associations send.
    pub udp_format: UdpFormat,
    /// Enforce RFC 1929 logins against [`SocksConfig::users_file`] (default off).
    pub require_auth: bool,
    /// The users file (`socks.usersfile`, default DATADIR/i2psocks.users).
    pub users_file: PathBuf,
    /// Isolation by credentials: one I2CP session per SOCKS username (default off).
    pub isolate: bool,
    /// Per-user keys files live here (`<user>.dat`); `None` = transient per-user keys.
    pub isolation_keys: Option<PathBuf>,
    /// Cap on concurrent per-user sessions.
    pub max_sessions: usize,
    /// A per-user session without streams for this long is closed.
    pub session_idle_timeout: Duration,
    /// Listening beyond loopback without logins was accepted explicitly (`socks.allowopenproxy`).
    pub allow_open_proxy: bool,
    /// Extra listeners (`socks.listen`), besides `address`:`port`.
    pub listen: Vec<ListenSpec>,
    /// Mode, group and owner of Unix-domain listeners.
    pub unix_socket: UnixSocketOptions,
    /// RESOLVE / RESOLVE_PTR hand out addresses from this range; `None` = refused like i2pd.
    pub virtual_range: Option<crate::socks::VirtualRange>,
    /// An unused virtual address mapping expires after this long.
    pub virtual_idle_timeout: Duration,
    /// Reply with Tor proposal 304 codes (F0–F7) for I2P failures (default off: i2pd's codes).
    pub extended_errors: bool,
    /// Outproxies inside I2P (HTTP CONNECT) for non-`.i2p` names, in failover order; when
    /// set they replace [`SocksConfig::outproxy`].
    pub i2p_outproxies: Vec<crate::socks::I2pOutproxy>,
}

/// One extra listener of `socks.listen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenSpec {
    /// A TCP address.
    Tcp(std::net::SocketAddr),
    /// A Unix-domain socket path (`unix:/path`).
    Unix(PathBuf),
}

impl std::fmt::Display for ListenSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenSpec::Tcp(addr) => write!(f, "{addr}"),
            ListenSpec::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// How Unix-domain listeners are created: like Tor's `SocksPort unix:`, access is decided
/// by the socket file's owner, group and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixSocketOptions {
    /// Permission bits (default 0600).
    pub mode: u32,
    /// Group name or number; `None` = our primary group.
    pub group: Option<String>,
    /// Owner name or number; `None` = our user (another owner needs root).
    pub owner: Option<String>,
}

impl Default for UnixSocketOptions {
    fn default() -> Self {
        UnixSocketOptions {
            mode: super::settings::DEFAULT_UNIX_SOCKET_MODE,
            group: None,
            owner: None,
        }
    }
}

/// `i2p.streaming.maxWindowSize` when absent or not a number (i2pd 2.58 and later).
pub const DEFAULT_MAX_WINDOW: u32 = 512;
/// Smallest window i2pd accepts for the option; lower values are raised to it (i2pd 2.59
/// libi2pd/Destination.cpp, MIN_WINDOW_SIZE).
pub const MIN_MAX_WINDOW: u32 = 3;
/// Our own ceiling: the send buffer holds a window of packets (1730 bytes each), so this
/// bounds a stream's memory at about 1.7 MiB; i2pd has no ceiling.
pub const MAX_MAX_WINDOW: u32 = 1024;

impl SocksConfig {
    /// The streaming window ceiling in packets, read from `i2p.streaming.maxWindowSize` as
    /// i2pd reads it (not a number: the default; below 3: 3), capped at [`MAX_MAX_WINDOW`].
    pub fn max_window_packets(&self) -> u32 {
        parse_max_window(&self.max_window_size)
    }
}

/// See [`SocksConfig::max_window_packets`].
pub fn parse_max_window(text: &str) -> u32 {
    match text.trim().parse::<i64>() {
        Ok(n) => u32::try_from(n.clamp(i64::from(MIN_MAX_WINDOW), i64::from(MAX_MAX_WINDOW)))
            .unwrap_or(DEFAULT_MAX_WINDOW),
        Err(_) => DEFAULT_MAX_WINDOW,
    }
}

/// The router's I2CP endpoint (`[i2cp]`) and i2psocks' I2CP timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I2cpConfig {
    /// `i2cp.enabled` (default false): whether the router serves I2CP per this file.
    pub enabled: bool,
    /// `i2cp.address` (default 127.0.0.1).
    pub address: String,
    /// `i2cp.port` (default 7654).
    pub port: u16,
    /// Give up a HostLookup after this long (i2pd ignores the timeout it is sent).
    pub lookup_timeout: Duration,
    /// Upper bound of the reconnect back-off.
    pub reconnect_max_delay: Duration,
    /// Send new streams to a server that stopped answering from a fresh destination for a
    /// while (`i2cp.detour` in i2psocks' settings; see `crate::detour`).
    pub detour: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bool_rules_match_i2pd() {
        for t in ["", "true", "TRUE", "Yes", "on", "1"] {
            assert_eq!(parse_bool(t), Some(true), "{t:?}");
        }
        for f in ["false", "No", "OFF", "0"] {
            assert_eq!(parse_bool(f), Some(false), "{f:?}");
        }
        for bad in ["2", "y", "enabled", "true ", "\"true\""] {
            assert_eq!(parse_bool(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn u16_rules() {
        assert_eq!(parse_u16("0"), Some(0));
        assert_eq!(parse_u16("65535"), Some(65535));
        assert_eq!(parse_u16("04447"), Some(4447));
        for bad in [
            "",
            "65536",
            "-1",
            "+1",
            "abc",
            "1 2",
            "0x10",
            "99999999999999999999999",
        ] {
            assert_eq!(parse_u16(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ip_literals_only() {
        assert!(parse_ip("127.0.0.1").is_some());
        assert!(parse_ip("::1").is_some());
        assert!(parse_ip("0.0.0.0").is_some());
        assert!(parse_ip("localhost").is_none());
        assert!(parse_ip("\"127.0.0.1\"").is_none());
    }

    #[test]
    fn log_levels_case_insensitive() {
        assert_eq!(LogLevel::parse("DeBuG"), Some(LogLevel::Debug));
        assert_eq!(LogLevel::parse("none"), Some(LogLevel::None));
        assert_eq!(LogLevel::parse("warning"), None);
        assert_eq!(LogLevel::Critical.as_str(), "critical");
        assert_eq!(
            LogLevel::None.level_filter(),
            tracing::level_filters::LevelFilter::OFF
        );
        assert_eq!(
            LogLevel::Critical.level_filter(),
            tracing::level_filters::LevelFilter::ERROR
        );
        assert_eq!(
            LogLevel::Debug.level_filter(),
            tracing::level_filters::LevelFilter::DEBUG
        );
    }
}

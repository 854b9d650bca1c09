//! i2psocks' own settings (never in i2pd.conf: i2pd refuses keys it does not know).
//!
//! Same ini rules as i2pd.conf ([`super::ini`]), i2pd naming style, validated strictly: an unknown
//! key here is an error. Command-line flags with the same meaning win over the file.
//!
//! ```text
//! [socks]
//! handshaketimeout = 30    # seconds; 0 = no limit
//! maxconnections = 4096
//! udp = true               # SOCKS5 UDP ASSOCIATE over I2P datagrams; false = refuse (07) like i2pd
//! maxudpassociations = 256
//! udpraw = true            # accept unsigned (raw, protocol 18) datagrams for associations
//! udpformat = datagram1    # what associations send: datagram1 (17), datagram2 (19), datagram3 (20)
//! requireauth = false      # enforce RFC 1929 logins from the users file
//! usersfile = i2psocks.users
//! isolate = false          # one destination per SOCKS username
//! isolationkeys =          # directory of per-user keys files; empty = transient
//! maxsessions = 32
//! sessionidletimeout = 600 # seconds
//! allowopenproxy = false   # listen beyond loopback without requireauth (an open proxy)
//! listen =                 # extra listeners: host:port or unix:/path, comma-separated
//! unixsocketmode = 0600    # mode of unix: listeners (octal)
//! unixsocketgroup =        # group of unix: listeners (name or number); empty = ours
//! unixsocketowner =        # owner of unix: listeners (name or number; needs root)
//! virtualrange = 240.0.0.0/4  # RESOLVE (F0/F1) hands out addresses from here; empty = off
//! virtualidletimeout = 86400  # seconds an unused virtual address stays mapped
//! extendederrors = false   # Tor proposal 304 reply codes F0-F7 for I2P failures
//! i2poutproxies =          # outproxies inside I2P (HTTP CONNECT): name.i2p[:port], ...
//! [i2cp]
//! lookuptimeout = 15       # seconds
//! reconnectmaxdelay = 1    # seconds
//! detour = true            # fresh destination for a server that stops answering (restarted)
//! ```

use std::time::Duration;

use super::error::{ConfigError, Source};
use super::ini::IniFile;
use super::options::{UdpFormat, invalid};
use crate::socks::{I2pOutproxy, VirtualRange};

#[cfg(test)]
mod tests;
mod values;

use values::{
    ASSOCIATIONS, CONNECTIONS, HANDSHAKE, IDLE, LOOKUP, RECONNECT, SESSIONS, VIRTUAL_IDLE, boolean,
    number, octal_mode, outproxy_list, range, reject_unknown, seconds, text,
};

/// Section names of the settings file.
pub const SECTIONS: &[&str] = &["socks", "i2cp"];

/// Full key names, as written in the file.
pub const HANDSHAKE_TIMEOUT: &str = "socks.handshaketimeout";
/// Full key name of the connection limit.
pub const MAX_CONNECTIONS: &str = "socks.maxconnections";
/// Full key name of the UDP ASSOCIATE switch.
pub const UDP: &str = "socks.udp";
/// Full key name of the UDP association limit.
pub const MAX_UDP_ASSOCIATIONS: &str = "socks.maxudpassociations";
/// Full key name of the raw-datagram switch.
pub const UDP_RAW: &str = "socks.udpraw";
/// Full key name of the UDP send format.
pub const UDP_FORMAT: &str = "socks.udpformat";
/// Full key name of the login switch.
pub const REQUIRE_AUTH: &str = "socks.requireauth";
/// Full key name of the users file.
pub const USERS_FILE: &str = "socks.usersfile";
/// Full key name of the isolation switch.
pub const ISOLATE: &str = "socks.isolate";
/// Full key name of the per-user keys directory.
pub const ISOLATION_KEYS: &str = "socks.isolationkeys";
/// Full key name of the per-user session cap.
pub const MAX_SESSIONS: &str = "socks.maxsessions";
/// Full key name of the per-user session idle timeout.
pub const SESSION_IDLE_TIMEOUT: &str = "socks.sessionidletimeout";
/// Full key name of the open-proxy switch.
pub const ALLOW_OPEN_PROXY: &str = "socks.allowopenproxy";
/// Full key name of the extra listeners.
pub const LISTEN: &str = "socks.listen";
/// Full key name of the mode of Unix-domain listeners.
pub const UNIX_SOCKET_MODE: &str = "socks.unixsocketmode";
/// Full key name of the group of Unix-domain listeners.
pub const UNIX_SOCKET_GROUP: &str = "socks.unixsocketgroup";
/// Full key name of the owner of Unix-domain listeners.
pub const UNIX_SOCKET_OWNER: &str = "socks.unixsocketowner";
/// Full key name of the virtual address range for RESOLVE.
pub const VIRTUAL_RANGE: &str = "socks.virtualrange";
/// Full key name of the virtual address idle timeout.
pub const VIRTUAL_IDLE_TIMEOUT: &str = "socks.virtualidletimeout";
/// Full key name of the extended-errors switch.
pub const EXTENDED_ERRORS: &str = "socks.extendederrors";
/// Full key name of the list of outproxies inside I2P.
pub const I2P_OUTPROXIES: &str = "socks.i2poutproxies";
/// Full key name of the HostLookup timeout.
pub const LOOKUP_TIMEOUT: &str = "i2cp.lookuptimeout";
/// Full key name of the reconnect back-off cap.
pub const RECONNECT_MAX_DELAY: &str = "i2cp.reconnectmaxdelay";
/// Full key name of the stale-LeaseSet detour switch.
pub const DETOUR: &str = "i2cp.detour";

/// Every key the settings file accepts.
pub const KEYS: &[&str] = &[
    HANDSHAKE_TIMEOUT,
    MAX_CONNECTIONS,
    UDP,
    MAX_UDP_ASSOCIATIONS,
    UDP_RAW,
    UDP_FORMAT,
    REQUIRE_AUTH,
    USERS_FILE,
    ISOLATE,
    ISOLATION_KEYS,
    MAX_SESSIONS,
    SESSION_IDLE_TIMEOUT,
    ALLOW_OPEN_PROXY,
    LISTEN,
    UNIX_SOCKET_MODE,
    UNIX_SOCKET_GROUP,
    UNIX_SOCKET_OWNER,
    VIRTUAL_RANGE,
    VIRTUAL_IDLE_TIMEOUT,
    EXTENDED_ERRORS,
    I2P_OUTPROXIES,
    LOOKUP_TIMEOUT,
    RECONNECT_MAX_DELAY,
    DETOUR,
];

/// Built-in defaults.
pub const DEFAULT_HANDSHAKE_SECS: u64 = 30;
/// Default connection limit (the SOCKS server's own default: one constant).
pub const DEFAULT_MAX_CONNECTIONS: usize = crate::socks::DEFAULT_MAX_CONNECTIONS;
/// Default virtual address range for RESOLVE.
pub const DEFAULT_VIRTUAL_RANGE: &str = crate::socks::virtual_addr::DEFAULT_RANGE;
/// Default idle timeout of virtual address mappings.
pub const DEFAULT_VIRTUAL_IDLE_SECS: u64 = crate::socks::virtual_addr::DEFAULT_IDLE.as_secs();
/// Default UDP association limit.
pub const DEFAULT_MAX_UDP_ASSOCIATIONS: usize = 256;
/// Default lookup timeout.
pub const DEFAULT_LOOKUP_SECS: u64 = 15;
/// Default reconnect back-off cap: a refused connection to a local router costs nothing, and
/// every second of it adds to the time before the router is used again after a restart.
pub const DEFAULT_RECONNECT_SECS: u64 = 1;
/// Default users file name (relative to the data dir).
pub const DEFAULT_USERS_FILE: &str = "i2psocks.users";
/// Default cap on per-user sessions.
pub const DEFAULT_MAX_SESSIONS: usize = 32;
/// Default idle timeout of per-user sessions.
pub const DEFAULT_SESSION_IDLE_SECS: u64 = 600;
/// Default mode of Unix-domain listeners: only our own user.
pub const DEFAULT_UNIX_SOCKET_MODE: u32 = 0o600;

/// The validated own settings, each with its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `None` = no handshake timeout.
    pub handshake_timeout: (Option<Duration>, Source),
    /// Connection limit.
    pub max_connections: (usize, Source),
    /// UDP ASSOCIATE enabled.
    pub udp: (bool, Source),
    /// UDP association limit.
    pub max_udp_associations: (usize, Source),
    /// Raw datagrams accepted.
    pub udp_raw: (bool, Source),
    /// Datagram format sent by UDP associations.
    pub udp_format: (UdpFormat, Source),
    /// HostLookup timeout.
    pub lookup_timeout: (Duration, Source),
    /// Reconnect back-off cap.
    pub reconnect_max_delay: (Duration, Source),
    /// Detour around a server's stale LeaseSet.
    pub detour: (bool, Source),
    /// Enforce logins.
    pub require_auth: (bool, Source),
    /// Users file as written (relative to the data dir unless absolute).
    pub users_file: (String, Source),
    /// One destination per SOCKS username.
    pub isolate: (bool, Source),
    /// Directory of per-user keys files as written; empty = transient keys.
    pub isolation_keys: (String, Source),
    /// Cap on per-user sessions.
    pub max_sessions: (usize, Source),
    /// Idle time after which a per-user session is closed.
    pub session_idle_timeout: (Duration, Source),
    /// Listening beyond loopback without logins was accepted explicitly.
    pub allow_open_proxy: (bool, Source),
    /// Extra listeners as written, comma-separated (validated in `load`).
    pub listen: (String, Source),
    /// Mode of Unix-domain listeners.
    pub unix_socket_mode: (u32, Source),
    /// Group of Unix-domain listeners as written; empty = unchanged.
    pub unix_socket_group: (String, Source),
    /// Owner of Unix-domain listeners as written; empty = unchanged.
    pub unix_socket_owner: (String, Source),
    /// Virtual address range for RESOLVE; `None` = RESOLVE off.
    pub virtual_range: (Option<VirtualRange>, Source),
    /// Idle time after which a virtual address mapping expires.
    pub virtual_idle_timeout: (Duration, Source),
    /// Tor proposal 304 reply codes.
    pub extended_errors: (bool, Source),
    /// Outproxies inside I2P, in failover order; empty = none.
    pub i2p_outproxies: (Vec<I2pOutproxy>, Source),
}

/// Command-line values for the own settings (raw text, validated here like the file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsFlags {
    /// `--handshake-timeout`.
    pub handshake_timeout: Option<String>,
    /// `--max-connections`.
    pub max_connections: Option<String>,
    /// `--udp`.
    pub udp: Option<String>,
    /// `--max-udp-associations`.
    pub max_udp_associations: Option<String>,
    /// `--udp-raw`.
    pub udp_raw: Option<String>,
    /// `--lookup-timeout`.
    pub lookup_timeout: Option<String>,
    /// `--require-auth`.
    pub require_auth: Option<String>,
    /// `--users-file`.
    pub users_file: Option<String>,
    /// `--isolate`.
    pub isolate: Option<String>,
    /// `--isolation-keys`.
    pub isolation_keys: Option<String>,
    /// `--max-sessions`.
    pub max_sessions: Option<String>,
    /// `--session-idle-timeout`.
    pub session_idle_timeout: Option<String>,
    /// `--allow-open-proxy`.
    pub allow_open_proxy: Option<String>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--virtual-range`.
    pub virtual_range: Option<String>,
    /// `--extended-errors`.
    pub extended_errors: Option<String>,
    /// `--i2p-outproxies`.
    pub i2p_outproxies: Option<String>,
}

/// Validates the settings file (if any) and the flags; flags win.
pub fn resolve(file: Option<&IniFile>, flags: &SettingsFlags) -> Result<Settings, ConfigError> {
    if let Some(file) = file {
        reject_unknown(file)?;
    }
    let pick = |key: &str, flag: &Option<String>| -> Option<(String, Source)> {
        if let Some(v) = flag {
            return Some((v.clone(), Source::CommandLine));
        }
        let file = file?;
        let entry = file.get(key)?;
        Some((entry.value.clone(), file.source_of(entry)))
    };
    let handshake = match number(pick(HANDSHAKE_TIMEOUT, &flags.handshake_timeout), HANDSHAKE)? {
        Some((secs, src)) => ((secs > 0).then(|| Duration::from_secs(secs)), src),
        None => (
            Some(Duration::from_secs(DEFAULT_HANDSHAKE_SECS)),
            Source::Default,
        ),
    };
    let max_connections = match number(pick(MAX_CONNECTIONS, &flags.max_connections), CONNECTIONS)?
    {
        // The bound in CONNECTIONS keeps n far below usize::MAX on every platform.
        Some((n, src)) => (usize::try_from(n).unwrap_or(DEFAULT_MAX_CONNECTIONS), src),
        None => (DEFAULT_MAX_CONNECTIONS, Source::Default),
    };
    let udp = boolean(pick(UDP, &flags.udp), UDP, "--udp", true)?;
    let udp_raw = boolean(pick(UDP_RAW, &flags.udp_raw), UDP_RAW, "--udp-raw", true)?;
    let udp_format = match pick(UDP_FORMAT, &None) {
        Some((text, src)) => match UdpFormat::parse(&text) {
            Some(format) => (format, src),
            None => {
                return Err(invalid(
                    &src,
                    UDP_FORMAT,
                    &text,
                    "datagram1, datagram2 or datagram3",
                ));
            }
        },
        None => (UdpFormat::Datagram1, Source::Default),
    };
    let max_udp_associations = match number(
        pick(MAX_UDP_ASSOCIATIONS, &flags.max_udp_associations),
        ASSOCIATIONS,
    )? {
        // The bound in ASSOCIATIONS keeps n far below usize::MAX.
        Some((n, src)) => (
            usize::try_from(n).unwrap_or(DEFAULT_MAX_UDP_ASSOCIATIONS),
            src,
        ),
        None => (DEFAULT_MAX_UDP_ASSOCIATIONS, Source::Default),
    };
    let lookup = seconds(
        pick(LOOKUP_TIMEOUT, &flags.lookup_timeout),
        LOOKUP,
        DEFAULT_LOOKUP_SECS,
    )?;
    let reconnect = seconds(
        pick(RECONNECT_MAX_DELAY, &None),
        RECONNECT,
        DEFAULT_RECONNECT_SECS,
    )?;
    let detour = boolean(pick(DETOUR, &None), DETOUR, "", true)?;
    let require_auth = boolean(
        pick(REQUIRE_AUTH, &flags.require_auth),
        REQUIRE_AUTH,
        "--require-auth",
        false,
    )?;
    let isolate = boolean(pick(ISOLATE, &flags.isolate), ISOLATE, "--isolate", false)?;
    let users_file = text(
        pick(USERS_FILE, &flags.users_file),
        USERS_FILE,
        "--users-file",
        DEFAULT_USERS_FILE,
    )?;
    let isolation_keys = match pick(ISOLATION_KEYS, &flags.isolation_keys) {
        Some((value, src)) => (value, src),
        None => (String::new(), Source::Default),
    };
    let max_sessions = match number(pick(MAX_SESSIONS, &flags.max_sessions), SESSIONS)? {
        Some((n, src)) => (usize::try_from(n).unwrap_or(DEFAULT_MAX_SESSIONS), src),
        None => (DEFAULT_MAX_SESSIONS, Source::Default),
    };
    let session_idle = seconds(
        pick(SESSION_IDLE_TIMEOUT, &flags.session_idle_timeout),
        IDLE,
        DEFAULT_SESSION_IDLE_SECS,
    )?;
    let allow_open_proxy = boolean(
        pick(ALLOW_OPEN_PROXY, &flags.allow_open_proxy),
        ALLOW_OPEN_PROXY,
        "--allow-open-proxy",
        false,
    )?;
    let listen = pick(LISTEN, &flags.listen).unwrap_or((String::new(), Source::Default));
    let unix_socket_mode = octal_mode(pick(UNIX_SOCKET_MODE, &None))?;
    let unix_socket_group =
        pick(UNIX_SOCKET_GROUP, &None).unwrap_or((String::new(), Source::Default));
    let unix_socket_owner =
        pick(UNIX_SOCKET_OWNER, &None).unwrap_or((String::new(), Source::Default));
    let virtual_range = range(pick(VIRTUAL_RANGE, &flags.virtual_range))?;
    let virtual_idle = seconds(
        pick(VIRTUAL_IDLE_TIMEOUT, &None),
        VIRTUAL_IDLE,
        DEFAULT_VIRTUAL_IDLE_SECS,
    )?;
    let extended_errors = boolean(
        pick(EXTENDED_ERRORS, &flags.extended_errors),
        EXTENDED_ERRORS,
        "--extended-errors",
        false,
    )?;
    let i2p_outproxies = outproxy_list(pick(I2P_OUTPROXIES, &flags.i2p_outproxies))?;
    Ok(Settings {
        allow_open_proxy,
        listen,
        unix_socket_mode,
        unix_socket_group,
        unix_socket_owner,
        handshake_timeout: handshake,
        max_connections,
        udp,
        max_udp_associations,
        udp_raw,
        udp_format,
        lookup_timeout: lookup,
        reconnect_max_delay: reconnect,
        detour,
        require_auth,
        users_file,
        isolate,
        isolation_keys,
        max_sessions,
        session_idle_timeout: session_idle,
        virtual_range,
        virtual_idle_timeout: virtual_idle,
        extended_errors,
        i2p_outproxies,
    })
}

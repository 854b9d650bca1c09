//! The SOCKS server's settings ([`ServerConfig`]): shared by the accept loop (server.rs)
//! and every per-connection handler (connection.rs), so it lives apart from both.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::auth::AuthPolicy;
use super::http_connect::I2pOutproxies;
use super::outproxy::OutproxyConfig;
use super::udp_relay::UdpRelayConfig;
use super::virtual_addr::VirtualAddrs;

/// Default handshake timeout.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on concurrent client connections (also the settings' default and the man
/// page's: one constant for all).
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// Settings of the SOCKS server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listen address (IPv4 or IPv6).
    pub addr: SocketAddr,
    /// Close clients that have not completed their request after this long; `None` = never.
    pub handshake_timeout: Option<Duration>,
    /// Maximum concurrent clients; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// Upstream SOCKS5 for non-`.i2p` names; `None` = refuse them with `08` (unless
    /// [`ServerConfig::i2p_outproxies`] is set).
    pub outproxy: Option<OutproxyConfig>,
    /// Outproxies inside I2P (HTTP CONNECT) for non-`.i2p` names; used instead of
    /// [`ServerConfig::outproxy`] when set.
    pub i2p_outproxies: Option<Arc<I2pOutproxies>>,
    /// SOCKS5 authentication policy (i2pd: accept anything).
    pub auth: AuthPolicy,
    /// UDP ASSOCIATE over I2P datagrams; `None` = refuse it with `07` like i2pd.
    pub udp: Option<UdpRelayConfig>,
    /// Pass the SOCKS5 username to [`I2pConnector::connect_as`](super::I2pConnector::connect_as) (isolation by credentials);
    /// `false` = every client uses the shared destination.
    pub isolate: bool,
    /// RESOLVE / RESOLVE_PTR with virtual addresses; `None` = refuse F0/F1 like i2pd.
    pub virtual_addrs: Option<Arc<VirtualAddrs>>,
    /// Tor proposal 304 reply codes (F0–F7) for I2P failures; `false` = i2pd's codes.
    pub extended_errors: bool,
}

impl ServerConfig {
    /// Defaults: 30 s handshake timeout, 4096 clients, no outproxy, any credentials, no UDP,
    /// no RESOLVE, i2pd's reply codes.
    pub fn new(addr: SocketAddr) -> Self {
        ServerConfig {
            addr,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            outproxy: None,
            i2p_outproxies: None,
            auth: AuthPolicy::AcceptAny,
            udp: None,
            isolate: false,
            virtual_addrs: None,
            extended_errors: false,
        }
    }
}

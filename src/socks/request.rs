//! A parsed SOCKS 4/4a/5 request: what the client asked for, as the handshake parser
//! (handshake.rs) hands it to routing, replies and the connection handler.
use std::net::{Ipv4Addr, Ipv6Addr};

/// Which protocol the client spoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// SOCKS4 with an IPv4 destination.
    V4,
    /// SOCKS4a: DSTIP 0.0.0.x plus a host name.
    V4a,
    /// SOCKS5.
    V5,
}

/// The requested command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// CMD 01.
    Connect,
    /// CMD 02.
    Bind,
    /// CMD 03 (SOCKS5 only).
    UdpAssociate,
    /// CMD F0, Tor's RESOLVE extension (SOCKS5 only, when enabled): name → address.
    Resolve,
    /// CMD F1, Tor's RESOLVE_PTR extension (SOCKS5 only, when enabled): address → name.
    ResolvePtr,
}

/// The requested destination address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Host name (SOCKS5 ATYP 03 or SOCKS4a host), 1..=255 bytes as sent. i2pd treats names
    /// as plain bytes (they need not be UTF-8): they are echoed in replies and handed to the
    /// outproxy unchanged.
    Domain(Vec<u8>),
    /// IPv4 literal (SOCKS5 ATYP 01 or plain SOCKS4).
    Ipv4(Ipv4Addr),
    /// IPv6 literal (SOCKS5 ATYP 04).
    Ipv6(Ipv6Addr),
}

/// For logs: names with non-printable bytes escaped (`\xff`), IPs as usual.
impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Domain(name) => write!(f, "{}", name.escape_ascii()),
            Target::Ipv4(ip) => write!(f, "{ip}"),
            Target::Ipv6(ip) => write!(f, "{ip}"),
        }
    }
}

/// A complete, syntactically valid request. Routing decisions are made by
/// [`classify`](super::route::classify).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Protocol version.
    pub version: Version,
    /// Command.
    pub command: Command,
    /// Destination.
    pub target: Target,
    /// Destination port.
    pub port: u16,
    /// SOCKS5 RFC 1929 username, when method 02 was negotiated. The password is not kept:
    /// it was checked (or ignored, like i2pd) before the request and wiped.
    pub username: Option<Vec<u8>>,
    /// SOCKS4/4a user id (empty for SOCKS5).
    pub userid: Vec<u8>,
    /// SOCKS4/4a DSTIP as sent; SOCKS4 replies echo it (docs/socks.md "Reply bytes"). Zero for
    /// SOCKS5.
    pub socks4_ip: Ipv4Addr,
}

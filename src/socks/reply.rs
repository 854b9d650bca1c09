//! Exact reply bytes (docs/socks.md "Reply bytes").
use std::net::{IpAddr, SocketAddr};

use super::consts::*;
use super::request::{Request, Target, Version, socks4_reply};

/// SOCKS5 REP codes (RFC 1928 §6). SOCKS4 maps success to 90 and everything else to 91.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ReplyCode {
    /// 00
    Succeeded = 0x00,
    /// 01: parser errors, unusable router.
    GeneralFailure = 0x01,
    /// 02 (never sent by i2pd).
    NotAllowed = 0x02,
    /// 03: every outproxy failure.
    NetworkUnreachable = 0x03,
    /// 04: name or LeaseSet not found.
    HostUnreachable = 0x04,
    /// 05 (never sent by i2pd).
    ConnectionRefused = 0x05,
    /// 06 (never sent by i2pd).
    TtlExpired = 0x06,
    /// 07: BIND, UDP ASSOCIATE.
    CommandNotSupported = 0x07,
    /// 08: IP literals, non-.i2p names without outproxy.
    AddressTypeNotSupported = 0x08,
}

impl ReplyCode {
    /// The SOCKS5 REP byte.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The SOCKS4 CD byte: 90 for success, 91 for every failure (docs/socks.md "Reply bytes").
    pub fn socks4(self) -> u8 {
        match self {
            ReplyCode::Succeeded => SOCKS4_GRANTED,
            _ => SOCKS4_REJECTED,
        }
    }
}

/// What the success reply reports as BND.ADDR/BND.PORT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundAddr {
    /// i2pd behaviour for CONNECT: derived from the request (`.i2p` → 0.0.0.0:0, other names
    /// and IPs echoed).
    FromRequest,
    /// A real bound socket address (e.g. a UDP relay).
    Socket(SocketAddr),
}

/// The success reply for `request`.
pub fn reply_success(request: &Request, bound: BoundAddr) -> Vec<u8> {
    match (request.version, bound) {
        (Version::V4 | Version::V4a, _) => socks4_echo(request, ReplyCode::Succeeded),
        (Version::V5, BoundAddr::FromRequest) => socks5_echo(request, ReplyCode::Succeeded),
        (Version::V5, BoundAddr::Socket(addr)) => socks5_socket(ReplyCode::Succeeded, addr),
    }
}

/// The failure reply for `request` with `code` (SOCKS4: always 91). Close after sending it.
pub fn reply_failure(request: &Request, code: ReplyCode) -> Vec<u8> {
    match request.version {
        Version::V4 | Version::V4a => socks4_echo(request, code),
        Version::V5 => socks5_echo(request, code),
    }
}

/// `00 <cd> <requested port> <requested DSTIP>`.
fn socks4_echo(request: &Request, code: ReplyCode) -> Vec<u8> {
    socks4_reply(code.socks4(), request.port, request.socks4_ip.octets())
}

/// `05 <rep> 00 <BND from the request>`: `.i2p` names become 0.0.0.0:0 (since i2pd 2.32.0,
/// github.com/PurpleI2P/i2pd/issues/1336); other names and IP literals are echoed with the requested port.
fn socks5_echo(request: &Request, code: ReplyCode) -> Vec<u8> {
    let mut out = vec![SOCKS5_VERSION, code.as_u8(), RSV];
    match &request.target {
        Target::Domain(name) if is_i2p_name(name) => {
            out.extend_from_slice(&[ATYP_IPV4, 0, 0, 0, 0, 0, 0]);
            return out;
        }
        Target::Domain(name) => {
            // The parser limits names to 255 bytes; clamp anyway so a hand-built Request
            // cannot make the length byte lie.
            let bytes = name.get(..255).unwrap_or(name);
            out.push(ATYP_DOMAIN);
            out.push(u8::try_from(bytes.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(bytes);
        }
        Target::Ipv4(ip) => {
            out.push(ATYP_IPV4);
            out.extend_from_slice(&ip.octets());
        }
        Target::Ipv6(ip) => {
            out.push(ATYP_IPV6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&request.port.to_be_bytes());
    out
}

fn socks5_socket(code: ReplyCode, addr: SocketAddr) -> Vec<u8> {
    let mut out = vec![SOCKS5_VERSION, code.as_u8(), RSV];
    match addr.ip() {
        IpAddr::V4(ip) => {
            out.push(ATYP_IPV4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(ATYP_IPV6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
    out
}

/// Is `name` an I2P name? Ends in `.i2p`, case-sensitive like i2pd (docs/socks.md "Checks when the request is complete"). Unlike i2pd, names of
/// 1–3 characters are not (docs/socks.md "Defects not copied" item 3): `ends_with` cannot wrap around. Names are bytes, as in
/// i2pd: they need not be UTF-8.
pub fn is_i2p_name(name: impl AsRef<[u8]>) -> bool {
    name.as_ref().ends_with(b".i2p")
}

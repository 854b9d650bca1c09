//! Exact reply bytes (docs/socks.md "Reply bytes").
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::consts::*;
use super::request::{Command, Request, Target, Version};

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
    /// F0 (Tor proposal 304 "descriptor not found"; only with extended errors): the
    /// destination's LeaseSet was not found, or the lookup timed out.
    LeaseSetNotFound = 0xf0,
    /// F1 ("descriptor invalid"): the router answered with a LeaseSet or destination that does
    /// not match the requested address.
    LeaseSetInvalid = 0xf1,
    /// F2 ("introduction failed"): not produced by i2psocks (I2P has no introduction step).
    IntroductionFailed = 0xf2,
    /// F3 ("rendezvous failed"): not produced by i2psocks.
    RendezvousFailed = 0xf3,
    /// F4 ("client authorization missing"): an encrypted LeaseSet (b33 address) that needs a
    /// secret or key i2psocks does not have.
    KeyRequired = 0xf4,
    /// F5 ("client authorization wrong"): not produced by i2psocks (it has no b33 secrets).
    KeyWrong = 0xf5,
    /// F6 ("bad address"): malformed `.b32.i2p` address, or a host name the router's address
    /// book does not know.
    BadAddress = 0xf6,
    /// F7 ("introduction timed out"): not produced by i2psocks: like i2pd, success is replied
    /// once the LeaseSet is found, before the destination answers the SYN.
    SynTimedOut = 0xf7,
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
/// RESOLVE and RESOLVE_PTR failures carry an all-zero IPv4 address and port, as Tor sends.
pub fn reply_failure(request: &Request, code: ReplyCode) -> Vec<u8> {
    match (request.version, request.command) {
        (Version::V4 | Version::V4a, _) => socks4_echo(request, code),
        (Version::V5, Command::Resolve | Command::ResolvePtr) => {
            vec![
                SOCKS5_VERSION,
                code.as_u8(),
                RSV,
                ATYP_IPV4,
                0,
                0,
                0,
                0,
                0,
                0,
            ]
        }
        (Version::V5, _) => socks5_echo(request, code),
    }
}

/// The answer to RESOLVE: `05 00 00 01 <address> 00 00` (Tor replies with port 0).
pub fn reply_resolved(address: Ipv4Addr) -> Vec<u8> {
    let mut out = vec![SOCKS5_VERSION, ReplyCode::Succeeded.as_u8(), RSV, ATYP_IPV4];
    out.extend_from_slice(&address.octets());
    out.extend_from_slice(&[0, 0]);
    out
}

/// The answer to RESOLVE_PTR: `05 00 00 03 <len> <name> 00 00`. Names come from the
/// virtual-address map, which only holds names of 1–255 bytes; longer ones are clamped.
pub fn reply_resolved_ptr(name: &[u8]) -> Vec<u8> {
    let name = name.get(..255).unwrap_or(name);
    let mut out = vec![
        SOCKS5_VERSION,
        ReplyCode::Succeeded.as_u8(),
        RSV,
        ATYP_DOMAIN,
    ];
    out.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(name);
    out.extend_from_slice(&[0, 0]);
    out
}

/// `00 <cd> <requested port> <requested DSTIP>`.
fn socks4_echo(request: &Request, code: ReplyCode) -> Vec<u8> {
    socks4_reply(code.socks4(), request.port, request.socks4_ip.octets())
}

/// `05 <rep> 00 <BND from the request>`: `.i2p` names become 0.0.0.0:0 (since i2pd 2.32.0,
/// github.com/PurpleI2P/i2pd/issues/1336); other names and IP literals are echoed with the
/// requested port.
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

/// Is `name` an I2P name? Ends in `.i2p`, case-sensitive like i2pd (docs/socks.md "Checks when the
/// request is complete"). Unlike i2pd, names of 1–3 characters are not (docs/socks.md "Defects not
/// copied" item 3): `ends_with` cannot wrap around. Names are bytes, as in i2pd: they need not be
/// UTF-8.
pub fn is_i2p_name(name: impl AsRef<[u8]>) -> bool {
    name.as_ref().ends_with(b".i2p")
}

/// An 8-byte SOCKS4 reply: `00 <code> <port BE> <ip>` (docs/socks.md "Reply bytes").
pub(crate) fn socks4_reply(code: u8, port: u16, ip: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8);
    out.push(SOCKS4_REPLY_VERSION);
    out.push(code);
    out.extend_from_slice(&port.to_be_bytes());
    out.extend_from_slice(&ip);
    out
}

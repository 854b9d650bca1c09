//! SOCKS5 UDP relay, the sans-I/O part (RFC 1928 §7): the datagram header, what to do with a
//! client datagram, which client address is accepted, and the drop counters.
//!
//! ```text
//! +-----+------+------+----------+----------+----------+
//! | RSV | FRAG | ATYP | DST.ADDR | DST.PORT |   DATA   |
//! +-----+------+------+----------+----------+----------+
//! |  2  |  1   |  1   | Variable |    2     | Variable |
//! ```
//!
//! Client → proxy datagrams must name a `.i2p` host (ATYP 03); anything else is dropped, never
//! sent to the clearnet. Fragments (FRAG ≠ 0) are dropped, as RFC 1928 allows for a relay
//! that does not reassemble. Proxy → client datagrams carry the sender's `.b32.i2p` name
//! (ATYP 03) and its I2P port.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use thiserror::Error;

use super::consts::{ATYP_DOMAIN, ATYP_IPV4, ATYP_IPV6};
use super::reply::is_i2p_name;
use super::request::Target;

/// A parsed RFC 1928 UDP request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpHeader {
    /// Fragment number (0 = standalone datagram).
    pub frag: u8,
    /// DST.ADDR.
    pub target: Target,
    /// DST.PORT.
    pub port: u16,
}

/// Why a client datagram's header is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum UdpHeaderError {
    /// The datagram ends inside the header.
    #[error("truncated UDP header")]
    Truncated,
    /// RSV is not `00 00`.
    #[error("reserved bytes not zero")]
    Reserved,
    /// ATYP is not 01, 03 or 04.
    #[error("unknown address type {0:#04x}")]
    AddressType(u8),
    /// A domain of length 0.
    #[error("empty domain name")]
    EmptyDomain,
}

/// Split a client datagram into its header and data.
pub fn parse_udp_header(datagram: &[u8]) -> Result<(UdpHeader, &[u8]), UdpHeaderError> {
    let (&[r0, r1, frag, atyp], rest) = datagram
        .split_first_chunk::<4>()
        .ok_or(UdpHeaderError::Truncated)?;
    if [r0, r1] != [0, 0] {
        return Err(UdpHeaderError::Reserved);
    }
    let (target, rest) = match atyp {
        ATYP_IPV4 => {
            let (ip, rest) = rest
                .split_first_chunk::<4>()
                .ok_or(UdpHeaderError::Truncated)?;
            (Target::Ipv4(Ipv4Addr::from(*ip)), rest)
        }
        ATYP_IPV6 => {
            let (ip, rest) = rest
                .split_first_chunk::<16>()
                .ok_or(UdpHeaderError::Truncated)?;
            (Target::Ipv6(Ipv6Addr::from(*ip)), rest)
        }
        ATYP_DOMAIN => {
            let (&len, rest) = rest.split_first().ok_or(UdpHeaderError::Truncated)?;
            if len == 0 {
                return Err(UdpHeaderError::EmptyDomain);
            }
            let (name, rest) = rest
                .split_at_checked(usize::from(len))
                .ok_or(UdpHeaderError::Truncated)?;
            (Target::Domain(name.to_vec()), rest)
        }
        other => return Err(UdpHeaderError::AddressType(other)),
    };
    let (port, data) = rest
        .split_first_chunk::<2>()
        .ok_or(UdpHeaderError::Truncated)?;
    let header = UdpHeader {
        frag,
        target,
        port: u16::from_be_bytes(*port),
    };
    Ok((header, data))
}

/// Build a proxy → client datagram: `00 00 00 03 <len> <name> <port> <data>`.
/// `name` must be 1..=255 bytes (a `.b32.i2p` name is 60).
pub fn encode_udp_datagram(name: &[u8], port: u16, data: &[u8]) -> Option<Vec<u8>> {
    let len = u8::try_from(name.len()).ok().filter(|&n| n > 0)?;
    let mut out = Vec::with_capacity(7 + name.len() + data.len());
    out.extend_from_slice(&[0, 0, 0, ATYP_DOMAIN, len]);
    out.extend_from_slice(name);
    out.extend_from_slice(&port.to_be_bytes());
    out.extend_from_slice(data);
    Some(out)
}

/// Length of the header [`encode_udp_datagram`] writes for a name of `name_len` bytes.
pub fn udp_header_len(name_len: usize) -> usize {
    7 + name_len
}

/// Why a client datagram was not relayed; each has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Unparsable RFC 1928 header.
    BadHeader,
    /// Not from the client of the control connection.
    ForeignSource,
    /// FRAG ≠ 0.
    Fragment,
    /// Not a `.i2p` host name (IP literal or clearnet name): never leaves I2P.
    NotI2p,
    /// Data larger than one I2P datagram may carry.
    Oversized,
}

/// A client datagram worth relaying: the `.i2p` name, the port, and the data's offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing<'a> {
    /// `.i2p` or `.b32.i2p` name (UTF-8).
    pub name: &'a str,
    /// Destination I2P port.
    pub port: u16,
    /// The data to send.
    pub data: &'a [u8],
}

/// Decide what to do with one client datagram, given the largest payload allowed.
pub fn classify_datagram(datagram: &[u8], max_payload: usize) -> Result<Outgoing<'_>, DropReason> {
    let (header, data) = parse_udp_header(datagram).map_err(|_| DropReason::BadHeader)?;
    if header.frag != 0 {
        return Err(DropReason::Fragment);
    }
    let Target::Domain(_) = header.target else {
        return Err(DropReason::NotI2p);
    };
    // The name is borrowed from the datagram: 5 bytes of header before it.
    let name_len = datagram.len() - data.len() - 7;
    let name = datagram.get(5..5 + name_len).ok_or(DropReason::BadHeader)?;
    if !is_i2p_name(name) {
        return Err(DropReason::NotI2p);
    }
    let name = std::str::from_utf8(name).map_err(|_| DropReason::NotI2p)?;
    if data.len() > max_payload {
        return Err(DropReason::Oversized);
    }
    Ok(Outgoing {
        name,
        port: header.port,
        data,
    })
}

/// Which source address the relay accepts (RFC 1928 §7: "MUST drop any datagrams arriving
/// from any source IP address other than the one recorded for the particular association").
///
/// The IP is the control connection's peer. The port is the one the client announced in its
/// UDP ASSOCIATE request, or, when it sent 0, the port of its first datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFilter {
    ip: IpAddr,
    port: Option<u16>,
}

impl ClientFilter {
    /// `control_peer`: the TCP client; `announced_port`: DST.PORT of the UDP ASSOCIATE request.
    pub fn new(control_peer: IpAddr, announced_port: u16) -> Self {
        ClientFilter {
            ip: canonical(control_peer),
            port: (announced_port != 0).then_some(announced_port),
        }
    }

    /// Whether a datagram from `from` belongs to the client (locks the port on first use).
    pub fn accept(&mut self, from: SocketAddr) -> bool {
        if canonical(from.ip()) != self.ip {
            return false;
        }
        match self.port {
            Some(port) => port == from.port(),
            None => {
                self.port = Some(from.port());
                true
            }
        }
    }

    /// Where replies go, once the client's port is known.
    pub fn client(&self) -> Option<SocketAddr> {
        self.port.map(|port| SocketAddr::new(self.ip, port))
    }
}

/// IPv4-mapped IPv6 addresses compare equal to their IPv4 form.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Per-association counters, logged when the association ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpCounters {
    /// Client datagrams sent into I2P.
    pub sent: u64,
    /// I2P datagrams relayed to the client.
    pub received: u64,
    /// Dropped: bad RFC 1928 header.
    pub bad_header: u64,
    /// Dropped: foreign source address.
    pub foreign_source: u64,
    /// Dropped: FRAG ≠ 0.
    pub fragment: u64,
    /// Dropped: not a `.i2p` destination.
    pub not_i2p: u64,
    /// Dropped: too large for an I2P datagram.
    pub oversized: u64,
    /// Dropped: the name could not be resolved (or too many waited for it).
    pub unresolved: u64,
    /// Dropped: the I2CP session did not take it (down, not ready, queue full).
    pub send_failed: u64,
    /// Dropped: from I2P but no client address known yet, or unattributable raw datagram.
    pub undeliverable: u64,
}

impl UdpCounters {
    /// Count a client datagram that was not relayed.
    pub fn count(&mut self, why: DropReason) {
        let slot = match why {
            DropReason::BadHeader => &mut self.bad_header,
            DropReason::ForeignSource => &mut self.foreign_source,
            DropReason::Fragment => &mut self.fragment,
            DropReason::NotI2p => &mut self.not_i2p,
            DropReason::Oversized => &mut self.oversized,
        };
        *slot += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn request(name: &[u8], port: u16, data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 0, 3, name.len() as u8];
        v.extend_from_slice(name);
        v.extend_from_slice(&port.to_be_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn parses_domain_ipv4_ipv6() {
        let d = request(b"echo.i2p", 7, b"xyz");
        let (h, data) = parse_udp_header(&d).unwrap();
        assert_eq!(h.target, Target::Domain(b"echo.i2p".to_vec()));
        assert_eq!((h.frag, h.port, data), (0, 7, &b"xyz"[..]));

        let v4 = [0, 0, 0, 1, 10, 0, 0, 1, 0, 53, 0xAA];
        let (h, data) = parse_udp_header(&v4).unwrap();
        assert_eq!(h.target, Target::Ipv4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!((h.port, data), (53, &[0xAA][..]));

        let mut v6 = vec![0, 0, 5, 4];
        v6.extend_from_slice(&[0; 15]);
        v6.extend_from_slice(&[1, 0, 80]);
        let (h, data) = parse_udp_header(&v6).unwrap();
        assert_eq!(h.target, Target::Ipv6(Ipv6Addr::LOCALHOST));
        assert_eq!((h.frag, h.port, data.len()), (5, 80, 0));
    }

    #[test]
    fn rejects_bad_headers() {
        assert_eq!(parse_udp_header(&[]), Err(UdpHeaderError::Truncated));
        assert_eq!(
            parse_udp_header(&[0, 1, 0, 1, 1, 2, 3, 4, 0, 0]),
            Err(UdpHeaderError::Reserved)
        );
        assert_eq!(
            parse_udp_header(&[0, 0, 0, 2, 1, 2, 3, 4, 0, 0]),
            Err(UdpHeaderError::AddressType(2))
        );
        assert_eq!(
            parse_udp_header(&[0, 0, 0, 3, 0, 0, 0]),
            Err(UdpHeaderError::EmptyDomain)
        );
        let d = request(b"a.i2p", 1, b"");
        for cut in 0..d.len() {
            assert_eq!(
                parse_udp_header(&d[..cut]),
                Err(UdpHeaderError::Truncated),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn classify_rules() {
        let ok = request(b"x.b32.i2p", 9, b"data");
        assert_eq!(
            classify_datagram(&ok, 100),
            Ok(Outgoing {
                name: "x.b32.i2p",
                port: 9,
                data: b"data"
            })
        );
        assert_eq!(classify_datagram(&ok, 3), Err(DropReason::Oversized));
        assert_eq!(classify_datagram(&ok, 4).map(|o| o.data.len()), Ok(4));
        let mut frag = ok.clone();
        frag[2] = 1;
        assert_eq!(classify_datagram(&frag, 100), Err(DropReason::Fragment));
        let clear = request(b"example.com", 53, b"q");
        assert_eq!(classify_datagram(&clear, 100), Err(DropReason::NotI2p));
        let upper = request(b"X.I2P", 53, b"q");
        assert_eq!(classify_datagram(&upper, 100), Err(DropReason::NotI2p));
        let ip = [0, 0, 0, 1, 8, 8, 8, 8, 0, 53, 1];
        assert_eq!(classify_datagram(&ip, 100), Err(DropReason::NotI2p));
        let not_utf8 = request(b"\xff.i2p", 1, b"");
        assert_eq!(classify_datagram(&not_utf8, 100), Err(DropReason::NotI2p));
        assert_eq!(classify_datagram(&[0, 0], 100), Err(DropReason::BadHeader));
    }

    #[test]
    fn encode_golden() {
        let d = encode_udp_datagram(b"ab.i2p", 0x1234, b"hi").unwrap();
        assert_eq!(d, b"\0\0\0\x03\x06ab.i2p\x12\x34hi");
        assert_eq!(d.len(), udp_header_len(6) + 2);
        assert_eq!(encode_udp_datagram(b"", 1, b""), None);
        assert_eq!(encode_udp_datagram(&[b'a'; 256], 1, b""), None);
    }

    #[test]
    fn client_filter_ip_and_port() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let mut f = ClientFilter::new(ip, 0);
        assert_eq!(f.client(), None);
        assert!(!f.accept("127.0.0.2:5000".parse().unwrap()));
        assert!(f.accept("127.0.0.1:5000".parse().unwrap()));
        assert!(!f.accept("127.0.0.1:5001".parse().unwrap()));
        assert!(f.accept("[::ffff:127.0.0.1]:5000".parse().unwrap()));
        assert_eq!(f.client(), Some("127.0.0.1:5000".parse().unwrap()));

        let mut announced = ClientFilter::new(ip, 6000);
        assert!(!announced.accept("127.0.0.1:5000".parse().unwrap()));
        assert!(announced.accept("127.0.0.1:6000".parse().unwrap()));
    }

    #[test]
    fn counters_count_each_reason() {
        let mut c = UdpCounters::default();
        for d in [
            DropReason::BadHeader,
            DropReason::ForeignSource,
            DropReason::ForeignSource,
            DropReason::Fragment,
            DropReason::NotI2p,
            DropReason::Oversized,
        ] {
            c.count(d);
        }
        assert_eq!(
            (
                c.bad_header,
                c.foreign_source,
                c.fragment,
                c.not_i2p,
                c.oversized
            ),
            (1, 2, 1, 1, 1)
        );
    }

    proptest! {
        #[test]
        fn encode_parse_round_trip(
            name in proptest::collection::vec(any::<u8>(), 1..=255),
            port in any::<u16>(),
            data in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let d = encode_udp_datagram(&name, port, &data).unwrap();
            let (h, got) = parse_udp_header(&d).unwrap();
            prop_assert_eq!(h, UdpHeader { frag: 0, target: Target::Domain(name.clone()), port });
            prop_assert_eq!(got, &data[..]);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_udp_header(&bytes);
            if let Ok(o) = classify_datagram(&bytes, 1000) {
                prop_assert!(o.name.ends_with(".i2p"));
                prop_assert!(o.data.len() <= 1000);
            }
        }
    }
}

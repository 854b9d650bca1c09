//! A minimal blocking SOCKS5 UDP ASSOCIATE client for tests (RFC 1928 section 7): the
//! association, the request header by domain name, and the relay's reply split up.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

/// RFC 1928 UDP request header for a domain name.
pub fn header(name: &str, port: u16) -> Vec<u8> {
    let mut h = vec![0, 0, 0, 3, u8::try_from(name.len()).expect("short name")];
    h.extend_from_slice(name.as_bytes());
    h.extend_from_slice(&port.to_be_bytes());
    h
}

/// A UDP association: the control connection, the relay address, our UDP socket.
pub struct Association {
    /// Held open: the proxy ends the association when it closes.
    pub control: TcpStream,
    pub relay: SocketAddr,
    pub socket: UdpSocket,
}

/// SOCKS5 UDP ASSOCIATE (DST 0.0.0.0:0). Ok(Err(rep)) when the proxy refuses.
pub fn associate(proxy: SocketAddr) -> io::Result<Result<Association, u8>> {
    let mut control = TcpStream::connect_timeout(&proxy, Duration::from_secs(10))?;
    control.set_read_timeout(Some(Duration::from_secs(30)))?;
    control.write_all(&[5, 1, 0])?;
    let mut choice = [0u8; 2];
    control.read_exact(&mut choice)?;
    if choice != [5, 0] {
        return Err(io::Error::other(format!("method selection: {choice:02x?}")));
    }
    control.write_all(&[5, 3, 0, 1, 0, 0, 0, 0, 0, 0])?;
    let mut reply = [0u8; 4];
    control.read_exact(&mut reply)?;
    if reply[1] != 0 {
        return Ok(Err(reply[1]));
    }
    if reply[3] != 1 {
        // The relay address must be IPv4 for an IPv4 client.
        return Err(io::Error::other(format!("relay address type {}", reply[3])));
    }
    let mut bound = [0u8; 6];
    control.read_exact(&mut bound)?;
    let relay = SocketAddr::from((
        Ipv4Addr::new(bound[0], bound[1], bound[2], bound[3]),
        u16::from_be_bytes([bound[4], bound[5]]),
    ));
    assert_ne!(relay.port(), 0, "relay port");
    let socket = udp_socket()?;
    Ok(Ok(Association {
        control,
        relay,
        socket,
    }))
}

/// A client UDP socket with room for a window of 32 KiB echoes (the default receive
/// buffer holds only a few).
pub fn udp_socket() -> io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    socket.set_recv_buffer_size(4 << 20)?;
    socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    Ok(socket.into())
}

/// Split a relayed datagram: (sender name, sender port, data); `None` if it is not a
/// domain-name reply header followed by data.
pub fn split_reply(d: &[u8]) -> Option<(String, u16, &[u8])> {
    let (head, rest) = d.split_at_checked(5)?;
    if head[..4] != [0, 0, 0, 3] {
        return None;
    }
    let len = usize::from(head[4]);
    let (name, rest) = rest.split_at_checked(len)?;
    let (port, data) = rest.split_at_checked(2)?;
    let name = String::from_utf8(name.to_vec()).ok()?;
    Some((name, u16::from_be_bytes([port[0], port[1]]), data))
}

/// [`split_reply`] for datagrams that must be replies: panics with what is wrong.
pub fn parse_reply(d: &[u8]) -> (String, u16, &[u8]) {
    split_reply(d).unwrap_or_else(|| panic!("not a SOCKS5 UDP reply with a domain name: {d:02x?}"))
}

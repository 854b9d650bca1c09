//! A minimal blocking SOCKS5 client for tests (no auth or an RFC 1929 login, CONNECT by
//! domain name).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Connect through the SOCKS5 proxy at `proxy` to `host:port` (ATYP 3, the way
/// `curl --socks5-hostname` does it). Read/write timeouts are set to `timeout` on the
/// returned stream. A refused CONNECT is an error of kind `ConnectionRefused` whose
/// message carries the reply code.
pub fn socks5_connect(
    proxy: SocketAddr,
    host: &str,
    port: u16,
    timeout: Duration,
) -> io::Result<TcpStream> {
    socks5_connect_as(proxy, None, host, port, timeout)
}

/// [`socks5_connect`] with `login` (username, password) offered as the only method
/// (RFC 1929); a refused login is an error of kind `PermissionDenied`.
pub fn socks5_connect_as(
    proxy: SocketAddr,
    login: Option<(&str, &str)>,
    host: &str,
    port: u16,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let name = host.as_bytes();
    let name_len = u8::try_from(name.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "host name over 255 bytes"))?;
    let mut stream = TcpStream::connect_timeout(&proxy, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;

    let method = if login.is_some() { 2 } else { 0 };
    stream.write_all(&[5, 1, method])?;
    let mut choice = [0u8; 2];
    stream.read_exact(&mut choice)?;
    if choice != [5, method] {
        return Err(io::Error::other(format!("greeting refused: {choice:02x?}")));
    }
    if let Some((user, password)) = login {
        log_in(&mut stream, user, password)?;
    }

    let mut request = vec![5, 1, 0, 3, name_len];
    request.extend_from_slice(name);
    request.extend_from_slice(&port.to_be_bytes());
    stream.write_all(&request)?;

    let mut head = [0u8; 4];
    stream.read_exact(&mut head)?;
    if head[1] != 0 {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!(
                "SOCKS5 CONNECT to {host}:{port} failed: reply {:02x}",
                head[1]
            ),
        ));
    }
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            stream.read_exact(&mut len)?;
            usize::from(len[0]) + 2
        }
        other => return Err(io::Error::other(format!("bad ATYP {other} in reply"))),
    };
    let mut bound = vec![0u8; rest];
    stream.read_exact(&mut bound)?;
    Ok(stream)
}

/// RFC 1929 username/password exchange; `PermissionDenied` unless the proxy answers 01 00.
fn log_in(stream: &mut TcpStream, user: &str, password: &str) -> io::Result<()> {
    let field = |f: &str| {
        u8::try_from(f.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "login field over 255 bytes"))
    };
    let mut request = vec![1, field(user)?];
    request.extend_from_slice(user.as_bytes());
    request.push(field(password)?);
    request.extend_from_slice(password.as_bytes());
    stream.write_all(&request)?;
    let mut status = [0u8; 2];
    stream.read_exact(&mut status)?;
    if status != [1, 0] {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("login of {user} refused: {status:02x?}"),
        ));
    }
    Ok(())
}

/// `rounds` 64-byte ping-pongs over an echo `stream`, each checked byte for byte; the round
/// trip times, sorted. `label` names the stream in a failure.
pub fn echo_round_trips(stream: &mut TcpStream, rounds: u64, label: &str) -> Vec<Duration> {
    let mut rtts = Vec::new();
    for round in 0..rounds {
        let ping = super::pattern(64, round + 1);
        let started = Instant::now();
        stream.write_all(&ping).expect("write ping");
        let mut pong = [0u8; 64];
        stream.read_exact(&mut pong).expect("read pong");
        rtts.push(started.elapsed());
        assert_eq!(pong[..], ping[..], "ping {round} via {label}");
    }
    rtts.sort();
    rtts
}

/// Write `payload` to an echo `stream` from another thread while reading it back; the
/// bytes read and the seconds it took.
pub fn echo_bulk(stream: &TcpStream, payload: Vec<u8>) -> (Vec<u8>, f64) {
    let mut writer = stream.try_clone().expect("clone stream");
    let len = payload.len();
    let started = Instant::now();
    let sender = std::thread::spawn(move || writer.write_all(&payload));
    let mut got = vec![0u8; len];
    let mut reader = stream;
    reader.read_exact(&mut got).expect("read echo");
    let secs = started.elapsed().as_secs_f64();
    sender
        .join()
        .expect("writer thread")
        .expect("write payload");
    (got, secs)
}

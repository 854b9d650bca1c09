//! HTTP CONNECT to an outproxy inside I2P (RFC 9110 section 9.3.6), sans-I/O.
//!
//! I2P's public outproxies are HTTP proxies that also accept CONNECT (what browsers use for
//! HTTPS through them); SOCKS outproxies inside I2P are rare, so this is the protocol spoken
//! to `.i2p` outproxies. The request goes out in the SYN of the I2P stream; the answer is
//! read up to the end of its header, and anything after it is the target's first bytes.
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use thiserror::Error;

/// The longest response header accepted (status line and header fields).
pub const MAX_RESPONSE_HEADER: usize = 8192;
/// The I2P port outproxies listen on when the setting names none (their HTTP port).
pub const DEFAULT_PORT: u16 = 80;

/// One outproxy inside I2P: `name.i2p` or `xxx.b32.i2p`, and the I2P port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I2pOutproxy {
    /// `.i2p` name or `.b32.i2p` address.
    pub name: String,
    /// I2P destination port.
    pub port: u16,
}

impl fmt::Display for I2pOutproxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.port)
    }
}

/// Why an outproxy entry was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("expected NAME.i2p or NAME.i2p:PORT (port 1-65535)")]
pub struct OutproxyEntryError;

impl FromStr for I2pOutproxy {
    type Err = OutproxyEntryError;

    fn from_str(text: &str) -> Result<Self, OutproxyEntryError> {
        let (name, port) = match text.rsplit_once(':') {
            Some((name, port)) => {
                let all_digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
                let port: u16 = port
                    .parse()
                    .ok()
                    .filter(|p| all_digits && *p != 0)
                    .ok_or(OutproxyEntryError)?;
                (name, port)
            }
            None => (text, DEFAULT_PORT),
        };
        let valid = name.len() > 4
            && name.len() <= 255
            && name.ends_with(".i2p")
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !valid {
            return Err(OutproxyEntryError);
        }
        Ok(I2pOutproxy {
            name: name.to_owned(),
            port,
        })
    }
}

/// A comma-separated list of outproxies (spaces around entries allowed); empty = none.
pub fn parse_list(text: &str) -> Result<Vec<I2pOutproxy>, OutproxyEntryError> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::parse)
        .collect()
}

/// The configured outproxies and which one answered last: it is tried first next time, the
/// others in list order after it (failover).
#[derive(Debug)]
pub struct I2pOutproxies {
    list: Vec<I2pOutproxy>,
    preferred: AtomicUsize,
}

impl I2pOutproxies {
    /// `None` for an empty list.
    pub fn new(list: Vec<I2pOutproxy>) -> Option<Self> {
        (!list.is_empty()).then(|| I2pOutproxies {
            list,
            preferred: AtomicUsize::new(0),
        })
    }

    /// Every outproxy, the preferred one first, then the rest in list order (wrapping).
    pub fn in_order(&self) -> Vec<(usize, &I2pOutproxy)> {
        let first = self.preferred.load(Ordering::Relaxed);
        (0..self.list.len())
            .map(|i| (first + i) % self.list.len())
            .filter_map(|i| self.list.get(i).map(|o| (i, o)))
            .collect()
    }

    /// Outproxy `index` answered: try it first from now on.
    pub fn answered(&self, index: usize) {
        self.preferred.store(index, Ordering::Relaxed);
    }
}

/// Why a CONNECT exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HttpConnectError {
    /// The host cannot be put in a request line (empty, too long, spaces or control bytes).
    #[error("host name cannot be sent in an HTTP CONNECT request")]
    BadHost,
    /// The response header is longer than [`MAX_RESPONSE_HEADER`].
    #[error("outproxy response header longer than {MAX_RESPONSE_HEADER} bytes")]
    TooLong,
    /// The status line is not `HTTP/1.x NNN ...`.
    #[error("outproxy answer is not an HTTP response")]
    NotHttp,
}

/// `CONNECT host:port HTTP/1.1` with a matching Host field.
pub fn connect_request(host: &[u8], port: u16) -> Result<Vec<u8>, HttpConnectError> {
    let printable = |b: &u8| b.is_ascii_graphic() && !matches!(b, b'/' | b'@' | b'?' | b'#');
    if host.is_empty() || host.len() > 255 || !host.iter().all(printable) {
        return Err(HttpConnectError::BadHost);
    }
    let host = std::str::from_utf8(host).map_err(|_| HttpConnectError::BadHost)?;
    Ok(format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n").into_bytes())
}

/// A complete response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// The status code (200 = tunnel open).
    pub status: u16,
    /// Bytes of the header, blank line included; what follows belongs to the tunnel.
    pub header_len: usize,
}

impl Response {
    /// A 2xx status: the tunnel is open.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Parse the start of the outproxy's answer: `Ok(None)` until the header is complete.
pub fn parse_response(input: &[u8]) -> Result<Option<Response>, HttpConnectError> {
    let Some(end) = find_header_end(input) else {
        if input.len() >= MAX_RESPONSE_HEADER {
            return Err(HttpConnectError::TooLong);
        }
        // Refuse a non-HTTP answer as soon as its first bytes show it.
        let prefix = input.len().min(5);
        if input.get(..prefix) != b"HTTP/".get(..prefix) {
            return Err(HttpConnectError::NotHttp);
        }
        return Ok(None);
    };
    if end > MAX_RESPONSE_HEADER {
        return Err(HttpConnectError::TooLong);
    }
    let status = status_code(input).ok_or(HttpConnectError::NotHttp)?;
    Ok(Some(Response {
        status,
        header_len: end,
    }))
}

/// Index just after the first `\r\n\r\n`.
fn find_header_end(input: &[u8]) -> Option<usize> {
    input
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// `HTTP/1.0 200 ...` or `HTTP/1.1 200 ...` → 200. Status codes are 100-599 (RFC 9110
/// section 15).
fn status_code(input: &[u8]) -> Option<u16> {
    let line = input.split(|&b| b == b'\r').next()?;
    let rest = line
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| line.strip_prefix(b"HTTP/1.0 "))?;
    let digits = rest.get(..3)?;
    let class_ok = digits.first().is_some_and(|d| (b'1'..=b'5').contains(d));
    if !class_ok
        || !digits.iter().all(u8::is_ascii_digit)
        || rest.get(3).is_some_and(|&b| b != b' ')
    {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes() {
        assert_eq!(
            connect_request(b"example.com", 443),
            Ok(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n".to_vec())
        );
        for bad in [&b""[..], b"a b", b"a\r\nX: y", b"user@host", b"\xff"] {
            assert_eq!(
                connect_request(bad, 1),
                Err(HttpConnectError::BadHost),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn responses() {
        let ok = b"HTTP/1.1 200 Connection established\r\nProxy-Agent: x\r\n\r\nSSH-2.0";
        assert_eq!(
            parse_response(ok),
            Ok(Some(Response {
                status: 200,
                header_len: ok.len() - 7
            }))
        );
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\n"), Ok(None));
        assert_eq!(parse_response(b"HT"), Ok(None));
        let refused = parse_response(b"HTTP/1.0 403 Forbidden\r\n\r\n");
        assert_eq!(refused.map(|r| r.map(|r| r.is_success())), Ok(Some(false)));
        assert_eq!(parse_response(b"SSH-2.0"), Err(HttpConnectError::NotHttp));
        assert_eq!(
            parse_response(b"HTTP/2 200\r\n\r\n"),
            Err(HttpConnectError::NotHttp)
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 20x OK\r\n\r\n"),
            Err(HttpConnectError::NotHttp)
        );
        // Found by the http_connect fuzz target: a status below 100 was taken.
        assert_eq!(
            parse_response(b"HTTP/1.0 004 Bad Gateway\r\n\r\n"),
            Err(HttpConnectError::NotHttp)
        );
        assert_eq!(
            parse_response(b"HTTP/1.0 600 x\r\n\r\n"),
            Err(HttpConnectError::NotHttp)
        );
        let mut long = b"HTTP/1.1 200 OK\r\n".to_vec();
        long.resize(MAX_RESPONSE_HEADER, b'a');
        assert_eq!(parse_response(&long), Err(HttpConnectError::TooLong));
    }

    #[test]
    fn failover_order_starts_at_the_last_that_answered() -> Result<(), OutproxyEntryError> {
        let all =
            I2pOutproxies::new(parse_list("a.i2p, b.i2p, c.i2p")?).ok_or(OutproxyEntryError)?;
        let names = |all: &I2pOutproxies| -> Vec<String> {
            all.in_order().iter().map(|(_, o)| o.name.clone()).collect()
        };
        assert_eq!(names(&all), ["a.i2p", "b.i2p", "c.i2p"]);
        all.answered(1);
        assert_eq!(names(&all), ["b.i2p", "c.i2p", "a.i2p"]);
        assert!(I2pOutproxies::new(Vec::new()).is_none());
        Ok(())
    }

    #[test]
    fn outproxy_lists() {
        assert_eq!(
            parse_list(" exit.i2p, abc.b32.i2p:4444 ,"),
            Ok(vec![
                I2pOutproxy {
                    name: "exit.i2p".into(),
                    port: 80
                },
                I2pOutproxy {
                    name: "abc.b32.i2p".into(),
                    port: 4444
                },
            ])
        );
        assert_eq!(parse_list(""), Ok(vec![]));
        for bad in [
            "example.com",
            "exit.i2p:0",
            "exit.i2p:+1",
            "exit.i2p:",
            ".i2p",
            "a b.i2p",
        ] {
            assert_eq!(parse_list(bad), Err(OutproxyEntryError), "{bad}");
        }
    }
}

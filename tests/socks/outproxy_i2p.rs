//! Outproxies inside I2P: HTTP CONNECT over an I2P stream, with failover, through the real
//! SOCKS driver over loopback and a fake I2P connector whose "destinations" are small CONNECT
//! proxies in memory; and properties of the CONNECT response parser. No sleeps: every wait
//! has a deadline.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use i2psocks::socks::http_connect::{
    HttpConnectError, MAX_RESPONSE_HEADER, connect_request, parse_list, parse_response,
};
use i2psocks::socks::{ConnectError, I2pConnector, I2pOutproxies, ServerConfig, bind, serve};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::timeout;

const DEADLINE: Duration = Duration::from_secs(10);

/// How a fake outproxy destination behaves.
#[derive(Clone, Copy, Debug)]
enum Proxy {
    /// No LeaseSet: the connect fails.
    Missing,
    /// Accepts the stream, then closes without answering (its CONNECT service is down).
    Closes,
    /// Answers `HTTP/1.1 <status>`; on 200 sends "hello" with the answer, then echoes.
    Answers(u16),
}

#[derive(Clone)]
struct Fake {
    proxies: HashMap<String, Proxy>,
    calls: Calls,
}

/// Every connect: (destination, first bytes sent in the SYN).
type Calls = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

impl I2pConnector for Fake {
    type Stream = DuplexStream;

    async fn connect(
        &self,
        name: &str,
        _port: u16,
        initial: Vec<u8>,
    ) -> Result<DuplexStream, ConnectError> {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push((name.to_owned(), initial.clone()));
        }
        let behaviour = self.proxies.get(name).copied().unwrap_or(Proxy::Missing);
        if let Proxy::Missing = behaviour {
            return Err(ConnectError::NotFound);
        }
        let (ours, mut theirs) = duplex(64 * 1024);
        tokio::spawn(async move {
            match behaviour {
                Proxy::Answers(200) => {
                    let _ = theirs
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\nhello")
                        .await;
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = theirs.read(&mut buf).await {
                        if n == 0 || theirs.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
                Proxy::Answers(status) => {
                    let answer = format!("HTTP/1.1 {status} No\r\nContent-Length: 0\r\n\r\n");
                    let _ = theirs.write_all(answer.as_bytes()).await;
                }
                Proxy::Closes | Proxy::Missing => drop(theirs),
            }
        });
        Ok(ours)
    }
}

struct Server {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

fn start(proxies: &[(&str, Proxy)], list: &str) -> (Server, Fake) {
    let fake = Fake {
        proxies: proxies
            .iter()
            .map(|(name, p)| ((*name).to_owned(), *p))
            .collect(),
        calls: Arc::new(Mutex::new(Vec::new())),
    };
    let listener = bind("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let mut cfg = ServerConfig::new(addr);
    let list = parse_list(list).unwrap_or_else(|e| panic!("{e}"));
    cfg.i2p_outproxies = I2pOutproxies::new(list).map(Arc::new);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, cfg, fake.clone(), async move {
        let _ = stopped.await;
    }));
    (Server { addr, _stop: stop }, fake)
}

/// `05 01 00` + CONNECT example.com:443 + "ping"; returns what came back until close or
/// until `want` bytes.
async fn connect_example(addr: SocketAddr, want: usize) -> Vec<u8> {
    let run = async {
        let mut stream = TcpStream::connect(addr).await?;
        let mut request = vec![5, 1, 0, 5, 1, 0, 3, 11];
        request.extend_from_slice(b"example.com");
        request.extend_from_slice(&443u16.to_be_bytes());
        request.extend_from_slice(b"ping");
        stream.write_all(&request).await?;
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        while out.len() < want {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(out)
    };
    match timeout(DEADLINE, run).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => panic!("client: {e}"),
        Err(_) => panic!("timed out"),
    }
}

/// 05 00 + the success reply for example.com:443.
fn success_head() -> Vec<u8> {
    let mut v = vec![5, 0, 5, 0, 0, 3, 11];
    v.extend_from_slice(b"example.com");
    v.extend_from_slice(&443u16.to_be_bytes());
    v
}

fn called(fake: &Fake) -> Vec<String> {
    fake.calls
        .lock()
        .map(|c| c.iter().map(|(n, _)| n.clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn connect_goes_through_the_first_outproxy_that_answers() {
    let (server, fake) = start(
        &[
            ("missing.i2p", Proxy::Missing),
            ("closes.i2p", Proxy::Closes),
            ("good.i2p", Proxy::Answers(200)),
        ],
        "missing.i2p, closes.i2p, good.i2p:4444",
    );
    let mut expected = success_head();
    expected.extend_from_slice(b"helloping");
    let got = connect_example(server.addr, expected.len()).await;
    assert_eq!(got, expected);
    assert_eq!(called(&fake), ["missing.i2p", "closes.i2p", "good.i2p"]);
    // The CONNECT request travelled in the SYN.
    let first = fake
        .calls
        .lock()
        .map(|c| c[0].1.clone())
        .unwrap_or_default();
    assert_eq!(
        first,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
    );
    // The next connection starts with the outproxy that answered.
    let got = connect_example(server.addr, expected.len()).await;
    assert_eq!(got, expected);
    assert_eq!(called(&fake)[3..], ["good.i2p"]);
}

#[tokio::test]
async fn an_error_status_is_network_unreachable_without_failover() {
    let (server, fake) = start(
        &[
            ("p1.i2p", Proxy::Answers(502)),
            ("p2.i2p", Proxy::Answers(200)),
        ],
        "p1.i2p, p2.i2p",
    );
    let got = connect_example(server.addr, usize::MAX).await;
    let mut expected = vec![5, 0, 5, 3, 0, 3, 11];
    expected.extend_from_slice(b"example.com");
    expected.extend_from_slice(&443u16.to_be_bytes());
    assert_eq!(got, expected);
    assert_eq!(called(&fake), ["p1.i2p"]);
}

#[tokio::test]
async fn no_outproxy_answering_is_network_unreachable() {
    let (server, fake) = start(&[("p1.i2p", Proxy::Closes)], "p1.i2p, p2.b32.i2p");
    let got = connect_example(server.addr, usize::MAX).await;
    assert_eq!(got[..4], [5, 0, 5, 3]);
    assert_eq!(called(&fake), ["p1.i2p", "p2.b32.i2p"]);
}

proptest! {
    /// Any bytes: no panic; a complete header is found at the same place however much of the
    /// input is available; a status comes with a header length within the input.
    #[test]
    fn response_parser_is_prefix_consistent(
        input in proptest::collection::vec(any::<u8>(), 0..600),
        cut in any::<usize>(),
    ) {
        let whole = parse_response(&input);
        if let Ok(Some(response)) = whole {
            prop_assert!(response.header_len <= input.len());
            prop_assert!((100..600).contains(&response.status));
            // More bytes after the header change nothing.
            let mut longer = input.clone();
            longer.extend_from_slice(b"trailing");
            prop_assert_eq!(parse_response(&longer), whole.clone());
        }
        let cut = cut % (input.len() + 1);
        match parse_response(&input[..cut]) {
            Ok(None) => {}
            Ok(Some(r)) => prop_assert_eq!(Ok(Some(r)), whole.clone()),
            Err(e) => prop_assert!(whole.is_err(), "prefix {cut}: {e:?}, whole {whole:?}"),
        }
    }

    /// Real-looking responses parse to their status, split anywhere.
    #[test]
    fn well_formed_responses_parse(
        status in 100u16..600,
        minor in 0u8..2,
        fields in proptest::collection::vec("[A-Za-z-]{1,20}: [ -~]{0,40}", 0..8),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut text = format!("HTTP/1.{minor} {status} Reason phrase\r\n");
        for field in &fields {
            text.push_str(field);
            text.push_str("\r\n");
        }
        text.push_str("\r\n");
        let header_len = text.len();
        let mut input = text.into_bytes();
        input.extend_from_slice(&body);
        let parsed = parse_response(&input);
        prop_assert_eq!(parsed.clone().map(|r| r.map(|r| (r.status, r.header_len))), Ok(Some((status, header_len))));
        for cut in 0..header_len {
            prop_assert_eq!(parse_response(&input[..cut]), Ok(None));
        }
    }

    /// Requests: either refused, or exactly one CRLF-free request line and Host field.
    #[test]
    fn requests_never_carry_line_breaks(host in proptest::collection::vec(any::<u8>(), 0..300), port in any::<u16>()) {
        match connect_request(&host, port) {
            Err(e) => prop_assert_eq!(e, HttpConnectError::BadHost),
            Ok(bytes) => {
                prop_assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 3);
                prop_assert!(bytes.starts_with(b"CONNECT "));
            }
        }
    }
}

#[test]
fn oversized_headers_are_refused() {
    let mut input = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
    input.resize(MAX_RESPONSE_HEADER + 10, b'a');
    input.extend_from_slice(b"\r\n\r\n");
    assert_eq!(parse_response(&input), Err(HttpConnectError::TooLong));
}

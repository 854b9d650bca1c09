//! Tokio front end over real loopback sockets with a fake I2P connector and a tiny upstream
//! SOCKS5 server. No sleeps for synchronisation: every wait is bounded by a deadline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::{Behaviour, FakeI2p, Proxy, hex, response_bytes, still_pending, within};
use i2psocks::socks::{BindError, ConnectError, OutproxyConfig, ServerConfig, bind, serve};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::mpsc;

const B32: &str = "ukeu3k5oycgaauneqgtnvselmt4yemvoilkln7jpvamvfx7dnkdq.b32.i2p";

fn socks5_connect(name: &str, port: u16) -> Vec<u8> {
    let mut v = hex("05 01 00 05 01 00 03");
    v.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
    v.extend_from_slice(name.as_bytes());
    v.extend_from_slice(&port.to_be_bytes());
    v
}

fn socks4a_connect(name: &str, port: u16) -> Vec<u8> {
    let mut v = vec![4, 1];
    v.extend_from_slice(&port.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 1, b'u', 0]);
    v.extend_from_slice(name.as_bytes());
    v.push(0);
    v
}

fn domain_reply(rep: u8, name: &str, port: u16) -> Vec<u8> {
    let mut v = vec![5, rep, 0, 3, u8::try_from(name.len()).unwrap_or(u8::MAX)];
    v.extend_from_slice(name.as_bytes());
    v.extend_from_slice(&port.to_be_bytes());
    v
}

/// Read everything until EOF (or error, which counts as the end).
async fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match within("read", stream.read(&mut buf)).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

async fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    within("reply bytes", stream.read_exact(&mut buf))
        .await
        .unwrap_or_else(|e| panic!("read {n} bytes: {e}"));
    buf
}

async fn send(stream: &mut TcpStream, bytes: &[u8]) {
    within("write", stream.write_all(bytes))
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
}

async fn client(addr: SocketAddr) -> TcpStream {
    within("connect", TcpStream::connect(addr))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"))
}

fn start(edit: impl FnOnce(&mut ServerConfig), connector: FakeI2p) -> Proxy {
    Proxy::start(edit, connector)
}

fn echo() -> FakeI2p {
    FakeI2p::new(Behaviour::Echo)
}

/// SOCKS4a CONNECT `name:port` through `proxy`: exactly `reply` (hex), then the stream echoes.
async fn socks4a_echoes(proxy: SocketAddr, name: &str, port: u16, reply: &str) {
    let mut c = client(proxy).await;
    send(&mut c, &socks4a_connect(name, port)).await;
    assert_eq!(read_n(&mut c, 8).await, hex(reply), "{name}:{port}");
    send(&mut c, b"ping").await;
    assert_eq!(read_n(&mut c, 4).await, b"ping".to_vec(), "{name}:{port}");
}

const SUCCESS5: &str = "05 00 05 00 00 01 00 00 00 00 00 00";

// ---------- I2P path ----------

#[tokio::test]
async fn accepts_socks5_connect_and_relays_with_pipelined_data() {
    let fake = echo();
    let server = start(|_| {}, fake.clone());
    let mut c = client(server.addr).await;
    let mut input = socks5_connect(B32, 80);
    input.extend_from_slice(b"hello ");
    send(&mut c, &input).await;
    assert_eq!(read_n(&mut c, 12).await, hex(SUCCESS5));
    send(&mut c, b"world").await;
    assert_eq!(read_n(&mut c, 11).await, b"hello world".to_vec());
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].name, B32);
    assert_eq!(calls[0].port, 80);
    server.stop().await;
}

#[tokio::test]
async fn accepts_socks4a_connect() {
    let server = start(|_| {}, echo());
    socks4a_echoes(server.addr, B32, 8080, "00 5a 1f 90 00 00 00 01").await;
    server.stop().await;
}

/// CONNECT with a pipelined request, then the client's FIN at once: the whole response
/// still arrives after the success reply (the I2P side answers only after the FIN).
async fn pipelined_request_then_fin(behaviour: Behaviour, response: usize) {
    let server = start(|_| {}, FakeI2p::new(behaviour));
    let mut c = client(server.addr).await;
    let mut input = socks5_connect(B32, 80);
    input.extend_from_slice(b"GET / HTTP/1.0\r\n\r\n");
    send(&mut c, &input).await;
    c.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    let got = read_all(&mut c).await;
    let mut want = hex(SUCCESS5);
    want.extend(response_bytes(response));
    assert_eq!(got.len(), want.len());
    assert!(got == want, "response differs");
    server.stop().await;
}

#[tokio::test]
async fn accepts_half_close_and_delivers_full_response() {
    pipelined_request_then_fin(Behaviour::RespondAfterEof(300_000), 300_000).await;
}

#[tokio::test]
async fn accepts_half_close_after_reply() {
    const RESPONSE: usize = 100_000;
    let server = start(|_| {}, FakeI2p::new(Behaviour::RespondAfterEof(RESPONSE)));
    let mut c = client(server.addr).await;
    send(&mut c, &socks5_connect(B32, 80)).await;
    assert_eq!(read_n(&mut c, 12).await, hex(SUCCESS5));
    send(&mut c, b"request").await;
    c.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(read_all(&mut c).await == response_bytes(RESPONSE));
    server.stop().await;
}

#[tokio::test]
async fn rejects_client_leaving_during_lookup_and_drops_connect() {
    let (tx, mut dropped) = mpsc::unbounded_channel();
    let server = start(|_| {}, FakeI2p::new(Behaviour::Pending(tx)));
    let mut c = client(server.addr).await;
    send(&mut c, &socks5_connect(B32, 80)).await;
    assert_eq!(read_n(&mut c, 2).await, hex("05 00"));
    // A reset (not a FIN, which may be a half-close that still wants its reply).
    socket2::SockRef::from(&c)
        .set_linger(Some(Duration::ZERO))
        .unwrap_or_else(|e| panic!("{e}"));
    drop(c);
    assert_eq!(
        within("connect future dropped", dropped.recv()).await,
        Some(())
    );
    server.stop().await;
}

#[tokio::test]
async fn rejects_silent_client_after_handshake_timeout() {
    let limit = Duration::from_millis(300);
    let server = start(|cfg| cfg.handshake_timeout = Some(limit), echo());
    let started = Instant::now();
    let mut c = client(server.addr).await;
    send(&mut c, &hex("05 01 00")).await;
    assert_eq!(read_all(&mut c).await, hex("05 00"));
    assert!(started.elapsed() >= limit, "closed too early");
    server.stop().await;
}

#[tokio::test]
async fn accepts_slow_client_without_timeout() {
    let server = start(|cfg| cfg.handshake_timeout = None, echo());
    let mut c = client(server.addr).await;
    send(&mut c, &hex("05 01 00")).await;
    assert_eq!(read_n(&mut c, 2).await, hex("05 00"));
    // Still open after a while: a read stays pending.
    let mut byte = [0u8; 1];
    assert!(still_pending(Duration::from_millis(300), c.read(&mut byte)).await);
    server.stop().await;
}

#[tokio::test]
async fn accepts_clients_beyond_cap_only_after_a_slot_frees() {
    let server = start(|cfg| cfg.max_connections = 1, echo());
    let mut first = client(server.addr).await;
    send(&mut first, &socks5_connect(B32, 80)).await;
    assert_eq!(read_n(&mut first, 12).await, hex(SUCCESS5));
    // The second client sits in the listen backlog: no method reply while the first lives.
    let mut second = client(server.addr).await;
    send(&mut second, &hex("05 01 00")).await;
    let mut buf = [0u8; 2];
    assert!(
        still_pending(Duration::from_millis(300), second.read_exact(&mut buf)).await,
        "second client served despite the cap"
    );
    first.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    let _ = read_all(&mut first).await;
    drop(first);
    assert_eq!(read_n(&mut second, 2).await, hex("05 00"));
    server.stop().await;
}

// ---------- refusals ----------

/// Where non-I2P names go in a refusal case.
#[derive(Clone, Copy)]
enum Outproxy {
    None,
    /// An upstream SOCKS5 server that behaves like this.
    Upstream(Upstream),
    /// An upstream address nobody listens on.
    Down,
}

/// One request the proxy must refuse: the exact reply, then the connection closes.
struct Refusal {
    what: &'static str,
    outproxy: Outproxy,
    lookup: Option<ConnectError>,
    request: Vec<u8>,
    reply: Vec<u8>,
    /// How many connects reach the I2P side (0: refused before any lookup).
    lookups: usize,
}

/// The expected reply: `head` (hex), then SOCKS5's answer naming `name:port` with `rep`.
fn with_domain_reply(head: &str, rep: u8, name: &str, port: u16) -> Vec<u8> {
    let mut v = hex(head);
    v.extend(domain_reply(rep, name, port));
    v
}

fn refusals() -> Vec<Refusal> {
    use ConnectError::{NotFound, RouterDown};
    use Outproxy::{Down, Upstream as Up};
    let case = |what, outproxy, lookup, request, reply, lookups| Refusal {
        what,
        outproxy,
        lookup,
        request,
        reply,
        lookups,
    };
    let clearnet = || socks5_connect("example.com", 80);
    let refused_03 = || with_domain_reply("05 00", 3, "example.com", 80);
    vec![
        case(
            "name not found: 04",
            Outproxy::None,
            Some(NotFound),
            socks5_connect("nosuchhost.i2p", 80),
            hex("05 00 05 04 00 01 00 00 00 00 00 00"),
            1,
        ),
        case(
            "router down: general failure",
            Outproxy::None,
            Some(RouterDown),
            socks5_connect(B32, 80),
            hex("05 00 05 01 00 01 00 00 00 00 00 00"),
            1,
        ),
        case(
            "SOCKS4a name not found: 91",
            Outproxy::None,
            Some(NotFound),
            socks4a_connect("nosuchhost.i2p", 80),
            hex("00 5b 00 50 00 00 00 01"),
            1,
        ),
        case(
            "clearnet name without outproxy: 08",
            Outproxy::None,
            None,
            clearnet(),
            with_domain_reply("05 00", 8, "example.com", 80),
            0,
        ),
        case(
            "version 06: closed without a reply",
            Outproxy::None,
            None,
            hex("06 01 00"),
            Vec::new(),
            0,
        ),
        case(
            "IP literal even with an outproxy: 08",
            Up(Upstream::Ok),
            None,
            hex("05 01 00 05 01 00 01 7f 00 00 01 00 50"),
            hex("05 00 05 08 00 01 7f 00 00 01 00 50"),
            0,
        ),
        case(
            "outproxy refuses CONNECT: 03",
            Up(Upstream::Refuse(5)),
            None,
            clearnet(),
            refused_03(),
            0,
        ),
        case(
            "outproxy refuses the method: 03",
            Up(Upstream::NoMethod),
            None,
            clearnet(),
            refused_03(),
            0,
        ),
        case("outproxy down: 03", Down, None, clearnet(), refused_03(), 0),
        case(
            "outproxy down, SOCKS4a: 91",
            Down,
            None,
            socks4a_connect("example.com", 80),
            hex("00 5b 00 50 00 00 00 01"),
            0,
        ),
    ]
}

/// The outproxy address for a case: a live upstream, or a port nobody listens on.
async fn outproxy_addr(outproxy: Outproxy) -> Option<SocketAddr> {
    match outproxy {
        Outproxy::None => None,
        Outproxy::Upstream(mode) => Some(spawn_upstream(mode).await.0),
        Outproxy::Down => {
            let closed = TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            Some(closed.local_addr().unwrap_or_else(|e| panic!("{e}")))
        }
    }
}

#[tokio::test]
async fn refusals_get_the_documented_reply_then_close() {
    for case in refusals() {
        let fake = match case.lookup.clone() {
            Some(error) => FakeI2p::new(Behaviour::Fail(error)),
            None => echo(),
        };
        let server = match outproxy_addr(case.outproxy).await {
            Some(up) => start(with_outproxy(up.ip().to_string(), up.port()), fake.clone()),
            None => start(|_| {}, fake.clone()),
        };
        let mut c = client(server.addr).await;
        send(&mut c, &case.request).await;
        assert_eq!(read_all(&mut c).await, case.reply, "{}", case.what);
        assert_eq!(fake.calls().len(), case.lookups, "{}: lookups", case.what);
        server.stop().await;
    }
}

// ---------- bind ----------

#[tokio::test]
async fn rejects_port_in_use_with_i2pd_hint() {
    let taken = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = taken.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let error = match bind(addr) {
        Err(error) => error,
        Ok(_) => panic!("second bind succeeded"),
    };
    assert!(matches!(error, BindError::AddrInUse { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("[socksproxy] enabled = false"), "{text}");
    assert!(text.contains("--socksproxy.enabled=false"), "{text}");
}

#[tokio::test]
async fn accepts_ipv6_listener() {
    let Ok(addr) = "[::1]:0".parse::<SocketAddr>() else {
        panic!("parse");
    };
    match bind(addr) {
        Ok(listener) => {
            let local = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
            assert!(local.is_ipv6());
        }
        // Hosts without IPv6 loopback cannot run this check.
        Err(BindError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::AddrNotAvailable => {}
        Err(error) => panic!("{error}"),
    }
}

// ---------- outproxy ----------

#[derive(Clone, Copy)]
enum Upstream {
    /// Accept, reply with a long bound name, then echo.
    Ok,
    /// Reply to CONNECT with this REP.
    Refuse(u8),
    /// Reject the method selection.
    NoMethod,
}

/// One upstream SOCKS5 session; sends what it received (greeting + request) on `seen`.
async fn upstream_session<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    mode: Upstream,
    seen: mpsc::UnboundedSender<Vec<u8>>,
) {
    let mut greeting = [0u8; 3];
    if s.read_exact(&mut greeting).await.is_err() {
        return;
    }
    if matches!(mode, Upstream::NoMethod) {
        let _ = s.write_all(&[5, 0xff]).await;
        let _ = seen.send(greeting.to_vec());
        return;
    }
    let _ = s.write_all(&[5, 0]).await;
    let mut head = [0u8; 5];
    if s.read_exact(&mut head).await.is_err() {
        return;
    }
    let mut rest = vec![0u8; usize::from(head[4]) + 2];
    if s.read_exact(&mut rest).await.is_err() {
        return;
    }
    let mut all = greeting.to_vec();
    all.extend_from_slice(&head);
    all.extend_from_slice(&rest);
    let _ = seen.send(all);
    match mode {
        Upstream::Refuse(rep) => {
            let _ = s.write_all(&[5, rep, 0, 1, 0, 0, 0, 0, 0, 0]).await;
        }
        _ => {
            // A bound name of 130 bytes: i2pd reads its length as signed and breaks.
            let bound = "b".repeat(130);
            let _ = s.write_all(&domain_reply(0, &bound, 9)).await;
            let (mut r, mut w) = tokio::io::split(s);
            let _ = tokio::io::copy(&mut r, &mut w).await;
            let _ = w.shutdown().await;
        }
    }
}

async fn spawn_upstream(mode: Upstream) -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(upstream_session(s, mode, tx.clone()));
        }
    });
    (addr, rx)
}

fn with_outproxy(host: String, port: u16) -> impl FnOnce(&mut ServerConfig) {
    move |cfg| cfg.outproxy = Some(OutproxyConfig { host, port })
}

#[tokio::test]
async fn accepts_outproxy_connect_and_relays() {
    let (up, mut seen) = spawn_upstream(Upstream::Ok).await;
    let fake = echo();
    let server = start(with_outproxy(up.ip().to_string(), up.port()), fake.clone());
    let mut c = client(server.addr).await;
    let mut input = socks5_connect("example.com", 443);
    input.extend_from_slice(b"early ");
    send(&mut c, &input).await;
    let mut want = hex("05 00");
    want.extend(domain_reply(0, "example.com", 443));
    assert_eq!(read_n(&mut c, want.len()).await, want);
    send(&mut c, b"bird").await;
    assert_eq!(read_n(&mut c, 10).await, b"early bird".to_vec());
    let mut upstream_saw = hex("05 01 00");
    upstream_saw.extend(socks5_connect("example.com", 443).split_off(3));
    assert_eq!(within("upstream", seen.recv()).await, Some(upstream_saw));
    assert!(fake.calls().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn accepts_outproxy_for_socks4a() {
    let (up, _seen) = spawn_upstream(Upstream::Ok).await;
    let server = start(with_outproxy(up.ip().to_string(), up.port()), echo());
    socks4a_echoes(server.addr, "example.org", 80, "00 5a 00 50 00 00 00 01").await;
    server.stop().await;
}

#[tokio::test]
async fn accepts_unix_socket_outproxy() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("upstream.sock");
    let listener = UnixListener::bind(&path).unwrap_or_else(|e| panic!("{e}"));
    let (tx, mut seen) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(upstream_session(s, Upstream::Ok, tx.clone()));
        }
    });
    let server = start(
        with_outproxy(path.to_string_lossy().into_owned(), 0),
        echo(),
    );
    let mut c = client(server.addr).await;
    send(&mut c, &socks5_connect("example.net", 80)).await;
    let mut want = hex("05 00");
    want.extend(domain_reply(0, "example.net", 80));
    assert_eq!(read_n(&mut c, want.len()).await, want);
    send(&mut c, b"via unix").await;
    assert_eq!(read_n(&mut c, 8).await, b"via unix".to_vec());
    assert!(within("upstream", seen.recv()).await.is_some());
    server.stop().await;
}

#[tokio::test]
async fn rejects_with_reply_intact_despite_unread_pipelined_payload() {
    let server = start(
        |_| {},
        FakeI2p::new(Behaviour::Fail(ConnectError::NotFound)),
    );
    let c = client(server.addr).await;
    let (mut rd, mut wr) = c.into_split();
    let mut input = socks5_connect("nosuchhost.i2p", 80);
    input.extend(vec![b'x'; 200_000]);
    let writer = tokio::spawn(async move {
        // The server may close before taking everything; that is fine.
        let _ = wr.write_all(&input).await;
        wr
    });
    // Read only after the server took (or refused) everything, as a slow client would.
    let _ = within("writer", writer).await;
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        match within("reply", rd.read(&mut buf)).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(got, hex("05 00 05 04 00 01 00 00 00 00 00 00"));
    server.stop().await;
}

#[tokio::test]
async fn accepts_half_close_during_slow_lookup_when_data_was_sent() {
    let lookup = Duration::from_millis(200);
    pipelined_request_then_fin(Behaviour::SlowRespondAfterEof(lookup, 50_000), 50_000).await;
}

/// A client that half-closes right after CONNECT, with nothing sent, still gets its reply
/// once the lookup ends (i2pd answers `05 04` at once): the failure code here...
#[tokio::test]
async fn half_close_during_lookup_with_nothing_sent_still_gets_the_failure_reply() {
    let server = start(
        |_| {},
        FakeI2p::new(Behaviour::Fail(ConnectError::NotFound)),
    );
    let mut c = client(server.addr).await;
    c.write_all(&socks5_connect(B32, 80))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    c.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        read_all(&mut c).await,
        hex("05 00 05 04 00 01 00 00 00 00 00 00")
    );
    server.stop().await;
}

/// ... and the success reply plus the answer when the destination is there.
#[tokio::test]
async fn half_close_during_slow_lookup_with_nothing_sent_gets_success_and_answer() {
    const RESPONSE: usize = 1000;
    let server = start(
        |_| {},
        FakeI2p::new(Behaviour::SlowRespondAfterEof(
            Duration::from_millis(200),
            RESPONSE,
        )),
    );
    let mut c = client(server.addr).await;
    c.write_all(&socks5_connect(B32, 80))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    c.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    let mut want = hex(SUCCESS5);
    want.extend(response_bytes(RESPONSE));
    assert!(read_all(&mut c).await == want);
    server.stop().await;
}

#[tokio::test]
async fn accepts_ctrl_c_style_shutdown_future() {
    let listener = bind("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"));
    let cfg = ServerConfig::new(listener.local_addr().unwrap_or_else(|e| panic!("{e}")));
    // A shutdown future with a non-unit output, already complete: serve returns at once.
    let result = within(
        "serve",
        serve(listener, cfg, echo(), async { std::io::Result::Ok(()) }),
    )
    .await;
    assert!(result.is_ok());
}

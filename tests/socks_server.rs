//! Tokio front end over real loopback sockets with a fake I2P connector and a tiny upstream
//! SOCKS5 server. No sleeps for synchronisation: every wait is bounded by a deadline.
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use i2psocks::socks::{
    BindError, ConnectError, I2pConnector, OutproxyConfig, ServerConfig, bind, serve,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, duplex};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::timeout;

const DEADLINE: Duration = Duration::from_secs(10);
const B32: &str = "ukeu3k5oycgaauneqgtnvselmt4yemvoilkln7jpvamvfx7dnkdq.b32.i2p";

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap_or_else(|_| panic!("bad hex {b}")))
        .collect()
}

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

async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match timeout(DEADLINE, fut).await {
        Ok(out) => out,
        Err(_) => panic!("timed out waiting for {what}"),
    }
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

// ---------- fake I2P side ----------

#[derive(Clone)]
enum Behaviour {
    /// Echo every byte (the initial data first).
    Echo,
    /// Read the request until EOF, then answer with `n` bytes and close.
    RespondAfterEof(usize),
    /// Like `RespondAfterEof`, but the lookup takes this long first.
    SlowRespondAfterEof(Duration, usize),
    /// Fail with this error.
    Fail(ConnectError),
    /// Never finish; report on `dropped` when the future is dropped.
    Pending(mpsc::UnboundedSender<()>),
}

#[derive(Clone)]
struct Fake {
    behaviour: Behaviour,
    calls: Calls,
}

/// Every connect call: name, port, initial data.
type Calls = Arc<Mutex<Vec<(String, u16, Vec<u8>)>>>;

impl Fake {
    fn new(behaviour: Behaviour) -> Self {
        Fake {
            behaviour,
            calls: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

struct DropSignal(mpsc::UnboundedSender<()>);
impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

fn response_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| u8::try_from(i % 251).unwrap_or(0)).collect()
}

impl I2pConnector for Fake {
    type Stream = DuplexStream;

    fn connect(
        &self,
        name: &str,
        port: u16,
        initial_data: Vec<u8>,
    ) -> impl Future<Output = Result<DuplexStream, ConnectError>> + Send {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push((name.to_owned(), port, initial_data.clone()));
        }
        let behaviour = self.behaviour.clone();
        async move {
            match behaviour {
                Behaviour::Fail(error) => Err(error),
                Behaviour::Pending(tx) => {
                    let _signal = DropSignal(tx);
                    std::future::pending::<()>().await;
                    Err(ConnectError::NotFound)
                }
                Behaviour::Echo => {
                    let (near, far) = duplex(64 * 1024);
                    tokio::spawn(async move {
                        let (mut r, mut w) = tokio::io::split(far);
                        let _ = w.write_all(&initial_data).await;
                        let _ = tokio::io::copy(&mut r, &mut w).await;
                        let _ = w.shutdown().await;
                    });
                    Ok(near)
                }
                Behaviour::SlowRespondAfterEof(lookup, n) => {
                    // Simulated lookup latency, not synchronisation: the result must be the
                    // same whenever the client's FIN arrives.
                    tokio::time::sleep(lookup).await;
                    let (near, mut far) = duplex(64 * 1024);
                    tokio::spawn(async move {
                        let mut request = initial_data;
                        let _ = far.read_to_end(&mut request).await;
                        let _ = far.write_all(&response_bytes(n)).await;
                        let _ = far.shutdown().await;
                    });
                    Ok(near)
                }
                Behaviour::RespondAfterEof(n) => {
                    let (near, mut far) = duplex(64 * 1024);
                    tokio::spawn(async move {
                        let mut request = initial_data;
                        let _ = far.read_to_end(&mut request).await;
                        let _ = far.write_all(&response_bytes(n)).await;
                        let _ = far.shutdown().await;
                    });
                    Ok(near)
                }
            }
        }
    }
}

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = within("serve to return", &mut self.task).await;
        assert!(
            matches!(result, Ok(Ok(()))),
            "serve ended badly: {result:?}"
        );
    }
}

fn start(cfg_edit: impl FnOnce(&mut ServerConfig), connector: Fake) -> Running {
    let listener = bind("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let mut cfg = ServerConfig::new(addr);
    cfg_edit(&mut cfg);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, cfg, connector, async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop: Some(stop),
        task,
    }
}

async fn client(addr: SocketAddr) -> TcpStream {
    within("connect", TcpStream::connect(addr))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"))
}

const SUCCESS5: &str = "05 00 05 00 00 01 00 00 00 00 00 00";

// ---------- I2P path ----------

#[tokio::test]
async fn accepts_socks5_connect_and_relays_with_pipelined_data() {
    let fake = Fake::new(Behaviour::Echo);
    let server = start(|_| {}, fake.clone());
    let mut c = client(server.addr).await;
    let mut input = socks5_connect(B32, 80);
    input.extend_from_slice(b"hello ");
    c.write_all(&input).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_n(&mut c, 12).await, hex(SUCCESS5));
    c.write_all(b"world")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_n(&mut c, 11).await, b"hello world".to_vec());
    let calls = fake.calls.lock().map(|c| c.clone()).unwrap_or_default();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, B32);
    assert_eq!(calls[0].1, 80);
    server.stop().await;
}

#[tokio::test]
async fn accepts_socks4a_connect() {
    let server = start(|_| {}, Fake::new(Behaviour::Echo));
    let mut c = client(server.addr).await;
    c.write_all(&socks4a_connect(B32, 8080))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_n(&mut c, 8).await, hex("00 5a 1f 90 00 00 00 01"));
    c.write_all(b"ping").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_n(&mut c, 4).await, b"ping".to_vec());
    server.stop().await;
}

#[tokio::test]
async fn rejects_not_found_with_04_and_close() {
    let server = start(|_| {}, Fake::new(Behaviour::Fail(ConnectError::NotFound)));
    let mut c = client(server.addr).await;
    c.write_all(&socks5_connect("nosuchhost.i2p", 80))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        read_all(&mut c).await,
        hex("05 00 05 04 00 01 00 00 00 00 00 00")
    );
    server.stop().await;
}

#[tokio::test]
async fn rejects_router_down_with_general_failure() {
    let server = start(|_| {}, Fake::new(Behaviour::Fail(ConnectError::RouterDown)));
    let mut c = client(server.addr).await;
    c.write_all(&socks5_connect(B32, 80))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        read_all(&mut c).await,
        hex("05 00 05 01 00 01 00 00 00 00 00 00")
    );
    server.stop().await;
}

#[tokio::test]
async fn rejects_socks4a_not_found_with_91() {
    let server = start(|_| {}, Fake::new(Behaviour::Fail(ConnectError::NotFound)));
    let mut c = client(server.addr).await;
    c.write_all(&socks4a_connect("nosuchhost.i2p", 80))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_all(&mut c).await, hex("00 5b 00 50 00 00 00 01"));
    server.stop().await;
}

#[tokio::test]
async fn rejects_clearnet_without_outproxy_and_version_06() {
    let fake = Fake::new(Behaviour::Echo);
    let server = start(|_| {}, fake.clone());
    let mut c = client(server.addr).await;
    c.write_all(&socks5_connect("example.com", 80))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut want = hex("05 00");
    want.extend(domain_reply(8, "example.com", 80));
    assert_eq!(read_all(&mut c).await, want);
    let mut c = client(server.addr).await;
    c.write_all(&hex("06 01 00"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(read_all(&mut c).await.is_empty());
    assert!(fake.calls.lock().map(|c| c.is_empty()).unwrap_or(false));
    server.stop().await;
}

#[tokio::test]
async fn accepts_half_close_and_delivers_full_response() {
    const RESPONSE: usize = 300_000;
    let server = start(|_| {}, Fake::new(Behaviour::RespondAfterEof(RESPONSE)));
    let mut c = client(server.addr).await;
    let mut input = socks5_connect(B32, 80);
    input.extend_from_slice(b"GET / HTTP/1.0\r\n\r\n");
    c.write_all(&input).await.unwrap_or_else(|e| panic!("{e}"));
    c.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    let got = read_all(&mut c).await;
    let mut want = hex(SUCCESS5);
    want.extend(response_bytes(RESPONSE));
    assert_eq!(got.len(), want.len());
    assert!(got == want, "response differs");
    server.stop().await;
}

#[tokio::test]
async fn accepts_half_close_after_reply() {
    const RESPONSE: usize = 100_000;
    let server = start(|_| {}, Fake::new(Behaviour::RespondAfterEof(RESPONSE)));
    let mut c = client(server.addr).await;
    c.write_all(&socks5_connect(B32, 80))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_n(&mut c, 12).await, hex(SUCCESS5));
    c.write_all(b"request")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    c.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(read_all(&mut c).await == response_bytes(RESPONSE));
    server.stop().await;
}

#[tokio::test]
async fn rejects_client_leaving_during_lookup_and_drops_connect() {
    let (tx, mut dropped) = mpsc::unbounded_channel();
    let server = start(|_| {}, Fake::new(Behaviour::Pending(tx)));
    let mut c = client(server.addr).await;
    c.write_all(&socks5_connect(B32, 80))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
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
    let server = start(
        |cfg| cfg.handshake_timeout = Some(limit),
        Fake::new(Behaviour::Echo),
    );
    let started = Instant::now();
    let mut c = client(server.addr).await;
    c.write_all(&hex("05 01 00"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_all(&mut c).await, hex("05 00"));
    assert!(started.elapsed() >= limit, "closed too early");
    server.stop().await;
}

#[tokio::test]
async fn accepts_slow_client_without_timeout() {
    let server = start(
        |cfg| cfg.handshake_timeout = None,
        Fake::new(Behaviour::Echo),
    );
    let mut c = client(server.addr).await;
    c.write_all(&hex("05 01 00"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_n(&mut c, 2).await, hex("05 00"));
    // Still open after a while: a read stays pending.
    let mut byte = [0u8; 1];
    assert!(
        timeout(Duration::from_millis(300), c.read(&mut byte))
            .await
            .is_err()
    );
    server.stop().await;
}

#[tokio::test]
async fn accepts_clients_beyond_cap_only_after_a_slot_frees() {
    let server = start(|cfg| cfg.max_connections = 1, Fake::new(Behaviour::Echo));
    let mut first = client(server.addr).await;
    first
        .write_all(&socks5_connect(B32, 80))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_n(&mut first, 12).await, hex(SUCCESS5));
    // The second client sits in the listen backlog: no method reply while the first lives.
    let mut second = client(server.addr).await;
    second
        .write_all(&hex("05 01 00"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut buf = [0u8; 2];
    assert!(
        timeout(Duration::from_millis(300), second.read_exact(&mut buf))
            .await
            .is_err(),
        "second client served despite the cap"
    );
    first.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    let _ = read_all(&mut first).await;
    drop(first);
    assert_eq!(read_n(&mut second, 2).await, hex("05 00"));
    server.stop().await;
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
    let fake = Fake::new(Behaviour::Echo);
    let server = start(with_outproxy(up.ip().to_string(), up.port()), fake.clone());
    let mut c = client(server.addr).await;
    let mut input = socks5_connect("example.com", 443);
    input.extend_from_slice(b"early ");
    c.write_all(&input).await.unwrap_or_else(|e| panic!("{e}"));
    let mut want = hex("05 00");
    want.extend(domain_reply(0, "example.com", 443));
    assert_eq!(read_n(&mut c, want.len()).await, want);
    c.write_all(b"bird").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_n(&mut c, 10).await, b"early bird".to_vec());
    let mut upstream_saw = hex("05 01 00");
    upstream_saw.extend(socks5_connect("example.com", 443).split_off(3));
    assert_eq!(within("upstream", seen.recv()).await, Some(upstream_saw));
    assert!(fake.calls.lock().map(|c| c.is_empty()).unwrap_or(false));
    server.stop().await;
}

#[tokio::test]
async fn accepts_outproxy_for_socks4a() {
    let (up, _seen) = spawn_upstream(Upstream::Ok).await;
    let server = start(
        with_outproxy(up.ip().to_string(), up.port()),
        Fake::new(Behaviour::Echo),
    );
    let mut c = client(server.addr).await;
    c.write_all(&socks4a_connect("example.org", 80))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_n(&mut c, 8).await, hex("00 5a 00 50 00 00 00 01"));
    c.write_all(b"x").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_n(&mut c, 1).await, b"x".to_vec());
    server.stop().await;
}

#[tokio::test]
async fn rejects_outproxy_refusal_with_03() {
    for mode in [Upstream::Refuse(5), Upstream::NoMethod] {
        let (up, _seen) = spawn_upstream(mode).await;
        let server = start(
            with_outproxy(up.ip().to_string(), up.port()),
            Fake::new(Behaviour::Echo),
        );
        let mut c = client(server.addr).await;
        c.write_all(&socks5_connect("example.com", 80))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut want = hex("05 00");
        want.extend(domain_reply(3, "example.com", 80));
        assert_eq!(read_all(&mut c).await, want);
        server.stop().await;
    }
}

#[tokio::test]
async fn rejects_outproxy_down_with_03_and_socks4_91() {
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        l.local_addr().unwrap_or_else(|e| panic!("{e}"))
    };
    let server = start(
        with_outproxy(closed.ip().to_string(), closed.port()),
        Fake::new(Behaviour::Echo),
    );
    let mut c = client(server.addr).await;
    c.write_all(&socks5_connect("example.com", 80))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut want = hex("05 00");
    want.extend(domain_reply(3, "example.com", 80));
    assert_eq!(read_all(&mut c).await, want);
    let mut c = client(server.addr).await;
    c.write_all(&socks4a_connect("example.com", 80))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_all(&mut c).await, hex("00 5b 00 50 00 00 00 01"));
    server.stop().await;
}

#[tokio::test]
async fn rejects_ip_literal_even_with_outproxy() {
    let (up, _seen) = spawn_upstream(Upstream::Ok).await;
    let server = start(
        with_outproxy(up.ip().to_string(), up.port()),
        Fake::new(Behaviour::Echo),
    );
    let mut c = client(server.addr).await;
    c.write_all(&hex("05 01 00 05 01 00 01 7f 00 00 01 00 50"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        read_all(&mut c).await,
        hex("05 00 05 08 00 01 7f 00 00 01 00 50")
    );
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
        Fake::new(Behaviour::Echo),
    );
    let mut c = client(server.addr).await;
    c.write_all(&socks5_connect("example.net", 80))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut want = hex("05 00");
    want.extend(domain_reply(0, "example.net", 80));
    assert_eq!(read_n(&mut c, want.len()).await, want);
    c.write_all(b"via unix")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read_n(&mut c, 8).await, b"via unix".to_vec());
    assert!(within("upstream", seen.recv()).await.is_some());
    server.stop().await;
}

#[tokio::test]
async fn rejects_with_reply_intact_despite_unread_pipelined_payload() {
    let server = start(|_| {}, Fake::new(Behaviour::Fail(ConnectError::NotFound)));
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
    const RESPONSE: usize = 50_000;
    let server = start(
        |_| {},
        Fake::new(Behaviour::SlowRespondAfterEof(
            Duration::from_millis(200),
            RESPONSE,
        )),
    );
    let mut c = client(server.addr).await;
    let mut input = socks5_connect(B32, 80);
    input.extend_from_slice(b"GET / HTTP/1.0\r\n\r\n");
    c.write_all(&input).await.unwrap_or_else(|e| panic!("{e}"));
    c.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    let mut want = hex(SUCCESS5);
    want.extend(response_bytes(RESPONSE));
    assert!(read_all(&mut c).await == want);
    server.stop().await;
}

/// A client that half-closes right after CONNECT, with nothing sent, still gets its reply
/// once the lookup ends (i2pd answers `05 04` at once): the failure code here...
#[tokio::test]
async fn half_close_during_lookup_with_nothing_sent_still_gets_the_failure_reply() {
    let server = start(|_| {}, Fake::new(Behaviour::Fail(ConnectError::NotFound)));
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
        Fake::new(Behaviour::SlowRespondAfterEof(
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
        serve(listener, cfg, Fake::new(Behaviour::Echo), async {
            std::io::Result::Ok(())
        }),
    )
    .await;
    assert!(result.is_ok());
}

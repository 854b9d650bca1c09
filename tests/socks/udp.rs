//! SOCKS5 UDP ASSOCIATE over real loopback sockets with an in-memory I2P side (a fake
//! [`DatagramBackend`] that echoes every datagram from one destination). No router needed.
//! No sleeps for synchronisation: every wait is bounded by a deadline.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{DEADLINE, still_pending, within};
use i2psocks::data::{CRYPTO_X25519, Destination, PrivateKeys, SIG_ED25519};
use i2psocks::socks::{
    ConnectError, DatagramBackend, DatagramPort, I2pConnector, IncomingDatagram, ResolveFuture,
    ServerConfig, UdpRelayConfig, bind, serve,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};

/// The fake's payload limit.
const MAX: usize = 1000;

/// Echoes every datagram back from `peer` (repliable) or with no sender (raw).
struct EchoBackend {
    peer: Destination,
    raw: bool,
    ports: Arc<Mutex<HashMap<u16, mpsc::Sender<IncomingDatagram>>>>,
    next: AtomicUsize,
    lookups: AtomicUsize,
}

struct Release(
    Arc<Mutex<HashMap<u16, mpsc::Sender<IncomingDatagram>>>>,
    u16,
);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.lock().expect("lock").remove(&self.1);
    }
}

impl EchoBackend {
    fn new(raw: bool) -> Arc<EchoBackend> {
        let keys = PrivateKeys::generate(SIG_ED25519, CRYPTO_X25519).expect("keys");
        Arc::new(EchoBackend {
            peer: keys.destination().clone(),
            raw,
            ports: Arc::default(),
            next: AtomicUsize::new(5000),
            lookups: AtomicUsize::new(0),
        })
    }

    fn open_ports(&self) -> usize {
        self.ports.lock().expect("lock").len()
    }
}

impl DatagramBackend for EchoBackend {
    fn open(&self) -> Option<DatagramPort> {
        let port = u16::try_from(self.next.fetch_add(1, Ordering::SeqCst)).ok()?;
        let (tx, rx) = mpsc::channel(64);
        self.ports.lock().ok()?.insert(port, tx);
        Some(DatagramPort::new(
            port,
            rx,
            Release(self.ports.clone(), port),
        ))
    }

    fn resolve(&self, name: &str) -> ResolveFuture {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let found =
            (name == "peer.i2p" || name == self.peer.b32_address()).then(|| self.peer.clone());
        Box::pin(async move { found.ok_or(ConnectError::NotFound) })
    }

    fn send(&self, from_port: u16, to: &Destination, to_port: u16, payload: &[u8]) -> bool {
        assert_eq!(to, &self.peer, "sent to the resolved destination");
        let Some(tx) = self.ports.lock().expect("lock").get(&from_port).cloned() else {
            return false;
        };
        tx.try_send(IncomingDatagram {
            from: (!self.raw).then(|| self.peer.clone()),
            from_hash: None,
            from_port: to_port,
            payload: payload.to_vec(),
        })
        .is_ok()
    }

    fn max_payload(&self) -> usize {
        MAX
    }
}

/// CONNECT is not used here.
struct NoStreams;
impl I2pConnector for NoStreams {
    type Stream = DuplexStream;
    async fn connect(&self, _: &str, _: u16, _: Vec<u8>) -> Result<DuplexStream, ConnectError> {
        Err(ConnectError::NotFound)
    }
}

struct Proxy {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

async fn start(udp: Option<UdpRelayConfig>) -> Proxy {
    let listener = bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut cfg = ServerConfig::new(addr);
    cfg.udp = udp;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, cfg, NoStreams, async {
        let _ = stopped.await;
    }));
    Proxy { addr, _stop: stop }
}

/// UDP ASSOCIATE; returns the control connection and the full reply.
async fn associate(proxy: SocketAddr) -> (TcpStream, Vec<u8>) {
    let mut c = within("connect", TcpStream::connect(proxy))
        .await
        .expect("connect");
    c.write_all(&[5, 1, 0, 5, 3, 0, 1, 0, 0, 0, 0, 0, 0])
        .await
        .expect("write");
    let mut reply = vec![0u8; 12];
    within("reply", c.read_exact(&mut reply))
        .await
        .expect("reply");
    (c, reply)
}

fn relay_of(reply: &[u8]) -> SocketAddr {
    assert_eq!(
        &reply[..6],
        &[5, 0, 5, 0, 0, 1],
        "success, IPv4: {reply:02x?}"
    );
    SocketAddr::from((
        [reply[6], reply[7], reply[8], reply[9]],
        u16::from_be_bytes([reply[10], reply[11]]),
    ))
}

fn datagram(name: &str, port: u16, data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 0, 3, u8::try_from(name.len()).expect("name")];
    v.extend_from_slice(name.as_bytes());
    v.extend_from_slice(&port.to_be_bytes());
    v.extend_from_slice(data);
    v
}

async fn recv(socket: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 70_000];
    let (n, _) = within("datagram", socket.recv_from(&mut buf))
        .await
        .expect("recv");
    buf.truncate(n);
    buf
}

async fn client() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.expect("bind")
}

#[tokio::test]
async fn echo_by_name_and_b32_with_sender_in_header() {
    let backend = EchoBackend::new(false);
    let proxy = start(Some(UdpRelayConfig::new(backend.clone(), 4))).await;
    let (_control, reply) = associate(proxy.addr).await;
    let relay = relay_of(&reply);
    assert_eq!(relay.ip(), proxy.addr.ip());
    let sock = client().await;
    let b32 = backend.peer.b32_address();
    for (i, name) in ["peer.i2p", "peer.i2p", b32.as_str(), "peer.i2p"]
        .iter()
        .enumerate()
    {
        let data = format!("hello {i}");
        sock.send_to(&datagram(name, 7000 + i as u16, data.as_bytes()), relay)
            .await
            .expect("send");
        let back = recv(&sock).await;
        assert_eq!(back, datagram(&b32, 7000 + i as u16, data.as_bytes()));
    }
    // Each name was resolved once for the association.
    assert_eq!(backend.lookups.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn raw_replies_are_credited_to_the_peer_on_that_port() {
    let backend = EchoBackend::new(true);
    let proxy = start(Some(UdpRelayConfig::new(backend.clone(), 4))).await;
    let (_control, reply) = associate(proxy.addr).await;
    let relay = relay_of(&reply);
    let sock = client().await;
    sock.send_to(&datagram("peer.i2p", 9, b"raw"), relay)
        .await
        .expect("send");
    let back = recv(&sock).await;
    assert_eq!(back, datagram(&backend.peer.b32_address(), 9, b"raw"));
}

#[tokio::test]
async fn drops_bad_foreign_oversized_unresolved_and_clearnet() {
    let backend = EchoBackend::new(false);
    let proxy = start(Some(UdpRelayConfig::new(backend.clone(), 4))).await;
    let (_control, reply) = associate(proxy.addr).await;
    let relay = relay_of(&reply);
    let sock = client().await;
    let b32 = backend.peer.b32_address();
    // First datagram locks the client's port.
    sock.send_to(&datagram("peer.i2p", 1, b"first"), relay)
        .await
        .expect("send");
    assert_eq!(recv(&sock).await, datagram(&b32, 1, b"first"));

    let foreign = client().await;
    foreign
        .send_to(&datagram("peer.i2p", 1, b"foreign"), relay)
        .await
        .expect("send");
    for bad in [
        vec![0, 1, 0, 3, 1, b'x', 0, 1],            // RSV
        vec![0, 0, 0, 9, 0, 0],                     // ATYP
        datagram("example.com", 1, b"clearnet"),    // not .i2p
        vec![0, 0, 0, 1, 127, 0, 0, 1, 0, 9, 1],    // IPv4
        datagram("nowhere.i2p", 1, b"unknown"),     // unresolved
        datagram("peer.i2p", 1, &vec![1; MAX + 1]), // oversized
    ] {
        sock.send_to(&bad, relay).await.expect("send");
    }
    let mut frag = datagram("peer.i2p", 1, b"frag");
    frag[2] = 1;
    sock.send_to(&frag, relay).await.expect("send");
    // The largest allowed datagram still goes through, and it is the only answer.
    let max = vec![7u8; MAX];
    sock.send_to(&datagram("peer.i2p", 2, &max), relay)
        .await
        .expect("send");
    assert_eq!(recv(&sock).await, datagram(&b32, 2, &max));
    // A second datagram to the unknown name is dropped without another lookup.
    sock.send_to(&datagram("nowhere.i2p", 1, b"again"), relay)
        .await
        .expect("send");
    sock.send_to(&datagram("peer.i2p", 3, b"sync"), relay)
        .await
        .expect("send");
    assert_eq!(recv(&sock).await, datagram(&b32, 3, b"sync"));
    assert_eq!(
        backend.lookups.load(Ordering::SeqCst),
        2,
        "peer.i2p and nowhere.i2p once each"
    );
    let mut buf = [0u8; 64];
    assert!(
        still_pending(Duration::from_millis(300), foreign.recv_from(&mut buf)).await,
        "the foreign source got an answer"
    );
    assert!(
        still_pending(Duration::from_millis(300), sock.recv_from(&mut buf)).await,
        "a dropped datagram was answered"
    );
}

#[tokio::test]
async fn cap_refuses_and_closing_releases_the_port() {
    let backend = EchoBackend::new(false);
    let proxy = start(Some(UdpRelayConfig::new(backend.clone(), 1))).await;
    let (control, reply) = associate(proxy.addr).await;
    relay_of(&reply);
    let (mut refused, reply) = associate(proxy.addr).await;
    assert_eq!(&reply[..4], &[5, 0, 5, 1], "over the cap: general failure");
    let mut rest = Vec::new();
    let _ = within("close", refused.read_to_end(&mut rest)).await;
    assert_eq!(backend.open_ports(), 1);
    drop(control);
    let deadline = Instant::now() + DEADLINE;
    while backend.open_ports() != 0 {
        assert!(Instant::now() < deadline, "port not released");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The slot is free again.
    let (_again, reply) = associate(proxy.addr).await;
    let relay = relay_of(&reply);
    let sock = client().await;
    sock.send_to(&datagram("peer.i2p", 3, b"again"), relay)
        .await
        .expect("send");
    assert_eq!(
        recv(&sock).await,
        datagram(&backend.peer.b32_address(), 3, b"again")
    );
}

#[tokio::test]
async fn without_udp_the_command_is_refused_like_i2pd() {
    let proxy = start(None).await;
    let (mut c, reply) = associate(proxy.addr).await;
    assert_eq!(reply, vec![5, 0, 5, 7, 0, 1, 0, 0, 0, 0, 0, 0]);
    let mut rest = Vec::new();
    let _ = within("close", c.read_to_end(&mut rest)).await;
    assert!(rest.is_empty());
}

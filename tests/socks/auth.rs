//! The SOCKS driver with an enforced login and isolation by credentials, over real loopback
//! sockets with a fake I2P side that records which user each connect was made for.

use std::net::SocketAddr;
use std::sync::Mutex;

use crate::common::{Behaviour, DEADLINE, FakeI2p, Proxy, hex};
use i2psocks::socks::{AuthPolicy, CredentialCheck};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Greeting offering method 02, the login, CONNECT `x.i2p:80`.
fn login_connect(user: &str, pass: &str) -> Vec<u8> {
    let mut v = hex("05 01 02 01");
    v.push(u8::try_from(user.len()).unwrap_or(u8::MAX));
    v.extend(user.as_bytes());
    v.push(u8::try_from(pass.len()).unwrap_or(u8::MAX));
    v.extend(pass.as_bytes());
    v.extend(hex("05 01 00 03 05 78 2e 69 32 70 00 50"));
    v
}

fn echo() -> FakeI2p {
    FakeI2p::new(Behaviour::Echo)
}

fn start(auth: AuthPolicy, isolate: bool, connector: FakeI2p) -> Proxy {
    Proxy::start(
        |cfg| {
            cfg.auth = auth;
            cfg.isolate = isolate;
        },
        connector,
    )
}

/// The user of every connect the fake saw, in order.
fn users(fake: &FakeI2p) -> Vec<Option<Vec<u8>>> {
    fake.calls().into_iter().map(|call| call.user).collect()
}

/// Send `bytes`, then read until the proxy closes.
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    s.write_all(bytes).await.unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    let read = timeout(DEADLINE, s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "proxy did not close; got {out:02x?}");
    out
}

/// Send `bytes`, read exactly `n` reply bytes, keep the connection.
async fn reply_of(addr: SocketAddr, bytes: &[u8], n: usize) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    s.write_all(bytes).await.unwrap_or_else(|e| panic!("{e}"));
    let mut out = vec![0; n];
    timeout(DEADLINE, s.read_exact(&mut out))
        .await
        .unwrap_or_else(|_| panic!("no {n}-byte reply"))
        .unwrap_or_else(|e| panic!("{e}"));
    (s, out)
}

#[tokio::test]
async fn enforced_login_replies_with_the_documented_bytes() {
    let proxy = start(AuthPolicy::single_login(b"alice", b"secret"), false, echo());
    assert_eq!(
        exchange(proxy.addr, &login_connect("alice", "wrong")).await,
        hex("05 02 01 01")
    );
    assert_eq!(exchange(proxy.addr, &hex("05 01 00")).await, hex("05 ff"));
    let mut v4a = hex("04 01 00 50 00 00 00 01 75 00");
    v4a.extend(b"x.i2p\0");
    assert_eq!(
        exchange(proxy.addr, &v4a).await,
        hex("00 5b 00 50 00 00 00 01")
    );
    // Right login: 01 00, the request succeeds, data flows.
    let (mut s, reply) = reply_of(proxy.addr, &login_connect("alice", "secret"), 14).await;
    assert_eq!(reply, hex("05 02 01 00 05 00 00 01 00 00 00 00 00 00"));
    s.write_all(b"ping").await.unwrap_or_else(|e| panic!("{e}"));
    let mut echo = [0u8; 4];
    timeout(DEADLINE, s.read_exact(&mut echo))
        .await
        .unwrap_or_else(|_| panic!("no echo"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(&echo, b"ping");
    proxy.stop().await;
}

#[tokio::test]
async fn isolation_passes_the_username_only_when_enabled() {
    let rec = echo();
    let proxy = start(AuthPolicy::AcceptAny, true, rec.clone());
    let ok = hex("05 02 01 00 05 00 00 01 00 00 00 00 00 00");
    let (_a, reply) = reply_of(proxy.addr, &login_connect("alice", "x"), 14).await;
    assert_eq!(reply, ok);
    let (_b, _) = reply_of(proxy.addr, &login_connect("bob", "y"), 14).await;
    // An empty username is no username.
    let (_e, _) = reply_of(proxy.addr, &login_connect("", ""), 14).await;
    let mut no_auth = hex("05 01 00 05 01 00 03 05");
    no_auth.extend(b"x.i2p\0\x50");
    let (_n, reply) = reply_of(proxy.addr, &no_auth, 12).await;
    assert_eq!(reply, hex("05 00 05 00 00 01 00 00 00 00 00 00"));
    assert_eq!(
        users(&rec),
        vec![Some(b"alice".to_vec()), Some(b"bob".to_vec()), None, None]
    );
    proxy.stop().await;

    // Without isolation the username is not passed on.
    let rec = echo();
    let proxy = start(AuthPolicy::AcceptAny, false, rec.clone());
    let (_a, reply) = reply_of(proxy.addr, &login_connect("alice", "x"), 14).await;
    assert_eq!(reply, ok);
    assert_eq!(users(&rec), vec![None]);
    proxy.stop().await;
}

/// Blocks until released: stands for a slow password hash.
struct Gate(Mutex<std::sync::mpsc::Receiver<()>>);

impl CredentialCheck for Gate {
    fn check(&self, _: &[u8], password: &[u8]) -> bool {
        if let Ok(rx) = self.0.lock() {
            let _ = rx.recv_timeout(DEADLINE);
        }
        password == b"ok"
    }
}

/// On a single-threaded runtime, a password check that blocks must not stall other clients:
/// it runs on the blocking pool.
#[tokio::test(flavor = "current_thread")]
async fn a_slow_password_check_does_not_block_other_clients() {
    let (release, gate) = std::sync::mpsc::channel();
    let proxy = start(AuthPolicy::require(Gate(Mutex::new(gate))), false, echo());
    let addr = proxy.addr;
    let first = tokio::spawn(async move { exchange(addr, &login_connect("u", "bad")).await });
    // While the first check is blocked, a second client gets its method reply at once. (Run
    // on this thread, the check would hold the runtime until the gate times out.)
    let started = std::time::Instant::now();
    let (_second, reply) = reply_of(proxy.addr, &hex("05 01 02"), 2).await;
    assert_eq!(reply, hex("05 02"));
    assert!(
        started.elapsed() < DEADLINE / 2,
        "the runtime was blocked for {:?}",
        started.elapsed()
    );
    release.send(()).unwrap_or_else(|e| panic!("{e}"));
    let first = timeout(DEADLINE, first)
        .await
        .unwrap_or_else(|_| panic!("first client never answered"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first, hex("05 02 01 01"));
    proxy.stop().await;
}

//! A router that goes away while a CONNECT waits for its lookup (i2pd 2.56.0 and 2.59.0
//! crash there when they are their own only floodfill, seen with both:
//! libi2pd/Destination.cpp, LeaseSetDestination::RequestLeaseSet). The client gets the general failure `05 01` at
//! once (router unavailable, man page "EXTENDED ERRORS"), not `05 04` (the destination
//! was never looked up) and not a hang until the lookup timeout.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::i2cp_support::fake;
use i2psocks::i2cp::message::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// Kills the proxy when the test ends, passed or not.
struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = StdListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn start_proxy(dir: &std::path::Path, socks_port: u16, router_port: u16) -> Proxy {
    Proxy(
        Command::new(env!("CARGO_BIN_EXE_i2psocks"))
            .arg("--datadir")
            .arg(dir)
            .args([
                "--socksproxy.keys=transient",
                "--socksproxy.address=127.0.0.1",
                "--i2cp.enabled=true",
                "--i2cp.address=127.0.0.1",
                "--lookup-timeout=60",
            ])
            .arg(format!("--socksproxy.port={socks_port}"))
            .arg(format!("--i2cp.port={router_port}"))
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start i2psocks"),
    )
}

/// A SOCKS5 connection past the greeting, once the proxy listens (within 20 s).
async fn socks5_client(addr: SocketAddr) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut client = loop {
        match TcpStream::connect(addr).await {
            Ok(s) => break s,
            Err(e) => {
                assert!(Instant::now() < deadline, "i2psocks does not listen: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    client.write_all(&[5, 1, 0]).await.expect("greeting");
    let mut method = [0u8; 2];
    timeout(fake::STEP, client.read_exact(&mut method))
        .await
        .expect("method reply in time")
        .expect("method reply");
    assert_eq!(method, [5, 0]);
    client
}

#[tokio::test]
async fn router_gone_during_the_lookup_gets_general_failure_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let router = TcpListener::bind("127.0.0.1:0").await.expect("bind router");
    let router_port = router.local_addr().expect("router address").port();
    let socks_port = free_port();
    let _proxy = start_proxy(dir.path(), socks_port, router_port);

    let mut conn = fake::accept(&router).await;
    conn.handshake(1, 1).await;
    conn.request_lease_set(1).await;

    let mut client = socks5_client(SocketAddr::from(([127, 0, 0, 1], socks_port))).await;
    let name = format!("{}.b32.i2p", "a".repeat(52));
    let mut connect = vec![5, 1, 0, 3, name.len() as u8];
    connect.extend_from_slice(name.as_bytes());
    connect.extend_from_slice(&80u16.to_be_bytes());
    client.write_all(&connect).await.expect("CONNECT");

    // The router gets the lookup and dies with it: its I2CP connection just ends.
    loop {
        match conn.recv().await {
            Some(Message::HostLookup { .. }) => break,
            Some(_) => continue,
            None => panic!("the proxy closed the I2CP connection before its lookup"),
        }
    }
    let sent = Instant::now();
    drop(conn);

    let mut reply = [0u8; 10];
    timeout(Duration::from_secs(10), client.read_exact(&mut reply))
        .await
        .expect("a reply within 10 s of the router going away (the lookup timeout is 60 s)")
        .expect("reply bytes");
    println!(
        "reply {reply:02x?} {:?} after the router went away",
        sent.elapsed()
    );
    assert_eq!(reply, [5, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
}

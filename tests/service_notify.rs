//! The systemd readiness protocol the packaged unit relies on (Type=notify): the binary
//! sends READY=1 to $NOTIFY_SOCKET once the I2CP session is up, that is created and its
//! LeaseSet signed for the tunnels the router built.

mod i2cp_support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use i2cp_support::fake;
use tokio::net::{TcpListener, UnixDatagram};
use tokio::time::timeout;

/// Kills the proxy when the test ends, passed or not.
struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn ready_is_sent_once_the_i2cp_session_is_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let notify_path = dir.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).expect("bind the notify socket");
    let router = TcpListener::bind("127.0.0.1:0").await.expect("bind router");
    let router_port = router.local_addr().expect("router address").port();

    let _proxy = Proxy(
        Command::new(env!("CARGO_BIN_EXE_i2psocks"))
            .arg("--datadir")
            .arg(dir.path())
            .args([
                "--socksproxy.address=127.0.0.1",
                "--socksproxy.port=0",
                "--i2cp.enabled=true",
                "--i2cp.address=127.0.0.1",
            ])
            .arg(format!("--i2cp.port={router_port}"))
            .arg("run")
            .env("NOTIFY_SOCKET", &notify_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start i2psocks"),
    );

    let mut conn = fake::accept(&router).await;
    // Connected to the router, session not created yet: not ready.
    let mut buf = [0u8; 256];
    assert!(
        notify.try_recv(&mut buf).is_err(),
        "READY before the I2CP session exists"
    );
    conn.handshake(1, 1).await;
    assert!(
        notify.try_recv(&mut buf).is_err(),
        "READY before the router asked for the LeaseSet"
    );
    conn.request_lease_set(1).await;

    let n = timeout(Duration::from_secs(20), notify.recv(&mut buf))
        .await
        .expect("READY=1 within 20 s of the session being created")
        .expect("recv on the notify socket");
    let message = String::from_utf8_lossy(&buf[..n]);
    assert!(
        message.lines().any(|line| line == "READY=1"),
        "notify message: {message:?}"
    );
}

//! The systemd readiness protocol the packaged unit relies on (Type=notify): the binary
//! sends READY=1 to $NOTIFY_SOCKET once its listeners are open (clients are accepted and
//! held from then on), and says through STATUS= what the I2CP session waits for until it
//! is up, that is created and its LeaseSet signed for the tunnels the router built. While
//! it waits, a warning at the default log level says so too.

mod i2cp_support;

use std::io::{BufRead as _, BufReader};
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

/// Start the proxy against a (fake) router on `router_port`, notifying `notify_path`;
/// stdout (the log at the default level) is piped.
fn start_proxy(dir: &std::path::Path, notify_path: &std::path::Path, router_port: u16) -> Proxy {
    Proxy(
        Command::new(env!("CARGO_BIN_EXE_i2psocks"))
            .arg("--datadir")
            .arg(dir)
            .args([
                "--socksproxy.address=127.0.0.1",
                "--socksproxy.port=0",
                "--i2cp.enabled=true",
                "--i2cp.address=127.0.0.1",
            ])
            .arg(format!("--i2cp.port={router_port}"))
            .arg("run")
            .env("NOTIFY_SOCKET", notify_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start i2psocks"),
    )
}

/// The next notify message, within `limit`.
async fn next_message(notify: &UnixDatagram, limit: Duration, what: &str) -> String {
    let mut buf = [0u8; 512];
    let n = timeout(limit, notify.recv(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("no notify message within {limit:?}: expected {what}"))
        .expect("recv on the notify socket");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Notify messages until one has a line matching `want`, within `limit` in all.
async fn wait_for_line(
    notify: &UnixDatagram,
    limit: Duration,
    want: impl Fn(&str) -> bool,
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let message = next_message(notify, left, &format!("a matching line after {seen:?}")).await;
        let found = message.lines().any(&want);
        seen.push(message);
        if found {
            return seen;
        }
        assert!(!left.is_zero(), "no matching line in {seen:?}");
    }
}

#[tokio::test]
async fn ready_once_listening_and_status_tells_the_wait_until_the_session_is_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let notify_path = dir.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).expect("bind the notify socket");
    let router = TcpListener::bind("127.0.0.1:0").await.expect("bind router");
    let router_port = router.local_addr().expect("router address").port();
    let _proxy = start_proxy(dir.path(), &notify_path, router_port);

    // Listening, the router not even connected yet: READY, so `systemctl start` returns.
    let seen = wait_for_line(&notify, Duration::from_secs(20), |l| l == "READY=1").await;
    let mut conn = fake::accept(&router).await;
    conn.handshake(1, 1).await;
    // Session created, no LeaseSet request: STATUS says the tunnels are awaited.
    let seen_tunnels = wait_for_line(&notify, Duration::from_secs(20), |l| {
        l.starts_with("STATUS=") && l.contains("build tunnels")
    })
    .await;
    conn.request_lease_set(1).await;
    let seen_up = wait_for_line(&notify, Duration::from_secs(20), |l| {
        l == "STATUS=I2CP session up"
    })
    .await;
    println!("notify: {seen:?} {seen_tunnels:?} {seen_up:?}");
}

#[tokio::test]
async fn a_session_that_waits_for_tunnels_is_reported_at_the_default_log_level() {
    let dir = tempfile::tempdir().expect("tempdir");
    let notify_path = dir.path().join("notify");
    let _notify = UnixDatagram::bind(&notify_path).expect("bind the notify socket");
    let router = TcpListener::bind("127.0.0.1:0").await.expect("bind router");
    let router_port = router.local_addr().expect("router address").port();
    let mut proxy = start_proxy(dir.path(), &notify_path, router_port);
    let stdout = proxy.0.stdout.take().expect("piped stdout");
    let mut conn = fake::accept(&router).await;
    conn.handshake(1, 1).await;
    // The router never asks for the LeaseSet (no tunnels): within the first report's delay
    // plus a generous margin, a WARN line names the wait.
    let lines = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let found = line.contains("WARN") && line.contains("build tunnels");
            seen.push(line);
            if found {
                return Ok(seen);
            }
        }
        Err(seen)
    });
    let outcome = timeout(Duration::from_secs(60), lines)
        .await
        .expect("a WARN line about the tunnels within 60 s")
        .expect("reader thread");
    let seen = outcome.unwrap_or_else(|seen| panic!("log ended without the line: {seen:#?}"));
    println!("{}", seen.join("\n"));
    drop(conn);
}

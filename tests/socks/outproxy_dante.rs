//! The outproxy against a real upstream SOCKS5 server: Debian's dante (`danted`), started by
//! the test, with a TCP target server also started by the test, all inside a network
//! namespace of its own that has only `lo` (so dante can reach nothing but loopback; its
//! rules also allow only 127.0.0.0/8). The i2psocks binary runs there too, configured with
//! i2pd's keys `outproxy.enabled`, `outproxy`, `outproxyport` on the command line.
//!
//! Checked: bytes both ways (pipelined data, 1 MiB each way at once, half-close) for SOCKS5
//! and SOCKS4a; dante's own refusals (connection refused, blocked by rule, name not
//! resolvable) and a dead upstream all become i2pd's "network unreachable" reply (`05 03`
//! with the name echoed; SOCKS4 `5b`); IP literals never reach the upstream.
//!
//! Needs root and /usr/sbin/danted (`apt-get install dante-server`); otherwise prints
//! SKIPPED, or fails with I2PSOCKS_REQUIRE_TESTBED=1.

use crate::common;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The full test name in this binary (module path included), as `--exact` needs it.
const TEST: &str = "outproxy_dante::outproxy_through_dante";
const DANTED: &str = "/usr/sbin/danted";
/// Fixed ports are safe: nothing else lives in the private namespace.
const DANTE_PORT: u16 = 1080;
const PROXY_PORT: u16 = 4447;
/// Every single wait (connect, reply, data) is bounded by this.
const DEADLINE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);
const BANNER: &[u8] = b"hello from the target\n";
const BYE: &[u8] = b"bye\n";

#[test]
fn outproxy_through_dante() {
    if common::in_private_netns() {
        inner();
        return;
    }
    if common::skip_without_root_and(TEST, &[DANTED]) {
        return;
    }
    let ns = common::PrivateNetns::create().unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    ns.run_test_inside(TEST, &[], Duration::from_secs(120));
    println!(
        "dante outproxy test: {:.2}s",
        started.elapsed().as_secs_f64()
    );
    // The inner run stopped dante (all its processes) and i2psocks itself.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ns.pids().is_empty() && Instant::now() < deadline {
        thread::sleep(POLL);
    }
    assert_eq!(
        ns.pids(),
        Vec::<u32>::new(),
        "processes left in {}",
        ns.name()
    );
}

// ---------------------------------------------------------------------------------------
// Inside the namespace
// ---------------------------------------------------------------------------------------

/// A background process, stopped with SIGTERM (then SIGKILL) on drop.
struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Daemon {
        let file = std::fs::File::create(&log).expect("daemon log file");
        let file2 = file.try_clone().expect("dup log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(file2)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Daemon { name, child, log }
    }

    fn log(&self) -> String {
        common::log_text(&self.log)
    }

    /// SIGTERM, and wait (bounded) for the exit.
    fn stop(&mut self) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < DEADLINE {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.stop().is_none() {
            eprintln!("{} did not stop on SIGTERM; killed", self.name);
        }
    }
}

/// The TCP target: sends [`BANNER`], echoes everything, and on EOF sends [`BYE`] and closes.
/// Records where every connection came from.
fn start_target() -> (SocketAddr, Arc<Mutex<Vec<SocketAddr>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind target");
    let addr = listener.local_addr().expect("target address");
    let peers = Arc::new(Mutex::new(Vec::new()));
    let seen = peers.clone();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            if let Ok(peer) = conn.peer_addr() {
                seen.lock().expect("peers").push(peer);
            }
            thread::spawn(move || {
                let _ = conn.write_all(BANNER);
                let mut buf = [0u8; 16384];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) => {
                            let _ = conn.write_all(BYE);
                            let _ = conn.shutdown(Shutdown::Write);
                            return;
                        }
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                        Err(_) => return,
                    }
                }
            });
        }
    });
    (addr, peers)
}

fn dante_conf(dir: &Path) -> PathBuf {
    // Only loopback, in and out; everything else is blocked (and there is no other
    // interface anyway). No authentication, like i2pd's upstream handshake expects.
    let conf = format!(
        "logoutput: stderr
internal: 127.0.0.1 port = {DANTE_PORT}
external: 127.0.0.1
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {{
    from: 127.0.0.0/8 to: 0.0.0.0/0
}}
socks pass {{
    from: 127.0.0.0/8 to: 127.0.0.0/8
    command: connect
    log: connect disconnect error
}}
socks block {{
    from: 0.0.0.0/0 to: 0.0.0.0/0
    log: connect error
}}
"
    );
    let path = dir.join("danted.conf");
    std::fs::write(&path, conf).expect("write danted.conf");
    path
}

fn proxy() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], PROXY_PORT))
}

fn connect_proxy() -> TcpStream {
    let s = TcpStream::connect_timeout(&proxy(), DEADLINE).expect("connect to i2psocks");
    s.set_read_timeout(Some(DEADLINE)).expect("read timeout");
    s.set_write_timeout(Some(DEADLINE)).expect("write timeout");
    s.set_nodelay(true).expect("nodelay");
    s
}

fn read_n(s: &mut TcpStream, n: usize, what: &str) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("reading {what} ({n} bytes): {e}"));
    buf
}

/// Read until the server closes; panics if it stays open past [`DEADLINE`].
fn read_to_close(s: &mut TcpStream, what: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("{what}: expected the proxy to close, got {e} after {out:02x?}"),
        }
    }
}

fn s5_request(atyp_addr: &[u8], port: u16) -> Vec<u8> {
    [&[5, 1, 0, 5, 1, 0][..], atyp_addr, &port.to_be_bytes()].concat()
}

fn domain(name: &str) -> Vec<u8> {
    let len = u8::try_from(name.len()).expect("short test name");
    [&[3, len][..], name.as_bytes()].concat()
}

/// `05 <rep> 00 03 <len> <name> <port>`: i2pd's outproxy replies echo the request.
fn s5_domain_reply(rep: u8, name: &str, port: u16) -> Vec<u8> {
    [&[5, rep, 0][..], &domain(name), &port.to_be_bytes()].concat()
}

fn s4a_request(name: &str, port: u16) -> Vec<u8> {
    [
        &[4, 1][..],
        &port.to_be_bytes(),
        &[0, 0, 0, 1],
        b"someone\0",
        name.as_bytes(),
        b"\0",
    ]
    .concat()
}

/// The proxy must refuse `request` with exactly `reply` and close.
fn assert_refused(request: &[u8], reply: &[u8], what: &str) {
    let mut s = connect_proxy();
    s.write_all(request).expect("send request");
    let got = read_to_close(&mut s, what);
    let greeting = if request.first() == Some(&5) {
        &[5u8, 0][..]
    } else {
        &[][..]
    };
    assert_eq!(got, [greeting, reply].concat(), "{what}");
}

fn assert_loopback_only() {
    let out = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .expect("ip link");
    let links = String::from_utf8_lossy(&out.stdout);
    assert_eq!(links.lines().count(), 1, "only lo expected:\n{links}");
    assert!(links.contains(": lo:"), "only lo expected:\n{links}");
    // No route anywhere but loopback: a connect to a public address fails at once.
    let err = TcpStream::connect_timeout(&"192.0.2.1:80".parse().expect("addr"), DEADLINE)
        .expect_err("192.0.2.1 must be unreachable in the private netns");
    assert_eq!(err.kind(), ErrorKind::NetworkUnreachable, "{err}");
}

fn inner() {
    assert_loopback_only();
    let (target, peers) = start_target();
    let tport = target.port();
    let dir = tempfile::tempdir().expect("temp dir");

    let conf = dante_conf(dir.path());
    let mut dante = Daemon::spawn(
        "danted",
        Command::new(DANTED)
            .arg("-f")
            .arg(&conf)
            .arg("-p")
            .arg(dir.path().join("danted.pid")),
        dir.path().join("danted.log"),
    );
    let upstream = SocketAddr::from(([127, 0, 0, 1], DANTE_PORT));
    if let Err(e) = common::wait_for_tcp_local(upstream, DEADLINE) {
        panic!("danted does not listen: {e}\n{}", dante.log());
    }

    let mut i2psocks = Daemon::spawn(
        "i2psocks",
        Command::new(env!("CARGO_BIN_EXE_i2psocks"))
            .arg("--datadir")
            .arg(dir.path())
            .args(["--loglevel", "debug"])
            .arg(format!("--socksproxy.port={PROXY_PORT}"))
            .arg("--socksproxy.outproxy.enabled=true")
            .arg("--socksproxy.outproxy=127.0.0.1")
            .arg(format!("--socksproxy.outproxyport={DANTE_PORT}")),
        dir.path().join("i2psocks.log"),
    );
    if let Err(e) = common::wait_for_tcp_local(proxy(), DEADLINE) {
        panic!("i2psocks does not listen: {e}\n{}", i2psocks.log());
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        exchanges(tport, &peers, &mut dante)
    }));
    if let Err(panic) = result {
        eprintln!(
            "----- danted log -----\n{}\n----- i2psocks log -----\n{}",
            dante.log(),
            i2psocks.log()
        );
        std::panic::resume_unwind(panic);
    }
    let status = i2psocks.stop().expect("i2psocks stops on SIGTERM");
    assert!(status.success(), "i2psocks exit status {status}");
}

fn exchanges(tport: u16, peers: &Mutex<Vec<SocketAddr>>, dante: &mut Daemon) {
    // 1. SOCKS5 by name, payload pipelined with the request: success reply as i2pd sends
    //    it for the outproxy (name and port echoed), then the target's banner and the echo.
    let mut s = connect_proxy();
    let hello = b"pipelined with the request\n";
    s.write_all(&[s5_request(&domain("localhost"), tport), hello.to_vec()].concat())
        .expect("send request");
    assert_eq!(read_n(&mut s, 2, "method reply"), [5, 0]);
    let reply = s5_domain_reply(0, "localhost", tport);
    assert_eq!(read_n(&mut s, reply.len(), "CONNECT reply"), reply);
    assert_eq!(read_n(&mut s, BANNER.len(), "banner"), BANNER);
    assert_eq!(read_n(&mut s, hello.len(), "pipelined echo"), hello);

    // 2. 1 MiB each way at the same time, byte-exact.
    let big = common::pattern(1 << 20, 7);
    let mut writer = s.try_clone().expect("clone");
    let to_send = big.clone();
    let sender = thread::spawn(move || writer.write_all(&to_send));
    let got = read_n(&mut s, big.len(), "1 MiB echo");
    sender.join().expect("writer").expect("write 1 MiB");
    assert!(got == big, "1 MiB came back altered");

    // 3. Half-close: our FIN reaches the target through dante, its last words come back.
    s.shutdown(Shutdown::Write).expect("shutdown write");
    assert_eq!(read_to_close(&mut s, "after half-close"), BYE);

    // 4. SOCKS4a by name.
    let mut s = connect_proxy();
    s.write_all(&s4a_request("localhost", tport))
        .expect("send SOCKS4a request");
    let mut want = vec![0, 0x5a];
    want.extend_from_slice(&tport.to_be_bytes());
    want.extend_from_slice(&[0, 0, 0, 1]);
    assert_eq!(read_n(&mut s, 8, "SOCKS4a reply"), want);
    assert_eq!(read_n(&mut s, BANNER.len(), "banner"), BANNER);
    s.write_all(b"4a\n").expect("write");
    assert_eq!(read_n(&mut s, 3, "echo"), b"4a\n");
    drop(s);

    let connections = peers.lock().expect("peers").clone();
    assert_eq!(connections.len(), 2, "target connections: {connections:?}");
    assert!(
        connections.iter().all(|p| p.ip().is_loopback()),
        "{connections:?}"
    );
    let log = dante.log();
    assert!(
        log.contains(&format!("127.0.0.1.{tport}")) && log.contains("pass(1): tcp/connect"),
        "dante did not log the passes:\n{log}"
    );

    // 5. Dante refuses: every upstream failure becomes 03 for the client (docs/socks.md
    // "Outproxy").
    let closed_port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    assert_refused(
        &s5_request(&domain("localhost"), closed_port),
        &s5_domain_reply(3, "localhost", closed_port),
        "target port closed (dante: connection refused)",
    );
    assert_refused(
        &s5_request(&domain("10.1.2.3"), 80),
        &s5_domain_reply(3, "10.1.2.3", 80),
        "destination blocked by dante's rules",
    );
    assert_refused(
        &s5_request(&domain("nosuchname.invalid"), 443),
        &s5_domain_reply(3, "nosuchname.invalid", 443),
        "name dante cannot resolve",
    );
    let mut s4_fail = vec![0, 0x5b];
    s4_fail.extend_from_slice(&closed_port.to_be_bytes());
    s4_fail.extend_from_slice(&[0, 0, 0, 1]);
    assert_refused(
        &s4a_request("localhost", closed_port),
        &s4_fail,
        "SOCKS4a, target port closed",
    );
    assert!(
        dante.log().contains("block(2): tcp/connect"),
        "dante did not log the blocked request:\n{}",
        dante.log()
    );

    // 6. IP literals stay refused with an outproxy (docs/socks.md "Checks when the request is
    // complete"): nothing reaches the target.
    let mut ipv4 = vec![1, 127, 0, 0, 1];
    ipv4.extend_from_slice(&tport.to_be_bytes());
    let mut want = vec![5, 8, 0];
    want.extend_from_slice(&ipv4);
    assert_refused(
        &s5_request(&[1, 127, 0, 0, 1], tport),
        &want,
        "IPv4 literal",
    );
    assert_eq!(
        peers.lock().expect("peers").len(),
        2,
        "an IP literal or a refused name reached the target"
    );

    // 7. Upstream down: i2pd's mapping is 03 (SOCKS4: 5b) too.
    let status = dante.stop().expect("danted stops on SIGTERM");
    assert!(status.success(), "danted exit status {status}");
    let deadline = Instant::now() + DEADLINE;
    while TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], DANTE_PORT))).is_ok() {
        assert!(Instant::now() < deadline, "dante's port still open");
        thread::sleep(POLL);
    }
    assert_refused(
        &s5_request(&domain("localhost"), tport),
        &s5_domain_reply(3, "localhost", tport),
        "upstream down",
    );
    let mut s4_down = vec![0, 0x5b];
    s4_down.extend_from_slice(&tport.to_be_bytes());
    s4_down.extend_from_slice(&[0, 0, 0, 1]);
    assert_refused(
        &s4a_request("localhost", tport),
        &s4_down,
        "SOCKS4a, upstream down",
    );
    assert_eq!(peers.lock().expect("peers").len(), 2);
}

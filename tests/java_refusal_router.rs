//! Java I2P's refusals end i2psocks with exit status 3 and the router's reason, instead
//! of retrying every second for ever (and, for a duplicate destination, instead of
//! retrying until Java accepts the copy and silently cuts off the first instance); the one
//! "duplicate destination" that is retried is the one right after the previous instance on
//! the same keys was killed.
//!
//! Runs an offline Java I2P router (tests/common/java_router.rs); without Java or the
//! jars: SKIPPED, unless I2PSOCKS_REQUIRE_TESTBED=1.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{JavaRouter, Patience, log_text, skip_without_java};
use i2psocks::data::PrivateKeys;

/// A refused instance must be gone by then.
const EXIT_DEADLINE: Duration = Duration::from_secs(60);
/// Stall limit from start to "I2CP session is up" (Java asks for the LeaseSet about 2 s
/// after CreateSession with zero-hop pools; the JVM may still be warming up): the wait goes
/// on while i2psocks' log grows, up to four times this.
const READY_STALL: Duration = Duration::from_secs(90);

struct Instance {
    child: Child,
    log: PathBuf,
}

impl Instance {
    fn start(dir: &Path, name: &str, keys: &str, i2cp_port: u16) -> Instance {
        Self::start_with(dir, name, keys, i2cp_port, &[]).0
    }

    /// [`Instance::start`] with `extra` arguments; also returns the SOCKS port.
    fn start_with(
        dir: &Path,
        name: &str,
        keys: &str,
        i2cp_port: u16,
        extra: &[&str],
    ) -> (Instance, u16) {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("dup log");
        let socks_port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_i2psocks"))
            .arg("--datadir")
            .arg(dir)
            .args([
                "--loglevel=info",
                "--i2cp.enabled=true",
                "--i2cp.address=127.0.0.1",
                &format!("--i2cp.port={i2cp_port}"),
                "--socksproxy.address=127.0.0.1",
                &format!("--socksproxy.port={socks_port}"),
                &format!("--socksproxy.keys={keys}"),
                // The offline router has no peers: only zero-hop tunnels can be built.
                "--socksproxy.inbound.length=0",
                "--socksproxy.outbound.length=0",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start i2psocks");
        (Instance { child, log }, socks_port)
    }

    fn log(&self) -> String {
        log_text(&self.log)
    }

    /// Exit code once it has exited, polling up to `within`.
    fn exit_code(&mut self, within: Duration) -> Option<i32> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if started.elapsed() > within {
                return None;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Poll until the log contains `needle`, for as long as the log grows (stall limit
    /// `stall`, up to four times that); fails at once when the process exits.
    fn wait_log(&mut self, needle: &str, stall: Duration) -> Result<(), String> {
        let what = format!("{needle:?} in {}", self.log.display());
        let watched = [self.log.clone()];
        let outcome = common::wait_following(&what, Patience::stall(stall), &watched, || {
            if self.log().contains(needle) {
                return Ok(Ok(()));
            }
            match self.child.try_wait() {
                Ok(Some(status)) => Ok(Err(format!("exited ({status}):\n{}", self.log()))),
                _ => Err("not logged yet".to_owned()),
            }
        });
        match outcome {
            Ok((logged, _)) => logged,
            Err(e) => Err(e),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn java_refusals_end_i2psocks_with_the_reason() {
    const NAME: &str = "java_refusals_end_i2psocks_with_the_reason";
    if skip_without_java(NAME) {
        return;
    }
    let router = JavaRouter::start("refusal").unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("tempdir");
    showing_java_logs_on_panic(&router, || {
        key_certificate_refusal(dir.path(), router.i2cp_port);
        duplicate_destination(dir.path(), router.i2cp_port);
        duplicate_after_an_unclean_exit(dir.path(), router.i2cp_port);
    });
}

/// Run `check`; when it panics, print the Java router's logs before passing the panic on
/// (the router's side of a refusal is in its logs, not in i2psocks').
fn showing_java_logs_on_panic(router: &JavaRouter, check: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
        eprintln!("----- Java router -----\n{}", router.logs());
        std::panic::resume_unwind(panic);
    }
}

/// Keys whose key certificate names crypto type 4 (as i2pd may make them): Java refuses
/// them at CreateSession with a Disconnect.
fn key_certificate_refusal(dir: &Path, i2cp_port: u16) {
    let keys = PrivateKeys::generate(7, 4).expect("keys with crypto type 4");
    std::fs::write(dir.join("x25519-keys.dat"), keys.to_bytes()).expect("write keys");
    let t = Instant::now();
    let mut refused = Instance::start(dir, "x25519", "x25519-keys.dat", i2cp_port);
    let code = refused.exit_code(EXIT_DEADLINE);
    let log = refused.log();
    println!(
        "type-4 key certificate: exit {code:?} after {:.2?}\n{log}",
        t.elapsed()
    );
    assert_eq!(code, Some(3), "{log}");
    assert!(
        log.contains("Non-ElGamal encryption type in key certificate unsupported"),
        "{log}"
    );
    assert!(log.contains("Java I2P does not accept"), "{log}");
    assert!(!log.contains("retry_in"), "retried: {log}");
}

/// A second instance on a copy of running keys: Java answers Disconnect "duplicate
/// destination"; the copy exits at once, the first instance keeps its session.
fn duplicate_destination(dir: &Path, i2cp_port: u16) {
    let mut first = Instance::start(dir, "first", "java-keys.dat", i2cp_port);
    if let Err(e) = first.wait_log("I2CP session is up", READY_STALL) {
        panic!("first instance: {e}");
    }
    std::fs::copy(dir.join("java-keys.dat"), dir.join("java-copy.dat")).expect("copy keys");
    let t = Instant::now();
    let mut copy = Instance::start(dir, "copy", "java-copy.dat", i2cp_port);
    let code = copy.exit_code(EXIT_DEADLINE);
    let log = copy.log();
    println!(
        "copied keys: exit {code:?} after {:.2?}\n{log}",
        t.elapsed()
    );
    assert_eq!(code, Some(3), "{log}");
    assert!(log.contains("\"duplicate destination\""), "{log}");
    assert!(!log.contains("retry_in"), "retried: {log}");
    let first_log = first.log();
    assert!(
        first.child.try_wait().ok().flatten().is_none(),
        "first instance still runs"
    );
    assert!(
        !first_log.contains("I2CP session down"),
        "first instance lost its session: {first_log}"
    );
}

/// Java I2P 2.7.0 allows `i2cp.maxSessions` I2CP sessions router-wide (here 1, taken by the
/// shared session). An isolated user's session beyond it gets Disconnect "session limit
/// exceeded": that user's CONNECT fails with `05 01` and a warning naming the setting,
/// while i2psocks keeps running with its shared session.
#[test]
fn a_user_refused_at_javas_session_limit_leaves_the_proxy_running() {
    const NAME: &str = "a_user_refused_at_javas_session_limit_leaves_the_proxy_running";
    if skip_without_java(NAME) {
        return;
    }
    let router = JavaRouter::start_with("limit", "", "i2cp.maxSessions=1\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("tempdir");
    showing_java_logs_on_panic(&router, || {
        let (mut proxy, socks_port) = Instance::start_with(
            dir.path(),
            "isolate",
            "shared-keys.dat",
            router.i2cp_port,
            &["--isolate"],
        );
        if let Err(e) = proxy.wait_log("I2CP session is up", READY_STALL) {
            panic!("shared session: {e}");
        }
        let reply = login_connect(socks_port, "alice", "web.i2p");
        let warning =
            "isolation: the router refused the session: Disconnect \"session limit exceeded\"";
        if let Err(e) = proxy.wait_log(warning, READY_STALL) {
            panic!("no warning: {e}");
        }
        let log = proxy.log();
        println!("CONNECT reply {reply:02x?}\n{log}");
        assert_eq!(reply.get(..2), Some(&[5u8, 1][..]), "{log}");
        assert!(log.contains("i2cp.maxSessions"), "{log}");
        assert!(!log.contains("start i2psocks again"), "{log}");
        assert!(
            proxy.child.try_wait().ok().flatten().is_none(),
            "i2psocks exited: {log}"
        );
        assert!(
            !log.contains("I2CP session down"),
            "shared session lost: {log}"
        );
        // The user's next connection tries a new session (refused again: still no room).
        let again = login_connect(socks_port, "alice", "web.i2p");
        if let Err(e) = proxy.wait_log("trying a new one", READY_STALL) {
            panic!("refused session not replaced: {e}");
        }
        assert_eq!(again.get(..2), Some(&[5u8, 1][..]), "{}", proxy.log());
    });
}

/// SOCKS5 with a username (method 02, any password), then CONNECT `host:80`; returns the
/// reply's first bytes (an empty vector if the proxy closed first).
fn login_connect(socks_port: u16, user: &str, host: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", socks_port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let mut req = vec![5, 1, 2, 1, user.len() as u8];
    req.extend_from_slice(user.as_bytes());
    req.extend_from_slice(&[1, b'x', 5, 1, 0, 3, host.len() as u8]);
    req.extend_from_slice(host.as_bytes());
    req.extend_from_slice(&80u16.to_be_bytes());
    s.write_all(&req).expect("write");
    let mut head = [0u8; 4];
    if s.read_exact(&mut head[..2]).is_err() || head[..2] != [5, 2] {
        return head[..2].to_vec();
    }
    if s.read_exact(&mut head[..2]).is_err() || head[..2] != [1, 0] {
        return Vec::new();
    }
    let mut reply = [0u8; 2];
    match s.read_exact(&mut reply) {
        Ok(()) => reply.to_vec(),
        Err(_) => Vec::new(),
    }
}

/// A start right after the previous instance on the same keys was killed, before Java has
/// dropped the dead instance's session: the new instance is refused with "duplicate
/// destination" once, waits, and comes up instead of exiting. The dead session is played
/// by a running instance on a copy of the keys, killed once the refusal is logged (Java
/// notices the closed connection late); the killed predecessor by its PID left in the
/// lock file.
fn duplicate_after_an_unclean_exit(dir: &Path, i2cp_port: u16) {
    let mut stale = Instance::start(dir, "stale", "crash-keys.dat", i2cp_port);
    if let Err(e) = stale.wait_log("I2CP session is up", READY_STALL) {
        panic!("instance standing in for the dead session: {e}");
    }
    std::fs::copy(dir.join("crash-keys.dat"), dir.join("restarted-keys.dat")).expect("copy keys");
    std::fs::write(dir.join("restarted-keys.dat.lock"), "4242\n").expect("write a dead PID");
    let t = Instant::now();
    let mut restarted = Instance::start(dir, "restarted", "restarted-keys.dat", i2cp_port);
    if let Err(e) = restarted.wait_log("ended without closing its session", READY_STALL) {
        panic!("restarted instance, refusal: {e}");
    }
    let refused_after = t.elapsed();
    drop(stale);
    if let Err(e) = restarted.wait_log("I2CP session is up", READY_STALL) {
        panic!("restarted instance, second try: {e}");
    }
    let log = restarted.log();
    println!(
        "after an unclean exit: refused after {refused_after:.2?}, up after {:.2?}\n{log}",
        t.elapsed()
    );
    assert!(log.contains("process 4242"), "{log}");
    assert!(log.contains("Disconnect: duplicate destination"), "{log}");
    assert!(
        restarted.child.try_wait().ok().flatten().is_none(),
        "restarted instance still runs"
    );
}

//! Where the proxy listens, without systemd as PID 1: sockets passed the way systemd
//! passes them (`systemd-socket-activate` sets LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES and
//! execs the binary), Unix-domain listeners with their mode and group, and the refusal of
//! an open proxy. The router is never reached here (I2CP port 1): a SOCKS5 greeting is
//! answered without it.
use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Kills the proxy when the test ends, passed or not.
struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// i2psocks with a data dir, an unreachable router and `extra` arguments.
fn i2psocks(dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_i2psocks"));
    cmd.arg("--datadir")
        .arg(dir)
        .args([
            "--i2cp.enabled=true",
            "--i2cp.address=127.0.0.1",
            "--i2cp.port=1",
            "--loglevel=info",
        ])
        .args(extra);
    cmd
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().expect("local addr").port()
}

/// Lines of the child's stdout, read on a thread.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    lines_from(stdout)
}

fn lines_from(stdout: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Wait (up to 60 s) for a line containing `needle`; all lines seen on failure.
fn wait_for_line(lines: &mpsc::Receiver<String>, needle: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no line with {needle:?} within 60 s; log: {seen:#?}");
}

/// A SOCKS5 greeting (no auth) and its answer.
fn greet<S: std::io::Read + std::io::Write>(mut s: S) -> [u8; 2] {
    s.write_all(&[5, 1, 0]).expect("write greeting");
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply).expect("read method reply");
    reply
}

#[test]
fn takes_the_socket_systemd_passes_and_binds_nothing_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let passed = free_port();
    let configured = free_port();
    let mut child = Command::new("systemd-socket-activate")
        .arg("--listen")
        .arg(format!("127.0.0.1:{passed}"))
        .arg("--fdname=socks")
        .arg(env!("CARGO_BIN_EXE_i2psocks"))
        .arg("--datadir")
        .arg(dir.path())
        .args([
            "--i2cp.enabled=true",
            "--i2cp.address=127.0.0.1",
            "--i2cp.port=1",
            "--loglevel=info",
            "--socksproxy.address=127.0.0.1",
        ])
        .arg(format!("--socksproxy.port={configured}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("systemd-socket-activate (Debian package systemd)");
    let lines = lines_of(&mut child);
    let stderr = lines_from(child.stderr.take().expect("piped stderr"));
    let _proxy = Proxy(child);
    // systemd-socket-activate says when it listens, then execs the binary.
    wait_for_line(&stderr, "Listening on");
    let client = TcpStream::connect(("127.0.0.1", passed)).expect("connect to the passed socket");
    client
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    assert_eq!(greet(&client), [5, 0]);
    let seen = wait_for_line(&lines, "socket from systemd");
    assert!(
        seen.iter().any(|l| l.contains("socks")),
        "LISTEN_FDNAMES not logged: {seen:#?}"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", configured)).is_err(),
        "the configured port was bound although systemd passed a socket"
    );
}

/// i2psocks listening on the Unix socket `path` (plus `extra` arguments), returned once it
/// has logged that listener.
fn start_on_unix_socket(datadir: &Path, path: &Path, extra: &[&str]) -> Proxy {
    let listen = format!("--listen=unix:{}", path.display());
    let mut args = vec!["--socksproxy.address=127.0.0.1", "--socksproxy.port=0"];
    args.extend_from_slice(extra);
    args.push(&listen);
    let mut child = i2psocks(datadir, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start i2psocks");
    let lines = lines_of(&mut child);
    let proxy = Proxy(child);
    wait_for_line(&lines, &format!("unix:{}", path.display()));
    proxy
}

#[test]
fn unix_listener_has_its_mode_and_group_and_serves_socks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("socks.sock");
    let settings = dir.path().join("i2psocks.conf");
    let gid = std::fs::metadata(dir.path()).expect("stat").gid();
    std::fs::write(
        &settings,
        format!("[socks]\nunixsocketmode = 0660\nunixsocketgroup = {gid}\n"),
    )
    .expect("write settings");
    let _proxy = start_on_unix_socket(
        dir.path(),
        &path,
        &["--settings", settings.to_str().expect("utf-8 path")],
    );
    let meta = std::fs::metadata(&path).expect("socket file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), gid);
    let client = UnixStream::connect(&path).expect("connect to the unix socket");
    client
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    assert_eq!(greet(&client), [5, 0]);
}

#[test]
fn unix_listener_defaults_to_owner_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s");
    let _proxy = start_on_unix_socket(dir.path(), &path, &[]);
    let mode = std::fs::metadata(&path)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn open_proxy_is_refused_with_both_ways_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = i2psocks(
        dir.path(),
        &["--socksproxy.address=0.0.0.0", "--socksproxy.port=0"],
    )
    .output()
    .expect("run i2psocks");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    for needle in [
        "open proxy",
        "--require-auth",
        "--allow-open-proxy",
        "allowopenproxy",
    ] {
        assert!(text.contains(needle), "{needle:?} missing: {text}");
    }
}

#[test]
fn open_proxy_accepted_explicitly_starts_and_warns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut child = i2psocks(
        dir.path(),
        &[
            "--socksproxy.address=0.0.0.0",
            &format!("--socksproxy.port={port}"),
            "--allow-open-proxy",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("start i2psocks");
    let lines = lines_of(&mut child);
    let _proxy = Proxy(child);
    let seen = wait_for_line(&lines, "OPEN PROXY");
    assert!(seen.iter().any(|l| l.contains("WARN")), "{seen:#?}");
    // The warning comes after the sockets are bound.
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let client = TcpStream::connect(addr).expect("connect to the open listener");
    client
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    assert_eq!(greet(&client), [5, 0]);
}

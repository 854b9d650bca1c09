//! Load and abuse against the real binary, without a router (every CONNECT that gets that far
//! fails with "general failure" because nothing serves I2CP): random bytes from thousands of
//! clients, clients that never speak, and a descriptor limit far below the client count.
//! After each, a well-formed client must still be served at once.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

struct Proxy {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Start i2psocks on a free port, optionally under `prlimit --nofile=N`.
fn start(extra: &[&str], nofile: Option<u32>) -> Proxy {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let exe = env!("CARGO_BIN_EXE_i2psocks");
    let mut cmd = match nofile {
        Some(n) => {
            let mut c = Command::new("prlimit");
            c.arg(format!("--nofile={n}:{n}")).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.arg("--datadir")
        .arg(dir.path())
        .args([
            "--socksproxy.keys=transient",
            "--i2cp.port=1",
            "--loglevel=warn",
        ])
        .arg(format!("--socksproxy.port={port}"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = cmd.spawn().expect("spawn i2psocks");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "i2psocks does not listen");
        thread::sleep(Duration::from_millis(20));
    }
    Proxy {
        child,
        addr,
        _dir: dir,
    }
}

/// A well-formed SOCKS5 exchange: greeting accepted, CONNECT answered with a failure reply
/// (no router), connection closed. Returns how long it took.
fn healthy(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(&[5, 1, 0]).expect("greeting");
    let mut choice = [0u8; 2];
    s.read_exact(&mut choice).expect("method choice");
    assert_eq!(choice, [5, 0]);
    let name = b"web.i2p";
    let mut req = vec![5, 1, 0, 3, name.len() as u8];
    req.extend_from_slice(name);
    req.extend_from_slice(&80u16.to_be_bytes());
    s.write_all(&req).expect("request");
    let mut reply = [0u8; 10];
    s.read_exact(&mut reply).expect("reply");
    assert_eq!(reply[..2], [5, 1], "general failure without a router");
    started.elapsed()
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// One client sending `len` random bytes; true if the server closed the connection.
fn random_client(addr: SocketAddr, seed: u64) -> bool {
    let mut state = seed | 1;
    let len = (xorshift(&mut state) % 64) as usize + 1;
    let mut bytes: Vec<u8> = (0..len).map(|_| xorshift(&mut state) as u8).collect();
    // Half of them look like SOCKS at first, to get deeper into the parser.
    if seed.is_multiple_of(2) {
        bytes[0] = [4, 5][(seed / 2 % 2) as usize];
    }
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    let _ = s.write_all(&bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut sink = Vec::new();
    // EOF or reset: the server closed; a timeout means it still holds the connection.
    match s.read_to_end(&mut sink) {
        Ok(_) => true,
        Err(e) => {
            e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut
        }
    }
}

#[test]
fn ten_thousand_clients_sending_random_bytes() {
    let proxy = start(&["--handshake-timeout=2"], None);
    let started = Instant::now();
    let mut not_closed = 0;
    for batch in 0..50u64 {
        let workers: Vec<_> = (0..200u64)
            .map(|i| {
                let addr = proxy.addr;
                thread::spawn(move || random_client(addr, batch * 1000 + i + 1))
            })
            .collect();
        for w in workers {
            if !w.join().expect("client thread") {
                not_closed += 1;
            }
        }
    }
    println!(
        "10,000 random clients in {:.2?}; {not_closed} not closed within 3 s",
        started.elapsed()
    );
    assert_eq!(
        not_closed, 0,
        "every garbage client is closed (handshake timeout 2 s)"
    );
    let took = healthy(proxy.addr);
    assert!(
        took < Duration::from_secs(1),
        "healthy client took {took:?}"
    );
}

#[test]
fn silent_clients_are_freed_by_the_handshake_timeout() {
    let proxy = start(&["--handshake-timeout=1", "--max-connections=50"], None);
    // Twice the connection cap, all silent.
    let silent: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(proxy.addr).expect("connect"))
        .collect();
    let started = Instant::now();
    for mut s in silent {
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "a silent client gets no reply, only the close");
    }
    let waited = started.elapsed();
    println!("100 silent clients (cap 50, timeout 1 s) all closed after {waited:.2?}");
    assert!(waited < Duration::from_secs(6), "{waited:?}");
    healthy(proxy.addr);
}

#[test]
fn thousand_clients_under_a_256_descriptor_limit() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        panic!("prlimit (util-linux) is required");
    }
    let proxy = start(&["--handshake-timeout=30"], Some(256));
    // Hold 1000 connections open (the proxy can take ~250); our own limit is raised first.
    let mut held = Vec::new();
    for _ in 0..1000 {
        match TcpStream::connect_timeout(&proxy.addr, Duration::from_secs(2)) {
            Ok(s) => held.push(s),
            Err(_) => break,
        }
    }
    println!("held {} connections against a 256-fd proxy", held.len());
    assert!(held.len() >= 500, "the kernel backlog should take the rest");
    drop(held);
    // The accept loop must come back: poll with a deadline.
    let freed = Instant::now();
    let deadline = freed + Duration::from_secs(20);
    loop {
        let ok = std::panic::catch_unwind(|| healthy(proxy.addr)).is_ok();
        if ok {
            println!(
                "accept loop served a client {:.2?} after the descriptors were freed",
                freed.elapsed()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery after descriptors were freed"
        );
        thread::sleep(Duration::from_millis(100));
    }
    let mut proxy = proxy;
    assert!(
        proxy.child.try_wait().expect("poll").is_none(),
        "i2psocks must still run"
    );
}

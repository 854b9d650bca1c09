//! i2psocks through a Java I2P 2.7.0 router: an HTTP GET by hosts.txt name to a server
//! behind Java's own I2PTunnel server tunnel on the same (offline) router, byte-exact.
//! i2psocks sends its data with SendMessageExpires (type 36); this is the check that Java
//! carries it as it carried SendMessage.
//!
//! A b32 lookup of another local client fails on an offline Java router (each client has
//! its own netDb), hence the hosts.txt name. Without Java or the jars: SKIPPED, unless
//! I2PSOCKS_REQUIRE_TESTBED=1.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{Curl, JavaRouter, log_text, skip_without_java};
use i2psocks::data::PrivateKeys;

const BODY_LEN: usize = 512 * 1024;
/// Stall limit from start to the first 200: the JVM, both tunnels and the lookup (about
/// 10 s here). The wait goes on while i2psocks', I2PTunnel's or the router's logs grow, up
/// to four times this.
const FIRST_200_STALL: Duration = Duration::from_secs(180);

/// A one-page HTTP/1.0 server on 127.0.0.1 serving `body` to every request.
fn http_server(body: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let body = body.clone();
            thread::spawn(move || {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nContent-Type: \
                     application/octet-stream\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(&body);
            });
        }
    });
    port
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn i2ptunnel_server(router: &JavaRouter, keys: &Path, http_port: u16) -> Killed {
    let lib = router.lib().expect("jars");
    let log = std::fs::File::create(router.dir().join("i2ptunnel.log")).expect("log");
    let log2 = log.try_clone().expect("dup");
    // I2PTunnel writes its logs/ into the working directory: keep it in the router's.
    let child = Command::new("java")
        .current_dir(router.dir())
        .arg("-Xmx128m")
        .arg("-cp")
        .arg(format!("{}/*", lib.display()))
        .arg("net.i2p.i2ptunnel.I2PTunnel")
        .arg("-nocli")
        .arg("-e")
        .arg(format!("config 127.0.0.1 {}", router.i2cp_port))
        // No peers: only zero-hop tunnels can be built.
        .arg("-e")
        .arg("clientoptions inbound.length=0 outbound.length=0")
        .arg("-e")
        .arg(format!("server 127.0.0.1 {http_port} {}", keys.display()))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .expect("start I2PTunnel");
    Killed(child)
}

#[test]
fn http_through_a_java_router_is_byte_exact() {
    const NAME: &str = "http_through_a_java_router_is_byte_exact";
    if skip_without_java(NAME) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let body = common::pattern(BODY_LEN, 7);
    let http_port = http_server(body.clone());
    // The server's keys in i2pd's keys-file format, which is Java's PrivateKeyFile format
    // for ElGamal + Ed25519 keys.
    let server_keys = PrivateKeys::generate(7, 0).expect("keys");
    let server_keys_path = dir.path().join("server-keys.dat");
    std::fs::write(&server_keys_path, server_keys.to_bytes()).expect("write keys");
    let hosts = format!("javasrv.i2p={}\n", server_keys.destination().to_base64());
    let router = JavaRouter::start_with_hosts("e2e", &hosts).unwrap_or_else(|e| panic!("{e}"));
    let _tunnel = i2ptunnel_server(&router, &server_keys_path, http_port);

    let socks_port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let log_path = dir.path().join("i2psocks.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let log2 = log.try_clone().expect("dup");
    let _proxy = Killed(
        Command::new(env!("CARGO_BIN_EXE_i2psocks"))
            .arg("--datadir")
            .arg(dir.path())
            .args([
                "--loglevel=info",
                "--i2cp.enabled=true",
                &format!("--i2cp.port={}", router.i2cp_port),
                &format!("--socksproxy.port={socks_port}"),
                "--socksproxy.keys=client-keys.dat",
                "--socksproxy.inbound.length=0",
                "--socksproxy.outbound.length=0",
            ])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .expect("start i2psocks"),
    );

    let out = dir.path().join("body.bin");
    let mut logs = vec![log_path.clone(), router.dir().join("i2ptunnel.log")];
    logs.extend(router.log_paths());
    let started = Instant::now();
    let result = Curl::local(format!("127.0.0.1:{socks_port}"), "http://javasrv.i2p/")
        .max_secs(60)
        .output(&out)
        .wait_for_200_following(
            "a first 200 from javasrv.i2p through i2psocks",
            FIRST_200_STALL,
            &logs,
        );
    let (first, took) = match result {
        Ok(ok) => ok,
        Err(e) => panic!(
            "{e}\n----- i2psocks -----\n{}\n----- I2PTunnel -----\n{}\n----- router -----\n{}",
            log_text(&log_path),
            log_text(router.dir().join("i2ptunnel.log")),
            router.logs()
        ),
    };
    let got = std::fs::read(&out).expect("body");
    assert!(
        got == body,
        "body differs: {} of {BODY_LEN} bytes",
        got.len()
    );
    println!(
        "first 200 after {took:.2?} ({:.2?} since the proxy started); {BODY_LEN} bytes \
         byte-exact in {:.2?}",
        started.elapsed(),
        first.wall
    );
    // A second request on the warm session. Its speed is the JVM's on a loaded machine,
    // not what is checked: curl gives up after 30 s without a byte, 300 s in all.
    let again = Curl::local(format!("127.0.0.1:{socks_port}"), "http://javasrv.i2p/")
        .max_secs(300)
        .stall_secs(30)
        .output(&out)
        .run();
    assert!(again.ok(), "{again:?}");
    assert!(std::fs::read(&out).expect("body") == body);
    println!("second request: {:.2?}", again.wall);
}

//! i2psocks end to end: the real binary in the real-router testbed (three i2pd routers in a
//! private netns, contrib/testbed), traffic through its SOCKS port to the testbed's HTTP
//! and echo services, checked byte for byte, with i2pd's built-in SOCKS (the reference)
//! measured in the same run for comparison.
//!
//! Needs root and /usr/sbin/i2pd; otherwise the tests print SKIPPED and pass, unless
//! I2PSOCKS_REQUIRE_TESTBED=1 (CI). Run with `--nocapture` to see the figures.

mod common;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{Curl, NsChild, Patience, Testbed, UpOptions, socks5_connect};
use data_encoding::HEXLOWER;
use sha2::{Digest, Sha256};

/// Stall limit for i2psocks' way from start to a working CONNECT (session + LeaseSet
/// published: 3–14 s on this testbed): the wait goes on while the routers' or i2psocks'
/// logs grow, up to four times this ([`common::Patience::stall`]).
const READY_STALL: Duration = Duration::from_secs(90);
/// Socket timeout for every exchange; generous because CI machines are noisy.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// Half-close: the longest acceptable gap between the answer's last byte and the client's
/// EOF; the defect it catches is the 10 s linger (`DeferredClose` waiting for silence).
const EOF_BOUND: Duration = Duration::from_secs(8);

fn i2psocks_command(tb: &Testbed, keys: &str) -> Command {
    let mut cmd = tb.i2psocks_command("info");
    cmd.arg(format!("--socksproxy.keys={keys}"));
    cmd
}

fn start_i2psocks(tb: &Testbed, keys: &str, log_name: &str) -> NsChild {
    tb.spawn_in_ns(&i2psocks_command(tb, keys), log_name)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn print_log(child: &NsChild) {
    let log = match std::fs::read(child.log_path()) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("cannot read {}: {e}\n", child.log_path().display()),
    };
    eprintln!("----- i2psocks log -----\n{log}----- end of i2psocks log -----");
}

fn sha256_hex(bytes: &[u8]) -> String {
    HEXLOWER.encode(&Sha256::digest(bytes))
}

/// What the inner run (inside the netns) needs from the env file.
struct Lab {
    ours: SocketAddr,
    reference: SocketAddr,
    /// The reference is Java I2P's SOCKS proxy: curl reaches it with SOCKS4a
    /// ([`Curl::socks4a`]).
    reference_is_java: bool,
    web_b32: String,
    echo_b32: String,
    onek_sha: String,
    big_sha: String,
    big_bytes: usize,
    script: String,
    name: String,
    /// What the readiness wait watches for progress (routers' and i2psocks' logs).
    logs: Vec<PathBuf>,
}

impl Lab {
    fn from_env(env: &HashMap<String, String>) -> Lab {
        let get = |k: &str| {
            env.get(k)
                .unwrap_or_else(|| panic!("env lacks {k}"))
                .clone()
        };
        let port = |k: &str| -> u16 { get(k).parse().expect("port number") };
        Lab {
            ours: SocketAddr::from(([127, 0, 0, 1], port("I2PSOCKS_PORT"))),
            reference: SocketAddr::from(([127, 0, 0, 1], port("REF_SOCKS_PORT"))),
            reference_is_java: get("CLI_ROUTER").starts_with("java-"),
            web_b32: get("WEB_B32"),
            echo_b32: get("ECHO_B32"),
            onek_sha: get("ONEK_SHA256"),
            big_sha: get("BIG_SHA256"),
            big_bytes: get("BIG_BYTES").parse().expect("BIG_BYTES"),
            script: get("TESTBED_SCRIPT"),
            name: get("TESTBED_NAME"),
            logs: common::testbed_logs_from_env(env),
        }
    }

    fn service(&self, action: &str, service: &str) {
        let status = Command::new(&self.script)
            .args([action, &self.name, service])
            .stdout(Stdio::null())
            .status()
            .expect("run testbed.sh");
        assert!(status.success(), "testbed.sh {action} {service}: {status}");
    }
}

/// HTTP/1.0 GET through a SOCKS5 proxy; returns (status line, body).
fn http_get(proxy: SocketAddr, host: &str, path: &str) -> io::Result<(String, Vec<u8>)> {
    let mut stream = socks5_connect(proxy, host, 80, IO_TIMEOUT)?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n")?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            io::Error::other(format!(
                "no end of HTTP header in {} bytes before EOF: {:?}",
                response.len(),
                String::from_utf8_lossy(&response[..response.len().min(64)])
            ))
        })?;
    let status = String::from_utf8_lossy(&response[..split])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    Ok((status, response[split + 4..].to_vec()))
}

/// Poll until a GET of 1k.bin through i2psocks works (the session and its LeaseSet are up),
/// for as long as the routers or i2psocks make progress.
fn wait_until_ready(lab: &Lab) -> Duration {
    let what = "a GET of 1k.bin through i2psocks (session and LeaseSet up)";
    common::wait_following(
        what,
        Patience::stall(READY_STALL),
        &lab.logs,
        || match http_get(lab.ours, &lab.web_b32, "/1k.bin") {
            Ok((status, body)) if status.contains(" 200 ") && body.len() == 1024 => Ok(()),
            Ok((status, body)) => Err(format!("{status:?}, {} body bytes", body.len())),
            Err(e) => Err(e.to_string()),
        },
    )
    .map(|((), took)| took)
    .unwrap_or_else(|e| panic!("{e}"))
}

/// `curl --socks5-hostname` GET (`--socks4a` with `socks4a`); returns (body sha256, bytes,
/// seconds). Panics unless 200.
fn curl(proxy: SocketAddr, socks4a: bool, url: &str, out: &Path) -> (String, usize, f64) {
    // Java I2P as the client router moves 0.3-1 MB/s on two loaded cores, i2pd 7-10 MB/s:
    // the limit follows progress (30 s without a byte), with a generous outer bound.
    let got = Curl::local(proxy, url)
        .socks4a_if(socks4a)
        .max_secs(480)
        .stall_secs(30)
        .output(out)
        .run();
    assert!(
        got.ok(),
        "curl {url} via {proxy}: exit {} code {:?} {}",
        got.exit,
        got.code,
        got.stderr
    );
    let body = std::fs::read(out).expect("curl output");
    std::fs::remove_file(out).expect("remove curl output");
    (sha256_hex(&body), body.len(), got.wall.as_secs_f64())
}

fn ping_pong(proxy: SocketAddr, host: &str, rounds: u64) -> Vec<Duration> {
    let mut stream = socks5_connect(proxy, host, 80, IO_TIMEOUT).expect("CONNECT echo");
    common::echo_round_trips(&mut stream, rounds, host)
}

/// Send `len` bytes to echo while reading them back; returns seconds. Byte-exact or panic.
fn bulk_echo(proxy: SocketAddr, host: &str, len: usize) -> f64 {
    let stream = socks5_connect(proxy, host, 80, IO_TIMEOUT).expect("CONNECT echo");
    let payload = common::pattern(len, 0x1234_5678 ^ len as u64);
    let expected = sha256_hex(&payload);
    let (got, secs) = common::echo_bulk(&stream, payload);
    assert_eq!(sha256_hex(&got), expected, "echo of {len} B via {host}");
    secs
}

/// The client shuts down its sending side after the request: the whole answer must still
/// arrive (i2pd's own proxy loses the tail), then the stream ends. Returns the bytes
/// received, whether they are exact, and the time from the last byte to EOF.
fn half_close_echo(proxy: SocketAddr, host: &str, len: usize) -> (usize, bool, Duration) {
    let mut stream = socks5_connect(proxy, host, 80, IO_TIMEOUT).expect("CONNECT echo");
    let payload = common::pattern(len, 7);
    stream.write_all(&payload).expect("write payload");
    stream.shutdown(Shutdown::Write).expect("shutdown write");
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_byte = Instant::now();
    let finished = loop {
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                last_byte = Instant::now();
            }
            Err(_) => break false,
        }
    };
    let eof_after = last_byte.elapsed();
    (got.len(), finished && got == payload, eof_after)
}

/// A measurement of i2pd's own proxy, printed beside ours for comparison. Its transfers
/// sometimes stall under load (RELIABILITY.md), and that is not what this test checks: a
/// failure is printed and the test goes on.
fn reference<T>(what: &str, measure: impl FnOnce() -> T) -> Option<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(measure)) {
        Ok(value) => Some(value),
        Err(_) => {
            println!("reference (i2pd's own proxy) {what}: failed (panic message above)");
            None
        }
    }
}

fn mb_per_s(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

fn traffic_inner(env: &HashMap<String, String>) {
    let lab = Lab::from_env(env);
    let ready = wait_until_ready(&lab);
    println!("i2psocks usable {ready:.2?} after the inner run started");

    // curl by b32 and by address-book name.
    let tmp = std::env::temp_dir().join(format!("e2e-{}", std::process::id()));
    for host in [lab.web_b32.as_str(), "web.i2p"] {
        let (sha, len, _) = curl(lab.ours, false, &format!("http://{host}/1k.bin"), &tmp);
        assert_eq!((sha.as_str(), len), (lab.onek_sha.as_str(), 1024), "{host}");
        println!("curl http://{host}/1k.bin through i2psocks: 200, body correct");
    }

    // 50 MiB download, ours and the reference alternately.
    let url = format!("http://{}/big.bin", lab.web_b32);
    for round in 0..2 {
        let (sha, len, secs) = curl(lab.ours, false, &url, &tmp);
        assert_eq!(len, lab.big_bytes, "i2psocks download length");
        assert_eq!(sha, lab.big_sha, "i2psocks download sha256");
        println!(
            "download {len} B round {round} via i2psocks: {secs:.2}s = {:.2} MB/s",
            mb_per_s(len, secs)
        );
        if let Some((_, len, secs)) = reference("50 MiB download", || {
            curl(lab.reference, lab.reference_is_java, &url, &tmp)
        }) {
            println!(
                "download {len} B round {round} via i2pd: {secs:.2}s = {:.2} MB/s",
                mb_per_s(len, secs)
            );
        }
    }

    // Echo: 200 × 64 B ping-pong by b32 and by name.
    for host in [lab.echo_b32.as_str(), "echo.i2p"] {
        let rtts = ping_pong(lab.ours, host, 200);
        println!(
            "echo 200 x 64 B via {host}: p50 {:?} max {:?}",
            rtts[rtts.len() / 2],
            rtts[rtts.len() - 1]
        );
    }
    if let Some(ref_rtts) = reference("echo", || ping_pong(lab.reference, &lab.echo_b32, 200)) {
        println!("reference echo 200 x 64 B: p50 {:?}", ref_rtts[100]);
    }

    // 8 MiB each way at once; 20 MiB upload (echoed back, sha256 compared).
    for len in [8 << 20, 20 << 20] {
        let secs = bulk_echo(lab.ours, &lab.echo_b32, len);
        println!(
            "echo {len} B each way via i2psocks: {secs:.2}s = {:.2} MB/s each way",
            mb_per_s(len, secs)
        );
    }
    if let Some(secs) = reference("bulk echo", || {
        bulk_echo(lab.reference, &lab.echo_b32, 20 << 20)
    }) {
        println!(
            "echo 20 MiB each way via i2pd: {secs:.2}s = {:.2} MB/s",
            mb_per_s(20 << 20, secs)
        );
    }

    concurrent_gets(&lab, 50);

    let (got, exact, eof_after) = half_close_echo(lab.ours, &lab.echo_b32, 1 << 20);
    assert!(exact, "half-closed client got {got} of {} B", 1 << 20);
    let (ref_got, ref_exact, ref_eof) = half_close_echo(lab.reference, &lab.echo_b32, 1 << 20);
    println!(
        "half-close 1 MiB: i2psocks {got} B (exact), EOF {eof_after:?} after the last byte; \
         i2pd {ref_got} B (exact: {ref_exact}), EOF {ref_eof:?} after its last byte"
    );
    // The echo server waits for EOF; the client's EOF must come after a quiet spell of four
    // smoothed round trips (at least 0.5 s; src/streaming/half_close.rs), not after the 10 s
    // linger. Round trips through three routers on a loaded machine reach a second, so the
    // bound sits below the linger rather than near the floor.
    assert!(
        eof_after < EOF_BOUND,
        "EOF {eof_after:?} after the last byte"
    );
    // A short request/response: the same, with a small answer.
    let (got, exact, eof_after) = half_close_echo(lab.ours, &lab.echo_b32, 64);
    assert!(exact, "half-closed client got {got} of 64 B");
    println!("half-close 64 B: EOF {eof_after:?} after the last byte");
    assert!(
        eof_after < EOF_BOUND,
        "EOF {eof_after:?} after the last byte"
    );

    refused_targets(&lab);
    service_stopped(&lab);
}

fn concurrent_gets(lab: &Lab, n: usize) {
    let started = Instant::now();
    let workers: Vec<_> = (0..n)
        .map(|_| {
            let (proxy, host) = (lab.ours, lab.web_b32.clone());
            thread::spawn(move || {
                let result = http_get(proxy, &host, "/1k.bin");
                (result, started.elapsed())
            })
        })
        .collect();
    let mut failures = Vec::new();
    for worker in workers {
        match worker.join().expect("worker thread") {
            (Ok((status, body)), _)
                if status.contains(" 200 ") && sha256_hex(&body) == lab.onek_sha => {}
            (other, after) => failures.push(format!("after {after:.2?}: {other:?}")),
        }
    }
    // All of them failing at once has been seen once (i2pd 2.56.0, loaded machine) with
    // nothing in i2psocks' log: the routers' logs of that moment are what can tell why.
    if !failures.is_empty() {
        let tails: String = lab
            .logs
            .iter()
            .map(|path| common::log_tail_lines(path, 40))
            .collect();
        panic!(
            "{} of {n} failed: {failures:?}\nlogs at the failure:\n{tails}",
            failures.len()
        );
    }
    println!("{n} concurrent GETs: all ok in {:.2?}", started.elapsed());
}

/// Names the router does not know get 04; names outside I2P get 08 (no outproxy).
fn refused_targets(lab: &Lab) {
    for (host, code) in [("nosuchname.i2p", "04"), ("example.com", "08")] {
        let err = socks5_connect(lab.ours, host, 80, IO_TIMEOUT).expect_err(host);
        assert_eq!(
            err.kind(),
            io::ErrorKind::ConnectionRefused,
            "{host}: {err}"
        );
        assert!(
            err.to_string().contains(code),
            "{host}: expected reply {code}: {err}"
        );
    }
}

/// The service behind the server tunnel is down: the client sees the close within seconds.
fn service_stopped(lab: &Lab) {
    lab.service("stop-service", "echo");
    let started = Instant::now();
    let mut stream = socks5_connect(lab.ours, &lab.echo_b32, 80, IO_TIMEOUT).expect("CONNECT");
    stream.write_all(b"anyone there?").expect("write");
    let mut buf = [0u8; 64];
    let read = stream.read(&mut buf);
    let waited = started.elapsed();
    lab.service("start-service", "echo");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "expected a close, got {read:?}"
    );
    // A close that never comes shows as the read timeout (IO_TIMEOUT, 60 s); the close
    // itself crosses the routers (the server tunnel's close, then i2psocks' own), which a
    // loaded machine slows: half the read timeout tells the two apart without a tight
    // number.
    let bound = IO_TIMEOUT / 2;
    assert!(waited < bound, "close took {waited:?} (bound {bound:?})");
    println!("echo service stopped: client saw the close after {waited:.2?}");
}

/// Everything a user does through the proxy, against the real routers.
#[test]
fn socks_traffic_through_i2psocks() {
    const NAME: &str = "socks_traffic_through_i2psocks";
    if let Some(env) = common::inner_env() {
        traffic_inner(&env);
        return;
    }
    if common::skip_without_real_router(NAME) {
        return;
    }
    let tb = Testbed::up_with(&UpOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let proxy = start_i2psocks(&tb, "socks-keys.dat", "i2psocks-traffic");
    let outcome = std::panic::catch_unwind(|| {
        tb.run_test_in_ns_timeout(NAME, Duration::from_secs(600));
    });
    print_log(&proxy);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// `i2psocks address` prints what i2pd prints for its own keys files, and a restarted
/// i2psocks comes back with the same address and works again.
#[test]
fn address_matches_i2pd_and_survives_restart() {
    const NAME: &str = "address_matches_i2pd_and_survives_restart";
    if let Some(env) = common::inner_env() {
        let lab = Lab::from_env(&env);
        let ready = wait_until_ready(&lab);
        println!("usable {ready:.2?} after the inner run started");
        return;
    }
    require_real_router!(NAME);
    let tb = common::small_testbed();

    // i2pd wrote web-keys.dat for its server tunnel; its b32 is WEB_B32.
    let output = Command::new(env!("CARGO_BIN_EXE_i2psocks"))
        .arg("--datadir")
        .arg(tb.env("SRV_DATADIR").expect("SRV_DATADIR"))
        .args(["--socksproxy.keys=web-keys.dat", "address"])
        .output()
        .expect("run i2psocks address");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), tb.web_b32());

    let mut first = start_i2psocks(&tb, "socks-keys.dat", "i2psocks-first");
    let b32 = first.logged_destination().unwrap_or_else(|e| panic!("{e}"));
    tb.run_test_in_ns(NAME);
    print_log(&first);
    drop(first); // SIGKILL, like a crash

    let mut second = start_i2psocks(&tb, "socks-keys.dat", "i2psocks-second");
    assert_eq!(
        second
            .logged_destination()
            .unwrap_or_else(|e| panic!("{e}")),
        b32,
        "address changed on restart"
    );
    tb.run_test_in_ns(NAME);
    print_log(&second);
}

//! Outproxies inside I2P on the real-router testbed: two small HTTP CONNECT proxies (python,
//! standard library) behind i2pd server tunnels added to the testbed's srv router, i2psocks
//! configured with both (`--i2p-outproxies`), curl through i2psocks for a non-.i2p name that
//! only the outproxies know (`clearnet.test`, which they map to the testbed's web service).
//! The first outproxy serves; once it is down, the second does; an error status from an
//! outproxy reaches the client as `05 03` without failover.
//!
//! Needs root and /usr/sbin/i2pd; otherwise the test prints SKIPPED and passes, unless
//! I2PSOCKS_REQUIRE_TESTBED=1 (CI).

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{NsChild, Patience, Testbed, UpOptions, log_text};

/// New server tunnels need their LeaseSets published; i2psocks its session. The stall
/// limit of those waits: they go on while the routers' or i2psocks' logs grow, up to four
/// times this (CI is loaded).
const READY_STALL: Duration = Duration::from_secs(120);
/// The name only the outproxies can resolve (to 127.0.0.1 inside the netns).
const CLEARNET_HOST: &str = "clearnet.test";
/// Local ports of the two CONNECT proxies inside the netns.
const PROXY_PORTS: [u16; 2] = [8091, 8092];

/// A CONNECT proxy: logs each request line as "<tag> CONNECT host:port HTTP/1.1", maps
/// clearnet.test to 127.0.0.1, answers 502 for other names, then relays both ways.
const CONNECT_PROXY: &str = r#"
import socket, sys, threading
port, tag = int(sys.argv[1]), sys.argv[2]
NAMES = {"clearnet.test": "127.0.0.1"}

def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

def handle(client):
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = client.recv(4096)
        if not data:
            client.close()
            return
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    line = head.split(b"\r\n")[0].decode("latin-1")
    print(tag, line, flush=True)
    parts = line.split()
    if len(parts) != 3 or parts[0] != "CONNECT":
        client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
        client.close()
        return
    host, _, target_port = parts[1].rpartition(":")
    try:
        upstream = socket.create_connection((NAMES[host], int(target_port)), timeout=10)
    except (KeyError, OSError, ValueError):
        client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        client.close()
        return
    upstream.settimeout(None)
    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    if rest:
        upstream.sendall(rest)
    back = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
    back.start()
    pipe(client, upstream)
    back.join()
    client.close()
    upstream.close()

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(64)
print(tag, "listening", flush=True)
while True:
    conn, _ = server.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
"#;

#[test]
fn outproxies_inside_i2p_with_failover() {
    require_real_router!("outproxies_inside_i2p_with_failover");
    // No big.bin needed.
    let options = UpOptions {
        big_mib: 1,
        ..UpOptions::default()
    };
    let tb = Testbed::up_with(&options).unwrap_or_else(|e| panic!("testbed up: {e}"));
    let script = tb.dir().join("connect-proxy.py");
    std::fs::write(&script, CONNECT_PROXY).expect("write the proxy script");
    let mut proxies: Vec<Option<NsChild>> = PROXY_PORTS
        .iter()
        .enumerate()
        .map(|(i, port)| Some(start_proxy(&tb, &script, *port, i + 1)))
        .collect();
    let b32s = add_server_tunnels(&tb);
    let onek = std::fs::read(Path::new(tb.env("WEB_ROOT").expect("WEB_ROOT")).join("1k.bin"))
        .expect("1k.bin");
    let url = format!(
        "http://{CLEARNET_HOST}:{}/1k.bin",
        tb.env("WEB_PORT_LOCAL").expect("port")
    );
    // Both outproxies work through i2pd's own SOCKS first (curl: SOCKS pre-proxy, then HTTP
    // CONNECT to the outproxy), so the order i2psocks uses them in is not decided by which
    // LeaseSet was published first.
    for b32 in &b32s {
        wait_until(&tb, &format!("outproxy {b32} through i2pd's SOCKS"), || {
            let out = curl_via_reference(&tb, b32, &url);
            (out.0 == 0 && out.1 == onek).then_some(()).ok_or(out.2)
        });
    }

    // The probes above went through both outproxies: count CONNECT lines from here on.
    let seen = |i: usize| log_text(tb.dir().join(format!("outproxy{i}.log")));
    let wanted = format!("CONNECT {CLEARNET_HOST}:");
    let connects = |i: usize| seen(i).matches(&wanted).count();
    let before = [connects(1), connects(2)];

    let mut cmd = tb.i2psocks_command("debug");
    cmd.arg("--socksproxy.keys=transient-outproxy")
        .arg(format!("--i2p-outproxies={}:80,{}", b32s[0], b32s[1]));
    let proxy = tb
        .spawn_in_ns(&cmd, "i2psocks-outproxy")
        .unwrap_or_else(|e| panic!("{e}"));
    tb.wait_for_tcp(tb.i2psocks_port(), Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\n{}", common::log_tail(&proxy)));

    // 1. The first outproxy serves.
    let took = tb
        .wait_for_200(tb.i2psocks_port(), &url, READY_STALL)
        .unwrap_or_else(|e| {
            panic!(
                "no answer through the first outproxy: {e}\n{}",
                common::log_tail(&proxy)
            )
        });
    let page = tb.curl(tb.i2psocks_port(), &url).run();
    assert!(page.ok() && page.downloaded == 1024, "{page:?}");
    assert!(connects(1) > before[0], "outproxy 1 saw: {}", seen(1));
    assert_eq!(
        connects(2),
        before[1],
        "outproxy 2 was used while 1 worked: {}",
        seen(2)
    );
    eprintln!("first page through outproxy 1 after {took:?}");

    // 2. An error status (unknown name) is 05 03, and does not fail over.
    let unknown = tb
        .curl(tb.i2psocks_port(), "http://nowhere.test/")
        .max_secs(60)
        .run();
    assert!(!unknown.ok(), "{unknown:?}");
    assert!(seen(1).contains("CONNECT nowhere.test:80"), "{}", seen(1));
    assert!(
        !seen(2).contains("nowhere.test"),
        "failed over on a 502: {}",
        seen(2)
    );

    // 3. The first outproxy's service goes down: the second one serves.
    drop(proxies[0].take());
    let started = Instant::now();
    // What is asserted is that the request fails over, not how fast: the failover needs a
    // lookup and tunnels toward the second outproxy, which a loaded machine stretches, so
    // curl's limit is only a generous budget.
    let page = tb.curl(tb.i2psocks_port(), &url).max_secs(300).run();
    assert!(
        page.ok() && page.downloaded == 1024,
        "no failover: {page:?}\n{}",
        common::log_tail(&proxy)
    );
    assert!(connects(2) > before[1], "outproxy 2 saw: {}", seen(2));
    assert!(
        log_text(proxy.log_path()).contains("trying the next one"),
        "{}",
        common::log_tail(&proxy)
    );
    eprintln!("failover to outproxy 2 took {:?}", started.elapsed());
    drop(proxies);
}

fn start_proxy(tb: &Testbed, script: &Path, port: u16, index: usize) -> NsChild {
    let mut cmd = Command::new("python3");
    cmd.arg("-u")
        .arg(script)
        .arg(port.to_string())
        .arg(format!("outproxy{index}"));
    let child = tb
        .spawn_in_ns(&cmd, &format!("outproxy{index}"))
        .unwrap_or_else(|e| panic!("{e}"));
    tb.wait_for_tcp(port, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("outproxy {index}: {e}"));
    child
}

/// Server tunnels for both proxies on srv (added to its tunnels.conf; i2pd reloads it on
/// SIGHUP); their `.b32.i2p` addresses.
fn add_server_tunnels(tb: &Testbed) -> Vec<String> {
    let tunconf = tb.env("SRV_TUNCONF").expect("SRV_TUNCONF");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(tunconf)
        .expect("open srv's tunnels.conf");
    // The testbed's tunnel length, like srv's other server tunnels.
    let hops = tb.hops();
    for (i, port) in PROXY_PORTS.iter().enumerate() {
        let n = i + 1;
        write!(
            file,
            "\n[outproxy{n}]\ntype = server\nhost = 127.0.0.1\nport = {port}\n\
             keys = outproxy{n}-keys.dat\ninbound.length = {hops}\noutbound.length = {hops}\n"
        )
        .expect("append a tunnel");
    }
    drop(file);
    let pid = std::fs::read_to_string(tb.dir().join("pids/srv")).expect("srv's pid");
    let status = Command::new("kill")
        .args(["-HUP", pid.trim()])
        .status()
        .expect("kill -HUP");
    assert!(status.success(), "SIGHUP to srv failed");
    let datadir = PathBuf::from(tb.env("SRV_DATADIR").expect("SRV_DATADIR"));
    (1..=PROXY_PORTS.len())
        .map(|n| {
            let keys = datadir.join(format!("outproxy{n}-keys.dat"));
            wait_until(tb, &format!("srv to write {}", keys.display()), || {
                b32_of(&keys).ok_or_else(|| "no keys yet".to_owned())
            })
        })
        .collect()
}

/// The `.b32.i2p` of an i2pd keys file, from the testbed's own tool (`tbutil.py dest`).
/// (`i2psocks address` would take the path relative to its data directory, as i2pd does.)
fn b32_of(keys: &Path) -> Option<String> {
    if std::fs::metadata(keys).map(|m| m.len()).unwrap_or(0) < 387 {
        return None;
    }
    let tbutil = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/testbed/tbutil.py");
    let out = Command::new("python3")
        .arg(tbutil)
        .arg("dest")
        .arg(keys)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let b32 = text.split_whitespace().nth(1)?;
    (out.status.success() && b32.len() == 52).then(|| format!("{b32}.b32.i2p"))
}

/// curl through i2pd's SOCKS as pre-proxy and the outproxy `b32` as HTTP proxy with
/// CONNECT (`-p`): (exit, body, stderr).
fn curl_via_reference(tb: &Testbed, b32: &str, url: &str) -> (i32, Vec<u8>, String) {
    let out = tb
        .command("curl")
        .args(["-sS", "--max-time", "20", "-p"])
        .arg("--preproxy")
        .arg(format!("socks5h://127.0.0.1:{}", tb.ref_socks_port()))
        .arg("--proxy")
        .arg(format!("http://{b32}:80"))
        .arg(url)
        .output()
        .expect("curl runs");
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Poll `probe` until it gives a value, for as long as the testbed's logs grow or the
/// probe's error changes ([`common::wait_following`], stall limit [`READY_STALL`]); panics
/// with its last error and the logs' tails when it gives up.
fn wait_until<T>(tb: &Testbed, what: &str, probe: impl FnMut() -> Result<T, String>) -> T {
    let patience = Patience::stall(READY_STALL);
    common::wait_following(what, patience, &tb.progress_logs(), probe)
        .map(|(value, _)| value)
        .unwrap_or_else(|e| panic!("{e}"))
}

//! Tor's RESOLVE (F0) / RESOLVE_PTR (F1) with virtual addresses, extended error codes
//! (Tor proposal 304), the SOCKS5 password kept out of requests and `Debug`, and the one
//! connection-limit default. Parser tests are sans-I/O; server tests run over loopback with a
//! fake I2P connector. No sleeps: every wait has a deadline.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{hex, within};
use i2psocks::socks::{
    AuthPolicy, Command, ConnectError, DEFAULT_MAX_CONNECTIONS, Handshake, HandshakeError,
    I2pConnector, OutproxyConfig, ReplyCode, Request, ServerConfig, Step, Target, VirtualAddrs,
    VirtualRange, bind, reply_failure, reply_resolved, reply_resolved_ptr, serve,
};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

const B32: &str = "ukeu3k5oycgaauneqgtnvselmt4yemvoilkln7jpvamvfx7dnkdq.b32.i2p";

/// `05 01 00` greeting plus `05 <cmd> 00 03 <len> <name> <port>`.
fn socks5_name(cmd: u8, name: &[u8], port: u16) -> Vec<u8> {
    let mut v = vec![
        5,
        1,
        0,
        5,
        cmd,
        0,
        3,
        u8::try_from(name.len()).unwrap_or(u8::MAX),
    ];
    v.extend_from_slice(name);
    v.extend_from_slice(&port.to_be_bytes());
    v
}

/// `05 01 00` greeting plus `05 <cmd> 00 01 <ip> <port>`.
fn socks5_ip(cmd: u8, ip: Ipv4Addr, port: u16) -> Vec<u8> {
    let mut v = vec![5, 1, 0, 5, cmd, 0, 1];
    v.extend_from_slice(&ip.octets());
    v.extend_from_slice(&port.to_be_bytes());
    v
}

/// Feed `input` whole to a parser; the steps' replies and the final step.
fn parse(resolve: bool, input: &[u8]) -> (Vec<u8>, Step) {
    let mut hs = Handshake::new(AuthPolicy::AcceptAny).with_resolve(resolve);
    let mut sent = Vec::new();
    let mut rest = input;
    loop {
        match hs.feed(rest) {
            Step::Reply { bytes, consumed } => {
                sent.extend_from_slice(&bytes);
                rest = &rest[consumed..];
            }
            other => return (sent, other),
        }
    }
}

// ---------- parser and reply bytes ----------

#[test]
fn resolve_commands_parse_only_when_enabled() {
    let (sent, step) = parse(true, &socks5_name(0xf0, b"web.i2p", 0));
    assert_eq!(sent, hex("05 00"));
    let Step::Request { request, .. } = step else {
        panic!("RESOLVE not parsed: {step:?}");
    };
    assert_eq!(request.command, Command::Resolve);
    assert_eq!(request.target, Target::Domain(b"web.i2p".to_vec()));

    let (_, step) = parse(true, &socks5_ip(0xf1, Ipv4Addr::new(240, 0, 0, 1), 0));
    let Step::Request { request, .. } = step else {
        panic!("RESOLVE_PTR not parsed: {step:?}");
    };
    assert_eq!(request.command, Command::ResolvePtr);

    // Off (the default, like i2pd): an unknown command, general failure.
    let (_, step) = parse(false, &socks5_name(0xf0, b"web.i2p", 0));
    assert_eq!(
        step,
        Step::Fail {
            reply: hex("05 01 00 01 00 00 00 00 00 00"),
            error: HandshakeError::Command(0xf0),
        }
    );
    // SOCKS4 has no RESOLVE here (torsocks speaks SOCKS5).
    let mut v4 = vec![4, 0xf0, 0, 80, 0, 0, 0, 1, 0];
    v4.extend_from_slice(b"web.i2p\0");
    assert!(matches!(parse(true, &v4).1, Step::Fail { .. }));
}

#[test]
fn resolve_reply_bytes() {
    assert_eq!(
        reply_resolved(Ipv4Addr::new(240, 0, 0, 7)),
        hex("05 00 00 01 f0 00 00 07 00 00")
    );
    assert_eq!(
        reply_resolved_ptr(b"web.i2p"),
        hex("05 00 00 03 07 77 65 62 2e 69 32 70 00 00")
    );
    let Step::Request { request, .. } = parse(true, &socks5_name(0xf0, b"x.i2p", 0)).1 else {
        panic!("not parsed");
    };
    assert_eq!(
        reply_failure(&request, ReplyCode::HostUnreachable),
        hex("05 04 00 01 00 00 00 00 00 00")
    );
}

#[test]
fn extended_codes_are_tor_proposal_304_values_and_off_means_i2pd_codes() {
    let cases = [
        (ConnectError::NotFound, 0xf0),
        (ConnectError::LookupTimedOut, 0xf0),
        (ConnectError::BadLeaseSet, 0xf1),
        (ConnectError::KeyRequired, 0xf4),
        (ConnectError::UnknownName, 0xf6),
        (ConnectError::BadAddress, 0xf6),
        (ConnectError::RouterDown, 0x01),
        (ConnectError::NotReady, 0x04),
    ];
    for (error, extended) in cases {
        assert_eq!(error.code(true).as_u8(), extended, "{error}");
        let plain = error.code(false).as_u8();
        assert!(plain == 0x01 || plain == 0x04, "{error}: {plain:#x}");
        assert_eq!(plain, error.reply_code().as_u8());
    }
}

// ---------- the password is not kept ----------

#[test]
fn password_is_not_in_the_request_nor_any_debug_output() {
    const SECRET: &[u8] = b"s3cr3t-pw";
    // The password as the bytes derived `Debug` of a Vec<u8> would print them.
    let as_list = format!("{:?}", SECRET.to_vec());
    let as_list = as_list.trim_matches(|c| c == '[' || c == ']');
    let mut input = vec![5, 1, 2, 1, 4];
    input.extend_from_slice(b"user");
    input.push(u8::try_from(SECRET.len()).unwrap_or(0));
    input.extend_from_slice(SECRET);
    input.extend_from_slice(&socks5_name(1, B32.as_bytes(), 80)[3..]);

    for policy in [
        AuthPolicy::AcceptAny,
        AuthPolicy::single_login(b"user", SECRET),
    ] {
        let mut hs = Handshake::new(policy.clone());
        let mut rest = &input[..];
        let mut seen = Vec::new();
        let request = loop {
            let step = hs.feed(rest);
            seen.push(format!("{step:?} {hs:?}"));
            match step {
                Step::Reply { consumed, .. } => rest = &rest[consumed..],
                Step::Verify {
                    username,
                    password,
                    consumed,
                } => {
                    rest = &rest[consumed..];
                    assert_eq!(password.as_bytes(), SECRET);
                    let verdict = hs.verdict(policy.check(&username, password.as_bytes()));
                    seen.push(format!("{verdict:?} {hs:?}"));
                }
                Step::Request { request, .. } => break request,
                other => panic!("{other:?}"),
            }
        };
        seen.push(format!("{request:?} {hs:?}"));
        assert_eq!(request.username, Some(b"user".to_vec()));
        for text in seen {
            assert!(
                !text.contains(as_list) && !text.contains("s3cr3t"),
                "password shown: {text}"
            );
        }
    }
}

// ---------- one connection-limit default ----------

#[test]
fn max_connections_default_is_one_constant() -> Result<(), Box<dyn std::error::Error>> {
    let server = ServerConfig::new("127.0.0.1:0".parse()?);
    assert_eq!(server.max_connections, DEFAULT_MAX_CONNECTIONS);
    assert_eq!(
        i2psocks::config::settings::DEFAULT_MAX_CONNECTIONS,
        DEFAULT_MAX_CONNECTIONS
    );
    let settings = i2psocks::config::settings::resolve(None, &Default::default())?;
    assert_eq!(settings.max_connections.0, DEFAULT_MAX_CONNECTIONS);
    let man = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/i2psocks.1"))?;
    let stated = format!("(default {DEFAULT_MAX_CONNECTIONS})");
    assert!(man.contains(&stated), "man page does not say {stated}");
    let help = <i2psocks::config::Cli as clap::CommandFactory>::command()
        .render_long_help()
        .to_string();
    assert!(
        help.contains(&format!("default {DEFAULT_MAX_CONNECTIONS}")),
        "{help}"
    );
    Ok(())
}

// ---------- the server over loopback ----------

/// Fake I2P side: names in `known` resolve and connect (echo); others fail with `error`.
#[derive(Clone)]
struct Fake {
    known: Vec<String>,
    error: ConnectError,
    connects: Arc<Mutex<Vec<(String, u16)>>>,
}

impl Fake {
    fn new(known: &[&str], error: ConnectError) -> Self {
        Fake {
            known: known.iter().map(|s| (*s).to_owned()).collect(),
            error,
            connects: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

impl I2pConnector for Fake {
    type Stream = DuplexStream;

    async fn connect(
        &self,
        name: &str,
        port: u16,
        initial: Vec<u8>,
    ) -> Result<DuplexStream, ConnectError> {
        if let Ok(mut calls) = self.connects.lock() {
            calls.push((name.to_owned(), port));
        }
        if !self.known.iter().any(|k| k == name) {
            return Err(self.error.clone());
        }
        let (ours, mut theirs) = duplex(64 * 1024);
        tokio::spawn(async move {
            let _ = theirs.write_all(&initial).await;
            let mut buf = [0u8; 4096];
            while let Ok(n) = theirs.read(&mut buf).await {
                if n == 0 || theirs.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
        Ok(ours)
    }

    async fn check_name(&self, name: &str) -> Result<(), ConnectError> {
        if self.known.iter().any(|k| k == name) {
            Ok(())
        } else {
            Err(self.error.clone())
        }
    }
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn start(fake: Fake, tweak: impl FnOnce(&mut ServerConfig)) -> Server {
    let listener = bind("127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let mut cfg = ServerConfig::new(addr);
    let range: VirtualRange = "240.0.0.0/4".parse().unwrap_or_else(|e| panic!("{e}"));
    cfg.virtual_addrs = Some(Arc::new(VirtualAddrs::new(
        range,
        Duration::from_secs(3600),
    )));
    tweak(&mut cfg);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, cfg, fake, async move {
        let _ = stopped.await;
    }));
    Server {
        addr,
        stop: Some(stop),
    }
}

/// Send `request` with 4 bytes of `data` after it; the stream and the 16 bytes that come back
/// (method reply, CONNECT reply, the echoed data).
async fn connect_with_data(
    addr: SocketAddr,
    mut request: Vec<u8>,
    data: &[u8; 4],
) -> (TcpStream, [u8; 16]) {
    let mut stream = within("connect", TcpStream::connect(addr))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    request.extend_from_slice(data);
    within("write", stream.write_all(&request))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut head = [0u8; 2 + 10 + 4];
    within("reply", stream.read_exact(&mut head))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (stream, head)
}

/// Send `request`, read until the server closes.
async fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = within("connect", TcpStream::connect(addr))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    within("write", stream.write_all(request))
        .await
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut out = Vec::new();
    let _ = within("read", stream.read_to_end(&mut out)).await;
    out
}

fn resolved_addr(reply: &[u8]) -> Ipv4Addr {
    assert_eq!(reply.len(), 12, "{reply:02x?}"); // 05 00 + 10-byte RESOLVE reply
    assert_eq!(reply[..6], hex("05 00 05 00 00 01"), "{reply:02x?}");
    Ipv4Addr::new(reply[6], reply[7], reply[8], reply[9])
}

#[tokio::test]
async fn resolve_then_connect_to_the_virtual_address_reaches_the_name() {
    let fake = Fake::new(&["web.i2p"], ConnectError::UnknownName);
    let server = start(fake.clone(), |_| {});
    let reply = exchange(server.addr, &socks5_name(0xf0, b"web.i2p", 0)).await;
    let addr = resolved_addr(&reply);
    assert!(addr.octets()[0] >= 240, "{addr}");
    // The same name again: the same address.
    let again = exchange(server.addr, &socks5_name(0xf0, b"web.i2p", 0)).await;
    assert_eq!(resolved_addr(&again), addr);
    // RESOLVE_PTR gives the name back.
    let ptr = exchange(server.addr, &socks5_ip(0xf1, addr, 0)).await;
    assert_eq!(ptr[2..], reply_resolved_ptr(b"web.i2p")[..]);

    // CONNECT to the address: the stream goes to web.i2p, the reply echoes the address.
    let (stream, head) = connect_with_data(server.addr, socks5_ip(1, addr, 8080), b"ping").await;
    let mut expected = hex("05 00 05 00 00 01");
    expected.extend_from_slice(&addr.octets());
    expected.extend_from_slice(&8080u16.to_be_bytes());
    expected.extend_from_slice(b"ping");
    assert_eq!(head[..], expected[..]);
    drop(stream);

    // torsocks sends the address as a dotted-quad name and reads exactly 10 reply bytes:
    // the reply must be the IPv4 form, not the name echoed.
    let (_stream, head) = connect_with_data(
        server.addr,
        socks5_name(1, addr.to_string().as_bytes(), 80),
        b"pong",
    )
    .await;
    let mut expected = hex("05 00 05 00 00 01");
    expected.extend_from_slice(&addr.octets());
    expected.extend_from_slice(&80u16.to_be_bytes());
    expected.extend_from_slice(b"pong");
    assert_eq!(head[..], expected[..]);
    // And RESOLVE_PTR of the dotted name works too.
    let ptr = exchange(
        server.addr,
        &socks5_name(0xf1, addr.to_string().as_bytes(), 0),
    )
    .await;
    assert_eq!(ptr[2..], reply_resolved_ptr(b"web.i2p")[..]);

    let calls = fake.connects.lock().map(|c| c.clone()).unwrap_or_default();
    assert_eq!(
        calls,
        vec![("web.i2p".to_owned(), 8080), ("web.i2p".to_owned(), 80)]
    );
}

#[tokio::test]
async fn resolve_failures_get_the_right_codes() {
    let fake = Fake::new(&["web.i2p"], ConnectError::UnknownName);
    let server = start(fake.clone(), |_| {});
    let unknown = exchange(server.addr, &socks5_name(0xf0, b"nope.i2p", 0)).await;
    assert_eq!(unknown, hex("05 00 05 04 00 01 00 00 00 00 00 00"));
    // Not .i2p, no outproxy: refused like a CONNECT to it would be (host unreachable).
    let clearnet = exchange(server.addr, &socks5_name(0xf0, b"example.com", 0)).await;
    assert_eq!(clearnet, hex("05 00 05 04 00 01 00 00 00 00 00 00"));
    // An address of the range that was never handed out.
    let stray = exchange(server.addr, &socks5_ip(1, Ipv4Addr::new(240, 9, 9, 9), 80)).await;
    assert_eq!(stray, hex("05 00 05 04 00 01 f0 09 09 09 00 50"));
    let ptr = exchange(
        server.addr,
        &socks5_ip(0xf1, Ipv4Addr::new(240, 9, 9, 9), 0),
    )
    .await;
    assert_eq!(ptr, hex("05 00 05 04 00 01 00 00 00 00 00 00"));
    // Other IP literals are refused as before (08), not looked up.
    let other = exchange(server.addr, &socks5_ip(1, Ipv4Addr::new(10, 1, 2, 3), 80)).await;
    assert_eq!(other, hex("05 00 05 08 00 01 0a 01 02 03 00 50"));
    assert!(
        fake.connects.lock().map(|c| c.is_empty()).unwrap_or(false),
        "nothing reached I2P"
    );
}

#[tokio::test]
async fn with_an_outproxy_other_names_get_addresses_too() {
    let fake = Fake::new(&[], ConnectError::UnknownName);
    let server = start(fake, |cfg| {
        cfg.outproxy = Some(OutproxyConfig {
            host: "127.0.0.1".into(),
            port: 9,
        });
    });
    let reply = exchange(server.addr, &socks5_name(0xf0, b"example.com", 0)).await;
    resolved_addr(&reply);
}

#[tokio::test]
async fn resolve_off_refuses_f0_like_i2pd() {
    let fake = Fake::new(&["web.i2p"], ConnectError::UnknownName);
    let server = start(fake, |cfg| cfg.virtual_addrs = None);
    let reply = exchange(server.addr, &socks5_name(0xf0, b"web.i2p", 0)).await;
    assert_eq!(reply, hex("05 00 05 01 00 01 00 00 00 00 00 00"));
}

#[tokio::test]
async fn extended_errors_only_when_enabled() {
    for (error, code) in [
        (ConnectError::NotFound, 0xf0),
        (ConnectError::UnknownName, 0xf6),
        (ConnectError::KeyRequired, 0xf4),
    ] {
        let fake = Fake::new(&[], error.clone());
        let plain = start(fake.clone(), |_| {});
        let extended = start(fake, |cfg| cfg.extended_errors = true);
        let connect = socks5_name(1, B32.as_bytes(), 80);
        let reply = exchange(plain.addr, &connect).await;
        assert_eq!(reply, hex("05 00 05 04 00 01 00 00 00 00 00 00"), "{error}");
        let reply = exchange(extended.addr, &connect).await;
        let mut expected = hex("05 00 05");
        expected.extend_from_slice(&[code]);
        expected.extend_from_slice(&hex("00 01 00 00 00 00 00 00"));
        assert_eq!(reply, expected, "{error}");
        // RESOLVE failures use the same codes.
        let reply = exchange(extended.addr, &socks5_name(0xf0, b"gone.i2p", 0)).await;
        assert_eq!(reply[3], code, "RESOLVE {error}");
        // SOCKS4 has only 91.
        let mut v4 = vec![4, 1, 0, 80, 0, 0, 0, 1, 0];
        v4.extend_from_slice(B32.as_bytes());
        v4.push(0);
        assert_eq!(
            exchange(extended.addr, &v4).await,
            hex("00 5b 00 50 00 00 00 01")
        );
    }
}

// ---------- property: RESOLVE parsing and the map ----------

proptest! {
    /// Any RESOLVE request, split anywhere, parses to the same request, and its target is the
    /// name sent.
    #[test]
    fn resolve_requests_parse_whole_or_split(
        name in proptest::collection::vec(any::<u8>(), 1..=255),
        port in any::<u16>(),
        cut in any::<usize>(),
    ) {
        let input = socks5_name(0xf0, &name, port);
        let (_, whole) = parse(true, &input);
        let Step::Request { request, consumed } = whole.clone() else {
            panic!("not parsed: {whole:?}");
        };
        prop_assert_eq!(consumed + 3, input.len());
        prop_assert_eq!(&request.target, &Target::Domain(name.clone()));
        prop_assert_eq!(request.command, Command::Resolve);
        let cut = cut % input.len();
        let mut hs = Handshake::new(AuthPolicy::AcceptAny).with_resolve(true);
        let mut last = None;
        for chunk in [&input[..cut], &input[cut..]] {
            let mut rest = chunk;
            while !rest.is_empty() {
                match hs.feed(rest) {
                    Step::Reply { consumed, .. } => rest = &rest[consumed..],
                    Step::NeedMore => break,
                    other => { last = Some(other); break; }
                }
            }
        }
        let Some(Step::Request { request: split, .. }) = last else {
            panic!("split at {cut}: {last:?}");
        };
        prop_assert_eq!(split, request);
    }

    /// Random byte strings after a RESOLVE-enabled greeting never panic, and a request that
    /// comes out has a RESOLVE or CONNECT-family command with a valid target.
    #[test]
    fn random_requests_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut input = vec![5, 1, 0];
        input.extend_from_slice(&body);
        if let (_, Step::Request { request, .. }) = parse(true, &input) {
            check_reply_shapes(&request);
        }
    }

    /// The map: names and addresses stay one-to-one, all inside the range.
    #[test]
    fn the_map_is_one_to_one(names in proptest::collection::vec(0u8..40, 1..200)) {
        let range: VirtualRange = "10.7.0.0/24".parse().unwrap_or_else(|e| panic!("{e}"));
        let map = VirtualAddrs::new(range, Duration::from_secs(3600));
        let mut given: std::collections::HashMap<u8, Ipv4Addr> = Default::default();
        for n in names {
            let name = format!("n{n}.i2p");
            let addr = map.assign(name.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
            prop_assert!(range.contains(addr));
            if let Some(old) = given.insert(n, addr) {
                prop_assert_eq!(old, addr);
            }
            prop_assert_eq!(map.name_of(addr), Some(name.into_bytes()));
        }
    }
}

fn check_reply_shapes(request: &Request) {
    let failure = reply_failure(request, ReplyCode::HostUnreachable);
    assert_eq!(failure[..2], [5, 4]);
    if matches!(request.command, Command::Resolve | Command::ResolvePtr) {
        assert_eq!(failure.len(), 10);
    }
}

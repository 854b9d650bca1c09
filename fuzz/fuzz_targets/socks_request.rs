//! SOCKS 4/4a/5 handshake parser (src/socks/handshake.rs).
//!
//! Input: one selector byte (bit 0: auth policy, bit 1: RESOLVE commands on, the rest: split
//! point), then the client's bytes.
//! Invariants beyond "no panic":
//! * the outcome (bytes sent, request or error, pipelined rest) is the same whether the input
//!   arrives whole, byte by byte or split at a fuzzer-chosen point;
//! * `consumed` never exceeds what was fed, and a finished parser stays finished;
//! * a parsed request, written back out as canonical SOCKS bytes, parses to the same request;
//! * nothing the parser returns is larger than the input that produced it, and it never holds
//!   more heap than a small multiple of the input (alloc_bound.rs);
//! * routing and the reply builders accept every request and produce well-formed replies.
#![no_main]

use std::net::Ipv4Addr;

use i2psocks::socks::{
    AuthPolicy, BoundAddr, Command, Handshake, HandshakeError, ReplyCode, Request, Route, Step,
    Target, Version, classify, reply_failure, reply_success,
};
use libfuzzer_sys::fuzz_target;

#[path = "alloc_bound.rs"]
mod alloc_bound;

#[global_allocator]
static ALLOC: alloc_bound::Counting = alloc_bound::Counting;

#[derive(Debug, PartialEq, Eq)]
enum End {
    Request(Request, Vec<u8>),
    Fail(HandshakeError),
    NeedMore,
}

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    sent: Vec<u8>,
    end: End,
}

/// The password of the fuzzed login (the parser does not keep it, so re-encoding needs it).
const PASSWORD: &[u8] = b"pass";

/// Drive one parser over `chunks` the way the server loop does.
fn drive(policy: &AuthPolicy, resolve: bool, chunks: &[&[u8]]) -> Outcome {
    let mut hs = Handshake::new(policy.clone()).with_resolve(resolve);
    let mut sent = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut chunks = chunks.iter();
    loop {
        if pending.is_empty() {
            match chunks.next() {
                Some(chunk) => pending.extend_from_slice(chunk),
                None => {
                    assert!(!hs.is_finished(), "finished without saying so");
                    return Outcome {
                        sent,
                        end: End::NeedMore,
                    };
                }
            }
        }
        let fed = pending.len();
        let mut step = hs.feed(&pending);
        if let Step::Verify {
            username,
            password,
            consumed,
        } = step
        {
            assert!(consumed >= 1 && consumed <= fed);
            assert!(!format!("{password:?}").contains("pass"), "password in Debug");
            pending.drain(..consumed);
            step = hs.verdict(policy.check(&username, password.as_bytes()));
        }
        match step {
            Step::Verify { .. } => panic!("verdict asked for another verification"),
            Step::NeedMore => {
                assert!(!hs.is_finished());
                pending.clear();
            }
            Step::Reply { bytes, consumed } => {
                assert!(consumed <= fed, "consumed {consumed} of {fed}");
                assert!(!bytes.is_empty() && bytes.len() <= 10, "reply {bytes:?}");
                assert!(!hs.is_finished());
                sent.extend_from_slice(&bytes);
                pending.drain(..consumed);
            }
            Step::Request { request, consumed } => {
                assert!(
                    consumed >= 1 && consumed <= fed,
                    "consumed {consumed} of {fed}"
                );
                assert!(hs.is_finished());
                assert_finished(&mut hs);
                pending.drain(..consumed);
                // The rest of this chunk plus every later chunk is pipelined payload.
                for chunk in chunks {
                    pending.extend_from_slice(chunk);
                }
                return Outcome {
                    sent,
                    end: End::Request(request, pending),
                };
            }
            Step::Fail { reply, error } => {
                assert!(reply.len() <= 10, "failure reply {reply:?}");
                assert!(hs.is_finished());
                assert_finished(&mut hs);
                sent.extend_from_slice(&reply);
                return Outcome {
                    sent,
                    end: End::Fail(error),
                };
            }
        }
    }
}

fn assert_finished(hs: &mut Handshake) {
    match hs.feed(b"\x05\x01\x00") {
        Step::Fail { reply, error } => {
            assert!(reply.is_empty());
            assert_eq!(error, HandshakeError::Finished);
        }
        other => panic!("a finished parser accepted more input: {other:?}"),
    }
}

/// Canonical client bytes for `request` (what a well-behaved client would send).
fn encode(request: &Request) -> Vec<u8> {
    let mut out = Vec::new();
    let cmd = match request.command {
        Command::Connect => 1,
        Command::Bind => 2,
        Command::UdpAssociate => 3,
        Command::Resolve => 0xf0,
        Command::ResolvePtr => 0xf1,
    };
    match request.version {
        Version::V4 | Version::V4a => {
            out.extend_from_slice(&[4, cmd]);
            out.extend_from_slice(&request.port.to_be_bytes());
            out.extend_from_slice(&request.socks4_ip.octets());
            out.extend_from_slice(&request.userid);
            out.push(0);
            if let Target::Domain(name) = &request.target {
                out.extend_from_slice(name);
                out.push(0);
            }
        }
        Version::V5 => {
            match &request.username {
                Some(user) => {
                    out.extend_from_slice(&[5, 1, 2, 1]);
                    out.push(u8::try_from(user.len()).expect("username ≤ 255"));
                    out.extend_from_slice(user);
                    out.push(u8::try_from(PASSWORD.len()).expect("password ≤ 255"));
                    out.extend_from_slice(PASSWORD);
                }
                None => out.extend_from_slice(&[5, 1, 0]),
            }
            out.extend_from_slice(&[5, cmd, 0]);
            match &request.target {
                Target::Ipv4(ip) => {
                    out.push(1);
                    out.extend_from_slice(&ip.octets());
                }
                Target::Domain(name) => {
                    out.push(3);
                    out.push(u8::try_from(name.len()).expect("domain ≤ 255"));
                    out.extend_from_slice(name);
                }
                Target::Ipv6(ip) => {
                    out.push(4);
                    out.extend_from_slice(&ip.octets());
                }
            }
            out.extend_from_slice(&request.port.to_be_bytes());
        }
    }
    out
}

fn check_request(policy: &AuthPolicy, resolve: bool, request: &Request, input_len: usize) {
    // Nothing bigger than the input, and the protocol's own limits.
    let held = request.userid.len()
        + match &request.target {
            Target::Domain(name) => name.len(),
            _ => 0,
        }
        + request.username.as_ref().map_or(0, Vec::len);
    assert!(
        held <= input_len,
        "request holds {held} bytes from {input_len}"
    );
    match (&request.version, &request.target) {
        (_, Target::Domain(name)) => assert!((1..=255).contains(&name.len())),
        (Version::V4, Target::Ipv4(ip)) => assert_eq!(*ip, request.socks4_ip),
        (Version::V5, _) => {}
        (v, t) => panic!("{v:?} with target {t:?}"),
    }
    match request.version {
        Version::V5 => {
            assert!(request.userid.is_empty());
            assert_eq!(request.socks4_ip, Ipv4Addr::UNSPECIFIED);
        }
        Version::V4a => {
            let o = request.socks4_ip.octets();
            assert!(o[..3] == [0, 0, 0] && o[3] != 0, "4a with {o:?}");
        }
        Version::V4 => {
            assert!(request.username.is_none());
            assert_ne!(request.command, Command::UdpAssociate);
        }
    }
    if policy.is_required() {
        assert!(request.version != Version::V5 || request.username.is_some());
    }
    if !resolve {
        assert!(!matches!(request.command, Command::Resolve | Command::ResolvePtr));
    }

    // Round trip through canonical bytes.
    let again = drive(policy, resolve, &[&encode(request)]);
    match again.end {
        End::Request(back, rest) => {
            assert_eq!(&back, request, "re-encoded request parsed differently");
            assert!(rest.is_empty());
        }
        other => panic!("re-encoded request not accepted: {other:?}"),
    }

    // Routing and replies: every request gets a well-formed answer.
    let success = reply_success(request, BoundAddr::FromRequest);
    let failure = reply_failure(request, ReplyCode::HostUnreachable);
    let v5_len = match &request.target {
        Target::Domain(name) if i2psocks::socks::is_i2p_name(name) => 10,
        Target::Domain(name) => 7 + name.len(),
        Target::Ipv4(_) => 10,
        Target::Ipv6(_) => 22,
    };
    // RESOLVE failures carry a fixed all-zero IPv4 address (as Tor sends them).
    let resolving = matches!(request.command, Command::Resolve | Command::ResolvePtr);
    let failure_len = if resolving { 10 } else { v5_len };
    for (reply, len) in [(&success, v5_len), (&failure, failure_len)] {
        match request.version {
            Version::V4 | Version::V4a => {
                assert_eq!(reply.len(), 8);
                assert_eq!(reply[2..4], request.port.to_be_bytes());
            }
            Version::V5 => {
                assert_eq!(reply.len(), len, "{reply:?}");
                assert_eq!(reply[..3], [5, reply[1], 0]);
            }
        }
    }
    match classify(request, true) {
        Route::Refuse(code) => {
            let _ = reply_failure(request, code);
        }
        Route::I2p { .. } | Route::Outproxy { .. } => {}
    }
    let _ = classify(request, false);
    let _ = request.target.to_string();
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let policy = if selector & 1 == 0 {
        AuthPolicy::AcceptAny
    } else {
        AuthPolicy::single_login(b"user", PASSWORD)
    };
    let resolve = selector & 2 != 0;
    let (whole, peak) = alloc_bound::peak_during(|| drive(&policy, resolve, &[input]));
    alloc_bound::assert_bounded(peak, input.len(), "Handshake");

    let cut = usize::from(selector >> 2).min(input.len());
    let (a, b) = input.split_at(cut);
    assert_eq!(drive(&policy, resolve, &[a, b]), whole, "split at {cut}");
    if input.len() <= 512 {
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(drive(&policy, resolve, &bytes), whole, "byte by byte");
    }
    assert!(
        whole.sent.len() <= 2 + 2 + 10,
        "handshake wrote {:?}",
        whole.sent
    );

    if let End::Request(request, rest) = &whole.end {
        assert!(input.ends_with(rest));
        check_request(&policy, resolve, request, input.len());
    }
});

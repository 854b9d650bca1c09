//! The sans-I/O session driven by a scripted router, with explicit time.

use std::time::{Duration, Instant};

use crate::i2cp_support::{RouterSide, default_options, test_keys, wire};
use i2psocks::data::lease_set::{LeaseSetEncKey, parse_leaseset2};
use i2psocks::data::{Destination, PrivateKeys};
use i2psocks::i2cp::message::{Lease, LookupQuery, Message};
use i2psocks::i2cp::payload::{self, Compression};
use i2psocks::i2cp::session::{
    CloseReason, Event, LookupFailure, Now, SETUP_TIMEOUT, Session, SessionError,
};

const LOCAL_MS: u64 = 1_700_000_000_000;
const ROUTER_OFFSET_MS: u64 = 5_000;
const SID: u16 = 0x9c05;
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

struct Harness {
    t0: Instant,
    session: Session,
    router: RouterSide,
}

impl Harness {
    fn new() -> Harness {
        let t0 = Instant::now();
        let session = Session::new(
            Now {
                instant: t0,
                unix_ms: LOCAL_MS,
            },
            test_keys(),
            default_options(),
            LOOKUP_TIMEOUT,
            LeaseSetEncKey::generate(),
        );
        Harness {
            t0,
            session,
            router: RouterSide::default(),
        }
    }

    fn now(&self, after_ms: u64) -> Now {
        Now {
            instant: self.t0 + Duration::from_millis(after_ms),
            unix_ms: LOCAL_MS + after_ms,
        }
    }

    /// Everything the session wants to send, decoded router-side.
    fn sent(&mut self) -> Vec<Message> {
        let mut bytes = Vec::new();
        while let Some(b) = self.session.poll_transmit() {
            bytes.extend(b);
        }
        self.router.feed(&bytes)
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.session.poll_event()).collect()
    }

    fn deliver(&mut self, at_ms: u64, msg: &Message) {
        let now = self.now(at_ms);
        self.session.handle_bytes(now, &wire(msg));
    }

    /// Run the handshake to "Created".
    fn created() -> Harness {
        let mut h = Harness::new();
        let _ = h.sent();
        h.deliver(
            2,
            &Message::SetDate {
                date_ms: LOCAL_MS + 2 + ROUTER_OFFSET_MS,
                version: "0.9.62".into(),
            },
        );
        let _ = h.sent();
        h.deliver(
            3,
            &Message::SessionStatus {
                sid: SID,
                status: 1,
            },
        );
        assert_eq!(h.events(), vec![Event::Created { sid: SID }]);
        h
    }

    fn rvls(&mut self, at_ms: u64, end_ms: u64) -> Message {
        let leases = vec![Lease {
            gateway: [7; 32],
            tunnel_id: 1234,
            end_ms,
        }];
        self.deliver(
            at_ms,
            &Message::RequestVariableLeaseSet { sid: SID, leases },
        );
        let mut sent = self.sent();
        assert_eq!(sent.len(), 1, "exactly one answer per request");
        sent.remove(0)
    }
}

#[test]
fn handshake_sends_get_date_then_signed_create_session_in_router_time() {
    let mut h = Harness::new();
    let first: Vec<u8> = std::iter::from_fn(|| h.session.poll_transmit())
        .flatten()
        .collect();
    assert_eq!(
        first,
        vec![
            0x2a, 0, 0, 0, 9, 0x20, 6, b'0', b'.', b'9', b'.', b'6', b'2', 0, 0
        ]
    );
    h.router.feed(&first);
    assert_eq!(h.session.sid(), None);
    h.deliver(
        2,
        &Message::SetDate {
            date_ms: LOCAL_MS + 2 + ROUTER_OFFSET_MS,
            version: "0.9.62".into(),
        },
    );
    let sent = h.sent();
    let [Message::CreateSession(cfg)] = &sent[..] else {
        panic!("expected CreateSession, got {sent:?}")
    };
    assert!(cfg.verify());
    assert_eq!(cfg.destination, *test_keys().destination());
    assert_eq!(cfg.date_ms, LOCAL_MS + 2 + ROUTER_OFFSET_MS);
    let keys: Vec<&str> = cfg.options.iter().map(|(k, _)| k.as_str()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert!(
        cfg.options
            .contains(&("i2cp.dontPublishLeaseSet".into(), "true".into()))
    );
    h.deliver(
        3,
        &Message::SessionStatus {
            sid: SID,
            status: 1,
        },
    );
    assert_eq!(h.events(), vec![Event::Created { sid: SID }]);
    assert_eq!(h.session.sid(), Some(SID));
    assert!(!h.session.is_ready());
}

#[test]
fn every_lease_set_request_is_answered_at_once_with_a_valid_signed_ls2() {
    let mut h = Harness::created();
    let end_ms = LOCAL_MS + ROUTER_OFFSET_MS + 600_000;
    let Message::CreateLeaseSet2(first) = h.rvls(1000, end_ms) else {
        panic!("expected CreateLeaseSet2")
    };
    assert_eq!(first.sid, SID);
    assert_eq!(first.store_type, 3);
    assert!(first.verify_signature());
    let ls = parse_leaseset2(&first.lease_set).expect("LS2 parses and verifies");
    assert_eq!(ls.destination, *test_keys().destination());
    assert_eq!(ls.flags, 0x0002);
    assert_eq!(
        ls.published_secs as u64,
        (LOCAL_MS + 1000 + ROUTER_OFFSET_MS) / 1000
    );
    assert_eq!(ls.leases.len(), 1);
    assert_eq!(ls.leases[0].end_date_secs as u64, end_ms / 1000);
    assert_eq!(ls.leases[0].tunnel_id, 1234);
    assert_eq!(ls.enc_keys.len(), 1);
    assert_eq!(ls.enc_keys[0].key_type, 4);
    // The private key sent matches the published public key.
    assert_eq!(first.private_keys.len(), 1);
    let secret: [u8; 32] = first.private_keys[0].key.clone().try_into().unwrap();
    let public = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(secret));
    assert_eq!(public.as_bytes().to_vec(), ls.enc_keys[0].public);
    assert_eq!(h.events(), vec![Event::Ready]);
    assert!(h.session.is_ready());

    // Repeated requests (every 10–15 s on i2pd) get answers too, with the same key.
    for i in 1..=5u64 {
        let Message::CreateLeaseSet2(again) = h.rvls(1000 + i * 15_000, end_ms + i * 15_000) else {
            panic!("expected CreateLeaseSet2")
        };
        assert!(again.verify_signature());
        let ls2 = parse_leaseset2(&again.lease_set).unwrap();
        assert_eq!(ls2.enc_keys, ls.enc_keys);
    }
    assert_eq!(h.events(), vec![], "Ready is reported once");
}

#[test]
fn invalid_and_refused_status_close_the_session() {
    for (status, reason) in [(3u8, CloseReason::Invalid), (4, CloseReason::Refused(4))] {
        let mut h = Harness::new();
        let _ = h.sent();
        h.deliver(
            1,
            &Message::SetDate {
                date_ms: LOCAL_MS,
                version: "0.9.62".into(),
            },
        );
        let _ = h.sent();
        h.deliver(2, &Message::SessionStatus { sid: 0, status });
        assert_eq!(h.events(), vec![Event::Closed { reason }]);
        assert!(h.session.is_closed());
        assert_eq!(h.session.poll_timeout(), None);
    }
}

#[test]
fn lookups_resolve_fail_and_time_out() {
    let mut h = Harness::created();
    let web = PrivateKeys::generate(7, 0).unwrap().destination().clone();

    let id1 = h
        .session
        .lookup(h.now(10).instant, LookupQuery::Name("web.i2p".into()))
        .unwrap();
    let id2 = h
        .session
        .lookup(h.now(10).instant, LookupQuery::Hash(web.hash()))
        .unwrap();
    let id3 = h
        .session
        .lookup(
            h.now(10).instant,
            LookupQuery::Name("nonexistent.i2p".into()),
        )
        .unwrap();
    let id4 = h
        .session
        .lookup(h.now(20).instant, LookupQuery::Hash([1; 32]))
        .unwrap();
    let ids = [id1, id2, id3, id4];
    assert!(
        ids.iter()
            .all(|i| ids.iter().filter(|j| *j == i).count() == 1),
        "request ids unique"
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 4);
    match &sent[0] {
        Message::HostLookup {
            sid,
            request_id,
            timeout_ms,
            query,
        } => {
            assert_eq!((*sid, *request_id, *timeout_ms), (SID, id1, 10_000));
            assert_eq!(query, &LookupQuery::Name("web.i2p".into()));
        }
        other => panic!("expected HostLookup, got {other:?}"),
    }
    assert_eq!(
        h.session.poll_timeout(),
        Some(h.now(10).instant + LOOKUP_TIMEOUT)
    );

    h.deliver(
        30,
        &Message::HostReply {
            sid: SID,
            request_id: id1,
            code: 0,
            destination: Some(web.clone()),
        },
    );
    h.deliver(
        31,
        &Message::HostReply {
            sid: SID,
            request_id: id2,
            code: 0,
            destination: Some(web.clone()),
        },
    );
    h.deliver(
        32,
        &Message::HostReply {
            sid: SID,
            request_id: id3,
            code: 1,
            destination: None,
        },
    );
    assert_eq!(
        h.events(),
        vec![
            Event::LookupResult {
                id: id1,
                result: Ok(web.clone())
            },
            Event::LookupResult {
                id: id2,
                result: Ok(web.clone())
            },
            Event::LookupResult {
                id: id3,
                result: Err(LookupFailure::NotFound(1))
            },
        ]
    );
    // id4 is unanswered: nothing before its deadline, TimedOut at it.
    h.session.handle_timeout(h.now(20 + 9_999).instant);
    assert_eq!(h.events(), vec![]);
    h.session.handle_timeout(h.now(20 + 10_000).instant);
    assert_eq!(
        h.events(),
        vec![Event::LookupResult {
            id: id4,
            result: Err(LookupFailure::TimedOut)
        }]
    );
    assert_eq!(h.session.poll_timeout(), None);
    // A late answer is ignored.
    h.deliver(
        20_000,
        &Message::HostReply {
            sid: SID,
            request_id: id4,
            code: 0,
            destination: Some(web),
        },
    );
    assert_eq!(h.events(), vec![]);
}

#[test]
fn hash_lookup_rejects_a_different_destination() {
    let mut h = Harness::created();
    let web = PrivateKeys::generate(7, 0).unwrap().destination().clone();
    let id = h
        .session
        .lookup(h.now(10).instant, LookupQuery::Hash([9; 32]))
        .unwrap();
    h.deliver(
        11,
        &Message::HostReply {
            sid: SID,
            request_id: id,
            code: 0,
            destination: Some(web),
        },
    );
    assert_eq!(
        h.events(),
        vec![Event::LookupResult {
            id,
            result: Err(LookupFailure::HashMismatch)
        }]
    );
}

#[test]
fn commands_before_creation_are_refused() {
    let mut h = Harness::new();
    let web = PrivateKeys::generate(7, 0).unwrap().destination().clone();
    assert_eq!(
        h.session.lookup(h.t0, LookupQuery::Name("a.i2p".into())),
        Err(SessionError::NotEstablished)
    );
    assert_eq!(
        h.session.send(h.now(0), &web, vec![], 0),
        Err(SessionError::NotEstablished)
    );
}

#[test]
fn payloads_are_unwrapped_and_bad_ones_dropped() {
    let mut h = Harness::created();
    let gz = payload::encode(6, 0, 0, b"syn-ack", Compression::Deflate);
    h.deliver(
        5,
        &Message::MessagePayload {
            sid: SID,
            msg_id: 2,
            payload: gz,
        },
    );
    h.deliver(
        6,
        &Message::MessagePayload {
            sid: SID,
            msg_id: 3,
            payload: vec![1, 2, 3],
        },
    );
    let gz = payload::encode(17, 5, 6, b"dgram", Compression::Stored);
    h.deliver(
        7,
        &Message::MessagePayload {
            sid: SID,
            msg_id: 4,
            payload: gz,
        },
    );
    assert_eq!(
        h.events(),
        vec![
            Event::Payload {
                protocol: 6,
                src_port: 0,
                dst_port: 0,
                data: b"syn-ack".to_vec()
            },
            Event::Payload {
                protocol: 17,
                src_port: 5,
                dst_port: 6,
                data: b"dgram".to_vec()
            },
        ]
    );
    assert!(!h.session.is_closed());
}

#[test]
fn send_uses_session_id_full_destination_and_nonce() {
    let mut h = Harness::created();
    let web = PrivateKeys::generate(7, 0).unwrap().destination().clone();
    let gz = payload::encode(6, 0, 80, b"x", Compression::Stored);
    let now = h.now(5);
    h.session.send(now, &web, gz.clone(), 0).unwrap();
    // SendMessageExpires, flags 0 (as SendMessage), expiring 60 s from now in router time.
    assert_eq!(
        h.sent(),
        vec![Message::SendMessageExpires {
            sid: SID,
            destination: web,
            payload: gz,
            nonce: 0,
            flags: 0,
            expiration_ms: h.session.router_time_ms(now) + 60_000,
        }]
    );
}

#[test]
fn disconnect_closes_and_fails_pending_lookups() {
    let mut h = Harness::created();
    let id = h
        .session
        .lookup(h.now(1).instant, LookupQuery::Name("web.i2p".into()))
        .unwrap();
    h.deliver(
        2,
        &Message::Disconnect {
            reason: "router shutdown".into(),
        },
    );
    assert_eq!(
        h.events(),
        vec![
            Event::LookupResult {
                id,
                result: Err(LookupFailure::SessionClosed)
            },
            Event::Closed {
                reason: CloseReason::Disconnected("router shutdown".into())
            },
        ]
    );
    // Nothing is handled after close.
    h.deliver(
        3,
        &Message::SessionStatus {
            sid: SID,
            status: 1,
        },
    );
    assert_eq!(h.events(), vec![]);
}

#[test]
fn destroy_sends_destroy_session_and_closes() {
    let mut h = Harness::created();
    h.session.destroy();
    assert_eq!(h.sent(), vec![Message::DestroySession { sid: SID }]);
    assert_eq!(
        h.events(),
        vec![Event::Closed {
            reason: CloseReason::Destroyed
        }]
    );
}

#[test]
fn status_destroyed_from_router_closes() {
    let mut h = Harness::created();
    h.deliver(
        9,
        &Message::SessionStatus {
            sid: SID,
            status: 0,
        },
    );
    assert_eq!(
        h.events(),
        vec![Event::Closed {
            reason: CloseReason::Destroyed
        }]
    );
}

#[test]
fn oversized_frame_closes_with_protocol_error() {
    let mut h = Harness::created();
    h.session.handle_bytes(h.now(1), &[0, 1, 0, 0, 31]);
    match h.events().as_slice() {
        [
            Event::Closed {
                reason: CloseReason::Protocol(msg),
            },
        ] => assert!(msg.contains("65535"), "{msg}"),
        other => panic!("expected protocol close, got {other:?}"),
    }
}

#[test]
fn malformed_known_message_closes_with_protocol_error() {
    let mut h = Harness::created();
    // SessionStatus with a missing status byte.
    h.session
        .handle_bytes(h.now(1), &[0, 0, 0, 2, 20, 0x9c, 0x05]);
    assert!(matches!(
        h.events().as_slice(),
        [Event::Closed {
            reason: CloseReason::Protocol(_)
        }]
    ));
}

#[test]
fn unknown_types_are_ignored() {
    let mut h = Harness::created();
    h.session.handle_bytes(h.now(1), &[0, 0, 0, 3, 99, 1, 2, 3]);
    h.deliver(2, &Message::BandwidthLimits([0; 16]));
    h.deliver(
        3,
        &Message::MessageStatus {
            sid: SID,
            msg_id: 1,
            status: 4,
            size: 0,
            nonce: 5,
        },
    );
    assert_eq!(h.events(), vec![]);
    assert!(!h.session.is_closed());
}

#[test]
fn setup_times_out_without_router_answers() {
    let mut h = Harness::new();
    assert_eq!(h.session.poll_timeout(), Some(h.t0 + SETUP_TIMEOUT));
    h.session
        .handle_timeout(h.t0 + SETUP_TIMEOUT - Duration::from_millis(1));
    assert_eq!(h.events(), vec![]);
    h.session.handle_timeout(h.t0 + SETUP_TIMEOUT);
    assert_eq!(
        h.events(),
        vec![Event::Closed {
            reason: CloseReason::SetupTimeout
        }]
    );
}

#[test]
fn byte_by_byte_delivery_is_equivalent() {
    let mut h = Harness::new();
    let _ = h.sent();
    let mut stream = wire(&Message::SetDate {
        date_ms: LOCAL_MS,
        version: "0.9.62".into(),
    });
    stream.extend(wire(&Message::SessionStatus {
        sid: SID,
        status: 1,
    }));
    stream.extend(wire(&Message::RequestVariableLeaseSet {
        sid: SID,
        leases: vec![Lease {
            gateway: [1; 32],
            tunnel_id: 1,
            end_ms: LOCAL_MS + 600_000,
        }],
    }));
    for b in &stream {
        let now = h.now(1);
        h.session.handle_bytes(now, std::slice::from_ref(b));
    }
    assert_eq!(h.events(), vec![Event::Created { sid: SID }, Event::Ready]);
    let sent = h.sent();
    assert!(matches!(
        sent.as_slice(),
        [Message::CreateSession(_), Message::CreateLeaseSet2(_)]
    ));
}

#[test]
fn lease_set_for_destination_hash_matches_b32() {
    // Guards the identity the router will publish: our b32 is the hash of our destination.
    let keys = test_keys();
    let d: &Destination = keys.destination();
    assert!(d.b32_address().ends_with(".b32.i2p"));
    assert_eq!(i2psocks::data::b32_hash(&d.b32_address()), Some(d.hash()));
}

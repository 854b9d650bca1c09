//! I2CP codec tests: golden bytes from docs/i2cp.md, round trips, and
//! "every prefix of a valid body is rejected" truncation checks.

use crate::common::hex;
use i2psocks::data::lease_set::{
    FLAG_UNPUBLISHED, Lease2, LeaseSetEncKey, build_leaseset2, parse_leaseset2,
};
use i2psocks::data::{Destination, PrivateKeys};
use i2psocks::i2cp::framing::{Frame, FrameSplitter, PROTOCOL_BYTE};
use i2psocks::i2cp::message::{
    CLIENT_VERSION, CreateLeaseSet2, Lease, LookupQuery, Message, MessageType, PrivateKeyEntry,
    SessionConfig,
};
use i2psocks::i2cp::payload::{self, Compression};

fn keys() -> PrivateKeys {
    PrivateKeys::generate(7, 4).unwrap()
}

/// Every strict prefix of the body must fail to decode (never panic, never succeed).
fn assert_truncations_rejected(frame: &Frame) {
    for cut in 0..frame.body.len() {
        let short = Frame {
            kind: frame.kind,
            body: frame.body[..cut].to_vec(),
        };
        assert!(
            Message::decode(&short).is_err(),
            "type {} decoded from a {cut}-byte prefix of {} bytes",
            frame.kind,
            frame.body.len()
        );
    }
}

fn round_trip(msg: &Message) -> Frame {
    let frame = msg.encode().unwrap();
    assert_eq!(&Message::decode(&frame).unwrap(), msg);
    // Trailing bytes are rejected too.
    let mut long = frame.clone();
    long.body.push(0);
    assert!(
        Message::decode(&long).is_err(),
        "type {} accepted a trailing byte",
        frame.kind
    );
    frame
}

#[test]
fn get_date_golden() {
    let msg = Message::GetDate {
        version: CLIENT_VERSION.into(),
        options: vec![],
    };
    let mut wire = vec![PROTOCOL_BYTE];
    wire.extend(round_trip(&msg).to_bytes());
    assert_eq!(wire, hex("2a 00000009 20 06 302e392e3632 0000"));
    // A GetDate without the optional mapping also decodes.
    let bare = Frame {
        kind: MessageType::GetDate.byte(),
        body: hex("06 302e392e3632"),
    };
    assert_eq!(
        Message::decode(&bare).unwrap(),
        Message::GetDate {
            version: "0.9.62".into(),
            options: vec![]
        }
    );
}

#[test]
fn set_date_golden() {
    let msg = Message::SetDate {
        date_ms: 0x0000_0189_1234_5678,
        version: "0.9.62".into(),
    };
    let f = round_trip(&msg);
    assert_eq!(
        f.to_bytes(),
        hex("0000000f 21 0000018912345678 06 302e392e3632")
    );
    assert_truncations_rejected(&f);
}

#[test]
fn session_status_golden() {
    let f = Frame {
        kind: 20,
        body: hex("9c05 01"),
    };
    assert_eq!(
        Message::decode(&f).unwrap(),
        Message::SessionStatus {
            sid: 0x9c05,
            status: 1
        }
    );
    assert_eq!(
        round_trip(&Message::SessionStatus {
            sid: 0x9c05,
            status: 1
        }),
        f
    );
    assert_truncations_rejected(&f);
}

#[test]
fn request_variable_lease_set_is_47_bytes_for_one_lease() {
    let msg = Message::RequestVariableLeaseSet {
        sid: 7,
        leases: vec![Lease {
            gateway: [0x11; 32],
            tunnel_id: 0xdead_beef,
            end_ms: 1_700_000_599_000,
        }],
    };
    let f = round_trip(&msg);
    assert_eq!(f.body.len(), 47);
    assert_eq!(&f.body[..3], &[0, 7, 1]);
    assert_eq!(&f.body[35..39], &hex("deadbeef")[..]);
    assert_truncations_rejected(&f);
}

#[test]
fn host_lookup_layouts() {
    let by_name = Message::HostLookup {
        sid: 0x1234,
        request_id: 5,
        timeout_ms: 10_000,
        query: LookupQuery::Name("web.i2p".into()),
    };
    let f = round_trip(&by_name);
    assert_eq!(f.body, hex("1234 00000005 00002710 01 07 7765622e693270"));
    assert_truncations_rejected(&f);
    let by_hash = Message::HostLookup {
        sid: 0xffff,
        request_id: 6,
        timeout_ms: 0,
        query: LookupQuery::Hash([0xab; 32]),
    };
    let f = round_trip(&by_hash);
    assert_eq!(f.body.len(), 2 + 4 + 4 + 1 + 32);
    assert_eq!(f.body[10], 0);
    assert_truncations_rejected(&f);
    // Types 2–4 are not something we send; decoding refuses them.
    let mut bad = f.clone();
    bad.body[10] = 2;
    assert!(Message::decode(&bad).is_err());
}

#[test]
fn host_reply_success_and_failure() {
    let dest = keys().destination().clone();
    assert_eq!(dest.as_bytes().len(), 391);
    let ok = Message::HostReply {
        sid: 1,
        request_id: 9,
        code: 0,
        destination: Some(dest.clone()),
    };
    let f = round_trip(&ok);
    assert_eq!(&f.body[..7], &hex("0001 00000009 00")[..]);
    assert_eq!(&f.body[7..], dest.as_bytes());
    assert_truncations_rejected(&f);
    let fail = Message::HostReply {
        sid: 1,
        request_id: 9,
        code: 1,
        destination: None,
    };
    let f = round_trip(&fail);
    assert_eq!(f.body, hex("0001 00000009 01"));
}

#[test]
fn send_message_layout() {
    let dest = keys().destination().clone();
    let gz = payload::encode(6, 0, 80, b"GET / HTTP/1.0\r\n\r\n", Compression::Stored);
    let msg = Message::SendMessage {
        sid: 0x0102,
        destination: dest.clone(),
        payload: gz.clone(),
        nonce: 0,
    };
    let f = round_trip(&msg);
    assert_eq!(f.kind, 5);
    assert_eq!(&f.body[..2], &[1, 2]);
    assert_eq!(&f.body[2..393], dest.as_bytes());
    assert_eq!(&f.body[393..397], &(gz.len() as u32).to_be_bytes());
    assert_eq!(&f.body[397..397 + gz.len()], &gz[..]);
    assert_eq!(&f.body[397 + gz.len()..], &[0, 0, 0, 0]);
    assert_truncations_rejected(&f);
}

/// Type 36: SendMessage's layout, then flags (2 bytes) and the expiration (6 bytes).
#[test]
fn send_message_expires_layout() {
    let dest = keys().destination().clone();
    let gz = payload::encode(6, 0, 80, b"GET / HTTP/1.0\r\n\r\n", Compression::Stored);
    let msg = Message::SendMessageExpires {
        sid: 0x0102,
        destination: dest.clone(),
        payload: gz.clone(),
        nonce: 7,
        flags: 0x0100,
        expiration_ms: 0x0123_4567_89ab,
    };
    let f = round_trip(&msg);
    assert_eq!(f.kind, 36);
    assert_eq!(&f.body[..2], &[1, 2]);
    assert_eq!(&f.body[2..393], dest.as_bytes());
    assert_eq!(&f.body[393..397], &(gz.len() as u32).to_be_bytes());
    assert_eq!(&f.body[397..397 + gz.len()], &gz[..]);
    assert_eq!(
        &f.body[397 + gz.len()..],
        &hex("00000007 0100 0123456789ab")[..]
    );
    assert_truncations_rejected(&f);
}

#[test]
fn message_status_and_payload() {
    let st = Message::MessageStatus {
        sid: 1,
        msg_id: 2,
        status: 4,
        size: 0,
        nonce: 77,
    };
    let f = round_trip(&st);
    assert_eq!(f.body.len(), 15);
    assert_truncations_rejected(&f);
    let p = Message::MessagePayload {
        sid: 1,
        msg_id: 3,
        payload: vec![1, 2, 3],
    };
    let f = round_trip(&p);
    assert_eq!(f.body, hex("0001 00000003 00000003 010203"));
    assert_truncations_rejected(&f);
}

#[test]
fn small_messages() {
    let f = round_trip(&Message::DestroySession { sid: 0xbeef });
    assert_eq!(f.to_bytes(), hex("00000002 03 beef"));
    assert_truncations_rejected(&f);
    let f = round_trip(&Message::Disconnect {
        reason: "bye".into(),
    });
    assert_eq!(f.body, hex("03 627965"));
    assert_truncations_rejected(&f);
    let f = round_trip(&Message::GetBandwidthLimits);
    assert_eq!(f.to_bytes(), hex("00000000 08"));
    let f = round_trip(&Message::BandwidthLimits([3; 16]));
    assert_eq!(f.body.len(), 64);
    assert_truncations_rejected(&f);
}

#[test]
fn unknown_type_decodes_as_unknown() {
    let f = Frame {
        kind: 99,
        body: vec![1, 2, 3],
    };
    assert_eq!(
        Message::decode(&f).unwrap(),
        Message::Unknown {
            kind: 99,
            body: vec![1, 2, 3]
        }
    );
}

#[test]
fn create_session_signature_covers_exact_bytes() {
    let k = keys();
    let opts = vec![
        ("outbound.length".to_string(), "0".to_string()),
        ("i2cp.dontPublishLeaseSet".to_string(), "true".to_string()),
    ];
    let cfg = SessionConfig::sign(&k, &opts, 1_700_000_000_123).unwrap();
    assert!(cfg.verify());
    // Options come out sorted by key.
    assert_eq!(cfg.options[0].0, "i2cp.dontPublishLeaseSet");
    let f = round_trip(&Message::CreateSession(cfg.clone()));
    let d = k.destination().as_bytes();
    assert_eq!(&f.body[..391], d);
    let map_len = u16::from_be_bytes([f.body[391], f.body[392]]) as usize;
    let date_at = 393 + map_len;
    assert_eq!(
        &f.body[date_at..date_at + 8],
        &1_700_000_000_123u64.to_be_bytes()
    );
    assert_eq!(f.body.len(), date_at + 8 + 64);
    // The signature is over Destination ‖ Mapping ‖ Date exactly.
    assert!(
        k.destination()
            .verify(&f.body[..date_at + 8], &f.body[date_at + 8..])
    );
    assert_truncations_rejected(&f);
    // A flipped byte anywhere breaks verification after decoding.
    let mut bad = f.clone();
    bad.body[395] ^= 0x20;
    if let Ok(Message::CreateSession(c)) = Message::decode(&bad) {
        assert!(!c.verify());
    }
}

fn sample_cls2(k: &PrivateKeys) -> (CreateLeaseSet2, LeaseSetEncKey) {
    let enc = LeaseSetEncKey::generate();
    let leases = [Lease2::from_millis([0x22; 32], 42, 1_700_000_600_000)];
    let ls = build_leaseset2(
        k,
        1_700_000_000,
        &leases,
        &[enc.encryption_key()],
        FLAG_UNPUBLISHED,
    )
    .unwrap();
    let msg = CreateLeaseSet2 {
        sid: 0x0203,
        store_type: 3,
        lease_set: ls,
        private_keys: vec![PrivateKeyEntry {
            key_type: 4,
            key: enc.private_bytes().to_vec(),
        }],
    };
    (msg, enc)
}

#[test]
fn create_lease_set2_is_583_bytes_for_one_lease() {
    let k = keys();
    let (cls, _enc) = sample_cls2(&k);
    let f = round_trip(&Message::CreateLeaseSet2(cls.clone()));
    // docs/i2cp.md "LeaseSet2": 583-byte body for one lease.
    assert_eq!(f.body.len(), 583);
    assert_eq!(&f.body[..3], &[2, 3, 3]);
    // published, expires = 600, flags = 2
    assert_eq!(
        &f.body[3 + 391..3 + 391 + 8],
        &hex("6553f100 0258 0002")[..]
    );
    assert_eq!(
        &f.body[f.body.len() - 37..f.body.len() - 32],
        &hex("01 0004 0020")[..]
    );
    assert!(cls.verify_signature());
    let parsed = parse_leaseset2(&cls.lease_set).unwrap();
    assert_eq!(parsed.destination, *k.destination());
    assert_truncations_rejected(&f);
    let mut bad = cls.clone();
    let n = bad.lease_set.len();
    bad.lease_set[n - 1] ^= 1;
    assert!(!bad.verify_signature());
}

#[test]
fn splitter_yields_concatenated_frames() {
    let a = Message::SessionStatus { sid: 1, status: 1 }
        .encode()
        .unwrap();
    let b = Message::Disconnect { reason: "x".into() }.encode().unwrap();
    let mut bytes = a.to_bytes();
    bytes.extend(b.to_bytes());
    let mut s = FrameSplitter::new();
    s.push(&bytes);
    assert_eq!(s.next_frame().unwrap(), Some(a));
    assert_eq!(s.next_frame().unwrap(), Some(b));
    assert_eq!(s.next_frame().unwrap(), None);
}

#[test]
fn destination_in_host_reply_must_be_complete() {
    let dest = keys().destination().clone();
    let mut body = hex("0001 00000009 00");
    body.extend_from_slice(&dest.as_bytes()[..390]);
    assert!(Message::decode(&Frame { kind: 39, body }).is_err());
    let _ = Destination::parse(dest.as_bytes()).unwrap();
}

//! Property tests for the I2CP codecs: no panic on arbitrary input, round trips,
//! and split-read equivalence of the frame splitter.

use i2psocks::i2cp::framing::{Frame, FrameSplitter};
use i2psocks::i2cp::message::{Lease, LookupQuery, Message};
use i2psocks::i2cp::payload::{self, Compression};
use proptest::prelude::*;

fn any_simple_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (any::<u16>(), any::<u8>())
            .prop_map(|(sid, status)| Message::SessionStatus { sid, status }),
        any::<u16>().prop_map(|sid| Message::DestroySession { sid }),
        "[a-z0-9. ]{0,60}".prop_map(|reason| Message::Disconnect { reason }),
        (any::<u64>(), "[0-9.]{0,20}")
            .prop_map(|(date_ms, version)| Message::SetDate { date_ms, version }),
        (
            "[0-9.]{0,20}",
            proptest::collection::vec(("[a-z.]{1,20}", "[a-z0-9]{0,10}"), 0..5)
        )
            .prop_map(|(version, opts)| {
                // The encoder sorts and de-duplicates; build the expected wire order.
                let mut options: Vec<(String, String)> = Vec::new();
                for (k, v) in opts {
                    match options.iter_mut().find(|e| e.0 == k) {
                        Some(e) => e.1 = v,
                        None => options.push((k, v)),
                    }
                }
                options.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                Message::GetDate { version, options }
            }),
        (
            any::<u16>(),
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(sid, msg_id, payload)| Message::MessagePayload {
                sid,
                msg_id,
                payload
            }),
        (
            any::<u16>(),
            any::<u32>(),
            any::<u8>(),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(
                |(sid, msg_id, status, size, nonce)| Message::MessageStatus {
                    sid,
                    msg_id,
                    status,
                    size,
                    nonce
                }
            ),
        (
            any::<u16>(),
            proptest::collection::vec((any::<[u8; 32]>(), any::<u32>(), any::<u64>()), 0..16)
        )
            .prop_map(|(sid, ls)| Message::RequestVariableLeaseSet {
                sid,
                leases: ls
                    .into_iter()
                    .map(|(gateway, tunnel_id, end_ms)| Lease {
                        gateway,
                        tunnel_id,
                        end_ms
                    })
                    .collect(),
            }),
        (any::<u16>(), any::<u32>(), any::<u32>(), any::<[u8; 32]>()).prop_map(
            |(sid, request_id, timeout_ms, h)| {
                Message::HostLookup {
                    sid,
                    request_id,
                    timeout_ms,
                    query: LookupQuery::Hash(h),
                }
            }
        ),
        (
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            "[a-z0-9.-]{0,255}"
        )
            .prop_map(|(sid, request_id, timeout_ms, n)| Message::HostLookup {
                sid,
                request_id,
                timeout_ms,
                query: LookupQuery::Name(n)
            }),
        (any::<u16>(), any::<u32>(), 1u8..=255).prop_map(|(sid, request_id, code)| {
            Message::HostReply {
                sid,
                request_id,
                code,
                destination: None,
            }
        }),
    ]
}

proptest! {
    #[test]
    fn decode_never_panics(kind in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let _ = Message::decode(&Frame { kind, body });
    }

    #[test]
    fn decode_never_panics_on_known_kinds(
        kind in prop::sample::select(vec![1u8, 3, 5, 8, 20, 22, 23, 30, 31, 32, 33, 37, 38, 39, 41]),
        body in proptest::collection::vec(any::<u8>(), 0..1200),
    ) {
        let _ = Message::decode(&Frame { kind, body });
    }

    #[test]
    fn messages_round_trip(msg in any_simple_message()) {
        let frame = msg.encode().unwrap();
        prop_assert_eq!(Message::decode(&frame).unwrap(), msg);
    }

    /// The fuzz target's invariant (fuzz/fuzz_targets/i2cp_message.rs): whatever decodes
    /// from a damaged frame encodes again (Mappings aside: duplicate keys are read but never
    /// written), and one more decode/encode round changes nothing.
    #[test]
    fn mutated_messages_reach_an_encoding_fixed_point(
        msg in any_simple_message(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut frame = msg.encode().expect("generated messages encode");
        for (at, byte) in edits {
            if !frame.body.is_empty() {
                let i = at.index(frame.body.len());
                frame.body[i] = byte;
            }
        }
        if !frame.body.is_empty() && cut.index(4) == 0 {
            let keep = cut.index(frame.body.len());
            frame.body.truncate(keep);
        }
        if let Ok(decoded) = Message::decode(&frame) {
            prop_assert_eq!(decoded.kind(), frame.kind);
            match decoded.encode() {
                Ok(once) => {
                    let again = Message::decode(&once).expect("own encoding decodes");
                    let twice = again.encode();
                    prop_assert_eq!(twice.as_ref(), Ok(&once));
                    // Nothing sized by a claimed length; an absent optional Mapping (GetDate)
                    // is written as an empty one, 2 bytes.
                    prop_assert!(once.body.len() <= frame.body.len() + 2);
                }
                Err(i2psocks::i2cp::EncodeError::Options(_))
                    if matches!(decoded, Message::GetDate { .. } | Message::CreateSession(_)) => {}
                Err(e) => prop_assert!(false, "decoded {:?} does not encode: {}", decoded, e),
            }
        }
    }

    #[test]
    fn splitter_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut s = FrameSplitter::new();
        s.push(&bytes);
        for _ in 0..bytes.len() + 1 {
            match s.next_frame() {
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        let mut r = FrameSplitter::for_router();
        r.push(&bytes);
        let _ = r.next_frame();
    }

    #[test]
    fn splitter_is_split_read_equivalent(
        msgs in proptest::collection::vec(any_simple_message(), 1..8),
        cuts in proptest::collection::vec(1usize..50, 1..200),
    ) {
        let frames: Vec<Frame> = msgs.iter().map(|m| m.encode().unwrap()).collect();
        let stream: Vec<u8> = frames.iter().flat_map(|f| f.to_bytes()).collect();
        let mut s = FrameSplitter::new();
        let mut got = Vec::new();
        let mut pos = 0;
        let mut cut_iter = cuts.iter().cycle();
        while pos < stream.len() {
            let n = (*cut_iter.next().unwrap()).min(stream.len() - pos);
            s.push(&stream[pos..pos + n]);
            pos += n;
            while let Some(f) = s.next_frame().unwrap() {
                got.push(f);
            }
        }
        prop_assert_eq!(got, frames);
        prop_assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn payload_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = payload::decode(&bytes);
        // Also with a valid header in front, so the inflater sees arbitrary data.
        let mut framed = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 6];
        framed.extend_from_slice(&bytes);
        let _ = payload::decode(&framed);
    }

    #[test]
    fn payload_round_trips(
        proto in any::<u8>(), src in any::<u16>(), dst in any::<u16>(),
        data in proptest::collection::vec(any::<u8>(), 0..3000), deflate in any::<bool>(),
    ) {
        let comp = if deflate { Compression::Deflate } else { Compression::Stored };
        let wire = payload::encode(proto, src, dst, &data, comp);
        let p = payload::decode(&wire).unwrap();
        prop_assert_eq!((p.protocol, p.src_port, p.dst_port), (proto, src, dst));
        prop_assert_eq!(p.data, data);
    }
}

/// Equivalent of fuzz/fuzz_targets/i2cp_payload.rs: what a plain one-shot inflate of the
/// DEFLATE part yields (`None`: corrupt, or over the cap).
fn reference_inflate(stream: &[u8]) -> Option<Vec<u8>> {
    let mut dec = flate2::Decompress::new(false);
    let mut out = Vec::with_capacity(payload::MAX_INFLATED_LEN + 1);
    let status = dec.decompress_vec(stream, &mut out, flate2::FlushDecompress::Finish);
    (matches!(status, Ok(flate2::Status::StreamEnd))
        && dec.total_in() == stream.len() as u64
        && out.len() <= payload::MAX_INFLATED_LEN)
        .then_some(out)
}

fn gzip_trailer(data: &[u8]) -> Vec<u8> {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    let mut t = crc.sum().to_le_bytes().to_vec();
    t.extend_from_slice(&(data.len() as u32).to_le_bytes());
    t
}

/// The fuzz target's invariants: header errors first, acceptance exactly when a plain inflate
/// succeeds within the cap and the trailer matches, and re-encodings that decode the same.
fn check_payload(wire: &[u8]) -> Result<(), TestCaseError> {
    use payload::PayloadError;
    let decoded = payload::decode(wire);
    if wire.len() < 18 {
        prop_assert_eq!(decoded, Err(PayloadError::Truncated));
        return Ok(());
    }
    if wire[..3] != [0x1f, 0x8b, 8] {
        prop_assert_eq!(decoded, Err(PayloadError::BadMagic));
        return Ok(());
    }
    if wire[3] != 0 {
        prop_assert_eq!(decoded, Err(PayloadError::UnsupportedFlags(wire[3])));
        return Ok(());
    }
    let trailer = &wire[wire.len() - 8..];
    match (decoded, reference_inflate(&wire[10..wire.len() - 8])) {
        (Ok(p), Some(data)) => {
            prop_assert!(p.data.len() <= payload::MAX_INFLATED_LEN);
            prop_assert_eq!(&p.data, &data);
            prop_assert_eq!(trailer, &gzip_trailer(&data)[..]);
            for comp in [Compression::Stored, Compression::Deflate] {
                let again = payload::encode(p.protocol, p.src_port, p.dst_port, &p.data, comp);
                let back = payload::decode(&again);
                prop_assert_eq!(back.as_ref(), Ok(&p));
            }
        }
        (Err(PayloadError::Checksum), Some(data)) => {
            prop_assert_ne!(trailer, &gzip_trailer(&data)[..]);
        }
        (Err(PayloadError::Corrupt | PayloadError::TooLarge), None) => {}
        (decoded, reference) => prop_assert!(
            false,
            "decode {:?}, plain inflate {:?}",
            decoded.map(|p| p.data.len()),
            reference.map(|d| d.len())
        ),
    }
    Ok(())
}

proptest! {
    /// Damaged stored and deflated payloads, the trailer made to match whenever the damaged
    /// stream still inflates (so acceptance is reached, not just the checksum error).
    #[test]
    fn mutated_payloads_agree_with_a_plain_inflate(
        data in proptest::collection::vec(0u8..4, 0..2000),
        deflate in any::<bool>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        fix_trailer in any::<bool>(),
    ) {
        let comp = if deflate { Compression::Deflate } else { Compression::Stored };
        let mut wire = payload::encode(6, 1, 2, &data, comp);
        let stream_len = wire.len() - 18;
        for (at, byte) in edits {
            wire[10 + at.index(stream_len)] = byte;
        }
        if fix_trailer && let Some(inflated) = reference_inflate(&wire[10..wire.len() - 8]) {
            let at = wire.len() - 8;
            wire.splice(at.., gzip_trailer(&inflated));
        }
        check_payload(&wire)?;
    }

    #[test]
    fn arbitrary_payloads_agree_with_a_plain_inflate(
        stream in proptest::collection::vec(any::<u8>(), 0..600),
        raw in 0u8..3,
    ) {
        // Mostly behind a valid header, so the inflater sees the arbitrary bytes.
        let mut wire = if raw == 0 { Vec::new() } else { vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 6] };
        wire.extend_from_slice(&stream);
        check_payload(&wire)?;
    }
}

#[test]
fn payload_vectors_satisfy_the_invariants() {
    let get = payload::encode(6, 0, 80, b"GET / HTTP/1.0\r\n\r\n", Compression::Stored);
    check_payload(&get).expect("stored");
    let deflated = payload::encode(17, 1234, 5678, &[7; 2000], Compression::Deflate);
    check_payload(&deflated).expect("deflated");
    let bomb = payload::encode(
        6,
        0,
        0,
        &vec![0; payload::MAX_INFLATED_LEN + 1],
        Compression::Deflate,
    );
    check_payload(&bomb).expect("over the cap");
}

mod session_fuzz {
    use super::*;
    use i2psocks::data::PrivateKeys;
    use i2psocks::data::lease_set::LeaseSetEncKey;
    use i2psocks::i2cp::session::{Now, Session};
    use std::sync::{Arc, OnceLock};
    use std::time::{Duration, Instant};

    fn keys() -> Arc<PrivateKeys> {
        static K: OnceLock<Arc<PrivateKeys>> = OnceLock::new();
        K.get_or_init(|| Arc::new(PrivateKeys::generate(7, 4).unwrap()))
            .clone()
    }

    fn created_session(now: Now) -> Session {
        let mut s = Session::new(
            now,
            keys(),
            vec![],
            Duration::from_secs(5),
            LeaseSetEncKey::generate(),
        );
        let mut setup = Message::SetDate {
            date_ms: now.unix_ms,
            version: "0.9.62".into(),
        }
        .encode()
        .unwrap()
        .to_bytes();
        setup.extend(
            Message::SessionStatus { sid: 1, status: 1 }
                .encode()
                .unwrap()
                .to_bytes(),
        );
        s.handle_bytes(now, &setup);
        assert_eq!(s.sid(), Some(1));
        s
    }

    proptest! {
        /// Arbitrary router bytes (raw, or framed with arbitrary types and bodies) never
        /// panic the session, and it either stays usable or reports Closed.
        #[test]
        fn session_survives_arbitrary_router_bytes(
            raw in proptest::collection::vec(any::<u8>(), 0..600),
            frames in proptest::collection::vec((any::<u8>(), proptest::collection::vec(any::<u8>(), 0..200)), 0..6),
        ) {
            let now = Now { instant: Instant::now(), unix_ms: 1_700_000_000_000 };
            let mut s = created_session(now);
            for (kind, body) in frames {
                s.handle_bytes(now, &Frame { kind, body }.to_bytes());
            }
            s.handle_bytes(now, &raw);
            s.handle_timeout(now.instant + Duration::from_secs(60));
            while s.poll_transmit().is_some() {}
            let mut closed = 0;
            while let Some(ev) = s.poll_event() {
                if matches!(ev, i2psocks::i2cp::session::Event::Closed { .. }) {
                    closed += 1;
                }
            }
            prop_assert!(closed <= 1);
            prop_assert_eq!(closed == 1, s.is_closed());
        }
    }
}

proptest! {
    /// SendMessageExpires (type 36) round-trips for any ids, flags, 48-bit expiration and
    /// payload, and every truncation of it is refused.
    #[test]
    fn send_message_expires_round_trips(
        sid in any::<u16>(),
        nonce in any::<u32>(),
        flags in any::<u16>(),
        expiration_ms in 0u64..(1 << 48),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let destination = i2psocks::data::PrivateKeys::generate(7, 0)
            .expect("keys")
            .destination()
            .clone();
        let msg = Message::SendMessageExpires {
            sid,
            destination,
            payload,
            nonce,
            flags,
            expiration_ms,
        };
        let frame = msg.encode().expect("encodes");
        prop_assert_eq!(frame.kind, 36);
        prop_assert_eq!(Message::decode(&frame).expect("decodes"), msg);
        for cut in 0..frame.body.len() {
            let short = Frame { kind: 36, body: frame.body[..cut].to_vec() };
            prop_assert!(Message::decode(&short).is_err(), "truncated at {}", cut);
        }
    }
}

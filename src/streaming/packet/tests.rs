use super::*;
use crate::data::PrivateKeys;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).unwrap_or(0))
        .collect()
}

/// docs/streaming.md "What i2pd sends": 22 bytes.
const ACK_HEX: &str = "d584c5da 3ede627c 00000000 00000000 00 00 0000 0000";

#[test]
fn decodes_golden_ack() {
    let bytes = hex(ACK_HEX);
    assert_eq!(bytes.len(), MIN_HEADER_LEN);
    let p = Packet::decode(&bytes).unwrap_or_default();
    assert_eq!(p.send_stream_id, 0xd584c5da);
    assert_eq!(p.receive_stream_id, 0x3ede627c);
    assert_eq!(p.seq, 0);
    assert_eq!(p.ack_through, 0);
    assert!(p.nacks.is_empty());
    assert_eq!(p.flags, Flags::NONE);
    assert!(p.is_plain_ack());
    assert!(p.payload.is_empty());
}

#[test]
fn encodes_golden_ack() {
    let p = Packet {
        send_stream_id: 0xd584c5da,
        receive_stream_id: 0x3ede627c,
        ..Packet::default()
    };
    assert_eq!(p.encode(), Ok(hex(ACK_HEX)));
}

/// docs/streaming.md "What i2pd sends": i2pd's CLOSE is 86 bytes, flags 000a, option size 0040,
/// signed.
fn golden_close() -> Vec<u8> {
    let mut b = hex("3ede627c d584c5da 00000004 00000001 00 00 000a 0040");
    b.extend(std::iter::repeat_n(0xab, 64));
    b
}

#[test]
fn decodes_golden_close() {
    let bytes = golden_close();
    assert_eq!(bytes.len(), 86);
    let p = Packet::decode(&bytes).unwrap_or_default();
    assert_eq!(p.seq, 4);
    assert_eq!(p.ack_through, 1);
    assert!(p.flags.contains(Flags::CLOSE | Flags::SIGNATURE_INCLUDED));
    assert_eq!(p.signature.as_deref(), Some(&[0xab; 64][..]));
    assert_eq!(p.encode(), Ok(bytes));
}

#[test]
fn rejects_every_truncation_of_close() {
    let bytes = golden_close();
    for len in 0..bytes.len() {
        assert!(
            Packet::decode(&bytes[..len]).is_err(),
            "prefix of {len} bytes accepted"
        );
    }
}

#[test]
fn peeks_flags_without_decoding() {
    assert_eq!(Packet::peek_flags(&golden_close()), Some(Flags(0x000a)));
    let syn = Packet {
        nacks: vec![0; 8],
        flags: Flags::SYNCHRONIZE,
        ..Packet::default()
    };
    let bytes = syn.encode().unwrap_or_default();
    assert_eq!(Packet::peek_flags(&bytes), Some(Flags::SYNCHRONIZE));
    assert_eq!(Packet::peek_flags(&bytes[..40]), None);
}

#[test]
fn rejects_option_size_beyond_packet() {
    let bytes = hex("00000001 00000002 00000000 00000000 00 00 0040 0003 0000");
    assert_eq!(
        Packet::decode(&bytes),
        Err(DecodeError::OptionSizeBeyondPacket {
            declared: 3,
            available: 2
        })
    );
}

#[test]
fn rejects_option_bytes_no_flag_claims() {
    let bytes = hex("00000001 00000002 00000000 00000000 00 00 0000 0002 ffff");
    assert_eq!(
        Packet::decode(&bytes),
        Err(DecodeError::TrailingOptionData(2))
    );
}

#[test]
fn rejects_truncated_nack_list() {
    let bytes = hex("00000001 00000002 00000000 00000005 02 00000001 0000");
    assert_eq!(Packet::decode(&bytes), Err(DecodeError::Truncated("NACKs")));
}

#[test]
fn rejects_delay_flag_without_option() {
    let bytes = hex("00000001 00000002 00000000 00000000 00 00 0040 0000");
    assert_eq!(
        Packet::decode(&bytes),
        Err(DecodeError::OptionsTruncated("delay"))
    );
}

#[test]
fn decodes_choke_and_ack_now() {
    let choke = hex("00000001 00000002 00000000 00000007 00 00 0040 0002 ea60");
    let p = Packet::decode(&choke).unwrap_or_default();
    assert_eq!(p.delay_requested, Some(60000));
    assert!(p.is_choke(), "i2pd's 60000 is a choke");
    let now = hex("00000001 00000002 00000003 00000007 00 00 0040 0002 0000 41");
    let p = Packet::decode(&now).unwrap_or_default();
    assert_eq!(p.delay_requested, Some(0));
    assert!(!p.is_choke());
    assert_eq!(p.payload, b"A");
}

#[test]
fn our_choke_is_a_choke_everywhere_without_i2pds_java_mark() {
    // Java I2P chokes at >= 60001 (its MIN_DELAY_CHOKE), i2pd 2.51+ at >= 60000.
    assert_eq!(DELAY_CHOKE_SEND, 60001, "Java I2P's MIN_DELAY_CHOKE");
    assert_ne!(
        DELAY_CHOKE_SEND, 61000,
        "i2pd 2.58+ takes 61000 for Java I2P"
    );
    assert_ne!(DELAY_CHOKE_SEND, 65535, "i2pd's choke2");
    let p = Packet {
        delay_requested: Some(DELAY_CHOKE_SEND),
        ..Packet::default()
    };
    let bytes = p.encode().unwrap_or_default();
    assert!(bytes.ends_with(&hex("0040 0002 ea61")), "{bytes:02x?}");
    assert!(Packet::decode(&bytes).is_ok_and(|d| d.is_choke()));
}

#[test]
fn wire_flags_follow_options() {
    let p = Packet {
        flags: Flags::SYNCHRONIZE | Flags::FROM_INCLUDED,
        max_packet_size: Some(1730),
        delay_requested: Some(5),
        ..Packet::default()
    };
    assert_eq!(
        p.wire_flags(),
        Flags::SYNCHRONIZE | Flags::MAX_PACKET_SIZE_INCLUDED | Flags::DELAY_REQUESTED
    );
}

#[test]
fn refuses_too_many_nacks() {
    let p = Packet {
        nacks: vec![1; 256],
        ..Packet::default()
    };
    assert_eq!(p.encode(), Err(EncodeError::TooManyNacks(256)));
}

#[test]
fn target_hash_round_trips_through_nacks() {
    let hash: [u8; 32] = core::array::from_fn(|i| i as u8 * 7);
    let p = Packet {
        flags: Flags::SYNCHRONIZE,
        nacks: Packet::nacks_for_hash(&hash),
        ..Packet::default()
    };
    assert_eq!(p.syn_target_hash(), Some(hash));
}

#[test]
fn decodes_offline_signature_block_without_from() {
    // CLOSE with OFFLINE_SIGNATURE: expires, type 7, 32-byte key, 64-byte block signature,
    // then the 64-byte packet signature.
    let mut b = hex("00000001 00000002 00000003 00000000 00 00 080a");
    let opt_len: u16 = 4 + 2 + 32 + 64 + 64;
    b.extend_from_slice(&opt_len.to_be_bytes());
    b.extend_from_slice(&hex("5f000000 0007"));
    b.extend(std::iter::repeat_n(1u8, 32));
    b.extend(std::iter::repeat_n(2u8, 64));
    b.extend(std::iter::repeat_n(3u8, 64));
    let p = Packet::decode(&b).unwrap_or_default();
    let off = p.offline_signature.clone().unwrap_or(OfflineSignature {
        expires: 0,
        transient_sig_type: 0,
        transient_key: vec![],
        signature: vec![],
    });
    assert_eq!(off.transient_sig_type, 7);
    assert_eq!(off.transient_key, vec![1; 32]);
    assert_eq!(off.signature, vec![2; 64]);
    assert_eq!(p.signature, Some(vec![3; 64]));
    assert_eq!(p.encode(), Ok(b));
}

#[test]
fn refuses_unknown_offline_key_type() {
    let mut b = hex("00000001 00000002 00000003 00000000 00 00 0800");
    b.extend_from_slice(&6u16.to_be_bytes());
    b.extend_from_slice(&hex("5f000000 0004"));
    assert_eq!(
        Packet::decode(&b),
        Err(DecodeError::UnsupportedOfflineKeyType(4))
    );
}

fn arb_packet_without_from() -> impl Strategy<Value = Packet> {
    (
        (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()),
        proptest::collection::vec(any::<u32>(), 0..20),
        any::<u8>(),
        any::<u16>(),
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u16>()),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 1..80)),
        ),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(ids, nacks, resend_delay, flags, opts, payload)| {
            let mut flags = Flags(flags);
            flags.remove(Flags::OPTION_BITS);
            let mut p = Packet {
                send_stream_id: ids.0,
                receive_stream_id: ids.1,
                seq: ids.2,
                ack_through: ids.3,
                nacks,
                resend_delay,
                flags,
                delay_requested: opts.0,
                max_packet_size: opts.1,
                signature: opts.2,
                payload,
                ..Packet::default()
            };
            p.flags = p.wire_flags();
            p
        })
}

fn keys() -> PrivateKeys {
    PrivateKeys::generate(7, 4).expect("keys")
}

fn signed_syn(keys: &PrivateKeys) -> (Packet, Vec<u8>) {
    let mut p = Packet {
        receive_stream_id: 77,
        nacks: Packet::nacks_for_hash(&[9; 32]),
        resend_delay: 9,
        flags: Flags::SYNCHRONIZE | Flags::NO_ACK,
        from: Some(keys.destination().clone()),
        max_packet_size: Some(1730),
        payload: b"hello".to_vec(),
        ..Packet::default()
    };
    let bytes = p.sign(keys).expect("sign");
    (p, bytes)
}

#[test]
fn signed_syn_round_trips_and_verifies() {
    let k = keys();
    let (p, bytes) = signed_syn(&k);
    assert_eq!(bytes.len(), 511 + 5);
    let d = Packet::decode(&bytes).expect("decodes");
    assert_eq!(d, p);
    assert_eq!(d.wire_flags(), Flags(0x04a9));
    assert!(d.verify(k.destination()));
    assert!(!d.verify(keys().destination()), "another key must fail");
    assert_eq!(d.encode().expect("encode"), bytes);
}

#[test]
fn any_flipped_byte_breaks_the_signature_or_the_decode() {
    let k = keys();
    let (_, bytes) = signed_syn(&k);
    for i in (0..bytes.len()).step_by(7) {
        let mut b = bytes.clone();
        b[i] ^= 0x40;
        if let Ok(p) = Packet::decode(&b) {
            assert!(!p.verify(k.destination()), "flip at {i} still verifies");
        }
    }
}

#[test]
fn rejects_signature_not_matching_from_type() {
    let k = keys();
    let (_, mut bytes) = signed_syn(&k);
    // Claim one byte fewer of options: the signature becomes 63 bytes.
    let size_at = 17 + 32 + 3;
    bytes[size_at + 1] -= 1;
    assert_eq!(
        Packet::decode(&bytes),
        Err(DecodeError::SignatureLength {
            got: 63,
            expected: 64
        })
    );
}

#[test]
fn rejects_every_truncation_of_signed_syn_options() {
    let k = keys();
    let (p, bytes) = signed_syn(&k);
    for len in 0..bytes.len() - p.payload.len() {
        assert!(
            Packet::decode(&bytes[..len]).is_err(),
            "prefix {len} accepted"
        );
    }
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let _ = Packet::decode(&bytes);
    }

    #[test]
    fn decode_never_panics_on_option_soup(
        flags in any::<u16>(),
        options in proptest::collection::vec(any::<u8>(), 0..900),
        payload in proptest::collection::vec(any::<u8>(), 0..50),
    ) {
        let mut b = vec![0u8; 18];
        b.extend_from_slice(&flags.to_be_bytes());
        b.extend_from_slice(&(options.len() as u16).to_be_bytes());
        b.extend_from_slice(&options);
        b.extend_from_slice(&payload);
        if let Ok(p) = Packet::decode(&b) {
            // Whatever decodes re-encodes to the same bytes.
            prop_assert_eq!(p.encode().expect("encode"), b);
        }
    }

    #[test]
    fn round_trips_without_from(p in arb_packet_without_from()) {
        let bytes = p.encode().unwrap_or_default();
        prop_assert_eq!(Packet::decode(&bytes), Ok(p.clone()));
    }

    #[test]
    fn every_strict_prefix_of_header_and_options_fails(p in arb_packet_without_from()) {
        let bytes = p.encode().unwrap_or_default();
        let header_and_options = bytes.len() - p.payload.len();
        for len in 0..header_and_options {
            prop_assert!(Packet::decode(&bytes[..len]).is_err());
        }
    }
}

//! Property tests: decoders never panic on arbitrary bytes, codecs round-trip.

// The Destination and Mapping invariants, shared with fuzz/fuzz_targets/data_destination.rs.
#[path = "../invariants/data_destination.rs"]
mod invariants;

use invariants::{check_destination, check_mapping};

use i2psocks::data::lease_set::parse_leaseset2;

use i2psocks::data::mapping::{encode_mapping, read_mapping, write_string};
use i2psocks::data::{
    Destination, PrivateKeys, Reader, b32_hash, base32_decode, base32_encode, base64_decode,
    base64_encode,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// A valid destination prefix to mutate, so the fuzzing reaches past the
/// fixed 387 bytes instead of failing at the length check every time.
fn valid_file() -> Vec<u8> {
    PrivateKeys::generate_with_rng(7, 0, &mut StdRng::seed_from_u64(1))
        .expect("keys")
        .to_bytes()
}

proptest! {
    #[test]
    fn destination_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
        if let Ok((dest, used)) = Destination::parse(&bytes) {
            prop_assert_eq!(dest.as_bytes(), &bytes[..used]);
            prop_assert!(used >= 387);
            let _ = (dest.signature_len(), dest.signing_public_key(), dest.b32_address());
            prop_assert!(!dest.verify(b"x", &bytes));
        }
    }

    #[test]
    fn keys_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let _ = PrivateKeys::from_bytes(&bytes);
        let _ = parse_leaseset2(&bytes);
    }

    #[test]
    fn mutated_keys_file_never_panics(
        cut in 0usize..700,
        edits in proptest::collection::vec((0usize..700, any::<u8>()), 0..6),
    ) {
        let mut file = valid_file();
        for (i, b) in edits {
            if let Some(slot) = file.get_mut(i) { *slot = b; }
        }
        file.truncate(cut);
        if let Ok(keys) = PrivateKeys::from_bytes(&file) {
            // Whatever was accepted writes back as the same prefix.
            let out = keys.to_bytes();
            prop_assert_eq!(&file[..out.len()], &out[..]);
        }
        let _ = Destination::parse(&file);
    }

    #[test]
    fn generate_round_trips(seed in any::<u64>(), crypto in prop::sample::select(vec![0u16, 4])) {
        let keys = PrivateKeys::generate_with_rng(7, crypto, &mut StdRng::seed_from_u64(seed)).expect("keys");
        let bytes = keys.to_bytes();
        let again = PrivateKeys::from_bytes(&bytes).expect("parse");
        prop_assert_eq!(again.to_bytes(), bytes);
        prop_assert_eq!(again.destination(), keys.destination());
        prop_assert_eq!(again.sign(b"m"), keys.sign(b"m"));
    }

    #[test]
    fn base64_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let text = base64_encode(&bytes);
        prop_assert!(text.bytes().all(|c| c.is_ascii_alphanumeric() || b"-~=".contains(&c)));
        prop_assert_eq!(base64_decode(&text), Some(bytes));
    }

    #[test]
    fn base32_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let text = base32_encode(&bytes);
        prop_assert!(text.bytes().all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c)));
        prop_assert_eq!(base32_decode(&text), Some(bytes));
    }

    #[test]
    fn b32_round_trips(hash in any::<[u8; 32]>()) {
        prop_assert_eq!(b32_hash(&format!("{}.b32.i2p", base32_encode(&hash))), Some(hash));
    }

    #[test]
    fn text_decoders_never_panic(text in "\\PC{0,120}") {
        let _ = base64_decode(&text);
        let _ = base32_decode(&text);
        let _ = b32_hash(&text);
        let _ = Destination::from_base64(&text);
    }

    #[test]
    fn reader_never_overreads(
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
        ops in proptest::collection::vec(0u8..6, 0..20),
    ) {
        let mut r = Reader::new(&bytes);
        for op in ops {
            let before = r.remaining();
            let ok = match op {
                0 => r.u8("a").is_ok(),
                1 => r.u16("b").is_ok(),
                2 => r.u32("c").is_ok(),
                3 => r.u64("d").is_ok(),
                4 => r.take(7, "e").is_ok(),
                _ => r.sub(3, "f").is_ok(),
            };
            let consumed_as_reported = if ok { r.remaining() < before } else { r.remaining() == before };
            prop_assert!(consumed_as_reported, "op {} ok={} {} -> {}", op, ok, before, r.remaining());
            prop_assert_eq!(r.position() + r.remaining(), bytes.len());
        }
    }

    #[test]
    fn mapping_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = read_mapping(&mut Reader::new(&bytes));
    }

    #[test]
    fn mapping_round_trips(pairs in proptest::collection::btree_map("[a-z.]{1,20}", "[a-zA-Z0-9]{0,20}", 0..8)) {
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let bytes = encode_mapping(&refs).expect("valid");
        let back = read_mapping(&mut Reader::new(&bytes)).expect("parse");
        let expected: Vec<(String, String)> = pairs.into_iter().collect();
        prop_assert_eq!(back, expected);
    }
}

/// The i2pd keys fixture starts with its Destination (sig 7, KEY certificate of 4 bytes).
const I2PD_DESTINATION: &[u8] = include_bytes!("../data/keys/i2pd-2.45.1-sig7-crypto0.dat")
    .split_at(391)
    .0;

/// `entries` as Mapping wire bytes in the given order, whatever they contain.
fn raw_mapping(entries: &[(String, String)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in entries {
        write_string(&mut body, k).expect("short");
        body.push(b'=');
        write_string(&mut body, v).expect("short");
        body.push(b';');
    }
    let mut out = u16::try_from(body.len())
        .expect("small")
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(&body);
    out
}

#[test]
fn destination_vectors_satisfy_the_invariants() {
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(&Just(()), |()| {
            prop_assert_eq!(check_destination(I2PD_DESTINATION), Some(391));
            let mut null_cert = vec![0u8; 384];
            null_cert.extend_from_slice(&[0, 0, 0]);
            prop_assert_eq!(check_destination(&null_cert), Some(387));
            let mut p521 = vec![0u8; 384];
            p521.extend_from_slice(&[5, 0, 8, 0, 3, 0, 0, 1, 2, 3, 4]);
            prop_assert_eq!(check_destination(&p521), Some(395));
            check_mapping(&raw_mapping(&[
                ("b".into(), "1".into()),
                ("a".into(), "2".into()),
            ]));
            Ok(())
        })
        .expect("invariants");
}

proptest! {
    /// A Destination with a few bytes of its certificate changed, cut or extended, then
    /// followed by a Mapping (a SessionConfig's layout).
    #[test]
    fn mutated_destinations_then_mappings(
        edits in proptest::collection::vec((384usize..391, any::<u8>()), 0..3),
        cut in 380usize..480,
        tail in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut bytes = I2PD_DESTINATION.to_vec();
        for (at, b) in edits {
            bytes[at] = b;
        }
        bytes.extend_from_slice(&tail);
        bytes.truncate(cut);
        if let Some(used) = check_destination(&bytes) {
            check_mapping(&bytes[used..]);
        }
    }

    /// Mappings the lenient reader accepts but a writer must not write: duplicate keys,
    /// '=' and ';' inside, any order; plus arbitrary bytes.
    #[test]
    fn arbitrary_mappings_decode_and_reencode(
        entries in proptest::collection::vec(("[a-c=;é]{0,3}", "[a-c=;]{0,3}"), 0..6),
        tail in proptest::collection::vec(any::<u8>(), 0..4),
        junk in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = raw_mapping(&entries);
        bytes.extend_from_slice(&tail);
        check_mapping(&bytes);
        check_mapping(&junk);
    }
}

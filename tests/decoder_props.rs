//! Stable-toolchain equivalents of three cargo-fuzz targets (fuzz/fuzz_targets/): the streaming
//! packet decoder, the keys-file reader and the Datagram2/3 decoders, on arbitrary and on mutated valid input, with the
//! same invariants. (The SOCKS, I2CP and config equivalents are in tests/socks/parser.rs,
//! tests/i2cp/i2cp_props.rs and tests/config/ini_props.rs.)

// The streaming packet invariants, shared with fuzz/fuzz_targets/streaming_packet.rs.
#[path = "invariants/streaming_packet.rs"]
mod invariants;

use std::fs;
use std::path::Path;

use invariants::check_packet;

use i2psocks::data::PrivateKeys;
use i2psocks::data::datagram;
use i2psocks::data::keys_file;
use i2psocks::streaming::packet::Packet;
use proptest::prelude::*;

const KEYS_FIXTURE: &[u8] = include_bytes!("data/keys/i2pd-2.45.1-sig7-crypto0.dat");

/// A signed SYN as i2pd sends it: NACKs carrying the target hash, DELAY, FROM (the fixture's
/// destination), MAX_PACKET_SIZE and a 64-byte signature, then a payload.
fn syn_packet() -> Vec<u8> {
    let dest = KEYS_FIXTURE.get(..391).expect("fixture destination");
    let mut options = vec![0x00, 0x01];
    options.extend_from_slice(dest);
    options.extend_from_slice(&[0x07, 0x00]);
    options.extend_from_slice(&[0u8; 64]);
    let mut p = Vec::new();
    p.extend_from_slice(&[
        0, 0, 0, 0, 0x3e, 0xde, 0x62, 0x7c, 0, 0, 0, 0, 0, 0, 0, 0, 8,
    ]);
    p.extend((0u8..32).collect::<Vec<_>>());
    p.push(0);
    p.extend_from_slice(&(0x0001u16 | 0x0008 | 0x0020 | 0x0040 | 0x0080).to_be_bytes());
    p.extend_from_slice(&u16::try_from(options.len()).expect("fits").to_be_bytes());
    p.extend_from_slice(&options);
    p.extend_from_slice(b"GET / HTTP/1.0\r\n\r\n");
    p
}

/// Write `bytes` as a keys file and load it the way start-up does; the fuzz target's
/// invariants: never modified, no stray files, errors name the file, accepted keys are the
/// file's prefix.
fn check_keys_file(bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("socks.dat");
    fs::write(&path, bytes).expect("write");
    let loaded = keys_file::load(&path);
    let created = keys_file::load_or_create(&path, 7);
    prop_assert_eq!(fs::read(&path).expect("read back"), bytes, "file modified");
    prop_assert_eq!(
        fs::read_dir(dir.path()).expect("ls").count(),
        1,
        "stray files"
    );
    match (loaded, created) {
        (Ok(keys), Ok((again, was_created))) => {
            prop_assert!(!was_created);
            prop_assert_eq!(keys.destination(), again.destination());
            let own = keys.to_bytes();
            prop_assert!(bytes.starts_with(&own), "to_bytes is not the file's prefix");
            let back = PrivateKeys::parse(&own).expect("own bytes parse");
            prop_assert_eq!(back.destination(), keys.destination());
        }
        (Err(a), Err(b)) => {
            prop_assert_eq!(a.to_string(), b.to_string());
            prop_assert!(a.to_string().contains(&path.display().to_string()));
        }
        (a, b) => prop_assert!(false, "disagree: {:?} vs {:?}", a.is_ok(), b.is_ok()),
    }
    Ok(())
}

/// `base` with up to 8 bytes overwritten and then cut or extended.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len();
    (
        proptest::collection::vec((0..len, any::<u8>()), 0..8),
        0..len + 40,
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(move |(edits, cut, tail)| {
            let mut b = base.clone();
            for (at, v) in edits {
                if let Some(slot) = b.get_mut(at) {
                    *slot = v;
                }
            }
            b.truncate(cut);
            if cut >= len {
                b.extend_from_slice(&tail);
            }
            b
        })
}

#[test]
fn fixtures_satisfy_the_invariants_and_are_accepted() {
    let syn = syn_packet();
    let packet = Packet::decode(&syn).expect("SYN decodes");
    assert!(packet.from.is_some() && packet.signature.is_some());
    assert_eq!(packet.payload, b"GET / HTTP/1.0\r\n\r\n");
    check_packet(&syn);

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("socks.dat");
    fs::write(&path, KEYS_FIXTURE).expect("write");
    let keys = keys_file::load(&path).expect("fixture loads");
    assert_eq!(keys.to_bytes(), KEYS_FIXTURE);
    check_keys_file(KEYS_FIXTURE).expect("keys invariants");
    assert!(Path::new(&path).exists());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn streaming_decode_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        check_packet(&bytes);
    }

    #[test]
    fn streaming_decode_on_mutated_syn(bytes in mutated(syn_packet())) {
        check_packet(&bytes);
    }

    #[test]
    fn streaming_decode_on_small_headers(
        header in proptest::collection::vec(any::<u8>(), 18..40),
        flags in any::<u16>(),
        options in proptest::collection::vec(any::<u8>(), 0..80),
        payload in proptest::collection::vec(any::<u8>(), 0..20),
    ) {
        // A valid fixed header with no NACKs, random flags and an option area of the
        // declared size: reaches the option decoder far more often than random bytes.
        let mut b = header[..16].to_vec();
        b.push(0);
        b.push(header[17]);
        b.extend_from_slice(&flags.to_be_bytes());
        b.extend_from_slice(&u16::try_from(options.len()).expect("fits").to_be_bytes());
        b.extend_from_slice(&options);
        b.extend_from_slice(&payload);
        check_packet(&b);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn keys_file_reader_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..800)) {
        check_keys_file(&bytes)?;
    }

    #[test]
    fn keys_file_reader_on_mutated_fixture(bytes in mutated(KEYS_FIXTURE.to_vec())) {
        check_keys_file(&bytes)?;
    }
}

/// The datagram fuzz target's invariants for a decoded Datagram2 (fuzz/fuzz_targets/datagram.rs).
fn check_datagram2(bytes: &[u8], me: &[u8; 32]) -> Result<(), TestCaseError> {
    let Ok((from, payload)) = datagram::decode_datagram2(bytes, me) else {
        return Ok(());
    };
    let from_len = from.as_bytes().len();
    prop_assert_eq!(&bytes[..from_len], from.as_bytes());
    let sig_at = bytes.len() - 64;
    prop_assert!(from_len + 2 + payload.len() <= sig_at);
    prop_assert_eq!(&bytes[sig_at - payload.len()..sig_at], payload);
    if bytes[from_len + 1] & 0x10 == 0 {
        prop_assert_eq!(payload.len(), sig_at - from_len - 2);
    }
    Ok(())
}

/// The same for a Datagram3.
fn check_datagram3(bytes: &[u8]) -> Result<(), TestCaseError> {
    let Ok((hash, payload)) = datagram::decode_datagram3(bytes) else {
        return Ok(());
    };
    prop_assert_eq!(&bytes[..32], &hash[..]);
    prop_assert_eq!(&bytes[bytes.len() - payload.len()..], payload);
    if bytes[33] & 0x10 == 0 {
        prop_assert_eq!(payload, &bytes[34..]);
        let again = datagram::encode_datagram3(&hash, payload);
        prop_assert_eq!(again.as_deref(), Ok(bytes));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn datagram_decoders_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
        check_datagram2(&bytes, &[0x5a; 32])?;
        check_datagram3(&bytes)?;
    }

    /// A valid Datagram2 with one byte flipped: refused when the flip is after the sender,
    /// and never accepted as coming from the original sender.
    #[test]
    fn datagram2_with_one_byte_flipped(
        payload in proptest::collection::vec(any::<u8>(), 0..600),
        target_prelude in any::<bool>(),
        at in any::<usize>(),
        mask in 1u8..,
    ) {
        let keys = PrivateKeys::from_bytes(KEYS_FIXTURE).expect("fixture");
        let me = [0x5a; 32];
        let prelude = if target_prelude { datagram::Prelude::Target } else { datagram::Prelude::Sender };
        let mut d = datagram::encode_datagram2(&keys, &me, prelude, &payload).expect("encode");
        prop_assert_eq!(
            datagram::decode_datagram2(&d, &me),
            Ok((keys.destination().clone(), &payload[..]))
        );
        let at = at % d.len();
        d[at] ^= mask;
        check_datagram2(&d, &me)?;
        if let Ok((from, _)) = datagram::decode_datagram2(&d, &me) {
            prop_assert!(at < keys.destination().as_bytes().len(), "flip at {} accepted", at);
            prop_assert_ne!(&from, keys.destination());
        }
    }

    #[test]
    fn datagram3_with_one_byte_flipped(
        payload in proptest::collection::vec(any::<u8>(), 0..600),
        at in any::<usize>(),
        mask in 1u8..,
    ) {
        let mut d = datagram::encode_datagram3(&[7; 32], &payload).expect("encode");
        let at = at % d.len();
        d[at] ^= mask;
        check_datagram3(&d)?;
    }
}

//! The synthetic vectors of docs/keys-file.md "Vectors" and truncation tests for destinations
//! and keys files.

use crate::common::{hex, to_hex};
use i2psocks::data::{
    DataError, Destination, PrivateKeys, b32_hash, base32_encode, base64_decode, base64_encode,
};
use sha2::{Digest, Sha256};

/// Seed = bytes 00..1f.
fn seed() -> Vec<u8> {
    (0u8..32).collect()
}

/// Block B = bytes 40..5f.
fn block() -> Vec<u8> {
    (0x40u8..0x60).collect()
}

const ED25519_PUB: &str = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";

/// Build a keys file by hand from the layout of docs/keys-file.md "Layout":
/// ident = B×8 ‖ B×3 ‖ pub ‖ cert; file = ident ‖ B×(8 or 1) ‖ seed.
fn synthetic_file(crypto: u8) -> Vec<u8> {
    let b = block();
    let mut file = Vec::new();
    for _ in 0..11 {
        file.extend_from_slice(&b);
    }
    file.extend_from_slice(&hex(ED25519_PUB));
    file.extend_from_slice(&[5, 0, 4, 0, 7, 0, crypto]);
    let private_blocks = if crypto == 0 { 8 } else { 1 };
    for _ in 0..private_blocks {
        file.extend_from_slice(&b);
    }
    file.extend_from_slice(&seed());
    file
}

/// One vector of docs/keys-file.md "Vectors": the synthetic file for `crypto`, its
/// length, its SHA-256, the destination hash and the b32 address.
struct Vector {
    crypto: u8,
    file_len: usize,
    file_sha256: &'static str,
    hash: &'static str,
    b32: &'static str,
}

/// Parse the vector's file and check every value the doc states.
fn check_vector(v: &Vector) {
    let file = synthetic_file(v.crypto);
    assert_eq!(file.len(), v.file_len);
    assert_eq!(to_hex(&Sha256::digest(&file)), v.file_sha256);
    let keys = PrivateKeys::from_bytes(&file).expect("valid keys file");
    let dest = keys.destination();
    assert_eq!(dest.as_bytes().len(), 391);
    assert_eq!(to_hex(dest.signing_public_key().as_slice()), ED25519_PUB);
    assert_eq!(dest.sig_type(), 7);
    assert_eq!(dest.crypto_type(), u16::from(v.crypto));
    assert_eq!(dest.signature_len(), 64);
    assert_eq!(to_hex(&dest.hash()), v.hash);
    assert_eq!(dest.b32_address(), v.b32);
    assert_eq!(b32_hash(&dest.b32_address()), Some(dest.hash()));
    assert_eq!(keys.to_bytes(), file, "round trip is byte-identical");
}

#[test]
fn accepts_vector_crypto0() {
    check_vector(&Vector {
        crypto: 0,
        file_len: 679,
        file_sha256: "99653f2e4e2bf92447544b8d8de9326e6b36f20d77f7685cbce27dfa4b1f113a",
        hash: "0833d2b5057cc796d660acd9d555e8dacedef1f7395f6aa0b69aefdf709afeb1",
        b32: "baz5fnifptdznvtavtm5kvpi3lhn54pxhfpwvifwtlx564e272yq.b32.i2p",
    });
}

#[test]
fn accepts_vector_crypto4() {
    check_vector(&Vector {
        crypto: 4,
        file_len: 455,
        file_sha256: "3db09bc1fe2c7a13bb2dcfabeab425f8ecff63f990f94489a2610cf6c6dd9435",
        hash: "54805bb477df97a047d412c76fb4be749607e66ddb02bfdf6247ade03c4b1298",
        b32: "ksafxndx36l2ar6ucldw7nf6oslapztn3mbl7x3ci6w6apclckma.b32.i2p",
    });
}

#[test]
fn signs_the_test_message_vector() {
    let keys = PrivateKeys::from_bytes(&synthetic_file(0)).expect("valid keys file");
    let sig = keys.sign(b"test");
    assert_eq!(
        to_hex(&sig),
        "a557a7aa60ba159c796ad190ed5fbee73cf1dc870d0e5a9a9b05f656a3d0ee5b\
         4af27a9b59c1acaf19129979339d09a8680f98426c57d0d3b3e32e30a1f9fe09"
    );
    assert!(keys.destination().verify(b"test", &sig));
    assert!(!keys.destination().verify(b"tesT", &sig));
    let mut bad = sig.clone();
    bad[10] ^= 1;
    assert!(!keys.destination().verify(b"test", &bad));
    assert!(!keys.destination().verify(b"test", &sig[..63]));
}

#[test]
fn ignores_trailing_bytes_like_i2pd() {
    let mut file = synthetic_file(0);
    file.extend_from_slice(b"junk after the keys");
    let keys = PrivateKeys::from_bytes(&file).expect("trailing bytes are ignored");
    assert_eq!(keys.to_bytes(), synthetic_file(0));
}

#[test]
fn rejects_every_prefix_of_a_keys_file() {
    for crypto in [0, 4] {
        let file = synthetic_file(crypto);
        for len in 0..file.len() {
            let err = PrivateKeys::from_bytes(&file[..len]).map(|_| ());
            assert!(
                matches!(err, Err(DataError::Truncated(_))),
                "crypto {crypto} prefix {len}: {err:?}"
            );
        }
    }
}

#[test]
fn rejects_every_prefix_of_a_destination() {
    let keys = PrivateKeys::from_bytes(&synthetic_file(0)).expect("valid");
    let dest = keys.destination().as_bytes();
    for len in 0..dest.len() {
        assert!(
            matches!(
                Destination::parse(&dest[..len]),
                Err(DataError::Truncated(_))
            ),
            "prefix {len}"
        );
    }
    let (parsed, used) = Destination::parse(dest).expect("full");
    assert_eq!((parsed.as_bytes(), used), (dest, 391));
}

#[test]
fn destination_base64_round_trip() {
    let keys = PrivateKeys::from_bytes(&synthetic_file(0)).expect("valid");
    let dest = keys.destination();
    let text = dest.to_base64();
    assert_eq!(
        text.len(),
        524,
        "391 bytes → 524 base64 chars with == padding"
    );
    assert!(text.ends_with("=="));
    assert_eq!(base64_encode(dest.as_bytes()), text);
    assert_eq!(base64_decode(&text).as_deref(), Some(dest.as_bytes()));
    assert_eq!(Destination::from_base64(&text).as_ref(), Ok(dest));
    assert!(Destination::from_base64(&text.replace('-', "+")).is_err() || !text.contains('-'));
    assert_eq!(
        Destination::from_base64(&base64_encode(&[dest.as_bytes(), &[0]].concat())),
        Err(DataError::Invalid("trailing bytes after destination"))
    );
}

#[test]
fn b32_address_matches_base32_of_hash() {
    let keys = PrivateKeys::generate(7, 0).expect("generate");
    let dest = keys.destination();
    assert_eq!(
        dest.b32_address(),
        format!("{}.b32.i2p", base32_encode(&dest.hash()))
    );
    assert_eq!(dest.b32_address().len(), 52 + 8);
}

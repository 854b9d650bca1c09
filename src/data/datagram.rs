//! I2P datagrams as carried in I2CP payloads (datagram spec: "Datagram1", protocol 17,
//! and "Raw", protocol 18).
//!
//! ```text
//! repliable (17):  from: Destination (387+ bytes) ‖ signature (per from's signing type) ‖ payload
//! raw (18):        payload
//! ```
//!
//! The signature covers the payload itself, except for DSA-SHA1 destinations (signing type 0),
//! whose signature covers the SHA-256 hash of the payload (datagram spec; i2pd `Datagram.cpp`
//! signs and verifies the same way). We sign with Ed25519 and verify Ed25519 only (what
//! [`Destination::verify`] supports), so datagrams from DSA or ECDSA destinations are refused.
//!
//! Size: i2pd inflates a whole received datagram (from + signature + payload) into a
//! 32 768-byte buffer and *truncates* larger stored payloads without an error
//! ([`MAX_DATAGRAM_LEN`]), so we never send more and treat larger ones as invalid.

use sha2::{Digest, Sha256};

use super::{DataError, Destination, PrivateKeys};

/// Largest datagram (after inflating, headers included) i2pd 2.45.1 … 2.58 accepts whole.
pub const MAX_DATAGRAM_LEN: usize = 32_768;

/// Signing type whose datagram signatures cover SHA-256(payload) instead of the payload.
const SIG_DSA_SHA1: u16 = 0;

/// What a repliable datagram's signature covers for a signer of `sig_type`.
fn signed_bytes(sig_type: u16, payload: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if sig_type == SIG_DSA_SHA1 {
        std::borrow::Cow::Owned(Sha256::digest(payload).to_vec())
    } else {
        std::borrow::Cow::Borrowed(payload)
    }
}

/// Largest payload a repliable datagram from `from` can carry.
pub fn max_repliable_payload(from: &Destination) -> usize {
    MAX_DATAGRAM_LEN.saturating_sub(from.as_bytes().len() + from.signature_len())
}

/// Build a repliable datagram (protocol 17) from `keys`' destination carrying `payload`.
/// Fails with [`DataError::Invalid`] when the result would exceed [`MAX_DATAGRAM_LEN`].
pub fn encode_repliable(keys: &PrivateKeys, payload: &[u8]) -> Result<Vec<u8>, DataError> {
    let from = keys.destination();
    if payload.len() > max_repliable_payload(from) {
        return Err(DataError::Invalid("datagram size"));
    }
    let signature = keys.sign(&signed_bytes(from.sig_type(), payload));
    let mut out = Vec::with_capacity(from.as_bytes().len() + signature.len() + payload.len());
    out.extend_from_slice(from.as_bytes());
    out.extend_from_slice(&signature);
    out.extend_from_slice(payload);
    Ok(out)
}

/// Parse and verify a repliable datagram: the sender and the payload.
pub fn decode_repliable(bytes: &[u8]) -> Result<(Destination, &[u8]), DataError> {
    if bytes.len() > MAX_DATAGRAM_LEN {
        return Err(DataError::Invalid("datagram size"));
    }
    let (from, used) = Destination::parse(bytes)?;
    let rest = bytes.get(used..).ok_or(DataError::Truncated("datagram"))?;
    let (signature, payload) = rest
        .split_at_checked(from.signature_len())
        .ok_or(DataError::Truncated("datagram signature"))?;
    if from.sig_type() != super::SIG_ED25519 {
        return Err(DataError::Unsupported {
            what: "datagram signature",
            code: from.sig_type(),
        });
    }
    if !from.verify(&signed_bytes(from.sig_type(), payload), signature) {
        return Err(DataError::Invalid("datagram signature"));
    }
    Ok((from, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{CRYPTO_X25519, SIG_ED25519};
    use rand::SeedableRng;

    fn keys(seed: u64) -> PrivateKeys {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        PrivateKeys::generate_with_rng(SIG_ED25519, CRYPTO_X25519, &mut rng).unwrap()
    }

    #[test]
    fn layout_is_from_signature_payload() {
        let k = keys(1);
        let d = encode_repliable(&k, b"hello").unwrap();
        let dest = k.destination().as_bytes();
        assert_eq!(&d[..dest.len()], dest);
        // Ed25519: the signature covers the payload itself, not its hash.
        assert_eq!(&d[dest.len()..dest.len() + 64], &k.sign(b"hello")[..]);
        assert_eq!(&d[dest.len() + 64..], b"hello");
        assert_eq!(d.len(), 391 + 64 + 5);
    }

    #[test]
    fn round_trip_and_sender() {
        let k = keys(2);
        for len in [0usize, 1, 1000, max_repliable_payload(k.destination())] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let d = encode_repliable(&k, &payload).unwrap();
            let (from, got) = decode_repliable(&d).unwrap();
            assert_eq!(&from, k.destination());
            assert_eq!(got, &payload[..]);
        }
    }

    #[test]
    fn size_limit_is_i2pd_buffer() {
        let k = keys(3);
        let max = max_repliable_payload(k.destination());
        assert_eq!(max, 32_768 - 391 - 64);
        assert!(encode_repliable(&k, &vec![0; max + 1]).is_err());
        let d = encode_repliable(&k, &vec![0; max]).unwrap();
        assert_eq!(d.len(), MAX_DATAGRAM_LEN);
        let mut longer = d.clone();
        longer.push(0);
        assert!(decode_repliable(&longer).is_err());
    }

    #[test]
    fn rejects_tampering_and_truncation() {
        let k = keys(4);
        let d = encode_repliable(&k, b"payload bytes").unwrap();
        // Signing key (right-aligned at 352..384), signature, payload: all checked.
        for i in [352, 383, 391, 420, 454, 455, d.len() - 1] {
            let mut bad = d.clone();
            bad[i] ^= 0x40;
            assert!(decode_repliable(&bad).is_err(), "flip at {i}");
        }
        // The signature does not cover `from` itself (spec): padding bytes changed give
        // another (unsigned-for) destination, never the original one.
        let mut other = d.clone();
        other[0] ^= 0x40;
        if let Ok((from, _)) = decode_repliable(&other) {
            assert_ne!(&from, k.destination());
        }
        for cut in 0..391 + 64 {
            assert!(decode_repliable(&d[..cut]).is_err(), "cut {cut}");
        }
        // Cutting payload bytes breaks the signature.
        assert!(decode_repliable(&d[..d.len() - 1]).is_err());
    }

    #[test]
    fn dsa_signers_sign_the_hash() {
        assert_eq!(&signed_bytes(0, b"abc")[..], &Sha256::digest(b"abc")[..]);
        assert_eq!(&signed_bytes(7, b"abc")[..], b"abc");
    }

    proptest::proptest! {
        #[test]
        fn any_payload_round_trips(payload in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let k = keys(5);
            let d = encode_repliable(&k, &payload).unwrap();
            let (from, got) = decode_repliable(&d).unwrap();
            proptest::prop_assert_eq!(&from, k.destination());
            proptest::prop_assert_eq!(got, &payload[..]);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1200)) {
            let _ = decode_repliable(&bytes);
        }
    }
}

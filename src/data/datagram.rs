//! I2P datagrams as carried in I2CP payloads (geti2p.net "Datagram Specification":
//! "Datagram1", protocol 17, "Raw", protocol 18, and, from proposal 163, "Datagram2",
//! protocol 19, and "Datagram3", protocol 20).
//!
//! ```text
//! repliable (17):  from: Destination (387+ bytes) ‖ signature (per from's signing type) ‖ payload
//! raw (18):        payload
//! datagram2 (19):  from: Destination ‖ flags (2) ‖ [options: Mapping] ‖ [offline signature]
//!                  ‖ payload ‖ signature over prelude (32) ‖ flags ‖ options ‖ offline ‖ payload
//! datagram3 (20):  from: Hash (32) ‖ flags (2) ‖ [options: Mapping] ‖ payload   (not signed)
//! ```
//!
//! The signature covers the payload itself, except for DSA-SHA1 destinations (signing type 0),
//! whose signature covers the SHA-256 hash of the payload (datagram spec; i2pd `Datagram.cpp`
//! signs and verifies the same way). We sign with Ed25519 and verify Ed25519 only (what
//! [`Destination::verify`] supports), so datagrams from DSA or ECDSA destinations are refused.
//!
//! Datagram2's signed prelude is a destination hash, and implementations disagree on whose:
//! proposal 163 and Java I2P 2.7 (`net.i2p.client.datagram.Datagram2`) use the *target's*
//! hash (a datagram cannot be replayed to another destination), i2pd 2.58-2.59
//! (`libi2pd/Datagram.cpp`, `SendDatagram` and `HandleDatagram2`) the *sender's*. We accept
//! either when receiving and the caller chooses when sending ([`encode_datagram2`]).
//! Flags: the low byte's bits 0-3 are the version (2 or 3), 0x10 = options present,
//! 0x20 = offline signature (Datagram2 only; refused here: our peers' destinations in the
//! testbed and i2pd's tunnels never use one).
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

/// Datagram2's version number (low 4 bits of the flags' low byte).
const VERSION_2: u8 = 2;
/// Datagram3's version number.
const VERSION_3: u8 = 3;
/// Flags: bits of the version in the low byte.
const FLAG_VERSION_MASK: u8 = 0x0f;
/// Flags: an options Mapping follows.
const FLAG_OPTIONS: u8 = 0x10;
/// Flags: an offline signature block follows (Datagram2).
const FLAG_OFFLINE: u8 = 0x20;
/// Length of a Datagram3 sender hash.
const HASH_LEN: usize = 32;

/// Whose hash a Datagram2 signature's prelude holds (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prelude {
    /// The sender's own hash: what i2pd 2.58-2.59 sign and verify.
    Sender,
    /// The target's hash: proposal 163 and Java I2P.
    Target,
}

/// Checks the flags (version `version`, no unknown bits, no offline block) and skips the
/// options: returns where the payload starts, counted from `flags_at`.
fn skip_flags_and_options(bytes: &[u8], flags_at: usize, version: u8) -> Result<usize, DataError> {
    let [high, low]: [u8; 2] = bytes
        .get(flags_at..flags_at + 2)
        .and_then(|f| f.try_into().ok())
        .ok_or(DataError::Truncated("datagram flags"))?;
    if low & FLAG_VERSION_MASK != version {
        return Err(DataError::Invalid("datagram version"));
    }
    if low & FLAG_OFFLINE != 0 {
        return Err(DataError::Unsupported {
            what: "datagram2 offline signature",
            code: u16::from(low),
        });
    }
    if high != 0 || low & !(FLAG_VERSION_MASK | FLAG_OPTIONS) != 0 {
        return Err(DataError::Invalid("datagram flags"));
    }
    let mut at = flags_at + 2;
    if low & FLAG_OPTIONS != 0 {
        let size: [u8; 2] = bytes
            .get(at..at + 2)
            .and_then(|s| s.try_into().ok())
            .ok_or(DataError::Truncated("datagram options"))?;
        let size = usize::from(u16::from_be_bytes(size));
        let body = bytes
            .get(at..at + 2 + size)
            .ok_or(DataError::Truncated("datagram options"))?;
        // The options must be a well-formed Mapping, though we use none of them.
        let mut reader = super::Reader::new(body);
        super::mapping::read_mapping(&mut reader)?;
        at += 2 + size;
    }
    Ok(at)
}

/// Largest payload a Datagram2 from `from` can carry.
pub fn max_datagram2_payload(from: &Destination) -> usize {
    MAX_DATAGRAM_LEN.saturating_sub(from.as_bytes().len() + 2 + from.signature_len())
}

/// Largest payload a Datagram3 can carry.
pub const MAX_DATAGRAM3_PAYLOAD: usize = MAX_DATAGRAM_LEN - HASH_LEN - 2;

/// Build a Datagram2 (protocol 19) from `keys`' destination to `target` (a destination
/// hash), signed with the prelude `prelude` names. No options, no offline signature.
pub fn encode_datagram2(
    keys: &PrivateKeys,
    target: &[u8; 32],
    prelude: Prelude,
    payload: &[u8],
) -> Result<Vec<u8>, DataError> {
    let from = keys.destination();
    if payload.len() > max_datagram2_payload(from) {
        return Err(DataError::Invalid("datagram size"));
    }
    let flags = [0, VERSION_2];
    let prefix = match prelude {
        Prelude::Sender => from.hash(),
        Prelude::Target => *target,
    };
    let mut signed = Vec::with_capacity(HASH_LEN + 2 + payload.len());
    signed.extend_from_slice(&prefix);
    signed.extend_from_slice(&flags);
    signed.extend_from_slice(payload);
    let signature = keys.sign(&signed);
    let mut out = Vec::with_capacity(from.as_bytes().len() + 2 + payload.len() + signature.len());
    out.extend_from_slice(from.as_bytes());
    out.extend_from_slice(&flags);
    out.extend_from_slice(payload);
    out.extend_from_slice(&signature);
    Ok(out)
}

/// Parse and verify a Datagram2 received by the destination whose hash is `me`: the sender
/// and the payload. The signature may use either prelude ([`Prelude`]).
pub fn decode_datagram2<'a>(
    bytes: &'a [u8],
    me: &[u8; 32],
) -> Result<(Destination, &'a [u8]), DataError> {
    if bytes.len() > MAX_DATAGRAM_LEN {
        return Err(DataError::Invalid("datagram size"));
    }
    let (from, used) = Destination::parse(bytes)?;
    if from.sig_type() != super::SIG_ED25519 {
        return Err(DataError::Unsupported {
            what: "datagram signature",
            code: from.sig_type(),
        });
    }
    let start = skip_flags_and_options(bytes, used, VERSION_2)?;
    let sig_at = bytes
        .len()
        .checked_sub(from.signature_len())
        .filter(|&at| at >= start)
        .ok_or(DataError::Truncated("datagram2 signature"))?;
    let (body, signature) = bytes.split_at(sig_at);
    let covered = body.get(used..).ok_or(DataError::Truncated("datagram2"))?;
    let verifies = |prefix: &[u8; 32]| {
        let mut signed = Vec::with_capacity(HASH_LEN + covered.len());
        signed.extend_from_slice(prefix);
        signed.extend_from_slice(covered);
        from.verify(&signed, signature)
    };
    if !verifies(&from.hash()) && !verifies(me) {
        return Err(DataError::Invalid("datagram2 signature"));
    }
    let payload = body.get(start..).ok_or(DataError::Truncated("datagram2"))?;
    Ok((from, payload))
}

/// Build a Datagram3 (protocol 20) from the destination whose hash is `from`.
pub fn encode_datagram3(from: &[u8; 32], payload: &[u8]) -> Result<Vec<u8>, DataError> {
    if payload.len() > MAX_DATAGRAM3_PAYLOAD {
        return Err(DataError::Invalid("datagram size"));
    }
    let mut out = Vec::with_capacity(HASH_LEN + 2 + payload.len());
    out.extend_from_slice(from);
    out.extend_from_slice(&[0, VERSION_3]);
    out.extend_from_slice(payload);
    Ok(out)
}

/// Parse a Datagram3: the sender's hash (unauthenticated: the router checked that the
/// garlic came from the holder of that destination's key, i2pd `HandleDatagram3`) and
/// the payload.
pub fn decode_datagram3(bytes: &[u8]) -> Result<([u8; 32], &[u8]), DataError> {
    if bytes.len() > MAX_DATAGRAM_LEN {
        return Err(DataError::Invalid("datagram size"));
    }
    let hash: [u8; 32] = bytes
        .get(..HASH_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(DataError::Truncated("datagram3 sender"))?;
    let start = skip_flags_and_options(bytes, HASH_LEN, VERSION_3)?;
    let payload = bytes
        .get(start..)
        .ok_or(DataError::Truncated("datagram3"))?;
    Ok((hash, payload))
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

    #[test]
    fn datagram2_layout_and_both_preludes() {
        let k = keys(6);
        let target = [9u8; 32];
        for prelude in [Prelude::Sender, Prelude::Target] {
            let d = encode_datagram2(&k, &target, prelude, b"hi").unwrap();
            let dest = k.destination().as_bytes();
            assert_eq!(&d[..dest.len()], dest);
            assert_eq!(&d[dest.len()..dest.len() + 2], &[0, 2]);
            assert_eq!(&d[dest.len() + 2..dest.len() + 4], b"hi");
            assert_eq!(d.len(), dest.len() + 2 + 2 + 64);
            let (from, payload) = decode_datagram2(&d, &target).unwrap();
            assert_eq!(&from, k.destination());
            assert_eq!(payload, b"hi");
        }
        // Signed for another target: refused.
        let d = encode_datagram2(&k, &target, Prelude::Target, b"hi").unwrap();
        assert!(decode_datagram2(&d, &[8u8; 32]).is_err());
    }

    #[test]
    fn datagram2_with_options_and_bad_flags() {
        let k = keys(7);
        let me = [1u8; 32];
        let options = crate::data::mapping::encode_mapping(&[("a", "b")]).unwrap();
        let dest = k.destination().as_bytes().to_vec();
        let mut covered = vec![0, 2 | FLAG_OPTIONS];
        covered.extend_from_slice(&options);
        covered.extend_from_slice(b"data");
        let mut signed = me.to_vec();
        signed.extend_from_slice(&covered);
        let sig = k.sign(&signed);
        let mut d = dest.clone();
        d.extend_from_slice(&covered);
        d.extend_from_slice(&sig);
        assert_eq!(decode_datagram2(&d, &me).unwrap().1, b"data");
        // Version 3 flags, an unknown bit, an offline block: refused.
        for flags in [3u8, 2 | 0x40, 2 | FLAG_OFFLINE] {
            let mut bad = d.clone();
            bad[dest.len() + 1] = flags;
            assert!(decode_datagram2(&bad, &me).is_err(), "flags {flags:#x}");
        }
        for cut in 0..d.len() {
            assert!(decode_datagram2(&d[..cut], &me).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn datagram3_round_trip_and_limits() {
        let from = [5u8; 32];
        let d = encode_datagram3(&from, b"xyz").unwrap();
        assert_eq!(&d[..32], &from);
        assert_eq!(&d[32..34], &[0, 3]);
        assert_eq!(decode_datagram3(&d).unwrap(), (from, &b"xyz"[..]));
        assert!(decode_datagram3(&d[..33]).is_err());
        let mut v2 = d.clone();
        v2[33] = 2;
        assert!(decode_datagram3(&v2).is_err());
        assert!(encode_datagram3(&from, &vec![0; MAX_DATAGRAM3_PAYLOAD + 1]).is_err());
        let max = encode_datagram3(&from, &vec![0; MAX_DATAGRAM3_PAYLOAD]).unwrap();
        assert_eq!(max.len(), MAX_DATAGRAM_LEN);
    }

    proptest::proptest! {
        #[test]
        fn any_payload_round_trips_as_datagram2_and_3(
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..2048),
            me in proptest::array::uniform32(proptest::num::u8::ANY),
        ) {
            let k = keys(8);
            let d = encode_datagram2(&k, &me, Prelude::Target, &payload).unwrap();
            let (from, got) = decode_datagram2(&d, &me).unwrap();
            proptest::prop_assert_eq!(&from, k.destination());
            proptest::prop_assert_eq!(got, &payload[..]);
            let d = encode_datagram3(&me, &payload).unwrap();
            proptest::prop_assert_eq!(decode_datagram3(&d).unwrap(), (me, &payload[..]));
        }

        #[test]
        fn garbage_never_panics_datagram2_and_3(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1200)) {
            let _ = decode_datagram2(&bytes, &[0; 32]);
            let _ = decode_datagram3(&bytes);
        }
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

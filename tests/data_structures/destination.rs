//! Destination and keys-file parsing: certificate variants, unsupported
//! types, offline keys, mismatched keys.

use i2psocks::data::{DataError, Destination, KeysError, PrivateKeys};

/// 384 bytes of key fields with a recognisable pattern, then the certificate.
fn destination_bytes(cert_type: u8, payload: &[u8]) -> Vec<u8> {
    let mut d: Vec<u8> = (0..384).map(|i| (i % 251) as u8).collect();
    d.push(cert_type);
    d.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    d.extend_from_slice(payload);
    d
}

fn key_cert(sig: u16, crypto: u16, excess: &[u8]) -> Vec<u8> {
    let mut p = sig.to_be_bytes().to_vec();
    p.extend_from_slice(&crypto.to_be_bytes());
    p.extend_from_slice(excess);
    p
}

#[test]
fn accepts_null_certificate_as_dsa_elgamal() {
    let bytes = destination_bytes(0, &[]);
    let (dest, used) = Destination::parse(&bytes).expect("NULL cert");
    assert_eq!(used, 387);
    assert_eq!((dest.sig_type(), dest.crypto_type()), (0, 0));
    assert_eq!(dest.signature_len(), 40);
    assert_eq!(dest.signing_public_key(), bytes[256..384].to_vec());
    assert!(!dest.verify(b"msg", &[0; 40]), "DSA is never verified");
}

#[test]
fn rejects_null_certificate_with_payload() {
    assert_eq!(
        Destination::parse(&destination_bytes(0, &[1])).map(|_| ()),
        Err(DataError::Invalid("NULL certificate with a payload"))
    );
}

#[test]
fn rejects_other_certificate_types() {
    for cert_type in [1u8, 2, 3, 4, 6, 255] {
        assert_eq!(
            Destination::parse(&destination_bytes(cert_type, &[0, 0, 0, 0])).map(|_| ()),
            Err(DataError::Unsupported {
                what: "certificate",
                code: u16::from(cert_type)
            }),
            "cert type {cert_type}"
        );
    }
}

#[test]
fn rejects_short_key_certificate() {
    let err = Destination::parse(&destination_bytes(5, &[0, 7, 0])).map(|_| ());
    assert_eq!(
        err,
        Err(DataError::Invalid(
            "KEY certificate shorter than its signing and crypto types"
        ))
    );
    // In a keys file this is reported as a bad destination, not a truncated file.
    let mut file = destination_bytes(5, &[0, 7, 0]);
    file.extend_from_slice(&[1; 300]);
    assert!(matches!(
        PrivateKeys::parse(&file),
        Err(KeysError::Destination(_))
    ));
}

#[test]
fn rejects_unknown_signing_types_in_destinations() {
    for sig in [4u16, 5, 6, 8, 9, 10, 12, 0xffff] {
        assert_eq!(
            Destination::parse(&destination_bytes(5, &key_cert(sig, 0, &[]))).map(|_| ()),
            Err(DataError::Unsupported {
                what: "signing key",
                code: sig
            })
        );
    }
}

#[test]
fn extracts_right_aligned_signing_keys() {
    for (sig, len, sig_len) in [
        (1u16, 64usize, 64usize),
        (2, 96, 96),
        (7, 32, 64),
        (11, 32, 64),
    ] {
        let bytes = destination_bytes(5, &key_cert(sig, 4, &[]));
        let (dest, used) = Destination::parse(&bytes).expect("known type");
        assert_eq!(used, 391);
        assert_eq!(
            dest.signing_public_key(),
            bytes[384 - len..384].to_vec(),
            "sig {sig}"
        );
        assert_eq!(dest.signature_len(), sig_len);
        assert_eq!(dest.crypto_type(), 4);
    }
}

#[test]
fn p521_takes_excess_key_bytes_from_certificate() {
    let bytes = destination_bytes(5, &key_cert(3, 0, &[0xa1, 0xa2, 0xa3, 0xa4]));
    let (dest, used) = Destination::parse(&bytes).expect("P521");
    assert_eq!(used, 395);
    let key = dest.signing_public_key();
    assert_eq!(key.len(), 132);
    assert_eq!(&key[..128], &bytes[256..384]);
    assert_eq!(&key[128..], &[0xa1, 0xa2, 0xa3, 0xa4]);
    assert_eq!(dest.signature_len(), 132);
    assert_eq!(
        Destination::parse(&destination_bytes(5, &key_cert(3, 0, &[1, 2]))).map(|_| ()),
        Err(DataError::Invalid(
            "KEY certificate without the excess signing key bytes"
        ))
    );
}

#[test]
fn parse_stops_at_the_declared_length() {
    let mut bytes = destination_bytes(5, &key_cert(7, 0, &[]));
    bytes.extend_from_slice(b"payload");
    let (dest, used) = Destination::parse(&bytes).expect("prefix");
    assert_eq!(used, 391);
    assert_eq!(dest.as_bytes(), &bytes[..391]);
    assert!(
        Destination::from_bytes(&bytes).is_err(),
        "from_bytes wants an exact fit"
    );
}

fn keys_file(sig: u16, crypto: u16, private_len: usize) -> Vec<u8> {
    let mut f = destination_bytes(5, &key_cert(sig, crypto, &[]));
    f.extend((0..private_len).map(|i| i as u8 | 1));
    f
}

#[test]
fn refuses_unsupported_signing_types_in_keys_files() {
    for (sig, priv_len) in [(1u16, 256 + 32), (2, 256 + 48), (11, 256 + 32)] {
        let file = keys_file(sig, 0, priv_len);
        assert_eq!(
            PrivateKeys::parse(&file).map(|_| ()),
            Err(KeysError::UnsupportedSigType { code: sig })
        );
        assert_eq!(
            PrivateKeys::from_bytes(&file).map(|_| ()),
            Err(DataError::Unsupported {
                what: "signing key",
                code: sig
            })
        );
    }
    let msg = KeysError::UnsupportedSigType { code: 11 }.to_string();
    assert!(msg.contains("11") && msg.contains("RedDSA"), "{msg}");
    // RSA: not even a parsable destination, still named.
    assert_eq!(
        PrivateKeys::parse(&keys_file(4, 0, 600)).map(|_| ()),
        Err(KeysError::UnsupportedSigType { code: 4 })
    );
    // DSA (NULL certificate).
    let mut dsa = destination_bytes(0, &[]);
    dsa.extend_from_slice(&[1; 276]);
    assert_eq!(
        PrivateKeys::parse(&dsa).map(|_| ()),
        Err(KeysError::UnsupportedSigType { code: 0 })
    );
}

#[test]
fn refuses_unsupported_crypto_types_in_keys_files() {
    for crypto in [1u16, 2, 3, 5, 6, 7, 99] {
        assert_eq!(
            PrivateKeys::parse(&keys_file(7, crypto, 600)).map(|_| ()),
            Err(KeysError::UnsupportedCryptoType { code: crypto })
        );
    }
}

#[test]
fn refuses_offline_signed_keys() {
    let keys = PrivateKeys::generate(7, 4).expect("generate");
    let mut file = keys.to_bytes();
    let n = file.len();
    file[n - 32..].fill(0);
    // What would follow in an offline file: expires, transient type, key, signature...
    file.extend_from_slice(&[0; 200]);
    assert_eq!(
        PrivateKeys::parse(&file).map(|_| ()),
        Err(KeysError::OfflineSigned)
    );
    assert!(PrivateKeys::from_bytes(&file).is_err());
}

#[test]
fn refuses_seed_that_does_not_match_the_destination() {
    let keys = PrivateKeys::generate(7, 0).expect("generate");
    let mut file = keys.to_bytes();
    let last = file.len() - 1;
    file[last] ^= 0x55;
    assert_eq!(
        PrivateKeys::parse(&file).map(|_| ()),
        Err(KeysError::KeyMismatch)
    );
}

#[test]
fn names_sizes_for_truncated_files() {
    let keys = PrivateKeys::generate(7, 0).expect("generate");
    let file = keys.to_bytes();
    assert_eq!(
        PrivateKeys::parse(&file[..200]).map(|_| ()),
        Err(KeysError::TooShort { len: 200 })
    );
    assert_eq!(
        PrivateKeys::parse(&file[..389]).map(|_| ()),
        Err(KeysError::TruncatedDestination {
            expected: 391,
            len: 389
        })
    );
    assert_eq!(
        PrivateKeys::parse(&file[..600]).map(|_| ()),
        Err(KeysError::TruncatedPrivateKeys {
            expected: 679,
            len: 600
        })
    );
    assert_eq!(
        KeysError::TruncatedDestination {
            expected: 391,
            len: 389
        }
        .to_string(),
        "truncated certificate (expected 391 bytes of destination, file has 389)"
    );
}

#[test]
fn generates_both_supported_layouts() {
    for (crypto, len) in [(0u16, 679usize), (4, 455)] {
        let keys = PrivateKeys::generate(7, crypto).expect("generate");
        let file = keys.to_bytes();
        assert_eq!(file.len(), len);
        assert_eq!(keys.serialized_len(), len);
        assert_eq!(&file[384..391], &[5, 0, 4, 0, 7, 0, crypto as u8]);
        assert_eq!(keys.destination().crypto_type(), crypto);
        let sig = keys.sign(b"hello");
        assert_eq!(sig.len(), 64);
        assert!(keys.destination().verify(b"hello", &sig));
    }
    let a = PrivateKeys::generate(7, 0).expect("a");
    let b = PrivateKeys::generate(7, 0).expect("b");
    assert_ne!(
        a.destination(),
        b.destination(),
        "fresh randomness each time"
    );
}

#[test]
fn debug_output_hides_key_material() {
    let keys = PrivateKeys::generate(7, 0).expect("generate");
    let text = format!("{keys:?}");
    assert!(text.contains(".b32.i2p"), "{text}");
    assert!(text.len() < 120, "{text}");
    let dest = format!("{:?}", keys.destination());
    assert_eq!(
        dest,
        format!(
            "Destination({}, sig 7, crypto 0)",
            keys.destination().b32_address()
        )
    );
}

/// The streaming layer clones a peer's destination per packet and asks for its hash and
/// its key: a clone shares the parsed value (same bytes in memory), and the cached hash
/// and key agree with the bytes.
#[test]
fn clone_shares_the_parsed_destination_and_its_cached_hash_and_key() {
    let keys = i2psocks::data::PrivateKeys::generate(i2psocks::data::SIG_ED25519, 4).unwrap();
    let dest = keys.destination().clone();
    let copy = dest.clone();
    assert_eq!(dest.as_bytes().as_ptr(), copy.as_bytes().as_ptr());
    let rehashed: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(dest.as_bytes()).into();
    assert_eq!(copy.hash(), rehashed);
    let reparsed = Destination::from_bytes(dest.as_bytes()).unwrap();
    assert_eq!(reparsed, dest);
    assert_ne!(reparsed.as_bytes().as_ptr(), dest.as_bytes().as_ptr());
    let sig = keys.sign(b"msg");
    assert!(copy.verify(b"msg", &sig));
    assert!(!copy.verify(b"other", &sig));
}

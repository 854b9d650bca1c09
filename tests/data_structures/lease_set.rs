//! LeaseSet2 building (docs/i2cp.md "LeaseSet2") and the
//! strict parser used to check it.

use ed25519_dalek::{Signature, VerifyingKey};
use i2psocks::data::lease_set::{
    EncryptionKey, FLAG_UNPUBLISHED, Lease2, LeaseSetEncKey, build_leaseset2, parse_leaseset2,
};
use i2psocks::data::{DataError, PrivateKeys};

const PUBLISHED: u32 = 0x6b02_d195;

fn lease(n: u8, end: u32) -> Lease2 {
    Lease2 {
        gateway: [n; 32],
        tunnel_id: 0x0102_0300 + u32::from(n),
        end_date_secs: end,
    }
}

fn x25519_key() -> EncryptionKey {
    EncryptionKey {
        key_type: 4,
        public: vec![0x11; 32],
    }
}

#[test]
fn builds_the_verified_layout() {
    let keys = PrivateKeys::generate(7, 0).expect("keys");
    let ls = build_leaseset2(
        &keys,
        PUBLISHED,
        &[lease(1, PUBLISHED + 600)],
        &[x25519_key()],
        FLAG_UNPUBLISHED,
    )
    .expect("build");
    // 391 dest + 4 + 2 + 2 + 2 options + 1 + 4 + 32 + 1 + 40 + 64 signature.
    assert_eq!(ls.len(), 543);
    assert_eq!(&ls[..391], keys.destination().as_bytes());
    // Header from docs/i2cp.md "LeaseSet2": published, expires = 600, flags = unpublished.
    assert_eq!(
        &ls[391..399],
        &[0x6b, 0x02, 0xd1, 0x95, 0x02, 0x58, 0x00, 0x02]
    );
    assert_eq!(&ls[399..401], &[0, 0], "empty options");
    assert_eq!(&ls[401..406], &[1, 0, 4, 0, 32]);
    assert_eq!(&ls[406..438], &[0x11; 32]);
    assert_eq!(ls[438], 1, "one lease");
    assert_eq!(&ls[439..471], &[1; 32]);
    assert_eq!(&ls[471..475], &[1, 2, 3, 1]);
    assert_eq!(&ls[475..479], &(PUBLISHED + 600).to_be_bytes());

    // The signature covers 03 ‖ everything before it (checked with the raw key).
    let mut signed = vec![3u8];
    signed.extend_from_slice(&ls[..479]);
    let key: [u8; 32] = keys
        .destination()
        .signing_public_key()
        .try_into()
        .expect("32 bytes");
    let sig: [u8; 64] = ls[479..].try_into().expect("64 bytes");
    VerifyingKey::from_bytes(&key)
        .expect("key")
        .verify_strict(&signed, &Signature::from_bytes(&sig))
        .expect("signature over 03 ‖ LS2");
}

#[test]
fn parses_what_it_builds() {
    let keys = PrivateKeys::generate(7, 4).expect("keys");
    let leases = [
        lease(1, PUBLISHED + 500),
        lease(2, PUBLISHED + 585),
        lease(3, PUBLISHED + 10),
    ];
    let enc = LeaseSetEncKey::generate();
    let elgamal = EncryptionKey {
        key_type: 0,
        public: vec![0x22; 256],
    };
    let enc_keys = [enc.encryption_key(), elgamal];
    let ls = build_leaseset2(&keys, PUBLISHED, &leases, &enc_keys, 0).expect("build");
    let parsed = parse_leaseset2(&ls).expect("parse");
    assert_eq!(&parsed.destination, keys.destination());
    assert_eq!(parsed.published_secs, PUBLISHED);
    assert_eq!(parsed.expires_secs, 585, "latest lease end − published");
    assert_eq!(parsed.flags, 0);
    assert!(parsed.options.is_empty());
    assert_eq!(parsed.enc_keys, enc_keys);
    assert_eq!(parsed.leases, leases);
    assert_eq!(parsed.signature.len(), 64);
}

/// A valid LeaseSet2 with one lease and one X25519 key, flags 2 (unpublished).
fn one_lease_leaseset2() -> Vec<u8> {
    let keys = PrivateKeys::generate(7, 0).expect("keys");
    build_leaseset2(
        &keys,
        PUBLISHED,
        &[lease(9, PUBLISHED + 60)],
        &[x25519_key()],
        2,
    )
    .expect("build")
}

#[test]
fn rejects_any_corrupted_byte() {
    let ls = one_lease_leaseset2();
    for i in 0..ls.len() {
        let mut bad = ls.clone();
        bad[i] ^= 0x01;
        assert!(parse_leaseset2(&bad).is_err(), "flip at {i} still parses");
    }
}

#[test]
fn rejects_every_prefix_and_trailing_bytes() {
    let ls = one_lease_leaseset2();
    for len in 0..ls.len() {
        assert!(
            matches!(parse_leaseset2(&ls[..len]), Err(DataError::Truncated(_))),
            "prefix {len}"
        );
    }
    let mut long = ls.clone();
    long.push(0);
    assert_eq!(
        parse_leaseset2(&long).map(|_| ()),
        Err(DataError::Invalid(
            "trailing bytes after LeaseSet2 signature"
        ))
    );
}

#[test]
fn clamps_expires() {
    let keys = PrivateKeys::generate(7, 0).expect("keys");
    let expires = |leases: &[Lease2]| {
        let ls = build_leaseset2(&keys, PUBLISHED, leases, &[x25519_key()], 0).expect("build");
        u16::from_be_bytes([ls[395], ls[396]])
    };
    assert_eq!(expires(&[lease(1, PUBLISHED - 5)]), 0, "already ended");
    assert_eq!(expires(&[lease(1, PUBLISHED + 100_000)]), u16::MAX);
    assert_eq!(expires(&[]), 0);
}

#[test]
fn refuses_bad_inputs() {
    let keys = PrivateKeys::generate(7, 0).expect("keys");
    let many: Vec<Lease2> = (0..17).map(|n| lease(n, PUBLISHED + 60)).collect();
    let key = [x25519_key()];
    assert_eq!(
        build_leaseset2(&keys, PUBLISHED, &many, &key, 0),
        Err(DataError::Invalid("LeaseSet2: more than 16 leases"))
    );
    assert!(build_leaseset2(&keys, PUBLISHED, &many[..16], &key, 0).is_ok());
    assert!(
        build_leaseset2(&keys, PUBLISHED, &many[..1], &[], 0).is_err(),
        "no key"
    );
    let short = EncryptionKey {
        key_type: 4,
        public: vec![0; 31],
    };
    assert!(build_leaseset2(&keys, PUBLISHED, &many[..1], &[short], 0).is_err());
    assert!(
        build_leaseset2(&keys, PUBLISHED, &many[..1], &key, 1).is_err(),
        "offline flag"
    );
}

#[test]
fn lease_from_request_millis() {
    let l = Lease2::from_millis([7; 32], 42, 1_700_000_599_999);
    assert_eq!(l.end_date_secs, 1_700_000_599);
    assert_eq!(
        Lease2::from_millis([7; 32], 42, u64::MAX).end_date_secs,
        u32::MAX
    );
}

#[test]
fn x25519_keys_are_consistent() {
    let a = LeaseSetEncKey::generate();
    let b = LeaseSetEncKey::generate();
    assert_ne!(a.public.as_bytes(), b.public.as_bytes());
    let derived = x25519_dalek::x25519(*a.private_bytes(), x25519_dalek::X25519_BASEPOINT_BYTES);
    assert_eq!(
        &derived,
        a.public.as_bytes(),
        "router recomputes public from private"
    );
    assert_eq!(
        a.encryption_key(),
        EncryptionKey {
            key_type: 4,
            public: a.public.as_bytes().to_vec()
        }
    );
    assert!(!format!("{a:?}").contains(&format!("{:?}", a.secret.to_bytes())));
}

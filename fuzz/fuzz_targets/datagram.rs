//! Datagram2 and Datagram3 decoding (src/data/datagram.rs `decode_datagram2`,
//! `decode_datagram3`), applied to the payload of every I2CP message of protocols 19 and 20.
//!
//! Input: a selector byte, then
//! * 0: bytes decoded as a Datagram2 (to a fixed destination hash) and as a Datagram3;
//! * 1: a valid Datagram2 signed by a fixed key (prelude chosen by a bit) carrying the rest
//!   as payload, with one byte flipped at a fuzzer-chosen position;
//! * 2: the same for a Datagram3.
//!
//! Invariants beyond "no panic":
//! * an accepted Datagram2 starts with its sender's bytes, ends with a 64-byte signature,
//!   and its payload is the bytes just before the signature (all of them after the flags
//!   when there are no options); an accepted Datagram3 starts with the sender hash it
//!   returns, its payload is the input's tail, and without options encoding it again gives
//!   the input;
//! * an untouched valid datagram decodes to its sender and payload; with a byte flipped
//!   after the sender (flags, options, payload, signature), a Datagram2 is refused, and a
//!   flip inside the sender's bytes never yields the original sender;
//! * neither decoder holds more heap than a small multiple of the input (alloc_bound.rs).
#![no_main]

use std::sync::OnceLock;

use i2psocks::data::PrivateKeys;
use i2psocks::data::datagram::{
    Prelude, decode_datagram2, decode_datagram3, encode_datagram2, encode_datagram3,
};
use libfuzzer_sys::fuzz_target;

#[path = "alloc_bound.rs"]
mod alloc_bound;

#[global_allocator]
static ALLOC: alloc_bound::Counting = alloc_bound::Counting;

/// The receiving destination's hash.
const ME: [u8; 32] = [0x5a; 32];
/// Ed25519 signature length (the only signing type the decoder verifies).
const SIG_LEN: usize = 64;

fn keys() -> &'static PrivateKeys {
    static KEYS: OnceLock<PrivateKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let file = include_bytes!("../../tests/data/keys/i2pd-2.45.1-sig7-crypto0.dat");
        PrivateKeys::from_bytes(file).expect("test keys file")
    })
}

fn check_datagram2(data: &[u8]) {
    let (decoded, peak) = alloc_bound::peak_during(|| decode_datagram2(data, &ME));
    alloc_bound::assert_bounded(peak, data.len(), "decode_datagram2");
    let Ok((from, payload)) = decoded else {
        return;
    };
    let from_len = from.as_bytes().len();
    assert_eq!(&data[..from_len], from.as_bytes(), "sender is the leading bytes");
    let sig_at = data.len() - SIG_LEN;
    assert!(from_len + 2 + payload.len() <= sig_at, "payload overlaps");
    assert_eq!(&data[sig_at - payload.len()..sig_at], payload, "payload before signature");
    if data[from_len + 1] & 0x10 == 0 {
        assert_eq!(payload.len(), sig_at - from_len - 2, "no options: all of it");
    }
}

fn check_datagram3(data: &[u8]) {
    let (decoded, peak) = alloc_bound::peak_during(|| decode_datagram3(data));
    alloc_bound::assert_bounded(peak, data.len(), "decode_datagram3");
    let Ok((hash, payload)) = decoded else {
        return;
    };
    assert_eq!(&data[..32], &hash, "sender hash is the leading bytes");
    assert_eq!(&data[data.len() - payload.len()..], payload, "payload is the tail");
    if data[33] & 0x10 == 0 {
        assert_eq!(payload, &data[34..], "no options: everything after the flags");
        assert_eq!(encode_datagram3(&hash, payload).as_deref(), Ok(data));
    }
}

/// Flip the byte at a position taken from the first two bytes of `rest`.
fn flip(datagram: &mut [u8], rest: &[u8]) -> Option<usize> {
    let (&a, &b) = (rest.first()?, rest.get(1)?);
    let at = usize::from(u16::from_be_bytes([a, b])) % datagram.len();
    datagram[at] ^= rest.get(2).copied().unwrap_or(1) | 1;
    Some(at)
}

fn mutated_datagram2(rest: &[u8]) {
    let Some((&mode, rest)) = rest.split_first() else {
        return;
    };
    let payload = rest.get(3..).unwrap_or_default();
    let prelude = if mode & 1 == 0 {
        Prelude::Sender
    } else {
        Prelude::Target
    };
    let Ok(mut datagram) = encode_datagram2(keys(), &ME, prelude, payload) else {
        return;
    };
    let sender = keys().destination();
    assert_eq!(
        decode_datagram2(&datagram, &ME),
        Ok((sender.clone(), payload))
    );
    let Some(at) = flip(&mut datagram, rest) else {
        return;
    };
    check_datagram2(&datagram);
    match decode_datagram2(&datagram, &ME) {
        Ok((from, _)) => {
            assert!(at < sender.as_bytes().len(), "flip at {at} after the sender accepted");
            assert_ne!(&from, sender, "a changed sender field gave the original sender");
        }
        Err(_) => {}
    }
}

fn mutated_datagram3(rest: &[u8]) {
    let payload = rest.get(3..).unwrap_or_default();
    let hash = keys().destination().hash();
    let Ok(mut datagram) = encode_datagram3(&hash, payload) else {
        return;
    };
    assert_eq!(decode_datagram3(&datagram), Ok((hash, payload)));
    if flip(&mut datagram, rest).is_some() {
        check_datagram3(&datagram);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => {
            check_datagram2(rest);
            check_datagram3(rest);
        }
        1 => mutated_datagram2(rest),
        _ => mutated_datagram3(rest),
    }
});

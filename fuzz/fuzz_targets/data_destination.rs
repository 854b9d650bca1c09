//! Destination and Mapping decoding (src/data/destination.rs `Destination::parse`,
//! src/data/mapping.rs `read_mapping`), which I2CP, streaming and datagrams apply to router
//! and peer bytes.
//!
//! Input: bytes read as a Destination, as a Mapping, and, when a Destination parses, as a
//! Mapping right after it (a SessionConfig's layout). Invariants beyond "no panic":
//! * a Destination consumes at least 387 bytes and at most the input, its length field
//!   included, and is exactly the bytes it consumed; `from_bytes` of those bytes and
//!   `from_base64` of its base64 give the same destination, `from_bytes` of the whole input
//!   succeeds iff nothing follows, and its b32 address names its hash;
//! * its signing type is one parse knows, and its signing public key has that type's length;
//! * a Mapping consumes its 2-byte size plus exactly its entries (key + value + 4 each), and
//!   its entries written back in wire order are the bytes consumed;
//! * `encode_mapping` refuses exactly what the lenient reader accepts but a writer must not
//!   write (a duplicate key, '=' or ';' in a key or value); anything else encodes to the same
//!   length, decodes to the entries sorted by key, and is the bytes consumed when the input
//!   was sorted already;
//! * neither parser holds more heap than a small multiple of the input (alloc_bound.rs).
#![no_main]

use std::collections::BTreeSet;

use i2psocks::data::mapping::{encode_mapping, read_mapping, write_string};
use i2psocks::data::{Destination, Reader, b32_hash};
use libfuzzer_sys::fuzz_target;

#[path = "alloc_bound.rs"]
mod alloc_bound;

#[global_allocator]
static ALLOC: alloc_bound::Counting = alloc_bound::Counting;

/// Public-key field + signing-key field + certificate type + certificate length.
const DESTINATION_MIN_LEN: usize = 387;

fn check_destination(data: &[u8]) -> Option<usize> {
    let (parsed, peak) = alloc_bound::peak_during(|| Destination::parse(data));
    alloc_bound::assert_bounded(peak, data.len(), "Destination::parse");
    let (dest, used) = parsed.ok()?;
    assert!(
        (DESTINATION_MIN_LEN..=data.len()).contains(&used),
        "consumed {used} of {}",
        data.len()
    );
    let cert_len = usize::from(u16::from_be_bytes([data[385], data[386]]));
    assert_eq!(
        used,
        DESTINATION_MIN_LEN + cert_len,
        "not what the certificate says"
    );
    assert_eq!(dest.as_bytes(), &data[..used], "not the bytes consumed");
    assert_eq!(Destination::from_bytes(&data[..used]).as_ref(), Ok(&dest));
    assert_eq!(Destination::from_bytes(data).is_ok(), used == data.len());
    assert_eq!(
        Destination::from_base64(&dest.to_base64()).as_ref(),
        Ok(&dest)
    );
    assert_eq!(b32_hash(&dest.b32_address()), Some(dest.hash()));

    let sig = dest.sig().expect("parse accepts known signing types only");
    assert_eq!(sig.code, dest.sig_type());
    assert_eq!(dest.signing_public_key().len(), sig.public_len);
    assert_eq!(dest.signature_len(), sig.signature_len);
    let _ = (dest.crypto_type(), format!("{dest:?}"));
    Some(used)
}

fn check_mapping(data: &[u8]) {
    let mut r = Reader::new(data);
    let (read, peak) = alloc_bound::peak_during(|| read_mapping(&mut r));
    alloc_bound::assert_bounded(peak, data.len(), "read_mapping");
    let Ok(pairs) = read else {
        return;
    };
    let used = r.position();
    assert!(used <= data.len(), "consumed {used} of {}", data.len());
    let wire = &data[..used];
    let held: usize = pairs.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    assert_eq!(held + 2, used, "entries do not fill the Mapping");

    let mut body = Vec::new();
    for (k, v) in &pairs {
        write_string(&mut body, k).expect("a read String fits a String");
        body.push(b'=');
        write_string(&mut body, v).expect("a read String fits a String");
        body.push(b';');
    }
    assert_eq!(&wire[2..], &body[..], "wire-order write-back differs");

    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let keys: BTreeSet<&str> = refs.iter().map(|&(k, _)| k).collect();
    let unwritable = keys.len() != refs.len()
        || refs
            .iter()
            .any(|(k, v)| k.contains(['=', ';']) || v.contains(['=', ';']));
    match encode_mapping(&refs) {
        Err(_) if unwritable => {}
        Err(err) => panic!("{pairs:?} does not encode: {err}"),
        Ok(_) if unwritable => panic!("{pairs:?} encodes"),
        Ok(encoded) => {
            assert_eq!(encoded.len(), used);
            let mut sorted = pairs.clone();
            sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            let mut again = Reader::new(&encoded);
            assert_eq!(read_mapping(&mut again), Ok(sorted.clone()));
            assert!(again.is_empty());
            if sorted == pairs {
                assert_eq!(encoded, wire, "a sorted Mapping re-encodes differently");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(used) = check_destination(data) {
        check_mapping(&data[used..]);
    }
    check_mapping(data);
});

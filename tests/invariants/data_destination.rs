//! Invariants of Destination and Mapping decoding, shared by the fuzz target
//! `fuzz/fuzz_targets/data_destination.rs` and its proptest twin
//! `tests/data_structures/data_props.rs` (each includes this file with `#[path]`). Every check
//! panics on a violation, which is a crash to the fuzzer and a failing case to proptest.

use std::collections::BTreeSet;

use i2psocks::data::mapping::{encode_mapping, read_mapping, write_string};
use i2psocks::data::{Destination, Reader, b32_hash};

/// Public-key field + signing-key field + certificate type + certificate length.
pub const DESTINATION_MIN_LEN: usize = 387;

/// A Destination at the start of `data`, if one parses: it consumes at least 387 bytes and
/// at most the input, exactly what its certificate length says, and is exactly those bytes;
/// `from_bytes` and base64 round-trip to it, `from_bytes` of the whole input succeeds iff
/// nothing follows, its b32 address names its hash, and its signing type is known with a key
/// of that type's length. Returns the bytes it consumed.
pub fn check_destination(data: &[u8]) -> Option<usize> {
    let (dest, used) = Destination::parse(data).ok()?;
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

/// A Mapping at the start of `data`, if one reads: it consumes its 2-byte size plus exactly
/// its entries, which written back in wire order are the bytes consumed; `encode_mapping`
/// refuses exactly what a writer must not write (a duplicate key, '=' or ';' inside),
/// otherwise encodes to the same length, decodes to the entries sorted by key, and is the
/// bytes consumed when they were sorted already.
pub fn check_mapping(data: &[u8]) {
    let mut r = Reader::new(data);
    let Ok(pairs) = read_mapping(&mut r) else {
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

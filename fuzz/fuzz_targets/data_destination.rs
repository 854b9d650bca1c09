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

use i2psocks::data::mapping::read_mapping;
use i2psocks::data::{Destination, Reader};
use libfuzzer_sys::fuzz_target;

#[path = "alloc_bound.rs"]
mod alloc_bound;

// The invariants, shared with the proptest twin tests/data_structures/data_props.rs.
#[path = "../../tests/invariants/data_destination.rs"]
mod invariants;

#[global_allocator]
static ALLOC: alloc_bound::Counting = alloc_bound::Counting;

fuzz_target!(|data: &[u8]| {
    let (_, peak) = alloc_bound::peak_during(|| Destination::parse(data));
    alloc_bound::assert_bounded(peak, data.len(), "Destination::parse");
    if let Some(used) = invariants::check_destination(data) {
        let rest = &data[used..];
        let (_, peak) = alloc_bound::peak_during(|| read_mapping(&mut Reader::new(rest)));
        alloc_bound::assert_bounded(peak, rest.len(), "read_mapping");
        invariants::check_mapping(rest);
    }
});

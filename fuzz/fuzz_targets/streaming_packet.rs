//! Streaming packet decoder (src/streaming/packet.rs).
//!
//! Invariants beyond "no panic":
//! * decoding is exact: a packet that decodes encodes back to the very same bytes;
//! * `peek_flags` agrees with the decoded flags whenever the packet decodes;
//! * the decoded packet holds no more bytes than the input (NACK list, options, payload),
//!   and decoding never holds more heap than a small multiple of the input (alloc_bound.rs);
//! * the helpers the connection code calls on received packets accept every decoded packet.
#![no_main]

use i2psocks::streaming::packet::Packet;
use libfuzzer_sys::fuzz_target;

#[path = "alloc_bound.rs"]
mod alloc_bound;

// The invariants, shared with the proptest twin tests/decoder_props.rs.
#[path = "../../tests/invariants/streaming_packet.rs"]
mod invariants;

#[global_allocator]
static ALLOC: alloc_bound::Counting = alloc_bound::Counting;

fuzz_target!(|data: &[u8]| {
    let (_, peak) = alloc_bound::peak_during(|| Packet::decode(data));
    alloc_bound::assert_bounded(peak, data.len(), "Packet::decode");
    invariants::check_packet(data);
});

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

#[global_allocator]
static ALLOC: alloc_bound::Counting = alloc_bound::Counting;

fuzz_target!(|data: &[u8]| {
    let (decoded, peak) = alloc_bound::peak_during(|| Packet::decode(data));
    alloc_bound::assert_bounded(peak, data.len(), "Packet::decode");
    let Ok(packet) = decoded else {
        return;
    };
    assert_eq!(
        Packet::peek_flags(data),
        Some(packet.flags),
        "peek_flags disagrees"
    );
    assert_eq!(
        packet.wire_flags(),
        packet.flags,
        "option bits vs options present"
    );

    let held = 4 * packet.nacks.len()
        + packet.payload.len()
        + packet.from.as_ref().map_or(0, |d| d.as_bytes().len())
        + packet.signature.as_ref().map_or(0, Vec::len)
        + packet
            .offline_signature
            .as_ref()
            .map_or(0, |o| o.transient_key.len() + o.signature.len());
    assert!(
        held <= data.len(),
        "packet holds {held} bytes from {}",
        data.len()
    );

    let encoded = packet.encode().expect("a decoded packet encodes");
    assert_eq!(encoded, data, "encode(decode(x)) != x");

    let _ = packet.syn_target_hash();
    let _ = packet.is_plain_ack();
    let _ = packet.is_choke();
    if let Some(from) = &packet.from {
        let _ = packet.verify(from);
    }
});

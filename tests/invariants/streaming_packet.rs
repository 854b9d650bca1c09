//! Invariants of the streaming packet decoder, shared by the fuzz target
//! `fuzz/fuzz_targets/streaming_packet.rs` and its proptest twin `tests/decoder_props.rs`
//! (each includes this file with `#[path]`). Every check panics on a violation.

use i2psocks::streaming::packet::Packet;

/// A packet that decodes from `data`: `peek_flags` agrees with its flags, its option bits
/// match the options present, it holds no more bytes than the input, it encodes back to the
/// very same bytes, and the helpers the connection code calls on received packets accept it.
pub fn check_packet(data: &[u8]) {
    let Ok(packet) = Packet::decode(data) else {
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
}

//! I2CP framing and message decoding (src/i2cp/framing.rs, src/i2cp/message/codec.rs).
//!
//! Input: one selector byte (split point, router side or client side), then a byte stream as
//! it would arrive on the I2CP socket. Invariants beyond "no panic":
//! * the splitter yields the same frames (and the same error) however the stream is cut;
//! * the frames it yields are exactly a prefix of the stream (re-serialised byte for byte) and
//!   it never buffers more than it was given;
//! * a decoded message encodes again, and decode/encode of that encoding is a fixed point;
//! * every decoded message is smaller than the frame that carried it, and neither splitting
//!   nor decoding holds more heap than a small multiple of the input (alloc_bound.rs), never
//!   an amount driven by a claimed length.
#![no_main]

use i2psocks::i2cp::EncodeError;
use i2psocks::i2cp::framing::{Frame, FrameError, FrameSplitter, MAX_BODY_LEN, PROTOCOL_BYTE};
use i2psocks::i2cp::message::Message;
use libfuzzer_sys::fuzz_target;

#[path = "alloc_bound.rs"]
mod alloc_bound;

#[global_allocator]
static ALLOC: alloc_bound::Counting = alloc_bound::Counting;

/// Push `chunks` in order, draining frames after each; the frames and the final state.
fn split(router_side: bool, chunks: &[&[u8]]) -> (Vec<Frame>, Option<FrameError>, usize) {
    let mut splitter = if router_side {
        FrameSplitter::for_router()
    } else {
        FrameSplitter::new()
    };
    let mut frames = Vec::new();
    let mut pushed = 0;
    for chunk in chunks {
        splitter.push(chunk);
        pushed += chunk.len();
        loop {
            assert!(splitter.buffered() <= pushed, "buffers more than it got");
            match splitter.next_frame() {
                Ok(Some(frame)) => {
                    assert!(frame.body.len() <= MAX_BODY_LEN);
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(err) => {
                    // Sticky: every later call repeats it.
                    assert_eq!(splitter.next_frame(), Err(err.clone()));
                    return (frames, Some(err), 0);
                }
            }
        }
    }
    (frames, None, splitter.buffered())
}

fn check_message(frame: &Frame) {
    let (decoded, peak) = alloc_bound::peak_during(|| Message::decode(frame));
    alloc_bound::assert_bounded(peak, frame.body.len(), "Message::decode");
    let Ok(msg) = decoded else {
        return;
    };
    assert_eq!(msg.kind(), frame.kind, "{msg:?}");
    let encoded = match msg.encode() {
        Ok(encoded) => encoded,
        // The decoder reads Mappings leniently (duplicate keys, '=' or ';' inside a key, as
        // routers do); the encoder refuses to write such options. Nothing else may fail.
        Err(EncodeError::Options(_))
            if matches!(msg, Message::GetDate { .. } | Message::CreateSession(_)) =>
        {
            return;
        }
        Err(err) => panic!("decoded {msg:?} does not encode: {err}"),
    };
    assert_eq!(encoded.kind, frame.kind);
    assert!(encoded.body.len() <= MAX_BODY_LEN);
    // Encoding is canonical (mappings come out sorted, as signed I2P mappings must be): one
    // decode/encode cycle reaches a fixed point.
    let again = Message::decode(&encoded).expect("our own encoding decodes");
    assert_eq!(again.kind(), msg.kind());
    let twice = again.encode().expect("re-encodes");
    assert_eq!(twice, encoded, "encode(decode(encode(m))) != encode(m)");
    assert_eq!(Message::decode(&twice).as_ref(), Ok(&again));
    // Everything the message holds came out of the body: its encoding cannot be bigger
    // (no field sized by a claimed length instead of the bytes present).
    assert!(
        encoded.body.len() <= frame.body.len() + 64,
        "{} > {}",
        encoded.body.len(),
        frame.body.len()
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let router_side = selector & 1 == 1;
    let ((frames, error, left), peak) = alloc_bound::peak_during(|| split(router_side, &[stream]));
    alloc_bound::assert_bounded(peak, stream.len(), "FrameSplitter");

    // Same result for a fuzzer-chosen cut and for byte-by-byte delivery of short streams.
    let cut = (usize::from(selector >> 1) * 7).min(stream.len());
    let (a, b) = stream.split_at(cut);
    assert_eq!(
        split(router_side, &[a, b]),
        (frames.clone(), error.clone(), left)
    );
    if stream.len() <= 256 {
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(
            split(router_side, &bytes),
            (frames.clone(), error.clone(), left)
        );
    }

    // The frames are the stream's prefix, byte for byte.
    let mut rebuilt = Vec::new();
    if router_side && stream.first() == Some(&PROTOCOL_BYTE) {
        rebuilt.push(PROTOCOL_BYTE);
    }
    for frame in &frames {
        frame.write_to(&mut rebuilt);
    }
    assert!(
        stream.starts_with(&rebuilt),
        "frames are not the stream's prefix"
    );
    if error.is_none() {
        assert_eq!(rebuilt.len() + left, stream.len());
    }

    for frame in &frames {
        check_message(frame);
    }
    // Also decode the whole input as a single body of every kind the client understands.
    if stream.len() <= MAX_BODY_LEN {
        let kind = selector;
        check_message(&Frame {
            kind,
            body: stream.to_vec(),
        });
    }
});

//! I2CP payload (gzip) decoder (src/i2cp/payload.rs, `payload::decode`, which the session
//! applies to the payload of every MessagePayload a router sends).
//!
//! Input: one selector byte, then a gzip payload as it arrives in a MessagePayload. With
//! selector bit 0 set, the last 8 bytes are first overwritten with the CRC-32 and ISIZE of
//! what a plain inflate of the DEFLATE part yields: a mutated stream then passes the checksum
//! and reaches the accepting path instead of stopping at a CRC the fuzzer would have to solve.
//! Invariants beyond "no panic":
//! * header errors come first and exactly: under 18 bytes, wrong magic, header flags;
//! * the decoder agrees with a plain one-shot inflate (flate2, no stored-block fast path, no
//!   growing buffer) of the same DEFLATE bytes: it accepts exactly the streams that end where
//!   the trailer starts, inflate to at most `MAX_INFLATED_LEN` (64 KiB) and match CRC-32 and
//!   ISIZE, and returns that data;
//! * an accepted payload re-encodes, stored and deflated, to bytes that decode to the same
//!   payload; one that was a single final stored block re-encodes stored to the very input
//!   bytes, but for XFL (never checked on receive);
//! * decoding holds no more heap than the output cap plus a small multiple of the input
//!   (alloc_bound.rs): neither a length field nor a deflate bomb drives it further.
#![no_main]

use flate2::{Crc, Decompress, FlushDecompress, Status};
use i2psocks::i2cp::payload::{self, Compression, MAX_INFLATED_LEN, Payload, PayloadError};
use libfuzzer_sys::fuzz_target;

#[path = "alloc_bound.rs"]
mod alloc_bound;

#[global_allocator]
static ALLOC: alloc_bound::Counting = alloc_bound::Counting;

const HEADER_LEN: usize = 10;
const TRAILER_LEN: usize = 8;
/// XFL as `payload::encode` writes it.
const XFL: u8 = 2;

/// What inflating the DEFLATE part in one call gives.
#[derive(Debug)]
enum Inflated {
    Data(Vec<u8>),
    TooLarge,
    Corrupt,
}

fn reference_inflate(stream: &[u8]) -> Inflated {
    let mut dec = Decompress::new(false);
    // One byte over the cap, so "over the cap" shows as a full buffer.
    let mut out = Vec::with_capacity(MAX_INFLATED_LEN + 1);
    let status = dec.decompress_vec(stream, &mut out, FlushDecompress::Finish);
    if out.len() > MAX_INFLATED_LEN {
        return Inflated::TooLarge;
    }
    match status {
        Ok(Status::StreamEnd) if dec.total_in() == stream.len() as u64 => Inflated::Data(out),
        _ => Inflated::Corrupt,
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = Crc::new();
    crc.update(data);
    crc.sum()
}

/// CRC-32 ‖ ISIZE, little-endian, as RFC 1952 and the decoder want them.
fn trailer_for(data: &[u8]) -> [u8; TRAILER_LEN] {
    let mut t = [0; TRAILER_LEN];
    t[..4].copy_from_slice(&crc32(data).to_le_bytes());
    t[4..].copy_from_slice(&(data.len() as u32).to_le_bytes());
    t
}

fn check_reencodes(wire: &[u8], p: &Payload) {
    for compression in [Compression::Stored, Compression::Deflate] {
        let again = payload::encode(p.protocol, p.src_port, p.dst_port, &p.data, compression);
        assert_eq!(
            payload::decode(&again).as_ref(),
            Ok(p),
            "{compression:?} re-encoding does not decode to the same payload"
        );
        // A single final stored block (BFINAL=1, BTYPE=00, no padding bits) is exactly what
        // the stored encoding writes.
        if compression == Compression::Stored && wire[HEADER_LEN] == 0x01 {
            let mut want = wire.to_vec();
            want[8] = XFL;
            assert_eq!(
                again, want,
                "stored re-encoding differs from the stored input"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let mut wire = input.to_vec();
    let reference = (wire.len() >= HEADER_LEN + TRAILER_LEN)
        .then(|| reference_inflate(&wire[HEADER_LEN..wire.len() - TRAILER_LEN]));
    if selector & 1 == 1
        && let Some(Inflated::Data(inflated)) = &reference
    {
        let at = wire.len() - TRAILER_LEN;
        wire[at..].copy_from_slice(&trailer_for(inflated));
    }

    let (decoded, peak) = alloc_bound::peak_during(|| payload::decode(&wire));
    // The output buffer may legitimately reach the cap (plus the byte that detects "over");
    // beyond it, only the inflater's fixed state and per-input-byte overhead.
    alloc_bound::assert_bounded(
        peak.saturating_sub(MAX_INFLATED_LEN + 1),
        wire.len(),
        "payload::decode",
    );

    let Some(reference) = reference else {
        assert_eq!(decoded, Err(PayloadError::Truncated));
        return;
    };
    if wire[..3] != [0x1F, 0x8B, 0x08] {
        assert_eq!(decoded, Err(PayloadError::BadMagic));
        return;
    }
    if wire[3] != 0 {
        assert_eq!(decoded, Err(PayloadError::UnsupportedFlags(wire[3])));
        return;
    }
    match (&decoded, reference) {
        (Ok(p), Inflated::Data(inflated)) => {
            assert!(p.data.len() <= MAX_INFLATED_LEN, "{} bytes", p.data.len());
            assert_eq!(p.data, inflated, "differs from a plain inflate");
            assert_eq!(wire[wire.len() - TRAILER_LEN..], trailer_for(&p.data));
            assert_eq!(
                (p.src_port, p.dst_port, p.protocol),
                (
                    u16::from_be_bytes([wire[4], wire[5]]),
                    u16::from_be_bytes([wire[6], wire[7]]),
                    wire[9]
                )
            );
            check_reencodes(&wire, p);
        }
        (Err(PayloadError::Checksum), Inflated::Data(inflated)) => {
            assert_ne!(wire[wire.len() - TRAILER_LEN..], trailer_for(&inflated));
        }
        // Which of the two a stream that is both corrupt and too big gets depends on where
        // each inflater stops; both refuse it.
        (Err(PayloadError::Corrupt | PayloadError::TooLarge), Inflated::TooLarge)
        | (Err(PayloadError::Corrupt | PayloadError::TooLarge), Inflated::Corrupt) => {}
        (decoded, reference) => panic!("decode gave {decoded:?}, a plain inflate {reference:?}"),
    }
});

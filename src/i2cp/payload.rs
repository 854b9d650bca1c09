//! The gzip wrapper around every SendMessage / MessagePayload payload
//! (docs/i2cp.md "Payload wrapper").
//!
//! ```text
//! 0..3  1F 8B 08          gzip magic, method deflate
//! 3     FLG = 00          i2pd's stored-block fast path assumes a plain 10-byte header
//! 4..6  source port BE16  (gzip MTIME, low half)
//! 6..8  dest port BE16    (gzip MTIME, high half)
//! 8     XFL               we send 02; never checked on receive (i2pd's deflated replies carry 00)
//! 9     protocol          (gzip OS) see [`protocol`]: 6 streaming, 17-20 datagrams
//! 10..  DEFLATE data, CRC-32 (LE32), ISIZE (LE32)
//! ```
//!
//! Encoding choice: [`Compression::Stored`] writes one final stored block (`01 LEN ~LEN data`,
//! 23 bytes overhead, no CPU cost); this is what i2pd itself does for everything except SYNs
//! and what we use by default. [`Compression::Deflate`] is for packets that compress well,
//! e.g. streaming SYNs whose FROM destination has ~320 repeated bytes. Payloads too big for
//! one stored block (> 65535) are always deflated. Decoding accepts both, always inflates
//! fully, checks CRC-32 and ISIZE, and caps the output at [`MAX_INFLATED_LEN`].

use flate2::{Crc, Decompress, FlushDecompress, Status};
use std::io::Write;
use thiserror::Error;

/// gzip magic + method.
const GZIP_MAGIC: [u8; 3] = [0x1F, 0x8B, 0x08];
/// gzip header length (no optional fields).
const HEADER_LEN: usize = 10;
/// CRC-32 + ISIZE.
const TRAILER_LEN: usize = 8;
/// XFL byte we send, like Java and i2pd's stored packets.
const XFL: u8 = 0x02;

/// Largest payload we inflate; larger ones are dropped (bounded memory per message).
pub const MAX_INFLATED_LEN: usize = 64 * 1024;

/// Protocol numbers carried in byte 9 (docs/i2cp.md "Payload wrapper"; the datagram
/// formats are in `crate::data::datagram`). The one place these numbers are written down:
/// every layer above names them from here.
pub mod protocol {
    /// I2P streaming.
    pub const STREAMING: u8 = 6;
    /// Repliable (signed) datagram, "Datagram1".
    pub const DATAGRAM: u8 = 17;
    /// Raw datagram.
    pub const RAW: u8 = 18;
    /// Datagram2: signed and replay-protected (proposal 163).
    pub const DATAGRAM2: u8 = 19;
    /// Datagram3: repliable, unsigned (proposal 163).
    pub const DATAGRAM3: u8 = 20;
}

/// How to encode the DEFLATE part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// One stored block (no compression).
    Stored,
    /// zlib default-level deflate.
    Deflate,
}

/// A decoded payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    /// Byte 9.
    pub protocol: u8,
    /// Bytes 4–5.
    pub src_port: u16,
    /// Bytes 6–7.
    pub dst_port: u16,
    /// The inflated data.
    pub data: Vec<u8>,
}

/// Why a received payload was rejected.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum PayloadError {
    /// Shorter than header + trailer.
    #[error("gzip payload truncated")]
    Truncated,
    /// Not `1F 8B 08`.
    #[error("not a gzip payload")]
    BadMagic,
    /// FLG ≠ 0: optional gzip header fields are not used by I2P.
    #[error("unsupported gzip header flags {0:#04x}")]
    UnsupportedFlags(u8),
    /// The DEFLATE stream is corrupt or does not end where the trailer starts.
    #[error("corrupt deflate data")]
    Corrupt,
    /// Inflates past [`MAX_INFLATED_LEN`].
    #[error("payload inflates to more than 64 KiB")]
    TooLarge,
    /// CRC-32 or ISIZE mismatch.
    #[error("gzip checksum mismatch")]
    Checksum,
}

/// Wrap `data` for SendMessage.
pub fn encode(
    protocol: u8,
    src_port: u16,
    dst_port: u16,
    data: &[u8],
    compression: Compression,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + data.len() + 5 + TRAILER_LEN);
    out.extend_from_slice(&GZIP_MAGIC);
    out.push(0); // FLG
    out.extend_from_slice(&src_port.to_be_bytes());
    out.extend_from_slice(&dst_port.to_be_bytes());
    out.push(XFL);
    out.push(protocol);
    match u16::try_from(data.len()) {
        Ok(len) if compression == Compression::Stored => {
            out.push(0x01); // BFINAL=1, BTYPE=00 (stored)
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(!len).to_le_bytes());
            out.extend_from_slice(data);
        }
        _ => deflate_into(&mut out, data),
    }
    let mut crc = Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    // ISIZE is the length mod 2^32 (RFC 1952).
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn deflate_into(out: &mut Vec<u8>, data: &[u8]) {
    let mut enc = flate2::write::DeflateEncoder::new(out, flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    let _ = enc.finish();
}

/// Unwrap a received payload.
pub fn decode(bytes: &[u8]) -> Result<Payload, PayloadError> {
    let (header, rest) = bytes
        .split_first_chunk::<HEADER_LEN>()
        .ok_or(PayloadError::Truncated)?;
    let (deflated, trailer) = rest
        .split_last_chunk::<TRAILER_LEN>()
        .ok_or(PayloadError::Truncated)?;
    // XFL (byte 8) is deliberately not checked: i2pd sends 00 and 02 (docs/i2cp.md "Payload
    // wrapper").
    let [m0, m1, m2, flags, s0, s1, d0, d1, _xfl, protocol] = *header;
    if [m0, m1, m2] != GZIP_MAGIC {
        return Err(PayloadError::BadMagic);
    }
    if flags != 0 {
        return Err(PayloadError::UnsupportedFlags(flags));
    }
    let data = inflate(deflated)?;
    let [c0, c1, c2, c3, i0, i1, i2, i3] = *trailer;
    let mut crc = Crc::new();
    crc.update(&data);
    // ISIZE is the length mod 2^32 (RFC 1952); data is at most 64 KiB here.
    if crc.sum() != u32::from_le_bytes([c0, c1, c2, c3])
        || data.len() as u32 != u32::from_le_bytes([i0, i1, i2, i3])
    {
        return Err(PayloadError::Checksum);
    }
    Ok(Payload {
        protocol,
        src_port: u16::from_be_bytes([s0, s1]),
        dst_port: u16::from_be_bytes([d0, d1]),
        data,
    })
}

/// Inflate a raw DEFLATE stream that must end exactly at the end of `input`.
fn inflate(input: &[u8]) -> Result<Vec<u8>, PayloadError> {
    if let Some(data) = unstore(input) {
        return Ok(data);
    }
    let mut dec = Decompress::new(false);
    // In one call, straight into a buffer one byte over the cap (that byte tells "exactly at
    // the cap" from "beyond"): only then does miniz_oxide see the whole output and refuse a
    // distance reaching back before its start. Fed piecewise it copies such a match from its
    // zeroed window instead, accepting a stream that zlib (i2pd, Java) rejects.
    let mut out = Vec::with_capacity(MAX_INFLATED_LEN + 1);
    let status = dec
        .decompress_vec(input, &mut out, FlushDecompress::Finish)
        .map_err(|_| PayloadError::Corrupt)?;
    if out.len() > MAX_INFLATED_LEN {
        return Err(PayloadError::TooLarge);
    }
    // Anything but the end of the stream here means input ran out before the final block.
    if status != Status::StreamEnd || usize::try_from(dec.total_in()).ok() != Some(input.len()) {
        return Err(PayloadError::Corrupt);
    }
    // The data outlives this call (event queues, reorder buffers): give back the headroom.
    out.shrink_to_fit();
    Ok(out)
}

/// The fast path for what i2pd sends nearly always: a DEFLATE stream made only of stored
/// blocks (`BFINAL|BTYPE=00`, padding to the byte, `LEN`, `!LEN`, `LEN` bytes), ending exactly
/// at the end of `input` and within [`MAX_INFLATED_LEN`]. `None` for anything else (other
/// block types, malformed or truncated input, too large): the full inflater then decides,
/// so the errors stay the same. A new inflater costs ~96k instructions (it zeroes and copies
/// about 40 KiB of state), 18 times the rest of a 1.7 KB packet's way through the proxy.
fn unstore(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = input;
    loop {
        let (&head, after) = rest.split_first()?;
        // Bit 0 BFINAL, bits 1-2 BTYPE; a stored block's header byte is padded to the byte.
        if (head >> 1) & 0b11 != 0 {
            return None;
        }
        let (len, after) = after.split_first_chunk::<2>()?;
        let (nlen, after) = after.split_first_chunk::<2>()?;
        let len = u16::from_le_bytes(*len);
        if u16::from_le_bytes(*nlen) != !len {
            return None;
        }
        let (data, after) = after.split_at_checked(usize::from(len))?;
        if out.len() + data.len() > MAX_INFLATED_LEN {
            return None;
        }
        if out.is_empty() && head & 1 == 1 && after.is_empty() {
            return Some(data.to_vec());
        }
        out.extend_from_slice(data);
        rest = after;
        if head & 1 == 1 {
            return rest.is_empty().then_some(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_header_golden() {
        // docs/i2cp.md "Payload wrapper": `1f 8b 08 00 | 00 00 | 00 50 | 02 | 06`, then a stored block.
        let p = encode(protocol::STREAMING, 0, 80, &[0xAA; 22], Compression::Stored);
        assert_eq!(
            &p[..10],
            &[0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x50, 0x02, 0x06]
        );
        assert_eq!(&p[10..15], &[0x01, 22, 0, !22u8, 0xff]);
        assert_eq!(p.len(), 45); // 22-byte ACK → 45-byte gzip (docs/i2cp.md "Payload wrapper")
        let d = decode(&p).unwrap();
        assert_eq!(d.data, vec![0xAA; 22]);
        assert_eq!(
            (d.protocol, d.src_port, d.dst_port),
            (protocol::STREAMING, 0, 80)
        );
    }

    #[test]
    fn deflate_round_trip_and_is_smaller() {
        let data: Vec<u8> = (0..2000).map(|i| (i % 7) as u8).collect();
        let p = encode(protocol::DATAGRAM, 1234, 5678, &data, Compression::Deflate);
        assert!(p.len() < data.len());
        let d = decode(&p).unwrap();
        assert_eq!(
            d,
            Payload {
                protocol: protocol::DATAGRAM,
                src_port: 1234,
                dst_port: 5678,
                data
            }
        );
    }

    #[test]
    fn accepts_any_xfl() {
        let mut p = encode(protocol::STREAMING, 0, 0, b"hello", Compression::Deflate);
        p[8] = 0;
        assert_eq!(decode(&p).unwrap().data, b"hello");
        p[8] = 0x77;
        assert_eq!(decode(&p).unwrap().data, b"hello");
    }

    #[test]
    fn rejects_bad_crc_and_isize() {
        let mut p = encode(protocol::STREAMING, 0, 0, b"hello", Compression::Stored);
        let n = p.len();
        p[n - 8] ^= 1;
        assert_eq!(decode(&p), Err(PayloadError::Checksum));
        let mut p = encode(protocol::STREAMING, 0, 0, b"hello", Compression::Stored);
        p[n - 1] ^= 1;
        assert_eq!(decode(&p), Err(PayloadError::Checksum));
    }

    #[test]
    fn rejects_bomb_over_64k() {
        let data = vec![0u8; MAX_INFLATED_LEN + 1];
        let p = encode(protocol::STREAMING, 0, 0, &data, Compression::Deflate);
        assert!(p.len() < 1000);
        assert_eq!(decode(&p), Err(PayloadError::TooLarge));
        let ok = encode(
            protocol::STREAMING,
            0,
            0,
            &data[..MAX_INFLATED_LEN],
            Compression::Deflate,
        );
        assert_eq!(decode(&ok).unwrap().data.len(), MAX_INFLATED_LEN);
    }

    #[test]
    fn rejects_every_truncation() {
        for comp in [Compression::Stored, Compression::Deflate] {
            let p = encode(protocol::STREAMING, 1, 2, b"some payload bytes", comp);
            for cut in 0..p.len() {
                assert!(decode(&p[..cut]).is_err(), "{comp:?} cut {cut}");
            }
        }
    }

    #[test]
    fn rejects_garbage_between_stream_and_trailer() {
        let mut p = encode(protocol::STREAMING, 0, 0, b"x", Compression::Stored);
        let n = p.len();
        p.insert(n - 8, 0);
        assert_eq!(decode(&p), Err(PayloadError::Corrupt));
    }

    #[test]
    fn rejects_header_flags_and_magic() {
        let mut p = encode(protocol::STREAMING, 0, 0, b"x", Compression::Stored);
        p[3] = 0x04;
        assert_eq!(decode(&p), Err(PayloadError::UnsupportedFlags(4)));
        p[3] = 0;
        p[1] = 0;
        assert_eq!(decode(&p), Err(PayloadError::BadMagic));
    }

    /// Raw DEFLATE stream of stored blocks, one per chunk, the last one final.
    fn stored_blocks(chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            out.push(u8::from(i + 1 == chunks.len()));
            let len = u16::try_from(chunk.len()).unwrap();
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(!len).to_le_bytes());
            out.extend_from_slice(chunk);
        }
        out
    }

    #[test]
    fn stored_fast_path_agrees_with_the_inflater() {
        let a = [1u8; 300];
        let b = [2u8; 5];
        for chunks in [
            &[&a[..]][..],
            &[&a[..], &b[..]],
            &[&b[..], &[][..], &a[..]],
            &[&[][..]],
        ] {
            let stream = stored_blocks(chunks);
            let fast = unstore(&stream).expect("stored-only stream takes the fast path");
            let mut dec = Decompress::new(false);
            let mut slow = Vec::with_capacity(1024);
            dec.decompress_vec(&stream, &mut slow, FlushDecompress::Finish)
                .unwrap();
            assert_eq!(fast, slow);
            assert_eq!(fast, chunks.concat());
        }
    }

    #[test]
    fn stored_fast_path_leaves_odd_streams_to_the_inflater() {
        let good = stored_blocks(&[b"abc", b"defg"]);
        // Bad NLEN, truncated, trailing byte, no final block: the inflater's errors.
        let mut bad_nlen = good.clone();
        bad_nlen[3] ^= 1;
        let mut trailing = good.clone();
        trailing.push(0);
        let no_final = stored_blocks(&[b"abc", b"defg", b""]);
        let no_final = &no_final[..no_final.len() - 5];
        for odd in [&bad_nlen[..], &good[..good.len() - 1], &trailing, no_final] {
            assert_eq!(unstore(odd), None);
            assert_eq!(inflate(odd), Err(PayloadError::Corrupt));
        }
        // Over the cap in stored blocks.
        let big = vec![0u8; 40_000];
        let over = stored_blocks(&[&big, &big]);
        assert_eq!(unstore(&over), None);
        assert_eq!(inflate(&over), Err(PayloadError::TooLarge));
        // A stored block followed by a compressed one: the inflater decodes both.
        let mut mixed = stored_blocks(&[b"abc", b""]);
        mixed.truncate(mixed.len() - 5);
        mixed[0] = 0; // not final
        let mut enc =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&[9u8; 500]).unwrap();
        mixed.extend_from_slice(&enc.finish().unwrap());
        assert_eq!(unstore(&mixed), None);
        let mut want = b"abc".to_vec();
        want.extend_from_slice(&[9u8; 500]);
        assert_eq!(inflate(&mixed), Ok(want));
    }

    /// A raw DEFLATE stream of one fixed-Huffman block whose first symbol is a match at
    /// distance 1: there is nothing before it to copy.
    const MATCH_BEFORE_START: [u8; 3] = [0x03, 0x02, 0x00];

    #[test]
    fn rejects_a_distance_before_the_start_of_the_output() {
        assert_eq!(inflate(&MATCH_BEFORE_START), Err(PayloadError::Corrupt));
        // The same with a matching trailer for the three zero bytes a windowed inflater makes
        // of it: still refused, as zlib refuses it.
        let mut p = encode(protocol::STREAMING, 0, 0, &[0; 3], Compression::Stored);
        p.splice(HEADER_LEN..p.len() - TRAILER_LEN, MATCH_BEFORE_START);
        assert_eq!(decode(&p), Err(PayloadError::Corrupt));
        // Found by fuzz/fuzz_targets/i2cp_payload.rs: a deflated SYN with a few bytes changed,
        // so that a match at output byte 85 reaches back before the start.
        let found = "1f8b080000000050000663606060b0bb9754c300051c0c8c4ccc2cac6cec1c9c5cdc3cbc\
                     7cfc028242c222a262e2129252d232b272f20c0c2f194f33305e96f548dafb31f7e79603\
                     4597a52b6a38be6f56908bdfb4d04df8f9bc7051e4794efd86ca79598e1e6ebae8c5f1fd\
                     a3f4cdbefadf5d0f337e4b9cb59db7f88a8bd71da7bb6addcb59195818d819408842e0ee\
                     1aa2a00f0053f2995306020000";
        let found = data_encoding::HEXLOWER.decode(found.as_bytes()).unwrap();
        assert_eq!(decode(&found), Err(PayloadError::Corrupt));
    }

    #[test]
    fn a_match_within_the_output_is_fine() {
        // A run deflates to a literal and then matches at distance 1.
        let run = [b'a'; 100];
        let mut stream =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        stream.write_all(&run).unwrap();
        let stream = stream.finish().unwrap();
        assert!(stream.len() < run.len() / 4, "{} bytes", stream.len());
        assert_eq!(inflate(&stream), Ok(run.to_vec()));
    }

    #[test]
    fn empty_payload_round_trips() {
        for comp in [Compression::Stored, Compression::Deflate] {
            let p = encode(protocol::RAW, 9, 9, b"", comp);
            assert_eq!(decode(&p).unwrap().data, Vec::<u8>::new());
        }
    }
}

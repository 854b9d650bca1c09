//! Streaming packet codec (the Streaming Protocol specification; docs/streaming.md).
//!
//! Wire layout, all integers big-endian:
//!
//! ```text
//! 0   sendStreamId   u32   the peer's receive id (0 until the SYN-ACK is seen)
//! 4   receiveStreamId u32  the sender's own id
//! 8   sequenceNum    u32
//! 12  ackThrough     u32
//! 16  NACK count n   u8
//! 17  NACKs          n × u32  (in an initiator SYN: n = 8, the target destination hash)
//! 17+4n resendDelay  u8
//! 18+4n flags        u16
//! 20+4n option size  u16
//! 22+4n options      (in this order, each present iff its flag is set:
//!                     DELAY_REQUESTED u16, FROM Destination, MAX_PACKET_SIZE u16,
//!                     OFFLINE_SIGNATURE block, SIGNATURE)
//! …     payload      the rest of the datagram
//! ```
//!
//! Decoding is strict: every declared length is checked against the input, option bytes that
//! no flag accounts for are an error, and a decoded packet re-encodes to the same bytes (the
//! signature check relies on that).

use crate::data::{DataError, Destination, PrivateKeys};
use thiserror::Error;

/// Size of a packet with no NACKs, no options and no payload (docs/streaming.md "Packet layout").
pub const MIN_HEADER_LEN: usize = 22;

/// Most NACKs one packet can carry: the count is one byte.
pub const MAX_NACKS: usize = 255;

/// Flag bits of the 16-bit flags field (docs/streaming.md "Flags and option order").
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u16);

impl Flags {
    /// No flags.
    pub const NONE: Flags = Flags(0);
    /// First packet of each direction (SYN, SYN-ACK).
    pub const SYNCHRONIZE: Flags = Flags(0x0001);
    /// Sender will send no more data.
    pub const CLOSE: Flags = Flags(0x0002);
    /// Abnormal close.
    pub const RESET: Flags = Flags(0x0004);
    /// Options end with a signature over the whole packet.
    pub const SIGNATURE_INCLUDED: Flags = Flags(0x0008);
    /// Unused by every implementation.
    pub const SIGNATURE_REQUESTED: Flags = Flags(0x0010);
    /// Options carry the sender's full Destination.
    pub const FROM_INCLUDED: Flags = Flags(0x0020);
    /// Options carry a BE16 requested ACK delay in ms (0 = ack now, ≥ 60000 = choke).
    pub const DELAY_REQUESTED: Flags = Flags(0x0040);
    /// Options carry a BE16 maximum payload size.
    pub const MAX_PACKET_SIZE_INCLUDED: Flags = Flags(0x0080);
    /// Unused.
    pub const PROFILE_INTERACTIVE: Flags = Flags(0x0100);
    /// Ping (sendStreamId ≠ 0) or pong (sendStreamId = 0).
    pub const ECHO: Flags = Flags(0x0200);
    /// ackThrough (and the NACKs) must be ignored: the sender has received nothing yet.
    pub const NO_ACK: Flags = Flags(0x0400);
    /// Options carry an offline-signature block (transient signing key).
    pub const OFFLINE_SIGNATURE: Flags = Flags(0x0800);

    /// Bits whose presence is tied to an option field; `encode` derives them from the options.
    pub const OPTION_BITS: Flags = Flags(
        Self::SIGNATURE_INCLUDED.0
            | Self::FROM_INCLUDED.0
            | Self::DELAY_REQUESTED.0
            | Self::MAX_PACKET_SIZE_INCLUDED.0
            | Self::OFFLINE_SIGNATURE.0,
    );

    /// True when every bit of `other` is set.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Set the bits of `other`.
    pub fn insert(&mut self, other: Flags) {
        self.0 |= other.0;
    }

    /// Clear the bits of `other`.
    pub fn remove(&mut self, other: Flags) {
        self.0 &= !other.0;
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl std::fmt::Debug for Flags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Flags({:#06x})", self.0)
    }
}

/// Option value of DELAY_REQUESTED that asks for an immediate ACK.
pub const DELAY_ACK_NOW: u16 = 0;
/// i2pd sends 60000 to choke and treats any value ≥ 60000 as a choke (docs/streaming.md "What i2pd
/// sends").
pub const DELAY_CHOKE_THRESHOLD: u16 = 60000;
/// What we send to choke: Java reads > 60000 as a choke, i2pd reads ≥ 60000 (docs/streaming.md
/// "Constants").
pub const DELAY_CHOKE_SEND: u16 = 61000;

/// An offline-signature block: the destination key signs a transient key that signs packets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfflineSignature {
    /// Expiry of the transient key, seconds since the epoch.
    pub expires: u32,
    /// Signature type of the transient key.
    pub transient_sig_type: u16,
    /// The transient public key.
    pub transient_key: Vec<u8>,
    /// Signature by the destination's key over expires ‖ type ‖ key.
    pub signature: Vec<u8>,
}

/// (public key length, signature length) per signature type, for the types a transient key
/// may have. RSA types are not allowed in streaming (docs/streaming.md "Signatures").
fn sig_type_lengths(sig_type: u16) -> Option<(usize, usize)> {
    match sig_type {
        0 => Some((128, 40)),  // DSA-SHA1
        1 => Some((64, 64)),   // ECDSA-P256
        2 => Some((96, 96)),   // ECDSA-P384
        3 => Some((132, 132)), // ECDSA-P521
        7 => Some((32, 64)),   // EdDSA-SHA512-Ed25519
        11 => Some((32, 64)),  // RedDSA-SHA512-Ed25519
        _ => None,
    }
}

/// A decoded streaming packet.
///
/// Option bits of `flags` (see [`Flags::OPTION_BITS`]) are informational after decoding;
/// [`Packet::encode`] sets them from the option fields that are `Some`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Packet {
    /// The receiver's stream id (0 before the SYN-ACK and in pongs).
    pub send_stream_id: u32,
    /// The sender's stream id.
    pub receive_stream_id: u32,
    /// Sequence number; 0 without SYN means a plain ACK.
    pub seq: u32,
    /// Highest sequence number received by the sender.
    pub ack_through: u32,
    /// Missing sequence numbers below `ack_through` (or the target hash in an initiator SYN).
    pub nacks: Vec<u32>,
    /// Informational resend delay in seconds (ignored on receive).
    pub resend_delay: u8,
    /// Flag bits.
    pub flags: Flags,
    /// DELAY_REQUESTED option, in ms.
    pub delay_requested: Option<u16>,
    /// FROM option: the sender's destination.
    pub from: Option<Destination>,
    /// MAX_PACKET_SIZE option: the sender's maximum payload.
    pub max_packet_size: Option<u16>,
    /// OFFLINE_SIGNATURE option.
    pub offline_signature: Option<OfflineSignature>,
    /// SIGNATURE option (all zero while signing).
    pub signature: Option<Vec<u8>>,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

/// Why bytes are not a valid streaming packet.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended inside the fixed header or the NACK list.
    #[error("packet truncated while reading {0}")]
    Truncated(&'static str),
    /// The declared option size runs past the end of the packet.
    #[error("option size {declared} exceeds the {available} bytes left in the packet")]
    OptionSizeBeyondPacket {
        /// Declared option size.
        declared: usize,
        /// Bytes after the option-size field.
        available: usize,
    },
    /// The option area ended before an option its flag announces.
    #[error("options end before the {0} option")]
    OptionsTruncated(&'static str),
    /// The FROM option is not a valid destination.
    #[error("invalid FROM destination: {0}")]
    BadFrom(DataError),
    /// The signature does not have the signer's length.
    #[error("signature of {got} bytes, the signer's type needs {expected}")]
    SignatureLength {
        /// Bytes present.
        got: usize,
        /// Bytes the signing key type produces.
        expected: usize,
    },
    /// Option bytes left over that no flag accounts for.
    #[error("{0} bytes of option data not claimed by any flag")]
    TrailingOptionData(usize),
    /// Offline signature with a transient key type we cannot size.
    #[error("unsupported transient key type {0} in offline signature")]
    UnsupportedOfflineKeyType(u16),
}

/// Why a packet cannot be encoded.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// More than 255 NACKs.
    #[error("{0} NACKs, at most 255 fit")]
    TooManyNacks(usize),
    /// Options longer than the 16-bit option size allows.
    #[error("{0} bytes of options, at most 65535 fit")]
    OptionsTooLong(usize),
}

/// Bounded cursor over untrusted bytes.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if len > self.buf.len() {
            return None;
        }
        let (head, rest) = self.buf.split_at(len);
        self.buf = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).and_then(|b| b.first().copied())
    }

    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes(b.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_be_bytes(b.try_into().ok()?))
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    fn len(&self) -> usize {
        self.buf.len()
    }
}

impl Packet {
    /// Flags of an encoded packet without decoding it, e.g. for an I2CP sink that deflates
    /// only packets carrying a FROM destination (SYN, SYN-ACK, ping) and stores the rest.
    pub fn peek_flags(bytes: &[u8]) -> Option<Flags> {
        let nacks = usize::from(*bytes.get(16)?);
        let at = 18 + 4 * nacks;
        let hi = *bytes.get(at)?;
        let lo = *bytes.get(at + 1)?;
        Some(Flags(u16::from_be_bytes([hi, lo])))
    }

    /// Decode one packet (the whole I2CP payload after gunzip).
    pub fn decode(bytes: &[u8]) -> Result<Packet, DecodeError> {
        let mut r = Reader { buf: bytes };
        let send_stream_id = r.u32().ok_or(DecodeError::Truncated("sendStreamId"))?;
        let receive_stream_id = r.u32().ok_or(DecodeError::Truncated("receiveStreamId"))?;
        let seq = r.u32().ok_or(DecodeError::Truncated("sequenceNum"))?;
        let ack_through = r.u32().ok_or(DecodeError::Truncated("ackThrough"))?;
        let nack_count = r.u8().ok_or(DecodeError::Truncated("NACK count"))?;
        let mut nacks = Vec::with_capacity(usize::from(nack_count));
        for _ in 0..nack_count {
            nacks.push(r.u32().ok_or(DecodeError::Truncated("NACKs"))?);
        }
        let resend_delay = r.u8().ok_or(DecodeError::Truncated("resendDelay"))?;
        let flags = Flags(r.u16().ok_or(DecodeError::Truncated("flags"))?);
        let option_size = usize::from(r.u16().ok_or(DecodeError::Truncated("option size"))?);
        // docs/streaming.md "What i2pd drops": option size larger than the packet.
        let option_bytes = r
            .take(option_size)
            .ok_or(DecodeError::OptionSizeBeyondPacket {
                declared: option_size,
                available: r.len(),
            })?;
        let payload = r.rest().to_vec();
        let mut packet = Packet {
            send_stream_id,
            receive_stream_id,
            seq,
            ack_through,
            nacks,
            resend_delay,
            flags,
            payload,
            ..Packet::default()
        };
        packet.decode_options(option_bytes)?;
        Ok(packet)
    }

    /// Options appear in a fixed order, each iff its flag is set (docs/streaming.md "Flags and
    /// option order").
    fn decode_options(&mut self, option_bytes: &[u8]) -> Result<(), DecodeError> {
        let mut r = Reader { buf: option_bytes };
        let flags = self.flags;
        if flags.contains(Flags::DELAY_REQUESTED) {
            self.delay_requested = Some(r.u16().ok_or(DecodeError::OptionsTruncated("delay"))?);
        }
        if flags.contains(Flags::FROM_INCLUDED) {
            if r.len() == 0 {
                return Err(DecodeError::OptionsTruncated("FROM"));
            }
            // The destination's own certificate says how long it is.
            let (from, used) = Destination::parse(r.buf).map_err(DecodeError::BadFrom)?;
            r.take(used).ok_or(DecodeError::OptionsTruncated("FROM"))?;
            self.from = Some(from);
        }
        if flags.contains(Flags::MAX_PACKET_SIZE_INCLUDED) {
            self.max_packet_size = Some(
                r.u16()
                    .ok_or(DecodeError::OptionsTruncated("max packet size"))?,
            );
        }
        if flags.contains(Flags::OFFLINE_SIGNATURE) {
            self.offline_signature = Some(self.decode_offline(&mut r)?);
        }
        if flags.contains(Flags::SIGNATURE_INCLUDED) {
            let sig = r.rest();
            let expected = self.expected_signature_len();
            match expected {
                Some(expected) if sig.len() != expected => {
                    return Err(DecodeError::SignatureLength {
                        got: sig.len(),
                        expected,
                    });
                }
                None if sig.is_empty() => return Err(DecodeError::OptionsTruncated("signature")),
                _ => {}
            }
            self.signature = Some(sig.to_vec());
        }
        if r.len() != 0 {
            return Err(DecodeError::TrailingOptionData(r.len()));
        }
        Ok(())
    }

    fn decode_offline(&self, r: &mut Reader<'_>) -> Result<OfflineSignature, DecodeError> {
        let expires = r
            .u32()
            .ok_or(DecodeError::OptionsTruncated("offline signature"))?;
        let transient_sig_type = r
            .u16()
            .ok_or(DecodeError::OptionsTruncated("offline signature"))?;
        let (key_len, transient_sig_len) = sig_type_lengths(transient_sig_type)
            .ok_or(DecodeError::UnsupportedOfflineKeyType(transient_sig_type))?;
        let transient_key = r
            .take(key_len)
            .ok_or(DecodeError::OptionsTruncated("offline signature"))?
            .to_vec();
        // The block is signed by the destination key: its length comes from FROM if present,
        // otherwise it is whatever precedes the packet signature.
        let block_sig_len = match &self.from {
            Some(from) => from.signature_len(),
            None => {
                let after = if self.flags.contains(Flags::SIGNATURE_INCLUDED) {
                    transient_sig_len
                } else {
                    0
                };
                r.len().saturating_sub(after)
            }
        };
        let signature = r
            .take(block_sig_len)
            .ok_or(DecodeError::OptionsTruncated("offline signature"))?
            .to_vec();
        Ok(OfflineSignature {
            expires,
            transient_sig_type,
            transient_key,
            signature,
        })
    }

    /// Length the SIGNATURE option must have, when the packet itself tells us.
    fn expected_signature_len(&self) -> Option<usize> {
        if let Some(offline) = &self.offline_signature {
            return sig_type_lengths(offline.transient_sig_type).map(|(_, sig)| sig);
        }
        self.from.as_ref().map(Destination::signature_len)
    }

    /// Flags as written on the wire: option bits follow the options present.
    pub fn wire_flags(&self) -> Flags {
        let mut flags = self.flags;
        flags.remove(Flags::OPTION_BITS);
        if self.delay_requested.is_some() {
            flags.insert(Flags::DELAY_REQUESTED);
        }
        if self.from.is_some() {
            flags.insert(Flags::FROM_INCLUDED);
        }
        if self.max_packet_size.is_some() {
            flags.insert(Flags::MAX_PACKET_SIZE_INCLUDED);
        }
        if self.offline_signature.is_some() {
            flags.insert(Flags::OFFLINE_SIGNATURE);
        }
        if self.signature.is_some() {
            flags.insert(Flags::SIGNATURE_INCLUDED);
        }
        flags
    }

    /// True when any of `flags` is set on the wire.
    pub fn has(&self, flags: Flags) -> bool {
        self.wire_flags().0 & flags.0 != 0
    }

    /// Encode to wire bytes.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        self.encode_inner(false).map(|(bytes, _)| bytes)
    }

    /// Encode; with `zero_signature` the signature slot is written as zeros. Also returns the
    /// signature's offset in the output.
    fn encode_inner(&self, zero_signature: bool) -> Result<(Vec<u8>, Option<usize>), EncodeError> {
        if self.nacks.len() > MAX_NACKS {
            return Err(EncodeError::TooManyNacks(self.nacks.len()));
        }
        let options = self.encode_options_without_signature();
        let sig_len = self.signature.as_ref().map_or(0, Vec::len);
        let option_size = options.len() + sig_len;
        let option_size16 =
            u16::try_from(option_size).map_err(|_| EncodeError::OptionsTooLong(option_size))?;
        let nack_count = u8::try_from(self.nacks.len())
            .map_err(|_| EncodeError::TooManyNacks(self.nacks.len()))?;

        let mut out = Vec::with_capacity(
            MIN_HEADER_LEN + 4 * self.nacks.len() + option_size + self.payload.len(),
        );
        out.extend_from_slice(&self.send_stream_id.to_be_bytes());
        out.extend_from_slice(&self.receive_stream_id.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.ack_through.to_be_bytes());
        out.push(nack_count);
        for nack in &self.nacks {
            out.extend_from_slice(&nack.to_be_bytes());
        }
        out.push(self.resend_delay);
        out.extend_from_slice(&self.wire_flags().0.to_be_bytes());
        out.extend_from_slice(&option_size16.to_be_bytes());
        out.extend_from_slice(&options);
        let mut sig_offset = None;
        if let Some(sig) = &self.signature {
            sig_offset = Some(out.len());
            if zero_signature {
                out.resize(out.len() + sig.len(), 0);
            } else {
                out.extend_from_slice(sig);
            }
        }
        out.extend_from_slice(&self.payload);
        Ok((out, sig_offset))
    }

    fn encode_options_without_signature(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(delay) = self.delay_requested {
            out.extend_from_slice(&delay.to_be_bytes());
        }
        if let Some(from) = &self.from {
            out.extend_from_slice(from.as_bytes());
        }
        if let Some(size) = self.max_packet_size {
            out.extend_from_slice(&size.to_be_bytes());
        }
        if let Some(off) = &self.offline_signature {
            out.extend_from_slice(&off.expires.to_be_bytes());
            out.extend_from_slice(&off.transient_sig_type.to_be_bytes());
            out.extend_from_slice(&off.transient_key);
            out.extend_from_slice(&off.signature);
        }
        out
    }

    /// Sign with `keys` and return the wire bytes: the signature covers the whole packet with
    /// the signature slot zeroed (docs/streaming.md "Signatures"). Also stores the signature in
    /// `self`.
    pub fn sign(&mut self, keys: &PrivateKeys) -> Result<Vec<u8>, EncodeError> {
        let sig_len = keys.destination().signature_len();
        self.signature = Some(vec![0; sig_len]);
        self.flags = self.wire_flags();
        let (mut bytes, offset) = self.encode_inner(true)?;
        let sig = keys.sign(&bytes);
        if let Some(slot) = offset.and_then(|o| bytes.get_mut(o..o + sig_len))
            && slot.len() == sig.len()
        {
            slot.copy_from_slice(&sig);
        }
        self.signature = Some(sig);
        Ok(bytes)
    }

    /// Check the signature against `signer`. Packets without a signature, with an offline
    /// signature (transient keys are not supported) or with a signature of the wrong length
    /// fail.
    pub fn verify(&self, signer: &Destination) -> bool {
        if self.offline_signature.is_some() {
            return false;
        }
        let Some(sig) = &self.signature else {
            return false;
        };
        if sig.len() != signer.signature_len() {
            return false;
        }
        match self.encode_inner(true) {
            Ok((bytes, _)) => signer.verify(&bytes, sig),
            Err(_) => false,
        }
    }

    /// The target destination hash an initiator SYN carries in its 8 NACK slots (API 0.9.58).
    pub fn syn_target_hash(&self) -> Option<[u8; 32]> {
        if !self.flags.contains(Flags::SYNCHRONIZE) || self.nacks.len() != 8 {
            return None;
        }
        let mut hash = [0u8; 32];
        for (chunk, nack) in hash.chunks_exact_mut(4).zip(&self.nacks) {
            chunk.copy_from_slice(&nack.to_be_bytes());
        }
        Some(hash)
    }

    /// The 8 NACK values that carry `hash` in an initiator SYN.
    pub fn nacks_for_hash(hash: &[u8; 32]) -> Vec<u32> {
        hash.chunks_exact(4)
            .filter_map(|c| c.try_into().ok().map(u32::from_be_bytes))
            .collect()
    }

    /// True for a plain ACK: sequence number 0 and no SYN (docs/streaming.md "Packet layout").
    pub fn is_plain_ack(&self) -> bool {
        self.seq == 0 && !self.flags.contains(Flags::SYNCHRONIZE)
    }

    /// True when DELAY_REQUESTED asks the receiver to stop sending (≥ 60000, i2pd's reading).
    pub fn is_choke(&self) -> bool {
        self.delay_requested
            .is_some_and(|d| d >= DELAY_CHOKE_THRESHOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..clean.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).unwrap_or(0))
            .collect()
    }

    /// docs/streaming.md "What i2pd sends": 22 bytes.
    const ACK_HEX: &str = "d584c5da 3ede627c 00000000 00000000 00 00 0000 0000";

    #[test]
    fn decodes_golden_ack() {
        let bytes = hex(ACK_HEX);
        assert_eq!(bytes.len(), MIN_HEADER_LEN);
        let p = Packet::decode(&bytes).unwrap_or_default();
        assert_eq!(p.send_stream_id, 0xd584c5da);
        assert_eq!(p.receive_stream_id, 0x3ede627c);
        assert_eq!(p.seq, 0);
        assert_eq!(p.ack_through, 0);
        assert!(p.nacks.is_empty());
        assert_eq!(p.flags, Flags::NONE);
        assert!(p.is_plain_ack());
        assert!(p.payload.is_empty());
    }

    #[test]
    fn encodes_golden_ack() {
        let p = Packet {
            send_stream_id: 0xd584c5da,
            receive_stream_id: 0x3ede627c,
            ..Packet::default()
        };
        assert_eq!(p.encode(), Ok(hex(ACK_HEX)));
    }

    /// docs/streaming.md "What i2pd sends": i2pd's CLOSE is 86 bytes, flags 000a, option size 0040,
    /// signed.
    fn golden_close() -> Vec<u8> {
        let mut b = hex("3ede627c d584c5da 00000004 00000001 00 00 000a 0040");
        b.extend(std::iter::repeat_n(0xab, 64));
        b
    }

    #[test]
    fn decodes_golden_close() {
        let bytes = golden_close();
        assert_eq!(bytes.len(), 86);
        let p = Packet::decode(&bytes).unwrap_or_default();
        assert_eq!(p.seq, 4);
        assert_eq!(p.ack_through, 1);
        assert!(p.flags.contains(Flags::CLOSE | Flags::SIGNATURE_INCLUDED));
        assert_eq!(p.signature.as_deref(), Some(&[0xab; 64][..]));
        assert_eq!(p.encode(), Ok(bytes));
    }

    #[test]
    fn rejects_every_truncation_of_close() {
        let bytes = golden_close();
        for len in 0..bytes.len() {
            assert!(
                Packet::decode(&bytes[..len]).is_err(),
                "prefix of {len} bytes accepted"
            );
        }
    }

    #[test]
    fn peeks_flags_without_decoding() {
        assert_eq!(Packet::peek_flags(&golden_close()), Some(Flags(0x000a)));
        let syn = Packet {
            nacks: vec![0; 8],
            flags: Flags::SYNCHRONIZE,
            ..Packet::default()
        };
        let bytes = syn.encode().unwrap_or_default();
        assert_eq!(Packet::peek_flags(&bytes), Some(Flags::SYNCHRONIZE));
        assert_eq!(Packet::peek_flags(&bytes[..40]), None);
    }

    #[test]
    fn rejects_option_size_beyond_packet() {
        let bytes = hex("00000001 00000002 00000000 00000000 00 00 0040 0003 0000");
        assert_eq!(
            Packet::decode(&bytes),
            Err(DecodeError::OptionSizeBeyondPacket {
                declared: 3,
                available: 2
            })
        );
    }

    #[test]
    fn rejects_option_bytes_no_flag_claims() {
        let bytes = hex("00000001 00000002 00000000 00000000 00 00 0000 0002 ffff");
        assert_eq!(
            Packet::decode(&bytes),
            Err(DecodeError::TrailingOptionData(2))
        );
    }

    #[test]
    fn rejects_truncated_nack_list() {
        let bytes = hex("00000001 00000002 00000000 00000005 02 00000001 0000");
        assert_eq!(Packet::decode(&bytes), Err(DecodeError::Truncated("NACKs")));
    }

    #[test]
    fn rejects_delay_flag_without_option() {
        let bytes = hex("00000001 00000002 00000000 00000000 00 00 0040 0000");
        assert_eq!(
            Packet::decode(&bytes),
            Err(DecodeError::OptionsTruncated("delay"))
        );
    }

    #[test]
    fn decodes_choke_and_ack_now() {
        let choke = hex("00000001 00000002 00000000 00000007 00 00 0040 0002 ea60");
        let p = Packet::decode(&choke).unwrap_or_default();
        assert_eq!(p.delay_requested, Some(60000));
        assert!(p.is_choke(), "i2pd's 60000 is a choke");
        let now = hex("00000001 00000002 00000003 00000007 00 00 0040 0002 0000 41");
        let p = Packet::decode(&now).unwrap_or_default();
        assert_eq!(p.delay_requested, Some(0));
        assert!(!p.is_choke());
        assert_eq!(p.payload, b"A");
    }

    #[test]
    fn wire_flags_follow_options() {
        let p = Packet {
            flags: Flags::SYNCHRONIZE | Flags::FROM_INCLUDED,
            max_packet_size: Some(1730),
            delay_requested: Some(5),
            ..Packet::default()
        };
        assert_eq!(
            p.wire_flags(),
            Flags::SYNCHRONIZE | Flags::MAX_PACKET_SIZE_INCLUDED | Flags::DELAY_REQUESTED
        );
    }

    #[test]
    fn refuses_too_many_nacks() {
        let p = Packet {
            nacks: vec![1; 256],
            ..Packet::default()
        };
        assert_eq!(p.encode(), Err(EncodeError::TooManyNacks(256)));
    }

    #[test]
    fn target_hash_round_trips_through_nacks() {
        let hash: [u8; 32] = core::array::from_fn(|i| i as u8 * 7);
        let p = Packet {
            flags: Flags::SYNCHRONIZE,
            nacks: Packet::nacks_for_hash(&hash),
            ..Packet::default()
        };
        assert_eq!(p.syn_target_hash(), Some(hash));
    }

    #[test]
    fn decodes_offline_signature_block_without_from() {
        // CLOSE with OFFLINE_SIGNATURE: expires, type 7, 32-byte key, 64-byte block signature,
        // then the 64-byte packet signature.
        let mut b = hex("00000001 00000002 00000003 00000000 00 00 080a");
        let opt_len: u16 = 4 + 2 + 32 + 64 + 64;
        b.extend_from_slice(&opt_len.to_be_bytes());
        b.extend_from_slice(&hex("5f000000 0007"));
        b.extend(std::iter::repeat_n(1u8, 32));
        b.extend(std::iter::repeat_n(2u8, 64));
        b.extend(std::iter::repeat_n(3u8, 64));
        let p = Packet::decode(&b).unwrap_or_default();
        let off = p.offline_signature.clone().unwrap_or(OfflineSignature {
            expires: 0,
            transient_sig_type: 0,
            transient_key: vec![],
            signature: vec![],
        });
        assert_eq!(off.transient_sig_type, 7);
        assert_eq!(off.transient_key, vec![1; 32]);
        assert_eq!(off.signature, vec![2; 64]);
        assert_eq!(p.signature, Some(vec![3; 64]));
        assert_eq!(p.encode(), Ok(b));
    }

    #[test]
    fn refuses_unknown_offline_key_type() {
        let mut b = hex("00000001 00000002 00000003 00000000 00 00 0800");
        b.extend_from_slice(&6u16.to_be_bytes());
        b.extend_from_slice(&hex("5f000000 0004"));
        assert_eq!(
            Packet::decode(&b),
            Err(DecodeError::UnsupportedOfflineKeyType(4))
        );
    }

    fn arb_packet_without_from() -> impl Strategy<Value = Packet> {
        (
            (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()),
            proptest::collection::vec(any::<u32>(), 0..20),
            any::<u8>(),
            any::<u16>(),
            (
                proptest::option::of(any::<u16>()),
                proptest::option::of(any::<u16>()),
                proptest::option::of(proptest::collection::vec(any::<u8>(), 1..80)),
            ),
            proptest::collection::vec(any::<u8>(), 0..300),
        )
            .prop_map(|(ids, nacks, resend_delay, flags, opts, payload)| {
                let mut flags = Flags(flags);
                flags.remove(Flags::OPTION_BITS);
                let mut p = Packet {
                    send_stream_id: ids.0,
                    receive_stream_id: ids.1,
                    seq: ids.2,
                    ack_through: ids.3,
                    nacks,
                    resend_delay,
                    flags,
                    delay_requested: opts.0,
                    max_packet_size: opts.1,
                    signature: opts.2,
                    payload,
                    ..Packet::default()
                };
                p.flags = p.wire_flags();
                p
            })
    }

    fn keys() -> PrivateKeys {
        PrivateKeys::generate(7, 4).expect("keys")
    }

    fn signed_syn(keys: &PrivateKeys) -> (Packet, Vec<u8>) {
        let mut p = Packet {
            receive_stream_id: 77,
            nacks: Packet::nacks_for_hash(&[9; 32]),
            resend_delay: 9,
            flags: Flags::SYNCHRONIZE | Flags::NO_ACK,
            from: Some(keys.destination().clone()),
            max_packet_size: Some(1730),
            payload: b"hello".to_vec(),
            ..Packet::default()
        };
        let bytes = p.sign(keys).expect("sign");
        (p, bytes)
    }

    #[test]
    fn signed_syn_round_trips_and_verifies() {
        let k = keys();
        let (p, bytes) = signed_syn(&k);
        assert_eq!(bytes.len(), 511 + 5);
        let d = Packet::decode(&bytes).expect("decodes");
        assert_eq!(d, p);
        assert_eq!(d.wire_flags(), Flags(0x04a9));
        assert!(d.verify(k.destination()));
        assert!(!d.verify(keys().destination()), "another key must fail");
        assert_eq!(d.encode().expect("encode"), bytes);
    }

    #[test]
    fn any_flipped_byte_breaks_the_signature_or_the_decode() {
        let k = keys();
        let (_, bytes) = signed_syn(&k);
        for i in (0..bytes.len()).step_by(7) {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            if let Ok(p) = Packet::decode(&b) {
                assert!(!p.verify(k.destination()), "flip at {i} still verifies");
            }
        }
    }

    #[test]
    fn rejects_signature_not_matching_from_type() {
        let k = keys();
        let (_, mut bytes) = signed_syn(&k);
        // Claim one byte fewer of options: the signature becomes 63 bytes.
        let size_at = 17 + 32 + 3;
        bytes[size_at + 1] -= 1;
        assert_eq!(
            Packet::decode(&bytes),
            Err(DecodeError::SignatureLength {
                got: 63,
                expected: 64
            })
        );
    }

    #[test]
    fn rejects_every_truncation_of_signed_syn_options() {
        let k = keys();
        let (p, bytes) = signed_syn(&k);
        for len in 0..bytes.len() - p.payload.len() {
            assert!(
                Packet::decode(&bytes[..len]).is_err(),
                "prefix {len} accepted"
            );
        }
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
            let _ = Packet::decode(&bytes);
        }

        #[test]
        fn decode_never_panics_on_option_soup(
            flags in any::<u16>(),
            options in proptest::collection::vec(any::<u8>(), 0..900),
            payload in proptest::collection::vec(any::<u8>(), 0..50),
        ) {
            let mut b = vec![0u8; 18];
            b.extend_from_slice(&flags.to_be_bytes());
            b.extend_from_slice(&(options.len() as u16).to_be_bytes());
            b.extend_from_slice(&options);
            b.extend_from_slice(&payload);
            if let Ok(p) = Packet::decode(&b) {
                // Whatever decodes re-encodes to the same bytes.
                prop_assert_eq!(p.encode().expect("encode"), b);
            }
        }

        #[test]
        fn round_trips_without_from(p in arb_packet_without_from()) {
            let bytes = p.encode().unwrap_or_default();
            prop_assert_eq!(Packet::decode(&bytes), Ok(p.clone()));
        }

        #[test]
        fn every_strict_prefix_of_header_and_options_fails(p in arb_packet_without_from()) {
            let bytes = p.encode().unwrap_or_default();
            let header_and_options = bytes.len() - p.payload.len();
            for len in 0..header_and_options {
                prop_assert!(Packet::decode(&bytes[..len]).is_err());
            }
        }
    }
}

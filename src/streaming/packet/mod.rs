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
//!
//! Layout: the types and flag helpers here, parsing in `decode.rs`, writing, signing and
//! verifying in `encode.rs` (appending to a caller's buffer: [`Packet::encode_into`],
//! [`Packet::sign_into`]), the codec's unit and property tests in `tests.rs`.

use crate::data::{DataError, Destination};
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
/// What we send to choke: the smallest value every router reads as a choke, and not 61000.
///
/// * Java I2P 2.7.0 (`apps/streaming/java/src/net/i2p/client/streaming/impl/Packet.java`
///   `MIN_DELAY_CHOKE` = 60001; `ConnectionPacketHandler.java` chokes when
///   `getOptionalDelay() >= MIN_DELAY_CHOKE`): 60001 is a choke.
/// * i2pd 2.51 to 2.59 (`libi2pd/Streaming.cpp` `Stream::ProcessOptions`): any value
///   `>= DELAY_CHOKING` (60000) is a choke; 65535 is a second kind (`m_IsClientChoked2`).
///   From 2.58 on, exactly 61000 (`DELAY_CHOKING_JAVA`, what Java sends) also marks the
///   peer as Java I2P: the stream's window is capped at 64 packets and the whole routing
///   session (every stream between the two destinations) is marked `SetIsWithJava`, so
///   our old 61000 capped all of that server's streams to us.
/// * i2pd 2.45.1 (Debian 12) reads the delay only as an ACK delay and has no choke at all,
///   whatever the value.
pub const DELAY_CHOKE_SEND: u16 = 60001;

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

mod decode;
mod encode;

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
mod tests;

//! Parsing untrusted bytes into a [`Packet`] (Streaming Protocol Specification, "Packet
//! Format" and "Flags and Option Data Fields"; docs/streaming.md "Packet layout").

use super::{DecodeError, Flags, OfflineSignature, Packet, sig_type_lengths};
use crate::data::Destination;

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
}

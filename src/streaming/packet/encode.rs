//! Writing a [`Packet`] to wire bytes, signing and verifying (Streaming Protocol
//! Specification, "Packet Format" and "Flags and Option Data Fields"; docs/streaming.md
//! "Packet layout" and "Signatures").
//!
//! Everything writes by appending to a buffer the caller owns, so a sender that reuses one
//! buffer allocates nothing per packet (the quinn-proto `poll_transmit` pattern).

use super::{EncodeError, MAX_NACKS, MIN_HEADER_LEN, Packet};
use crate::data::{Destination, PrivateKeys};

impl Packet {
    /// Encode to wire bytes.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Append the wire bytes to `out`. On error nothing is appended.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.encode_inner(out, false).map(|_| ())
    }

    /// Sign with `keys` and return the wire bytes: the signature covers the whole packet with
    /// the signature slot zeroed (docs/streaming.md "Signatures"). Also stores the signature in
    /// `self`.
    pub fn sign(&mut self, keys: &PrivateKeys) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.sign_into(keys, &mut out)?;
        Ok(out)
    }

    /// [`Packet::sign`], appending the wire bytes to `out`. On error nothing is appended.
    pub fn sign_into(&mut self, keys: &PrivateKeys, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let sig_len = keys.destination().signature_len();
        self.signature = Some(vec![0; sig_len]);
        self.flags = self.wire_flags();
        let start = out.len();
        let offset = self.encode_inner(out, true)?;
        let sig = match out.get(start..) {
            Some(bytes) => keys.sign(bytes),
            None => Vec::new(),
        };
        if let Some(slot) = offset.and_then(|o| out.get_mut(o..o + sig_len))
            && slot.len() == sig.len()
        {
            slot.copy_from_slice(&sig);
        }
        self.signature = Some(sig);
        Ok(())
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
        let mut bytes = Vec::with_capacity(self.encoded_len());
        match self.encode_inner(&mut bytes, true) {
            Ok(_) => signer.verify(&bytes, sig),
            Err(_) => false,
        }
    }

    /// Bytes `encode` produces.
    fn encoded_len(&self) -> usize {
        MIN_HEADER_LEN
            + 4 * self.nacks.len()
            + self.options_len_without_signature()
            + self.signature.as_ref().map_or(0, Vec::len)
            + self.payload.len()
    }

    /// Append the packet; with `zero_signature` the signature slot is written as zeros.
    /// Returns the signature's offset in `out`. Checks everything before appending anything.
    fn encode_inner(
        &self,
        out: &mut Vec<u8>,
        zero_signature: bool,
    ) -> Result<Option<usize>, EncodeError> {
        if self.nacks.len() > MAX_NACKS {
            return Err(EncodeError::TooManyNacks(self.nacks.len()));
        }
        let sig_len = self.signature.as_ref().map_or(0, Vec::len);
        let option_size = self.options_len_without_signature() + sig_len;
        let option_size16 =
            u16::try_from(option_size).map_err(|_| EncodeError::OptionsTooLong(option_size))?;
        let nack_count = u8::try_from(self.nacks.len())
            .map_err(|_| EncodeError::TooManyNacks(self.nacks.len()))?;

        out.reserve(self.encoded_len());
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
        self.write_options_without_signature(out);
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
        Ok(sig_offset)
    }

    fn options_len_without_signature(&self) -> usize {
        let delay = self.delay_requested.map_or(0, |_| 2);
        let from = self.from.as_ref().map_or(0, |f| f.as_bytes().len());
        let size = self.max_packet_size.map_or(0, |_| 2);
        let offline = self
            .offline_signature
            .as_ref()
            .map_or(0, |o| 6 + o.transient_key.len() + o.signature.len());
        delay + from + size + offline
    }

    /// Options in the order of the spec's "Flags and Option Data Fields" table.
    fn write_options_without_signature(&self, out: &mut Vec<u8>) {
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
    }
}

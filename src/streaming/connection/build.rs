//! Turning the connection's state into wire bytes: SYN, SYN-ACK, data, CLOSE, RESET and the
//! plain ACK (Streaming Protocol Specification, "Packet Format" and "Flags and Option Data
//! Fields"; the exact bytes i2pd sends are in docs/streaming.md "What i2pd sends").
//!
//! Each builder appends one packet to `out`, a buffer the caller owns and reuses, and
//! returns false (appending nothing) if the packet cannot be encoded.

use super::ack::ack_fields;
use super::{Connection, Role};
use crate::streaming::packet::{
    DELAY_ACK_NOW, DELAY_CHOKE_SEND, EncodeError, Flags, MIN_HEADER_LEN, Packet,
};
use crate::streaming::send_buffer::SentKind;
use tracing::warn;

/// resendDelay written in SYN and SYN-ACK: i2pd writes its initial RTO (9 s) there; the field
/// is informational (docs/streaming.md "Packet layout").
const SYN_RESEND_DELAY: u8 = 9;

impl Connection {
    /// A SYN, data packet or CLOSE with sequence number `seq`.
    pub(super) fn build_sequenced(
        &self,
        kind: SentKind,
        seq: u32,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> bool {
        match kind {
            SentKind::Syn => self.build_syn(payload, out),
            SentKind::Data => self.build_data(seq, payload, out),
            SentKind::Close => self.build_close(seq, out),
        }
    }

    /// Header with our ids, `seq` and the current ACK fields (NO_ACK while we know nothing to
    /// acknowledge or cannot address the peer yet).
    fn base_packet(&self, seq: u32) -> Packet {
        let mut p = Packet {
            send_stream_id: self.remote_id,
            receive_stream_id: self.local_id,
            seq,
            ..Packet::default()
        };
        match ack_fields(&self.recv, self.remote_id) {
            Some((ack_through, nacks)) => {
                p.ack_through = ack_through;
                p.nacks = nacks;
            }
            None => p.flags.insert(Flags::NO_ACK),
        }
        if self.choking {
            p.delay_requested = Some(DELAY_CHOKE_SEND);
        }
        p
    }

    fn resend_delay_secs(&self) -> u8 {
        u8::try_from(self.rtt.rto().as_secs()).unwrap_or(u8::MAX)
    }

    /// Initiator SYN like i2pd HEAD (docs/streaming.md "What i2pd sends"): sendStreamId 0, the
    /// target hash in 8 NACK slots (spec "Protocol Versions", 0.9.58), NO_ACK, FROM,
    /// MAX_PACKET_SIZE, signed → flags 0x04A9. Responder SYN-ACK: the initiator's id, ACK of
    /// its SYN, FROM, MAX_PACKET_SIZE, signed.
    fn build_syn(&self, payload: &[u8], out: &mut Vec<u8>) -> bool {
        let mut p = match self.role {
            Role::Initiator => Packet {
                receive_stream_id: self.local_id,
                nacks: Packet::nacks_for_hash(&self.remote.hash()),
                flags: Flags::NO_ACK,
                ..Packet::default()
            },
            Role::Responder => self.base_packet(0),
        };
        p.flags.insert(Flags::SYNCHRONIZE);
        p.resend_delay = SYN_RESEND_DELAY;
        p.from = Some(self.keys.destination().clone());
        p.max_packet_size = Some(u16::try_from(self.mtu).unwrap_or(u16::MAX));
        // The signature covers the payload, so it goes into the packet (once per stream).
        p.payload = payload.to_vec();
        self.sign(p, out)
    }

    /// Unsigned data: the payload is the packet's tail, so it is appended straight from the
    /// send buffer instead of being copied into a `Packet` first.
    fn build_data(&self, seq: u32, payload: &[u8], out: &mut Vec<u8>) -> bool {
        let mut p = self.base_packet(seq);
        p.resend_delay = self.resend_delay_secs();
        // The packet that drains our buffer asks for an immediate ACK so the tail is not held
        // up by the peer's delayed-ACK timer.
        if p.delay_requested.is_none() && self.send.unsent_len() == 0 {
            p.delay_requested = Some(DELAY_ACK_NOW);
        }
        // One allocation at most for header and payload together (DELAY_REQUESTED: 2 bytes).
        out.reserve(MIN_HEADER_LEN + 4 * p.nacks.len() + 2 + payload.len());
        if !self.encode(&p, out) {
            return false;
        }
        out.extend_from_slice(payload);
        true
    }

    /// CLOSE: next seq, ACK fields, signed; 86 bytes for Ed25519 (docs/streaming.md "What i2pd
    /// sends").
    fn build_close(&self, seq: u32, out: &mut Vec<u8>) -> bool {
        let mut p = self.base_packet(seq);
        p.flags.insert(Flags::CLOSE);
        self.sign(p, out)
    }

    /// RESET: signed, with the next seq (i2pd only acts on an in-order RESET).
    pub(super) fn build_reset(&self, out: &mut Vec<u8>) -> bool {
        let mut p = self.base_packet(self.next_seq);
        p.flags.insert(Flags::RESET);
        self.sign(p, out)
    }

    /// Plain ACK: seq 0, 22 bytes plus NACKs (docs/streaming.md "What i2pd sends").
    pub(super) fn build_ack(&self, out: &mut Vec<u8>) -> bool {
        if self.remote_id == 0 {
            return false;
        }
        let mut p = self.base_packet(0);
        if p.flags.contains(Flags::NO_ACK) {
            return false;
        }
        if self.ack.wants_window_update() && p.delay_requested.is_none() {
            p.delay_requested = Some(DELAY_ACK_NOW);
        }
        self.encode(&p, out)
    }

    fn sign(&self, mut p: Packet, out: &mut Vec<u8>) -> bool {
        let result = p.sign_into(&self.keys, out);
        self.encoded(result)
    }

    fn encode(&self, p: &Packet, out: &mut Vec<u8>) -> bool {
        self.encoded(p.encode_into(out))
    }

    fn encoded(&self, result: Result<(), EncodeError>) -> bool {
        match result {
            Ok(()) => true,
            Err(e) => {
                warn!(id = self.local_id, "cannot encode packet: {e}");
                false
            }
        }
    }
}

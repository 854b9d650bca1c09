//! The receive path: the SYN-ACK, the peer's options, in-sequence delivery and our choke.

use super::{Connection, Event, MIN_PEER_MTU, State};
use crate::streaming::packet::{DELAY_ACK_NOW, Flags, Packet};
use crate::streaming::recv_buffer::Insert;
use crate::streaming::timer::Timer;
use std::time::Instant;
use tracing::debug;

impl Connection {
    /// SYN/SYN-ACK/CLOSE must be signed by the peer and any FROM must be the peer
    /// (docs/streaming.md "Signatures"; Java checks the SYN-ACK's FROM too).
    pub(super) fn verify_from_peer(&self, packet: &Packet) -> bool {
        packet.from.as_ref().is_none_or(|from| *from == self.remote) && packet.verify(&self.remote)
    }

    /// A verified SYN-ACK (initiator): the peer's id is known.
    pub(super) fn on_syn_ack(&mut self, now: Instant, packet: &Packet) {
        self.remote_id = packet.receive_stream_id;
        self.mark_connected();
        self.adopt_peer_mtu(packet);
        self.events.push_back(Event::Connected);
        debug!(id = self.local_id, remote_id = self.remote_id, "connected");
        if packet.flags.contains(Flags::NO_ACK) {
            // A verified SYN-ACK proves our SYN arrived even if it does not say so.
            self.process_ack(now, 0, &[]);
        }
    }

    fn mark_connected(&mut self) {
        match &mut self.state {
            State::Open { handshake, .. } => *handshake = handshake.on_peer_syn(),
            State::Finishing { connected } | State::ResetPending { connected } => {
                *connected = true;
            }
            State::Closed { .. } => {}
        }
    }

    pub(super) fn adopt_peer_mtu(&mut self, packet: &Packet) {
        if let Some(size) = packet.max_packet_size {
            self.peer_mtu = usize::from(size).max(MIN_PEER_MTU);
        }
    }

    /// (Re)start the keepalive clock: on every packet from the peer and every probe.
    pub(super) fn touch_keepalive(&mut self, now: Instant) {
        if let Some(after) = self.keepalive {
            self.timers.set(Timer::Keepalive, now + after);
        }
    }

    /// A probe is useful only on an open stream with nothing in flight: otherwise the
    /// retransmission timer already watches the peer, and a closing stream has its linger.
    pub(super) fn wants_keepalive(&self) -> bool {
        self.state
            .handshake()
            .is_some_and(super::state::Handshake::connected)
            && self.state.is_writable()
            && !self.recv.is_finished()
            && self.send.in_flight().is_empty()
            && self.send.unsent_len() == 0
    }

    pub(super) fn touch_idle(&mut self, now: Instant) {
        if let Some(idle) = self.idle_timeout {
            self.timers.set(Timer::Idle, now + idle);
        }
    }

    /// DELAY_REQUESTED: 0 asks for an ACK now, ≥ 60000 chokes us (i2pd's reading,
    /// docs/streaming.md "What i2pd sends"); any ACK without a choke value unchokes (i2pd chokes
    /// one ACK at a time, Java repeats the choke in every ACK while its buffer is full).
    pub(super) fn process_delay_option(&mut self, packet: &Packet) {
        match packet.delay_requested {
            Some(_) if packet.is_choke() => {
                if !self.peer_choked {
                    debug!(id = self.local_id, "peer choked us");
                }
                self.peer_choked = true;
                // The peer is alive and answering: waiting on it is not a failure.
                self.consecutive_timeouts = 0;
            }
            Some(delay) => {
                self.peer_choked = false;
                if delay == DELAY_ACK_NOW && self.recv.ack_info().is_some() {
                    self.ack.ack_now();
                }
            }
            None => {
                if !packet.flags.contains(Flags::NO_ACK) {
                    self.peer_choked = false;
                }
            }
        }
    }

    pub(super) fn process_sequenced(&mut self, now: Instant, packet: &Packet) {
        let close = packet.flags.contains(Flags::CLOSE);
        let was_empty = self.recv.readable_len() == 0;
        let was_finished = self.recv.is_finished();
        match self.recv.insert(packet.seq, &packet.payload, close) {
            Insert::InOrder { delivered } => {
                if delivered > 0 && was_empty {
                    self.events.push_back(Event::Readable);
                }
                // Only an in-order insert can reach the peer's CLOSE, so this reports it once.
                if self.recv.is_finished() && !was_finished {
                    self.events.push_back(Event::Finished);
                    debug!(id = self.local_id, "peer closed");
                }
                let srtt = self.rtt.smoothed_or_initial();
                self.ack.on_in_order(&mut self.timers, now, srtt);
            }
            Insert::OutOfOrder => {
                self.stats.out_of_order += 1;
                // Tell the peer about the hole at once (NACKs), like i2pd's quick ACK.
                self.ack.ack_now();
            }
            Insert::Duplicate => {
                self.stats.duplicates += 1;
                self.ack.ack_now();
            }
            Insert::AfterClose => {
                // docs/streaming.md "What i2pd sends", duplicate CLOSE: i2pd may send a second
                // CLOSE with seq+1; nothing follows a CLOSE, so it gets no answer.
                self.stats.duplicates += 1;
            }
            Insert::Dropped => {
                self.stats.dropped += 1;
                self.ack.ack_now();
            }
        }
        self.update_choke();
    }

    /// Choke the peer when 3/4 of the receive buffer is unread; unchoke (and say so at once)
    /// when half is free again.
    pub(super) fn update_choke(&mut self) {
        let cap = self.recv.capacity();
        let free = self.recv.free();
        if !self.choking && free < cap / 4 {
            self.choking = true;
            self.ack.ack_now();
            debug!(id = self.local_id, "choking peer");
        } else if self.choking && free >= cap / 2 {
            self.choking = false;
            self.ack.window_opened();
            debug!(id = self.local_id, "unchoking peer");
        }
    }
}

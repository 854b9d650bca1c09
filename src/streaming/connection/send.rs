//! The send path: what may leave now (window, choke, pacing) and in which order
//! (retransmissions, then the SYN, new data, a keepalive probe, our CLOSE).

use super::Connection;
use super::state::SendHalf;
use crate::streaming::congestion::Controller;
use crate::streaming::pacing;
use crate::streaming::send_buffer::SentKind;
use crate::streaming::timer::Timer;
use std::time::Instant;
use tracing::trace;

impl Connection {
    fn window(&self) -> usize {
        let w = if self.peer_choked {
            1
        } else {
            self.cc.window().min(self.max_window)
        };
        w as usize
    }

    fn can_send(&self) -> bool {
        self.send.pipe() < self.window()
    }

    /// The pacing rate in packets per second (`None`: unpaced, before an RTT sample).
    fn pacing_rate(&self) -> Option<f64> {
        let window = u32::try_from(self.window()).unwrap_or(u32::MAX);
        pacing::rate(window, self.rtt.smoothed(), self.cc.in_slow_start())
    }

    /// True when the pacer lets a data packet or retransmission leave now; otherwise the
    /// pacing timer is armed for when it will.
    fn pacer_allows(&mut self, now: Instant) -> bool {
        let rate = self.pacing_rate();
        if self.pacer.can_send(now, rate) {
            return true;
        }
        if let Some(at) = self.pacer.next_ready(now) {
            self.timers.set(Timer::Pacing, at);
        }
        false
    }

    /// A packet the peer has not acknowledged and we think lost, appended to `out`.
    pub(super) fn poll_retransmit(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        if !self.can_send() {
            return false;
        }
        let Some(seq) = self.send.first_lost() else {
            return false;
        };
        if !self.pacer_allows(now) {
            return false;
        }
        self.pacer.on_sent(now);
        let Some(p) = self.send.get_mut(seq) else {
            return false;
        };
        p.lost = false;
        p.transmissions += 1;
        p.last_sent = now;
        let kind = p.kind;
        self.stats.retransmits += 1;
        trace!(id = self.local_id, seq, "retransmit");
        // Built straight from the send buffer: no copy of the payload.
        let sent = match self.send.in_flight().get(&seq) {
            Some(p) => self.build_sequenced(kind, seq, &p.payload, out),
            None => false,
        };
        self.on_sequenced_built(sent);
        self.arm_retransmit(now);
        sent
    }

    /// The next new sequenced packet, appended to `out`.
    pub(super) fn poll_new_packet(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        if !self.can_send() {
            return false;
        }
        let Some(handshake) = self.state.handshake() else {
            // Finishing: both CLOSEs are done, only retransmissions and the last ACK remain.
            return false;
        };
        if !handshake.syn_sent() {
            let payload = self.send.take_payload(self.mtu);
            self.set_handshake(handshake.on_syn_sent());
            return self.emit_sequenced(now, SentKind::Syn, payload, out);
        }
        if self.hold_for_answer && !self.state.is_connected() {
            return false;
        }
        if self.send.unsent_len() > 0 {
            if !self.pacer_allows(now) {
                return false;
            }
            self.pacer.on_sent(now);
            let payload = self.send.take_payload(self.mtu.min(self.peer_mtu));
            return self.emit_sequenced(now, SentKind::Data, payload, out);
        }
        if std::mem::take(&mut self.keepalive_due) && self.wants_keepalive() {
            // Empty, but sequenced: the peer must ACK it (i2pd and Java accept it).
            trace!(id = self.local_id, "keepalive probe");
            return self.emit_sequenced(now, SentKind::Data, Vec::new(), out);
        }
        // docs/streaming.md "What i2pd sends": CLOSE only after all our data is ACKed.
        if self.state.send_half() == Some(SendHalf::Shutdown) && self.send.in_flight().is_empty() {
            self.set_send_half(SendHalf::CloseSent { seq: self.next_seq });
            let sent = self.emit_sequenced(now, SentKind::Close, Vec::new(), out);
            self.check_close_progress(now);
            return sent;
        }
        false
    }

    fn emit_sequenced(
        &mut self,
        now: Instant,
        kind: SentKind,
        payload: Vec<u8>,
        out: &mut Vec<u8>,
    ) -> bool {
        let seq = self.next_seq;
        let Some(next) = self.next_seq.checked_add(1) else {
            return false;
        };
        self.next_seq = next;
        let sent = self.build_sequenced(kind, seq, &payload, out);
        self.on_sequenced_built(sent);
        self.send.on_sent(seq, kind, payload, now);
        self.arm_retransmit(now);
        sent
    }

    /// Every sequenced packet after the first carries our ACK state.
    fn on_sequenced_built(&mut self, sent: bool) {
        if sent && self.remote_id != 0 {
            self.ack.on_sent(&mut self.timers);
        }
    }

    fn arm_retransmit(&mut self, now: Instant) {
        if self.timers.get(Timer::Retransmit).is_none() {
            self.timers.set(Timer::Retransmit, now + self.rtt.rto());
        }
    }
}

//! What the peer's ACKs tell us: RTT samples, the congestion window, losses, and the
//! retransmission timeout (ackThrough and NACKs as in the Streaming Protocol Specification,
//! "Packet Format"; the loss rules are explained per function).

use super::Connection;
use super::state::{SendHalf, State};
use super::{CloseReason, Event};
use crate::streaming::congestion::Controller;
use crate::streaming::send_buffer::SentKind;
use crate::streaming::timer::Timer;
use std::time::Instant;
use tracing::{trace, warn};

impl Connection {
    pub(super) fn process_ack(&mut self, now: Instant, ack_through: u32, nacks: &[u32]) {
        // An ACK beyond anything we sent is ignored, like i2pd does.
        if ack_through >= self.next_seq {
            return;
        }
        let acked: Vec<u32> = self
            .send
            .in_flight()
            .range(..=ack_through)
            .map(|(seq, _)| *seq)
            .filter(|seq| !nacks.contains(seq))
            .collect();
        let mut count = 0u32;
        let mut sample = None;
        for seq in acked {
            let Some(p) = self.send.on_acked(seq) else {
                continue;
            };
            count += 1;
            // Karn: only packets sent once give an RTT sample.
            if p.transmissions == 1 {
                sample = Some(now.saturating_duration_since(p.last_sent));
            }
            self.latest_delivered_sent = Some(
                self.latest_delivered_sent
                    .map_or(p.last_sent, |t| t.max(p.last_sent)),
            );
            if p.kind == SentKind::Close {
                self.on_close_acked();
            }
        }
        if count > 0 {
            if let Some(rtt) = sample {
                self.rtt.on_sample(rtt);
            }
            self.rtt.reset_backoff();
            self.consecutive_timeouts = 0;
            self.cc.on_ack(count);
            if self.send.in_flight().is_empty() {
                self.timers.stop(Timer::Retransmit);
            } else {
                self.timers.set(Timer::Retransmit, now + self.rtt.rto());
            }
            if self.timers.get(Timer::Linger).is_some() {
                self.arm_linger(now);
            }
            if self.write_blocked && self.send.free() > 0 && self.is_writable() {
                self.write_blocked = false;
                self.events.push_back(Event::Writable);
            }
        }
        self.detect_losses();
    }

    fn on_close_acked(&mut self) {
        if let State::Open { send, .. } = &mut self.state
            && matches!(send, SendHalf::CloseSent { .. })
        {
            *send = SendHalf::CloseAcked;
        }
    }

    /// Fast retransmit, time-based (RFC 8985 RACK): an unacknowledged packet is lost once a
    /// packet sent more than a reorder window (RTT/4) after it has been delivered. The NACKs
    /// keep the holes out of the acknowledged set, so a NACKed packet is retransmitted on
    /// the first ACK that covers a later burst — typically one RTT after its loss, without
    /// waiting for the RTO. A NACK count threshold (TCP's three duplicate ACKs) was tried
    /// and dropped: the simulation's reordering made it retransmit spuriously, halving the
    /// window each time. This also recovers tail losses that no NACK will ever name.
    fn detect_losses(&mut self) {
        let Some(latest) = self.latest_delivered_sent else {
            return;
        };
        let reorder_window = self.rtt.smoothed_or_initial() / 4;
        let next_seq = self.next_seq;
        let mut lost = Vec::new();
        for (&seq, p) in self.send.in_flight_mut() {
            if p.lost {
                continue;
            }
            if p.last_sent + reorder_window < latest {
                p.lost = true;
                lost.push((seq, p.transmissions));
            }
        }
        for (seq, transmissions) in lost {
            trace!(id = self.local_id, seq, "packet lost");
            self.cc.on_loss(seq, next_seq);
            if transmissions > self.max_resends {
                warn!(id = self.local_id, seq, "packet lost too often, giving up");
                self.finish(CloseReason::TimedOut);
                return;
            }
        }
    }

    pub(super) fn on_retransmit_timeout(&mut self, now: Instant) {
        self.timers.stop(Timer::Retransmit);
        if self.send.in_flight().is_empty() {
            return;
        }
        self.stats.timeouts += 1;
        self.consecutive_timeouts += 1;
        if self.consecutive_timeouts > self.max_resends {
            warn!(
                id = self.local_id,
                "no ACK after {} timeouts, giving up", self.max_resends
            );
            self.finish(CloseReason::TimedOut);
            return;
        }
        self.rtt.on_timeout();
        self.cc.on_timeout(self.next_seq);
        // Everything outstanding goes again as the (collapsed) window allows; the first ACK
        // skips whatever the peer already holds.
        for (_, p) in self.send.in_flight_mut() {
            p.lost = true;
        }
        self.timers.set(Timer::Retransmit, now + self.rtt.rto());
    }
}

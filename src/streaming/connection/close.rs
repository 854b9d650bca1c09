//! Closing bookkeeping: when both directions are done, how long to linger for the last
//! ACK, and the single place a stream ends (docs/streaming.md "What i2pd sends", CLOSE;
//! the diagram in the `connection` module documentation).

use super::state::{Handshake, SendHalf, State};
use super::{CloseReason, Connection, Event};
use crate::streaming::congestion::Controller;
use crate::streaming::timer::Timer;
use std::time::Instant;
use tracing::debug;

impl Connection {
    pub(super) fn check_close_progress(&mut self, now: Instant) {
        let State::Open {
            send, read_closed, ..
        } = self.state
        else {
            return;
        };
        let read_done = self.recv.is_finished();
        let write_done = send == SendHalf::CloseAcked;
        if read_done && write_done {
            // Both CLOSEs done: ACK theirs if not yet, then forget the stream. Anything
            // that still arrives (i2pd's duplicate CLOSE) is ignored.
            let connected = self.state.is_connected();
            self.state = State::Finishing { connected };
            if !self.ack.flush() {
                self.finish(CloseReason::Normal);
            }
            return;
        }
        // Our CLOSE went out (so all our data was ACKed) and the peer is done, or the
        // application wants nothing more and the peer has our CLOSE: only then is waiting
        // bounded by the linger time rather than by the retransmission limit.
        let linger = (read_done && send.close_sent()) || (read_closed && write_done);
        if linger && self.timers.get(Timer::Linger).is_none() {
            self.arm_linger(now);
        }
    }

    /// How long to wait for the last ACK once our CLOSE is out and the peer is done (i2pd
    /// forgets a stream once its CLOSE is ACKed, so our CLOSE may never be ACKed); counted
    /// from the peer's last sign of progress.
    pub(super) fn arm_linger(&mut self, now: Instant) {
        let wait = self.close_linger.max(self.rtt.rto() * 3);
        self.timers.set(Timer::Linger, now + wait);
    }

    /// The one way into `Closed`.
    pub(super) fn finish(&mut self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        debug!(
            id = self.local_id,
            ?reason,
            stats = ?self.stats,
            cwnd = self.cc.window(),
            srtt = ?self.rtt.smoothed(),
            "stream closed"
        );
        let connected = self.state.is_connected();
        self.state = State::Closed { reason, connected };
        self.timers.clear();
        self.send.clear();
        self.events.push_back(Event::Closed(reason));
    }

    pub(super) fn set_handshake(&mut self, next: Handshake) {
        if let State::Open { handshake, .. } = &mut self.state {
            *handshake = next;
        }
    }

    pub(super) fn set_send_half(&mut self, next: SendHalf) {
        if let State::Open { send, .. } = &mut self.state {
            *send = next;
        }
    }
}

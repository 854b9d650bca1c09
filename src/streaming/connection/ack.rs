//! When we acknowledge: the delayed-ACK timer, the "ACK now" triggers, the window update
//! after a choke, and what an ACK says (ackThrough and the NACK list).
//!
//! The fields are the Streaming Protocol Specification's ("Packet Format": ackThrough,
//! NACKs; "Flags and Option Data Fields": DELAY_REQUESTED, NO_ACK); the timing follows
//! i2pd (docs/streaming.md "What i2pd sends", plain ACK and delayed ACK). Every sequenced
//! packet we send after the first carries the same fields, so any packet out counts as an
//! ACK sent.

use crate::streaming::recv_buffer::RecvBuffer;
use crate::streaming::timer::{Timer, TimerTable};
use std::time::{Duration, Instant};

/// Received in-order packets after which we ACK without waiting for the delayed-ACK timer
/// (TCP ACKs every second segment; i2pd's RTO is 1.5 × RTT on fast paths, so a timer-only
/// ACK makes it resend packets we already have: docs/streaming.md "What i2pd sends", plain ACK).
const ACK_EVERY_PACKETS: u32 = 4;

/// The ACK a stream owes its peer.
#[derive(Debug)]
pub(super) struct AckScheduler {
    /// Something arrived that no ACK of ours has covered yet.
    pending: bool,
    /// Send the pending ACK without waiting for the timer.
    urgent: bool,
    /// In-order packets received since our last ACK went out.
    unacked_packets: u32,
    /// Next ACK tells the peer we have room again (DELAY_REQUESTED 0 instead of nothing).
    window_update: bool,
    /// Upper bound of the delayed-ACK wait.
    max_delay: Duration,
}

impl AckScheduler {
    pub(super) fn new(max_delay: Duration) -> AckScheduler {
        AckScheduler {
            pending: false,
            urgent: false,
            unacked_packets: 0,
            window_update: false,
            max_delay,
        }
    }

    /// An ACK is owed (now or when the timer fires).
    pub(super) fn is_pending(&self) -> bool {
        self.pending
    }

    /// A plain ACK should go out now if nothing else carries it.
    pub(super) fn is_due(&self) -> bool {
        self.pending && self.urgent
    }

    /// The next ACK asks the peer to resume sending.
    pub(super) fn wants_window_update(&self) -> bool {
        self.window_update
    }

    /// ACK at once: a hole, a duplicate, a drop, a choke change, a verified SYN-ACK or the
    /// peer's DELAY_REQUESTED 0.
    pub(super) fn ack_now(&mut self) {
        self.pending = true;
        self.urgent = true;
    }

    /// Our receive buffer has room again after a choke: say so at once.
    pub(super) fn window_opened(&mut self) {
        self.window_update = true;
        self.ack_now();
    }

    /// An in-order packet arrived: ACK every few packets, otherwise after the delay
    /// min(RTT/10, max_ack_delay) (docs/streaming.md "What i2pd sends").
    pub(super) fn on_in_order(&mut self, timers: &mut TimerTable, now: Instant, srtt: Duration) {
        self.pending = true;
        self.unacked_packets += 1;
        if self.unacked_packets >= ACK_EVERY_PACKETS {
            self.urgent = true;
        }
        if timers.get(Timer::Ack).is_none() {
            timers.set(Timer::Ack, now + (srtt / 10).min(self.max_delay));
        }
    }

    /// Run the delayed-ACK timer if it expired.
    pub(super) fn on_timeout(&mut self, timers: &mut TimerTable, now: Instant) {
        if timers.is_expired(Timer::Ack, now) {
            timers.stop(Timer::Ack);
            if self.pending {
                self.urgent = true;
            }
        }
    }

    /// Both directions are done: flush a pending ACK now. False when none is owed.
    pub(super) fn flush(&mut self) -> bool {
        if self.pending {
            self.urgent = true;
        }
        self.pending
    }

    /// A packet carrying our ACK fields went out.
    pub(super) fn on_sent(&mut self, timers: &mut TimerTable) {
        self.unacked_packets = 0;
        self.pending = false;
        self.urgent = false;
        self.window_update = false;
        timers.stop(Timer::Ack);
    }
}

/// ackThrough and the NACKs below it, once anything arrived and the peer can be addressed
/// (`remote_id` 0: its SYN-ACK has not come, so the fields would be meaningless).
pub(super) fn ack_fields(recv: &RecvBuffer, remote_id: u32) -> Option<(u32, Vec<u32>)> {
    recv.ack_info().filter(|_| remote_id != 0)
}

//! Timers as data: one deadline per kind, the connection reports the earliest.

use std::time::Instant;

/// Kinds of timers a connection runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Retransmission timeout for the oldest unacknowledged packet.
    Retransmit,
    /// Delayed ACK: send the pending ACK at this time.
    Ack,
    /// Nothing received for the idle timeout.
    Idle,
    /// Both sides are closing: stop waiting for the last ACK/CLOSE.
    Linger,
    /// Nothing heard for a while on an established stream: probe the peer.
    Keepalive,
    /// The pacer holds back a packet that is ready to go: try again at this time.
    Pacing,
}

/// Deadline per timer kind.
#[derive(Clone, Debug, Default)]
pub struct TimerTable {
    retransmit: Option<Instant>,
    ack: Option<Instant>,
    idle: Option<Instant>,
    linger: Option<Instant>,
    keepalive: Option<Instant>,
    pacing: Option<Instant>,
}

impl TimerTable {
    fn slot(&mut self, timer: Timer) -> &mut Option<Instant> {
        match timer {
            Timer::Retransmit => &mut self.retransmit,
            Timer::Ack => &mut self.ack,
            Timer::Idle => &mut self.idle,
            Timer::Linger => &mut self.linger,
            Timer::Keepalive => &mut self.keepalive,
            Timer::Pacing => &mut self.pacing,
        }
    }

    /// Arm (or re-arm) `timer` for `at`.
    pub fn set(&mut self, timer: Timer, at: Instant) {
        *self.slot(timer) = Some(at);
    }

    /// Disarm `timer`.
    pub fn stop(&mut self, timer: Timer) {
        *self.slot(timer) = None;
    }

    /// Deadline of `timer`, if armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        match timer {
            Timer::Retransmit => self.retransmit,
            Timer::Ack => self.ack,
            Timer::Idle => self.idle,
            Timer::Linger => self.linger,
            Timer::Keepalive => self.keepalive,
            Timer::Pacing => self.pacing,
        }
    }

    /// True when `timer` is armed and due at `now`.
    pub fn is_expired(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    /// Earliest armed deadline.
    pub fn next_timeout(&self) -> Option<Instant> {
        [
            self.retransmit,
            self.ack,
            self.idle,
            self.linger,
            self.keepalive,
            self.pacing,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Disarm everything.
    pub fn clear(&mut self) {
        *self = TimerTable::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_deadline_wins() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        assert_eq!(t.next_timeout(), None);
        t.set(Timer::Idle, t0 + Duration::from_secs(5));
        t.set(Timer::Ack, t0 + Duration::from_millis(5));
        assert_eq!(t.next_timeout(), Some(t0 + Duration::from_millis(5)));
        assert!(t.is_expired(Timer::Ack, t0 + Duration::from_millis(5)));
        assert!(!t.is_expired(Timer::Idle, t0 + Duration::from_millis(5)));
        t.stop(Timer::Ack);
        assert_eq!(t.next_timeout(), Some(t0 + Duration::from_secs(5)));
        t.clear();
        assert_eq!(t.next_timeout(), None);
    }
}

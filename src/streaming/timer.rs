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
}

impl Timer {
    fn index(self) -> usize {
        match self {
            Timer::Retransmit => 0,
            Timer::Ack => 1,
            Timer::Idle => 2,
            Timer::Linger => 3,
        }
    }
}

/// Deadline per timer kind.
#[derive(Clone, Debug, Default)]
pub struct TimerTable {
    deadlines: [Option<Instant>; 4],
}

impl TimerTable {
    /// Arm (or re-arm) `timer` for `at`.
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer.index()] = Some(at);
    }

    /// Disarm `timer`.
    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    /// Deadline of `timer`, if armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    /// True when `timer` is armed and due at `now`.
    pub fn is_expired(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    /// Earliest armed deadline.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Disarm everything.
    pub fn clear(&mut self) {
        self.deadlines = [None; 4];
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

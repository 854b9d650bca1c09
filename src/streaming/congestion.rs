//! Congestion control: a small trait and a NewReno-style controller counted in packets.
//!
//! I2P streaming has no advertised receive window, only the choke signal, so the sender's
//! limit is min(congestion window, configured maximum (`i2p.streaming.maxWindowSize`, 512
//! by default), 1 while choked) — the last two are applied by the connection.

/// What a congestion controller is told and what it answers.
pub trait Controller: std::fmt::Debug + Send {
    /// `packets` were newly acknowledged.
    fn on_ack(&mut self, packets: u32);
    /// Packet `seq` was found lost (NACK or time-based); `next_seq` is the next unsent seq.
    fn on_loss(&mut self, seq: u32, next_seq: u32);
    /// The retransmission timer fired; `next_seq` is the next unsent seq.
    fn on_timeout(&mut self, next_seq: u32);
    /// Current window in packets.
    fn window(&self) -> u32;
    /// True while the window grows by one packet per ACK (it doubles per round trip).
    fn in_slow_start(&self) -> bool;
}

/// Slow start, congestion avoidance (+1 packet per window), halve on loss once per window,
/// collapse to the minimum on timeout.
#[derive(Clone, Debug)]
pub struct NewReno {
    cwnd: u32,
    ssthresh: u32,
    min_window: u32,
    max_window: u32,
    /// Acks counted towards the next +1 in congestion avoidance.
    avoidance_acks: u32,
    /// Losses of packets below this seq belong to the loss episode already reacted to.
    recovery_end: u32,
}

impl NewReno {
    /// Start at `initial` packets, never below `min_window` nor above `max_window`.
    pub fn new(initial: u32, min_window: u32, max_window: u32) -> Self {
        let min_window = min_window.max(1);
        let max_window = max_window.max(min_window);
        NewReno {
            cwnd: initial.clamp(min_window, max_window),
            ssthresh: max_window,
            min_window,
            max_window,
            avoidance_acks: 0,
            recovery_end: 0,
        }
    }

    fn reduce(&mut self, next_seq: u32) -> u32 {
        self.ssthresh = (self.cwnd / 2).max(self.min_window).max(2);
        self.recovery_end = next_seq;
        self.avoidance_acks = 0;
        self.ssthresh
    }
}

impl Controller for NewReno {
    fn on_ack(&mut self, packets: u32) {
        for _ in 0..packets {
            if self.cwnd < self.ssthresh {
                self.cwnd += 1;
            } else {
                self.avoidance_acks += 1;
                if self.avoidance_acks >= self.cwnd {
                    self.avoidance_acks = 0;
                    self.cwnd += 1;
                }
            }
        }
        self.cwnd = self.cwnd.min(self.max_window);
    }

    fn on_loss(&mut self, seq: u32, next_seq: u32) {
        if seq < self.recovery_end {
            return;
        }
        self.cwnd = self.reduce(next_seq).min(self.max_window);
    }

    fn on_timeout(&mut self, next_seq: u32) {
        self.reduce(next_seq);
        self.cwnd = self.min_window;
    }

    fn window(&self) -> u32 {
        self.cwnd
    }

    fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_grows_one_per_ack_up_to_max() {
        let mut c = NewReno::new(10, 1, 128);
        c.on_ack(10);
        assert_eq!(c.window(), 20);
        c.on_ack(1000);
        assert_eq!(c.window(), 128);
    }

    #[test]
    fn loss_halves_once_per_episode() {
        let mut c = NewReno::new(40, 1, 128);
        c.on_loss(5, 50);
        assert_eq!(c.window(), 20);
        c.on_loss(30, 52); // same window of packets: ignored
        assert_eq!(c.window(), 20);
        c.on_loss(50, 80); // a new episode
        assert_eq!(c.window(), 10);
    }

    #[test]
    fn congestion_avoidance_is_linear() {
        let mut c = NewReno::new(40, 1, 128);
        c.on_loss(0, 1); // ssthresh = cwnd = 20
        c.on_ack(20);
        assert_eq!(c.window(), 21);
        c.on_ack(21);
        assert_eq!(c.window(), 22);
    }

    #[test]
    fn timeout_collapses_to_minimum_then_slow_starts() {
        let mut c = NewReno::new(40, 1, 128);
        c.on_timeout(100);
        assert_eq!(c.window(), 1);
        c.on_ack(5);
        assert_eq!(c.window(), 6);
    }
}

//! Pacing: new and retransmitted packets leave at a rate derived from the window and the
//! smoothed RTT, instead of a whole window in one burst that overflows a tunnel hop's queue
//! (the I2P streaming specification leaves the send schedule to the implementation; i2pd
//! 2.56 and later pace too, with a send timer, libi2pd/Streaming.cpp). A token bucket:
//! tokens accrue at the rate, a burst of a few packets is allowed, each packet takes one.

use std::time::{Duration, Instant};

/// Rate = gain × window / smoothed RTT. In slow start the window doubles every round trip,
/// so the rate must allow twice the window (Linux TCP uses the same gains, 2 and 1.2).
const SLOW_START_GAIN: f64 = 2.0;
const AVOIDANCE_GAIN: f64 = 1.25;

/// The bucket holds at least this many packets (an initial window goes out at once) ...
const MIN_BURST: f64 = 10.0;
/// ... or what accrues in this time, so the 1 ms granularity of the runtime's timers never
/// lowers the rate.
const BURST_TIME: Duration = Duration::from_millis(2);

/// Token bucket kept as a time: `next` is when the next packet may leave; each packet
/// moves it one interval (1 / rate) on, and it never lags `now` by more than the burst.
/// Times, not fractional tokens, so a blocked sender always has a wake-up strictly in the
/// future at which it can send.
#[derive(Clone, Debug, Default)]
pub struct Pacer {
    next: Option<Instant>,
    /// Interval and burst of the rate last asked about.
    interval: Duration,
    burst: Duration,
}

/// Packets per second for a window of `window` packets over `srtt`; `None` (unpaced)
/// before the first RTT sample or for a zero RTT.
pub fn rate(window: u32, srtt: Option<Duration>, slow_start: bool) -> Option<f64> {
    let secs = srtt?.as_secs_f64();
    if secs <= 0.0 {
        return None;
    }
    let gain = if slow_start {
        SLOW_START_GAIN
    } else {
        AVOIDANCE_GAIN
    };
    Some(gain * f64::from(window) / secs)
}

impl Pacer {
    /// True when a packet may leave now at `rate` (`None`: unpaced).
    pub fn can_send(&mut self, now: Instant, rate: Option<f64>) -> bool {
        let Some(rate) = rate.filter(|r| r.is_finite() && *r > 0.0) else {
            self.interval = Duration::ZERO;
            return true;
        };
        // At least 1 ns, so every packet moves the clock on.
        self.interval = Duration::from_secs_f64((1.0 / rate).min(1.0)).max(Duration::from_nanos(1));
        // The packet at `next` itself plus MIN_BURST - 1 intervals of credit.
        self.burst = self.interval.mul_f64(MIN_BURST - 1.0).max(BURST_TIME);
        self.next.is_none_or(|next| next <= now)
    }

    /// A packet left at `now` (after `can_send` said yes).
    pub fn on_sent(&mut self, now: Instant) {
        if self.interval.is_zero() {
            self.next = None;
            return;
        }
        let floor = now.checked_sub(self.burst).unwrap_or(now);
        let base = self.next.map_or(floor, |next| next.max(floor));
        self.next = Some(base + self.interval);
    }

    /// When the next packet may leave, if not now.
    pub fn next_ready(&self, now: Instant) -> Option<Instant> {
        self.next.filter(|next| *next > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpaced_before_the_first_rtt_sample() {
        assert_eq!(rate(10, None, true), None);
        let mut p = Pacer::default();
        assert!(p.can_send(Instant::now(), None));
    }

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        // 100 packets per 100 ms in avoidance: 1250 packets/s, burst 10.
        let r = rate(100, Some(Duration::from_millis(100)), false);
        let mut p = Pacer::default();
        let mut sent = 0;
        while p.can_send(t0, r) {
            p.on_sent(t0);
            sent += 1;
        }
        assert_eq!(sent, 10);
        let next = p.next_ready(t0).unwrap_or(t0);
        let wait = next - t0;
        assert!(wait > Duration::from_micros(700) && wait < Duration::from_micros(900));
        assert!(p.can_send(next, r));
        // Over one second, about the rate plus the burst.
        let mut now = t0;
        let mut count = 0;
        while now < t0 + Duration::from_secs(1) {
            now += Duration::from_micros(100);
            while p.can_send(now, r) {
                p.on_sent(now);
                count += 1;
            }
        }
        assert!((1240..=1270).contains(&count), "{count}");
    }

    #[test]
    fn slow_start_doubles_the_rate() {
        let srtt = Some(Duration::from_millis(50));
        let ss = rate(40, srtt, true).unwrap_or_default();
        let ca = rate(40, srtt, false).unwrap_or_default();
        assert!((ss / ca - 1.6).abs() < 1e-9);
    }
}

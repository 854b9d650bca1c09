//! Round-trip time estimation and retransmission timeout (RFC 6298).
//!
//! Choice of values (docs/streaming.md "Constants"): i2pd and Java start with a 9 s RTO and i2pd
//! HEAD floors it at 20 ms. We follow RFC 6298 instead, with a configurable initial RTO (default
//! 3 s, RFC 6298 §5.7's fallback: I2P tunnel round trips of 1–3 s would make 1 s spuriously
//! resend every SYN), a 100 ms floor (spec/Java) and a ceiling for the exponential backoff.

use std::time::Duration;

/// Clock granularity term `G` of RFC 6298 §2.
const GRANULARITY: Duration = Duration::from_millis(1);

/// Smoothed RTT, variance and the current RTO with its backoff.
#[derive(Clone, Debug)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    base_rto: Duration,
    min_rto: Duration,
    max_rto: Duration,
    backoff: u32,
    latest: Option<Duration>,
}

impl RttEstimator {
    /// Estimator before any sample: RTO = `initial_rto`.
    pub fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            base_rto: initial_rto,
            min_rto,
            max_rto: max_rto.max(min_rto),
            backoff: 0,
            latest: None,
        }
    }

    /// Feed one sample from a packet sent once (Karn's rule is the caller's job).
    pub fn on_sample(&mut self, rtt: Duration) {
        self.latest = Some(rtt);
        match self.srtt {
            None => {
                // RFC 6298 §2.2
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                // RFC 6298 §2.3: beta = 1/4, alpha = 1/8
                let diff = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(rtt);
        self.base_rto = srtt + GRANULARITY.max(self.rttvar * 4);
        self.backoff = 0;
    }

    /// Smoothed RTT, or `None` before the first sample.
    pub fn smoothed(&self) -> Option<Duration> {
        self.srtt
    }

    /// Smoothed RTT, falling back to the initial RTO before any sample.
    pub fn smoothed_or_initial(&self) -> Duration {
        self.srtt.unwrap_or(self.base_rto)
    }

    /// Current retransmission timeout including backoff, clamped to [min, max].
    pub fn rto(&self) -> Duration {
        let factor = 1u32.checked_shl(self.backoff.min(16)).unwrap_or(u32::MAX);
        // Floor first, then back off, so a tiny RTT still doubles visibly.
        self.base_rto
            .clamp(self.min_rto, self.max_rto)
            .saturating_mul(factor)
            .min(self.max_rto)
    }

    /// A retransmission timer fired: double the RTO (RFC 6298 §5.5).
    pub fn on_timeout(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// New data was acknowledged: drop the backoff.
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est() -> RttEstimator {
        RttEstimator::new(
            Duration::from_secs(3),
            Duration::from_millis(100),
            Duration::from_secs(20),
        )
    }

    #[test]
    fn initial_rto_until_first_sample() {
        let e = est();
        assert_eq!(e.rto(), Duration::from_secs(3));
        assert_eq!(e.smoothed(), None);
    }

    #[test]
    fn first_sample_sets_srtt_and_rto() {
        let mut e = est();
        e.on_sample(Duration::from_millis(400));
        assert_eq!(e.smoothed(), Some(Duration::from_millis(400)));
        // RTO = 400 + 4 * 200
        assert_eq!(e.rto(), Duration::from_millis(1200));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let mut e = est();
        e.on_sample(Duration::from_millis(400));
        e.on_timeout();
        assert_eq!(e.rto(), Duration::from_millis(2400));
        for _ in 0..40 {
            e.on_timeout();
        }
        assert_eq!(e.rto(), Duration::from_secs(20));
        e.reset_backoff();
        assert_eq!(e.rto(), Duration::from_millis(1200));
    }

    #[test]
    fn backoff_starts_from_the_floor() {
        let mut e = est();
        e.on_sample(Duration::ZERO);
        assert_eq!(e.rto(), Duration::from_millis(100));
        e.on_timeout();
        assert_eq!(e.rto(), Duration::from_millis(200));
    }

    #[test]
    fn rto_never_below_floor() {
        let mut e = est();
        for _ in 0..50 {
            e.on_sample(Duration::from_millis(1));
        }
        assert_eq!(e.rto(), Duration::from_millis(100));
    }
}

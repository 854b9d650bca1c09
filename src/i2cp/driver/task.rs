//! The session task: connects, runs one connection at a time ([`super::connection`]),
//! reconnects with exponential back-off, and stops for good on shutdown or a final refusal.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until, timeout};
use tracing::{debug, warn};

use super::connection::quickack;
use super::handle::{Command, Outgoing};
use super::refusal::Refusal;
use super::state::{DownReason, LookupError, SessionState};
use super::subscribers::Subscribers;
use super::{CONNECT_TIMEOUT, I2cpClientConfig, RECONNECT_MIN_DELAY, STALE_SESSION_WAIT};

/// How one connection ended.
pub(super) struct ConnectionEnd {
    pub(super) reason: DownReason,
    pub(super) was_ready: bool,
    pub(super) shutdown: Option<oneshot::Sender<()>>,
    /// Set when the router refused CreateSession (rather than the connection failing).
    pub(super) refusal: Option<Refusal>,
}

pub(super) struct SessionTask {
    pub(super) cfg: I2cpClientConfig,
    pub(super) cmd_rx: mpsc::Receiver<Command>,
    pub(super) data_rx: mpsc::Receiver<Outgoing>,
    pub(super) status_tx: watch::Sender<SessionState>,
    pub(super) subscribers: Subscribers,
    pub(super) sessions_created: Arc<AtomicU64>,
}

impl SessionTask {
    fn addr(&self) -> String {
        // An IPv6 literal needs brackets before the port.
        if self.cfg.address.contains(':') && !self.cfg.address.starts_with('[') {
            format!("[{}]:{}", self.cfg.address, self.cfg.port)
        } else {
            format!("{}:{}", self.cfg.address, self.cfg.port)
        }
    }

    pub(super) async fn run(mut self) {
        let max_delay = self.cfg.reconnect_max_delay.max(Duration::from_millis(1));
        let mut delay = RECONNECT_MIN_DELAY.min(max_delay);
        let mut warned = RepeatWarning::default();
        let mut ever_ready = false;
        let mut refusals = 0;
        loop {
            self.set_status(SessionState::Connecting);
            let end = match self.connect().await {
                Ok(stream) => self.run_connection(stream).await,
                Err(reason) => ConnectionEnd {
                    reason,
                    was_ready: false,
                    shutdown: None,
                    refusal: None,
                },
            };
            self.discard_queued_data();
            if let Some(done) = end.shutdown {
                self.set_status(SessionState::Down(DownReason::ShutDown));
                let _ = done.send(());
                return;
            }
            if end.reason == DownReason::ShutDown {
                self.set_status(SessionState::Down(DownReason::ShutDown));
                return;
            }
            if end.was_ready {
                ever_ready = true;
                delay = RECONNECT_MIN_DELAY.min(max_delay);
            }
            refusals = if end.refusal.is_some() {
                refusals + 1
            } else {
                0
            };
            let after_unclean_exit = self.cfg.after_unclean_exit;
            if let Some(refusal) = end
                .refusal
                .as_ref()
                .filter(|r| r.is_final(refusals, ever_ready, after_unclean_exit))
            {
                self.stay_refused(refusal.down_reason()).await;
                return;
            }
            let stale = end
                .refusal
                .as_ref()
                .is_some_and(|r| r.is_stale_session(after_unclean_exit));
            let wait = if stale { STALE_SESSION_WAIT } else { delay };
            if stale {
                warn!(
                    reason = %end.reason,
                    retry_in = ?wait,
                    "the previous i2psocks on these keys ended without closing its session; \
                     the router may still hold it: trying once more"
                );
            } else if warned.should_warn(&end.reason, Instant::now()) {
                warn!(reason = %end.reason, retry_in = ?delay, "I2CP session down");
            } else {
                debug!(reason = %end.reason, retry_in = ?delay, "I2CP session down");
            }
            self.set_status(SessionState::Down(end.reason));
            if let Some(done) = self.wait_backoff(wait).await {
                self.set_status(SessionState::Down(DownReason::ShutDown));
                let _ = done.send(());
                return;
            }
            delay = (delay * 2).min(max_delay);
        }
    }

    /// The router refused the session for good: fail every command with that reason until
    /// shutdown (no reconnecting). The owner of the handle says it to the user, once.
    async fn stay_refused(&mut self, reason: DownReason) {
        debug!(%reason, "I2CP session refused; not reconnecting");
        self.set_status(SessionState::Down(reason));
        if let Some(done) = self.wait_backoff(Duration::MAX).await {
            let _ = done.send(());
        }
    }

    pub(super) fn set_status(&self, state: SessionState) {
        self.status_tx.send_replace(state);
    }

    fn discard_queued_data(&mut self) {
        // Payloads queued for the old session are stale; streaming retransmits.
        while self.data_rx.try_recv().is_ok() {}
    }

    /// Sleep before reconnecting while failing commands fast. Returns the shutdown
    /// acknowledgement if a shutdown was asked for.
    async fn wait_backoff(&mut self, delay: Duration) -> Option<oneshot::Sender<()>> {
        // `Duration::MAX` waits for a command only (no deadline instant can hold it).
        let until = Instant::now().checked_add(delay);
        loop {
            tokio::select! {
                _ = sleep_until(until.unwrap_or_else(Instant::now)), if until.is_some() => return None,
                cmd = self.cmd_rx.recv() => match cmd {
                    None => {
                        let (tx, _rx) = oneshot::channel();
                        return Some(tx);
                    }
                    Some(Command::Shutdown { done }) => return Some(done),
                    Some(Command::Lookup { reply, .. }) => {
                        let reason = match &*self.status_tx.borrow() {
                            SessionState::Down(r) => r.clone(),
                            _ => DownReason::Lost("reconnecting".into()),
                        };
                        let _ = reply.send(Err(LookupError::RouterDown(reason)));
                    }
                },
            }
        }
    }

    async fn connect(&self) -> Result<TcpStream, DownReason> {
        let addr = self.addr();
        debug!(%addr, "connecting to the router's I2CP server");
        let stream = match timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr)).await {
            Err(_) => {
                return Err(DownReason::ConnectFailed {
                    addr,
                    error: "connection timed out".into(),
                });
            }
            Ok(Err(err)) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(if self.cfg.i2cp_enabled_in_config {
                    DownReason::Unreachable { addr }
                } else {
                    DownReason::I2cpDisabled
                });
            }
            Ok(Err(err)) => {
                return Err(DownReason::ConnectFailed {
                    addr,
                    error: err.to_string(),
                });
            }
            Ok(Ok(stream)) => stream,
        };
        // Small frames must not wait for Nagle (docs/i2cp.md "Pitfall: Nagle on i2pd's socket").
        if let Err(err) = stream.set_nodelay(true) {
            debug!(%err, "cannot set TCP_NODELAY on the I2CP socket");
        }
        quickack(&stream);
        Ok(stream)
    }
}

/// The same failure repeated every reconnect attempt (up to once a second while the router
/// is stopped) is logged at WARN once, and again every [`REPEAT_WARNING_EVERY`].
const REPEAT_WARNING_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct RepeatWarning {
    last: Option<(DownReason, Instant)>,
}

impl RepeatWarning {
    fn should_warn(&mut self, reason: &DownReason, now: Instant) -> bool {
        let repeat = self.last.as_ref().is_some_and(|(last, at)| {
            last == reason && now.saturating_duration_since(*at) < REPEAT_WARNING_EVERY
        });
        if !repeat {
            self.last = Some((reason.clone(), now));
        }
        !repeat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_down_reason_warns_once_a_minute() {
        let t0 = Instant::now();
        let refused = DownReason::Unreachable {
            addr: "127.0.0.1:7654".into(),
        };
        let mut w = RepeatWarning::default();
        assert!(w.should_warn(&refused, t0));
        assert!(!w.should_warn(&refused, t0 + Duration::from_secs(1)));
        assert!(!w.should_warn(&refused, t0 + Duration::from_secs(59)));
        assert!(w.should_warn(&refused, t0 + Duration::from_secs(60)));
        let lost = DownReason::Lost("the router closed the connection".into());
        assert!(
            w.should_warn(&lost, t0 + Duration::from_secs(61)),
            "a new reason"
        );
        assert!(
            w.should_warn(&refused, t0 + Duration::from_secs(62)),
            "changed back"
        );
    }
}

//! Detours around a router's stale LeaseSet: when a server stops answering our destination,
//! new streams to it go from a fresh, short-lived destination for a while.
//!
//! Why: when a server's router restarts, the server publishes a new LeaseSet, but the client
//! router keeps the old one (dead leases) in the cache of *our* destination until it expires,
//! up to about 11 minutes (leases last 10 minutes; i2pd 2.59 `libi2pd/LeaseSet.h`
//! `LEASE_ENDDATE_THRESHOLD`). Nothing in I2CP makes the router drop it: i2pd answers a
//! HostLookup or DestLookup for a cached destination from that cache
//! (`I2CPSession::HostLookupMessageHandler`, `LeaseSetDestination::FindLeaseSet`), ignores the
//! flags of SendMessageExpires, and a ReconfigureSession only reconfigures the tunnel pool
//! (i2pd 2.45.1 and 2.59 `libi2pd_client/I2CP.cpp`). The cache is per destination, so a new
//! destination looks the server up afresh and reaches it at once.
//!
//! The bookkeeping is generic over a [`DetourFactory`] and has no clock of its own, so it is
//! tested without a router; `app` plugs in real I2CP sessions.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// Opens and closes detour sessions.
pub trait DetourFactory: Send + Sync + 'static {
    /// A session with a fresh destination.
    type Session: Send + Sync + 'static;
    /// Open a new session (transient keys) for streams to `server`.
    fn open(&self, server: &[u8; 32])
    -> impl Future<Output = Result<Self::Session, String>> + Send;
    /// Close it for good (DestroySession).
    fn close(&self, session: &Self::Session) -> impl Future<Output = ()> + Send;
}

/// When a detour is taken and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetourPolicy {
    /// Unanswered SYNs in a row (no answered one between) before a detour is opened.
    pub misses: u32,
    /// Two SYNs count as separate misses only if sent at least this far apart (a browser
    /// opening six streams at once to a slow site is one miss, not six).
    pub spacing: Duration,
    /// How long streams to the server take the detour: until the router's cached LeaseSet
    /// has certainly expired (10 min leases + 51 s threshold, rounded up).
    pub window: Duration,
    /// A detour whose own SYN goes unanswered is replaced once it is this old: it may have
    /// looked the server up before its new LeaseSet was published and cached the old one.
    pub retry: Duration,
    /// Each further replacement with no answer from the server since the last one waits
    /// twice as long as the one before, up to this. A detour that does not help either is
    /// no reason for the next: when the client router itself carries nothing (it was
    /// restarted and has no working tunnels yet), every fresh destination fails alike, and
    /// replacing them every few seconds only adds sessions and tunnel builds to its load.
    pub retry_max: Duration,
    /// At most this many detours at once (per destination of ours).
    pub max: usize,
}

impl Default for DetourPolicy {
    fn default() -> Self {
        DetourPolicy {
            misses: 2,
            spacing: Duration::from_secs(3),
            window: Duration::from_secs(11 * 60 + 30),
            retry: Duration::from_secs(8),
            retry_max: Duration::from_secs(4 * 60),
            max: 4,
        }
    }
}

/// What became of a stream's SYN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered (SYN-ACK or RESET).
    Answered,
    /// No answer within the patience; the SYN was sent at this time.
    Missed(Instant),
}

struct Active<S> {
    session: Arc<S>,
    opened: Instant,
    until: Instant,
}

struct Target<S> {
    misses: u32,
    last_miss: Option<Instant>,
    detour: Option<Active<S>>,
    /// Detours replaced since the server last answered (through any destination): the
    /// next replacement waits `retry` doubled this many times.
    unanswered_replacements: u32,
}

impl<S> Default for Target<S> {
    fn default() -> Self {
        Target {
            misses: 0,
            last_miss: None,
            detour: None,
            unanswered_replacements: 0,
        }
    }
}

struct State<S> {
    targets: HashMap<[u8; 32], Target<S>>,
    /// Detours no longer handed out, closed once no stream holds them.
    retired: Vec<Arc<S>>,
}

/// The detours of one destination of ours, by server (destination hash).
pub struct Detours<F: DetourFactory> {
    factory: F,
    policy: DetourPolicy,
    state: tokio::sync::Mutex<State<F::Session>>,
}

impl<F: DetourFactory> Detours<F> {
    /// No detours yet.
    pub fn new(factory: F, policy: DetourPolicy) -> Self {
        Detours {
            factory,
            policy,
            state: tokio::sync::Mutex::new(State {
                targets: HashMap::new(),
                retired: Vec::new(),
            }),
        }
    }

    /// The detour session for streams to `server`, if one is open and in its window.
    pub async fn session_for(&self, server: &[u8; 32], now: Instant) -> Option<Arc<F::Session>> {
        let mut state = self.state.lock().await;
        self.expire(&mut state, now);
        let active = state.targets.get(server)?.detour.as_ref()?;
        Some(active.session.clone())
    }

    /// Record what became of a SYN to `server`, sent from our destination (`detoured` false)
    /// or from its detour. May open or replace the detour.
    pub async fn report(&self, server: [u8; 32], detoured: bool, outcome: Outcome, now: Instant) {
        let mut state = self.state.lock().await;
        self.expire(&mut state, now);
        let open = state
            .targets
            .values()
            .filter(|t| t.detour.is_some())
            .count();
        let target = state.targets.entry(server).or_default();
        let sent = match outcome {
            Outcome::Answered => {
                if !detoured {
                    target.misses = 0;
                    target.last_miss = None;
                }
                target.unanswered_replacements = 0;
                return;
            }
            Outcome::Missed(sent) => sent,
        };
        let retry = self.retry_after(target.unanswered_replacements);
        let wanted = match &target.detour {
            Some(active) => detoured && now.duration_since(active.opened) >= retry,
            None if detoured => false,
            None => {
                // Either order: a stall noticed late may be reported after a later SYN.
                let separate = target.last_miss.is_none_or(|last| {
                    sent.saturating_duration_since(last)
                        .max(last.saturating_duration_since(sent))
                        >= self.policy.spacing
                });
                if separate {
                    target.misses += 1;
                    target.last_miss = Some(sent);
                }
                target.misses >= self.policy.misses && open < self.policy.max
            }
        };
        if !wanted {
            return;
        }
        let session = match self.factory.open(&server).await {
            Ok(session) => Arc::new(session),
            Err(reason) => {
                tracing::warn!("cannot open a detour destination: {reason}");
                return;
            }
        };
        let target = state.targets.entry(server).or_default();
        let replaced = target.detour.replace(Active {
            session,
            opened: now,
            until: now + self.policy.window,
        });
        target.misses = 0;
        target.last_miss = None;
        if let Some(old) = replaced {
            target.unanswered_replacements = target.unanswered_replacements.saturating_add(1);
            tracing::info!(
                "the detour got no answer either: replaced ({} since the server last \
                 answered); the next one waits {} s",
                target.unanswered_replacements,
                self.retry_after(target.unanswered_replacements).as_secs()
            );
            state.retired.push(old.session);
        }
        self.close_unused(&mut state).await;
    }

    /// Retire detours past their window and close retired ones nobody holds any more.
    pub async fn reap(&self, now: Instant) {
        let mut state = self.state.lock().await;
        self.expire(&mut state, now);
        self.close_unused(&mut state).await;
    }

    /// Close every detour (our own session is closing).
    pub async fn close_all(&self) {
        let mut state = self.state.lock().await;
        let mut all: Vec<Arc<F::Session>> = std::mem::take(&mut state.retired);
        for target in state.targets.values_mut() {
            if let Some(active) = target.detour.take() {
                all.push(active.session);
            }
        }
        state.targets.clear();
        for session in all {
            self.factory.close(&session).await;
        }
    }

    /// Number of detours handed out now (not counting retired ones).
    pub async fn active(&self) -> usize {
        let state = self.state.lock().await;
        state
            .targets
            .values()
            .filter(|t| t.detour.is_some())
            .count()
    }

    /// How old a detour must be before it is replaced, after `replacements` replacements
    /// that the server has not answered since: `retry`, doubled each time, at most
    /// `retry_max`.
    fn retry_after(&self, replacements: u32) -> Duration {
        let factor = 1u32.checked_shl(replacements).unwrap_or(u32::MAX);
        self.policy
            .retry
            .saturating_mul(factor)
            .min(self.policy.retry_max)
    }

    fn expire(&self, state: &mut State<F::Session>, now: Instant) {
        let mut ended = Vec::new();
        state.targets.retain(|_, target| {
            if target.detour.as_ref().is_some_and(|a| now >= a.until)
                && let Some(active) = target.detour.take()
            {
                ended.push(active.session);
            }
            target.detour.is_some() || target.misses > 0
        });
        state.retired.extend(ended);
    }

    async fn close_unused(&self, state: &mut State<F::Session>) {
        let (unused, held): (Vec<_>, Vec<_>) = std::mem::take(&mut state.retired)
            .into_iter()
            .partition(|s| Arc::strong_count(s) == 1);
        state.retired = held;
        for session in unused {
            self.factory.close(&session).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// Sessions are numbers; counts opens and closes.
    #[derive(Default)]
    struct Fake {
        opened: AtomicU32,
        closed: Arc<AtomicU32>,
    }

    impl DetourFactory for Fake {
        type Session = u32;
        async fn open(&self, _: &[u8; 32]) -> Result<u32, String> {
            Ok(self.opened.fetch_add(1, Ordering::SeqCst))
        }
        async fn close(&self, _: &u32) {
            self.closed.fetch_add(1, Ordering::SeqCst);
        }
    }

    const D: [u8; 32] = [7; 32];
    const E: [u8; 32] = [8; 32];

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[tokio::test]
    async fn two_separate_misses_open_a_detour() {
        let detours = Detours::new(Fake::default(), DetourPolicy::default());
        let t0 = Instant::now();
        detours
            .report(D, false, Outcome::Missed(t0), t0 + secs(4))
            .await;
        assert!(detours.session_for(&D, t0 + secs(4)).await.is_none());
        // A second SYN sent at the same moment (parallel streams) is the same miss.
        detours
            .report(D, false, Outcome::Missed(t0), t0 + secs(4))
            .await;
        assert!(detours.session_for(&D, t0 + secs(4)).await.is_none());
        detours
            .report(D, false, Outcome::Missed(t0 + secs(5)), t0 + secs(9))
            .await;
        assert_eq!(
            detours.session_for(&D, t0 + secs(9)).await.as_deref(),
            Some(&0)
        );
        // Only for that server.
        assert!(detours.session_for(&E, t0 + secs(9)).await.is_none());
    }

    #[tokio::test]
    async fn misses_reported_out_of_order_still_count_as_separate() {
        let detours = Detours::new(Fake::default(), DetourPolicy::default());
        let t0 = Instant::now();
        // A stall noticed at +5 s, then a SYN sent at +1 s reported at +5 s.
        detours
            .report(D, false, Outcome::Missed(t0 + secs(5)), t0 + secs(5))
            .await;
        detours
            .report(D, false, Outcome::Missed(t0 + secs(1)), t0 + secs(5))
            .await;
        assert!(detours.session_for(&D, t0 + secs(5)).await.is_some());
    }

    #[tokio::test]
    async fn an_answer_between_misses_resets_the_count() {
        let detours = Detours::new(Fake::default(), DetourPolicy::default());
        let t0 = Instant::now();
        detours
            .report(D, false, Outcome::Missed(t0), t0 + secs(4))
            .await;
        detours
            .report(D, false, Outcome::Answered, t0 + secs(5))
            .await;
        detours
            .report(D, false, Outcome::Missed(t0 + secs(6)), t0 + secs(10))
            .await;
        assert!(detours.session_for(&D, t0 + secs(10)).await.is_none());
    }

    #[tokio::test]
    async fn a_missing_detour_is_replaced_after_the_retry_time() {
        let fake = Fake::default();
        let closed = fake.closed.clone();
        let detours = Detours::new(fake, DetourPolicy::default());
        let t0 = Instant::now();
        detours.report(D, false, Outcome::Missed(t0), t0).await;
        detours
            .report(D, false, Outcome::Missed(t0 + secs(5)), t0 + secs(5))
            .await;
        let first = detours.session_for(&D, t0 + secs(5)).await;
        assert_eq!(first.as_deref(), Some(&0));
        // Too young to judge.
        detours
            .report(D, true, Outcome::Missed(t0 + secs(6)), t0 + secs(10))
            .await;
        assert_eq!(
            detours.session_for(&D, t0 + secs(10)).await.as_deref(),
            Some(&0)
        );
        detours
            .report(D, true, Outcome::Missed(t0 + secs(10)), t0 + secs(14))
            .await;
        assert_eq!(
            detours.session_for(&D, t0 + secs(14)).await.as_deref(),
            Some(&1)
        );
        // The old one is closed once its last stream lets go.
        assert_eq!(closed.load(Ordering::SeqCst), 0);
        drop(first);
        detours.reap(t0 + secs(15)).await;
        assert_eq!(closed.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_detour_ends_after_its_window() {
        let fake = Fake::default();
        let closed = fake.closed.clone();
        let policy = DetourPolicy::default();
        let window = policy.window;
        let detours = Detours::new(fake, policy);
        let t0 = Instant::now();
        detours.report(D, false, Outcome::Missed(t0), t0).await;
        detours
            .report(D, false, Outcome::Missed(t0 + secs(5)), t0 + secs(5))
            .await;
        assert!(detours.session_for(&D, t0 + window).await.is_some());
        assert!(
            detours
                .session_for(&D, t0 + secs(5) + window)
                .await
                .is_none()
        );
        detours.reap(t0 + secs(6) + window).await;
        assert_eq!(closed.load(Ordering::SeqCst), 1);
        assert_eq!(detours.active().await, 0);
    }

    /// Opens a detour to D at `t0 + 5 s`, then reports a missed detoured SYN every 5 s
    /// (each sent 4 s before) until `end`; returns when each detour was opened, in seconds
    /// after `t0`.
    async fn opens_while_nothing_answers(
        detours: &Detours<Fake>,
        t0: Instant,
        from: u64,
        end: u64,
    ) -> Vec<u64> {
        let mut opened = Vec::new();
        let mut last = None;
        for s in (from..=end).step_by(5) {
            let now = t0 + secs(s);
            let detoured = detours.session_for(&D, now).await.is_some();
            let sent = now.checked_sub(secs(4)).unwrap_or(now);
            detours
                .report(D, detoured, Outcome::Missed(sent), now)
                .await;
            let current = detours.session_for(&D, now).await.map(|s| *s);
            if current.is_some() && current != last {
                opened.push(s);
                last = current;
            }
        }
        opened
    }

    #[tokio::test]
    async fn replacements_back_off_while_nothing_answers() {
        let detours = Detours::new(Fake::default(), DetourPolicy::default());
        let t0 = Instant::now();
        // Six minutes of a client router that carries nothing: every SYN, ours or the
        // detour's, goes unanswered.
        let opened = opens_while_nothing_answers(&detours, t0, 0, 360).await;
        // The first detour, and its first replacement as soon as it is 8 s old (it may
        // have looked the server up before the new LeaseSet was published).
        assert_eq!(opened.first(), Some(&5), "{opened:?}");
        assert_eq!(opened.get(1), Some(&15), "{opened:?}");
        // Then each waits twice as long as the one before: 6 opens, not one per 10 s.
        assert!(opened.len() <= 6, "detours opened at {opened:?} s");
        let gaps: Vec<u64> = opened.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.windows(2).all(|g| g[1] > g[0]), "gaps {gaps:?}");
        // Never longer than retry_max between two.
        let max = DetourPolicy::default().retry_max.as_secs() + 5;
        let later = opens_while_nothing_answers(&detours, t0, 365, 1200).await;
        let all: Vec<u64> = opened.iter().chain(later.iter()).copied().collect();
        assert!(all.windows(2).all(|w| w[1] - w[0] <= max), "{all:?}");
    }

    #[tokio::test]
    async fn an_answer_makes_the_next_replacement_quick_again() {
        let detours = Detours::new(Fake::default(), DetourPolicy::default());
        let t0 = Instant::now();
        let opened = opens_while_nothing_answers(&detours, t0, 0, 100).await;
        assert!(opened.len() >= 3, "{opened:?}");
        let at = t0 + secs(101);
        let current = detours.session_for(&D, at).await.map(|s| *s);
        // The server answers the detour: it helped. Next time it stops, 8 s is enough.
        detours.report(D, true, Outcome::Answered, at).await;
        detours
            .report(D, true, Outcome::Missed(at), at + secs(4))
            .await;
        let later = at + secs(12);
        detours
            .report(D, true, Outcome::Missed(at + secs(8)), later)
            .await;
        let replaced = detours.session_for(&D, later).await.map(|s| *s);
        assert!(
            replaced.is_some() && replaced != current,
            "{current:?} -> {replaced:?}"
        );
    }

    #[tokio::test]
    async fn at_most_max_detours() {
        let policy = DetourPolicy {
            max: 1,
            ..DetourPolicy::default()
        };
        let detours = Detours::new(Fake::default(), policy);
        let t0 = Instant::now();
        for server in [D, E] {
            detours.report(server, false, Outcome::Missed(t0), t0).await;
            detours
                .report(server, false, Outcome::Missed(t0 + secs(5)), t0 + secs(5))
                .await;
        }
        assert!(detours.session_for(&D, t0 + secs(5)).await.is_some());
        assert!(detours.session_for(&E, t0 + secs(5)).await.is_none());
        detours.close_all().await;
        assert_eq!(detours.active().await, 0);
    }
}

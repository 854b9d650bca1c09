//! Spacing of first contacts: the first SYN from each of our destinations to one remote
//! destination is sent at least [`FIRST_CONTACT_SPACING`] after the previous such SYN to
//! the same remote, from any of our destinations.
//!
//! Why: the first message from a destination to another opens an ECIES-X25519 ratchet
//! session with a New Session message, and i2pd 2.55 and later accept at most one new
//! incoming session per destination every 200 ms, dropping the others
//! (`INCOMING_SESSIONS_MINIMAL_INTERVAL`, i2pd 2.59 libi2pd/Garlic.cpp and Garlic.h). A
//! sender whose New Session message was dropped does not recover soon: its router keeps the
//! session in state "new session sent" and wraps nothing for that destination until the
//! session may be restarted, 120 s after it was made and 90 s after the last activity
//! (`WrapPayload` and `ECIESX25519_RESTART_TIMEOUT`/`ECIESX25519_INACTIVITY_TIMEOUT`, i2pd
//! 2.59 libi2pd/ECIESX25519AEADRatchetSession.cpp/.h). So every SYN retransmission is
//! swallowed by our own router for two minutes. With `--isolate`, fifty users who appear
//! at once are fifty new destinations whose first SYNs to one site would arrive within the
//! same 200 ms; spacing them lets each through on its first try.
//!
//! A lone first contact is never delayed; only a burst to the same remote is spread out.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Gap between first contacts to one remote destination: 200 ms (i2pd's limit) plus a
/// margin for the different tunnels the messages take, which shift their arrival.
pub const FIRST_CONTACT_SPACING: Duration = Duration::from_millis(450);

/// Forget a remote's schedule this long after its last reserved slot.
const FORGET_AFTER: Duration = Duration::from_secs(60);

/// Process-wide schedule of first contacts, per remote destination hash.
#[derive(Debug)]
pub struct FirstContactPacer {
    spacing: Duration,
    next_free: Mutex<HashMap<[u8; 32], Instant>>,
}

impl Default for FirstContactPacer {
    fn default() -> Self {
        Self::new(FIRST_CONTACT_SPACING)
    }
}

impl FirstContactPacer {
    /// A pacer with the given spacing.
    pub fn new(spacing: Duration) -> Self {
        FirstContactPacer {
            spacing,
            next_free: Mutex::new(HashMap::new()),
        }
    }

    /// Reserve the next slot for a first contact to `remote`: `now` when none was made
    /// within the spacing, else right after the last reserved one.
    pub fn reserve(&self, remote: [u8; 32], now: Instant) -> Instant {
        let mut next_free = recover(&self.next_free);
        next_free.retain(|_, free| now.saturating_duration_since(*free) < FORGET_AFTER);
        let slot = next_free
            .get(&remote)
            .copied()
            .filter(|free| *free > now)
            .unwrap_or(now);
        next_free.insert(remote, slot + self.spacing);
        slot
    }
}

/// One of our destinations' first contacts: a slot reserved per remote destination, kept
/// until the SYN has gone out. A client that gives up while waiting (curl's own timeout)
/// and tries again keeps its place: its retry waits for the same slot instead of going
/// out unspaced, or to the back of the queue, where repeated retries would starve it.
#[derive(Debug, Default)]
pub struct Contacted {
    remotes: Mutex<HashMap<[u8; 32], Contact>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Contact {
    /// A first SYN is due at this time.
    Reserved(Instant),
    /// A SYN went out: the router has a session with that remote.
    Sent,
}

impl Contacted {
    /// When this destination may send its next SYN to `remote`: `None` if one was already
    /// sent (no spacing needed), else the slot reserved now or by an earlier attempt.
    pub fn slot(
        &self,
        remote: [u8; 32],
        pacer: &FirstContactPacer,
        now: Instant,
    ) -> Option<Instant> {
        let mut remotes = recover(&self.remotes);
        match remotes.get(&remote) {
            Some(Contact::Sent) => None,
            Some(Contact::Reserved(at)) => Some(*at),
            None => {
                let at = pacer.reserve(remote, now);
                remotes.insert(remote, Contact::Reserved(at));
                Some(at)
            }
        }
    }

    /// The first SYN to `remote` is being sent now.
    pub fn sent(&self, remote: [u8; 32]) {
        recover(&self.remotes).insert(remote, Contact::Sent);
    }
}

/// Lock a schedule even if a thread panicked while holding it: each change is a single
/// insert or retain, so the map stays consistent, and skipping it would send first
/// contacts unspaced (the drops the pacer exists to avoid) for the rest of the process.
fn recover<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_to_one_remote_is_spread_and_others_are_not_delayed() {
        let pacer = FirstContactPacer::new(Duration::from_millis(450));
        let t0 = Instant::now();
        let slots: Vec<Instant> = (0..50).map(|_| pacer.reserve([1; 32], t0)).collect();
        for (i, slot) in slots.iter().enumerate() {
            let want = Duration::from_millis(450) * u32::try_from(i).unwrap_or(u32::MAX);
            assert_eq!(slot.duration_since(t0), want, "slot {i}");
        }
        // Another remote is independent.
        assert_eq!(pacer.reserve([2; 32], t0), t0);
        // After the burst has drained, a new first contact goes at once.
        let later = t0 + Duration::from_secs(30);
        assert_eq!(pacer.reserve([1; 32], later), later);
        // A second one within the spacing waits for the rest of it.
        let soon = later + Duration::from_millis(100);
        assert_eq!(
            pacer.reserve([1; 32], soon),
            later + Duration::from_millis(450)
        );
    }

    #[test]
    fn old_schedules_are_forgotten() {
        let pacer = FirstContactPacer::new(Duration::from_millis(450));
        let t0 = Instant::now();
        for i in 0..100u8 {
            pacer.reserve([i; 32], t0);
        }
        pacer.reserve([200; 32], t0 + Duration::from_secs(120));
        assert_eq!(pacer.next_free.lock().map(|m| m.len()).unwrap_or(0), 1);
    }

    #[test]
    fn a_retry_keeps_its_slot_and_a_sent_contact_needs_none() {
        let pacer = FirstContactPacer::new(Duration::from_millis(450));
        let t0 = Instant::now();
        let others = Contacted::default();
        let ours = Contacted::default();
        assert_eq!(others.slot([7; 32], &pacer, t0), Some(t0));
        let first = ours.slot([7; 32], &pacer, t0);
        assert_eq!(first, Some(t0 + Duration::from_millis(450)));
        // The client gave up and came back: same slot, not the back of the queue.
        assert_eq!(others.slot([9; 32], &pacer, t0), Some(t0));
        assert_eq!(
            ours.slot([7; 32], &pacer, t0 + Duration::from_millis(300)),
            first
        );
        ours.sent([7; 32]);
        assert_eq!(
            ours.slot([7; 32], &pacer, t0 + Duration::from_secs(1)),
            None
        );
        // Another remote is a first contact again.
        assert!(ours.slot([8; 32], &pacer, t0).is_some());
    }

    /// Poison `lock` the way a panicking holder would.
    fn poison<T: Send>(lock: &Mutex<T>) {
        std::thread::scope(|s| {
            let panicked = s
                .spawn(|| {
                    let _guard = lock.lock();
                    panic!("poisoning on purpose");
                })
                .join();
            assert!(panicked.is_err());
        });
        assert!(lock.is_poisoned());
    }

    #[test]
    fn poisoned_schedules_still_space_first_contacts() {
        let pacer = FirstContactPacer::new(Duration::from_millis(450));
        let ours = Contacted::default();
        let t0 = Instant::now();
        assert_eq!(ours.slot([7; 32], &pacer, t0), Some(t0));
        poison(&pacer.next_free);
        poison(&ours.remotes);
        // The retry keeps its slot, another destination's first contact waits its turn.
        assert_eq!(ours.slot([7; 32], &pacer, t0), Some(t0));
        let others = Contacted::default();
        assert_eq!(
            others.slot([7; 32], &pacer, t0),
            Some(t0 + Duration::from_millis(450))
        );
        // A sent contact is remembered.
        ours.sent([7; 32]);
        assert_eq!(ours.slot([7; 32], &pacer, t0), None);
    }
}

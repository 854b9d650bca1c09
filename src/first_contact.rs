//! Spacing of first contacts: the first SYN from each of our destinations to one remote
//! destination is sent at least [`FIRST_CONTACT_SPACING`] after the previous such SYN to
//! the same remote, from any of our destinations, and not before the previous one was
//! answered (plus [`ANSWER_GAP`]) or [`UNANSWERED_WAIT`] has passed since it went out.
//!
//! Why: the first message from a destination to another opens an ECIES-X25519 ratchet
//! session with a New Session message, and i2pd 2.55 and later accept at most one new
//! incoming session per destination every 200 ms and drop the others unread
//! (`INCOMING_SESSIONS_MINIMAL_INTERVAL` in `GarlicDestination::HandleGarlicMessage`, i2pd
//! 2.59 libi2pd/Garlic.cpp and Garlic.h; the server's router logs "Garlic: Incoming sessions
//! come too often", for any message whose session tag it does not know). The client's
//! router makes things worse for a sender that sends again before the reply: it registers
//! an outgoing session only when the reply arrives (`AddECIESx25519Session` is called from
//! `HandleNewOutgoingSessionReply`), a session still waiting for it wraps nothing
//! (`WrapPayload` has no case for "new session sent", i2pd 2.59
//! libi2pd/ECIESX25519AEADRatchetSession.cpp), so i2pd's I2CP server sends every further
//! message to that remote as the New Session message of yet another session
//! (`I2CPSession::SendMessageMessageHandler` falls back to `SendMsgTo`, i2pd 2.59
//! libi2pd_client/I2CP.cpp). The server keeps the first session it accepted from a sender
//! and takes no other from it for 120 s (`AddECIESx25519Session`, `CanBeRestarted`,
//! `ECIESX25519_RESTART_TIMEOUT`), so which of a sender's sessions it answers through
//! depends on which of its messages came first. With `--isolate`, fifty users who appear at
//! once are fifty new destinations whose first SYNs to one site would arrive within the
//! same 200 ms: before this pacing, 15 of 50 got a page within 60 s (README.md, "Router
//! versions").
//!
//! Spacing alone is not enough on a loaded machine: the routers and tunnels between us and
//! the server delay messages by different amounts, so two first contacts sent 450 ms apart
//! can still be handled within 200 ms of each other by the server's router. The answer to a
//! first SYN proves that the server's router has handled its New Session message; a next
//! first contact sent [`ANSWER_GAP`] after that answer reaches the server's router more than
//! 200 ms after the previous one, whatever the delays.
//!
//! For the same reason one destination sends nothing else to a new remote until its first
//! SYN is answered: its other streams (a browser opening six connections at once) wait here,
//! and the first stream's own data waits in the streaming layer
//! (`Connection::hold_until_answered`). Each would otherwise leave as one more New Session
//! message, within milliseconds of the first, and be dropped by the server's router (or,
//! arriving first, be the session it keeps).
//!
//! A lone first contact is never delayed; only a burst to the same remote is spread out.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Gap between first contacts to one remote destination: 200 ms (i2pd's limit) plus a
/// margin for the different tunnels the messages take, which shift their arrival.
pub const FIRST_CONTACT_SPACING: Duration = Duration::from_millis(450);

/// After the answer to a first contact, the next first contact to that remote waits this
/// long: i2pd's 200 ms between new incoming sessions, measured in whole milliseconds with
/// a strict comparison, plus a margin.
pub const ANSWER_GAP: Duration = Duration::from_millis(250);

/// A first contact that has not been answered holds back the next one to the same remote
/// (and its own destination's other streams to it) at most this long: the initial
/// retransmission timeout of a SYN (3 s), after which a lost first contact would be resent
/// anyway.
pub const UNANSWERED_WAIT: Duration = Duration::from_secs(3);

/// Forget a remote's schedule this long after its last reserved slot or claim.
const FORGET_AFTER: Duration = Duration::from_secs(60);

/// Process-wide schedule of first contacts, per remote destination hash.
#[derive(Debug)]
pub struct FirstContactPacer {
    spacing: Duration,
    remotes: Mutex<HashMap<[u8; 32], Schedule>>,
    /// Wakes waiting first contacts when an answer opens the way early.
    answered: Notify,
}

/// One remote's schedule.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    /// Where the next slot goes (the last reserved one plus the spacing).
    next_free: Instant,
    /// No first contact before this: the last one's answer plus [`ANSWER_GAP`], or its
    /// sending plus [`UNANSWERED_WAIT`] while it is unanswered.
    closed_until: Instant,
    /// Which claim set `closed_until`, so that a late answer to an older one changes nothing.
    claim: u64,
}

/// A first contact that went out: tell [`FirstContactPacer::answered`] about its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    remote: [u8; 32],
    number: u64,
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
            remotes: Mutex::new(HashMap::new()),
            answered: Notify::new(),
        }
    }

    /// Reserve the next slot for a first contact to `remote`: `now` when none was made
    /// within the spacing, else right after the last reserved one.
    pub fn reserve(&self, remote: [u8; 32], now: Instant) -> Instant {
        let mut remotes = recover(&self.remotes);
        remotes.retain(|_, s| {
            now.saturating_duration_since(s.next_free.max(s.closed_until)) < FORGET_AFTER
        });
        let schedule = remotes.entry(remote).or_insert(Schedule {
            next_free: now,
            closed_until: now,
            claim: 0,
        });
        let slot = schedule.next_free.max(now);
        schedule.next_free = slot + self.spacing;
        slot
    }

    /// Send the first contact of slot `slot` now if its turn has come: `Ok` with the claim
    /// to report the answer to, or `Err` with the earliest time to ask again (sooner if
    /// [`FirstContactPacer::wait_for_answers`] fires).
    pub fn claim(&self, remote: [u8; 32], slot: Instant, now: Instant) -> Result<Claim, Instant> {
        let mut remotes = recover(&self.remotes);
        let Some(schedule) = remotes.get_mut(&remote) else {
            // Forgotten (over a minute old): nothing to wait for.
            return Ok(Claim { remote, number: 0 });
        };
        let ready = slot.max(schedule.closed_until);
        if ready > now {
            return Err(ready);
        }
        schedule.claim += 1;
        schedule.closed_until = now + UNANSWERED_WAIT;
        Ok(Claim {
            remote,
            number: schedule.claim,
        })
    }

    /// The first contact of `claim` was answered at `now` (SYN-ACK or RESET): the next one
    /// may go [`ANSWER_GAP`] later, unless another claim came since.
    pub fn answered(&self, claim: Claim, now: Instant) {
        let mut remotes = recover(&self.remotes);
        if let Some(schedule) = remotes.get_mut(&claim.remote)
            && schedule.claim == claim.number
        {
            schedule.closed_until = schedule.closed_until.min(now + ANSWER_GAP);
        }
        drop(remotes);
        self.answered.notify_waiters();
    }

    /// Resolves at the next answer to any first contact. Create it before asking
    /// [`FirstContactPacer::claim`] (or [`Contacted::turn`]) so that an answer between the
    /// two is not missed.
    pub fn wait_for_answers(&self) -> tokio::sync::futures::Notified<'_> {
        self.answered.notified()
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
    /// A first SYN is due at this slot.
    Reserved(Instant),
    /// The first SYN went out and has not been answered; this destination's other streams
    /// to the remote wait until then at most.
    Sent(Instant),
    /// The remote answered: the router has a session with it.
    Answered,
}

/// What a stream to a remote should do before its SYN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Send now; nothing to report.
    Go,
    /// Send now: this is the destination's first contact; report its answer with
    /// [`Contacted::answered`].
    First(Claim),
    /// Not yet: ask again at this time, or at the next answer.
    Wait(Instant),
}

impl Contacted {
    /// Whether this destination's next SYN to `remote` may go now.
    pub fn turn(&self, remote: [u8; 32], pacer: &FirstContactPacer, now: Instant) -> Turn {
        let mut remotes = recover(&self.remotes);
        let slot = match remotes.get(&remote) {
            Some(Contact::Answered) => return Turn::Go,
            Some(Contact::Sent(until)) if *until <= now => {
                // Unanswered for too long: the others go (and may open the session).
                remotes.insert(remote, Contact::Answered);
                return Turn::Go;
            }
            Some(Contact::Sent(until)) => return Turn::Wait(*until),
            Some(Contact::Reserved(at)) => *at,
            None => {
                let at = pacer.reserve(remote, now);
                remotes.insert(remote, Contact::Reserved(at));
                at
            }
        };
        match pacer.claim(remote, slot, now) {
            Ok(claim) => {
                remotes.insert(remote, Contact::Sent(now + UNANSWERED_WAIT));
                Turn::First(claim)
            }
            Err(at) => Turn::Wait(at),
        }
    }

    /// The first SYN of `claim` was answered at `now`. (One that ends without an answer
    /// changes nothing: the others wait out [`UNANSWERED_WAIT`].)
    pub fn answered(&self, claim: Claim, pacer: &FirstContactPacer, now: Instant) {
        recover(&self.remotes).insert(claim.remote, Contact::Answered);
        pacer.answered(claim, now);
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

    const MS: Duration = Duration::from_millis(1);

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
        assert_eq!(pacer.remotes.lock().map(|m| m.len()).unwrap_or(0), 1);
    }

    #[test]
    fn the_next_first_contact_waits_for_the_answer_or_the_unanswered_limit() {
        let pacer = FirstContactPacer::new(450 * MS);
        let t0 = Instant::now();
        let (a, b, c) = (
            pacer.reserve([1; 32], t0),
            pacer.reserve([1; 32], t0),
            pacer.reserve([1; 32], t0),
        );
        let first = pacer
            .claim([1; 32], a, t0)
            .expect("a lone first contact goes at once");
        // Its slot has come, but the first is unanswered: not before the limit.
        assert_eq!(
            pacer.claim([1; 32], b, t0 + 450 * MS),
            Err(t0 + UNANSWERED_WAIT)
        );
        // Answered after 600 ms: the next goes ANSWER_GAP later, not at its slot.
        pacer.answered(first, t0 + 600 * MS);
        assert_eq!(pacer.claim([1; 32], b, t0 + 700 * MS), Err(t0 + 850 * MS));
        let second = pacer
            .claim([1; 32], b, t0 + 850 * MS)
            .expect("after the gap");
        // Never answered: the third goes UNANSWERED_WAIT after the second.
        let at = t0 + 850 * MS + UNANSWERED_WAIT;
        assert_eq!(pacer.claim([1; 32], c, t0 + 2000 * MS), Err(at));
        let third = pacer.claim([1; 32], c, at).expect("after the limit");
        // The second's late answer does not open the way for a fourth early.
        pacer.answered(second, at + 10 * MS);
        let d = pacer.reserve([1; 32], at);
        assert_eq!(
            pacer.claim([1; 32], d, at + 20 * MS),
            Err(at + UNANSWERED_WAIT)
        );
        pacer.answered(third, at + 30 * MS);
        assert_eq!(pacer.claim([1; 32], d, at + 30 * MS), Err(at + 280 * MS));
    }

    #[test]
    fn a_retry_keeps_its_slot_and_an_answered_contact_needs_none() {
        let pacer = FirstContactPacer::new(450 * MS);
        let t0 = Instant::now();
        let others = Contacted::default();
        let ours = Contacted::default();
        let Turn::First(theirs) = others.turn([7; 32], &pacer, t0) else {
            panic!("a lone first contact goes at once");
        };
        pacer.answered(theirs, t0 + 100 * MS);
        let first = ours.turn([7; 32], &pacer, t0);
        assert_eq!(first, Turn::Wait(t0 + 450 * MS));
        // Another remote is a first contact of its own, at once.
        assert!(matches!(others.turn([9; 32], &pacer, t0), Turn::First(_)));
        // The client gave up and came back: same slot, not the back of the queue.
        assert_eq!(ours.turn([7; 32], &pacer, t0 + 300 * MS), first);
        let Turn::First(claim) = ours.turn([7; 32], &pacer, t0 + 450 * MS) else {
            panic!("our slot has come");
        };
        // Our other streams to it wait for the answer (the router drops what we send
        // before it), at most UNANSWERED_WAIT.
        let limit = t0 + 450 * MS + UNANSWERED_WAIT;
        assert_eq!(ours.turn([7; 32], &pacer, t0 + 500 * MS), Turn::Wait(limit));
        ours.answered(claim, &pacer, t0 + 600 * MS);
        assert_eq!(ours.turn([7; 32], &pacer, t0 + 600 * MS), Turn::Go);
    }

    #[test]
    fn an_unanswered_first_contact_holds_its_own_streams_back_only_until_the_limit() {
        let pacer = FirstContactPacer::new(450 * MS);
        let t0 = Instant::now();
        let ours = Contacted::default();
        let Turn::First(_) = ours.turn([7; 32], &pacer, t0) else {
            panic!("a lone first contact goes at once");
        };
        // The client left before any answer (nothing is reported): its others wait.
        assert_eq!(
            ours.turn([7; 32], &pacer, t0 + 200 * MS),
            Turn::Wait(t0 + UNANSWERED_WAIT)
        );
        assert_eq!(ours.turn([7; 32], &pacer, t0 + UNANSWERED_WAIT), Turn::Go);
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
        let pacer = FirstContactPacer::new(450 * MS);
        let ours = Contacted::default();
        let t0 = Instant::now();
        let Turn::First(claim) = ours.turn([7; 32], &pacer, t0) else {
            panic!("a lone first contact goes at once");
        };
        poison(&pacer.remotes);
        poison(&ours.remotes);
        // Our other streams wait for the answer; another destination waits its turn.
        assert_eq!(
            ours.turn([7; 32], &pacer, t0),
            Turn::Wait(t0 + UNANSWERED_WAIT)
        );
        let others = Contacted::default();
        assert_eq!(
            others.turn([7; 32], &pacer, t0),
            Turn::Wait(t0 + UNANSWERED_WAIT)
        );
        // An answer is remembered.
        ours.answered(claim, &pacer, t0 + 100 * MS);
        assert_eq!(ours.turn([7; 32], &pacer, t0 + 100 * MS), Turn::Go);
        assert_eq!(
            others.turn([7; 32], &pacer, t0 + 100 * MS),
            Turn::Wait(t0 + 450 * MS)
        );
    }
}

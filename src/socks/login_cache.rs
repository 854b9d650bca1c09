//! Logins verified a short while ago, so that a client's next connections skip the slow
//! password hash.
//!
//! A browser behind a `--require-auth` proxy opens a new SOCKS connection, with the same
//! username and password, for almost every request. The Argon2 check of the users file costs
//! about 16 ms of CPU and 19 MiB per login (src/socks/password_check.rs) and at most
//! `MAX_KEPT` run at once, so without this every connection of a page waited its turn for a
//! check whose answer was already known.
//!
//! What is kept per user: the PHC string the login was verified against and a SHA-256 of
//! the password under a key drawn at start (the password itself is never kept). The key
//! lives in the same memory, so whoever can read the process (a core dump, swap, ptrace)
//! can test guesses against a digest at SHA-256 speed instead of Argon2's, for passwords
//! used in the last [`KEEP`]; the same reader could take the passwords from the SOCKS
//! connections as they arrive, so this gives away little, but it is why the time is short.
//!
//! A hit needs the same user, the same PHC string in the users file now (a changed password
//! or a removed user misses) and the same digest, within [`KEEP`] of the Argon2 check that
//! admitted it; the time is not extended by hits, so every password is checked against the
//! file's hash again at least that often. Only successes are kept: a wrong password always
//! pays the full check, so guessing stays as slow as before.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How long an Argon2-verified login is taken on trust.
pub const KEEP: Duration = Duration::from_secs(600);

/// Most users remembered at once (a hit needs the user in the users file, so this bounds
/// memory only when the file is very large); when full, expired entries go first, and if
/// none has expired the whole cache is emptied.
const MAX_ENTRIES: usize = 4096;

/// A login that passed the full check.
struct Entry {
    /// The users file's hash it was checked against.
    phc: String,
    /// Keyed digest of the password.
    digest: [u8; 32],
    /// When the full check passed.
    verified: Instant,
}

/// Recently verified logins, by username.
pub(super) struct LoginCache {
    /// Drawn at start, so a digest cannot be compared with one computed elsewhere (it is in
    /// the same memory as the digests: see the module comment).
    key: [u8; 32],
    entries: Mutex<HashMap<Vec<u8>, Entry>>,
}

impl std::fmt::Debug for LoginCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.lock().len();
        f.debug_struct("LoginCache").field("held", &held).finish()
    }
}

impl LoginCache {
    pub(super) fn new() -> LoginCache {
        LoginCache {
            key: rand::random(),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn digest(&self, password: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.key);
        hasher.update(password);
        hasher.finalize().into()
    }

    /// Did this user log in with this password, against this PHC string, within [`KEEP`]?
    pub(super) fn hit(&self, username: &[u8], phc: &str, password: &[u8], now: Instant) -> bool {
        let digest = self.digest(password);
        let entries = self.lock();
        let Some(entry) = entries.get(username) else {
            return false;
        };
        let fresh = now.saturating_duration_since(entry.verified) < KEEP;
        fresh && entry.phc == phc && super::auth::ct_eq(&entry.digest, &digest)
    }

    /// The full check of `password` against `phc` passed at `now`.
    pub(super) fn remember(&self, username: &[u8], phc: &str, password: &[u8], now: Instant) {
        let digest = self.digest(password);
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(username) {
            entries.retain(|_, e| now.saturating_duration_since(e.verified) < KEEP);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            username.to_vec(),
            Entry {
                phc: phc.to_owned(),
                digest,
                verified: now,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHC: &str = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

    #[test]
    fn a_remembered_login_hits_until_keep_runs_out() {
        let cache = LoginCache::new();
        let t0 = Instant::now();
        assert!(
            !cache.hit(b"alice", PHC, b"pw", t0),
            "nothing remembered yet"
        );
        cache.remember(b"alice", PHC, b"pw", t0);
        assert!(cache.hit(b"alice", PHC, b"pw", t0));
        assert!(cache.hit(b"alice", PHC, b"pw", t0 + KEEP - Duration::from_millis(1)));
        assert!(!cache.hit(b"alice", PHC, b"pw", t0 + KEEP), "expired");
    }

    #[test]
    fn another_password_user_or_hash_misses() {
        let cache = LoginCache::new();
        let t0 = Instant::now();
        cache.remember(b"alice", PHC, b"pw", t0);
        assert!(!cache.hit(b"alice", PHC, b"pW", t0), "other password");
        assert!(!cache.hit(b"alice", PHC, b"pw ", t0), "longer password");
        assert!(!cache.hit(b"alice", PHC, b"", t0), "empty password");
        assert!(!cache.hit(b"bob", PHC, b"pw", t0), "other user");
        let changed = PHC.replace("c2FsdHNhbHQ", "b3RoZXJzYWx0");
        assert!(
            !cache.hit(b"alice", &changed, b"pw", t0),
            "password changed in the file"
        );
    }

    #[test]
    fn hits_do_not_extend_the_time() {
        let cache = LoginCache::new();
        let t0 = Instant::now();
        cache.remember(b"alice", PHC, b"pw", t0);
        assert!(cache.hit(b"alice", PHC, b"pw", t0 + KEEP / 2));
        assert!(!cache.hit(b"alice", PHC, b"pw", t0 + KEEP + Duration::from_secs(1)));
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = LoginCache::new();
        let t0 = Instant::now();
        for i in 0..MAX_ENTRIES {
            cache.remember(format!("user{i}").as_bytes(), PHC, b"pw", t0);
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        // Full of fresh entries: a newcomer empties it and is the only one left.
        cache.remember(b"late", PHC, b"pw", t0);
        assert_eq!(cache.len(), 1);
        assert!(cache.hit(b"late", PHC, b"pw", t0));
        // Full with some expired: only those go.
        for i in 0..MAX_ENTRIES - 1 {
            cache.remember(format!("user{i}").as_bytes(), PHC, b"pw", t0 + KEEP);
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        cache.remember(b"later", PHC, b"pw", t0 + KEEP);
        assert_eq!(cache.len(), MAX_ENTRIES, "the expired 'late' made room");
        assert!(!cache.hit(b"late", PHC, b"pw", t0 + KEEP));
        assert!(cache.hit(b"later", PHC, b"pw", t0 + KEEP));
    }

    #[test]
    fn debug_shows_no_digest() {
        let cache = LoginCache::new();
        cache.remember(b"alice", PHC, b"secret", Instant::now());
        let shown = format!("{cache:?}");
        assert_eq!(shown, "LoginCache { held: 1 }");
    }
}

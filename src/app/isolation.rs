//! Isolation by credentials: a pool of per-user sessions (one I2CP session and destination
//! per SOCKS username, like Tor's IsolateSOCKSAuth).
//!
//! Every I2P streaming SYN carries and signs the sender's destination, so with one shared
//! destination every site a user visits can link all of their applications. With isolation
//! each username gets its own session: created on first use, capped in number, closed after
//! an idle timeout (no open streams for that long).
//!
//! The pool is generic over a [`SessionFactory`], so its bookkeeping (cap, leases, idle
//! reaping) is tested without a router; `user_sessions.rs` plugs in real I2CP sessions.

use std::collections::HashMap;
use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use thiserror::Error;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Opens and closes the session of one user.
pub trait SessionFactory: Send + Sync + 'static {
    /// What a user gets (e.g. an I2CP session plus its streaming task).
    type Session: Send + Sync + 'static;
    /// Open a session for `user` (may take a moment: key generation, a keys file).
    fn open(&self, user: &[u8]) -> impl Future<Output = Result<Self::Session, String>> + Send;
    /// Close it for good (DestroySession).
    fn close(&self, session: &Self::Session) -> impl Future<Output = ()> + Send;
    /// Whether the router refused `session` for a reason that may have passed since (a
    /// router-wide session limit): the user's next connection then opens a new one.
    fn refused_for_now(&self, _session: &Self::Session) -> bool {
        false
    }
}

/// Why no session could be handed out.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PoolError {
    /// `max` sessions are open and in use or not idle long enough.
    #[error("per-user session limit ({0}) reached")]
    Full(usize),
    /// The factory failed (e.g. an unreadable keys file).
    #[error("cannot open a session: {0}")]
    Open(String),
}

/// One user's session and its use.
pub struct Entry<S> {
    session: S,
    /// The username for logs (client input, escaped).
    label: String,
    active: AtomicUsize,
    last_used: Mutex<Instant>,
}

impl<S> Entry<S> {
    fn touch(&self) {
        *self
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    fn idle_since(&self) -> Option<Instant> {
        (self.active.load(Ordering::SeqCst) == 0).then(|| {
            *self
                .last_used
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        })
    }
}

/// A session in use: keeps it from being reaped until dropped (held by a connect and then by
/// its stream).
pub struct Lease<S> {
    entry: Arc<Entry<S>>,
}

impl<S> Lease<S> {
    /// The username (escaped) this session belongs to.
    pub fn label(&self) -> &str {
        &self.entry.label
    }
}

impl<S> Deref for Lease<S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.entry.session
    }
}

impl<S> Drop for Lease<S> {
    fn drop(&mut self) {
        // Touch first: the reaper reads `active` and then `last_used`.
        self.entry.touch();
        self.entry.active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lease<S>(entry: &Arc<Entry<S>>) -> Lease<S> {
    entry.active.fetch_add(1, Ordering::SeqCst);
    entry.touch();
    Lease {
        entry: entry.clone(),
    }
}

/// The per-user sessions.
pub struct Pool<F: SessionFactory> {
    factory: F,
    max: usize,
    idle: Duration,
    entries: tokio::sync::Mutex<Entries<F::Session>>,
}

/// Sessions by username.
type Entries<S> = HashMap<Vec<u8>, Arc<Entry<S>>>;

impl<F: SessionFactory> Pool<F> {
    /// At most `max` sessions; one without leases for `idle` is closed by [`Pool::reap`].
    pub fn new(factory: F, max: usize, idle: Duration) -> Self {
        Pool {
            factory,
            max: max.max(1),
            idle,
            entries: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The session of `user`, opened on first use. Fails with [`PoolError::Full`] when a new
    /// session is needed and `max` are open (logged as a warning).
    pub async fn acquire(&self, user: &[u8]) -> Result<Lease<F::Session>, PoolError> {
        let mut entries = self.entries.lock().await;
        if let Some(entry) = entries.get(user) {
            if !self.replaceable(entry) {
                return Ok(lease(entry));
            }
            if let Some(refused) = entries.remove(user) {
                tracing::info!(
                    user = %refused.label,
                    "isolation: the router refused this user's session earlier; trying a new one"
                );
                // Closed under the lock, unlike `reap`: a refused session has no router
                // session left to destroy, so its close returns at once.
                self.factory.close(&refused.session).await;
            }
        }
        let label = user.escape_ascii().to_string();
        if entries.len() >= self.max {
            tracing::warn!(
                user = %label,
                max_sessions = self.max,
                "isolation: per-user session limit reached; refusing a new user \
                 (raise maxsessions or lower sessionidletimeout)"
            );
            return Err(PoolError::Full(self.max));
        }
        // Opening under the lock serialises session creation; it is quick (the router
        // handshake happens in the background).
        let session = self.factory.open(user).await.map_err(PoolError::Open)?;
        let entry = Arc::new(Entry {
            session,
            label,
            active: AtomicUsize::new(0),
            last_used: Mutex::new(Instant::now()),
        });
        entries.insert(user.to_vec(), entry.clone());
        tracing::info!(
            user = %entry.label,
            sessions = entries.len(),
            max_sessions = self.max,
            "isolation: new session for user"
        );
        Ok(lease(&entry))
    }

    /// A session the router refused for now and that no connection holds.
    fn replaceable(&self, entry: &Entry<F::Session>) -> bool {
        entry.active.load(Ordering::SeqCst) == 0 && self.factory.refused_for_now(&entry.session)
    }

    /// Close every session idle (no leases) for at least the idle timeout. Returns how many.
    pub async fn reap(&self) -> usize {
        let now = Instant::now();
        let expired: Vec<Arc<Entry<F::Session>>> = {
            let mut entries = self.entries.lock().await;
            let keys: Vec<Vec<u8>> = entries
                .iter()
                .filter(|(_, e)| {
                    e.idle_since()
                        .is_some_and(|since| now.saturating_duration_since(since) >= self.idle)
                })
                .map(|(k, _)| k.clone())
                .collect();
            keys.iter().filter_map(|k| entries.remove(k)).collect()
        };
        for entry in &expired {
            self.factory.close(&entry.session).await;
            tracing::info!(
                user = %entry.label,
                idle_secs = self.idle.as_secs(),
                "isolation: closed idle session of user"
            );
        }
        expired.len()
    }

    /// Close every session (shutdown).
    pub async fn close_all(&self) {
        let all: Vec<_> = self.entries.lock().await.drain().map(|(_, e)| e).collect();
        for entry in all {
            self.factory.close(&entry.session).await;
        }
    }

    /// Number of open sessions.
    pub async fn len(&self) -> usize {
        self.entries.lock().await.len()
    }

    /// No open sessions?
    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }

    /// Run [`Pool::reap`] periodically (a quarter of the idle timeout, 1–30 s) until aborted.
    pub fn spawn_reaper(self: &Arc<Self>) -> JoinHandle<()> {
        let pool = Arc::clone(self);
        let period = (self.idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                pool.reap().await;
            }
        })
    }
}

/// A file name for a user's keys file: the name itself when it is plainly safe
/// (`[A-Za-z0-9_.-]`, at most 64 bytes, not starting with a dot), else a hash of it.
pub fn keys_file_name(user: &[u8]) -> String {
    let plain = !user.is_empty()
        && user.len() <= 64
        && user.first() != Some(&b'.')
        && user
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if plain {
        // Checked ASCII above.
        format!("{}.dat", String::from_utf8_lossy(user))
    } else {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(user);
        let hex = data_encoding::HEXLOWER.encode(&digest);
        format!("user-{}.dat", hex.get(..32).unwrap_or(&hex))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;

    /// Sessions are numbers; counts opens and closes. Sessions of users named `full…` are
    /// refused by the router for now (a session limit) while `limit_reached` is set.
    #[derive(Default)]
    struct Fake {
        opened: AtomicU32,
        closed: Arc<AtomicU32>,
        limit_reached: std::sync::atomic::AtomicBool,
        refused: Mutex<Vec<u32>>,
    }

    impl SessionFactory for Fake {
        type Session = u32;
        async fn open(&self, user: &[u8]) -> Result<u32, String> {
            if user == b"broken" {
                return Err("no keys".into());
            }
            let id = self.opened.fetch_add(1, Ordering::SeqCst);
            if user.starts_with(b"full") && self.limit_reached.load(Ordering::SeqCst) {
                self.refused
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(id);
            }
            Ok(id)
        }
        async fn close(&self, _: &u32) {
            self.closed.fetch_add(1, Ordering::SeqCst);
        }
        fn refused_for_now(&self, session: &u32) -> bool {
            self.refused
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(session)
        }
    }

    /// A user whose session the router refused at its session limit is not stuck with it
    /// until the idle timeout: the next connection (once none holds the refused session)
    /// opens a new session, which works once the limit has room again.
    #[tokio::test(start_paused = true)]
    async fn a_session_refused_at_a_limit_is_replaced_on_the_next_connection()
    -> Result<(), PoolError> {
        let fake = Fake::default();
        fake.limit_reached.store(true, Ordering::SeqCst);
        let closed = fake.closed.clone();
        let pool = Pool::new(fake, 4, Duration::from_secs(600));
        let ok = pool.acquire(b"alice").await?;
        let refused = pool.acquire(b"full1").await?;
        let first = *refused;
        // Still held by a connection: that one is shared, not replaced under it.
        let again = pool.acquire(b"full1").await?;
        assert_eq!(*again, first);
        drop((refused, again));
        pool.factory.limit_reached.store(false, Ordering::SeqCst);
        let retried = pool.acquire(b"full1").await?;
        assert_ne!(*retried, first, "the refused session was handed out again");
        assert_eq!(
            closed.load(Ordering::SeqCst),
            1,
            "the refused session is closed"
        );
        assert_eq!(pool.len().await, 2);
        drop(retried);
        // A working session stays, and so does the new one.
        let still = pool.acquire(b"full1").await?;
        assert_eq!(*pool.acquire(b"alice").await?, *ok);
        assert_ne!(*still, first);
        assert_eq!(closed.load(Ordering::SeqCst), 1);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn same_user_same_session_new_user_new_session() -> Result<(), PoolError> {
        let pool = Pool::new(Fake::default(), 4, Duration::from_secs(60));
        let a1 = pool.acquire(b"alice").await?;
        let b = pool.acquire(b"bob").await?;
        let a2 = pool.acquire(b"alice").await?;
        assert_eq!(*a1, *a2);
        assert_ne!(*a1, *b);
        assert_eq!(a1.label(), "alice");
        assert_eq!(pool.len().await, 2);
        assert_eq!(
            pool.acquire(b"broken").await.err(),
            Some(PoolError::Open("no keys".into()))
        );
        assert_eq!(pool.len().await, 2);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn cap_refuses_new_users_but_not_known_ones() -> Result<(), PoolError> {
        let pool = Pool::new(Fake::default(), 2, Duration::from_secs(60));
        let _a = pool.acquire(b"a").await?;
        let _b = pool.acquire(b"b").await?;
        assert_eq!(pool.acquire(b"c").await.err(), Some(PoolError::Full(2)));
        assert!(pool.acquire(b"a").await.is_ok());
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn idle_sessions_are_reaped_leased_ones_kept() -> Result<(), PoolError> {
        let fake = Fake::default();
        let closed = fake.closed.clone();
        let pool = Pool::new(fake, 2, Duration::from_secs(10));
        let held = pool.acquire(b"busy").await?;
        drop(pool.acquire(b"idle").await?);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(pool.reap().await, 0, "not idle long enough");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(pool.reap().await, 1);
        assert_eq!(closed.load(Ordering::SeqCst), 1);
        // The leased one survives any idle time; freed, its clock starts at release.
        tokio::time::advance(Duration::from_secs(100)).await;
        assert_eq!(pool.reap().await, 0);
        drop(held);
        assert_eq!(pool.reap().await, 0);
        // A slot is free again: a new user fits.
        let _c = pool.acquire(b"c").await?;
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(pool.reap().await, 1);
        assert_eq!(pool.len().await, 1);
        pool.close_all().await;
        assert!(pool.is_empty().await);
        assert_eq!(closed.load(Ordering::SeqCst), 3);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn reaper_task_closes_idle_sessions() -> Result<(), PoolError> {
        let fake = Fake::default();
        let closed = fake.closed.clone();
        let pool = Arc::new(Pool::new(fake, 2, Duration::from_secs(8)));
        drop(pool.acquire(b"x").await?);
        let reaper = pool.spawn_reaper();
        // Paused clock: sleeping advances time instantly; poll until the reaper acted.
        let deadline = Instant::now() + Duration::from_secs(30);
        while closed.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        reaper.abort();
        assert_eq!(closed.load(Ordering::SeqCst), 1);
        assert!(pool.is_empty().await);
        Ok(())
    }

    #[test]
    fn keys_file_names_are_safe() {
        assert_eq!(keys_file_name(b"alice"), "alice.dat");
        assert_eq!(keys_file_name(b"app-1.x_y"), "app-1.x_y.dat");
        for odd in [
            &b"../etc"[..],
            b".hidden",
            b"a/b",
            b"",
            b"\xff",
            &[b'a'; 65],
        ] {
            let name = keys_file_name(odd);
            assert!(name.starts_with("user-") && name.len() == 41, "{name}");
            assert!(!name.contains('/'));
        }
        assert_ne!(keys_file_name(b"a/b"), keys_file_name(b"a/c"));
    }
}

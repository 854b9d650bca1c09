//! Checking a password against an Argon2 PHC string with working memory that is kept for
//! the next check instead of being allocated and freed every time.
//!
//! Why: Argon2 needs its whole memory cost at once (19 MiB with OWASP's m = 19456 KiB,
//! src/socks/users.rs). The argon2 crate's own `verify_password` allocates that per call
//! (`hash_password_into`, argon2 0.5.3 src/lib.rs). With glibc's allocator the process grew
//! with the number of checks and stayed there: 212 MiB after 40 checks one at a time, 1.5 GiB
//! after 1,600 checks four at a time on tokio's blocking pool (RELIABILITY.md, "Logins:
//! memory of password checks"). The likely mechanism is glibc's dynamic mmap threshold (a
//! freed mmapped chunk raises it, so later 19 MiB blocks come from the heaps, where they
//! are kept) and its per-thread arenas (mallopt(3), `M_MMAP_THRESHOLD` and `M_ARENA_MAX`).
//! Whatever the allocator does, a check that reuses a kept buffer allocates nothing: there
//! are at most [`MAX_KEPT`], and a check waits for a free one.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use argon2::password_hash::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// Working-memory buffers at most, so checks at once at most (the SOCKS server lets as many
/// run, `VERIFY_SLOTS` in src/socks/connection.rs). Two: a check is CPU-bound on one thread
/// (16 ms of CPU with the default cost on the 2-core test machine, about 120 logins a second
/// with two at once), and two buffers of the default cost hold 38 MiB. More would add
/// logins per second only on machines with more cores, at 19 MiB each for good.
pub const MAX_KEPT: usize = 2;
/// Largest buffer kept, in 1 KiB blocks: 64 MiB, room for the default cost with margin. A
/// users file with a larger memory cost still works: such a check allocates its own.
const MAX_KEPT_BLOCKS: usize = 64 * 1024;

/// The process's kept working memory.
static POOL: BufferPool = BufferPool::new(MAX_KEPT);

/// Does `password` match the PHC string? A malformed string never matches. The comparison
/// of the hash outputs is constant-time (password-hash's `Output`).
pub fn verify_password(phc: &str, password: &[u8]) -> bool {
    verify_with(&POOL, phc, password)
}

fn verify_with(pool: &BufferPool, phc: &str, password: &[u8]) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let Some(expected) = parsed.hash else {
        return false;
    };
    let Some(argon2) = hasher_for(&parsed) else {
        return false;
    };
    let Some(salt) = parsed.salt else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let hashed = pool.with_memory(argon2.params().block_count(), |blocks| {
        argon2.hash_password_into_with_memory(password, salt, &mut out, blocks)
    });
    hashed.is_ok() && Output::new(&out).is_ok_and(|got| got == expected)
}

/// The Argon2 variant, version and cost that `parsed` names, its output length included.
fn hasher_for(parsed: &PasswordHash<'_>) -> Option<Argon2<'static>> {
    let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(parsed).ok()?;
    Some(Argon2::new(algorithm, version, params))
}

/// At most `capacity` working-memory buffers, made on demand and kept.
struct BufferPool {
    kept: Mutex<Kept>,
    /// Signalled when a buffer is given back, or given up after a panic.
    given_back: Condvar,
    capacity: usize,
}

/// The kept buffers: those not in use, and how many exist.
struct Kept {
    free: Vec<Vec<Block>>,
    made: usize,
}

impl BufferPool {
    const fn new(capacity: usize) -> BufferPool {
        BufferPool {
            kept: Mutex::new(Kept {
                free: Vec::new(),
                made: 0,
            }),
            given_back: Condvar::new(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Run `f` on at least `blocks` blocks of working memory (argon2 uses the first
    /// `blocks` of a larger buffer, argon2 0.5.3 `fill_blocks`): a kept buffer, waiting for
    /// one while all are in use; beyond [`MAX_KEPT_BLOCKS`] a buffer of its own.
    fn with_memory<R>(&self, blocks: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
        if blocks > MAX_KEPT_BLOCKS {
            return f(&mut vec![Block::default(); blocks]);
        }
        let mut lent = Lent {
            pool: self,
            memory: Some(self.take()),
        };
        let memory = lent.memory.get_or_insert_with(Vec::new);
        if memory.len() < blocks {
            memory.reserve_exact(blocks - memory.len());
            memory.resize(blocks, Block::default());
        }
        f(memory)
    }

    /// A free kept buffer (empty if newly made), waiting while all are in use.
    fn take(&self) -> Vec<Block> {
        let mut kept = self.lock();
        loop {
            if let Some(memory) = kept.free.pop() {
                return memory;
            }
            if kept.made < self.capacity {
                kept.made += 1;
                return Vec::new();
            }
            kept = self
                .given_back
                .wait(kept)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A buffer out of the pool: given back when dropped, also when the check panicked, so a
/// panic never leaves later checks waiting for a buffer that is gone.
struct Lent<'a> {
    pool: &'a BufferPool,
    memory: Option<Vec<Block>>,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        let mut kept = self.pool.lock();
        match self.memory.take() {
            Some(memory) if !std::thread::panicking() => kept.free.push(memory),
            // Its contents may be half-written; make a fresh one when next needed.
            _ => kept.made = kept.made.saturating_sub(1),
        }
        drop(kept);
        self.pool.given_back.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordHasher;
    use argon2::password_hash::SaltString;

    fn phc(argon2: &Argon2<'_>, password: &[u8]) -> String {
        let salt = SaltString::encode_b64(b"sixteen byte slt").expect("salt");
        argon2
            .hash_password(password, &salt)
            .expect("hash")
            .to_string()
    }

    fn small(m_kib: u32) -> Argon2<'static> {
        Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(m_kib, 1, 1, None).expect("params"),
        )
    }

    #[test]
    fn matches_what_the_crate_hashed_in_every_variant() {
        let params = Params::new(64, 1, 1, None).expect("params");
        for algorithm in [Algorithm::Argon2id, Algorithm::Argon2i, Algorithm::Argon2d] {
            for version in [Version::V0x13, Version::V0x10] {
                let argon2 = Argon2::new(algorithm, version, params.clone());
                let phc = phc(&argon2, b"s3cret");
                assert!(verify_password(&phc, b"s3cret"), "{phc}");
                assert!(!verify_password(&phc, b"s3creT"), "{phc}");
                assert!(!verify_password(&phc, b""), "{phc}");
            }
        }
    }

    #[test]
    fn another_output_length_and_cost_are_read_from_the_string() {
        let params = Params::new(128, 3, 2, Some(16)).expect("params");
        let phc = phc(
            &Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            b"pw",
        );
        assert!(verify_password(&phc, b"pw"), "{phc}");
        assert!(!verify_password(&phc, b"pW"), "{phc}");
    }

    #[test]
    fn malformed_strings_never_match() {
        let good = phc(&Argon2::default(), b"pw");
        let no_hash = good.rsplit_once('$').map(|(head, _)| head).expect("$");
        for bad in [
            "",
            "not a hash",
            no_hash,
            "$scrypt$ln=1,r=8,p=1$c2FsdHNhbHQ$aGFzaA",
            "$argon2id$v=19$m=19456,t=2,p=1$!!!$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=99$m=19456,t=2,p=1$c2l4dGVlbiBieXRlIHNsdA$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            assert!(!verify_password(bad, b"pw"), "{bad:?}");
        }
    }

    #[test]
    fn one_check_at_a_time_reuses_one_buffer_whatever_the_costs() {
        let pool = BufferPool::new(2);
        for m_kib in [256, 64, 1024, 64] {
            let phc = phc(&small(m_kib), b"pw");
            assert!(verify_with(&pool, &phc, b"pw"));
            assert!(!verify_with(&pool, &phc, b"pX"));
        }
        let kept = pool.lock();
        assert_eq!((kept.made, kept.free.len()), (1, 1));
        assert_eq!(kept.free[0].len(), 1024, "grown to the largest cost seen");
    }

    #[test]
    fn checks_at_once_never_make_more_buffers_than_the_capacity() {
        let pool = BufferPool::new(2);
        let phc = phc(&small(512), b"pw");
        std::thread::scope(|s| {
            let checks: Vec<_> = (0..8)
                .map(|_| s.spawn(|| verify_with(&pool, &phc, b"pw")))
                .collect();
            for check in checks {
                assert!(check.join().expect("check thread"));
            }
        });
        let kept = pool.lock();
        assert!((1..=2).contains(&kept.made), "{}", kept.made);
        assert_eq!(kept.free.len(), kept.made, "every buffer given back");
    }

    #[test]
    fn a_cost_beyond_the_kept_size_uses_its_own_buffer() {
        let pool = BufferPool::new(1);
        let blocks = pool.with_memory(MAX_KEPT_BLOCKS + 1, |m| m.len());
        assert_eq!(blocks, MAX_KEPT_BLOCKS + 1);
        assert_eq!(pool.lock().made, 0, "nothing kept");
    }

    #[test]
    fn a_panic_during_a_check_gives_its_buffer_up_and_wakes_the_next() {
        let pool = BufferPool::new(1);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.with_memory(8, |_| panic!("a check that panics"))
        }));
        assert!(panicked.is_err());
        assert_eq!(
            pool.lock().made,
            0,
            "the panicking check's buffer is given up"
        );
        // With capacity 1, a lost buffer would make this wait for ever.
        assert_eq!(pool.with_memory(8, |m| m.len()), 8);
        assert_eq!(pool.lock().made, 1);
    }
}

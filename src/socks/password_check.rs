//! Checking a password against an Argon2 PHC string with working memory that is kept for
//! the next check instead of being allocated and freed every time.
//!
//! Why: Argon2 needs its whole memory cost at once (19 MiB with OWASP's m = 19456 KiB,
//! src/socks/users.rs). The argon2 crate's own `verify_password` allocates that per call
//! (`hash_password_into`, argon2 0.5.3 src/lib.rs) as 64-byte-aligned blocks; with glibc's
//! allocator the freed blocks were not reused, so the process grew with every login: 274 MiB
//! after 15 checks on one thread, 1.5 GiB after 1,600 checks on tokio's blocking pool, and a
//! SOCKS proxy with `require-auth` held 577 MiB after 150 s of logins (against 28 MiB
//! without). Even one buffer allocated and freed per check grew the process, so every check
//! uses a kept buffer: there are at most [`MAX_KEPT`], and a check waits for a free one.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use argon2::password_hash::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// Working-memory buffers at most, so checks at once at most (the SOCKS server lets as many
/// run, `VERIFY_SLOTS` in src/socks/connection.rs). Two: a check is CPU-bound on one thread
/// (16 ms of CPU with the default cost here), two keep two cores busy, about 120 logins a
/// second, and the buffers hold 38 MiB once two logins came at once.
pub const MAX_KEPT: usize = 2;
/// Largest buffer kept, in 1 KiB blocks: 64 MiB, room for the default cost with margin. A
/// users file with a larger memory cost still works: such a check allocates its own.
const MAX_KEPT_BLOCKS: usize = 64 * 1024;

/// Kept working memory (see the module documentation).
static KEPT: Mutex<Kept> = Mutex::new(Kept {
    free: Vec::new(),
    made: 0,
});
/// Signalled when a buffer is given back.
static GIVEN_BACK: Condvar = Condvar::new();

/// The kept buffers: those not in use, and how many exist.
struct Kept {
    free: Vec<Vec<Block>>,
    made: usize,
}

fn kept() -> MutexGuard<'static, Kept> {
    KEPT.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Does `password` match the PHC string? A malformed string never matches. The comparison
/// of the hash outputs is constant-time (password-hash's `Output`).
pub fn verify_password(phc: &str, password: &[u8]) -> bool {
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
    let hashed = with_memory(argon2.params().block_count(), |blocks| {
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

/// Run `f` on `blocks` blocks of working memory: a kept buffer, waiting for one while
/// [`MAX_KEPT`] are in use; beyond [`MAX_KEPT_BLOCKS`] a buffer of its own.
fn with_memory<R>(blocks: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
    if blocks > MAX_KEPT_BLOCKS {
        return f(&mut vec![Block::default(); blocks]);
    }
    let mut memory = take_kept();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    // argon2 uses the first `blocks` of a larger buffer (argon2 0.5.3 `fill_blocks`).
    let result = f(&mut memory);
    kept().free.push(memory);
    GIVEN_BACK.notify_one();
    result
}

/// A free kept buffer (empty if newly made), waiting while all [`MAX_KEPT`] are in use.
fn take_kept() -> Vec<Block> {
    let mut kept = kept();
    loop {
        if let Some(memory) = kept.free.pop() {
            return memory;
        }
        if kept.made < MAX_KEPT {
            kept.made += 1;
            return Vec::new();
        }
        kept = GIVEN_BACK
            .wait(kept)
            .unwrap_or_else(PoisonError::into_inner);
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
    fn kept_buffers_are_bounded_and_reused() {
        let phc = phc(&Argon2::default(), b"pw");
        let threads: Vec<_> = (0..2 * MAX_KEPT)
            .map(|_| {
                let phc = phc.clone();
                std::thread::spawn(move || verify_password(&phc, b"pw"))
            })
            .collect();
        for t in threads {
            assert!(t.join().expect("check thread"));
        }
        // Other tests may check passwords at the same time: only the bounds hold exactly.
        let kept = kept();
        assert!((1..=MAX_KEPT).contains(&kept.made), "{}", kept.made);
        assert!(kept.free.len() <= kept.made);
        assert!(kept.free.iter().all(|m| m.len() <= MAX_KEPT_BLOCKS));
    }
}

//! password_memory: what password checks do to the process's memory.
//!
//! Runs `--checks` Argon2 password checks (default 1,600) against one PHC string made with
//! i2psocks' defaults (Argon2id, m = 19456 KiB, t = 2, p = 1), `--at-once` at a time
//! (default 4) on tokio's blocking pool, as the SOCKS server runs them, and prints the
//! process's resident memory before and after, its peak, and the time taken. `--via kept`
//! checks with i2psocks' `verify_password` (src/socks/password_check.rs: two kept working
//! buffers); `--via crate` with the argon2 crate's own `PasswordVerifier`, which allocates the
//! 19 MiB per check. Run each in its own process (memory is per process):
//!
//! ```text
//! cargo run --release --example password_memory -- --via crate
//! cargo run --release --example password_memory -- --via kept
//! ```
//!
//! An example rather than a test: it measures, and its numbers are for RELIABILITY.md.

use std::sync::Arc;
use std::time::Instant;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use i2psocks::socks::users::{hash_password, verify_password};
use tokio::sync::Semaphore;

/// Command line: `--via crate|kept --checks N --at-once N`.
struct Args {
    via_crate: bool,
    checks: usize,
    at_once: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        via_crate: false,
        checks: 1600,
        at_once: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--via" => match value.as_str() {
                "crate" => args.via_crate = true,
                "kept" => args.via_crate = false,
                other => return Err(format!("--via crate|kept, not {other}")),
            },
            "--checks" => args.checks = value.parse().map_err(|e| format!("--checks: {e}"))?,
            "--at-once" => args.at_once = value.parse().map_err(|e| format!("--at-once: {e}"))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if args.at_once == 0 {
        return Err("--at-once must be at least 1".into());
    }
    Ok(args)
}

/// `VmRSS` and `VmHWM` of this process, in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// One check the way `--via` says.
fn check(via_crate: bool, phc: &str) -> bool {
    if via_crate {
        PasswordHash::new(phc)
            .is_ok_and(|parsed| Argon2::default().verify_password(b"pw", &parsed).is_ok())
    } else {
        verify_password(phc, b"pw")
    }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = parse_args()?;
    let phc: Arc<str> = hash_password(b"pw").map_err(|e| e.to_string())?.into();
    let (rss_before, _) = memory_kib();
    let slots = Arc::new(Semaphore::new(args.at_once));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.checks {
        let (phc, slots, via_crate) = (phc.clone(), slots.clone(), args.via_crate);
        tasks.push(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await.map_err(|e| e.to_string())?;
            tokio::task::spawn_blocking(move || check(via_crate, &phc))
                .await
                .map_err(|e| e.to_string())
        }));
    }
    let mut matched = 0;
    for task in tasks {
        if task.await.map_err(|e| e.to_string())?? {
            matched += 1;
        }
    }
    let took = started.elapsed();
    let (rss_after, peak) = memory_kib();
    println!(
        "via {}: {} checks ({matched} matched), {} at once, in {:.1} s; RSS {rss_before} -> \
         {rss_after} KiB, peak {peak} KiB",
        if args.via_crate { "crate" } else { "kept" },
        args.checks,
        args.at_once,
        took.as_secs_f64()
    );
    if matched == args.checks {
        Ok(())
    } else {
        Err(format!(
            "{} of {} checks failed",
            args.checks - matched,
            args.checks
        ))
    }
}

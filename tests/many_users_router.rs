//! Fifty new isolated users at once (`--isolate`, one destination per SOCKS5 username),
//! each making one request: every one gets its first HTTP 200 within 60 s (60 s more per
//! tunnel hop, see `first_200_within`), on the real
//! testbed (`I2PD=/path/to/i2pd` picks the version; the test is meant for i2pd 2.55 and
//! later, which accept one new ECIES session per destination every 200 ms, see
//! src/first_contact.rs).
//!
//! Each user retries a failed request, as a browser user would, until the bound after the
//! burst started: that cannot hide the defect this guards against, because once a first
//! message is dropped the sender's router sends nothing more to that destination for about
//! two minutes. How many users needed a retry is printed.
//!
//! Needs root and i2pd; otherwise SKIPPED, unless I2PSOCKS_REQUIRE_TESTBED=1.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::log_text;

const USERS: usize = 50;
/// The bound with zero-hop tunnels; see [`first_200_within`].
const FIRST_200_WITHIN: Duration = Duration::from_secs(60);
const READY_DEADLINE: Duration = Duration::from_secs(90);

/// [`FIRST_200_WITHIN`] once more per hop of the testbed's tunnels (contrib/testbed/README.md,
/// "Tunnel length"): with zero hops a new destination's tunnels are ready at once; with 1
/// hop each of the 50 new destinations has its tunnels built through ff or srv, all at the
/// same moment, before its first lookup can leave.
fn first_200_within(hops: u8) -> Duration {
    FIRST_200_WITHIN * (1 + u32::from(hops))
}
/// What this test measures is the first-contact spacing of 50 new destinations toward one
/// server, not tunnel building: with the testbed's 1-hop default for i2pd 2.57.0-2.59.0, 50
/// sessions building their pools through two routers at the same moment left 4-6 of 50
/// users without a 200 within 120 s on an idle machine, so it runs zero hops unless asked.
fn own_hops() -> Option<u8> {
    common::zero_hops_unless_asked()
}

/// How long a user waits before trying again after a failed request.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

#[test]
fn fifty_new_isolated_users_at_once_all_get_their_first_200_within_60s() {
    const NAME: &str = "fifty_new_isolated_users_at_once_all_get_their_first_200_within_60s";
    require_real_router!(NAME);
    let tb = common::Testbed::up_with(&common::UpOptions {
        big_mib: 1,
        hops: own_hops(),
        ..common::UpOptions::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let port = tb.i2psocks_port();
    let mut cmd = tb.i2psocks_command("info");
    cmd.args([
        "--socksproxy.keys=many-shared.dat",
        "--isolate",
        &format!("--max-sessions={}", USERS + 10),
    ]);
    let proxy = tb
        .spawn_in_ns(&cmd, "i2psocks-many")
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("http://{}/index.html", tb.web_b32());
    // The shared destination first, so the router is warm as in service.
    tb.wait_for_200(port, &url, READY_DEADLINE * (1 + u32::from(tb.hops())))
        .unwrap_or_else(|e| {
            panic!(
                "shared destination never served: {e}\n{}",
                log_text(proxy.log_path())
            )
        });

    let within = first_200_within(tb.hops());
    let dropped_before = tb.srv_dropped_new_sessions();
    let started = Instant::now();
    let results: Vec<(usize, common::CurlResult, u32)> = thread::scope(|scope| {
        let handles: Vec<_> = (0..USERS)
            .map(|i| {
                let (tb, url, started) = (&tb, &url, &started);
                scope.spawn(move || {
                    let login = format!("new{i:02}:x");
                    let mut tries = 0;
                    loop {
                        tries += 1;
                        let left = within.saturating_sub(started.elapsed());
                        let mut result = tb
                            .curl(port, url)
                            .login(&login)
                            .max_secs(left.as_secs().max(1))
                            .run();
                        if result.ok() || started.elapsed() >= within {
                            // From the burst's start, retries included.
                            result.wall = started.elapsed();
                            return (i, result, tries);
                        }
                        // A client's pause before it tries again, not a synchronisation.
                        thread::sleep(RETRY_PAUSE);
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut walls: Vec<f64> = results
        .iter()
        .map(|(_, r, _)| r.wall.as_secs_f64())
        .collect();
    let retried = results.iter().filter(|(_, _, tries)| *tries > 1).count();
    walls.sort_by(f64::total_cmp);
    let failed: Vec<String> = results
        .iter()
        .filter(|(_, r, _)| !r.ok() || r.wall > within)
        .map(|(i, r, _)| {
            format!(
                "new{i:02}: exit {} code {} after {:.1}s {}",
                r.exit,
                r.code,
                r.wall.as_secs_f64(),
                r.stderr.trim()
            )
        })
        .collect();
    // Printed, not asserted: not every such drop is a first contact. In runs where every
    // first contact was answered within milliseconds, srv still logged 5 at once: the web
    // destination's own five tunnel tests (RELIABILITY.md, "The whole suite beside
    // `stress-ng --cpu 2` (2026-12-04)").
    let dropped = tb.srv_dropped_new_sessions() - dropped_before;
    println!(
        "{USERS} new users at once: {} got 200 ({retried} after a retry); first 200 after min \
         {:.1}s, median {:.1}s, max {:.1}s; all done after {:.1}s; new sessions dropped by srv \
         as too close together: {dropped}",
        USERS - failed.len(),
        walls.first().copied().unwrap_or_default(),
        walls.get(walls.len() / 2).copied().unwrap_or_default(),
        walls.last().copied().unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failed.is_empty(),
        "{} of {USERS} users without a 200 within {within:?} ({} hop(s)):\n{}",
        failed.len(),
        tb.hops(),
        failed.join("\n")
    );
}

//! i2psocks' LeaseSet stays unpublished on the real router, whichever i2pd it is
//! (`I2PD=/path/to/i2pd`; i2pd 2.58 and later read `i2cp.dontPublishLeaseSet` inverted).
//!
//! The testbed runs at i2pd log level debug, where the client router logs
//! "Destination: Publish LeaseSet of <b32>" for every attempt to publish a destination's
//! LeaseSet (i2pd 2.45.1 and 2.59.0 libi2pd/Destination.cpp, `Publish`). While i2psocks
//! runs and serves requests for a watch window (default 120 s; set
//! `I2PSOCKS_PUBLISH_WATCH_SECS=600` for the ten-minute check), that line must never name
//! i2psocks' destination.
//!
//! Needs root and i2pd; otherwise SKIPPED, unless I2PSOCKS_REQUIRE_TESTBED=1.

mod common;

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{Testbed, UpOptions, log_text};

/// Stall limit of the wait for the first 200 (it goes on while the testbed's logs grow, up
/// to four times this).
const READY_STALL: Duration = Duration::from_secs(90);
/// Stall limit of each request that keeps the destination in use during the watch: what
/// is asserted is that the LeaseSet is never published, not how fast a request is, so a
/// request that a loaded machine slows down is tried again while the routers advance.
const IN_USE_STALL: Duration = Duration::from_secs(30);
const DEFAULT_WATCH_SECS: u64 = 120;

fn watch_secs() -> u64 {
    std::env::var("I2PSOCKS_PUBLISH_WATCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_WATCH_SECS)
}

#[test]
fn the_lease_set_is_never_published() {
    const NAME: &str = "the_lease_set_is_never_published";
    require_real_router!(NAME);
    let tb = Testbed::up_with(&UpOptions {
        big_mib: 1,
        loglevel: "debug".into(),
        ..UpOptions::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let cli_log = std::path::PathBuf::from(tb.env("CLI_LOG").expect("CLI_LOG in the env file"));
    let port = tb.i2psocks_port();
    let mut cmd: Command = tb.i2psocks_command("info");
    cmd.arg("--socksproxy.keys=publish-keys.dat");
    let mut proxy = tb
        .spawn_in_ns(&cmd, "i2psocks-publish")
        .unwrap_or_else(|e| panic!("{e}"));
    let b32 = proxy.logged_destination().unwrap_or_else(|e| panic!("{e}"));
    // i2pd logs the bare base32 hash, without ".b32.i2p".
    let hash = b32.trim_end_matches(".b32.i2p").to_owned();
    let url = format!("http://{}/index.html", tb.web_b32());
    let took = tb
        .wait_for_200(port, &url, READY_STALL)
        .unwrap_or_else(|e| panic!("i2psocks never served: {e}"));
    println!("first 200 after {took:.2?}; destination {b32}");

    let watch = Duration::from_secs(watch_secs());
    let started = Instant::now();
    let attempts = |log: &str| {
        log.lines()
            .filter(|l| l.contains("Publish LeaseSet of") && l.contains(hash.as_str()))
            .count()
    };
    while started.elapsed() < watch {
        let log = log_text(&cli_log);
        let ours = attempts(&log);
        assert_eq!(
            ours,
            0,
            "the client router tried to publish i2psocks' LeaseSet ({ours} times, {:.0?} into \
             the watch):\n{}",
            started.elapsed(),
            log.lines()
                .filter(|l| l.contains(hash.as_str()) || l.contains("Publish confirmation"))
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        );
        // Keep the destination in use, so its LeaseSet is renewed as it would be in service.
        if let Err(e) = tb.wait_for_200(port, &url, IN_USE_STALL) {
            panic!("request during the watch failed: {e}");
        }
        thread::sleep(Duration::from_secs(5));
    }
    let log = log_text(&cli_log);
    println!(
        "watched {watch:?}: {} publish attempts for i2psocks' LeaseSet, {} \"Publish \
         confirmation was not received\" lines in the client router's log",
        attempts(&log),
        log.matches("Publish confirmation was not received").count()
    );
    // The attempt line is a debug line: without debug lines the test would prove nothing.
    assert!(
        log.contains("/debug - "),
        "the client router does not log at debug"
    );
    assert_eq!(attempts(&log), 0);
}

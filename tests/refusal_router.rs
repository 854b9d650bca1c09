//! One destination, one i2psocks: against the real testbed (i2pd; `I2PD=/path/to/i2pd`
//! picks the version), a second instance with the same keys file refuses to start and
//! names the file and the first instance's PID, and one with a copy of those keys (so the
//! lock cannot see it) is refused by the router and exits 3 with the router's reason,
//! instead of reconnecting forever. The first instance keeps working throughout.
//!
//! Needs root and i2pd; otherwise SKIPPED, unless I2PSOCKS_REQUIRE_TESTBED=1.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{NsChild, Patience, Testbed, log_text};

/// Stall limit from start to "I2CP session is up" (3-14 s on this testbed; CI machines are
/// loaded): the wait goes on while the testbed's logs grow, up to four times this.
const READY_STALL: Duration = Duration::from_secs(90);
/// A refused second instance must be gone by then (three refusals take about 2 s).
const EXIT_DEADLINE: Duration = Duration::from_secs(60);

fn command(tb: &Testbed, keys: &str, port: u16) -> Command {
    let mut cmd = tb.i2psocks_command("info");
    cmd.arg(format!("--socksproxy.keys={keys}"))
        .arg(format!("--socksproxy.port={port}"));
    cmd
}

/// Poll the log until it contains `needle`: fails when the process ends first, or when the
/// wait gives up ([`common::wait_following`]: nothing in the testbed's logs grew for
/// `stall`, or four times `stall` passed).
fn wait_for_log(
    tb: &Testbed,
    child: &mut NsChild,
    needle: &str,
    stall: Duration,
) -> Result<(), String> {
    let what = format!("{needle:?} in {}", child.log_path().display());
    let logs = tb.progress_logs();
    common::wait_following(&what, Patience::stall(stall), &logs, || {
        if log_text(child.log_path()).contains(needle) {
            return Ok(Ok(()));
        }
        match child.child_mut().try_wait() {
            Ok(Some(status)) => Ok(Err(format!("exited ({status}) before logging {needle:?}"))),
            _ => Err("not logged yet".to_owned()),
        }
    })
    .and_then(|(logged, _)| logged)
}

#[test]
fn a_second_instance_with_the_same_destination_stops_with_the_reason() {
    const NAME: &str = "a_second_instance_with_the_same_destination_stops_with_the_reason";
    require_real_router!(NAME);
    let tb = common::small_testbed();
    let port = tb.i2psocks_port();
    let mut first = tb
        .spawn_in_ns(&command(&tb, "same-keys.dat", port), "first")
        .unwrap_or_else(|e| panic!("{e}"));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check_second_instances(&tb, &mut first, port)
    }));
    if outcome.is_err() {
        eprintln!("----- first instance -----\n{}", log_text(first.log_path()));
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

fn check_second_instances(tb: &Testbed, first: &mut NsChild, port: u16) {
    if let Err(e) = wait_for_log(tb, first, "I2CP session is up", READY_STALL) {
        panic!("first instance: {e}");
    }
    let datadir = PathBuf::from(tb.env("I2PSOCKS_DATADIR").expect("I2PSOCKS_DATADIR"));

    // Same keys file: the lock refuses it before it talks to the router.
    let t = Instant::now();
    let mut locked = tb
        .spawn_in_ns(&command(tb, "same-keys.dat", port + 1), "second-locked")
        .unwrap_or_else(|e| panic!("{e}"));
    let status = locked.wait_timeout(EXIT_DEADLINE);
    let log = log_text(locked.log_path());
    println!(
        "same keys file: {status:?} after {:.2?}\n{log}",
        t.elapsed()
    );
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{log}");
    let keys_path = datadir.join("same-keys.dat");
    assert!(log.contains(&keys_path.display().to_string()), "{log}");
    assert!(
        log.contains(&format!("in use by process {}", first.id())),
        "names the holder's PID {}: {log}",
        first.id()
    );

    // A copy of the keys: same destination, another lock. The router refuses the session;
    // the instance says why and exits 3 instead of retrying forever.
    std::fs::copy(&keys_path, datadir.join("copied-keys.dat")).expect("copy the keys file");
    let t = Instant::now();
    let mut copied = tb
        .spawn_in_ns(&command(tb, "copied-keys.dat", port + 2), "second-copied")
        .unwrap_or_else(|e| panic!("{e}"));
    let status = copied.wait_timeout(EXIT_DEADLINE);
    let log = log_text(copied.log_path());
    println!("copied keys: {status:?} after {:.2?}\n{log}", t.elapsed());
    assert_eq!(status.and_then(|s| s.code()), Some(3), "{log}");
    assert!(
        log.contains("the router refused the session: SessionStatus 3 (invalid)"),
        "{log}"
    );
    assert!(
        log.contains("another client is connected to the router with this destination"),
        "{log}"
    );
    let refusals = log.matches("the router refused the session:").count();
    assert!(
        refusals <= 2,
        "said once (log line + stderr), not {refusals} times: {log}"
    );

    // The first instance is unaffected.
    let url = format!("http://{}/index.html", tb.web_b32());
    let took = tb
        .wait_for_200(port, &url, READY_STALL)
        .unwrap_or_else(|e| panic!("first instance after the refusals: {e}"));
    println!("first instance still serves: 200 after {took:.2?}");
}

//! Helpers shared by the integration tests.
//!
//! Use from a test file with `mod common;` at the crate root of the test; a test binary made
//! of a directory (`tests/socks/main.rs`) declares it once in `main.rs` with
//! `#[path = "../common/mod.rs"] mod common;` and its modules use `crate::common`.
//!
//! # Real-router tests
//!
//! Tests that need real routers bring up the testbed of `contrib/testbed/testbed.sh`
//! (three routers in a private network namespace: i2pd 2.45.1 unless
//! `I2PSOCKS_ROUTER[_FF|_SRV|_CLI]` choose others, see [`RouterChoice`] and
//! `contrib/testbed/README.md`) through [`Testbed::up`]. They first call
//! [`skip_without_real_router`] (or the [`require_real_router!`] macro):
//!
//! ```ignore
//! #[test]
//! fn something_real() {
//!     if common::skip_without_real_router("something_real") {
//!         return;
//!     }
//!     let tb = common::Testbed::up().expect("testbed up");
//!     // ... tb.command("ss") runs inside the testbed's netns; HTTP through a SOCKS port
//!     // there: tb.curl(port, url).run(), tb.wait_for_200(port, url, deadline) ...
//! } // Drop of `tb` tears the testbed down
//! ```
//!
//! Without root, the chosen routers or `ip`, the test prints a loud `SKIPPED: real-router
//! test ...` line and passes, unless `I2PSOCKS_REQUIRE_TESTBED=1` is set: then it panics,
//! so CI and the README's test command can never skip silently.
//!
//! # Running Rust code inside the namespace
//!
//! Everything of the testbed listens on 127.0.0.1 *inside* its netns. A test that wants to
//! use tokio/std sockets against it re-executes itself there with
//! [`Testbed::run_test_in_ns`]; the inner run sees [`inner_env`] return `Some`:
//!
//! ```ignore
//! #[test]
//! fn talks_to_echo() {
//!     if let Some(env) = common::inner_env() {
//!         // Inside the netns: 127.0.0.1 is the testbed's loopback.
//!         let port = &env["REF_SOCKS_PORT"];
//!         // ... connect, assert ...
//!         return;
//!     }
//!     if common::skip_without_real_router("talks_to_echo") {
//!         return;
//!     }
//!     let tb = common::Testbed::up().expect("testbed up");
//!     tb.run_test_in_ns("talks_to_echo"); // panics unless exactly that test passed inside
//! }
//! ```
//!
//! Each `Testbed::up()` makes its own netns and state dir with a unique name, so tests
//! may run in parallel test threads.
//!
//! # Waits on routers
//!
//! How long a router takes (tunnels, LeaseSet publication, lookups) depends on the
//! machine's load, so a wait for it follows progress instead of a fixed number of seconds:
//! [`wait_following`] repeats a try while a watched log grows or the try's answer changes,
//! gives up once nothing advanced for [`Patience::stall`] or at the outer
//! [`Patience::cap`], and then says what it waited for, with the logs' tails.
//! [`Testbed::wait_for_200`] and [`Testbed::run_test_in_ns`] work that way, watching
//! [`Testbed::progress_logs`] (inner runs: [`testbed_logs_from_env`]). A bound on
//! i2psocks' own behaviour stays an assertion, with a comment saying why it is fair on a
//! loaded machine (relative to the reference proxy in the same run, or to a measured
//! figure).
//!
//! # Reading logs
//!
//! Read the logs of routers and proxies through `logs.rs`, not by hand: [`log_text`] (the
//! whole log), [`file_len`] for an offset before a stage and [`log_lines_since`] /
//! [`log_text_since`] for what came after it, [`LogReader`] to poll a growing debug log for
//! a line, and [`log_tail_lines`] / [`log_tail`] / [`framed_log`] for failure messages. A
//! missing log reads as empty, so a failure message still comes out.
//!
//! # A private namespace without the testbed
//!
//! [`PrivateNetns`] is a bare netns (only `lo`) for tests that start servers which must
//! reach nothing but loopback (e.g. Debian's dante as an upstream SOCKS server). Gate such
//! tests with [`skip_without_root_and`]; re-execute the body inside with
//! [`PrivateNetns::run_test_inside`] and recognise the inner run with [`in_private_netns`].
#![allow(dead_code, unused_imports, unused_macros)]

mod availability;
mod bytes;
mod curl;
mod envfile;
mod fake_i2p;
mod java_router;
mod known_failures;
mod logs;
mod netns;
mod progress;
mod router_watch;
mod routers;
mod socks;
mod testbed;
pub mod udp;
mod wait;

pub use availability::{
    IN_NETNS_VAR, REQUIRE_VAR, inner_env, real_router_available, root_with,
    skip_without_real_router, skip_without_root_and, skip_without_routers,
};
pub use bytes::{hex, to_hex};
pub use curl::{Curl, CurlResult};
pub use envfile::parse_env;
pub use fake_i2p::{Behaviour, Call, FakeI2p, Proxy, response_bytes};
pub use java_router::{JavaRouter, java_i2p_lib, skip_without_java};
pub use known_failures::{KNOWN_FAILURES, RUN_KNOWN_FAILURES_VAR, Routers, known_failure};
pub use logs::{
    LogReader, file_len, framed_log, log_lines_since, log_tail, log_tail_lines, log_text,
    log_text_since,
};
pub use netns::{PRIVATE_NETNS_VAR, PrivateNetns, in_private_netns};
pub use progress::{Patience, Progress, logs_in, testbed_logs_from_env, wait_following};
pub use router_watch::{RouterWatch, WatchedRouter, alive as router_alive};
pub use routers::{DEFAULT_ROUTER, ROUTER_VAR, RouterChoice, i2pd_version};
pub use socks::{echo_bulk, echo_round_trips, socks5_connect, socks5_connect_as};
pub use testbed::{
    HOPS_VAR, JAVA_UP_TIMEOUT_SECS, NsChild, Router, SCRIPT, Service, Testbed, UP_TIMEOUT_SECS,
    UpOptions, default_hops, parse_hops, unique_name, wait_for_tcp_local, zero_hops_unless_asked,
};
pub use wait::{DEADLINE, still_pending, within};

/// `require_real_router!("test_name")`: return from the test (after a loud SKIPPED line)
/// when no real router can run here; panic instead if `I2PSOCKS_REQUIRE_TESTBED=1`.
#[macro_export]
macro_rules! require_real_router {
    ($test:expr) => {
        if $crate::common::skip_without_real_router($test) {
            return;
        }
    };
}

/// A testbed whose big.bin is only 1 MiB (for tests that download nothing large); a failed
/// `up` fails the test.
pub fn small_testbed() -> Testbed {
    Testbed::up_with(&UpOptions {
        big_mib: 1,
        ..UpOptions::default()
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Deterministic filler bytes (xorshift), so a mismatch is not hidden by repetition.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

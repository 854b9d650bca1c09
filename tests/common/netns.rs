//! [`PrivateNetns`]: a fresh network namespace with only `lo` (no testbed), for tests that
//! run servers which must reach nothing but loopback. Deleted on drop, after killing every
//! process still inside it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::availability::find_in_path;
use super::testbed::{NsChild, report_inner_run, unique_name};

/// Set to `1` for a test re-executed by [`PrivateNetns::run_test_inside`].
pub const PRIVATE_NETNS_VAR: &str = "I2PSOCKS_IN_PRIVATE_NETNS";

const POLL: Duration = Duration::from_millis(50);

/// Are we the inner half of a test re-executed inside a [`PrivateNetns`]?
pub fn in_private_netns() -> bool {
    std::env::var(PRIVATE_NETNS_VAR).is_ok_and(|v| v == "1")
}

fn ip() -> PathBuf {
    find_in_path("ip").unwrap_or_else(|| PathBuf::from("ip"))
}

/// A network namespace of our own: `lo` up (127.0.0.1, ::1), no other interface, no route.
#[derive(Debug)]
pub struct PrivateNetns {
    name: String,
}

impl PrivateNetns {
    /// `ip netns add <unique name>` and bring `lo` up.
    pub fn create() -> Result<PrivateNetns, String> {
        let name = unique_name();
        run(Command::new(ip()).args(["netns", "add", &name]))?;
        // From here on Drop deletes it.
        let ns = PrivateNetns { name };
        run(Command::new(ip()).args(["-n", &ns.name, "link", "set", "lo", "up"]))?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Processes inside the namespace (`ip netns pids`).
    pub fn pids(&self) -> Vec<u32> {
        let Ok(out) = Command::new(ip())
            .args(["netns", "pids", &self.name])
            .output()
        else {
            return Vec::new();
        };
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// Re-execute the current test binary inside the namespace, running only `test_name`,
    /// with `I2PSOCKS_IN_PRIVATE_NETNS=1` and `extra_env`. Prints the inner output; panics
    /// unless exactly that one test ran and passed within `timeout`.
    pub fn run_test_inside(&self, test_name: &str, extra_env: &[(&str, &str)], timeout: Duration) {
        let exe = std::env::current_exe().expect("current test binary path");
        let log = tempfile::NamedTempFile::new().expect("temp file for the inner output");
        let out = log.reopen().expect("reopen inner log");
        // A dup, not a second open: stdout and stderr must share one file offset.
        let err = out.try_clone().expect("dup inner log");
        let started = Instant::now();
        let child = Command::new(ip())
            .args(["netns", "exec", &self.name])
            .arg(&exe)
            .args([
                test_name,
                "--exact",
                "--nocapture",
                "--include-ignored",
                "--test-threads=1",
            ])
            .env(PRIVATE_NETNS_VAR, "1")
            .envs(extra_env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("re-exec of {test_name} in {}: {e}", self.name));
        let mut child = NsChild::new(child, log.path().to_path_buf());
        let status = child.wait_timeout(timeout);
        report_inner_run(test_name, &self.name, started, timeout, status, log.path());
    }
}

impl Drop for PrivateNetns {
    fn drop(&mut self) {
        // Everything still inside was started by this test (the netns is ours alone).
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let pids = self.pids();
            if pids.is_empty() || Instant::now() >= deadline {
                break;
            }
            for pid in pids {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
            thread::sleep(POLL);
        }
        if let Err(e) = run(Command::new(ip()).args(["netns", "del", &self.name])) {
            eprintln!("[netns {}] delete failed: {e}", self.name);
        }
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

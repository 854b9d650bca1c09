//! The ONE place that lists checks known to fail on some router, each with its reason.
//!
//! A real-router test asks [`super::Testbed::known_failure`] before such a check; when the
//! testbed's routers match an entry, the check is not run and a loud `KNOWN FAILURE (not
//! run)` line names it, the routers and the reason (contrib/test-all.sh repeats these
//! lines in its summary). Remove an entry when the fix lands; `I2PSOCKS_RUN_KNOWN_FAILURES=1`
//! runs the checks anyway (to see whether a fix works).

/// A file to which every check not run is appended (one line each).
pub const KNOWN_FAILURES_LOG_VAR: &str = "I2PSOCKS_KNOWN_FAILURES_LOG";

/// Set to `1` to run the listed checks anyway.
pub const RUN_KNOWN_FAILURES_VAR: &str = "I2PSOCKS_RUN_KNOWN_FAILURES";

/// The testbed's routers as `testbed.sh` reports them (`i2pd-2.59.0`, `java-2.7.0`).
#[derive(Debug, Clone, Copy)]
pub struct Routers<'a> {
    pub ff: &'a str,
    pub srv: &'a str,
    pub cli: &'a str,
}

pub struct KnownFailure {
    /// `test_file::check`, as the test names it.
    pub check: &'static str,
    pub applies: fn(&Routers) -> bool,
    pub reason: &'static str,
}

/// Empty today. The last entry, auth_router's 50 new users at once on i2pd 2.55 and later
/// (200 ms between new ECIES sessions per destination), went when i2psocks began spacing
/// first contacts (`src/first_contact.rs`). An entry looks like:
///
/// ```text
/// KnownFailure { check: "auth_router::many_users",
///                applies: |r| i2pd_version(r.srv).is_some_and(|v| v >= (2, 55, 0)),
///                reason: "what the router does, with its source and version" }
/// ```
pub const KNOWN_FAILURES: &[KnownFailure] = &[];

/// The reason `check` is known to fail on `routers`, after printing the loud line;
/// `None` when it is expected to pass (or `I2PSOCKS_RUN_KNOWN_FAILURES=1`).
pub fn known_failure(check: &str, routers: &Routers) -> Option<&'static str> {
    let entry = KNOWN_FAILURES
        .iter()
        .find(|k| k.check == check && (k.applies)(routers))?;
    let label = format!("ff={} srv={} cli={}", routers.ff, routers.srv, routers.cli);
    if std::env::var(RUN_KNOWN_FAILURES_VAR).is_ok_and(|v| v == "1") {
        eprintln!(
            "KNOWN FAILURE (run anyway): {check} on {label}: {}",
            entry.reason
        );
        return None;
    }
    let banner = "!".repeat(70);
    let line = format!(
        "\n{banner}\nKNOWN FAILURE (not run): {check} on {label}: {}\n{banner}\n",
        entry.reason
    );
    use std::io::Write;
    let _ = std::io::stderr().write_all(line.as_bytes());
    // Test runners hide a passing test's output: contrib/test-all.sh collects them here.
    if let Ok(path) = std::env::var(KNOWN_FAILURES_LOG_VAR) {
        let record = format!("{check} on {label}: {}\n", entry.reason);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path);
        if let Ok(mut file) = file {
            let _ = file.write_all(record.as_bytes());
        }
    }
    Some(entry.reason)
}

//! Can real-router tests run here, and are we the inner half of a re-executed test?

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::envfile::parse_env;
use super::routers::RouterChoice;

/// Set to `1` to turn "skip" into "fail" for real-router tests (CI, README test command).
pub const REQUIRE_VAR: &str = "I2PSOCKS_REQUIRE_TESTBED";
/// Set to `1` by [`super::Testbed::run_test_in_ns`] for the re-executed test.
pub const IN_NETNS_VAR: &str = "I2PSOCKS_IN_NETNS";
/// Path of the testbed's env file, passed to the re-executed test.
pub const ENV_FILE_VAR: &str = "TESTBED_ENV_FILE";

/// `Ok(())` when this process can run the testbed: root, the routers chosen by
/// `I2PSOCKS_ROUTER[_FF|_SRV|_CLI]` (default: the distribution's i2pd 2.45.1), `ip`, and
/// the tools the script uses (`curl`, `python3`, `ss`, `bash`).
pub fn real_router_available() -> Result<(), String> {
    root_with(&["curl", "python3", "ss", "bash"])?;
    RouterChoice::from_env().check_available()
}

/// True when the calling test must return now because no real router is available.
/// Prints a loud SKIPPED line; panics instead when `I2PSOCKS_REQUIRE_TESTBED=1`.
pub fn skip_without_real_router(test: &str) -> bool {
    let Err(why) = real_router_available() else {
        return false;
    };
    skip_or_fail("real-router", test, &why)
}

/// Like [`skip_without_real_router`], for a test that chooses its own routers (e.g. a
/// mixed network) instead of taking them from `I2PSOCKS_ROUTER*`.
pub fn skip_without_routers(test: &str, routers: &RouterChoice) -> bool {
    if skip_without_real_router(test) {
        return true;
    }
    let Err(why) = routers.check_available() else {
        return false;
    };
    skip_or_fail("real-router", test, &why)
}

/// `Ok(())` when this process is root and every program in `programs` (absolute paths, or
/// names looked up in PATH) is there: what tests that make their own network namespace
/// need.
pub fn root_with(programs: &[&str]) -> Result<(), String> {
    match effective_uid() {
        Some(0) => {}
        Some(uid) => {
            return Err(format!(
                "not root (euid {uid}); network namespaces need root"
            ));
        }
        None => return Err("cannot read the effective uid from /proc/self/status".into()),
    }
    for program in programs.iter().copied().chain(["ip"]) {
        let found = if program.starts_with('/') {
            is_executable(Path::new(program))
        } else {
            find_in_path(program).is_some()
        };
        if !found {
            return Err(format!("{program} is missing"));
        }
    }
    Ok(())
}

/// Like [`skip_without_real_router`], for tests that need root, `ip` and `programs` but no
/// i2pd (e.g. an upstream SOCKS server in a private netns). The same `I2PSOCKS_REQUIRE_TESTBED=1`
/// turns the skip into a failure.
pub fn skip_without_root_and(test: &str, programs: &[&str]) -> bool {
    let Err(why) = root_with(programs) else {
        return false;
    };
    skip_or_fail("root-only", test, &why)
}

fn skip_or_fail(kind: &str, test: &str, why: &str) -> bool {
    if std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1") {
        panic!("{kind} test {test} cannot run because {why} (and {REQUIRE_VAR}=1)");
    }
    // Written to the stderr handle, not with eprintln!: libtest captures the print macros
    // of passing tests, and a skip must be visible.
    let banner = "*".repeat(70);
    let message = format!(
        "\n{banner}\nSKIPPED: {kind} test {test} because {why}.\n         \
         Set {REQUIRE_VAR}=1 to make this a failure.\n{banner}\n"
    );
    let _ = std::io::stderr().write_all(message.as_bytes());
    true
}

/// Inside a test re-executed by [`super::Testbed::run_test_in_ns`]: the testbed's env
/// (every key of its env file: WEB_B32, REF_SOCKS_PORT, ...). `None` in a normal run.
/// Panics if the re-exec environment is broken, which is a harness bug.
pub fn inner_env() -> Option<HashMap<String, String>> {
    if std::env::var(IN_NETNS_VAR).ok()? != "1" {
        return None;
    }
    let path = std::env::var(ENV_FILE_VAR)
        .unwrap_or_else(|_| panic!("{IN_NETNS_VAR}=1 but {ENV_FILE_VAR} is not set"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read testbed env file {path}: {e}"));
    let map = parse_env(&text).unwrap_or_else(|e| panic!("bad testbed env file {path}: {e}"));
    Some(map.into_iter().collect())
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    // "Uid:  real  effective  saved  fs"
    line.split_whitespace().nth(2)?.parse().ok()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// First executable `name` in PATH, also trying the sbin dirs that a non-login root
/// shell may lack.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

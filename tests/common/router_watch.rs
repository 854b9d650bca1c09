//! Watching the testbed's router processes during a long run (the soak): a router that dies
//! ends the run at once with its name, version and the last lines of its log, instead of
//! every later operation failing as if i2psocks were at fault.
//!
//! `contrib/testbed/testbed.sh` records each router's PID in `$TESTBED_DIR/pids/<role>`;
//! `ip netns exec` execs the router, so that is the router's own PID. A PID counts as the
//! router while it is neither a zombie nor reused: its command line names the testbed's
//! state dir (as `pid_is_ours` in the script checks).

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::logs::log_tail_lines;

/// Lines of a dead router's log the message shows.
const TAIL_LINES: usize = 25;

/// One router to watch.
#[derive(Debug, Clone)]
pub struct WatchedRouter {
    /// `ff`, `srv`, `cli`, or an extra router's role (`ff2`, `relay1`, ...).
    pub role: String,
    /// What runs there, e.g. `i2pd 2.59.0`.
    pub label: String,
    pub pid: u32,
    /// Its main log.
    pub log: PathBuf,
}

/// The routers of one testbed, from when the watch started.
#[derive(Debug)]
pub struct RouterWatch {
    routers: Vec<WatchedRouter>,
    /// A string the command line of each live router contains (the state dir).
    marker: String,
    started: Instant,
}

impl RouterWatch {
    /// Watch `routers`, whose command lines contain `marker`; minutes count from now.
    pub fn new(routers: Vec<WatchedRouter>, marker: &str) -> RouterWatch {
        RouterWatch {
            routers,
            marker: marker.to_owned(),
            started: Instant::now(),
        }
    }

    /// The routers of the testbed whose env file gave `env` (`TESTBED_DIR`,
    /// `FF_ROUTER`/`SRV_ROUTER`/`CLI_ROUTER`, `*_LOG`): the three main ones and the extra
    /// floodfills and relays of a larger lab (`EXTRA_ROUTERS`, all running `EXTRA_ROUTER`).
    /// Fails if one is not running now.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<RouterWatch, String> {
        let dir = env("TESTBED_DIR").ok_or("TESTBED_DIR not in the testbed's env")?;
        let extras = env("EXTRA_ROUTERS").unwrap_or_default();
        let roles = ["ff", "srv", "cli"]
            .into_iter()
            .chain(extras.split_whitespace());
        let mut routers = Vec::new();
        for role in roles {
            let up = role.to_uppercase();
            let label = env(&format!("{up}_ROUTER"))
                .or_else(|| env("EXTRA_ROUTER"))
                .unwrap_or_else(|| "router".into());
            let log = env(&format!("{up}_LOG")).ok_or(format!("{up}_LOG not in the env"))?;
            let pid_file = Path::new(&dir).join("pids").join(role);
            let pid = std::fs::read_to_string(&pid_file)
                .map_err(|e| format!("{}: {e}", pid_file.display()))?
                .trim()
                .parse()
                .map_err(|e| format!("{}: {e}", pid_file.display()))?;
            routers.push(WatchedRouter {
                role: role.to_owned(),
                // `i2pd-2.59.0` -> `i2pd 2.59.0`, as people write it.
                label: label.replacen('-', " ", 1),
                pid,
                log: PathBuf::from(log),
            });
        }
        let watch = RouterWatch::new(routers, &dir);
        watch.check()?;
        Ok(watch)
    }

    /// `Err("router srv (i2pd 2.59.0) died at minute M: <tail of its log>")` once a router
    /// has gone; `Ok` while all run.
    pub fn check(&self) -> Result<(), String> {
        match self.routers.iter().find(|r| !alive(r.pid, &self.marker)) {
            None => Ok(()),
            Some(r) => Err(format!(
                "router {} ({}) died at minute {}: {}",
                r.role,
                r.label,
                self.started.elapsed().as_secs() / 60,
                log_tail_lines(&r.log, TAIL_LINES)
            )),
        }
    }
}

/// `pid` runs, is not a zombie, and its command line contains `marker`.
pub fn alive(pid: u32, marker: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name in parentheses, which may itself contain ") ".
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.split_whitespace().next());
    if matches!(state, None | Some("Z" | "X")) {
        return false;
    }
    // The command line reads empty for a moment while a process execs (as testbed.sh's
    // `pid_is_ours` notes): an empty read of a live process is tried again.
    for _ in 0..50 {
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            return false;
        };
        if !cmdline.is_empty() {
            return String::from_utf8_lossy(&cmdline).contains(marker);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

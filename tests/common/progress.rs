//! Waits on real routers that follow progress instead of a fixed number of seconds.
//!
//! How long a router takes to build tunnels, publish a LeaseSet or answer a lookup depends
//! on the machine's load, not on the code under test. A wait for such a stage therefore
//! keeps going while something advances (a watched log grows, or the answer of the last
//! try changes) and gives up only when nothing moved for [`Patience::stall`], or at the
//! generous outer [`Patience::cap`]. A failure says what was waited for and prints the
//! tails of the watched logs.

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::logs::{file_len, log_tail_lines};

/// Pause between two tries.
const POLL: Duration = Duration::from_millis(200);
/// Lines of each watched log a failure message shows.
const TAIL_LINES: usize = 40;
/// How many times the stall limit the whole wait may take while things still advance.
const CAP_FACTOR: u32 = 4;

/// The limits of a [`wait_following`].
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    /// Give up once nothing advanced for this long.
    pub stall: Duration,
    /// Give up after this long in any case.
    pub cap: Duration,
}

impl Patience {
    /// Stall limit `stall`, capped at four times that: a stage that keeps advancing
    /// (e.g. a router building tunnels on a loaded machine) keeps its budget, a hung one
    /// is caught after `stall`.
    pub fn stall(stall: Duration) -> Patience {
        Patience {
            stall,
            cap: stall * CAP_FACTOR,
        }
    }
}

/// Watches log files and the answer of the last try for signs of progress.
#[derive(Debug)]
pub struct Progress {
    logs: Vec<(PathBuf, u64)>,
    last_answer: Option<String>,
    last_change: Instant,
}

impl Progress {
    /// Start watching `logs` (missing files count as empty, so one created later is
    /// progress too).
    pub fn new(logs: &[PathBuf]) -> Progress {
        Progress {
            logs: logs.iter().map(|p| (p.clone(), file_len(p))).collect(),
            last_answer: None,
            last_change: Instant::now(),
        }
    }

    /// Record `answer` (what the last try said, e.g. curl's exit status) and look at the
    /// logs: true when a log grew or the answer differs from the one before.
    pub fn note(&mut self, answer: &str) -> bool {
        let answer = without_long_numbers(answer);
        let mut moved = self.last_answer.as_ref() != Some(&answer);
        self.last_answer = Some(answer);
        for (path, len) in &mut self.logs {
            let now = file_len(path);
            if now != *len {
                *len = now;
                moved = true;
            }
        }
        if moved {
            self.last_change = Instant::now();
        }
        moved
    }

    /// Time since anything last advanced.
    pub fn quiet_for(&self) -> Duration {
        self.last_change.elapsed()
    }

    /// The last [`TAIL_LINES`] lines of every watched log, framed.
    pub fn tails(&self) -> String {
        self.logs
            .iter()
            .map(|(path, _)| log_tail_lines(path, TAIL_LINES))
            .collect()
    }
}

/// Repeat `try_once` until it gives `Ok`, while [`Progress`] sees something advance (a log
/// in `logs` grows, or the `Err` text changes); the value and how long it took, or a
/// message naming `what`, why it stopped, the last error and the logs' tails.
pub fn wait_following<T>(
    what: &str,
    patience: Patience,
    logs: &[PathBuf],
    mut try_once: impl FnMut() -> Result<T, String>,
) -> Result<(T, Duration), String> {
    let started = Instant::now();
    let mut progress = Progress::new(logs);
    loop {
        let last = match try_once() {
            Ok(value) => return Ok((value, started.elapsed())),
            Err(e) => e,
        };
        progress.note(&last);
        let why = if started.elapsed() >= patience.cap {
            format!("still not there at the outer cap of {:?}", patience.cap)
        } else if progress.quiet_for() >= patience.stall {
            format!(
                "nothing advanced for {:.1?} (stall limit {:?})",
                progress.quiet_for(),
                patience.stall
            )
        } else {
            thread::sleep(POLL);
            continue;
        };
        return Err(format!(
            "gave up waiting for {what} after {:.1?}: {why}; last try: {last}\n{}",
            started.elapsed(),
            progress.tails()
        ));
    }
}

/// `text` with every run of four or more digits replaced by `#`: timings in an error
/// ("timed out after 10001 milliseconds") differ on every try and are no progress, while
/// short codes (curl's exit status, a SOCKS reply) are kept.
fn without_long_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut digits = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if digits.len() >= 4 {
            out.push('#');
        } else {
            out.push_str(&digits);
        }
        digits.clear();
        out.push(c);
    }
    out.pop();
    out
}

/// What a wait inside a testbed watches for progress, from its env (for inner runs, which
/// have the env but no [`super::Testbed`]): the routers' logs (FF_LOG, SRV_LOG, CLI_LOG) and
/// every `*.log` directly in TESTBED_DIR (i2psocks and the other spawned processes).
pub fn testbed_logs_from_env(env: &std::collections::HashMap<String, String>) -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = ["CLI_LOG", "SRV_LOG", "FF_LOG"]
        .iter()
        .filter_map(|k| env.get(*k).map(PathBuf::from))
        .collect();
    if let Some(dir) = env.get("TESTBED_DIR") {
        logs.extend(logs_in(Path::new(dir)));
    }
    logs
}

/// Every `*.log` directly in `dir`, sorted.
pub fn logs_in(dir: &Path) -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "log"))
                .collect()
        })
        .unwrap_or_default();
    logs.sort();
    logs
}

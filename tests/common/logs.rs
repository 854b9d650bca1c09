//! Reading the logs of the routers and proxies a test started.
//!
//! The tests read logs for three reasons: to wait for a line (a router's debug log grows by
//! megabytes, so a poll reads only what was added since the last look), to judge what a
//! process did during one stage of a test (the lines added since an offset taken before
//! it), and to show a log's end in a failure message. These helpers are the one place
//! that does it, so every test treats a missing or not yet created log the same way: as
//! empty, never as a panic (a process that failed to start has no log, and the failure
//! message must still come out). Bytes that are not UTF-8 are replaced, not fatal.
//!
//! Their tests: `tests/progress_waits.rs` (tail, lines since an offset) and
//! `tests/faults_router.rs` (the [`LogReader`], next to its one user), both of which run
//! without routers.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::NsChild;

/// How many bytes of the end of a log a [`LogReader`] keeps for the next read, so that a
/// needle written in two pieces (the writer's buffer flushed mid-line) is still found; a
/// log line is shorter than this.
const CARRY: usize = 512;

/// How much of the end of i2psocks' log a failure message shows.
const TAIL_BYTES: u64 = 20_000;

/// The length of the file at `path`; 0 when it does not exist (yet), so an offset taken
/// before a process created its log covers everything it writes.
pub fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The whole log at `path` as text (empty when it cannot be read).
pub fn log_text(path: impl AsRef<Path>) -> String {
    log_text_since(path.as_ref(), 0)
}

/// What the log at `path` gained from byte `offset` on (take the offset with [`file_len`]
/// before the stage of interest); empty when nothing was added or the file cannot be read.
pub fn log_text_since(path: &Path, offset: u64) -> String {
    bytes_since(path, offset)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The bytes of the file at `path` from `offset` on (none when it is shorter), read without
/// the part before.
fn bytes_since(path: &Path, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

/// The lines the log at `path` gained from byte `offset` on.
pub fn log_lines_since(path: &Path, offset: u64) -> Vec<String> {
    log_text_since(path, offset)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The last `lines` lines of the file at `path`, framed with its name (a note when it
/// cannot be read): enough to tell why a wait on a router failed without flooding the
/// output with a debug log.
pub fn log_tail_lines(path: &Path, lines: usize) -> String {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => return format!("----- {}: {e} -----\n", path.display()),
    };
    let all: Vec<&str> = text.lines().collect();
    let tail = all[all.len().saturating_sub(lines)..].join("\n");
    format!(
        "----- tail of {} -----\n{tail}\n----- end of {} -----\n",
        path.display(),
        path.display()
    )
}

/// The last 20,000 bytes of `child`'s log, framed so it stands out in a test failure.
pub fn log_tail(child: &NsChild) -> String {
    let path = child.log_path();
    let offset = file_len(path).saturating_sub(TAIL_BYTES);
    format!(
        "----- i2psocks log (tail) -----\n{}\n----- end -----",
        log_text_since(path, offset)
    )
}

/// The whole log at `path` framed as `name`'s log, for a failure's output.
pub fn framed_log(name: &str, path: &Path) -> String {
    format!("----- {name} log -----\n{}----- end -----", log_text(path))
}

/// Reads what a log gained since the last call (a debug log grows by megabytes, so it is not
/// read whole ten times a second), keeping a line's worth of the end so that a needle split
/// between two reads is still found.
pub struct LogReader {
    path: PathBuf,
    pos: u64,
    carry: String,
}

impl LogReader {
    /// A reader of `path` that starts at byte `offset` (what came before is not searched).
    pub fn new(path: PathBuf, offset: u64) -> LogReader {
        LogReader {
            path,
            pos: offset,
            carry: String::new(),
        }
    }

    /// Whether `needle` is in what the log gained since the last call (or since the offset),
    /// together with the end kept from the read before.
    pub fn new_text_contains(&mut self, needle: &str) -> bool {
        let buf = match bytes_since(&self.path, self.pos) {
            Ok(buf) if !buf.is_empty() => buf,
            _ => return false,
        };
        self.pos += buf.len() as u64;
        let text = std::mem::take(&mut self.carry) + &String::from_utf8_lossy(&buf);
        if text.contains(needle) {
            return true;
        }
        let keep = text.len().saturating_sub(CARRY);
        let start = (keep..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        self.carry = text[start..].to_owned();
        false
    }
}

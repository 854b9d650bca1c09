//! The progress-following waits of tests/common (`wait_following`, `Patience`), which every
//! real-router test uses for its waits on routers: a stage that keeps advancing keeps its
//! budget, a stage that stands still is given up after the stall limit, the cap ends any
//! wait, and a failure names what was waited for and shows the watched logs' tails. Also
//! the log reading of tests/common/logs.rs that those waits and failure messages rest on.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{Patience, file_len, log_lines_since, log_tail_lines, wait_following};

/// Stall limit of the waits that must give up.
const STALL: Duration = Duration::from_millis(600);
/// Stall limit of the waits that must go on: a loaded machine may pause this process for
/// a good fraction of a second between two looks, which must not count as standing still.
const PATIENT: Duration = Duration::from_secs(2);
/// "Gave up, did not hang": far above [`STALL`], far below any real hang.
const GAVE_UP_WITHIN: Duration = Duration::from_secs(10);

fn log_with(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("router.log");
    std::fs::write(&path, text).expect("write log");
    (dir, path)
}

fn append(path: &std::path::Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open log");
    writeln!(f, "{line}").expect("append");
}

#[test]
fn a_growing_log_keeps_the_wait_going_past_the_stall_limit() {
    let (_dir, log) = log_with("start\n");
    let started = Instant::now();
    let mut tries = 0;
    let (value, took) = wait_following(
        "the stage to finish",
        Patience::stall(PATIENT),
        std::slice::from_ref(&log),
        || {
            tries += 1;
            if started.elapsed() >= PATIENT * 2 {
                return Ok(tries);
            }
            append(&log, &format!("building tunnel {tries}"));
            Err("not yet".to_owned())
        },
    )
    .expect("a stage that advances must not be given up");
    assert!(value > 1);
    assert!(took >= PATIENT * 2, "finished after {took:?}");
}

#[test]
fn a_changing_answer_counts_as_progress() {
    let started = Instant::now();
    let mut n = 0;
    let outcome = wait_following("the answer", Patience::stall(PATIENT), &[], || {
        n += 1;
        if started.elapsed() >= PATIENT * 2 {
            Ok(())
        } else {
            Err(format!("curl exit {}", n % 2))
        }
    });
    assert!(outcome.is_ok(), "{outcome:?}");
}

#[test]
fn timings_in_an_answer_are_no_progress() {
    let started = Instant::now();
    let outcome = wait_following("the answer", Patience::stall(STALL), &[], || {
        Err::<(), _>(format!(
            "curl exit 28: Operation timed out after {} milliseconds",
            10_000 + started.elapsed().as_millis()
        ))
    });
    let err = outcome.expect_err("an answer that differs only in a timing is no progress");
    assert!(err.contains("nothing advanced"), "{err}");
    assert!(
        started.elapsed() < GAVE_UP_WITHIN,
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_stage_that_stands_still_fails_with_what_and_the_log_tail() {
    let (_dir, log) = log_with("Tunnels: can't build inbound tunnel\n");
    let started = Instant::now();
    let err = wait_following(
        "a 200 for web",
        Patience::stall(STALL),
        std::slice::from_ref(&log),
        || Err::<(), _>("curl exit 97, HTTP 000".to_owned()),
    )
    .expect_err("nothing advances");
    let waited = started.elapsed();
    assert!(
        waited >= STALL && waited < GAVE_UP_WITHIN,
        "gave up after {waited:?}"
    );
    assert!(err.contains("a 200 for web"), "{err}");
    assert!(err.contains("nothing advanced"), "{err}");
    assert!(err.contains("curl exit 97, HTTP 000"), "{err}");
    assert!(
        err.contains("Tunnels: can't build inbound tunnel"),
        "no log tail: {err}"
    );
}

#[test]
fn the_cap_ends_a_wait_that_advances_forever() {
    let (_dir, log) = log_with("");
    let patience = Patience {
        stall: Duration::from_secs(60),
        cap: STALL,
    };
    let started = Instant::now();
    let err = wait_following("forever", patience, std::slice::from_ref(&log), || {
        append(&log, "still busy");
        Err::<(), _>("busy".to_owned())
    })
    .expect_err("the cap must end it");
    assert!(err.contains("outer cap"), "{err}");
    assert!(
        started.elapsed() < GAVE_UP_WITHIN,
        "took {:?}",
        started.elapsed()
    );
}

/// The tail a failed wait shows (tests/common/logs.rs `log_tail_lines`): the last lines
/// only, framed with the log's name, and a note instead of a panic for a missing log.
#[test]
fn a_log_tail_shows_the_last_lines_framed() {
    let (_dir, log) = log_with("one\ntwo\nthree\nfour\n");
    let tail = log_tail_lines(&log, 2);
    let name = log.display().to_string();
    assert_eq!(
        tail,
        format!("----- tail of {name} -----\nthree\nfour\n----- end of {name} -----\n")
    );
    assert!(log_tail_lines(&log, 10).contains("one\ntwo\nthree\nfour\n"));
    let missing = log.with_file_name("never-written.log");
    let note = log_tail_lines(&missing, 2);
    assert!(
        note.starts_with(&format!("----- {}: ", missing.display())),
        "{note}"
    );
}

/// The lines a log gained since an offset taken with `file_len` (what a test reads to judge
/// one stage): nothing from before, nothing from a log that does not exist.
#[test]
fn log_lines_since_reads_only_what_came_after_the_offset() {
    let (_dir, log) = log_with("before\n");
    let offset = file_len(&log);
    assert!(log_lines_since(&log, offset).is_empty());
    append(&log, "after 1");
    append(&log, "after 2");
    assert_eq!(log_lines_since(&log, offset), ["after 1", "after 2"]);
    assert_eq!(log_lines_since(&log, 0).len(), 3);
    let missing = log.with_file_name("never-written.log");
    assert_eq!(file_len(&missing), 0);
    assert!(log_lines_since(&missing, 0).is_empty());
}

//! Logs of processes a test started, for failure messages.

use super::NsChild;

/// The last 20,000 bytes of `child`'s log, framed so it stands out in a test failure.
pub fn log_tail(child: &NsChild) -> String {
    let log = std::fs::read_to_string(child.log_path()).unwrap_or_default();
    let start = log.len().saturating_sub(20_000);
    format!(
        "----- i2psocks log (tail) -----\n{}\n----- end -----",
        log.get(start..).unwrap_or(&log)
    )
}

//! Bounded waits for async tests: no sleep is ever the synchronisation.

use std::future::Future;
use std::time::Duration;

use tokio::time::timeout;

/// Generous bound for waits that normally take milliseconds.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Await `fut`, failing the test if it takes longer than [`DEADLINE`].
pub async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match timeout(DEADLINE, fut).await {
        Ok(out) => out,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// True when `fut` is still pending after `quiet`: for "nothing may arrive while ..."
/// checks, where waiting longer only makes the check stronger.
pub async fn still_pending<F: Future>(quiet: Duration, fut: F) -> bool {
    timeout(quiet, fut).await.is_err()
}

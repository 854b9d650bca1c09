//! Session-state reporting: every state change of a session goes to the log, and a lost
//! session ends its streams at once.

use crate::i2cp::{self, I2cpHandle};
use crate::streaming::StreamingHandle;

/// Whose session it is, for its log lines.
pub(super) enum SessionRole {
    /// The proxy's own destination (its first readiness is reported to systemd).
    Shared,
    /// An isolated user's (the escaped username).
    User(String),
    /// A detour (its address).
    Detour(String),
}

/// Log every session state change (what the operator sees while it waits: see
/// [`crate::service_status`]).
/// When the session is lost, its streams are ended at once: clients see a close instead
/// of waiting for retransmission timeouts on a session that no longer exists.
pub(super) fn report_session_state(
    i2cp: &I2cpHandle,
    streaming: StreamingHandle,
    role: SessionRole,
) -> tokio::task::JoinHandle<()> {
    let (user, detour) = match role {
        SessionRole::Shared => (None, None),
        SessionRole::User(user) => (Some(user), None),
        SessionRole::Detour(b32) => (None, Some(b32)),
    };
    let mut status = i2cp.status();
    let started = tokio::time::Instant::now();
    tokio::spawn(async move {
        // While the router stays away every reconnect attempt (up to one a second) repeats the
        // same states. The driver warns about the reason (once, then once a minute); here
        // it is said only for isolated users' sessions, whose driver span has no user name.
        let mut down_since_ready: Option<i2cp::DownReason> = None;
        loop {
            let state = status.borrow_and_update().clone();
            match state {
                i2cp::SessionState::Ready => {
                    down_since_ready = None;
                    let ready_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    match (&user, &detour) {
                        (Some(user), _) => tracing::info!(
                            %user,
                            ready_ms,
                            "isolation: I2CP session of user is up"
                        ),
                        (None, Some(b32)) => {
                            tracing::info!(%b32, ready_ms, "detour: I2CP session is up")
                        }
                        (None, None) => tracing::info!("I2CP session is up"),
                    }
                }
                i2cp::SessionState::Connecting => match &user {
                    None if down_since_ready.is_none() && detour.is_none() => {
                        tracing::info!("connecting to the router")
                    }
                    _ => tracing::debug!(
                        user = user.as_deref().unwrap_or("-"),
                        "connecting to the router"
                    ),
                },
                i2cp::SessionState::Down(i2cp::DownReason::ShutDown) => {
                    tracing::debug!(user = user.as_deref().unwrap_or("-"), "session closed");
                    streaming.abort_all();
                }
                i2cp::SessionState::Down(reason) => {
                    match &user {
                        Some(user) if down_since_ready.as_ref() != Some(&reason) => {
                            tracing::warn!(%user, "isolation: {reason}{}", user_retry(&reason))
                        }
                        _ => tracing::debug!("{reason}"),
                    }
                    down_since_ready = Some(reason);
                    streaming.abort_all();
                }
            }
            if status.changed().await.is_err() {
                return;
            }
        }
    })
}

/// What happens next to an isolated user whose session the router refused: the proxy and
/// other users go on; a refusal that may pass is retried on the user's next connection.
fn user_retry(reason: &i2cp::DownReason) -> &'static str {
    match reason {
        i2cp::DownReason::RouterRefused { may_pass: true, .. } => {
            " (until the router has room, this user's connections fail; each new one tries a new \
             session; the proxy and other users go on)"
        }
        i2cp::DownReason::RouterRefused { .. } => {
            " (this user's connections fail until the session is closed as idle; the proxy and \
             other users go on)"
        }
        _ => "",
    }
}

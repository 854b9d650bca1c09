//! What an [`I2cpHandle`](super::I2cpHandle) reports: the session's state, why it is down,
//! and why a lookup or a send failed. Kept apart from the task so that the user-facing
//! wording of every failure is in one place.

use thiserror::Error;

use crate::i2cp::session::CloseReason;

/// Why the session is not available; `Display` is the message for the user.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DownReason {
    /// TCP connect refused while the config says I2CP is enabled. The router is unknown
    /// here (nothing answered), so both routers' settings are named.
    #[error(
        "cannot reach the router's I2CP server at {addr}: is the router running with I2CP on? \
         (i2pd: [i2cp] enabled = true, address and port in i2pd.conf; Java I2P: the \"I2CP\" \
         client enabled in the console, or i2cp.disableInterface=false, i2cp.hostname and \
         i2cp.port in router.config)"
    )]
    Unreachable {
        /// `address:port`.
        addr: String,
    },
    /// TCP connect refused and the config says I2CP is off.
    #[error(
        "i2pd's I2CP server is off: set [i2cp] enabled = true in i2pd.conf and restart i2pd \
         (with Java I2P instead: enable the \"I2CP\" client in the console, or set \
         i2cp.disableInterface=false in router.config)"
    )]
    I2cpDisabled,
    /// Another connect failure (timeout, no route…).
    #[error("cannot connect to the router's I2CP server at {addr}: {error}")]
    ConnectFailed {
        /// `address:port`.
        addr: String,
        /// The OS error.
        error: String,
    },
    /// SessionStatus 3.
    #[error(
        "the router refused the session (status 3): another process may be using this keys file's destination, or an old session is still closing"
    )]
    SessionInvalid,
    /// SessionStatus 4 or another code.
    #[error("the router refused the session (status {0})")]
    SessionRefused(u8),
    /// The router refused the session on purpose and retrying would not help: a Disconnect
    /// before the session existed (Java I2P), or SessionStatus 3/4 to
    /// [`REFUSALS_BEFORE_GIVING_UP`](super::REFUSALS_BEFORE_GIVING_UP) attempts in a row. The session stays down for good.
    #[error("the router refused the session: {reason}; {advice}")]
    RouterRefused {
        /// What the router said, in its words where it gave any.
        reason: String,
        /// What to change.
        advice: String,
        /// The refusal is a limit that frees up as other sessions close (Java I2P's session
        /// limit): a new session may succeed later, though this one stays down.
        may_pass: bool,
    },
    /// The router ended the session or the connection (EOF, Disconnect, status 0,
    /// protocol error).
    #[error("lost the router's I2CP session: {0}")]
    Lost(String),
    /// [`I2cpHandle::shutdown`](super::I2cpHandle::shutdown) was called or every handle was dropped.
    #[error("the I2CP client was shut down")]
    ShutDown,
}

/// What the session is doing now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Connecting or waiting for the first LeaseSet request.
    Connecting,
    /// Usable: the first LeaseSet was sent.
    Ready,
    /// Not usable; reconnecting in the background unless the reason is `ShutDown`.
    Down(DownReason),
}

/// A lookup that produced no destination.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum LookupError {
    /// The session is down (router unreachable, restarting…).
    #[error("{0}")]
    RouterDown(DownReason),
    /// The session did not become ready within the lookup timeout.
    #[error("the I2CP session is not ready yet (waiting for the router's tunnels)")]
    NotReady,
    /// The router could not resolve the name or find its LeaseSet.
    #[error("{0}: not found by the router")]
    NotFound(String),
    /// No answer within the lookup timeout.
    #[error("{0}: lookup timed out")]
    TimedOut(String),
    /// The router answered a hash lookup with a different destination.
    #[error("{0}: the router returned a destination with a different hash")]
    BadReply(String),
    /// The name cannot be sent (empty or longer than 255 bytes).
    #[error("invalid host name {0:?}")]
    InvalidName(String),
}

/// An outgoing message that could not be queued.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SendError {
    /// The session is down.
    #[error("{0}")]
    RouterDown(DownReason),
    /// The session is still starting.
    #[error("the I2CP session is not ready yet")]
    NotReady,
    /// The bounded send queue is full (the router is not keeping up).
    #[error("the I2CP send queue is full")]
    QueueFull,
    /// The wrapped payload does not fit one I2CP message.
    #[error("payload of {0} bytes is too large for one I2CP message")]
    TooLarge(usize),
}

/// What the user is told when the session `reason` ended it.
pub(super) fn down_reason(reason: CloseReason, shutting_down: bool) -> DownReason {
    match reason {
        CloseReason::Destroyed if shutting_down => DownReason::ShutDown,
        CloseReason::Invalid => DownReason::SessionInvalid,
        CloseReason::Refused(code) => DownReason::SessionRefused(code),
        CloseReason::Destroyed => DownReason::Lost("the router destroyed the session".into()),
        CloseReason::Disconnected(why) => {
            DownReason::Lost(format!("router sent Disconnect: {why}"))
        }
        CloseReason::Protocol(why) => DownReason::Lost(format!("protocol error: {why}")),
        CloseReason::SetupTimeout => DownReason::Lost(SETUP_UNANSWERED.into()),
        CloseReason::ConnectionLost(why) => DownReason::Lost(why),
        CloseReason::Local(why) => DownReason::Lost(why),
    }
}

/// Why a session set-up timed out and what to do. The connection was accepted, so the
/// router's I2CP server thread is alive enough to listen but not to answer: it is stuck.
/// i2pd 2.57.0 to 2.59.0 deadlock this way with zero-hop tunnels: `TunnelPool::TestTunnels`
/// (libi2pd/TunnelPool.cpp) holds the pool's tunnel mutex while it creates a replacement for
/// the last tunnel that failed its test twice, a zero-hop tunnel is established at once, and
/// `TunnelPool::TunnelCreated` takes the same mutex again; the I2CP thread then blocks on it
/// too. Nothing but a router restart ends it (RELIABILITY.md "Soak against i2pd 2.59.0").
const SETUP_UNANSWERED: &str = "the router did not answer the session set-up (its I2CP \
     server accepts connections but answers nothing: the router is stuck; i2pd 2.57 to 2.59 \
     with inbound.length or outbound.length = 0 deadlock under load; restart the router and \
     use tunnels of 1 hop or more)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unanswered_set_up_says_the_router_is_stuck_and_what_to_do() {
        let reason = down_reason(CloseReason::SetupTimeout, false).to_string();
        assert!(
            reason.contains("did not answer the session set-up"),
            "{reason}"
        );
        assert!(reason.contains("restart the router"), "{reason}");
        assert!(reason.contains("length = 0"), "{reason}");
    }
}

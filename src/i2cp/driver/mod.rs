//! The tokio side of I2CP: one task per session owns the TCP connection and a
//! [`Session`], reconnects with back-off when the router goes away, and serves the
//! public [`I2cpHandle`].
//!
//! Per connection the task loops over one `select!`: read → [`Session::handle_bytes`]
//! (which answers RequestVariableLeaseSet before returning), write pending bytes, accept
//! commands and outgoing data, wake for the session's deadline. Outgoing data is only
//! taken while fewer than [`WRITE_HIGH_WATER`] bytes wait to be written, so a LeaseSet
//! answer never queues behind more than that, and reading never waits for writing.

//!
//! * [`handle`]: [`start`] and the public [`I2cpHandle`] the upper layers call.
//! * [`task`]: the session task: connect, reconnect with back-off, give up on refusals.
//! * [`connection`]: one connection's `select!` loop around the sans-I/O [`Session`].
//! * [`state`]: what the handle reports: [`SessionState`], [`DownReason`] and the errors.
//! * [`refusal`]: telling a router's refusal from a lost connection, and what to advise.
//! * [`subscribers`]: who receives the payloads of each protocol number ([`Inbound`]).
//!
//! [`Session`]: super::session::Session
//! [`Session::handle_bytes`]: super::session::Session::handle_bytes

mod connection;
mod handle;
mod refusal;
mod state;
mod subscribers;
mod task;

use std::sync::Arc;
use std::time::Duration;

use crate::data::PrivateKeys;

pub use handle::{I2cpHandle, SESSION_START_WAIT, start};
pub use state::{DownReason, LookupError, SendError, SessionState};
pub use subscribers::Inbound;

/// Stop taking outgoing data while this many bytes wait to be written.
pub const WRITE_HIGH_WATER: usize = 64 * 1024;
/// Outgoing messages buffered between [`I2cpHandle::send`] and the connection task.
pub const SEND_QUEUE_LEN: usize = 1024;
/// Inbound payloads buffered per subscriber before new ones are dropped.
pub const INBOUND_QUEUE_LEN: usize = 1024;
/// First reconnect delay; doubles up to `reconnect_max_delay`.
pub const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(250);
/// Give up a TCP connect attempt after this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// After DestroySession, wait this long for the router's SessionStatus 0 / close.
pub const DESTROY_LINGER: Duration = Duration::from_secs(2);
/// SessionStatus 3 or 4 this many times in a row ends the retrying: once can be an old
/// session of ours the router has not finished closing, three times (over about two
/// seconds of back-off) is another client holding the destination or options the router
/// will not take.
pub const REFUSALS_BEFORE_GIVING_UP: u32 = 3;
/// After a Disconnect "duplicate destination" while the previous holder of our keys ended
/// without closing its session (a crash or kill just before this start), wait this long
/// and try once more. Java I2P 2.7 drops a dead client's session only when its reader
/// thread sees the closed connection, which on a loaded machine can come after our new
/// CreateSession; retrying before that drop would let the late drop remove our new
/// session's routing entry (Java I2P 2.7.0
/// router/java/src/net/i2p/router/client/ClientManager.java, `unregisterConnection`
/// removes by destination).
pub const STALE_SESSION_WAIT: Duration = Duration::from_secs(10);

/// Options sent unless the caller sets them (docs/i2cp.md "Options i2psocks sends"):
/// no floodfill publication, no "accepted" statuses, and for Java routers fast receive
/// and ECIES-X25519 (the only key our LeaseSet publishes); i2pd ignores the last two.
pub const DEFAULT_OPTIONS: [(&str, &str); 4] = [
    ("i2cp.dontPublishLeaseSet", "true"),
    ("i2cp.fastReceive", "true"),
    ("i2cp.leaseSetEncType", "4"),
    ("i2cp.messageReliability", "none"),
];

/// How to reach the router and what session to create.
#[derive(Clone)]
pub struct I2cpClientConfig {
    /// `[i2cp] address` of the router (i2pd default 127.0.0.1).
    pub address: String,
    /// `[i2cp] port` (i2pd default 7654).
    pub port: u16,
    /// The session's destination and signing key.
    pub keys: Arc<PrivateKeys>,
    /// SessionConfig options; [`DEFAULT_OPTIONS`] are added for keys not given here.
    pub options: Vec<(String, String)>,
    /// Client-side limit for HostLookup (i2pd ignores the field).
    pub lookup_timeout: Duration,
    /// Cap of the exponential reconnect back-off (30 s recommended).
    pub reconnect_max_delay: Duration,
    /// `[i2cp] enabled` as read from i2pd.conf, to word the "refused" error.
    pub i2cp_enabled_in_config: bool,
    /// The previous instance on these keys ended without closing its session (its PID
    /// was left in the keys lock file), so the router may still hold that session for a
    /// moment: one "duplicate destination" refusal is then retried after
    /// [`STALE_SESSION_WAIT`] instead of being final.
    pub after_unclean_exit: bool,
}

/// Caller options plus [`DEFAULT_OPTIONS`] for keys the caller did not set. A key given
/// twice keeps its last value (a Mapping holds each key once).
pub fn merged_options(user: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = DEFAULT_OPTIONS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (key, value) in user {
        match out.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.clone(),
            None => out.push((key.clone(), value.clone())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_options_override_defaults_and_duplicates_keep_last() {
        let user = vec![
            ("i2cp.dontPublishLeaseSet".to_string(), "false".to_string()),
            ("inbound.length".to_string(), "1".to_string()),
            ("inbound.length".to_string(), "0".to_string()),
        ];
        let merged = merged_options(&user);
        let get = |k: &str| {
            merged
                .iter()
                .filter(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("i2cp.dontPublishLeaseSet"), vec!["false"]);
        assert_eq!(get("inbound.length"), vec!["0"]);
        assert_eq!(get("i2cp.messageReliability"), vec!["none"]);
        assert_eq!(merged.len(), 5);
    }
}

//! Telling the router refusing a session from a connection that failed, and what to tell
//! the user: a refusal repeated (or a Java I2P Disconnect) stops the reconnecting.

use crate::i2cp::session::CloseReason;

use super::REFUSALS_BEFORE_GIVING_UP;
use super::state::DownReason;

/// How the router answered CreateSession when it did not create the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// Disconnect before any SessionStatus (Java I2P's way of refusing).
    Disconnect(String),
    /// SessionStatus 3 (invalid).
    Invalid,
    /// SessionStatus 4 (refused) or an unknown code.
    Refused(u8),
}

impl Refusal {
    /// Whether to stop retrying after `in_a_row` refusals. A Disconnect before the first
    /// session is final at once: retrying "duplicate destination" makes Java I2P 2.7 accept
    /// the second client and silently cut off the first one. The one exception is
    /// [`Refusal::is_stale_session`]: the first such refusal is retried.
    pub(super) fn is_final(
        &self,
        in_a_row: u32,
        ever_ready: bool,
        after_unclean_exit: bool,
    ) -> bool {
        match self {
            Refusal::Disconnect(_) if self.is_stale_session(after_unclean_exit) => in_a_row > 1,
            Refusal::Disconnect(_) if !ever_ready => true,
            _ => in_a_row >= REFUSALS_BEFORE_GIVING_UP,
        }
    }

    /// A "duplicate destination" Disconnect right after an unclean exit of the previous
    /// instance on the same keys: most likely the router still holding that instance's
    /// session (Java I2P notices the closed connection a moment later), not another client.
    pub(super) fn is_stale_session(&self, after_unclean_exit: bool) -> bool {
        match self {
            Refusal::Disconnect(why) => after_unclean_exit && is_duplicate(why),
            _ => false,
        }
    }

    /// The message for the user: the router's reason and what to change.
    pub(super) fn down_reason(&self) -> DownReason {
        let may_pass = self.may_pass();
        let (reason, advice) = match self {
            Refusal::Disconnect(why) => (
                format!("Disconnect \"{why}\" before the session was created"),
                disconnect_advice(why),
            ),
            Refusal::Invalid => (
                format!("SessionStatus 3 (invalid), {REFUSALS_BEFORE_GIVING_UP} times in a row"),
                "another client is connected to the router with this destination (a second \
                 i2psocks, or a tunnel using a copy of the same keys file): stop it or give \
                 one of them other keys; otherwise the router's log says what it rejected"
                    .to_string(),
            ),
            Refusal::Refused(code) => (
                format!(
                    "SessionStatus {code} (refused), {REFUSALS_BEFORE_GIVING_UP} times in a row"
                ),
                "the router is at a session limit or does not accept the session options; \
                 its log says which"
                    .to_string(),
            ),
        };
        DownReason::RouterRefused {
            reason,
            advice,
            may_pass,
        }
    }

    /// Whether the refusal is a limit that frees up as other sessions close (Java I2P's
    /// session limit), so that a new session may be tried later, e.g. on an isolated user's
    /// next connection. Every other refusal is about this destination or its options.
    fn may_pass(&self) -> bool {
        matches!(self, Refusal::Disconnect(why) if is_session_limit(why))
    }
}

/// Java I2P's Disconnect reason when its router-wide I2CP session limit is reached:
/// "session limit exceeded" (Java I2P 2.7.0
/// router/java/src/net/i2p/router/client/ClientMessageEventListener.java,
/// handleCreateSession); its log says "Max sessions exceeded" (ClientManager.java).
fn is_session_limit(why: &str) -> bool {
    let lower = why.to_ascii_lowercase();
    lower.contains("session limit") || lower.contains("max sessions")
}

/// What to change when Java I2P's session limit is reached. Java I2P 2.7.0 counts every
/// I2CP session on the router, of all clients, subsessions included, against
/// `i2cp.maxSessions` (router.config, default 50, at most 2048; ClientManager.java
/// `locked_getNextSessionId`). i2pd has no such limit on I2CP sessions.
const SESSION_LIMIT_ADVICE: &str = "Java I2P allows at most i2cp.maxSessions I2CP sessions \
     (default 50) across all of its clients, and with isolation every user's session counts: \
     raise i2cp.maxSessions in the router's router.config and restart the router, or lower \
     i2psocks' maxsessions (or sessionidletimeout) to stay under it; i2pd has no such limit";

/// What to change for a Disconnect reason. The texts matched are Java I2P 2.7's
/// (router/java/src/net/i2p/router/client/ClientConnectionRunner.java and
/// ClientMessageEventListener.java); i2pd answers with SessionStatus instead.
fn disconnect_advice(why: &str) -> String {
    let lower = why.to_ascii_lowercase();
    if is_duplicate(why) {
        "another client is connected to the router with this destination (a second i2psocks, \
         or a tunnel using a copy of the same keys file): stop it or give one of them other keys"
            .to_string()
    } else if lower.contains("encryption type") || lower.contains("key certificate") {
        "the keys file's destination names an encryption type in its key certificate (type 4, \
         X25519, as i2pd may create) that Java I2P does not accept; use a keys file with \
         encryption type 0 (i2psocks creates those: move the file away and a new one, with a \
         new address, is made), or use i2pd"
            .to_string()
    } else if is_session_limit(why) {
        SESSION_LIMIT_ADVICE.to_string()
    } else {
        "the router's log says why; fix that there".to_string()
    }
}

/// Java I2P 2.7's Disconnect reason for a destination another client already holds.
fn is_duplicate(why: &str) -> bool {
    why.to_ascii_lowercase().contains("duplicate")
}

/// Whether a close before SessionStatus 1 was the router refusing CreateSession.
pub(super) fn refusal(reason: &CloseReason) -> Option<Refusal> {
    match reason {
        CloseReason::Invalid => Some(Refusal::Invalid),
        CloseReason::Refused(code) => Some(Refusal::Refused(*code)),
        CloseReason::Disconnected(why) => Some(Refusal::Disconnect(why.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Java I2P 2.7.0's exact Disconnect text at its session limit.
    const JAVA_LIMIT: &str = "session limit exceeded";

    #[test]
    fn javas_session_limit_names_the_setting_and_both_routers() {
        let refusal = Refusal::Disconnect(JAVA_LIMIT.into());
        let text = refusal.down_reason().to_string();
        for part in [
            "\"session limit exceeded\"",
            "i2cp.maxSessions",
            "router.config",
            "default 50",
            "maxsessions",
            "i2pd has no such limit",
        ] {
            assert!(text.contains(part), "{part:?} missing in: {text}");
        }
        // An isolated user's session is refused while i2psocks runs on: no restart to ask.
        assert!(!text.contains("start i2psocks again"), "{text}");
    }

    #[test]
    fn only_the_session_limit_may_pass() {
        let limit = Refusal::Disconnect(JAVA_LIMIT.into()).down_reason();
        assert!(matches!(
            limit,
            DownReason::RouterRefused { may_pass: true, .. }
        ));
        for other in [
            Refusal::Disconnect("duplicate destination".into()),
            Refusal::Disconnect(
                "Non-ElGamal encryption type in key certificate unsupported".into(),
            ),
            Refusal::Invalid,
            Refusal::Refused(4),
        ] {
            let reason = other.down_reason();
            assert!(
                matches!(
                    reason,
                    DownReason::RouterRefused {
                        may_pass: false,
                        ..
                    }
                ),
                "{reason:?}"
            );
        }
    }

    #[test]
    fn an_unknown_disconnect_points_at_the_router_log() {
        let text = Refusal::Disconnect("something new".into())
            .down_reason()
            .to_string();
        assert!(text.contains("\"something new\""), "{text}");
        assert!(text.contains("router's log"), "{text}");
        assert!(!text.contains("start i2psocks again"), "{text}");
    }

    fn duplicate() -> Refusal {
        Refusal::Disconnect("duplicate destination".to_string())
    }

    #[test]
    fn duplicate_destination_is_final_at_once_without_an_unclean_exit() {
        assert!(duplicate().is_final(1, false, false));
        assert!(!duplicate().is_stale_session(false));
    }

    #[test]
    fn duplicate_destination_after_an_unclean_exit_is_retried_once() {
        assert!(duplicate().is_stale_session(true));
        assert!(!duplicate().is_final(1, false, true));
        assert!(duplicate().is_final(2, false, true));
    }

    #[test]
    fn other_disconnects_stay_final_after_an_unclean_exit() {
        let other = Refusal::Disconnect("Non-ElGamal encryption type".to_string());
        assert!(!other.is_stale_session(true));
        assert!(other.is_final(1, false, true));
    }
}

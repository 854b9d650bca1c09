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
        DownReason::RouterRefused { reason, advice }
    }
}

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
    } else {
        "the router's log says why; fix that and start i2psocks again".to_string()
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

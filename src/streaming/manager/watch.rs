//! Health watches: the application asks the manager to tell it whether a stream's SYN was
//! answered within a patience, and later whether the answered stream stalls. The manager
//! checks at its own deadlines and state changes, so a watched idle stream costs no task
//! and no timer wake of its own.

use std::time::Instant;

/// What a watch reports about its stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// The peer answered the SYN within the patience (SYN-ACK, or a RESET: it is there and
    /// refused).
    Answered,
    /// No answer within the patience.
    Unanswered,
    /// After [`Health::Answered`]: the stream's packets went unacknowledged through the
    /// watch's number of retransmission timeouts in a row.
    Stalled,
}

/// Called with the manager locked: it must not block (queue the report and return).
pub type HealthReport = Box<dyn FnMut(Health) + Send>;

/// One stream's watch. It reports at most [`Health::Answered`] then [`Health::Stalled`], or
/// [`Health::Unanswered`] alone, and is dropped with its stream (no report then).
pub(super) struct Watch {
    /// When the SYN's answer is looked at; `None` once it was.
    pub(super) syn_due: Option<Instant>,
    /// The SYN was answered at some point (a stream may be closed again by the time
    /// `syn_due` comes).
    pub(super) answered: bool,
    pub(super) stall_timeouts: u32,
    pub(super) report: HealthReport,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("syn_due", &self.syn_due)
            .field("answered", &self.answered)
            .field("stall_timeouts", &self.stall_timeouts)
            .finish_non_exhaustive()
    }
}

//! What goes into and comes out of a [`Session`](super::Session) besides bytes: the
//! clock reading it is given, the events it reports and why it closes.

use std::time::Instant;

use thiserror::Error;

use crate::data::Destination;

/// A point in time as both a monotonic instant (for deadlines) and wall-clock
/// milliseconds since the epoch (for I2P dates). The driver reads the clocks; the core
/// only receives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time.
    pub instant: Instant,
    /// Local wall clock, ms since the Unix epoch.
    pub unix_ms: u64,
}

/// Why a lookup produced no destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupFailure {
    /// The router answered with a failure code (i2pd: 1 = not found / not reachable).
    NotFound(u8),
    /// No answer before the client-side deadline (i2pd ignores the timeout field).
    TimedOut,
    /// The router returned a destination whose hash is not the one asked for.
    HashMismatch,
    /// The session closed while the lookup was pending.
    SessionClosed,
}

/// Why the session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// SessionStatus 3 to CreateSession: bad config or the destination already has a session.
    Invalid,
    /// SessionStatus 4 (or another unexpected code) to CreateSession.
    Refused(u8),
    /// SessionStatus 0: the router destroyed the session (or confirmed our DestroySession).
    Destroyed,
    /// The router sent Disconnect (Java).
    Disconnected(String),
    /// The router broke the protocol (bad frame, undecodable message).
    Protocol(String),
    /// The router did not answer GetDate / CreateSession in time.
    SetupTimeout,
    /// The transport ended (EOF or I/O error), reported by the driver.
    ConnectionLost(String),
    /// We could not build a message (a bug or unusable keys).
    Local(String),
}

/// Something the driver must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The router accepted CreateSession.
    Created {
        /// Our session id.
        sid: u16,
    },
    /// The first LeaseSet was sent: the session can be used.
    Ready,
    /// A received payload, already unwrapped (docs/i2cp.md "Payload wrapper").
    Payload {
        /// Protocol byte (see [`super::protocol`]).
        protocol: u8,
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// The inflated data.
        data: Vec<u8>,
    },
    /// A lookup finished.
    LookupResult {
        /// The id returned by [`Session::lookup`](super::Session::lookup).
        id: u32,
        /// The destination or why there is none.
        result: Result<Destination, LookupFailure>,
    },
    /// The session is over; nothing more will be sent or reported.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// A command the session cannot carry out now.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SessionError {
    /// The session is not created yet (or already closed).
    #[error("the I2CP session is not established")]
    NotEstablished,
    /// The message could not be encoded (too large, bad name).
    #[error("cannot encode I2CP message: {0}")]
    Encode(#[from] crate::i2cp::EncodeError),
}

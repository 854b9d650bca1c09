//! The lifecycle of one stream as types: which combinations of "SYN sent", "connected",
//! "our CLOSE sent/ACKed", "closing", "reset" and "closed" can exist at all.
//!
//! The flags that drive it are the Streaming Protocol Specification's ("Flags and Option
//! Data Fields": SYNCHRONIZE, CLOSE, RESET); the order of events is docs/streaming.md
//! "What i2pd sends". The peer's CLOSE (our read side) is not here: it is reached in
//! sequence order, so the receive buffer knows it (`RecvBuffer::is_finished`).

use super::CloseReason;

/// How far the opening got. A SYN carries data, so the initiator may send (and even shut
/// down its side) before the SYN-ACK; that is why the halves live beside this, not after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Handshake {
    /// Initiator: our SYN is the next packet.
    SynPending,
    /// Initiator: our SYN is out, no verified SYN-ACK yet.
    SynSent,
    /// The peer's SYN was accepted (responder), or its SYN-ACK came before our SYN left:
    /// our SYN(-ACK) is the next packet.
    SynReceived,
    /// Both SYNs are out.
    Established,
}

impl Handshake {
    /// Our SYN (initiator) or SYN-ACK (responder) has been emitted.
    pub(super) fn syn_sent(self) -> bool {
        matches!(self, Handshake::SynSent | Handshake::Established)
    }

    /// The peer's SYN or verified SYN-ACK has been seen: its receive id is known.
    pub(super) fn connected(self) -> bool {
        matches!(self, Handshake::SynReceived | Handshake::Established)
    }

    /// Our SYN(-ACK) went out.
    pub(super) fn on_syn_sent(self) -> Handshake {
        match self {
            Handshake::SynPending => Handshake::SynSent,
            Handshake::SynReceived => Handshake::Established,
            other => other,
        }
    }

    /// The peer's SYN(-ACK) verified.
    pub(super) fn on_peer_syn(self) -> Handshake {
        match self {
            Handshake::SynPending => Handshake::SynReceived,
            Handshake::SynSent => Handshake::Established,
            other => other,
        }
    }
}

/// Our sending direction. docs/streaming.md "What i2pd sends": the CLOSE goes out only once
/// all our data is acknowledged, so "shut down" and "CLOSE sent" are different states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SendHalf {
    /// The application may write.
    Open,
    /// `shutdown_write` or `close`: the CLOSE follows once everything written is ACKed.
    Shutdown,
    /// Our CLOSE, with this sequence number, is out.
    CloseSent {
        /// The CLOSE's sequence number.
        seq: u32,
    },
    /// The peer acknowledged our CLOSE.
    CloseAcked,
}

impl SendHalf {
    /// Our CLOSE has been emitted (acknowledged or not).
    pub(super) fn close_sent(self) -> bool {
        matches!(self, SendHalf::CloseSent { .. } | SendHalf::CloseAcked)
    }
}

/// The whole lifecycle (see the diagram in the module documentation of `connection`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    /// Running: packets flow in both directions as far as each half allows.
    Open {
        /// How far the opening got.
        handshake: Handshake,
        /// Our sending direction.
        send: SendHalf,
        /// The application closed its read side: incoming data is ACKed and discarded.
        read_closed: bool,
    },
    /// Both CLOSEs are done: the last ACK goes out, then `Closed(Normal)`.
    Finishing {
        /// Whether the opening completed, for [`super::Connection::is_connected`].
        connected: bool,
    },
    /// The application reset the stream: a signed RESET is the next packet, then
    /// `Closed(LocalReset)`.
    ResetPending {
        /// Whether the opening completed.
        connected: bool,
    },
    /// Ended; no further packets or events.
    Closed {
        /// Why.
        reason: CloseReason,
        /// Whether the opening had completed.
        connected: bool,
    },
}

impl State {
    /// A new stream: the initiator has sent nothing, the responder has accepted a SYN.
    pub(super) fn new(handshake: Handshake) -> State {
        State::Open {
            handshake,
            send: SendHalf::Open,
            read_closed: false,
        }
    }

    /// True when the opening completed (kept after the stream ends).
    pub(super) fn is_connected(self) -> bool {
        match self {
            State::Open { handshake, .. } => handshake.connected(),
            State::Finishing { connected }
            | State::ResetPending { connected }
            | State::Closed { connected, .. } => connected,
        }
    }

    /// Why the stream ended, once it has.
    pub(super) fn close_reason(self) -> Option<CloseReason> {
        match self {
            State::Closed { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// Our sending direction while open.
    pub(super) fn send_half(self) -> Option<SendHalf> {
        match self {
            State::Open { send, .. } => Some(send),
            _ => None,
        }
    }

    /// The application can still write.
    pub(super) fn is_writable(self) -> bool {
        self.send_half() == Some(SendHalf::Open)
    }

    /// The handshake while open.
    pub(super) fn handshake(self) -> Option<Handshake> {
        match self {
            State::Open { handshake, .. } => Some(handshake),
            _ => None,
        }
    }
}

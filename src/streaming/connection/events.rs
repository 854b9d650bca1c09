//! What a stream tells its user: who opened it, its events, why it ended, its counters.

/// Which side opened the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We sent the SYN.
    Initiator,
    /// The peer sent the SYN.
    Responder,
}

/// Why a stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Both CLOSEs exchanged (or the peer closed and forgot the stream, see the diagram).
    Normal,
    /// The peer sent a valid RESET (for a SYN: connection refused).
    PeerReset,
    /// We reset the stream.
    LocalReset,
    /// Our packets went unacknowledged through `max_resends` timeouts.
    TimedOut,
    /// Nothing arrived for the idle timeout.
    Idle,
    /// The I2CP session under the stream was lost (router gone): nothing can be sent.
    SessionLost,
}

/// Something the application should know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The SYN-ACK arrived and verified (initiator), or the stream was accepted (responder).
    Connected,
    /// Data became readable.
    Readable,
    /// Room in the send buffer after `write` returned less than offered.
    Writable,
    /// The peer's CLOSE was reached: nothing follows what is readable now.
    Finished,
    /// The stream ended; no further events.
    Closed(CloseReason),
}

/// Counters for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Packets we emitted (all kinds).
    pub packets_sent: u64,
    /// Sequenced packets emitted again.
    pub retransmits: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Packets handed to `handle_packet`.
    pub packets_received: u64,
    /// Received packets we already had.
    pub duplicates: u64,
    /// Received packets dropped for lack of room.
    pub dropped: u64,
    /// Received packets whose required signature failed.
    pub rejected: u64,
    /// Received sequenced packets that arrived ahead of a hole.
    pub out_of_order: u64,
    /// Plain ACKs emitted (not counting ACKs carried by data packets).
    pub plain_acks: u64,
}

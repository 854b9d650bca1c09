//! I2CP messages: one type per message, strict decode (every byte accounted for) and
//! encode. Layouts from the I2CP specification as i2pd serves them (docs/i2cp.md), confirmed on the
//! wire with i2pd 2.45.1.
//!
//! [`Message::decode`] takes a [`Frame`](super::framing::Frame) from the [`FrameSplitter`](super::framing::FrameSplitter);
//! unknown types decode to [`Message::Unknown`] so the caller can log and ignore them
//! (i2pd does the same, docs/i2cp.md "Message types").

//!
//! * [`types`]: the type numbers ([`MessageType`]), declared once.
//! * [`session_config`]: the signed SessionConfig of CreateSession.
//! * [`lease_set`]: RequestVariableLeaseSet's leases and CreateLeaseSet2.
//! * [`codec`]: decode and encode of every message body.

mod codec;
pub mod lease_set;
pub mod session_config;
pub mod types;

use crate::data::Destination;

pub use lease_set::{CreateLeaseSet2, LEASE_LEN, Lease, PrivateKeyEntry};
pub use session_config::SessionConfig;
pub use types::MessageType;

/// The API version we announce in GetDate. ≥ 0.9.39 so Java routers send
/// RequestVariableLeaseSet (docs/i2cp.md "Session set-up").
pub const CLIENT_VERSION: &str = "0.9.62";

/// Session id meaning "no session" (docs/i2cp.md "Framing").
pub const NO_SESSION: u16 = 0xFFFF;

/// Store type of a LeaseSet2 in CreateLeaseSet2 (docs/i2cp.md "LeaseSet2").
pub const STORE_TYPE_LS2: u8 = 3;

/// SessionStatus codes (docs/i2cp.md "Session set-up").
pub mod session_status {
    /// The session was destroyed.
    pub const DESTROYED: u8 = 0;
    /// The session was created.
    pub const CREATED: u8 = 1;
    /// Reconfiguration accepted.
    pub const UPDATED: u8 = 2;
    /// Invalid config, bad signature, or the destination already has a session.
    pub const INVALID: u8 = 3;
    /// Refused (e.g. a second session on one connection).
    pub const REFUSED: u8 = 4;
}

/// HostReply code for success (i2pd uses only 0 and 1, docs/i2cp.md "HostLookup and HostReply").
pub const HOST_REPLY_SUCCESS: u8 = 0;
/// HostReply code for failure.
pub const HOST_REPLY_FAILURE: u8 = 1;

/// What a HostLookup asks for (i2pd supports types 0 and 1 only, docs/i2cp.md "HostLookup and
/// HostReply").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupQuery {
    /// Type 0: a destination hash.
    Hash([u8; 32]),
    /// Type 1: a host name for the router's address book.
    Name(String),
}

/// Every I2CP message this client sends or understands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// CreateSession.
    CreateSession(SessionConfig),
    /// DestroySession.
    DestroySession {
        /// Session to end.
        sid: u16,
    },
    /// SendMessage: `sid ‖ Destination ‖ len BE32 ‖ payload ‖ nonce BE32`.
    SendMessage {
        /// Our session.
        sid: u16,
        /// Full destination of the peer (i2pd parses it, docs/i2cp.md "Sending and receiving").
        destination: Destination,
        /// The gzip-wrapped payload (see [`super::payload`]).
        payload: Vec<u8>,
        /// 0 = no MessageStatus wanted (the Nagle pitfall, docs/i2cp.md "Pitfall: Nagle on i2pd's
        /// socket").
        nonce: u32,
    },
    /// SendMessageExpires: SendMessage's fields, then `flags BE16 ‖ expiration` (ms
    /// since the epoch in 6 bytes; I2CP spec, SendMessageExpiresMessage).
    SendMessageExpires {
        /// Our session.
        sid: u16,
        /// Full destination of the peer.
        destination: Destination,
        /// The gzip-wrapped payload (see [`super::payload`]).
        payload: Vec<u8>,
        /// 0 = no MessageStatus wanted.
        nonce: u32,
        /// Bit 8: do not bundle our LeaseSet; bits 7-4 and 3-0: tag settings (0 = the
        /// session's); the rest must be 0.
        flags: u16,
        /// Router time after which the router may drop the message, ms since the epoch
        /// (at most 48 bits).
        expiration_ms: u64,
    },
    /// GetBandwidthLimits (empty body).
    GetBandwidthLimits,
    /// SessionStatus.
    SessionStatus {
        /// Session id (meaningless on failure).
        sid: u16,
        /// See [`session_status`].
        status: u8,
    },
    /// MessageStatus.
    MessageStatus {
        /// Our session.
        sid: u16,
        /// Router's message id.
        msg_id: u32,
        /// Status code (1 accepted, 4 success, 5 failure, 21 no LeaseSet…).
        status: u8,
        /// Always 0 from i2pd.
        size: u32,
        /// The nonce from our SendMessage.
        nonce: u32,
    },
    /// BandwidthLimits, sixteen BE32 values (i2pd: current in/out B/s first).
    BandwidthLimits([u32; 16]),
    /// Disconnect with a reason.
    Disconnect {
        /// Human-readable reason.
        reason: String,
    },
    /// MessagePayload.
    MessagePayload {
        /// Our session.
        sid: u16,
        /// Router's message id.
        msg_id: u32,
        /// The gzip-wrapped payload.
        payload: Vec<u8>,
    },
    /// GetDate.
    GetDate {
        /// Our API version.
        version: String,
        /// Optional auth mapping (sent empty).
        options: Vec<(String, String)>,
    },
    /// SetDate.
    SetDate {
        /// Router time, ms since the epoch.
        date_ms: u64,
        /// Version string (i2pd ≤ 2.57 echoes ours).
        version: String,
    },
    /// RequestVariableLeaseSet.
    RequestVariableLeaseSet {
        /// Our session.
        sid: u16,
        /// Inbound leases to publish.
        leases: Vec<Lease>,
    },
    /// HostLookup.
    HostLookup {
        /// Our session (or [`NO_SESSION`]).
        sid: u16,
        /// Echoed in the reply.
        request_id: u32,
        /// Milliseconds; i2pd ignores it.
        timeout_ms: u32,
        /// Hash or name.
        query: LookupQuery,
    },
    /// HostReply.
    HostReply {
        /// Session id as sent.
        sid: u16,
        /// The request id of the lookup.
        request_id: u32,
        /// 0 success, else failure.
        code: u8,
        /// Present exactly when `code` is 0.
        destination: Option<Destination>,
    },
    /// CreateLeaseSet2.
    CreateLeaseSet2(CreateLeaseSet2),
    /// Any other type: logged and ignored by the session.
    Unknown {
        /// The type byte.
        kind: u8,
        /// Raw body.
        body: Vec<u8>,
    },
}

impl Message {
    /// The message's type, `None` for [`Message::Unknown`].
    pub fn message_type(&self) -> Option<MessageType> {
        self.known_type().ok()
    }

    /// The message's type byte.
    pub fn kind(&self) -> u8 {
        self.known_type()
            .map_or_else(|unknown| unknown, MessageType::byte)
    }

    /// The known type, or the type byte of an [`Message::Unknown`].
    fn known_type(&self) -> Result<MessageType, u8> {
        Ok(match self {
            Message::CreateSession(_) => MessageType::CreateSession,
            Message::DestroySession { .. } => MessageType::DestroySession,
            Message::SendMessage { .. } => MessageType::SendMessage,
            Message::SendMessageExpires { .. } => MessageType::SendMessageExpires,
            Message::GetBandwidthLimits => MessageType::GetBandwidthLimits,
            Message::SessionStatus { .. } => MessageType::SessionStatus,
            Message::MessageStatus { .. } => MessageType::MessageStatus,
            Message::BandwidthLimits(_) => MessageType::BandwidthLimits,
            Message::Disconnect { .. } => MessageType::Disconnect,
            Message::MessagePayload { .. } => MessageType::MessagePayload,
            Message::GetDate { .. } => MessageType::GetDate,
            Message::SetDate { .. } => MessageType::SetDate,
            Message::RequestVariableLeaseSet { .. } => MessageType::RequestVariableLeaseSet,
            Message::HostLookup { .. } => MessageType::HostLookup,
            Message::HostReply { .. } => MessageType::HostReply,
            Message::CreateLeaseSet2(_) => MessageType::CreateLeaseSet2,
            Message::Unknown { kind, .. } => return Err(*kind),
        })
    }

    /// The message's name for logs and errors.
    pub fn name(&self) -> &'static str {
        MessageType::name_of(self.kind())
    }
}

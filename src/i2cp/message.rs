//! I2CP messages: one type per message, strict decode (every byte accounted for) and
//! encode. Layouts from the I2CP specification as i2pd serves them (docs/i2cp.md), confirmed on the
//! wire with i2pd 2.45.1.
//!
//! [`Message::decode`] takes a [`Frame`] from the [`FrameSplitter`](super::framing::FrameSplitter);
//! unknown types decode to [`Message::Unknown`] so the caller can log and ignore them
//! (i2pd does the same, docs/i2cp.md "Message types").

use crate::data::{Destination, PrivateKeys};

use super::framing::{Frame, MAX_BODY_LEN};
use super::wire::{DecodeError, EncodeError, Reader, put_len32_bytes, put_mapping, put_string};

/// Declares [`MessageType`] from one table of variant, type byte and meaning, so that the
/// byte, the name in logs and the variant cannot drift apart: `from_byte` and `name` are
/// generated from the same rows (the name is the variant's, as the I2CP specification
/// spells the message).
macro_rules! message_types {
    ($($(#[doc = $doc:literal])* $name:ident = $byte:literal,)*) => {
        /// The I2CP message types this client sends or understands (docs/i2cp.md "Message
        /// types"). A frame may carry any other byte: see [`Message::Unknown`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum MessageType {
            $($(#[doc = $doc])* $name = $byte,)*
        }

        impl MessageType {
            /// Every known type, in type-byte order.
            pub const ALL: &'static [MessageType] = &[$(MessageType::$name,)*];

            /// The type a frame's type byte names, `None` for types this client does not know.
            pub fn from_byte(byte: u8) -> Option<MessageType> {
                match byte {
                    $($byte => Some(MessageType::$name),)*
                    _ => None,
                }
            }

            /// The message's name as the I2CP specification spells it, for logs and errors.
            pub fn name(self) -> &'static str {
                match self {
                    $(MessageType::$name => stringify!($name),)*
                }
            }
        }
    };
}

message_types! {
    /// C→R: start a session.
    CreateSession = 1,
    /// C→R: end the session.
    DestroySession = 3,
    /// C→R: send a payload to a destination.
    SendMessage = 5,
    /// C→R: ask for bandwidth numbers.
    GetBandwidthLimits = 8,
    /// R→C: session created / destroyed / refused.
    SessionStatus = 20,
    /// R→C: delivery status of a SendMessage with a non-zero nonce.
    MessageStatus = 22,
    /// R→C: answer to GetBandwidthLimits.
    BandwidthLimits = 23,
    /// Both ways: the sender is closing (Java only; i2pd neither sends nor handles it).
    Disconnect = 30,
    /// R→C: a received payload.
    MessagePayload = 31,
    /// C→R: first message, carries the client's API version.
    GetDate = 32,
    /// R→C: router time and version.
    SetDate = 33,
    /// C→R: SendMessage with flags and an expiration.
    SendMessageExpires = 36,
    /// R→C: the router needs a signed LeaseSet for these leases within 10 s.
    RequestVariableLeaseSet = 37,
    /// C→R: resolve a hash or host name.
    HostLookup = 38,
    /// R→C: answer to HostLookup.
    HostReply = 39,
    /// C→R: the signed LeaseSet (LS2) and its private keys.
    CreateLeaseSet2 = 41,
}

impl MessageType {
    /// The type byte on the wire.
    pub fn byte(self) -> u8 {
        self as u8
    }

    /// The name of whatever type `byte` is, for logs and errors about frames that may carry
    /// an unknown type.
    pub fn name_of(byte: u8) -> &'static str {
        MessageType::from_byte(byte).map_or("unknown message", MessageType::name)
    }
}

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

/// One lease from RequestVariableLeaseSet: `gateway(32) ‖ tunnel id BE32 ‖ end BE64 ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Router hash of the inbound gateway.
    pub gateway: [u8; 32],
    /// Tunnel id at the gateway.
    pub tunnel_id: u32,
    /// Expiry, milliseconds since the epoch.
    pub end_ms: u64,
}

/// Wire size of one [`Lease`] in RequestVariableLeaseSet.
pub const LEASE_LEN: usize = 44;

/// The body of CreateSession: `Destination ‖ Mapping ‖ Date ‖ Signature`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our destination.
    pub destination: Destination,
    /// Options in wire order (sorted by key when we build them).
    pub options: Vec<(String, String)>,
    /// Router time in ms at creation.
    pub date_ms: u64,
    /// Signature over `signed_bytes`.
    pub signature: Vec<u8>,
    /// `Destination ‖ Mapping (with its size) ‖ Date` exactly as on the wire.
    signed_bytes: Vec<u8>,
}

impl SessionConfig {
    /// Build and sign a SessionConfig. Options are sorted by key bytes; the signature covers
    /// exactly the bytes sent (docs/i2cp.md "Session set-up").
    pub fn sign(
        keys: &PrivateKeys,
        options: &[(String, String)],
        date_ms: u64,
    ) -> Result<SessionConfig, EncodeError> {
        let destination = keys.destination().clone();
        let mut signed_bytes = destination.as_bytes().to_vec();
        put_mapping(&mut signed_bytes, options)?;
        signed_bytes.extend_from_slice(&date_ms.to_be_bytes());
        let signature = keys.sign(&signed_bytes);
        // Re-read the options from what we wrote so `options` reflects the wire order.
        let options = {
            let mut r = Reader::new(&signed_bytes);
            r.take(destination.as_bytes().len(), "destination")
                .and_then(|_| r.mapping())
                .unwrap_or_default()
        };
        Ok(SessionConfig {
            destination,
            options,
            date_ms,
            signature,
            signed_bytes,
        })
    }

    /// Does the signature verify against the destination's signing key?
    pub fn verify(&self) -> bool {
        self.destination.verify(&self.signed_bytes, &self.signature)
    }

    fn read(r: &mut Reader<'_>) -> Result<SessionConfig, DecodeError> {
        let start = r.peek_rest();
        let destination = r.destination()?;
        let options = r.mapping()?;
        let date_ms = r.u64("session config date")?;
        // The signature covers exactly the bytes read so far.
        let signed_len = start.len() - r.left();
        let signed_bytes = start
            .get(..signed_len)
            .ok_or(DecodeError::Truncated("session config"))?
            .to_vec();
        let signature = r
            .take(destination.signature_len(), "session config signature")?
            .to_vec();
        Ok(SessionConfig {
            destination,
            options,
            date_ms,
            signature,
            signed_bytes,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.signed_bytes);
        out.extend_from_slice(&self.signature);
    }
}

/// One private key in CreateLeaseSet2: `type BE16 ‖ len BE16 ‖ key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivateKeyEntry {
    /// Crypto type (4 = X25519).
    pub key_type: u16,
    /// Raw key bytes (X25519: 32 bytes, little-endian scalar).
    pub key: Vec<u8>,
}

/// CreateLeaseSet2 body (docs/i2cp.md "LeaseSet2").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateLeaseSet2 {
    /// Our session id.
    pub sid: u16,
    /// Store type; only [`STORE_TYPE_LS2`] is produced or accepted.
    pub store_type: u8,
    /// The complete LS2 including its trailing signature.
    pub lease_set: Vec<u8>,
    /// Private keys matching the LS2's encryption keys, same order.
    pub private_keys: Vec<PrivateKeyEntry>,
}

impl CreateLeaseSet2 {
    fn read(r: &mut Reader<'_>) -> Result<CreateLeaseSet2, DecodeError> {
        let sid = r.u16("session id")?;
        let store_type = r.u8("store type")?;
        if store_type != STORE_TYPE_LS2 {
            return Err(DecodeError::Invalid("lease set store type (only LS2 = 3)"));
        }
        let start = r.peek_rest();
        skip_lease_set2(r)?;
        let ls_len = start.len() - r.left();
        let lease_set = start
            .get(..ls_len)
            .ok_or(DecodeError::Truncated("lease set"))?
            .to_vec();
        let count = r.u8("private key count")?;
        let mut private_keys = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let key_type = r.u16("private key type")?;
            let len = r.u16("private key length")?;
            let key = r.take(usize::from(len), "private key")?.to_vec();
            private_keys.push(PrivateKeyEntry { key_type, key });
        }
        Ok(CreateLeaseSet2 {
            sid,
            store_type,
            lease_set,
            private_keys,
        })
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&self.sid.to_be_bytes());
        out.push(self.store_type);
        out.extend_from_slice(&self.lease_set);
        let count = u8::try_from(self.private_keys.len())
            .map_err(|_| EncodeError::TooMany("private keys"))?;
        out.push(count);
        for entry in &self.private_keys {
            out.extend_from_slice(&entry.key_type.to_be_bytes());
            let len =
                u16::try_from(entry.key.len()).map_err(|_| EncodeError::TooMany("key bytes"))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&entry.key);
        }
        Ok(())
    }

    /// Verify the LS2 signature: the destination's key over `store type ‖ LS2 without
    /// its signature` (docs/i2cp.md "LeaseSet2", what is signed).
    pub fn verify_signature(&self) -> bool {
        let Ok((dest, _)) = Destination::parse(&self.lease_set) else {
            return false;
        };
        let sig_len = dest.signature_len();
        let Some(body_len) = self.lease_set.len().checked_sub(sig_len) else {
            return false;
        };
        let (body, sig) = self.lease_set.split_at(body_len);
        let mut signed = Vec::with_capacity(1 + body.len());
        signed.push(self.store_type);
        signed.extend_from_slice(body);
        dest.verify(&signed, sig)
    }
}

/// Walk one LS2 (without offline keys) so its length is known (docs/i2cp.md "LeaseSet2").
fn skip_lease_set2(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    let dest = r.destination()?;
    r.u32("lease set published")?;
    r.u16("lease set expires")?;
    let flags = r.u16("lease set flags")?;
    if flags & 0x0001 != 0 {
        return Err(DecodeError::Invalid(
            "offline-signed lease set (unsupported)",
        ));
    }
    r.mapping()?;
    let keys = r.u8("lease set key count")?;
    for _ in 0..keys {
        r.u16("lease set key type")?;
        let len = r.u16("lease set key length")?;
        r.take(usize::from(len), "lease set key")?;
    }
    let leases = r.u8("lease count")?;
    r.take(usize::from(leases) * 40, "lease2 entries")?;
    r.take(dest.signature_len(), "lease set signature")?;
    Ok(())
}

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

    /// Decode a frame; unknown types give [`Message::Unknown`].
    pub fn decode(frame: &Frame) -> Result<Message, DecodeError> {
        let mut r = Reader::new(&frame.body);
        let Some(known) = MessageType::from_byte(frame.kind) else {
            return Ok(Message::Unknown {
                kind: frame.kind,
                body: frame.body.clone(),
            });
        };
        let msg = match known {
            MessageType::CreateSession => Message::CreateSession(SessionConfig::read(&mut r)?),
            MessageType::DestroySession => Message::DestroySession {
                sid: r.u16("session id")?,
            },
            MessageType::SendMessage => Message::SendMessage {
                sid: r.u16("session id")?,
                destination: r.destination()?,
                payload: r.len32_bytes("payload")?.to_vec(),
                nonce: r.u32("nonce")?,
            },
            MessageType::SendMessageExpires => Message::SendMessageExpires {
                sid: r.u16("session id")?,
                destination: r.destination()?,
                payload: r.len32_bytes("payload")?.to_vec(),
                nonce: r.u32("nonce")?,
                flags: r.u16("flags")?,
                expiration_ms: u48(r.take(6, "expiration")?),
            },
            MessageType::GetBandwidthLimits => Message::GetBandwidthLimits,
            MessageType::SessionStatus => Message::SessionStatus {
                sid: r.u16("session id")?,
                status: r.u8("session status")?,
            },
            MessageType::MessageStatus => Message::MessageStatus {
                sid: r.u16("session id")?,
                msg_id: r.u32("message id")?,
                status: r.u8("message status")?,
                size: r.u32("message size")?,
                nonce: r.u32("nonce")?,
            },
            MessageType::BandwidthLimits => {
                let mut values = [0u32; 16];
                for v in &mut values {
                    *v = r.u32("bandwidth limit")?;
                }
                Message::BandwidthLimits(values)
            }
            MessageType::Disconnect => Message::Disconnect {
                reason: r.string()?,
            },
            MessageType::MessagePayload => Message::MessagePayload {
                sid: r.u16("session id")?,
                msg_id: r.u32("message id")?,
                payload: r.len32_bytes("payload")?.to_vec(),
            },
            MessageType::GetDate => {
                let version = r.string()?;
                // The auth mapping is optional (docs/i2cp.md "Session set-up").
                let options = if r.left() > 0 {
                    r.mapping()?
                } else {
                    Vec::new()
                };
                Message::GetDate { version, options }
            }
            MessageType::SetDate => Message::SetDate {
                date_ms: r.u64("date")?,
                version: r.string()?,
            },
            MessageType::RequestVariableLeaseSet => read_request_leases(&mut r)?,
            MessageType::HostLookup => read_host_lookup(&mut r)?,
            MessageType::HostReply => {
                let sid = r.u16("session id")?;
                let request_id = r.u32("request id")?;
                let code = r.u8("reply code")?;
                let destination = if code == HOST_REPLY_SUCCESS {
                    Some(r.destination()?)
                } else {
                    None
                };
                Message::HostReply {
                    sid,
                    request_id,
                    code,
                    destination,
                }
            }
            MessageType::CreateLeaseSet2 => {
                Message::CreateLeaseSet2(CreateLeaseSet2::read(&mut r)?)
            }
        };
        r.finish(known.name())?;
        Ok(msg)
    }

    /// Encode into a frame; fails if a field is out of range or the body exceeds 65535.
    pub fn encode(&self) -> Result<Frame, EncodeError> {
        let mut b = Vec::new();
        match self {
            Message::CreateSession(config) => config.write(&mut b),
            Message::DestroySession { sid } => b.extend_from_slice(&sid.to_be_bytes()),
            Message::SendMessage {
                sid,
                destination,
                payload,
                nonce,
            } => {
                b.extend_from_slice(&sid.to_be_bytes());
                b.extend_from_slice(destination.as_bytes());
                put_len32_bytes(&mut b, payload)?;
                b.extend_from_slice(&nonce.to_be_bytes());
            }
            Message::SendMessageExpires {
                sid,
                destination,
                payload,
                nonce,
                flags,
                expiration_ms,
            } => {
                b.extend_from_slice(&sid.to_be_bytes());
                b.extend_from_slice(destination.as_bytes());
                put_len32_bytes(&mut b, payload)?;
                b.extend_from_slice(&nonce.to_be_bytes());
                b.extend_from_slice(&flags.to_be_bytes());
                // 48 bits hold dates up to the year 10889; higher bits cannot be sent.
                b.extend_from_slice(&expiration_ms.to_be_bytes()[2..]);
            }
            Message::GetBandwidthLimits => {}
            Message::SessionStatus { sid, status } => {
                b.extend_from_slice(&sid.to_be_bytes());
                b.push(*status);
            }
            Message::MessageStatus {
                sid,
                msg_id,
                status,
                size,
                nonce,
            } => {
                b.extend_from_slice(&sid.to_be_bytes());
                b.extend_from_slice(&msg_id.to_be_bytes());
                b.push(*status);
                b.extend_from_slice(&size.to_be_bytes());
                b.extend_from_slice(&nonce.to_be_bytes());
            }
            Message::BandwidthLimits(values) => {
                for v in values {
                    b.extend_from_slice(&v.to_be_bytes());
                }
            }
            Message::Disconnect { reason } => put_string(&mut b, reason, "disconnect reason")?,
            Message::MessagePayload {
                sid,
                msg_id,
                payload,
            } => {
                b.extend_from_slice(&sid.to_be_bytes());
                b.extend_from_slice(&msg_id.to_be_bytes());
                put_len32_bytes(&mut b, payload)?;
            }
            Message::GetDate { version, options } => {
                put_string(&mut b, version, "version")?;
                put_mapping(&mut b, options)?;
            }
            Message::SetDate { date_ms, version } => {
                b.extend_from_slice(&date_ms.to_be_bytes());
                put_string(&mut b, version, "version")?;
            }
            Message::RequestVariableLeaseSet { sid, leases } => {
                b.extend_from_slice(&sid.to_be_bytes());
                let n = u8::try_from(leases.len()).map_err(|_| EncodeError::TooMany("leases"))?;
                b.push(n);
                for lease in leases {
                    b.extend_from_slice(&lease.gateway);
                    b.extend_from_slice(&lease.tunnel_id.to_be_bytes());
                    b.extend_from_slice(&lease.end_ms.to_be_bytes());
                }
            }
            Message::HostLookup {
                sid,
                request_id,
                timeout_ms,
                query,
            } => {
                b.extend_from_slice(&sid.to_be_bytes());
                b.extend_from_slice(&request_id.to_be_bytes());
                b.extend_from_slice(&timeout_ms.to_be_bytes());
                match query {
                    LookupQuery::Hash(hash) => {
                        b.push(0);
                        b.extend_from_slice(hash);
                    }
                    LookupQuery::Name(name) => {
                        b.push(1);
                        put_string(&mut b, name, "host name")?;
                    }
                }
            }
            Message::HostReply {
                sid,
                request_id,
                code,
                destination,
            } => {
                b.extend_from_slice(&sid.to_be_bytes());
                b.extend_from_slice(&request_id.to_be_bytes());
                b.push(*code);
                if let Some(dest) = destination {
                    b.extend_from_slice(dest.as_bytes());
                }
            }
            Message::CreateLeaseSet2(msg) => msg.write(&mut b)?,
            Message::Unknown { body, .. } => b.extend_from_slice(body),
        }
        if b.len() > MAX_BODY_LEN {
            return Err(EncodeError::BodyTooLarge(b.len()));
        }
        Ok(Frame {
            kind: self.kind(),
            body: b,
        })
    }
}

fn read_request_leases(r: &mut Reader<'_>) -> Result<Message, DecodeError> {
    let sid = r.u16("session id")?;
    let n = r.u8("lease count")?;
    let mut leases = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        leases.push(Lease {
            gateway: r.array("lease gateway")?,
            tunnel_id: r.u32("lease tunnel id")?,
            end_ms: r.u64("lease end date")?,
        });
    }
    Ok(Message::RequestVariableLeaseSet { sid, leases })
}

fn read_host_lookup(r: &mut Reader<'_>) -> Result<Message, DecodeError> {
    let sid = r.u16("session id")?;
    let request_id = r.u32("request id")?;
    let timeout_ms = r.u32("lookup timeout")?;
    let query = match r.u8("lookup type")? {
        0 => LookupQuery::Hash(r.array("lookup hash")?),
        1 => LookupQuery::Name(r.string()?),
        _ => return Err(DecodeError::Invalid("lookup type (only 0 and 1)")),
    };
    Ok(Message::HostLookup {
        sid,
        request_id,
        timeout_ms,
        query,
    })
}

/// A 6-byte big-endian number (the I2CP Date truncated to 48 bits).
fn u48(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_byte_maps_back_to_its_type_and_unknown_bytes_to_none() {
        for known in MessageType::ALL {
            assert_eq!(MessageType::from_byte(known.byte()), Some(*known));
            assert_eq!(MessageType::name_of(known.byte()), known.name());
        }
        let known_bytes: Vec<u8> = MessageType::ALL.iter().map(|t| t.byte()).collect();
        for byte in (0..=u8::MAX).filter(|b| !known_bytes.contains(b)) {
            assert_eq!(MessageType::from_byte(byte), None, "{byte}");
            assert_eq!(MessageType::name_of(byte), "unknown message");
        }
    }

    #[test]
    fn names_are_the_specification_s_message_names() {
        assert_eq!(MessageType::CreateSession.name(), "CreateSession");
        assert_eq!(MessageType::RequestVariableLeaseSet.byte(), 37);
        assert_eq!(MessageType::name_of(41), "CreateLeaseSet2");
        let unknown = Message::Unknown {
            kind: 99,
            body: vec![],
        };
        assert_eq!((unknown.kind(), unknown.message_type()), (99, None));
        assert_eq!(Message::GetBandwidthLimits.name(), "GetBandwidthLimits");
    }
}

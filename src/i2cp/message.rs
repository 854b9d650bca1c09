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

/// Message type numbers (docs/i2cp.md "Message types").
pub mod kind {
    /// C→R: start a session.
    pub const CREATE_SESSION: u8 = 1;
    /// C→R: end the session.
    pub const DESTROY_SESSION: u8 = 3;
    /// C→R: send a payload to a destination.
    pub const SEND_MESSAGE: u8 = 5;
    /// C→R: ask for bandwidth numbers.
    pub const GET_BANDWIDTH_LIMITS: u8 = 8;
    /// R→C: session created / destroyed / refused.
    pub const SESSION_STATUS: u8 = 20;
    /// R→C: delivery status of a SendMessage with a non-zero nonce.
    pub const MESSAGE_STATUS: u8 = 22;
    /// R→C: answer to GetBandwidthLimits.
    pub const BANDWIDTH_LIMITS: u8 = 23;
    /// Both ways: the sender is closing (Java only; i2pd neither sends nor handles it).
    pub const DISCONNECT: u8 = 30;
    /// R→C: a received payload.
    pub const MESSAGE_PAYLOAD: u8 = 31;
    /// C→R: first message, carries the client's API version.
    pub const GET_DATE: u8 = 32;
    /// R→C: router time and version.
    pub const SET_DATE: u8 = 33;
    /// C→R: SendMessage with flags and an expiration.
    pub const SEND_MESSAGE_EXPIRES: u8 = 36;
    /// R→C: the router needs a signed LeaseSet for these leases within 10 s.
    pub const REQUEST_VARIABLE_LEASE_SET: u8 = 37;
    /// C→R: resolve a hash or host name.
    pub const HOST_LOOKUP: u8 = 38;
    /// R→C: answer to HostLookup.
    pub const HOST_REPLY: u8 = 39;
    /// C→R: the signed LeaseSet (LS2) and its private keys.
    pub const CREATE_LEASE_SET2: u8 = 41;
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
    /// 1: CreateSession.
    CreateSession(SessionConfig),
    /// 3: DestroySession.
    DestroySession {
        /// Session to end.
        sid: u16,
    },
    /// 5: SendMessage: `sid ‖ Destination ‖ len BE32 ‖ payload ‖ nonce BE32`.
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
    /// 36: SendMessageExpires: SendMessage's fields, then `flags BE16 ‖ expiration` (ms
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
    /// 8: GetBandwidthLimits (empty body).
    GetBandwidthLimits,
    /// 20: SessionStatus.
    SessionStatus {
        /// Session id (meaningless on failure).
        sid: u16,
        /// See [`session_status`].
        status: u8,
    },
    /// 22: MessageStatus.
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
    /// 23: BandwidthLimits, sixteen BE32 values (i2pd: current in/out B/s first).
    BandwidthLimits([u32; 16]),
    /// 30: Disconnect with a reason.
    Disconnect {
        /// Human-readable reason.
        reason: String,
    },
    /// 31: MessagePayload.
    MessagePayload {
        /// Our session.
        sid: u16,
        /// Router's message id.
        msg_id: u32,
        /// The gzip-wrapped payload.
        payload: Vec<u8>,
    },
    /// 32: GetDate.
    GetDate {
        /// Our API version.
        version: String,
        /// Optional auth mapping (sent empty).
        options: Vec<(String, String)>,
    },
    /// 33: SetDate.
    SetDate {
        /// Router time, ms since the epoch.
        date_ms: u64,
        /// Version string (i2pd ≤ 2.57 echoes ours).
        version: String,
    },
    /// 37: RequestVariableLeaseSet.
    RequestVariableLeaseSet {
        /// Our session.
        sid: u16,
        /// Inbound leases to publish.
        leases: Vec<Lease>,
    },
    /// 38: HostLookup.
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
    /// 39: HostReply.
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
    /// 41: CreateLeaseSet2.
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
    /// The message's type byte.
    pub fn kind(&self) -> u8 {
        match self {
            Message::CreateSession(_) => kind::CREATE_SESSION,
            Message::DestroySession { .. } => kind::DESTROY_SESSION,
            Message::SendMessage { .. } => kind::SEND_MESSAGE,
            Message::SendMessageExpires { .. } => kind::SEND_MESSAGE_EXPIRES,
            Message::GetBandwidthLimits => kind::GET_BANDWIDTH_LIMITS,
            Message::SessionStatus { .. } => kind::SESSION_STATUS,
            Message::MessageStatus { .. } => kind::MESSAGE_STATUS,
            Message::BandwidthLimits(_) => kind::BANDWIDTH_LIMITS,
            Message::Disconnect { .. } => kind::DISCONNECT,
            Message::MessagePayload { .. } => kind::MESSAGE_PAYLOAD,
            Message::GetDate { .. } => kind::GET_DATE,
            Message::SetDate { .. } => kind::SET_DATE,
            Message::RequestVariableLeaseSet { .. } => kind::REQUEST_VARIABLE_LEASE_SET,
            Message::HostLookup { .. } => kind::HOST_LOOKUP,
            Message::HostReply { .. } => kind::HOST_REPLY,
            Message::CreateLeaseSet2(_) => kind::CREATE_LEASE_SET2,
            Message::Unknown { kind, .. } => *kind,
        }
    }

    /// Decode a frame; unknown types give [`Message::Unknown`].
    pub fn decode(frame: &Frame) -> Result<Message, DecodeError> {
        let mut r = Reader::new(&frame.body);
        let msg = match frame.kind {
            kind::CREATE_SESSION => Message::CreateSession(SessionConfig::read(&mut r)?),
            kind::DESTROY_SESSION => Message::DestroySession {
                sid: r.u16("session id")?,
            },
            kind::SEND_MESSAGE => Message::SendMessage {
                sid: r.u16("session id")?,
                destination: r.destination()?,
                payload: r.len32_bytes("payload")?.to_vec(),
                nonce: r.u32("nonce")?,
            },
            kind::SEND_MESSAGE_EXPIRES => Message::SendMessageExpires {
                sid: r.u16("session id")?,
                destination: r.destination()?,
                payload: r.len32_bytes("payload")?.to_vec(),
                nonce: r.u32("nonce")?,
                flags: r.u16("flags")?,
                expiration_ms: u48(r.take(6, "expiration")?),
            },
            kind::GET_BANDWIDTH_LIMITS => Message::GetBandwidthLimits,
            kind::SESSION_STATUS => Message::SessionStatus {
                sid: r.u16("session id")?,
                status: r.u8("session status")?,
            },
            kind::MESSAGE_STATUS => Message::MessageStatus {
                sid: r.u16("session id")?,
                msg_id: r.u32("message id")?,
                status: r.u8("message status")?,
                size: r.u32("message size")?,
                nonce: r.u32("nonce")?,
            },
            kind::BANDWIDTH_LIMITS => {
                let mut values = [0u32; 16];
                for v in &mut values {
                    *v = r.u32("bandwidth limit")?;
                }
                Message::BandwidthLimits(values)
            }
            kind::DISCONNECT => Message::Disconnect {
                reason: r.string()?,
            },
            kind::MESSAGE_PAYLOAD => Message::MessagePayload {
                sid: r.u16("session id")?,
                msg_id: r.u32("message id")?,
                payload: r.len32_bytes("payload")?.to_vec(),
            },
            kind::GET_DATE => {
                let version = r.string()?;
                // The auth mapping is optional (docs/i2cp.md "Session set-up").
                let options = if r.left() > 0 {
                    r.mapping()?
                } else {
                    Vec::new()
                };
                Message::GetDate { version, options }
            }
            kind::SET_DATE => Message::SetDate {
                date_ms: r.u64("date")?,
                version: r.string()?,
            },
            kind::REQUEST_VARIABLE_LEASE_SET => read_request_leases(&mut r)?,
            kind::HOST_LOOKUP => read_host_lookup(&mut r)?,
            kind::HOST_REPLY => {
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
            kind::CREATE_LEASE_SET2 => Message::CreateLeaseSet2(CreateLeaseSet2::read(&mut r)?),
            other => Message::Unknown {
                kind: other,
                body: r.rest().to_vec(),
            },
        };
        r.finish(message_name(frame.kind))?;
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

/// A name for logs and errors.
pub fn message_name(kind: u8) -> &'static str {
    match kind {
        kind::CREATE_SESSION => "CreateSession",
        kind::DESTROY_SESSION => "DestroySession",
        kind::SEND_MESSAGE => "SendMessage",
        kind::SEND_MESSAGE_EXPIRES => "SendMessageExpires",
        kind::GET_BANDWIDTH_LIMITS => "GetBandwidthLimits",
        kind::SESSION_STATUS => "SessionStatus",
        kind::MESSAGE_STATUS => "MessageStatus",
        kind::BANDWIDTH_LIMITS => "BandwidthLimits",
        kind::DISCONNECT => "Disconnect",
        kind::MESSAGE_PAYLOAD => "MessagePayload",
        kind::GET_DATE => "GetDate",
        kind::SET_DATE => "SetDate",
        kind::REQUEST_VARIABLE_LEASE_SET => "RequestVariableLeaseSet",
        kind::HOST_LOOKUP => "HostLookup",
        kind::HOST_REPLY => "HostReply",
        kind::CREATE_LEASE_SET2 => "CreateLeaseSet2",
        _ => "unknown message",
    }
}

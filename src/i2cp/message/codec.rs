//! Decoding and encoding [`Message`]s: every field of every body, strict both ways.

use crate::i2cp::framing::{Frame, MAX_BODY_LEN};
use crate::i2cp::wire::{
    DecodeError, EncodeError, Reader, put_len32_bytes, put_mapping, put_string,
};

use super::{
    CreateLeaseSet2, HOST_REPLY_SUCCESS, Lease, LookupQuery, Message, MessageType, SessionConfig,
};

impl Message {
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

//! The I2CP message type numbers, declared once (docs/i2cp.md "Message types").

/// Declares [`MessageType`] from one table of variant, type byte and meaning, so that the
/// byte, the name in logs and the variant cannot drift apart: `from_byte` and `name` are
/// generated from the same rows (the name is the variant's, as the I2CP specification
/// spells the message).
macro_rules! message_types {
    ($($(#[doc = $doc:literal])* $name:ident = $byte:literal,)*) => {
        /// The I2CP message types this client sends or understands (docs/i2cp.md "Message
        /// types"). A frame may carry any other byte: see
        /// [`Message::Unknown`](super::Message::Unknown).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2cp::message::Message;

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

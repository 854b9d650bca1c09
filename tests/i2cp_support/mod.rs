//! Shared helpers for the I2CP tests: the router side of the codec.
#![allow(dead_code)]

use i2psocks::data::PrivateKeys;
use i2psocks::i2cp::framing::FrameSplitter;
use i2psocks::i2cp::message::Message;
use std::sync::{Arc, OnceLock};

/// One Ed25519 + X25519 destination shared by the tests of a binary (key generation is
/// cheap, but a fixed identity keeps failures readable).
pub fn test_keys() -> Arc<PrivateKeys> {
    static KEYS: OnceLock<Arc<PrivateKeys>> = OnceLock::new();
    KEYS.get_or_init(|| Arc::new(PrivateKeys::generate(7, 4).expect("generate keys")))
        .clone()
}

/// Router-side decoder of what the client writes.
pub struct RouterSide {
    splitter: FrameSplitter,
}

impl Default for RouterSide {
    fn default() -> Self {
        RouterSide {
            splitter: FrameSplitter::for_router(),
        }
    }
}

impl RouterSide {
    /// Feed client bytes; return every complete message.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Message> {
        self.splitter.push(bytes);
        let mut out = Vec::new();
        while let Some(frame) = self.splitter.next_frame().expect("client framing") {
            out.push(Message::decode(&frame).expect("client message decodes"));
        }
        out
    }
}

/// Encode a router → client message to wire bytes.
pub fn wire(msg: &Message) -> Vec<u8> {
    msg.encode().expect("encode").to_bytes()
}

pub fn default_options() -> Vec<(String, String)> {
    [
        ("inbound.length", "0"),
        ("outbound.length", "0"),
        ("inbound.quantity", "1"),
        ("outbound.quantity", "1"),
        ("i2cp.dontPublishLeaseSet", "true"),
        ("i2cp.messageReliability", "none"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

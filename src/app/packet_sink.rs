//! The I2CP packet sink: how the streaming layer's packets reach the router.

use crate::data::Destination;
use crate::i2cp::{Compression, I2cpHandle};
use crate::streaming::{Flags, Packet, PacketSink};

use super::PROTO_STREAMING;

/// Sends streaming packets as I2CP payloads.
pub(super) struct I2cpSink(pub(super) I2cpHandle);

impl PacketSink for I2cpSink {
    fn send(&self, to: &Destination, src_port: u16, dst_port: u16, packet: Vec<u8>) {
        // A SYN carries our full destination, which deflates well; data is mostly
        // incompressible and goes as a stored block (i2pd does the same).
        let syn = Packet::peek_flags(&packet).is_some_and(|f| f.contains(Flags::FROM_INCLUDED));
        let compression = if syn {
            Compression::Deflate
        } else {
            Compression::Stored
        };
        // A lost packet is retransmitted by streaming; a down session fails the stream.
        if let Err(error) = self.0.send_with(
            to,
            PROTO_STREAMING,
            src_port,
            dst_port,
            &packet,
            compression,
        ) {
            tracing::trace!(%error, "streaming packet not sent");
        }
    }
}

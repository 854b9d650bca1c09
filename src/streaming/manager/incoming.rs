//! The packets that reach no stream of ours by its receive id: pings, SYNs that open
//! incoming streams (or are refused), and follow-ons that came before their SYN. Kept apart
//! from `manager.rs` so the demultiplexer there reads as routing only.

use super::{
    Entry, MAX_CONTROL_QUEUE, MAX_PENDING_PEERS, MAX_PENDING_PER_PEER, Manager,
    PENDING_FOLLOW_ON_TIMEOUT, Transmit,
};
use crate::data::Destination;
use crate::streaming::connection::Connection;
use crate::streaming::packet::{Flags, Packet};
use std::time::Instant;
use tracing::debug;

impl Manager {
    /// Ping → pong (docs/streaming.md "What i2pd sends"): 22-byte header all zero except
    /// receiveStreamId = the ping's sendStreamId and flags ECHO, echoing the payload. Only signed
    /// pings are answered, so nobody can make us send pongs to a third party.
    pub(super) fn handle_echo(&mut self, ping: Packet, from_port: u16, to_port: u16) {
        if ping.send_stream_id == 0 || !self.cfg.answer_pings {
            return;
        }
        let Some(from) = ping.from.as_ref() else {
            return;
        };
        if !ping.verify(from) || self.control.len() >= MAX_CONTROL_QUEUE {
            return;
        }
        let pong = Packet {
            receive_stream_id: ping.send_stream_id,
            flags: Flags::ECHO,
            payload: ping.payload.clone(),
            ..Packet::default()
        };
        if let Ok(bytes) = pong.encode() {
            self.control.push_back(Transmit {
                to: from.clone(),
                src_port: to_port,
                dst_port: from_port,
                packet: bytes,
            });
        }
    }

    pub(super) fn handle_incoming_syn(
        &mut self,
        now: Instant,
        syn: Packet,
        from_port: u16,
        to_port: u16,
    ) {
        let Some(from) = syn.from.clone() else {
            return;
        };
        if !syn.verify(&from) {
            debug!("dropping incoming SYN with a bad signature");
            return;
        }
        // Replay protection (API 0.9.58): the SYN names the destination it is meant for.
        if let Some(hash) = syn.syn_target_hash()
            && hash != self.keys.destination().hash()
        {
            debug!("dropping incoming SYN for another destination");
            return;
        }
        if !self.cfg.accept_incoming {
            self.refuse(&syn, from, from_port, to_port);
            return;
        }
        if let Some(&id) = self.incoming_by_peer_id.get(&syn.receive_stream_id) {
            // A repeated SYN: the stream resends its SYN-ACK.
            if let Some(e) = self.streams.get_mut(&id) {
                e.conn.handle_packet(now, syn);
            }
            self.collect(id, now);
            self.mark_ready(id);
            return;
        }
        let id = self.new_id();
        let peer_id = syn.receive_stream_id;
        let conn = Connection::accept(self.keys.clone(), from, &syn, id, &self.cfg, now);
        debug!(id, peer_id, "incoming stream");
        self.streams
            .insert(id, Entry::new(conn, to_port, from_port, Some(peer_id)));
        self.incoming_by_peer_id.insert(peer_id, id);
        self.accept_queue.push_back(id);
        if let Some((_, early)) = self.pending_follow_ons.remove(&peer_id)
            && let Some(e) = self.streams.get_mut(&id)
        {
            for p in early {
                e.conn.handle_packet(now, p);
            }
        }
        self.collect(id, now);
        self.mark_ready(id);
    }

    /// We are a client: answer an unwanted SYN with a signed RESET (seq 0, the next packet
    /// i2pd expects, so it acts on it; docs/streaming.md "What i2pd sends").
    pub(super) fn refuse(&mut self, syn: &Packet, from: Destination, from_port: u16, to_port: u16) {
        if self.control.len() >= MAX_CONTROL_QUEUE {
            return;
        }
        let mut reset = Packet {
            send_stream_id: syn.receive_stream_id,
            flags: Flags::RESET,
            ..Packet::default()
        };
        if let Ok(bytes) = reset.sign(&self.keys) {
            self.control.push_back(Transmit {
                to: from,
                src_port: to_port,
                dst_port: from_port,
                packet: bytes,
            });
        }
    }

    pub(super) fn handle_follow_on(&mut self, now: Instant, packet: Packet) {
        let peer_id = packet.receive_stream_id;
        if let Some(&id) = self.incoming_by_peer_id.get(&peer_id) {
            if let Some(e) = self.streams.get_mut(&id) {
                e.conn.handle_packet(now, packet);
            }
            self.collect(id, now);
            self.mark_ready(id);
            return;
        }
        if !self.cfg.accept_incoming {
            return;
        }
        if !self.pending_follow_ons.contains_key(&peer_id)
            && self.pending_follow_ons.len() >= MAX_PENDING_PEERS
        {
            return;
        }
        let (_, list) = self
            .pending_follow_ons
            .entry(peer_id)
            .or_insert_with(|| (now + PENDING_FOLLOW_ON_TIMEOUT, Vec::new()));
        if list.len() < MAX_PENDING_PER_PEER {
            list.push(packet);
        }
    }
}

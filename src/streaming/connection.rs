//! One stream as a sans-I/O state machine.
//!
//! Methods, in the order a driver uses them (the quinn-proto pattern):
//!
//! * inputs: [`Connection::handle_packet`], [`Connection::handle_timeout`] and the
//!   application calls [`Connection::write`], [`Connection::read`],
//!   [`Connection::shutdown_write`], [`Connection::close`], [`Connection::reset`];
//! * after any input, drain [`Connection::poll_transmit`] until `None`, drain
//!   [`Connection::poll_event`], then arm one timer at [`Connection::poll_timeout`].
//!
//! ```text
//!  initiator:  connect ──SYN (+data) sent──▶ SynSent ──verified SYN-ACK──▶ Established
//!  responder:  accept(SYN) ──▶ Established (SYN-ACK queued)
//!
//!  Established ──shutdown_write/close, all data ACKed──▶ our CLOSE sent ──ACKed──▶ write done
//!  Established ──peer CLOSE reached in order──────────▶ read done (Event::Finished)
//!  write done + read done ──final ACK sent──▶ Closed(Normal)
//!  read done + our CLOSE sent, no ACK for close_linger ──▶ Closed(Normal)   (i2pd forgets
//!                                                          a stream once its CLOSE is ACKed)
//!  any ──RESET in/out, resends exhausted, idle──▶ Closed(reason)
//! ```
//!
//! Sequence numbers (docs/streaming.md "What i2pd sends"): the SYN/SYN-ACK is seq 0, each data
//! packet and the CLOSE take the next number, plain ACKs carry seq 0.

use super::StreamingConfig;
use super::congestion::{Controller, NewReno};
use super::pacing::{self, Pacer};
use super::packet::{DELAY_ACK_NOW, DELAY_CHOKE_SEND, Flags, Packet};
use super::recv_buffer::{Insert, RecvBuffer};
use super::rtt::RttEstimator;
use super::send_buffer::{SendBuffer, SentKind};
use super::timer::{Timer, TimerTable};
use crate::data::{Destination, PrivateKeys};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, trace, warn};

/// resendDelay written in SYN and SYN-ACK: i2pd writes its initial RTO (9 s) there; the field
/// is informational (docs/streaming.md "Packet layout").
const SYN_RESEND_DELAY: u8 = 9;

/// Received in-order packets after which we ACK without waiting for the delayed-ACK timer
/// (TCP ACKs every second segment; i2pd's RTO is 1.5 × RTT on fast paths, so a timer-only
/// ACK makes it resend packets we already have: docs/streaming.md "What i2pd sends", plain ACK).
const ACK_EVERY_PACKETS: u32 = 4;

/// Smallest peer MAX_PACKET_SIZE we honour; a tiny value would make us send empty packets.
const MIN_PEER_MTU: usize = 64;

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

/// One I2P stream.
pub struct Connection {
    keys: Arc<PrivateKeys>,
    remote: Destination,
    role: Role,
    local_id: u32,
    /// The peer's receive id; 0 until its SYN(-ACK) is seen.
    remote_id: u32,
    mtu: usize,
    peer_mtu: usize,
    max_window: u32,
    max_resends: u32,
    max_ack_delay: Duration,
    idle_timeout: Option<Duration>,
    keepalive: Option<Duration>,
    /// The keepalive timer fired: the next poll sends a probe.
    keepalive_due: bool,
    close_linger: Duration,

    /// Next sequence number to assign to a SYN/data/CLOSE packet.
    next_seq: u32,
    send: SendBuffer,
    recv: RecvBuffer,
    rtt: RttEstimator,
    cc: NewReno,
    pacer: Pacer,
    timers: TimerTable,
    /// Send time of the most recently sent packet known delivered (time-based loss detection).
    latest_delivered_sent: Option<Instant>,

    /// Our SYN (initiator) or SYN-ACK (responder) has been emitted.
    syn_sent: bool,
    connected: bool,
    write_shutdown: bool,
    read_closed: bool,
    close_seq: Option<u32>,
    close_acked: bool,
    finished_reported: bool,
    ack_pending: bool,
    ack_now: bool,
    /// In-order packets received since our last ACK went out.
    unacked_packets: u32,
    /// Next ACK tells the peer we have room again (DELAY_REQUESTED 0 instead of nothing).
    window_update: bool,
    peer_choked: bool,
    choking: bool,
    reset_pending: bool,
    /// Both directions done: emit the last ACK, then close.
    finishing: bool,
    closed: Option<CloseReason>,
    consecutive_timeouts: u32,
    write_blocked: bool,
    events: VecDeque<Event>,
    stats: ConnectionStats,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("local_id", &self.local_id)
            .field("remote_id", &self.remote_id)
            .field("next_seq", &self.next_seq)
            .field("recv_next", &self.recv.next_seq())
            .field("in_flight", &self.send.in_flight().len())
            .field("pipe", &self.send.pipe())
            .field("unsent", &self.send.unsent_len())
            .field("cwnd", &self.cc.window())
            .field("rto", &self.rtt.rto())
            .field("peer_choked", &self.peer_choked)
            .field("choking", &self.choking)
            .field("write_shutdown", &self.write_shutdown)
            .field("close_seq", &self.close_seq)
            .field("close_acked", &self.close_acked)
            .field("peer_finished", &self.recv.is_finished())
            .field("timers", &self.timers)
            .field("stats", &self.stats)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Connection {
    fn new(
        keys: Arc<PrivateKeys>,
        remote: Destination,
        role: Role,
        local_id: u32,
        cfg: &StreamingConfig,
        now: Instant,
    ) -> Connection {
        let mtu = usize::from(cfg.mtu).max(MIN_PEER_MTU);
        let mut c = Connection {
            keys,
            remote,
            role,
            local_id,
            remote_id: 0,
            mtu,
            peer_mtu: mtu,
            max_window: cfg.max_window.max(1),
            max_resends: cfg.max_resends,
            max_ack_delay: cfg.max_ack_delay,
            idle_timeout: cfg.idle_timeout,
            keepalive: cfg.keepalive,
            keepalive_due: false,
            close_linger: cfg.close_linger,
            next_seq: 0,
            send: SendBuffer::new(cfg.send_buffer),
            recv: RecvBuffer::new(cfg.recv_buffer),
            rtt: RttEstimator::new(cfg.initial_rto, cfg.min_rto, cfg.max_rto),
            cc: NewReno::new(cfg.initial_window, cfg.min_window, cfg.max_window),
            pacer: Pacer::default(),
            timers: TimerTable::default(),
            latest_delivered_sent: None,
            syn_sent: false,
            connected: false,
            write_shutdown: false,
            read_closed: false,
            close_seq: None,
            close_acked: false,
            finished_reported: false,
            ack_pending: false,
            ack_now: false,
            unacked_packets: 0,
            window_update: false,
            peer_choked: false,
            choking: false,
            reset_pending: false,
            finishing: false,
            closed: None,
            consecutive_timeouts: 0,
            write_blocked: false,
            events: VecDeque::new(),
            stats: ConnectionStats::default(),
        };
        c.touch_idle(now);
        c
    }

    /// Open a stream to `remote`. The SYN (signed, FROM, MTU, target hash, carrying up to one
    /// MTU of `initial_data`) is the first thing `poll_transmit` returns; the rest of
    /// `initial_data` follows as data packets before the SYN-ACK (docs/socks.md "From a request to
    /// a stream").
    pub fn connect(
        keys: Arc<PrivateKeys>,
        remote: Destination,
        local_id: u32,
        initial_data: &[u8],
        cfg: &StreamingConfig,
        now: Instant,
    ) -> Connection {
        let mut c = Connection::new(keys, remote, Role::Initiator, local_id, cfg, now);
        c.send.write_unbounded(initial_data);
        c
    }

    /// Accept a peer's SYN. The caller has checked its signature against its FROM, which is
    /// `remote`. The SYN-ACK is the first thing `poll_transmit` returns.
    pub fn accept(
        keys: Arc<PrivateKeys>,
        remote: Destination,
        syn: &Packet,
        local_id: u32,
        cfg: &StreamingConfig,
        now: Instant,
    ) -> Connection {
        let mut c = Connection::new(keys, remote, Role::Responder, local_id, cfg, now);
        c.remote_id = syn.receive_stream_id;
        c.connected = true;
        c.adopt_peer_mtu(syn);
        c.events.push_back(Event::Connected);
        c.stats.packets_received += 1;
        c.process_sequenced(now, syn);
        c
    }

    // ===== getters =====

    /// Our receive stream id.
    pub fn local_id(&self) -> u32 {
        self.local_id
    }

    /// The peer's receive stream id (0 before its SYN-ACK).
    pub fn remote_id(&self) -> u32 {
        self.remote_id
    }

    /// The peer's destination.
    pub fn remote(&self) -> &Destination {
        &self.remote
    }

    /// Which side opened the stream.
    pub fn role(&self) -> Role {
        self.role
    }

    /// True once the SYN-ACK verified (initiator) or from the start (responder).
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Retransmission timeouts since the peer last acknowledged anything.
    pub fn timeouts_in_a_row(&self) -> u32 {
        self.consecutive_timeouts
    }

    /// Why the stream ended, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.closed
    }

    /// True when `read` will never return more data: the peer's CLOSE was reached (or the
    /// stream ended) and everything buffered has been read.
    pub fn is_read_finished(&self) -> bool {
        self.recv.readable_len() == 0 && (self.recv.is_finished() || self.closed.is_some())
    }

    /// True once the peer's CLOSE was reached in order.
    pub fn is_peer_finished(&self) -> bool {
        self.recv.is_finished()
    }

    /// True when `write` can accept bytes now or later.
    pub fn is_writable(&self) -> bool {
        !self.write_shutdown && self.closed.is_none()
    }

    /// Counters.
    pub fn stats(&self) -> ConnectionStats {
        self.stats
    }

    /// Current congestion window in packets.
    pub fn congestion_window(&self) -> u32 {
        self.cc.window()
    }

    /// Smoothed RTT once sampled.
    pub fn smoothed_rtt(&self) -> Option<Duration> {
        self.rtt.smoothed()
    }

    /// Current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }

    /// Bytes queued towards the peer (unsent plus unacknowledged).
    pub fn send_buffered(&self) -> usize {
        self.send.unsent_len()
            + self
                .send
                .in_flight()
                .values()
                .map(|p| p.payload.len())
                .sum::<usize>()
    }

    /// True while data is on its way in either direction as far as we can tell: ours
    /// unsent or unacknowledged, or a hole below the highest packet received from the peer.
    pub fn has_data_in_flight(&self) -> bool {
        let holes = self
            .recv
            .ack_info()
            .is_some_and(|(_, nacks)| !nacks.is_empty());
        self.send_buffered() > 0 || holes
    }

    /// Bytes received and not yet read.
    pub fn recv_buffered(&self) -> usize {
        self.recv.readable_len()
    }

    /// True while the peer asks us to stop sending.
    pub fn is_peer_choked(&self) -> bool {
        self.peer_choked
    }

    /// True while we ask the peer to stop sending.
    pub fn is_choking(&self) -> bool {
        self.choking
    }

    // ===== application commands =====

    /// Queue bytes for the peer; returns how many were accepted (0 when the buffer is full or
    /// the write side is shut: back-pressure).
    pub fn write(&mut self, data: &[u8]) -> usize {
        if !self.is_writable() {
            return 0;
        }
        let n = self.send.write(data);
        if n < data.len() {
            self.write_blocked = true;
        }
        n
    }

    /// Copy received in-order bytes into `buf`; 0 when nothing is readable (see
    /// [`Connection::is_read_finished`] for end of stream).
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = self.recv.read(buf);
        if n > 0 {
            self.update_choke();
        }
        n
    }

    /// Half-close: send CLOSE once everything written is acknowledged; keep receiving.
    pub fn shutdown_write(&mut self) {
        self.write_shutdown = true;
    }

    /// Graceful close of both directions: like `shutdown_write`, and incoming data is
    /// discarded (still acknowledged so the peer can finish).
    pub fn close(&mut self, now: Instant) {
        self.write_shutdown = true;
        self.read_closed = true;
        self.recv.discard_all();
        self.check_close_progress(now);
    }

    /// Abort: a signed RESET is the next packet and the stream ends (at once, silently, if
    /// the peer never heard of the stream).
    pub fn reset(&mut self) {
        if self.closed.is_some() {
            return;
        }
        self.send.clear();
        if self.syn_sent {
            self.reset_pending = true;
        } else {
            self.finish(CloseReason::LocalReset);
        }
    }

    /// End the stream at once without sending anything: the session it ran on is gone.
    pub fn abort(&mut self) {
        self.finish(CloseReason::SessionLost);
    }

    // ===== inputs =====

    /// Process a packet addressed to this stream (demultiplexed by the caller).
    pub fn handle_packet(&mut self, now: Instant, packet: Packet) {
        if self.closed.is_some() {
            return;
        }
        self.stats.packets_received += 1;
        let flags = packet.flags;
        trace!(
            id = self.local_id,
            seq = packet.seq,
            ack = packet.ack_through,
            flags = flags.0,
            len = packet.payload.len(),
            "packet in"
        );
        if flags.contains(Flags::RESET) {
            // Honoured whatever its seq, if signed by the peer (docs/streaming.md "What i2pd
            // sends", Java).
            if packet.verify(&self.remote) {
                self.send.clear();
                self.recv.discard_all();
                self.finish(CloseReason::PeerReset);
            } else {
                self.stats.rejected += 1;
            }
            return;
        }
        let syn = flags.contains(Flags::SYNCHRONIZE);
        if (syn || flags.contains(Flags::CLOSE)) && !self.verify_from_peer(&packet) {
            warn!(
                id = self.local_id,
                "dropping SYN/CLOSE with a bad signature or FROM"
            );
            self.stats.rejected += 1;
            return;
        }
        let syn_ack = syn && self.role == Role::Initiator && !self.connected;
        if syn_ack {
            self.remote_id = packet.receive_stream_id;
            self.connected = true;
            self.adopt_peer_mtu(&packet);
            self.events.push_back(Event::Connected);
            debug!(id = self.local_id, remote_id = self.remote_id, "connected");
            if flags.contains(Flags::NO_ACK) {
                // A verified SYN-ACK proves our SYN arrived even if it does not say so.
                self.process_ack(now, 0, &[]);
            }
        }
        self.touch_idle(now);
        self.touch_keepalive(now);
        if !flags.contains(Flags::NO_ACK) {
            self.process_ack(now, packet.ack_through, &packet.nacks);
        }
        self.process_delay_option(&packet);
        if !packet.is_plain_ack() {
            if syn && self.role == Role::Responder {
                // A repeated SYN: our SYN-ACK was probably lost; send it again now.
                if let Some(p) = self.send.get_mut(0) {
                    p.lost = true;
                }
            }
            self.process_sequenced(now, &packet);
        }
        if syn_ack {
            // ACK the SYN-ACK at once (with data if any is queued). On the testbed i2pd's
            // responder sent its first data only after our ACK of its SYN-ACK (about
            // 0.4 ms after it, whenever it went out), so the delayed ACK (RTT/10, rounded
            // up to the 1 ms timer tick) added about 1 ms to every time to first byte.
            self.ack_pending = true;
            self.ack_now = true;
        }
        self.check_close_progress(now);
    }

    /// Run expired timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed.is_some() {
            return;
        }
        if self.timers.is_expired(Timer::Ack, now) {
            self.timers.stop(Timer::Ack);
            if self.ack_pending {
                self.ack_now = true;
            }
        }
        if self.timers.is_expired(Timer::Retransmit, now) {
            self.on_retransmit_timeout(now);
        }
        if self.timers.is_expired(Timer::Idle, now) {
            debug!(id = self.local_id, "idle timeout");
            self.finish(CloseReason::Idle);
        }
        if self.timers.is_expired(Timer::Keepalive, now) {
            self.timers.stop(Timer::Keepalive);
            self.keepalive_due = self.wants_keepalive();
            self.touch_keepalive(now);
        }
        if self.timers.is_expired(Timer::Pacing, now) {
            // Nothing to do but let the next poll_transmit try again.
            self.timers.stop(Timer::Pacing);
        }
        if self.timers.is_expired(Timer::Linger, now) {
            // All our data was ACKed before our CLOSE went out: nothing was lost.
            debug!(id = self.local_id, "close linger expired");
            self.finish(CloseReason::Normal);
        }
    }

    // ===== outputs =====

    /// Next packet to send, as wire bytes.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.closed.is_some() {
            return None;
        }
        if self.reset_pending {
            self.reset_pending = false;
            let bytes = self.build_reset();
            self.finish(CloseReason::LocalReset);
            return self.count_sent(bytes);
        }
        if let Some(bytes) = self.poll_retransmit(now) {
            return self.count_sent(Some(bytes));
        }
        if let Some(bytes) = self.poll_new_packet(now) {
            return self.count_sent(Some(bytes));
        }
        if self.ack_pending
            && self.ack_now
            && let Some(bytes) = self.build_ack()
        {
            self.on_ack_sent();
            self.stats.plain_acks += 1;
            return self.count_sent(Some(bytes));
        }
        if self.finishing && !self.ack_pending {
            self.finish(CloseReason::Normal);
        }
        None
    }

    /// Earliest time `handle_timeout` must run.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed.is_some() {
            return None;
        }
        self.timers.next_timeout()
    }

    /// Next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ===== receive path =====

    /// SYN/SYN-ACK/CLOSE must be signed by the peer and any FROM must be the peer
    /// (docs/streaming.md "Signatures"; Java checks the SYN-ACK's FROM too).
    fn verify_from_peer(&self, packet: &Packet) -> bool {
        packet.from.as_ref().is_none_or(|from| *from == self.remote) && packet.verify(&self.remote)
    }

    fn adopt_peer_mtu(&mut self, packet: &Packet) {
        if let Some(size) = packet.max_packet_size {
            self.peer_mtu = usize::from(size).max(MIN_PEER_MTU);
        }
    }

    /// (Re)start the keepalive clock: on every packet from the peer and every probe.
    fn touch_keepalive(&mut self, now: Instant) {
        if let Some(after) = self.keepalive {
            self.timers.set(Timer::Keepalive, now + after);
        }
    }

    /// A probe is useful only on an open stream with nothing in flight: otherwise the
    /// retransmission timer already watches the peer, and a closing stream has its linger.
    fn wants_keepalive(&self) -> bool {
        self.connected
            && self.closed.is_none()
            && !self.write_shutdown
            && self.close_seq.is_none()
            && !self.recv.is_finished()
            && self.send.in_flight().is_empty()
            && self.send.unsent_len() == 0
    }

    fn touch_idle(&mut self, now: Instant) {
        if let Some(idle) = self.idle_timeout {
            self.timers.set(Timer::Idle, now + idle);
        }
    }

    /// DELAY_REQUESTED: 0 asks for an ACK now, ≥ 60000 chokes us (i2pd's reading,
    /// docs/streaming.md "What i2pd sends"); any ACK without a choke value unchokes (i2pd chokes
    /// one ACK at a time, Java repeats the choke in every ACK while its buffer is full).
    fn process_delay_option(&mut self, packet: &Packet) {
        match packet.delay_requested {
            Some(_) if packet.is_choke() => {
                if !self.peer_choked {
                    debug!(id = self.local_id, "peer choked us");
                }
                self.peer_choked = true;
                // The peer is alive and answering: waiting on it is not a failure.
                self.consecutive_timeouts = 0;
            }
            Some(delay) => {
                self.peer_choked = false;
                if delay == DELAY_ACK_NOW && self.recv.ack_info().is_some() {
                    self.ack_pending = true;
                    self.ack_now = true;
                }
            }
            None => {
                if !packet.flags.contains(Flags::NO_ACK) {
                    self.peer_choked = false;
                }
            }
        }
    }

    fn process_sequenced(&mut self, now: Instant, packet: &Packet) {
        let close = packet.flags.contains(Flags::CLOSE);
        let was_empty = self.recv.readable_len() == 0;
        match self.recv.insert(packet.seq, &packet.payload, close) {
            Insert::InOrder { delivered } => {
                self.ack_pending = true;
                self.unacked_packets += 1;
                if self.unacked_packets >= ACK_EVERY_PACKETS {
                    self.ack_now = true;
                }
                if delivered > 0 && was_empty {
                    self.events.push_back(Event::Readable);
                }
                if self.recv.is_finished() && !self.finished_reported {
                    self.finished_reported = true;
                    self.events.push_back(Event::Finished);
                    debug!(id = self.local_id, "peer closed");
                }
                self.schedule_delayed_ack(now);
            }
            Insert::OutOfOrder => {
                self.stats.out_of_order += 1;
                // Tell the peer about the hole at once (NACKs), like i2pd's quick ACK.
                self.ack_pending = true;
                self.ack_now = true;
            }
            Insert::Duplicate => {
                self.stats.duplicates += 1;
                self.ack_pending = true;
                self.ack_now = true;
            }
            Insert::AfterClose => {
                // docs/streaming.md "What i2pd sends", duplicate CLOSE: i2pd may send a second
                // CLOSE with seq+1; nothing follows a CLOSE, so it gets no answer.
                self.stats.duplicates += 1;
            }
            Insert::Dropped => {
                self.stats.dropped += 1;
                self.ack_pending = true;
                self.ack_now = true;
            }
        }
        self.update_choke();
    }

    /// Delayed ACK: min(RTT/10, max_ack_delay) (docs/streaming.md "What i2pd sends").
    fn schedule_delayed_ack(&mut self, now: Instant) {
        if self.timers.get(Timer::Ack).is_none() {
            let delay = (self.rtt.smoothed_or_initial() / 10).min(self.max_ack_delay);
            self.timers.set(Timer::Ack, now + delay);
        }
    }

    /// Choke the peer when 3/4 of the receive buffer is unread; unchoke (and say so at once)
    /// when half is free again.
    fn update_choke(&mut self) {
        let cap = self.recv.capacity();
        let free = self.recv.free();
        if !self.choking && free < cap / 4 {
            self.choking = true;
            self.ack_pending = true;
            self.ack_now = true;
            debug!(id = self.local_id, "choking peer");
        } else if self.choking && free >= cap / 2 {
            self.choking = false;
            self.window_update = true;
            self.ack_pending = true;
            self.ack_now = true;
            debug!(id = self.local_id, "unchoking peer");
        }
    }

    fn process_ack(&mut self, now: Instant, ack_through: u32, nacks: &[u32]) {
        // An ACK beyond anything we sent is ignored, like i2pd does.
        if ack_through >= self.next_seq {
            return;
        }
        let acked: Vec<u32> = self
            .send
            .in_flight()
            .range(..=ack_through)
            .map(|(seq, _)| *seq)
            .filter(|seq| !nacks.contains(seq))
            .collect();
        let mut count = 0u32;
        let mut sample = None;
        for seq in acked {
            let Some(p) = self.send.on_acked(seq) else {
                continue;
            };
            count += 1;
            // Karn: only packets sent once give an RTT sample.
            if p.transmissions == 1 {
                sample = Some(now.saturating_duration_since(p.last_sent));
            }
            self.latest_delivered_sent = Some(
                self.latest_delivered_sent
                    .map_or(p.last_sent, |t| t.max(p.last_sent)),
            );
            if p.kind == SentKind::Close {
                self.close_acked = true;
            }
        }
        if count > 0 {
            if let Some(rtt) = sample {
                self.rtt.on_sample(rtt);
            }
            self.rtt.reset_backoff();
            self.consecutive_timeouts = 0;
            self.cc.on_ack(count);
            if self.send.in_flight().is_empty() {
                self.timers.stop(Timer::Retransmit);
            } else {
                self.timers.set(Timer::Retransmit, now + self.rtt.rto());
            }
            if self.timers.get(Timer::Linger).is_some() {
                self.arm_linger(now);
            }
            if self.write_blocked && self.send.free() > 0 && self.is_writable() {
                self.write_blocked = false;
                self.events.push_back(Event::Writable);
            }
        }
        self.detect_losses();
    }

    /// Fast retransmit, time-based (RFC 8985 RACK): an unacknowledged packet is lost once a
    /// packet sent more than a reorder window (RTT/4) after it has been delivered. The NACKs
    /// keep the holes out of the acknowledged set, so a NACKed packet is retransmitted on
    /// the first ACK that covers a later burst — typically one RTT after its loss, without
    /// waiting for the RTO. A NACK count threshold (TCP's three duplicate ACKs) was tried
    /// and dropped: the simulation's reordering made it retransmit spuriously, halving the
    /// window each time. This also recovers tail losses that no NACK will ever name.
    fn detect_losses(&mut self) {
        let Some(latest) = self.latest_delivered_sent else {
            return;
        };
        let reorder_window = self.rtt.smoothed_or_initial() / 4;
        let next_seq = self.next_seq;
        let mut lost = Vec::new();
        for (&seq, p) in self.send.in_flight_mut() {
            if p.lost {
                continue;
            }
            if p.last_sent + reorder_window < latest {
                p.lost = true;
                lost.push((seq, p.transmissions));
            }
        }
        for (seq, transmissions) in lost {
            trace!(id = self.local_id, seq, "packet lost");
            self.cc.on_loss(seq, next_seq);
            if transmissions > self.max_resends {
                warn!(id = self.local_id, seq, "packet lost too often, giving up");
                self.finish(CloseReason::TimedOut);
                return;
            }
        }
    }

    fn on_retransmit_timeout(&mut self, now: Instant) {
        self.timers.stop(Timer::Retransmit);
        if self.send.in_flight().is_empty() {
            return;
        }
        self.stats.timeouts += 1;
        self.consecutive_timeouts += 1;
        if self.consecutive_timeouts > self.max_resends {
            warn!(
                id = self.local_id,
                "no ACK after {} timeouts, giving up", self.max_resends
            );
            self.finish(CloseReason::TimedOut);
            return;
        }
        self.rtt.on_timeout();
        self.cc.on_timeout(self.next_seq);
        // Everything outstanding goes again as the (collapsed) window allows; the first ACK
        // skips whatever the peer already holds.
        for (_, p) in self.send.in_flight_mut() {
            p.lost = true;
        }
        self.timers.set(Timer::Retransmit, now + self.rtt.rto());
    }

    // ===== close bookkeeping =====

    fn check_close_progress(&mut self, now: Instant) {
        if self.closed.is_some() || self.finishing {
            return;
        }
        let read_done = self.recv.is_finished();
        let write_done = self.close_acked;
        if read_done && write_done {
            // Both CLOSEs done: ACK theirs if not yet, then forget the stream. Anything
            // that still arrives (i2pd's duplicate CLOSE) is ignored.
            self.finishing = true;
            if self.ack_pending {
                self.ack_now = true;
            } else {
                self.finish(CloseReason::Normal);
            }
            return;
        }
        // Our CLOSE went out (so all our data was ACKed) and the peer is done, or the
        // application wants nothing more and the peer has our CLOSE: only then is waiting
        // bounded by the linger time rather than by the retransmission limit.
        let linger = (read_done && self.close_seq.is_some()) || (self.read_closed && write_done);
        if linger && self.timers.get(Timer::Linger).is_none() {
            self.arm_linger(now);
        }
    }

    /// How long to wait for the last ACK once our CLOSE is out and the peer is done (i2pd
    /// forgets a stream once its CLOSE is ACKed, so our CLOSE may never be ACKed); counted
    /// from the peer's last sign of progress.
    fn arm_linger(&mut self, now: Instant) {
        let wait = self.close_linger.max(self.rtt.rto() * 3);
        self.timers.set(Timer::Linger, now + wait);
    }

    fn finish(&mut self, reason: CloseReason) {
        if self.closed.is_some() {
            return;
        }
        debug!(
            id = self.local_id,
            ?reason,
            stats = ?self.stats,
            cwnd = self.cc.window(),
            srtt = ?self.rtt.smoothed(),
            "stream closed"
        );
        self.closed = Some(reason);
        self.timers.clear();
        self.send.clear();
        self.events.push_back(Event::Closed(reason));
    }

    // ===== send path =====

    fn window(&self) -> usize {
        let w = if self.peer_choked {
            1
        } else {
            self.cc.window().min(self.max_window)
        };
        w as usize
    }

    fn can_send(&self) -> bool {
        self.send.pipe() < self.window()
    }

    /// The pacing rate in packets per second (`None`: unpaced, before an RTT sample).
    fn pacing_rate(&self) -> Option<f64> {
        let window = u32::try_from(self.window()).unwrap_or(u32::MAX);
        pacing::rate(window, self.rtt.smoothed(), self.cc.in_slow_start())
    }

    /// True when the pacer lets a data packet or retransmission leave now; otherwise the
    /// pacing timer is armed for when it will.
    fn pacer_allows(&mut self, now: Instant) -> bool {
        let rate = self.pacing_rate();
        if self.pacer.can_send(now, rate) {
            return true;
        }
        if let Some(at) = self.pacer.next_ready(now) {
            self.timers.set(Timer::Pacing, at);
        }
        false
    }

    fn poll_retransmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if !self.can_send() {
            return None;
        }
        let seq = self.send.first_lost()?;
        if !self.pacer_allows(now) {
            return None;
        }
        self.pacer.on_sent(now);
        let (kind, payload) = {
            let p = self.send.get_mut(seq)?;
            p.lost = false;
            p.transmissions += 1;
            p.last_sent = now;
            (p.kind, p.payload.clone())
        };
        self.stats.retransmits += 1;
        trace!(id = self.local_id, seq, "retransmit");
        let bytes = self.build_sequenced(kind, seq, &payload);
        self.arm_retransmit(now);
        bytes
    }

    fn poll_new_packet(&mut self, now: Instant) -> Option<Vec<u8>> {
        if !self.can_send() {
            return None;
        }
        if !self.syn_sent {
            let payload = self.send.take_payload(self.mtu);
            self.syn_sent = true;
            return self.emit_sequenced(now, SentKind::Syn, payload);
        }
        if self.send.unsent_len() > 0 {
            if !self.pacer_allows(now) {
                return None;
            }
            self.pacer.on_sent(now);
            let payload = self.send.take_payload(self.mtu.min(self.peer_mtu));
            return self.emit_sequenced(now, SentKind::Data, payload);
        }
        if std::mem::take(&mut self.keepalive_due) && self.wants_keepalive() {
            // Empty, but sequenced: the peer must ACK it (i2pd and Java accept it).
            trace!(id = self.local_id, "keepalive probe");
            return self.emit_sequenced(now, SentKind::Data, Vec::new());
        }
        // docs/streaming.md "What i2pd sends": CLOSE only after all our data is ACKed.
        if self.write_shutdown && self.close_seq.is_none() && self.send.in_flight().is_empty() {
            self.close_seq = Some(self.next_seq);
            let bytes = self.emit_sequenced(now, SentKind::Close, Vec::new());
            self.check_close_progress(now);
            return bytes;
        }
        None
    }

    fn emit_sequenced(
        &mut self,
        now: Instant,
        kind: SentKind,
        payload: Vec<u8>,
    ) -> Option<Vec<u8>> {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.checked_add(1)?;
        let bytes = self.build_sequenced(kind, seq, &payload);
        self.send.on_sent(seq, kind, payload, now);
        self.arm_retransmit(now);
        bytes
    }

    fn arm_retransmit(&mut self, now: Instant) {
        if self.timers.get(Timer::Retransmit).is_none() {
            self.timers.set(Timer::Retransmit, now + self.rtt.rto());
        }
    }

    fn count_sent(&mut self, bytes: Option<Vec<u8>>) -> Option<Vec<u8>> {
        if bytes.is_some() {
            self.stats.packets_sent += 1;
        }
        bytes
    }

    fn build_sequenced(&mut self, kind: SentKind, seq: u32, payload: &[u8]) -> Option<Vec<u8>> {
        let bytes = match kind {
            SentKind::Syn => self.build_syn(payload),
            SentKind::Data => self.build_data(seq, payload),
            SentKind::Close => self.build_close(seq),
        };
        // Every sequenced packet after the first carries our ACK state.
        if bytes.is_some() && self.remote_id != 0 {
            self.on_ack_sent();
        }
        bytes
    }

    /// Header with our ids, `seq` and the current ACK fields (NO_ACK while we know nothing to
    /// acknowledge or cannot address the peer yet).
    fn base_packet(&self, seq: u32) -> Packet {
        let mut p = Packet {
            send_stream_id: self.remote_id,
            receive_stream_id: self.local_id,
            seq,
            ..Packet::default()
        };
        match self.recv.ack_info().filter(|_| self.remote_id != 0) {
            Some((ack_through, nacks)) => {
                p.ack_through = ack_through;
                p.nacks = nacks;
            }
            None => p.flags.insert(Flags::NO_ACK),
        }
        if self.choking {
            p.delay_requested = Some(DELAY_CHOKE_SEND);
        }
        p
    }

    fn resend_delay_secs(&self) -> u8 {
        u8::try_from(self.rtt.rto().as_secs()).unwrap_or(u8::MAX)
    }

    /// Initiator SYN like i2pd HEAD (docs/streaming.md "What i2pd sends"): sendStreamId 0, the
    /// target hash in 8 NACK slots, NO_ACK, FROM, MAX_PACKET_SIZE, signed → flags 0x04A9.
    /// Responder SYN-ACK: the initiator's id, ACK of its SYN, FROM, MAX_PACKET_SIZE, signed.
    fn build_syn(&self, payload: &[u8]) -> Option<Vec<u8>> {
        let mut p = match self.role {
            Role::Initiator => Packet {
                receive_stream_id: self.local_id,
                nacks: Packet::nacks_for_hash(&self.remote.hash()),
                flags: Flags::NO_ACK,
                ..Packet::default()
            },
            Role::Responder => self.base_packet(0),
        };
        p.flags.insert(Flags::SYNCHRONIZE);
        p.resend_delay = SYN_RESEND_DELAY;
        p.from = Some(self.keys.destination().clone());
        p.max_packet_size = Some(u16::try_from(self.mtu).unwrap_or(u16::MAX));
        p.payload = payload.to_vec();
        self.sign(p)
    }

    fn build_data(&self, seq: u32, payload: &[u8]) -> Option<Vec<u8>> {
        let mut p = self.base_packet(seq);
        p.resend_delay = self.resend_delay_secs();
        // The packet that drains our buffer asks for an immediate ACK so the tail is not held
        // up by the peer's delayed-ACK timer.
        if p.delay_requested.is_none() && self.send.unsent_len() == 0 {
            p.delay_requested = Some(DELAY_ACK_NOW);
        }
        p.payload = payload.to_vec();
        encode(&p)
    }

    /// CLOSE: next seq, ACK fields, signed; 86 bytes for Ed25519 (docs/streaming.md "What i2pd
    /// sends").
    fn build_close(&self, seq: u32) -> Option<Vec<u8>> {
        let mut p = self.base_packet(seq);
        p.flags.insert(Flags::CLOSE);
        self.sign(p)
    }

    /// RESET: signed, with the next seq (i2pd only acts on an in-order RESET).
    fn build_reset(&self) -> Option<Vec<u8>> {
        let mut p = self.base_packet(self.next_seq);
        p.flags.insert(Flags::RESET);
        self.sign(p)
    }

    /// Plain ACK: seq 0, 22 bytes plus NACKs (docs/streaming.md "What i2pd sends").
    fn build_ack(&mut self) -> Option<Vec<u8>> {
        if self.remote_id == 0 {
            return None;
        }
        let mut p = self.base_packet(0);
        if p.flags.contains(Flags::NO_ACK) {
            return None;
        }
        if self.window_update && p.delay_requested.is_none() {
            p.delay_requested = Some(DELAY_ACK_NOW);
        }
        encode(&p)
    }

    fn on_ack_sent(&mut self) {
        self.unacked_packets = 0;
        self.ack_pending = false;
        self.ack_now = false;
        self.window_update = false;
        self.timers.stop(Timer::Ack);
    }

    fn sign(&self, mut p: Packet) -> Option<Vec<u8>> {
        match p.sign(&self.keys) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                warn!(id = self.local_id, "cannot encode packet: {e}");
                None
            }
        }
    }
}

fn encode(p: &Packet) -> Option<Vec<u8>> {
    match p.encode() {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            warn!("cannot encode packet: {e}");
            None
        }
    }
}

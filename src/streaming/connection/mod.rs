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
//!  initiator:  connect ─▶ SynPending ──SYN (+data) sent──▶ SynSent ──verified SYN-ACK──▶ Established
//!  responder:  accept(SYN) ─▶ SynReceived ──SYN-ACK sent──▶ Established
//!
//!  send half:  Open ──shutdown_write/close──▶ Shutdown ──all data ACKed, CLOSE out──▶ CloseSent
//!              ──CLOSE ACKed──▶ CloseAcked
//!  read side:  peer CLOSE reached in order ──▶ Event::Finished (the receive buffer knows it)
//!  CloseAcked + peer CLOSE reached ──▶ Finishing ──final ACK sent──▶ Closed(Normal)
//!  peer CLOSE reached + our CLOSE out, no ACK for close_linger ──▶ Closed(Normal)   (i2pd
//!                                              forgets a stream once its CLOSE is ACKed)
//!  reset() ──▶ ResetPending ──signed RESET sent──▶ Closed(LocalReset)
//!  any ──RESET in, resends exhausted, idle──▶ Closed(reason)
//! ```
//!
//! The handshake, send half and read-closed flag live in `State::Open`; `Finishing`,
//! `ResetPending` and `Closed` carry only what is still asked of them (whether the opening
//! completed), so e.g. "closed but a RESET pending" cannot be written down.
//!
//! Layout: the lifecycle as types in `state.rs`, when and what we acknowledge in `ack.rs`,
//! loss detection and retransmission timeouts in `recovery.rs`, packet building in
//! `build.rs`; this file holds the stream itself and its inputs and outputs.
//!
//! Sequence numbers (docs/streaming.md "What i2pd sends"): the SYN/SYN-ACK is seq 0, each data
//! packet and the CLOSE take the next number, plain ACKs carry seq 0.

mod ack;
mod build;
mod close;
mod events;
mod receive;
mod recovery;
mod send;
mod state;

pub use self::events::{CloseReason, ConnectionStats, Event, Role};

use self::ack::AckScheduler;
use self::state::{Handshake, SendHalf, State};
use super::StreamingConfig;
use super::congestion::{Controller, NewReno};
use super::pacing::Pacer;
use super::packet::{Flags, Packet};
use super::recv_buffer::RecvBuffer;
use super::rtt::RttEstimator;
use super::send_buffer::SendBuffer;
use super::timer::{Timer, TimerTable};
use crate::data::{Destination, PrivateKeys};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, trace, warn};

/// Smallest peer MAX_PACKET_SIZE we honour; a tiny value would make us send empty packets.
const MIN_PEER_MTU: usize = 64;

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
    idle_timeout: Option<Duration>,
    keepalive: Option<Duration>,
    /// The keepalive timer fired: the next poll sends a probe.
    keepalive_due: bool,
    /// Send nothing after the SYN until the peer answers it: this is our destination's
    /// first contact with the peer, and every message sent to it before the answer makes
    /// i2pd's client side open another ECIES session (see `crate::first_contact`).
    hold_for_answer: bool,
    close_linger: Duration,

    state: State,
    /// Next sequence number to assign to a SYN/data/CLOSE packet.
    next_seq: u32,
    send: SendBuffer,
    recv: RecvBuffer,
    ack: AckScheduler,
    rtt: RttEstimator,
    cc: NewReno,
    pacer: Pacer,
    timers: TimerTable,
    /// Send time of the most recently sent packet known delivered (time-based loss detection).
    latest_delivered_sent: Option<Instant>,
    /// The peer asks us to stop sending (its DELAY_REQUESTED ≥ 60000).
    peer_choked: bool,
    /// We ask the peer to stop sending (our receive buffer is nearly full).
    choking: bool,
    consecutive_timeouts: u32,
    /// `write` took less than offered: report `Writable` when room appears.
    write_blocked: bool,
    events: VecDeque<Event>,
    stats: ConnectionStats,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state)
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
            .field("peer_finished", &self.recv.is_finished())
            .field("ack", &self.ack)
            .field("timers", &self.timers)
            .field("stats", &self.stats)
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
        let handshake = match role {
            Role::Initiator => Handshake::SynPending,
            Role::Responder => Handshake::SynReceived,
        };
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
            idle_timeout: cfg.idle_timeout,
            keepalive: cfg.keepalive,
            keepalive_due: false,
            hold_for_answer: false,
            close_linger: cfg.close_linger,
            state: State::new(handshake),
            next_seq: 0,
            send: SendBuffer::new(cfg.send_buffer),
            recv: RecvBuffer::new(cfg.recv_buffer),
            ack: AckScheduler::new(cfg.max_ack_delay),
            rtt: RttEstimator::new(cfg.initial_rto, cfg.min_rto, cfg.max_rto),
            cc: NewReno::new(cfg.initial_window, cfg.min_window, cfg.max_window),
            pacer: Pacer::default(),
            timers: TimerTable::default(),
            latest_delivered_sent: None,
            peer_choked: false,
            choking: false,
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

    /// Send nothing after the SYN until the peer has answered it (see
    /// `Connection::hold_for_answer`); for a first contact, set before the first poll.
    pub fn hold_until_answered(&mut self) {
        self.hold_for_answer = true;
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
        self.state.is_connected()
    }

    /// Retransmission timeouts since the peer last acknowledged anything.
    pub fn timeouts_in_a_row(&self) -> u32 {
        self.consecutive_timeouts
    }

    /// Why the stream ended, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.state.close_reason()
    }

    /// True when `read` will never return more data: the peer's CLOSE was reached (or the
    /// stream ended) and everything buffered has been read.
    pub fn is_read_finished(&self) -> bool {
        self.recv.readable_len() == 0 && (self.recv.is_finished() || self.is_closed())
    }

    /// True once the peer's CLOSE was reached in order.
    pub fn is_peer_finished(&self) -> bool {
        self.recv.is_finished()
    }

    /// True when `write` can accept bytes now or later.
    pub fn is_writable(&self) -> bool {
        self.state.is_writable()
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

    fn is_closed(&self) -> bool {
        self.state.close_reason().is_some()
    }

    /// Packets and timers are processed until the stream has ended (also while a RESET or
    /// the last ACK waits to go out).
    fn accepts_input(&self) -> bool {
        !self.is_closed()
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
        if let State::Open { send, .. } = &mut self.state
            && *send == SendHalf::Open
        {
            *send = SendHalf::Shutdown;
        }
    }

    /// Graceful close of both directions: like `shutdown_write`, and incoming data is
    /// discarded (still acknowledged so the peer can finish).
    pub fn close(&mut self, now: Instant) {
        self.shutdown_write();
        if let State::Open { read_closed, .. } = &mut self.state {
            *read_closed = true;
        }
        self.recv.discard_all();
        self.check_close_progress(now);
    }

    /// Abort: a signed RESET is the next packet and the stream ends (at once, silently, if
    /// the peer never heard of the stream).
    pub fn reset(&mut self) {
        let syn_sent = match self.state {
            State::Open { handshake, .. } => handshake.syn_sent(),
            // Both CLOSEs were exchanged, so both SYNs were too.
            State::Finishing { .. } => true,
            State::ResetPending { .. } | State::Closed { .. } => return,
        };
        self.send.clear();
        if syn_sent {
            let connected = self.state.is_connected();
            self.state = State::ResetPending { connected };
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
        if !self.accepts_input() {
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
        let syn_ack = syn && self.role == Role::Initiator && !self.is_connected();
        if syn_ack {
            self.on_syn_ack(now, &packet);
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
            self.ack.ack_now();
        }
        self.check_close_progress(now);
    }

    /// Run expired timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.accepts_input() {
            return;
        }
        self.ack.on_timeout(&mut self.timers, now);
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

    /// Append the next packet to send to `out` (a buffer the caller owns and may reuse, as
    /// in quinn-proto's `poll_transmit`) and return its length; `None` when there is nothing
    /// to send now.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> Option<usize> {
        let start = out.len();
        let sent = self.transmit(now, out);
        if sent {
            self.stats.packets_sent += 1;
            Some(out.len() - start)
        } else {
            out.truncate(start);
            None
        }
    }

    fn transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        match self.state {
            State::Closed { .. } => return false,
            State::ResetPending { .. } => {
                let sent = self.build_reset(out);
                self.finish(CloseReason::LocalReset);
                return sent;
            }
            State::Open { .. } | State::Finishing { .. } => {}
        }
        if self.poll_retransmit(now, out) || self.poll_new_packet(now, out) {
            return true;
        }
        if self.ack.is_due() && self.build_ack(out) {
            self.ack.on_sent(&mut self.timers);
            self.stats.plain_acks += 1;
            return true;
        }
        if matches!(self.state, State::Finishing { .. }) && !self.ack.is_pending() {
            self.finish(CloseReason::Normal);
        }
        false
    }

    /// Earliest time `handle_timeout` must run.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        self.timers.next_timeout()
    }

    /// Next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

//! All streams of one local destination: creates outgoing streams, demultiplexes incoming
//! packets by our receive stream id, answers pings, and hands out transmits.
//!
//! Call order is the same as for [`Connection`]: feed `handle_packet`/`handle_timeout`/
//! application calls, then drain `poll_transmit`, `poll_event`, and re-arm at `poll_timeout`.
//!
//! No call walks every stream: a stream whose state changed joins a ready queue that
//! `poll_transmit` serves round robin (a stream with nothing to send leaves it until its
//! next input), and stream deadlines sit in a min-heap that `handle_timeout` and
//! `poll_timeout` look at the top of (entries made stale by a re-armed timer are skipped
//! when they come up). Ten thousand idle streams cost nothing per packet of a busy one.
//!
//! Demultiplexing (docs/streaming.md "What i2pd sends": i2pd's ports are 0 → 0 in every reply):
//! * sendStreamId ≠ 0 → the stream whose receive id it is (SYN-ACKs included);
//! * ECHO with sendStreamId ≠ 0 → a ping: answered with a pong to its (verified) FROM;
//! * ECHO with sendStreamId 0 → a pong: ignored (we send no pings);
//! * SYN with sendStreamId 0 → a new incoming stream (if enabled) or a signed RESET;
//! * other packets with sendStreamId 0 → follow-ons of an incoming stream, by the peer's
//!   receive id, kept for a while if they overtake the SYN.

use super::StreamingConfig;
use super::connection::{Connection, Event};
use super::packet::{Flags, Packet};
use crate::data::{Destination, PrivateKeys};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, trace};

mod deadlines;
mod incoming;
#[cfg(test)]
mod tests;
mod watch;

use super::connection::CloseReason;
use deadlines::Deadlines;
use watch::Watch;
pub use watch::{Health, HealthReport};

/// Our receive stream id: the handle for one stream.
pub type StreamId = u32;

/// How long follow-on packets that overtook their SYN are kept (i2pd: 10 s).
const PENDING_FOLLOW_ON_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many peers' early follow-ons are kept, and this many packets each.
const MAX_PENDING_PEERS: usize = 64;
const MAX_PENDING_PER_PEER: usize = 32;
/// Pongs/RESETs waiting to go out; more are dropped (a ping flood must not grow memory).
const MAX_CONTROL_QUEUE: usize = 64;

/// A packet to hand to I2CP: gzip it with these ports and send it to `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination to send to.
    pub to: Destination,
    /// Source port for the gzip header.
    pub src_port: u16,
    /// Destination port for the gzip header.
    pub dst_port: u16,
    /// The streaming packet.
    pub packet: Vec<u8>,
}

#[derive(Debug)]
struct Entry {
    conn: Connection,
    src_port: u16,
    dst_port: u16,
    /// The application let go of the stream; remove it once it is closed.
    released: bool,
    /// For incoming streams: the initiator's receive id (routes its sendStreamId-0 packets).
    peer_syn_id: Option<u32>,
    /// The deadline this stream has in the timer heap (others for it there are stale).
    armed: Option<Instant>,
    /// The stream is in the ready queue.
    queued: bool,
    /// The application's health watch, if it set one.
    watch: Option<Watch>,
}

impl Entry {
    fn new(conn: Connection, src_port: u16, dst_port: u16, peer_syn_id: Option<u32>) -> Entry {
        Entry {
            conn,
            src_port,
            dst_port,
            released: false,
            peer_syn_id,
            armed: None,
            queued: false,
            watch: None,
        }
    }
}

/// All streams of one destination.
pub struct Manager {
    keys: Arc<PrivateKeys>,
    cfg: StreamingConfig,
    rng: StdRng,
    streams: BTreeMap<StreamId, Entry>,
    /// Streams that may have something to send, in round-robin order.
    ready: VecDeque<StreamId>,
    /// Stream deadlines, earliest first; an entry is live while it equals the stream's
    /// `armed`.
    timers: Deadlines,
    /// When watched streams' SYN answers are due to be looked at; an entry is live while it
    /// equals the stream's `Watch::syn_due`.
    watch_timers: Deadlines,
    /// Ids of removed streams, not reused (and their packets ignored) until the deadline.
    quarantine: HashSet<StreamId>,
    quarantine_order: VecDeque<(Instant, StreamId)>,
    incoming_by_peer_id: HashMap<u32, StreamId>,
    pending_follow_ons: HashMap<u32, (Instant, Vec<Packet>)>,
    accept_queue: VecDeque<StreamId>,
    control: VecDeque<Transmit>,
    events: VecDeque<(StreamId, Event)>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("streams", &self.streams.len())
            .field("quarantined", &self.quarantine.len())
            .finish_non_exhaustive()
    }
}

impl Manager {
    /// A manager for the destination of `keys`. `seed` seeds stream-id generation (tests pass
    /// a fixed seed; the driver passes a random one).
    pub fn new(keys: Arc<PrivateKeys>, cfg: StreamingConfig, seed: u64) -> Manager {
        Manager {
            keys,
            cfg,
            rng: StdRng::seed_from_u64(seed),
            streams: BTreeMap::new(),
            ready: VecDeque::new(),
            timers: Deadlines::default(),
            watch_timers: Deadlines::default(),
            quarantine: HashSet::new(),
            quarantine_order: VecDeque::new(),
            incoming_by_peer_id: HashMap::new(),
            pending_follow_ons: HashMap::new(),
            accept_queue: VecDeque::new(),
            control: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Our own destination.
    pub fn local_destination(&self) -> &Destination {
        self.keys.destination()
    }

    /// The configuration in use.
    pub fn config(&self) -> &StreamingConfig {
        &self.cfg
    }

    /// Open a stream to `remote` port `dst_port` (our source port is 0, docs/socks.md "From a
    /// request to a stream"). The SYN carries up to one MTU of `initial_data`; it is sent by
    /// `poll_transmit`.
    pub fn connect(
        &mut self,
        now: Instant,
        remote: Destination,
        dst_port: u16,
        initial_data: &[u8],
    ) -> StreamId {
        self.open(now, remote, dst_port, initial_data, false)
    }

    /// [`Manager::connect`], or for our destination's first contact with `remote`
    /// (`first_contact`): then nothing is sent after the SYN until the peer answers it (see
    /// `crate::first_contact`).
    pub(super) fn open(
        &mut self,
        now: Instant,
        remote: Destination,
        dst_port: u16,
        initial_data: &[u8],
        first_contact: bool,
    ) -> StreamId {
        self.purge(now);
        let id = self.new_id();
        let mut conn =
            Connection::connect(self.keys.clone(), remote, id, initial_data, &self.cfg, now);
        if first_contact {
            conn.hold_until_answered();
        }
        debug!(id, dst_port, first_contact, "outgoing stream");
        self.streams.insert(id, Entry::new(conn, 0, dst_port, None));
        self.collect(id, now);
        self.mark_ready(id);
        id
    }

    /// A random non-zero id that no live or quarantined stream uses.
    fn new_id(&mut self) -> StreamId {
        loop {
            let id = self.rng.next_u32();
            if id != 0 && !self.streams.contains_key(&id) && !self.quarantine.contains(&id) {
                return id;
            }
        }
    }

    /// Next incoming stream accepted by the core (only with `accept_incoming`).
    pub fn accept(&mut self) -> Option<StreamId> {
        self.accept_queue.pop_front()
    }

    /// True when `accept` has a stream to hand out.
    pub fn has_incoming(&self) -> bool {
        !self.accept_queue.is_empty()
    }

    /// The stream `id`, if it exists.
    pub fn stream(&self, id: StreamId) -> Option<&Connection> {
        self.streams.get(&id).map(|e| &e.conn)
    }

    /// Number of streams held (including closed ones the application has not released).
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// True when no stream is held.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    // ===== application calls, per stream =====

    /// Watch stream `id`: `report` hears at `now + syn_patience` whether its SYN was
    /// answered, and after an answer, once, when `stall_timeouts` retransmission timeouts
    /// in a row go unacknowledged. Returns false (and drops `report`) for an unknown stream.
    pub fn watch(
        &mut self,
        id: StreamId,
        now: Instant,
        syn_patience: Duration,
        stall_timeouts: u32,
        report: HealthReport,
    ) -> bool {
        let Some(e) = self.streams.get_mut(&id) else {
            return false;
        };
        let due = now + syn_patience;
        e.watch = Some(Watch {
            syn_due: Some(due),
            answered: e.conn.is_connected(),
            stall_timeouts,
            report,
        });
        self.watch_timers.push(due, id);
        true
    }

    /// `Connection::write` on stream `id` (0 for an unknown stream).
    pub fn write(&mut self, id: StreamId, data: &[u8]) -> usize {
        let n = self.streams.get_mut(&id).map_or(0, |e| e.conn.write(data));
        if n > 0 {
            self.mark_ready(id);
        }
        n
    }

    /// `Connection::read` on stream `id` (0 for an unknown stream).
    pub fn read(&mut self, id: StreamId, buf: &mut [u8]) -> usize {
        let n = self.streams.get_mut(&id).map_or(0, |e| e.conn.read(buf));
        if n > 0 {
            // Reading may end a choke: the window update must go out.
            self.mark_ready(id);
        }
        n
    }

    /// `Connection::shutdown_write` on stream `id`.
    pub fn shutdown_write(&mut self, id: StreamId, now: Instant) {
        if let Some(e) = self.streams.get_mut(&id) {
            e.conn.shutdown_write();
        }
        self.collect(id, now);
        self.mark_ready(id);
    }

    /// Graceful close; the application lets go of the stream.
    pub fn close(&mut self, id: StreamId, now: Instant) {
        if let Some(e) = self.streams.get_mut(&id) {
            e.released = true;
            e.conn.close(now);
        }
        self.collect(id, now);
        self.mark_ready(id);
    }

    /// Abort with a RESET; the application lets go of the stream.
    pub fn reset(&mut self, id: StreamId, now: Instant) {
        if let Some(e) = self.streams.get_mut(&id) {
            e.released = true;
            e.conn.reset();
        }
        self.collect(id, now);
        self.mark_ready(id);
    }

    /// End every stream without sending anything (the I2CP session was lost).
    pub fn abort_all(&mut self, now: Instant) {
        let ids: Vec<StreamId> = self.streams.keys().copied().collect();
        for id in ids {
            if let Some(e) = self.streams.get_mut(&id) {
                e.conn.abort();
            }
            self.collect(id, now);
        }
        self.control.clear();
    }

    // ===== inputs =====

    /// Process one streaming packet received on our destination (gunzipped I2CP payload).
    pub fn handle_packet(&mut self, now: Instant, from_port: u16, to_port: u16, bytes: &[u8]) {
        let packet = match Packet::decode(bytes) {
            Ok(p) => p,
            Err(e) => {
                debug!("dropping undecodable streaming packet: {e}");
                return;
            }
        };
        if packet.flags.contains(Flags::ECHO) {
            self.handle_echo(packet, from_port, to_port);
            return;
        }
        let id = packet.send_stream_id;
        if id != 0 {
            if let Some(e) = self.streams.get_mut(&id) {
                e.conn.handle_packet(now, packet);
                self.collect(id, now);
                self.mark_ready(id);
            } else {
                trace!(
                    id,
                    quarantined = self.quarantine.contains(&id),
                    "packet for unknown stream"
                );
            }
            return;
        }
        if packet.flags.contains(Flags::SYNCHRONIZE) && packet.seq == 0 {
            self.handle_incoming_syn(now, packet, from_port, to_port);
        } else {
            self.handle_follow_on(now, packet);
        }
    }

    /// Run the expired timers (of the streams at the top of the timer heap).
    pub fn handle_timeout(&mut self, now: Instant) {
        loop {
            let streams = &self.streams;
            let live = |at, id| {
                streams
                    .get(&id)
                    .is_some_and(|e: &Entry| e.armed == Some(at))
            };
            let Some((_, id)) = self.timers.pop_due(now, live) else {
                break;
            };
            let Some(e) = self.streams.get_mut(&id) else {
                continue;
            };
            e.armed = None;
            e.conn.handle_timeout(now);
            self.collect(id, now);
            self.mark_ready(id);
        }
        self.run_due_watches(now);
        self.purge(now);
    }

    /// Tell the watches whose patience is over whether their SYN was answered.
    fn run_due_watches(&mut self, now: Instant) {
        loop {
            let streams = &self.streams;
            let live = |at, id| {
                streams.get(&id).is_some_and(|e: &Entry| {
                    e.watch.as_ref().is_some_and(|w| w.syn_due == Some(at))
                })
            };
            let Some((_, id)) = self.watch_timers.pop_due(now, live) else {
                break;
            };
            let Some(e) = self.streams.get_mut(&id) else {
                continue;
            };
            let refused = e.conn.close_reason() == Some(CloseReason::PeerReset);
            let Some(w) = e.watch.as_mut() else {
                continue;
            };
            w.syn_due = None;
            if w.answered || e.conn.is_connected() || refused {
                w.answered = true;
                (w.report)(Health::Answered);
                check_stall(e);
            } else {
                (w.report)(Health::Unanswered);
                e.watch = None;
            }
        }
    }

    // ===== outputs =====

    /// Next packet to hand to I2CP. Streams take turns.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if let Some(t) = self.control.pop_front() {
            return Some(t);
        }
        while let Some(id) = self.ready.pop_front() {
            let Some(e) = self.streams.get_mut(&id) else {
                continue; // forgotten while queued
            };
            e.queued = false;
            let mut packet = Vec::new();
            if e.conn.poll_transmit(now, &mut packet).is_none() {
                // Nothing now: it leaves the queue until its next input or timer.
                self.collect(id, now);
                continue;
            }
            let t = Transmit {
                to: e.conn.remote().clone(),
                src_port: e.src_port,
                dst_port: e.dst_port,
                packet,
            };
            self.collect(id, now);
            // Back of the queue: streams take turns.
            self.mark_ready(id);
            return Some(t);
        }
        None
    }

    /// Earliest time `handle_timeout` must run (may be a stale deadline: then that call
    /// finds nothing due and drops it).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.timers.earliest(), self.watch_timers.earliest()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Next `(stream, event)`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<(StreamId, Event)> {
        self.events.pop_front()
    }

    // ===== internals =====

    /// Put stream `id` at the back of the ready queue unless it is already in it.
    fn mark_ready(&mut self, id: StreamId) {
        if let Some(e) = self.streams.get_mut(&id)
            && !e.queued
        {
            e.queued = true;
            self.ready.push_back(id);
        }
    }

    /// Move a stream's events to our queue and its deadline into the timer heap; forget
    /// the stream once closed and released.
    fn collect(&mut self, id: StreamId, now: Instant) {
        let Some(e) = self.streams.get_mut(&id) else {
            return;
        };
        while let Some(ev) = e.conn.poll_event() {
            self.events.push_back((id, ev));
        }
        check_stall(e);
        let deadline = e.conn.poll_timeout();
        if deadline != e.armed {
            e.armed = deadline;
            if let Some(at) = deadline {
                self.timers.push(at, id);
            }
        }
        if e.released && e.conn.close_reason().is_some() {
            if let Some(peer) = self.streams.remove(&id).and_then(|e| e.peer_syn_id) {
                self.incoming_by_peer_id.remove(&peer);
            }
            self.quarantine.insert(id);
            self.quarantine_order
                .push_back((now + self.cfg.id_quarantine, id));
            trace!(id, "stream forgotten");
        }
        self.compact_timers();
    }

    /// Re-armed timers leave stale heap entries until their time comes; when they
    /// outnumber the streams' live deadlines, rebuild the heap from those.
    fn compact_timers(&mut self) {
        if self.timers.len() <= 2 * self.streams.len() + 1024 {
            return;
        }
        self.timers = self
            .streams
            .iter()
            .filter_map(|(id, e)| e.armed.map(|at| (at, *id)))
            .collect();
    }

    /// Drop expired quarantine entries and stale early follow-ons.
    fn purge(&mut self, now: Instant) {
        while let Some(&(deadline, id)) = self.quarantine_order.front() {
            if deadline > now {
                break;
            }
            self.quarantine_order.pop_front();
            self.quarantine.remove(&id);
        }
        self.pending_follow_ons
            .retain(|_, (deadline, _)| *deadline > now);
    }
}

/// Note a watched stream's answer, and report (once) a stall of an answered one.
fn check_stall(e: &mut Entry) {
    let Some(w) = e.watch.as_mut() else {
        return;
    };
    if w.syn_due.is_some() {
        w.answered |= e.conn.is_connected();
        return;
    }
    if w.answered && e.conn.timeouts_in_a_row() >= w.stall_timeouts {
        (w.report)(Health::Stalled);
        e.watch = None;
    }
}

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
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, trace};

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
        self.purge(now);
        let id = self.new_id();
        let conn = Connection::connect(self.keys.clone(), remote, id, initial_data, &self.cfg, now);
        debug!(id, dst_port, "outgoing stream");
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
        self.purge(now);
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
        self.timers.earliest()
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

    /// Ping → pong (docs/streaming.md "What i2pd sends"): 22-byte header all zero except
    /// receiveStreamId = the ping's sendStreamId and flags ECHO, echoing the payload. Only signed
    /// pings are answered, so nobody can make us send pongs to a third party.
    fn handle_echo(&mut self, ping: Packet, from_port: u16, to_port: u16) {
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

    fn handle_incoming_syn(&mut self, now: Instant, syn: Packet, from_port: u16, to_port: u16) {
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
    fn refuse(&mut self, syn: &Packet, from: Destination, from_port: u16, to_port: u16) {
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

    fn handle_follow_on(&mut self, now: Instant, packet: Packet) {
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

/// A min-heap of `(deadline, stream)` with lazy invalidation: re-arming a stream pushes a
/// new entry and leaves the old one in place; the caller says which entries are still live
/// when they come up. O(log n) per change, nothing per idle stream.
#[derive(Debug, Default)]
struct Deadlines {
    heap: BinaryHeap<Reverse<(Instant, StreamId)>>,
}

impl Deadlines {
    fn push(&mut self, at: Instant, id: StreamId) {
        self.heap.push(Reverse((at, id)));
    }

    /// The earliest deadline held (possibly a stale one).
    fn earliest(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Take the earliest live entry due at `now`, dropping the stale ones before it.
    fn pop_due(
        &mut self,
        now: Instant,
        is_live: impl Fn(Instant, StreamId) -> bool,
    ) -> Option<(Instant, StreamId)> {
        while let Some(&Reverse((at, id))) = self.heap.peek() {
            if at > now {
                return None;
            }
            self.heap.pop();
            if is_live(at, id) {
                return Some((at, id));
            }
        }
        None
    }

    /// Entries held, stale ones included.
    fn len(&self) -> usize {
        self.heap.len()
    }
}

impl FromIterator<(Instant, StreamId)> for Deadlines {
    fn from_iter<I: IntoIterator<Item = (Instant, StreamId)>>(iter: I) -> Deadlines {
        Deadlines {
            heap: iter.into_iter().map(Reverse).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn keys() -> Arc<PrivateKeys> {
        Arc::new(PrivateKeys::generate(7, 4).expect("keys"))
    }

    #[test]
    fn deadlines_come_out_earliest_first_and_skip_stale_entries() {
        let t0 = Instant::now();
        let mut d = Deadlines::default();
        d.push(t0 + ms(30), 3);
        d.push(t0 + ms(10), 1);
        d.push(t0 + ms(20), 2);
        d.push(t0 + ms(5), 2); // stream 2 re-armed earlier: the 20 ms entry goes stale
        let live = |at: Instant, id: StreamId| !(id == 2 && at == t0 + ms(20));
        assert_eq!(d.earliest(), Some(t0 + ms(5)));
        assert_eq!(d.pop_due(t0, live), None, "nothing is due yet");
        assert_eq!(d.pop_due(t0 + ms(25), live), Some((t0 + ms(5), 2)));
        assert_eq!(d.pop_due(t0 + ms(25), live), Some((t0 + ms(10), 1)));
        assert_eq!(
            d.pop_due(t0 + ms(25), live),
            None,
            "the stale entry is dropped"
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d.pop_due(t0 + ms(30), live), Some((t0 + ms(30), 3)));
        assert_eq!(d.earliest(), None);
    }

    #[test]
    fn an_idle_stream_leaves_the_ready_queue() {
        let mut m = Manager::new(keys(), StreamingConfig::default(), 1);
        let remote = keys().destination().clone();
        let t0 = Instant::now();
        let busy = m.connect(t0, remote.clone(), 80, b"");
        let idle = m.connect(t0, remote, 80, b"");
        // Each SYN goes out, in the order the streams were opened.
        let sent: Vec<_> = std::iter::from_fn(|| m.poll_transmit(t0)).collect();
        assert_eq!(sent.len(), 2);
        assert!(
            m.ready.is_empty(),
            "streams with nothing to send stay queued"
        );
        assert!(!m.streams.get(&idle).is_some_and(|e| e.queued));
        // Writing on one stream (unconnected: data waits for the SYN-ACK) queues it alone.
        m.write(busy, b"x");
        assert_eq!(m.ready.iter().copied().collect::<Vec<_>>(), vec![busy]);
    }

    #[test]
    fn poll_timeout_is_the_earliest_deadline_of_all_streams() {
        let mut m = Manager::new(keys(), StreamingConfig::default(), 2);
        let remote = keys().destination().clone();
        let t0 = Instant::now();
        let a = m.connect(t0, remote.clone(), 80, b"");
        while m.poll_transmit(t0).is_some() {}
        let b = m.connect(t0 + ms(100), remote, 80, b"");
        while m.poll_transmit(t0 + ms(100)).is_some() {}
        let da = m.stream(a).and_then(Connection::poll_timeout);
        let db = m.stream(b).and_then(Connection::poll_timeout);
        assert!(da.is_some() && da < db, "a's SYN went out first");
        assert_eq!(m.poll_timeout(), da);
        // At a's deadline only a's timer runs: b keeps its deadline.
        let due = da.unwrap_or(t0);
        m.handle_timeout(due);
        assert_eq!(m.stream(b).and_then(Connection::poll_timeout), db);
    }

    #[test]
    fn stale_timer_entries_are_compacted_away() {
        let mut m = Manager::new(keys(), StreamingConfig::default(), 3);
        let remote = keys().destination().clone();
        let t0 = Instant::now();
        let id = m.connect(t0, remote, 80, b"");
        // Stale entries, as many re-arms would leave them.
        for i in 0..5000u64 {
            m.timers.push(t0 + ms(i), id);
        }
        m.collect(id, t0);
        assert!(
            m.timers.len() <= 1,
            "heap not rebuilt: {} entries",
            m.timers.len()
        );
        assert_eq!(
            m.poll_timeout(),
            m.stream(id).and_then(Connection::poll_timeout)
        );
    }
}

//! Deterministic simulation: two streaming managers (ours as initiator, ours as responder)
//! over a simulated datagram link with a virtual clock, latency, a bottleneck queue, and
//! seeded loss, duplication and reordering.

use i2psocks::data::PrivateKeys;
use i2psocks::streaming::{CloseReason, Event, Manager, StreamId, StreamingConfig};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::{Duration, Instant};

// ===== the link =====

#[derive(Clone, Copy, Debug)]
struct LinkConfig {
    /// One-way base latency.
    latency: Duration,
    /// Extra random delay 0..jitter per packet (reorders packets).
    jitter: Duration,
    /// Probability a packet is lost.
    loss: f64,
    /// Probability a packet is delivered twice.
    duplicate: f64,
    /// Time the bottleneck needs per packet (serialisation).
    per_packet: Duration,
    /// Packets the bottleneck queue holds; beyond that, drop-tail.
    queue_limit: usize,
}

impl LinkConfig {
    fn lossy(loss: f64) -> Self {
        LinkConfig {
            latency: Duration::from_millis(40),
            jitter: Duration::from_millis(5),
            loss,
            duplicate: 0.01,
            per_packet: Duration::from_micros(500),
            queue_limit: 200,
        }
    }
}

#[derive(PartialEq, Eq)]
struct InFlight {
    at: Instant,
    order: u64,
    bytes: Vec<u8>,
}

impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Min-heap on (at, order).
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// One direction of the link.
struct Pipe {
    cfg: LinkConfig,
    queue: BinaryHeap<InFlight>,
    /// When the bottleneck is free again.
    busy_until: Instant,
    order: u64,
    sent: u64,
    dropped: u64,
    /// Count while `blackhole` drops everything.
    blackhole: bool,
    /// Data packets (over 1000 bytes) handed over at one instant: the current run and the
    /// largest run seen (a burst the sender did not pace).
    run_at: Option<Instant>,
    run: usize,
    max_run: usize,
}

impl Pipe {
    fn new(cfg: LinkConfig, now: Instant) -> Self {
        Pipe {
            cfg,
            queue: BinaryHeap::new(),
            busy_until: now,
            order: 0,
            sent: 0,
            dropped: 0,
            blackhole: false,
            run_at: None,
            run: 0,
            max_run: 0,
        }
    }

    fn count_burst(&mut self, now: Instant, len: usize) {
        if len <= 1000 {
            return;
        }
        if self.run_at == Some(now) {
            self.run += 1;
        } else {
            self.run_at = Some(now);
            self.run = 1;
        }
        self.max_run = self.max_run.max(self.run);
    }

    fn send(&mut self, now: Instant, bytes: Vec<u8>, rng: &mut StdRng) {
        self.sent += 1;
        self.count_burst(now, bytes.len());
        let backlog = self.busy_until.saturating_duration_since(now);
        let queued = backlog.as_nanos() / self.cfg.per_packet.as_nanos().max(1);
        if self.blackhole
            || rng.random_bool(self.cfg.loss)
            || queued >= self.cfg.queue_limit as u128
        {
            self.dropped += 1;
            return;
        }
        self.busy_until = self.busy_until.max(now) + self.cfg.per_packet;
        let copies = if rng.random_bool(self.cfg.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter_ns = rng.random_range(0..=self.cfg.jitter.as_nanos() as u64);
            let at = self.busy_until + self.cfg.latency + Duration::from_nanos(jitter_ns);
            self.order += 1;
            self.queue.push(InFlight {
                at,
                order: self.order,
                bytes: bytes.clone(),
            });
        }
    }

    fn next_at(&self) -> Option<Instant> {
        self.queue.peek().map(|p| p.at)
    }

    fn pop_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.queue.peek().is_some_and(|p| p.at <= now) {
            self.queue.pop().map(|p| p.bytes)
        } else {
            None
        }
    }
}

// ===== an application on each end =====

#[derive(Default)]
struct App {
    id: Option<StreamId>,
    to_send: Vec<u8>,
    sent: usize,
    received: Vec<u8>,
    /// Read at most this many bytes per step (None: everything).
    read_budget: Option<usize>,
    reading: bool,
    shutdown_when_sent: bool,
    shut: bool,
    finished: bool,
    closed: Option<CloseReason>,
    connected: bool,
    saw_peer_choke: bool,
    write_blocked: bool,
    /// Connected events seen, of any stream of this side.
    connected_count: usize,
}

impl App {
    fn new(data: Vec<u8>) -> Self {
        App {
            to_send: data,
            reading: true,
            shutdown_when_sent: true,
            ..App::default()
        }
    }

    fn pump(&mut self, m: &mut Manager, now: Instant) {
        let Some(id) = self.id else { return };
        while self.sent < self.to_send.len() {
            let end = (self.sent + 16 * 1024).min(self.to_send.len());
            let n = m.write(id, &self.to_send[self.sent..end]);
            if n == 0 {
                self.write_blocked = true;
                break;
            }
            self.sent += n;
        }
        if self.shutdown_when_sent && !self.shut && self.sent == self.to_send.len() {
            self.shut = true;
            m.shutdown_write(id, now);
        }
        if self.reading {
            let mut budget = self.read_budget.unwrap_or(usize::MAX);
            let mut buf = [0u8; 4096];
            while budget > 0 {
                let want = budget.min(buf.len());
                let n = m.read(id, &mut buf[..want]);
                if n == 0 {
                    break;
                }
                budget -= n;
                self.received.extend_from_slice(&buf[..n]);
            }
        }
        if let Some(c) = m.stream(id) {
            self.saw_peer_choke |= c.is_peer_choked();
        }
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Connected => {
                self.connected = true;
                self.connected_count += 1;
            }
            Event::Finished => self.finished = true,
            Event::Closed(r) => self.closed = Some(r),
            Event::Readable | Event::Writable => {}
        }
    }
}

// ===== the pair =====

struct Pair {
    now: Instant,
    start: Instant,
    rng: StdRng,
    a: Manager,
    b: Manager,
    a_to_b: Pipe,
    b_to_a: Pipe,
    app_a: App,
    app_b: App,
    b_keys: Arc<PrivateKeys>,
}

fn keys() -> Arc<PrivateKeys> {
    Arc::new(PrivateKeys::generate(7, 4).expect("keys"))
}

impl Pair {
    fn new(seed: u64, link: LinkConfig, cfg_a: StreamingConfig, cfg_b: StreamingConfig) -> Pair {
        let now = Instant::now();
        let a_keys = keys();
        let b_keys = keys();
        let cfg_b = StreamingConfig {
            accept_incoming: true,
            ..cfg_b
        };
        Pair {
            now,
            start: now,
            rng: StdRng::seed_from_u64(seed),
            a: Manager::new(a_keys, cfg_a, seed ^ 0xa),
            b: Manager::new(b_keys.clone(), cfg_b, seed ^ 0xb),
            a_to_b: Pipe::new(link, now),
            b_to_a: Pipe::new(link, now),
            app_a: App::default(),
            app_b: App::default(),
            b_keys,
        }
    }

    /// A opens a stream to B carrying `initial` in its SYN.
    fn connect(&mut self, initial: &[u8]) -> StreamId {
        let dest = self.b_keys.destination().clone();
        let id = self.a.connect(self.now, dest, 80, initial);
        self.app_a.id = Some(id);
        id
    }

    /// Process everything due at `now`, then advance the clock to the next event.
    fn step(&mut self) {
        let now = self.now;
        while let Some(bytes) = self.a_to_b.pop_due(now) {
            self.b.handle_packet(now, 0, 80, &bytes);
        }
        while let Some(bytes) = self.b_to_a.pop_due(now) {
            self.a.handle_packet(now, 80, 0, &bytes);
        }
        self.a.handle_timeout(now);
        self.b.handle_timeout(now);
        if self.app_b.id.is_none() {
            self.app_b.id = self.b.accept();
        }
        self.app_a.pump(&mut self.a, now);
        self.app_b.pump(&mut self.b, now);
        while let Some(t) = self.a.poll_transmit(now) {
            self.a_to_b.send(now, t.packet, &mut self.rng);
        }
        while let Some(t) = self.b.poll_transmit(now) {
            self.b_to_a.send(now, t.packet, &mut self.rng);
        }
        while let Some((_, ev)) = self.a.poll_event() {
            self.app_a.on_event(ev);
        }
        while let Some((_, ev)) = self.b.poll_event() {
            self.app_b.on_event(ev);
        }
        let next = [
            self.a_to_b.next_at(),
            self.b_to_a.next_at(),
            self.a.poll_timeout(),
            self.b.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        // Apps that read in slices need the clock to move even when the network is quiet.
        let tick = now + Duration::from_millis(10);
        self.now = match next {
            Some(t) if t > now => t.min(tick),
            Some(_) => now,
            None => tick,
        };
    }

    /// Step until `done` or `limit` of virtual time passed; returns whether `done` held.
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Pair) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            self.step();
            if done(self) {
                return true;
            }
        }
        false
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.random()).collect()
}

const MIB: usize = 1024 * 1024;

/// 1 MiB each way at once; both sides half-close when done writing.
fn transfer_both_ways(seed: u64, loss: f64) {
    transfer_both_ways_over(seed, LinkConfig::lossy(loss));
}

fn transfer_both_ways_over(seed: u64, link: LinkConfig) -> (u64, u64) {
    let loss = link.loss;
    let mut pair = Pair::new(
        seed,
        link,
        StreamingConfig::default(),
        StreamingConfig::default(),
    );
    let up = pattern(MIB, seed);
    let down = pattern(MIB, seed + 1000);
    pair.app_a = App::new(up[1000..].to_vec());
    pair.app_b = App::new(down.clone());
    pair.connect(&up[..1000]);
    let done = pair.run_until(Duration::from_secs(3600), |p| {
        p.app_a.closed.is_some() && p.app_b.closed.is_some()
    });
    assert!(
        done,
        "seed {seed} loss {loss}: not done after {:?}\nA: {:?}\nB: {:?}",
        pair.elapsed(),
        pair.a.stream(pair.app_a.id.unwrap_or(0)),
        pair.b.stream(pair.app_b.id.unwrap_or(0))
    );
    assert_eq!(
        pair.app_a.closed,
        Some(CloseReason::Normal),
        "seed {seed} loss {loss}"
    );
    assert_eq!(
        pair.app_b.closed,
        Some(CloseReason::Normal),
        "seed {seed} loss {loss}"
    );
    assert!(pair.app_a.connected && pair.app_b.connected);
    assert!(
        pair.app_b.received == up,
        "upload corrupted (seed {seed} loss {loss})"
    );
    assert!(
        pair.app_a.received == down,
        "download corrupted (seed {seed} loss {loss})"
    );

    let sa = pair
        .a
        .stream(pair.app_a.id.unwrap_or(0))
        .map(|c| c.stats())
        .unwrap_or_default();
    let sb = pair
        .b
        .stream(pair.app_b.id.unwrap_or(0))
        .map(|c| c.stats())
        .unwrap_or_default();
    let dropped = pair.a_to_b.dropped + pair.b_to_a.dropped;
    let sent = sa.packets_sent + sb.packets_sent;
    let retransmits = sa.retransmits + sb.retransmits;
    eprintln!(
        "seed {seed} loss {loss:.2}: {:?} virtual, {sent} packets, {dropped} dropped, {retransmits} retransmits, {} timeouts",
        pair.elapsed(),
        sa.timeouts + sb.timeouts
    );
    // Each dropped packet needs about one retransmission; allow for ACKs lost (they cost
    // nothing to resend but may trigger spurious data retransmits) and reordering.
    assert!(
        retransmits <= 3 * dropped + sent / 50 + 10,
        "seed {seed} loss {loss}: {retransmits} retransmits for {dropped} drops"
    );
    if loss == 0.0 {
        assert!(
            retransmits <= sent / 50 + 10,
            "lossless link: {retransmits} retransmits"
        );
    }
    // Release both streams: they are forgotten.
    let (ida, idb) = (pair.app_a.id.unwrap_or(0), pair.app_b.id.unwrap_or(0));
    let now = pair.now;
    pair.a.close(ida, now);
    pair.b.close(idb, now);
    assert!(pair.a.is_empty() && pair.b.is_empty());
    (dropped, sa.timeouts + sb.timeouts)
}

#[test]
fn transfer_lossless() {
    for seed in 1..=3 {
        transfer_both_ways(seed, 0.0);
    }
}

#[test]
fn transfer_one_percent_loss() {
    for seed in 11..=13 {
        transfer_both_ways(seed, 0.01);
    }
}

#[test]
fn transfer_five_percent_loss() {
    for seed in 21..=23 {
        transfer_both_ways(seed, 0.05);
    }
}

#[test]
fn transfer_twenty_percent_loss() {
    for seed in 31..=33 {
        transfer_both_ways(seed, 0.20);
    }
}

#[test]
fn half_close_request_then_response() {
    let mut pair = Pair::new(
        7,
        LinkConfig::lossy(0.02),
        StreamingConfig::default(),
        StreamingConfig::default(),
    );
    let request = b"GET / HTTP/1.0\r\n\r\n".to_vec();
    let response = pattern(200_000, 7);
    pair.app_a = App::new(Vec::new());
    pair.app_b = App::new(Vec::new());
    pair.app_b.shutdown_when_sent = false;
    pair.connect(&request);
    // A has nothing more to send: it half-closes right away and keeps reading.
    let ok = pair.run_until(Duration::from_secs(120), |p| p.app_b.finished);
    assert!(ok, "responder never saw the request's CLOSE");
    assert_eq!(pair.app_b.received, request);
    assert!(
        pair.app_a.closed.is_none(),
        "initiator must stay open for the response"
    );
    // Only now does B answer, then close.
    pair.app_b.to_send = response.clone();
    pair.app_b.shutdown_when_sent = true;
    let ok = pair.run_until(Duration::from_secs(600), |p| {
        p.app_a.closed.is_some() && p.app_b.closed.is_some()
    });
    assert!(ok, "not closed");
    assert!(pair.app_a.received == response, "response corrupted");
    assert!(pair.app_a.finished);
    assert_eq!(pair.app_a.closed, Some(CloseReason::Normal));
    assert_eq!(pair.app_b.closed, Some(CloseReason::Normal));
}

#[test]
fn back_pressure_receiver_that_never_reads() {
    let cfg_b = StreamingConfig {
        recv_buffer: 64 * 1024,
        ..StreamingConfig::default()
    };
    let cfg_a = StreamingConfig {
        send_buffer: 128 * 1024,
        ..StreamingConfig::default()
    };
    let mut pair = Pair::new(5, LinkConfig::lossy(0.0), cfg_a, cfg_b);
    let data = pattern(4 * MIB, 5);
    pair.app_a = App::new(data.clone());
    pair.app_b = App::new(Vec::new());
    pair.app_b.reading = false;
    pair.app_b.shutdown_when_sent = false;
    pair.connect(&[]);
    // Ten virtual minutes with nobody reading.
    pair.run_until(Duration::from_secs(600), |_| false);
    let a = pair
        .a
        .stream(pair.app_a.id.unwrap_or(0))
        .map(|c| (c.send_buffered(), c.close_reason()));
    let b_id = pair.app_b.id.unwrap_or(0);
    let b_buffered = pair
        .b
        .stream(b_id)
        .map(|c| c.recv_buffered())
        .unwrap_or(usize::MAX);
    assert!(
        pair.app_a.write_blocked,
        "the writer must see back-pressure"
    );
    assert!(pair.app_a.sent < data.len(), "the writer must be stopped");
    let (a_buffered, a_closed) = a.unwrap_or((usize::MAX, None));
    assert!(a_buffered <= 128 * 1024, "sender memory {a_buffered}");
    assert!(b_buffered <= 64 * 1024, "receiver memory {b_buffered}");
    assert_eq!(
        a_closed, None,
        "a choked sender must not give up while the peer answers"
    );
    assert!(
        pair.app_a.saw_peer_choke,
        "receiver should have choked the sender"
    );
    // Now the receiver reads: everything arrives, byte-exact.
    pair.app_b.reading = true;
    pair.app_b.shutdown_when_sent = true;
    let ok = pair.run_until(Duration::from_secs(3600), |p| {
        p.app_a.closed.is_some() && p.app_b.closed.is_some()
    });
    assert!(ok, "transfer did not resume");
    assert!(
        pair.app_b.received == data,
        "data corrupted after back-pressure"
    );
}

#[test]
fn slow_reader_is_choked_and_transfer_completes() {
    let cfg_b = StreamingConfig {
        recv_buffer: 32 * 1024,
        ..StreamingConfig::default()
    };
    let mut pair = Pair::new(
        9,
        LinkConfig::lossy(0.01),
        StreamingConfig::default(),
        cfg_b,
    );
    let data = pattern(MIB / 2, 9);
    pair.app_a = App::new(data.clone());
    pair.app_b = App::new(Vec::new());
    // About 400 KB/s: slower than the link.
    pair.app_b.read_budget = Some(4096);
    pair.connect(&[]);
    let ok = pair.run_until(Duration::from_secs(3600), |p| {
        p.app_a.closed.is_some() && p.app_b.closed.is_some()
    });
    assert!(ok, "not done after {:?}", pair.elapsed());
    assert!(
        pair.app_a.saw_peer_choke,
        "the slow reader never choked the sender"
    );
    assert!(pair.app_b.received == data, "data corrupted");
    assert_eq!(pair.app_a.closed, Some(CloseReason::Normal));
}

#[test]
fn gives_up_when_peer_never_answers_syn() {
    let mut pair = Pair::new(
        3,
        LinkConfig::lossy(0.0),
        StreamingConfig::default(),
        StreamingConfig::default(),
    );
    pair.a_to_b.blackhole = true;
    pair.app_a = App::new(Vec::new());
    pair.app_a.shutdown_when_sent = false;
    pair.connect(b"hello");
    let ok = pair.run_until(Duration::from_secs(3600), |p| p.app_a.closed.is_some());
    assert!(ok);
    assert_eq!(pair.app_a.closed, Some(CloseReason::TimedOut));
    // 8 timeouts with backoff 3, 6, 12, 20, 20, … s: about 2 minutes, not instantly, not
    // forever.
    let t = pair.elapsed();
    assert!(
        t >= Duration::from_secs(60) && t <= Duration::from_secs(300),
        "gave up after {t:?}"
    );
    // SYN + 8 retransmissions.
    let sent = pair.a_to_b.sent;
    assert_eq!(sent, 9, "SYN transmissions");
}

#[test]
fn gives_up_when_link_dies_with_unacked_data() {
    let mut pair = Pair::new(
        4,
        LinkConfig::lossy(0.0),
        StreamingConfig::default(),
        StreamingConfig::default(),
    );
    pair.app_a = App::new(pattern(MIB, 4));
    pair.app_a.shutdown_when_sent = false;
    pair.app_b = App::new(Vec::new());
    pair.app_b.shutdown_when_sent = false;
    pair.connect(&[]);
    let ok = pair.run_until(Duration::from_secs(60), |p| {
        p.app_b.received.len() > 100_000
    });
    assert!(ok, "transfer never started");
    pair.a_to_b.blackhole = true;
    pair.b_to_a.blackhole = true;
    let ok = pair.run_until(Duration::from_secs(3600), |p| p.app_a.closed.is_some());
    assert!(ok);
    assert_eq!(pair.app_a.closed, Some(CloseReason::TimedOut));
    // The responder had nothing to send: without an idle timeout it stays open.
    assert_eq!(pair.app_b.closed, None);
}

#[test]
fn idle_timeout_closes_a_silent_stream() {
    let cfg = StreamingConfig {
        idle_timeout: Some(Duration::from_secs(30)),
        ..StreamingConfig::default()
    };
    let mut pair = Pair::new(6, LinkConfig::lossy(0.0), cfg.clone(), cfg);
    pair.app_a = App::new(b"ping".to_vec());
    pair.app_a.shutdown_when_sent = false;
    pair.app_b = App::new(Vec::new());
    pair.app_b.shutdown_when_sent = false;
    pair.connect(&[]);
    let ok = pair.run_until(Duration::from_secs(10), |p| p.app_b.received == b"ping");
    assert!(ok);
    let t0 = pair.elapsed();
    let ok = pair.run_until(Duration::from_secs(120), |p| p.app_a.closed.is_some());
    assert!(ok);
    assert_eq!(pair.app_a.closed, Some(CloseReason::Idle));
    let idle = pair.elapsed() - t0;
    assert!(
        idle >= Duration::from_secs(29) && idle <= Duration::from_secs(31),
        "{idle:?}"
    );
}

// ===== windows above 128, pacing, retransmission under loss and reordering =====

/// A long, fast link: 100 ms each way, 50,000 packets/s, a deep queue, no loss.
fn long_fat_link() -> LinkConfig {
    LinkConfig {
        latency: Duration::from_millis(100),
        jitter: Duration::ZERO,
        loss: 0.0,
        duplicate: 0.0,
        per_packet: Duration::from_micros(20),
        queue_limit: 4096,
    }
}

/// A sends `data` to B (B only reads); returns the virtual time it took and the largest
/// congestion window A reached.
fn upload(seed: u64, link: LinkConfig, cfg: StreamingConfig, data: &[u8]) -> (Duration, u32) {
    let mut pair = Pair::new(seed, link, cfg, StreamingConfig::default());
    pair.app_a = App::new(data.to_vec());
    pair.app_b = App::new(Vec::new());
    pair.app_b.shutdown_when_sent = false;
    let id = pair.connect(&[]);
    let mut peak = 0;
    let done = pair.run_until(Duration::from_secs(600), |p| {
        peak = peak.max(p.a.stream(id).map_or(0, |c| c.congestion_window()));
        p.app_b.received.len() == data.len()
    });
    assert!(done, "upload not done after {:?}", pair.elapsed());
    assert!(pair.app_b.received == data, "upload corrupted");
    (pair.elapsed(), peak)
}

/// The default window (512, like i2pd 2.58 and later) fills a path whose round trip holds
/// more than 128 packets; a 128-packet window gets a quarter of the rate.
#[test]
fn window_above_128_fills_a_long_fat_link() {
    let data = pattern(6 * MIB, 41);
    let (t512, peak512) = upload(41, long_fat_link(), StreamingConfig::default(), &data);
    let (t128, peak128) = upload(
        41,
        long_fat_link(),
        StreamingConfig::with_max_window(128),
        &data,
    );
    eprintln!("6 MiB over 200 ms RTT: window 512 {t512:?} (peak {peak512}), 128 {t128:?}");
    assert!(peak512 > 256, "window stayed at {peak512}");
    assert!(peak128 <= 128);
    assert!(
        t512 * 2 < t128,
        "512-packet window {t512:?} vs 128-packet {t128:?}"
    );
}

/// After a quiet spell with a large window, a big write leaves paced, not as one burst
/// that overflows a short bottleneck queue.
#[test]
fn pacing_spreads_a_window_written_at_once() {
    let link = LinkConfig {
        latency: Duration::from_millis(50),
        jitter: Duration::ZERO,
        loss: 0.0,
        duplicate: 0.0,
        per_packet: Duration::from_micros(50),
        queue_limit: 64,
    };
    let mut pair = Pair::new(
        5,
        link,
        StreamingConfig::default(),
        StreamingConfig::default(),
    );
    let first = pattern(4 * MIB, 5);
    pair.app_a = App::new(first.clone());
    pair.app_a.shutdown_when_sent = false;
    pair.app_b = App::new(Vec::new());
    pair.app_b.shutdown_when_sent = false;
    let id = pair.connect(&[]);
    let ok = pair.run_until(Duration::from_secs(120), |p| {
        p.app_b.received.len() == first.len()
    });
    assert!(ok, "first transfer not done");
    let cwnd = pair.a.stream(id).map_or(0, |c| c.congestion_window());
    assert!(cwnd > 128, "window only {cwnd} after 4 MiB");
    // Quiet for a second, then 1 MiB written at once.
    pair.run_until(Duration::from_secs(1), |_| false);
    let dropped = pair.a_to_b.dropped;
    pair.a_to_b.max_run = 0;
    let second = pattern(MIB, 6);
    pair.app_a.to_send.extend_from_slice(&second);
    let total = first.len() + second.len();
    let ok = pair.run_until(Duration::from_secs(120), |p| {
        p.app_b.received.len() == total
    });
    assert!(ok, "second transfer not done");
    eprintln!(
        "window {cwnd}: largest burst {}, drops {}",
        pair.a_to_b.max_run,
        pair.a_to_b.dropped - dropped
    );
    // The pacer allows a burst of 10 packets or 2 ms worth of its rate (13 here).
    assert!(
        pair.a_to_b.max_run <= 16,
        "burst of {} packets at one instant",
        pair.a_to_b.max_run
    );
    assert_eq!(
        pair.a_to_b.dropped, dropped,
        "the bottleneck queue overflowed"
    );
}

/// Heavy reordering (jitter 30 ms on 40 ms) with 1 % loss and a 512-packet window: the data
/// arrives intact, and losses are repaired from the ACKs' NACKs (fast retransmit), not by
/// retransmission timeouts.
#[test]
fn transfer_reordered_one_percent_loss() {
    for seed in 51..=53 {
        let link = LinkConfig {
            jitter: Duration::from_millis(30),
            ..LinkConfig::lossy(0.01)
        };
        let (dropped, timeouts) = transfer_both_ways_over(seed, link);
        assert!(
            timeouts * 4 <= dropped + 4,
            "seed {seed}: {timeouts} timeouts for {dropped} drops"
        );
    }
}

/// 1 % loss without much reordering: most losses are repaired without a timeout.
#[test]
fn one_percent_loss_is_repaired_by_fast_retransmit() {
    for seed in 61..=63 {
        let (dropped, timeouts) = transfer_both_ways_over(seed, LinkConfig::lossy(0.01));
        assert!(
            timeouts * 4 <= dropped + 4,
            "seed {seed}: {timeouts} timeouts for {dropped} drops"
        );
    }
}

// ===== many streams =====

/// Opens `count` idle streams from A to B and waits until all are connected; B's accept
/// queue is emptied so the next accepted stream is the next one opened.
fn open_idle_streams(pair: &mut Pair, count: usize) {
    let dest = pair.b_keys.destination().clone();
    for _ in 0..count {
        pair.a.connect(pair.now, dest.clone(), 80, &[]);
    }
    let ok = pair.run_until(Duration::from_secs(60), |p| {
        p.app_a.connected_count >= count
    });
    assert!(ok, "idle streams did not all connect");
    while pair.b.accept().is_some() {}
}

/// Wall time and virtual time of a 2 MiB upload, beside `idle` idle streams.
fn bulk_beside_idle(idle: usize) -> (Duration, Duration) {
    let mut pair = Pair::new(
        71,
        long_fat_link(),
        StreamingConfig::default(),
        StreamingConfig::default(),
    );
    open_idle_streams(&mut pair, idle);
    assert_eq!(pair.a.len(), idle);
    let data = pattern(2 * MIB, 71);
    pair.app_a = App::new(data.clone());
    pair.app_b = App::new(Vec::new());
    pair.app_b.shutdown_when_sent = false;
    pair.connect(&[]);
    let cpu = thread_cpu();
    let start = pair.now;
    let ok = pair.run_until(Duration::from_secs(120), |p| {
        p.app_b.received.len() == data.len()
    });
    assert!(ok, "bulk transfer beside {idle} idle streams not done");
    assert!(pair.app_b.received == data);
    (thread_cpu().saturating_sub(cpu), pair.now - start)
}

/// CPU time this thread has used so far (the scheduler's own count, in nanoseconds, from
/// /proc/thread-self/schedstat; see the kernel's Documentation/scheduler/sched-stats.rst).
/// Unlike wall time it does not grow when other processes load the machine.
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").expect("read schedstat");
    let ns = text
        .split_whitespace()
        .next()
        .and_then(|v| v.parse::<u64>().ok())
        .expect("schedstat starts with the time on the CPU in ns");
    Duration::from_nanos(ns)
}

/// One bulk transfer beside 10,000 idle streams takes as long (virtual time) as alone, and
/// the manager's work per packet does not grow with the number of streams: no event walks
/// all of them (the CPU time of the transfer stays within a small factor of the transfer
/// alone, where a walk per packet costs about a hundred times more). CPU time, not wall
/// time: a loaded machine stretches the latter.
#[test]
fn bulk_transfer_beside_10000_idle_streams() {
    let (cpu_alone, virt_alone) = bulk_beside_idle(0);
    let (cpu_beside, virt_beside) = bulk_beside_idle(10_000);
    eprintln!(
        "2 MiB alone: {virt_alone:?} virtual, {cpu_alone:?} CPU; beside 10,000 idle \
         streams: {virt_beside:?} virtual, {cpu_beside:?} CPU"
    );
    assert!(
        virt_beside.as_secs_f64() <= virt_alone.as_secs_f64() / 0.9,
        "throughput beside idle streams below 90 % of alone"
    );
    assert!(
        cpu_beside <= cpu_alone * 4 + Duration::from_secs(1),
        "the manager's work grows with idle streams: {cpu_beside:?} vs {cpu_alone:?}"
    );
}

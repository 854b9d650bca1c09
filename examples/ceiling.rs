//! ceiling: what the router path itself carries, without streaming.
//!
//! Opens one I2CP session on each of two routers (the testbed's `cli` and `srv`), waits
//! until each side's LeaseSet is found and a probe datagram gets through, then pushes raw
//! datagrams (I2CP protocol 18, "Raw Datagrams" in the geti2p.net Datagrams
//! specification) from one destination to the other for a fixed time at each offered rate
//! of a sweep, and counts on the receiving side what arrives: bytes, sequence numbers (loss,
//! duplicates, reordering). I2CP has no flow control, so the sweep looks for the offered rate
//! that gives the most received goodput; that maximum is the ceiling a streaming
//! implementation over the same routers can approach. Rate 0 means "as fast as the I2CP
//! writes go": the send queue is kept full and the router's socket sets the pace.
//!
//! Each (direction, size) series runs on two fresh sessions, rates ascending, and ends at
//! the first step that loses more than 5 %: a burst of losses leaves the receiver unable to
//! decrypt the sender's later messages (their session tags are past its window), so later
//! steps on the same sessions would measure that breakage, not the path.
//!
//! An example rather than a subcommand: it is a measuring tool for `contrib/bench
//! --ceiling`, and it keeps out of the shipped binary and its `--help`.
//!
//! ```text
//! cargo build --release --example ceiling
//! testbed.sh exec NAME -- target/release/examples/ceiling \
//!     --a 127.0.0.1:7654 --b 127.0.0.1:7655 --hops 1 [--seconds 5] \
//!     [--sizes 1730,16384] [--rates 1,2,4,8,16,0] [--direction both|ab|ba]
//! ```
//!
//! Progress goes to stderr; one JSON object with every step and the best step per
//! direction (the most goodput at no more than 1 % loss) goes to stdout. Sizes are payload bytes per datagram; rates are MB/s (10^6).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use i2psocks::data::{CRYPTO_X25519, Destination, PrivateKeys, SIG_ED25519};
use i2psocks::i2cp::{self, I2cpClientConfig, I2cpHandle, SendError, SessionState, protocol};

/// Marks our datagrams, so that anything else arriving is not counted.
const MAGIC: [u8; 4] = *b"CEIL";
/// Magic, run number (u32), sequence number (u64).
const HEADER_LEN: usize = 16;
/// How long the routers may take to build tunnels, publish and find the LeaseSets and
/// carry a first probe, per direction. Only a broken testbed reaches it.
const READY_LIMIT: Duration = Duration::from_secs(300);
/// After the sender stops, the step ends once nothing arrived for this long.
const DRAIN_QUIET: Duration = Duration::from_millis(1500);
/// ... or at the latest this long after the sender stopped.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// A step that lost more than this ends its series (see `ends_series`).
const LOSS_STOP: f64 = 0.05;
/// Pacing tick: the sender tops up to the offered rate this often.
const TICK: Duration = Duration::from_millis(1);

/// One datagram's payload: header then filler up to `size` (at least the header).
fn frame(run: u32, seq: u64, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size.max(HEADER_LEN));
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&run.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    // Filler that does not compress to nothing, should a router ever compress.
    out.extend((HEADER_LEN..size).map(|i| (i as u64 ^ seq) as u8));
    out
}

/// (run, seq) of one of our datagrams; None for anything else.
fn parse(payload: &[u8]) -> Option<(u32, u64)> {
    let magic = payload.get(..4)?;
    if magic != MAGIC {
        return None;
    }
    let run = u32::from_be_bytes(payload.get(4..8)?.try_into().ok()?);
    let seq = u64::from_be_bytes(payload.get(8..16)?.try_into().ok()?);
    Some((run, seq))
}

/// What the receiver saw of one run.
#[derive(Debug, Default, Clone)]
struct Count {
    /// Payload bytes of distinct datagrams.
    bytes: u64,
    /// Distinct datagrams.
    unique: u64,
    duplicates: u64,
    /// Datagrams that arrived after one with a higher sequence number.
    reordered: u64,
    highest: Option<u64>,
    seen: HashSet<u64>,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Count {
    /// Count one datagram of the run being measured.
    fn add(&mut self, seq: u64, len: usize, at: Instant) {
        if !self.seen.insert(seq) {
            self.duplicates += 1;
            return;
        }
        self.unique += 1;
        self.bytes += len as u64;
        match self.highest {
            Some(h) if seq < h => self.reordered += 1,
            _ => self.highest = Some(seq),
        }
        self.first.get_or_insert(at);
        self.last = Some(at);
    }
}

/// The receiver's counts, for the run currently measured (others are ignored).
#[derive(Default)]
struct Receiver {
    run: u32,
    count: Count,
    foreign: u64,
}

type Shared = Arc<Mutex<Receiver>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Receiver> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Feed every raw datagram of `handle` into the counts.
fn spawn_receiver(handle: &I2cpHandle) -> Shared {
    let shared: Shared = Arc::default();
    let mut rx = handle.subscribe(protocol::RAW);
    let counts = shared.clone();
    tokio::spawn(async move {
        while let Some(inbound) = rx.recv().await {
            let now = Instant::now();
            let mut r = lock(&counts);
            match parse(&inbound.payload) {
                Some((run, seq)) if run == r.run => r.count.add(seq, inbound.payload.len(), now),
                _ => r.foreign += 1,
            }
        }
    });
    shared
}

/// Figures of one step (one size, one offered rate, one direction).
#[derive(Debug, Clone)]
struct Step {
    size: usize,
    /// Offered MB/s; 0 = as fast as I2CP writes go.
    offered: f64,
    sent: u64,
    /// MB/s the router accepted (sent bytes over the sending time).
    accepted: f64,
    /// Times the send queue was full (the router not reading fast enough).
    queue_full: u64,
    received: u64,
    duplicates: u64,
    reordered: u64,
    /// Received payload MB/s: distinct bytes from the first send to the last arrival.
    goodput: f64,
    /// 1 - distinct received / sent.
    loss: f64,
}

/// Goodput (MB/s) and loss from the counts, the sending start and how long it sent.
/// Goodput is over the sending time or up to the last arrival, whichever is longer: when
/// the tail of a step is lost, the last arrival comes early and would flatter the rate.
fn summarise(count: &Count, sent: u64, started: Instant, sending: Duration) -> (f64, f64) {
    let goodput = match count.last {
        Some(last) if last > started => {
            let window = last.duration_since(started).max(sending);
            count.bytes as f64 / window.as_secs_f64() / 1e6
        }
        _ => 0.0,
    };
    let loss = if sent == 0 {
        0.0
    } else {
        1.0 - count.unique as f64 / sent as f64
    };
    (goodput, loss)
}

/// Loss above which a step does not count as what the path carries: a stream over it would
/// spend its time retransmitting, so a lossy burst's goodput is no ceiling for one.
const LOSS_CLEAN: f64 = 0.01;

/// The step with the most goodput among those that lost at most [`LOSS_CLEAN`]; when every
/// step lost more, the one with the most goodput (its loss is printed beside it).
fn best(steps: &[Step]) -> Option<&Step> {
    let most = |clean_only: bool| {
        steps
            .iter()
            .filter(|s| !clean_only || s.loss <= LOSS_CLEAN)
            .max_by(|a, b| a.goodput.total_cmp(&b.goodput))
    };
    most(true).or_else(|| most(false))
}

/// Bytes the pacer may have sent `elapsed` into a step at `rate` MB/s (0: no limit).
fn allowance(rate: f64, elapsed: Duration) -> Option<u64> {
    (rate > 0.0).then_some((rate * 1e6 * elapsed.as_secs_f64()) as u64)
}

struct Settings {
    a: String,
    b: String,
    hops: u8,
    seconds: f64,
    sizes: Vec<usize>,
    rates: Vec<f64>,
    directions: Vec<(&'static str, bool)>,
}

fn parse_list<T: std::str::FromStr>(s: &str, what: &str) -> Result<Vec<T>, String> {
    s.split(',')
        .map(|x| x.trim().parse().map_err(|_| format!("bad {what}: {x:?}")))
        .collect()
}

fn parse_args(args: &[String]) -> Result<Settings, String> {
    let mut s = Settings {
        a: "127.0.0.1:7654".into(),
        b: "127.0.0.1:7655".into(),
        hops: 0,
        seconds: 5.0,
        sizes: vec![1730, 16_384],
        rates: vec![
            1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 15.0, 20.0,
            25.0, 30.0, 40.0, 0.0,
        ],
        directions: vec![("ab", true), ("ba", false)],
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--a" => s.a = value.clone(),
            "--b" => s.b = value.clone(),
            "--hops" => s.hops = value.parse().map_err(|_| "bad --hops")?,
            "--seconds" => s.seconds = value.parse().map_err(|_| "bad --seconds")?,
            "--sizes" => s.sizes = parse_list(value, "size")?,
            "--rates" => s.rates = parse_list(value, "rate")?,
            "--direction" => {
                s.directions = match value.as_str() {
                    "both" => vec![("ab", true), ("ba", false)],
                    "ab" => vec![("ab", true)],
                    "ba" => vec![("ba", false)],
                    other => return Err(format!("bad --direction {other}")),
                }
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    if s.sizes.iter().any(|&n| !(HEADER_LEN..=60_000).contains(&n)) {
        return Err(format!("sizes must be {HEADER_LEN}..=60000 bytes"));
    }
    Ok(s)
}

/// Start a session on the router at `addr` ("host:port") and wait until it is ready.
async fn open(addr: &str, hops: u8) -> Result<I2cpHandle, String> {
    let (host, port) = addr.rsplit_once(':').ok_or(format!("bad address {addr}"))?;
    let port = port.parse().map_err(|_| format!("bad port in {addr}"))?;
    let keys = PrivateKeys::generate(SIG_ED25519, CRYPTO_X25519).map_err(|e| e.to_string())?;
    let hops = hops.to_string();
    let handle = i2cp::start(I2cpClientConfig {
        address: host.to_string(),
        port,
        keys: Arc::new(keys),
        options: vec![
            // The other side looks our LeaseSet up at the floodfill.
            ("i2cp.dontPublishLeaseSet".into(), "false".into()),
            ("inbound.length".into(), hops.clone()),
            ("outbound.length".into(), hops),
        ],
        lookup_timeout: Duration::from_secs(15),
        reconnect_max_delay: Duration::from_secs(5),
        i2cp_enabled_in_config: true,
        after_unclean_exit: false,
    })
    .await;
    let mut status = handle.status();
    let ready = tokio::time::timeout(READY_LIMIT, async {
        loop {
            if matches!(*status.borrow_and_update(), SessionState::Ready) {
                return Ok(());
            }
            if status.changed().await.is_err() {
                return Err("session task ended".to_string());
            }
        }
    })
    .await;
    match ready {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => Err(format!("{addr}: {e}")),
        Err(_) => Err(format!("{addr}: no session within {READY_LIMIT:?}")),
    }
}

/// Until a probe datagram from `from` reaches `to`: the LeaseSet was found and the path
/// works. Run number 0 is the probes'.
async fn wait_path(from: &I2cpHandle, to: &Destination, rx: &Shared) -> Result<Duration, String> {
    let started = Instant::now();
    lock(rx).run = 0;
    lock(rx).count = Count::default();
    let mut seq = 0;
    while started.elapsed() < READY_LIMIT {
        // The router looks the LeaseSet up itself on the first send; a lookup by hash
        // tells us when the floodfill has it, so that probes are not sent into the void.
        if seq == 0 && from.lookup_name(&to.b32_address()).await.is_err() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let _ = from.send(to, protocol::RAW, 0, 0, &frame(0, seq, 64));
        seq += 1;
        let probe_sent = Instant::now();
        while probe_sent.elapsed() < Duration::from_millis(500) {
            if lock(rx).count.unique > 0 {
                return Ok(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Err(format!("no probe arrived within {READY_LIMIT:?}"))
}

/// One step: send for `seconds` at `offered` MB/s, then drain, then count.
async fn step(
    from: &I2cpHandle,
    to: &Destination,
    rx: &Shared,
    run: u32,
    size: usize,
    offered: f64,
    seconds: f64,
) -> Step {
    {
        let mut r = lock(rx);
        r.run = run;
        r.count = Count::default();
    }
    let length = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let (mut sent, mut queue_full) = (0u64, 0u64);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while started.elapsed() < length {
        let budget = allowance(offered, started.elapsed());
        while budget.is_none_or(|b| sent * size as u64 + size as u64 <= b) {
            match from.send(to, protocol::RAW, 0, 0, &frame(run, sent, size)) {
                Ok(()) => sent += 1,
                Err(SendError::QueueFull) => {
                    queue_full += 1;
                    break;
                }
                Err(e) => {
                    eprintln!("ceiling: send failed: {e}");
                    break;
                }
            }
        }
        tick.tick().await;
    }
    let sending = started.elapsed();
    let send_time = sending.as_secs_f64();
    let stopped = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let last = lock(rx).count.last.unwrap_or(stopped).max(stopped);
        if last.elapsed() >= DRAIN_QUIET || stopped.elapsed() >= DRAIN_LIMIT {
            break;
        }
    }
    let count = lock(rx).count.clone();
    let (goodput, loss) = summarise(&count, sent, started, sending);
    Step {
        size,
        offered,
        sent,
        accepted: sent as f64 * size as f64 / send_time / 1e6,
        queue_full,
        received: count.unique,
        duplicates: count.duplicates,
        reordered: count.reordered,
        goodput,
        loss,
    }
}

fn step_json(s: &Step) -> String {
    format!(
        "{{\"size\": {}, \"offered_mbps\": {:.3}, \"sent\": {}, \"accepted_mbps\": {:.3}, \
         \"queue_full\": {}, \"received\": {}, \"duplicates\": {}, \"reordered\": {}, \
         \"goodput_mbps\": {:.3}, \"loss\": {:.4}}}",
        s.size,
        s.offered,
        s.sent,
        s.accepted,
        s.queue_full,
        s.received,
        s.duplicates,
        s.reordered,
        s.goodput,
        s.loss
    )
}

fn direction_name(code: &str) -> &'static str {
    if code == "ab" { "a_to_b" } else { "b_to_a" }
}

/// Two fresh sessions, a on `s.a` and b on `s.b`, each with its receiver, and the
/// handshake done both ways.
struct Pair {
    a: I2cpHandle,
    b: I2cpHandle,
    rx_a: Shared,
    rx_b: Shared,
}

async fn open_pair(s: &Settings) -> Result<Pair, String> {
    let (a, b) = tokio::try_join!(open(&s.a, s.hops), open(&s.b, s.hops))?;
    let (rx_a, rx_b) = (spawn_receiver(&a), spawn_receiver(&b));
    // Probes a->b, b->a, a->b: the first one carries a's ECIES-X25519 New Session message,
    // b's answer its New Session Reply, and from then on each side sends Existing Session
    // messages, as in a streaming connection (both sides send). One-way traffic without
    // that answer stays on New Session messages (geti2p.net "ECIES-X25519-AEAD-Ratchet"),
    // which lost 99 % of the datagrams at 2 MB/s on i2pd 2.59.0.
    let (dest_a, dest_b) = (a.destination().clone(), b.destination().clone());
    let mut took = Duration::ZERO;
    for (from, to, rx) in [
        (&a, &dest_b, &rx_b),
        (&b, &dest_a, &rx_a),
        (&a, &dest_b, &rx_b),
    ] {
        took += wait_path(from, to, rx).await?;
    }
    eprintln!(
        "ceiling: sessions a {} on {} and b {} on {}: probes both ways after {:.1} s",
        dest_a.b32_address(),
        s.a,
        dest_b.b32_address(),
        s.b,
        took.as_secs_f64()
    );
    Ok(Pair { a, b, rx_a, rx_b })
}

/// Whether a step lost so much that the sessions may be broken for the next one: after a
/// long burst of losses the receiver no longer recognises the sender's session tags (i2pd
/// 2.59.0 then logs "Can't handle ECIES-X25519-AEAD-Ratchet message" for every datagram),
/// so everything after is lost too.
fn ends_series(step: &Step) -> bool {
    step.loss > LOSS_STOP
}

/// One series: one direction, one size, rates ascending on fresh sessions until a step
/// loses more than [`LOSS_STOP`].
async fn series(
    s: &Settings,
    a_sends: bool,
    size: usize,
    run: &mut u32,
) -> Result<Vec<Step>, String> {
    let pair = open_pair(s).await?;
    let (from, to, rx) = if a_sends {
        (&pair.a, pair.b.destination().clone(), &pair.rx_b)
    } else {
        (&pair.b, pair.a.destination().clone(), &pair.rx_a)
    };
    let mut steps = Vec::new();
    for &rate in &s.rates {
        *run += 1;
        let st = step(from, &to, rx, *run, size, rate, s.seconds).await;
        eprintln!(
            "ceiling: {} size {:5} offered {:>6} accepted {:6.2} MB/s goodput {:6.2} MB/s \
             loss {:5.1}% reordered {} queue-full {}",
            if a_sends { "a_to_b" } else { "b_to_a" },
            st.size,
            if rate > 0.0 {
                format!("{rate:.1}")
            } else {
                "max".into()
            },
            st.accepted,
            st.goodput,
            st.loss * 100.0,
            st.reordered,
            st.queue_full
        );
        let stop = ends_series(&st);
        steps.push(st);
        if stop {
            break;
        }
    }
    pair.a.shutdown().await;
    pair.b.shutdown().await;
    Ok(steps)
}

async fn run(s: Settings) -> Result<String, String> {
    let mut json = format!("{{\"hops\": {}, \"seconds\": {}", s.hops, s.seconds);
    let mut run = 0u32;
    for &(code, a_sends) in &s.directions {
        let mut steps = Vec::new();
        for &size in &s.sizes {
            steps.extend(series(&s, a_sends, size, &mut run).await?);
        }
        let _ = write!(json, ", \"{}\": {{\"steps\": [", direction_name(code));
        json += &steps.iter().map(step_json).collect::<Vec<_>>().join(", ");
        json += "], \"best\": ";
        json += &best(&steps).map_or("null".into(), step_json);
        json += "}";
    }
    json += "}";
    Ok(json)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let settings = match parse_args(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ceiling: {e}");
            std::process::exit(2);
        }
    };
    let result = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt.block_on(run(settings)),
        Err(e) => Err(format!("tokio runtime: {e}")),
    };
    match result {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("ceiling: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_back_and_have_the_asked_size() {
        let f = frame(7, 123_456_789_012, 1730);
        assert_eq!(f.len(), 1730);
        assert_eq!(parse(&f), Some((7, 123_456_789_012)));
        assert_eq!(
            frame(1, 2, 3).len(),
            HEADER_LEN,
            "never shorter than the header"
        );
    }

    #[test]
    fn foreign_and_short_payloads_are_not_ours() {
        assert_eq!(parse(b"CEIL\0\0\0\x01"), None);
        assert_eq!(parse(&[0u8; 64]), None);
        assert_eq!(parse(b""), None);
    }

    #[test]
    fn counts_duplicates_and_reordering_apart() {
        let t = Instant::now();
        let mut c = Count::default();
        for seq in [0, 1, 3, 2, 3, 4] {
            c.add(seq, 100, t);
        }
        assert_eq!(c.unique, 5);
        assert_eq!(c.bytes, 500);
        assert_eq!(c.duplicates, 1);
        assert_eq!(c.reordered, 1, "2 came after 3");
    }

    #[test]
    fn goodput_and_loss_from_counts() {
        let start = Instant::now();
        let mut c = Count::default();
        c.add(0, 1_000_000, start + Duration::from_millis(500));
        c.add(1, 1_000_000, start + Duration::from_secs(1));
        let (goodput, loss) = summarise(&c, 4, start, Duration::from_millis(800));
        assert!((goodput - 2.0).abs() < 1e-9, "{goodput}");
        assert!((loss - 0.5).abs() < 1e-9, "{loss}");
        // A lost tail: the last arrival at 1 s of 4 s sending counts over the 4 s.
        let (goodput, _) = summarise(&c, 4, start, Duration::from_secs(4));
        assert!((goodput - 0.5).abs() < 1e-9, "{goodput}");
        assert_eq!(
            summarise(&Count::default(), 0, start, Duration::ZERO),
            (0.0, 0.0)
        );
    }

    #[test]
    fn pacing_allowance_and_unlimited() {
        assert_eq!(allowance(2.0, Duration::from_millis(500)), Some(1_000_000));
        assert_eq!(allowance(0.0, Duration::from_secs(1)), None);
    }

    #[test]
    fn best_step_has_the_most_goodput() {
        let mk = |goodput| Step {
            size: 1730,
            offered: 1.0,
            sent: 0,
            accepted: 0.0,
            queue_full: 0,
            received: 0,
            duplicates: 0,
            reordered: 0,
            goodput,
            loss: 0.0,
        };
        let steps = [mk(1.0), mk(3.5), mk(2.0)];
        assert_eq!(best(&steps).map(|s| s.goodput), Some(3.5));
        assert!(best(&[]).is_none());
        let lossy = |loss| Step { loss, ..mk(1.0) };
        // An unpaced step that lost 30 % is no ceiling while a clean step exists.
        let burst = Step {
            loss: 0.3,
            ..mk(8.0)
        };
        let with_burst = [mk(1.0), burst.clone(), mk(2.0)];
        assert_eq!(best(&with_burst).map(|s| s.goodput), Some(2.0));
        let edge = Step {
            loss: LOSS_CLEAN,
            ..mk(4.0)
        };
        assert_eq!(best(&[mk(1.0), edge]).map(|s| s.goodput), Some(4.0));
        let all_lossy = [lossy(0.2), burst];
        assert_eq!(best(&all_lossy).map(|s| s.goodput), Some(8.0));
        assert!(!ends_series(&lossy(0.0)));
        assert!(!ends_series(&lossy(0.05)));
        assert!(
            ends_series(&lossy(0.06)),
            "more than 5 % lost ends the series"
        );
    }

    #[test]
    fn arguments_parse_and_bad_ones_are_refused() {
        let args: Vec<String> = ["--hops", "1", "--sizes", "1730,4096", "--rates", "2,0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let s = parse_args(&args).expect("valid");
        assert_eq!(s.hops, 1);
        assert_eq!(s.sizes, vec![1730, 4096]);
        assert_eq!(s.rates, vec![2.0, 0.0]);
        assert!(parse_args(&["--sizes".into(), "8".into()]).is_err());
        assert!(parse_args(&["--bogus".into(), "1".into()]).is_err());
        assert!(parse_args(&["--hops".into()]).is_err());
    }
}

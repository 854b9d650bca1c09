//! The tokio driver: two streaming tasks wired back to back through channels.

use i2psocks::data::{Destination, PrivateKeys};
use i2psocks::streaming::{self, Inbound, PacketSink, StreamingConfig, StreamingHandle};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::{Duration, timeout};

/// Sink that queues packets for a forwarding task (the I2CP layer's role).
struct ChannelSink {
    tx: mpsc::UnboundedSender<Inbound>,
    /// Drop everything while set (a dead link).
    dead: Arc<AtomicBool>,
}

impl PacketSink for ChannelSink {
    fn send(&self, _to: &Destination, src_port: u16, dst_port: u16, packet: Vec<u8>) {
        if self.dead.load(Ordering::Relaxed) {
            return;
        }
        let _ = self.tx.send(Inbound {
            from_port: src_port,
            to_port: dst_port,
            payload: packet,
        });
    }
}

fn forward(mut rx: mpsc::UnboundedReceiver<Inbound>, to: mpsc::Sender<Inbound>) {
    tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            if to.send(p).await.is_err() {
                break;
            }
        }
    });
}

struct Net {
    a: StreamingHandle,
    b: StreamingHandle,
    b_dest: Destination,
    dead: Arc<AtomicBool>,
}

fn net(b_accepts: bool) -> Net {
    let a_keys = Arc::new(PrivateKeys::generate(7, 4).expect("keys"));
    let b_keys = Arc::new(PrivateKeys::generate(7, 4).expect("keys"));
    let b_dest = b_keys.destination().clone();
    let dead = Arc::new(AtomicBool::new(false));
    let (ab_tx, ab_rx) = mpsc::unbounded_channel();
    let (ba_tx, ba_rx) = mpsc::unbounded_channel();
    let (a, a_in) = streaming::spawn(
        a_keys,
        ChannelSink {
            tx: ab_tx,
            dead: dead.clone(),
        },
        StreamingConfig::default(),
    );
    let cfg_b = StreamingConfig {
        accept_incoming: b_accepts,
        ..StreamingConfig::default()
    };
    let (b, b_in) = streaming::spawn(
        b_keys,
        ChannelSink {
            tx: ba_tx,
            dead: dead.clone(),
        },
        cfg_b,
    );
    forward(ab_rx, b_in);
    forward(ba_rx, a_in);
    Net { a, b, b_dest, dead }
}

fn pattern(len: usize, mul: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(mul) >> 7) as u8)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn eight_mib_both_ways_at_once() {
    const LEN: usize = 8 * 1024 * 1024;
    let n = net(true);
    let up = pattern(LEN, 2654435761);
    let down = pattern(LEN, 40503);
    let a_stream =
        n.a.connect(n.b_dest.clone(), 80, up[..100].to_vec())
            .await
            .expect("connect");
    let b_stream = timeout(Duration::from_secs(10), n.b.accept())
        .await
        .expect("accept in time")
        .expect("a stream");

    let (mut a_rd, mut a_wr) = tokio::io::split(a_stream);
    let (mut b_rd, mut b_wr) = tokio::io::split(b_stream);
    let up_rest = up[100..].to_vec();
    let down_all = down.clone();
    let a_writer = tokio::spawn(async move {
        a_wr.write_all(&up_rest).await.expect("a write");
        a_wr.shutdown().await.expect("a shutdown");
        a_wr
    });
    let b_writer = tokio::spawn(async move {
        b_wr.write_all(&down_all).await.expect("b write");
        b_wr.shutdown().await.expect("b shutdown");
        b_wr
    });
    let a_reader = tokio::spawn(async move {
        let mut got = Vec::new();
        a_rd.read_to_end(&mut got).await.expect("a read");
        got
    });
    let b_reader = tokio::spawn(async move {
        let mut got = Vec::new();
        b_rd.read_to_end(&mut got).await.expect("b read");
        got
    });
    let all = async {
        let got_down = a_reader.await.expect("join");
        let got_up = b_reader.await.expect("join");
        let _ = a_writer.await.expect("join");
        let _ = b_writer.await.expect("join");
        (got_down, got_up)
    };
    let (got_down, got_up) = timeout(Duration::from_secs(600), all)
        .await
        .expect("transfer within 10 virtual minutes");
    assert_eq!(got_up.len(), LEN);
    assert_eq!(got_down.len(), LEN);
    assert!(got_up == up, "upload corrupted");
    assert!(got_down == down, "download corrupted");
}

#[tokio::test(start_paused = true)]
async fn refused_stream_reads_connection_reset() {
    let n = net(false);
    let mut s =
        n.a.connect(n.b_dest.clone(), 80, b"hello".to_vec())
            .await
            .expect("connect returns before the peer answers");
    let mut buf = [0u8; 16];
    let r = timeout(Duration::from_secs(30), s.read(&mut buf))
        .await
        .expect("answer in time");
    let err = r.expect_err("RESET is an error");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
}

#[tokio::test(start_paused = true)]
async fn dead_link_times_out() {
    let n = net(true);
    n.dead.store(true, Ordering::Relaxed);
    let mut s =
        n.a.connect(n.b_dest.clone(), 80, b"hello".to_vec())
            .await
            .expect("connect");
    let mut buf = [0u8; 16];
    let started = tokio::time::Instant::now();
    let r = timeout(Duration::from_secs(3600), s.read(&mut buf))
        .await
        .expect("gives up within an hour");
    assert_eq!(
        r.expect_err("timed out").kind(),
        std::io::ErrorKind::TimedOut
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(60),
        "gave up too early: {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn peer_close_is_eof_and_write_after_shutdown_fails() {
    let n = net(true);
    let mut a =
        n.a.connect(n.b_dest.clone(), 80, b"req".to_vec())
            .await
            .expect("connect");
    let mut b = timeout(Duration::from_secs(10), n.b.accept())
        .await
        .expect("accept in time")
        .expect("a stream");
    let mut req = [0u8; 3];
    b.read_exact(&mut req).await.expect("request");
    assert_eq!(&req, b"req");
    b.write_all(b"response").await.expect("write");
    b.shutdown().await.expect("shutdown");
    assert!(b.write_all(b"more").await.is_err(), "write after shutdown");
    let mut got = Vec::new();
    timeout(Duration::from_secs(30), a.read_to_end(&mut got))
        .await
        .expect("EOF in time")
        .expect("clean EOF");
    assert_eq!(got, b"response");
    drop(b);
    drop(a);
}

/// The I2CP session is lost: every stream ends at once with `ConnectionAborted` instead of
/// waiting for retransmission timeouts, and nothing more is sent on the dead session.
#[tokio::test]
async fn abort_all_ends_open_streams_at_once() {
    let n = net(true);
    let mut s =
        n.a.connect(n.b_dest.clone(), 80, b"hello".to_vec())
            .await
            .expect("connect");
    let mut peer = timeout(Duration::from_secs(5), n.b.accept())
        .await
        .expect("accept in time")
        .expect("incoming stream");
    let mut got = [0u8; 5];
    peer.read_exact(&mut got).await.expect("initial data");
    n.dead.store(true, Ordering::Relaxed);
    n.a.abort_all();
    let mut buf = [0u8; 16];
    let read = timeout(Duration::from_secs(1), s.read(&mut buf))
        .await
        .expect("read returns at once");
    let err = read.expect_err("aborted stream must not look like a clean EOF");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionAborted);
    let write = timeout(Duration::from_secs(1), s.write_all(b"more"))
        .await
        .expect("write returns at once");
    assert!(write.is_err(), "writes after abort fail");
}

/// A health watch through the handle: reports arrive on a channel, from the streaming
/// task's own deadlines (no task of the test or of the application per stream).
fn watch(
    h: &StreamingHandle,
    id: streaming::StreamId,
) -> mpsc::UnboundedReceiver<streaming::Health> {
    let (tx, rx) = mpsc::unbounded_channel();
    let report = Box::new(move |health| {
        let _ = tx.send(health);
    });
    assert!(h.watch(id, Duration::from_secs(4), 2, report));
    rx
}

#[tokio::test(start_paused = true)]
async fn a_watched_syn_nobody_answers_reports_unanswered_after_the_patience() {
    let n = net(true);
    n.dead.store(true, Ordering::Relaxed);
    let s =
        n.a.connect(n.b_dest.clone(), 80, b"hello".to_vec())
            .await
            .expect("connect");
    let started = tokio::time::Instant::now();
    let mut reports = watch(&n.a, s.id());
    let first = timeout(Duration::from_secs(60), reports.recv())
        .await
        .expect("a report in time");
    assert_eq!(first, Some(streaming::Health::Unanswered));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(5),
        "reported after {waited:?}"
    );
    drop(s);
    assert_eq!(
        timeout(Duration::from_secs(600), reports.recv())
            .await
            .ok()
            .flatten(),
        None,
        "nothing more, and the report closure is dropped with the stream"
    );
}

#[tokio::test(start_paused = true)]
async fn a_watched_stream_reports_its_answer_then_a_stall() {
    let n = net(true);
    let mut s =
        n.a.connect(n.b_dest.clone(), 80, b"hello".to_vec())
            .await
            .expect("connect");
    let mut reports = watch(&n.a, s.id());
    let _b_stream = timeout(Duration::from_secs(10), n.b.accept())
        .await
        .expect("accept in time")
        .expect("a stream");
    let answered = timeout(Duration::from_secs(60), reports.recv())
        .await
        .expect("a report in time");
    assert_eq!(answered, Some(streaming::Health::Answered));
    n.dead.store(true, Ordering::Relaxed);
    s.write_all(b"into the void").await.expect("write");
    let stalled = timeout(Duration::from_secs(120), reports.recv())
        .await
        .expect("a stall report in time");
    assert_eq!(stalled, Some(streaming::Health::Stalled));
}

#[tokio::test(start_paused = true)]
async fn answered_tells_a_syn_ack_a_reset_and_no_answer() {
    // SYN-ACK: true, and at once once it has come.
    let n = net(true);
    let s =
        n.a.connect(n.b_dest.clone(), 80, b"hi".to_vec())
            .await
            .expect("connect");
    let answer = n.a.answered(s.id());
    let _accepted = timeout(Duration::from_secs(30), n.b.accept())
        .await
        .expect("accepted in time");
    assert!(
        timeout(Duration::from_secs(30), answer)
            .await
            .expect("in time")
    );
    assert!(n.a.answered(s.id()).await, "asked again after the answer");

    // RESET: the peer is there and refused, which is an answer too.
    let refused = net(false);
    let r = refused
        .a
        .connect(refused.b_dest.clone(), 80, b"hi".to_vec())
        .await
        .expect("connect");
    let answer = refused.a.answered(r.id());
    assert!(
        timeout(Duration::from_secs(30), answer)
            .await
            .expect("in time")
    );

    // No answer: false when the client drops its stream, before the peer could answer.
    let dead = net(true);
    dead.dead.store(true, Ordering::Relaxed);
    let d = dead
        .a
        .connect(dead.b_dest.clone(), 80, b"hi".to_vec())
        .await
        .expect("connect");
    let answer = dead.a.answered(d.id());
    drop(d);
    assert!(
        !timeout(Duration::from_secs(30), answer)
            .await
            .expect("in time")
    );

    // And false when the stream times out with nobody answering.
    let t = dead
        .a
        .connect(dead.b_dest.clone(), 81, b"hi".to_vec())
        .await
        .expect("connect");
    let answer = dead.a.answered(t.id());
    assert!(
        !timeout(Duration::from_secs(3600), answer)
            .await
            .expect("in time")
    );
    drop(t);
}

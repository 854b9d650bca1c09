//! I2P streaming protocol (docs/streaming.md), sans-I/O.
//!
//! * [`packet`]: wire codec.
//! * [`Connection`]: one stream as a state machine; time is passed in.
//! * [`Manager`]: all streams of one destination; demultiplexes by our receive stream id.
//! * [`driver`]: the thin tokio task that owns a `Manager` and exposes `AsyncRead`/`AsyncWrite`.
//!
//! Internals, one concern per file: `send_buffer`, `recv_buffer` (reassembly, NACKs, memory
//! bound), `rtt` (RFC 6298), `congestion` (NewReno in packets), `pacing`, `timer`.

// Nothing reachable from the network may panic: malformed packets are errors.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub(crate) mod congestion;
pub mod connection;
pub mod driver;
pub mod half_close;
pub mod manager;
pub(crate) mod pacing;
pub mod packet;
pub(crate) mod recv_buffer;
pub(crate) mod rtt;
pub(crate) mod send_buffer;
pub(crate) mod timer;

pub use connection::{CloseReason, Connection, ConnectionStats, Event, Role};
pub use driver::{
    Inbound, PacketSink, StreamError, StreamHandle, StreamingHandle, spawn, spawn_with_inbound,
};
pub use manager::{Health, HealthReport, Manager, StreamId, Transmit};
pub use packet::{DecodeError, EncodeError, Flags, Packet};

use std::time::Duration;

/// Streaming MTU: the largest payload we send and advertise (docs/streaming.md "Constants").
pub const DEFAULT_MTU: u16 = 1730;

/// Default largest window in packets (i2pd 2.58 and later: 512).
pub const DEFAULT_MAX_WINDOW: u32 = 512;

/// Send buffer that holds a full window of `mtu`-sized packets (at least 512 KiB, so a
/// small window still lets the application write ahead).
fn send_buffer_for(max_window: u32, mtu: u16) -> usize {
    let window_bytes = usize::try_from(max_window)
        .unwrap_or(usize::MAX)
        .saturating_mul(usize::from(mtu));
    window_bytes.max(512 * 1024)
}

impl StreamingConfig {
    /// The defaults with the window ceiling `max_window` (packets) and a send buffer that
    /// can keep that many packets in flight.
    pub fn with_max_window(max_window: u32) -> StreamingConfig {
        let cfg = StreamingConfig::default();
        StreamingConfig {
            max_window,
            send_buffer: send_buffer_for(max_window, cfg.mtu),
            ..cfg
        }
    }
}

/// Tunables of the streaming layer. Defaults follow docs/streaming.md "Constants".
#[derive(Clone, Debug)]
pub struct StreamingConfig {
    /// Largest payload we send and advertise in MAX_PACKET_SIZE (1730).
    pub mtu: u16,
    /// Congestion window at the start, in packets (i2pd HEAD: 10).
    pub initial_window: u32,
    /// Smallest congestion window, in packets.
    pub min_window: u32,
    /// Largest window, in packets (`i2p.streaming.maxWindowSize`; 512 like i2pd 2.58 and
    /// later; 2.45.1 and Java use 128). Use [`StreamingConfig::with_max_window`] to change
    /// it so the send buffer can hold a full window.
    pub max_window: u32,
    /// RTO before the first RTT sample (see `rtt.rs` for the choice of 3 s).
    pub initial_rto: Duration,
    /// RTO floor (100 ms, spec/Java).
    pub min_rto: Duration,
    /// RTO ceiling for exponential backoff.
    pub max_rto: Duration,
    /// Retransmission timeouts in a row before the stream is given up (Java: 8).
    pub max_resends: u32,
    /// Upper bound of the delayed-ACK timer; the actual delay is min(RTT/10, this) (200 ms).
    pub max_ack_delay: Duration,
    /// Bytes the application may queue towards the peer (unsent + unacknowledged).
    pub send_buffer: usize,
    /// Bytes of received data kept for the application before we choke and drop.
    pub recv_buffer: usize,
    /// Close the stream when nothing arrives for this long (`None`: never; i2pd has none).
    pub idle_timeout: Option<Duration>,
    /// When an established stream has nothing in flight and has heard nothing for this long,
    /// send an empty sequenced packet the peer must acknowledge, so that a vanished peer (its
    /// router restarted) is detected by the retransmission timeouts instead of hanging the
    /// stream forever (`None`: never; Java probes after 90 s, i2pd never).
    pub keepalive: Option<Duration>,
    /// After the peer's CLOSE, how long our own CLOSE may wait for its ACK.
    pub close_linger: Duration,
    /// How long a closed stream's receive id stays reserved (late packets are ignored).
    pub id_quarantine: Duration,
    /// Answer pings (i2pd's default is true).
    pub answer_pings: bool,
    /// Accept incoming streams (we are a client proxy: off by default, SYNs get a RESET).
    pub accept_incoming: bool,
}

impl Default for StreamingConfig {
    fn default() -> Self {
        StreamingConfig {
            mtu: DEFAULT_MTU,
            initial_window: 10,
            min_window: 1,
            max_window: DEFAULT_MAX_WINDOW,
            initial_rto: Duration::from_secs(3),
            min_rto: Duration::from_millis(100),
            max_rto: Duration::from_secs(20),
            max_resends: 8,
            max_ack_delay: Duration::from_millis(200),
            send_buffer: send_buffer_for(DEFAULT_MAX_WINDOW, DEFAULT_MTU),
            // A peer's full 512-packet window of i2pd's largest packets (1812 bytes, i2pd
            // 2.59 libi2pd/Streaming.h STREAMING_MTU_RATCHETS) is 0.9 MiB: twice that keeps
            // a window arriving while the application has not read the last one yet.
            recv_buffer: 2 * 1024 * 1024,
            idle_timeout: None,
            keepalive: Some(Duration::from_secs(30)),
            close_linger: Duration::from_secs(10),
            id_quarantine: Duration::from_secs(300),
            answer_pings: true,
            accept_incoming: false,
        }
    }
}

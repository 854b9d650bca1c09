//! Thin tokio driver around [`Manager`]: one task per I2CP session.
//!
//! The task owns the protocol work: it feeds inbound packets and timer expiries into the
//! manager, hands every transmit to the [`PacketSink`] and wakes stream handles on events.
//! Stream handles share the manager through a mutex (held only for short, non-blocking
//! calls, never across an `.await`) and poke the task after writes, shutdowns and closes.
//! The loop is quinn's: inputs → drain `poll_transmit` → forward events → one
//! `sleep_until(poll_timeout)`.

use super::StreamingConfig;
use super::connection::{CloseReason, ConnectionStats, Event};
use super::manager::{HealthReport, Manager, StreamId};
use crate::data::{Destination, PrivateKeys};
use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tracing::{debug, trace};

/// Capacity of the inbound packet channel.
const INBOUND_CHANNEL: usize = 1024;

/// Where outbound streaming packets go: implemented by the I2CP layer, which gzips them
/// with these ports (protocol 6) and sends a SendMessage with nonce 0 (docs/i2cp.md "Pitfall: Nagle
/// on i2pd's socket"). It is called with the streaming state locked: it must not block and must not
/// call back into [`StreamingHandle`]/[`StreamHandle`] (queue the frame and return).
pub trait PacketSink: Send + 'static {
    /// Send one streaming packet to `to`.
    fn send(&self, to: &Destination, src_port: u16, dst_port: u16, packet: Vec<u8>);
}

/// A streaming packet received on our destination: the I2CP layer's received payload
/// (gunzipped MessagePayload with its ports), taken as it is so that no task has to copy
/// one type into another between the I2CP socket and the streams.
pub use crate::i2cp::Inbound;

/// Errors of the streaming API.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamError {
    /// The streaming task has stopped (session gone).
    #[error("streaming task has stopped")]
    Shutdown,
}

#[derive(Default)]
struct Wakers {
    read: Option<Waker>,
    write: Option<Waker>,
    /// Waits for the peer's answer to our SYN ([`StreamingHandle::answered`]): told
    /// `true` at the SYN-ACK or a RESET, `false` when the stream ends without one.
    answer: Option<tokio::sync::oneshot::Sender<bool>>,
}

impl Wakers {
    fn wake_all(&mut self) {
        if let Some(w) = self.read.take() {
            w.wake();
        }
        if let Some(w) = self.write.take() {
            w.wake();
        }
    }

    /// Tell the answer's waiter, if any.
    fn tell_answer(&mut self, answered: bool) {
        if let Some(tx) = self.answer.take() {
            let _ = tx.send(answered);
        }
    }
}

/// Whether `event` settles the SYN's answer: `Some(true)` when the peer answered (SYN-ACK,
/// or a RESET: it is there and refused), `Some(false)` when the stream ended without one.
fn answer_of(event: &Event) -> Option<bool> {
    match event {
        Event::Connected => Some(true),
        Event::Closed(reason) => Some(*reason == CloseReason::PeerReset),
        _ => None,
    }
}

struct State {
    manager: Manager,
    wakers: HashMap<StreamId, Wakers>,
    shutdown: bool,
    /// `StreamingHandle::stop` was called: the task ends at its next turn.
    stop_requested: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the driver task after application calls.
    poke: Notify,
    /// Wakes `accept` callers.
    incoming: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn now_std() -> std::time::Instant {
    Instant::now().into_std()
}

/// Start the streaming task for the destination of `keys`. Inbound packets go into the
/// returned sender; the task stops when that sender (all clones) is dropped.
pub fn spawn(
    keys: Arc<PrivateKeys>,
    sink: impl PacketSink,
    cfg: StreamingConfig,
) -> (StreamingHandle, mpsc::Sender<Inbound>) {
    let (tx, rx) = mpsc::channel(INBOUND_CHANNEL);
    (spawn_with_inbound(keys, sink, cfg, rx), tx)
}

/// Like [`spawn`], reading inbound packets from `inbound` (the I2CP layer's subscription
/// for protocol 6, so packets cross one channel from the I2CP task to this one). The task
/// stops when every sender is dropped or at [`StreamingHandle::stop`].
pub fn spawn_with_inbound(
    keys: Arc<PrivateKeys>,
    sink: impl PacketSink,
    cfg: StreamingConfig,
    inbound: mpsc::Receiver<Inbound>,
) -> StreamingHandle {
    let seed = rand::random::<u64>();
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            manager: Manager::new(keys, cfg, seed),
            wakers: HashMap::new(),
            shutdown: false,
            stop_requested: false,
        }),
        poke: Notify::new(),
        incoming: Notify::new(),
    });
    tokio::spawn(run(shared.clone(), sink, inbound));
    StreamingHandle { shared }
}

async fn run(shared: Arc<Shared>, sink: impl PacketSink, mut rx: mpsc::Receiver<Inbound>) {
    loop {
        let deadline = {
            let mut st = shared.lock();
            if st.stop_requested {
                break;
            }
            let now = now_std();
            st.manager.handle_timeout(now);
            drain(&mut st, &shared, &sink, now);
            st.manager.poll_timeout()
        };
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = rx.recv() => {
                let Some(first) = msg else { break };
                let mut st = shared.lock();
                let now = now_std();
                st.manager.handle_packet(now, first.from_port, first.to_port, &first.payload);
                // Take what else is queued before transmitting, so ACKs coalesce.
                while let Ok(more) = rx.try_recv() {
                    st.manager.handle_packet(now, more.from_port, more.to_port, &more.payload);
                }
            }
            () = shared.poke.notified() => {}
            () = sleep => {}
        }
    }
    debug!("streaming task stopping");
    let mut st = shared.lock();
    st.shutdown = true;
    for w in st.wakers.values_mut() {
        w.wake_all();
        w.tell_answer(false);
    }
    drop(st);
    shared.incoming.notify_waiters();
    shared.incoming.notify_one();
}

/// Hand every pending transmit to the sink and wake handles that have events.
fn drain(st: &mut State, shared: &Shared, sink: &impl PacketSink, now: std::time::Instant) {
    while let Some(t) = st.manager.poll_transmit(now) {
        trace!(len = t.packet.len(), "packet out");
        sink.send(&t.to, t.src_port, t.dst_port, t.packet);
    }
    forward_events(st);
    if st.manager.has_incoming() {
        shared.incoming.notify_one();
    }
}

/// Wake the handles of streams that have events, and settle their SYN's answer.
fn forward_events(st: &mut State) {
    while let Some((id, ev)) = st.manager.poll_event() {
        trace!(id, ?ev, "stream event");
        if let Some(w) = st.wakers.get_mut(&id) {
            w.wake_all();
            if let Some(answered) = answer_of(&ev) {
                w.tell_answer(answered);
            }
        }
    }
}

/// Handle to the streaming task: opens (and accepts) streams.
#[derive(Clone)]
pub struct StreamingHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for StreamingHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingHandle").finish_non_exhaustive()
    }
}

impl StreamingHandle {
    /// Open a stream to `remote` port `port`, the SYN carrying `initial_data`. Resolves as
    /// soon as the stream exists and its SYN is queued — before the peer answers, like
    /// i2pd (docs/socks.md "From a request to a stream": SOCKS success means "LeaseSet found").
    pub fn connect(
        &self,
        remote: Destination,
        port: u16,
        initial_data: Vec<u8>,
    ) -> impl Future<Output = Result<StreamHandle, StreamError>> + Send + 'static {
        self.open(remote, port, initial_data, false)
    }

    /// Like [`StreamingHandle::connect`] for this destination's first contact with
    /// `remote`: after the SYN, nothing more goes to it until it answers (see
    /// `crate::first_contact`).
    pub fn connect_first(
        &self,
        remote: Destination,
        port: u16,
        initial_data: Vec<u8>,
    ) -> impl Future<Output = Result<StreamHandle, StreamError>> + Send + 'static {
        self.open(remote, port, initial_data, true)
    }

    fn open(
        &self,
        remote: Destination,
        port: u16,
        initial_data: Vec<u8>,
        first_contact: bool,
    ) -> impl Future<Output = Result<StreamHandle, StreamError>> + Send + 'static {
        let shared = self.shared.clone();
        async move {
            let id = {
                let mut st = shared.lock();
                if st.shutdown {
                    return Err(StreamError::Shutdown);
                }
                let id = st
                    .manager
                    .open(now_std(), remote, port, &initial_data, first_contact);
                st.wakers.insert(id, Wakers::default());
                id
            };
            shared.poke.notify_one();
            Ok(StreamHandle::new(shared, id))
        }
    }

    /// End every open stream at once, without sending anything: the I2CP session under
    /// them is gone (router stopped or restarted), so waiting for timeouts would only make
    /// clients hang. Readers and writers get `ConnectionAborted`.
    pub fn abort_all(&self) {
        let mut st = self.shared.lock();
        let now = now_std();
        st.manager.abort_all(now);
        forward_events(&mut st);
        drop(st);
        self.shared.poke.notify_one();
    }

    /// Resolves when the peer has answered stream `id`'s SYN (`true`: SYN-ACK, or a RESET)
    /// or the stream ended without an answer (`false`: it timed out, its handle was
    /// dropped, the session went away). One waiter per stream; a second replaces the first,
    /// which then gets `false`.
    pub fn answered(&self, id: StreamId) -> impl Future<Output = bool> + Send + 'static {
        let rx = {
            let mut st = self.shared.lock();
            let settled = match st.manager.stream(id) {
                None => Some(false),
                Some(c) if c.is_connected() => Some(true),
                Some(c) => c
                    .close_reason()
                    .map(|reason| reason == CloseReason::PeerReset),
            };
            match (settled, st.shutdown, st.wakers.get_mut(&id)) {
                (Some(answered), _, _) => Err(answered),
                (None, true, _) | (None, false, None) => Err(false),
                (None, false, Some(w)) => {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    w.answer = Some(tx);
                    Ok(rx)
                }
            }
        };
        async move {
            match rx {
                Ok(rx) => rx.await.unwrap_or(false),
                Err(answered) => answered,
            }
        }
    }

    /// Watch stream `id` (see [`Manager::watch`]): `report` hears whether its SYN was
    /// answered within `syn_patience`, and later, once, whether it stalls through
    /// `stall_timeouts` retransmission timeouts in a row. The streaming task checks at its
    /// own deadlines, so a watched stream costs no task of its own. `report` is called with
    /// the streaming state locked: it must not block. False for an unknown stream.
    pub fn watch(
        &self,
        id: StreamId,
        syn_patience: Duration,
        stall_timeouts: u32,
        report: HealthReport,
    ) -> bool {
        let watched =
            self.shared
                .lock()
                .manager
                .watch(id, now_std(), syn_patience, stall_timeouts, report);
        // The task re-arms its sleep with the new deadline.
        self.shared.poke.notify_one();
        watched
    }

    /// Stop the task (after [`StreamingHandle::abort_all`] when the session is closed):
    /// it ends at its next turn, dropping its packet sink.
    pub fn stop(&self) {
        self.shared.lock().stop_requested = true;
        self.shared.poke.notify_one();
    }

    /// Next incoming stream (needs `StreamingConfig::accept_incoming`); `None` once the task
    /// has stopped.
    pub async fn accept(&self) -> Option<StreamHandle> {
        loop {
            {
                let mut st = self.shared.lock();
                if let Some(id) = st.manager.accept() {
                    st.wakers.insert(id, Wakers::default());
                    if st.manager.has_incoming() {
                        self.shared.incoming.notify_one();
                    }
                    return Some(StreamHandle::new(self.shared.clone(), id));
                }
                if st.shutdown {
                    return None;
                }
            }
            self.shared.incoming.notified().await;
        }
    }
}

/// One stream: `AsyncRead` + `AsyncWrite`. `poll_shutdown` half-closes (our CLOSE goes out
/// once everything written is acknowledged); dropping the handle closes gracefully.
pub struct StreamHandle {
    shared: Arc<Shared>,
    id: StreamId,
    write_shut: bool,
}

impl std::fmt::Debug for StreamHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamHandle")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn close_error(reason: CloseReason) -> io::Error {
    match reason {
        CloseReason::PeerReset | CloseReason::LocalReset => {
            io::Error::new(io::ErrorKind::ConnectionReset, "stream reset")
        }
        CloseReason::TimedOut => io::Error::new(io::ErrorKind::TimedOut, "stream timed out"),
        CloseReason::Idle => io::Error::new(io::ErrorKind::TimedOut, "stream idle"),
        CloseReason::Normal => io::Error::new(io::ErrorKind::BrokenPipe, "stream closed"),
        CloseReason::SessionLost => {
            io::Error::new(io::ErrorKind::ConnectionAborted, "I2CP session lost")
        }
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "streaming task stopped")
}

impl StreamHandle {
    fn new(shared: Arc<Shared>, id: StreamId) -> Self {
        StreamHandle {
            shared,
            id,
            write_shut: false,
        }
    }

    /// Our receive stream id.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// True once the peer's SYN-ACK arrived and verified.
    pub fn is_connected(&self) -> bool {
        let st = self.shared.lock();
        st.manager.stream(self.id).is_some_and(|c| c.is_connected())
    }

    /// Counters of the underlying connection (zeroes once it is gone).
    pub fn stats(&self) -> ConnectionStats {
        let st = self.shared.lock();
        st.manager
            .stream(self.id)
            .map(|c| c.stats())
            .unwrap_or_default()
    }

    /// True while data is on its way in either direction (see
    /// [`Connection::has_data_in_flight`](super::connection::Connection::has_data_in_flight)).
    pub fn has_data_in_flight(&self) -> bool {
        let st = self.shared.lock();
        st.manager
            .stream(self.id)
            .is_some_and(|c| c.has_data_in_flight())
    }

    /// Smoothed round-trip time, once measured.
    pub fn smoothed_rtt(&self) -> Option<Duration> {
        let st = self.shared.lock();
        st.manager.stream(self.id).and_then(|c| c.smoothed_rtt())
    }

    /// Why the stream ended, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        let st = self.shared.lock();
        st.manager.stream(self.id).and_then(|c| c.close_reason())
    }

    /// Abort the stream with a RESET.
    pub fn reset(self) {
        let mut st = self.shared.lock();
        st.manager.reset(self.id, now_std());
        st.wakers.remove(&self.id);
        drop(st);
        self.shared.poke.notify_one();
        // Drop runs next; `close` on a released stream is a no-op.
    }
}

impl AsyncRead for StreamHandle {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut st = this.shared.lock();
        let Some(conn) = st.manager.stream(this.id) else {
            return Poll::Ready(Err(gone()));
        };
        let was_choking = conn.is_choking();
        let n = st.manager.read(this.id, buf.initialize_unfilled());
        if n > 0 {
            buf.advance(n);
            let now_choking = st.manager.stream(this.id).is_some_and(|c| c.is_choking());
            drop(st);
            if was_choking && !now_choking {
                // The read made room: the window update must go out.
                this.shared.poke.notify_one();
            }
            return Poll::Ready(Ok(()));
        }
        let Some(conn) = st.manager.stream(this.id) else {
            return Poll::Ready(Err(gone()));
        };
        if conn.is_read_finished() {
            // EOF after the peer's CLOSE; an error when the stream died without one.
            return match conn.close_reason() {
                Some(reason) if !conn.is_peer_finished() && reason != CloseReason::Normal => {
                    Poll::Ready(Err(close_error(reason)))
                }
                _ => Poll::Ready(Ok(())),
            };
        }
        if st.shutdown {
            return Poll::Ready(Err(gone()));
        }
        if let Some(w) = st.wakers.get_mut(&this.id) {
            w.read = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl AsyncWrite for StreamHandle {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut st = this.shared.lock();
        if st.shutdown {
            return Poll::Ready(Err(gone()));
        }
        let Some(conn) = st.manager.stream(this.id) else {
            return Poll::Ready(Err(gone()));
        };
        if let Some(reason) = conn.close_reason() {
            return Poll::Ready(Err(close_error(reason)));
        }
        if !conn.is_writable() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write side shut down",
            )));
        }
        let n = st.manager.write(this.id, data);
        if n > 0 || data.is_empty() {
            drop(st);
            this.shared.poke.notify_one();
            return Poll::Ready(Ok(n));
        }
        if let Some(w) = st.wakers.get_mut(&this.id) {
            w.write = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Written bytes are already with the streaming task; there is nothing to push.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.write_shut {
            this.write_shut = true;
            let mut st = this.shared.lock();
            st.manager.shutdown_write(this.id, now_std());
            drop(st);
            this.shared.poke.notify_one();
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.manager.close(self.id, now_std());
        st.wakers.remove(&self.id);
        drop(st);
        self.shared.poke.notify_one();
    }
}

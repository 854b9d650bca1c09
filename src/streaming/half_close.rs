//! Half-close over a peer that cannot half-close.
//!
//! i2pd answers a streaming CLOSE with its own CLOSE at once and drops whatever response it
//! still had to send (docs/socks.md "From a request to a stream"). So when a SOCKS client
//! shuts down its sending side we must not send CLOSE yet: [`DeferredClose`] keeps the
//! stream open for the response and closes it when the peer closes, or when the peer has
//! gone quiet after the client's shutdown:
//!
//! * once the peer has sent anything, the answer is taken as complete after a short quiet
//!   spell ([`QUIET_FLOOR`], or four round trips if longer) with nothing in flight (all our
//!   data acknowledged, no hole in the peer's): what i2pd still had queued it would have
//!   sent within a round trip of our last ACK. A request/response client sees EOF well
//!   under a second after the last byte, not after `linger`;
//! * before the peer has sent anything (a server still working on the answer), after
//!   `linger` of silence;
//! * while data is in flight, never sooner than `linger` after the last data.
use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Shortest quiet spell after the peer's data that counts as the end of its answer.
pub const QUIET_FLOOR: Duration = Duration::from_millis(500);
/// Quiet spells are this many smoothed round trips when that is longer than the floor.
const QUIET_RTTS: u32 = 4;
/// While data is in flight, how often the silence timer looks again.
const BUSY_POLL: Duration = Duration::from_millis(50);

/// What a stream can tell about data still on its way.
pub trait InFlight {
    /// True while our data is unsent or unacknowledged, or the peer's has a hole.
    fn has_data_in_flight(&self) -> bool;
    /// Smoothed round-trip time, once measured.
    fn smoothed_rtt(&self) -> Option<Duration>;
}

impl InFlight for super::StreamHandle {
    fn has_data_in_flight(&self) -> bool {
        super::StreamHandle::has_data_in_flight(self)
    }
    fn smoothed_rtt(&self) -> Option<Duration> {
        super::StreamHandle::smoothed_rtt(self)
    }
}

/// Wraps a stream whose `poll_shutdown` would end both directions at the peer.
#[derive(Debug)]
pub struct DeferredClose<S> {
    inner: S,
    linger: Duration,
    /// Set once the client shut down its side: when it fires, the quiet rules above decide.
    silence: Option<Pin<Box<Sleep>>>,
    /// When the peer last sent data (or the client shut down, if later).
    last_data: Instant,
    /// Last time the silence timer saw data in flight.
    busy_at: Instant,
    /// The peer has sent data on this stream.
    answered: bool,
    closing: bool,
}

impl<S> DeferredClose<S> {
    /// Wrap `inner`; after our side's shutdown, wait up to `linger` of peer silence.
    pub fn new(inner: S, linger: Duration) -> Self {
        DeferredClose {
            inner,
            linger,
            silence: None,
            last_data: Instant::now(),
            busy_at: Instant::now(),
            answered: false,
            closing: false,
        }
    }

    /// The wrapped stream.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: InFlight> DeferredClose<S> {
    /// How long the peer may stay quiet before its answer counts as complete.
    fn quiet(&self) -> Duration {
        if !self.answered {
            return self.linger;
        }
        let rtts = self.inner.smoothed_rtt().unwrap_or_default() * QUIET_RTTS;
        rtts.max(QUIET_FLOOR).min(self.linger)
    }

    /// The silence timer fired: close now, or set it again (and register the waker).
    fn silence_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let now = Instant::now();
        let hard_limit = self.last_data + self.linger;
        if now >= hard_limit {
            return true;
        }
        let again = if self.inner.has_data_in_flight() {
            // Look again soon: the quiet spell starts when nothing is in flight any more.
            self.busy_at = now;
            now + BUSY_POLL
        } else {
            let quiet_until = self.last_data.max(self.busy_at) + self.quiet();
            if now >= quiet_until {
                return true;
            }
            quiet_until
        };
        let Some(silence) = self.silence.as_mut() else {
            return false;
        };
        silence.as_mut().reset(again.min(hard_limit));
        // Registers the waker; the deadline is in the future, so this is Pending.
        silence.as_mut().poll(cx).is_ready()
    }
}

impl<S: AsyncRead + AsyncWrite + InFlight + Unpin> AsyncRead for DeferredClose<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.closing {
            // Quiet long enough: send our CLOSE now and report EOF once it is queued.
            return Pin::new(&mut this.inner).poll_shutdown(cx);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.answered = true;
                    this.last_data = Instant::now();
                    let quiet = this.quiet();
                    if let Some(silence) = this.silence.as_mut() {
                        silence.as_mut().reset(Instant::now() + quiet);
                    }
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                let fired = this
                    .silence
                    .as_mut()
                    .is_some_and(|silence| silence.as_mut().poll(cx).is_ready());
                if !fired || !this.silence_expired(cx) {
                    return Poll::Pending;
                }
                this.closing = true;
                Pin::new(&mut this.inner).poll_shutdown(cx)
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + InFlight + Unpin> AsyncWrite for DeferredClose<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Everything written must reach the peer before the silence clock starts.
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        if this.silence.is_none() {
            this.last_data = this.last_data.max(Instant::now());
            this.silence = Some(Box::pin(tokio::time::sleep(this.quiet())));
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

    /// A duplex stream whose "in flight" flag the test sets.
    struct Fake {
        io: DuplexStream,
        busy: Arc<AtomicBool>,
    }

    impl InFlight for Fake {
        fn has_data_in_flight(&self) -> bool {
            self.busy.load(Ordering::SeqCst)
        }
        fn smoothed_rtt(&self) -> Option<Duration> {
            Some(Duration::from_millis(20))
        }
    }

    impl AsyncRead for Fake {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Fake {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.get_mut().io).poll_write(cx, data)
        }
        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().io).poll_flush(cx)
        }
        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
        }
    }

    fn pair(linger: Duration) -> (DeferredClose<Fake>, DuplexStream, Arc<AtomicBool>) {
        let (ours, peer) = duplex(1024);
        let busy = Arc::new(AtomicBool::new(false));
        let fake = Fake {
            io: ours,
            busy: busy.clone(),
        };
        (DeferredClose::new(fake, linger), peer, busy)
    }

    #[tokio::test(start_paused = true)]
    async fn answer_then_quiet_ends_the_stream_well_under_a_second() {
        let (mut stream, mut peer, _) = pair(Duration::from_secs(10));
        stream.write_all(b"request").await.expect("write");
        stream.shutdown().await.expect("shutdown");

        // The peer has not seen EOF: it reads the request and answers later.
        let mut got = [0u8; 7];
        peer.read_exact(&mut got).await.expect("peer read");
        assert_eq!(&got, b"request");
        tokio::time::sleep(Duration::from_secs(3)).await;
        peer.write_all(b"response").await.expect("peer write");

        let mut resp = [0u8; 8];
        stream.read_exact(&mut resp).await.expect("read response");
        assert_eq!(&resp, b"response");

        // Quiet after the answer with nothing in flight: EOF after the quiet spell, not
        // after the 10 s linger; and the peer sees our close.
        let start = Instant::now();
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.expect("eof");
        assert!(rest.is_empty());
        let waited = start.elapsed();
        assert!(
            waited >= QUIET_FLOOR && waited < Duration::from_secs(1),
            "EOF after {waited:?}"
        );
        let mut tail = Vec::new();
        peer.read_to_end(&mut tail).await.expect("peer eof");
        assert!(tail.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn no_answer_yet_waits_the_whole_linger() {
        let (mut stream, mut peer, _) = pair(Duration::from_secs(5));
        stream.write_all(b"request").await.expect("write");
        stream.shutdown().await.expect("shutdown");
        let mut got = [0u8; 7];
        peer.read_exact(&mut got).await.expect("peer read");
        let start = Instant::now();
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.expect("eof");
        assert!(start.elapsed() >= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn data_in_flight_holds_the_close_until_a_quiet_spell_after_it() {
        let (mut stream, mut peer, busy) = pair(Duration::from_secs(10));
        stream.write_all(b"request").await.expect("write");
        busy.store(true, Ordering::SeqCst);
        stream.shutdown().await.expect("shutdown");
        let mut got = [0u8; 7];
        peer.read_exact(&mut got).await.expect("peer read");
        peer.write_all(b"part").await.expect("peer write");
        let mut part = [0u8; 4];
        stream.read_exact(&mut part).await.expect("read part");

        let reader = tokio::spawn(async move {
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest).await.map(|_| rest)
        });
        // In flight for 3 s: no EOF meanwhile.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!reader.is_finished(), "closed while data was in flight");
        busy.store(false, Ordering::SeqCst);
        let settled = Instant::now();
        let rest = reader.await.expect("join").expect("eof");
        assert!(rest.is_empty());
        let waited = settled.elapsed();
        assert!(
            waited >= QUIET_FLOOR - BUSY_POLL && waited < Duration::from_secs(1),
            "EOF {waited:?} after the data settled"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn peer_close_ends_reading_without_waiting() {
        let (mut stream, mut peer, _) = pair(Duration::from_secs(60));
        stream.shutdown().await.expect("shutdown");
        peer.write_all(b"bye").await.expect("write");
        drop(peer);
        let start = Instant::now();
        let mut all = Vec::new();
        stream.read_to_end(&mut all).await.expect("read");
        assert_eq!(all, b"bye");
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn without_shutdown_silence_never_ends_the_stream() {
        let (mut stream, _peer, _) = pair(Duration::from_secs(1));
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf)).await;
        assert!(
            read.is_err(),
            "a stream that was not shut down must keep waiting"
        );
    }
}

//! Half-close over a peer that cannot half-close.
//!
//! i2pd answers a streaming CLOSE with its own CLOSE at once and drops whatever response it
//! still had to send (docs/socks.md "From a request to a stream"). So when a SOCKS client shuts
//! down its sending side we must not send CLOSE yet: [`DeferredClose`] keeps the stream open for
//! the response and closes it only when the peer closes, or when the peer has been silent for
//! `linger` after the client's shutdown (a server that waits for EOF then sees one, a little
//! later).
use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Wraps a stream whose `poll_shutdown` would end both directions at the peer.
#[derive(Debug)]
pub struct DeferredClose<S> {
    inner: S,
    linger: Duration,
    /// Set once the client shut down its side: silence longer than `linger` ends the read side.
    silence: Option<Pin<Box<Sleep>>>,
    closing: bool,
}

impl<S> DeferredClose<S> {
    /// Wrap `inner`; after our side's shutdown, wait up to `linger` of peer silence.
    pub fn new(inner: S, linger: Duration) -> Self {
        DeferredClose {
            inner,
            linger,
            silence: None,
            closing: false,
        }
    }

    /// The wrapped stream.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for DeferredClose<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.closing {
            // Silence expired: send our CLOSE now and report EOF once it is queued.
            return Pin::new(&mut this.inner).poll_shutdown(cx);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before
                    && let Some(silence) = this.silence.as_mut()
                {
                    silence.as_mut().reset(Instant::now() + this.linger);
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                let expired = this
                    .silence
                    .as_mut()
                    .is_some_and(|silence| silence.as_mut().poll(cx).is_ready());
                if !expired {
                    return Poll::Pending;
                }
                this.closing = true;
                Pin::new(&mut this.inner).poll_shutdown(cx)
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for DeferredClose<S> {
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
            this.silence = Some(Box::pin(tokio::time::sleep(this.linger)));
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    #[tokio::test(start_paused = true)]
    async fn response_after_shutdown_still_arrives_then_silence_closes() {
        let (ours, mut peer) = duplex(1024);
        let mut stream = DeferredClose::new(ours, Duration::from_secs(5));
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

        // 5 s of silence after the last data: EOF for us, and the peer sees our close.
        let start = Instant::now();
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.expect("eof");
        assert!(rest.is_empty());
        assert!(start.elapsed() >= Duration::from_secs(5));
        let mut tail = Vec::new();
        peer.read_to_end(&mut tail).await.expect("peer eof");
        assert!(tail.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn peer_close_ends_reading_without_waiting() {
        let (ours, mut peer) = duplex(1024);
        let mut stream = DeferredClose::new(ours, Duration::from_secs(60));
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
        let (ours, _peer) = duplex(1024);
        let mut stream = DeferredClose::new(ours, Duration::from_secs(1));
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf)).await;
        assert!(
            read.is_err(),
            "a stream that was not shut down must keep waiting"
        );
    }
}

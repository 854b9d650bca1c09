//! Copy both ways between the SOCKS client and its stream, holding a buffer only while
//! bytes are in transit.
//!
//! `tokio::io::copy_bidirectional_with_sizes` gives every connection its two buffers for its
//! whole life, so ten thousand idle connections with 8 KiB + 16 KiB buffers hold 240 MiB of
//! buffers that carry nothing. Here a direction takes a buffer from a small per-thread
//! pool just before it reads and gives it back as soon as the read finds nothing
//! (`Pending`: the reader kept no reference to it) or everything read has been written.
//! Busy connections reuse pooled buffers (no allocation or zeroing per read); idle ones
//! hold none.
//!
//! The semantics are those of `copy_bidirectional`: when one side's read ends (EOF), the
//! other side's write half is flushed and shut down, and the opposite direction goes on
//! until it ends too; the first error ends both.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes of buffers kept per runtime thread for reuse; more are freed.
const POOL_BYTES: usize = 1024 * 1024;

thread_local! {
    static POOL: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of exactly `size` bytes: a pooled one if there is one.
fn take_buffer(size: usize) -> Box<[u8]> {
    let pooled = POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let at = pool.iter().rposition(|b| b.len() == size)?;
        Some(pool.swap_remove(at))
    });
    pooled.unwrap_or_else(|| vec![0u8; size].into_boxed_slice())
}

/// Hand `buf` back to this thread's pool (or free it when the pool is full).
fn give_buffer(buf: Box<[u8]>) {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let held: usize = pool.iter().map(|b| b.len()).sum();
        if held + buf.len() <= POOL_BYTES {
            pool.push(buf);
        }
    });
}

/// One direction of the copy.
#[derive(Debug)]
struct Direction {
    size: usize,
    /// Holds `buf[pos..cap]` not yet written; `None` while nothing is in transit.
    buf: Option<Box<[u8]>>,
    pos: usize,
    cap: usize,
    /// Bytes written so far.
    amount: u64,
    /// The reader reached EOF.
    read_done: bool,
    /// Written since the last flush.
    need_flush: bool,
    /// The writer was shut down after EOF: this direction is finished.
    done: bool,
}

impl Direction {
    fn new(size: usize) -> Direction {
        Direction {
            size: size.max(1),
            buf: None,
            pos: 0,
            cap: 0,
            amount: 0,
            read_done: false,
            need_flush: false,
            done: false,
        }
    }

    /// Bytes read but not yet written.
    fn pending(&self) -> usize {
        self.cap - self.pos
    }

    /// Give the buffer back if it carries nothing.
    fn release_if_empty(&mut self) {
        if self.pending() == 0
            && let Some(buf) = self.buf.take()
        {
            give_buffer(buf);
        }
    }

    /// Read once into a (possibly pooled) buffer. `Ready(Ok(()))` means data or EOF arrived.
    fn poll_fill<R: AsyncRead + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        reader: Pin<&mut R>,
    ) -> Poll<io::Result<()>> {
        let mut buf = self.buf.take().unwrap_or_else(|| take_buffer(self.size));
        let mut read_buf = ReadBuf::new(&mut buf);
        let polled = reader.poll_read(cx, &mut read_buf);
        let n = read_buf.filled().len();
        match polled {
            Poll::Ready(Ok(())) if n > 0 => {
                self.pos = 0;
                self.cap = n;
                self.buf = Some(buf);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(())) => {
                self.read_done = true;
                give_buffer(buf);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => {
                give_buffer(buf);
                Poll::Ready(Err(e))
            }
            Poll::Pending => {
                // The reader registered its waker and kept no reference to `buf`.
                give_buffer(buf);
                Poll::Pending
            }
        }
    }

    /// Write out what is buffered.
    fn poll_drain<W: AsyncWrite + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        mut writer: Pin<&mut W>,
    ) -> Poll<io::Result<()>> {
        while self.pending() > 0 {
            let Some(chunk) = self.buf.as_deref().and_then(|b| b.get(self.pos..self.cap)) else {
                return Poll::Ready(Err(io::Error::other("copy buffer lost")));
            };
            let n = ready!(writer.as_mut().poll_write(cx, chunk))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pos += n;
            self.amount += n as u64;
            self.need_flush = true;
        }
        self.release_if_empty();
        Poll::Ready(Ok(()))
    }

    /// Copy until EOF (then flush and shut the writer down) or an error.
    fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut reader: Pin<&mut R>,
        mut writer: Pin<&mut W>,
    ) -> Poll<io::Result<u64>>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        if self.done {
            return Poll::Ready(Ok(self.amount));
        }
        loop {
            ready!(self.poll_drain(cx, writer.as_mut()))?;
            if self.read_done {
                ready!(writer.as_mut().poll_flush(cx))?;
                ready!(writer.as_mut().poll_shutdown(cx))?;
                self.done = true;
                return Poll::Ready(Ok(self.amount));
            }
            match self.poll_fill(cx, reader.as_mut()) {
                Poll::Ready(result) => result?,
                Poll::Pending => {
                    if self.need_flush {
                        ready!(writer.as_mut().poll_flush(cx))?;
                        self.need_flush = false;
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for Direction {
    fn drop(&mut self) {
        if let Some(buf) = self.buf.take() {
            give_buffer(buf);
        }
    }
}

/// Copy `a` → `b` (reads of up to `a_to_b` bytes) and `b` → `a` (up to `b_to_a`) until
/// both directions reached EOF; returns the bytes copied each way.
pub async fn copy_both_ways<A, B>(
    a: &mut A,
    b: &mut B,
    a_to_b: usize,
    b_to_a: usize,
) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut up = Direction::new(a_to_b);
    let mut down = Direction::new(b_to_a);
    poll_fn(|cx| {
        let up_polled = up.poll_copy(cx, Pin::new(&mut *a), Pin::new(&mut *b))?;
        let down_polled = down.poll_copy(cx, Pin::new(&mut *b), Pin::new(&mut *a))?;
        match (up_polled, down_polled) {
            (Poll::Ready(up), Poll::Ready(down)) => Poll::Ready(Ok((up, down))),
            _ => Poll::Pending,
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    #[tokio::test]
    async fn copies_both_ways_and_passes_eof_on() {
        let (mut client, mut a) = duplex(1024);
        let (mut b, mut server) = duplex(1024);
        let relay = tokio::spawn(async move { copy_both_ways(&mut a, &mut b, 100, 300).await });
        let up: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let down: Vec<u8> = (0..70_000u32).map(|i| (i % 241) as u8).collect();
        let (up2, down2) = (up.clone(), down.clone());
        let client_side = tokio::spawn(async move {
            client.write_all(&up2).await?;
            client.shutdown().await?;
            let mut got = Vec::new();
            client.read_to_end(&mut got).await?;
            io::Result::Ok(got)
        });
        let server_side = tokio::spawn(async move {
            let mut got = Vec::new();
            server.read_to_end(&mut got).await?;
            server.write_all(&down2).await?;
            server.shutdown().await?;
            io::Result::Ok(got)
        });
        assert_eq!(server_side.await.unwrap().unwrap(), up);
        assert_eq!(client_side.await.unwrap().unwrap(), down);
        let (n_up, n_down) = relay.await.unwrap().unwrap();
        assert_eq!((n_up, n_down), (up.len() as u64, down.len() as u64));
    }

    #[tokio::test]
    async fn an_idle_direction_holds_no_buffer() {
        let mut d = Direction::new(16 * 1024);
        let (mut reader, _writer_end) = duplex(64);
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let (mut sink, _sink_end) = duplex(64);
        let polled = d.poll_copy(&mut cx, Pin::new(&mut reader), Pin::new(&mut sink));
        assert!(polled.is_pending());
        assert!(d.buf.is_none(), "an idle direction kept its buffer");
    }

    #[tokio::test]
    async fn a_blocked_writer_keeps_the_unwritten_bytes() {
        let mut d = Direction::new(1024);
        let (mut reader_end, mut reader) = duplex(4096);
        reader_end.write_all(&[7u8; 1000]).await.unwrap();
        let (mut sink, mut sink_end) = duplex(100);
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let polled = d.poll_copy(&mut cx, Pin::new(&mut reader), Pin::new(&mut sink));
        assert!(polled.is_pending());
        assert_eq!(
            d.pending(),
            900,
            "the 900 bytes the sink had no room for are kept"
        );
        assert!(d.buf.is_some());
        let mut got = vec![0u8; 100];
        sink_end.read_exact(&mut got).await.unwrap();
        assert_eq!(got, vec![7u8; 100]);
    }

    #[test]
    fn pooled_buffers_are_reused_and_bounded() {
        let first = take_buffer(333);
        let addr = first.as_ptr();
        give_buffer(first);
        let again = take_buffer(333);
        assert_eq!(again.as_ptr(), addr, "the pooled buffer was not reused");
        assert_eq!(take_buffer(334).len(), 334);
        for _ in 0..POOL_BYTES / (64 * 1024) + 10 {
            give_buffer(vec![0u8; 64 * 1024].into_boxed_slice());
        }
        let held: usize = POOL.with(|p| p.borrow().iter().map(|b| b.len()).sum());
        assert!(held <= POOL_BYTES, "the pool holds {held} bytes");
        assert!(held > 0, "nothing was pooled");
        POOL.with(|p| p.borrow_mut().clear());
    }
}

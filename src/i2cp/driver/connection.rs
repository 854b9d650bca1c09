//! One connection to the router: a `select!` loop that feeds the sans-I/O
//! [`Session`] with bytes, commands, outgoing data and its deadline, and turns its events
//! into state changes, lookup answers and delivered payloads.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep_until, timeout};
use tracing::{debug, info};

use crate::data::Destination;
use crate::data::lease_set::LeaseSetEncKey;
use crate::i2cp::session::{Event, LookupFailure, Now, Session, SessionError};

use super::handle::Command;
use super::refusal::{Refusal, refusal};
use super::state::{DownReason, LookupError, SessionState, down_reason};
use super::subscribers::Inbound;
use super::task::{ConnectionEnd, SessionTask};
use super::{DESTROY_LINGER, WRITE_HIGH_WATER, merged_options};

impl SessionTask {
    pub(super) async fn run_connection(&mut self, stream: TcpStream) -> ConnectionEnd {
        let (mut rd, mut wr) = stream.into_split();
        let options = merged_options(&self.cfg.options);
        let mut session = Session::new(
            now(),
            self.cfg.keys.clone(),
            options,
            self.cfg.lookup_timeout,
            LeaseSetEncKey::generate(),
        );
        let mut conn = Connection {
            out: Vec::new(),
            pending: HashMap::new(),
            was_ready: false,
            shutdown: None,
            closed: None,
            created: false,
            refusal: None,
        };
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            while let Some(bytes) = session.poll_transmit() {
                conn.out.extend_from_slice(&bytes);
            }
            while let Some(event) = session.poll_event() {
                self.on_event(&mut conn, event);
            }
            if let Some(reason) = conn.closed.take() {
                flush_and_linger(&mut rd, &mut wr, &conn.out, conn.shutdown.is_some()).await;
                return ConnectionEnd {
                    reason,
                    was_ready: conn.was_ready,
                    shutdown: conn.shutdown,
                    refusal: conn.refusal,
                };
            }
            let deadline = session.poll_timeout().map(Instant::from_std);
            let take_data = conn.out.len() < WRITE_HIGH_WATER && session.is_ready();
            tokio::select! {
                read = rd.read(&mut buf) => match read {
                    Ok(0) => session.handle_connection_lost("the router closed the connection".into()),
                    Ok(n) => {
                        session.handle_bytes(now(), buf.get(..n).unwrap_or_default());
                        quickack(rd.as_ref());
                    }
                    Err(err) => session.handle_connection_lost(format!("read error: {err}")),
                },
                written = wr.write(&conn.out), if !conn.out.is_empty() => match written {
                    Ok(n) => {
                        conn.out.drain(..n.min(conn.out.len()));
                    }
                    Err(err) => session.handle_connection_lost(format!("write error: {err}")),
                },
                cmd = self.cmd_rx.recv() => match cmd {
                    Some(Command::Lookup { query, name, reply }) => {
                        match session.lookup(Instant::now().into_std(), query) {
                            Ok(id) => {
                                conn.pending.insert(id, (name, reply));
                            }
                            Err(SessionError::NotEstablished) => {
                                let _ = reply.send(Err(LookupError::NotReady));
                            }
                            Err(SessionError::Encode(_)) => {
                                let _ = reply.send(Err(LookupError::InvalidName(name)));
                            }
                        }
                    }
                    Some(Command::Shutdown { done }) => {
                        conn.shutdown = Some(done);
                        session.destroy();
                    }
                    None => {
                        // Every handle is gone: nobody can use the session any more.
                        let (done, _rx) = oneshot::channel();
                        conn.shutdown = Some(done);
                        session.destroy();
                    }
                },
                data = self.data_rx.recv(), if take_data => {
                    if let Some(msg) = data
                        && let Err(err) = session.send(now(), &msg.to, msg.wrapped, 0)
                    {
                        debug!(%err, "dropping outgoing payload");
                    }
                }
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    session.handle_timeout(Instant::now().into_std());
                }
            }
        }
    }

    fn on_event(&self, conn: &mut Connection, event: Event) {
        match event {
            Event::Created { sid } => {
                conn.created = true;
                self.sessions_created.fetch_add(1, Ordering::Relaxed);
                debug!(sid, "I2CP session created, waiting for LeaseSet request");
            }
            Event::Ready => {
                conn.was_ready = true;
                info!(b32 = %self.cfg.keys.destination().b32_address(), "I2CP session ready");
                self.set_status(SessionState::Ready);
            }
            Event::Payload {
                protocol,
                src_port,
                dst_port,
                data,
            } => self.dispatch(protocol, src_port, dst_port, data),
            Event::LookupResult { id, result } => {
                let Some((name, reply)) = conn.pending.remove(&id) else {
                    return;
                };
                let result = match result {
                    Ok(dest) => Ok(dest),
                    Err(LookupFailure::NotFound(_)) => Err(LookupError::NotFound(name)),
                    Err(LookupFailure::TimedOut) => Err(LookupError::TimedOut(name)),
                    Err(LookupFailure::HashMismatch) => Err(LookupError::BadReply(name)),
                    Err(LookupFailure::SessionClosed) => {
                        // Answered with the close reason when Closed arrives.
                        conn.pending.insert(id, (name, reply));
                        return;
                    }
                };
                let _ = reply.send(result);
            }
            Event::Closed { reason } => {
                if !conn.created && conn.shutdown.is_none() {
                    conn.refusal = refusal(&reason);
                }
                let reason = down_reason(reason, conn.shutdown.is_some());
                for (_, (_, reply)) in conn.pending.drain() {
                    let _ = reply.send(Err(LookupError::RouterDown(reason.clone())));
                }
                conn.closed = Some(reason);
            }
        }
    }

    fn dispatch(&self, protocol: u8, src_port: u16, dst_port: u16, data: Vec<u8>) {
        let inbound = Inbound {
            from_port: src_port,
            to_port: dst_port,
            payload: data,
        };
        self.subscribers.deliver(protocol, inbound);
    }
}

struct Connection {
    out: Vec<u8>,
    pending: HashMap<u32, (String, oneshot::Sender<Result<Destination, LookupError>>)>,
    was_ready: bool,
    shutdown: Option<oneshot::Sender<()>>,
    closed: Option<DownReason>,
    /// The router answered CreateSession with SessionStatus 1.
    created: bool,
    /// The router refused CreateSession (see [`Refusal`]).
    refusal: Option<Refusal>,
}

/// Write what is left (bounded in time) and, when shutting down, give the router a moment
/// to answer DestroySession with SessionStatus 0 and close (docs/i2cp.md "Message types").
async fn flush_and_linger(
    rd: &mut OwnedReadHalf,
    wr: &mut OwnedWriteHalf,
    out: &[u8],
    linger: bool,
) {
    let _ = timeout(DESTROY_LINGER, wr.write_all(out)).await;
    if linger {
        let mut sink = [0u8; 4096];
        let _ = timeout(DESTROY_LINGER, async {
            while let Ok(n) = rd.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }
    let _ = wr.shutdown().await;
}

fn now() -> Now {
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Now {
        instant: Instant::now().into_std(),
        unix_ms,
    }
}

/// Re-arm TCP_QUICKACK so our ACKs are not delayed 40 ms while i2pd's Nagle waits for
/// them (docs/i2cp.md "Pitfall: Nagle on i2pd's socket"). Linux only; harmless to skip elsewhere.
///
/// It runs after every read, although it costs a system call and often an ACK segment each
/// time: the cheaper variants measured (BENCHMARKS.md "TCP_QUICKACK after each I2CP read")
/// either gave the 40 ms back to the time to first byte (no re-arm after reads: Linux
/// leaves quick-ACK mode as soon as we send, and i2pd's second small message then waits for
/// the delayed ACK) or saved nothing measurable (re-arm only after a write of ours, or
/// only after small reads with a deferred re-arm after large ones).
pub(super) fn quickack(stream: &TcpStream) {
    #[cfg(target_os = "linux")]
    {
        let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = stream;
}

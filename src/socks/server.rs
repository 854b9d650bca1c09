//! Thin tokio driver: listener, accept loop, connection cap (docs/socks.md "Listener", "Limits").
//!
//! Differences from i2pd, on purpose:
//! * accept errors (EMFILE, ENFILE, …) never stop the loop: log, back off 100 ms doubling to
//!   1 s, retry (i2pd's loop dies for good, docs/socks.md "Listener");
//! * a cap on concurrent clients: when it is reached we stop accepting (new clients wait in
//!   the kernel's listen backlog, they are not refused) and log one warning per burst;
//! * a handshake timeout (default 30 s) closes clients that never finish their request.
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::{Instrument, debug, info, info_span, warn};

use super::connection::handle_client;
use super::connector::I2pConnector;
use super::listener::{ClientConn, Listener, Peer, poll_accept_any};
use super::server_config::ServerConfig;

/// First back-off after an accept error.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest back-off after repeated accept errors.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Listen backlog (boost's default is SOMAXCONN; the kernel clamps anyway).
const LISTEN_BACKLOG: i32 = 1024;

/// Why the listener could not be created.
#[derive(Debug, Error)]
pub enum BindError {
    /// Port taken; most likely by i2pd's built-in SOCKS proxy on the same port.
    #[error(
        "cannot listen on {addr}: address already in use. i2pd's own SOCKS proxy probably holds \
         this port; turn it off with `[socksproxy] enabled = false` in i2pd.conf (or start i2pd \
         with --socksproxy.enabled=false) and restart i2pd, or choose another port"
    )]
    AddrInUse {
        /// The address we tried.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Any other socket error (address not local, permission denied, …).
    #[error("cannot listen on {addr}: {source}")]
    Io {
        /// The address we tried.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// Create the listening socket with SO_REUSEADDR like boost does (docs/socks.md "Listener"). Must
/// be called inside a tokio runtime.
pub fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    let wrap = |source: io::Error| {
        if source.kind() == io::ErrorKind::AddrInUse {
            BindError::AddrInUse { addr, source }
        } else {
            BindError::Io { addr, source }
        }
    };
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))
        .map_err(wrap)?;
    socket.set_reuse_address(true).map_err(wrap)?;
    socket.set_nonblocking(true).map_err(wrap)?;
    socket.bind(&addr.into()).map_err(wrap)?;
    socket.listen(LISTEN_BACKLOG).map_err(wrap)?;
    TcpListener::from_std(socket.into()).map_err(wrap)
}

/// Something that accepts connections; [`Listener`]s in production, a fake in tests.
pub(crate) trait Acceptor {
    /// Accept one connection.
    fn accept(&self) -> impl Future<Output = io::Result<(ClientConn, Peer)>> + Send;
}

impl Acceptor for TcpListener {
    async fn accept(&self) -> io::Result<(ClientConn, Peer)> {
        let (stream, peer) = TcpListener::accept(self).await?;
        Ok((ClientConn::Tcp(stream), Peer::Tcp(peer)))
    }
}

/// Several listeners served as one: a client from any of them.
struct AnyOf(Vec<Listener>);

impl Acceptor for AnyOf {
    fn accept(&self) -> impl Future<Output = io::Result<(ClientConn, Peer)>> + Send {
        std::future::poll_fn(|cx| poll_accept_any(&self.0, cx))
    }
}

/// Accept clients until `shutdown` completes (its output is ignored, so e.g.
/// `tokio::signal::ctrl_c()` works). Client tasks are aborted when this returns.
/// `cfg.addr` is not used here: the listener comes from [`bind`].
pub async fn serve<C: I2pConnector>(
    listener: TcpListener,
    cfg: ServerConfig,
    connector: C,
    shutdown: impl Future,
) -> io::Result<()> {
    serve_all(vec![Listener::Tcp(listener)], cfg, connector, shutdown).await
}

/// [`serve`] over several listeners (TCP and Unix-domain, bound or from systemd) sharing
/// one connection cap.
pub async fn serve_all<C: I2pConnector>(
    listeners: Vec<Listener>,
    cfg: ServerConfig,
    connector: C,
    shutdown: impl Future,
) -> io::Result<()> {
    for listener in &listeners {
        info!(local = %listener.describe(), "SOCKS proxy listening");
    }
    serve_with(AnyOf(listeners), cfg, connector, shutdown).await
}

pub(crate) async fn serve_with<A: Acceptor, C: I2pConnector>(
    listener: A,
    cfg: ServerConfig,
    connector: C,
    shutdown: impl Future,
) -> io::Result<()> {
    let cfg = Arc::new(cfg);
    let connector = Arc::new(connector);
    let slots = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
    let mut clients = JoinSet::new();
    let mut backoff = ACCEPT_BACKOFF_MIN;
    let mut at_cap = false;
    let mut next_id: u64 = 0;
    tokio::pin!(shutdown);
    loop {
        while clients.try_join_next().is_some() {}
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = acquire_slot(&slots, &mut at_cap, cfg.max_connections) => permit,
        };
        // The semaphore is never closed; `None` cannot happen, but must not spin.
        let Some(permit) = permit else { break };
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((socket, peer)) => {
                backoff = ACCEPT_BACKOFF_MIN;
                next_id = next_id.wrapping_add(1);
                let span = info_span!("socks", conn = next_id, %peer);
                let task = handle_client(socket, cfg.clone(), connector.clone());
                clients.spawn(
                    async move {
                        task.await;
                        drop(permit);
                    }
                    .instrument(span),
                );
            }
            Err(error) => {
                // Never give up (unlike i2pd, docs/socks.md "Listener"): fd exhaustion is usually
                // temporary.
                warn!(%error, retry_in = ?backoff, "accept failed");
                drop(permit);
                tokio::select! {
                    _ = &mut shutdown => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }
    debug!(clients = clients.len(), "SOCKS server stopping");
    clients.shutdown().await;
    Ok(())
}

/// Wait for a free client slot, logging once each time the cap is first hit.
async fn acquire_slot(
    slots: &Arc<Semaphore>,
    at_cap: &mut bool,
    max: usize,
) -> Option<OwnedSemaphorePermit> {
    if let Ok(permit) = slots.clone().try_acquire_owned() {
        *at_cap = false;
        return Some(permit);
    }
    if !*at_cap {
        warn!(
            max_connections = max,
            "connection limit reached; new clients wait until others disconnect"
        );
        *at_cap = true;
    }
    slots.clone().acquire_owned().await.ok()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::DuplexStream;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;
    use crate::socks::connector::ConnectError;

    /// Fails `errors` times with EMFILE, then accepts for real.
    struct Flaky {
        inner: TcpListener,
        errors: AtomicUsize,
        calls: Arc<AtomicUsize>,
    }

    impl Acceptor for Flaky {
        fn accept(&self) -> impl Future<Output = io::Result<(ClientConn, Peer)>> + Send {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let fail = self
                .errors
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            async move {
                if fail {
                    // EMFILE: "too many open files", the error that killed i2pd's loop (#937).
                    return Err(io::Error::from_raw_os_error(24));
                }
                Acceptor::accept(&self.inner).await
            }
        }
    }

    struct NoI2p;
    impl I2pConnector for NoI2p {
        type Stream = DuplexStream;
        async fn connect(&self, _: &str, _: u16, _: Vec<u8>) -> Result<DuplexStream, ConnectError> {
            Err(ConnectError::NotFound)
        }
    }

    #[tokio::test]
    async fn accepts_clients_after_accept_errors() -> Result<(), Box<dyn std::error::Error>> {
        let inner = bind("127.0.0.1:0".parse()?)?;
        let addr = inner.local_addr()?;
        let calls = Arc::new(AtomicUsize::new(0));
        let flaky = Flaky {
            inner,
            errors: AtomicUsize::new(3),
            calls: calls.clone(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_with(flaky, ServerConfig::new(addr), NoI2p, async {
            let _ = stopped.await;
        }));
        let mut client = TcpStream::connect(addr).await?;
        client.write_all(&[5, 1, 0]).await?;
        let mut reply = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(10), client.read_exact(&mut reply)).await??;
        assert_eq!(reply, [5, 0]);
        assert!(calls.load(Ordering::SeqCst) >= 4, "loop did not retry");
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(10), server).await???;
        Ok(())
    }
}

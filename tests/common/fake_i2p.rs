//! The SOCKS server over real loopback sockets with a fake I2P side: [`FakeI2p`] is an
//! `I2pConnector` that echoes, answers after the client's end of file, fails or never
//! finishes, and records every call; [`Proxy`] runs `i2psocks::socks::serve` with it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use i2psocks::socks::{ConnectError, I2pConnector, ServerConfig, bind, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::wait::within;

/// What a connect does.
#[derive(Clone)]
pub enum Behaviour {
    /// Echo every byte (the initial data first).
    Echo,
    /// Read the request until end of file, then answer with `n` bytes and close.
    RespondAfterEof(usize),
    /// Like `RespondAfterEof`, but the lookup takes this long first.
    SlowRespondAfterEof(Duration, usize),
    /// Fail with this error.
    Fail(ConnectError),
    /// Never finish; send on the channel when the future is dropped.
    Pending(mpsc::UnboundedSender<()>),
}

/// One connect as the fake saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The SOCKS5 user it was made for (`None`: the shared destination).
    pub user: Option<Vec<u8>>,
    pub name: String,
    pub port: u16,
    pub initial_data: Vec<u8>,
}

/// The fake I2P side; clones share the record of calls.
#[derive(Clone)]
pub struct FakeI2p {
    behaviour: Behaviour,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl FakeI2p {
    pub fn new(behaviour: Behaviour) -> Self {
        FakeI2p {
            behaviour,
            calls: Arc::default(),
        }
    }

    /// Every connect so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// `n` bytes of a known pattern: what `RespondAfterEof(n)` answers.
pub fn response_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| u8::try_from(i % 251).unwrap_or(0)).collect()
}

struct DropSignal(mpsc::UnboundedSender<()>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// The far end of a stream that reads the request to its end, then answers `n` bytes.
fn respond_after_eof(request: Vec<u8>, n: usize) -> DuplexStream {
    let (near, mut far) = duplex(64 * 1024);
    tokio::spawn(async move {
        let mut request = request;
        let _ = far.read_to_end(&mut request).await;
        let _ = far.write_all(&response_bytes(n)).await;
        let _ = far.shutdown().await;
    });
    near
}

impl I2pConnector for FakeI2p {
    type Stream = DuplexStream;

    fn connect(
        &self,
        name: &str,
        port: u16,
        initial_data: Vec<u8>,
    ) -> impl Future<Output = Result<DuplexStream, ConnectError>> + Send {
        self.connect_as(None, name, port, initial_data)
    }

    fn connect_as(
        &self,
        user: Option<Vec<u8>>,
        name: &str,
        port: u16,
        initial_data: Vec<u8>,
    ) -> impl Future<Output = Result<DuplexStream, ConnectError>> + Send {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Call {
                user,
                name: name.to_owned(),
                port,
                initial_data: initial_data.clone(),
            });
        let behaviour = self.behaviour.clone();
        async move {
            match behaviour {
                Behaviour::Fail(error) => Err(error),
                Behaviour::Pending(tx) => {
                    let _signal = DropSignal(tx);
                    std::future::pending::<()>().await;
                    Err(ConnectError::NotFound)
                }
                Behaviour::Echo => {
                    let (near, far) = duplex(64 * 1024);
                    tokio::spawn(async move {
                        let (mut r, mut w) = tokio::io::split(far);
                        let _ = w.write_all(&initial_data).await;
                        let _ = tokio::io::copy(&mut r, &mut w).await;
                        let _ = w.shutdown().await;
                    });
                    Ok(near)
                }
                Behaviour::SlowRespondAfterEof(lookup, n) => {
                    // Simulated lookup latency, not synchronisation: the result must be the
                    // same whenever the client's FIN arrives.
                    tokio::time::sleep(lookup).await;
                    Ok(respond_after_eof(initial_data, n))
                }
                Behaviour::RespondAfterEof(n) => Ok(respond_after_eof(initial_data, n)),
            }
        }
    }
}

/// `serve` running on 127.0.0.1 (an ephemeral port) until [`Proxy::stop`].
pub struct Proxy {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Proxy {
    /// Start the server with the default settings changed by `edit`.
    pub fn start(edit: impl FnOnce(&mut ServerConfig), connector: FakeI2p) -> Proxy {
        let listener =
            bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let mut cfg = ServerConfig::new(addr);
        edit(&mut cfg);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, cfg, connector, async move {
            let _ = stopped.await;
        }));
        Proxy {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Stop the server and check that it ended cleanly.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = within("serve to return", &mut self.task).await;
        assert!(
            matches!(result, Ok(Ok(()))),
            "serve ended badly: {result:?}"
        );
    }
}

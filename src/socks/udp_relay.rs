//! SOCKS5 UDP ASSOCIATE driver (RFC 1928 §4, §7): one UDP socket per association, bound to
//! the IP the client reached us on, living as long as the TCP control connection.
//!
//! The I2P side is a [`DatagramBackend`] (the app implements it over I2CP with repliable
//! datagrams; tests use an in-memory one). Each association gets its own I2P port from
//! [`DatagramBackend::open`]: we send from it, and datagrams addressed to it come back here.
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::connector::ConnectError;
use super::reply::ReplyCode;
use super::request::Request;
use super::udp::{ClientFilter, DropReason, UdpCounters, classify_datagram, encode_udp_datagram};
use crate::data::Destination;

/// Default cap on concurrent UDP associations.
pub const DEFAULT_MAX_ASSOCIATIONS: usize = 256;
/// Largest UDP datagram we can receive (IPv4/IPv6 without jumbograms).
const UDP_BUFFER: usize = 65_536;
/// Receive buffer asked for the relay socket.
const RELAY_RECV_BUFFER: usize = 1 << 20;
/// Names whose lookup is in flight per association, at most.
const MAX_PENDING_NAMES: usize = 16;
/// Datagrams waiting for one name's lookup, at most; later ones are dropped.
const MAX_PENDING_PER_NAME: usize = 32;
/// Resolved names kept per association.
const MAX_CACHED_NAMES: usize = 256;
/// Peers remembered per association for attributing raw datagrams.
const MAX_PEERS: usize = 256;
/// After a failed lookup, datagrams to that name are dropped for this long without asking
/// the router again.
const NEGATIVE_CACHE: std::time::Duration = std::time::Duration::from_secs(10);

/// A datagram from I2P for one association's port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingDatagram {
    /// The verified sender (repliable datagram, Datagram2), `None` for a raw datagram or a
    /// Datagram3.
    pub from: Option<Destination>,
    /// A Datagram3's sender: its destination hash only.
    pub from_hash: Option<[u8; 32]>,
    /// The sender's I2P port.
    pub from_port: u16,
    /// The data.
    pub payload: Vec<u8>,
}

/// One association's I2P port and its inbound queue; dropping it releases the port.
pub struct DatagramPort {
    /// Our I2P port: the source port of what we send, the destination port of replies.
    pub port: u16,
    /// Datagrams addressed to `port`.
    pub inbound: mpsc::Receiver<IncomingDatagram>,
    _lease: Box<dyn Send + Sync>,
}

impl DatagramPort {
    /// `lease` is dropped with the port (e.g. to unregister it).
    pub fn new(
        port: u16,
        inbound: mpsc::Receiver<IncomingDatagram>,
        lease: impl Send + Sync + 'static,
    ) -> Self {
        DatagramPort {
            port,
            inbound,
            _lease: Box::new(lease),
        }
    }
}

/// A name lookup in flight.
pub type ResolveFuture = Pin<Box<dyn Future<Output = Result<Destination, ConnectError>> + Send>>;

/// The I2P side of the UDP relay.
pub trait DatagramBackend: Send + Sync + 'static {
    /// Allocate an I2P port and its inbound queue; `None` if none is free.
    fn open(&self) -> Option<DatagramPort>;
    /// Resolve a `.i2p` / `.b32.i2p` name to a destination.
    fn resolve(&self, name: &str) -> ResolveFuture;
    /// Send one datagram; false if the I2P session did not take it.
    fn send(&self, from_port: u16, to: &Destination, to_port: u16, payload: &[u8]) -> bool;
    /// Largest payload one datagram may carry.
    fn max_payload(&self) -> usize;
}

/// UDP ASSOCIATE settings for the SOCKS server.
#[derive(Clone)]
pub struct UdpRelayConfig {
    backend: Arc<dyn DatagramBackend>,
    slots: Arc<Semaphore>,
    max_associations: usize,
}

impl std::fmt::Debug for UdpRelayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpRelayConfig")
            .field("max_associations", &self.max_associations)
            .finish_non_exhaustive()
    }
}

impl UdpRelayConfig {
    /// At most `max_associations` at once; further UDP ASSOCIATE requests get `05 01`.
    pub fn new(backend: Arc<dyn DatagramBackend>, max_associations: usize) -> Self {
        let max_associations = max_associations.max(1);
        UdpRelayConfig {
            backend,
            slots: Arc::new(Semaphore::new(max_associations)),
            max_associations,
        }
    }
}

/// A set-up association, ready to run once the success reply is sent.
pub(crate) struct Association {
    socket: UdpSocket,
    port: DatagramPort,
    filter: ClientFilter,
    backend: Arc<dyn DatagramBackend>,
    max_payload: usize,
    /// The association's place under `[socks] maxudpassociations`; given back before the
    /// "UDP association closed" line, so a client that reads that line (or a test that
    /// waits for it) can open a new association at once.
    slot: Option<OwnedSemaphorePermit>,
}

impl Association {
    /// Take a slot, bind the relay socket next to `control`'s local address and open an I2P
    /// port. The error is the SOCKS reply code to send.
    pub(crate) async fn open(
        control: &TcpStream,
        request: &Request,
        cfg: &UdpRelayConfig,
    ) -> Result<Association, ReplyCode> {
        let Ok(slot) = cfg.slots.clone().try_acquire_owned() else {
            warn!(
                max = cfg.max_associations,
                "UDP association limit reached; request refused"
            );
            return Err(ReplyCode::GeneralFailure);
        };
        let (local, peer) = match (control.local_addr(), control.peer_addr()) {
            (Ok(local), Ok(peer)) => (local, peer),
            _ => return Err(ReplyCode::GeneralFailure),
        };
        let socket = bind_relay(SocketAddr::new(local.ip(), 0)).map_err(|error| {
            warn!(%error, "cannot open a UDP relay socket");
            ReplyCode::GeneralFailure
        })?;
        let Some(port) = cfg.backend.open() else {
            warn!("no free I2P datagram port");
            return Err(ReplyCode::GeneralFailure);
        };
        Ok(Association {
            socket,
            port,
            filter: ClientFilter::new(peer.ip(), request.port),
            backend: cfg.backend.clone(),
            max_payload: cfg.backend.max_payload(),
            slot: Some(slot),
        })
    }

    /// The relay's address for the success reply.
    pub(crate) fn relay_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Relay until the control connection closes; returns the counters.
    pub(crate) async fn run(mut self, mut control: TcpStream) -> UdpCounters {
        let mut state = State::default();
        let mut buf = vec![0u8; UDP_BUFFER];
        let mut ctl = [0u8; 512];
        loop {
            tokio::select! {
                read = control.read(&mut ctl) => match read {
                    Ok(0) | Err(_) => break,
                    // RFC 1928 gives the control connection no further use; ignore bytes.
                    Ok(_) => {}
                },
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((n, from)) => {
                        let datagram = buf.get(..n).unwrap_or_default();
                        self.handle_client_datagram(&mut state, datagram, from);
                    }
                    // ICMP errors from earlier sends surface here; they end nothing.
                    Err(error) => debug!(%error, "UDP relay receive error"),
                },
                Some(incoming) = self.port.inbound.recv() => {
                    self.handle_i2p_datagram(&mut state, incoming).await;
                }
                Some(joined) = state.lookups.join_next(), if !state.lookups.is_empty() => {
                    if let Ok((name, result)) = joined {
                        self.resolved(&mut state, name, result);
                    }
                }
            }
        }
        let c = state.counters;
        drop(self.slot.take());
        info!(
            sent = c.sent,
            received = c.received,
            dropped_bad_header = c.bad_header,
            dropped_foreign_source = c.foreign_source,
            dropped_fragment = c.fragment,
            dropped_not_i2p = c.not_i2p,
            dropped_oversized = c.oversized,
            dropped_unresolved = c.unresolved,
            dropped_send_failed = c.send_failed,
            dropped_undeliverable = c.undeliverable,
            "UDP association closed"
        );
        c
    }

    fn handle_client_datagram(&mut self, state: &mut State, datagram: &[u8], from: SocketAddr) {
        if !self.filter.accept(from) {
            debug!(%from, "UDP datagram from a foreign source dropped");
            state.counters.count(DropReason::ForeignSource);
            return;
        }
        let out = match classify_datagram(datagram, self.max_payload) {
            Ok(out) => out,
            Err(why) => {
                debug!(?why, len = datagram.len(), "client UDP datagram dropped");
                state.counters.count(why);
                return;
            }
        };
        if let Some(dest) = state.cache.get(out.name).cloned() {
            self.send(state, &dest, out.port, out.data);
            return;
        }
        if state
            .failed
            .get(out.name)
            .is_some_and(|at| at.elapsed() < NEGATIVE_CACHE)
        {
            state.counters.unresolved += 1;
            return;
        }
        if let Some(waiting) = state.pending.get_mut(out.name) {
            if waiting.len() < MAX_PENDING_PER_NAME {
                waiting.push((out.port, out.data.to_vec()));
            } else {
                state.counters.unresolved += 1;
            }
            return;
        }
        if state.pending.len() >= MAX_PENDING_NAMES {
            state.counters.unresolved += 1;
            return;
        }
        let name = out.name.to_owned();
        state
            .pending
            .insert(name.clone(), vec![(out.port, out.data.to_vec())]);
        let lookup = self.backend.resolve(&name);
        state.lookups.spawn(async move { (name, lookup.await) });
    }

    fn resolved(
        &mut self,
        state: &mut State,
        name: String,
        result: Result<Destination, ConnectError>,
    ) {
        let waiting = state.pending.remove(&name).unwrap_or_default();
        match result {
            Ok(dest) => {
                for (port, data) in waiting {
                    self.send(state, &dest, port, &data);
                }
                if state.cache.len() < MAX_CACHED_NAMES {
                    state.cache.insert(name, dest);
                }
            }
            Err(error) => {
                debug!(%name, %error, "UDP destination not resolved");
                state.counters.unresolved += waiting.len() as u64;
                state.failed.retain(|_, at| at.elapsed() < NEGATIVE_CACHE);
                if state.failed.len() < MAX_CACHED_NAMES {
                    state.failed.insert(name, std::time::Instant::now());
                }
            }
        }
    }

    fn send(&mut self, state: &mut State, dest: &Destination, port: u16, data: &[u8]) {
        if self.backend.send(self.port.port, dest, port, data) {
            state.counters.sent += 1;
            if state.peers.len() < MAX_PEERS || state.peers.contains_key(&port) {
                state.peers.insert(port, dest.clone());
            }
        } else {
            state.counters.send_failed += 1;
        }
    }

    async fn handle_i2p_datagram(&mut self, state: &mut State, incoming: IncomingDatagram) {
        // A raw datagram names no sender: it is credited to the peer this association last
        // exchanged datagrams with on that port (i2pd's UDP tunnels answer in raw datagrams).
        // A Datagram3 names its sender by hash only: that is enough for the reply header.
        let sender = match (incoming.from, incoming.from_hash) {
            (Some(from), _) => {
                if state.peers.len() < MAX_PEERS || state.peers.contains_key(&incoming.from_port) {
                    state.peers.insert(incoming.from_port, from.clone());
                }
                Some(from.b32_address())
            }
            (None, Some(hash)) => Some(format!("{}.b32.i2p", crate::data::base32_encode(&hash))),
            (None, None) => state
                .peers
                .get(&incoming.from_port)
                .map(Destination::b32_address),
        };
        let (Some(name), Some(client)) = (sender, self.filter.client()) else {
            state.counters.undeliverable += 1;
            return;
        };
        let Some(datagram) =
            encode_udp_datagram(name.as_bytes(), incoming.from_port, &incoming.payload)
        else {
            state.counters.undeliverable += 1;
            return;
        };
        match self.socket.send_to(&datagram, client).await {
            Ok(_) => state.counters.received += 1,
            Err(error) => {
                debug!(%error, "UDP datagram to the client not sent");
                state.counters.undeliverable += 1;
            }
        }
    }
}

/// A non-blocking UDP socket with room for a burst of large datagrams (the default
/// receive buffer holds only a few 32 KiB datagrams).
fn bind_relay(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // The kernel caps this at net.core.rmem_max; a smaller buffer is not an error.
    let _ = socket.set_recv_buffer_size(RELAY_RECV_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Mutable state of a running association.
#[derive(Default)]
struct State {
    counters: UdpCounters,
    cache: HashMap<String, Destination>,
    /// Names whose lookup failed, and when.
    failed: HashMap<String, std::time::Instant>,
    pending: HashMap<String, Vec<(u16, Vec<u8>)>>,
    lookups: JoinSet<(String, Result<Destination, ConnectError>)>,
    /// Last peer per remote I2P port.
    peers: HashMap<u16, Destination>,
}

//! The tokio side of I2CP: one task per session owns the TCP connection and a
//! [`Session`], reconnects with back-off when the router goes away, and serves the
//! public [`I2cpHandle`].
//!
//! Per connection the task loops over one `select!`: read → [`Session::handle_bytes`]
//! (which answers RequestVariableLeaseSet before returning), write pending bytes, accept
//! commands and outgoing data, wake for the session's deadline. Outgoing data is only
//! taken while fewer than [`WRITE_HIGH_WATER`] bytes wait to be written, so a LeaseSet
//! answer never queues behind more than that, and reading never waits for writing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until, timeout};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::data::lease_set::LeaseSetEncKey;
use crate::data::{Destination, PrivateKeys, b32_hash};

use super::message::LookupQuery;
use super::payload::{self, Compression};
use super::session::{CloseReason, Event, LookupFailure, Now, Session, SessionError};

/// Stop taking outgoing data while this many bytes wait to be written.
pub const WRITE_HIGH_WATER: usize = 64 * 1024;
/// Outgoing messages buffered between [`I2cpHandle::send`] and the connection task.
pub const SEND_QUEUE_LEN: usize = 1024;
/// Inbound payloads buffered per subscriber before new ones are dropped.
pub const INBOUND_QUEUE_LEN: usize = 1024;
/// First reconnect delay; doubles up to `reconnect_max_delay`.
pub const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(250);
/// Give up a TCP connect attempt after this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// After DestroySession, wait this long for the router's SessionStatus 0 / close.
pub const DESTROY_LINGER: Duration = Duration::from_secs(2);
/// SessionStatus 3 or 4 this many times in a row ends the retrying: once can be an old
/// session of ours the router has not finished closing, three times (over about two
/// seconds of back-off) is another client holding the destination or options the router
/// will not take.
pub const REFUSALS_BEFORE_GIVING_UP: u32 = 3;

/// Options sent unless the caller sets them (docs/i2cp.md "Options i2psocks sends"):
/// no floodfill publication, no "accepted" statuses, and for Java routers fast receive
/// and ECIES-X25519 (the only key our LeaseSet publishes); i2pd ignores the last two.
pub const DEFAULT_OPTIONS: [(&str, &str); 4] = [
    ("i2cp.dontPublishLeaseSet", "true"),
    ("i2cp.fastReceive", "true"),
    ("i2cp.leaseSetEncType", "4"),
    ("i2cp.messageReliability", "none"),
];

/// How to reach the router and what session to create.
#[derive(Clone)]
pub struct I2cpClientConfig {
    /// `[i2cp] address` of the router (i2pd default 127.0.0.1).
    pub address: String,
    /// `[i2cp] port` (i2pd default 7654).
    pub port: u16,
    /// The session's destination and signing key.
    pub keys: Arc<PrivateKeys>,
    /// SessionConfig options; [`DEFAULT_OPTIONS`] are added for keys not given here.
    pub options: Vec<(String, String)>,
    /// Client-side limit for HostLookup (i2pd ignores the field).
    pub lookup_timeout: Duration,
    /// Cap of the exponential reconnect back-off (30 s recommended).
    pub reconnect_max_delay: Duration,
    /// `[i2cp] enabled` as read from i2pd.conf, to word the "refused" error.
    pub i2cp_enabled_in_config: bool,
}

/// Why the session is not available; `Display` is the message for the user.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DownReason {
    /// TCP connect refused while the config says I2CP is enabled. The router is unknown
    /// here (nothing answered), so both routers' settings are named.
    #[error(
        "cannot reach the router's I2CP server at {addr}: is the router running with I2CP on? \
         (i2pd: [i2cp] enabled = true, address and port in i2pd.conf; Java I2P: the \"I2CP\" \
         client enabled in the console, or i2cp.disableInterface=false, i2cp.hostname and \
         i2cp.port in router.config)"
    )]
    Unreachable {
        /// `address:port`.
        addr: String,
    },
    /// TCP connect refused and the config says I2CP is off.
    #[error(
        "i2pd's I2CP server is off: set [i2cp] enabled = true in i2pd.conf and restart i2pd \
         (with Java I2P instead: enable the \"I2CP\" client in the console, or set \
         i2cp.disableInterface=false in router.config)"
    )]
    I2cpDisabled,
    /// Another connect failure (timeout, no route…).
    #[error("cannot connect to the router's I2CP server at {addr}: {error}")]
    ConnectFailed {
        /// `address:port`.
        addr: String,
        /// The OS error.
        error: String,
    },
    /// SessionStatus 3.
    #[error(
        "the router refused the session (status 3): another process may be using this keys file's destination, or an old session is still closing"
    )]
    SessionInvalid,
    /// SessionStatus 4 or another code.
    #[error("the router refused the session (status {0})")]
    SessionRefused(u8),
    /// The router refused the session on purpose and retrying would not help: a Disconnect
    /// before the session existed (Java I2P), or SessionStatus 3/4 to
    /// [`REFUSALS_BEFORE_GIVING_UP`] attempts in a row. The session stays down for good.
    #[error("the router refused the session: {reason}; {advice}")]
    RouterRefused {
        /// What the router said, in its words where it gave any.
        reason: String,
        /// What to change.
        advice: String,
    },
    /// The router ended the session or the connection (EOF, Disconnect, status 0,
    /// protocol error).
    #[error("lost the router's I2CP session: {0}")]
    Lost(String),
    /// [`I2cpHandle::shutdown`] was called or every handle was dropped.
    #[error("the I2CP client was shut down")]
    ShutDown,
}

/// What the session is doing now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Connecting or waiting for the first LeaseSet request.
    Connecting,
    /// Usable: the first LeaseSet was sent.
    Ready,
    /// Not usable; reconnecting in the background unless the reason is `ShutDown`.
    Down(DownReason),
}

/// A lookup that produced no destination.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum LookupError {
    /// The session is down (router unreachable, restarting…).
    #[error("{0}")]
    RouterDown(DownReason),
    /// The session did not become ready within the lookup timeout.
    #[error("the I2CP session is not ready yet (waiting for the router's tunnels)")]
    NotReady,
    /// The router could not resolve the name or find its LeaseSet.
    #[error("{0}: not found by the router")]
    NotFound(String),
    /// No answer within the lookup timeout.
    #[error("{0}: lookup timed out")]
    TimedOut(String),
    /// The router answered a hash lookup with a different destination.
    #[error("{0}: the router returned a destination with a different hash")]
    BadReply(String),
    /// The name cannot be sent (empty or longer than 255 bytes).
    #[error("invalid host name {0:?}")]
    InvalidName(String),
}

/// An outgoing message that could not be queued.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SendError {
    /// The session is down.
    #[error("{0}")]
    RouterDown(DownReason),
    /// The session is still starting.
    #[error("the I2CP session is not ready yet")]
    NotReady,
    /// The bounded send queue is full (the router is not keeping up).
    #[error("the I2CP send queue is full")]
    QueueFull,
    /// The wrapped payload does not fit one I2CP message.
    #[error("payload of {0} bytes is too large for one I2CP message")]
    TooLarge(usize),
}

/// A received payload for one protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inbound {
    /// Source port from the gzip header (i2pd always sends 0).
    pub from_port: u16,
    /// Destination port from the gzip header (i2pd always sends 0).
    pub to_port: u16,
    /// The inflated payload.
    pub payload: Vec<u8>,
}

enum Command {
    Lookup {
        query: LookupQuery,
        name: String,
        reply: oneshot::Sender<Result<Destination, LookupError>>,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

struct Outgoing {
    to: Destination,
    wrapped: Vec<u8>,
}

/// Who receives the payloads of each protocol number: shared by the handles (which
/// subscribe) and the session task (which delivers).
#[derive(Clone, Default)]
struct Subscribers(Arc<Mutex<HashMap<u8, mpsc::Sender<Inbound>>>>);

impl Subscribers {
    /// The map, also after a panic while it was held: every change to it is a single
    /// insert or remove, so it is never left half-changed. Skipping it instead would drop
    /// every payload and subscription of the session from then on.
    fn lock(&self) -> MutexGuard<'_, HashMap<u8, mpsc::Sender<Inbound>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new receiver for `protocol`, replacing any earlier one.
    fn subscribe(&self, protocol: u8) -> mpsc::Receiver<Inbound> {
        let (tx, rx) = mpsc::channel(INBOUND_QUEUE_LEN);
        self.lock().insert(protocol, tx);
        rx
    }

    /// Hand `inbound` to the subscriber of `protocol` without waiting: the session task
    /// also answers LeaseSet requests and must never block here.
    fn deliver(&self, protocol: u8, inbound: Inbound) {
        let mut subs = self.lock();
        let Some(tx) = subs.get(&protocol) else {
            debug!(protocol, "no subscriber for protocol; payload dropped");
            return;
        };
        match tx.try_send(inbound) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                debug!(protocol, "subscriber queue full; payload dropped");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                subs.remove(&protocol);
            }
        }
    }
}

/// Handle to one I2CP session; cheap to clone. The session lives until
/// [`shutdown`](Self::shutdown) or until every handle is dropped.
#[derive(Clone)]
pub struct I2cpHandle {
    cmd_tx: mpsc::Sender<Command>,
    data_tx: mpsc::Sender<Outgoing>,
    status_rx: watch::Receiver<SessionState>,
    subscribers: Subscribers,
    destination: Destination,
    lookup_timeout: Duration,
    sessions_created: Arc<AtomicU64>,
}

/// Start a session in the background and return at once; watch
/// [`I2cpHandle::status`] for `Ready`. Must be called inside a tokio runtime.
/// Each call makes its own connection and session (i2pd: one session per connection).
pub async fn start(cfg: I2cpClientConfig) -> I2cpHandle {
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let (data_tx, data_rx) = mpsc::channel(SEND_QUEUE_LEN);
    let (status_tx, status_rx) = watch::channel(SessionState::Connecting);
    let subscribers = Subscribers::default();
    let sessions_created = Arc::new(AtomicU64::new(0));
    let handle = I2cpHandle {
        cmd_tx,
        data_tx,
        status_rx,
        subscribers: subscribers.clone(),
        destination: cfg.keys.destination().clone(),
        lookup_timeout: cfg.lookup_timeout,
        sessions_created: sessions_created.clone(),
    };
    let task = SessionTask {
        cfg,
        cmd_rx,
        data_rx,
        status_tx,
        subscribers,
        sessions_created,
    };
    // One span per session so its log lines can be told apart (several sessions per process).
    let span = info_span!("i2cp", dest = %short_b32(&handle.destination));
    tokio::spawn(task.run().instrument(span));
    handle
}

impl I2cpHandle {
    /// Our destination (the one in the keys).
    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    /// How many times the router accepted CreateSession (SessionStatus 1) for this
    /// handle: 1 after the first start, +1 per successful reconnect.
    pub fn sessions_created(&self) -> u64 {
        self.sessions_created.load(Ordering::Relaxed)
    }

    /// Current state and its changes.
    pub fn status(&self) -> watch::Receiver<SessionState> {
        self.status_rx.clone()
    }

    /// Resolve a `.b32.i2p` name (decoded locally, looked up by hash) or any other name
    /// through the router's address book. Fails fast while the router is down.
    pub async fn lookup_name(&self, name: &str) -> Result<Destination, LookupError> {
        let query = match b32_hash(name) {
            Some(hash) => LookupQuery::Hash(hash),
            None if name.is_empty() || name.len() > 255 => {
                return Err(LookupError::InvalidName(name.to_string()));
            }
            None => LookupQuery::Name(name.to_string()),
        };
        self.wait_ready().await?;
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Lookup {
            query,
            name: name.to_string(),
            reply,
        };
        if self.cmd_tx.send(cmd).await.is_err() {
            return Err(LookupError::RouterDown(DownReason::ShutDown));
        }
        // The session enforces the timeout; the outer bound only guards against a lost task.
        match timeout(self.lookup_timeout + Duration::from_secs(1), rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(LookupError::RouterDown(self.down_reason())),
            Err(_) => Err(LookupError::TimedOut(name.to_string())),
        }
    }

    /// Queue a payload for `to` without blocking. The payload is wrapped (gzip, stored
    /// block) here, in the caller's task.
    pub fn send(
        &self,
        to: &Destination,
        protocol: u8,
        src_port: u16,
        dst_port: u16,
        payload: &[u8],
    ) -> Result<(), SendError> {
        self.send_with(
            to,
            protocol,
            src_port,
            dst_port,
            payload,
            Compression::Stored,
        )
    }

    /// Like [`send`](Self::send) but choosing the compression, e.g.
    /// [`Compression::Deflate`] for streaming SYNs (their FROM destination compresses well).
    pub fn send_with(
        &self,
        to: &Destination,
        protocol: u8,
        src_port: u16,
        dst_port: u16,
        payload: &[u8],
        compression: Compression,
    ) -> Result<(), SendError> {
        match &*self.status_rx.borrow() {
            SessionState::Ready => {}
            SessionState::Connecting => return Err(SendError::NotReady),
            SessionState::Down(reason) => return Err(SendError::RouterDown(reason.clone())),
        }
        let wrapped = payload::encode(protocol, src_port, dst_port, payload, compression);
        // sid 2 + destination + length 4 + nonce 4 must fit the 65535-byte body.
        let body = 2 + to.as_bytes().len() + 4 + wrapped.len() + 4;
        if body > super::framing::MAX_BODY_LEN {
            return Err(SendError::TooLarge(payload.len()));
        }
        let msg = Outgoing {
            to: to.clone(),
            wrapped,
        };
        self.data_tx.try_send(msg).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => SendError::QueueFull,
            mpsc::error::TrySendError::Closed(_) => SendError::RouterDown(DownReason::ShutDown),
        })
    }

    /// Receive payloads of one [`protocol`](super::protocol) number. A second call for
    /// the same protocol replaces the first receiver. Payloads for a protocol nobody
    /// subscribed to, or for a full receiver, are dropped (the sender retransmits).
    pub fn subscribe(&self, protocol: u8) -> mpsc::Receiver<Inbound> {
        self.subscribers.subscribe(protocol)
    }

    /// Destroy the session and stop reconnecting. Returns when the task has finished.
    pub async fn shutdown(&self) {
        let (done, rx) = oneshot::channel();
        if self.cmd_tx.send(Command::Shutdown { done }).await.is_ok() {
            let _ = rx.await;
        }
    }

    fn down_reason(&self) -> DownReason {
        match &*self.status_rx.borrow() {
            SessionState::Down(reason) => reason.clone(),
            _ => DownReason::Lost("the connection to the router ended".into()),
        }
    }

    /// Wait for Ready while Connecting, for twice the lookup timeout (i2pd asks for the
    /// LeaseSet 3-14 s after CreateSession, later when it is busy starting many sessions, as
    /// with `--isolate` and many new users at once); fail at once when Down.
    async fn wait_ready(&self) -> Result<(), LookupError> {
        let mut rx = self.status_rx.clone();
        let wait = rx.wait_for(|s| !matches!(s, SessionState::Connecting));
        match timeout(self.lookup_timeout * 2, wait).await {
            Err(_) => Err(LookupError::NotReady),
            Ok(Err(_)) => Err(LookupError::RouterDown(DownReason::ShutDown)),
            Ok(Ok(state)) => match &*state {
                SessionState::Ready => Ok(()),
                SessionState::Down(reason) => Err(LookupError::RouterDown(reason.clone())),
                SessionState::Connecting => Err(LookupError::NotReady),
            },
        }
    }
}

/// How one connection ended.
struct ConnectionEnd {
    reason: DownReason,
    was_ready: bool,
    shutdown: Option<oneshot::Sender<()>>,
    /// Set when the router refused CreateSession (rather than the connection failing).
    refusal: Option<Refusal>,
}

/// How the router answered CreateSession when it did not create the session.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Refusal {
    /// Disconnect before any SessionStatus (Java I2P's way of refusing).
    Disconnect(String),
    /// SessionStatus 3 (invalid).
    Invalid,
    /// SessionStatus 4 (refused) or an unknown code.
    Refused(u8),
}

impl Refusal {
    /// Whether to stop retrying after `in_a_row` refusals. A Disconnect before the first
    /// session is final at once: retrying "duplicate destination" makes Java I2P 2.7 accept
    /// the second client and silently cut off the first one.
    fn is_final(&self, in_a_row: u32, ever_ready: bool) -> bool {
        match self {
            Refusal::Disconnect(_) if !ever_ready => true,
            _ => in_a_row >= REFUSALS_BEFORE_GIVING_UP,
        }
    }

    /// The message for the user: the router's reason and what to change.
    fn down_reason(&self) -> DownReason {
        let (reason, advice) = match self {
            Refusal::Disconnect(why) => (
                format!("Disconnect \"{why}\" before the session was created"),
                disconnect_advice(why),
            ),
            Refusal::Invalid => (
                format!("SessionStatus 3 (invalid), {REFUSALS_BEFORE_GIVING_UP} times in a row"),
                "another client is connected to the router with this destination (a second \
                 i2psocks, or a tunnel using a copy of the same keys file): stop it or give \
                 one of them other keys; otherwise the router's log says what it rejected"
                    .to_string(),
            ),
            Refusal::Refused(code) => (
                format!(
                    "SessionStatus {code} (refused), {REFUSALS_BEFORE_GIVING_UP} times in a row"
                ),
                "the router is at a session limit or does not accept the session options; \
                 its log says which"
                    .to_string(),
            ),
        };
        DownReason::RouterRefused { reason, advice }
    }
}

/// What to change for a Disconnect reason. The texts matched are Java I2P 2.7's
/// (router/java/src/net/i2p/router/client/ClientConnectionRunner.java and
/// ClientMessageEventListener.java); i2pd answers with SessionStatus instead.
fn disconnect_advice(why: &str) -> String {
    let lower = why.to_ascii_lowercase();
    if lower.contains("duplicate") {
        "another client is connected to the router with this destination (a second i2psocks, \
         or a tunnel using a copy of the same keys file): stop it or give one of them other keys"
            .to_string()
    } else if lower.contains("encryption type") || lower.contains("key certificate") {
        "the keys file's destination names an encryption type in its key certificate (type 4, \
         X25519, as i2pd may create) that Java I2P does not accept; use a keys file with \
         encryption type 0 (i2psocks creates those: move the file away and a new one, with a \
         new address, is made), or use i2pd"
            .to_string()
    } else {
        "the router's log says why; fix that and start i2psocks again".to_string()
    }
}

struct SessionTask {
    cfg: I2cpClientConfig,
    cmd_rx: mpsc::Receiver<Command>,
    data_rx: mpsc::Receiver<Outgoing>,
    status_tx: watch::Sender<SessionState>,
    subscribers: Subscribers,
    sessions_created: Arc<AtomicU64>,
}

impl SessionTask {
    fn addr(&self) -> String {
        // An IPv6 literal needs brackets before the port.
        if self.cfg.address.contains(':') && !self.cfg.address.starts_with('[') {
            format!("[{}]:{}", self.cfg.address, self.cfg.port)
        } else {
            format!("{}:{}", self.cfg.address, self.cfg.port)
        }
    }

    async fn run(mut self) {
        let max_delay = self.cfg.reconnect_max_delay.max(Duration::from_millis(1));
        let mut delay = RECONNECT_MIN_DELAY.min(max_delay);
        let mut warned = RepeatWarning::default();
        let mut ever_ready = false;
        let mut refusals = 0;
        loop {
            self.set_status(SessionState::Connecting);
            let end = match self.connect().await {
                Ok(stream) => self.run_connection(stream).await,
                Err(reason) => ConnectionEnd {
                    reason,
                    was_ready: false,
                    shutdown: None,
                    refusal: None,
                },
            };
            self.discard_queued_data();
            if let Some(done) = end.shutdown {
                self.set_status(SessionState::Down(DownReason::ShutDown));
                let _ = done.send(());
                return;
            }
            if end.reason == DownReason::ShutDown {
                self.set_status(SessionState::Down(DownReason::ShutDown));
                return;
            }
            if end.was_ready {
                ever_ready = true;
                delay = RECONNECT_MIN_DELAY.min(max_delay);
            }
            refusals = if end.refusal.is_some() {
                refusals + 1
            } else {
                0
            };
            if let Some(refusal) = end.refusal.filter(|r| r.is_final(refusals, ever_ready)) {
                self.stay_refused(refusal.down_reason()).await;
                return;
            }
            if warned.should_warn(&end.reason, Instant::now()) {
                warn!(reason = %end.reason, retry_in = ?delay, "I2CP session down");
            } else {
                debug!(reason = %end.reason, retry_in = ?delay, "I2CP session down");
            }
            self.set_status(SessionState::Down(end.reason));
            if let Some(done) = self.wait_backoff(delay).await {
                self.set_status(SessionState::Down(DownReason::ShutDown));
                let _ = done.send(());
                return;
            }
            delay = (delay * 2).min(max_delay);
        }
    }

    /// The router refused the session for good: fail every command with that reason until
    /// shutdown (no reconnecting). The owner of the handle says it to the user, once.
    async fn stay_refused(&mut self, reason: DownReason) {
        debug!(%reason, "I2CP session refused; not reconnecting");
        self.set_status(SessionState::Down(reason));
        if let Some(done) = self.wait_backoff(Duration::MAX).await {
            let _ = done.send(());
        }
    }

    fn set_status(&self, state: SessionState) {
        self.status_tx.send_replace(state);
    }

    fn discard_queued_data(&mut self) {
        // Payloads queued for the old session are stale; streaming retransmits.
        while self.data_rx.try_recv().is_ok() {}
    }

    /// Sleep before reconnecting while failing commands fast. Returns the shutdown
    /// acknowledgement if a shutdown was asked for.
    async fn wait_backoff(&mut self, delay: Duration) -> Option<oneshot::Sender<()>> {
        // `Duration::MAX` waits for a command only (no deadline instant can hold it).
        let until = Instant::now().checked_add(delay);
        loop {
            tokio::select! {
                _ = sleep_until(until.unwrap_or_else(Instant::now)), if until.is_some() => return None,
                cmd = self.cmd_rx.recv() => match cmd {
                    None => {
                        let (tx, _rx) = oneshot::channel();
                        return Some(tx);
                    }
                    Some(Command::Shutdown { done }) => return Some(done),
                    Some(Command::Lookup { reply, .. }) => {
                        let reason = match &*self.status_tx.borrow() {
                            SessionState::Down(r) => r.clone(),
                            _ => DownReason::Lost("reconnecting".into()),
                        };
                        let _ = reply.send(Err(LookupError::RouterDown(reason)));
                    }
                },
            }
        }
    }

    async fn connect(&self) -> Result<TcpStream, DownReason> {
        let addr = self.addr();
        debug!(%addr, "connecting to the router's I2CP server");
        let stream = match timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr)).await {
            Err(_) => {
                return Err(DownReason::ConnectFailed {
                    addr,
                    error: "connection timed out".into(),
                });
            }
            Ok(Err(err)) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(if self.cfg.i2cp_enabled_in_config {
                    DownReason::Unreachable { addr }
                } else {
                    DownReason::I2cpDisabled
                });
            }
            Ok(Err(err)) => {
                return Err(DownReason::ConnectFailed {
                    addr,
                    error: err.to_string(),
                });
            }
            Ok(Ok(stream)) => stream,
        };
        // Small frames must not wait for Nagle (docs/i2cp.md "Pitfall: Nagle on i2pd's socket").
        if let Err(err) = stream.set_nodelay(true) {
            debug!(%err, "cannot set TCP_NODELAY on the I2CP socket");
        }
        quickack(&stream);
        Ok(stream)
    }

    async fn run_connection(&mut self, stream: TcpStream) -> ConnectionEnd {
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

/// Whether a close before SessionStatus 1 was the router refusing CreateSession.
fn refusal(reason: &CloseReason) -> Option<Refusal> {
    match reason {
        CloseReason::Invalid => Some(Refusal::Invalid),
        CloseReason::Refused(code) => Some(Refusal::Refused(*code)),
        CloseReason::Disconnected(why) => Some(Refusal::Disconnect(why.clone())),
        _ => None,
    }
}

fn down_reason(reason: CloseReason, shutting_down: bool) -> DownReason {
    match reason {
        CloseReason::Destroyed if shutting_down => DownReason::ShutDown,
        CloseReason::Invalid => DownReason::SessionInvalid,
        CloseReason::Refused(code) => DownReason::SessionRefused(code),
        CloseReason::Destroyed => DownReason::Lost("the router destroyed the session".into()),
        CloseReason::Disconnected(why) => {
            DownReason::Lost(format!("router sent Disconnect: {why}"))
        }
        CloseReason::Protocol(why) => DownReason::Lost(format!("protocol error: {why}")),
        CloseReason::SetupTimeout => DownReason::Lost(SETUP_UNANSWERED.into()),
        CloseReason::ConnectionLost(why) => DownReason::Lost(why),
        CloseReason::Local(why) => DownReason::Lost(why),
    }
}

/// Why a session set-up timed out and what to do. The connection was accepted, so the
/// router's I2CP server thread is alive enough to listen but not to answer: it is stuck.
/// i2pd 2.57.0 to 2.59.0 deadlock this way with zero-hop tunnels: `TunnelPool::TestTunnels`
/// (libi2pd/TunnelPool.cpp) holds the pool's tunnel mutex while it creates a replacement for
/// the last tunnel that failed its test twice, a zero-hop tunnel is established at once, and
/// `TunnelPool::TunnelCreated` takes the same mutex again; the I2CP thread then blocks on it
/// too. Nothing but a router restart ends it (RELIABILITY.md "Soak against i2pd 2.59.0").
const SETUP_UNANSWERED: &str = "the router did not answer the session set-up (its I2CP \
     server accepts connections but answers nothing: the router is stuck; i2pd 2.57 to 2.59 \
     with inbound.length or outbound.length = 0 deadlock under load; restart the router and \
     use tunnels of 1 hop or more)";

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

/// Caller options plus [`DEFAULT_OPTIONS`] for keys the caller did not set. A key given
/// twice keeps its last value (a Mapping holds each key once).
pub fn merged_options(user: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = DEFAULT_OPTIONS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (key, value) in user {
        match out.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.clone(),
            None => out.push((key.clone(), value.clone())),
        }
    }
    out
}

/// First 8 characters of the b32 address, enough to tell sessions apart in logs.
fn short_b32(dest: &Destination) -> String {
    dest.b32_address().chars().take(8).collect()
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

/// The same failure repeated every reconnect attempt (up to once a second while the router
/// is stopped) is logged at WARN once, and again every [`REPEAT_WARNING_EVERY`].
const REPEAT_WARNING_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct RepeatWarning {
    last: Option<(DownReason, Instant)>,
}

impl RepeatWarning {
    fn should_warn(&mut self, reason: &DownReason, now: Instant) -> bool {
        let repeat = self.last.as_ref().is_some_and(|(last, at)| {
            last == reason && now.saturating_duration_since(*at) < REPEAT_WARNING_EVERY
        });
        if !repeat {
            self.last = Some((reason.clone(), now));
        }
        !repeat
    }
}

/// Re-arm TCP_QUICKACK so our ACKs are not delayed 40 ms while i2pd's Nagle waits for
/// them (docs/i2cp.md "Pitfall: Nagle on i2pd's socket"). Linux only; harmless to skip elsewhere.
fn quickack(stream: &TcpStream) {
    #[cfg(target_os = "linux")]
    {
        let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = stream;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Poison the map's lock the way a panicking holder would.
    fn poison(subscribers: &Subscribers) {
        let held = subscribers.clone();
        let joined = std::thread::spawn(move || {
            let _guard = held.0.lock();
            panic!("poisoning the subscriber map on purpose");
        })
        .join();
        assert!(joined.is_err());
        assert!(subscribers.0.is_poisoned());
    }

    #[test]
    fn a_poisoned_subscriber_map_still_subscribes_and_delivers() {
        let subscribers = Subscribers::default();
        poison(&subscribers);
        let mut rx = subscribers.subscribe(6);
        let inbound = Inbound {
            from_port: 1,
            to_port: 2,
            payload: b"after the poison".to_vec(),
        };
        subscribers.deliver(6, inbound.clone());
        assert_eq!(rx.try_recv(), Ok(inbound));
        // A dropped receiver is still forgotten under a poisoned lock.
        drop(rx);
        subscribers.deliver(
            6,
            Inbound {
                from_port: 0,
                to_port: 0,
                payload: vec![],
            },
        );
        assert!(subscribers.lock().is_empty());
    }

    #[test]
    fn a_repeated_down_reason_warns_once_a_minute() {
        let t0 = Instant::now();
        let refused = DownReason::Unreachable {
            addr: "127.0.0.1:7654".into(),
        };
        let mut w = RepeatWarning::default();
        assert!(w.should_warn(&refused, t0));
        assert!(!w.should_warn(&refused, t0 + Duration::from_secs(1)));
        assert!(!w.should_warn(&refused, t0 + Duration::from_secs(59)));
        assert!(w.should_warn(&refused, t0 + Duration::from_secs(60)));
        let lost = DownReason::Lost("the router closed the connection".into());
        assert!(
            w.should_warn(&lost, t0 + Duration::from_secs(61)),
            "a new reason"
        );
        assert!(
            w.should_warn(&refused, t0 + Duration::from_secs(62)),
            "changed back"
        );
    }

    #[test]
    fn an_unanswered_set_up_says_the_router_is_stuck_and_what_to_do() {
        let reason = down_reason(CloseReason::SetupTimeout, false).to_string();
        assert!(
            reason.contains("did not answer the session set-up"),
            "{reason}"
        );
        assert!(reason.contains("restart the router"), "{reason}");
        assert!(reason.contains("length = 0"), "{reason}");
    }

    #[test]
    fn user_options_override_defaults_and_duplicates_keep_last() {
        let user = vec![
            ("i2cp.dontPublishLeaseSet".to_string(), "false".to_string()),
            ("inbound.length".to_string(), "1".to_string()),
            ("inbound.length".to_string(), "0".to_string()),
        ];
        let merged = merged_options(&user);
        let get = |k: &str| {
            merged
                .iter()
                .filter(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("i2cp.dontPublishLeaseSet"), vec!["false"]);
        assert_eq!(get("inbound.length"), vec!["0"]);
        assert_eq!(get("i2cp.messageReliability"), vec!["none"]);
        assert_eq!(merged.len(), 5);
    }
}

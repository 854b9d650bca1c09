//! [`start`] and the public [`I2cpHandle`]: what the upper layers call. The handle only
//! queues commands and data for the session task ([`super::task`]) and watches its state.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::timeout;
use tracing::{Instrument, info_span};

use crate::data::{Destination, b32_hash};
use crate::i2cp::framing::MAX_BODY_LEN;
use crate::i2cp::message::LookupQuery;
use crate::i2cp::payload::{self, Compression};

use super::state::{DownReason, LookupError, SendError, SessionState};
use super::subscribers::{Inbound, Subscribers};
use super::task::SessionTask;
use super::{I2cpClientConfig, SEND_QUEUE_LEN};

pub(super) enum Command {
    Lookup {
        query: LookupQuery,
        name: String,
        reply: oneshot::Sender<Result<Destination, LookupError>>,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

pub(super) struct Outgoing {
    pub(super) to: Destination,
    pub(super) wrapped: Vec<u8>,
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
        if body > MAX_BODY_LEN {
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

    /// Receive payloads of one [`protocol`](crate::i2cp::protocol) number. A second call for
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

    /// Wait for Ready while Connecting, for [`SESSION_START_WAIT`] times the lookup timeout;
    /// fail at once when Down.
    async fn wait_ready(&self) -> Result<(), LookupError> {
        let mut rx = self.status_rx.clone();
        let wait = rx.wait_for(|s| !matches!(s, SessionState::Connecting));
        match timeout(self.lookup_timeout * SESSION_START_WAIT, wait).await {
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

/// How many lookup timeouts a request waits for a session that is still starting. i2pd asks
/// for the LeaseSet once the new destination's tunnels are built: 3-14 s after
/// CreateSession on a quiet router; 9-40 s (median 20 s) for a returning user's session on
/// i2pd 2.59.0 with 1-hop tunnels at load 3-10 on 2 cores (RELIABILITY.md, "Logins with
/// isolation in the soak"); longer when it starts many sessions at once. Twice the default
/// 15 s failed a returning user's request half a second before his session came up, the
/// fifth of eight reopened sessions in that soak; a failure then gains nothing, the
/// client's next try waits for the same start.
pub const SESSION_START_WAIT: u32 = 4;

/// First 8 characters of the b32 address, enough to tell sessions apart in logs.
fn short_b32(dest: &Destination) -> String {
    dest.b32_address().chars().take(8).collect()
}

//! The running proxy: wires the layers together.
//!
//! SOCKS front end → `Connector` → name lookup over I2CP → a stream from the
//! streaming driver, whose packets travel as I2CP payloads (protocol 6).
//! UDP ASSOCIATE → `DatagramHub` → repliable datagrams (protocol 17) from our destination;
//! received protocol 17 (verified) and 18 (raw) payloads go to the association owning the
//! destination port.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::UdpFormat;
use crate::config::{Config, KeysSpec};
use crate::data::datagram::{
    MAX_DATAGRAM3_PAYLOAD, Prelude, decode_datagram2, decode_datagram3, decode_repliable,
    encode_datagram2, encode_datagram3, encode_repliable, max_datagram2_payload,
    max_repliable_payload,
};
use crate::data::keys_file::{self, KeysFileError, KeysLock};
use crate::data::{Destination, PrivateKeys, b32_hash, b33_needs_key};
use crate::detour::{DetourFactory, DetourPolicy, Detours, Outcome};
use crate::first_contact::{Contacted, FirstContactPacer};
use crate::i2cp::protocol::{
    DATAGRAM as PROTO_DATAGRAM, DATAGRAM2 as PROTO_DATAGRAM2, DATAGRAM3 as PROTO_DATAGRAM3,
    RAW as PROTO_RAW, STREAMING as PROTO_STREAMING,
};
use crate::i2cp::{self, Compression, I2cpHandle, LookupError};
use crate::isolation::{self, Lease, Pool, PoolError, SessionFactory};
use crate::socks::{
    self, AuthPolicy, BindError, ConnectError, DatagramBackend, DatagramPort, I2pConnector,
    I2pOutproxies, IncomingDatagram, ResolveFuture, ServerConfig, UdpRelayConfig, VirtualAddrs,
};
use crate::streaming::half_close::DeferredClose;
use crate::streaming::{self, Flags, Packet, PacketSink, StreamHandle, StreamingHandle};

/// Lowest I2P port handed to a UDP association (ports are FIRST..=65535, picked at random).
const FIRST_DATAGRAM_PORT: u16 = 1024;
/// Datagrams queued per association before further ones are dropped.
const ASSOCIATION_QUEUE: usize = 512;

/// After a client half-closes, how long the peer may stay silent before we close the stream.
const HALF_CLOSE_LINGER: Duration = Duration::from_secs(10);

/// A SYN unanswered this long counts as a miss towards a detour (the SYN's first
/// retransmission is due after 3 s, the initial RTO).
const SYN_PATIENCE: Duration = Duration::from_secs(4);
/// An answered stream whose packets then go unacknowledged through this many timeouts in a
/// row counts as a miss too (its server may have vanished mid-stream).
const STALL_TIMEOUTS: u32 = 2;
/// How often an answered stream is checked for that.
const STALL_CHECK_PERIOD: Duration = Duration::from_secs(2);
/// How often detours past their window are closed.
const DETOUR_REAP_PERIOD: Duration = Duration::from_secs(30);

/// Why the proxy could not start or stopped with an error.
#[derive(Debug, Error)]
pub enum RunError {
    /// The keys file could not be loaded or created.
    #[error(transparent)]
    Keys(#[from] KeysFileError),
    /// Transient keys could not be generated.
    #[error("cannot generate transient keys: {0}")]
    Transient(crate::data::DataError),
    /// The SOCKS port could not be opened.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The listeners could not be set up (or would make an open proxy).
    #[error(transparent)]
    Listen(#[from] crate::listeners::ListenError),
    /// The users file (--require-auth) could not be used.
    #[error(transparent)]
    Users(#[from] crate::users::UsersError),
    /// The accept loop failed.
    #[error("SOCKS server failed: {0}")]
    Serve(std::io::Error),
    /// The router refused the proxy's session for good (retrying would not help).
    #[error("{0}")]
    RouterRefused(i2cp::DownReason),
}

impl RunError {
    /// The process exit status for this error: 3 when the router refused the session (the
    /// packaged service does not restart on it), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::RouterRefused(_) => 3,
            _ => 1,
        }
    }
}

/// Lock the proxy's keys file (none for transient keys) so that a second instance with
/// the same keys refuses to start instead of fighting over the destination at the router.
pub fn lock_keys(config: &Config) -> Result<Option<KeysLock>, RunError> {
    match &config.socks.keys {
        KeysSpec::Transient => Ok(None),
        KeysSpec::File(path) => Ok(Some(keys_file::lock(path)?)),
    }
}

/// Load (or create) the proxy's keys as the config says.
pub fn load_keys(config: &Config) -> Result<PrivateKeys, RunError> {
    match &config.socks.keys {
        KeysSpec::Transient => {
            keys_file::transient(config.socks.signature_type).map_err(RunError::Transient)
        }
        KeysSpec::File(path) => {
            let (keys, created) = keys_file::load_or_create(path, config.socks.signature_type)?;
            if created {
                tracing::info!(
                    "created new keys file {} for {}",
                    path.display(),
                    keys.destination().b32_address()
                );
            }
            Ok(keys)
        }
    }
}

/// Sends streaming packets as I2CP payloads.
struct I2cpSink(I2cpHandle);

impl PacketSink for I2cpSink {
    fn send(&self, to: &Destination, src_port: u16, dst_port: u16, packet: Vec<u8>) {
        // A SYN carries our full destination, which deflates well; data is mostly
        // incompressible and goes as a stored block (i2pd does the same).
        let syn = Packet::peek_flags(&packet).is_some_and(|f| f.contains(Flags::FROM_INCLUDED));
        let compression = if syn {
            Compression::Deflate
        } else {
            Compression::Stored
        };
        // A lost packet is retransmitted by streaming; a down session fails the stream.
        if let Err(error) = self.0.send_with(
            to,
            PROTO_STREAMING,
            src_port,
            dst_port,
            &packet,
            compression,
        ) {
            tracing::trace!(%error, "streaming packet not sent");
        }
    }
}

/// One destination at work: its I2CP session, its streaming task and the tasks joining them.
struct DestSession {
    i2cp: I2cpHandle,
    streaming: StreamingHandle,
    /// Fresh destinations for servers that stopped answering this one (`None`: off, or
    /// this session is itself a detour).
    detours: Option<Arc<Detours<DetourSessions>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Held while the session lives when its keys come from a file (per-user keys).
    keys_lock: Option<KeysLock>,
    /// Spaces first contacts to one remote across all our destinations.
    pacer: Arc<FirstContactPacer>,
    /// Remotes this destination has already sent a SYN to.
    contacted: Contacted,
}

/// A stream opened by a [`DestSession`], holding the detour session it runs on, if any.
struct Opened {
    stream: DeferredClose<StreamHandle>,
    detour: Option<Arc<DestSession>>,
}

impl DestSession {
    /// Start the session (returns at once; the router handshake runs in the background).
    /// `label` says whose session it is in logs; the shared destination's first readiness
    /// is also reported to systemd. `detours`: whether servers that stop answering get a
    /// detour (never for a detour).
    async fn start(
        config: &Arc<Config>,
        keys: Arc<PrivateKeys>,
        label: SessionRole,
        pacer: Arc<FirstContactPacer>,
        detours: bool,
    ) -> Self {
        let i2cp = i2cp::start(i2cp::I2cpClientConfig {
            address: config.i2cp.address.clone(),
            port: config.i2cp.port,
            keys: keys.clone(),
            options: config.session_options(),
            lookup_timeout: config.i2cp.lookup_timeout,
            reconnect_max_delay: config.i2cp.reconnect_max_delay,
            i2cp_enabled_in_config: config.i2cp.enabled,
        })
        .await;
        // The streaming task reads the I2CP subscription itself: one channel hop between
        // the I2CP socket's task and the streams.
        let streaming = streaming::spawn_with_inbound(
            keys,
            I2cpSink(i2cp.clone()),
            streaming::StreamingConfig::with_max_window(config.socks.max_window_packets()),
            i2cp.subscribe(PROTO_STREAMING),
        );
        let report = report_session_state(&i2cp, streaming.clone(), label);
        let mut tasks = vec![report];
        let detours = detours.then(|| {
            let detours = Arc::new(Detours::new(
                DetourSessions {
                    config: config.clone(),
                    pacer: pacer.clone(),
                },
                DetourPolicy::default(),
            ));
            tasks.push(spawn_detour_reaper(detours.clone()));
            detours
        });
        DestSession {
            i2cp,
            streaming,
            detours,
            tasks,
            keys_lock: None,
            pacer,
            contacted: Contacted::default(),
        }
    }

    /// DestroySession, then stop the tasks (the streaming task holds the I2CP handle in its
    /// sink, so it is told to stop rather than waiting for its inbound channel to close).
    async fn close(&self) {
        if let Some(detours) = &self.detours {
            detours.close_all().await;
        }
        self.close_own().await;
    }

    /// [`DestSession::close`] without the detours (a detour has none).
    async fn close_own(&self) {
        self.streaming.abort_all();
        self.streaming.stop();
        self.i2cp.shutdown().await;
        for task in &self.tasks {
            task.abort();
        }
    }

    /// Look `name` up through this session and open a stream from this destination, or from
    /// the server's detour when it has one.
    async fn connect(
        &self,
        name: &str,
        port: u16,
        initial_data: Vec<u8>,
    ) -> Result<Opened, ConnectError> {
        let dest = self.lookup(name).await?;
        let server = dest.hash();
        let Some(detours) = &self.detours else {
            let (_, stream) = self.open_stream(dest, port, initial_data).await?;
            return Ok(Opened {
                stream,
                detour: None,
            });
        };
        if let Some(detour) = detours.session_for(&server, Instant::now()).await {
            // The detour's own lookup: its router-side cache is fresh.
            let dest = detour.lookup(name).await?;
            let (id, stream) = detour.open_stream(dest, port, initial_data).await?;
            watch_syn(detours, &detour.streaming, id, server, true);
            return Ok(Opened {
                stream,
                detour: Some(detour),
            });
        }
        let (id, stream) = self.open_stream(dest, port, initial_data).await?;
        watch_syn(detours, &self.streaming, id, server, false);
        Ok(Opened {
            stream,
            detour: None,
        })
    }

    async fn lookup(&self, name: &str) -> Result<Destination, ConnectError> {
        self.i2cp.lookup_name(name).await.map_err(|err| {
            tracing::debug!(name, %err, "lookup failed");
            connect_error(err)
        })
    }

    async fn open_stream(
        &self,
        dest: Destination,
        port: u16,
        initial_data: Vec<u8>,
    ) -> Result<(streaming::StreamId, DeferredClose<StreamHandle>), ConnectError> {
        self.wait_first_contact_turn(&dest).await;
        let stream = self
            .streaming
            .connect(dest, port, initial_data)
            .await
            .map_err(|_| ConnectError::RouterDown)?;
        Ok((stream.id(), DeferredClose::new(stream, HALF_CLOSE_LINGER)))
    }
}

/// After [`SYN_PATIENCE`], tell `detours` whether the server answered stream `id`'s SYN (a
/// stream the client already gave up tells nothing); if it did, watch the stream until it
/// ends and report a miss once if it stalls ([`STALL_TIMEOUTS`]).
fn watch_syn(
    detours: &Arc<Detours<DetourSessions>>,
    streaming: &StreamingHandle,
    id: streaming::StreamId,
    server: [u8; 32],
    detoured: bool,
) {
    let detours = detours.clone();
    let streaming = streaming.clone();
    let sent = Instant::now();
    tokio::spawn(async move {
        tokio::time::sleep(SYN_PATIENCE).await;
        match streaming.answered(id) {
            Some(true) => {}
            Some(false) => {
                let outcome = Outcome::Missed(sent);
                detours
                    .report(server, detoured, outcome, Instant::now())
                    .await;
                return;
            }
            None => return,
        }
        detours
            .report(server, detoured, Outcome::Answered, Instant::now())
            .await;
        let mut tick = tokio::time::interval(STALL_CHECK_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match streaming.timeouts_in_a_row(id) {
                Some(n) if n >= STALL_TIMEOUTS => break,
                Some(_) => {}
                None => return,
            }
        }
        let now = Instant::now();
        detours
            .report(server, detoured, Outcome::Missed(now), now)
            .await;
    });
}

fn spawn_detour_reaper(detours: Arc<Detours<DetourSessions>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(DETOUR_REAP_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            detours.reap(Instant::now()).await;
        }
    })
}

/// Opens detour sessions: transient keys, no detours of their own.
struct DetourSessions {
    config: Arc<Config>,
    pacer: Arc<FirstContactPacer>,
}

impl DetourFactory for DetourSessions {
    type Session = DestSession;

    async fn open(&self, server: &[u8; 32]) -> Result<DestSession, String> {
        let sig_type = self.config.socks.signature_type;
        let keys = tokio::task::spawn_blocking(move || {
            keys_file::transient(sig_type).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())??;
        let server = crate::data::base32_encode(server);
        tracing::info!(
            "{server}.b32.i2p stopped answering (its router may have restarted and the router \
             still holds its old LeaseSet): new streams to it go from the fresh destination {} \
             for up to {} s",
            keys.destination().b32_address(),
            DetourPolicy::default().window.as_secs()
        );
        let role = SessionRole::Detour(keys.destination().b32_address());
        Ok(DestSession::start(
            &self.config,
            Arc::new(keys),
            role,
            self.pacer.clone(),
            false,
        )
        .await)
    }

    async fn close(&self, session: &DestSession) {
        session.close_own().await;
    }
}

impl DestSession {
    /// Before this destination's first SYN to `remote`, wait for a free first-contact slot
    /// (see [`crate::first_contact`]): a burst of new destinations contacting one site
    /// must not arrive at its router within 200 ms of each other.
    async fn wait_first_contact_turn(&self, remote: &Destination) {
        let hash = remote.hash();
        let now = tokio::time::Instant::now();
        let Some(slot) = self.contacted.slot(hash, &self.pacer, now.into_std()) else {
            return;
        };
        if slot > now.into_std() {
            tracing::debug!(
                wait_ms = u64::try_from(slot.duration_since(now.into_std()).as_millis())
                    .unwrap_or(u64::MAX),
                "first contact with this destination: waiting for a slot"
            );
            tokio::time::sleep_until(slot.into()).await;
        }
        // Reached only if the client is still there: a SYN goes out now.
        self.contacted.sent(hash);
    }
}

/// Opens per-user sessions for the isolation pool: transient keys, or a keys file per user
/// in the configured directory (i2pd format, created on first use).
struct UserSessions {
    config: Arc<Config>,
    pacer: Arc<FirstContactPacer>,
}

impl SessionFactory for UserSessions {
    type Session = DestSession;

    async fn open(&self, user: &[u8]) -> Result<DestSession, String> {
        let sig_type = self.config.socks.signature_type;
        let path = self
            .config
            .socks
            .isolation_keys
            .as_ref()
            .map(|dir| dir.join(isolation::keys_file_name(user)));
        let label = user.escape_ascii().to_string();
        let (keys, lock) = tokio::task::spawn_blocking(move || match path {
            None => keys_file::transient(sig_type)
                .map(|keys| (keys, None))
                .map_err(|e| e.to_string()),
            Some(path) => {
                let lock = keys_file::lock(&path).map_err(|e| e.to_string())?;
                keys_file::load_or_create(&path, sig_type)
                    .map(|(keys, _)| (keys, Some(lock)))
                    .map_err(|e| e.to_string())
            }
        })
        .await
        .map_err(|e| e.to_string())??;
        tracing::info!(
            user = %label,
            "isolation: destination {}",
            keys.destination().b32_address()
        );
        let mut session = DestSession::start(
            &self.config,
            Arc::new(keys),
            SessionRole::User(label),
            self.pacer.clone(),
            self.config.i2cp.detour,
        )
        .await;
        session.keys_lock = lock;
        Ok(session)
    }

    async fn close(&self, session: &DestSession) {
        session.close().await;
    }
}

/// Opens I2P streams for the SOCKS front end: from the shared destination, or with
/// isolation from the user's own.
#[derive(Clone)]
struct Connector {
    shared: Arc<DestSession>,
    pool: Option<Arc<Pool<UserSessions>>>,
}

/// A stream that keeps its user's session alive (leased) while it is open.
struct Leased<S> {
    inner: S,
    _lease: Option<Lease<DestSession>>,
    /// The detour session the stream runs on: closed only once no stream holds it.
    _detour: Option<Arc<DestSession>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Leased<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Leased<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Every lookup failure is `04` for the client, as in i2pd; the variants only matter for
/// extended errors. A b32 address that is not found is a missing LeaseSet; any other name
/// that is not found is unknown to the router's address book.
fn connect_error(err: LookupError) -> ConnectError {
    match err {
        LookupError::RouterDown(_) => ConnectError::RouterDown,
        LookupError::NotReady => ConnectError::NotReady,
        LookupError::NotFound(name) if b32_hash(&name).is_some() => ConnectError::NotFound,
        LookupError::NotFound(name) if b33_needs_key(&name).is_some() => ConnectError::NotFound,
        LookupError::NotFound(_) => ConnectError::UnknownName,
        LookupError::TimedOut(_) => ConnectError::LookupTimedOut,
        LookupError::BadReply(_) => ConnectError::BadLeaseSet,
        LookupError::InvalidName(_) => ConnectError::BadAddress,
    }
}

/// Refuse at once what no lookup can fix: a b33 address whose encrypted LeaseSet needs a
/// secret or per-client key (i2psocks has no way to be given one).
fn precheck(name: &str) -> Result<(), ConnectError> {
    match b33_needs_key(name) {
        Some(true) => Err(ConnectError::KeyRequired),
        _ => Ok(()),
    }
}

impl I2pConnector for Connector {
    type Stream = Leased<DeferredClose<StreamHandle>>;

    async fn connect(
        &self,
        name: &str,
        port: u16,
        initial_data: Vec<u8>,
    ) -> Result<Self::Stream, ConnectError> {
        precheck(name)?;
        let opened = self.shared.connect(name, port, initial_data).await?;
        Ok(Leased {
            inner: opened.stream,
            _lease: None,
            _detour: opened.detour,
        })
    }

    async fn connect_as(
        &self,
        user: Option<Vec<u8>>,
        name: &str,
        port: u16,
        initial_data: Vec<u8>,
    ) -> Result<Self::Stream, ConnectError> {
        let (Some(pool), Some(user)) = (&self.pool, user) else {
            return self.connect(name, port, initial_data).await;
        };
        precheck(name)?;
        let lease = pool.acquire(&user).await.map_err(|err| match err {
            PoolError::Full(_) => ConnectError::SessionLimit,
            PoolError::Open(reason) => {
                tracing::warn!(user = %user.escape_ascii(), "isolation: {reason}");
                ConnectError::Other(reason)
            }
        })?;
        // A new session is not ready yet: the lookup waits for it (up to the lookup timeout).
        let opened = lease.connect(name, port, initial_data).await?;
        Ok(Leased {
            inner: opened.stream,
            _lease: Some(lease),
            _detour: opened.detour,
        })
    }

    /// b32: syntax only. Address-book names: a lookup through the shared session (the
    /// router caches the result for the CONNECT that follows).
    async fn check_name(&self, name: &str) -> Result<(), ConnectError> {
        precheck(name)?;
        if b32_hash(name).is_some() || b33_needs_key(name).is_some() {
            return Ok(());
        }
        self.shared
            .i2cp
            .lookup_name(name)
            .await
            .map(|_| ())
            .map_err(connect_error)
    }
}

/// Which association owns which I2P port.
#[derive(Default)]
struct PortTable {
    open: HashMap<u16, mpsc::Sender<IncomingDatagram>>,
}

/// Lock the port table even if a thread panicked while holding it: the map stays
/// consistent (every change is a single insert or remove), and refusing it would leak a
/// port or drop datagrams for the rest of the process.
fn lock_ports(ports: &Mutex<PortTable>) -> MutexGuard<'_, PortTable> {
    ports.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Repliable datagrams for UDP associations over the I2CP session.
#[derive(Clone)]
struct DatagramHub {
    i2cp: I2cpHandle,
    keys: Arc<PrivateKeys>,
    ports: Arc<Mutex<PortTable>>,
    format: UdpFormat,
}

/// Releases an association's port when its [`DatagramPort`] is dropped.
struct PortLease {
    ports: Arc<Mutex<PortTable>>,
    port: u16,
}

impl Drop for PortLease {
    fn drop(&mut self) {
        lock_ports(&self.ports).open.remove(&self.port);
    }
}

impl DatagramHub {
    /// Start dispatching received datagrams (protocols 17, 19 and 20, and 18 if `raw`) to
    /// associations; associations send in `format`.
    fn start(
        i2cp: I2cpHandle,
        keys: Arc<PrivateKeys>,
        raw: bool,
        format: UdpFormat,
    ) -> DatagramHub {
        let hub = DatagramHub {
            i2cp,
            keys,
            ports: Arc::default(),
            format,
        };
        let signed = [PROTO_DATAGRAM, PROTO_DATAGRAM2, PROTO_DATAGRAM3];
        let protocols = signed.iter().chain(raw.then_some(&PROTO_RAW));
        let me = hub.keys.destination().hash();
        for &protocol in protocols {
            let mut inbound = hub.i2cp.subscribe(protocol);
            let ports = hub.ports.clone();
            tokio::spawn(async move {
                while let Some(msg) = inbound.recv().await {
                    dispatch_datagram(&ports, &me, protocol, msg);
                }
            });
        }
        hub
    }
}

/// Decode one received datagram of `protocol` sent to the destination whose hash is `me`:
/// protocols 17 and 19 verified, 20 with its sender's hash, 18 as it is.
fn decode_datagram(
    me: &[u8; 32],
    protocol: u8,
    msg: i2cp::Inbound,
) -> Result<IncomingDatagram, crate::data::DataError> {
    let from_port = msg.from_port;
    let (from, from_hash, payload) = match protocol {
        PROTO_DATAGRAM => {
            let (from, payload) = decode_repliable(&msg.payload)?;
            (Some(from), None, payload.to_vec())
        }
        PROTO_DATAGRAM2 => {
            let (from, payload) = decode_datagram2(&msg.payload, me)?;
            (Some(from), None, payload.to_vec())
        }
        PROTO_DATAGRAM3 => {
            let (hash, payload) = decode_datagram3(&msg.payload)?;
            (None, Some(hash), payload.to_vec())
        }
        _ => (None, None, msg.payload),
    };
    Ok(IncomingDatagram {
        from,
        from_hash,
        from_port,
        payload,
    })
}

/// Decode one received datagram and hand it to the association on its port.
fn dispatch_datagram(ports: &Mutex<PortTable>, me: &[u8; 32], protocol: u8, msg: i2cp::Inbound) {
    let to_port = msg.to_port;
    let datagram = match decode_datagram(me, protocol, msg) {
        Ok(datagram) => datagram,
        Err(error) => {
            tracing::debug!(%error, protocol, "invalid datagram dropped");
            return;
        }
    };
    let table = lock_ports(ports);
    match table.open.get(&to_port) {
        Some(tx) => {
            if tx.try_send(datagram).is_err() {
                tracing::debug!(
                    port = to_port,
                    "UDP association queue full; datagram dropped"
                );
            }
        }
        None => tracing::debug!(
            port = to_port,
            protocol,
            "datagram for no UDP association dropped"
        ),
    }
}

/// Claim a free I2P port for a new association; `None` when all are taken.
fn open_port(ports: &Arc<Mutex<PortTable>>) -> Option<DatagramPort> {
    let mut table = lock_ports(ports);
    let span = u16::MAX - FIRST_DATAGRAM_PORT + 1;
    // A random start: raw datagrams are unauthenticated, so the port is all that
    // stands between an association and datagrams injected by strangers.
    let start = rand::random::<u16>() % span;
    for step in 0..span {
        let port = FIRST_DATAGRAM_PORT + (start + step) % span;
        if let std::collections::hash_map::Entry::Vacant(slot) = table.open.entry(port) {
            let (tx, rx) = mpsc::channel(ASSOCIATION_QUEUE);
            slot.insert(tx);
            let lease = PortLease {
                ports: ports.clone(),
                port,
            };
            return Some(DatagramPort::new(port, rx, lease));
        }
    }
    None
}

impl DatagramBackend for DatagramHub {
    fn open(&self) -> Option<DatagramPort> {
        open_port(&self.ports)
    }

    fn resolve(&self, name: &str) -> ResolveFuture {
        let i2cp = self.i2cp.clone();
        let name = name.to_owned();
        Box::pin(async move { i2cp.lookup_name(&name).await.map_err(connect_error) })
    }

    fn send(&self, from_port: u16, to: &Destination, to_port: u16, payload: &[u8]) -> bool {
        // Datagram2 signed with the sender's hash as prelude: what i2pd 2.58-2.59's
        // udpserver verifies (see data::datagram).
        let encoded = match self.format {
            UdpFormat::Datagram1 => {
                encode_repliable(&self.keys, payload).map(|d| (PROTO_DATAGRAM, d))
            }
            UdpFormat::Datagram2 => {
                encode_datagram2(&self.keys, &to.hash(), Prelude::Sender, payload)
                    .map(|d| (PROTO_DATAGRAM2, d))
            }
            UdpFormat::Datagram3 => encode_datagram3(&self.keys.destination().hash(), payload)
                .map(|d| (PROTO_DATAGRAM3, d)),
        };
        let Ok((protocol, datagram)) = encoded else {
            return false;
        };
        // Stored, not deflated: i2pd inflates deflated datagrams into a 32 KiB buffer too,
        // and UDP payloads rarely compress.
        match self.i2cp.send(to, protocol, from_port, to_port, &datagram) {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(%error, "datagram not sent");
                false
            }
        }
    }

    fn max_payload(&self) -> usize {
        match self.format {
            UdpFormat::Datagram1 => max_repliable_payload(self.keys.destination()),
            UdpFormat::Datagram2 => max_datagram2_payload(self.keys.destination()),
            UdpFormat::Datagram3 => MAX_DATAGRAM3_PAYLOAD,
        }
    }
}

/// Run the proxy until `shutdown` resolves or the router refuses the session for good.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RunError> {
    let _keys_lock = lock_keys(&config)?;
    let keys = Arc::new(load_keys(&config)?);
    tracing::info!("proxy destination: {}", keys.destination().b32_address());
    let listeners = crate::listeners::open(&config)?;

    let config = Arc::new(config);
    let pacer = Arc::new(FirstContactPacer::default());
    let shared = Arc::new(
        DestSession::start(
            &config,
            keys.clone(),
            SessionRole::Shared,
            pacer.clone(),
            config.i2cp.detour,
        )
        .await,
    );
    let pool = config.socks.isolate.then(|| {
        let keys = config.socks.isolation_keys.as_ref().map_or_else(
            || "transient keys".to_owned(),
            |dir| format!("keys files in {}", dir.display()),
        );
        tracing::info!(
            max_sessions = config.socks.max_sessions,
            idle_timeout_secs = config.socks.session_idle_timeout.as_secs(),
            "isolation by credentials: one destination per SOCKS5 username ({keys})"
        );
        Arc::new(Pool::new(
            UserSessions {
                config: config.clone(),
                pacer: pacer.clone(),
            },
            config.socks.max_sessions,
            config.socks.session_idle_timeout,
        ))
    });
    let reaper = pool.as_ref().map(Pool::spawn_reaper);
    let connector = Connector {
        shared: shared.clone(),
        pool: pool.clone(),
    };
    let mut server = ServerConfig::new(SocketAddr::new(config.socks.address, config.socks.port));
    server.handshake_timeout = config.socks.handshake_timeout;
    server.max_connections = config.socks.max_connections;
    server.outproxy = config
        .socks
        .outproxy
        .as_ref()
        .map(|o| socks::OutproxyConfig {
            host: o.host.clone(),
            port: o.port,
        });
    if config.socks.udp {
        let hub = DatagramHub::start(
            shared.i2cp.clone(),
            keys.clone(),
            config.socks.udp_raw,
            config.socks.udp_format,
        );
        server.udp = Some(UdpRelayConfig::new(
            Arc::new(hub),
            config.socks.max_udp_associations,
        ));
    }
    server.auth = auth_policy(&config)?;
    server.isolate = config.socks.isolate;
    server.extended_errors = config.socks.extended_errors;
    server.i2p_outproxies =
        I2pOutproxies::new(config.socks.i2p_outproxies.clone()).map(|outproxies| {
            let names: Vec<String> = outproxies
                .in_order()
                .iter()
                .map(|(_, o)| o.to_string())
                .collect();
            tracing::info!(
                "outproxies inside I2P (HTTP CONNECT), in failover order: {}",
                names.join(", ")
            );
            Arc::new(outproxies)
        });
    server.virtual_addrs = config.socks.virtual_range.map(|range| {
        tracing::info!(%range, "RESOLVE: names get virtual addresses from {range}");
        Arc::new(VirtualAddrs::new(range, config.socks.virtual_idle_timeout))
    });
    let refused = refused_for_good(shared.i2cp.status());
    let stop = async {
        tokio::select! {
            () = shutdown => {}
            _ = refused => {}
        }
    };
    // Ready once the sockets are open: clients are accepted (and held until the session is
    // up); how the session is doing goes to STATUS= and, while it waits, to the log.
    crate::service_status::sd_notify(b"READY=1");
    let reporter = crate::service_status::spawn_reporter(
        shared.i2cp.clone(),
        format!("{}:{}", config.i2cp.address, config.i2cp.port),
    );
    let served = socks::serve_all(listeners, server, connector, stop).await;
    reporter.abort();
    if let Some(reaper) = reaper {
        reaper.abort();
    }
    if let Some(pool) = pool {
        pool.close_all().await;
    }
    let state = shared.i2cp.status().borrow().clone();
    shared.close().await;
    if let i2cp::SessionState::Down(reason @ i2cp::DownReason::RouterRefused { .. }) = state {
        return Err(RunError::RouterRefused(reason));
    }
    served.map_err(RunError::Serve)
}

/// Resolves when the router has refused the session for good (it then never reconnects).
async fn refused_for_good(mut status: tokio::sync::watch::Receiver<i2cp::SessionState>) {
    let refused = |s: &i2cp::SessionState| {
        matches!(
            s,
            i2cp::SessionState::Down(i2cp::DownReason::RouterRefused { .. })
        )
    };
    if status.wait_for(refused).await.is_err() {
        // The session task is gone without a refusal: never resolve.
        std::future::pending::<()>().await;
    }
}

/// `AcceptAny` (i2pd's behaviour) unless `requireauth` is on: then the users file.
fn auth_policy(config: &Config) -> Result<AuthPolicy, RunError> {
    if !config.socks.require_auth {
        return Ok(AuthPolicy::AcceptAny);
    }
    let path = &config.socks.users_file;
    let db = crate::users::UserDb::open(path).inspect_err(|_| {
        tracing::error!("logins are required: add users with `i2psocks user add NAME`");
    })?;
    if db.is_empty() {
        tracing::warn!(
            "users file {} has no users: every SOCKS client is refused until \
             `i2psocks user add NAME`",
            path.display()
        );
    }
    tracing::info!(
        "logins required: {} users in {}; SOCKS4/4a refused",
        db.len(),
        path.display()
    );
    Ok(AuthPolicy::require(db))
}

/// Whose session it is, for its log lines.
enum SessionRole {
    /// The proxy's own destination (its first readiness is reported to systemd).
    Shared,
    /// An isolated user's (the escaped username).
    User(String),
    /// A detour (its address).
    Detour(String),
}

/// Log every session state change (what the operator sees while it waits: see
/// [`crate::service_status`]).
/// When the session is lost, its streams are ended at once: clients see a close instead
/// of waiting for retransmission timeouts on a session that no longer exists.
fn report_session_state(
    i2cp: &I2cpHandle,
    streaming: StreamingHandle,
    role: SessionRole,
) -> tokio::task::JoinHandle<()> {
    let (user, detour) = match role {
        SessionRole::Shared => (None, None),
        SessionRole::User(user) => (Some(user), None),
        SessionRole::Detour(b32) => (None, Some(b32)),
    };
    let mut status = i2cp.status();
    let started = tokio::time::Instant::now();
    tokio::spawn(async move {
        // While the router stays away every reconnect attempt (up to one a second) repeats the
        // same states. The driver warns about the reason (once, then once a minute); here
        // it is said only for isolated users' sessions, whose driver span has no user name.
        let mut down_since_ready: Option<i2cp::DownReason> = None;
        loop {
            let state = status.borrow_and_update().clone();
            match state {
                i2cp::SessionState::Ready => {
                    down_since_ready = None;
                    let ready_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    match (&user, &detour) {
                        (Some(user), _) => tracing::info!(
                            %user,
                            ready_ms,
                            "isolation: I2CP session of user is up"
                        ),
                        (None, Some(b32)) => {
                            tracing::info!(%b32, ready_ms, "detour: I2CP session is up")
                        }
                        (None, None) => tracing::info!("I2CP session is up"),
                    }
                }
                i2cp::SessionState::Connecting => match &user {
                    None if down_since_ready.is_none() && detour.is_none() => {
                        tracing::info!("connecting to the router")
                    }
                    _ => tracing::debug!(
                        user = user.as_deref().unwrap_or("-"),
                        "connecting to the router"
                    ),
                },
                i2cp::SessionState::Down(i2cp::DownReason::ShutDown) => {
                    tracing::debug!(user = user.as_deref().unwrap_or("-"), "session closed");
                    streaming.abort_all();
                }
                i2cp::SessionState::Down(reason) => {
                    match &user {
                        Some(user) if down_since_ready.as_ref() != Some(&reason) => {
                            tracing::warn!(%user, "isolation: {reason}")
                        }
                        _ => tracing::debug!("{reason}"),
                    }
                    down_since_ready = Some(reason);
                    streaming.abort_all();
                }
            }
            if status.changed().await.is_err() {
                return;
            }
        }
    })
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_with(port: u16) -> (Mutex<PortTable>, mpsc::Receiver<IncomingDatagram>) {
        let (tx, rx) = mpsc::channel(4);
        let mut table = PortTable::default();
        table.open.insert(port, tx);
        (Mutex::new(table), rx)
    }

    #[test]
    fn datagrams_go_to_the_port_they_name_and_must_verify() {
        let keys = crate::data::PrivateKeys::generate(crate::data::SIG_ED25519, 4).unwrap();
        let (ports, mut rx) = table_with(2000);
        let me = [3u8; 32];
        let signed = encode_repliable(&keys, b"hi").unwrap();
        let msg = |to_port, payload: Vec<u8>| i2cp::Inbound {
            from_port: 53,
            to_port,
            payload,
        };
        dispatch_datagram(&ports, &me, PROTO_DATAGRAM, msg(2000, signed.clone()));
        let got = rx.try_recv().unwrap();
        assert_eq!(got.from.as_ref(), Some(keys.destination()));
        assert_eq!((got.from_port, &got.payload[..]), (53, &b"hi"[..]));
        // Another port, a bad signature: dropped.
        dispatch_datagram(&ports, &me, PROTO_DATAGRAM, msg(2001, signed.clone()));
        let mut forged = signed;
        let last = forged.len() - 1;
        forged[last] ^= 1;
        dispatch_datagram(&ports, &me, PROTO_DATAGRAM, msg(2000, forged));
        assert!(rx.try_recv().is_err());
        // Raw: no sender.
        dispatch_datagram(&ports, &me, PROTO_RAW, msg(2000, b"raw".to_vec()));
        let got = rx.try_recv().unwrap();
        assert_eq!((got.from, &got.payload[..]), (None, &b"raw"[..]));
        // Datagram2 signed for us (either prelude) and Datagram3 with its sender's hash.
        for prelude in [Prelude::Sender, Prelude::Target] {
            let d2 = encode_datagram2(&keys, &me, prelude, b"two").unwrap();
            dispatch_datagram(&ports, &me, PROTO_DATAGRAM2, msg(2000, d2));
            let got = rx.try_recv().unwrap();
            assert_eq!(got.from.as_ref(), Some(keys.destination()));
            assert_eq!(&got.payload[..], b"two");
        }
        let for_other = encode_datagram2(&keys, &[4u8; 32], Prelude::Target, b"x").unwrap();
        dispatch_datagram(&ports, &me, PROTO_DATAGRAM2, msg(2000, for_other));
        assert!(rx.try_recv().is_err());
        let d3 = encode_datagram3(&keys.destination().hash(), b"three").unwrap();
        dispatch_datagram(&ports, &me, PROTO_DATAGRAM3, msg(2000, d3));
        let got = rx.try_recv().unwrap();
        assert_eq!(got.from, None);
        assert_eq!(got.from_hash, Some(keys.destination().hash()));
        assert_eq!(&got.payload[..], b"three");
    }

    /// Poison `ports` the way a panicking holder would.
    fn poison(ports: &Arc<Mutex<PortTable>>) {
        let held = ports.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = held.lock();
            panic!("poisoning the port table on purpose");
        })
        .join();
        assert!(panicked.is_err() && ports.is_poisoned());
    }

    #[test]
    fn a_poisoned_port_table_still_opens_delivers_and_releases() {
        let ports = Arc::new(Mutex::new(PortTable::default()));
        poison(&ports);
        let mut assoc = open_port(&ports).expect("a port from a poisoned table");
        assert!(assoc.port >= FIRST_DATAGRAM_PORT);
        let raw = i2cp::Inbound {
            from_port: 7,
            to_port: assoc.port,
            payload: b"raw".to_vec(),
        };
        dispatch_datagram(&ports, &[0; 32], PROTO_RAW, raw);
        let got = assoc
            .inbound
            .try_recv()
            .expect("delivered despite the poison");
        assert_eq!(&got.payload[..], b"raw");
        let port = assoc.port;
        drop(assoc);
        assert!(
            !lock_ports(&ports).open.contains_key(&port),
            "the port is released on drop"
        );
    }

    /// A config whose router cannot be reached (port 1): sessions stay Connecting.
    fn unreachable_config(dir: &std::path::Path) -> Config {
        let args = ["i2psocks", "--i2cp.port=1", "--datadir"]
            .into_iter()
            .map(std::ffi::OsString::from)
            .chain([dir.as_os_str().to_owned()]);
        crate::config::load_with_home(args, None)
            .unwrap_or_else(|e| panic!("{e}"))
            .config
    }

    /// A closed session leaves nothing running: its I2CP task has ended when `close`
    /// returns, its other tasks are aborted, and its streaming task stops (so a per-user
    /// session that is reaped frees its memory).
    #[tokio::test]
    async fn closing_a_session_stops_all_of_its_tasks() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let config = unreachable_config(dir.path());
        let keys = Arc::new(keys_file::transient(7)?);
        let remote = keys.destination().clone();
        let session = DestSession::start(
            &Arc::new(config),
            keys,
            SessionRole::User("u".into()),
            Arc::default(),
            true,
        )
        .await;
        let streaming = session.streaming.clone();
        session.close().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let tasks_done = session
                .tasks
                .iter()
                .all(tokio::task::JoinHandle::is_finished);
            let stopped = streaming
                .connect(remote.clone(), 80, Vec::new())
                .await
                .is_err();
            if tasks_done && stopped {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "tasks finished: {tasks_done}, streaming stopped: {stopped}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    #[test]
    fn lookup_failures_map_to_socks_failures() {
        let down = i2cp::DownReason::ShutDown;
        assert_eq!(
            connect_error(LookupError::RouterDown(down)).reply_code(),
            socks::ReplyCode::GeneralFailure
        );
        for err in [
            LookupError::NotReady,
            LookupError::NotFound("x.i2p".into()),
            LookupError::TimedOut("x.i2p".into()),
            LookupError::InvalidName(String::new()),
        ] {
            assert_eq!(
                connect_error(err).reply_code(),
                socks::ReplyCode::HostUnreachable
            );
        }
    }
}

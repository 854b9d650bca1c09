//! The I2CP client session as a sans-I/O state machine: bytes and time go in, bytes,
//! events and deadlines come out. No sockets, no clock, no tokio here.
//!
//! ```text
//!   new() ──► AwaitingDate ──SetDate──► AwaitingStatus ──SessionStatus 1──► Created
//!   (queues 2A + GetDate)   (queues CreateSession)          │                  │
//!                                                          3/4/other       first RVLS answered
//!                                                             ▼                  ▼
//!                                                          Closed ◄──────── Created + ready
//!                                      (Disconnect, status 0, EOF, framing error, setup timeout)
//! ```
//!
//! Call order for a driver: feed [`Session::handle_bytes`] (or [`Session::handle_message`])
//! and commands ([`Session::lookup`], [`Session::send`], [`Session::destroy`]); then drain
//! [`Session::poll_transmit`] and [`Session::poll_event`]; sleep until
//! [`Session::poll_timeout`] and call [`Session::handle_timeout`]. Every
//! RequestVariableLeaseSet is answered inside `handle_message` itself, so the answer is in
//! the transmit queue before the call returns (i2pd kills the session 10 s after an
//! unanswered request, docs/i2cp.md "Session set-up").

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;
use tracing::{debug, info, trace, warn};

use crate::data::lease_set::{
    FLAG_UNPUBLISHED, Lease2, LeaseSetEncKey, MAX_LEASES, build_leaseset2,
};
use crate::data::{Destination, PrivateKeys};

use super::framing::{FrameSplitter, PROTOCOL_BYTE};
use super::message::{
    CLIENT_VERSION, CreateLeaseSet2, HOST_REPLY_SUCCESS, Lease, LookupQuery, Message, MessageType,
    PrivateKeyEntry, STORE_TYPE_LS2, SessionConfig, session_status,
};
use super::payload;

/// The router must answer GetDate and CreateSession within this time, else we give up
/// on the connection (i2pd answers within milliseconds, docs/i2cp.md "Timings seen on the wire").
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the router may hold an outgoing message before dropping it. Java I2P's own
/// default for client messages is 60 s as well; a streaming packet older than that has
/// long been retransmitted.
pub const SEND_EXPIRATION: Duration = Duration::from_secs(60);

/// SendMessageExpires flags: 0 = the router decides LeaseSet bundling (bit 8 clear) and
/// uses the session's tag settings (bits 7-0 zero), exactly as for SendMessage.
pub const SEND_FLAGS: u16 = 0;

/// Key of the option that keeps the router from publishing our LeaseSet to floodfills.
pub const DONT_PUBLISH_LEASESET: &str = "i2cp.dontPublishLeaseSet";

/// First I2CP API version (SetDate) of i2pd 2.58.0, which reads `i2cp.dontPublishLeaseSet`
/// inverted: `m_IsPublic = GetBoolParamValue (value)` in 2.58.0 libi2pd/Destination.cpp,
/// `params->Get (I2CP_PARAM_DONT_PUBLISH_LEASESET, m_IsPublic)` in 2.59.0; 2.57.0 and
/// earlier set `m_IsPublic = (value != "true")`. In SetDate, i2pd 2.58.0 reports 0.9.67 and
/// 2.59.0 0.9.68, while i2pd up to 2.57 echo the client's own version (ours is
/// [`CLIENT_VERSION`], below this; `GetDateMessageHandler` in 2.56.0
/// libi2pd_client/I2CP.cpp); Java I2P 2.7.0 reports 0.9.64.
pub const INVERTED_DONT_PUBLISH_FROM: (u32, u32, u32) = (0, 9, 67);

/// The SessionConfig options for a router that reported `version` in SetDate.
///
/// The LeaseSet must never be published (our LeaseSet2 carries the unpublished flag, so
/// floodfills refuse it and a publishing router retries for ever). No single value of
/// `i2cp.dontPublishLeaseSet` means that on every i2pd: `true` does up to 2.57, `false`
/// from 2.58. The API version tells them apart; Java I2P reads `true` as meant, and from
/// 2.10 reports the same API versions as i2pd 2.58+, which cannot be told apart here:
/// routers reporting 0.9.67 or later are taken for i2pd (i2psocks replaces i2pd's proxy),
/// and that choice is logged once.
pub fn options_for_router(options: &[(String, String)], version: &str) -> Vec<(String, String)> {
    let inverted = parse_api_version(version).is_some_and(|v| v >= INVERTED_DONT_PUBLISH_FROM);
    let mut out = options.to_vec();
    if !inverted {
        return out;
    }
    for (key, value) in &mut out {
        if key == DONT_PUBLISH_LEASESET && value == "true" {
            *value = "false".to_string();
            log_inversion_once(version);
        }
    }
    out
}

/// `"0.9.68"` → (0, 9, 68); missing parts are 0, anything unparsable is `None`.
pub fn parse_api_version(version: &str) -> Option<(u32, u32, u32)> {
    let mut parts = version.trim().split('.').map(|p| p.parse::<u32>());
    let major = parts.next()?.ok()?;
    let minor = parts.next().unwrap_or(Ok(0)).ok()?;
    let micro = parts.next().unwrap_or(Ok(0)).ok()?;
    Some((major, minor, micro))
}

fn log_inversion_once(version: &str) {
    static LOGGED: std::sync::Once = std::sync::Once::new();
    LOGGED.call_once(|| {
        info!(
            version,
            "the router reports I2CP API {version} (i2pd 2.58 or later, which reads \
             i2cp.dontPublishLeaseSet inverted): sending i2cp.dontPublishLeaseSet=false so \
             that it does not publish the LeaseSet; a Java I2P 2.10 or later router reports \
             the same versions and would publish it (connections work either way)"
        );
    });
}

/// A point in time as both a monotonic instant (for deadlines) and wall-clock
/// milliseconds since the epoch (for I2P dates). The driver reads the clocks; the core
/// only receives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time.
    pub instant: Instant,
    /// Local wall clock, ms since the Unix epoch.
    pub unix_ms: u64,
}

/// Why a lookup produced no destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupFailure {
    /// The router answered with a failure code (i2pd: 1 = not found / not reachable).
    NotFound(u8),
    /// No answer before the client-side deadline (i2pd ignores the timeout field).
    TimedOut,
    /// The router returned a destination whose hash is not the one asked for.
    HashMismatch,
    /// The session closed while the lookup was pending.
    SessionClosed,
}

/// Why the session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// SessionStatus 3 to CreateSession: bad config or the destination already has a session.
    Invalid,
    /// SessionStatus 4 (or another unexpected code) to CreateSession.
    Refused(u8),
    /// SessionStatus 0: the router destroyed the session (or confirmed our DestroySession).
    Destroyed,
    /// The router sent Disconnect (Java).
    Disconnected(String),
    /// The router broke the protocol (bad frame, undecodable message).
    Protocol(String),
    /// The router did not answer GetDate / CreateSession in time.
    SetupTimeout,
    /// The transport ended (EOF or I/O error), reported by the driver.
    ConnectionLost(String),
    /// We could not build a message (a bug or unusable keys).
    Local(String),
}

/// Something the driver must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The router accepted CreateSession.
    Created {
        /// Our session id.
        sid: u16,
    },
    /// The first LeaseSet was sent: the session can be used.
    Ready,
    /// A received payload, already unwrapped (docs/i2cp.md "Payload wrapper").
    Payload {
        /// Protocol byte (see [`super::protocol`]).
        protocol: u8,
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// The inflated data.
        data: Vec<u8>,
    },
    /// A lookup finished.
    LookupResult {
        /// The id returned by [`Session::lookup`].
        id: u32,
        /// The destination or why there is none.
        result: Result<Destination, LookupFailure>,
    },
    /// The session is over; nothing more will be sent or reported.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// A command the session cannot carry out now.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SessionError {
    /// The session is not created yet (or already closed).
    #[error("the I2CP session is not established")]
    NotEstablished,
    /// The message could not be encoded (too large, bad name).
    #[error("cannot encode I2CP message: {0}")]
    Encode(#[from] super::EncodeError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    AwaitingDate,
    AwaitingStatus,
    Created { sid: u16 },
    Closed,
}

struct PendingLookup {
    deadline: Instant,
    query: LookupQuery,
}

/// One I2CP session over one connection (i2pd allows one session per connection, docs/i2cp.md
/// "Framing").
pub struct Session {
    keys: Arc<PrivateKeys>,
    options: Vec<(String, String)>,
    lookup_timeout: Duration,
    enc_key: LeaseSetEncKey,
    phase: Phase,
    ready: bool,
    /// Router time − local time, ms, learned from SetDate.
    clock_offset_ms: i64,
    setup_deadline: Option<Instant>,
    splitter: FrameSplitter,
    lookups: BTreeMap<u32, PendingLookup>,
    next_request_id: u32,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
}

impl Session {
    /// Start a session: queues the protocol byte and GetDate. `enc_key` is the session's
    /// LeaseSet encryption key (one per session, reused for every answer, docs/i2cp.md
    /// "LeaseSet2").
    pub fn new(
        now: Now,
        keys: Arc<PrivateKeys>,
        options: Vec<(String, String)>,
        lookup_timeout: Duration,
        enc_key: LeaseSetEncKey,
    ) -> Session {
        let mut session = Session {
            keys,
            options,
            lookup_timeout,
            enc_key,
            phase: Phase::AwaitingDate,
            ready: false,
            clock_offset_ms: 0,
            setup_deadline: Some(now.instant + SETUP_TIMEOUT),
            splitter: FrameSplitter::new(),
            lookups: BTreeMap::new(),
            next_request_id: 1,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        };
        session.transmit.push_back(vec![PROTOCOL_BYTE]);
        session.queue(&Message::GetDate {
            version: CLIENT_VERSION.to_string(),
            options: Vec::new(),
        });
        session
    }

    /// Session id once created.
    pub fn sid(&self) -> Option<u16> {
        match self.phase {
            Phase::Created { sid } => Some(sid),
            _ => None,
        }
    }

    /// True once the first LeaseSet was sent.
    pub fn is_ready(&self) -> bool {
        self.ready && self.sid().is_some()
    }

    /// True after [`Event::Closed`] was emitted.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Router time in ms (local time + the SetDate offset).
    pub fn router_time_ms(&self, now: Now) -> u64 {
        now.unix_ms.saturating_add_signed(self.clock_offset_ms)
    }

    /// Feed bytes read from the connection.
    pub fn handle_bytes(&mut self, now: Now, bytes: &[u8]) {
        self.splitter.push(bytes);
        while !self.is_closed() {
            match self.splitter.next_frame() {
                Ok(Some(frame)) => match Message::decode(&frame) {
                    Ok(msg) => self.handle_message(now, msg),
                    Err(err) => {
                        // A malformed message means we and the router disagree on the
                        // protocol; carrying on would risk misreading later frames.
                        let what = MessageType::name_of(frame.kind);
                        self.close(CloseReason::Protocol(format!("bad {what}: {err}")));
                    }
                },
                Ok(None) => break,
                Err(err) => self.close(CloseReason::Protocol(err.to_string())),
            }
        }
    }

    /// Handle one decoded message from the router.
    pub fn handle_message(&mut self, now: Now, msg: Message) {
        if self.is_closed() {
            return;
        }
        trace!(kind = msg.name(), "I2CP message in");
        match msg {
            Message::SetDate { date_ms, version } => self.on_set_date(now, date_ms, &version),
            Message::SessionStatus { sid, status } => self.on_session_status(sid, status),
            Message::RequestVariableLeaseSet { sid, leases } => {
                self.on_request_leases(now, sid, &leases)
            }
            Message::HostReply {
                request_id,
                code,
                destination,
                ..
            } => self.on_host_reply(request_id, code, destination),
            Message::MessagePayload {
                payload, msg_id, ..
            } => self.on_payload(msg_id, &payload),
            Message::MessageStatus {
                msg_id,
                status,
                nonce,
                ..
            } => {
                trace!(msg_id, status, nonce, "I2CP message status");
            }
            Message::Disconnect { reason } => self.close(CloseReason::Disconnected(reason)),
            Message::BandwidthLimits(values) => {
                debug!(inbound = values[0], outbound = values[1], "I2CP bandwidth");
            }
            Message::Unknown { kind, body } => {
                debug!(kind, len = body.len(), "ignoring unknown I2CP message type");
            }
            other => {
                // Client-to-router messages arriving here: log and ignore like i2pd does
                // for types it does not handle (docs/i2cp.md "Message types").
                debug!(kind = other.name(), "ignoring unexpected I2CP message");
            }
        }
    }

    /// The transport ended; report it (no-op if already closed).
    pub fn handle_connection_lost(&mut self, reason: String) {
        self.close(CloseReason::ConnectionLost(reason));
    }

    /// Expire lookups and the setup deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        if self.setup_deadline.is_some_and(|d| d <= now) {
            self.close(CloseReason::SetupTimeout);
            return;
        }
        let expired: Vec<u32> = self
            .lookups
            .iter()
            .filter(|(_, l)| l.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.lookups.remove(&id);
            self.events.push_back(Event::LookupResult {
                id,
                result: Err(LookupFailure::TimedOut),
            });
        }
    }

    /// Earliest deadline the driver must wake up for.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        let lookups = self.lookups.values().map(|l| l.deadline).min();
        match (self.setup_deadline, lookups) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Next bytes to write to the connection.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// Next event for the driver.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Start a HostLookup; the answer comes as [`Event::LookupResult`] with the returned id.
    pub fn lookup(&mut self, now: Instant, query: LookupQuery) -> Result<u32, SessionError> {
        let sid = self.sid().ok_or(SessionError::NotEstablished)?;
        let id = self.allocate_request_id();
        let timeout_ms = u32::try_from(self.lookup_timeout.as_millis()).unwrap_or(u32::MAX);
        let msg = Message::HostLookup {
            sid,
            request_id: id,
            timeout_ms,
            query: query.clone(),
        };
        let frame = msg.encode()?;
        self.transmit.push_back(frame.to_bytes());
        self.lookups.insert(
            id,
            PendingLookup {
                deadline: now + self.lookup_timeout,
                query,
            },
        );
        Ok(id)
    }

    /// Queue SendMessageExpires with an already wrapped payload ([`payload::encode`]).
    /// Nonce 0 asks for no MessageStatus: a status written just before a MessagePayload
    /// costs a 40 ms Nagle stall on i2pd's socket (docs/i2cp.md "Pitfall: Nagle on i2pd's
    /// socket").
    ///
    /// SendMessageExpires (type 36) rather than SendMessage (type 5): i2pd 2.45.1 to 2.59.0
    /// handle it as SendMessage, ignoring flags and expiration
    /// (`SendMessageExpiresMessageHandler` in libi2pd_client/I2CP.cpp); Java I2P honours
    /// both; emissary parses only type 36. Flags 0 leave LeaseSet bundling and tags to the
    /// router, as SendMessage does; the expiration, [`SEND_EXPIRATION`] from now in router
    /// time, is when a streaming packet is stale anyway.
    pub fn send(
        &mut self,
        now: Now,
        to: &Destination,
        wrapped: Vec<u8>,
        nonce: u32,
    ) -> Result<(), SessionError> {
        let sid = self.sid().ok_or(SessionError::NotEstablished)?;
        let expiration_ms = self
            .router_time_ms(now)
            .saturating_add(u64::try_from(SEND_EXPIRATION.as_millis()).unwrap_or(u64::MAX));
        let frame = Message::SendMessageExpires {
            sid,
            destination: to.clone(),
            payload: wrapped,
            nonce,
            flags: SEND_FLAGS,
            expiration_ms,
        }
        .encode()?;
        self.transmit.push_back(frame.to_bytes());
        Ok(())
    }

    /// Queue DestroySession; the router answers SessionStatus 0 and closes (docs/i2cp.md "Message
    /// types"). Pending lookups fail at once; the session counts as closed from now on.
    pub fn destroy(&mut self) {
        if let Some(sid) = self.sid() {
            self.queue(&Message::DestroySession { sid });
        }
        self.close(CloseReason::Destroyed);
    }

    fn on_set_date(&mut self, now: Now, date_ms: u64, version: &str) {
        let offset = i128::from(date_ms) - i128::from(now.unix_ms);
        self.clock_offset_ms = i64::try_from(offset).unwrap_or(0);
        debug!(offset_ms = self.clock_offset_ms, version, "I2CP SetDate");
        if self.phase != Phase::AwaitingDate {
            // Java may send SetDate again on clock shifts; only the offset changes.
            return;
        }
        let date = self.router_time_ms(now);
        let options = options_for_router(&self.options, version);
        match SessionConfig::sign(&self.keys, &options, date) {
            Ok(config) => {
                self.queue(&Message::CreateSession(config));
                self.phase = Phase::AwaitingStatus;
            }
            Err(err) => self.close(CloseReason::Local(format!(
                "cannot build SessionConfig: {err}"
            ))),
        }
    }

    fn on_session_status(&mut self, sid: u16, status: u8) {
        match (self.phase, status) {
            (Phase::AwaitingStatus, session_status::CREATED) => {
                info!(sid, b32 = %self.keys.destination().b32_address(), "I2CP session created");
                self.phase = Phase::Created { sid };
                self.setup_deadline = None;
                self.events.push_back(Event::Created { sid });
            }
            (Phase::AwaitingStatus, session_status::INVALID) => self.close(CloseReason::Invalid),
            (Phase::AwaitingStatus, other) => self.close(CloseReason::Refused(other)),
            (_, session_status::DESTROYED) => self.close(CloseReason::Destroyed),
            (Phase::Created { .. }, session_status::UPDATED) => debug!(sid, "I2CP session updated"),
            (Phase::Created { .. }, session_status::INVALID) => self.close(CloseReason::Invalid),
            (phase, other) => warn!(sid, status = other, ?phase, "unexpected I2CP SessionStatus"),
        }
    }

    fn on_request_leases(&mut self, now: Now, req_sid: u16, leases: &[Lease]) {
        let Some(sid) = self.sid() else {
            warn!(
                req_sid,
                "RequestVariableLeaseSet before the session exists; ignored"
            );
            return;
        };
        if req_sid != sid {
            warn!(
                req_sid,
                sid, "RequestVariableLeaseSet for another session id; answering for ours"
            );
        }
        if leases.len() > MAX_LEASES {
            warn!(
                count = leases.len(),
                "more than 16 leases requested; publishing the first 16"
            );
        }
        let leases2: Vec<Lease2> = leases
            .iter()
            .take(MAX_LEASES)
            .map(|l| Lease2::from_millis(l.gateway, l.tunnel_id, l.end_ms))
            .collect();
        let published = u32::try_from(self.router_time_ms(now) / 1000).unwrap_or(u32::MAX);
        let built = build_leaseset2(
            &self.keys,
            published,
            &leases2,
            &[self.enc_key.encryption_key()],
            FLAG_UNPUBLISHED,
        );
        let lease_set = match built {
            Ok(ls) => ls,
            Err(err) => {
                self.close(CloseReason::Local(format!("cannot build LeaseSet2: {err}")));
                return;
            }
        };
        let msg = Message::CreateLeaseSet2(CreateLeaseSet2 {
            sid,
            store_type: STORE_TYPE_LS2,
            lease_set,
            private_keys: vec![PrivateKeyEntry {
                key_type: self.enc_key.encryption_key().key_type,
                key: self.enc_key.private_bytes().to_vec(),
            }],
        });
        self.queue(&msg);
        debug!(
            sid,
            leases = leases2.len(),
            "answered RequestVariableLeaseSet"
        );
        if !self.ready && !self.is_closed() {
            self.ready = true;
            info!(sid, "I2CP session ready (LeaseSet sent)");
            self.events.push_back(Event::Ready);
        }
    }

    fn on_host_reply(&mut self, request_id: u32, code: u8, destination: Option<Destination>) {
        let Some(pending) = self.lookups.remove(&request_id) else {
            debug!(
                request_id,
                "HostReply for no pending lookup (late or unknown); ignored"
            );
            return;
        };
        let result = match (code, destination) {
            (HOST_REPLY_SUCCESS, Some(dest)) => match pending.query {
                LookupQuery::Hash(hash) if dest.hash() != hash => Err(LookupFailure::HashMismatch),
                _ => Ok(dest),
            },
            (code, _) => Err(LookupFailure::NotFound(code)),
        };
        self.events.push_back(Event::LookupResult {
            id: request_id,
            result,
        });
    }

    fn on_payload(&mut self, msg_id: u32, wrapped: &[u8]) {
        match payload::decode(wrapped) {
            Ok(p) => self.events.push_back(Event::Payload {
                protocol: p.protocol,
                src_port: p.src_port,
                dst_port: p.dst_port,
                data: p.data,
            }),
            // One bad payload is the remote peer's problem, not the router's: drop it.
            Err(err) => debug!(msg_id, %err, "dropping undecodable payload"),
        }
    }

    fn allocate_request_id(&mut self) -> u32 {
        loop {
            let id = self.next_request_id;
            self.next_request_id = self.next_request_id.wrapping_add(1).max(1);
            if !self.lookups.contains_key(&id) {
                return id;
            }
        }
    }

    fn queue(&mut self, msg: &Message) {
        match msg.encode() {
            Ok(frame) => self.transmit.push_back(frame.to_bytes()),
            Err(err) => {
                let what = msg.name();
                self.close(CloseReason::Local(format!("cannot encode {what}: {err}")));
            }
        }
    }

    fn close(&mut self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        info!(?reason, "I2CP session closed");
        self.phase = Phase::Closed;
        self.setup_deadline = None;
        for (id, _) in std::mem::take(&mut self.lookups) {
            self.events.push_back(Event::LookupResult {
                id,
                result: Err(LookupFailure::SessionClosed),
            });
        }
        self.events.push_back(Event::Closed { reason });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(value: &str) -> Vec<(String, String)> {
        vec![
            (DONT_PUBLISH_LEASESET.to_string(), value.to_string()),
            ("inbound.length".to_string(), "3".to_string()),
        ]
    }

    fn dont_publish(options: &[(String, String)]) -> &str {
        options
            .iter()
            .find(|(k, _)| k == DONT_PUBLISH_LEASESET)
            .map_or("", |(_, v)| v.as_str())
    }

    #[test]
    fn dont_publish_is_inverted_for_i2pd_2_58_and_later_only() {
        // i2pd 2.45.1, 2.56.0, 2.57.0, Java I2P 2.7.0: "true" means what it says.
        for version in ["0.9.57", "0.9.65", "0.9.66", "0.9.64"] {
            assert_eq!(
                dont_publish(&options_for_router(&opts("true"), version)),
                "true"
            );
        }
        // i2pd 2.58.0, 2.59.0 and later read it inverted.
        for version in ["0.9.67", "0.9.68", "0.10", "1.0.0"] {
            let got = options_for_router(&opts("true"), version);
            assert_eq!(dont_publish(&got), "false", "{version}");
            assert_eq!(got.get(1), opts("true").get(1), "other options untouched");
        }
        // An unknown version string changes nothing.
        for version in ["", "i2pd", "0.x.68", "0.9.68-rc"] {
            assert_eq!(
                dont_publish(&options_for_router(&opts("true"), version)),
                "true"
            );
        }
    }

    #[test]
    fn our_own_version_echoed_by_older_i2pd_is_below_the_inversion() {
        // i2pd up to 2.57 echo CLIENT_VERSION in SetDate: it must read as "not inverted".
        let ours = parse_api_version(CLIENT_VERSION);
        assert!(
            ours.is_some_and(|v| v < INVERTED_DONT_PUBLISH_FROM),
            "{ours:?}"
        );
    }

    #[test]
    fn api_versions_parse() {
        assert_eq!(parse_api_version("0.9.68"), Some((0, 9, 68)));
        assert_eq!(parse_api_version(" 0.9 "), Some((0, 9, 0)));
        assert_eq!(parse_api_version("0.9.x"), None);
        assert_eq!(parse_api_version(""), None);
    }
}

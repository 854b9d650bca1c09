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

//!
//! * [`events`]: the clock reading going in, the [`Event`]s and [`CloseReason`]s coming out.
//! * [`router_options`]: options adjusted to the router's API version (SetDate).

mod events;
mod router_options;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

pub use events::{CloseReason, Event, LookupFailure, Now, SessionError};
pub use router_options::{
    DONT_PUBLISH_LEASESET, INVERTED_DONT_PUBLISH_FROM, options_for_router, parse_api_version,
    publishes_lease_set,
};

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
            if publishes_lease_set(&self.options) {
                0
            } else {
                FLAG_UNPUBLISHED
            },
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

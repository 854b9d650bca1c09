//! Incremental server-side SOCKS 4/4a/5 handshake parser (sans-I/O).
//!
//! Bytes go in through [`Handshake::feed`] in any fragmentation; the parser walks them one at a
//! time exactly like i2pd's state machine (docs/socks.md "Parser"), so a failure is detected on the
//! byte that causes it and the result never depends on how the input was split. What it
//! produces, a [`Request`], is described in request.rs.
use std::net::{Ipv4Addr, Ipv6Addr};

use super::auth::{AuthPolicy, Password};
use super::consts::*;
use super::error::HandshakeError;
use super::reply::socks4_reply;
use super::request::{Command, Request, Target, Version};

/// What to do after feeding bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// All input consumed; read more from the client.
    NeedMore,
    /// Send `bytes` to the client, then feed `input[consumed..]` (and later reads) again.
    Reply {
        /// Bytes to write to the client (e.g. method selection `05 00`).
        bytes: Vec<u8>,
        /// How many input bytes this step used.
        consumed: usize,
    },
    /// Handshake complete. `input[consumed..]` is pipelined payload for the destination.
    Request {
        /// The parsed request.
        request: Request,
        /// How many input bytes the request used.
        consumed: usize,
    },
    /// Only under [`AuthPolicy::Require`]: check these credentials (off the runtime, it may
    /// be slow), then call [`Handshake::verdict`] and act on the step it returns; after that,
    /// feed `input[consumed..]` again.
    Verify {
        /// RFC 1929 UNAME bytes.
        username: Vec<u8>,
        /// RFC 1929 PASSWD bytes: wiped on drop, hidden from `Debug`.
        password: Password,
        /// How many input bytes the credentials used.
        consumed: usize,
    },
    /// Send `reply` (possibly empty) and close the connection.
    Fail {
        /// Bytes to write before closing (empty: close silently).
        reply: Vec<u8>,
        /// Why, for the log.
        error: HandshakeError,
    },
}

/// Parser position: the next byte expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Version,
    V4Command,
    V4Port(u8),
    V4Ip(u8),
    V4UserId,
    V4Host,
    NMethods,
    Methods(u8),
    AuthVersion,
    AuthULen,
    AuthUser(u8),
    AuthPLen,
    AuthPass(u8),
    ReqVersion,
    ReqCommand,
    ReqReserved,
    ReqAtyp,
    ReqDomainLen,
    ReqAddr(u8),
    ReqPort(u8),
    /// Credentials handed out with [`Step::Verify`]; waiting for [`Handshake::verdict`].
    AwaitVerdict,
    Done,
}

/// Outcome of one byte: keep going, or stop with a [`Step`] (its `consumed` filled later).
enum ByteOutcome {
    Continue,
    Reply(Vec<u8>),
    Request(Request),
    Verify,
    Fail(Vec<u8>, HandshakeError),
}

/// The handshake state machine for one client connection.
#[derive(Debug, Clone)]
pub struct Handshake {
    policy: AuthPolicy,
    state: State,
    version: Version,
    command: Command,
    port: u16,
    ip4: [u8; 4],
    /// Address bytes: domain name, or 4/16 IP bytes.
    addr: Vec<u8>,
    atyp: u8,
    userid: Vec<u8>,
    method: Option<u8>,
    username: Vec<u8>,
    password: Password,
    authenticated: bool,
    /// Accept Tor's RESOLVE / RESOLVE_PTR commands (F0/F1); otherwise they fail like any
    /// unknown command, as in i2pd.
    resolve: bool,
}

/// SOCKS5 general failure before the address was parsed: i2pd sends ATYP 01 and its
/// uninitialised port; we send zeros (docs/socks.md "Reply bytes").
pub(crate) const SOCKS5_EARLY_FAILURE: [u8; 10] =
    [SOCKS5_VERSION, 0x01, RSV, ATYP_IPV4, 0, 0, 0, 0, 0, 0];

impl Handshake {
    /// A fresh parser expecting the version byte.
    pub fn new(policy: AuthPolicy) -> Self {
        Handshake {
            policy,
            state: State::Version,
            version: Version::V5,
            command: Command::Connect,
            port: 0,
            ip4: [0; 4],
            addr: Vec::new(),
            atyp: 0,
            userid: Vec::new(),
            method: None,
            username: Vec::new(),
            password: Password::default(),
            authenticated: false,
            resolve: false,
        }
    }

    /// Also accept the RESOLVE (F0) and RESOLVE_PTR (F1) commands of Tor's SOCKS extensions.
    pub fn with_resolve(mut self, enabled: bool) -> Self {
        self.resolve = enabled;
        self
    }

    /// Has the parser produced its final `Request` or `Fail`?
    pub fn is_finished(&self) -> bool {
        self.state == State::Done
    }

    /// Consume bytes until something must happen. See [`Step`] for what `consumed` means.
    pub fn feed(&mut self, input: &[u8]) -> Step {
        if matches!(self.state, State::Done | State::AwaitVerdict) {
            // Feeding while a verdict is pending is a driver bug: fail closed.
            self.state = State::Done;
            return Step::Fail {
                reply: Vec::new(),
                error: HandshakeError::Finished,
            };
        }
        for (index, &byte) in input.iter().enumerate() {
            let consumed = index + 1;
            match self.byte(byte) {
                ByteOutcome::Continue => {}
                ByteOutcome::Reply(bytes) => return Step::Reply { bytes, consumed },
                ByteOutcome::Request(request) => {
                    self.state = State::Done;
                    return Step::Request { request, consumed };
                }
                ByteOutcome::Verify => {
                    // The password leaves the parser here: it never needs it again.
                    return Step::Verify {
                        username: self.username.clone(),
                        password: std::mem::take(&mut self.password),
                        consumed,
                    };
                }
                ByteOutcome::Fail(reply, error) => {
                    self.state = State::Done;
                    return Step::Fail { reply, error };
                }
            }
        }
        Step::NeedMore
    }

    /// The result of checking the credentials of [`Step::Verify`]: `01 00` and on to the
    /// request, or `01 01` and close (RFC 1929). Outside a pending verification it fails.
    pub fn verdict(&mut self, ok: bool) -> Step {
        if self.state != State::AwaitVerdict {
            self.state = State::Done;
            return Step::Fail {
                reply: Vec::new(),
                error: HandshakeError::Finished,
            };
        }
        if !ok {
            self.state = State::Done;
            return Step::Fail {
                reply: vec![AUTH_VERSION, AUTH_FAILURE],
                error: HandshakeError::AuthRejected,
            };
        }
        self.authenticated = true;
        self.state = State::ReqVersion;
        Step::Reply {
            bytes: vec![AUTH_VERSION, AUTH_SUCCESS],
            consumed: 0,
        }
    }

    fn byte(&mut self, b: u8) -> ByteOutcome {
        match self.state {
            State::Version => self.on_version(b),
            State::V4Command => self.on_v4_command(b),
            State::V4Port(n) => {
                self.port = (self.port << 8) | u16::from(b);
                self.state = if n == 0 {
                    State::V4Port(1)
                } else {
                    State::V4Ip(0)
                };
                ByteOutcome::Continue
            }
            State::V4Ip(n) => {
                if let Some(slot) = self.ip4.get_mut(usize::from(n)) {
                    *slot = b;
                }
                self.state = if n < 3 {
                    State::V4Ip(n + 1)
                } else {
                    State::V4UserId
                };
                ByteOutcome::Continue
            }
            State::V4UserId => self.on_v4_userid(b),
            State::V4Host => self.on_v4_host(b),
            State::NMethods => self.on_nmethods(b),
            State::Methods(left) => self.on_method(b, left),
            State::AuthVersion => self.on_auth_version(b),
            State::AuthULen => {
                self.state = if b == 0 {
                    State::AuthPLen
                } else {
                    State::AuthUser(b)
                };
                ByteOutcome::Continue
            }
            State::AuthUser(left) => {
                self.username.push(b);
                self.state = if left > 1 {
                    State::AuthUser(left - 1)
                } else {
                    State::AuthPLen
                };
                ByteOutcome::Continue
            }
            State::AuthPLen => {
                if b == 0 {
                    return self.on_credentials_complete();
                }
                self.state = State::AuthPass(b);
                ByteOutcome::Continue
            }
            State::AuthPass(left) => {
                self.password.push(b);
                if left > 1 {
                    self.state = State::AuthPass(left - 1);
                    return ByteOutcome::Continue;
                }
                self.on_credentials_complete()
            }
            State::ReqVersion => self.expect5(
                b,
                SOCKS5_VERSION,
                State::ReqCommand,
                HandshakeError::RequestVersion,
            ),
            State::ReqCommand => self.on_v5_command(b),
            State::ReqReserved => self.expect5(b, RSV, State::ReqAtyp, HandshakeError::Reserved),
            State::ReqAtyp => self.on_atyp(b),
            State::ReqDomainLen => {
                if b == 0 {
                    // i2pd wraps its counter and reads 256 bytes (docs/socks.md "Defects not
                    // copied" item 4); we refuse.
                    return ByteOutcome::Fail(
                        SOCKS5_EARLY_FAILURE.to_vec(),
                        HandshakeError::EmptyHost,
                    );
                }
                self.state = State::ReqAddr(b);
                ByteOutcome::Continue
            }
            State::ReqAddr(left) => {
                self.addr.push(b);
                self.state = if left > 1 {
                    State::ReqAddr(left - 1)
                } else {
                    State::ReqPort(0)
                };
                ByteOutcome::Continue
            }
            State::ReqPort(n) => {
                self.port = (self.port << 8) | u16::from(b);
                if n == 0 {
                    self.state = State::ReqPort(1);
                    return ByteOutcome::Continue;
                }
                self.finish_v5()
            }
            State::Done | State::AwaitVerdict => {
                ByteOutcome::Fail(Vec::new(), HandshakeError::Finished)
            }
        }
    }

    fn on_version(&mut self, b: u8) -> ByteOutcome {
        match b {
            SOCKS4_VERSION => {
                self.version = Version::V4;
                self.state = State::V4Command;
                ByteOutcome::Continue
            }
            SOCKS5_VERSION => {
                self.version = Version::V5;
                self.state = State::NMethods;
                ByteOutcome::Continue
            }
            // docs/socks.md "Parser": close without a reply.
            other => ByteOutcome::Fail(Vec::new(), HandshakeError::UnsupportedVersion(other)),
        }
    }

    fn on_v4_command(&mut self, b: u8) -> ByteOutcome {
        self.command = match b {
            CMD_CONNECT => Command::Connect,
            CMD_BIND => Command::Bind,
            // Port and IP are not parsed yet: i2pd sends garbage there, we send zeros
            // (docs/socks.md "Reply bytes").
            other => {
                return ByteOutcome::Fail(
                    socks4_reply(SOCKS4_REJECTED, 0, [0; 4]),
                    HandshakeError::Socks4Command(other),
                );
            }
        };
        self.state = State::V4Port(0);
        ByteOutcome::Continue
    }

    fn socks4_fail(&self, error: HandshakeError) -> ByteOutcome {
        ByteOutcome::Fail(socks4_reply(SOCKS4_REJECTED, self.port, self.ip4), error)
    }

    fn on_v4_userid(&mut self, b: u8) -> ByteOutcome {
        if b != 0 {
            if self.userid.len() >= SOCKS4_MAX_USERID {
                return self.socks4_fail(HandshakeError::UserIdTooLong);
            }
            self.userid.push(b);
            return ByteOutcome::Continue;
        }
        // DSTIP 0.0.0.x with x != 0 announces a SOCKS4a host name (docs/socks.md "Parser").
        if self.ip4[..3] == [0, 0, 0] && self.ip4[3] != 0 {
            self.version = Version::V4a;
            self.state = State::V4Host;
            return ByteOutcome::Continue;
        }
        self.finish_v4(Target::Ipv4(Ipv4Addr::from(self.ip4)))
    }

    /// A complete SOCKS4/4a request; refused with `5b` when a login is required (SOCKS4 has
    /// no password field; Java I2P refuses it the same way).
    fn finish_v4(&mut self, target: Target) -> ByteOutcome {
        if self.policy.is_required() {
            return self.socks4_fail(HandshakeError::Socks4NeedsAuth);
        }
        self.state = State::Done;
        ByteOutcome::Request(self.build_request(target))
    }

    fn on_v4_host(&mut self, b: u8) -> ByteOutcome {
        if b != 0 {
            if self.addr.len() >= SOCKS4A_MAX_HOST {
                return self.socks4_fail(HandshakeError::HostTooLong);
            }
            self.addr.push(b);
            return ByteOutcome::Continue;
        }
        match self.domain() {
            Ok(target) => self.finish_v4(target),
            Err(error) => self.socks4_fail(error),
        }
    }

    fn on_nmethods(&mut self, b: u8) -> ByteOutcome {
        if b == 0 {
            // i2pd wraps the counter and swallows 256 bytes (docs/socks.md "Defects not copied"
            // item 4); no method was offered.
            return ByteOutcome::Fail(
                vec![SOCKS5_VERSION, METHOD_NONE_ACCEPTABLE],
                HandshakeError::NoAcceptableMethod,
            );
        }
        self.state = State::Methods(b);
        ByteOutcome::Continue
    }

    fn on_method(&mut self, b: u8, left: u8) -> ByteOutcome {
        // Walking the list, the LAST recognised method wins (i2pd HEAD, docs/socks.md "Parser").
        match b {
            METHOD_NO_AUTH if self.policy.allows_no_auth() => self.method = Some(b),
            METHOD_USER_PASS => self.method = Some(b),
            _ => {}
        }
        if left > 1 {
            self.state = State::Methods(left - 1);
            return ByteOutcome::Continue;
        }
        match self.method {
            Some(METHOD_USER_PASS) => {
                self.state = State::AuthVersion;
                ByteOutcome::Reply(vec![SOCKS5_VERSION, METHOD_USER_PASS])
            }
            Some(method) => {
                self.state = State::ReqVersion;
                ByteOutcome::Reply(vec![SOCKS5_VERSION, method])
            }
            None => ByteOutcome::Fail(
                vec![SOCKS5_VERSION, METHOD_NONE_ACCEPTABLE],
                HandshakeError::NoAcceptableMethod,
            ),
        }
    }

    fn on_auth_version(&mut self, b: u8) -> ByteOutcome {
        if b != AUTH_VERSION {
            // i2pd answers with a SOCKS5 general failure, not an RFC 1929 status (docs/socks.md
            // "Parser").
            return ByteOutcome::Fail(
                SOCKS5_EARLY_FAILURE.to_vec(),
                HandshakeError::AuthVersion(b),
            );
        }
        self.state = State::AuthULen;
        ByteOutcome::Continue
    }

    fn on_credentials_complete(&mut self) -> ByteOutcome {
        if self.policy.is_required() {
            self.state = State::AwaitVerdict;
            return ByteOutcome::Verify;
        }
        // Any login passes (like i2pd): the password is not needed, wipe it now.
        self.password = Password::default();
        self.authenticated = true;
        self.state = State::ReqVersion;
        ByteOutcome::Reply(vec![AUTH_VERSION, AUTH_SUCCESS])
    }

    /// Check a byte that must equal `expected`; otherwise a SOCKS5 general failure.
    fn expect5(
        &mut self,
        b: u8,
        expected: u8,
        next: State,
        error: impl FnOnce(u8) -> HandshakeError,
    ) -> ByteOutcome {
        if b != expected {
            return ByteOutcome::Fail(SOCKS5_EARLY_FAILURE.to_vec(), error(b));
        }
        self.state = next;
        ByteOutcome::Continue
    }

    fn on_v5_command(&mut self, b: u8) -> ByteOutcome {
        self.command = match b {
            CMD_CONNECT => Command::Connect,
            CMD_BIND => Command::Bind,
            CMD_UDP_ASSOCIATE => Command::UdpAssociate,
            CMD_RESOLVE if self.resolve => Command::Resolve,
            CMD_RESOLVE_PTR if self.resolve => Command::ResolvePtr,
            other => {
                return ByteOutcome::Fail(
                    SOCKS5_EARLY_FAILURE.to_vec(),
                    HandshakeError::Command(other),
                );
            }
        };
        self.state = State::ReqReserved;
        ByteOutcome::Continue
    }

    fn on_atyp(&mut self, b: u8) -> ByteOutcome {
        self.atyp = b;
        self.state = match b {
            ATYP_IPV4 => State::ReqAddr(4),
            ATYP_IPV6 => State::ReqAddr(16),
            ATYP_DOMAIN => State::ReqDomainLen,
            // i2pd: general failure, not "address type not supported" (docs/socks.md "Parser").
            other => {
                return ByteOutcome::Fail(
                    SOCKS5_EARLY_FAILURE.to_vec(),
                    HandshakeError::AddressType(other),
                );
            }
        };
        ByteOutcome::Continue
    }

    fn finish_v5(&mut self) -> ByteOutcome {
        let target = match self.atyp {
            ATYP_IPV4 => <[u8; 4]>::try_from(self.addr.as_slice())
                .map(|a| Target::Ipv4(Ipv4Addr::from(a)))
                .map_err(|_| HandshakeError::AddressType(self.atyp)),
            ATYP_IPV6 => <[u8; 16]>::try_from(self.addr.as_slice())
                .map(|a| Target::Ipv6(Ipv6Addr::from(a)))
                .map_err(|_| HandshakeError::AddressType(self.atyp)),
            _ => self.domain(),
        };
        match target {
            Ok(target) => ByteOutcome::Request(self.build_request(target)),
            Err(error) => ByteOutcome::Fail(SOCKS5_EARLY_FAILURE.to_vec(), error),
        }
    }

    fn domain(&self) -> Result<Target, HandshakeError> {
        if self.addr.is_empty() {
            return Err(HandshakeError::EmptyHost);
        }
        Ok(Target::Domain(self.addr.clone()))
    }

    fn build_request(&self, target: Target) -> Request {
        let username = self.authenticated.then(|| self.username.clone());
        let socks4_ip = match self.version {
            Version::V5 => Ipv4Addr::UNSPECIFIED,
            Version::V4 | Version::V4a => Ipv4Addr::from(self.ip4),
        };
        Request {
            version: self.version,
            command: self.command,
            target,
            port: self.port,
            username,
            userid: self.userid.clone(),
            socks4_ip,
        }
    }
}

//! The seam between the SOCKS front end and I2P streaming: the lead implements
//! [`I2pConnector`] over the streaming layer; tests implement it with in-memory pipes.
use std::future::Future;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};

use super::reply::ReplyCode;

/// Opens I2P streams for the SOCKS server.
pub trait I2pConnector: Send + Sync + 'static {
    /// A bidirectional byte stream to the destination. `shutdown()` on it must end our sending
    /// direction only (CLOSE after the queued data), so half-closed clients still get answers.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Resolve `name` (`.b32.i2p` or address-book name) and open a stream to it on `port`.
    /// Success = destination found (i2pd semantics, docs/socks.md "From a request to a stream");
    /// `initial_data` goes in the SYN. Dropping the future must release everything it holds (the
    /// client left).
    fn connect(
        &self,
        name: &str,
        port: u16,
        initial_data: Vec<u8>,
    ) -> impl Future<Output = Result<Self::Stream, ConnectError>> + Send;

    /// [`connect`](Self::connect) on behalf of a SOCKS5 `user` (isolation by credentials:
    /// each user may get its own destination). `None` = the shared destination. The default
    /// ignores the user.
    fn connect_as(
        &self,
        user: Option<Vec<u8>>,
        name: &str,
        port: u16,
        initial_data: Vec<u8>,
    ) -> impl Future<Output = Result<Self::Stream, ConnectError>> + Send {
        let _ = user;
        self.connect(name, port, initial_data)
    }

    /// Check that `name` (a `.i2p` name) can be connected to, for RESOLVE: `.b32.i2p`
    /// addresses by their syntax only (their LeaseSet is looked up at CONNECT time),
    /// address-book names by asking the router (an unknown name fails at once). The default
    /// accepts every name.
    fn check_name(&self, name: &str) -> impl Future<Output = Result<(), ConnectError>> + Send {
        let _ = name;
        std::future::ready(Ok(()))
    }
}

/// Why a stream could not be opened. [`ConnectError::reply_code`] gives the SOCKS5 REP byte
/// (SOCKS4 clients always get 91).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The LeaseSet lookup failed → `04` (docs/socks.md "Checks when the request is
    /// complete"); extended: `F0`.
    #[error("destination not found")]
    NotFound,
    /// The lookup got no answer in time → `04`; extended: `F0`.
    #[error("lookup timed out")]
    LookupTimedOut,
    /// The router's address book does not know the host name → `04`; extended: `F6`.
    #[error("host name unknown to the router's address book")]
    UnknownName,
    /// Malformed name (empty, too long, not UTF-8) → `04`; extended: `F6`.
    #[error("malformed I2P address")]
    BadAddress,
    /// The router answered with a destination that does not match the address → `04`;
    /// extended: `F1`.
    #[error("the router returned a destination that does not match the address")]
    BadLeaseSet,
    /// A b33 address (encrypted LeaseSet): needs a secret or key we do not have → `04`;
    /// extended: `F4`.
    #[error("encrypted LeaseSet (b33 address): not supported")]
    KeyRequired,
    /// Destination known but the stream could not be created → `04` like i2pd.
    #[error("destination unreachable")]
    Unreachable,
    /// Our own destination has no tunnels/LeaseSet yet: i2pd fails the lookup at once with
    /// `04` (docs/socks.md "Names"), so do we.
    #[error("local destination not ready")]
    NotReady,
    /// No I2CP session with the router (router down or restarting) → `01` general failure:
    /// the target may well exist, the problem is on our side. (i2pd never has this case: it
    /// is the router.)
    #[error("I2P router not available")]
    RouterDown,
    /// Isolation by credentials: this user would need a new destination but the configured
    /// number of per-user sessions is reached → `01` general failure.
    #[error("per-user session limit reached")]
    SessionLimit,
    /// Anything else → `01` general failure.
    #[error("{0}")]
    Other(String),
}

impl ConnectError {
    /// The SOCKS5 reply code for this failure.
    pub fn reply_code(&self) -> ReplyCode {
        match self {
            ConnectError::NotFound
            | ConnectError::LookupTimedOut
            | ConnectError::UnknownName
            | ConnectError::BadAddress
            | ConnectError::BadLeaseSet
            | ConnectError::KeyRequired
            | ConnectError::Unreachable
            | ConnectError::NotReady => ReplyCode::HostUnreachable,
            ConnectError::RouterDown | ConnectError::SessionLimit | ConnectError::Other(_) => {
                ReplyCode::GeneralFailure
            }
        }
    }

    /// The reply code with extended errors on (Tor proposal 304 codes where one fits the
    /// failure, else [`reply_code`](Self::reply_code)).
    pub fn extended_code(&self) -> ReplyCode {
        match self {
            ConnectError::NotFound | ConnectError::LookupTimedOut => ReplyCode::LeaseSetNotFound,
            ConnectError::BadLeaseSet => ReplyCode::LeaseSetInvalid,
            ConnectError::KeyRequired => ReplyCode::KeyRequired,
            ConnectError::UnknownName | ConnectError::BadAddress => ReplyCode::BadAddress,
            _ => self.reply_code(),
        }
    }

    /// The code to send: [`extended_code`](Self::extended_code) when `extended`, else
    /// [`reply_code`](Self::reply_code).
    pub fn code(&self, extended: bool) -> ReplyCode {
        if extended {
            self.extended_code()
        } else {
            self.reply_code()
        }
    }
}

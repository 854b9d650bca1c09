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
    /// Success = destination found (i2pd semantics, docs/socks.md "From a request to a stream"); `initial_data` goes
    /// in the SYN. Dropping the future must release everything it holds (the client left).
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
}

/// Why a stream could not be opened. [`ConnectError::reply_code`] gives the SOCKS5 REP byte
/// (SOCKS4 clients always get 91).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// Name not in the address book, bad b32, HostLookup or LeaseSet lookup failed → `04`
    /// (docs/socks.md "Checks when the request is complete").
    #[error("destination not found")]
    NotFound,
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
            ConnectError::NotFound | ConnectError::Unreachable | ConnectError::NotReady => {
                ReplyCode::HostUnreachable
            }
            ConnectError::RouterDown | ConnectError::SessionLimit | ConnectError::Other(_) => {
                ReplyCode::GeneralFailure
            }
        }
    }
}

//! The connector the SOCKS front end opens I2P streams through: from the shared
//! destination, or with isolation from the user's own; lookup failures become SOCKS errors.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::data::{b32_hash, b33_needs_key};
use crate::i2cp::LookupError;
use crate::socks::{ConnectError, I2pConnector};
use crate::streaming::StreamHandle;
use crate::streaming::half_close::DeferredClose;

use super::dest_session::DestSession;
use super::isolation::{Lease, Pool, PoolError};
use super::user_sessions::UserSessions;

/// Opens I2P streams for the SOCKS front end: from the shared destination, or with
/// isolation from the user's own.
#[derive(Clone)]
pub(super) struct Connector {
    pub(super) shared: Arc<DestSession>,
    pub(super) pool: Option<Arc<Pool<UserSessions>>>,
}

/// A stream that keeps its user's session alive (leased) while it is open.
pub(super) struct Leased<S> {
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
pub(super) fn connect_error(err: LookupError) -> ConnectError {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i2cp;
    use crate::socks;

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

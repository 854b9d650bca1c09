//! Upstream SOCKS5 outproxy for non-`.i2p` names (docs/socks.md "Outproxy", as i2pd 2.51.0 and
//! later).
//!
//! The byte rules are plain functions; [`connect_outproxy`] is the thin tokio driver.
use std::io;
use std::path::Path;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use super::consts::*;

/// Where the upstream SOCKS5 server listens (`outproxy` / `outproxyport` in i2pd.conf).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutproxyConfig {
    /// Host name or IP; with `port == 0` a unix-domain socket path (i2pd HEAD).
    pub host: String,
    /// TCP port, or 0 for a unix socket.
    pub port: u16,
}

/// Why the upstream failed. Every variant becomes REP `03` for the client (docs/socks.md
/// "Outproxy").
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OutproxyError {
    /// Could not reach the upstream.
    #[error("cannot connect to outproxy {target}: {source}")]
    Connect {
        /// host:port or socket path.
        target: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// I/O error during the upstream handshake.
    #[error("outproxy handshake: {0}")]
    Io(#[from] io::Error),
    /// Upstream did not accept "no authentication".
    #[error("outproxy refused method selection (reply {0:#04x})")]
    Method(u8),
    /// Upstream CONNECT reply code was not success.
    #[error("outproxy refused CONNECT with reply {0:#04x}")]
    Refused(u8),
    /// Upstream reply carried an unknown address type.
    #[error("outproxy reply has unknown address type {0:#04x}")]
    AddressType(u8),
    /// Name longer than 255 bytes (cannot be encoded).
    #[error("host name too long for SOCKS5")]
    HostTooLong,
    /// The upstream did not finish in time.
    #[error("outproxy timed out")]
    Timeout,
}

/// Method selection we send: one method, no authentication (docs/socks.md "Outproxy").
pub const GREETING: [u8; 3] = [SOCKS5_VERSION, 1, METHOD_NO_AUTH];

/// Check the 2-byte method reply: only the second byte matters (i2pd does not check the first).
pub fn check_method_reply(reply: [u8; 2]) -> Result<(), OutproxyError> {
    match reply {
        [_, METHOD_NO_AUTH] => Ok(()),
        [_, other] => Err(OutproxyError::Method(other)),
    }
}

/// CONNECT by name: `05 01 00 03 <len> <host> <port BE>` (docs/socks.md "Outproxy").
/// The name goes as the client sent it (bytes, not necessarily UTF-8), like i2pd.
pub fn connect_request(host: impl AsRef<[u8]>, port: u16) -> Result<Vec<u8>, OutproxyError> {
    let host = host.as_ref();
    let len = u8::try_from(host.len()).map_err(|_| OutproxyError::HostTooLong)?;
    let mut out = vec![SOCKS5_VERSION, CMD_CONNECT, RSV, ATYP_DOMAIN, len];
    out.extend_from_slice(host);
    out.extend_from_slice(&port.to_be_bytes());
    Ok(out)
}

/// Given the first 5 reply bytes (VER REP RSV ATYP + first address byte), how many bytes of
/// bound address and port remain to be read and discarded (docs/socks.md "Outproxy"). Unlike i2pd
/// the name length is read unsigned, so bound names ≥ 128 bytes work.
pub fn reply_remaining(head: [u8; 5]) -> Result<usize, OutproxyError> {
    let [_, rep, _, atyp, first] = head;
    if rep != 0 {
        return Err(OutproxyError::Refused(rep));
    }
    match atyp {
        ATYP_IPV4 => Ok(4 - 1 + 2),
        ATYP_IPV6 => Ok(16 - 1 + 2),
        ATYP_DOMAIN => Ok(usize::from(first) + 2),
        other => Err(OutproxyError::AddressType(other)),
    }
}

/// A byte stream to the upstream, TCP or unix socket.
pub trait UpstreamIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> UpstreamIo for T {}

/// Connect to the upstream and ask it for `host:port`. Returns the stream ready for relaying.
pub async fn connect_outproxy(
    config: &OutproxyConfig,
    host: &[u8],
    port: u16,
) -> Result<Box<dyn UpstreamIo>, OutproxyError> {
    let mut upstream: Box<dyn UpstreamIo> = if config.port == 0 {
        let path = Path::new(&config.host);
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| OutproxyError::Connect {
                target: config.host.clone(),
                source,
            })?;
        Box::new(stream)
    } else {
        // The system resolver tries every address in turn (docs/socks.md "Outproxy").
        let stream = TcpStream::connect((config.host.as_str(), config.port))
            .await
            .map_err(|source| OutproxyError::Connect {
                target: format!("{}:{}", config.host, config.port),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        Box::new(stream)
    };
    handshake(&mut upstream, host, port).await?;
    Ok(upstream)
}

/// The client side of the SOCKS5 exchange with the upstream.
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin + ?Sized>(
    upstream: &mut S,
    host: &[u8],
    port: u16,
) -> Result<(), OutproxyError> {
    let request = connect_request(host, port)?;
    upstream.write_all(&GREETING).await?;
    let mut method = [0u8; 2];
    upstream.read_exact(&mut method).await?;
    check_method_reply(method)?;
    upstream.write_all(&request).await?;
    let mut head = [0u8; 5];
    upstream.read_exact(&mut head).await?;
    let mut rest = vec![0u8; reply_remaining(head)?];
    upstream.read_exact(&mut rest).await?;
    Ok(())
}

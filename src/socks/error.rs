//! Why a handshake ended without a request (for logs); the bytes to send travel beside it.
use thiserror::Error;

/// The reason the parser refused a client. Each variant documents the reply it comes with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// First byte neither 04 nor 05: closed without a reply (docs/socks.md "Parser").
    #[error("unsupported SOCKS version byte {0:#04x}")]
    UnsupportedVersion(u8),
    /// SOCKS4 command other than CONNECT/BIND: `00 5b` + zeros.
    #[error("unsupported SOCKS4 command {0:#04x}")]
    Socks4Command(u8),
    /// SOCKS4 user id longer than we keep: `00 5b`.
    #[error("SOCKS4 user id too long")]
    UserIdTooLong,
    /// SOCKS4a host name of 256+ bytes: `00 5b`.
    #[error("SOCKS4a host name longer than 255 bytes")]
    HostTooLong,
    /// Empty host name (SOCKS4a) or domain length 0 (SOCKS5).
    #[error("empty host name")]
    EmptyHost,
    /// No offered method acceptable (or NMETHODS = 0): `05 ff`.
    #[error("no acceptable authentication method offered")]
    NoAcceptableMethod,
    /// RFC 1929 sub-negotiation version not 01: `05 01 …` like i2pd.
    #[error("bad username/password sub-negotiation version {0:#04x}")]
    AuthVersion(u8),
    /// A login is required and SOCKS4/4a has no password: `00 5b <port> <ip as sent>`.
    #[error("SOCKS4/4a refused: a username and password are required (use SOCKS5)")]
    Socks4NeedsAuth,
    /// The auth policy rejected the credentials: `01 01`.
    #[error("username/password rejected")]
    AuthRejected,
    /// Request VER not 05: general failure.
    #[error("bad SOCKS5 request version {0:#04x}")]
    RequestVersion(u8),
    /// Request CMD not 01/02/03: general failure.
    #[error("unknown SOCKS5 command {0:#04x}")]
    Command(u8),
    /// RSV not 00: general failure.
    #[error("non-zero reserved byte {0:#04x}")]
    Reserved(u8),
    /// ATYP not 01/03/04: general failure (i2pd sends 01, not 08).
    #[error("unknown address type {0:#04x}")]
    AddressType(u8),
    /// Input arrived after the parser already finished or failed.
    #[error("handshake already finished")]
    Finished,
}

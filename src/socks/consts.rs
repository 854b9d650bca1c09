//! Every wire byte of SOCKS 4/4a/5 and RFC 1929 used by i2psocks (docs/socks.md).
#![allow(missing_docs)]

#[rustfmt::skip]
mod table {
    pub const SOCKS4_VERSION: u8            = 0x04;
    pub const SOCKS5_VERSION: u8            = 0x05;
    /// SOCKS4 replies start with a zero "version" byte (not 04).
    pub const SOCKS4_REPLY_VERSION: u8      = 0x00;
    pub const SOCKS4_GRANTED: u8            = 0x5a; // 90
    pub const SOCKS4_REJECTED: u8           = 0x5b; // 91

    pub const CMD_CONNECT: u8               = 0x01;
    pub const CMD_BIND: u8                  = 0x02;
    pub const CMD_UDP_ASSOCIATE: u8         = 0x03;
    /// Tor's SOCKS extensions (Tor's socks-extensions.txt, section 2).
    pub const CMD_RESOLVE: u8               = 0xf0;
    pub const CMD_RESOLVE_PTR: u8           = 0xf1;

    pub const METHOD_NO_AUTH: u8            = 0x00;
    pub const METHOD_USER_PASS: u8          = 0x02;
    pub const METHOD_NONE_ACCEPTABLE: u8    = 0xff;

    pub const ATYP_IPV4: u8                 = 0x01;
    pub const ATYP_DOMAIN: u8               = 0x03;
    pub const ATYP_IPV6: u8                 = 0x04;

    pub const RSV: u8                       = 0x00;

    /// RFC 1929 sub-negotiation version and status bytes.
    pub const AUTH_VERSION: u8              = 0x01;
    pub const AUTH_SUCCESS: u8              = 0x00;
    pub const AUTH_FAILURE: u8              = 0x01;

    /// SOCKS4a marks a host name with DSTIP 0.0.0.x, x != 0 (docs/socks.md "Parser").
    pub const SOCKS4A_MAX_HOST: usize       = 255;
    /// i2pd stores the SOCKS4 user id without limit; we stop at its read-buffer size (docs/socks.md
    /// "Limits") so a client cannot grow our memory forever.
    pub const SOCKS4_MAX_USERID: usize      = 8192;
}
pub use table::*;

//! SOCKS 4/4a/5 front end (docs/socks.md).
//!
//! * [`Handshake`] (handshake.rs): sans-I/O parser, bytes in → [`Step`] out, any
//!   fragmentation; the [`Request`] it produces is in request.rs.
//! * [`classify`] (route.rs): request → [`Route`] (I2P, outproxy, or refuse with a code).
//! * [`reply_success`] / [`reply_failure`] (reply.rs): the exact bytes i2pd sends.
//! * [`AuthPolicy`] (auth.rs): accept any login like i2pd, or require one from the users
//!   file of `--require-auth` ([`users`]); passwords are checked with Argon2 working memory
//!   that is kept and reused (password_check.rs).
//! * [`serve`] / [`bind`] (server.rs): thin tokio driver over an [`I2pConnector`]: the accept
//!   loop, which hands each client to the per-connection handler (connection.rs); both read
//!   the [`ServerConfig`] (server_config.rs).
//! * [`outproxy`]: upstream SOCKS5 for non-`.i2p` names (TCP, or a unix socket when port = 0).
//! * [`http_connect`]: or outproxies inside I2P, spoken to with HTTP CONNECT over an I2P
//!   stream, tried in turn until one answers ([`ServerConfig::i2p_outproxies`]; the I/O
//!   is in i2p_outproxy.rs).
//! * [`udp`] (sans-I/O) and [`udp_relay`] (driver): SOCKS5 UDP ASSOCIATE over I2P datagrams,
//!   when [`ServerConfig::udp`] is set (otherwise refused with `07` like i2pd).
//! * [`virtual_addr`]: Tor's RESOLVE / RESOLVE_PTR (F0/F1) with addresses from a virtual
//!   range, when [`ServerConfig::virtual_addrs`] is set (otherwise F0/F1 fail like any
//!   unknown command, as in i2pd); a CONNECT to such an address goes to its name.
//!
//! Deliberate differences from i2pd (docs/socks.md "Defects not copied"): no hang on 1–3 character
//! names, such names are not `.i2p`; zero ports instead of uninitialised memory in early failures;
//! NMETHODS = 0 → `05 ff`; empty domain → general failure; the accept loop survives errors; a
//! connection cap (new clients wait in the backlog); a handshake timeout; TCP half-close is
//! honoured; a client that resets its connection during the lookup cancels it (one that
//! half-closes still gets its reply); failure replies are followed by a lingering close so
//! pipelined data cannot turn the close into a reply-eating RST.
//!
//! [`ConnectError`] → reply: `NotFound`/`Unreachable`/`NotReady` → `04` (as i2pd),
//! `RouterDown`/`Other` → `01`; SOCKS4 always 91. Every outproxy failure → `03`. With
//! [`ServerConfig::extended_errors`], I2P failures get Tor's proposal 304 codes F0–F7 instead
//! where one fits ([`ConnectError::extended_code`]).

// Client bytes must never panic the proxy: malformed requests are errors.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]
pub mod auth;
pub mod consts;
mod copy;
pub mod error;
pub mod handshake;
pub mod reply;
pub mod request;
pub mod route;

pub use auth::{AuthPolicy, CredentialCheck, Password};
pub use error::HandshakeError;
pub use handshake::{Handshake, Step};
pub use reply::{
    BoundAddr, ReplyCode, is_i2p_name, reply_failure, reply_resolved, reply_resolved_ptr,
    reply_success,
};
pub use request::{Command, Request, Target, Version};
pub use route::{Route, classify};

mod connection;
pub mod connector;
pub mod http_connect;
mod i2p_outproxy;
pub mod listener;
mod login_cache;
pub mod outproxy;
mod password_check;
pub mod server;
pub mod server_config;
pub mod udp;
pub mod udp_relay;
pub mod users;
pub mod virtual_addr;

pub use connector::{ConnectError, I2pConnector};
pub use http_connect::{I2pOutproxies, I2pOutproxy};
pub use listener::{ClientConn, Listener, UnixPerms, bind_unix};
pub use outproxy::{OutproxyConfig, OutproxyError};
pub use server::{BindError, bind, serve, serve_all};
pub use server_config::{DEFAULT_MAX_CONNECTIONS, ServerConfig};
pub use udp_relay::{
    DatagramBackend, DatagramPort, IncomingDatagram, ResolveFuture, UdpRelayConfig,
};
pub use virtual_addr::{VirtualAddrs, VirtualMap, VirtualRange};

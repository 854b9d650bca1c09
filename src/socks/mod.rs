//! SOCKS 4/4a/5 front end: a sans-I/O handshake parser, exact reply bytes, routing, and a thin
//! tokio server (i2pd-reference B, C).
pub mod auth;
pub mod consts;
pub mod error;
pub mod reply;
pub mod request;
pub mod route;

pub use auth::AuthPolicy;
pub use error::HandshakeError;
pub use reply::{BoundAddr, ReplyCode, is_i2p_name, reply_failure, reply_success};
pub use request::{Command, Handshake, Request, Step, Target, Version};
pub use route::{Route, classify};

mod client;
pub mod connector;
pub mod outproxy;
pub mod server;

pub use connector::{ConnectError, I2pConnector};
pub use outproxy::{OutproxyConfig, OutproxyError};
pub use server::{BindError, ServerConfig, bind, serve};

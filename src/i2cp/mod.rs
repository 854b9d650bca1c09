//! I2CP client layer: talks to the router's I2CP server (i2pd `[i2cp]`).
//!
//! * [`framing`]: protocol byte, `len ‖ type ‖ body` frames, 65535 cap.
//! * [`message`]: one type per I2CP message, strict decode / encode.
//! * [`payload`]: the gzip wrapper carrying ports and protocol number.
//! * [`session`]: sans-I/O session state machine (no sockets, no clock).
//! * [`driver`]: the tokio task per session, reconnects, public [`I2cpHandle`].

// Router bytes must never panic the proxy (common brief, style.md §14).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub mod driver;
pub mod framing;
pub mod message;
pub mod payload;
pub mod session;
mod wire;

pub use driver::{
    DownReason, I2cpClientConfig, I2cpHandle, Inbound, LookupError, SendError, SessionState, start,
};
pub use payload::Compression;
pub use wire::{DecodeError, EncodeError};

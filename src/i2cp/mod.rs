//! I2CP client layer: talks to the router's I2CP server (i2pd `[i2cp]`). Bottom to top:
//!
//! * [`framing`]: protocol byte, `len ‖ type ‖ body` frames, 65535 cap.
//! * [`message`]: one type per I2CP message ([`MessageType`](message::MessageType) numbers
//!   them once), strict decode / encode.
//! * [`payload`]: the gzip wrapper carrying ports and the [`protocol`] number.
//! * [`session`]: sans-I/O session state machine (no sockets, no clock).
//! * [`driver`]: the tokio task per session, reconnects, public [`I2cpHandle`], and the
//!   [`Inbound`] payloads it hands to the layer above.
//!
//! Use from the upper layers:
//!
//! ```ignore
//! let handle = i2cp::start(I2cpClientConfig { address, port, keys, options,
//!     lookup_timeout, reconnect_max_delay, i2cp_enabled_in_config, after_unclean_exit })
//!     .await; // returns at once
//! let mut status = handle.status();            // Connecting → Ready, Down(reason) while reconnecting
//! let mut streaming = handle.subscribe(protocol::STREAMING);   // Inbound { from_port, to_port, payload }
//! let dest = handle.lookup_name("web.i2p").await?;                      // or a .b32.i2p name
//! handle.send(&dest, protocol::STREAMING, 0, 80, &packet)?;    // non-blocking, bounded queue
//! handle.shutdown().await;                     // DestroySession, no reconnect
//! ```
//!
//! One session per connection (i2pd allows no more, docs/i2cp.md "Framing"); call [`start`]
//! once per destination. The session is created at start-up and kept, because the
//! router's first LeaseSet request comes 3–14 s after creation (docs/i2cp.md "Timings seen on the
//! wire").

// Router bytes must never panic the proxy: malformed messages are errors.
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
    DownReason, I2cpClientConfig, I2cpHandle, Inbound, LookupError, SESSION_START_WAIT, SendError,
    SessionState, start,
};
pub use payload::{Compression, protocol};
pub use wire::{DecodeError, EncodeError};

//! The running proxy: wires the layers together.
//!
//! SOCKS front end → `Connector` → name lookup over I2CP → a stream from the
//! streaming driver, whose packets travel as I2CP payloads (protocol 6).
//! UDP ASSOCIATE → `DatagramHub` → repliable datagrams (protocol 17) from our destination;
//! received protocol 17 (verified) and 18 (raw) payloads go to the association owning the
//! destination port.
//!
//! What lives where:
//! * [`run`] (run.rs): start to stop; [`RunError`] (error.rs) says why it stopped.
//! * keys.rs: the proxy's own keys file, locked and loaded.
//! * dest_session.rs: one destination at work (I2CP session plus streaming task), over
//!   the I2CP packet sink (packet_sink.rs); detours.rs gives it fresh destinations for
//!   servers that stop answering it.
//! * [`isolation`]: the pool of per-user sessions of `--isolate` (generic, tested without
//!   a router); user_sessions.rs opens its sessions.
//! * connector.rs: how the SOCKS front end opens streams (shared or per-user session).
//! * datagram_hub.rs and port_table.rs: UDP ASSOCIATE over I2P datagrams.
//! * session_state.rs: session states to the log; shutdown.rs: signals and refusals.

mod connector;
mod datagram_hub;
mod dest_session;
mod detours;
mod error;
pub mod isolation;
mod keys;
mod packet_sink;
mod port_table;
mod run;
mod session_state;
mod shutdown;
mod user_sessions;

pub use error::RunError;
pub use keys::{load_keys, lock_keys};
pub use run::run;
pub use shutdown::shutdown_signal;

// The I2CP protocol numbers, defined once in the i2cp layer; here under the names the
// files of this module use.
use crate::i2cp::protocol::{
    DATAGRAM as PROTO_DATAGRAM, DATAGRAM2 as PROTO_DATAGRAM2, DATAGRAM3 as PROTO_DATAGRAM3,
    RAW as PROTO_RAW, STREAMING as PROTO_STREAMING,
};

//! I2P data structures: base32/base64 with I2P's alphabet, destinations,
//! keys files in i2pd's byte format, LeaseSet2, signatures.
//!
//! CONTRACT (other layers compile against these names; implementations may grow,
//! signatures of these items must not change without updating all callers).
//!
//! Layout:
//! * [`reader`]: the bounded [`Reader`] every binary decoder in the crate uses.
//! * `encoding`: I2P base64, lowercase base32, `.b32.i2p` names.
//! * `destination`: [`Destination`] (KeysAndCert) and signature-type sizes.
//! * `keys`: [`PrivateKeys`] in i2pd's keys-file byte layout (docs/keys-file.md).
//! * [`keys_file`]: loading/creating keys files on disk (the only I/O here).
//! * [`lease_set`]: building and parsing LeaseSet2 (docs/i2cp.md "LeaseSet2").
//! * [`mapping`]: I2P String and Mapping (sorted keys), for I2CP.
//! * [`datagram`]: repliable (signed) datagrams, I2CP protocol 17.

// Input from files and the network must never panic: malformed bytes are errors.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use thiserror::Error;

pub mod datagram;
mod destination;
mod encoding;
mod keys;
pub mod keys_file;
pub mod lease_set;
pub mod mapping;
pub mod reader;

pub use destination::{Destination, SigType};
pub use encoding::{
    b32_hash, b33_needs_key, base32_decode, base32_encode, base64_decode, base64_encode,
};
pub use keys::{
    CRYPTO_ELGAMAL, CRYPTO_X25519, KeysError, PrivateKeys, SIG_ED25519, crypto_type_name,
    sig_type_name,
};
pub use reader::Reader;

/// Errors decoding or building I2P structures.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum DataError {
    /// Input ended before the structure was complete; names what was being read.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// A field holds a value we cannot accept.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// A signature or crypto type we recognise but do not support.
    #[error("unsupported {what} type {code}")]
    Unsupported { what: &'static str, code: u16 },
}

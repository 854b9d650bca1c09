//! I2P data structures: base32/base64 with I2P's alphabet, destinations,
//! keys files in i2pd's byte format, LeaseSet2, signatures.
//!
//! CONTRACT (other layers compile against these names; implementations may grow,
//! signatures of these items must not change without updating all callers).

use thiserror::Error;

/// Errors decoding or building I2P structures.
#[derive(Debug, Error, PartialEq, Eq)]
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

/// I2P base64 (alphabet `A-Z a-z 0-9 - ~`, `=` padding).
pub fn base64_encode(bytes: &[u8]) -> String {
    let _ = bytes;
    todo!()
}

/// Decode I2P base64; `None` when the text is not valid.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let _ = text;
    todo!()
}

/// RFC 4648 base32, lowercase, no padding.
pub fn base32_encode(bytes: &[u8]) -> String {
    let _ = bytes;
    todo!()
}

/// Decode lowercase unpadded base32; `None` when the text is not valid.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let _ = text;
    todo!()
}

/// Decode a `<52 chars>.b32.i2p` name into the 32-byte destination hash.
/// Only exactly 52 lowercase base32 chars are accepted (i2pd-reference B.5).
pub fn b32_hash(name: &str) -> Option<[u8; 32]> {
    let _ = name;
    todo!()
}

/// A Destination (KeysAndCert): kept as its exact wire bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Destination {
    bytes: Vec<u8>,
}

impl Destination {
    /// Parse a destination at the start of `buf`; returns it and the bytes consumed.
    pub fn parse(buf: &[u8]) -> Result<(Destination, usize), DataError> {
        let _ = buf;
        todo!()
    }
    /// The exact wire bytes (387 + certificate length).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// Signing key type from the KEY certificate (0 for a NULL certificate).
    pub fn sig_type(&self) -> u16 {
        todo!()
    }
    /// Crypto key type from the KEY certificate (0 for a NULL certificate).
    pub fn crypto_type(&self) -> u16 {
        todo!()
    }
    /// Length in bytes of signatures made by this destination's signing key.
    pub fn signature_len(&self) -> usize {
        todo!()
    }
    /// SHA-256 of the full destination bytes.
    pub fn hash(&self) -> [u8; 32] {
        todo!()
    }
    /// `<base32 of hash>.b32.i2p`
    pub fn b32_address(&self) -> String {
        todo!()
    }
    /// Verify `sig` over `msg` with this destination's signing key (Ed25519 only;
    /// other types return false).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let _ = (msg, sig);
        todo!()
    }
}

/// A destination with its private keys, as stored in an i2pd keys file.
pub struct PrivateKeys {
    _private: (),
}

impl PrivateKeys {
    /// Generate like i2pd does (i2pd-reference D.5). Only sig type 7 is supported.
    pub fn generate(sig_type: u16, crypto_type: u16) -> Result<PrivateKeys, DataError> {
        let _ = (sig_type, crypto_type);
        todo!()
    }
    /// Parse an i2pd keys file's bytes (trailing bytes ignored, like i2pd).
    pub fn from_bytes(buf: &[u8]) -> Result<PrivateKeys, DataError> {
        let _ = buf;
        todo!()
    }
    /// Serialise in i2pd's keys-file format.
    pub fn to_bytes(&self) -> Vec<u8> {
        todo!()
    }
    /// The public destination.
    pub fn destination(&self) -> &Destination {
        todo!()
    }
    /// Sign with the destination's signing key (Ed25519: 64 bytes).
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let _ = msg;
        todo!()
    }
}

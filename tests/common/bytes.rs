//! Hex in test sources: wire bytes are written the way the docs show them.

use data_encoding::{HEXLOWER, HEXLOWER_PERMISSIVE};

/// The bytes of hex text; spaces and line breaks between digits are ignored, so
/// `hex("05 01 00")` and `hex("050100")` are the same.
pub fn hex(text: &str) -> Vec<u8> {
    let digits: String = text.split_whitespace().collect();
    HEXLOWER_PERMISSIVE
        .decode(digits.as_bytes())
        .unwrap_or_else(|e| panic!("bad hex in the test: {text:?}: {e}"))
}

/// Lowercase hex of `bytes`, without spaces (as hashes and keys are written).
pub fn to_hex(bytes: &[u8]) -> String {
    HEXLOWER.encode(bytes)
}

//! Text encodings: I2P base64, lowercase base32 and `.b32.i2p` names
//! (docs/keys-file.md "Addresses"; docs/socks.md "Names").

use std::sync::LazyLock;

use data_encoding::{Encoding, Specification};

/// I2P's base64 alphabet: RFC 4648 with `-` and `~` instead of `+` and `/`.
const BASE64_SYMBOLS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-~";
/// RFC 4648 base32 alphabet, lowercase (I2P names are lowercase only).
const BASE32_SYMBOLS: &str = "abcdefghijklmnopqrstuvwxyz234567";
/// Suffix of a hash-based I2P name.
const B32_SUFFIX: &str = ".b32.i2p";
/// 32 bytes = 256 bits → 52 base32 characters (4 unused trailing bits).
const B32_LABEL_LEN: usize = 52;

/// Built once. The specifications are constants, so building can only fail
/// through a programming error, which the unit tests below would catch;
/// none of this depends on input.
#[allow(clippy::expect_used)]
static BASE64: LazyLock<Encoding> = LazyLock::new(|| {
    let mut spec = Specification::new();
    spec.symbols.push_str(BASE64_SYMBOLS);
    spec.padding = Some('=');
    spec.encoding()
        .expect("constant I2P base64 specification is valid")
});

#[allow(clippy::expect_used)]
static BASE32: LazyLock<Encoding> = LazyLock::new(|| {
    let mut spec = Specification::new();
    spec.symbols.push_str(BASE32_SYMBOLS);
    // i2pd ignores the 4 trailing bits of a 52-char label (docs/socks.md "Names");
    // accepting non-zero ones keeps hand-edited addresses resolving the same way.
    spec.check_trailing_bits = false;
    spec.encoding()
        .expect("constant base32 specification is valid")
});

/// I2P base64 (alphabet `A-Z a-z 0-9 - ~`, `=` padding).
pub fn base64_encode(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// Decode I2P base64; `None` when the text is not valid.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    BASE64.decode(text.as_bytes()).ok()
}

/// RFC 4648 base32, lowercase, no padding.
pub fn base32_encode(bytes: &[u8]) -> String {
    BASE32.encode(bytes)
}

/// Decode lowercase unpadded base32; `None` when the text is not valid.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    BASE32.decode(text.as_bytes()).ok()
}

/// Decode a `<52 chars>.b32.i2p` name into the 32-byte destination hash.
/// Only exactly 52 lowercase base32 chars are accepted (docs/socks.md "Names":
/// i2pd also takes shorter labels as partial hashes; we do not). Longer labels
/// are b33 (blinded) addresses, which we do not support either.
pub fn b32_hash(name: &str) -> Option<[u8; 32]> {
    let label = name.strip_suffix(B32_SUFFIX)?;
    if label.len() != B32_LABEL_LEN {
        return None;
    }
    let bytes = base32_decode(label)?;
    bytes.try_into().ok()
}

/// Length of the shortest b33 label (35 bytes: flags, two signature types, a 32-byte key).
const B33_MIN_LABEL_LEN: usize = 56;

/// For a b33 address (an encrypted LeaseSet; geti2p.net "Naming and Address Book",
/// section "Base 32 Encrypted LeaseSet Addresses"): does it need a secret or a per-client key?
/// `None` when `name` is not a well-formed b33 address. The first byte holds the flags,
/// XORed with the low byte of the CRC-32 of the bytes after the first three.
pub fn b33_needs_key(name: &str) -> Option<bool> {
    let label = name.strip_suffix(B32_SUFFIX)?;
    if label.len() < B33_MIN_LABEL_LEN {
        return None;
    }
    let data = base32_decode(label)?;
    let (&first, rest) = data.split_first()?;
    let mut crc = flate2::Crc::new();
    crc.update(rest.get(2..)?);
    let flags = first ^ crc.sum().to_le_bytes()[0];
    // Bit 1: secret required; bit 2: per-client authorization required.
    Some(flags & 0b110 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b33(flags: u8) -> String {
        let key = [7u8; 32];
        let mut crc = flate2::Crc::new();
        crc.update(&key);
        let sum = crc.sum().to_le_bytes();
        let mut data = vec![flags ^ sum[0], 0x0b ^ sum[1], 0x0b ^ sum[2]];
        data.extend_from_slice(&key);
        format!("{}.b32.i2p", base32_encode(&data))
    }

    #[test]
    fn b33_flags_tell_whether_a_key_is_needed() {
        assert_eq!(b33_needs_key(&b33(0)), Some(false));
        assert_eq!(b33_needs_key(&b33(0b010)), Some(true), "secret");
        assert_eq!(b33_needs_key(&b33(0b100)), Some(true), "per-client auth");
        let b32 = format!("{}.b32.i2p", base32_encode(&[1u8; 32]));
        assert_eq!(b33_needs_key(&b32), None);
        assert_eq!(b33_needs_key("forum.i2p"), None);
    }

    #[test]
    fn base64_uses_i2p_alphabet() {
        // 0xfb 0xff → "+/8=" in RFC 4648, "-~8=" in I2P.
        assert_eq!(base64_encode(&[0xfb, 0xff]), "-~8=");
        assert_eq!(base64_decode("-~8="), Some(vec![0xfb, 0xff]));
        assert_eq!(base64_decode("+/8="), None);
        assert_eq!(base64_decode("-~8"), None, "padding is required");
    }

    #[test]
    fn base32_is_lowercase_unpadded() {
        assert_eq!(base32_encode(b"foobar"), "mzxw6ytboi");
        assert_eq!(base32_decode("mzxw6ytboi"), Some(b"foobar".to_vec()));
        assert_eq!(base32_decode("MZXW6YTBOI"), None);
        assert_eq!(base32_decode("mzxw6ytboi======"), None);
    }

    #[test]
    fn b32_hash_accepts_exactly_52_chars() {
        let hash = [0x5au8; 32];
        let name = format!("{}.b32.i2p", base32_encode(&hash));
        assert_eq!(b32_hash(&name), Some(hash));
        assert_eq!(b32_hash(&name[1..]), None, "51 chars");
        assert_eq!(b32_hash(&format!("a{name}")), None, "53 chars");
        assert_eq!(b32_hash(&name.to_uppercase()), None);
        assert_eq!(
            b32_hash("mzxw6ytboi.b32.i2p"),
            None,
            "i2pd's partial hash quirk"
        );
    }
}

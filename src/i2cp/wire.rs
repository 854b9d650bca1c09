//! Bounded reading and writing of I2CP's primitive types (docs/i2cp.md "Framing"):
//! big-endian integers, Strings (1 length byte + bytes) and Mappings
//! (`BE16 size ‖ { len key '=' len value ';' }*`).
//!
//! Every read is bounds-checked and names what it was reading, so a truncated or
//! malformed body becomes a [`DecodeError`], never a panic.

use thiserror::Error;

use crate::data::mapping::{encode_mapping, read_mapping, read_string, write_string};
use crate::data::{DataError, Destination};

/// Why an I2CP body could not be decoded.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The body ended while reading the named field.
    #[error("truncated I2CP message: missing {0}")]
    Truncated(&'static str),
    /// Bytes were left after the named message.
    #[error("{0} trailing bytes after I2CP {1}")]
    TrailingData(usize, &'static str),
    /// A field holds a value the protocol does not allow.
    #[error("invalid I2CP field: {0}")]
    Invalid(&'static str),
    /// An embedded I2P structure (destination, String, Mapping) is malformed.
    #[error("malformed I2P structure in I2CP message: {0}")]
    Malformed(#[from] DataError),
}

/// Why a message could not be encoded (a caller error, not a peer error).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum EncodeError {
    /// An I2P String is limited to 255 bytes.
    #[error("{0} is longer than 255 bytes")]
    StringTooLong(&'static str),
    /// The options cannot form a Mapping (duplicate key, '=' or ';' inside, > 65535 bytes).
    #[error("invalid I2CP options: {0}")]
    Options(DataError),
    /// The whole message body would exceed the 65535-byte frame cap.
    #[error("I2CP message body of {0} bytes exceeds the 65535-byte limit")]
    BodyTooLarge(usize),
    /// A list has more entries than its count field can express.
    #[error("too many {0}")]
    TooMany(&'static str),
}

/// The crate's bounded [`data::Reader`](crate::data::Reader) with I2CP's String, Mapping
/// and Destination readers on top, and errors mapped to [`DecodeError`].
pub(crate) struct Reader<'a> {
    inner: crate::data::Reader<'a>,
}

fn truncated(err: DataError) -> DecodeError {
    match err {
        DataError::Truncated(what) => DecodeError::Truncated(what),
        other => DecodeError::Malformed(other),
    }
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            inner: crate::data::Reader::new(buf),
        }
    }

    pub(crate) fn left(&self) -> usize {
        self.inner.remaining()
    }

    /// The unread bytes, without consuming them.
    pub(crate) fn peek_rest(&self) -> &'a [u8] {
        self.inner.peek_rest()
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        self.inner.take(n, what).map_err(truncated)
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        self.inner.take_array(what).map_err(truncated)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        self.inner.u8(what).map_err(truncated)
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        self.inner.u16(what).map_err(truncated)
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        self.inner.u32(what).map_err(truncated)
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        self.inner.u64(what).map_err(truncated)
    }

    /// `BE32 length ‖ bytes`.
    pub(crate) fn len32_bytes(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(what)?;
        let len = usize::try_from(len).map_err(|_| DecodeError::Truncated(what))?;
        self.take(len, what)
    }

    /// An I2P String: 1 length byte + UTF-8.
    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        read_string(&mut self.inner).map_err(truncated)
    }

    /// An I2P Mapping, entries in wire order.
    pub(crate) fn mapping(&mut self) -> Result<Vec<(String, String)>, DecodeError> {
        read_mapping(&mut self.inner).map_err(truncated)
    }

    /// A Destination (387 bytes + certificate payload).
    pub(crate) fn destination(&mut self) -> Result<Destination, DecodeError> {
        let (dest, used) = Destination::parse(self.peek_rest())?;
        self.take(used, "destination")?;
        Ok(dest)
    }

    /// Fail if anything is left after the named message.
    pub(crate) fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        match self.left() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingData(n, what)),
        }
    }
}

/// Append an I2P String.
pub(crate) fn put_string(
    out: &mut Vec<u8>,
    s: &str,
    what: &'static str,
) -> Result<(), EncodeError> {
    write_string(out, s).map_err(|_| EncodeError::StringTooLong(what))
}

/// Append a Mapping with its entries sorted by key bytes (Java re-serialises sorted before
/// verifying the SessionConfig signature, docs/i2cp.md "Session set-up").
pub(crate) fn put_mapping(
    out: &mut Vec<u8>,
    entries: &[(String, String)],
) -> Result<(), EncodeError> {
    let pairs: Vec<(&str, &str)> = entries
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    out.extend_from_slice(&encode_mapping(&pairs).map_err(EncodeError::Options)?);
    Ok(())
}

/// Append `BE32 length ‖ bytes`.
pub(crate) fn put_len32_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), EncodeError> {
    let len = u32::try_from(bytes.len()).map_err(|_| EncodeError::BodyTooLarge(bytes.len()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_golden_from_verified_options() {
        // docs/i2cp.md "Options i2psocks sends": the recommended option set, 145 bytes + 2 size
        // bytes.
        let opts: Vec<(String, String)> = [
            ("outbound.quantity", "1"),
            ("inbound.length", "0"),
            ("i2cp.messageReliability", "none"),
            ("outbound.length", "0"),
            ("i2cp.dontPublishLeaseSet", "true"),
            ("inbound.quantity", "1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut out = Vec::new();
        put_mapping(&mut out, &opts).unwrap();
        let mut expected = vec![0u8, 145];
        expected.extend_from_slice(
            b"\x18i2cp.dontPublishLeaseSet=\x04true;\x17i2cp.messageReliability=\x04none;\
\x0einbound.length=\x010;\x10inbound.quantity=\x011;\x0foutbound.length=\x010;\
\x11outbound.quantity=\x011;",
        );
        assert_eq!(out, expected);
        let mut r = Reader::new(&out);
        let back = r.mapping().unwrap();
        assert_eq!(back.len(), 6);
        assert_eq!(back[0].0, "i2cp.dontPublishLeaseSet");
        r.finish("mapping").unwrap();
    }

    #[test]
    fn mapping_refuses_duplicate_keys() {
        let opts = vec![
            ("a".to_string(), "1".to_string()),
            ("a".to_string(), "2".to_string()),
        ];
        assert!(matches!(
            put_mapping(&mut Vec::new(), &opts),
            Err(EncodeError::Options(_))
        ));
    }

    #[test]
    fn rejects_long_string() {
        let mut out = Vec::new();
        assert_eq!(
            put_string(&mut out, &"x".repeat(256), "s"),
            Err(EncodeError::StringTooLong("s"))
        );
    }

    #[test]
    fn rejects_bad_mapping_separators() {
        assert!(Reader::new(b"\x00\x06\x01a:\x012;").mapping().is_err());
        assert!(Reader::new(b"\x00\x06\x01a=\x012,").mapping().is_err());
        assert!(Reader::new(b"\x00\x07\x01a=\x012;").mapping().is_err());
    }
}

//! I2P String and Mapping (common structures), as used by I2CP
//! (SessionConfig options, GetDate version; docs/i2cp.md "Session set-up").
//!
//! ```text
//! String  = len u8 ‖ UTF-8 bytes
//! Mapping = size BE16 ‖ { String(key) '=' String(value) ';' }*
//! ```
//! Keys are written sorted by their bytes: Java routers re-serialise the
//! options sorted before verifying a SessionConfig signature (docs/i2cp.md "Session set-up").

use super::{DataError, Reader};

/// Longest String: its length is one byte.
pub const MAX_STRING_LEN: usize = 255;

/// Append an I2P String.
pub fn write_string(out: &mut Vec<u8>, s: &str) -> Result<(), DataError> {
    let len =
        u8::try_from(s.len()).map_err(|_| DataError::Invalid("String longer than 255 bytes"))?;
    out.push(len);
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// Read an I2P String (must be UTF-8).
pub fn read_string(r: &mut Reader<'_>) -> Result<String, DataError> {
    let len = usize::from(r.u8("String length")?);
    let bytes = r.take(len, "String")?;
    String::from_utf8(bytes.to_vec()).map_err(|_| DataError::Invalid("String is not UTF-8"))
}

/// Encode a Mapping with keys sorted by their bytes. Keys and values may not
/// contain `=` or `;` (Java would mis-parse them), duplicate keys are refused.
pub fn encode_mapping(pairs: &[(&str, &str)]) -> Result<Vec<u8>, DataError> {
    let mut sorted = pairs.to_vec();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    if sorted.windows(2).any(|w| matches!(w, [a, b] if a.0 == b.0)) {
        return Err(DataError::Invalid("Mapping with a duplicate key"));
    }
    let mut body = Vec::new();
    for (key, value) in sorted {
        if [key, value].iter().any(|s| s.contains(['=', ';'])) {
            return Err(DataError::Invalid(
                "Mapping key or value containing '=' or ';'",
            ));
        }
        write_string(&mut body, key)?;
        body.push(b'=');
        write_string(&mut body, value)?;
        body.push(b';');
    }
    let size = u16::try_from(body.len())
        .map_err(|_| DataError::Invalid("Mapping larger than 65535 bytes"))?;
    let mut out = size.to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    Ok(out)
}

/// Read a Mapping (size + entries); entries keep their wire order.
pub fn read_mapping(r: &mut Reader<'_>) -> Result<Vec<(String, String)>, DataError> {
    let size = usize::from(r.u16("Mapping size")?);
    let mut body = r.sub(size, "Mapping")?;
    let mut pairs = Vec::new();
    while !body.is_empty() {
        let key = read_string(&mut body)?;
        if body.u8("Mapping '='")? != b'=' {
            return Err(DataError::Invalid("Mapping entry without '='"));
        }
        let value = read_string(&mut body)?;
        if body.u8("Mapping ';'")? != b';' {
            return Err(DataError::Invalid("Mapping entry without ';'"));
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_verified_session_options() {
        // docs/i2cp.md "Options i2psocks sends": the recommended option set is 145 bytes + 2.
        let opts = [
            ("outbound.quantity", "1"),
            ("inbound.length", "0"),
            ("i2cp.messageReliability", "none"),
            ("outbound.length", "0"),
            ("inbound.quantity", "1"),
            ("i2cp.dontPublishLeaseSet", "true"),
        ];
        let m = encode_mapping(&opts).expect("valid");
        assert_eq!(m.len(), 147);
        assert_eq!(&m[..2], &[0, 145]);
        assert_eq!(&m[2..29], b"\x18i2cp.dontPublishLeaseSet=\x04");
        let back = read_mapping(&mut Reader::new(&m)).expect("parse");
        assert_eq!(back[0].0, "i2cp.dontPublishLeaseSet");
        assert_eq!(back[5], ("outbound.quantity".to_owned(), "1".to_owned()));
    }

    #[test]
    fn empty_mapping_is_two_zero_bytes() {
        assert_eq!(encode_mapping(&[]), Ok(vec![0, 0]));
        assert_eq!(read_mapping(&mut Reader::new(&[0, 0])), Ok(vec![]));
    }

    #[test]
    fn rejects_bad_mappings() {
        assert!(encode_mapping(&[("a", "1"), ("a", "2")]).is_err());
        assert!(encode_mapping(&[("a=b", "1")]).is_err());
        assert!(encode_mapping(&[("a", &"x".repeat(256))]).is_err());
        let m = encode_mapping(&[("k", "v")]).expect("valid");
        for len in 0..m.len() {
            assert!(
                read_mapping(&mut Reader::new(&m[..len])).is_err(),
                "prefix {len}"
            );
        }
        assert!(read_mapping(&mut Reader::new(&[0, 6, 1, b'k', b':', 1, b'v', b';'])).is_err());
    }

    #[test]
    fn string_round_trip() {
        let mut out = Vec::new();
        write_string(&mut out, "0.9.62").expect("short");
        assert_eq!(out, b"\x060.9.62");
        assert_eq!(read_string(&mut Reader::new(&out)), Ok("0.9.62".to_owned()));
        assert!(read_string(&mut Reader::new(&[2, 0xff, 0xfe])).is_err());
    }
}

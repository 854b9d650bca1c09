//! I2CP transport framing (the I2CP specification; docs/i2cp.md "Framing").
//!
//! The client sends the protocol byte [`PROTOCOL_BYTE`] once, then every message is
//! `length (BE32, body only) ‖ type (u8) ‖ body`. Bodies are capped at [`MAX_BODY_LEN`]:
//! i2pd closes the connection on anything larger and never sends more itself.
//!
//! [`FrameSplitter`] turns a byte stream into frames. It reads the length field first and
//! rejects an oversized frame before buffering its body, so a hostile peer cannot make us
//! allocate more than one maximal frame.

use thiserror::Error;

/// Sent once by the client before the first frame; i2pd closes on any other value.
pub const PROTOCOL_BYTE: u8 = 0x2A;

/// Largest body either side accepts (docs/i2cp.md "Framing").
pub const MAX_BODY_LEN: usize = 65_535;

/// Length field (4) + type (1).
pub const HEADER_LEN: usize = 5;

/// One I2CP message, still undecoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The message type byte (docs/i2cp.md "Message types").
    pub kind: u8,
    /// The message body, without the header.
    pub body: Vec<u8>,
}

/// The byte stream cannot be framed; the connection must be closed.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    /// A length field above [`MAX_BODY_LEN`].
    #[error("I2CP frame body of {0} bytes exceeds the 65535-byte limit")]
    Oversized(u32),
    /// The router side saw something other than `0x2A` as the first byte.
    #[error("bad I2CP protocol byte {0:#04x} (expected 0x2a)")]
    BadProtocolByte(u8),
}

impl Frame {
    /// Build a frame; `None` if the body exceeds [`MAX_BODY_LEN`].
    pub fn new(kind: u8, body: Vec<u8>) -> Option<Frame> {
        if body.len() > MAX_BODY_LEN {
            return None;
        }
        Some(Frame { kind, body })
    }

    /// Wire bytes: `len ‖ type ‖ body`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.body.len());
        self.write_to(&mut out);
        out
    }

    /// Append the wire bytes to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        // The constructor and every encoder keep bodies ≤ 65535, so this cannot truncate;
        // saturate anyway so a bug shows up as a rejected frame, not a wrong length.
        let len = u32::try_from(self.body.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.push(self.kind);
        out.extend_from_slice(&self.body);
    }
}

/// Splits a byte stream into [`Frame`]s. Feed bytes with [`push`](Self::push), then drain
/// with [`next_frame`](Self::next_frame) until it returns `Ok(None)`.
#[derive(Debug, Default)]
pub struct FrameSplitter {
    buf: Vec<u8>,
    /// Bytes of `buf` already returned as frames; removed at the next `push`, so a read
    /// holding many frames costs one move of the remainder, not one per frame.
    consumed: usize,
    /// Router-side use (tests' fake router): the protocol byte is still expected.
    expect_protocol_byte: bool,
    failed: Option<FrameError>,
}

impl FrameSplitter {
    /// Splitter for the client side (router → client stream, no protocol byte).
    pub fn new() -> FrameSplitter {
        FrameSplitter::default()
    }

    /// Splitter for the router side: the first byte must be [`PROTOCOL_BYTE`].
    pub fn for_router() -> FrameSplitter {
        FrameSplitter {
            expect_protocol_byte: true,
            ..FrameSplitter::default()
        }
    }

    /// Append received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        // Once failed, the connection is being closed; don't keep growing the buffer.
        if self.failed.is_none() {
            self.buf.drain(..self.consumed);
            self.consumed = 0;
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Bytes buffered but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.consumed
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed. After an error every
    /// later call returns the same error.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        match self.split() {
            Err(err) => {
                self.buf = Vec::new();
                self.consumed = 0;
                self.failed = Some(err.clone());
                Err(err)
            }
            ok => ok,
        }
    }

    fn split(&mut self) -> Result<Option<Frame>, FrameError> {
        let pending = self.buf.get(self.consumed..).unwrap_or_default();
        if self.expect_protocol_byte {
            let Some(&first) = pending.first() else {
                return Ok(None);
            };
            if first != PROTOCOL_BYTE {
                return Err(FrameError::BadProtocolByte(first));
            }
            self.consumed += 1;
            self.expect_protocol_byte = false;
            return self.split();
        }
        let Some(&[l0, l1, l2, l3, kind]) = pending.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([l0, l1, l2, l3]);
        // The cap is checked on the length field alone, before waiting for (and so
        // buffering) the body.
        let body_len = usize::try_from(len).map_err(|_| FrameError::Oversized(len))?;
        if body_len > MAX_BODY_LEN {
            return Err(FrameError::Oversized(len));
        }
        let total = HEADER_LEN + body_len;
        let Some(body) = pending.get(HEADER_LEN..total) else {
            return Ok(None);
        };
        let frame = Frame {
            kind,
            body: body.to_vec(),
        };
        self.consumed += total;
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_golden_get_date() {
        // docs/i2cp.md "Framing": GetDate "0.9.62" with an empty mapping.
        let bytes = [
            0x2a, 0, 0, 0, 9, 0x20, 6, b'0', b'.', b'9', b'.', b'6', b'2', 0, 0,
        ];
        let mut s = FrameSplitter::for_router();
        s.push(&bytes);
        let f = s.next_frame().unwrap().unwrap();
        assert_eq!(f.kind, 0x20);
        assert_eq!(f.body, bytes[6..].to_vec());
        assert_eq!(s.next_frame().unwrap(), None);
        assert_eq!(f.to_bytes(), bytes[1..].to_vec());
    }

    #[test]
    fn waits_for_complete_frame_byte_by_byte() {
        let frame = Frame::new(20, vec![0x9c, 0x05, 0x01]).unwrap().to_bytes();
        let mut s = FrameSplitter::new();
        for (i, b) in frame.iter().enumerate() {
            assert_eq!(s.next_frame().unwrap(), None, "early frame at {i}");
            s.push(&[*b]);
        }
        assert_eq!(
            s.next_frame().unwrap().unwrap().body,
            vec![0x9c, 0x05, 0x01]
        );
    }

    #[test]
    fn rejects_oversized_before_body_arrives() {
        let mut s = FrameSplitter::new();
        s.push(&[0, 1, 0, 0, 31]); // 65536
        assert_eq!(s.next_frame(), Err(FrameError::Oversized(65_536)));
        assert_eq!(s.buffered(), 0);
        s.push(&[0; 10]);
        assert_eq!(s.next_frame(), Err(FrameError::Oversized(65_536)));
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn accepts_maximal_frame() {
        let mut s = FrameSplitter::new();
        let f = Frame::new(31, vec![7; MAX_BODY_LEN]).unwrap();
        s.push(&f.to_bytes());
        assert_eq!(s.next_frame().unwrap(), Some(f));
        assert!(Frame::new(31, vec![0; MAX_BODY_LEN + 1]).is_none());
    }

    #[test]
    fn rejects_bad_protocol_byte() {
        let mut s = FrameSplitter::for_router();
        s.push(&[0x2b, 0, 0, 0, 0, 32]);
        assert_eq!(s.next_frame(), Err(FrameError::BadProtocolByte(0x2b)));
    }

    #[test]
    fn zero_length_body() {
        let mut s = FrameSplitter::new();
        s.push(&[0, 0, 0, 0, 8, 0, 0, 0, 0]);
        assert_eq!(
            s.next_frame().unwrap(),
            Some(Frame {
                kind: 8,
                body: vec![]
            })
        );
        assert_eq!(s.next_frame().unwrap(), None);
        assert_eq!(s.buffered(), 4);
    }
}

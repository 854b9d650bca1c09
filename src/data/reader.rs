//! A bounded cursor over untrusted bytes, shared by every binary decoder
//! (data, i2cp, streaming).
//!
//! Every read is bounds-checked and fails with [`DataError::Truncated`] naming
//! what was being read, so a decoder never indexes past the end of its input
//! and its error tells the reader of a log which field was cut short.
//! All integers in I2P structures are big-endian.

use super::DataError;

/// Cursor over a byte slice; reads consume from the front.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Start reading at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// Take the next `n` bytes, or fail naming `what` when fewer remain.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DataError> {
        let end = self.pos.checked_add(n).ok_or(DataError::Truncated(what))?;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or(DataError::Truncated(what))?;
        self.pos = end;
        Ok(bytes)
    }

    /// Take exactly `N` bytes as an array.
    pub fn take_array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DataError> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// A child reader over the next `n` bytes (for length-prefixed bodies);
    /// the parent skips past them.
    pub fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>, DataError> {
        self.take(n, what).map(Reader::new)
    }

    /// One byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DataError> {
        self.take_array::<1>(what).map(|[b]| b)
    }

    /// Big-endian u16.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DataError> {
        self.take_array(what).map(u16::from_be_bytes)
    }

    /// Big-endian u32.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DataError> {
        self.take_array(what).map(u32::from_be_bytes)
    }

    /// Big-endian u64.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DataError> {
        self.take_array(what).map(u64::from_be_bytes)
    }

    /// Everything not read yet (consumes it).
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        self.pos = self.buf.len();
        rest
    }

    /// Everything not read yet, without consuming it.
    pub fn peek_rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Number of bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Number of bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Fail with [`DataError::Invalid`] naming `what` when bytes are left over
    /// (for structures that must fill their buffer exactly).
    pub fn finish(&self, what: &'static str) -> Result<(), DataError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DataError::Invalid(what))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_integers_in_order() {
        let bytes = [1, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 4, 9];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8("a"), Ok(1));
        assert_eq!(r.u16("b"), Ok(2));
        assert_eq!(r.u32("c"), Ok(3));
        assert_eq!(r.u64("d"), Ok(4));
        assert_eq!(r.remaining(), 1);
        assert_eq!(r.rest(), &[9]);
        assert!(r.is_empty());
    }

    #[test]
    fn rejects_short_reads_naming_the_field() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u32("tunnel id"), Err(DataError::Truncated("tunnel id")));
        // A failed read consumes nothing.
        assert_eq!(r.position(), 0);
        assert_eq!(
            r.take(usize::MAX, "huge"),
            Err(DataError::Truncated("huge"))
        );
        assert_eq!(r.take(3, "all"), Ok(&[1u8, 2, 3][..]));
        assert_eq!(r.u8("more"), Err(DataError::Truncated("more")));
    }

    #[test]
    fn sub_reader_is_bounded() {
        let mut r = Reader::new(&[2, 7, 8, 9]);
        let mut sub = r.sub(2, "body").expect("2 bytes are there");
        assert_eq!(sub.u16("x"), Ok(0x0207));
        assert_eq!(sub.u8("y"), Err(DataError::Truncated("y")));
        assert_eq!(r.peek_rest(), &[8, 9]);
        assert_eq!(r.finish("trailing"), Err(DataError::Invalid("trailing")));
    }
}

//! Destination (KeysAndCert) and the signing-key sizes per signature type
//! (docs/keys-file.md "Layout").

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use std::sync::Arc;

use super::encoding::{base32_encode, base64_decode, base64_encode};
use super::{DataError, Reader};

/// Length of the public-key field (ElGamal-sized; unused padding for destinations).
pub(crate) const PUBLIC_KEY_FIELD_LEN: usize = 256;
/// Length of the signing-public-key field (keys shorter than this are right-aligned).
pub(crate) const SIGNING_KEY_FIELD_LEN: usize = 128;
/// Both key fields together; the certificate starts here.
pub(crate) const KEYS_LEN: usize = PUBLIC_KEY_FIELD_LEN + SIGNING_KEY_FIELD_LEN;
/// Key fields + certificate type (1) + certificate length (2).
pub(crate) const DESTINATION_MIN_LEN: usize = KEYS_LEN + 3;

/// Certificate type NULL: DSA-SHA1 signing key and ElGamal (type 0 each).
pub(crate) const CERT_NULL: u8 = 0;
/// Certificate type KEY: payload = sig type, crypto type, excess signing key bytes.
pub(crate) const CERT_KEY: u8 = 5;
/// Error text for a KEY certificate payload under 4 bytes.
const KEY_CERT_TOO_SHORT: &str = "KEY certificate shorter than its signing and crypto types";
/// Signing type + crypto type in a KEY certificate payload.
const KEY_CERT_TYPES_LEN: usize = 4;

/// Sizes belonging to one signing key type (docs/keys-file.md "Layout").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigType {
    /// Signing key type code as in the KEY certificate.
    pub code: u16,
    /// Signing public key length.
    pub public_len: usize,
    /// Signing private key length (as stored in a keys file).
    pub private_len: usize,
    /// Signature length.
    pub signature_len: usize,
}

impl SigType {
    /// The sizes for a signing type we can parse, or `None` (RSA, GOST and
    /// unknown codes, which i2pd rejects too).
    pub fn from_code(code: u16) -> Option<SigType> {
        let (public_len, private_len, signature_len) = match code {
            0 => (128, 20, 40),  // DSA-SHA1 (NULL certificate)
            1 => (64, 32, 64),   // ECDSA-SHA256-P256
            2 => (96, 48, 96),   // ECDSA-SHA384-P384
            3 => (132, 66, 132), // ECDSA-SHA512-P521: 4 key bytes live in the certificate
            7 => (32, 32, 64),   // EdDSA-SHA512-Ed25519
            11 => (32, 32, 64),  // RedDSA-SHA512-Ed25519
            _ => return None,
        };
        Some(SigType {
            code,
            public_len,
            private_len,
            signature_len,
        })
    }

    /// Signing public key bytes that do not fit the 128-byte field and are
    /// stored in the KEY certificate after the two type codes.
    fn excess_len(self) -> usize {
        self.public_len.saturating_sub(SIGNING_KEY_FIELD_LEN)
    }
}

/// A Destination (KeysAndCert): kept as its exact wire bytes.
///
/// Only [`Destination::parse`] (and keys generation/parsing in this module)
/// construct one, so the bytes are always a validated destination.
///
/// The streaming layer looks at a peer's destination on every packet (its hash for
/// demultiplexing and logs, its key to verify SYN/CLOSE/RESET), so the hash and the
/// decompressed Ed25519 key are computed once at parse time, and the whole is shared:
/// a clone is a reference-count increment, not a copy of 391+ bytes.
#[derive(Clone)]
pub struct Destination {
    inner: Arc<Parsed>,
}

/// What a destination is, computed once.
struct Parsed {
    bytes: Vec<u8>,
    hash: [u8; 32],
    /// The Ed25519 verifying key; `None` for other signing types or a key that is not
    /// a valid curve point (its signatures never verify).
    verifying_key: Option<VerifyingKey>,
}

impl PartialEq for Destination {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner) || self.inner.bytes == other.inner.bytes
    }
}

impl Eq for Destination {}

impl std::hash::Hash for Destination {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.bytes.hash(state);
    }
}

impl std::fmt::Debug for Destination {
    // The address says more in a log than 391 numbers.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Destination({}, sig {}, crypto {})",
            self.b32_address(),
            self.sig_type(),
            self.crypto_type()
        )
    }
}

/// Validate the structure at the start of `buf`; returns its length.
fn parse_len(buf: &[u8]) -> Result<usize, DataError> {
    let mut r = Reader::new(buf);
    r.take(KEYS_LEN, "destination key fields")?;
    let cert_type = r.u8("destination certificate type")?;
    let cert_len = usize::from(r.u16("destination certificate length")?);
    let mut cert = r.sub(cert_len, "destination certificate")?;
    let sig_code = match cert_type {
        CERT_NULL if cert_len == 0 => 0,
        CERT_NULL => return Err(DataError::Invalid("NULL certificate with a payload")),
        CERT_KEY => {
            // The certificate itself is complete here, so a short payload is
            // malformed rather than truncated input.
            let sig = cert
                .u16("")
                .map_err(|_| DataError::Invalid(KEY_CERT_TOO_SHORT))?;
            // Any crypto type is accepted: a destination's public-key field is
            // unused padding; the real encryption keys live in the LeaseSet.
            cert.u16("")
                .map_err(|_| DataError::Invalid(KEY_CERT_TOO_SHORT))?;
            sig
        }
        other => {
            return Err(DataError::Unsupported {
                what: "certificate",
                code: u16::from(other),
            });
        }
    };
    let sig = SigType::from_code(sig_code).ok_or(DataError::Unsupported {
        what: "signing key",
        code: sig_code,
    })?;
    // Any further payload would be excess crypto key bytes; none of the known
    // crypto types has any, so they are tolerated and kept (the hash covers them).
    cert.take(sig.excess_len(), "")
        .map_err(|_| DataError::Invalid("KEY certificate without the excess signing key bytes"))?;
    Ok(r.position())
}

impl Destination {
    /// Parse a destination at the start of `buf`; returns it and the bytes consumed.
    pub fn parse(buf: &[u8]) -> Result<(Destination, usize), DataError> {
        let len = parse_len(buf)?;
        let bytes = buf.get(..len).ok_or(DataError::Truncated("destination"))?;
        Ok((Destination::from_validated(bytes.to_vec()), len))
    }

    /// Wrap bytes `parse_len` accepted, computing the hash and the verifying key once.
    fn from_validated(bytes: Vec<u8>) -> Destination {
        let hash = Sha256::digest(&bytes).into();
        let mut dest = Destination {
            inner: Arc::new(Parsed {
                bytes,
                hash,
                verifying_key: None,
            }),
        };
        let key = dest.ed25519_key();
        if let Some(parsed) = Arc::get_mut(&mut dest.inner) {
            parsed.verifying_key = key;
        }
        dest
    }

    /// The Ed25519 verifying key, decompressed from the key field.
    fn ed25519_key(&self) -> Option<VerifyingKey> {
        if self.sig_type() != super::SIG_ED25519 {
            return None;
        }
        let key_bytes = <[u8; 32]>::try_from(self.signing_public_key()).ok()?;
        VerifyingKey::from_bytes(&key_bytes).ok()
    }

    /// Parse a destination that must fill `buf` exactly.
    pub fn from_bytes(buf: &[u8]) -> Result<Destination, DataError> {
        let (dest, used) = Destination::parse(buf)?;
        if used == buf.len() {
            Ok(dest)
        } else {
            Err(DataError::Invalid("trailing bytes after destination"))
        }
    }

    /// Parse I2P base64 text (as in hosts.txt) holding exactly one destination.
    pub fn from_base64(text: &str) -> Result<Destination, DataError> {
        let bytes = base64_decode(text.trim()).ok_or(DataError::Invalid("destination base64"))?;
        Destination::from_bytes(&bytes)
    }

    /// I2P base64 of the full destination bytes.
    pub fn to_base64(&self) -> String {
        base64_encode(&self.inner.bytes)
    }

    /// The exact wire bytes (387 + certificate length).
    pub fn as_bytes(&self) -> &[u8] {
        &self.inner.bytes
    }

    /// Certificate type and the two KEY-certificate codes; `(0, 0)` for NULL.
    fn cert_codes(&self) -> (u16, u16) {
        match self.inner.bytes.get(KEYS_LEN) {
            Some(&CERT_KEY) => {
                let mut r = Reader::new(
                    self.inner
                        .bytes
                        .get(DESTINATION_MIN_LEN..)
                        .unwrap_or_default(),
                );
                (r.u16("sig").unwrap_or(0), r.u16("crypto").unwrap_or(0))
            }
            _ => (0, 0),
        }
    }

    /// Signing key type from the KEY certificate (0 for a NULL certificate).
    pub fn sig_type(&self) -> u16 {
        self.cert_codes().0
    }

    /// Crypto key type from the KEY certificate (0 for a NULL certificate).
    pub fn crypto_type(&self) -> u16 {
        self.cert_codes().1
    }

    /// Sizes of this destination's signing type (always known: parse rejects others).
    pub fn sig(&self) -> Option<SigType> {
        SigType::from_code(self.sig_type())
    }

    /// Length in bytes of signatures made by this destination's signing key.
    pub fn signature_len(&self) -> usize {
        self.sig().map_or(0, |s| s.signature_len)
    }

    /// The signing public key: right-aligned in the 128-byte field, followed
    /// by the certificate's excess bytes for keys longer than 128 (P521).
    pub fn signing_public_key(&self) -> Vec<u8> {
        let Some(sig) = self.sig() else {
            return Vec::new();
        };
        let in_field = sig.public_len.min(SIGNING_KEY_FIELD_LEN);
        let mut key = self
            .inner
            .bytes
            .get(KEYS_LEN - in_field..KEYS_LEN)
            .unwrap_or_default()
            .to_vec();
        let excess_start = DESTINATION_MIN_LEN + KEY_CERT_TYPES_LEN;
        let excess = self
            .inner
            .bytes
            .get(excess_start..excess_start + sig.excess_len());
        key.extend_from_slice(excess.unwrap_or_default());
        key
    }

    /// SHA-256 of the full destination bytes (the "ident hash"), computed at parse time.
    pub fn hash(&self) -> [u8; 32] {
        self.inner.hash
    }

    /// `<base32 of hash>.b32.i2p`
    pub fn b32_address(&self) -> String {
        format!("{}.b32.i2p", base32_encode(&self.hash()))
    }

    /// Verify `sig` over `msg` with this destination's signing key (Ed25519 only;
    /// other types return false).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Some(key) = &self.inner.verifying_key else {
            return false;
        };
        let Ok(sig) = Signature::from_slice(sig) else {
            return false;
        };
        key.verify_strict(msg, &sig).is_ok()
    }
}

//! Private keys in i2pd's keys-file byte layout (docs/keys-file.md):
//! `Destination ‖ encryption private key ‖ signing private key`, no header,
//! no checksum; trailing bytes are ignored like i2pd does.

use ed25519_dalek::{Signer, SigningKey};
use rand::CryptoRng;
use thiserror::Error;
use zeroize::Zeroizing;

use super::destination::{
    CERT_KEY, DESTINATION_MIN_LEN, PUBLIC_KEY_FIELD_LEN, SIGNING_KEY_FIELD_LEN,
};
use super::{DataError, Destination, Reader};

/// Signing type 7, EdDSA-SHA512-Ed25519: the only one we load and generate.
pub const SIG_ED25519: u16 = 7;
/// Crypto type 0, ElGamal-2048: 256-byte private key field (i2pd's SOCKS default).
pub const CRYPTO_ELGAMAL: u16 = 0;
/// Crypto type 4, ECIES-X25519: 32-byte private key field.
pub const CRYPTO_X25519: u16 = 4;

/// Ed25519 seed / public key length.
const ED25519_LEN: usize = 32;
/// The random block i2pd repeats to fill the public-key field and the padding.
const BLOCK_LEN: usize = 32;

/// Why a keys file's bytes were refused, with the sizes involved, so that a
/// user can tell a truncated copy from an unsupported key type.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeysError {
    /// Not even the fixed part of a destination is there.
    #[error("too short: {len} bytes, a destination alone needs at least {DESTINATION_MIN_LEN}")]
    TooShort { len: usize },
    /// The certificate length points past the end of the data.
    #[error("truncated certificate (expected {expected} bytes of destination, file has {len})")]
    TruncatedDestination { expected: usize, len: usize },
    /// The destination part is malformed.
    #[error("bad destination: {0}")]
    Destination(DataError),
    /// A signing key type we recognise (or not) but do not support.
    #[error(
        "unsupported signing key type {code} ({}); only type 7 (EdDSA-SHA512-Ed25519) is supported",
        sig_type_name(*code)
    )]
    UnsupportedSigType { code: u16 },
    /// A crypto key type we do not support in a keys file.
    #[error(
        "unsupported crypto type {code} ({}); only types 0 (ElGamal) and 4 (ECIES-X25519) are supported",
        crypto_type_name(*code)
    )]
    UnsupportedCryptoType { code: u16 },
    /// The private keys after the destination are cut short.
    #[error("truncated private keys (expected {expected} bytes in total, file has {len})")]
    TruncatedPrivateKeys { expected: usize, len: usize },
    /// All-zero signing private key: an offline-signed keys file (docs/keys-file.md "Offline-signed
    /// files").
    #[error("offline-signed keys (all-zero signing private key) are not supported")]
    OfflineSigned,
    /// The signing private key does not belong to the destination's public key.
    #[error("the signing private key does not match the destination's signing public key")]
    KeyMismatch,
}

impl From<KeysError> for DataError {
    fn from(e: KeysError) -> DataError {
        match e {
            KeysError::TooShort { .. } | KeysError::TruncatedDestination { .. } => {
                DataError::Truncated("destination")
            }
            KeysError::Destination(e) => e,
            KeysError::UnsupportedSigType { code } => DataError::Unsupported {
                what: "signing key",
                code,
            },
            KeysError::UnsupportedCryptoType { code } => DataError::Unsupported {
                what: "crypto",
                code,
            },
            KeysError::TruncatedPrivateKeys { .. } => DataError::Truncated("private keys"),
            KeysError::OfflineSigned => DataError::Invalid(
                "keys: offline-signed keys (all-zero signing private key) are not supported",
            ),
            KeysError::KeyMismatch => {
                DataError::Invalid("keys: signing private key does not match the destination")
            }
        }
    }
}

/// Human name of a signing key type code (I2P common structures spec).
pub fn sig_type_name(code: u16) -> &'static str {
    match code {
        0 => "DSA-SHA1",
        1 => "ECDSA-SHA256-P256",
        2 => "ECDSA-SHA384-P384",
        3 => "ECDSA-SHA512-P521",
        4 => "RSA-SHA256-2048",
        5 => "RSA-SHA384-3072",
        6 => "RSA-SHA512-4096",
        7 => "EdDSA-SHA512-Ed25519",
        8 => "EdDSA-SHA512-Ed25519ph",
        9 => "GOST-R3410-2012-256",
        10 => "GOST-R3410-2012-512",
        11 => "RedDSA-SHA512-Ed25519",
        _ => "unknown",
    }
}

/// Human name of a crypto (encryption) key type code.
pub fn crypto_type_name(code: u16) -> &'static str {
    match code {
        0 => "ElGamal",
        1 => "ECDH-P256",
        2 => "ECDH-P384",
        3 => "ECDH-P521",
        4 => "ECIES-X25519",
        5 => "MLKEM512-X25519",
        6 => "MLKEM768-X25519",
        7 => "MLKEM1024-X25519",
        _ => "unknown",
    }
}

/// Length of the encryption private key field for a supported crypto type.
fn encryption_private_len(crypto_type: u16) -> Option<usize> {
    match crypto_type {
        CRYPTO_ELGAMAL => Some(256),
        CRYPTO_X25519 => Some(32),
        _ => None,
    }
}

/// A destination with its private keys, as stored in an i2pd keys file.
#[derive(Clone)]
pub struct PrivateKeys {
    destination: Destination,
    /// Never used by us (destinations do not decrypt with it) but kept to
    /// write the file back byte for byte.
    encryption_private: Zeroizing<Vec<u8>>,
    /// Zeroized on drop (ed25519-dalek "zeroize" feature).
    signing: SigningKey,
}

impl std::fmt::Debug for PrivateKeys {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKeys")
            .field("address", &self.destination.b32_address())
            .finish_non_exhaustive()
    }
}

impl PrivateKeys {
    /// Generate like i2pd does (docs/keys-file.md "Generating keys like i2pd"). Only sig type 7 is
    /// supported.
    pub fn generate(sig_type: u16, crypto_type: u16) -> Result<PrivateKeys, DataError> {
        PrivateKeys::generate_with_rng(sig_type, crypto_type, &mut rand::rng())
    }

    /// [`PrivateKeys::generate`] with a caller-supplied random source (tests
    /// use a seeded one to get reproducible keys).
    pub fn generate_with_rng<R: CryptoRng + ?Sized>(
        sig_type: u16,
        crypto_type: u16,
        rng: &mut R,
    ) -> Result<PrivateKeys, DataError> {
        if sig_type != SIG_ED25519 {
            return Err(DataError::Unsupported {
                what: "signing key",
                code: sig_type,
            });
        }
        let enc_len = encryption_private_len(crypto_type).ok_or(DataError::Unsupported {
            what: "crypto",
            code: crypto_type,
        })?;
        let mut seed = Zeroizing::new([0u8; ED25519_LEN]);
        rng.fill_bytes(seed.as_mut());
        let mut block = [0u8; BLOCK_LEN];
        rng.fill_bytes(&mut block);
        // Random and unrelated to the public-key field, as in i2pd: nothing
        // ever decrypts with a destination's identity key.
        let mut encryption_private = Zeroizing::new(vec![0u8; enc_len]);
        rng.fill_bytes(&mut encryption_private);
        PrivateKeys::from_parts(&block, crypto_type, encryption_private, &seed)
    }

    /// Assemble a destination from the random block and the Ed25519 seed.
    fn from_parts(
        block: &[u8; BLOCK_LEN],
        crypto_type: u16,
        encryption_private: Zeroizing<Vec<u8>>,
        seed: &[u8; ED25519_LEN],
    ) -> Result<PrivateKeys, DataError> {
        let signing = SigningKey::from_bytes(seed);
        // Public-key field = B×8, signing padding = B×3 (proposal 161's
        // compressible padding, i2pd ≥ 2.45.0), then the Ed25519 key.
        let padding_blocks = (SIGNING_KEY_FIELD_LEN - ED25519_LEN) / BLOCK_LEN;
        let mut bytes = Vec::with_capacity(DESTINATION_MIN_LEN + 4);
        for _ in 0..PUBLIC_KEY_FIELD_LEN / BLOCK_LEN + padding_blocks {
            bytes.extend_from_slice(block);
        }
        bytes.extend_from_slice(signing.verifying_key().as_bytes());
        bytes.push(CERT_KEY);
        bytes.extend_from_slice(&4u16.to_be_bytes());
        bytes.extend_from_slice(&SIG_ED25519.to_be_bytes());
        bytes.extend_from_slice(&crypto_type.to_be_bytes());
        let destination = Destination::from_bytes(&bytes)?;
        Ok(PrivateKeys {
            destination,
            encryption_private,
            signing,
        })
    }

    /// Parse an i2pd keys file's bytes (trailing bytes ignored, like i2pd).
    pub fn from_bytes(buf: &[u8]) -> Result<PrivateKeys, DataError> {
        PrivateKeys::parse(buf).map_err(DataError::from)
    }

    /// Like [`PrivateKeys::from_bytes`] with a detailed reason on failure.
    pub fn parse(buf: &[u8]) -> Result<PrivateKeys, KeysError> {
        let len = buf.len();
        if len < DESTINATION_MIN_LEN {
            return Err(KeysError::TooShort { len });
        }
        let (destination, dest_len) = Destination::parse(buf).map_err(|e| match e {
            DataError::Truncated(_) => KeysError::TruncatedDestination {
                expected: declared_destination_len(buf),
                len,
            },
            DataError::Unsupported {
                what: "signing key",
                code,
            } => KeysError::UnsupportedSigType { code },
            other => KeysError::Destination(other),
        })?;
        let sig_type = destination.sig_type();
        if sig_type != SIG_ED25519 {
            return Err(KeysError::UnsupportedSigType { code: sig_type });
        }
        let crypto_type = destination.crypto_type();
        let enc_len = encryption_private_len(crypto_type)
            .ok_or(KeysError::UnsupportedCryptoType { code: crypto_type })?;
        let expected = dest_len + enc_len + ED25519_LEN;
        let private = buf
            .get(dest_len..expected)
            .ok_or(KeysError::TruncatedPrivateKeys { expected, len })?;
        let (enc, seed) = private.split_at(enc_len);
        let seed = Zeroizing::new(
            <[u8; ED25519_LEN]>::try_from(seed)
                .map_err(|_| KeysError::TruncatedPrivateKeys { expected, len })?,
        );
        if seed.iter().all(|&b| b == 0) {
            return Err(KeysError::OfflineSigned);
        }
        let signing = SigningKey::from_bytes(&seed);
        if signing.verifying_key().as_bytes().as_slice()
            != destination.signing_public_key().as_slice()
        {
            return Err(KeysError::KeyMismatch);
        }
        Ok(PrivateKeys {
            destination,
            encryption_private: Zeroizing::new(enc.to_vec()),
            signing,
        })
    }

    /// Serialise in i2pd's keys-file format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.serialized_len());
        out.extend_from_slice(self.destination.as_bytes());
        out.extend_from_slice(&self.encryption_private);
        out.extend_from_slice(self.signing.as_bytes());
        out
    }

    /// Length of [`PrivateKeys::to_bytes`] (679 for crypto 0, 455 for crypto 4).
    pub fn serialized_len(&self) -> usize {
        self.destination.as_bytes().len() + self.encryption_private.len() + ED25519_LEN
    }

    /// The public destination.
    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    /// Sign with the destination's signing key (Ed25519: 64 bytes).
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.signing.sign(msg).to_bytes().to_vec()
    }
}

/// 387 + the certificate length declared at offset 385 (caller checked the length).
fn declared_destination_len(buf: &[u8]) -> usize {
    let mut r = Reader::new(buf);
    let cert_len = r
        .take(DESTINATION_MIN_LEN - 2, "key fields and certificate type")
        .and_then(|_| r.u16("certificate length"))
        .unwrap_or(0);
    DESTINATION_MIN_LEN + usize::from(cert_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_i2pd_layout() {
        let keys = PrivateKeys::generate(7, 0).expect("supported");
        let bytes = keys.to_bytes();
        assert_eq!(bytes.len(), 679);
        let block = &bytes[..32];
        for i in 0..11 {
            assert_eq!(&bytes[i * 32..(i + 1) * 32], block, "block {i}");
        }
        assert_eq!(&bytes[384..391], &[5, 0, 4, 0, 7, 0, 0]);
        assert_ne!(
            &bytes[391..423],
            block,
            "private key field is independent of B"
        );
        let again = PrivateKeys::from_bytes(&bytes).expect("round trip");
        assert_eq!(again.to_bytes(), bytes);
    }

    #[test]
    fn refuses_unsupported_types_when_generating() {
        assert_eq!(
            PrivateKeys::generate(11, 0).map(|_| ()),
            Err(DataError::Unsupported {
                what: "signing key",
                code: 11
            })
        );
        assert_eq!(
            PrivateKeys::generate(7, 1).map(|_| ()),
            Err(DataError::Unsupported {
                what: "crypto",
                code: 1
            })
        );
    }
}

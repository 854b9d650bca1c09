//! LeaseSet2 (database store type 3) as a client hands it to the router in
//! CreateLeaseSet2 (docs/i2cp.md "LeaseSet2").
//!
//! ```text
//! Destination ‖ published BE32 s ‖ expires BE16 s (offset) ‖ flags BE16
//! ‖ options Mapping (we send 00 00) ‖ numk u8 ‖ numk × (type BE16 ‖ len BE16 ‖ key)
//! ‖ num u8 ‖ num × Lease2 (gateway 32 ‖ tunnel id BE32 ‖ end BE32 s) ‖ signature
//! ```
//! The signature covers `03` (the store type) followed by every byte from the
//! Destination through the last Lease2.

use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::{DataError, Destination, PrivateKeys, Reader};

/// Database store type of a LeaseSet2; prefixed to the signed bytes.
pub const STORE_TYPE_LS2: u8 = 3;
/// Flag bit 0: an offline signature block follows the flags (not supported here).
pub const FLAG_OFFLINE_KEYS: u16 = 0x0001;
/// Flag bit 1: the LeaseSet must not be published to floodfills (docs/i2cp.md "LeaseSet2").
pub const FLAG_UNPUBLISHED: u16 = 0x0002;
/// At most 16 leases in a LeaseSet2.
pub const MAX_LEASES: usize = 16;
/// Encryption key type 0: ElGamal-2048, 256-byte public key.
pub const ENC_TYPE_ELGAMAL: u16 = 0;
/// Encryption key type 4: ECIES-X25519, 32-byte public key (little-endian u).
pub const ENC_TYPE_X25519: u16 = 4;

/// One Lease2: inbound tunnel gateway, tunnel id, end date in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease2 {
    /// Identity hash of the inbound gateway router.
    pub gateway: [u8; 32],
    /// Tunnel id at that gateway.
    pub tunnel_id: u32,
    /// Lease end, seconds since the epoch.
    pub end_date_secs: u32,
}

impl Lease2 {
    /// From a RequestVariableLeaseSet lease, whose end date is in milliseconds
    /// (docs/i2cp.md "LeaseSet2"): ms ÷ 1000, saturating at u32::MAX.
    pub fn from_millis(gateway: [u8; 32], tunnel_id: u32, end_date_ms: u64) -> Lease2 {
        let end_date_secs = u32::try_from(end_date_ms / 1000).unwrap_or(u32::MAX);
        Lease2 {
            gateway,
            tunnel_id,
            end_date_secs,
        }
    }
}

/// A public encryption key published in the LeaseSet2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptionKey {
    /// Crypto type (4 = X25519, 0 = ElGamal).
    pub key_type: u16,
    /// Public key bytes (32 for X25519, 256 for ElGamal).
    pub public: Vec<u8>,
}

/// An X25519 key pair for the LeaseSet (one per session, reused for every
/// CreateLeaseSet2 answer; docs/i2cp.md "LeaseSet2"). The secret is zeroized on drop.
pub struct LeaseSetEncKey {
    /// Private scalar, sent to the router after the LS2 signature.
    pub secret: StaticSecret,
    /// Public key, published in the LS2.
    pub public: PublicKey,
}

impl LeaseSetEncKey {
    /// A fresh random key pair.
    pub fn generate() -> LeaseSetEncKey {
        let secret = StaticSecret::random_from_rng(&mut rand::rng());
        let public = PublicKey::from(&secret);
        LeaseSetEncKey { secret, public }
    }

    /// The public half as an LS2 encryption key (type 4, 32 bytes).
    pub fn encryption_key(&self) -> EncryptionKey {
        EncryptionKey {
            key_type: ENC_TYPE_X25519,
            public: self.public.as_bytes().to_vec(),
        }
    }

    /// The raw private scalar for the CreateLeaseSet2 private-key section.
    pub fn private_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }
}

impl std::fmt::Debug for LeaseSetEncKey {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseSetEncKey")
            .field("public", self.public.as_bytes())
            .finish_non_exhaustive()
    }
}

/// Public key length required for the key types we know; `None` = any length.
fn expected_key_len(key_type: u16) -> Option<usize> {
    match key_type {
        ENC_TYPE_ELGAMAL => Some(256),
        ENC_TYPE_X25519 => Some(32),
        _ => None,
    }
}

/// `expires` field: latest lease end − published, in seconds, clamped to
/// 0..=65535 (a lease set whose leases all ended gets 0 = already expired).
fn expires_offset(published_secs: u32, leases: &[Lease2]) -> u16 {
    let latest = leases
        .iter()
        .map(|l| l.end_date_secs)
        .max()
        .unwrap_or(published_secs);
    u16::try_from(latest.saturating_sub(published_secs)).unwrap_or(u16::MAX)
}

/// Build a signed LeaseSet2: the LS2 bytes including the signature (without
/// the store-type byte, which CreateLeaseSet2 carries separately).
pub fn build_leaseset2(
    keys: &PrivateKeys,
    published_secs: u32,
    leases: &[Lease2],
    enc_keys: &[EncryptionKey],
    flags: u16,
) -> Result<Vec<u8>, DataError> {
    if flags & FLAG_OFFLINE_KEYS != 0 {
        return Err(DataError::Invalid(
            "LeaseSet2 flags: offline keys are not supported",
        ));
    }
    let num = u8::try_from(leases.len())
        .ok()
        .filter(|&n| usize::from(n) <= MAX_LEASES)
        .ok_or(DataError::Invalid("LeaseSet2: more than 16 leases"))?;
    let numk = u8::try_from(enc_keys.len())
        .map_err(|_| DataError::Invalid("LeaseSet2: too many encryption keys"))?;
    if numk == 0 {
        return Err(DataError::Invalid("LeaseSet2: no encryption key"));
    }
    let mut signed = vec![STORE_TYPE_LS2];
    signed.extend_from_slice(keys.destination().as_bytes());
    signed.extend_from_slice(&published_secs.to_be_bytes());
    signed.extend_from_slice(&expires_offset(published_secs, leases).to_be_bytes());
    signed.extend_from_slice(&flags.to_be_bytes());
    signed.extend_from_slice(&[0, 0]); // empty options Mapping
    signed.push(numk);
    for key in enc_keys {
        if expected_key_len(key.key_type).is_some_and(|len| len != key.public.len()) {
            return Err(DataError::Invalid(
                "LeaseSet2 encryption key length for its type",
            ));
        }
        let len = u16::try_from(key.public.len())
            .map_err(|_| DataError::Invalid("LeaseSet2 encryption key length"))?;
        signed.extend_from_slice(&key.key_type.to_be_bytes());
        signed.extend_from_slice(&len.to_be_bytes());
        signed.extend_from_slice(&key.public);
    }
    signed.push(num);
    for lease in leases {
        signed.extend_from_slice(&lease.gateway);
        signed.extend_from_slice(&lease.tunnel_id.to_be_bytes());
        signed.extend_from_slice(&lease.end_date_secs.to_be_bytes());
    }
    let signature = keys.sign(&signed);
    let mut ls2 = signed.split_off(1);
    ls2.extend_from_slice(&signature);
    Ok(ls2)
}

/// A parsed (and signature-checked) LeaseSet2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseSet2 {
    /// The owner.
    pub destination: Destination,
    /// Published, seconds since the epoch.
    pub published_secs: u32,
    /// Expiry as an offset from `published_secs`, in seconds.
    pub expires_secs: u16,
    /// Flags (bit 1 = unpublished).
    pub flags: u16,
    /// Options Mapping body (without its 2-byte size), raw.
    pub options: Vec<u8>,
    /// Encryption keys, in order of preference.
    pub enc_keys: Vec<EncryptionKey>,
    /// Leases.
    pub leases: Vec<Lease2>,
    /// The signature (length by the destination's signing type).
    pub signature: Vec<u8>,
}

/// Parse a LeaseSet2 that fills `buf` exactly and verify its signature.
/// Offline-signed LeaseSets are refused (not supported).
pub fn parse_leaseset2(buf: &[u8]) -> Result<LeaseSet2, DataError> {
    let (destination, dest_len) = Destination::parse(buf)?;
    let mut r = Reader::new(buf.get(dest_len..).unwrap_or_default());
    let published_secs = r.u32("LeaseSet2 published")?;
    let expires_secs = r.u16("LeaseSet2 expires")?;
    let flags = r.u16("LeaseSet2 flags")?;
    if flags & FLAG_OFFLINE_KEYS != 0 {
        return Err(DataError::Unsupported {
            what: "LeaseSet2 offline signature flags",
            code: flags,
        });
    }
    let options_len = usize::from(r.u16("LeaseSet2 options size")?);
    let options = r.take(options_len, "LeaseSet2 options")?.to_vec();
    let numk = r.u8("LeaseSet2 encryption key count")?;
    if numk == 0 {
        return Err(DataError::Invalid("LeaseSet2: no encryption key"));
    }
    let mut enc_keys = Vec::with_capacity(usize::from(numk));
    for _ in 0..numk {
        let key_type = r.u16("LeaseSet2 encryption key type")?;
        let len = usize::from(r.u16("LeaseSet2 encryption key length")?);
        let public = r.take(len, "LeaseSet2 encryption key")?.to_vec();
        if expected_key_len(key_type).is_some_and(|want| want != len) {
            return Err(DataError::Invalid(
                "LeaseSet2 encryption key length for its type",
            ));
        }
        enc_keys.push(EncryptionKey { key_type, public });
    }
    let num = usize::from(r.u8("LeaseSet2 lease count")?);
    if num > MAX_LEASES {
        return Err(DataError::Invalid("LeaseSet2: more than 16 leases"));
    }
    let mut leases = Vec::with_capacity(num);
    for _ in 0..num {
        let gateway = r.take_array("Lease2 gateway")?;
        let tunnel_id = r.u32("Lease2 tunnel id")?;
        let end_date_secs = r.u32("Lease2 end date")?;
        leases.push(Lease2 {
            gateway,
            tunnel_id,
            end_date_secs,
        });
    }
    let signed_len = dest_len + r.position();
    let signature = r
        .take(destination.signature_len(), "LeaseSet2 signature")?
        .to_vec();
    r.finish("trailing bytes after LeaseSet2 signature")?;
    let mut signed = Vec::with_capacity(1 + signed_len);
    signed.push(STORE_TYPE_LS2);
    signed.extend_from_slice(buf.get(..signed_len).unwrap_or_default());
    if !destination.verify(&signed, &signature) {
        return Err(DataError::Invalid("LeaseSet2 signature"));
    }
    Ok(LeaseSet2 {
        destination,
        published_secs,
        expires_secs,
        flags,
        options,
        enc_keys,
        leases,
        signature,
    })
}

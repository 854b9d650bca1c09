//! The LeaseSet messages: the leases the router asks a LeaseSet for
//! (RequestVariableLeaseSet) and the signed LeaseSet2 with its private keys that answers it
//! (CreateLeaseSet2, docs/i2cp.md "LeaseSet2").

use crate::data::Destination;
use crate::i2cp::wire::{DecodeError, EncodeError, Reader};

use super::STORE_TYPE_LS2;

/// One lease from RequestVariableLeaseSet: `gateway(32) ‖ tunnel id BE32 ‖ end BE64 ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Router hash of the inbound gateway.
    pub gateway: [u8; 32],
    /// Tunnel id at the gateway.
    pub tunnel_id: u32,
    /// Expiry, milliseconds since the epoch.
    pub end_ms: u64,
}

/// Wire size of one [`Lease`] in RequestVariableLeaseSet.
pub const LEASE_LEN: usize = 44;

/// One private key in CreateLeaseSet2: `type BE16 ‖ len BE16 ‖ key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivateKeyEntry {
    /// Crypto type (4 = X25519).
    pub key_type: u16,
    /// Raw key bytes (X25519: 32 bytes, little-endian scalar).
    pub key: Vec<u8>,
}

/// CreateLeaseSet2 body (docs/i2cp.md "LeaseSet2").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateLeaseSet2 {
    /// Our session id.
    pub sid: u16,
    /// Store type; only [`STORE_TYPE_LS2`] is produced or accepted.
    pub store_type: u8,
    /// The complete LS2 including its trailing signature.
    pub lease_set: Vec<u8>,
    /// Private keys matching the LS2's encryption keys, same order.
    pub private_keys: Vec<PrivateKeyEntry>,
}

impl CreateLeaseSet2 {
    pub(super) fn read(r: &mut Reader<'_>) -> Result<CreateLeaseSet2, DecodeError> {
        let sid = r.u16("session id")?;
        let store_type = r.u8("store type")?;
        if store_type != STORE_TYPE_LS2 {
            return Err(DecodeError::Invalid("lease set store type (only LS2 = 3)"));
        }
        let start = r.peek_rest();
        skip_lease_set2(r)?;
        let ls_len = start.len() - r.left();
        let lease_set = start
            .get(..ls_len)
            .ok_or(DecodeError::Truncated("lease set"))?
            .to_vec();
        let count = r.u8("private key count")?;
        let mut private_keys = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let key_type = r.u16("private key type")?;
            let len = r.u16("private key length")?;
            let key = r.take(usize::from(len), "private key")?.to_vec();
            private_keys.push(PrivateKeyEntry { key_type, key });
        }
        Ok(CreateLeaseSet2 {
            sid,
            store_type,
            lease_set,
            private_keys,
        })
    }

    pub(super) fn write(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&self.sid.to_be_bytes());
        out.push(self.store_type);
        out.extend_from_slice(&self.lease_set);
        let count = u8::try_from(self.private_keys.len())
            .map_err(|_| EncodeError::TooMany("private keys"))?;
        out.push(count);
        for entry in &self.private_keys {
            out.extend_from_slice(&entry.key_type.to_be_bytes());
            let len =
                u16::try_from(entry.key.len()).map_err(|_| EncodeError::TooMany("key bytes"))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&entry.key);
        }
        Ok(())
    }

    /// Verify the LS2 signature: the destination's key over `store type ‖ LS2 without
    /// its signature` (docs/i2cp.md "LeaseSet2", what is signed).
    pub fn verify_signature(&self) -> bool {
        let Ok((dest, _)) = Destination::parse(&self.lease_set) else {
            return false;
        };
        let sig_len = dest.signature_len();
        let Some(body_len) = self.lease_set.len().checked_sub(sig_len) else {
            return false;
        };
        let (body, sig) = self.lease_set.split_at(body_len);
        let mut signed = Vec::with_capacity(1 + body.len());
        signed.push(self.store_type);
        signed.extend_from_slice(body);
        dest.verify(&signed, sig)
    }
}

/// Walk one LS2 (without offline keys) so its length is known (docs/i2cp.md "LeaseSet2").
fn skip_lease_set2(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    let dest = r.destination()?;
    r.u32("lease set published")?;
    r.u16("lease set expires")?;
    let flags = r.u16("lease set flags")?;
    if flags & 0x0001 != 0 {
        return Err(DecodeError::Invalid(
            "offline-signed lease set (unsupported)",
        ));
    }
    r.mapping()?;
    let keys = r.u8("lease set key count")?;
    for _ in 0..keys {
        r.u16("lease set key type")?;
        let len = r.u16("lease set key length")?;
        r.take(usize::from(len), "lease set key")?;
    }
    let leases = r.u8("lease count")?;
    r.take(usize::from(leases) * 40, "lease2 entries")?;
    r.take(dest.signature_len(), "lease set signature")?;
    Ok(())
}

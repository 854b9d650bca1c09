//! The SessionConfig of CreateSession: what is signed and how (docs/i2cp.md "Session
//! set-up"). Its own file because the signature must cover exactly the bytes sent.

use crate::data::{Destination, PrivateKeys};
use crate::i2cp::wire::{DecodeError, EncodeError, Reader, put_mapping};

/// The body of CreateSession: `Destination ‖ Mapping ‖ Date ‖ Signature`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our destination.
    pub destination: Destination,
    /// Options in wire order (sorted by key when we build them).
    pub options: Vec<(String, String)>,
    /// Router time in ms at creation.
    pub date_ms: u64,
    /// Signature over `signed_bytes`.
    pub signature: Vec<u8>,
    /// `Destination ‖ Mapping (with its size) ‖ Date` exactly as on the wire.
    signed_bytes: Vec<u8>,
}

impl SessionConfig {
    /// Build and sign a SessionConfig. Options are sorted by key bytes; the signature covers
    /// exactly the bytes sent (docs/i2cp.md "Session set-up").
    pub fn sign(
        keys: &PrivateKeys,
        options: &[(String, String)],
        date_ms: u64,
    ) -> Result<SessionConfig, EncodeError> {
        let destination = keys.destination().clone();
        let mut signed_bytes = destination.as_bytes().to_vec();
        put_mapping(&mut signed_bytes, options)?;
        signed_bytes.extend_from_slice(&date_ms.to_be_bytes());
        let signature = keys.sign(&signed_bytes);
        // Re-read the options from what we wrote so `options` reflects the wire order.
        let options = {
            let mut r = Reader::new(&signed_bytes);
            r.take(destination.as_bytes().len(), "destination")
                .and_then(|_| r.mapping())
                .unwrap_or_default()
        };
        Ok(SessionConfig {
            destination,
            options,
            date_ms,
            signature,
            signed_bytes,
        })
    }

    /// Does the signature verify against the destination's signing key?
    pub fn verify(&self) -> bool {
        self.destination.verify(&self.signed_bytes, &self.signature)
    }

    pub(super) fn read(r: &mut Reader<'_>) -> Result<SessionConfig, DecodeError> {
        let start = r.peek_rest();
        let destination = r.destination()?;
        let options = r.mapping()?;
        let date_ms = r.u64("session config date")?;
        // The signature covers exactly the bytes read so far.
        let signed_len = start.len() - r.left();
        let signed_bytes = start
            .get(..signed_len)
            .ok_or(DecodeError::Truncated("session config"))?
            .to_vec();
        let signature = r
            .take(destination.signature_len(), "session config signature")?
            .to_vec();
        Ok(SessionConfig {
            destination,
            options,
            date_ms,
            signature,
            signed_bytes,
        })
    }

    pub(super) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.signed_bytes);
        out.extend_from_slice(&self.signature);
    }
}

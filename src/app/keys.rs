//! The proxy's own keys, locked and then loaded or created before anything talks to the
//! router (the `address --create` command uses the same loading).

use crate::config::{Config, KeysSpec};
use crate::data::PrivateKeys;
use crate::data::keys_file::{self, KeysLock};

use super::RunError;

/// Lock the proxy's keys file (none for transient keys) so that a second instance with
/// the same keys refuses to start instead of fighting over the destination at the router.
pub fn lock_keys(config: &Config) -> Result<Option<KeysLock>, RunError> {
    match &config.socks.keys {
        KeysSpec::Transient => Ok(None),
        KeysSpec::File(path) => Ok(Some(keys_file::lock(path)?)),
    }
}

/// Load (or create) the proxy's keys as the config says.
pub fn load_keys(config: &Config) -> Result<PrivateKeys, RunError> {
    match &config.socks.keys {
        KeysSpec::Transient => {
            keys_file::transient(config.socks.signature_type).map_err(RunError::Transient)
        }
        KeysSpec::File(path) => {
            let (keys, created) = keys_file::load_or_create(path, config.socks.signature_type)?;
            if created {
                tracing::info!(
                    "created new keys file {} for {}",
                    path.display(),
                    keys.destination().b32_address()
                );
            }
            Ok(keys)
        }
    }
}

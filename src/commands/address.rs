//! `i2psocks address [--create]`: the proxy's b32 address, and what to do when its keys
//! file is missing or unreadable.

use std::process::ExitCode;

use crate::app;
use crate::config::{Config, KeysSpec, Loaded};
use crate::data::keys_file::{self, KeysFileError};

/// `i2psocks address [--create]`: the b32 address of the configured keys file. Creates the
/// file only with `--create`; explains what to do when the file is missing or unreadable
/// (the packaged service's keys are readable by root only).
pub(super) fn address(loaded: &Loaded, create: bool) -> ExitCode {
    let config = &loaded.config;
    let KeysSpec::File(path) = &config.socks.keys else {
        eprintln!(
            "i2psocks: [socksproxy] keys is transient: the proxy gets a new address at every \
             start (set keys = FILE in [socksproxy] of i2pd.conf for a lasting address)"
        );
        return ExitCode::from(1);
    };
    let loaded_keys = if create {
        app::load_keys(config).map_err(|e| e.to_string())
    } else {
        keys_file::load(path).map_err(|e| explain_keys_error(config, &e))
    };
    match loaded_keys {
        Ok(keys) => {
            println!("{}", keys.destination().b32_address());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("i2psocks: {err}");
            ExitCode::from(1)
        }
    }
}

/// Where the packaged service keeps its state (the unit's `--datadir`).
const SERVICE_DATADIR: &str = "/var/lib/i2psocks";

/// A keys-file error with what to do about it.
pub(super) fn explain_keys_error(config: &Config, err: &KeysFileError) -> String {
    let service_cmd =
        format!("sudo i2psocks --conf /etc/i2pd/i2pd.conf --datadir {SERVICE_DATADIR} address");
    let elsewhere = config.datadir != std::path::Path::new(SERVICE_DATADIR);
    match err {
        KeysFileError::Read { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
            let mut text = format!(
                "no keys file {}: the proxy creates it at its first start (`address --create` \
                 creates it now)",
                path.display()
            );
            if elsewhere {
                text.push_str(&format!(
                    ". The packaged service keeps its keys in {SERVICE_DATADIR}; for its \
                     address run: {service_cmd}"
                ));
            }
            text
        }
        KeysFileError::Read { path, source }
            if source.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            format!(
                "cannot read keys file {}: permission denied. The service's keys are readable \
                 only by its own user and root: run `{service_cmd}` (or the same command as \
                 root)",
                path.display()
            )
        }
        other => other.to_string(),
    }
}

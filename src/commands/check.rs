//! `i2psocks check`: the effective configuration, the users file when logins are required,
//! and the keys file's state, all without changing anything.

use std::process::ExitCode;

use crate::config::{Config, KeysSpec, Loaded};
use crate::data::keys_file::{self, KeysFileError};
use crate::socks::users;

use super::address::explain_keys_error;

pub(super) fn check(loaded: &Loaded) -> ExitCode {
    print!("{}", loaded.config.render_effective());
    // With logins required, the users file is part of the configuration.
    if loaded.config.socks.require_auth {
        match users::UserDb::open(&loaded.config.socks.users_file) {
            Ok(db) if db.is_empty() => {
                tracing::warn!("the users file has no users: every client would be refused");
            }
            Ok(_) => {}
            Err(err) => {
                eprintln!("i2psocks: {err} (add users with `i2psocks user add NAME`)");
                return ExitCode::from(1);
            }
        }
    }
    println!("{}", keys_status(&loaded.config));
    println!("# configuration OK");
    ExitCode::SUCCESS
}

/// One line for `check` about the keys file, without creating it.
fn keys_status(config: &Config) -> String {
    let KeysSpec::File(path) = &config.socks.keys else {
        return "# keys: transient (a new address at every start)".to_owned();
    };
    match keys_file::load(path) {
        Ok(keys) => format!(
            "# keys file {}: {}",
            path.display(),
            keys.destination().b32_address()
        ),
        Err(KeysFileError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            format!(
                "# keys file {}: not there yet (created at the first start)",
                path.display()
            )
        }
        Err(err) => {
            tracing::warn!("{}", explain_keys_error(config, &err));
            format!("# keys file {}: not readable here", path.display())
        }
    }
}

//! `i2psocks user add|remove|list`: edits the users file of `--require-auth` (the running
//! proxy notices changes at the next login, so no restart is needed).

use std::process::ExitCode;

use crate::config::{Loaded, UserAction};
use crate::socks::users::{self, UsersFile};

use super::password_prompt::read_password;

/// `i2psocks user add|remove|list`: edit the users file of --require-auth.
pub(super) fn user(loaded: &Loaded, action: &UserAction) -> ExitCode {
    match user_inner(loaded, action) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("i2psocks: {err}");
            ExitCode::from(1)
        }
    }
}

fn user_inner(loaded: &Loaded, action: &UserAction) -> Result<(), String> {
    let path = &loaded.config.socks.users_file;
    let mut file = UsersFile::load(path, true).map_err(|e| e.to_string())?;
    match action {
        UserAction::List => {
            for name in file.names() {
                println!("{name}");
            }
            return Ok(());
        }
        UserAction::Remove { name } => {
            file.remove(name).map_err(|e| e.to_string())?;
            file.save().map_err(|e| e.to_string())?;
            eprintln!("removed user {name} from {}", path.display());
        }
        UserAction::Add {
            name,
            password_stdin,
        } => {
            users::validate_name(name.as_bytes()).map_err(|e| e.to_string())?;
            let password = read_password(*password_stdin)?;
            users::validate_password(password.as_bytes()).map_err(|e| e.to_string())?;
            let phc = users::hash_password(password.as_bytes()).map_err(|e| e.to_string())?;
            let new = file.set(name, phc).map_err(|e| e.to_string())?;
            file.save().map_err(|e| e.to_string())?;
            let what = if new {
                "added"
            } else {
                "changed the password of"
            };
            eprintln!("{what} user {name} in {}", path.display());
        }
    }
    if !loaded.config.socks.require_auth {
        eprintln!(
            "note: logins are only enforced with --require-auth (or requireauth = true in \
             [socks] of i2psocks.conf)"
        );
    }
    Ok(())
}

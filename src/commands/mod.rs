//! The subcommands, run once the command line and the config files are loaded: `run` (the
//! proxy), `check`, `address` and `user`. The binary only parses, sets up logging and calls
//! [`execute`]; what each command does lives here so that the library holds it all.
//!
//! * run.rs: the proxy on a tokio runtime ([`crate::app::run`]);
//! * check.rs: `check`, the effective configuration and the keys file's state;
//! * address.rs: `address [--create]`, with what to do when the keys file is unreadable;
//! * user.rs: `user add|remove|list`, the users file of `--require-auth`, over the
//!   terminal password prompt of password_prompt.rs.

mod address;
mod check;
mod password_prompt;
mod run;
mod user;

use std::process::ExitCode;

use crate::config::{Command, Loaded};

/// Run the command the command line asks for; its result is the process exit status.
pub fn execute(loaded: Loaded) -> ExitCode {
    match loaded.cli.effective_command() {
        Command::Check => check::check(&loaded),
        Command::Address { create } => address::address(&loaded, create),
        Command::Run => run::run(loaded),
        Command::User { action } => user::user(&loaded, &action),
    }
}

//! i2psocks: a standalone SOCKS 4/4a/5 front end for I2P.
//!
//! Layers, data flowing one way: `config` → `socks` → `streaming` → `i2cp` → `data`.
//! Each layer is usable and testable alone; only the drivers know tokio.
//! Above them `app` wires the layers into the running proxy and `commands` holds what the
//! binary's subcommands do (the binary itself only parses and sets up logging).

pub mod app;
pub mod commands;
pub mod config;
pub mod data;
pub mod detour;
pub mod first_contact;
pub mod i2cp;
pub mod listeners;
pub mod service_status;
pub mod socks;
pub mod streaming;

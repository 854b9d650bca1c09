//! The configuration layer (`src/config`) as one test binary: one module per former test
//! file, so `cargo test --test config load::` runs what `tests/config_load.rs` was.

mod cli_props;
mod compat;
mod ini_props;
mod load;

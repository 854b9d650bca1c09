//! The configuration layer (`src/config`) as one test binary: one module per area, so
//! `cargo test --test config load::` runs the tests of `load.rs` alone.

mod cli_props;
mod compat;
mod ini_props;
mod load;

//! The I2CP layer (`src/i2cp`) as one test binary: one module per former test file. The
//! fake router of `tests/i2cp_support/` is shared with `tests/service_notify.rs`. proptest
//! keeps the failures of `i2cp_props` in `tests/proptest-regressions/i2cp_props.txt` (its
//! place for a module of a binary with a `main.rs`).

#[path = "../common/mod.rs"]
mod common;
#[path = "../i2cp_support/mod.rs"]
mod i2cp_support;

mod codec;
mod driver;
mod i2cp_props;
mod router_gone_during_lookup;
mod session;

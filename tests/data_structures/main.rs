//! The data layer (`src/data`: Destinations, keys files, LeaseSet2) as one test binary: one
//! module per former test file. Named `data_structures` because `tests/data/` holds the
//! fixtures (keys files, config files) that several binaries read.

#[path = "../common/mod.rs"]
mod common;

mod data_props;
mod destination;
mod i2pd_keys;
mod keys_file;
mod lease_set;
mod vectors;

//! The streaming layer (`src/streaming`) as one test binary: one module per former test file.

mod conn;
mod driver;
mod sim;

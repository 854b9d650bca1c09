//! The SOCKS layer (`src/socks`: parser, server, UDP, outproxies) as one test binary: one
//! module per former test file. Tests that re-run themselves in a child process (`emfile`,
//! `outproxy_dante`) pass their full name, module path included, to `--exact`.

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod emfile;
mod outproxy;
mod outproxy_dante;
mod outproxy_i2p;
mod parser;
mod resolve;
mod server;
mod udp;

//! socks layer (under construction).

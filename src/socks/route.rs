//! Where a parsed request goes (docs/socks.md "Checks when the request is complete", checked in
//! i2pd's order).
use super::reply::{ReplyCode, is_i2p_name};
use super::request::{Command, Request, Target};

/// The routing decision for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Open an I2P stream to `name` on `port`.
    I2p {
        /// `.i2p` name (b32 or address-book name).
        name: String,
        /// Destination port.
        port: u16,
    },
    /// Hand the name to the upstream SOCKS5 outproxy.
    Outproxy {
        /// Host name bytes as requested (never resolved locally, not necessarily UTF-8).
        host: Vec<u8>,
        /// Port as requested.
        port: u16,
    },
    /// Reply with this code and close.
    Refuse(ReplyCode),
}

/// Decide what to do with `request`.
///
/// 1. Only CONNECT (BIND and UDP ASSOCIATE fail in every released i2pd) → else `07`.
/// 2. Only host names → else `08`, even with an outproxy (github.com/PurpleI2P/i2pd/issues/1913).
/// 3. `.i2p` → I2P; other names → outproxy if enabled, else `08`.
///
/// A `.i2p` name that is not UTF-8 can be neither a b32 address nor an address-book entry:
/// i2pd's address book misses at once and answers `04`; so do we, without asking the router.
pub fn classify(request: &Request, outproxy_enabled: bool) -> Route {
    if request.command != Command::Connect {
        return Route::Refuse(ReplyCode::CommandNotSupported);
    }
    let Target::Domain(name) = &request.target else {
        return Route::Refuse(ReplyCode::AddressTypeNotSupported);
    };
    if is_i2p_name(name) {
        return match std::str::from_utf8(name) {
            Ok(name) => Route::I2p {
                name: name.to_owned(),
                port: request.port,
            },
            Err(_) => Route::Refuse(ReplyCode::HostUnreachable),
        };
    }
    if outproxy_enabled {
        return Route::Outproxy {
            host: name.clone(),
            port: request.port,
        };
    }
    Route::Refuse(ReplyCode::AddressTypeNotSupported)
}

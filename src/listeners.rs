//! The proxy's listening sockets as the configuration asks for them: the sockets systemd
//! passed (socket activation), else i2pd.conf's `[socksproxy] address`:`port`; plus the
//! extra listeners of `socks.listen` (TCP or Unix-domain). Refuses an open proxy.
use std::net::SocketAddr;

use thiserror::Error;

use crate::config::{Config, ListenSpec};
use crate::socks::listener::{self, ActivationError, UnixBindError};
use crate::socks::{self, BindError, Listener, UnixPerms};

/// Why the listeners could not be set up.
#[derive(Debug, Error)]
pub enum ListenError {
    /// A TCP address could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// A Unix-domain socket could not be created.
    #[error(transparent)]
    Unix(#[from] UnixBindError),
    /// The sockets from systemd could not be used.
    #[error(transparent)]
    Activation(#[from] ActivationError),
    /// A listener's address could not be read back.
    #[error("cannot read the address of listener {what}: {source}")]
    Address {
        /// The listener.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Listening beyond loopback without logins and without the explicit setting.
    #[error(
        "refusing to start an open proxy: {addr} is reachable from other hosts and logins are \
         not required, so anyone who can reach it could use I2P through this destination. \
         Either require logins (--require-auth, or requireauth = true in [socks] of \
         i2psocks.conf, with users from `i2psocks user add NAME`), or accept the open proxy \
         explicitly (--allow-open-proxy, or allowopenproxy = true in [socks] of \
         i2psocks.conf); or listen on a loopback address ([socksproxy] address = 127.0.0.1 \
         in i2pd.conf)"
    )]
    OpenProxy {
        /// The first address open to the network.
        addr: SocketAddr,
    },
}

/// Every listener the configuration asks for, checked against the open-proxy rule. Must run
/// inside tokio.
pub fn open(config: &Config) -> Result<Vec<Listener>, ListenError> {
    let mut listeners = listener::from_systemd()?;
    if listeners.is_empty() {
        let main = SocketAddr::new(config.socks.address, config.socks.port);
        listeners.push(Listener::Tcp(socks::bind(main)?));
    } else {
        tracing::info!(
            "listening on the sockets passed by systemd; [socksproxy] address and port of \
             i2pd.conf are not bound (the socket unit decides)"
        );
    }
    let perms = UnixPerms {
        mode: config.socks.unix_socket.mode,
        owner: config.socks.unix_socket.owner.clone(),
        group: config.socks.unix_socket.group.clone(),
    };
    for spec in &config.socks.listen {
        let listener = match spec {
            ListenSpec::Tcp(addr) => Listener::Tcp(socks::bind(*addr)?),
            ListenSpec::Unix(path) => Listener::Unix(socks::bind_unix(path, &perms)?),
        };
        listeners.push(listener);
    }
    check_open_proxy(&listeners, config)?;
    Ok(listeners)
}

/// Refuse a listener reachable from other hosts unless logins are required or the open
/// proxy was accepted explicitly (then warn, at every start).
pub fn check_open_proxy(listeners: &[Listener], config: &Config) -> Result<(), ListenError> {
    let mut open = Vec::new();
    for listener in listeners {
        if let Some(addr) = listener.tcp_addr() {
            let addr = addr.map_err(|source| ListenError::Address {
                what: listener.describe(),
                source,
            })?;
            if listener::is_open_to_network(&addr) {
                open.push(addr);
            }
        }
    }
    open_proxy_verdict(
        &open,
        config.socks.require_auth,
        config.socks.allow_open_proxy,
    )
}

/// The rule itself, on the addresses that are open to the network.
pub fn open_proxy_verdict(
    open: &[SocketAddr],
    require_auth: bool,
    allow_open_proxy: bool,
) -> Result<(), ListenError> {
    let Some(&addr) = open.first() else {
        return Ok(());
    };
    if require_auth {
        return Ok(());
    }
    if allow_open_proxy {
        tracing::warn!(
            "OPEN PROXY: listening on {addr} without logins (allowopenproxy): anyone who can \
             reach this address can use I2P through this destination"
        );
        return Ok(());
    }
    Err(ListenError::OpenProxy { addr })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_proxy_needs_logins_or_the_explicit_setting() {
        let any: SocketAddr = "0.0.0.0:4447".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(open_proxy_verdict(&[], false, false).is_ok());
        let refused = open_proxy_verdict(&[any], false, false);
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        for needle in [
            "--require-auth",
            "--allow-open-proxy",
            "0.0.0.0:4447",
            "anyone",
        ] {
            assert!(message.contains(needle), "{needle} missing from: {message}");
        }
        assert!(open_proxy_verdict(&[any], true, false).is_ok());
        assert!(open_proxy_verdict(&[any], false, true).is_ok());
    }
}

//! `run`: the proxy from start to stop. Keys, listeners, the shared session, the
//! isolation pool, the SOCKS server's settings, readiness for systemd, and the orderly
//! shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::Config;
use crate::first_contact::FirstContactPacer;
use crate::i2cp;
use crate::socks::{self, AuthPolicy, I2pOutproxies, ServerConfig, UdpRelayConfig, VirtualAddrs};

use super::RunError;
use super::connector::Connector;
use super::datagram_hub::DatagramHub;
use super::dest_session::DestSession;
use super::isolation::Pool;
use super::keys::{load_keys, lock_keys};
use super::session_state::SessionRole;
use super::shutdown::refused_for_good;
use super::user_sessions::UserSessions;

/// Run the proxy until `shutdown` resolves or the router refuses the session for good.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), RunError> {
    let keys_lock = lock_keys(&config)?;
    let unclean_predecessor = keys_lock.as_ref().and_then(|l| l.unclean_predecessor());
    if let Some(pid) = unclean_predecessor {
        tracing::info!(
            "the keys file's previous holder (process {pid}) ended without releasing it: \
             a crash or a kill"
        );
    }
    let keys = Arc::new(load_keys(&config)?);
    tracing::info!("proxy destination: {}", keys.destination().b32_address());
    let listeners = crate::listeners::open(&config)?;

    let config = Arc::new(config);
    let pacer = Arc::new(FirstContactPacer::default());
    let shared = Arc::new(
        DestSession::start(
            &config,
            keys.clone(),
            SessionRole::Shared,
            pacer.clone(),
            config.i2cp.detour,
            unclean_predecessor.is_some(),
        )
        .await,
    );
    let pool = config.socks.isolate.then(|| {
        let keys = config.socks.isolation_keys.as_ref().map_or_else(
            || "transient keys".to_owned(),
            |dir| format!("keys files in {}", dir.display()),
        );
        tracing::info!(
            max_sessions = config.socks.max_sessions,
            idle_timeout_secs = config.socks.session_idle_timeout.as_secs(),
            "isolation by credentials: one destination per SOCKS5 username ({keys})"
        );
        Arc::new(Pool::new(
            UserSessions {
                config: config.clone(),
                pacer: pacer.clone(),
            },
            config.socks.max_sessions,
            config.socks.session_idle_timeout,
        ))
    });
    let reaper = pool.as_ref().map(Pool::spawn_reaper);
    let connector = Connector {
        shared: shared.clone(),
        pool: pool.clone(),
    };
    let mut server = ServerConfig::new(SocketAddr::new(config.socks.address, config.socks.port));
    server.handshake_timeout = config.socks.handshake_timeout;
    server.max_connections = config.socks.max_connections;
    server.outproxy = config
        .socks
        .outproxy
        .as_ref()
        .map(|o| socks::OutproxyConfig {
            host: o.host.clone(),
            port: o.port,
        });
    if config.socks.udp {
        let hub = DatagramHub::start(
            shared.i2cp.clone(),
            keys.clone(),
            config.socks.udp_raw,
            config.socks.udp_format,
        );
        server.udp = Some(UdpRelayConfig::new(
            Arc::new(hub),
            config.socks.max_udp_associations,
        ));
    }
    server.auth = auth_policy(&config)?;
    server.isolate = config.socks.isolate;
    server.extended_errors = config.socks.extended_errors;
    server.i2p_outproxies =
        I2pOutproxies::new(config.socks.i2p_outproxies.clone()).map(|outproxies| {
            let names: Vec<String> = outproxies
                .in_order()
                .iter()
                .map(|(_, o)| o.to_string())
                .collect();
            tracing::info!(
                "outproxies inside I2P (HTTP CONNECT), in failover order: {}",
                names.join(", ")
            );
            Arc::new(outproxies)
        });
    server.virtual_addrs = config.socks.virtual_range.map(|range| {
        tracing::info!(%range, "RESOLVE: names get virtual addresses from {range}");
        Arc::new(VirtualAddrs::new(range, config.socks.virtual_idle_timeout))
    });
    let refused = refused_for_good(shared.i2cp.status());
    let stop = async {
        tokio::select! {
            () = shutdown => {}
            _ = refused => {}
        }
    };
    // Ready once the sockets are open: clients are accepted (and held until the session is
    // up); how the session is doing goes to STATUS= and, while it waits, to the log.
    crate::service_status::sd_notify(b"READY=1");
    let reporter = crate::service_status::spawn_reporter(
        shared.i2cp.clone(),
        format!("{}:{}", config.i2cp.address, config.i2cp.port),
    );
    let served = socks::serve_all(listeners, server, connector, stop).await;
    reporter.abort();
    if let Some(reaper) = reaper {
        reaper.abort();
    }
    if let Some(pool) = pool {
        pool.close_all().await;
    }
    let state = shared.i2cp.status().borrow().clone();
    shared.close().await;
    if let i2cp::SessionState::Down(reason @ i2cp::DownReason::RouterRefused { .. }) = state {
        return Err(RunError::RouterRefused(reason));
    }
    served.map_err(RunError::Serve)
}

/// `AcceptAny` (i2pd's behaviour) unless `requireauth` is on: then the users file.
fn auth_policy(config: &Config) -> Result<AuthPolicy, RunError> {
    if !config.socks.require_auth {
        return Ok(AuthPolicy::AcceptAny);
    }
    let path = &config.socks.users_file;
    let db = crate::socks::users::UserDb::open(path).inspect_err(|_| {
        tracing::error!("logins are required: add users with `i2psocks user add NAME`");
    })?;
    if db.is_empty() {
        tracing::warn!(
            "users file {} has no users: every SOCKS client is refused until \
             `i2psocks user add NAME`",
            path.display()
        );
    }
    tracing::info!(
        "logins required: {} users in {}; SOCKS4/4a refused",
        db.len(),
        path.display()
    );
    Ok(AuthPolicy::require(db))
}

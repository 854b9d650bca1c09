//! The per-connection handler: one SOCKS client from handshake through routing and
//! connect to relay (docs/socks.md).
use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use super::auth::{AuthPolicy, Password};
use super::connector::I2pConnector;
use super::copy::copy_both_ways;
use super::error::HandshakeError;
use super::handshake::{Handshake, Step};
use super::http_connect::I2pOutproxies;
use super::i2p_outproxy::open_i2p_outproxy;
use super::listener::ClientConn;
use super::outproxy::{OutproxyError, connect_outproxy};
use super::reply::{
    BoundAddr, ReplyCode, is_i2p_name, reply_failure, reply_resolved, reply_resolved_ptr,
    reply_success,
};
use super::request::{Command, Request, Target};
use super::route::{Route, classify};
use super::server_config::ServerConfig;
use super::udp_relay::{Association, UdpRelayConfig};

/// i2pd reads the client in chunks of this size (docs/socks.md "Parser").
const READ_CHUNK: usize = 8192;
/// Largest write to the client of what arrived over I2P. One I2CP read carries several
/// streaming packets (tens of KiB in a bulk transfer); writing them to the client in one
/// system call instead of 16 KiB pieces costs less CPU per byte (BENCHMARKS.md, "CPU of
/// i2psocks per GiB (download, i2pd 2.59.0, 1-hop tunnels)"). The buffer is held only while
/// bytes are in transit (`copy.rs`).
const DOWN_CHUNK: usize = 64 * 1024;
/// While a lookup is pending we keep reading the client (to notice it leaving) but buffer at
/// most this much of its early data.
const MAX_EARLY_DATA: usize = 64 * 1024;
/// After a failure reply we drain the client for at most this long before closing.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);
/// ... and at most this many bytes.
const LINGER_BYTES: usize = 256 * 1024;
/// Upper bound for reaching and negotiating with the outproxy.
const OUTPROXY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Serve one client until both directions are done or anything fails.
/// Destination names are logged at debug level only: they are what the user visits.
pub(crate) async fn handle_client<C: I2pConnector>(
    mut client: ClientConn,
    cfg: Arc<ServerConfig>,
    connector: Arc<C>,
) {
    client.set_nodelay();
    let handshake = read_request(&mut client, &cfg.auth, cfg.virtual_addrs.is_some());
    let outcome = match cfg.handshake_timeout {
        Some(limit) => match tokio::time::timeout(limit, handshake).await {
            Ok(outcome) => outcome,
            Err(_) => {
                debug!(?limit, "handshake timed out; closing");
                return;
            }
        },
        None => handshake.await,
    };
    let Some((request, pipelined)) = outcome else {
        return;
    };
    if request.username.is_some() && !cfg.auth.is_required() {
        // i2pd accepts any login without checking (docs/socks.md "Defects not copied" item
        // 7); mirror it, but say so.
        debug!("username/password accepted without checking, like i2pd");
    }
    if request.command == Command::UdpAssociate
        && let Some(udp) = cfg.udp.as_ref()
    {
        match client {
            ClientConn::Tcp(client) => udp_associate(client, &request, udp).await,
            // The relay matches datagrams to the control connection's IP address, which a
            // Unix-domain client does not have.
            ClientConn::Unix(mut client) => {
                let reply = reply_failure(&request, ReplyCode::CommandNotSupported);
                fail_and_close(&mut client, &reply).await;
            }
        }
        return;
    }
    if matches!(request.command, Command::Resolve | Command::ResolvePtr) {
        let reply =
            match while_client_present(&mut client, resolve(&request, &cfg, &*connector)).await {
                Watched::ClientGone => return,
                Watched::Done {
                    output: Ok(reply), ..
                } => reply,
                Watched::Done {
                    output: Err(code), ..
                } => reply_failure(&request, code),
            };
        // Tor closes the connection after answering RESOLVE, whatever the answer.
        fail_and_close(&mut client, &reply).await;
        return;
    }
    // A CONNECT to a virtual address goes to the name it stands for; replies carry the
    // address.
    let (request, routed) = match virtual_target(request, &cfg) {
        Ok(pair) => pair,
        Err((shown, code)) => {
            debug!(dest = %shown.target, "virtual address not mapped (expired or never given)");
            fail_and_close(&mut client, &reply_failure(&shown, code)).await;
            return;
        }
    };
    let outproxy_enabled = cfg.outproxy.is_some() || cfg.i2p_outproxies.is_some();
    match classify(&routed, outproxy_enabled) {
        Route::Refuse(code) => {
            debug!(dest = %request.target, port = request.port, ?code, "request refused");
            fail_and_close(&mut client, &reply_failure(&request, code)).await;
        }
        Route::I2p { name, port } => {
            debug!(%name, port, "connecting over I2P");
            // An empty username (ULEN 0) counts as none: the shared destination.
            let user = isolated_user(&request, &cfg);
            let connect = connector.connect_as(user, &name, port, pipelined);
            match while_client_present(&mut client, connect).await {
                Watched::ClientGone => debug!("client left during lookup"),
                Watched::Done {
                    output: Err(error), ..
                } => {
                    debug!(%name, %error, "I2P connect failed");
                    let code = error.code(cfg.extended_errors);
                    fail_and_close(&mut client, &reply_failure(&request, code)).await;
                }
                Watched::Done {
                    output: Ok(stream),
                    early,
                } => relay(client, stream, &request, early, Vec::new()).await,
            }
        }
        Route::Outproxy { host, port } => {
            if let Some(outproxies) = cfg.i2p_outproxies.as_ref() {
                let target = Target::Domain(host);
                via_i2p_outproxy(
                    client,
                    &request,
                    &cfg,
                    &*connector,
                    outproxies,
                    &target,
                    port,
                    pipelined,
                )
                .await;
                return;
            }
            let Some(outproxy) = cfg.outproxy.as_ref() else {
                return;
            };
            debug!(host = %host.escape_ascii(), port, "connecting via outproxy");
            let connect = async {
                tokio::time::timeout(OUTPROXY_TIMEOUT, connect_outproxy(outproxy, &host, port))
                    .await
                    .unwrap_or(Err(OutproxyError::Timeout))
            };
            match while_client_present(&mut client, connect).await {
                Watched::ClientGone => debug!("client left during outproxy connect"),
                Watched::Done {
                    output: Err(error), ..
                } => {
                    // Outproxy trouble is an operator problem: warn, but keep the visited name out.
                    warn!(%error, "outproxy failed");
                    debug!(host = %host.escape_ascii(), "outproxy failed for this name");
                    // Every outproxy failure is "network unreachable" (docs/socks.md "Outproxy").
                    let reply = reply_failure(&request, ReplyCode::NetworkUnreachable);
                    fail_and_close(&mut client, &reply).await;
                }
                Watched::Done {
                    output: Ok(upstream),
                    mut early,
                } => {
                    // The upstream has no SYN to carry data: send the pipelined bytes first.
                    let mut data = pipelined;
                    data.append(&mut early);
                    relay(client, upstream, &request, data, Vec::new()).await;
                }
            }
        }
    }
}

/// (the request replies are built from, the request to route). For a CONNECT to a virtual
/// address: the address as an IPv4 target (torsocks sends it as a dotted-quad name and reads
/// a 10-byte IPv4 reply), and the same request aimed at the name the address stands for.
/// Otherwise the request twice. An address of the virtual range that is not mapped (expired,
/// or never handed out) is "host unreachable".
fn virtual_target(
    request: Request,
    cfg: &ServerConfig,
) -> Result<(Request, Request), (Request, ReplyCode)> {
    let addr = ipv4_of(&request.target);
    let (Some(addr), Some(map)) = (addr, cfg.virtual_addrs.as_ref()) else {
        return Ok((request.clone(), request));
    };
    if !map.contains(addr) {
        return Ok((request.clone(), request));
    }
    let shown = Request {
        target: Target::Ipv4(addr),
        ..request.clone()
    };
    match map.name_of(addr) {
        Some(name) => Ok((
            shown,
            Request {
                target: Target::Domain(name),
                ..request
            },
        )),
        None => Err((shown, ReplyCode::HostUnreachable)),
    }
}

/// An IPv4 target, or a name that is a dotted-quad IPv4 address (as Tor accepts it).
fn ipv4_of(target: &Target) -> Option<Ipv4Addr> {
    match target {
        Target::Ipv4(addr) => Some(*addr),
        Target::Domain(name) => std::str::from_utf8(name).ok()?.parse().ok(),
        Target::Ipv6(_) => None,
    }
}

/// The answer to RESOLVE (name → virtual address) or RESOLVE_PTR (virtual address → name).
/// `.i2p` names are checked first ([`I2pConnector::check_name`]); other names get an address
/// only when an outproxy is configured (it resolves them at CONNECT time).
async fn resolve<C: I2pConnector>(
    request: &Request,
    cfg: &ServerConfig,
    connector: &C,
) -> Result<Vec<u8>, ReplyCode> {
    let Some(map) = cfg.virtual_addrs.as_ref() else {
        return Err(ReplyCode::CommandNotSupported);
    };
    let bad_name = if cfg.extended_errors {
        ReplyCode::BadAddress
    } else {
        ReplyCode::HostUnreachable
    };
    if let Some(addr) = ipv4_of(&request.target) {
        // Tor answers an address with itself, and maps a virtual one back to its name.
        return match request.command {
            Command::ResolvePtr => map
                .name_of(addr)
                .map(|name| reply_resolved_ptr(&name))
                .ok_or(ReplyCode::HostUnreachable),
            _ => Ok(reply_resolved(addr)),
        };
    }
    match (request.command, &request.target) {
        (Command::Resolve, Target::Domain(name)) => {
            if is_i2p_name(name) {
                let text = std::str::from_utf8(name).map_err(|_| bad_name)?;
                if let Err(error) = connector.check_name(text).await {
                    debug!(name = text, %error, "RESOLVE failed");
                    return Err(error.code(cfg.extended_errors));
                }
            } else if cfg.outproxy.is_none() && cfg.i2p_outproxies.is_none() {
                return Err(bad_name);
            }
            let addr = map.assign(name).map_err(|full| {
                warn!(%full, "RESOLVE refused");
                ReplyCode::GeneralFailure
            })?;
            debug!(dest = %request.target, %addr, "resolved to a virtual address");
            Ok(reply_resolved(addr))
        }
        _ => Err(ReplyCode::AddressTypeNotSupported),
    }
}

/// With isolation by credentials, the SOCKS5 username (an empty one counts as none: the
/// shared destination).
fn isolated_user(request: &Request, cfg: &ServerConfig) -> Option<Vec<u8>> {
    cfg.isolate
        .then(|| request.username.clone())
        .flatten()
        .filter(|u| !u.is_empty())
}

/// A non-`.i2p` name through an outproxy inside I2P: HTTP CONNECT over an I2P stream, each
/// configured outproxy in turn until one answers. Every failure is `03`, as for the local
/// outproxy.
#[allow(clippy::too_many_arguments)]
async fn via_i2p_outproxy<C: I2pConnector>(
    mut client: ClientConn,
    request: &Request,
    cfg: &ServerConfig,
    connector: &C,
    outproxies: &I2pOutproxies,
    target: &Target,
    port: u16,
    pipelined: Vec<u8>,
) {
    let Target::Domain(host) = target else {
        return;
    };
    debug!(host = %host.escape_ascii(), port, "connecting via an I2P outproxy");
    let user = isolated_user(request, cfg);
    let open = open_i2p_outproxy(connector, outproxies, user, host, port);
    match while_client_present(&mut client, open).await {
        Watched::ClientGone => debug!("client left during the outproxy connect"),
        Watched::Done {
            output: Err(error), ..
        } => {
            warn!(%error, "I2P outproxy failed");
            let reply = reply_failure(request, ReplyCode::NetworkUnreachable);
            fail_and_close(&mut client, &reply).await;
        }
        Watched::Done {
            output: Ok((stream, from_target)),
            mut early,
        } => {
            let mut data = pipelined;
            data.append(&mut early);
            relay(client, stream, request, data, from_target).await;
        }
    }
}

/// Run the parser over client reads. `None`: the client failed or left (reply already sent).
async fn read_request(
    client: &mut ClientConn,
    policy: &AuthPolicy,
    resolve: bool,
) -> Option<(Request, Vec<u8>)> {
    let mut parser = Handshake::new(policy.clone()).with_resolve(resolve);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match client.read(&mut buf).await {
            Ok(0) => {
                debug!("client closed during handshake");
                return None;
            }
            Ok(n) => n,
            Err(error) => {
                debug!(%error, "read error during handshake");
                return None;
            }
        };
        let mut input = buf.get(..n).unwrap_or_default();
        loop {
            let mut step = parser.feed(input);
            if let Step::Verify {
                username,
                password,
                consumed,
            } = step
            {
                input = input.get(consumed..).unwrap_or_default();
                let ok = verify(policy, username, password).await;
                step = parser.verdict(ok);
            }
            match step {
                Step::NeedMore => break,
                Step::Reply { bytes, consumed } => {
                    client.write_all(&bytes).await.ok()?;
                    input = input.get(consumed..).unwrap_or_default();
                    if input.is_empty() {
                        break;
                    }
                }
                Step::Request { request, consumed } => {
                    let rest = input.get(consumed..).unwrap_or_default().to_vec();
                    debug!(?request.version, ?request.command, dest = %request.target,
                        port = request.port, pipelined = rest.len(), "request");
                    return Some((request, rest));
                }
                Step::Fail { reply, error } => {
                    match error {
                        HandshakeError::Socks4NeedsAuth => {
                            info!("SOCKS4/4a client refused: a login is required");
                        }
                        _ => debug!(%error, "handshake failed"),
                    }
                    if !reply.is_empty() {
                        fail_and_close(client, &reply).await;
                    }
                    return None;
                }
                // `verdict` never asks for another verification.
                Step::Verify { .. } => return None,
            }
        }
    }
}

/// At most this many password checks run at once: each may take tens of MiB and
/// milliseconds of CPU, so a flood of logins must queue instead of exhausting memory. As
/// many working-memory buffers are kept for them (src/socks/password_check.rs).
static VERIFY_SLOTS: Semaphore = Semaphore::const_new(super::password_check::MAX_KEPT);

/// Check credentials on the blocking pool. A failure is logged with the username (escaped,
/// it is client input) and never the password.
async fn verify(policy: &AuthPolicy, username: Vec<u8>, password: Password) -> bool {
    if policy.recently_verified(&username, password.as_bytes()) {
        debug!(user = %username.escape_ascii(), "login accepted (verified recently)");
        return true;
    }
    let Ok(slot) = VERIFY_SLOTS.acquire().await else {
        return false;
    };
    let policy = policy.clone();
    let shown = username.escape_ascii().to_string();
    // The slot goes with the check: a client that gives up (handshake timeout) drops this
    // future, but the check runs on, and must keep its slot until it ends.
    let checked = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        policy.check(&username, password.as_bytes())
    })
    .await;
    let ok = checked.unwrap_or(false);
    if ok {
        debug!(user = %shown, "login accepted");
    } else {
        warn!(user = %shown, "SOCKS5 login failed (wrong username or password)");
    }
    ok
}

/// Result of waiting for a connect while watching the client.
enum Watched<T> {
    /// The connect finished; `early` holds client bytes read meanwhile.
    Done { output: T, early: Vec<u8> },
    /// The client disconnected; the connect future was dropped (releasing its resources,
    /// unlike i2pd which leaks the stream, docs/socks.md "Defects not copied" item 8).
    ClientGone,
}

/// Await `connect` while reading the client, so a client that leaves cancels the lookup.
///
/// A TCP FIN cannot tell "closed" from "half-closed", so EOF keeps the request alive: the
/// client gets its reply (success and the stream, or the failure code) once the connect
/// finishes, and a half-closed client its answer. A client that is really gone costs the
/// lookup's time and learns nothing (writing the reply meets its RST). i2pd answers such a
/// half-closed client `05 04` at once. A reset or a read error means "gone": the connect is
/// dropped.
async fn while_client_present<F: Future>(
    client: &mut ClientConn,
    connect: F,
) -> Watched<F::Output> {
    tokio::pin!(connect);
    let mut early = Vec::new();
    let mut buf = vec![0u8; READ_CHUNK];
    let mut reading = true;
    loop {
        tokio::select! {
            output = &mut connect => return Watched::Done { output, early },
            read = client.read(&mut buf), if reading => match read {
                Ok(0) => reading = false,
                Err(_) => return Watched::ClientGone,
                Ok(n) => {
                    early.extend_from_slice(buf.get(..n).unwrap_or_default());
                    reading = early.len() < MAX_EARLY_DATA;
                }
            },
        }
    }
}

/// Send the success reply and `to_client` (target bytes that came with an outproxy's
/// answer), forward `early` data, then copy both ways with half-close: when one side ends its
/// sending direction we shut down the other's write side and keep forwarding the opposite
/// direction until it ends too (i2pd drops the response, docs/socks.md "From a request to a
/// stream").
async fn relay<S>(
    mut client: ClientConn,
    mut stream: S,
    request: &Request,
    early: Vec<u8>,
    to_client: Vec<u8>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut first = reply_success(request, BoundAddr::FromRequest);
    first.extend_from_slice(&to_client);
    if let Err(error) = client.write_all(&first).await {
        debug!(%error, "client gone before success reply");
        return;
    }
    if !early.is_empty()
        && let Err(error) = stream.write_all(&early).await
    {
        debug!(%error, "stream failed while forwarding early data");
        return;
    }
    // i2pd reads the client 8 KiB at a time (docs/socks.md "From a request to a stream"), so
    // the streaming packets we send are cut as i2pd's are; what arrives goes to the client in
    // writes of up to DOWN_CHUNK. The buffers are held only while bytes are in transit.
    match copy_both_ways(&mut client, &mut stream, READ_CHUNK, DOWN_CHUNK).await {
        Ok((up, down)) => debug!(up, down, "connection finished"),
        Err(error) => debug!(%error, "connection ended with error"),
    }
}

/// UDP ASSOCIATE: open the relay, reply with its address, relay until the control
/// connection closes (RFC 1928 §7). Only SOCKS5 produces this command.
async fn udp_associate(mut client: tokio::net::TcpStream, request: &Request, cfg: &UdpRelayConfig) {
    let association = match Association::open(&client, request, cfg).await {
        Ok(association) => association,
        Err(code) => {
            fail_and_close(&mut client, &reply_failure(request, code)).await;
            return;
        }
    };
    let Ok(relay) = association.relay_addr() else {
        fail_and_close(
            &mut client,
            &reply_failure(request, ReplyCode::GeneralFailure),
        )
        .await;
        return;
    };
    if let Err(error) = client
        .write_all(&reply_success(request, BoundAddr::Socket(relay)))
        .await
    {
        debug!(%error, "client gone before UDP ASSOCIATE reply");
        return;
    }
    debug!(%relay, "UDP association open");
    association.run(client).await;
}

/// Send a failure reply and close without losing it: closing a socket that still has unread
/// client data (pipelined payload) makes the kernel send RST, and the client may then never
/// see our reply. So: send, FIN, drain briefly, close.
async fn fail_and_close<S: AsyncRead + AsyncWrite + Unpin>(client: &mut S, reply: &[u8]) {
    if client.write_all(reply).await.is_err() || client.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut buf = vec![0u8; READ_CHUNK];
        let mut drained = 0usize;
        while drained < LINGER_BYTES {
            match client.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

//! One SOCKS client: handshake, routing, connect, relay (docs/socks.md).
use std::future::Future;
use std::sync::Arc;

use tokio::io::{
    AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, copy_bidirectional_with_sizes,
};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use super::auth::AuthPolicy;
use super::connector::I2pConnector;
use super::error::HandshakeError;
use super::outproxy::{OutproxyError, connect_outproxy};
use super::reply::{BoundAddr, ReplyCode, reply_failure, reply_success};
use super::request::{Command, Handshake, Request, Step};
use super::route::{Route, classify};
use super::server::ServerConfig;
use super::udp_relay::{Association, UdpRelayConfig};

/// i2pd reads the client in chunks of this size (docs/socks.md "Parser").
const READ_CHUNK: usize = 8192;
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
    mut client: TcpStream,
    cfg: Arc<ServerConfig>,
    connector: Arc<C>,
) {
    let _ = client.set_nodelay(true);
    let handshake = read_request(&mut client, &cfg.auth);
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
    if request.credentials.is_some() && !cfg.auth.is_required() {
        // i2pd accepts any login without checking (docs/socks.md "Defects not copied" item 7); mirror it, but say so.
        debug!("username/password accepted without checking, like i2pd");
    }
    if request.command == Command::UdpAssociate
        && let Some(udp) = cfg.udp.as_ref()
    {
        udp_associate(client, &request, udp).await;
        return;
    }
    match classify(&request, cfg.outproxy.is_some()) {
        Route::Refuse(code) => {
            debug!(dest = %request.target, port = request.port, ?code, "request refused");
            fail_and_close(&mut client, &reply_failure(&request, code)).await;
        }
        Route::I2p { name, port } => {
            debug!(%name, port, "connecting over I2P");
            let has_data = !pipelined.is_empty();
            // An empty username (ULEN 0) counts as none: the shared destination.
            let user = cfg
                .isolate
                .then(|| request.credentials.as_ref().map(|(u, _)| u.clone()))
                .flatten()
                .filter(|u| !u.is_empty());
            let connect = connector.connect_as(user, &name, port, pipelined);
            match while_client_present(&mut client, connect, has_data).await {
                Watched::ClientGone => debug!("client left during lookup"),
                Watched::Done {
                    output: Err(error), ..
                } => {
                    debug!(%name, %error, "I2P connect failed");
                    fail_and_close(&mut client, &reply_failure(&request, error.reply_code())).await;
                }
                Watched::Done {
                    output: Ok(stream),
                    early,
                } => relay(client, stream, &request, early).await,
            }
        }
        Route::Outproxy { host, port } => {
            let Some(outproxy) = cfg.outproxy.as_ref() else {
                return;
            };
            debug!(host = %host.escape_ascii(), port, "connecting via outproxy");
            let connect = async {
                tokio::time::timeout(OUTPROXY_TIMEOUT, connect_outproxy(outproxy, &host, port))
                    .await
                    .unwrap_or(Err(OutproxyError::Timeout))
            };
            let has_data = !pipelined.is_empty();
            match while_client_present(&mut client, connect, has_data).await {
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
                    relay(client, upstream, &request, data).await;
                }
            }
        }
    }
}

/// Run the parser over client reads. `None`: the client failed or left (reply already sent).
async fn read_request(client: &mut TcpStream, policy: &AuthPolicy) -> Option<(Request, Vec<u8>)> {
    let mut parser = Handshake::new(policy.clone());
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
/// milliseconds of CPU, so a flood of logins must queue instead of exhausting memory.
static VERIFY_SLOTS: Semaphore = Semaphore::const_new(4);

/// Check credentials on the blocking pool. A failure is logged with the username (escaped,
/// it is client input) and never the password.
async fn verify(policy: &AuthPolicy, username: Vec<u8>, password: Vec<u8>) -> bool {
    let Ok(_slot) = VERIFY_SLOTS.acquire().await else {
        return false;
    };
    let policy = policy.clone();
    let shown = username.escape_ascii().to_string();
    let checked = tokio::task::spawn_blocking(move || policy.check(&username, &password)).await;
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
/// A TCP FIN cannot tell "closed" from "half-closed". A client that already sent payload and
/// then shut down its write side wants the answer, so EOF after data keeps the request alive;
/// EOF with nothing sent (e.g. a browser cancelling before the SOCKS reply) means "gone".
async fn while_client_present<F: Future>(
    client: &mut TcpStream,
    connect: F,
    mut sent_data: bool,
) -> Watched<F::Output> {
    tokio::pin!(connect);
    let mut early = Vec::new();
    let mut buf = vec![0u8; READ_CHUNK];
    let mut reading = true;
    loop {
        tokio::select! {
            output = &mut connect => return Watched::Done { output, early },
            read = client.read(&mut buf), if reading => match read {
                Ok(0) if sent_data => reading = false,
                Ok(0) | Err(_) => return Watched::ClientGone,
                Ok(n) => {
                    sent_data = true;
                    early.extend_from_slice(buf.get(..n).unwrap_or_default());
                    reading = early.len() < MAX_EARLY_DATA;
                }
            },
        }
    }
}

/// Send the success reply, forward `early` data, then copy both ways with half-close: when
/// one side ends its sending direction we shut down the other's write side and keep
/// forwarding the opposite direction until it ends too (i2pd drops the response, docs/socks.md "From a request to a stream").
async fn relay<S>(mut client: TcpStream, mut stream: S, request: &Request, early: Vec<u8>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Err(error) = client
        .write_all(&reply_success(request, BoundAddr::FromRequest))
        .await
    {
        debug!(%error, "client gone before success reply");
        return;
    }
    if !early.is_empty()
        && let Err(error) = stream.write_all(&early).await
    {
        debug!(%error, "stream failed while forwarding early data");
        return;
    }
    // i2pd reads the client 8 KiB at a time and writes I2P data in 16 KiB chunks (docs/socks.md "From a request to a stream").
    match copy_bidirectional_with_sizes(&mut client, &mut stream, READ_CHUNK, 2 * READ_CHUNK).await
    {
        Ok((up, down)) => debug!(up, down, "connection finished"),
        Err(error) => debug!(%error, "connection ended with error"),
    }
}

/// UDP ASSOCIATE: open the relay, reply with its address, relay until the control
/// connection closes (RFC 1928 §7). Only SOCKS5 produces this command.
async fn udp_associate(mut client: TcpStream, request: &Request, cfg: &UdpRelayConfig) {
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
async fn fail_and_close(client: &mut TcpStream, reply: &[u8]) {
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

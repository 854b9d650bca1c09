//! Reaching a non-`.i2p` name through the outproxies inside I2P: an HTTP CONNECT over an
//! I2P stream to each in turn until one answers (the bytes of the exchange are in
//! http_connect.rs; this is the I/O around them, apart from the per-connection handler).
use tokio::io::{AsyncRead, AsyncReadExt};
use tracing::warn;

use super::connector::I2pConnector;
use super::http_connect::{self, I2pOutproxies};

/// Upper bound for one outproxy inside I2P (lookup, stream, answer) before the next is tried.
const I2P_OUTPROXY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The first outproxy (the one that answered last, then the others) whose CONNECT succeeds:
/// its stream and the target's bytes that came with the answer. An outproxy that cannot be
/// reached, closes, answers garbage or nothing in time is skipped; one that answers with an
/// error status ends the attempt (it works, the target is the problem).
pub(super) async fn open_i2p_outproxy<C: I2pConnector>(
    connector: &C,
    outproxies: &I2pOutproxies,
    user: Option<Vec<u8>>,
    host: &[u8],
    port: u16,
) -> Result<(C::Stream, Vec<u8>), String> {
    let connect = http_connect::connect_request(host, port).map_err(|e| e.to_string())?;
    let mut failures = Vec::new();
    for (index, outproxy) in outproxies.in_order() {
        let attempt = async {
            let mut stream = connector
                .connect_as(user.clone(), &outproxy.name, outproxy.port, connect.clone())
                .await
                .map_err(|e| e.to_string())?;
            let (response, rest) = read_connect_response(&mut stream).await?;
            Ok::<_, String>((stream, response, rest))
        };
        match tokio::time::timeout(I2P_OUTPROXY_TIMEOUT, attempt).await {
            Ok(Ok((stream, response, rest))) if response.is_success() => {
                outproxies.answered(index);
                return Ok((stream, rest));
            }
            Ok(Ok((_, response, _))) => {
                return Err(format!(
                    "outproxy {outproxy} answered CONNECT with HTTP status {}",
                    response.status
                ));
            }
            Ok(Err(error)) => {
                warn!(%outproxy, %error, "outproxy did not answer; trying the next one");
                failures.push(format!("{outproxy}: {error}"));
            }
            Err(_) => {
                warn!(%outproxy, "outproxy did not answer in time; trying the next one");
                failures.push(format!("{outproxy}: no answer in time"));
            }
        }
    }
    Err(format!("no outproxy answered ({})", failures.join("; ")))
}

/// Read the outproxy's answer up to the end of its header.
async fn read_connect_response<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<(http_connect::Response, Vec<u8>), String> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed before answering".into());
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if let Some(response) = http_connect::parse_response(&buf).map_err(|e| e.to_string())? {
            let rest = buf.split_off(response.header_len.min(buf.len()));
            return Ok((response, rest));
        }
    }
}

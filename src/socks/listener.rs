//! Where clients come from: TCP and Unix-domain listeners, bound here or passed by systemd
//! (socket activation), and the client connection type that covers both.
//!
//! Socket activation follows sd_listen_fds(3): the sockets are file descriptors 3, 4, …
//! (`LISTEN_FDS` of them), meant for us only if `LISTEN_PID` is our process id;
//! `LISTEN_FDNAMES` names them (colon-separated) for the logs. `LISTEN_PID` and
//! `LISTEN_FDS` are removed from the environment once read.
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// A listening socket of the SOCKS server.
#[derive(Debug)]
pub enum Listener {
    /// TCP (IPv4 or IPv6).
    Tcp(TcpListener),
    /// Unix domain; access is decided by the socket file's owner, group and mode.
    Unix(UnixListener),
}

impl Listener {
    /// What to call it in logs: the address, or `unix:PATH`.
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => l
                .local_addr()
                .map_or_else(|e| format!("tcp (address unknown: {e})"), |a| a.to_string()),
            Listener::Unix(l) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(Path::to_path_buf))
                .map_or_else(
                    || "unix (unnamed)".to_owned(),
                    |p| format!("unix:{}", p.display()),
                ),
        }
    }

    /// The TCP address, if it is a TCP listener.
    pub fn tcp_addr(&self) -> Option<io::Result<SocketAddr>> {
        match self {
            Listener::Tcp(l) => Some(l.local_addr()),
            Listener::Unix(_) => None,
        }
    }

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(ClientConn, Peer)>> {
        match self {
            Listener::Tcp(l) => l
                .poll_accept(cx)
                .map_ok(|(s, peer)| (ClientConn::Tcp(s), Peer::Tcp(peer))),
            Listener::Unix(l) => l
                .poll_accept(cx)
                .map_ok(|(s, _)| (ClientConn::Unix(s), Peer::Unix)),
        }
    }
}

/// Accept from whichever listener has a client first.
pub(crate) fn poll_accept_any(
    listeners: &[Listener],
    cx: &mut Context<'_>,
) -> Poll<io::Result<(ClientConn, Peer)>> {
    for listener in listeners {
        if let Poll::Ready(accepted) = listener.poll_accept(cx) {
            return Poll::Ready(accepted);
        }
    }
    Poll::Pending
}

/// Who connected, for logs.
#[derive(Debug, Clone, Copy)]
pub enum Peer {
    /// A TCP client.
    Tcp(SocketAddr),
    /// A client of a Unix-domain listener.
    Unix,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Tcp(addr) => write!(f, "{addr}"),
            Peer::Unix => f.write_str("unix"),
        }
    }
}

/// One client connection.
#[derive(Debug)]
pub enum ClientConn {
    /// Over TCP.
    Tcp(TcpStream),
    /// Over a Unix-domain socket.
    Unix(UnixStream),
}

impl ClientConn {
    /// Small SOCKS replies go out at once on TCP.
    pub fn set_nodelay(&self) {
        if let ClientConn::Tcp(s) = self {
            let _ = s.set_nodelay(true);
        }
    }
}

impl AsyncRead for ClientConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientConn::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            ClientConn::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientConn::Tcp(s) => Pin::new(s).poll_write(cx, data),
            ClientConn::Unix(s) => Pin::new(s).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientConn::Tcp(s) => Pin::new(s).poll_flush(cx),
            ClientConn::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientConn::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            ClientConn::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Why a Unix-domain listener could not be created.
#[derive(Debug, Error)]
pub enum UnixBindError {
    /// Something that is not a socket is in the way: never removed.
    #[error("cannot listen on unix:{0}: the path exists and is not a socket")]
    NotASocket(PathBuf),
    /// An owner or group name that this system does not know.
    #[error("cannot listen on unix:{path}: unknown {what} {name:?}")]
    UnknownId {
        /// The socket path.
        path: PathBuf,
        /// "user" or "group".
        what: &'static str,
        /// As written in the settings.
        name: String,
    },
    /// bind, chmod or chown failed.
    #[error("cannot listen on unix:{path}: {step}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// What failed.
        step: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// Owner, group and mode of a Unix-domain listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixPerms {
    /// Permission bits.
    pub mode: u32,
    /// User name or number; `None` = unchanged.
    pub owner: Option<String>,
    /// Group name or number; `None` = unchanged.
    pub group: Option<String>,
}

/// Bind a Unix-domain listener at `path` with `perms`. A stale socket file left by an earlier
/// run is replaced; any other file is left alone and reported. Must run inside tokio.
pub fn bind_unix(path: &Path, perms: &UnixPerms) -> Result<UnixListener, UnixBindError> {
    let io_err = |step, source| UnixBindError::Io {
        path: path.to_owned(),
        step,
        source,
    };
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt as _;
        if !meta.file_type().is_socket() {
            return Err(UnixBindError::NotASocket(path.to_owned()));
        }
        std::fs::remove_file(path).map_err(|e| io_err("removing the old socket", e))?;
    }
    let owner = resolve_id(
        path,
        "user",
        perms.owner.as_deref(),
        Path::new("/etc/passwd"),
    )?;
    let group = resolve_id(
        path,
        "group",
        perms.group.as_deref(),
        Path::new("/etc/group"),
    )?;
    let listener = UnixListener::bind(path).map_err(|e| io_err("bind", e))?;
    // Until chmod the socket has the umask's mode (the unit's UMask=0077: ours only).
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(perms.mode))
        .map_err(|e| io_err("chmod", e))?;
    if owner.is_some() || group.is_some() {
        std::os::unix::fs::chown(path, owner, group).map_err(|e| io_err("chown", e))?;
    }
    Ok(listener)
}

/// A user or group given by number, or by name looked up in `db` (`/etc/passwd` or
/// `/etc/group`: name is field 1, id field 3).
fn resolve_id(
    path: &Path,
    what: &'static str,
    name: Option<&str>,
    db: &Path,
) -> Result<Option<u32>, UnixBindError> {
    let Some(name) = name else { return Ok(None) };
    if let Ok(id) = name.parse::<u32>() {
        return Ok(Some(id));
    }
    let text = std::fs::read_to_string(db).unwrap_or_default();
    let found = text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let entry = fields.next()?;
        let id = fields.nth(1)?;
        (entry == name).then(|| id.parse::<u32>().ok()).flatten()
    });
    found.map(Some).ok_or_else(|| UnixBindError::UnknownId {
        path: path.to_owned(),
        what,
        name: name.to_owned(),
    })
}

/// Why the sockets passed by systemd could not be used.
#[derive(Debug, Error)]
pub enum ActivationError {
    /// `LISTEN_FDS` is not a number.
    #[error("LISTEN_FDS={0:?} is not a number of file descriptors")]
    BadCount(String),
    /// A passed descriptor is neither a TCP nor a Unix stream listener.
    #[error(
        "socket activation: file descriptor {fd} ({name}) is not a TCP or Unix stream socket: {source}"
    )]
    NotAListener {
        /// The descriptor number.
        fd: usize,
        /// Its name from LISTEN_FDNAMES.
        name: String,
        /// Why it was refused.
        #[source]
        source: io::Error,
    },
}

/// What the environment says about passed sockets, read without touching any descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    /// How many descriptors, from 3 on.
    pub count: usize,
    /// Their names (`LISTEN_FDNAMES`), as many as `count` (missing ones are "unknown").
    pub names: Vec<String>,
}

/// First passed descriptor (SD_LISTEN_FDS_START).
pub const LISTEN_FDS_START: usize = 3;

/// Parse the variables as sd_listen_fds(3) does: `None` when there are no sockets for this
/// process (`LISTEN_PID` missing or another process's, `LISTEN_FDS` missing or 0).
pub fn parse_activation(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    fd_names: Option<&str>,
    our_pid: u32,
) -> Result<Option<Activation>, ActivationError> {
    let (Some(pid), Some(fds)) = (listen_pid, listen_fds) else {
        return Ok(None);
    };
    if pid.trim().parse::<u32>().ok() != Some(our_pid) {
        return Ok(None);
    }
    let count: usize = fds
        .trim()
        .parse()
        .map_err(|_| ActivationError::BadCount(fds.to_owned()))?;
    if count == 0 {
        return Ok(None);
    }
    let mut names: Vec<String> = fd_names
        .map(|n| n.split(':').map(str::to_owned).collect())
        .unwrap_or_default();
    names.resize(count, "unknown".to_owned());
    Ok(Some(Activation { count, names }))
}

/// The listeners systemd passed to this process, if any (see the module comment). Must run
/// inside tokio.
pub fn from_systemd() -> Result<Vec<Listener>, ActivationError> {
    let var = |name| std::env::var(name).ok();
    let Some(activation) = parse_activation(
        var("LISTEN_PID").as_deref(),
        var("LISTEN_FDS").as_deref(),
        var("LISTEN_FDNAMES").as_deref(),
        std::process::id(),
    )?
    else {
        return Ok(Vec::new());
    };
    // Reads and then removes LISTEN_PID and LISTEN_FDS; the descriptors are only claimed
    // below, one by one, after their type is checked.
    let mut fds = listenfd::ListenFd::from_env();
    let mut listeners = Vec::with_capacity(activation.count);
    for (idx, name) in activation.names.iter().enumerate() {
        let fd = LISTEN_FDS_START + idx;
        let not_listener = |source| ActivationError::NotAListener {
            fd,
            name: name.clone(),
            source,
        };
        let listener = match fds.take_tcp_listener(idx) {
            Ok(Some(l)) => tcp_from_std(l).map_err(not_listener)?,
            Ok(None) => continue,
            Err(_) => match fds.take_unix_listener(idx).map_err(not_listener)? {
                Some(l) => unix_from_std(l).map_err(not_listener)?,
                None => continue,
            },
        };
        tracing::info!(fd, name = %name, "socket from systemd: {}", listener.describe());
        listeners.push(listener);
    }
    Ok(listeners)
}

fn tcp_from_std(l: std::net::TcpListener) -> io::Result<Listener> {
    l.set_nonblocking(true)?;
    Ok(Listener::Tcp(TcpListener::from_std(l)?))
}

fn unix_from_std(l: std::os::unix::net::UnixListener) -> io::Result<Listener> {
    l.set_nonblocking(true)?;
    Ok(Listener::Unix(UnixListener::from_std(l)?))
}

/// Is this listener reachable from other hosts? Loopback addresses and Unix sockets are not.
pub fn is_open_to_network(addr: &SocketAddr) -> bool {
    let ip = addr.ip();
    let mapped_loopback = match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        std::net::IpAddr::V4(_) => false,
    };
    !(ip.is_loopback() || mapped_loopback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_follows_sd_listen_fds() {
        let parse = |pid, fds, names| parse_activation(pid, fds, names, 42).ok().flatten();
        assert_eq!(parse(None, Some("1"), None), None, "no LISTEN_PID");
        assert_eq!(
            parse(Some("41"), Some("1"), None),
            None,
            "another process's"
        );
        assert_eq!(parse(Some("42"), Some("0"), None), None);
        assert_eq!(parse(Some("42"), None, None), None);
        assert_eq!(
            parse(Some("42"), Some("2"), Some("socks")),
            Some(Activation {
                count: 2,
                names: vec!["socks".into(), "unknown".into()]
            })
        );
        assert!(matches!(
            parse_activation(Some("42"), Some("x"), None, 42),
            Err(ActivationError::BadCount(_))
        ));
    }

    #[test]
    fn only_loopback_is_closed_to_the_network() {
        for (addr, open) in [
            ("127.0.0.1:4447", false),
            ("127.0.0.2:4447", false),
            ("[::1]:4447", false),
            ("[::ffff:127.0.0.1]:4447", false),
            ("0.0.0.0:4447", true),
            ("[::]:4447", true),
            ("192.168.1.2:4447", true),
        ] {
            let parsed: SocketAddr = addr.parse().unwrap_or_else(|e| panic!("{addr}: {e}"));
            assert_eq!(is_open_to_network(&parsed), open, "{addr}");
        }
    }

    #[test]
    fn names_resolve_from_the_database_file() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("group");
        std::fs::write(&db, "root:x:0:\nsocks:x:1234:alice,bob\n")?;
        let p = Path::new("/s");
        assert_eq!(resolve_id(p, "group", Some("socks"), &db)?, Some(1234));
        assert_eq!(resolve_id(p, "group", Some("77"), &db)?, Some(77));
        assert_eq!(resolve_id(p, "group", None, &db)?, None);
        assert!(matches!(
            resolve_id(p, "group", Some("nobody-here"), &db),
            Err(UnixBindError::UnknownId { .. })
        ));
        Ok(())
    }
}

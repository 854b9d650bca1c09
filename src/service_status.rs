//! What the proxy tells its operator while the shared I2CP session is not up: a warning at
//! the default log level with what it waits for (first after [`FIRST_REPORT`], then every
//! [`REPEAT_REPORT`]), and the same line as systemd's `STATUS=` (sd_notify(3)), which
//! `systemctl status` shows. READY=1 is sent once the listeners are open, so
//! `systemctl start` does not block on a router that cannot build tunnels; clients are
//! accepted and held meanwhile.
use std::time::Duration;

use tokio::time::Instant;

use crate::i2cp::{DownReason, I2cpHandle, SessionState};

/// A normal start (i2pd asks for the LeaseSet 3-14 s after CreateSession) stays quiet.
pub const FIRST_REPORT: Duration = Duration::from_secs(15);
/// While the wait goes on, once a minute: visible in the journal, not a flood.
pub const REPEAT_REPORT: Duration = Duration::from_secs(60);
/// How often the state is looked at (session creation is a counter, not a state change).
const POLL: Duration = Duration::from_secs(1);

/// What the session waits for, as one line for the log and `STATUS=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// The session is up.
    Up,
    /// Not connected: the router's I2CP server cannot be reached (or refused us).
    Router(String),
    /// Connected, CreateSession sent, no answer yet.
    Connecting(String),
    /// Session created; the router has not asked for our LeaseSet: its tunnels are not built.
    Tunnels,
}

impl Waiting {
    /// Classify the session's state; `created` = the router accepted CreateSession since the
    /// last time the session was lost.
    pub fn of(state: &SessionState, created: bool, router: &str) -> Waiting {
        match state {
            SessionState::Ready => Waiting::Up,
            SessionState::Down(DownReason::ShutDown) => Waiting::Router("shutting down".into()),
            SessionState::Down(reason) => Waiting::Router(reason.to_string()),
            SessionState::Connecting if created => Waiting::Tunnels,
            SessionState::Connecting => Waiting::Connecting(router.to_owned()),
        }
    }

    /// The operator's line.
    pub fn line(&self) -> String {
        match self {
            Waiting::Up => "I2CP session up".to_owned(),
            Waiting::Router(reason) => format!("waiting for the router: {reason}"),
            Waiting::Connecting(router) => {
                format!("waiting for the router at {router} to create the I2CP session")
            }
            Waiting::Tunnels => "I2CP session created; waiting for the router to build tunnels \
                                 and ask for our LeaseSet (a new router needs minutes; one without \
                                 network or reseed never does)"
                .to_owned(),
        }
    }
}

/// Report the shared session's waits until the handle's session ends. `router` is the
/// I2CP address for the messages.
pub fn spawn_reporter(i2cp: I2cpHandle, router: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let status = i2cp.status();
        let mut since = Instant::now();
        let mut next_report = since + FIRST_REPORT;
        // Counted from the handle's start (0), not from this task's: the router may have
        // accepted CreateSession before this task first runs.
        let mut created_at_loss = 0;
        let mut shown = String::new();
        loop {
            let state = status.borrow().clone();
            if matches!(state, SessionState::Down(DownReason::ShutDown)) {
                return;
            }
            if matches!(state, SessionState::Down(_)) {
                created_at_loss = i2cp.sessions_created();
            }
            let created = i2cp.sessions_created() > created_at_loss;
            let waiting = Waiting::of(&state, created, &router);
            let now = Instant::now();
            if waiting == Waiting::Up {
                since = now;
                next_report = now + FIRST_REPORT;
            } else if now >= next_report {
                let secs = now.duration_since(since).as_secs();
                tracing::warn!("not ready for {secs} s: {}", waiting.line());
                next_report = now + REPEAT_REPORT;
            }
            let line = waiting.line();
            if line != shown {
                sd_notify(format!("STATUS={line}").as_bytes());
                shown = line;
            }
            tokio::time::sleep(POLL).await;
        }
    })
}

/// Send a state line to systemd (Type=notify). A no-op outside systemd.
pub fn sd_notify(message: &[u8]) {
    use std::os::linux::net::SocketAddrExt as _;
    use std::os::unix::ffi::OsStrExt as _;
    use std::os::unix::net::{SocketAddr as UnixAddr, UnixDatagram};

    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let bytes = path.as_bytes();
    // systemd writes abstract socket names with a leading '@'.
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => UnixAddr::from_abstract_name(name),
        None => UnixAddr::from_pathname(&path),
    };
    let sent = addr.and_then(|addr| UnixDatagram::unbound()?.send_to_addr(message, &addr));
    if let Err(err) = sent {
        tracing::warn!("sd_notify to {}: {err}", path.to_string_lossy());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_wait_says_what_it_waits_for() {
        let router = "127.0.0.1:7654";
        let unreachable = SessionState::Down(DownReason::Unreachable {
            addr: router.into(),
        });
        let line = Waiting::of(&unreachable, false, router).line();
        assert!(
            line.contains("cannot reach") && line.contains(router),
            "{line}"
        );
        let line = Waiting::of(&SessionState::Connecting, false, router).line();
        assert!(line.contains("create the I2CP session"), "{line}");
        let line = Waiting::of(&SessionState::Connecting, true, router).line();
        assert!(line.contains("build tunnels"), "{line}");
        assert_eq!(Waiting::of(&SessionState::Ready, true, router), Waiting::Up);
    }
}

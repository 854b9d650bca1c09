//! One destination at work (the shared one, an isolated user's, or a detour): its I2CP
//! session, its streaming task, and how it opens a stream (lookup, first-contact pacing,
//! detour choice).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::Config;
use crate::data::keys_file::KeysLock;
use crate::data::{Destination, PrivateKeys};
use crate::detour::{DetourPolicy, Detours};
use crate::first_contact::{Claim, Contacted, FirstContactPacer, Turn};
use crate::i2cp::{self, I2cpHandle};
use crate::socks::ConnectError;
use crate::streaming::half_close::DeferredClose;
use crate::streaming::{self, StreamHandle, StreamingHandle};

use super::PROTO_STREAMING;
use super::connector::connect_error;
use super::detours::{
    DetourSessions, Report, spawn_detour_reaper, spawn_detour_reporter, watch_syn,
};
use super::packet_sink::I2cpSink;
use super::session_state::{SessionRole, report_session_state};

/// After a client half-closes, how long the peer may stay silent before we close the stream.
const HALF_CLOSE_LINGER: Duration = Duration::from_secs(10);

/// One destination at work: its I2CP session, its streaming task and the tasks joining them.
pub(super) struct DestSession {
    pub(super) i2cp: I2cpHandle,
    pub(super) streaming: StreamingHandle,
    /// Fresh destinations for servers that stopped answering this one (`None`: off, or
    /// this session is itself a detour), and where its watched streams report.
    detours: Option<(Arc<Detours<DetourSessions>>, mpsc::UnboundedSender<Report>)>,
    pub(super) tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Held while the session lives when its keys come from a file (per-user keys).
    pub(super) keys_lock: Option<KeysLock>,
    /// Spaces first contacts to one remote across all our destinations.
    pacer: Arc<FirstContactPacer>,
    /// Remotes this destination has already sent a SYN to.
    contacted: Arc<Contacted>,
}

/// A stream opened by a [`DestSession`], holding the detour session it runs on, if any.
pub(super) struct Opened {
    pub(super) stream: DeferredClose<StreamHandle>,
    pub(super) detour: Option<Arc<DestSession>>,
}

impl DestSession {
    /// Start the session (returns at once; the router handshake runs in the background).
    /// `label` says whose session it is in logs; the shared destination's first readiness
    /// is also reported to systemd. `detours`: whether servers that stop answering get a
    /// detour (never for a detour). `after_unclean_exit`: the keys file's previous holder
    /// ended without closing its session ([`KeysLock::unclean_predecessor`]).
    pub(super) async fn start(
        config: &Arc<Config>,
        keys: Arc<PrivateKeys>,
        label: SessionRole,
        pacer: Arc<FirstContactPacer>,
        detours: bool,
        after_unclean_exit: bool,
    ) -> Self {
        let i2cp = i2cp::start(i2cp::I2cpClientConfig {
            address: config.i2cp.address.clone(),
            port: config.i2cp.port,
            keys: keys.clone(),
            options: config.session_options(),
            lookup_timeout: config.i2cp.lookup_timeout,
            reconnect_max_delay: config.i2cp.reconnect_max_delay,
            i2cp_enabled_in_config: config.i2cp.enabled,
            after_unclean_exit,
        })
        .await;
        // The streaming task reads the I2CP subscription itself: one channel hop between
        // the I2CP socket's task and the streams.
        let streaming = streaming::spawn_with_inbound(
            keys,
            I2cpSink(i2cp.clone()),
            streaming::StreamingConfig::with_max_window(config.socks.max_window_packets()),
            i2cp.subscribe(PROTO_STREAMING),
        );
        let report = report_session_state(&i2cp, streaming.clone(), label);
        let mut tasks = vec![report];
        let detours = detours.then(|| {
            let detours = Arc::new(Detours::new(
                DetourSessions {
                    config: config.clone(),
                    pacer: pacer.clone(),
                },
                DetourPolicy::default(),
            ));
            tasks.push(spawn_detour_reaper(detours.clone()));
            let (reports, reporter) = spawn_detour_reporter(detours.clone());
            tasks.push(reporter);
            (detours, reports)
        });
        DestSession {
            i2cp,
            streaming,
            detours,
            tasks,
            keys_lock: None,
            pacer,
            contacted: Arc::default(),
        }
    }

    /// DestroySession, then stop the tasks (the streaming task holds the I2CP handle in its
    /// sink, so it is told to stop rather than waiting for its inbound channel to close).
    pub(super) async fn close(&self) {
        if let Some((detours, _)) = &self.detours {
            detours.close_all().await;
        }
        self.close_own().await;
    }

    /// [`DestSession::close`] without the detours (a detour has none).
    pub(super) async fn close_own(&self) {
        self.streaming.abort_all();
        self.streaming.stop();
        self.i2cp.shutdown().await;
        for task in &self.tasks {
            task.abort();
        }
    }

    /// Look `name` up through this session and open a stream from this destination, or from
    /// the server's detour when it has one.
    pub(super) async fn connect(
        &self,
        name: &str,
        port: u16,
        initial_data: Vec<u8>,
    ) -> Result<Opened, ConnectError> {
        let dest = self.lookup(name).await?;
        let server = dest.hash();
        let Some((detours, reports)) = &self.detours else {
            let (_, stream) = self.open_stream(dest, port, initial_data).await?;
            return Ok(Opened {
                stream,
                detour: None,
            });
        };
        if let Some(detour) = detours.session_for(&server, Instant::now()).await {
            // The detour's own lookup: its router-side cache is fresh.
            let dest = detour.lookup(name).await?;
            let (id, stream) = detour.open_stream(dest, port, initial_data).await?;
            watch_syn(reports, &detour.streaming, id, server, true);
            return Ok(Opened {
                stream,
                detour: Some(detour),
            });
        }
        let (id, stream) = self.open_stream(dest, port, initial_data).await?;
        watch_syn(reports, &self.streaming, id, server, false);
        Ok(Opened {
            stream,
            detour: None,
        })
    }

    async fn lookup(&self, name: &str) -> Result<Destination, ConnectError> {
        self.i2cp.lookup_name(name).await.map_err(|err| {
            tracing::debug!(name, %err, "lookup failed");
            connect_error(err)
        })
    }

    async fn open_stream(
        &self,
        dest: Destination,
        port: u16,
        initial_data: Vec<u8>,
    ) -> Result<(streaming::StreamId, DeferredClose<StreamHandle>), ConnectError> {
        let remote = dest.hash();
        let claim = self.wait_first_contact_turn(remote).await;
        let stream = match claim {
            Some(_) => self.streaming.connect_first(dest, port, initial_data).await,
            None => self.streaming.connect(dest, port, initial_data).await,
        }
        .map_err(|_| ConnectError::RouterDown)?;
        if let Some(claim) = claim {
            self.report_first_answer(claim, stream.id());
        }
        Ok((stream.id(), DeferredClose::new(stream, HALF_CLOSE_LINGER)))
    }
}

impl DestSession {
    /// Before a SYN to `remote`, wait until [`crate::first_contact`] lets it go: a burst of
    /// new destinations contacting one site must not reach its router within 200 ms of each
    /// other, and this destination's other streams to a new remote wait for the first SYN's
    /// answer. `Some` when this is the destination's first contact with `remote`.
    async fn wait_first_contact_turn(&self, remote: [u8; 32]) -> Option<Claim> {
        let mut logged = false;
        loop {
            let answers = self.pacer.wait_for_answers();
            tokio::pin!(answers);
            answers.as_mut().enable();
            let now = tokio::time::Instant::now();
            let until = match self.contacted.turn(remote, &self.pacer, now.into_std()) {
                Turn::Go => return None,
                Turn::First(claim) => return Some(claim),
                Turn::Wait(until) => until,
            };
            if !logged {
                logged = true;
                tracing::debug!(
                    wait_ms =
                        u64::try_from(until.saturating_duration_since(now.into_std()).as_millis())
                            .unwrap_or(u64::MAX),
                    "first contact with this destination: waiting for its turn"
                );
            }
            tokio::select! {
                () = tokio::time::sleep_until(until.into()) => {}
                () = answers => {}
            }
        }
    }

    /// Watch the first SYN to a remote (stream `id`) and tell the pacer when it is answered.
    /// A task of its own: the client may give up on the stream long before the answer.
    fn report_first_answer(&self, claim: Claim, id: streaming::StreamId) {
        let answered = self.streaming.answered(id);
        let contacted = self.contacted.clone();
        let pacer = self.pacer.clone();
        tokio::spawn(async move {
            if answered.await {
                contacted.answered(claim, &pacer, std::time::Instant::now());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::keys_file;

    /// A config whose router cannot be reached (port 1): sessions stay Connecting.
    fn unreachable_config(dir: &std::path::Path) -> Config {
        let args = ["i2psocks", "--i2cp.port=1", "--datadir"]
            .into_iter()
            .map(std::ffi::OsString::from)
            .chain([dir.as_os_str().to_owned()]);
        crate::config::load_with_home(args, None)
            .unwrap_or_else(|e| panic!("{e}"))
            .config
    }

    /// A closed session leaves nothing running: its I2CP task has ended when `close`
    /// returns, its other tasks are aborted, and its streaming task stops (so a per-user
    /// session that is reaped frees its memory).
    #[tokio::test]
    async fn closing_a_session_stops_all_of_its_tasks() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let config = unreachable_config(dir.path());
        let keys = Arc::new(keys_file::transient(7)?);
        let remote = keys.destination().clone();
        let session = DestSession::start(
            &Arc::new(config),
            keys,
            SessionRole::User("u".into()),
            Arc::default(),
            true,
            false,
        )
        .await;
        let streaming = session.streaming.clone();
        session.close().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let tasks_done = session
                .tasks
                .iter()
                .all(tokio::task::JoinHandle::is_finished);
            let stopped = streaming
                .connect(remote.clone(), 80, Vec::new())
                .await
                .is_err();
            if tasks_done && stopped {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "tasks finished: {tasks_done}, streaming stopped: {stopped}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

//! Detours: when a server stops answering one of our destinations, new streams to it go
//! from a fresh one for a while (see `crate::detour` for the policy). Here: watching SYNs
//! and stalls to report misses, reaping old detours, and opening detour sessions.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::Config;
use crate::data::keys_file;
use crate::detour::{DetourFactory, DetourPolicy, Detours, Outcome};
use crate::first_contact::FirstContactPacer;
use crate::streaming::{self, Health, StreamingHandle};

use super::dest_session::DestSession;
use super::session_state::SessionRole;

/// A SYN unanswered this long counts as a miss towards a detour (the SYN's first
/// retransmission is due after 3 s, the initial RTO).
const SYN_PATIENCE: Duration = Duration::from_secs(4);
/// An answered stream whose packets then go unacknowledged through this many timeouts in a
/// row counts as a miss too (its server may have vanished mid-stream).
const STALL_TIMEOUTS: u32 = 2;
/// How often detours past their window are closed.
const DETOUR_REAP_PERIOD: Duration = Duration::from_secs(30);

/// What a watched stream tells `Detours` about its server.
pub(super) struct Report {
    server: [u8; 32],
    detoured: bool,
    outcome: Outcome,
}

/// The task that hands watched streams' reports to `detours` (reporting takes its lock, so
/// it cannot happen in the streaming task, where the watches run).
pub(super) fn spawn_detour_reporter(
    detours: Arc<Detours<DetourSessions>>,
) -> (mpsc::UnboundedSender<Report>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Report>();
    let task = tokio::spawn(async move {
        while let Some(r) = rx.recv().await {
            detours
                .report(r.server, r.detoured, r.outcome, Instant::now())
                .await;
        }
    });
    (tx, task)
}

/// After [`SYN_PATIENCE`], tell the reporter whether the server answered stream `id`'s SYN
/// (a stream the client already gave up tells nothing); if it did, report a miss once if
/// the stream then stalls ([`STALL_TIMEOUTS`]). The streaming task does the watching at
/// its own deadlines: no task or timer per stream.
pub(super) fn watch_syn(
    reports: &mpsc::UnboundedSender<Report>,
    streaming: &StreamingHandle,
    id: streaming::StreamId,
    server: [u8; 32],
    detoured: bool,
) {
    let reports = reports.clone();
    let sent = Instant::now();
    let report = move |health| {
        let outcome = match health {
            Health::Answered => Outcome::Answered,
            Health::Unanswered => Outcome::Missed(sent),
            Health::Stalled => Outcome::Missed(Instant::now()),
        };
        let _ = reports.send(Report {
            server,
            detoured,
            outcome,
        });
    };
    streaming.watch(id, SYN_PATIENCE, STALL_TIMEOUTS, Box::new(report));
}

pub(super) fn spawn_detour_reaper(
    detours: Arc<Detours<DetourSessions>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(DETOUR_REAP_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            detours.reap(Instant::now()).await;
        }
    })
}

/// Opens detour sessions: transient keys, no detours of their own.
pub(super) struct DetourSessions {
    pub(super) config: Arc<Config>,
    pub(super) pacer: Arc<FirstContactPacer>,
}

impl DetourFactory for DetourSessions {
    type Session = DestSession;

    async fn open(&self, server: &[u8; 32]) -> Result<DestSession, String> {
        let sig_type = self.config.socks.signature_type;
        let keys = tokio::task::spawn_blocking(move || {
            keys_file::transient(sig_type).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())??;
        let server = crate::data::base32_encode(server);
        tracing::info!(
            "{server}.b32.i2p stopped answering (its router may have restarted and the router \
             still holds its old LeaseSet): new streams to it go from the fresh destination {} \
             for up to {} s",
            keys.destination().b32_address(),
            DetourPolicy::default().window.as_secs()
        );
        let role = SessionRole::Detour(keys.destination().b32_address());
        Ok(DestSession::start(
            &self.config,
            Arc::new(keys),
            role,
            self.pacer.clone(),
            false,
            false,
        )
        .await)
    }

    async fn close(&self, session: &DestSession) {
        session.close_own().await;
    }
}

//! Per-user sessions of `--isolate`: the factory the isolation pool opens them with.

use std::sync::Arc;

use crate::config::Config;
use crate::data::keys_file;
use crate::first_contact::FirstContactPacer;
use crate::i2cp;

use super::dest_session::DestSession;
use super::isolation::{self, SessionFactory};
use super::session_state::SessionRole;

/// Opens per-user sessions for the isolation pool: transient keys, or a keys file per user
/// in the configured directory (i2pd format, created on first use).
pub(super) struct UserSessions {
    pub(super) config: Arc<Config>,
    pub(super) pacer: Arc<FirstContactPacer>,
}

impl SessionFactory for UserSessions {
    type Session = DestSession;

    async fn open(&self, user: &[u8]) -> Result<DestSession, String> {
        let sig_type = self.config.socks.signature_type;
        let path = self
            .config
            .socks
            .isolation_keys
            .as_ref()
            .map(|dir| dir.join(isolation::keys_file_name(user)));
        let label = user.escape_ascii().to_string();
        let (keys, lock) = tokio::task::spawn_blocking(move || match path {
            None => keys_file::transient(sig_type)
                .map(|keys| (keys, None))
                .map_err(|e| e.to_string()),
            Some(path) => {
                let lock = keys_file::lock(&path).map_err(|e| e.to_string())?;
                keys_file::load_or_create(&path, sig_type)
                    .map(|(keys, _)| (keys, Some(lock)))
                    .map_err(|e| e.to_string())
            }
        })
        .await
        .map_err(|e| e.to_string())??;
        tracing::info!(
            user = %label,
            "isolation: destination {}",
            keys.destination().b32_address()
        );
        let after_unclean_exit = lock
            .as_ref()
            .is_some_and(|l| l.unclean_predecessor().is_some());
        let mut session = DestSession::start(
            &self.config,
            Arc::new(keys),
            SessionRole::User(label),
            self.pacer.clone(),
            self.config.i2cp.detour,
            after_unclean_exit,
        )
        .await;
        session.keys_lock = lock;
        Ok(session)
    }

    async fn close(&self, session: &DestSession) {
        session.close().await;
    }

    fn refused_for_now(&self, session: &DestSession) -> bool {
        matches!(
            &*session.i2cp.status().borrow(),
            i2cp::SessionState::Down(i2cp::DownReason::RouterRefused { may_pass: true, .. })
        )
    }
}

//! What stops the proxy: SIGTERM or SIGINT, or a router that refused the session for good.

use crate::i2cp;

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
    }
}

/// Resolves when the router has refused the session for good (it then never reconnects).
pub(super) async fn refused_for_good(mut status: tokio::sync::watch::Receiver<i2cp::SessionState>) {
    let refused = |s: &i2cp::SessionState| {
        matches!(
            s,
            i2cp::SessionState::Down(i2cp::DownReason::RouterRefused { .. })
        )
    };
    if status.wait_for(refused).await.is_err() {
        // The session task is gone without a refusal: never resolve.
        std::future::pending::<()>().await;
    }
}

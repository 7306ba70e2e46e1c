//! Graceful shutdown: SIGTERM or SIGINT stops accepting connections, lets
//! in-flight requests finish (bounded by a grace period), then the store is
//! closed, which waits for the commit thread to drain its queue.

use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

/// Resolves on the first SIGTERM or SIGINT.
pub async fn signal_received() {
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    let name = tokio::select! {
        r = tokio::signal::ctrl_c() => {
            if let Err(e) = r {
                tracing::warn!(error = %e, "cannot listen for SIGINT");
                std::future::pending::<()>().await;
            }
            "SIGINT"
        }
        () = term => "SIGTERM",
    };
    tracing::info!(
        signal = name,
        "shutting down: no new connections, finishing in-flight requests"
    );
}

/// How long in-flight requests get after the signal before connections are dropped.
pub fn grace_period(request_timeout_ms: u64) -> Duration {
    Duration::from_millis(request_timeout_ms).saturating_add(Duration::from_secs(5))
}

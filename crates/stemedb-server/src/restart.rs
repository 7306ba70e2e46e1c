//! Restart after a store failure. A store whose write path failed (the
//! index engine hit ENOSPC in a background flush, an fsync failed) refuses
//! every write until the process restarts: the index engine cannot be
//! reopened while anything still holds it, and a restart is what recovers —
//! the log tail is checked and the records it holds are re-indexed. This
//! task does that restart by itself once it can help: while the store has
//! failed, the data directory's file system is above
//! `storage.min_free_bytes`, and the process has run at least
//! `storage.failure_restart_ms`, it re-executes its own binary with the same
//! arguments and environment (`execve`: same PID, so systemd and any
//! supervisor see one process; every descriptor is close-on-exec, so the
//! port and the store's lock are released). The uptime bound keeps a store
//! that fails again at once from restarting more than once per period.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use stemedb_storage::Store;

/// How often the store's state is looked at.
const POLL: Duration = Duration::from_secs(1);

/// Starts the watch; `None` when `after` is zero (restart by hand). Once
/// `stopping` is set (a stop signal arrived) it never restarts.
pub fn spawn(
    store: Store,
    started: Instant,
    after: Duration,
    stopping: Arc<AtomicBool>,
) -> Option<tokio::task::JoinHandle<()>> {
    if after.is_zero() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut logged = false;
        loop {
            tokio::time::sleep(POLL).await;
            if stopping.load(Ordering::SeqCst) {
                return;
            }
            let Some(failure) = store.failure() else {
                continue;
            };
            if store.below_free_floor().is_some() {
                if !logged {
                    tracing::warn!(
                        failure = %failure,
                        "store failed; restarting once the data directory is above storage.min_free_bytes"
                    );
                    logged = true;
                }
                continue;
            }
            if started.elapsed() < after {
                continue;
            }
            tracing::error!(
                failure = %failure,
                "store failed; restarting the process to recover (storage.failure_restart_ms)"
            );
            let err = reexec();
            tracing::error!(error = %err, "restart failed; restart the node by hand");
            return;
        }
    }))
}

/// Replaces this process with a fresh run of the same binary; returns only
/// when that fails.
fn reexec() -> std::io::Error {
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return e,
    };
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    std::process::Command::new(exe).args(args).exec()
}

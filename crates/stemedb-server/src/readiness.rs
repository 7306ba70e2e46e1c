//! Readiness: whether this node can take writes right now, and if not, why.
//! `GET /v1/ready` answers from it (200 / 503) and `/metrics` exports it
//! (`stemedb_ready`, `stemedb_read_only`, `stemedb_store_failed`), so a load
//! balancer's health check and an alert see the same thing.
//!
//! A node that is still opening its store (log recovery, index replay) or
//! starting cluster mode answers `recovering` from [`crate::startup`]
//! before any of this exists: 503 on `/v1/ready` and on every other route.

use stemedb_cluster::quorum::{Mode, Quorum};

use crate::state::AppState;

/// Why a node cannot take writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// The store refuses writes after a failed log write or fsync.
    StoreFailed(String),
    /// Cluster mode, minority side, `on_minority = "read_only"`.
    ReadOnly(String),
    /// The data directory's file system is below `storage.min_free_bytes`
    /// (bytes available): writes get 507 until space is freed.
    InsufficientStorage(u64),
}

impl NotReady {
    /// The reason code (`store_failed`, `read_only`), as in error answers.
    pub fn code(&self) -> &'static str {
        match self {
            NotReady::StoreFailed(_) => "store_failed",
            NotReady::ReadOnly(_) => "read_only",
            NotReady::InsufficientStorage(_) => "insufficient_storage",
        }
    }

    /// A sentence for the operator.
    pub fn message(&self) -> String {
        match self {
            NotReady::StoreFailed(why) => format!("the store refuses writes: {why}"),
            NotReady::ReadOnly(why) => why.clone(),
            NotReady::InsufficientStorage(avail) => format!(
                "the data directory's file system has {avail} bytes available, below storage.min_free_bytes; writes are refused until space is freed"
            ),
        }
    }
}

/// The node's write readiness.
#[derive(Debug, Clone)]
pub struct Readiness {
    /// `None` when the node can take writes.
    pub not_ready: Option<NotReady>,
    /// The majority rule's evaluation (cluster mode only).
    pub quorum: Option<Quorum>,
    /// Whether the store has failed (independent of the cluster mode).
    pub store_failed: bool,
}

impl Readiness {
    /// Evaluates the store's health and, in cluster mode, the majority rule.
    pub fn of(state: &AppState) -> Readiness {
        let failure = state.store.failure();
        let quorum = state.cluster.as_ref().map(|c| c.quorum());
        let read_only = quorum
            .as_ref()
            .filter(|q| q.mode == Mode::ReadOnly)
            .map(|q| NotReady::ReadOnly(q.message()));
        let store_failed = failure.is_some();
        Readiness {
            not_ready: failure
                .map(NotReady::StoreFailed)
                .or_else(|| {
                    state
                        .store
                        .below_free_floor()
                        .map(NotReady::InsufficientStorage)
                })
                .or(read_only),
            quorum,
            store_failed,
        }
    }

    /// `single`, `read_write` or `read_only`.
    pub fn mode(&self) -> &'static str {
        self.quorum.as_ref().map_or("single", |q| q.mode.as_str())
    }

    /// Whether the node is read-only because it is in the minority.
    pub fn read_only(&self) -> bool {
        self.quorum
            .as_ref()
            .is_some_and(|q| q.mode == Mode::ReadOnly)
    }
}

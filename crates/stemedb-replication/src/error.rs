//! Replication errors.

use stemedb_storage::StorageError;

/// Anything that can go wrong while replicating.
#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    /// The local store failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The hints database failed.
    #[error("hints database: {0}")]
    Hints(#[from] fjall::Error),
    /// The peer could not be reached or the connection broke.
    #[error("transport to {peer}: {source}")]
    Transport {
        /// Peer address.
        peer: String,
        /// The underlying error.
        source: tonic::transport::Error,
    },
    /// The peer answered with a gRPC error (including timeouts and refused connections).
    #[error("rpc {method} to {peer} failed: {status}")]
    Rpc {
        /// Peer address.
        peer: String,
        /// The method called.
        method: &'static str,
        /// The status returned.
        status: Box<tonic::Status>,
    },
    /// The peer sent something that breaks the protocol.
    #[error("protocol error from {peer}: {reason}")]
    Protocol {
        /// Peer address.
        peer: String,
        /// What is wrong.
        reason: String,
    },
    /// A node id cannot be used as a hint key.
    #[error("invalid node id {0:?}: must be non-empty and contain no NUL byte")]
    InvalidNodeId(String),
    /// The push observer could not record what a `Push` created.
    #[error("push observer: {0}")]
    Observer(String),
    /// A blocking task panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, ReplicationError>;

/// Runs blocking store work off the async executor.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ReplicationError::Task(e.to_string()))?
}

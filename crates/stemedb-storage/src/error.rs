//! Storage errors.

use std::path::PathBuf;

use stemedb_records::ValidationError;

/// Anything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An operating-system I/O error, with the file involved.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The index engine failed.
    #[error("index engine error: {0}")]
    Index(#[from] fjall::Error),
    /// Opening the index found damaged files (a checksum mismatch, a missing
    /// table, an unreadable journal). The index is derived from the log: it
    /// is rebuilt when the store opens without it.
    #[error(
        "the index at {dir} is damaged ({source}); it is derived from the log and is rebuilt from it when missing: with the server stopped, move {dir} out of the data directory and start again (docs/runbooks/index-rebuild.md)"
    )]
    IndexDamaged {
        /// The index directory.
        dir: PathBuf,
        /// What the index engine reported.
        source: fjall::Error,
    },
    /// A log segment is damaged somewhere other than its unacknowledged tail.
    #[error("log corruption in {path} at offset {offset}: {reason}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the bad frame.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A stored record failed to decode.
    #[error("stored record is invalid: {0}")]
    Record(#[from] ValidationError),
    /// The write queue is full; retry later.
    #[error("write queue is full ({0} requests waiting); retry later")]
    Overloaded(usize),
    /// An earlier fsync or write failed; the store refuses further writes
    /// because the state of the log on disk is unknown.
    #[error("store is failed after an earlier I/O error ({0}); restart to recover")]
    Failed(String),
    /// The file system holding the data directory has less free space than
    /// `min_free_bytes`: the group commit was refused and nothing was
    /// written. Writes resume by themselves once space is freed.
    #[error(
        "not enough free disk space: {available} bytes available, storage.min_free_bytes is {floor}; nothing was written"
    )]
    InsufficientStorage {
        /// Bytes available to the store when it refused.
        available: u64,
        /// The configured floor.
        floor: u64,
    },
    /// A log write ran out of space (ENOSPC/EDQUOT) and was undone (the
    /// segment was cut back to its last good frame); nothing was written.
    #[error("the disk is full ({0}); nothing was written")]
    DiskFull(String),
    /// The store is shutting down.
    #[error("store is closed")]
    Closed,
    /// A configuration value is unusable.
    #[error("invalid storage configuration: {0}")]
    Config(String),
}

impl StorageError {
    /// An index engine error met while opening the index at `dir`, as
    /// [`StorageError::IndexDamaged`] when it says the files are damaged;
    /// I/O errors (permissions, a failing disk) and a held lock stay
    /// [`StorageError::Index`]: rebuilding would not help.
    pub(crate) fn opening_index(dir: &std::path::Path, e: StorageError) -> StorageError {
        match e {
            StorageError::Index(source) if is_damage(&source) => StorageError::IndexDamaged {
                dir: dir.to_path_buf(),
                source,
            },
            other => other,
        }
    }

    /// Whether this refusal left nothing written and the store healthy
    /// (the client may retry once space is freed).
    pub fn is_no_space(&self) -> bool {
        matches!(
            self,
            StorageError::InsufficientStorage { .. } | StorageError::DiskFull(_)
        )
    }

    /// A copy of a no-space refusal, for every writer of a refused group.
    pub(crate) fn clone_no_space(&self) -> Option<StorageError> {
        match self {
            StorageError::InsufficientStorage { available, floor } => {
                Some(StorageError::InsufficientStorage {
                    available: *available,
                    floor: *floor,
                })
            }
            StorageError::DiskFull(m) => Some(StorageError::DiskFull(m.clone())),
            _ => None,
        }
    }

    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, StorageError>;

/// Whether an index engine error describes damaged files rather than the
/// environment (I/O, a lock, a poisoned engine).
fn is_damage(e: &fjall::Error) -> bool {
    use fjall::Error as F;
    !matches!(
        e,
        F::Io(_)
            | F::Locked
            | F::Poisoned
            | F::KeyspaceDeleted
            | F::Storage(fjall::LsmError::Io(_))
    )
}

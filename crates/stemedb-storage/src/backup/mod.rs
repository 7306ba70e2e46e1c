//! Online backup, verification and restore (point-in-time by commit time).
//!
//! A backup is a directory holding the log — sealed segments and the
//! committed prefix of the active one, up to a log position taken when the
//! backup started — and `manifest.json`, written last (temp file, fsync,
//! rename, fsync of the directory) so a backup without a manifest is
//! incomplete by construction. The index is not copied: it is derived from
//! the log and rebuilt when the backup is restored (simpler than copying a
//! consistent snapshot of the LSM files, and as correct).
//!
//! - [`manifest`]: the manifest format and the incremental chain.
//! - [`piece`]: checking the frames of a copied file (CRC, record hash, commit times).
//! - [`verify`]: `verify --backup` and `verify --data-dir`.
//! - [`writer`]: writing a backup from segment ranges (any transport).
//! - [`restore`]: building a data directory from backups and archives, optionally
//!   only up to a commit time.
//!
//! Commit time: every group commit writes a commit-time marker frame before
//! its records (see `docs/storage.md`); a record's commit time is the value of
//! the last marker before it. Markers never decrease along the log, so the
//! records committed at or before `T` are a prefix of the log.

pub mod manifest;
pub mod piece;
pub mod restore;
pub mod verify;
pub mod writer;

use std::path::PathBuf;

use crate::error::StorageError;

pub use manifest::{FileEntry, MANIFEST_NAME, Manifest};
pub use piece::PieceInfo;
pub use restore::{RestoreReport, restore};
pub use verify::{DataDirReport, verify_backup, verify_data_dir};
pub use writer::{BackupWriter, Needed, backup_store};

/// What can go wrong while backing up, verifying or restoring.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// An I/O error on a file.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is damaged; `offset` is the first bad byte range found.
    #[error("{path}: damaged at offset {offset}: {reason}")]
    Corrupt {
        /// The bad file.
        path: PathBuf,
        /// Byte offset (within the segment) of the first bad frame.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The manifest is missing, unreadable or inconsistent.
    #[error("{path}: {reason}")]
    Manifest {
        /// The manifest (or backup directory).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A restore target that already holds something.
    #[error("{0} is not empty; restore only into a new or empty directory")]
    NotEmpty(PathBuf),
    /// The pieces do not form one contiguous log.
    #[error("cannot assemble the log: {0}")]
    Gap(String),
    /// The index disagrees with the log.
    #[error("index of {path} is inconsistent with the log: {reason}")]
    Index {
        /// The data directory.
        path: PathBuf,
        /// The first disagreement.
        reason: String,
    },
    /// The store failed (opening the restored or verified data directory).
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl BackupError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BackupError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, BackupError>;

/// Fsyncs a directory so renames and new entries in it are durable.
pub fn sync_dir(dir: &std::path::Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| BackupError::io(dir, e))
}

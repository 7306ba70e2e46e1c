//! StemeDB storage: the record log (source of truth) and the indexes derived
//! from it.
//!
//! # Layout
//! - [`log`]: segment files, CRC32C frames, fsync, rotation, torn-tail recovery.
//! - `commit` (private): group commit in two stages — the commit thread
//!   (fates, one log write and fsync for many writers) and the index thread
//!   (`commit::indexer`: index batch, digests, answers, in log order).
//! - [`index`]: fjall keyspaces derived from the log, with a checkpoint of
//!   the applied log position; `index::id_filter` answers "certainly not
//!   stored" for new ids without asking fjall.
//! - `apply` (private): log frame → index entries, shared by commit, replay and rebuild.
//! - [`store`]: [`Store`], the public API: open, append, rebuild, verify;
//!   `store::read` holds its reads (records, subject entries, listings, trust,
//!   partition ids, log scans).
//! - [`backup`]: online backup, verify and (point-in-time) restore.
//! - [`partition`]: subject → partition for placement and Merkle sync.
//! - [`space`]: the free-space floor (`min_free_bytes`) checked before each group commit.
//! - [`memory`]: process settings for binaries that run a store (huge pages off).
//! - [`digest`]: per-partition Merkle bucket digests, maintained by the
//!   commit path, tail replay and rebuild like every index.
//!
//! # Example
//! ```
//! use stemedb_records::{wire, hlc::Hlc};
//! use stemedb_storage::{Store, StoreConfig, AppendStatus};
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(StoreConfig::new(dir.path())).unwrap();
//! let rec = wire::parse_assertion(&serde_json::json!({
//!     "subject": "drug:x", "predicate": "side_effect",
//!     "object": {"type": "text", "value": "nausea"}, "agent": "fda"
//! }), &Hlc::new()).unwrap();
//! let id = rec.id();
//! let res = store.append(vec![rec.clone()]).unwrap();
//! assert_eq!(res[0].as_ref().unwrap().status, AppendStatus::Created);
//! assert_eq!(store.append(vec![rec]).unwrap()[0].as_ref().unwrap().status, AppendStatus::Exists);
//! assert!(store.get(id).unwrap().is_some());
//! ```

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod apply;
pub mod backup;
mod bulk;
mod commit;
pub mod config;
pub mod digest;
pub mod error;
pub mod index;
pub mod log;
pub mod memory;
pub mod partition;
pub mod space;
pub mod store;

pub use config::StoreConfig;
pub use digest::BucketDigests;
pub use error::{Result, StorageError};
pub use log::{LogPos, RecoveryReport};
pub use store::{
    AppendStatus, Appended, EpochEntry, ItemResult, OpenReport, Rejected, Store, Stored,
    SubjectEntry, VerifyReport,
};

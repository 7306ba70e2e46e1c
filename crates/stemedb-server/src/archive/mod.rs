//! Continuous archival of sealed log segments (`[archive]`, SPEC §6).
//!
//! The archiver is a task of the server: every `interval_ms` it lists the
//! sealed segments (every segment before the active one: exact, fsynced,
//! never written again), uploads each one the archive's index does not list
//! yet — checked frame by frame first, so damage is never archived — and then
//! the index (`stemedb-archive.json`, see
//! [`stemedb_storage::backup::archive`]). A segment counts as archived only
//! once the index that lists it is written, so after a restart (the index is
//! read back from the target) at worst one segment is uploaded twice. On a
//! failure it retries with exponential backoff (from `interval_ms`, doubling
//! up to `retry_max_ms`) and counts `stemedb_archive_failures_total`.
//! Every `seal_interval_ms` the active segment is sealed when it holds
//! records, so the archive is never older than that.
//!
//! StemeDB never deletes log segments; nothing here deletes anything.
//!
//! - [`target`]: the `object_store` behind `file://` and `s3://` URLs.
//! - [`fetch`]: downloading an archive for `stemedb-api restore --from s3://...`.

pub mod fetch;
pub mod target;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use stemedb_records::hlc::Hlc;
use stemedb_storage::Store;
use stemedb_storage::backup::{ARCHIVE_INDEX, ArchiveIndex, BackupError, archive};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::ArchiveConfig;
pub use target::Target;

/// Sealed segments not yet archived (gauge).
pub const LAG_SEGMENTS: &str = "stemedb_archive_lag_segments";
/// Age of the oldest sealed segment not yet archived, seconds; 0 when none (gauge).
pub const LAG_SECONDS: &str = "stemedb_archive_lag_seconds";
/// Failed archival attempts (counter).
pub const FAILURES: &str = "stemedb_archive_failures_total";
/// Segments archived (counter).
pub const SEGMENTS: &str = "stemedb_archive_segments_total";

/// What can go wrong while archiving or fetching an archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Unusable settings.
    #[error("{0}")]
    Config(String),
    /// The object store refused or failed.
    #[error("cannot {what}: {source}")]
    Store {
        /// The operation and object.
        what: String,
        /// The cause.
        source: object_store::Error,
    },
    /// A local file could not be read or written.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A segment or the index is damaged or malformed.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] stemedb_storage::StorageError),
    /// The archive holds a different log than this node's.
    #[error("{0}")]
    Conflict(String),
}

/// A running archiver; [`Archiver::stop`] ends it.
#[derive(Debug)]
pub struct Archiver {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Archiver {
    /// Starts archiving `store`'s sealed segments to `cfg.target` (which must
    /// be set). `node` names this node in the index.
    pub fn start(store: Store, cfg: &ArchiveConfig, node: &str) -> Result<Archiver, ArchiveError> {
        let url = cfg
            .target
            .as_deref()
            .ok_or_else(|| ArchiveError::Config("archive.target is not set".into()))?;
        let target = Target::open(url, cfg)?;
        tracing::info!(
            target = %url,
            interval_ms = cfg.interval_ms,
            seal_interval_ms = cfg.seal_interval_ms,
            "archiving sealed log segments"
        );
        // The recorder must exist before the counters are registered, or they
        // stay out of /metrics until their first increment.
        let _ = crate::metrics::install();
        metrics::counter!(FAILURES).increment(0);
        metrics::counter!(SEGMENTS).increment(0);
        let (stop, stopped) = watch::channel(false);
        let run = Run {
            store,
            target,
            node: node.to_owned(),
            interval: Duration::from_millis(cfg.interval_ms),
            seal_interval: Duration::from_millis(cfg.seal_interval_ms),
            retry_max: Duration::from_millis(cfg.retry_max_ms),
            index: None,
            checked_through: None,
        };
        let task = tokio::spawn(run.main(stopped));
        Ok(Archiver { stop, task })
    }

    /// Stops the archiver: an upload in progress may finish within `grace`,
    /// then it is abandoned (it is redone after the next start).
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
        }
    }
}

struct Run {
    store: Store,
    target: Target,
    node: String,
    interval: Duration,
    seal_interval: Duration,
    retry_max: Duration,
    /// The index as last written to (or read from) the target.
    index: Option<ArchiveIndex>,
    /// The newest sealed segment already compared with the archive (it
    /// must hold this node's log); `None` before the first pass.
    checked_through: Option<u32>,
}

impl Run {
    async fn main(mut self, mut stopped: watch::Receiver<bool>) {
        let mut failures_in_a_row = 0u32;
        let mut last_seal = Instant::now();
        // Until the index is read, every sealed segment counts as not archived.
        self.publish_lag().await;
        loop {
            let pause = if failures_in_a_row == 0 {
                self.interval
            } else {
                self.interval
                    .saturating_mul(2u32.saturating_pow(failures_in_a_row.min(20)))
                    .min(self.retry_max)
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = stopped.changed() => break,
            }
            if *stopped.borrow() {
                break;
            }
            if !self.seal_interval.is_zero() && last_seal.elapsed() >= self.seal_interval {
                last_seal = Instant::now();
                self.seal().await;
            }
            match self.pass().await {
                Ok(n) => {
                    if failures_in_a_row > 0 {
                        tracing::info!(target = %self.target.url(), "archiving works again");
                    }
                    if n > 0 {
                        tracing::debug!(segments = n, "archived sealed segments");
                    }
                    failures_in_a_row = 0;
                }
                Err(e) => {
                    failures_in_a_row = failures_in_a_row.saturating_add(1);
                    metrics::counter!(FAILURES).increment(1);
                    tracing::warn!(
                        target = %self.target.url(), error = %e, attempt = failures_in_a_row,
                        "archiving failed; will retry"
                    );
                }
            }
            self.publish_lag().await;
        }
    }

    async fn seal(&self) {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.seal_active_segment()).await {
            Ok(Ok(Some(n))) => tracing::debug!(segment = n, "sealed the active segment"),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot seal the active segment"),
            Err(e) => tracing::warn!(error = %e, "seal task failed"),
        }
    }

    /// Uploads every sealed segment the index does not list; returns how many.
    async fn pass(&mut self) -> Result<usize, ArchiveError> {
        if self.index.is_none() {
            let index = match self.target.get(ARCHIVE_INDEX).await? {
                None => ArchiveIndex::new(&self.node),
                Some(bytes) => ArchiveIndex::parse(&bytes, ARCHIVE_INDEX.as_ref())?
                    .unwrap_or_else(|| ArchiveIndex::new(&self.node)),
            };
            self.index = Some(index);
        }
        let store = self.store.clone();
        let sealed = blocking(move || Ok(store.sealed_segments()?)).await?;
        // The first pass compares every sealed segment the archive lists;
        // later passes the newly sealed ones it already lists — which only
        // happens when this data dir started a new log (a replaced disk) under
        // an archive of the old one: refused, never skipped as "archived".
        let first = self.checked_through.is_none();
        let fresh: Vec<u32> = sealed
            .iter()
            .copied()
            .filter(|s| self.checked_through.is_none_or(|c| *s > c))
            .collect();
        self.check_same_log(&fresh, !first).await?;
        if let Some(newest) = sealed.last() {
            self.checked_through = Some(self.checked_through.map_or(*newest, |c| c.max(*newest)));
        } else if first {
            self.checked_through = Some(0);
        }
        let mut done = 0;
        for seg in sealed {
            let Some(index) = &self.index else { break };
            if index.get(seg).is_some() {
                continue;
            }
            let path = self.store.segment_path(seg);
            let (entry, data) = blocking(move || {
                let data = std::fs::read(&path).map_err(|e| ArchiveError::Io {
                    path: path.clone(),
                    source: e,
                })?;
                let entry = archive::describe_segment(&path, seg, &data, Hlc::wall_ms())?;
                Ok((entry, data))
            })
            .await?;
            let name = segment_object(seg);
            self.target.put(&name, data).await?;
            let mut next = index.clone();
            next.insert(entry);
            next.updated_ms = Hlc::wall_ms();
            let json = next.to_json().map_err(|e| {
                ArchiveError::Config(format!("cannot render the archive index: {e}"))
            })?;
            self.target.put(ARCHIVE_INDEX, json).await?;
            self.index = Some(next);
            metrics::counter!(SEGMENTS).increment(1);
            done += 1;
            self.publish_lag().await;
        }
        Ok(done)
    }

    /// Refuses to archive into an archive of another log: every archived
    /// segment of `sealed` must have the same size here, and the newest of
    /// them (every one with `hash_all`) the same BLAKE3.
    async fn check_same_log(&self, sealed: &[u32], hash_all: bool) -> Result<(), ArchiveError> {
        let Some(index) = &self.index else {
            return Ok(());
        };
        let mine: Vec<_> = index
            .segments
            .iter()
            .filter(|e| sealed.contains(&e.segment))
            .cloned()
            .collect();
        let paths: Vec<_> = mine
            .iter()
            .map(|e| self.store.segment_path(e.segment))
            .collect();
        let url = self.target.url().to_owned();
        let node = index.node.clone();
        blocking(move || {
            for (e, path) in mine.iter().zip(&paths) {
                let len = std::fs::metadata(path)
                    .map_err(|err| ArchiveError::Io {
                        path: path.clone(),
                        source: err,
                    })?
                    .len();
                let differs = if len != e.size {
                    true
                } else if hash_all || Some(e) == mine.last() {
                    let data = std::fs::read(path).map_err(|err| ArchiveError::Io {
                        path: path.clone(),
                        source: err,
                    })?;
                    stemedb_storage::backup::piece::blake3_hex(&data) != e.blake3
                } else {
                    false
                };
                if differs {
                    return Err(ArchiveError::Conflict(format!(
                        "the archive {url} (written by node {node:?}) holds a different segment {} \
                         than {}: it is another log's archive (another node, or this node before a \
                         point-in-time restore); give this node its own archive.target",
                        e.segment,
                        path.display()
                    )));
                }
            }
            Ok(())
        })
        .await
    }

    /// Sets the lag gauges: sealed segments not archived and the age of the
    /// oldest of them (by its file's modification time, when it was sealed).
    async fn publish_lag(&self) {
        let store = self.store.clone();
        let archived: Option<Vec<u32>> = self
            .index
            .as_ref()
            .map(|i| i.segments.iter().map(|e| e.segment).collect());
        let lag = blocking(move || {
            let pending: Vec<u32> = store
                .sealed_segments()?
                .into_iter()
                .filter(|s| archived.as_ref().is_none_or(|a| !a.contains(s)))
                .collect();
            let age = match pending.first() {
                None => 0.0,
                Some(&s) => std::fs::metadata(store.segment_path(s))
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .map_or(0.0, |d| d.as_secs_f64()),
            };
            Ok((pending.len(), age))
        })
        .await;
        match lag {
            Ok((n, age)) => {
                metrics::gauge!(LAG_SEGMENTS).set(n as f64);
                metrics::gauge!(LAG_SECONDS).set(age);
            }
            Err(e) => tracing::debug!(error = %e, "cannot measure the archive lag"),
        }
    }
}

/// Object name of segment `n` in an archive.
pub fn segment_object(n: u32) -> String {
    format!("log/{}", stemedb_storage::log::segment_name(n))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ArchiveError> + Send + 'static,
) -> Result<T, ArchiveError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ArchiveError::Config(format!("background task failed: {e}")))?
}

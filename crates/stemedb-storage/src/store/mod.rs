//! The public store: open/recover, append (group-committed, durable,
//! read-your-writes), rebuild and verify; [`read`] holds the reads over the
//! indexes and the log.

mod read;

pub use read::SubjectEntry;

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use stemedb_records::{Epoch, Kind, Record, RecordId, SignedRecord, ValidationError, sign};
use tokio::sync::oneshot;

use crate::apply::{replay, wants_bulk};
use crate::commit::{Command, Committer, Indexer};
use crate::config::StoreConfig;
use crate::digest::BucketDigests;
use crate::error::{Result, StorageError};
use crate::index::Indexes;
use crate::log::{LogPos, LogReader, LogWriter, RecoveryReport};

/// Whether an append stored something new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendStatus {
    /// The record was written.
    Created,
    /// A record with this id was already stored; nothing was written.
    Exists,
}

impl AppendStatus {
    /// `created` or `exists`, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            AppendStatus::Created => "created",
            AppendStatus::Exists => "exists",
        }
    }
}

/// A record that was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Its id.
    pub id: RecordId,
    /// New or already present.
    pub status: AppendStatus,
    /// Its partition, decided once by the commit path: the subject's for an
    /// assertion, the target's subject's for a retraction or vote, `GLOBAL`
    /// for trust and epochs. Replication places the record by it.
    pub partition: u16,
}

/// Why one record of an append was refused (nothing of it was written).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejected {
    /// The record failed validation or signature verification.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A referenced record does not exist.
    #[error("{field}: no record {id}")]
    NotFound {
        /// The referencing field.
        field: &'static str,
        /// The missing id.
        id: RecordId,
    },
    /// A referenced record has the wrong kind.
    #[error("{field}: record {id} is a {found:?}, expected {expected:?}")]
    WrongKind {
        /// The referencing field.
        field: &'static str,
        /// The referenced id.
        id: RecordId,
        /// What it had to be.
        expected: Kind,
        /// What it is.
        found: Kind,
    },
}

/// Outcome for one record of an append.
pub type ItemResult = std::result::Result<Appended, Rejected>;

/// An epoch held in memory (epochs are few and consulted by every query).
#[derive(Debug, Clone, PartialEq)]
pub struct EpochEntry {
    /// Epoch record id.
    pub id: RecordId,
    /// The epoch.
    pub epoch: Epoch,
    /// Where it is in the log.
    pub pos: LogPos,
}

/// A record read back with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// The record.
    pub record: SignedRecord,
    /// Its log position.
    pub pos: LogPos,
}

/// State shared between handles and the commit thread.
pub(crate) struct Shared {
    pub(crate) failed: Mutex<Option<String>>,
    pub(crate) epochs: RwLock<Vec<EpochEntry>>,
    pub(crate) queued: AtomicUsize,
    /// End of the log (`segment << 32 | offset`), updated after each commit.
    pub(crate) log_end: AtomicU64,
    /// Per-partition Merkle bucket digests of every stored record.
    pub(crate) digests: BucketDigests,
}

/// What [`Store::verify`] checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records read and re-hashed from the log.
    pub records: u64,
    /// Records whose signature was checked.
    pub signatures: u64,
    /// Problems found (empty when healthy).
    pub problems: Vec<String>,
}

/// What opening the store did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Log recovery.
    pub recovery: RecoveryReport,
    /// Records replayed into the index from the checkpoint.
    pub replayed: u64,
    /// Whether the index had to be rebuilt from scratch.
    pub rebuilt: bool,
    /// Whether the Merkle bucket digests were loaded as the last clean close
    /// saved them (otherwise they were computed: from the `ids` index, or
    /// by a bulk replay).
    pub digests_saved: bool,
    /// Wall time of opening.
    pub elapsed_ms: u64,
}

/// The durable record store. Cheap to clone; all clones share one committer.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    idx: Arc<Indexes>,
    reader: Arc<LogReader>,
    shared: Arc<Shared>,
    tx: Mutex<Option<SyncSender<Command>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    cfg: StoreConfig,
    report: OpenReport,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

impl Store {
    /// Opens or creates a store: recovers the log tail, replays records past
    /// the index checkpoint, and starts the commit thread.
    pub fn open(cfg: StoreConfig) -> Result<Store> {
        cfg.check().map_err(StorageError::Config)?;
        let started = Instant::now();
        let log_dir = cfg.data_dir.join("log");
        let (writer, reader, recovery) =
            LogWriter::open(&log_dir, cfg.segment_size, cfg.fsync, cfg.map_log_segments)?;
        let index_dir = cfg.data_dir.join("index");
        let damaged = |e| StorageError::opening_index(&index_dir, e);
        let mut idx = Indexes::open(&index_dir, &cfg).map_err(damaged)?;
        let end = writer.end();
        let start = LogPos::START;
        let (from, rebuilt) = match idx.checkpoint().map_err(damaged)? {
            Some(_) if idx.other_format().map_err(damaged)? => {
                tracing::warn!(
                    format = crate::index::FORMAT,
                    "index has an older layout; rebuilding it from the log"
                );
                (start, true)
            }
            Some(cp) if cp <= end => (cp, false),
            Some(cp) => {
                // The index covers log bytes that recovery cut (only possible
                // when the disk lost fsynced data): it must be rebuilt.
                tracing::warn!(checkpoint = %cp, log_end = %end, "index is ahead of the log; rebuilding");
                (start, true)
            }
            None => (start, false),
        };
        // Bulk runs only for a whole-log replay: they need an emptied index
        // directory (see `crate::bulk`), and a tail replay keeps the index
        // it extends — whose journal may still hold an online rebuild's
        // `clear`, which would wipe ingested tables on the next open.
        let bulk = from == start && wants_bulk(from, end, cfg.segment_size);
        let recreated = from == start && (rebuilt || bulk);
        if recreated {
            // Everything is replayed: start from an empty index directory
            // (nothing in it is needed without a checkpoint).
            drop(idx);
            idx = Indexes::recreate(&index_dir, &cfg)?;
        }
        let (replayed, bulk_digests) = replay(&idx, &reader, from, bulk)?;
        let idx = Arc::new(idx);
        idx.start_id_filter(recreated)?;
        let epochs = load_epochs(&idx, &reader)?;
        // A bulk replay computed them from every `ids` entry it wrote; a
        // clean close saved them if nothing was written since; otherwise the
        // `ids` index holds every stored record after tail replay.
        let saved = match (&bulk_digests, replayed) {
            (None, 0) => BucketDigests::saved(&idx, from)?,
            _ => None,
        };
        let digests_saved = saved.is_some();
        let digests = match bulk_digests.or(saved) {
            Some(d) => d,
            None => BucketDigests::load(&idx)?,
        };
        let shared = Arc::new(Shared {
            digests,
            failed: Mutex::new(None),
            epochs: RwLock::new(epochs),
            queued: AtomicUsize::new(0),
            log_end: AtomicU64::new(end.packed()),
        });
        let (tx, rx) = sync_channel(cfg.queue_depth);
        // Two written groups may wait for the index thread (see `crate::commit`).
        let (to_index, written) = sync_channel(2);
        let (indexed_tx, indexed) = std::sync::mpsc::channel();
        let apply_here = Indexer {
            idx: idx.clone(),
            reader: reader.clone(),
            shared: shared.clone(),
            broken: Default::default(),
        };
        let indexer = apply_here.clone();
        let indexer = std::thread::Builder::new()
            .name("stemedb-index".into())
            .spawn(move || indexer.run(written, indexed_tx))
            .map_err(|e| StorageError::io(&cfg.data_dir, e))?;
        let committer = Committer {
            log: writer,
            idx: idx.clone(),
            reader: reader.clone(),
            shared: shared.clone(),
            max_batch: cfg.max_batch_records,
            space: crate::space::SpaceGuard::new(&cfg.data_dir, cfg.min_free_bytes),
            to_index,
            indexed,
            indexer,
            apply_here,
            in_flight: crate::apply::IdMap::default(),
            groups_in_flight: 0,
        };
        let thread = std::thread::Builder::new()
            .name("stemedb-commit".into())
            .spawn(move || committer.run(rx))
            .map_err(|e| StorageError::io(&cfg.data_dir, e))?;
        let report = OpenReport {
            recovery,
            replayed,
            rebuilt,
            digests_saved,
            elapsed_ms: started.elapsed().as_millis() as u64,
        };
        tracing::info!(
            dir = %cfg.data_dir.display(), replayed, truncated_bytes = report.recovery.truncated_bytes,
            digests_saved, elapsed_ms = report.elapsed_ms, "store opened"
        );
        Ok(Store {
            inner: Arc::new(Inner {
                idx,
                reader,
                shared,
                tx: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
                cfg,
                report,
            }),
        })
    }

    /// The indexes (for verification).
    pub(crate) fn indexes(&self) -> &Indexes {
        &self.inner.idx
    }

    /// Committed extent of every segment: sealed segments whole, the active
    /// one up to the end of the last group commit. Taken at one log position,
    /// so it never includes a torn or unacknowledged frame; segments created
    /// after that position are left out.
    pub fn backup_extents(&self) -> Result<(LogPos, Vec<(u32, u64)>)> {
        let end = self.log_end();
        let mut out = Vec::new();
        for seg in self.inner.reader.segments()? {
            if seg > end.segment {
                break;
            }
            out.push((seg, self.committed_len_at(seg, end)?.unwrap_or(0)));
        }
        Ok((end, out))
    }

    /// Bytes of `segment` that are committed as of now; `None` if the segment
    /// does not exist (yet).
    pub fn committed_len(&self, segment: u32) -> Result<Option<u64>> {
        self.committed_len_at(segment, self.log_end())
    }

    fn committed_len_at(&self, segment: u32, end: LogPos) -> Result<Option<u64>> {
        if segment > end.segment || segment == 0 {
            return Ok(None);
        }
        if segment == end.segment {
            return Ok(Some(u64::from(end.offset)));
        }
        let path = crate::log::segment_path(&self.inner.cfg.data_dir.join("log"), segment);
        match std::fs::metadata(&path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StorageError::io(&path, e)),
        }
    }

    /// Path of a segment file (for streaming a backup).
    pub fn segment_path(&self, segment: u32) -> std::path::PathBuf {
        crate::log::segment_path(&self.inner.cfg.data_dir.join("log"), segment)
    }

    /// What recovery and replay did on open.
    pub fn open_report(&self) -> &OpenReport {
        &self.inner.report
    }

    /// Whether the filter of known ids answers lookups yet: it is filled by
    /// a scan of the stored ids after open (until then every lookup asks
    /// the index; a store opened empty or rebuilt whole is ready at once).
    pub fn id_filter_ready(&self) -> bool {
        self.inner.idx.id_filter_ready()
    }

    /// Bytes the filter of known ids takes (at most `id_filter_bytes`).
    pub fn id_filter_bytes(&self) -> usize {
        self.inner.idx.id_filter_bytes()
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.cfg
    }

    /// Sends the commit thread a command carrying a reply channel and waits
    /// for its answer.
    fn ask<T>(&self, command: impl FnOnce(oneshot::Sender<Result<T>>) -> Command) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.sender()?
            .send(command(tx))
            .map_err(|_| StorageError::Closed)?;
        rx.blocking_recv().map_err(|_| StorageError::Closed)?
    }

    fn sender(&self) -> Result<SyncSender<Command>> {
        self.inner
            .tx
            .lock()
            .map_err(|_| StorageError::Closed)?
            .clone()
            .ok_or(StorageError::Closed)
    }

    /// Verifies signatures (as one batch), then appends every valid record
    /// with one group commit. Returns one result per input record, in order.
    /// Blocks while the queue is full. Returns after the records are fsynced
    /// and indexed.
    pub fn append(&self, records: Vec<SignedRecord>) -> Result<Vec<ItemResult>> {
        self.append_inner(records, true)
    }

    /// Like [`Store::append`] but fails with [`StorageError::Overloaded`]
    /// instead of waiting when the queue is full.
    pub fn try_append(&self, records: Vec<SignedRecord>) -> Result<Vec<ItemResult>> {
        self.append_inner(records, false)
    }

    /// Async form of [`Store::try_append`] for a few records: verifies
    /// signatures on the calling task, queues without blocking (a full queue
    /// is [`StorageError::Overloaded`]) and awaits the group commit, so no
    /// thread is parked per request.
    pub async fn append_async(&self, records: Vec<SignedRecord>) -> Result<Vec<ItemResult>> {
        let (slots, valid) = self.precheck(records)?;
        let committed = if valid.is_empty() {
            Vec::new()
        } else {
            let rx = self.enqueue(valid, false)?;
            rx.await.map_err(|_| StorageError::Closed)??
        };
        Ok(merge(slots, committed))
    }

    fn append_inner(&self, records: Vec<SignedRecord>, wait: bool) -> Result<Vec<ItemResult>> {
        let (slots, valid) = self.precheck(records)?;
        let committed = if valid.is_empty() {
            Vec::new()
        } else {
            let rx = self.enqueue(valid, wait)?;
            rx.blocking_recv().map_err(|_| StorageError::Closed)??
        };
        Ok(merge(slots, committed))
    }

    /// Refuses when failed; verifies signatures as one batch. Returns a slot
    /// per input (filled for rejected records) and the records to commit.
    fn precheck(
        &self,
        records: Vec<SignedRecord>,
    ) -> Result<(Vec<Option<ItemResult>>, Vec<SignedRecord>)> {
        if let Some(why) = self.inner.shared.failed.lock().ok().and_then(|f| f.clone()) {
            return Err(StorageError::Failed(why));
        }
        let checks = sign::verify_batch(&records.iter().collect::<Vec<_>>());
        let mut slots = Vec::with_capacity(records.len());
        let mut valid = Vec::with_capacity(records.len());
        for (rec, check) in records.into_iter().zip(checks) {
            match check {
                Ok(()) => {
                    slots.push(None);
                    valid.push(rec);
                }
                Err(e) => slots.push(Some(Err(Rejected::Invalid(e)))),
            }
        }
        Ok((slots, valid))
    }

    fn enqueue(
        &self,
        records: Vec<SignedRecord>,
        wait: bool,
    ) -> Result<oneshot::Receiver<Result<Vec<ItemResult>>>> {
        let (tx, rx) = oneshot::channel();
        let sender = self.sender()?;
        let shared = &self.inner.shared;
        shared.queued.fetch_add(1, Ordering::Relaxed);
        let sent = if wait {
            sender
                .send(Command::Append(records, tx))
                .map_err(|_| StorageError::Closed)
        } else {
            sender
                .try_send(Command::Append(records, tx))
                .map_err(|e| match e {
                    TrySendError::Full(_) => StorageError::Overloaded(self.inner.cfg.queue_depth),
                    TrySendError::Disconnected(_) => StorageError::Closed,
                })
        };
        if let Err(e) = sent {
            shared.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(e);
        }
        Ok(rx)
    }

    /// Why the store refuses writes after a failed log write or fsync
    /// (`None` while healthy). Reads keep working.
    pub fn failure(&self) -> Option<String> {
        match self.inner.shared.failed.lock() {
            Ok(f) => f.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Bytes available on the data directory's file system when that is
    /// below `min_free_bytes` (writes are refused), `None` otherwise.
    pub fn below_free_floor(&self) -> Option<u64> {
        crate::space::below_floor(&self.inner.cfg.data_dir, self.inner.cfg.min_free_bytes)
    }

    /// Requests waiting for the commit thread.
    pub fn queued(&self) -> usize {
        self.inner.shared.queued.load(Ordering::Relaxed)
    }

    /// Drops every index and rebuilds it from the log; writes wait meanwhile.
    pub fn rebuild(&self) -> Result<u64> {
        self.ask(Command::Rebuild)
    }

    /// Seals the active log segment if it holds any frame, so it can be
    /// archived; returns the sealed segment's number (`None`: nothing to
    /// seal). Appends queued before it land in the sealed segment, later ones
    /// in the next.
    pub fn seal_active_segment(&self) -> Result<Option<u32>> {
        self.ask(Command::Seal)
    }

    /// Sealed segments: every segment before the active one, each exact and
    /// immutable (fsynced before the next segment got its first frame).
    pub fn sealed_segments(&self) -> Result<Vec<u32>> {
        let active = self.log_end().segment;
        Ok(self
            .inner
            .reader
            .segments()?
            .into_iter()
            .filter(|s| *s < active)
            .collect())
    }

    /// Re-reads the whole log: every frame's CRC, every record re-decoded and
    /// re-hashed, every signature verified, and every record found in the id
    /// index at its position.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        self.inner.reader.scan_from(LogPos::START, |pos, payload| {
            report.records += 1;
            match SignedRecord::from_stored(payload) {
                Err(e) => report.problems.push(format!("{pos}: {e}")),
                Ok(rec) => {
                    if rec.signature().is_some() {
                        report.signatures += 1;
                        if let Err(e) = sign::verify(&rec) {
                            report.problems.push(format!("{pos} {}: {e}", rec.id()));
                        }
                    }
                    match self.inner.idx.lookup(rec.id())? {
                        Some((_, p)) if p == pos => {}
                        Some((_, p)) => report
                            .problems
                            .push(format!("{}: indexed at {p}, stored at {pos}", rec.id())),
                        None => report
                            .problems
                            .push(format!("{}: not in the id index", rec.id())),
                    }
                }
            }
            Ok(())
        })?;
        Ok(report)
    }

    /// Digest of every index keyspace (equal digests = identical indexes).
    pub fn index_digest(&self) -> Result<[u8; 32]> {
        self.inner.idx.digest()
    }

    /// Flushes index memtables to disk tables (see [`Indexes::flush`]).
    pub fn flush_indexes(&self) -> Result<()> {
        self.inner.idx.flush()
    }

    /// Entry counts per index keyspace.
    pub fn index_counts(&self) -> Result<Vec<(&'static str, usize)>> {
        self.inner.idx.counts()
    }

    /// Bytes on disk: (log, index). The log counts written bytes, not the
    /// space preallocated ahead of them in the active segment.
    pub fn disk_usage(&self) -> Result<(u64, u64)> {
        let end = self.log_end();
        let mut log = u64::from(end.offset);
        for seg in self
            .inner
            .reader
            .segments()?
            .into_iter()
            .filter(|s| *s < end.segment)
        {
            let path = self
                .inner
                .cfg
                .data_dir
                .join("log")
                .join(format!("{seg:010}.seg"));
            log += std::fs::metadata(&path)
                .map_err(|e| StorageError::io(&path, e))?
                .len();
        }
        Ok((log, self.inner.idx.disk_space()?))
    }

    /// Position just past the last committed record.
    pub fn log_end(&self) -> LogPos {
        LogPos::from_packed(self.inner.shared.log_end.load(Ordering::Acquire))
    }

    /// Approximate number of stored records.
    pub fn approximate_len(&self) -> usize {
        self.inner.idx.ids.approximate_len()
    }

    /// Stops the commit thread after it finishes queued work. Every
    /// acknowledged record is already durable; this only waits for in-flight ones.
    pub fn close(&self) {
        if let Ok(mut tx) = self.inner.tx.lock() {
            tx.take();
        }
        if let Some(t) = self.inner.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

/// Puts committed results into the slots left open by [`Store::precheck`].
fn merge(slots: Vec<Option<ItemResult>>, committed: Vec<ItemResult>) -> Vec<ItemResult> {
    let mut committed = committed.into_iter();
    slots
        .into_iter()
        .map(|slot| {
            slot.or_else(|| committed.next()).unwrap_or_else(|| {
                // The committer answers every record it was given; a short
                // answer would be a bug, reported rather than hidden.
                Err(Rejected::Invalid(ValidationError::new(
                    stemedb_records::ErrorCode::InvalidValue,
                    "record",
                    "the commit thread returned fewer results than records",
                )))
            })
        })
        .collect()
}

pub(crate) fn load_epochs(idx: &Indexes, reader: &LogReader) -> Result<Vec<EpochEntry>> {
    let mut out = Vec::new();
    for kv in idx.epoch.iter() {
        let k = kv.key()?;
        if let Some(pos) = LogPos::from_bytes(&k) {
            let rec = SignedRecord::from_stored(&reader.read(pos)?)?;
            if let Record::Epoch(e) = rec.record() {
                out.push(EpochEntry {
                    id: rec.id(),
                    epoch: e.clone(),
                    pos,
                });
            }
        }
    }
    Ok(out)
}

/// Opens the store at `dir` with defaults.
pub fn open_default(dir: &Path) -> Result<Store> {
    Store::open(StoreConfig::new(dir))
}

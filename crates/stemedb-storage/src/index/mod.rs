//! Indexes derived from the log, kept in fjall keyspaces.
//!
//! | keyspace | key | value |
//! |---|---|---|
//! | `ids` | id | kind ‖ pos ‖ partition u16 |
//! | `sp` | subject ‖ 0 ‖ predicate ‖ 0 ‖ ts ‖ pos | kind (assertions, and retractions/votes under their target's pair) |
//! | `agent` | signer ‖ 0 ‖ pos | kind |
//! | `target` | target id ‖ kind ‖ pos | — |
//! | `trust` | agent ‖ 0 ‖ ts ‖ pos | score f64 LE ‖ id |
//! | `epoch` | pos | — |
//! | `children` | parent id ‖ pos | — |
//! | `meta` | `checkpoint` | pos just past the last applied frame |
//! | `meta` | `digests` | bucket digests saved at a clean close (see [`crate::digest`]) |
//! | `meta` | `format` | [`FORMAT`]: the layout of these keyspaces |
//!
//! The index engine never fsyncs: the log is the commit point, and the
//! checkpoint is written in the same atomic batch as the entries it covers,
//! so after a crash the index is a prefix of the log and replay fills the rest.

mod id_filter;
pub mod keys;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use fjall::config::{CompressionPolicy, FilterPolicy, PartitioningPolicy};
use fjall::{CompressionType, Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch};
use stemedb_records::{Kind, Record, RecordId, SignedRecord};

use crate::config::StoreConfig;
use crate::error::Result;
use crate::log::LogPos;
use crate::partition;
use id_filter::IdFilter;

const CHECKPOINT: &[u8] = b"checkpoint";
const DIGESTS: &[u8] = b"digests";
const FORMAT_KEY: &[u8] = b"format";

/// Layout of the index keyspaces. 2: the partition lives in the `ids` value
/// (format 1, unmarked, kept a separate `part` keyspace of `partition ‖ id`).
/// An index of another layout is rebuilt from the log on open.
pub const FORMAT: u8 = 2;

/// Keyspaces read by key (point lookups); they keep bloom filters.
const POINT_READ: [&str; 2] = ["ids", "meta"];

/// Keyspaces keyed by random record ids, which compression cannot shrink.
/// Compression is fixed when a keyspace is created (fjall keeps it), so an
/// index created by an older version keeps its policy until the index
/// directory is recreated (a restore, or an open that replays the whole log).
const RANDOM_KEYS: [&str; 1] = ["ids"];

/// Names of all index keyspaces (excluding `meta`).
pub const KEYSPACES: [&str; 7] = ["ids", "sp", "agent", "target", "trust", "epoch", "children"];

/// The fjall database and its keyspaces.
pub struct Indexes {
    db: Database,
    pub(crate) ids: Keyspace,
    pub(crate) sp: Keyspace,
    pub(crate) agent: Keyspace,
    pub(crate) target: Keyspace,
    pub(crate) trust: Keyspace,
    pub(crate) epoch: Keyspace,
    pub(crate) children: Keyspace,
    meta: Keyspace,
    write_buffer_bytes: u64,
    /// Answers "certainly not stored" for most new ids (see [`id_filter`]).
    id_filter: Arc<IdFilter>,
    /// The start-up scan that fills `id_filter`, and its stop flag.
    id_scan: Mutex<Option<(JoinHandle<()>, Arc<AtomicBool>)>>,
}

/// Where a retraction or vote is filed: its target's subject and predicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Target subject.
    pub subject: String,
    /// Target predicate.
    pub predicate: String,
}

/// Where a record is filed, decided once when it is appended (or replayed):
/// its partition, and for a retraction or vote its target's subject and
/// predicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filed {
    /// The record's partition: its subject's for an assertion, its target's
    /// subject's for a retraction or vote (`GLOBAL` when the target is not
    /// stored), `GLOBAL` for trust and epochs.
    pub partition: u16,
    /// A retraction's or vote's target placement (`None` for other kinds).
    pub target: Option<Placement>,
}

impl Filed {
    /// Files `rec`, given its target's placement when it is a retraction or vote.
    pub fn of(rec: &SignedRecord, target: Option<Placement>) -> Filed {
        match rec.record() {
            Record::Assertion(a) => Filed {
                partition: partition::of_subject(&a.subject),
                target: None,
            },
            Record::Retraction(_) | Record::Vote(_) => Filed {
                partition: target
                    .as_ref()
                    .map_or(partition::GLOBAL, |p| partition::of_subject(&p.subject)),
                target,
            },
            Record::Trust(_) | Record::Epoch(_) => Filed {
                partition: partition::GLOBAL,
                target: None,
            },
        }
    }
}

/// One index keyspace (the `meta` keyspace is not one: it holds no entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum IndexKeyspace {
    Ids,
    Sp,
    Agent,
    Target,
    Trust,
    Epoch,
    Children,
}

impl IndexKeyspace {
    /// Every index keyspace, in [`KEYSPACES`] order.
    pub(crate) const ALL: [IndexKeyspace; 7] = [
        IndexKeyspace::Ids,
        IndexKeyspace::Sp,
        IndexKeyspace::Agent,
        IndexKeyspace::Target,
        IndexKeyspace::Trust,
        IndexKeyspace::Epoch,
        IndexKeyspace::Children,
    ];
}

/// Calls `put` with every index entry of `rec` at `pos` (keyspace, key,
/// value). The one definition of what a record indexes, whether the entries
/// go into a write batch (commits, short replays) or a bulk run.
pub(crate) fn entries(
    rec: &SignedRecord,
    pos: LogPos,
    filed: &Filed,
    mut put: impl FnMut(IndexKeyspace, Vec<u8>, Vec<u8>),
) {
    use IndexKeyspace as K;
    let id = rec.id();
    let kind = rec.record().kind();
    put(
        K::Ids,
        id.as_bytes().to_vec(),
        keys::id_value(kind, pos, filed.partition).to_vec(),
    );
    put(
        K::Agent,
        keys::name_pos(rec.record().signer(), pos),
        vec![kind as u8],
    );
    match rec.record() {
        Record::Assertion(a) => {
            put(
                K::Sp,
                keys::sp(&a.subject, &a.predicate, a.timestamp, pos),
                vec![kind as u8],
            );
            if let Some(parent) = a.parent {
                put(K::Children, keys::id_pos(parent, pos), Vec::new());
            }
        }
        Record::Retraction(_) | Record::Vote(_) => {
            if let Some(target) = rec.record().target() {
                put(K::Target, keys::target(target, kind, pos), Vec::new());
            }
            match &filed.target {
                Some(p) => put(
                    K::Sp,
                    keys::sp(&p.subject, &p.predicate, rec.record().timestamp(), pos),
                    vec![kind as u8],
                ),
                None => {
                    tracing::warn!(%id, "retraction or vote whose target is unknown; indexed by target only");
                }
            }
        }
        Record::Trust(t) => {
            let mut v = t.score.to_le_bytes().to_vec();
            v.extend_from_slice(id.as_bytes());
            put(K::Trust, keys::trust(&t.agent, t.timestamp, pos), v);
        }
        Record::Epoch(_) => {
            put(K::Epoch, pos.to_bytes().to_vec(), Vec::new());
        }
    }
}

impl Indexes {
    /// Opens or creates the index database under `dir`.
    pub fn open(dir: &Path, cfg: &StoreConfig) -> Result<Self> {
        let db = Database::builder(dir)
            .cache_size(cfg.index_cache_bytes)
            .max_journaling_size(cfg.index_journal_bytes.max(64 * 1024 * 1024))
            .manual_journal_persist(true)
            .worker_threads(cfg.index_workers.max(1))
            .open()?;
        let memtable = (cfg.index_write_buffer_bytes / KEYSPACES.len() as u64).max(1 << 20);
        let ks = |name: &str| {
            db.keyspace(name, || {
                let mut opts = KeyspaceCreateOptions::default().max_memtable_size(memtable);
                // Keys that repeat long prefixes (subject and predicate, agent
                // names) compress to less than half with LZ4 at every level;
                // fjall's default leaves the first two levels uncompressed,
                // which at a few million records is nearly all of the data.
                // Random ids do not compress and keep the default.
                if !RANDOM_KEYS.contains(&name) {
                    opts = opts.data_block_compression_policy(CompressionPolicy::all(
                        CompressionType::Lz4,
                    ));
                }
                // Only `ids` (and `meta`) are read by key; every other
                // keyspace is only scanned by prefix, which bloom filters
                // cannot answer. Without filters their tables are smaller
                // and flushes, compactions and bulk runs skip hashing every key.
                if POINT_READ.contains(&name) {
                    // A lookup in a table whose filter is one whole block
                    // loads all of it (about 1.25 bytes per key: ~2 MB for
                    // a 64 MiB table); fjall pins that block only in L0, so
                    // once L1 and L2 outgrow the block cache every lookup
                    // that gets past the id filter reads megabytes.
                    // Partitioned from L1 on, a lookup reads one small
                    // partition and index block (their top-level indexes
                    // are pinned). Fixed when a keyspace is created, like
                    // compression.
                    opts.filter_block_partitioning_policy(PartitioningPolicy::new([false, true]))
                        .index_block_partitioning_policy(PartitioningPolicy::new([false, true]))
                } else {
                    opts.filter_policy(FilterPolicy::disabled())
                }
            })
        };
        let ids = ks("ids")?;
        let id_filter = IdFilter::new(
            usize::try_from(cfg.id_filter_bytes).unwrap_or(usize::MAX),
            ids.approximate_len(),
        );
        Ok(Indexes {
            ids,
            sp: ks("sp")?,
            agent: ks("agent")?,
            target: ks("target")?,
            trust: ks("trust")?,
            epoch: ks("epoch")?,
            children: ks("children")?,
            meta: ks("meta")?,
            write_buffer_bytes: cfg.index_write_buffer_bytes,
            id_filter: Arc::new(id_filter),
            id_scan: Mutex::new(None),
            db,
        })
    }

    /// Discards the index database under `dir` and opens an empty one. The
    /// caller has dropped its handle (dropping a fjall database waits for its
    /// background workers). The directory's contents are removed, not the
    /// directory: it may be a mount point (the index on its own disk).
    pub fn recreate(dir: &Path, cfg: &StoreConfig) -> Result<Self> {
        let io = |p: &Path, e| crate::error::StorageError::io(p, e);
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry.map_err(|e| io(dir, e))?;
                    let path = entry.path();
                    let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                    let removed = if is_dir {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                    removed.map_err(|e| io(&path, e))?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(dir, e)),
        }
        Indexes::open(dir, cfg)
    }

    fn all(&self) -> [(&'static str, &Keyspace); 7] {
        [
            ("ids", &self.ids),
            ("sp", &self.sp),
            ("agent", &self.agent),
            ("target", &self.target),
            ("trust", &self.trust),
            ("epoch", &self.epoch),
            ("children", &self.children),
        ]
    }

    /// The log position everything before which is indexed.
    pub fn checkpoint(&self) -> Result<Option<LogPos>> {
        Ok(self
            .meta
            .get(CHECKPOINT)?
            .and_then(|v| LogPos::from_bytes(&v)))
    }

    /// Whether the entries the checkpoint covers have another layout than
    /// [`FORMAT`] (written by an older version): such an index is rebuilt.
    pub fn other_format(&self) -> Result<bool> {
        if self.checkpoint()?.is_none() {
            return Ok(false);
        }
        Ok(self.meta.get(FORMAT_KEY)?.as_deref() != Some(&[FORMAT][..]))
    }

    /// Kind and position of a record, if indexed.
    pub fn lookup(&self, id: RecordId) -> Result<Option<(Kind, LogPos)>> {
        if self.id_filter.absent(id.as_bytes()) {
            return Ok(None);
        }
        self.lookup_in_engine(id)
    }

    /// [`Indexes::lookup`] of each of `ids`, in order; the id filter is
    /// asked once for all of them.
    pub(crate) fn lookup_each(&self, ids: &[RecordId]) -> Result<Vec<Option<(Kind, LogPos)>>> {
        let absent: Vec<bool> = self
            .id_filter
            .absent_each(ids.iter().map(RecordId::as_bytes))
            .collect();
        ids.iter()
            .zip(absent)
            .map(|(id, absent)| match absent {
                true => Ok(None),
                false => self.lookup_in_engine(*id),
            })
            .collect()
    }

    fn lookup_in_engine(&self, id: RecordId) -> Result<Option<(Kind, LogPos)>> {
        Ok(self
            .ids
            .get(id.as_bytes())?
            .and_then(|v| keys::parse_id_value(&v))
            .map(|v| (v.kind, v.pos)))
    }

    /// Notes that `ids` entries for `ids` are about to be written (every
    /// writer of `ids` entries calls this first; see [`id_filter`]).
    pub(crate) fn note_ids<'a>(&self, ids: impl IntoIterator<Item = &'a [u8; 32]>) {
        self.id_filter.add_all(ids);
    }

    /// Starts filling the id filter with the ids stored before this open,
    /// on a background thread; lookups use the filter once it is done. An
    /// empty index, or one this open filled from the log (`all_noted`: every
    /// id went through [`Indexes::note_ids`]), needs no scan. Called once,
    /// when the store has opened. Should the scan not start, lookups keep
    /// asking the index.
    pub(crate) fn start_id_filter(&self, all_noted: bool) -> Result<()> {
        if self.id_filter.bytes() == 0 {
            return Ok(());
        }
        if all_noted || self.ids.is_empty()? {
            self.id_filter.set_ready();
            return Ok(());
        }
        let ids = self.ids.clone();
        let filter = self.id_filter.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        match std::thread::Builder::new()
            .name("stemedb-id-filter".into())
            .spawn(move || scan_ids(&ids, &filter, &stopped))
        {
            Ok(scan) => {
                *self.id_scan.lock().unwrap_or_else(PoisonError::into_inner) = Some((scan, stop));
            }
            Err(e) => {
                tracing::warn!(error = %e, "id filter scan not started; lookups ask the index")
            }
        }
        Ok(())
    }

    /// Whether the id filter answers lookups (its start-up scan finished).
    pub fn id_filter_ready(&self) -> bool {
        self.id_filter.is_ready()
    }

    /// Bytes the id filter's layers take.
    pub fn id_filter_bytes(&self) -> usize {
        self.id_filter.bytes()
    }

    /// Starts an atomic batch.
    pub fn batch(&self) -> OwnedWriteBatch {
        self.db.batch()
    }

    /// The fjall keyspace of `ks`.
    pub(crate) fn keyspace(&self, ks: IndexKeyspace) -> &Keyspace {
        match ks {
            IndexKeyspace::Ids => &self.ids,
            IndexKeyspace::Sp => &self.sp,
            IndexKeyspace::Agent => &self.agent,
            IndexKeyspace::Target => &self.target,
            IndexKeyspace::Trust => &self.trust,
            IndexKeyspace::Epoch => &self.epoch,
            IndexKeyspace::Children => &self.children,
        }
    }

    /// The memtable budget across keyspaces, which also bounds a bulk
    /// replay's sort buffer.
    pub(crate) fn write_buffer_bytes(&self) -> u64 {
        self.write_buffer_bytes
    }

    /// The bucket digests saved at the last clean close, as saved.
    pub(crate) fn saved_digests(&self) -> Result<Option<fjall::Slice>> {
        Ok(self.meta.get(DIGESTS)?)
    }

    /// Saves the bucket digests (see [`crate::digest::BucketDigests::save`]).
    pub(crate) fn save_digests(&self, value: Vec<u8>) -> Result<()> {
        Ok(self.meta.insert(DIGESTS, value)?)
    }

    /// Records the applied position in `b`.
    /// The layout marker goes with it, so a checkpoint is never seen
    /// without the [`FORMAT`] of the entries it covers.
    pub fn set_checkpoint(&self, b: &mut OwnedWriteBatch, end: LogPos) {
        b.insert(&self.meta, CHECKPOINT, end.to_bytes().to_vec());
        b.insert(&self.meta, FORMAT_KEY, [FORMAT].to_vec());
    }

    /// Removes every index entry and the checkpoint (for rebuild).
    pub fn clear(&self) -> Result<()> {
        for (_, ks) in self.all() {
            ks.clear()?;
        }
        self.meta.clear()?;
        Ok(())
    }

    /// A BLAKE3 digest over every keyspace's keys and values in order; two
    /// index states are identical exactly when their digests are.
    pub fn digest(&self) -> Result<[u8; 32]> {
        let mut h = blake3::Hasher::new();
        for (name, ks) in self.all() {
            h.update(name.as_bytes());
            for kv in ks.iter() {
                let (k, v) = kv.into_inner()?;
                h.update(&(k.len() as u64).to_le_bytes());
                h.update(&k);
                h.update(&(v.len() as u64).to_le_bytes());
                h.update(&v);
            }
        }
        Ok(*h.finalize().as_bytes())
    }

    /// Entry counts per keyspace (exact; walks every keyspace).
    pub fn counts(&self) -> Result<Vec<(&'static str, usize)>> {
        self.all()
            .into_iter()
            .map(|(n, ks)| Ok((n, ks.len()?)))
            .collect()
    }

    /// Writes every memtable out to disk tables and waits, so the journal can
    /// be dropped: on-disk size then reflects steady state, and a restart has
    /// no journal to replay.
    pub fn flush(&self) -> Result<()> {
        for (_, ks) in self.all() {
            ks.rotate_memtable_and_wait()?;
        }
        self.meta.rotate_memtable_and_wait()?;
        self.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }

    /// Bytes the index engine occupies on disk.
    pub fn disk_space(&self) -> Result<u64> {
        Ok(self.db.disk_space()?)
    }
}

impl Drop for Indexes {
    /// Stops the id filter scan, which holds a handle on the `ids` keyspace.
    fn drop(&mut self) {
        let scan = self
            .id_scan
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((thread, stop)) = scan {
            stop.store(true, Ordering::Relaxed);
            if thread.join().is_err() {
                tracing::warn!("the id filter scan panicked");
            }
        }
    }
}

/// Adds every stored id to `filter`, then marks it ready. Ids written
/// meanwhile are added by their writers. On an error or a stop the filter
/// stays unready: lookups keep asking the index.
fn scan_ids(ids: &Keyspace, filter: &IdFilter, stop: &AtomicBool) {
    let started = Instant::now();
    let mut n = 0u64;
    for (i, kv) in ids.iter().enumerate() {
        if i.is_multiple_of(4096) && stop.load(Ordering::Relaxed) {
            return;
        }
        let key = match kv.key() {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(error = %e, "id filter scan failed; lookups ask the index");
                return;
            }
        };
        if let Ok(id) = <[u8; 32]>::try_from(&key[..]) {
            filter.add(&id);
            n += 1;
        }
    }
    filter.set_ready();
    tracing::info!(
        ids = n,
        bytes = filter.bytes(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "id filter ready"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> RecordId {
        RecordId::of(&n.to_le_bytes())
    }

    /// `ids` lookups stay exact, for stored and unknown ids, once the tables
    /// have been compacted into the levels whose filters and block indexes
    /// are partitioned.
    #[test]
    fn lookups_are_exact_in_partitioned_tables() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut cfg = StoreConfig::new(dir.path());
        cfg.id_filter_bytes = 0; // every lookup asks the engine
        let idx = Indexes::open(dir.path(), &cfg).expect("open");
        let stored = 60_000u32;
        for round in 0..3 {
            for n in (round..stored).step_by(3) {
                let pos = LogPos {
                    segment: 1,
                    offset: n,
                };
                idx.ids
                    .insert(
                        id(n).as_bytes(),
                        keys::id_value(Kind::Assertion, pos, (n % 256) as u16),
                    )
                    .expect("insert");
            }
            idx.ids.rotate_memtable_and_wait().expect("flush");
        }
        idx.ids.major_compact().expect("compact");
        for n in 0..stored {
            let pos = LogPos {
                segment: 1,
                offset: n,
            };
            assert_eq!(
                idx.lookup(id(n)).expect("lookup"),
                Some((Kind::Assertion, pos))
            );
        }
        for n in stored..2 * stored {
            assert_eq!(idx.lookup(id(n)).expect("lookup"), None);
        }
    }
}

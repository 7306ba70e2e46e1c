//! Store configuration and its memory bounds.

use std::path::PathBuf;

/// How a store is opened. Every field has a default sized for a small server.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Root directory: `log/` holds segments, `index/` the fjall database.
    pub data_dir: PathBuf,
    /// A segment is sealed and a new one started once it reaches this many bytes.
    pub segment_size: u64,
    /// Write requests waiting for the committer; beyond it writes get `Overloaded`.
    pub queue_depth: usize,
    /// Most records one group commit (one fsync) takes.
    pub max_batch_records: usize,
    /// Block cache of the index engine, bytes.
    pub index_cache_bytes: u64,
    /// Memtable budget of the index engine across keyspaces, bytes.
    pub index_write_buffer_bytes: u64,
    /// Journal budget of the index engine before it forces flushes, bytes.
    pub index_journal_bytes: u64,
    /// Most bytes the filter of known record ids may take (it answers
    /// "certainly new" without an index lookup); 0 turns it off. 64 MiB
    /// serves about 44M ids; beyond that, about 1.5 bytes per id.
    pub id_filter_bytes: u64,
    /// Background threads of the index engine (memtable flushes and
    /// compactions), 2 ..= 64. fjall's first worker keeps itself free for
    /// flushes and hands every compaction request back to the queue, so
    /// with one other worker busy compacting it spins on that request;
    /// more workers take such requests off the queue.
    pub index_workers: usize,
    /// Read log segments through read-only memory maps instead of a `pread`
    /// per record (no system call per read; 5–40 % less server CPU per lens
    /// query, docs/benchmarks.md). A medium that fails under a mapped read
    /// ends the process (SIGBUS) where `pread` would fail one read: turn it
    /// off on disks that return read errors.
    pub map_log_segments: bool,
    /// Skip fsync (tests and benchmarks of non-durable paths only).
    pub fsync: bool,
    /// Group commits are refused (nothing written) while the data
    /// directory's file system has fewer bytes available; 0 turns it off.
    pub min_free_bytes: u64,
}

impl StoreConfig {
    /// Defaults for `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            data_dir: data_dir.into(),
            segment_size: 64 * 1024 * 1024,
            queue_depth: 4096,
            max_batch_records: 16_384,
            index_cache_bytes: 64 * 1024 * 1024,
            index_write_buffer_bytes: 256 * 1024 * 1024,
            index_journal_bytes: 256 * 1024 * 1024,
            id_filter_bytes: 64 * 1024 * 1024,
            index_workers: 4,
            map_log_segments: true,
            fsync: true,
            min_free_bytes: 64 * 1024 * 1024,
        }
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        if self.segment_size < 4096 || self.segment_size > (1 << 31) {
            return Err(format!(
                "segment_size must be between 4096 and {} bytes, got {}",
                1u64 << 31,
                self.segment_size
            ));
        }
        if self.queue_depth == 0 || self.max_batch_records == 0 {
            return Err("queue_depth and max_batch_records must be at least 1".into());
        }
        if !(MIN_INDEX_WORKERS..=MAX_INDEX_WORKERS).contains(&self.index_workers) {
            return Err(format!(
                "index_workers must be between {MIN_INDEX_WORKERS} and {MAX_INDEX_WORKERS}, got {}",
                self.index_workers
            ));
        }
        Ok(())
    }
}

/// Fewest index workers: with one, fjall's worker can block on its own full
/// queue (it sends flush requests to the queue it reads).
const MIN_INDEX_WORKERS: usize = 2;
/// Most index workers (threads beyond the cores only wait).
const MAX_INDEX_WORKERS: usize = 64;

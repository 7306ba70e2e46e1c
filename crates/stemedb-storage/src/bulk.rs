//! Bulk replay: a long replay (a restored or copied log, a lost index, an
//! index ahead of its log) into an empty index directory writes index tables
//! directly instead of inserting each entry into a memtable and the index
//! journal.
//!
//! One thread reads, CRC-checks, decodes and re-hashes frames and turns each
//! record into its index entries ([`crate::index::entries`], the same
//! definition the commit path uses), filed per keyspace. The calling thread
//! appends those buffers to the run's (up to half the memtable budget,
//! `index_write_buffer_bytes`);
//! a writer thread sorts each keyspace's entries and writes them as one
//! sorted table run per keyspace with fjall's ingestion, then writes the
//! checkpoint, while the next run gathers. Retractions
//! and votes are filed under their target's subject and predicate, so they
//! are indexed at the end of their run, once the run's own ids are sorted and
//! searchable (a target is only taken from an earlier log position, as in
//! sequential replay). For a key that occurs twice the later entry wins, as
//! when batches are applied in log order. Runs from successive chunks may
//! overlap in key range; the index engine merges them in compaction.
//!
//! A crash between a run's tables and its checkpoint replays that run again
//! on the next open; the entries are deterministic, so nothing changes.
//!
//! Only into an empty index *directory*: fjall's journal replays a keyspace
//! `clear` on every open until the journal file holding it is dropped, and
//! that would wipe tables ingested after the clear (write batches are
//! journaled and survive it). `Store::open` therefore empties the index
//! directory before a bulk replay, and an online rebuild uses batches.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use stemedb_records::{Kind, SignedRecord};

use crate::apply::{count_indexed, placement_at};
use crate::digest::BucketDigests;
use crate::error::{Result, StorageError};
use crate::index::{Filed, IndexKeyspace, Indexes, entries, keys};
use crate::log::{LogPos, LogReader};

/// Records per hand-off from the decoding thread.
const CHUNK: u64 = 512;
/// Chunks that may wait for the applying thread (bounds memory).
const QUEUE: usize = 16;
/// Memory counted per deferred record besides twice its stored size.
const DEFERRED_OVERHEAD: usize = 128;

/// Replays the log from `from` in bulk runs; returns records applied and
/// the bucket digests of the `ids` entries written (every record's: the
/// index directory was empty).
pub(crate) fn replay(
    idx: &Indexes,
    reader: &LogReader,
    from: LogPos,
) -> Result<(u64, BucketDigests)> {
    let digests = BucketDigests::new();
    let (tx, rx) = sync_channel::<Message>(QUEUE);
    std::thread::scope(|scope| {
        let decoder = std::thread::Builder::new()
            .name("stemedb-replay-decode".into())
            .spawn_scoped(scope, move || prepare(reader, from, &tx))
            .map_err(|e| StorageError::Failed(format!("starting replay decoder: {e}")))?;
        let applied = apply(idx, reader, &digests, &rx);
        // On an apply error the receiver goes away first, which stops the decoder.
        drop(rx);
        let _ = decoder.join();
        applied
    })
    .map(|n| (n, digests))
}

/// A chunk of records prepared by the decoding thread.
struct Prepared {
    /// Position of the chunk's first record.
    first: LogPos,
    /// Entries of its assertions, trust scores and epochs, per keyspace
    /// (appended to the run's buffers as blocks).
    entries: BulkEntries,
    /// Its retractions and votes, indexed when their run ends.
    deferred: Vec<(LogPos, SignedRecord)>,
    /// Memory the deferred records hold, estimated (counted in the run's budget).
    deferred_bytes: usize,
    /// Records per kind (`[kind - 1]`).
    per_kind: [u64; 5],
    records: u64,
}

impl Prepared {
    fn new() -> Self {
        Prepared {
            first: LogPos::START,
            entries: BulkEntries::default(),
            deferred: Vec::new(),
            deferred_bytes: 0,
            per_kind: [0; 5],
            records: 0,
        }
    }
}

enum Message {
    Prepared(Box<Prepared>),
    Failed(StorageError),
    /// The position just past the last frame.
    End(LogPos),
}

/// The decoding side: sends prepared chunks, then the end (or the first error).
fn prepare(reader: &LogReader, from: LogPos, tx: &SyncSender<Message>) {
    let mut chunk = Prepared::new();
    let scanned = reader.scan_from(from, |pos, payload| {
        let rec = SignedRecord::from_stored(payload)?;
        if chunk.records == 0 {
            chunk.first = pos;
        }
        let kind = rec.record().kind();
        chunk.per_kind[kind as usize - 1] += 1;
        chunk.records += 1;
        match kind {
            Kind::Retraction | Kind::Vote => {
                // The decoded record is about its stored size plus the structs around it.
                chunk.deferred_bytes += DEFERRED_OVERHEAD + 2 * payload.len();
                chunk.deferred.push((pos, rec));
            }
            Kind::Assertion | Kind::Trust | Kind::Epoch => {
                let filed = Filed::of(&rec, None);
                entries(&rec, pos, &filed, |ks, key, value| {
                    chunk.entries.put(ks, &key, &value);
                });
            }
        }
        if chunk.records == CHUNK {
            let full = std::mem::replace(&mut chunk, Prepared::new());
            tx.send(Message::Prepared(Box::new(full)))
                .map_err(|_| StorageError::Closed)?;
        }
        Ok(())
    });
    let last = match scanned {
        Ok(end) => {
            if chunk.records > 0 && tx.send(Message::Prepared(Box::new(chunk))).is_err() {
                return;
            }
            Message::End(end)
        }
        Err(e) => Message::Failed(e),
    };
    let _ = tx.send(last);
}

/// The applying side: gathers runs and has each written (sorted tables,
/// then its checkpoint) on a thread of its own while the next run gathers,
/// so decoding goes on while a run is sorted and written. A run is written
/// only after the one before it is complete: its retractions and votes may
/// look targets up in the earlier runs' tables, and checkpoints advance in
/// log order. At most two runs are held: the one being written and the one
/// gathering.
fn apply(
    idx: &Indexes,
    reader: &LogReader,
    digests: &BucketDigests,
    rx: &Receiver<Message>,
) -> Result<u64> {
    let budget = idx.write_buffer_bytes() / 2;
    std::thread::scope(|scope| {
        let mut run = Run::default();
        let mut writing: Option<std::thread::ScopedJoinHandle<'_, Result<()>>> = None;
        let mut total = 0u64;
        loop {
            match rx.recv() {
                Ok(Message::Prepared(p)) => {
                    if run.held() as u64 >= budget {
                        written(writing.take())?;
                        let full = std::mem::take(&mut run);
                        let end = p.first;
                        let handle = std::thread::Builder::new()
                            .name("stemedb-replay-run".into())
                            .spawn_scoped(scope, move || full.finish(idx, reader, digests, end))
                            .map_err(|e| {
                                StorageError::Failed(format!("starting a replay run writer: {e}"))
                            })?;
                        writing = Some(handle);
                    }
                    total += p.records;
                    run.add(*p);
                }
                Ok(Message::End(end)) => {
                    written(writing.take())?;
                    run.finish(idx, reader, digests, end)?;
                    return Ok(total);
                }
                Ok(Message::Failed(e)) => {
                    written(writing.take())?;
                    return Err(e);
                }
                Err(_) => {
                    written(writing.take())?;
                    return Err(StorageError::Failed(
                        "replay decoder stopped without reaching the end of the log".into(),
                    ));
                }
            }
        }
    })
}

/// Waits for a run's writer, if one is running, and returns its outcome.
fn written(writer: Option<std::thread::ScopedJoinHandle<'_, Result<()>>>) -> Result<()> {
    match writer {
        None => Ok(()),
        Some(h) => h
            .join()
            .map_err(|_| StorageError::Failed("replay run writer panicked".into()))?,
    }
}

/// One bulk run: entries, deferred retractions and votes, counts.
#[derive(Default)]
struct Run {
    entries: BulkEntries,
    deferred: Vec<(LogPos, SignedRecord)>,
    deferred_bytes: usize,
    per_kind: [u64; 5],
}

impl Run {
    fn add(&mut self, p: Prepared) {
        self.entries.append(p.entries);
        self.deferred.extend(p.deferred);
        self.deferred_bytes += p.deferred_bytes;
        for (n, k) in self.per_kind.iter_mut().zip(p.per_kind) {
            *n += k;
        }
    }

    /// Memory the run holds: its entries and its deferred records.
    fn held(&self) -> usize {
        self.entries.held() + self.deferred_bytes
    }

    /// Files the deferred records, writes the run's tables, then the
    /// checkpoint `end` (the position just past the run's last record);
    /// folds the run's `ids` entries into `digests`.
    fn finish(
        mut self,
        idx: &Indexes,
        reader: &LogReader,
        digests: &BucketDigests,
        end: LogPos,
    ) -> Result<()> {
        if !self.deferred.is_empty() {
            // File every deferred record first, then add their entries: the
            // searched `ids` entries must stay sorted while they are searched.
            self.entries.sort(IndexKeyspace::Ids);
            let deferred = std::mem::take(&mut self.deferred);
            let mut filed = Vec::with_capacity(deferred.len());
            for (pos, rec) in &deferred {
                let target = match rec.record().target() {
                    Some(t) => {
                        let found = match self.entries.find(IndexKeyspace::Ids, t.as_bytes()) {
                            Some(v) => keys::parse_id_value(v).map(|v| (v.kind, v.pos)),
                            None => idx.lookup(t)?,
                        };
                        // Only what precedes it in the log, as sequential replay sees it.
                        placement_at(reader, found.filter(|(_, at)| at < pos))?
                    }
                    None => None,
                };
                filed.push(Filed::of(rec, target));
            }
            for ((pos, rec), filed) in deferred.iter().zip(&filed) {
                entries(rec, *pos, filed, |ks, key, value| {
                    self.entries.put(ks, &key, &value);
                });
            }
        }
        self.entries.ingest(idx, digests)?;
        let mut batch = idx.batch();
        idx.set_checkpoint(&mut batch, end);
        batch.commit()?;
        count_indexed(&self.per_kind);
        Ok(())
    }
}

/// Sort-buffer overhead counted per entry besides its bytes.
const ITEM_OVERHEAD: usize = std::mem::size_of::<Item>();

/// Where one entry's key and value are in its keyspace's buffer, and the
/// key's first 16 bytes as a number, so most comparisons while sorting are
/// one integer comparison instead of a `memcmp`.
#[derive(Clone, Copy)]
struct Item {
    head: u128,
    off: usize,
    key_len: u32,
    value_len: u32,
}

/// The first 16 bytes of `key`, zero-padded, big-endian: ordering heads
/// orders keys, except that keys equal in their first 16 bytes (or a
/// shorter key and its zero-padded extension) need the full comparison.
fn head(key: &[u8]) -> u128 {
    let mut b = [0u8; 16];
    let n = key.len().min(16);
    b[..n].copy_from_slice(&key[..n]);
    u128::from_be_bytes(b)
}

/// One keyspace's entries: their bytes back to back, and where each is.
#[derive(Default)]
struct Entries {
    bytes: Vec<u8>,
    items: Vec<Item>,
}

impl Entries {
    fn key(&self, it: &Item) -> &[u8] {
        &self.bytes[it.off..it.off + it.key_len as usize]
    }

    fn value(&self, it: &Item) -> &[u8] {
        let start = it.off + it.key_len as usize;
        &self.bytes[start..start + it.value_len as usize]
    }

    /// Sorts by key; equal keys stay in the order they were added (buffer
    /// offsets grow with it).
    fn sort(&mut self) {
        let mut items = std::mem::take(&mut self.items);
        items.sort_unstable_by(|a, b| {
            a.head
                .cmp(&b.head)
                .then_with(|| self.key(a).cmp(self.key(b)))
                .then(a.off.cmp(&b.off))
        });
        self.items = items;
    }
}

/// Index entries of one run, per keyspace.
#[derive(Default)]
struct BulkEntries {
    per_keyspace: [Entries; 8],
    /// Buffer bytes held, including per-entry overhead.
    held: usize,
}

impl BulkEntries {
    fn put(&mut self, ks: IndexKeyspace, key: &[u8], value: &[u8]) {
        let e = &mut self.per_keyspace[ks as usize];
        e.items.push(Item {
            head: head(key),
            off: e.bytes.len(),
            key_len: key.len() as u32,
            value_len: value.len() as u32,
        });
        e.bytes.extend_from_slice(key);
        e.bytes.extend_from_slice(value);
        self.held += key.len() + value.len() + ITEM_OVERHEAD;
    }

    /// Appends another buffer's entries after this one's (a chunk's to its run).
    fn append(&mut self, other: BulkEntries) {
        for (mine, theirs) in self.per_keyspace.iter_mut().zip(other.per_keyspace) {
            if mine.items.is_empty() {
                *mine = theirs;
                continue;
            }
            let base = mine.bytes.len();
            mine.bytes.extend_from_slice(&theirs.bytes);
            mine.items.extend(theirs.items.into_iter().map(|it| Item {
                off: it.off + base,
                ..it
            }));
        }
        self.held += other.held;
    }

    fn held(&self) -> usize {
        self.held
    }

    fn sort(&mut self, ks: IndexKeyspace) {
        self.per_keyspace[ks as usize].sort();
    }

    /// The value of the last entry with `key` in a keyspace sorted by [`Self::sort`].
    fn find(&self, ks: IndexKeyspace, key: &[u8]) -> Option<&[u8]> {
        let e = &self.per_keyspace[ks as usize];
        let after = e.items.partition_point(|it| e.key(it) <= key);
        let it = e.items.get(after.checked_sub(1)?)?;
        (e.key(it) == key).then(|| e.value(it))
    }

    /// Sorts each keyspace's entries and writes them as new tables; the
    /// keyspaces are split between this thread and one more. The `ids`
    /// entries written are folded into `digests`.
    fn ingest(self, idx: &Indexes, digests: &BucketDigests) -> Result<()> {
        let mut work: Vec<(IndexKeyspace, Entries)> = IndexKeyspace::ALL
            .into_iter()
            .zip(self.per_keyspace)
            .filter(|(_, e)| !e.items.is_empty())
            .collect();
        // Largest first, dealt alternately: two halves of similar size.
        work.sort_by_key(|(_, e)| std::cmp::Reverse(e.bytes.len()));
        let (mine, theirs): (Vec<_>, Vec<_>) =
            work.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
        std::thread::scope(|scope| {
            let other = std::thread::Builder::new()
                .name("stemedb-replay-ingest".into())
                .spawn_scoped(scope, move || {
                    theirs
                        .into_iter()
                        .try_for_each(|(_, (ks, e))| ingest_keyspace(idx, ks, e, digests))
                })
                .map_err(|e| StorageError::Failed(format!("starting replay ingest: {e}")))?;
            let here = mine
                .into_iter()
                .try_for_each(|(_, (ks, e))| ingest_keyspace(idx, ks, e, digests));
            let there = other
                .join()
                .map_err(|_| StorageError::Failed("replay ingest thread panicked".into()))?;
            here.and(there)
        })
    }
}

/// Sorts one keyspace's entries and writes them as a new sorted table run;
/// `ids` entries written are folded into `digests`.
fn ingest_keyspace(
    idx: &Indexes,
    ks: IndexKeyspace,
    mut e: Entries,
    digests: &BucketDigests,
) -> Result<()> {
    e.sort();
    let ids = ks == IndexKeyspace::Ids;
    if ids {
        idx.note_ids(e.items.iter().filter_map(|it| e.key(it).try_into().ok()));
    }
    let mut ingestion = idx.keyspace(ks).start_ingestion()?;
    for (i, it) in e.items.iter().enumerate() {
        // Of equal keys, the last (latest in the log) is kept.
        if e.items
            .get(i + 1)
            .is_some_and(|next| next.head == it.head && e.key(next) == e.key(it))
        {
            continue;
        }
        ingestion.write(e.key(it), e.value(it))?;
        if ids {
            digests.fold_ids_entry(e.key(it), e.value(it));
        }
    }
    ingestion.finish()?;
    Ok(())
}

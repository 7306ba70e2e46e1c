//! Turning log frames into index entries: shared by the group-commit path,
//! tail replay on open, and full rebuild, so all three index identically.

use std::collections::HashMap;

use fjall::OwnedWriteBatch;
use stemedb_records::{Kind, RecordId, SignedRecord};

use crate::digest::BucketDigests;
use crate::error::Result;
use crate::index::{Filed, IndexKeyspace, Indexes, Placement, entries};
use crate::log::{LogPos, LogReader};

/// A map keyed by record id, with a seeded fast hash: every group commit
/// inserts and removes each of its ids in several such maps, where the
/// standard SipHash was up to ~2 % of a batch ingest's CPU. Ids are BLAKE3 hashes a
/// writer can grind for chosen bits, so the hash stays seeded per process.
pub(crate) type IdMap<V> = HashMap<RecordId, V, foldhash::fast::RandomState>;

/// Accumulates one atomic index batch.
pub(crate) struct Applier<'a> {
    idx: &'a Indexes,
    reader: &'a LogReader,
    /// Records added in this batch, not yet visible through the index.
    pending: IdMap<(Kind, LogPos)>,
    /// Index lookups done ahead (see [`Applier::prefetch`]). While an
    /// applier of the commit thread lives, the index changes only by groups
    /// that thread wrote, which it sees in `in_flight` (checked first).
    looked_up: IdMap<Option<(Kind, LogPos)>>,
    /// Records of earlier groups written to the log but not yet applied
    /// (see [`crate::commit`]); they count as stored.
    in_flight: Option<&'a IdMap<(Kind, LogPos)>>,
    /// Records added per kind, for metrics.
    per_kind: [u64; 5],
    /// Index entries of the records added, written sorted at commit.
    entries: Vec<(IndexKeyspace, Vec<u8>, Vec<u8>)>,
    len: usize,
}

impl<'a> Applier<'a> {
    pub(crate) fn new(idx: &'a Indexes, reader: &'a LogReader) -> Self {
        Applier {
            idx,
            reader,
            pending: IdMap::default(),
            looked_up: IdMap::default(),
            in_flight: None,
            per_kind: [0; 5],
            entries: Vec::new(),
            len: 0,
        }
    }

    /// Counts `in_flight` records as stored.
    pub(crate) fn with_in_flight(mut self, in_flight: &'a IdMap<(Kind, LogPos)>) -> Self {
        self.in_flight = Some(in_flight);
        self
    }

    /// Looks `ids` up in the index in key order and keeps the answers for
    /// [`Applier::exists`] and friends: neighbouring lookups walk warm
    /// skiplist nodes, as sorted inserts do in [`Applier::commit`].
    pub(crate) fn prefetch(&mut self, mut ids: Vec<RecordId>) -> Result<()> {
        ids.sort_unstable();
        ids.dedup();
        self.looked_up.reserve(ids.len());
        let found = self.idx.lookup_each(&ids)?;
        self.looked_up.extend(ids.into_iter().zip(found));
        Ok(())
    }

    /// Kind and position of a stored record: in flight, prefetched or
    /// looked up now.
    fn stored(&self, id: RecordId) -> Result<Option<(Kind, LogPos)>> {
        if let Some(hit) = self.in_flight.and_then(|f| f.get(&id)) {
            return Ok(Some(*hit));
        }
        match self.looked_up.get(&id) {
            Some(found) => Ok(*found),
            None => self.idx.lookup(id),
        }
    }

    /// Whether `id` is already stored or pending in this batch.
    pub(crate) fn exists(&self, id: RecordId) -> Result<bool> {
        Ok(self.pending.contains_key(&id) || self.stored(id)?.is_some())
    }

    /// Kind of a stored or pending record.
    pub(crate) fn kind_of(&self, id: RecordId) -> Result<Option<Kind>> {
        if let Some((kind, _)) = self.pending.get(&id) {
            return Ok(Some(*kind));
        }
        Ok(self.stored(id)?.map(|(k, _)| k))
    }

    /// Subject and predicate of assertion `target`, if it is a known assertion.
    /// Pending records are already in the log, so both cases read the log.
    pub(crate) fn placement(&self, target: RecordId) -> Result<Option<Placement>> {
        let found = match self.pending.get(&target) {
            Some(hit) => Some(*hit),
            None => self.stored(target)?,
        };
        placement_at(self.reader, found)
    }

    /// Where `rec` is filed, reading a retraction's or vote's target (stored
    /// or pending in this batch) from the log.
    pub(crate) fn file(&self, rec: &SignedRecord) -> Result<Filed> {
        let target = match rec.record().target() {
            Some(t) => self.placement(t)?,
            None => None,
        };
        Ok(Filed::of(rec, target))
    }

    /// Adds a record's index entries (replay and rebuild: placement is read back).
    pub(crate) fn add(&mut self, rec: &SignedRecord, pos: LogPos) -> Result<()> {
        let filed = self.file(rec)?;
        self.add_filed(rec, pos, &filed);
        Ok(())
    }

    /// Adds a record's index entries under a placement decided by the caller.
    pub(crate) fn add_filed(&mut self, rec: &SignedRecord, pos: LogPos, filed: &Filed) {
        entries(rec, pos, filed, |ks, key, value| {
            self.entries.push((ks, key, value));
        });
        let kind = rec.record().kind();
        self.pending.insert(rec.id(), (kind, pos));
        self.per_kind[kind as usize - 1] += 1;
        self.len += 1;
    }

    /// Records added so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Commits the batch with the checkpoint `end`. Entries go into the
    /// index engine's memtables in key order per keyspace: consecutive
    /// inserts then walk neighbouring skiplist nodes (warm in cache) instead
    /// of a random path each (the commit thread's largest cost, see
    /// docs/benchmarks.md).
    pub(crate) fn commit(mut self, end: LogPos) -> Result<()> {
        // Stable: should a key repeat, its later entry still lands last.
        self.entries.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        self.idx
            .note_ids(self.pending.keys().map(RecordId::as_bytes));
        let mut batch: OwnedWriteBatch = self.idx.batch();
        for (ks, key, value) in self.entries {
            batch.insert(self.idx.keyspace(ks), key, value);
        }
        self.idx.set_checkpoint(&mut batch, end);
        batch.commit()?;
        count_indexed(&self.per_kind);
        Ok(())
    }
}

/// Subject and predicate of the record found at `found`, if it is an
/// assertion (read from the log).
pub(crate) fn placement_at(
    reader: &LogReader,
    found: Option<(Kind, LogPos)>,
) -> Result<Option<Placement>> {
    match found {
        Some((Kind::Assertion, pos)) => {
            let rec = SignedRecord::from_stored(&reader.read(pos)?)?;
            Ok(rec.record().as_assertion().map(|a| Placement {
                subject: a.subject.clone(),
                predicate: a.predicate.clone(),
            }))
        }
        _ => Ok(None),
    }
}

/// Counts records indexed, per kind (`per_kind[kind - 1]`).
pub(crate) fn count_indexed(per_kind: &[u64; 5]) {
    for (kind, n) in Kind::ALL.iter().zip(per_kind) {
        if *n > 0 {
            metrics::counter!("stemedb_records_indexed_total", "kind" => kind.as_str())
                .increment(*n);
        }
    }
}

/// Records per index batch during replay (one checkpoint each).
const REPLAY_BATCH: usize = 20_000;
/// Log bytes from which a replay writes bulk runs instead of batches
/// (~75,000 records of the benchmark's size).
const BULK_FROM_BYTES: u64 = 8 * 1024 * 1024;

/// Whether replaying from `from` to `end` is long enough for bulk runs.
/// Segments between them count as full (`segment_size`).
pub(crate) fn wants_bulk(from: LogPos, end: LogPos, segment_size: u64) -> bool {
    from.bytes_until(end, segment_size) >= BULK_FROM_BYTES
}
/// Records per hand-off from the decoding thread to the applying one.
const DECODE_CHUNK: usize = 256;
/// Decoded chunks that may wait for the applier (bounds replay memory).
const DECODE_QUEUE: usize = 16;

/// A run of decoded records, or the scan's error, or its end position.
enum Decoded {
    Records(Vec<(LogPos, SignedRecord)>),
    Failed(crate::error::StorageError),
    End(LogPos),
}

/// Replays the log from `from` into the index in batches; returns records
/// applied. One thread reads, CRC-checks, decodes and hashes frames (every
/// id is recomputed from the stored bytes) while the calling thread applies
/// them to the index in log order, so decoding overlaps index work. The
/// index ends exactly as a sequential replay leaves it: same entries, same
/// batch boundaries and checkpoints. With `bulk` (a long replay into an
/// empty index directory), entries are written as sorted table runs instead
/// (see [`crate::bulk`]).
/// Records applied, and with `bulk` the bucket digests it computed (see
/// [`crate::bulk::replay`]).
pub(crate) fn replay(
    idx: &Indexes,
    reader: &LogReader,
    from: LogPos,
    bulk: bool,
) -> Result<(u64, Option<BucketDigests>)> {
    if bulk {
        return crate::bulk::replay(idx, reader, from).map(|(n, d)| (n, Some(d)));
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<Decoded>(DECODE_QUEUE);
    std::thread::scope(|scope| {
        let decoder = std::thread::Builder::new()
            .name("stemedb-replay-decode".into())
            .spawn_scoped(scope, move || decode_log(reader, from, &tx))
            .map_err(|e| {
                crate::error::StorageError::Failed(format!("starting replay decoder: {e}"))
            })?;
        let applied = apply_decoded(idx, reader, &rx);
        // On an apply error the receiver goes away first, which stops the decoder.
        drop(rx);
        let _ = decoder.join();
        applied.map(|n| (n, None))
    })
}

/// The decoding side of [`replay`]: sends chunks of decoded records, then
/// the end position (or the first error).
fn decode_log(reader: &LogReader, from: LogPos, tx: &std::sync::mpsc::SyncSender<Decoded>) {
    let mut chunk = Vec::with_capacity(DECODE_CHUNK);
    let scanned = reader.scan_from(from, |pos, payload| {
        chunk.push((pos, SignedRecord::from_stored(payload)?));
        if chunk.len() == DECODE_CHUNK {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(DECODE_CHUNK));
            tx.send(Decoded::Records(full))
                .map_err(|_| crate::error::StorageError::Closed)?;
        }
        Ok(())
    });
    let last = match scanned {
        Ok(end) => {
            if !chunk.is_empty() && tx.send(Decoded::Records(chunk)).is_err() {
                return;
            }
            Decoded::End(end)
        }
        Err(e) => Decoded::Failed(e),
    };
    let _ = tx.send(last);
}

/// The applying side of [`replay`].
fn apply_decoded(
    idx: &Indexes,
    reader: &LogReader,
    rx: &std::sync::mpsc::Receiver<Decoded>,
) -> Result<u64> {
    let mut applier = Applier::new(idx, reader);
    let mut total = 0u64;
    loop {
        match rx.recv() {
            Ok(Decoded::Records(records)) => {
                for (pos, rec) in records {
                    if applier.len() >= REPLAY_BATCH {
                        let full = std::mem::replace(&mut applier, Applier::new(idx, reader));
                        full.commit(pos)?;
                    }
                    applier.add(&rec, pos)?;
                    total += 1;
                }
            }
            Ok(Decoded::End(end)) => {
                applier.commit(end)?;
                return Ok(total);
            }
            Ok(Decoded::Failed(e)) => return Err(e),
            Err(_) => {
                return Err(crate::error::StorageError::Failed(
                    "replay decoder stopped without reaching the end of the log".into(),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(segment: u32, offset: u32) -> LogPos {
        LogPos { segment, offset }
    }

    #[test]
    fn only_long_replays_write_bulk_runs() {
        let seg = 64 * 1024 * 1024;
        assert!(!wants_bulk(at(0, 0), at(0, 0), seg), "nothing to replay");
        assert!(
            !wants_bulk(at(3, 1000), at(3, 1000 + 4096), seg),
            "a short tail"
        );
        assert!(wants_bulk(at(0, 0), at(0, 8 * 1024 * 1024), seg));
        assert!(wants_bulk(at(0, 0), at(2, 0), seg), "whole segments ahead");
        assert!(
            !wants_bulk(at(5, 9000), at(5, 100), seg),
            "checkpoint past the end"
        );
    }
}

//! Turning log frames into index entries: shared by the group-commit path,
//! tail replay on open, and full rebuild, so all three index identically.

use std::collections::HashMap;

use fjall::OwnedWriteBatch;
use stemedb_records::{Kind, RecordId, SignedRecord};

use crate::error::Result;
use crate::index::{Filed, Indexes, Placement};
use crate::log::{LogPos, LogReader};

/// Accumulates one atomic index batch.
pub(crate) struct Applier<'a> {
    idx: &'a Indexes,
    reader: &'a LogReader,
    /// Records added in this batch, not yet visible through the index.
    pending: HashMap<RecordId, (Kind, LogPos)>,
    /// Records added per kind, for metrics.
    per_kind: [u64; 5],
    batch: OwnedWriteBatch,
    len: usize,
}

impl<'a> Applier<'a> {
    pub(crate) fn new(idx: &'a Indexes, reader: &'a LogReader) -> Self {
        Applier {
            idx,
            reader,
            pending: HashMap::new(),
            per_kind: [0; 5],
            batch: idx.batch(),
            len: 0,
        }
    }

    /// Whether `id` is already stored or pending in this batch.
    pub(crate) fn exists(&self, id: RecordId) -> Result<bool> {
        Ok(self.pending.contains_key(&id) || self.idx.lookup(id)?.is_some())
    }

    /// Kind of a stored or pending record.
    pub(crate) fn kind_of(&self, id: RecordId) -> Result<Option<Kind>> {
        if let Some((kind, _)) = self.pending.get(&id) {
            return Ok(Some(*kind));
        }
        Ok(self.idx.lookup(id)?.map(|(k, _)| k))
    }

    /// Subject and predicate of assertion `target`, if it is a known assertion.
    /// Pending records are already in the log, so both cases read the log.
    pub(crate) fn placement(&self, target: RecordId) -> Result<Option<Placement>> {
        let found = match self.pending.get(&target) {
            Some(hit) => Some(*hit),
            None => self.idx.lookup(target)?,
        };
        match found {
            Some((Kind::Assertion, pos)) => {
                let rec = SignedRecord::from_stored(&self.reader.read(pos)?)?;
                Ok(rec.record().as_assertion().map(|a| Placement {
                    subject: a.subject.clone(),
                    predicate: a.predicate.clone(),
                }))
            }
            _ => Ok(None),
        }
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
        self.idx.add(&mut self.batch, rec, pos, filed);
        let kind = rec.record().kind();
        self.pending.insert(rec.id(), (kind, pos));
        self.per_kind[kind as usize - 1] += 1;
        self.len += 1;
    }

    /// Records added so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Commits the batch with the checkpoint `end`.
    pub(crate) fn commit(mut self, end: LogPos) -> Result<()> {
        self.idx.set_checkpoint(&mut self.batch, end);
        self.batch.commit()?;
        for (kind, n) in Kind::ALL.iter().zip(self.per_kind) {
            if n > 0 {
                metrics::counter!("stemedb_records_indexed_total", "kind" => kind.as_str())
                    .increment(n);
            }
        }
        Ok(())
    }
}

/// Replays the log from `from` into the index in batches; returns records applied.
pub(crate) fn replay(idx: &Indexes, reader: &LogReader, from: LogPos) -> Result<u64> {
    const BATCH: usize = 20_000;
    let mut applier = Applier::new(idx, reader);
    let mut total = 0u64;
    let end = reader.scan_from(from, |pos, payload| {
        let rec = SignedRecord::from_stored(payload)?;
        if applier.len() >= BATCH {
            let full = std::mem::replace(&mut applier, Applier::new(idx, reader));
            full.commit(pos)?;
        }
        applier.add(&rec, pos)?;
        total += 1;
        Ok(())
    })?;
    applier.commit(end)?;
    Ok(total)
}

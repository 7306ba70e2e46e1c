//! Group commit: one thread owns the log writer. It takes every queued write
//! request, decides each record's fate (new, exists, bad target), writes all
//! new records with one fsync, applies them to the indexes, and only then
//! replies — so an acknowledged record is durable and readable.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Instant;

use stemedb_records::{Kind, Record, RecordId, SignedRecord};
use tokio::sync::oneshot;

use crate::apply::{Applier, replay};
use crate::error::{Result, StorageError};
use crate::index::{Filed, Indexes, Placement};
use crate::log::{LogPos, LogReader, LogWriter};
use crate::space::SpaceGuard;
use crate::store::{AppendStatus, Appended, EpochEntry, ItemResult, Rejected, Shared};

/// Work for the commit thread.
pub(crate) enum Command {
    /// Append records; reply with one result per record.
    Append(Vec<SignedRecord>, oneshot::Sender<Result<Vec<ItemResult>>>),
    /// Drop and recreate every index from the log.
    Rebuild(oneshot::Sender<Result<u64>>),
    /// Seal the active segment if it holds frames; reply with its number.
    Seal(oneshot::Sender<Result<Option<u32>>>),
}

/// One queued append: its records and where to send the results.
type Request = (Vec<SignedRecord>, oneshot::Sender<Result<Vec<ItemResult>>>);

pub(crate) struct Committer {
    pub(crate) log: LogWriter,
    pub(crate) idx: Arc<Indexes>,
    pub(crate) reader: Arc<LogReader>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) max_batch: usize,
    pub(crate) space: SpaceGuard,
}

impl Committer {
    pub(crate) fn run(mut self, rx: Receiver<Command>) {
        let mut deferred: Option<Command> = None;
        loop {
            let cmd = match deferred.take() {
                Some(c) => c,
                None => match rx.recv() {
                    Ok(c) => c,
                    Err(_) => break,
                },
            };
            match cmd {
                Command::Rebuild(reply) => {
                    let _ = reply.send(self.rebuild());
                }
                Command::Seal(reply) => {
                    let _ = reply.send(self.seal());
                }
                Command::Append(records, reply) => {
                    let mut reqs = vec![(records, reply)];
                    let mut n = reqs[0].0.len();
                    while n < self.max_batch {
                        match rx.try_recv() {
                            Ok(Command::Append(r, tx)) => {
                                n += r.len();
                                reqs.push((r, tx));
                            }
                            Ok(other) => {
                                deferred = Some(other);
                                break;
                            }
                            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                        }
                    }
                    self.shared
                        .queued
                        .fetch_sub(reqs.len(), std::sync::atomic::Ordering::Relaxed);
                    self.commit(reqs);
                }
            }
        }
        tracing::debug!("commit thread stopped");
    }

    fn failed(&self) -> Option<String> {
        self.shared.failed.lock().ok().and_then(|f| f.clone())
    }

    fn fail(&self, e: &StorageError) {
        tracing::error!(error = %e, "write path failed; refusing further writes");
        if let Ok(mut f) = self.shared.failed.lock() {
            *f = Some(e.to_string());
        }
    }

    /// Seals the active segment (see [`LogWriter::seal`]) and publishes the
    /// new log end, so the sealed segment counts as sealed for readers.
    fn seal(&mut self) -> Result<Option<u32>> {
        if let Some(why) = self.failed() {
            return Err(StorageError::Failed(why));
        }
        // The next segment is preallocated whole: keep the floor for the index.
        if self.log.active_has_frames() {
            self.space.check(self.log.segment_size())?;
        }
        match self.log.seal() {
            Ok(sealed) => {
                self.shared.log_end.store(
                    crate::store::pack(self.log.end()),
                    std::sync::atomic::Ordering::Release,
                );
                Ok(sealed)
            }
            Err(e) if e.is_no_space() => {
                // No room for the next segment: the writer stays on the
                // active one, intact; sealing is tried again later.
                tracing::warn!(error = %e, "segment not sealed: out of space");
                Err(e)
            }
            Err(e) => {
                // A half-done rotation leaves the writer in an unknown state:
                // refuse further writes like a failed append does.
                self.fail(&e);
                Err(e)
            }
        }
    }

    fn commit(&mut self, reqs: Vec<Request>) {
        if let Some(why) = self.failed() {
            for (_, tx) in reqs {
                let _ = tx.send(Err(StorageError::Failed(why.clone())));
            }
            return;
        }
        match self.commit_inner(&reqs) {
            Ok(results) => {
                for ((_, tx), r) in reqs.into_iter().zip(results) {
                    let _ = tx.send(Ok(r));
                }
            }
            Err(e) if e.is_no_space() => {
                // Nothing was written and the log is intact: refuse this
                // group, stay healthy, take the next one.
                tracing::warn!(error = %e, "group commit refused");
                for (_, tx) in reqs {
                    let _ = tx.send(Err(e.clone_no_space().unwrap_or(StorageError::Closed)));
                }
            }
            Err(e) => {
                self.fail(&e);
                let msg = e.to_string();
                for (_, tx) in reqs {
                    let _ = tx.send(Err(StorageError::Failed(msg.clone())));
                }
            }
        }
    }

    fn commit_inner(&mut self, reqs: &[Request]) -> Result<Vec<Vec<ItemResult>>> {
        let started = Instant::now();
        let mut applier = Applier::new(&self.idx, &self.reader);
        applier.prefetch(
            reqs.iter()
                .flat_map(|(records, _)| records.iter().map(SignedRecord::id))
                .collect(),
        )?;
        let mut results: Vec<Vec<ItemResult>> = Vec::with_capacity(reqs.len());
        let mut fresh: Vec<(&SignedRecord, Filed)> = Vec::new();
        let mut fresh_ids: HashMap<RecordId, Kind> = HashMap::new();
        // Placement of assertions created in this batch (targets of later items).
        let mut fresh_places: HashMap<RecordId, Placement> = HashMap::new();
        // Decide every record first (fate and partition); only then touch the log.
        for (records, _) in reqs {
            let mut out = Vec::with_capacity(records.len());
            for rec in records {
                let id = rec.id();
                if fresh_ids.contains_key(&id) || applier.exists(id)? {
                    let filed = file(&applier, rec, &fresh_places)?;
                    out.push(Ok(Appended {
                        id,
                        status: AppendStatus::Exists,
                        partition: filed.partition,
                    }));
                    continue;
                }
                if let Some(reject) = self.check_references(&applier, rec, &fresh_ids)? {
                    out.push(Err(reject));
                    continue;
                }
                let filed = file(&applier, rec, &fresh_places)?;
                fresh_ids.insert(id, rec.record().kind());
                if let Some(a) = rec.record().as_assertion() {
                    fresh_places.insert(
                        id,
                        Placement {
                            subject: a.subject.clone(),
                            predicate: a.predicate.clone(),
                        },
                    );
                }
                out.push(Ok(Appended {
                    id,
                    status: AppendStatus::Created,
                    partition: filed.partition,
                }));
                fresh.push((rec, filed));
            }
            results.push(out);
        }
        if fresh.is_empty() {
            return Ok(results);
        }
        let records: Vec<&SignedRecord> = fresh.iter().map(|(r, _)| *r).collect();
        // Log frames plus about as much again for the index entries.
        let mut bytes: u64 = records
            .iter()
            .map(|r| 2 * (r.stored_len() as u64 + 8))
            .sum();
        if self.log.would_rotate(bytes) {
            // A new segment is preallocated whole.
            bytes += self.log.segment_size();
        }
        self.space.check(bytes)?;
        let positions = self.log.append(&records)?;
        self.space.wrote(bytes);
        for ((rec, filed), pos) in fresh.iter().zip(&positions) {
            applier.add_filed(rec, *pos, filed);
        }
        applier.commit(self.log.end())?;
        // Derived state of the commit, before anyone is answered: a stored
        // record is in its partition's digest whatever becomes of its request.
        for (rec, filed) in &fresh {
            self.shared.digests.fold(filed.partition, rec.id());
        }
        self.shared.log_end.store(
            crate::store::pack(self.log.end()),
            std::sync::atomic::Ordering::Release,
        );
        self.note_epochs(&records, &positions);
        metrics::histogram!("stemedb_group_commit_records").record(fresh.len() as f64);
        metrics::histogram!("stemedb_group_commit_seconds").record(started.elapsed().as_secs_f64());
        Ok(results)
    }

    /// Targets of retractions and votes must be stored assertions; an epoch's
    /// `supersedes` must be a stored epoch.
    fn check_references(
        &self,
        applier: &Applier<'_>,
        rec: &SignedRecord,
        fresh: &HashMap<RecordId, Kind>,
    ) -> Result<Option<Rejected>> {
        let (field, target, want) = match rec.record() {
            Record::Retraction(r) => ("target", r.target, Kind::Assertion),
            Record::Vote(v) => ("target", v.target, Kind::Assertion),
            Record::Epoch(e) => match e.supersedes {
                Some(s) => ("supersedes", s, Kind::Epoch),
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
        let kind = match applier.kind_of(target)? {
            Some(k) => Some(k),
            None => fresh.get(&target).copied(),
        };
        Ok(match kind {
            None => Some(Rejected::NotFound { field, id: target }),
            Some(k) if k != want => Some(Rejected::WrongKind {
                field,
                id: target,
                expected: want,
                found: k,
            }),
            Some(_) => None,
        })
    }

    fn note_epochs(&self, fresh: &[&SignedRecord], positions: &[LogPos]) {
        let new: Vec<EpochEntry> = fresh
            .iter()
            .zip(positions)
            .filter_map(|(r, pos)| match r.record() {
                Record::Epoch(e) => Some(EpochEntry {
                    id: r.id(),
                    epoch: e.clone(),
                    pos: *pos,
                }),
                _ => None,
            })
            .collect();
        if !new.is_empty()
            && let Ok(mut epochs) = self.shared.epochs.write()
        {
            epochs.extend(new);
        }
    }

    fn rebuild(&mut self) -> Result<u64> {
        let started = Instant::now();
        self.idx.clear()?;
        let n = replay(
            &self.idx,
            &self.reader,
            LogPos::START,
            // Batches: a bulk run would be wiped by the index engine's
            // journal replaying `clear` on the next open (see `crate::bulk`).
            false,
        )?;
        let epochs = crate::store::load_epochs(&self.idx, &self.reader)?;
        if let Ok(mut e) = self.shared.epochs.write() {
            *e = epochs;
        }
        self.shared.digests.reload(&self.idx)?;
        tracing::info!(
            records = n,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "index rebuilt from log"
        );
        Ok(n)
    }
}

/// Files `rec`: a retraction's or vote's target is looked up among the
/// assertions created earlier in this batch, then in the store.
fn file(
    applier: &Applier<'_>,
    rec: &SignedRecord,
    fresh_places: &HashMap<RecordId, Placement>,
) -> Result<Filed> {
    let target = match rec.record().target() {
        Some(t) => match fresh_places.get(&t) {
            Some(p) => Some(p.clone()),
            None => applier.placement(t)?,
        },
        None => None,
    };
    Ok(Filed::of(rec, target))
}

//! Group commit in two stages: write, then apply.
//!
//! The commit thread ([`Committer`], this module) owns the log writer. It
//! takes every queued write request, decides each record's fate (new,
//! exists, bad target) and writes all new records with one fsync. The
//! written group is then applied to the indexes ([`indexer`]) and only then
//! answered — so an acknowledged record is durable and readable. When more
//! requests queued up while the group was written, the group goes to the
//! index thread, and the commit thread decides and writes the next group
//! while the index thread applies this one; when nothing waits, the commit
//! thread applies the group itself (a lone writer pays no thread handoff).
//!
//! Groups written but not yet applied are *in flight*: the commit thread
//! keeps their ids and positions, so a later group sees them as stored
//! (a duplicate is `exists`, a vote may target them). It forgets a group
//! only after the index thread reports it applied, and reads those reports
//! only at the start of a group, before it looks anything up in the index:
//! every record is then either in its in-flight set or in the index.
//! Groups are applied and answered in log order — a group is applied on the
//! commit thread only when none is in flight — and every reply, even for a
//! group with nothing new, waits for that step, so "exists" is never
//! answered before the record it names is readable. Rebuild and seal wait
//! until nothing is in flight.

mod indexer;

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::thread::JoinHandle;
use std::time::Instant;

use stemedb_records::{Kind, Record, RecordId, SignedRecord};
use tokio::sync::oneshot;

use crate::apply::{Applier, IdMap, replay};
use crate::error::{Result, StorageError};
use crate::index::{Filed, Indexes, Placement};
use crate::log::{LogPos, LogReader, LogWriter};
use crate::space::SpaceGuard;
use crate::store::{AppendStatus, Appended, ItemResult, Rejected, Shared};

pub(crate) use indexer::{Indexed, Indexer, Written};

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
    /// Written groups, to the index thread.
    pub(crate) to_index: SyncSender<Written>,
    /// The index thread's reports of applied groups.
    pub(crate) indexed: Receiver<Indexed>,
    pub(crate) indexer: JoinHandle<()>,
    /// Applies a group on this thread when nothing else waits.
    pub(crate) apply_here: Indexer,
    /// Records written to the log whose group is not yet applied.
    pub(crate) in_flight: IdMap<(Kind, LogPos)>,
    /// Groups sent to the index thread and not yet reported applied.
    pub(crate) groups_in_flight: usize,
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
                    self.settle();
                    let _ = reply.send(self.rebuild());
                }
                Command::Seal(reply) => {
                    self.settle();
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
                    self.forget_indexed();
                    if let Some(group) = self.commit(reqs) {
                        // Apply it here when nothing waits (no handoff latency for
                        // a lone writer); hand it over when more requests queued
                        // up during the write, so deciding and writing them
                        // overlaps with applying this one.
                        let waiting = deferred.is_some()
                            || match rx.try_recv() {
                                Ok(next) => {
                                    deferred = Some(next);
                                    true
                                }
                                Err(_) => false,
                            };
                        self.forget_indexed();
                        if waiting || self.groups_in_flight > 0 {
                            self.hand_over(group);
                        } else {
                            self.apply_here.finish(group);
                        }
                    }
                }
            }
        }
        // The index thread applies what is queued for it, then stops.
        let Committer {
            to_index,
            indexer,
            idx,
            shared,
            ..
        } = self;
        drop(to_index);
        let _ = indexer.join();
        // Every record written is applied now: save the digests for the next
        // open (not after a failure, when the index may lag the log).
        let failed = shared.failed.lock().map_or(true, |f| f.is_some());
        if !failed && let Err(e) = shared.digests.save(&idx) {
            tracing::warn!(error = %e, "saving the bucket digests failed; the next open recomputes them");
        }
        tracing::debug!("commit thread stopped");
    }

    /// Forgets the in-flight records of every group reported applied.
    fn forget_indexed(&mut self) {
        while let Ok(done) = self.indexed.try_recv() {
            self.forget(done);
        }
    }

    fn forget(&mut self, done: Indexed) {
        for id in done.ids {
            self.in_flight.remove(&id);
        }
        self.groups_in_flight = self.groups_in_flight.saturating_sub(1);
    }

    /// Waits until the index thread has applied every group sent to it.
    fn settle(&mut self) {
        while self.groups_in_flight > 0 {
            match self.indexed.recv() {
                Ok(done) => self.forget(done),
                // The index thread is gone (it only stops when we do).
                Err(_) => {
                    self.groups_in_flight = 0;
                    self.in_flight.clear();
                }
            }
        }
    }

    fn failed(&self) -> Option<String> {
        self.shared.failed.lock().ok().and_then(|f| f.clone())
    }

    fn fail(&self, e: &StorageError) {
        indexer::fail(&self.shared, e);
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
                    self.log.end().packed(),
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

    /// Writes a group to the log; answers its requests itself only when
    /// that failed. The written group is then applied here or by the index
    /// thread ([`Committer::run`]).
    fn commit(&mut self, reqs: Vec<Request>) -> Option<Written> {
        if let Some(why) = self.failed() {
            for (_, tx) in reqs {
                let _ = tx.send(Err(StorageError::Failed(why.clone())));
            }
            return None;
        }
        let started = Instant::now();
        match self.write(&reqs) {
            Ok((results, fresh)) => Some(Written {
                reqs,
                results,
                fresh,
                end: self.log.end(),
                started,
            }),
            Err(e) if e.is_no_space() => {
                // Nothing was written and the log is intact: refuse this
                // group, stay healthy, take the next one.
                tracing::warn!(error = %e, "group commit refused");
                for (_, tx) in reqs {
                    let _ = tx.send(Err(e.clone_no_space().unwrap_or(StorageError::Closed)));
                }
                None
            }
            Err(e) => {
                self.fail(&e);
                let msg = e.to_string();
                for (_, tx) in reqs {
                    let _ = tx.send(Err(StorageError::Failed(msg.clone())));
                }
                None
            }
        }
    }

    /// Sends a written group to the index thread; its records are in flight
    /// until it reports them applied.
    fn hand_over(&mut self, group: Written) {
        for f in &group.fresh {
            let kind = group.reqs[f.request].0[f.item].record().kind();
            self.in_flight.insert(f.id, (kind, f.pos));
        }
        match self.to_index.send(group) {
            Ok(()) => self.groups_in_flight += 1,
            Err(lost) => {
                // The index thread died: nothing more can be made readable.
                let e = StorageError::Failed("index thread stopped".into());
                self.fail(&e);
                for f in &lost.0.fresh {
                    self.in_flight.remove(&f.id);
                }
                for (_, tx) in lost.0.reqs {
                    let _ = tx.send(Err(StorageError::Failed(e.to_string())));
                }
            }
        }
    }

    /// Decides every record's fate and writes the new ones to the log with
    /// one fsync. Answers each request's results and where each new record
    /// went; the index thread applies them.
    fn write(&mut self, reqs: &[Request]) -> Result<(Vec<Vec<ItemResult>>, Vec<Fresh>)> {
        let mut applier = Applier::new(&self.idx, &self.reader).with_in_flight(&self.in_flight);
        applier.prefetch(
            reqs.iter()
                .flat_map(|(records, _)| records.iter().map(SignedRecord::id))
                .collect(),
        )?;
        let mut results: Vec<Vec<ItemResult>> = Vec::with_capacity(reqs.len());
        let mut fresh: Vec<Fresh> = Vec::new();
        let mut fresh_ids: IdMap<Kind> = IdMap::default();
        // Placement of assertions created in this batch (targets of later items).
        let mut fresh_places: IdMap<Placement> = IdMap::default();
        // Decide every record first (fate and partition); only then touch the log.
        for (request, (records, _)) in reqs.iter().enumerate() {
            let mut out = Vec::with_capacity(records.len());
            for (item, rec) in records.iter().enumerate() {
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
                fresh.push(Fresh {
                    request,
                    item,
                    id,
                    filed,
                    pos: LogPos::START,
                });
            }
            results.push(out);
        }
        if fresh.is_empty() {
            return Ok((results, fresh));
        }
        let records: Vec<&SignedRecord> =
            fresh.iter().map(|f| &reqs[f.request].0[f.item]).collect();
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
        for (f, pos) in fresh.iter_mut().zip(positions) {
            f.pos = pos;
        }
        Ok((results, fresh))
    }

    /// Targets of retractions and votes must be stored assertions; an epoch's
    /// `supersedes` must be a stored epoch.
    fn check_references(
        &self,
        applier: &Applier<'_>,
        rec: &SignedRecord,
        fresh: &IdMap<Kind>,
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

    fn rebuild(&mut self) -> Result<u64> {
        let started = Instant::now();
        self.idx.clear()?;
        let (n, _) = replay(
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

/// A record of a written group that is new: where it is in the group's
/// requests, its id, where it is filed, and where the log put it.
pub(crate) struct Fresh {
    pub(crate) request: usize,
    pub(crate) item: usize,
    pub(crate) id: RecordId,
    pub(crate) filed: Filed,
    pub(crate) pos: LogPos,
}

/// Files `rec`: a retraction's or vote's target is looked up among the
/// assertions created earlier in this batch, then in the store.
fn file(
    applier: &Applier<'_>,
    rec: &SignedRecord,
    fresh_places: &IdMap<Placement>,
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

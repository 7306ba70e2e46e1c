//! The index thread: the second stage of group commit (see the parent
//! module). It applies each written group to the indexes in log order —
//! entries and checkpoint in one atomic batch, then the derived state
//! (partition digests, the published log end, epochs) — and only then
//! answers the group's requests and reports the group applied.

use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use stemedb_records::{Record, RecordId};

use super::{Fresh, Request};
use crate::apply::Applier;
use crate::error::{Result, StorageError};
use crate::index::Indexes;
use crate::log::{LogPos, LogReader};
use crate::store::{EpochEntry, ItemResult, Shared};

/// A group the commit thread has written to the log (fsynced).
pub(crate) struct Written {
    pub(crate) reqs: Vec<Request>,
    /// One result per record of each request.
    pub(crate) results: Vec<Vec<ItemResult>>,
    /// The new records, in log order.
    pub(crate) fresh: Vec<Fresh>,
    /// The log end after the group: the index checkpoint it sets.
    pub(crate) end: LogPos,
    pub(crate) started: Instant,
}

/// A group applied (or answered with an error): the commit thread may
/// forget its records as in flight.
pub(crate) struct Indexed {
    pub(crate) ids: Vec<RecordId>,
}

/// Applies written groups. The index thread owns one; the commit thread
/// keeps a second handle on the same state to apply a group itself when
/// nothing else is waiting (see the parent module).
#[derive(Clone)]
pub(crate) struct Indexer {
    pub(crate) idx: Arc<Indexes>,
    pub(crate) reader: Arc<LogReader>,
    pub(crate) shared: Arc<Shared>,
    /// Set once applying a group failed: a later group's checkpoint would
    /// claim the failed one indexed, so nothing more is applied (replay on
    /// the next open fills the index from the log). A failure of the commit
    /// thread does not set it: groups written before are durable and are
    /// made readable.
    pub(crate) broken: Arc<Mutex<Option<String>>>,
}

/// Refuses further writes after `e` (the write path can no longer be trusted).
pub(crate) fn fail(shared: &Shared, e: &StorageError) {
    tracing::error!(error = %e, "write path failed; refusing further writes");
    if let Ok(mut f) = shared.failed.lock() {
        *f = Some(e.to_string());
    }
}

impl Indexer {
    /// The index thread: applies groups in the order they were written.
    pub(crate) fn run(self, rx: Receiver<Written>, done: Sender<Indexed>) {
        for group in rx {
            let ids = self.finish(group);
            if done.send(Indexed { ids }).is_err() {
                break;
            }
        }
        tracing::debug!("index thread stopped");
    }

    /// Applies `group` and answers its requests; returns its new ids.
    pub(crate) fn finish(&self, group: Written) -> Vec<RecordId> {
        let Written {
            reqs,
            results,
            fresh,
            end,
            started,
        } = group;
        let ids = fresh.iter().map(|f| f.id).collect();
        let broken = self.broken.lock().ok().and_then(|b| b.clone());
        let outcome = match broken {
            Some(why) => Err(why),
            None => self.apply(&reqs, &fresh, end).map_err(|e| {
                fail(&self.shared, &e);
                if let Ok(mut b) = self.broken.lock() {
                    *b = Some(e.to_string());
                }
                e.to_string()
            }),
        };
        match outcome {
            Ok(()) => {
                if !fresh.is_empty() {
                    metrics::histogram!("stemedb_group_commit_records").record(fresh.len() as f64);
                    metrics::histogram!("stemedb_group_commit_seconds")
                        .record(started.elapsed().as_secs_f64());
                }
                for ((_, tx), r) in reqs.into_iter().zip(results) {
                    let _ = tx.send(Ok(r));
                }
            }
            Err(msg) => {
                for (_, tx) in reqs {
                    let _ = tx.send(Err(StorageError::Failed(msg.clone())));
                }
            }
        }
        ids
    }

    /// Applies one group: its entries and checkpoint in one atomic batch,
    /// then the state derived from the commit, before anyone is answered.
    fn apply(&self, reqs: &[Request], fresh: &[Fresh], end: LogPos) -> Result<()> {
        if fresh.is_empty() {
            return Ok(());
        }
        let mut applier = Applier::new(&self.idx, &self.reader);
        for f in fresh {
            applier.add_filed(&reqs[f.request].0[f.item], f.pos, &f.filed);
        }
        applier.commit(end)?;
        // A stored record is in its partition's digest whatever becomes of its request.
        for f in fresh {
            self.shared.digests.fold(f.filed.partition, f.id);
        }
        self.shared
            .log_end
            .store(end.packed(), std::sync::atomic::Ordering::Release);
        self.note_epochs(reqs, fresh);
        Ok(())
    }

    fn note_epochs(&self, reqs: &[Request], fresh: &[Fresh]) {
        let new: Vec<EpochEntry> = fresh
            .iter()
            .filter_map(|f| {
                let r = &reqs[f.request].0[f.item];
                match r.record() {
                    Record::Epoch(e) => Some(EpochEntry {
                        id: r.id(),
                        epoch: e.clone(),
                        pos: f.pos,
                    }),
                    _ => None,
                }
            })
            .collect();
        if !new.is_empty()
            && let Ok(mut epochs) = self.shared.epochs.write()
        {
            epochs.extend(new);
        }
    }
}

//! Write path and read forwarding in cluster mode.
//!
//! Write: the write service (`crate::write`) appends locally first; the
//! store decides each record's partition and folds created records into its
//! Merkle digests in the same commit. [`Cluster::replicate`] then pushes the
//! records to the live replicas of their partitions other than this node
//! (every other member for `GLOBAL`) concurrently (timeout
//! [`REPLICA_TIMEOUT`]). When a replica is down or short, the record is also
//! pushed to other live members (sloppy quorum: a durable copy elsewhere
//! counts). Every replica that did not confirm gets a durable hint before the
//! answer. A record is acknowledged once the durable copies (this node +
//! acks) reach `write_ack` (see `required_acks`). Pushes go through `pusher`,
//! which coalesces concurrent pushes to one peer. In the common case (all
//! replicas up) no hint is written at all: the hint queue's fsync is off the
//! write path. The coordinator speaks in records, [`Appended`] outcomes and
//! [`ClusterWriteError`]; HTTP stays in the routes.

use std::collections::{HashMap, HashSet};

use futures_util::future::join_all;
use stemedb_cluster::{Member, Status};
use stemedb_records::{RecordId, SignedRecord};
use stemedb_replication::proto::FetchPhase;
use stemedb_replication::{Peer, PushObserver, ReplicationError};
use stemedb_storage::{Appended, partition};

use super::{Cluster, REPLICA_TIMEOUT};

/// Histogram: seconds from a write being durable here to being durable on a replica it was pushed to.
pub const REPLICATION_DELAY: &str = "stemedb_replication_delay_seconds";

/// Why the cluster refused or could not fully replicate a write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterWriteError {
    /// This node is in the minority and `on_minority = "read_only"`.
    #[error("{0}")]
    ReadOnly(String),
    /// A record is durable on fewer nodes than `write_ack` (it is kept and hinted).
    #[error(
        "a record is durable on {durable} of the {required} nodes replication.write_ack needs; \
         it is kept and will be delivered, and retrying is safe"
    )]
    Unavailable {
        /// Durable copies of the worst-replicated record.
        durable: usize,
        /// Copies `write_ack` needs.
        required: usize,
    },
    /// Hints for replicas that did not confirm could not be written.
    #[error("cannot write replication hints: {0}")]
    Hints(String),
    /// The replication task stopped unexpectedly.
    #[error("replication task failed: {0}")]
    Task(String),
}

impl Cluster {
    /// Durable copies a write needs before it is acknowledged: `write_ack`,
    /// clamped to the known members; in the minority with `on_minority =
    /// "accept"`, clamped to the members this node can see (the rest is
    /// hinted and merges after the partition heals).
    fn required_acks(&self, members: &[Member]) -> usize {
        let known = self.write_ack.min(members.len().max(1));
        let q = self.quorum();
        if q.majority || self.on_minority != stemedb_cluster::OnMinority::Accept {
            return known;
        }
        known.min(q.visible.max(1))
    }

    /// Replicates records this node has just appended, each with what the
    /// store answered for it (status and partition).
    /// `Err(Unavailable)` when some record is durable on fewer than the
    /// required nodes (it stays stored and hinted).
    pub async fn replicate(
        &self,
        written: Vec<(SignedRecord, Appended)>,
    ) -> Result<(), ClusterWriteError> {
        if written.is_empty() {
            return Ok(());
        }
        let durable_at = std::time::Instant::now();
        let members = self.membership.members();
        let required = self.required_acks(&members);
        // 1. Replicas other than this node, from the partition the store decided.
        let targets = self.place(&written, &members);
        // 2. Push to the live replicas concurrently.
        let mut acks: Vec<usize> = vec![1; written.len()];
        let mut per_target: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, t) in targets.iter().enumerate() {
            for id in t {
                per_target.entry(id.as_str()).or_default().push(i);
            }
        }
        let mut calls = Vec::new();
        for (target, idx) in &per_target {
            let Some(m) = members
                .iter()
                .find(|m| m.id() == *target && m.status.is_live())
            else {
                continue;
            };
            let Some(peer) = self.peer(m) else { continue };
            let recs: Vec<SignedRecord> = idx.iter().map(|&i| written[i].0.clone()).collect();
            calls.push(async move { (*target, self.pushers.push(&peer, recs).await) });
        }
        let mut delivered: HashSet<(&str, RecordId)> = HashSet::new();
        for (target, acked) in join_all(calls).await {
            if acked.is_empty() {
                continue;
            }
            // Local durability to durability on this replica: the replication lag of a write.
            metrics::histogram!(REPLICATION_DELAY).record(durable_at.elapsed().as_secs_f64());
            for (i, (rec, _)) in written.iter().enumerate() {
                if targets[i].iter().any(|t| t == target) && acked.contains(&rec.id()) {
                    acks[i] += 1;
                    delivered.insert((target, rec.id()));
                }
            }
        }
        // 3. Short records: durable copies on other live members (sloppy quorum).
        for m in members
            .iter()
            .filter(|m| !m.is_self && m.status == Status::Up)
        {
            let short: Vec<usize> = (0..written.len())
                .filter(|&i| acks[i] < required && !targets[i].iter().any(|t| t == m.id()))
                .collect();
            if short.is_empty() {
                continue;
            }
            let Some(peer) = self.peer(m) else { continue };
            let recs: Vec<SignedRecord> = short.iter().map(|&i| written[i].0.clone()).collect();
            let acked = self.pushers.push(&peer, recs).await;
            for i in short {
                if acked.contains(&written[i].0.id()) {
                    acks[i] += 1;
                }
            }
        }
        // 4. Durable hints for every replica that does not have its records
        //    yet, before anything is acknowledged. (A crash before this point
        //    leaves an unacknowledged record on local disk only; it is in the
        //    store's digests, so the next anti-entropy round spreads it.)
        let mut owed: HashMap<String, Vec<RecordId>> = HashMap::new();
        for (i, (rec, _)) in written.iter().enumerate() {
            for t in &targets[i] {
                if !delivered.contains(&(t.as_str(), rec.id())) {
                    owed.entry(t.clone()).or_default().push(rec.id());
                }
            }
        }
        if !owed.is_empty() {
            let hints = self.hints.clone();
            tokio::task::spawn_blocking(move || {
                owed.iter()
                    .try_for_each(|(t, ids)| hints.add(t, ids).map(|_| ()))
            })
            .await
            .map_err(|e| ClusterWriteError::Task(e.to_string()))?
            .map_err(|e| ClusterWriteError::Hints(e.to_string()))?;
        }
        let worst = acks.iter().copied().min().unwrap_or(required);
        if worst < required {
            metrics::counter!("stemedb_replicated_writes_total", "outcome" => "unavailable")
                .increment(1);
            return Err(ClusterWriteError::Unavailable {
                durable: worst,
                required,
            });
        }
        metrics::counter!("stemedb_replicated_writes_total", "outcome" => "acked").increment(1);
        Ok(())
    }

    /// The replicas other than this node that must receive each record, by
    /// the partition the store decided when it appended it.
    fn place(&self, written: &[(SignedRecord, Appended)], members: &[Member]) -> Vec<Vec<String>> {
        let ids: Vec<&str> = members.iter().map(|m| m.id()).collect();
        written
            .iter()
            .map(|(_, a)| {
                stemedb_cluster::placement::replicas(a.partition, &ids, self.factor)
                    .into_iter()
                    .filter(|id| *id != self.node_id)
                    .collect()
            })
            .collect()
    }

    /// Before a read of `subject` on a node that is not one of its replicas:
    /// fetches the subject's records from a live replica (within
    /// [`REPLICA_TIMEOUT`]) and appends them locally. On failure the read is
    /// answered from local data.
    pub async fn forward_read(&self, subject: &str) {
        let p = partition::of_subject(subject);
        let members = self.membership.members();
        let replicas = self.replicas_of(p, &members);
        if replicas.contains(&self.node_id) {
            return;
        }
        let live: Vec<&Member> = replicas
            .iter()
            .filter_map(|r| members.iter().find(|m| m.id() == r && m.status.is_live()))
            .collect();
        let subject = subject.to_owned();
        self.fetch_and_store(&live, |peer| {
            let subject = subject.clone();
            async move { peer.subject_records(&subject).await }
        })
        .await;
    }

    /// Before a read of record `id` this node does not hold (the id says
    /// nothing about its partition): asks the live members in turn (within
    /// [`REPLICA_TIMEOUT`] overall) and stores what it finds locally: for an
    /// assertion, its subject's records (so votes and retractions come along);
    /// for a vote or retraction, its target first. On failure the read is
    /// answered from local data (404).
    pub async fn forward_get(&self, id: RecordId) {
        let store = self.store.clone();
        if let Ok(Ok(Some(_))) = tokio::task::spawn_blocking(move || store.locate(id)).await {
            return;
        }
        let members = self.membership.members();
        let live: Vec<&Member> = members
            .iter()
            .filter(|m| !m.is_self && m.status.is_live())
            .collect();
        self.fetch_and_store(
            &live,
            |peer| async move { fetch_with_context(&peer, id).await },
        )
        .await;
    }

    /// Asks `candidates` in turn (within [`REPLICA_TIMEOUT`] overall) until
    /// one returns records, and appends those locally (a forwarded read).
    async fn fetch_and_store<F, Fut>(&self, candidates: &[&Member], fetch: F)
    where
        F: Fn(Peer) -> Fut,
        Fut: Future<Output = Result<Vec<SignedRecord>, ReplicationError>>,
    {
        let deadline = tokio::time::Instant::now() + REPLICA_TIMEOUT;
        for m in candidates {
            let Some(peer) = self.peer(m) else { continue };
            let records = match tokio::time::timeout_at(deadline, fetch(peer)).await {
                Ok(Ok(records)) if !records.is_empty() => records,
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => {
                    tracing::debug!(peer = m.id(), error = %e, "forwarded read failed");
                    continue;
                }
                Err(_) => break,
            };
            let store = self.store.clone();
            let applied = tokio::task::spawn_blocking(move || store.append(records)).await;
            if let Ok(Ok(_)) = applied {
                metrics::counter!("stemedb_forwarded_reads_total", "outcome" => "ok").increment(1);
                return;
            }
        }
        metrics::counter!("stemedb_forwarded_reads_total", "outcome" => "local_fallback")
            .increment(1);
    }
}

/// Record `id` from `peer` with what a read of it needs, targets before
/// annotations: an assertion's whole subject, or an annotation's target
/// followed by the annotation. Empty when the peer does not hold it.
async fn fetch_with_context(
    peer: &Peer,
    id: RecordId,
) -> Result<Vec<SignedRecord>, ReplicationError> {
    let Some(rec) = peer.fetch(&[id], FetchPhase::All).await?.records.pop() else {
        return Ok(Vec::new());
    };
    if let Some(a) = rec.record().as_assertion() {
        // The subject brings votes and retractions; without it, the record alone still answers.
        return Ok(match peer.subject_records(&a.subject).await {
            Ok(all) if !all.is_empty() => all,
            Ok(_) => vec![rec],
            Err(e) => {
                tracing::debug!(peer = peer.addr(), error = %e, "subject fetch failed; storing the record alone");
                vec![rec]
            }
        });
    }
    let mut out = Vec::new();
    if let Some(t) = rec.record().target() {
        out.extend(peer.fetch(&[t], FetchPhase::All).await?.records);
    }
    out.push(rec);
    Ok(out)
}

/// A record pushed to this node for a partition it does not replicate is a
/// sloppy-quorum copy: the coordinator counted it because a real replica was
/// down or short. This node then owes the record to the partition's
/// replicas, exactly like a coordinator: durable hints, written before the
/// push is answered, so the copy reaches them even if the coordinator's disk
/// is lost. (Replicas that already hold it answer `exists` and the hint goes.)
impl PushObserver for Cluster {
    fn created(&self, records: &[(RecordId, u16)]) -> Result<(), String> {
        for (target, ids) in &self.owed(records) {
            self.hints.add(target, ids).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Only a sloppy-quorum copy writes hints; a replica's own copy does nothing.
    fn may_block(&self, records: &[(RecordId, u16)]) -> bool {
        !self.owed(records).is_empty()
    }
}

impl Cluster {
    /// What this node owes other replicas for records pushed to it: the
    /// records of partitions it does not replicate, by replica.
    fn owed(&self, records: &[(RecordId, u16)]) -> HashMap<String, Vec<RecordId>> {
        let members = self.membership.members();
        // Replicas of each partition in this push that this node does not
        // replicate (None: it does); computed once per partition, not per record.
        let mut foreign: HashMap<u16, Option<Vec<String>>> = HashMap::new();
        let mut owed: HashMap<String, Vec<RecordId>> = HashMap::new();
        for (id, p) in records {
            let replicas = foreign.entry(*p).or_insert_with(|| {
                let r = self.replicas_of(*p, &members);
                (!r.contains(&self.node_id)).then_some(r)
            });
            for r in replicas.iter().flatten() {
                owed.entry(r.clone()).or_default().push(*id);
            }
        }
        owed
    }
}

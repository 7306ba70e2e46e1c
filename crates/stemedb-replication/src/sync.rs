//! Anti-entropy with one peer: compare partition roots in one `Digests`
//! call, then bucket digests of the differing partitions only, then id lists
//! of the differing buckets only; fetch what we lack (base records before
//! annotations) and push what the peer lacks. Bytes and work scale with the
//! difference, not with the data size.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use stemedb_records::{Record, RecordId, SignedRecord};
use stemedb_storage::{AppendStatus, Rejected, Store};

use crate::client::Peer;
use crate::error::{ReplicationError, Result, blocking};
use crate::merkle::{MerkleIndex, differing_buckets};
use crate::metrics as m;
use crate::proto::{FetchPhase, PushStatus};
use crate::server::{ReplicationState, append_noting};
use crate::wire::{batches, send_order};

/// Ids per `Fetch` call.
const FETCH_CHUNK: usize = 4_096;
/// Buckets per `BucketIds` call.
const BUCKET_CHUNK: usize = 2_048;
/// Partitions per bucket-level `Digests` call.
const DIGEST_CHUNK: usize = 64;
/// Records per `Push` call.
const PUSH_RECORDS: usize = 4_096;
/// Bytes per `Push` call (well under the message limit).
const PUSH_BYTES: usize = 8 * 1024 * 1024;

/// What one anti-entropy round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Partitions whose roots were compared.
    pub partitions_compared: usize,
    /// Partitions whose roots differed.
    pub partitions_differing: usize,
    /// Buckets whose digests differed.
    pub buckets_differing: usize,
    /// Ids received from the peer in `BucketIds` replies.
    pub ids_exchanged: usize,
    /// Records fetched from the peer and created locally.
    pub records_fetched: usize,
    /// Records pushed to the peer that it created.
    pub records_pushed: usize,
    /// Protobuf bytes sent to the peer.
    pub bytes_sent: u64,
    /// Protobuf bytes received from the peer.
    pub bytes_received: u64,
    /// Wall time of the round, ms.
    pub elapsed_ms: u64,
}

/// Runs one anti-entropy round with `peer` over `partitions`; updates metrics.
pub async fn sync_with(
    peer: &Peer,
    store: &Store,
    merkle: &Arc<MerkleIndex>,
    partitions: &[u16],
) -> Result<SyncReport> {
    let started = Instant::now();
    let counted = peer.with_fresh_traffic();
    let state = ReplicationState {
        store: store.clone(),
        merkle: merkle.clone(),
    };
    let result = round(&counted, &state, partitions).await;
    let sent = counted.traffic().sent();
    let received = counted.traffic().received();
    metrics::counter!(m::AE_BYTES, "direction" => "sent").increment(sent);
    metrics::counter!(m::AE_BYTES, "direction" => "received").increment(received);
    match result {
        Ok(mut report) => {
            report.bytes_sent = sent;
            report.bytes_received = received;
            report.elapsed_ms = started.elapsed().as_millis() as u64;
            metrics::counter!(m::AE_ROUNDS, "outcome" => "ok").increment(1);
            metrics::counter!(m::RECORDS_REPAIRED, "direction" => "fetched")
                .increment(report.records_fetched as u64);
            metrics::counter!(m::RECORDS_REPAIRED, "direction" => "pushed")
                .increment(report.records_pushed as u64);
            tracing::info!(peer = %peer.addr(), ?report, "anti-entropy round done");
            Ok(report)
        }
        Err(e) => {
            metrics::counter!(m::AE_ROUNDS, "outcome" => "error").increment(1);
            tracing::warn!(peer = %peer.addr(), error = %e, "anti-entropy round failed");
            Err(e)
        }
    }
}

async fn round(peer: &Peer, state: &ReplicationState, partitions: &[u16]) -> Result<SyncReport> {
    let mut report = SyncReport {
        partitions_compared: partitions.len(),
        ..SyncReport::default()
    };
    // 1. Roots of every partition in one call.
    let roots = peer.digests(partitions, false).await?;
    let differing: Vec<u16> = roots
        .iter()
        .filter(|d| state.merkle.root(d.partition) != Some(d.root))
        .map(|d| d.partition)
        .collect();
    report.partitions_differing = differing.len();
    // 2. Bucket digests of differing partitions only.
    let mut buckets: Vec<(u16, u8)> = Vec::new();
    for chunk in differing.chunks(DIGEST_CHUNK) {
        for d in peer.digests(chunk, true).await? {
            let (Some(theirs), Some(ours)) = (d.buckets, state.merkle.buckets(d.partition)) else {
                continue;
            };
            buckets.extend(
                differing_buckets(&ours, &theirs)
                    .into_iter()
                    .map(|b| (d.partition, b)),
            );
        }
    }
    report.buckets_differing = buckets.len();
    // 3. Id lists of differing buckets only.
    let mut want: Vec<RecordId> = Vec::new();
    let mut give: Vec<RecordId> = Vec::new();
    for chunk in buckets.chunks(BUCKET_CHUNK) {
        let lists = peer.bucket_ids(chunk).await?;
        report.ids_exchanged += lists.iter().map(|(_, ids)| ids.len()).sum::<usize>();
        let store = state.store.clone();
        let (w, g) = blocking(move || {
            let mut w = Vec::new();
            let mut g = Vec::new();
            for ((p, b), theirs) in lists {
                let ours = store.bucket_ids(p, b)?;
                if ours == theirs {
                    // Digests differed but the ids agree: an append was not
                    // noted in a Merkle index, or raced this round.
                    tracing::warn!(
                        partition = p,
                        bucket = b,
                        "bucket digests differ but ids agree"
                    );
                    continue;
                }
                let theirs_set: HashSet<RecordId> = theirs.iter().copied().collect();
                let ours_set: HashSet<RecordId> = ours.iter().copied().collect();
                w.extend(theirs.into_iter().filter(|id| !ours_set.contains(id)));
                g.extend(ours.into_iter().filter(|id| !theirs_set.contains(id)));
            }
            Ok((w, g))
        })
        .await?;
        want.extend(w);
        give.extend(g);
    }
    // 4. Fetch what we lack: base records first, then annotations.
    let mut retry: Vec<SignedRecord> = Vec::new();
    let mut remaining = want;
    for phase in [FetchPhase::Base, FetchPhase::Annotations] {
        let mut got: HashSet<RecordId> = HashSet::new();
        let mut queue = remaining.clone();
        while !queue.is_empty() {
            let mut deferred = Vec::new();
            let mut progressed = false;
            for chunk in queue.chunks(FETCH_CHUNK) {
                let fetched = peer.fetch(chunk, phase).await?;
                progressed |= !fetched.records.is_empty();
                got.extend(fetched.records.iter().map(SignedRecord::id));
                deferred.extend(fetched.deferred);
                let (created, missing) = append_local(state, fetched.records).await?;
                report.records_fetched += created;
                retry.extend(missing);
            }
            if !progressed && !deferred.is_empty() {
                return Err(ReplicationError::Protocol {
                    peer: peer.addr().to_string(),
                    reason: "Fetch deferred every record without returning any".into(),
                });
            }
            queue = deferred;
        }
        remaining.retain(|id| !got.contains(id));
    }
    // Records whose target arrived later in the round (e.g. epoch chains split across calls).
    while !retry.is_empty() {
        let before = retry.len();
        let (created, missing) = append_local(state, std::mem::take(&mut retry)).await?;
        report.records_fetched += created;
        if missing.len() == before {
            tracing::warn!(peer = %peer.addr(), records = before, "fetched records still lack their targets");
            break;
        }
        retry = missing;
    }
    // 5. Push what the peer lacks, in send order across all batches.
    report.records_pushed = push_ids(peer, &state.store, give).await?;
    Ok(report)
}

/// Whether a record references another that must be stored first.
fn has_reference(rec: &SignedRecord) -> bool {
    match rec.record() {
        Record::Retraction(_) | Record::Vote(_) => true,
        Record::Epoch(e) => e.supersedes.is_some(),
        Record::Assertion(_) | Record::Trust(_) => false,
    }
}

/// Appends fetched records; returns (created count, records whose target is missing).
async fn append_local(
    state: &ReplicationState,
    records: Vec<SignedRecord>,
) -> Result<(usize, Vec<SignedRecord>)> {
    if records.is_empty() {
        return Ok((0, Vec::new()));
    }
    let state = state.clone();
    blocking(move || {
        // Only records with references can come back `NotFound`; keep copies of those.
        let referencing: Vec<(usize, SignedRecord)> = records
            .iter()
            .enumerate()
            .filter(|(_, r)| has_reference(r))
            .map(|(i, r)| (i, r.clone()))
            .collect();
        let outcomes = append_noting(&state, records)?;
        let mut created = 0;
        for o in &outcomes {
            match o {
                Ok(a) if a.status == AppendStatus::Created => created += 1,
                Ok(_) | Err(Rejected::NotFound { .. }) => {}
                Err(e) => tracing::warn!(error = %e, "fetched record rejected"),
            }
        }
        let missing = referencing
            .into_iter()
            .filter(|(i, _)| matches!(outcomes.get(*i), Some(Err(Rejected::NotFound { .. }))))
            .map(|(_, r)| r)
            .collect();
        Ok((created, missing))
    })
    .await
}

/// Pushes the stored records among `ids` in send order; returns how many the peer created.
pub(crate) async fn push_ids(peer: &Peer, store: &Store, ids: Vec<RecordId>) -> Result<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    let s = store.clone();
    let mut order = blocking(move || {
        let mut v = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some((kind, pos)) = s.locate(id)? {
                v.push((send_order(kind, pos), pos));
            }
        }
        Ok(v)
    })
    .await?;
    order.sort_unstable();
    let mut created = 0usize;
    let mut retry: Vec<SignedRecord> = Vec::new();
    for chunk in order.chunks(PUSH_RECORDS) {
        let s = store.clone();
        let positions: Vec<_> = chunk.iter().map(|(_, pos)| *pos).collect();
        let records = blocking(move || {
            positions
                .into_iter()
                .map(|p| s.read_at(p).map_err(ReplicationError::from))
                .collect::<Result<Vec<_>>>()
        })
        .await?;
        for batch in batches(records, PUSH_RECORDS, PUSH_BYTES) {
            let outcomes = peer.push(&batch).await?;
            for (rec, o) in batch.into_iter().zip(outcomes) {
                match o.status {
                    PushStatus::Created => created += 1,
                    PushStatus::Exists => {}
                    PushStatus::MissingTarget => retry.push(rec),
                    _ => {
                        tracing::warn!(peer = %peer.addr(), id = %rec.id(), error = %o.error, "peer rejected a pushed record")
                    }
                }
            }
        }
    }
    if !retry.is_empty() {
        for o in peer.push(&retry).await? {
            if o.status == PushStatus::Created {
                created += 1;
            }
        }
    }
    Ok(created)
}

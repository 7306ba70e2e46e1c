//! Moving records once a round knows what differs: fetching by prefix (and
//! by id for what the peer deferred) with local appends, and pushing in send
//! order.

use stemedb_records::{Record, RecordId, SignedRecord};
use stemedb_storage::{AppendStatus, Rejected, Store};

use crate::client::{Fetched, Peer};
use crate::error::{ReplicationError, Result, blocking};
use crate::prefix::BucketPrefixes;
use crate::proto::{FetchPhase, PushStatus};
use crate::server::ReplicationState;
use crate::wire::{batches, send_order};

/// Ids per id `Fetch` call.
const FETCH_CHUNK: usize = 4_096;
/// Prefixes per prefix `Fetch` call: replies of a few MiB, so the first call
/// (which nothing overlaps) is short.
const FETCH_PREFIXES: usize = 8_192;
/// Buckets per prefix `Fetch` call.
const FETCH_BUCKETS: usize = 4_096;
/// Records per `Push` call.
const PUSH_RECORDS: usize = 4_096;
/// Bytes per `Push` call (well under the message limit).
const PUSH_BYTES: usize = 8 * 1024 * 1024;

/// Fetches every record with the given prefixes and appends it locally;
/// returns how many were created.
///
/// Calls take buckets in the order given (partition by partition), and the
/// peer returns base records before annotations in each reply; retractions and
/// votes live in their target's partition, so a target almost always arrives
/// in the same call or an earlier one. Records whose target is still missing
/// are retried once everything has arrived. One call is in flight while the
/// previous reply is appended, so the peer's reads overlap our writes.
pub(crate) async fn fetch_prefixes(
    peer: &Peer,
    state: &ReplicationState,
    groups: Vec<BucketPrefixes>,
) -> Result<usize> {
    let mut created = 0usize;
    let mut retry: Vec<SignedRecord> = Vec::new();
    let mut queue = groups;
    let mut ready: Option<Fetched> = None;
    loop {
        let chunk = next_chunk(&mut queue);
        if chunk.is_empty() && ready.is_none() {
            break;
        }
        let fetching = async {
            if chunk.is_empty() {
                Ok(None)
            } else {
                // The client checked that deferred buckets are a strict subset of `chunk`, so this ends.
                peer.fetch_prefixes(&chunk).await.map(Some)
            }
        };
        let storing = store_fetched(peer, state, ready.take(), &mut retry);
        let (fetched, stored) = tokio::join!(fetching, storing);
        created += stored?;
        if let Some(mut f) = fetched? {
            // Deferred buckets go first, keeping partitions together.
            queue.splice(0..0, std::mem::take(&mut f.deferred_prefixes));
            ready = Some(f);
        }
    }
    // Records whose target arrived later in the round.
    while !retry.is_empty() {
        let before = retry.len();
        let (c, missing) = append_local(state, std::mem::take(&mut retry)).await?;
        created += c;
        if missing.len() == before {
            tracing::warn!(peer = %peer.addr(), records = before, "fetched records still lack their targets");
            break;
        }
        retry = missing;
    }
    Ok(created)
}

/// Takes the groups of the next prefix `Fetch` off the front of `queue`.
fn next_chunk(queue: &mut Vec<BucketPrefixes>) -> Vec<BucketPrefixes> {
    let mut take = 0usize;
    let mut prefixes = 0usize;
    for g in queue.iter() {
        if take > 0 && (take >= FETCH_BUCKETS || prefixes + g.count() > FETCH_PREFIXES) {
            break;
        }
        take += 1;
        prefixes += g.count();
    }
    queue.drain(..take).collect()
}

/// Appends one prefix `Fetch` reply and fetches the ids it deferred; returns how many were created.
async fn store_fetched(
    peer: &Peer,
    state: &ReplicationState,
    fetched: Option<Fetched>,
    retry: &mut Vec<SignedRecord>,
) -> Result<usize> {
    let Some(fetched) = fetched else {
        return Ok(0);
    };
    let (created, missing) = append_local(state, fetched.records).await?;
    retry.extend(missing);
    Ok(created + fetch_ids(peer, state, fetched.deferred, retry).await?)
}

/// Fetches records by id (what a reply deferred) and appends them; records
/// whose target is missing go to `retry`. Returns how many were created.
async fn fetch_ids(
    peer: &Peer,
    state: &ReplicationState,
    ids: Vec<RecordId>,
    retry: &mut Vec<SignedRecord>,
) -> Result<usize> {
    let mut created = 0usize;
    let mut queue = ids;
    while !queue.is_empty() {
        let mut deferred = Vec::new();
        for chunk in queue.chunks(FETCH_CHUNK) {
            let fetched = peer.fetch(chunk, FetchPhase::All).await?;
            deferred.extend(fetched.deferred);
            let (c, missing) = append_local(state, fetched.records).await?;
            created += c;
            retry.extend(missing);
        }
        // Deferred ids are a subset of those asked for (the client filters
        // them); an honest peer returns at least one record per call.
        if deferred.len() >= queue.len() {
            return Err(ReplicationError::Protocol {
                peer: peer.addr().to_string(),
                reason: "Fetch deferred every record without returning any".into(),
            });
        }
        queue = deferred;
    }
    Ok(created)
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
        let outcomes = state.store.append(records)?;
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
    order.dedup();
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

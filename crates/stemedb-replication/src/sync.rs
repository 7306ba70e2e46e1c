//! Anti-entropy with one peer. A round, over the partitions given:
//!
//! 1. Partition roots in one `Digests` call; equal partitions cost 32 bytes.
//! 2. Bucket digests of the differing partitions only: 256 per partition,
//!    their last 16 bytes ([`SHORT_DIGEST_LEN`]), empty buckets left out.
//! 3. For each differing bucket, `MatchPrefixes`: we send a short prefix of
//!    every id we hold there (1 byte up to 1 id, 2 bytes up to 256, 3 up to
//!    65 536: [`prefix_len_for`]); the peer answers which of ours it lacks,
//!    which of its prefixes we lack, and a 16-byte check digest
//!    ([`crate::prefix`]).
//! 4. Buckets whose check disagrees — a local id and a different peer id share
//!    a prefix, hiding a difference — are compared again with whole ids (for
//!    ids nobody ground on purpose, a difference then escapes only through a
//!    128-bit check collision).
//! 5. [`SyncMode::Both`]: fetch the peer's records with the prefixes we lack
//!    (the peer resolves them against its ids; received records are re-hashed,
//!    ids are never trusted from the wire) and append them.
//! 6. Push the records the peer lacks, targets before annotations.
//!
//! Bytes: the missing records, plus ≈ 17 B per bucket of each differing
//! partition, plus per differing bucket ≈ 25 B and a prefix per id we hold
//! there, plus a prefix per record fetched. Whole ids cross the wire only for
//! colliding buckets and for what a reply deferred. Work per side is one scan
//! of each differing bucket (the peer scans it again to resolve fetched
//! prefixes). Our reads overlap the peer's answers, and our appends overlap
//! the next fetch. A round with nothing to do is one `Digests` call.

use std::collections::VecDeque;
use std::time::Instant;

use stemedb_records::RecordId;
use stemedb_storage::Store;

use crate::client::Peer;
use crate::error::{ReplicationError, Result, blocking};
use crate::merkle::{SHORT_DIGEST_LEN, differing_tails};
use crate::metrics as m;
use crate::prefix::{BucketAnswer, BucketPrefixes, FULL_LEN, prefix_len_for, settle};
use crate::repair::{fetch_prefixes, push_ids};
use crate::server::ReplicationState;

/// Partitions per bucket-level `Digests` call.
const DIGEST_CHUNK: usize = 64;
/// Buckets per `MatchPrefixes` call.
const MATCH_BUCKETS: usize = 2_048;
/// Bucket bytes compared together (see [`round`]).
const BUCKET_BLOCK: u8 = 8;
/// Local ids per `MatchPrefixes` call (bounds memory and the request size).
const MATCH_IDS: usize = 262_144;

/// Which way records move in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// Fetch what we lack and push what the peer lacks.
    #[default]
    Both,
    /// Only push what the peer lacks: nothing is fetched or appended locally,
    /// and the peer's extra records cost only their prefixes' absence (used to
    /// hand off partitions this node holds but is not a replica of).
    PushOnly,
}

/// How a round runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// Which way records move.
    pub mode: SyncMode,
    /// One prefix length (`1..=31`, 31 = whole ids) for every bucket instead
    /// of the length chosen from each bucket's size; for tests and tuning.
    pub prefix_len: Option<u8>,
}

/// What one anti-entropy round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Partitions whose roots were compared.
    pub partitions_compared: usize,
    /// Partitions whose roots differed.
    pub partitions_differing: usize,
    /// Buckets whose digests differed.
    pub buckets_differing: usize,
    /// Buckets compared again with whole ids because their check digests disagreed.
    pub buckets_rechecked: usize,
    /// Id prefixes (or whole ids) sent and received to compare buckets.
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

/// Runs one anti-entropy round with `peer` over `partitions`, both ways; updates metrics.
pub async fn sync_with(peer: &Peer, store: &Store, partitions: &[u16]) -> Result<SyncReport> {
    sync_with_options(peer, store, partitions, SyncOptions::default()).await
}

/// Runs one anti-entropy round in `mode`; updates metrics.
pub async fn sync_with_mode(
    peer: &Peer,
    store: &Store,
    partitions: &[u16],
    mode: SyncMode,
) -> Result<SyncReport> {
    let opts = SyncOptions {
        mode,
        ..SyncOptions::default()
    };
    sync_with_options(peer, store, partitions, opts).await
}

/// Runs one anti-entropy round with explicit options; updates metrics.
pub async fn sync_with_options(
    peer: &Peer,
    store: &Store,
    partitions: &[u16],
    opts: SyncOptions,
) -> Result<SyncReport> {
    let started = Instant::now();
    let counted = peer.with_fresh_traffic();
    let state = ReplicationState::new(store.clone());
    let result = round(&counted, &state, partitions, opts).await;
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
            // One readable line per round; a round that moved nothing is routine (debug).
            let moved = report.records_fetched + report.records_pushed;
            if moved > 0 {
                tracing::info!(
                    peer = %peer.addr(),
                    fetched = report.records_fetched,
                    pushed = report.records_pushed,
                    partitions_differing = report.partitions_differing,
                    elapsed_ms = report.elapsed_ms,
                    "anti-entropy repaired records"
                );
            } else {
                tracing::debug!(peer = %peer.addr(), mode = ?opts.mode, ?report, "anti-entropy round done");
            }
            Ok(report)
        }
        Err(e) => {
            metrics::counter!(m::AE_ROUNDS, "outcome" => "error").increment(1);
            tracing::warn!(peer = %peer.addr(), mode = ?opts.mode, error = %e, "anti-entropy round failed");
            Err(e)
        }
    }
}

/// A `Digests` reply must answer exactly the partitions asked for: a left-out
/// partition would otherwise count as equal and never be repaired.
fn covers(peer: &Peer, asked: &[u16], got: impl Iterator<Item = u16>) -> Result<()> {
    let mut got: Vec<u16> = got.collect();
    let mut asked = asked.to_vec();
    got.sort_unstable();
    got.dedup();
    asked.sort_unstable();
    asked.dedup();
    if got != asked {
        return Err(ReplicationError::Protocol {
            peer: peer.addr().to_string(),
            reason: format!(
                "Digests answered {} partitions for {} asked",
                got.len(),
                asked.len()
            ),
        });
    }
    Ok(())
}

async fn round(
    peer: &Peer,
    state: &ReplicationState,
    partitions: &[u16],
    opts: SyncOptions,
) -> Result<SyncReport> {
    let mut report = SyncReport {
        partitions_compared: partitions.len(),
        ..SyncReport::default()
    };
    // 1. Roots of every partition in one call.
    let roots = peer.digests(partitions, false).await?;
    covers(peer, partitions, roots.iter().map(|d| d.partition))?;
    let differing: Vec<u16> = roots
        .iter()
        .filter(|d| state.store.digests().root(d.partition) != Some(d.root))
        .map(|d| d.partition)
        .collect();
    report.partitions_differing = differing.len();
    if differing.is_empty() {
        return Ok(report);
    }
    // 2. Bucket digests of differing partitions only.
    let mut buckets: Vec<(u16, u8)> = Vec::new();
    for chunk in differing.chunks(DIGEST_CHUNK) {
        let digests = peer.digests_with(chunk, Some(SHORT_DIGEST_LEN)).await?;
        covers(peer, chunk, digests.iter().map(|d| d.partition))?;
        for d in digests {
            let (Some(theirs), Some(ours)) =
                (d.buckets, state.store.digests().buckets(d.partition))
            else {
                continue;
            };
            buckets.extend(
                differing_tails(&ours, &theirs, SHORT_DIGEST_LEN)
                    .into_iter()
                    .map(|b| (d.partition, b)),
            );
        }
    }
    report.buckets_differing = buckets.len();
    // The store lists a bucket byte of many partitions in one walk
    // (`Store::bucket_ids_many`), so a call should name few distinct bytes;
    // the wire frames groups per run of one partition, so runs should be
    // long. Blocks of 8 bucket bytes, partition-major inside a block, give
    // both: a call of `MATCH_BUCKETS` covers a block or two when most
    // partitions differ, and each partition's 8 buckets share one frame.
    buckets.sort_unstable_by_key(|&(p, b)| (b / BUCKET_BLOCK, p, b));
    // 3. Compare the differing buckets by id prefixes.
    let extras = opts.mode == SyncMode::Both;
    let mut plan = compare(peer, &state.store, &buckets, opts.prefix_len, extras).await?;
    // 4. Buckets where a prefix collision hides a difference: again with whole ids.
    if !plan.recheck.is_empty() {
        report.buckets_rechecked = plan.recheck.len();
        tracing::debug!(peer = %peer.addr(), buckets = plan.recheck.len(), "prefix collisions; comparing whole ids");
        let exact = compare(peer, &state.store, &plan.recheck, Some(FULL_LEN), extras).await?;
        if !exact.recheck.is_empty() {
            // Equal whole ids always give equal checks: the peer computes them wrongly.
            tracing::warn!(peer = %peer.addr(), buckets = exact.recheck.len(), "check digests disagree even for whole ids");
        }
        plan.ids_exchanged += exact.ids_exchanged;
        plan.give.extend(exact.give);
        plan.fetch.extend(exact.fetch);
    }
    report.ids_exchanged = plan.ids_exchanged;
    // 5. Fetch what we lack.
    if extras {
        report.records_fetched = fetch_prefixes(peer, state, plan.fetch).await?;
    }
    // 6. Push what the peer lacks, in send order across all buckets.
    report.records_pushed = push_ids(peer, &state.store, plan.give).await?;
    Ok(report)
}

/// What comparing buckets found.
#[derive(Debug, Default)]
struct Plan {
    /// Local ids the peer lacks (or may lack: it answers `exists` then).
    give: Vec<RecordId>,
    /// The peer's prefixes we lack, per bucket.
    fetch: Vec<BucketPrefixes>,
    /// Buckets whose checks disagreed; their `give` and `fetch` are left out.
    recheck: Vec<(u16, u8)>,
    /// Prefixes sent plus prefixes received.
    ids_exchanged: usize,
}

/// Our side of one `MatchPrefixes` call.
struct Batch {
    /// Our ids per asked bucket.
    ours: Vec<Vec<RecordId>>,
    /// The request.
    asked: Vec<BucketPrefixes>,
}

/// Reads our ids of the buckets at the front of `queue` (bounded in bucket and
/// id count) and builds their prefixes.
async fn read_batch(
    store: &Store,
    queue: &mut VecDeque<(u16, u8)>,
    len: Option<u8>,
) -> Result<Option<Batch>> {
    let n = queue.len().min(MATCH_BUCKETS);
    if n == 0 {
        return Ok(None);
    }
    let todo: Vec<(u16, u8)> = queue.drain(..n).collect();
    let s = store.clone();
    let (batch, unread) = blocking(move || {
        let mut ours: Vec<Vec<RecordId>> = Vec::new();
        let mut asked: Vec<BucketPrefixes> = Vec::new();
        let mut total = 0usize;
        let listed = s.bucket_ids_many(&todo)?;
        let mut todo = todo.into_iter().zip(listed);
        for ((p, b), ids) in todo.by_ref() {
            total += ids.len();
            let l = len.unwrap_or_else(|| prefix_len_for(ids.len()));
            asked.push(BucketPrefixes::of_ids(p, b, l, &ids));
            ours.push(ids);
            if total >= MATCH_IDS {
                break;
            }
        }
        Ok((
            Batch { ours, asked },
            todo.map(|(pb, _)| pb).collect::<Vec<_>>(),
        ))
    })
    .await?;
    // Bucket order does not matter for comparing: the unread ones wait at the back.
    queue.extend(unread);
    Ok(Some(batch))
}

/// Compares `buckets` with the peer by prefixes of length `len` (or chosen per
/// bucket from our id count); `extras` asks for the peer's prefixes we lack.
/// The next batch is read while the peer answers the current one.
async fn compare(
    peer: &Peer,
    store: &Store,
    buckets: &[(u16, u8)],
    len: Option<u8>,
    extras: bool,
) -> Result<Plan> {
    let mut plan = Plan::default();
    let mut queue: VecDeque<(u16, u8)> = buckets.iter().copied().collect();
    let mut current = read_batch(store, &mut queue, len).await?;
    while let Some(batch) = current.take() {
        let (answers, next) = tokio::join!(
            peer.match_prefixes(&batch.asked, extras),
            read_batch(store, &mut queue, len)
        );
        let answers = answers?;
        current = next?;
        if answers.is_empty() {
            return Err(ReplicationError::Protocol {
                peer: peer.addr().to_string(),
                reason: "MatchPrefixes answered no bucket".into(),
            });
        }
        // The peer stopped early to bound its reply: ask for the rest later.
        queue.extend(
            batch
                .asked
                .iter()
                .skip(answers.len())
                .map(|q| (q.partition, q.bucket)),
        );
        if current.is_none() {
            current = read_batch(store, &mut queue, len).await?;
        }
        plan = blocking(move || Ok(settle_all(plan, &batch.ours, &batch.asked, &answers))).await?;
    }
    Ok(plan)
}

/// Folds the answered buckets into `plan`.
fn settle_all(
    mut plan: Plan,
    ours: &[Vec<RecordId>],
    asked: &[BucketPrefixes],
    answers: &[BucketAnswer],
) -> Plan {
    for ((ids, q), a) in ours.iter().zip(asked).zip(answers) {
        plan.ids_exchanged += q.count() + a.extras.len() / usize::from(q.len.max(1));
        let settled = settle(ids, a);
        if !settled.consistent {
            plan.recheck.push((q.partition, q.bucket));
            continue;
        }
        if settled.give.is_empty() && a.extras.is_empty() {
            // Digests differed but the contents agree: usually a write that
            // reached both sides during this round; if it repeats for the
            // same bucket, a created record was not noted in one side's
            // digests (they are rebuilt from the store at start-up).
            tracing::debug!(
                partition = q.partition,
                bucket = q.bucket,
                "bucket digests differ but the ids agree"
            );
        }
        plan.give.extend(settled.give);
        if !a.extras.is_empty() {
            plan.fetch.push(BucketPrefixes {
                partition: q.partition,
                bucket: q.bucket,
                len: q.len,
                prefixes: a.extras.clone(),
            });
        }
    }
    plan
}

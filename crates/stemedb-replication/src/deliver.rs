//! Hint delivery: push a target's hinted records (read from the local store)
//! in send order and delete each hint once the target answers `created` or
//! `exists`. `missing_target` hints stay and are retried in a further pass.

use std::sync::Arc;

use stemedb_records::RecordId;
use stemedb_storage::Store;

use crate::client::Peer;
use crate::error::{Result, blocking};
use crate::hints::HintQueue;
use crate::proto::PushStatus;
use crate::wire::{batches, read_in_send_order};

/// Hints read per page.
const PAGE: usize = 2_048;
/// Records per `Push`.
const PUSH_RECORDS: usize = 1_024;
/// Bytes per `Push`.
const PUSH_BYTES: usize = 4 * 1024 * 1024;
/// Passes over the queue when annotations arrive before their targets.
const MAX_PASSES: usize = 4;

/// Pushes every hinted record for `target_id` to `target_peer`; returns how many hints were delivered.
pub async fn deliver_hints(
    target_peer: &Peer,
    target_id: &str,
    store: &Store,
    hints: &Arc<HintQueue>,
) -> Result<usize> {
    let mut delivered = 0usize;
    let mut outcome = Ok(());
    for _ in 0..MAX_PASSES {
        match pass(target_peer, target_id, store, hints).await {
            Ok((done, stuck)) => {
                delivered += done;
                if stuck == 0 || done == 0 {
                    break;
                }
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    // Refresh the lag gauge even when nothing moved: the oldest hint keeps ageing.
    hints.publish();
    outcome?;
    if delivered > 0 {
        tracing::info!(target = target_id, delivered, "hints delivered");
    }
    Ok(delivered)
}

/// One pass over the queue; returns (delivered, still waiting for a target).
async fn pass(
    peer: &Peer,
    target: &str,
    store: &Store,
    hints: &Arc<HintQueue>,
) -> Result<(usize, usize)> {
    let mut cursor: Option<RecordId> = None;
    let mut delivered = 0usize;
    let mut stuck = 0usize;
    loop {
        let (q, t, s) = (hints.clone(), target.to_string(), store.clone());
        let page = blocking(move || {
            let ids = q.pending_after(&t, cursor, PAGE)?;
            let (records, orphans) = read_in_send_order(&s, &ids)?;
            Ok((ids.last().copied(), records, orphans))
        })
        .await?;
        let (last, records, orphans) = page;
        let Some(last) = last else { break };
        cursor = Some(last);
        if !orphans.is_empty() {
            tracing::warn!(
                target,
                count = orphans.len(),
                "hinted records are not in the local store; dropping their hints"
            );
            remove_hints(hints, target, orphans).await?;
        }
        for batch in batches(records, PUSH_RECORDS, PUSH_BYTES) {
            let outcomes = peer.push(&batch).await?;
            let mut remove: Vec<RecordId> = Vec::new();
            for (rec, o) in batch.iter().zip(outcomes) {
                match o.status {
                    PushStatus::Created | PushStatus::Exists => {
                        delivered += 1;
                        remove.push(rec.id());
                    }
                    PushStatus::MissingTarget => stuck += 1,
                    _ => {
                        tracing::error!(target, id = %rec.id(), error = %o.error, "target rejects a hinted record; dropping the hint");
                        remove.push(rec.id());
                    }
                }
            }
            // Per batch, so a failure later in the page does not resend what arrived.
            remove_hints(hints, target, remove).await?;
        }
    }
    Ok((delivered, stuck))
}

async fn remove_hints(hints: &Arc<HintQueue>, target: &str, ids: Vec<RecordId>) -> Result<usize> {
    let (q, t) = (hints.clone(), target.to_string());
    blocking(move || q.remove(&t, &ids)).await
}

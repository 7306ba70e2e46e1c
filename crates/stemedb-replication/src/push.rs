//! Applying a `Push`: decode each record (its id is re-hashed from the
//! bytes), enforce `api.require_signatures`, append the valid ones in one
//! group commit, tell the [`PushObserver`](crate::PushObserver) what was
//! created, and answer one result per input, in order.
//!
//! A small push (a replica copy of a few client writes; the pusher coalesces
//! concurrent ones) runs in an async task and awaits the group commit, so
//! no thread is parked for it: two fewer thread hand-offs per push than the
//! blocking pool (three-node load: 12 % fewer context switches per write,
//! docs/benchmarks.md). It is kept small because decoding, re-hashing and
//! signature checks then run on an async worker. Large pushes (hint
//! delivery, anti-entropy repair) decode and append on the blocking pool.

use stemedb_records::{RecordId, SignedRecord};
use stemedb_storage::{AppendStatus, ItemResult, StorageError};

use crate::error::{ReplicationError, Result, blocking};
use crate::proto::{PushResult, PushStatus};
use crate::server::ReplicationState;
use crate::wire::push_result;

/// Pushes of at most this many records are applied in an async task.
pub(crate) const INLINE_RECORDS: usize = 16;

/// A push after decoding: a slot per input (filled for the refused ones) and
/// the records to append.
struct Decoded {
    slots: Vec<Option<PushResult>>,
    valid: Vec<SignedRecord>,
}

/// Applies a pushed batch; one result per input, in order. Runs to the end
/// even when the caller stops waiting (a pusher's timeout drops the call):
/// once a record is appended, the observer still learns of it.
pub(crate) async fn apply(state: ReplicationState, raw: Vec<Vec<u8>>) -> Result<Vec<PushResult>> {
    if raw.len() > INLINE_RECORDS {
        return blocking(move || apply_blocking(&state, &raw)).await;
    }
    tokio::spawn(apply_inline(state, raw))
        .await
        .map_err(|e| ReplicationError::Task(e.to_string()))?
}

async fn apply_inline(state: ReplicationState, raw: Vec<Vec<u8>>) -> Result<Vec<PushResult>> {
    let Decoded { slots, valid } = decode(&state, &raw);
    let ids: Vec<RecordId> = valid.iter().map(SignedRecord::id).collect();
    let outcomes = if valid.is_empty() {
        Vec::new()
    } else {
        match state.store.append_async(valid).await {
            // Nothing was queued: a replica copy waits for room instead of
            // being refused, on the blocking path (which decodes again).
            Err(StorageError::Overloaded(_)) => {
                return blocking(move || apply_blocking(&state, &raw)).await;
            }
            other => other?,
        }
    };
    let created = created(&outcomes);
    let may_block = state
        .on_push
        .as_ref()
        .is_some_and(|o| !created.is_empty() && o.may_block(&created));
    if may_block {
        let s = state.clone();
        blocking(move || notify(&s, &created)).await?;
    } else {
        notify(&state, &created)?;
    }
    Ok(answer(slots, ids, outcomes))
}

/// [`apply`] on the calling thread (the blocking pool).
fn apply_blocking(state: &ReplicationState, raw: &[Vec<u8>]) -> Result<Vec<PushResult>> {
    let Decoded { slots, valid } = decode(state, raw);
    let ids: Vec<RecordId> = valid.iter().map(SignedRecord::id).collect();
    let outcomes = if valid.is_empty() {
        Vec::new()
    } else {
        state.store.append(valid)?
    };
    notify(state, &created(&outcomes))?;
    Ok(answer(slots, ids, outcomes))
}

/// Tells the observer, if any, what the push created (nothing: no call).
fn notify(state: &ReplicationState, created: &[(RecordId, u16)]) -> Result<()> {
    match &state.on_push {
        Some(observer) if !created.is_empty() => observer
            .created(created)
            .map_err(ReplicationError::Observer),
        _ => Ok(()),
    }
}

fn decode(state: &ReplicationState, raw: &[Vec<u8>]) -> Decoded {
    let mut decoded: Vec<std::result::Result<SignedRecord, (Vec<u8>, String)>> = raw
        .iter()
        .map(|bytes| SignedRecord::from_stored(bytes).map_err(|e| (Vec::new(), e.to_string())))
        .collect();
    if state.require_signatures {
        enforce_signatures(&mut decoded);
    }
    let mut slots = Vec::with_capacity(raw.len());
    let mut valid = Vec::with_capacity(raw.len());
    for d in decoded {
        match d {
            Ok(rec) => {
                slots.push(None);
                valid.push(rec);
            }
            Err((id, error)) => slots.push(Some(PushResult {
                status: PushStatus::Invalid as i32,
                id,
                error,
            })),
        }
    }
    Decoded { slots, valid }
}

/// The records the append created, with the partition the store decided.
fn created(outcomes: &[ItemResult]) -> Vec<(RecordId, u16)> {
    outcomes
        .iter()
        .filter_map(|o| o.as_ref().ok())
        .filter(|a| a.status == AppendStatus::Created)
        .map(|a| (a.id, a.partition))
        .collect()
}

/// One result per input: the refused ones as decoded, the rest from the append.
fn answer(
    slots: Vec<Option<PushResult>>,
    ids: Vec<RecordId>,
    outcomes: Vec<ItemResult>,
) -> Vec<PushResult> {
    let mut it = ids.into_iter().zip(outcomes);
    slots
        .into_iter()
        .map(|slot| match slot {
            Some(r) => r,
            None => match it.next() {
                Some((id, outcome)) => push_result(Some(id), &outcome),
                None => PushResult {
                    status: PushStatus::Invalid as i32,
                    id: Vec::new(),
                    error: "lost in append".into(),
                },
            },
        })
        .collect()
}

/// `api.require_signatures` on the replication path: the same rule as over
/// HTTP, so a pushed record is refused unless it is signed. Signatures are
/// verified once, by the store's append (an invalid one is answered
/// `invalid` there).
fn enforce_signatures(decoded: &mut [std::result::Result<SignedRecord, (Vec<u8>, String)>]) {
    for d in decoded.iter_mut() {
        if let Ok(rec) = d
            && rec.signature().is_none()
        {
            let id = rec.id().as_bytes().to_vec();
            *d = Err((
                id,
                "unsigned record refused: api.require_signatures is on".into(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use stemedb_testkit::records::assertion;
    use stemedb_testkit::store::temp_store;

    use super::*;
    use crate::server::PushObserver;

    /// Records what it is told; never blocks.
    #[derive(Default)]
    struct Seen(Mutex<Vec<(RecordId, u16)>>);

    impl PushObserver for Seen {
        fn created(&self, records: &[(RecordId, u16)]) -> std::result::Result<(), String> {
            self.0
                .lock()
                .map_err(|e| e.to_string())?
                .extend_from_slice(records);
            Ok(())
        }

        fn may_block(&self, _records: &[(RecordId, u16)]) -> bool {
            false
        }
    }

    /// A pusher that gives up (its call is dropped after the first poll)
    /// does not stop the push half-way: the record it sent is appended and
    /// the observer still learns of it. (One runtime thread: the call is
    /// surely pending after its first poll.)
    #[tokio::test]
    async fn a_dropped_call_still_tells_the_observer() {
        let (_dir, store) = temp_store();
        let seen = Arc::new(Seen::default());
        let mut state = ReplicationState::new(store.clone());
        state.on_push = Some(seen.clone());
        let rec = assertion("drug:dropped", 1);
        let raw = vec![rec.to_stored()];
        // Poll the call once, then drop it.
        let finished = tokio::select! {
            biased;
            r = apply(state, raw) => Some(r),
            () = std::future::ready(()) => None,
        };
        assert!(
            finished.is_none(),
            "the call was dropped before it finished"
        );
        let mut told = false;
        for _ in 0..500 {
            if seen.0.lock().map(|s| !s.is_empty()).unwrap_or(false) {
                told = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(told, "the observer was never told of the appended record");
        assert!(store.contains(rec.id()).expect("lookup"));
    }
}

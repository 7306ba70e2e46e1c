//! The write service: the one path every write route takes after parsing.
//!
//! policy (signature policy, admin-only kinds, retraction authorship)
//! → append (group commit; the store decides each record's partition and
//! folds it into its Merkle digests) → replicate (cluster mode) → outcome.
//!
//! In cluster mode the append and the replication run in a spawned task
//! that the handler only awaits: when the request is dropped (client gone,
//! `api.request_timeout_ms` elapsed) the task still pushes the records to
//! their replicas or leaves durable hints, so a stored record never stays on
//! one node because its request was cut short.

use std::collections::HashMap;

use axum::http::StatusCode;
use stemedb_records::{Record, RecordId, SignedRecord};
use stemedb_storage::{Appended, Store};

use crate::auth::Access;
use crate::error::ApiError;
use crate::state::AppState;

/// Per-item outcome of a batch: the store's answer, or why the item was refused.
pub type ItemOutcome = Result<Appended, ApiError>;

/// Checks that need no store access: `api.require_signatures` (trust
/// records are authenticated by the admin's credential instead) and the
/// role the record's kind needs ([`Access::may_write`]: admin for trust and
/// epochs, writer otherwise).
pub fn check_policy(state: &AppState, access: &Access, rec: &SignedRecord) -> Result<(), ApiError> {
    if !matches!(rec.record(), Record::Trust(_))
        && state.api.require_signatures
        && rec.signature().is_none()
    {
        return Err(ApiError::bad(
            "signature_required",
            "signature",
            "this server accepts only signed records (api.require_signatures = true)",
        ));
    }
    access.may_write(rec.record())
}

/// Checks that a retraction targets an assertion and that its agent is the
/// assertion's author, unless `any` (the caller may retract any assertion:
/// an authenticated admin, see [`Access::may_retract_any`]). `earlier`
/// resolves targets written earlier in the same batch. A missing target is
/// 404, a target that is not an assertion 400.
pub fn check_retraction(
    store: &Store,
    rec: &SignedRecord,
    any: bool,
    earlier: impl Fn(RecordId) -> Option<String>,
) -> Result<(), ApiError> {
    let Record::Retraction(r) = rec.record() else {
        return Ok(());
    };
    let author = match earlier(r.target) {
        Some(a) => a,
        None => match store.get(r.target)? {
            None => {
                return Err(ApiError::not_found(format!("no record {}", r.target)).field("target"));
            }
            Some(t) => match t.record.record() {
                Record::Assertion(a) => a.agent.clone(),
                other => {
                    return Err(ApiError::bad(
                        "wrong_kind",
                        "target",
                        format!(
                            "record {} is a {}, not an assertion",
                            r.target,
                            other.kind().as_str()
                        ),
                    ));
                }
            },
        },
    };
    if author != r.agent && !any {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only the author of an assertion (agent must equal the assertion's agent) or an admin may retract it",
        )
        .field("agent"));
    }
    Ok(())
}

/// Counts a stored record for `stemedb_records_written_total{kind,status}`.
fn count_written(kind: &'static str, a: &Appended) {
    metrics::counter!("stemedb_records_written_total", "kind" => kind, "status" => a.status.as_str())
        .increment(1);
}

/// Writes one record: policy, append (durable and indexed), and in cluster
/// mode replication to `write_ack` copies. Errors: the policy's (400, 401,
/// 403, 404), the store's (`overloaded`, 404/400 for bad references), the
/// cluster's (`read_only`, `replication_unavailable`).
pub async fn write_one(
    state: &AppState,
    access: &Access,
    rec: SignedRecord,
) -> Result<Appended, ApiError> {
    if let Some(c) = &state.cluster {
        c.check_writable()?;
    }
    check_policy(state, access, &rec)?;
    if matches!(rec.record(), Record::Retraction(_)) {
        let probe = rec.clone();
        let any = access.may_retract_any();
        state
            .blocking(move |store| check_retraction(store, &probe, any, |_| None))
            .await?;
    }
    let kind = rec.record().kind().as_str();
    let appended = match &state.cluster {
        None => first(state.store.append_async(vec![rec]).await?)?,
        Some(c) => {
            let (store, c) = (state.store.clone(), c.clone());
            // Detached from the request: runs to the end even if the handler is dropped.
            let task = tokio::spawn(async move {
                let copy = rec.clone();
                let appended = first(store.append_async(vec![rec]).await?)?;
                c.replicate(vec![(copy, appended)]).await?;
                Ok::<_, ApiError>(appended)
            });
            task.await??
        }
    };
    count_written(kind, &appended);
    Ok(appended)
}

fn first(results: Vec<stemedb_storage::ItemResult>) -> Result<Appended, ApiError> {
    results
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("append returned no result"))?
        .map_err(ApiError::from)
}

/// Writes a batch: every item that passes the policy is appended in one
/// group commit (a retraction may target an assertion earlier in the batch);
/// refused items are reported in place and do not fail the others. In
/// cluster mode the stored items are replicated before the answer, and the
/// whole batch is `replication_unavailable` when one cannot reach
/// `write_ack` copies (it stays stored and hinted).
pub async fn write_batch(
    state: &AppState,
    access: &Access,
    items: Vec<Result<SignedRecord, ApiError>>,
) -> Result<Vec<ItemOutcome>, ApiError> {
    if let Some(c) = &state.cluster {
        c.check_writable()?;
    }
    let st = state.clone();
    let access = access.clone();
    // Detached from the request like `write_one`; policy and append run on the blocking pool.
    let task = tokio::spawn(async move {
        let cluster = st.cluster.clone();
        let (results, written) = st
            .clone()
            .blocking(move |store| check_and_append(&st, &access, store, items))
            .await?;
        if let Some(c) = cluster {
            c.replicate(written).await?;
        }
        Ok::<_, ApiError>(results)
    });
    task.await?
}

/// Appended records and their outcomes, for replication.
type Written = Vec<(SignedRecord, Appended)>;

fn check_and_append(
    state: &AppState,
    access: &Access,
    store: &Store,
    items: Vec<Result<SignedRecord, ApiError>>,
) -> Result<(Vec<ItemOutcome>, Written), ApiError> {
    let mut results: Vec<Option<ItemOutcome>> = vec![None; items.len()];
    let mut valid: Vec<SignedRecord> = Vec::new();
    let mut valid_idx: Vec<usize> = Vec::new();
    let mut authors: HashMap<RecordId, String> = HashMap::new();
    let any = access.may_retract_any();
    for (i, item) in items.into_iter().enumerate() {
        let checked = item.and_then(|rec| {
            check_policy(state, access, &rec)?;
            check_retraction(store, &rec, any, |id| authors.get(&id).cloned())?;
            Ok(rec)
        });
        match checked {
            Ok(rec) => {
                if let Record::Assertion(a) = rec.record() {
                    authors.insert(rec.id(), a.agent.clone());
                }
                valid_idx.push(i);
                valid.push(rec);
            }
            Err(e) => results[i] = Some(Err(e)),
        }
    }
    let copies: Vec<SignedRecord> = if state.cluster.is_some() {
        valid.clone()
    } else {
        Vec::new()
    };
    let kinds: Vec<&'static str> = valid.iter().map(|r| r.record().kind().as_str()).collect();
    let appended = if valid.is_empty() {
        Vec::new()
    } else {
        store.try_append(valid)?
    };
    let mut written = Vec::new();
    let mut copies = copies.into_iter();
    for ((i, kind), res) in valid_idx.into_iter().zip(kinds).zip(appended) {
        let copy = copies.next();
        results[i] = Some(match res {
            Ok(a) => {
                count_written(kind, &a);
                if let Some(rec) = copy {
                    written.push((rec, a));
                }
                Ok(a)
            }
            Err(r) => Err(ApiError::from(r)),
        });
    }
    let results = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(ApiError::internal("batch item lost"))))
        .collect();
    Ok((results, written))
}

//! HTTP endpoints, one module per group, and the helpers writes share.

pub mod admin;
pub mod annotations;
pub mod conflicts;
pub mod docs;
pub mod listing;
pub mod ops;
pub mod query;
pub mod read;
pub mod records;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use stemedb_records::{Record, RecordId, SignedRecord};
use stemedb_storage::{AppendStatus, Appended, Store};

use crate::error::ApiError;
use crate::state::AppState;

/// Refuses unsigned records when `api.require_signatures` is on.
pub(crate) fn check_signature_policy(state: &AppState, rec: &SignedRecord) -> Result<(), ApiError> {
    if state.api.require_signatures && rec.signature().is_none() {
        return Err(ApiError::bad(
            "signature_required",
            "signature",
            "this server accepts only signed records (api.require_signatures = true)",
        ));
    }
    Ok(())
}

/// Checks that a retraction targets an assertion and that its agent is the
/// assertion's author, unless `any` (the caller may retract any assertion:
/// an authenticated admin, see [`crate::auth::Access::may_retract_any`]).
/// `earlier` resolves targets written earlier in the same batch.
pub(crate) fn check_retraction(
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
pub(crate) fn count_written(kind: &'static str, a: &Appended) {
    metrics::counter!("stemedb_records_written_total", "kind" => kind, "status" => a.status.as_str())
        .increment(1);
}

/// Appends one record (group commit, durable and indexed on return) and
/// answers `201 {"id", "status"}`. A full write queue is 503 `overloaded`.
/// In cluster mode: 503 `read_only` in the minority, and the record is
/// replicated before the answer (503 `replication_unavailable` below `write_ack`).
pub(crate) async fn append_one(state: &AppState, rec: SignedRecord) -> Result<Response, ApiError> {
    if let Some(c) = &state.cluster {
        c.check_writable()?;
    }
    let kind = rec.record().kind().as_str();
    let copy = state.cluster.as_ref().map(|_| rec.clone());
    // Awaits the group commit without parking a blocking-pool thread.
    let appended = state
        .store
        .append_async(vec![rec])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("append returned no result"))?
        .map_err(ApiError::from)?;
    count_written(kind, &appended);
    if let (Some(c), Some(rec)) = (&state.cluster, copy) {
        c.replicate(vec![(rec, appended.status == AppendStatus::Created)])
            .await?;
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": appended.id.to_hex(), "status": appended.status.as_str()})),
    )
        .into_response())
}

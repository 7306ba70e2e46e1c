//! `POST /v1/assert` (one assertion) and `POST /v1/assertions` (a batch).

use std::collections::HashMap;

use axum::Json;
use axum::response::Response;
use axum::routing::post;
use axum::{Router, extract::State};
use serde_json::{Value, json};
use stemedb_records::{Record, RecordId, SignedRecord, wire};
use stemedb_storage::AppendStatus;

use super::{append_one, check_retraction, check_signature_policy, count_written};
use crate::auth::Access;
use crate::error::ApiError;
use crate::extract::{BatchBody, JsonBody, too_large};
use crate::openapi::{AssertionIn, BatchResult, ErrorBody, WriteResult};
use crate::state::AppState;

/// Routes of this group.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/assert", post(assert))
        .route("/v1/assertions", post(batch))
}

/// Write one assertion.
///
/// Answers only after the record is fsynced and indexed (durable and visible
/// to reads on this node). Writing an identical record again answers
/// `"status": "exists"`.
#[utoipa::path(post, path = "/v1/assert", tag = "write",
    request_body = AssertionIn,
    responses(
        (status = 201, description = "Stored (or already stored)", body = WriteResult),
        (status = 400, description = "Invalid record; nothing stored", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 503, description = "Write queue full; retry after Retry-After", body = ErrorBody),
    ))]
pub async fn assert(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let rec = wire::parse_assertion(&body, &state.clock)?;
    check_signature_policy(&state, &rec)?;
    append_one(&state, rec).await
}

/// Write a batch of records.
///
/// The body is a JSON array or NDJSON (`Content-Type: application/x-ndjson`,
/// one record per line; the lines of `GET /v1/export` are accepted). Items
/// are assertions unless they carry `"kind"`. Every valid item is stored in
/// one group commit; invalid items are reported by index and do not fail the
/// others. Trust and epoch items need the admin role (403 per item
/// otherwise), retractions of other agents' assertions an admin key. In
/// cluster mode the whole batch is answered 503 `replication_unavailable`
/// when a stored item cannot reach `write_ack` copies (retrying is safe).
#[utoipa::path(post, path = "/v1/assertions", tag = "write",
    request_body(content = Vec<AssertionIn>, description = "JSON array, or NDJSON with Content-Type application/x-ndjson"),
    responses(
        (status = 200, description = "Per-item results", body = BatchResult),
        (status = 400, description = "Body is not an array / not JSON", body = ErrorBody),
        (status = 413, description = "Body or item count over the limit", body = ErrorBody),
        (status = 503, description = "Write queue full", body = ErrorBody),
    ))]
pub async fn batch(
    State(state): State<AppState>,
    access: Access,
    BatchBody(items): BatchBody,
) -> Result<Json<Value>, ApiError> {
    let max = state.api.max_batch;
    if items.len() > max {
        return Err(too_large(format!(
            "batch has {} items; the limit is {max} (api.max_batch)",
            items.len()
        )));
    }
    if let Some(c) = &state.cluster {
        c.check_writable()?;
    }
    let any = access.may_retract_any();
    let st = state.clone();
    let (out, written) = state
        .blocking(move |store| {
            let n = items.len();
            let mut results: Vec<Option<Result<(RecordId, &'static str), ApiError>>> =
                vec![None; n];
            let mut valid: Vec<SignedRecord> = Vec::new();
            let mut valid_idx: Vec<usize> = Vec::new();
            let mut authors: HashMap<RecordId, String> = HashMap::new();
            for (i, item) in items.into_iter().enumerate() {
                let checked = item.and_then(|v| {
                    let rec = wire::parse_record(&v, &st.clock)?;
                    check_signature_policy(&st, &rec)?;
                    access.may_write(rec.record())?;
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
            let kinds: Vec<&'static str> =
                valid.iter().map(|r| r.record().kind().as_str()).collect();
            let copies: Vec<SignedRecord> = if st.cluster.is_some() {
                valid.clone()
            } else {
                Vec::new()
            };
            let appended = if valid.is_empty() {
                Vec::new()
            } else {
                store.try_append(valid)?
            };
            let mut written: Vec<(SignedRecord, bool)> = Vec::new();
            let mut copies = copies.into_iter();
            for ((i, kind), res) in valid_idx.into_iter().zip(kinds).zip(appended) {
                let copy = copies.next();
                results[i] = Some(match res {
                    Ok(a) => {
                        if let Some(rec) = copy {
                            written.push((rec, a.status == AppendStatus::Created));
                        }
                        count_written(kind, &a);
                        Ok((a.id, a.status.as_str()))
                    }
                    Err(r) => Err(ApiError::from(r)),
                });
            }
            Ok((results, written))
        })
        .await?;
    if let Some(c) = &state.cluster {
        c.replicate(written).await?;
    }
    let (mut created, mut exists, mut failed) = (0u64, 0u64, 0u64);
    let results: Vec<Value> = out
        .into_iter()
        .enumerate()
        .map(|(index, r)| match r {
            Some(Ok((id, status))) => {
                if status == "created" {
                    created += 1;
                } else {
                    exists += 1;
                }
                json!({"index": index, "id": id.to_hex(), "status": status})
            }
            Some(Err(e)) => {
                failed += 1;
                json!({"index": index, "error": e.body()})
            }
            None => {
                failed += 1;
                json!({"index": index, "error": ApiError::internal("item lost").body()})
            }
        })
        .collect();
    Ok(Json(json!({
        "results": results, "created": created, "exists": exists, "failed": failed
    })))
}

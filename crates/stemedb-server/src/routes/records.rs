//! `POST /v1/assert` (one assertion) and `POST /v1/assertions` (a batch).

use axum::Json;
use axum::response::Response;
use axum::routing::post;
use axum::{Router, extract::State};
use serde_json::{Value, json};
use stemedb_records::wire;
use stemedb_storage::AppendStatus;

use super::written;
use crate::auth::Access;
use crate::error::ApiError;
use crate::extract::{BatchBody, JsonBody, too_large};
use crate::openapi::{AssertionIn, BatchResult, ErrorBody, WriteResult};
use crate::state::AppState;
use crate::write;

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
    access: Access,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let rec = wire::parse_assertion(&body, &state.clock)?;
    let a = write::write_one(&state, &access, rec).await?;
    Ok(written(&a))
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
    let clock = state.clock.clone();
    let records = state
        .blocking(move |_| {
            Ok(items
                .into_iter()
                .map(|item| item.and_then(|v| Ok(wire::parse_record(&v, &clock)?)))
                .collect::<Vec<_>>())
        })
        .await?;
    let out = write::write_batch(&state, &access, records).await?;
    let (mut created, mut exists, mut failed) = (0u64, 0u64, 0u64);
    let results: Vec<Value> = out
        .into_iter()
        .enumerate()
        .map(|(index, r)| match r {
            Ok(a) => {
                match a.status {
                    AppendStatus::Created => created += 1,
                    AppendStatus::Exists => exists += 1,
                }
                json!({"index": index, "id": a.id.to_hex(), "status": a.status.as_str()})
            }
            Err(e) => {
                failed += 1;
                json!({"index": index, "error": e.body()})
            }
        })
        .collect();
    Ok(Json(json!({
        "results": results, "created": created, "exists": exists, "failed": failed
    })))
}

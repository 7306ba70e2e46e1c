//! `POST /v1/assert` (one assertion) and `POST /v1/assertions` (a batch).

use axum::Json;
use axum::response::Response;
use axum::routing::post;
use axum::{Router, extract::State};
use serde::ser::{Serialize, SerializeMap, Serializer};
use stemedb_records::render::HexId;
use stemedb_records::wire;
use stemedb_storage::{AppendStatus, Appended};

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
) -> Result<Json<BatchAnswer>, ApiError> {
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
                .map(|item| item.parse(&clock))
                .collect::<Vec<_>>())
        })
        .await?;
    let out = write::write_batch(&state, &access, records).await?;
    Ok(Json(BatchAnswer::new(out)))
}

/// The batch answer, serialized straight into the response body (no
/// `Value` per item): `{"created", "exists", "failed", "results"}`, keys in
/// byte order as before.
pub struct BatchAnswer {
    created: u64,
    exists: u64,
    failed: u64,
    results: Vec<Result<Appended, ApiError>>,
}

impl BatchAnswer {
    fn new(results: Vec<Result<Appended, ApiError>>) -> Self {
        let (mut created, mut exists, mut failed) = (0u64, 0u64, 0u64);
        for r in &results {
            match r {
                Ok(a) if a.status == AppendStatus::Created => created += 1,
                Ok(_) => exists += 1,
                Err(_) => failed += 1,
            }
        }
        BatchAnswer {
            created,
            exists,
            failed,
            results,
        }
    }
}

impl Serialize for BatchAnswer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("created", &self.created)?;
        m.serialize_entry("exists", &self.exists)?;
        m.serialize_entry("failed", &self.failed)?;
        m.serialize_entry("results", &Items(&self.results))?;
        m.end()
    }
}

struct Items<'a>(&'a [Result<Appended, ApiError>]);

impl Serialize for Items<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().enumerate().map(|(index, r)| Item(index, r)))
    }
}

/// `{"id", "index", "status"}` or `{"error", "index"}`.
struct Item<'a>(usize, &'a Result<Appended, ApiError>);

impl Serialize for Item<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        match self.1 {
            Ok(a) => {
                m.serialize_entry("id", &HexId(&a.id))?;
                m.serialize_entry("index", &self.0)?;
                m.serialize_entry("status", a.status.as_str())?;
            }
            Err(e) => {
                m.serialize_entry("error", &e.body())?;
                m.serialize_entry("index", &self.0)?;
            }
        }
        m.end()
    }
}

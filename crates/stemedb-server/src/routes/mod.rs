//! HTTP endpoints, one module per group; writes go through [`crate::write`].

pub mod admin;
pub mod annotations;
pub mod backup;
pub mod conflicts;
pub mod console;
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
use stemedb_storage::Appended;

/// `201 {"id", "status"}` for a stored (or already stored) record.
pub(crate) fn written(a: &Appended) -> Response {
    (
        StatusCode::CREATED,
        Json(json!({"id": a.id.to_hex(), "status": a.status.as_str()})),
    )
        .into_response()
}

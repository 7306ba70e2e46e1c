//! HTTP endpoints, one module per group, and the helpers writes share.

pub mod admin;
pub mod annotations;
pub mod docs;
pub mod listing;
pub mod ops;
pub mod query;
pub mod read;
pub mod records;

use axum::Json;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use stemedb_storage::Appended;

use crate::error::ApiError;
use crate::state::AppState;
use crate::write::Caller;

/// Checks `Authorization: Bearer <api.admin_token>` when a token is configured.
pub(crate) fn check_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = state.api.admin_token.as_deref() else {
        return Ok(());
    };
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this endpoint requires Authorization: Bearer <admin token>",
        ));
    };
    let given = given
        .strip_prefix("Bearer ")
        .unwrap_or("")
        .trim()
        .as_bytes();
    let want = token.as_bytes();
    // Constant-time comparison over the expected length.
    let mut diff = u8::from(given.len() != want.len());
    for (i, w) in want.iter().enumerate() {
        diff |= w ^ given.get(i).copied().unwrap_or(0);
    }
    if diff != 0 {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the admin token is not valid",
        ));
    }
    Ok(())
}

/// What the write policy knows about the caller of this request.
pub(crate) fn caller(state: &AppState, headers: &HeaderMap) -> Caller {
    Caller {
        admin: check_admin(state, headers),
    }
}

/// `201 {"id", "status"}` for a stored (or already stored) record.
pub(crate) fn written(a: &Appended) -> Response {
    (
        StatusCode::CREATED,
        Json(json!({"id": a.id.to_hex(), "status": a.status.as_str()})),
    )
        .into_response()
}

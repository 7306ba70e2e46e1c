//! `PUT /v1/agents/{agent}/trust` (admin) and `POST /v1/epochs`.

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{post, put};
use stemedb_records::wire;

use super::{caller, written};
use crate::error::ApiError;
use crate::extract::{JsonBody, path_param};
use crate::openapi::{EpochIn, ErrorBody, TrustIn, WriteResult};
use crate::state::AppState;
use crate::write;

/// Routes of this group.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/agents/{agent}/trust", put(trust))
        .route("/v1/epochs", post(epoch))
}

/// Set an agent's trust score (admin).
///
/// When `api.admin_token` is set the request needs
/// `Authorization: Bearer <token>` (401 without it, 403 with a wrong one).
/// Trust records are authenticated by the token, so `api.require_signatures`
/// does not apply to them.
#[utoipa::path(put, path = "/v1/agents/{agent}/trust", tag = "admin",
    params(("agent" = String, Path, description = "Agent name or 64-hex public key")),
    request_body = TrustIn,
    responses(
        (status = 201, description = "Stored (or already stored)", body = WriteResult),
        (status = 400, description = "Invalid record", body = ErrorBody),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody),
    ))]
pub async fn trust(
    State(state): State<AppState>,
    agent: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let caller = caller(&state, &headers);
    caller.admin.clone()?;
    let agent = path_param(agent, "agent")?;
    let rec = wire::parse_trust(&body, Some(&agent), &state.clock)?;
    let a = write::write_one(&state, &caller, rec).await?;
    Ok(written(&a))
}

/// Declare an epoch (a paradigm that supersedes another for a subject prefix).
#[utoipa::path(post, path = "/v1/epochs", tag = "write",
    request_body = EpochIn,
    responses(
        (status = 201, description = "Stored (or already stored)", body = WriteResult),
        (status = 400, description = "Invalid record", body = ErrorBody),
        (status = 404, description = "`supersedes` names no stored epoch", body = ErrorBody),
    ))]
pub async fn epoch(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let rec = wire::parse_epoch(&body, &state.clock)?;
    let a = write::write_one(&state, &caller(&state, &headers), rec).await?;
    Ok(written(&a))
}

//! `PUT /v1/agents/{agent}/trust` (admin) and `POST /v1/epochs`.

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{post, put};
use stemedb_records::wire;

use super::written;
use crate::auth::Access;
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
/// Needs the admin role: an admin key, or `api.admin_token` (see
/// `docs/security.md`). Trust records are authenticated by the key, so
/// `api.require_signatures` does not apply to them.
#[utoipa::path(put, path = "/v1/agents/{agent}/trust", tag = "admin",
    params(("agent" = String, Path, description = "Agent name or 64-hex public key")),
    request_body = TrustIn,
    responses(
        (status = 201, description = "Stored (or already stored)", body = WriteResult),
        (status = 400, description = "Invalid record", body = ErrorBody),
    ))]
pub async fn trust(
    State(state): State<AppState>,
    access: Access,
    agent: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let agent = path_param(agent, "agent")?;
    let rec = wire::parse_trust(&body, Some(&agent), &state.clock)?;
    let a = write::write_one(&state, &access, rec).await?;
    Ok(written(&a))
}

/// Declare an epoch (a paradigm that supersedes another for a subject prefix).
///
/// Needs the admin role (an admin key, or `api.admin_token` when set).
#[utoipa::path(post, path = "/v1/epochs", tag = "admin",
    request_body = EpochIn,
    responses(
        (status = 201, description = "Stored (or already stored)", body = WriteResult),
        (status = 400, description = "Invalid record", body = ErrorBody),
        (status = 404, description = "`supersedes` names no stored epoch", body = ErrorBody),
    ))]
pub async fn epoch(
    State(state): State<AppState>,
    access: Access,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let rec = wire::parse_epoch(&body, &state.clock)?;
    let a = write::write_one(&state, &access, rec).await?;
    Ok(written(&a))
}

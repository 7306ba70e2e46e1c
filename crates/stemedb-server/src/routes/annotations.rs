//! `POST /v1/retract` and `POST /v1/vote`: records about an assertion.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use stemedb_records::wire;

use super::written;
use crate::auth::Access;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::openapi::{ErrorBody, RetractionIn, VoteIn, WriteResult};
use crate::state::AppState;
use crate::write;

/// Routes of this group.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/retract", post(retract))
        .route("/v1/vote", post(vote))
}

/// Retract an assertion.
///
/// The assertion's author may retract it: the retraction's `agent` must
/// equal the target assertion's `agent` (403 `forbidden` otherwise), unless
/// the caller is an admin (an admin key or `api.admin_token`), who may
/// retract any assertion. With
/// unsigned writes allowed, `agent` is a claim, not a proof; turn on
/// `api.require_signatures` to make it one.
#[utoipa::path(post, path = "/v1/retract", tag = "write",
    request_body = RetractionIn,
    responses(
        (status = 201, description = "Stored (or already stored)", body = WriteResult),
        (status = 400, description = "Invalid record", body = ErrorBody),
        (status = 403, description = "Agent is not the assertion's author and the caller is no admin, or the key's role is below writer", body = ErrorBody),
        (status = 404, description = "Target does not exist", body = ErrorBody),
        (status = 503, description = "Write queue full", body = ErrorBody),
    ))]
pub async fn retract(
    State(state): State<AppState>,
    access: Access,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let rec = wire::parse_retraction(&body, &state.clock)?;
    let a = write::write_one(&state, &access, rec).await?;
    Ok(written(&a))
}

/// Vote on an assertion (weight in [-1, 1]).
#[utoipa::path(post, path = "/v1/vote", tag = "write",
    request_body = VoteIn,
    responses(
        (status = 201, description = "Stored (or already stored)", body = WriteResult),
        (status = 400, description = "Invalid record", body = ErrorBody),
        (status = 404, description = "Target does not exist", body = ErrorBody),
        (status = 503, description = "Write queue full", body = ErrorBody),
    ))]
pub async fn vote(
    State(state): State<AppState>,
    access: Access,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let rec = wire::parse_vote(&body, &state.clock)?;
    let a = write::write_one(&state, &access, rec).await?;
    Ok(written(&a))
}

//! `GET /v1/conflicts`: contested (subject, predicate) pairs under a subject
//! prefix, found by walking only that prefix's subject range.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use stemedb_lens::Lens;
use stemedb_query::ConflictScan;
use stemedb_query::conflicts::{DEFAULT_CONFLICT_LIMIT, MAX_CONFLICT_LIMIT};

use crate::error::ApiError;
use crate::extract::Params;
use crate::openapi::{ConflictsResponse, ErrorBody};
use crate::state::AppState;

/// Parameters `GET /v1/conflicts` accepts.
pub const PARAMS: [&str; 6] = ["prefix", "min_conflict", "lens", "as_of", "limit", "cursor"];

/// Routes of this group.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/conflicts", get(conflicts))
}

/// Turns checked parameters into a [`ConflictScan`]; every bad value names its parameter.
pub fn build_scan(p: &Params) -> Result<ConflictScan, ApiError> {
    let mut scan = ConflictScan::new(p.get("prefix").unwrap_or(""));
    if let Some(l) = p.get("lens").filter(|l| !l.is_empty()) {
        scan.lens = l
            .parse::<Lens>()
            .map_err(|e| ApiError::bad("invalid_param", "lens", e.to_string()))?;
    }
    scan.min_conflict = p
        .parse("min_conflict", "a number in [0, 1]", |v| {
            v.parse::<f64>().ok().filter(|x| (0.0..=1.0).contains(x))
        })?
        .unwrap_or(0.0);
    scan.as_of = p.int("as_of")?;
    scan.limit = p.limit(DEFAULT_CONFLICT_LIMIT, MAX_CONFLICT_LIMIT)?;
    scan.cursor = p.get("cursor").filter(|c| !c.is_empty()).map(str::to_owned);
    Ok(scan)
}

/// List contested (subject, predicate) pairs under a subject prefix.
///
/// A pair is listed when its lens `conflict` (normalised entropy of the
/// support shares) is above 0 and at least `min_conflict`. Pairs come in
/// (subject, predicate) byte order, not ranked. One call walks only the
/// subjects under `prefix` and stops after `limit` pairs or after 20,000
/// index entries; `next_cursor` (set whenever the walk stopped early, even
/// with fewer than `limit` pairs) continues it. `examined` counts the pairs
/// looked at. In cluster mode the answer covers this node's local data.
#[utoipa::path(get, path = "/v1/conflicts", tag = "read",
    params(
        ("prefix" = Option<String>, Query, description = "Only subjects starting with this (default: all)"),
        ("min_conflict" = Option<f64>, Query, description = "Threshold in [0, 1] (default 0: any disagreement)"),
        ("lens" = Option<String>, Query, description = "Lens whose conflict is measured (default consensus)"),
        ("as_of" = Option<i64>, Query, description = "Time travel: ms since the Unix epoch"),
        ("limit" = Option<usize>, Query, description = "Pairs per page, 1..=1000 (default 50)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous call"),
    ),
    responses(
        (status = 200, description = "Contested pairs", body = ConflictsResponse),
        (status = 400, description = "A bad parameter (field names it)", body = ErrorBody),
    ))]
pub async fn conflicts(
    State(state): State<AppState>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let p = Params::check(params, &PARAMS)?;
    let scan = build_scan(&p)?;
    let out = state
        .blocking(move |store| Ok(stemedb_query::conflicts(store, &scan)?.to_json()))
        .await?;
    Ok(Json(out))
}

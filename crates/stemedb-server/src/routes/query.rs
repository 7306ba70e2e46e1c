//! `GET /v1/query`: candidates of a subject (and predicate) and, with a
//! lens, their resolution.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query as QueryParams, State};
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use stemedb_lens::Lens;
use stemedb_query::Query;
use stemedb_query::params::{DEFAULT_LIMIT, MAX_LIMIT};
use stemedb_records::{Lifecycle, RecordId};

use crate::error::ApiError;
use crate::extract::Params;
use crate::openapi::{ErrorBody, QueryResponse};
use crate::state::AppState;

/// Parameters `GET /v1/query` accepts.
pub const PARAMS: [&str; 13] = [
    "subject",
    "predicate",
    "lens",
    "as_of",
    "valid_at",
    "lifecycle",
    "source_class",
    "agent",
    "include_retracted",
    "epoch",
    "limit",
    "cursor",
    "candidates",
];

/// Routes of this group.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/query", get(query))
}

/// Turns checked parameters into a [`Query`]; every bad value names its parameter.
pub fn build_query(p: &Params) -> Result<Query, ApiError> {
    let subject = p
        .get("subject")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad("missing_param", "subject", "is required"))?;
    let mut q = Query::new(subject);
    q.predicate = p.get("predicate").map(str::to_owned);
    q.lens = match p.get("lens") {
        None | Some("") => None,
        Some(l) => Some(
            l.parse::<Lens>()
                .map_err(|e| ApiError::bad("invalid_param", "lens", e.to_string()))?,
        ),
    };
    q.as_of = p.int("as_of")?;
    q.valid_at = p.int("valid_at")?;
    q.lifecycle = p.parse(
        "lifecycle",
        "proposed, under_review, approved, deprecated or rejected",
        Lifecycle::parse,
    )?;
    q.source_class = p.parse("source_class", "an integer in 0..=6", |v| {
        v.parse::<u8>().ok().filter(|c| *c <= 6)
    })?;
    q.agent = p.get("agent").map(str::to_owned);
    q.include_retracted = p
        .parse("include_retracted", "true or false", |v| match v {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        })?
        .unwrap_or(false);
    q.epoch = match p.get("epoch") {
        None => None,
        Some(e) => Some(
            RecordId::from_hex(e)
                .map_err(|err| ApiError::bad("invalid_hex", "epoch", err.to_string()))?,
        ),
    };
    q.limit = p.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
    q.cursor = p.get("cursor").filter(|c| !c.is_empty()).map(str::to_owned);
    Ok(q)
}

/// Query the candidates of a subject (and predicate), resolved by a lens.
///
/// One entry in `results` per (subject, predicate); `resolution` is null
/// without `lens`. Pages hold at most `limit` candidates; pass `next_cursor`
/// back as `cursor` for the next page. Unknown parameters are rejected.
#[utoipa::path(get, path = "/v1/query", tag = "read",
    params(
        ("subject" = String, Query, description = "Subject (required)"),
        ("predicate" = Option<String>, Query, description = "Predicate; all predicates when absent"),
        ("lens" = Option<String>, Query, description = "recency, authority, consensus, confidence, skeptic or layered"),
        ("as_of" = Option<i64>, Query, description = "Time travel: ms since the Unix epoch"),
        ("valid_at" = Option<i64>, Query, description = "Keep assertions valid at this time (ms)"),
        ("lifecycle" = Option<String>, Query, description = "proposed, under_review, approved, deprecated, rejected"),
        ("source_class" = Option<u8>, Query, description = "0..=5, or 6 for no source"),
        ("agent" = Option<String>, Query, description = "Only this agent's assertions"),
        ("include_retracted" = Option<bool>, Query, description = "List retracted candidates too"),
        ("epoch" = Option<String>, Query, description = "Only assertions of this epoch (64-hex id)"),
        ("limit" = Option<usize>, Query, description = "Candidates per page, 1..=10000 (default 100)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("candidates" = Option<bool>, Query, description = "false leaves each result's candidates list out (default true)"),
    ),
    responses(
        (status = 200, description = "Results", body = QueryResponse),
        (status = 400, description = "A bad parameter (field names it)", body = ErrorBody),
    ))]
pub async fn query(
    State(state): State<AppState>,
    params: Result<QueryParams<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = Params::check(params, &PARAMS)?;
    let q = build_query(&p)?;
    let with_candidates = p
        .parse("candidates", "true or false", |v| match v {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        })?
        .unwrap_or(true);
    if let Some(c) = &state.cluster {
        c.forward_read(&q.subject).await;
    }
    // Typed structs serialized straight into the body (no `Value` tree).
    let body = state.read(move |store| {
        stemedb_query::run(store, &q)?
            .to_json_bytes(with_candidates)
            .map_err(|e| ApiError::internal(format!("rendering the query answer: {e}")))
    })?;
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response())
}

//! `GET /v1/subjects`, `GET /v1/predicates` and `GET /v1/export` (NDJSON stream).

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use stemedb_records::{Record, SignedRecord, wire};
use stemedb_storage::{LogPos, StorageError, Store};

use crate::error::ApiError;
use crate::extract::Params;
use crate::openapi::{ErrorBody, PredicatesResponse, SubjectsResponse};
use crate::state::AppState;

/// Default page size of `/v1/subjects`.
pub const DEFAULT_SUBJECTS: usize = 100;
/// Largest page size of `/v1/subjects`.
pub const MAX_SUBJECTS: usize = 10_000;
const CHUNK: usize = 64 * 1024;

/// Routes of this group.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/subjects", get(subjects))
        .route("/v1/predicates", get(predicates))
        .route("/v1/export", get(export))
}

/// List subjects in byte order, optionally under a prefix.
///
/// `next_cursor` (opaque hex) is set when the page is full; pass it back as `cursor`.
#[utoipa::path(get, path = "/v1/subjects", tag = "read",
    params(
        ("prefix" = Option<String>, Query, description = "Only subjects starting with this"),
        ("limit" = Option<usize>, Query, description = "1..=10000 (default 100)"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of subjects", body = SubjectsResponse),
        (status = 400, description = "Bad parameter", body = ErrorBody),
    ))]
pub async fn subjects(
    State(state): State<AppState>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let p = Params::check(params, &["prefix", "limit", "cursor"])?;
    let prefix = p.get("prefix").unwrap_or("").to_owned();
    let limit = p.limit(DEFAULT_SUBJECTS, MAX_SUBJECTS)?;
    let after = p.parse("cursor", "a next_cursor returned by this endpoint", |c| {
        hex::decode(c).ok().and_then(|b| String::from_utf8(b).ok())
    })?;
    let list = state
        .blocking(move |store| Ok(store.subjects(&prefix, after.as_deref(), limit)?))
        .await?;
    let next = if list.len() == limit {
        list.last().map(hex::encode)
    } else {
        None
    };
    Ok(Json(json!({"subjects": list, "next_cursor": next})))
}

/// List the predicates of a subject.
#[utoipa::path(get, path = "/v1/predicates", tag = "read",
    params(("subject" = String, Query, description = "Subject (required)")),
    responses(
        (status = 200, description = "Predicates in byte order", body = PredicatesResponse),
        (status = 400, description = "Missing subject", body = ErrorBody),
    ))]
pub async fn predicates(
    State(state): State<AppState>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let p = Params::check(params, &["subject"])?;
    let subject = p
        .get("subject")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad("missing_param", "subject", "is required"))?
        .to_owned();
    let s = subject.clone();
    let list = state
        .blocking(move |store| Ok(store.predicates(&s)?))
        .await?;
    Ok(Json(json!({"subject": subject, "predicates": list})))
}

/// Whether an exported record falls under `prefix`: assertions by subject,
/// votes and retractions by their target's subject, epochs whose subject
/// prefix overlaps it. Trust records are global and only exported without a prefix.
fn under_prefix(store: &Store, prefix: &str, rec: &SignedRecord) -> Result<bool, StorageError> {
    Ok(match rec.record() {
        Record::Assertion(a) => a.subject.starts_with(prefix),
        Record::Retraction(_) | Record::Vote(_) => match rec.record().target() {
            Some(t) => store.get(t)?.is_some_and(|s| {
                s.record
                    .record()
                    .as_assertion()
                    .is_some_and(|a| a.subject.starts_with(prefix))
            }),
            None => false,
        },
        Record::Epoch(e) => {
            e.subject_prefix.starts_with(prefix) || prefix.starts_with(&e.subject_prefix)
        }
        Record::Trust(_) => false,
    })
}

/// Stream every record as NDJSON (one `wire` JSON record per line, log order).
///
/// With `prefix`, only assertions whose subject starts with it, their votes
/// and retractions, and overlapping epochs. The output can be posted back to
/// `POST /v1/assertions` as NDJSON to restore.
#[utoipa::path(get, path = "/v1/export", tag = "read",
    params(("prefix" = Option<String>, Query, description = "Subject prefix filter")),
    responses(
        (status = 200, description = "NDJSON stream of records", content_type = "application/x-ndjson", body = String),
        (status = 400, description = "Bad parameter", body = ErrorBody),
    ))]
pub async fn export(
    State(state): State<AppState>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = Params::check(params, &["prefix"])?;
    let prefix = p.get("prefix").filter(|s| !s.is_empty()).map(str::to_owned);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 1024);
        let start = LogPos {
            segment: 0,
            offset: 0,
        };
        let res = store.scan(start, |_, rec| {
            let keep = match &prefix {
                None => true,
                Some(p) => under_prefix(&store, p, &rec)?,
            };
            if keep {
                if serde_json::to_writer(&mut buf, &wire::to_json(&rec)).is_err() {
                    return Err(StorageError::Closed);
                }
                buf.push(b'\n');
            }
            if buf.len() >= CHUNK {
                let chunk = Bytes::from(std::mem::take(&mut buf));
                // A closed channel means the client went away: stop scanning.
                tx.blocking_send(Ok(chunk))
                    .map_err(|_| StorageError::Closed)?;
            }
            Ok(())
        });
        match res {
            Ok(_) => {
                if !buf.is_empty() {
                    let _ = tx.blocking_send(Ok(Bytes::from(buf)));
                }
            }
            Err(StorageError::Closed) => {}
            Err(e) => {
                tracing::error!(error = %e, "export failed mid-stream");
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

//! `GET /v1/admin/backup` and `GET /v1/admin/backup/segments/{segment}`
//! (admin role, enforced for every `/v1/admin/` route by `auth::policy`):
//! the consistent extents of the log and their bytes, which
//! `stemedb backup` copies while the server keeps taking writes.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::{Params, path_param};
use crate::openapi::{BackupPlan, ErrorBody};
use crate::state::AppState;

const CHUNK: usize = 1 << 20;

/// Routes of this group.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/backup", get(plan))
        .route("/v1/admin/backup/segments/{segment}", get(segment))
}

/// Start a backup (admin): the log position taken now and the committed
/// extent of every segment up to it. Sealed segments are whole; the active
/// one ends at the last group commit, so no torn or unacknowledged frame is
/// ever included. The index is not part of a backup: it is rebuilt from the
/// log on restore (`"index": "rebuilt_on_restore"`).
#[utoipa::path(get, path = "/v1/admin/backup", tag = "admin",
    responses(
        (status = 200, description = "Extents to copy", body = BackupPlan),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody),
    ))]
pub async fn plan(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let store = state.store.clone();
    let (end, extents) = tokio::task::spawn_blocking(move || store.backup_extents()).await??;
    let segments: Vec<Value> = extents
        .iter()
        .map(|(s, size)| json!({"segment": s, "size": size}))
        .collect();
    Ok(Json(json!({
        "format_version": 1,
        "log_end": {"segment": end.segment, "offset": end.offset},
        "segments": segments,
        "index": "rebuilt_on_restore",
    })))
}

/// Bytes `[from, to)` of a log segment (admin). `to` may not pass the
/// segment's committed length (the end of the last group commit for the
/// active segment); default `from = 0`, `to` = committed length.
#[utoipa::path(get, path = "/v1/admin/backup/segments/{segment}", tag = "admin",
    params(
        ("segment" = u32, Path, description = "Segment number"),
        ("from" = Option<u64>, Query, description = "First byte (default 0)"),
        ("to" = Option<u64>, Query, description = "One past the last byte (default: committed length)"),
    ),
    responses(
        (status = 200, description = "The bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "Bad segment number or range", body = ErrorBody),
        (status = 401, description = "Missing admin token", body = ErrorBody),
        (status = 403, description = "Wrong admin token", body = ErrorBody),
        (status = 404, description = "No such segment", body = ErrorBody),
    ))]
pub async fn segment(
    State(state): State<AppState>,
    seg: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let raw = path_param(seg, "segment")?;
    let seg: u32 = raw.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::bad(
            "invalid_param",
            "segment",
            format!("must be a positive segment number, got {raw:?}"),
        )
    })?;
    let p = Params::check(q, &["from", "to"])?;
    let from = p
        .parse("from", "a byte offset", |v| v.parse::<u64>().ok())?
        .unwrap_or(0);
    let to = p.parse("to", "a byte offset", |v| v.parse::<u64>().ok())?;
    let store = state.store.clone();
    let committed = tokio::task::spawn_blocking(move || store.committed_len(seg)).await??;
    let Some(committed) = committed else {
        return Err(ApiError::not_found(format!("no committed segment {seg}")).field("segment"));
    };
    let to = to.unwrap_or(committed);
    if to > committed || from > to {
        return Err(ApiError::bad(
            "invalid_range",
            "to",
            format!(
                "range {from}..{to} is outside the committed {committed} bytes of segment {seg}"
            ),
        ));
    }
    let path = state.store.segment_path(seg);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let send = |r| tx.blocking_send(r).is_ok();
        let mut f =
            match File::open(&path).and_then(|mut f| f.seek(SeekFrom::Start(from)).map(|_| f)) {
                Ok(f) => f.take(to - from),
                Err(e) => {
                    tracing::error!(error = %e, path = %path.display(), "backup stream failed");
                    send(Err(e));
                    return;
                }
            };
        loop {
            let mut buf = vec![0u8; CHUNK];
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    buf.truncate(n);
                    if !send(Ok(Bytes::from(buf))) {
                        break; // the client went away
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::error!(error = %e, path = %path.display(), "backup stream failed");
                    send(Err(e));
                    break;
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, (to - from).to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

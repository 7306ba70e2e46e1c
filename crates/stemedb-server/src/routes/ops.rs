//! `GET /v1/health`, `GET /v1/ready` and `GET /metrics`.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::openapi::{Health, NotReadyBody, Ready};
use crate::readiness::Readiness;
use crate::state::AppState;

/// Routes of this group.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/ready", get(ready))
        .route("/metrics", get(metrics_text))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/v1/health", tag = "ops",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness for a load balancer's write pool: 200 only while this node can
/// take writes; 503 (with `Retry-After: 1`) while its store has failed
/// (`store_failed`), while its data directory's file system is below
/// `storage.min_free_bytes` (`insufficient_storage`), while it is still
/// starting (`recovering`: log recovery, index replay, cluster start; every
/// other route answers 503 `recovering` meanwhile) or, in cluster mode,
/// while it cannot see a majority of
/// the members and `on_minority = "read_only"` (`read_only`). `mode` is
/// `single` on one node, else `read_write` / `read_only` (`starting` while a
/// cluster node is recovering); `cluster` holds the node id and
/// the majority rule's counts. Liveness is `GET /v1/health`.
#[utoipa::path(get, path = "/v1/ready", tag = "ops",
    responses(
        (status = 200, description = "Ready: the node takes writes", body = Ready),
        (status = 503, description = "Not ready: `reason` is `recovering` (starting; nothing else is served yet), `read_only`, `store_failed` or `insufficient_storage` (reads may still work)", body = NotReadyBody,
         headers(("Retry-After" = u32, description = "Seconds before asking again")))))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let r = Readiness::of(&state);
    let mut body = json!({"status": "ready", "mode": r.mode()});
    if let (Some(c), Some(q)) = (&state.cluster, &r.quorum) {
        body["cluster"] = json!({
            "node_id": c.node_id, "visible": q.visible, "total": q.total, "majority": q.majority,
        });
    }
    let Some(why) = &r.not_ready else {
        return Json(body).into_response();
    };
    body["status"] = json!("not_ready");
    body["reason"] = json!(why.code());
    body["message"] = json!(why.message());
    body["error"] = json!({"code": why.code(), "message": why.message()});
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        Json(body),
    )
        .into_response()
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics_text(State(state): State<AppState>) -> Result<Response, ApiError> {
    let Some(handle) = state.metrics.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "metrics recorder is not installed in this process",
        ));
    };
    if let Some(c) = &state.cluster {
        c.hints.publish();
    }
    let readiness = Readiness::of(&state);
    let cluster = state.cluster.is_some();
    let store = state.store.clone();
    let text = tokio::task::spawn_blocking(move || {
        crate::metrics::render(&handle, &store, &readiness, cluster)
    })
    .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

//! `GET /v1/health`, `GET /v1/ready` and `GET /metrics`.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::openapi::{Health, Ready};
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

/// Readiness: storage is open and recovered (the server listens only after
/// that). `mode` is `single` on one node; in cluster mode it is `read_write`
/// or `read_only` (minority with `on_minority = read_only`), and `cluster`
/// holds the node id and the majority rule's counts.
#[utoipa::path(get, path = "/v1/ready", tag = "ops",
    responses((status = 200, description = "Ready", body = Ready)))]
pub async fn ready(State(state): State<AppState>) -> Json<Value> {
    let Some(c) = &state.cluster else {
        return Json(json!({"status": "ready", "mode": "single"}));
    };
    let q = c.quorum();
    Json(json!({
        "status": "ready",
        "mode": q.mode.as_str(),
        "cluster": {
            "node_id": c.node_id, "visible": q.visible, "total": q.total, "majority": q.majority,
        },
    }))
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
    let store = state.store.clone();
    let text = tokio::task::spawn_blocking(move || crate::metrics::render(&handle, &store)).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

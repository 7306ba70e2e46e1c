//! The cluster gateway (axum, on `cluster.bind_addr`): `GET /cluster/members`,
//! `GET /cluster/status`, `POST /cluster/sync`.
//!
//! Things owned by other crates (hints, replication lag, anti-entropy) come in
//! through [`StatusSource`] and [`SyncTrigger`]. Errors are
//! `{"error":{"code","message","field"}}`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::membership::{Member, Membership};
use crate::placement;
use crate::quorum::{self, OnMinority};

/// Figures owned by other crates, shown by `GET /cluster/status`; every method defaults to "unknown".
pub trait StatusSource: Send + Sync + 'static {
    /// Records waiting in the hinted-handoff queues.
    fn hints_pending(&self) -> Option<u64> {
        None
    }
    /// Age in seconds of the oldest undelivered hint.
    fn replication_lag_seconds(&self) -> Option<f64> {
        None
    }
    /// Summary of the last anti-entropy round (e.g. `{"finished_at_ms", "repaired"}`).
    fn last_anti_entropy(&self) -> Option<Value> {
        None
    }
    /// Further fields merged into the `replication` object.
    fn extra(&self) -> Option<serde_json::Map<String, Value>> {
        None
    }
}

/// A [`StatusSource`] that knows nothing (all fields `null`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStatus;

impl StatusSource for NoStatus {}

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Parameters of `POST /cluster/sync`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// Sync only with this member (`?peer=node2`); all peers when absent.
    pub peer: Option<String>,
}

/// A failed sync request, answered as `{"error":{"code","message","field":null}}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct SyncError {
    /// HTTP status code.
    pub status: u16,
    /// Stable machine-readable code.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl SyncError {
    /// A `503` error (e.g. a round is already running, or sync is not configured).
    pub fn unavailable(code: &str, message: impl Into<String>) -> SyncError {
        SyncError {
            status: 503,
            code: code.into(),
            message: message.into(),
        }
    }

    /// A `500 internal` error.
    pub fn internal(message: impl Into<String>) -> SyncError {
        SyncError {
            status: 500,
            code: "internal".into(),
            message: message.into(),
        }
    }
}

/// Runs anti-entropy on `POST /cluster/sync` and returns a JSON summary.
pub trait SyncTrigger: Send + Sync + 'static {
    /// Runs one round now (with `request.peer` only, when set).
    fn trigger(&self, request: SyncRequest) -> BoxFuture<'_, Result<Value, SyncError>>;
}

/// A [`SyncTrigger`] that answers `503 sync_unavailable`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSync;

impl SyncTrigger for NoSync {
    fn trigger(&self, _request: SyncRequest) -> BoxFuture<'_, Result<Value, SyncError>> {
        Box::pin(async {
            Err(SyncError::unavailable(
                "sync_unavailable",
                "anti-entropy is not configured on this node",
            ))
        })
    }
}

/// What the gateway serves from.
#[derive(Clone)]
pub struct GatewayState {
    /// The membership handle.
    pub membership: Membership,
    /// `replication.factor`.
    pub factor: usize,
    /// `replication.on_minority`.
    pub on_minority: OnMinority,
    /// Lower bound for `N` in the majority rule (0 = members known only).
    pub min_cluster_size: usize,
    /// Replication figures.
    pub status: Arc<dyn StatusSource>,
    /// Anti-entropy trigger.
    pub sync: Arc<dyn SyncTrigger>,
    /// When set, `POST /cluster/sync` needs `Authorization: Bearer <cluster secret>`.
    pub secret: Option<Arc<stemedb_peer_auth::ClusterSecret>>,
}

impl GatewayState {
    /// State with no replication figures and no sync trigger.
    pub fn new(membership: Membership, factor: usize, on_minority: OnMinority) -> GatewayState {
        GatewayState {
            membership,
            factor,
            on_minority,
            min_cluster_size: 0,
            status: Arc::new(NoStatus),
            sync: Arc::new(NoSync),
            secret: None,
        }
    }

    /// Requires the cluster secret as the bearer of `POST /cluster/sync`.
    pub fn with_secret(
        mut self,
        secret: Option<Arc<stemedb_peer_auth::ClusterSecret>>,
    ) -> GatewayState {
        self.secret = secret;
        self
    }

    /// Sets the replication figures source.
    pub fn with_status(mut self, status: Arc<dyn StatusSource>) -> GatewayState {
        self.status = status;
        self
    }

    /// Sets the anti-entropy trigger.
    pub fn with_sync(mut self, sync: Arc<dyn SyncTrigger>) -> GatewayState {
        self.sync = sync;
        self
    }

    /// Sets the lower bound for `N` in the majority rule.
    pub fn with_min_cluster_size(mut self, n: usize) -> GatewayState {
        self.min_cluster_size = n;
        self
    }
}

/// The gateway router; serve it with `axum::serve` on `cluster.bind_addr`.
pub fn router(state: GatewayState) -> Router {
    Router::new()
        .route("/cluster/members", get(members))
        .route("/cluster/status", get(status))
        .route("/cluster/sync", post(sync))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// Serves [`router`] on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: GatewayState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// An error response `{"error":{"code","message","field"}}`.
pub fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
    field: Option<&str>,
) -> Response {
    let body = json!({"error": {"code": code, "message": message, "field": field}});
    (status, Json(body)).into_response()
}

/// The JSON form of one member, as in `/cluster/members`.
pub fn member_json(m: &Member) -> Value {
    json!({
        "id": m.info.id,
        "status": m.status.as_str(),
        "swim_addr": m.info.swim_addr.to_string(),
        "rpc_addr": m.info.rpc_addr.to_string(),
        "api_addr": m.info.api_addr.to_string(),
        "gateway_addr": m.info.gateway_addr.to_string(),
        "last_seen": m.last_seen,
        "generation": m.generation,
    })
}

fn members_value(view: &[Member]) -> Value {
    Value::Array(view.iter().map(member_json).collect())
}

async fn members(State(s): State<GatewayState>) -> Json<Value> {
    let view = s.membership.members();
    Json(json!({ "members": members_value(&view) }))
}

async fn status(State(s): State<GatewayState>) -> Json<Value> {
    Json(status_json(&s))
}

/// The body of `GET /cluster/status` (also served on the API port as
/// `GET /v1/cluster/status`).
pub fn status_json(s: &GatewayState) -> Value {
    let view = s.membership.members();
    let q = quorum::evaluate(&view, s.on_minority, s.min_cluster_size);
    let ids: Vec<&str> = view.iter().map(Member::id).collect();
    let partitions: Vec<Value> = placement::table(&ids, s.factor)
        .into_iter()
        .map(|(p, r)| json!({"partition": p, "replicas": r}))
        .collect();
    let mut replication = serde_json::Map::new();
    replication.insert("factor".into(), json!(s.factor));
    replication.insert("hints_pending".into(), json!(s.status.hints_pending()));
    replication.insert(
        "replication_lag_seconds".into(),
        json!(s.status.replication_lag_seconds()),
    );
    replication.insert(
        "last_anti_entropy".into(),
        s.status.last_anti_entropy().unwrap_or(Value::Null),
    );
    if let Some(extra) = s.status.extra() {
        replication.extend(extra);
    }
    let me = s.membership.me();
    json!({
        "node_id": me.info.id,
        "generation": me.generation,
        "mode": q.mode.as_str(),
        "quorum": {
            "visible": q.visible,
            "total": q.total,
            "majority": q.majority,
            "on_minority": s.on_minority,
        },
        "members": members_value(&view),
        "replication": Value::Object(replication),
        "partitions": partitions,
    })
}

async fn sync(
    State(s): State<GatewayState>,
    headers: axum::http::HeaderMap,
    query: Result<Query<SyncRequest>, QueryRejection>,
) -> Response {
    if let Some(secret) = &s.secret {
        let bearer = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if let Err(why) = secret.check_bearer(bearer) {
            tracing::warn!(reason = %why, "POST /cluster/sync refused: no valid cluster secret");
            return error_response(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "POST /cluster/sync needs Authorization: Bearer <cluster secret> (cluster.secret_file)",
                None,
            );
        }
    }
    let req = match query {
        Ok(Query(r)) => r,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                &e.body_text(),
                None,
            );
        }
    };
    if let Some(peer) = &req.peer {
        let view = s.membership.members();
        match view.iter().find(|m| &m.info.id == peer) {
            None => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "unknown_peer",
                    &format!("{peer:?} is not a known member"),
                    Some("peer"),
                );
            }
            Some(m) if m.is_self => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "invalid_peer",
                    "a node cannot sync with itself",
                    Some("peer"),
                );
            }
            Some(_) => {}
        }
    }
    match s.sync.trigger(req).await {
        Ok(summary) => (StatusCode::OK, Json(summary)).into_response(),
        Err(e) => {
            let code = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error_response(code, &e.code, &e.message, None)
        }
    }
}

async fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such cluster endpoint",
        None,
    )
}

async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this endpoint",
        None,
    )
}

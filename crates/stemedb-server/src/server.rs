//! Building the router and serving it: store open, listen, cluster mode
//! (when enabled), graceful shutdown, cluster stop, store close.

use std::future::{Future, IntoFuture};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use stemedb_storage::Store;

use crate::config::Config;
use crate::error::ApiError;
use crate::state::AppState;
use crate::{metrics, routes, shutdown};

/// The full application for a state: every API route (JSON 404/405, body
/// limit, request timeout, metrics) and the MCP endpoint `/mcp`.
pub fn router(state: AppState) -> Router {
    let bind = state.api.bind_addr.parse().ok();
    let max_body = usize::try_from(state.api.max_body_bytes).unwrap_or(usize::MAX);
    let api = api_router(state);
    api.clone().merge(crate::mcp::routes(api, bind, max_body))
}

/// Every HTTP API route (without `/mcp`), with its layers.
pub fn api_router(state: AppState) -> Router {
    let limit = usize::try_from(state.api.max_body_bytes).unwrap_or(usize::MAX);
    Router::new()
        .merge(routes::records::routes())
        .merge(routes::annotations::routes())
        .merge(routes::admin::routes())
        .merge(routes::read::routes())
        .merge(routes::query::routes())
        .merge(routes::conflicts::routes())
        .merge(routes::listing::routes())
        .merge(routes::ops::routes())
        .merge(routes::docs::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), timeout))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(metrics::track))
        .with_state(state)
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!("no route {} {}", req.method(), req.uri().path()))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

async fn timeout(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let ms = s.api.request_timeout_ms;
    match tokio::time::timeout(Duration::from_millis(ms), next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::unavailable(
            "timeout",
            format!("the request took longer than {ms} ms (api.request_timeout_ms); a write may still complete"),
            1,
        )
        .into_response(),
    }
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store could not be opened.
    #[error("cannot open storage at {dir}: {source}")]
    Storage {
        /// Data directory.
        dir: String,
        /// Cause.
        source: stemedb_storage::StorageError,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on api.bind_addr {addr}: {source}")]
    Bind {
        /// Address.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Configuration is unusable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Cluster mode could not start.
    #[error("cluster mode: {0}")]
    Cluster(String),
    /// Serving failed.
    #[error("server error: {0}")]
    Serve(String),
}

/// Opens the store, serves the API until `shutdown` resolves, lets in-flight
/// requests finish, and closes the store.
pub async fn serve(
    config: Config,
    shutdown_signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let addr = config.api_addr()?;
    let store_cfg = config.store_config();
    let dir = store_cfg.data_dir.display().to_string();
    let store = tokio::task::spawn_blocking(move || Store::open(store_cfg))
        .await
        .map_err(|e| ServerError::Serve(e.to_string()))?
        .map_err(|source| ServerError::Storage {
            dir: dir.clone(),
            source,
        })?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let grace = shutdown::grace_period(config.api.request_timeout_ms);
    if config.api.admin_token.is_none() {
        tracing::warn!(
            "api.admin_token is not set: PUT /v1/agents/{{agent}}/trust is open to every client"
        );
    }
    let runtime = if config.cluster.enabled {
        match crate::cluster::start(&config, &store, addr).await {
            Ok(rt) => Some(rt),
            Err(e) => {
                let s = store.clone();
                let _ = tokio::task::spawn_blocking(move || s.close()).await;
                return Err(e);
            }
        }
    } else {
        None
    };
    let mut state = AppState::new(store.clone(), config.api);
    state.cluster = runtime.as_ref().map(|rt| rt.cluster.clone());
    let app = router(state);
    tracing::info!(%addr, data_dir = %dir, "stemedb-api listening");
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown_signal.await;
        let _ = signalled_tx.send(());
    });
    let mut task = tokio::spawn(server.into_future());
    let result = tokio::select! {
        r = &mut task => r,
        () = async {
            if signalled_rx.await.is_err() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_ms = grace.as_millis() as u64, "grace period over; dropping open connections");
            task.abort();
            Ok(Ok(()))
        }
    };
    if let Some(rt) = runtime {
        rt.shutdown().await;
    }
    tracing::info!("closing storage");
    let closed = tokio::task::spawn_blocking(move || store.close()).await;
    match (result, closed) {
        (Ok(Ok(())), Ok(())) => {
            tracing::info!("shutdown complete");
            Ok(())
        }
        (Ok(Err(e)), _) => Err(ServerError::Serve(e.to_string())),
        (Err(e), _) => Err(ServerError::Serve(e.to_string())),
        (_, Err(e)) => Err(ServerError::Serve(e.to_string())),
    }
}

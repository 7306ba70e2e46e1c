//! Building the router and serving it: store open, listen, cluster mode
//! (when enabled), graceful shutdown, cluster stop, store close.

use std::future::Future;
use std::sync::Arc;
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
use crate::{auth, metrics, routes, shutdown};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The full application for a state: every API route (JSON 404/405, body
/// limit, request timeout, metrics) and the MCP endpoint `/mcp`, which sits
/// behind the same auth gate (a reader key to connect; each tool's API call
/// is checked again with the caller's `Authorization`).
pub fn router(state: AppState) -> Router {
    let bind = state.api.bind_addr.parse().ok();
    let max_body = usize::try_from(state.api.max_body_bytes).unwrap_or(usize::MAX);
    let gate = middleware::from_fn_with_state(state.clone(), auth::gate);
    let api = api_router(state);
    let mcp = crate::mcp::routes(api.clone(), bind, max_body).layer(gate);
    api.merge(mcp)
}

/// Every HTTP API route (without `/mcp`), with its layers.
pub fn api_router(state: AppState) -> Router {
    let limit = usize::try_from(state.api.max_body_bytes).unwrap_or(usize::MAX);
    let app = Router::new()
        .merge(routes::records::routes())
        .merge(routes::annotations::routes())
        .merge(routes::admin::routes())
        .merge(routes::backup::routes())
        .merge(routes::read::routes())
        .merge(routes::query::routes())
        .merge(routes::conflicts::routes())
        .merge(routes::listing::routes())
        .merge(routes::ops::routes())
        .merge(routes::docs::routes())
        .merge(routes::console::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), timeout))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(state.clone(), auth::gate))
        .layer(middleware::from_fn(metrics::track));
    let app = match cors_layer(&state.api.cors_origins) {
        Some(cors) => app.layer(cors),
        None => app,
    };
    app.with_state(state)
}

/// CORS for the `api.cors_origins` allow-list (validated by the config
/// loader); no list, no CORS headers. Preflights are answered here, before
/// the key check, as browsers send them without credentials.
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    use axum::http::{HeaderValue, Method, header};
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::PUT])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
            .expose_headers([header::RETRY_AFTER])
            .max_age(Duration::from_secs(600)),
    )
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

/// The gate for `[auth]`, `[limits]` and `api.admin_token`; says in the log
/// how the API is protected. A bad keys file stops start-up.
fn build_gate(config: &Config) -> Result<auth::Gate, ServerError> {
    let l = &config.limits;
    let limits = auth::RateLimits::new(l.per_key_rps, l.per_ip_rps, l.burst);
    let token = config.api.admin_token.as_deref();
    let Some(a) = &config.auth else {
        match token {
            None => tracing::warn!(
                "no [auth] section: the API is open, every client that reaches it may read and \
                 write, set trust and declare epochs; set [auth] keys_file (docs/security.md)"
            ),
            Some(_) => tracing::warn!(
                "no [auth] section: the API is open for reads and writes; only trust, epochs and \
                 retracting other agents' assertions need api.admin_token; set [auth] keys_file \
                 (docs/security.md)"
            ),
        }
        return Ok(auth::Gate::open(token, limits));
    };
    let gate = auth::Gate::with_keys(&a.keys_file, token, limits)
        .map_err(|e| ServerError::Config(crate::config::ConfigError(e.to_string())))?;
    let n = gate.key_set().active.len();
    tracing::info!(file = %a.keys_file.display(), active_keys = n, "API keys required");
    if n == 0 {
        tracing::warn!(file = %a.keys_file.display(), "the keys file has no active key: every request but /v1/health and /v1/ready gets 401");
    }
    if token.is_some() {
        tracing::warn!(
            "api.admin_token is set: it is accepted as an admin credential next to the keys file, \
             and cannot be revoked without a restart; prefer an admin key (stemedb-api keys add --role admin)"
        );
    }
    Ok(gate)
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
    /// The TLS certificate or key is unusable.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// Serving failed.
    #[error("server error: {0}")]
    Serve(String),
}

/// The accept-loop settings of `[api]`; loads the TLS certificate when configured.
fn serving(
    api: &crate::config::ApiConfig,
) -> Result<
    (
        crate::listen::Serving,
        Option<Arc<crate::tls::CertResolver>>,
    ),
    ServerError,
> {
    let (tls, resolver) = match (&api.tls_cert, &api.tls_key) {
        (Some(cert), Some(key)) => {
            let resolver = Arc::new(crate::tls::CertResolver::load(cert, key)?);
            (
                Some(crate::tls::acceptor(resolver.clone())?),
                Some(resolver),
            )
        }
        _ => (None, None),
    };
    let serving = crate::listen::Serving {
        tls,
        header_read_timeout: Duration::from_millis(api.header_read_timeout_ms),
        body_read_timeout: Duration::from_millis(api.body_read_timeout_ms),
        max_connections: api.max_connections,
    };
    Ok((serving, resolver))
}

/// Binds the API port (answering `recovering` meanwhile, see
/// [`crate::startup`]), opens the store, serves the API until `shutdown`
/// resolves, lets in-flight requests finish, and closes the store.
pub async fn serve(
    config: Config,
    shutdown_signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    // Before anything records: a gauge set while the store opens or the
    // cluster forms (`stemedb_cluster_members` is set only when the
    // membership view changes) would otherwise go to no recorder and stay
    // missing from `/metrics` until its next change.
    let _ = crate::metrics::install();
    let addr = config.api_addr()?;
    let (serving, resolver) = serving(&config.api)?;
    let gate = Arc::new(build_gate(&config)?);
    let store_cfg = config.store_config();
    let dir = store_cfg.data_dir.display().to_string();
    // Bind first: while the store opens, the port answers `recovering`
    // (crate::startup) instead of refusing connections.
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let startup = crate::startup::Startup::new(config.cluster.enabled);
    let scheme = serving.scheme();
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let started = std::time::Instant::now();
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_flag = stopping.clone();
    // The accept loop adds `ConnectInfo<SocketAddr>` to every request.
    let server = crate::listen::serve(listener, startup.front(), serving.clone(), async move {
        shutdown_signal.await;
        stop_flag.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = signalled_tx.send(());
    });
    let mut task = tokio::spawn(async move {
        server.await;
        Ok::<(), std::io::Error>(())
    });
    tracing::info!(%addr, scheme, data_dir = %dir, "stemedb-api listening; opening the store (answers `recovering` until ready)");
    let open = tokio::task::spawn_blocking(move || Store::open(store_cfg));
    // A stop signal during a long recovery ends the process now: the open is
    // abandoned like a crash (the next start recovers and replays again;
    // nothing acknowledged is lost) instead of running on to completion
    // and a cluster join first.
    let opened = tokio::select! {
        r = open => r,
        r = &mut task => {
            tracing::warn!("stopped while opening the store; exiting (the next start recovers again)");
            return r
                .map_err(|e| ServerError::Serve(e.to_string()))?
                .map_err(|e| ServerError::Serve(e.to_string()));
        }
    };
    let opened = opened
        .map_err(|e| ServerError::Serve(e.to_string()))
        .and_then(|r| {
            r.map_err(|source| ServerError::Storage {
                dir: dir.clone(),
                source,
            })
        });
    let store = match opened {
        Ok(s) => s,
        Err(e) => {
            task.abort();
            return Err(e);
        }
    };
    let grace = shutdown::grace_period(config.api.request_timeout_ms);
    let runtime = if config.cluster.enabled {
        match crate::cluster::start(&config, &store, addr, &serving).await {
            Ok(rt) => Some(rt),
            Err(e) => {
                task.abort();
                let s = store.clone();
                let _ = tokio::task::spawn_blocking(move || s.close()).await;
                return Err(e);
            }
        }
    } else {
        None
    };
    if task.is_finished() {
        // Stopped while the cluster runtime started.
        tracing::warn!("stopped while starting; closing the store");
        if let Some(rt) = runtime {
            rt.shutdown().await;
        }
        let s = store.clone();
        let _ = tokio::task::spawn_blocking(move || s.close()).await;
        return Ok(());
    }
    let archiver = match &config.archive.target {
        None => None,
        Some(_) => {
            let node = if config.cluster.enabled {
                config.cluster.node_id.as_str()
            } else {
                "single"
            };
            match crate::archive::Archiver::start(store.clone(), &config.archive, node) {
                Ok(a) => Some(a),
                Err(e) => {
                    if let Some(rt) = runtime {
                        rt.shutdown().await;
                    }
                    let s = store.clone();
                    let _ = tokio::task::spawn_blocking(move || s.close()).await;
                    return Err(ServerError::Config(crate::config::ConfigError(format!(
                        "archive.target: {e}"
                    ))));
                }
            }
        }
    };
    let restarter = crate::restart::spawn(
        store.clone(),
        started,
        Duration::from_millis(config.storage.failure_restart_ms),
        stopping,
    );
    let mut state = AppState::new(store.clone(), config.api);
    state.set_cluster(runtime.as_ref().map(|rt| rt.cluster.clone()));
    let reloader = gate.spawn_reloader(Duration::from_secs(1));
    state.set_gate(gate);
    startup.ready(router(state));
    tracing::info!(%addr, scheme, data_dir = %dir, "stemedb-api ready");
    let reload = resolver.map(|r| tokio::spawn(crate::tls::reload_on_sighup(r)));
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
    if let Some(r) = reload {
        r.abort();
    }
    if let Some(r) = reloader {
        r.abort();
    }
    if let Some(r) = restarter {
        r.abort();
    }
    if let Some(a) = archiver {
        a.stop(Duration::from_secs(5)).await;
    }
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

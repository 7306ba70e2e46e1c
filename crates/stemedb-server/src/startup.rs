//! The API port during start-up. The listener is bound before the store
//! opens, so a load balancer or an operator sees a node that is recovering
//! (log recovery, index replay, cluster start) instead of a refused
//! connection:
//!
//! - `GET /v1/ready` answers 503 with reason `recovering` (its usual
//!   not-ready body);
//! - every other request, `GET /v1/health` included (the node cannot serve
//!   reads yet, so a read pool's health check must not pick it), answers 503
//!   with the error code `recovering` and `Retry-After: 1`.
//!
//! A 503 with `recovering` tells a client the process is up; a refused
//! connection that it is not running at all.
//!
//! Once the application is built, [`Startup::ready`] installs it and every
//! later request goes to it.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tower_service::Service;

use crate::error::ApiError;

/// The message of every `recovering` answer.
const RECOVERING: &str = "the node is starting: it is opening its store (log recovery, index replay) \
     and joining the cluster; retry shortly";

/// The switch from the start-up answers to the application.
#[derive(Clone)]
pub struct Startup {
    app: Arc<OnceLock<Router>>,
    /// `mode` in the readiness answer while recovering: `single` or `starting` (cluster mode).
    mode: &'static str,
}

impl Startup {
    /// A switch with no application yet; `cluster` says whether cluster mode is configured.
    pub fn new(cluster: bool) -> Startup {
        Startup {
            app: Arc::new(OnceLock::new()),
            mode: if cluster { "starting" } else { "single" },
        }
    }

    /// The router to serve from the moment the listener is bound.
    pub fn front(&self) -> Router {
        Router::new().fallback(dispatch).with_state(self.clone())
    }

    /// Installs the application: from now on every request goes to it.
    pub fn ready(&self, app: Router) {
        if self.app.set(app).is_err() {
            tracing::warn!("the application was already installed");
        }
    }
}

async fn dispatch(State(s): State<Startup>, req: Request) -> Response {
    match s.app.get() {
        Some(app) => {
            let mut app = app.clone();
            match app.call(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            }
        }
        None => recovering(&req, s.mode),
    }
}

fn recovering(req: &Request, mode: &str) -> Response {
    let get = req.method() == Method::GET || req.method() == Method::HEAD;
    match req.uri().path() {
        "/v1/ready" if get => {
            let body = json!({
                "status": "not_ready",
                "mode": mode,
                "reason": "recovering",
                "message": RECOVERING,
                "error": {"code": "recovering", "message": RECOVERING},
            });
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                axum::Json(body),
            )
                .into_response()
        }
        _ => ApiError::unavailable("recovering", RECOVERING, 1).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;

    async fn answer(router: &Router, method: Method, path: &str) -> (StatusCode, String) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let resp = router.clone().call(req).await.unwrap();
        let status = resp.status();
        let retry = resp.headers().get(header::RETRY_AFTER).cloned();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(retry.as_ref().map(|v| v.to_str().unwrap()), Some("1"));
        }
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn answers_recovering_until_the_app_is_installed() {
        let s = Startup::new(false);
        let front = s.front();
        let (st, body) = answer(&front, Method::GET, "/v1/health").await;
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("\"recovering\""), "{body}");
        let (st, body) = answer(&front, Method::GET, "/v1/ready").await;
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["reason"], "recovering");
        assert_eq!(v["mode"], "single");
        assert_eq!(v["error"]["code"], "recovering");
        let (st, body) = answer(&front, Method::POST, "/v1/assertions").await;
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], "recovering");

        s.ready(Router::new().route("/v1/ready", get(|| async { "app" })));
        let (st, body) = answer(&front, Method::GET, "/v1/ready").await;
        assert_eq!((st, body.as_str()), (StatusCode::OK, "app"));
        // The app's own 404 now, not `recovering`.
        let (st, _) = answer(&front, Method::GET, "/v1/health").await;
        assert_eq!(st, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn cluster_mode_says_starting() {
        let front = Startup::new(true).front();
        let (_, body) = answer(&front, Method::GET, "/v1/ready").await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["mode"], "starting");
    }
}

//! `/mcp`: the StemeDB MCP tools over streamable HTTP on the API port.
//!
//! The tools are `stemedb_mcp::StemeTools`, the same code `stemedb mcp`
//! serves over stdio; here their backend dispatches each API call to this
//! server's own router in process (no socket), so a tool call goes through
//! exactly the validation, limits, cluster forwarding and errors of the HTTP
//! API. The `Authorization` header of the MCP request is passed on to those
//! calls. Served stateless with JSON responses: every POST is answered on
//! its own and no session is kept in memory.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use serde_json::Value;
use stemedb_mcp::rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use stemedb_mcp::rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService,
};
use stemedb_mcp::{ApiRequest, Backend, StemeTools, ToolError};
use tower::ServiceExt;

/// Largest API answer a tool reads (a full query page of 10,000 candidates fits).
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// Answers tool calls by running the API router in process.
#[derive(Clone)]
pub struct InProcessBackend {
    api: Router,
}

impl InProcessBackend {
    /// A backend over the API router (without `/mcp` itself).
    pub fn new(api: Router) -> Self {
        InProcessBackend { api }
    }
}

impl Backend for InProcessBackend {
    async fn call(
        &self,
        req: ApiRequest,
        authorization: Option<String>,
    ) -> Result<Value, ToolError> {
        let mut b = Request::builder()
            .method(req.method.as_str())
            .uri(req.path_and_query());
        if let Some(a) = authorization {
            b = b.header(header::AUTHORIZATION, a);
        }
        let body = match &req.body {
            Some(v) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let request = b.body(body).map_err(|e| {
            ToolError::invalid("request", format!("cannot build the API request: {e}"))
        })?;
        let resp = match self.api.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|e| ToolError::unreachable(format!("reading the API answer: {e}")))?;
        if !status.is_success() {
            return Err(ToolError::from_response(status.as_u16(), &bytes));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| ToolError::unreachable(format!("the API answer is not JSON: {e}")))
    }
}

/// The `/mcp` route over `api` (the router of every other route). `bind` is
/// the API's listen address: on a loopback address only loopback `Host`
/// headers are accepted (DNS-rebinding protection for a local server);
/// otherwise any host, since the server is deliberately exposed. Bodies over
/// `max_body` bytes (`api.max_body_bytes`) are 413.
pub fn routes(api: Router, bind: Option<SocketAddr>, max_body: usize) -> Router {
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_max_request_body_bytes(max_body);
    if !bind.is_some_and(|a| a.ip().is_loopback()) {
        config = config.disable_allowed_hosts();
    }
    let backend = InProcessBackend::new(api);
    let service: StreamableHttpService<StemeTools<InProcessBackend>, LocalSessionManager> =
        StreamableHttpService::new(
            move || Ok(StemeTools::new(backend.clone())),
            Default::default(),
            config,
        );
    Router::new().route_service("/mcp", service)
}

/// MCP over streamable HTTP: one JSON-RPC 2.0 message per POST.
///
/// `initialize`, `tools/list` and `tools/call` of the tools in `docs/mcp.md`
/// (`assert_claim`, `query_claims`, `compare_lenses`, `find_conflicts`,
/// `trace_claim`, `retract_claim`, `vote_claim`, `list_subjects`). Requires
/// `Accept: application/json, text/event-stream` and
/// `Content-Type: application/json`. Stateless: no `Mcp-Session-Id`; `GET`
/// and `DELETE` are 405. A tool's own failure is a JSON-RPC result with
/// `isError: true` and `{"error": {"code", "message", "field", "status"}}`.
/// The transport's refusals (403 Host, 405, 406, 413, 415) are plain text;
/// 401 and 429 come from the API's auth gate and rate limits (JSON).
/// (Documentation only: the route is served by rmcp's `StreamableHttpService`.)
#[utoipa::path(post, path = "/mcp", tag = "mcp",
    request_body(content = Object, content_type = "application/json",
        description = "A JSON-RPC 2.0 request or notification"),
    responses(
        (status = 200, description = "The JSON-RPC response (a result, a tool error with isError, or a JSON-RPC error)", content_type = "application/json", body = Object),
        (status = 202, description = "A notification or response was accepted"),
        (status = 403, description = "Host header not allowed (a loopback bind accepts loopback hosts only)", content_type = "text/plain", body = String),
        (status = 405, description = "GET or DELETE: this endpoint is stateless", content_type = "text/plain", body = String),
        (status = 406, description = "Accept must include application/json and text/event-stream", content_type = "text/plain", body = String),
        (status = 413, description = "Body over api.max_body_bytes", content_type = "text/plain", body = String),
        (status = 415, description = "Content-Type is not application/json, or the body is not a JSON-RPC 2.0 message", content_type = "text/plain", body = String),
    ))]
pub async fn mcp_endpoint_doc() {}

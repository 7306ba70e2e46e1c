//! What the tools need from a StemeDB server: one HTTP-shaped call. The CLI
//! implements it over the network (`stemedb mcp --server URL`), the server
//! in process (`/mcp` on the API port) by dispatching to its own router, so
//! both transports run the same tool code against the same API contract.

use std::future::Future;

use serde_json::{Value, json};

/// HTTP method of an API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
}

impl Method {
    /// The method name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One call of the StemeDB HTTP API (SPEC §3).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRequest {
    /// Method.
    pub method: Method,
    /// Path, e.g. `/v1/query` (path segments already percent-encoded).
    pub path: String,
    /// Query parameters (not yet encoded).
    pub query: Vec<(String, String)>,
    /// JSON body for `POST`.
    pub body: Option<Value>,
}

impl ApiRequest {
    /// `GET path?query`.
    pub fn get(path: impl Into<String>, query: Vec<(String, String)>) -> Self {
        ApiRequest {
            method: Method::Get,
            path: path.into(),
            query,
            body: None,
        }
    }

    /// `POST path` with a JSON body.
    pub fn post(path: impl Into<String>, body: Value) -> Self {
        ApiRequest {
            method: Method::Post,
            path: path.into(),
            query: Vec::new(),
            body: Some(body),
        }
    }

    /// `path?query` with the query percent-encoded.
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            return self.path.clone();
        }
        let q: Vec<String> = self
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
            .collect();
        format!("{}?{}", self.path, q.join("&"))
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Why a call failed: the server's error (status, code, message, field), a
/// check made before sending (status `None`), or a transport failure
/// (status `None`, code `unreachable`).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolError {
    /// HTTP status the server answered, when it answered.
    pub status: Option<u16>,
    /// Machine-readable code (the server's, e.g. `not_found`, or `invalid_param`
    /// for a check made before sending).
    pub code: String,
    /// Human-readable detail.
    pub message: String,
    /// The offending tool argument or API field, when there is one.
    pub field: Option<String>,
}

impl ToolError {
    /// A refusal before anything was sent: `field` names the tool argument.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ToolError {
            status: None,
            code: "invalid_param".into(),
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// The server could not be reached or answered something that is not the API.
    pub fn unreachable(message: impl Into<String>) -> Self {
        ToolError {
            status: None,
            code: "unreachable".into(),
            message: message.into(),
            field: None,
        }
    }

    /// From a non-2xx answer: the body's `{"error": {...}}` when present.
    pub fn from_response(status: u16, body: &[u8]) -> Self {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let e = parsed.as_ref().and_then(|v| v.get("error"));
        let s = |k: &str| e.and_then(|e| e.get(k)).and_then(Value::as_str);
        ToolError {
            status: Some(status),
            code: s("code").map_or_else(|| format!("http_{status}"), str::to_owned),
            message: s("message").map_or_else(
                || String::from_utf8_lossy(body).chars().take(300).collect(),
                str::to_owned,
            ),
            field: s("field").map(str::to_owned),
        }
    }

    /// `{"error": {"code", "message", "field", "status"}}`, the tool's error result.
    pub fn to_json(&self) -> Value {
        json!({"error": {
            "code": self.code,
            "message": self.message,
            "field": self.field,
            "status": self.status,
        }})
    }
}

/// Something that answers StemeDB API calls.
pub trait Backend: Send + Sync + 'static {
    /// Runs `req`. `authorization` is the `Authorization` header of the MCP
    /// HTTP request that carried the tool call (streamable HTTP only); a
    /// backend with its own credentials may ignore it. Returns the JSON body
    /// of a 2xx answer.
    fn call(
        &self,
        req: ApiRequest,
        authorization: Option<String>,
    ) -> impl Future<Output = Result<Value, ToolError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_encoded() {
        let r = ApiRequest::get(
            "/v1/query",
            vec![
                ("subject".into(), "drug:a b&c".into()),
                ("lens".into(), "recency".into()),
            ],
        );
        assert_eq!(
            r.path_and_query(),
            "/v1/query?subject=drug%3Aa%20b%26c&lens=recency"
        );
    }

    #[test]
    fn server_errors_keep_code_field_and_status() {
        let e = ToolError::from_response(
            404,
            br#"{"error":{"code":"not_found","message":"no record","field":"target"}}"#,
        );
        assert_eq!(e.code, "not_found");
        assert_eq!(e.field.as_deref(), Some("target"));
        assert_eq!(e.status, Some(404));
        let e = ToolError::from_response(502, b"bad gateway");
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("http_502", "bad gateway")
        );
    }
}

//! [`ApiError`]: every failure answered as `{"error": {"code", "message", "field"}}`
//! with the right status (and `Retry-After` on 503).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use stemedb_query::QueryError;
use stemedb_records::ValidationError;
use stemedb_storage::{Rejected, StorageError};

/// An error response.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code, e.g. `missing_field`.
    pub code: String,
    /// Human-readable detail.
    pub message: String,
    /// The offending field or parameter, when there is one.
    pub field: Option<String>,
    /// Seconds for `Retry-After` (503 only).
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_owned(),
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// Names the offending field.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400 with a code and field.
    pub fn bad(code: &str, field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message).field(field)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(code: &str, message: impl Into<String>, retry_after: u32) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
        e.retry_after = Some(retry_after);
        e
    }

    /// 500 `internal`; the detail is logged, not sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error; see the server log",
        )
    }

    /// The `{"code","message","field"}` object (also used per batch item).
    pub fn body(&self) -> serde_json::Value {
        json!({"code": self.code, "message": self.message, "field": self.field})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(json!({ "error": self.body() }))).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::bad(e.code.as_str(), &e.field, e.message)
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Overloaded(_) => ApiError::unavailable("overloaded", e.to_string(), 1),
            StorageError::InsufficientStorage { .. } | StorageError::DiskFull(_) => ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "insufficient_storage",
                e.to_string(),
            ),
            StorageError::Failed(_) | StorageError::Closed => {
                ApiError::unavailable("unavailable", e.to_string(), 5)
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<Rejected> for ApiError {
    fn from(r: Rejected) -> Self {
        match r {
            Rejected::Invalid(v) => v.into(),
            Rejected::NotFound { field, id } => {
                ApiError::not_found(format!("no record {id}")).field(field)
            }
            Rejected::WrongKind {
                field,
                id,
                expected,
                found,
            } => ApiError::bad(
                "wrong_kind",
                field,
                format!(
                    "record {id} is a {}, expected a {}",
                    found.as_str(),
                    expected.as_str()
                ),
            ),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::BadParam { param, message } => {
                ApiError::bad("invalid_param", param, message)
            }
            QueryError::Storage(s) => s.into(),
        }
    }
}

/// A blocking task died (panicked or was cancelled).
impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(e)
    }
}

/// Cluster refusals: 503 with `Retry-After` (`read_only`,
/// `replication_unavailable`); anything else is internal.
impl From<crate::cluster::ClusterWriteError> for ApiError {
    fn from(e: crate::cluster::ClusterWriteError) -> Self {
        use crate::cluster::ClusterWriteError as E;
        match e {
            E::ReadOnly(message) => ApiError::unavailable("read_only", message, 1),
            E::Unavailable { .. } => {
                ApiError::unavailable("replication_unavailable", e.to_string(), 1)
            }
            E::Hints(_) | E::Task(_) => ApiError::internal(e),
        }
    }
}

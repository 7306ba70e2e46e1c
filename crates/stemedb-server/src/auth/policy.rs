//! Who may do what: the route × role matrix (one table for every route,
//! including routes added later) and the per-record rules a batch needs.
//! `docs/security.md` shows the same matrix.

use axum::http::{Method, StatusCode};
use stemedb_records::Record;

use super::{Access, Role};
use crate::error::ApiError;

/// What a request needs before its handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Anyone, no key, no rate limit: liveness and readiness probes.
    Probe,
    /// Anyone, no key (rate limited per IP): docs and console static assets.
    Public,
    /// A key with at least this role.
    Role(Role),
}

/// The requirement of `method path`. Unknown routes fall into the generic
/// rule for their method (reads: reader; anything else: admin), so a new
/// route is never more open than this table says.
pub fn required(method: &Method, path: &str) -> Requirement {
    let read = *method == Method::GET || *method == Method::HEAD;
    if read {
        return match path {
            "/v1/health" | "/v1/ready" => Requirement::Probe,
            "/" | "/docs" | "/api-doc/openapi.json" => Requirement::Public,
            p if p.starts_with("/console/") => Requirement::Public,
            p if p.starts_with("/v1/admin/") => Requirement::Role(Role::Admin),
            _ => Requirement::Role(Role::Reader),
        };
    }
    if *method == Method::POST {
        return match path {
            "/v1/assert" | "/v1/assertions" | "/v1/retract" | "/v1/vote" => {
                Requirement::Role(Role::Writer)
            }
            // MCP tools map onto the routes above; the endpoint itself needs
            // a key, and each tool checks its own role with `Access::require`.
            "/mcp" => Requirement::Role(Role::Reader),
            _ => Requirement::Role(Role::Admin),
        };
    }
    Requirement::Role(Role::Admin)
}

impl Access {
    /// Ok when this caller has at least `role`; else 401 for an anonymous
    /// caller (a credential would help) and 403 for a key with a lower role.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            return Ok(());
        }
        if !self.authenticated {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                format!(
                    "this needs the {} role: send Authorization: Bearer <secret>",
                    role.as_str()
                ),
            ));
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this needs the {} role; {} has {}",
                role.as_str(),
                self.describe(),
                self.role.as_str()
            ),
        ))
    }

    /// Whether this caller may retract assertions of other agents (an admin
    /// key or `api.admin_token`; never an anonymous caller of an open server).
    pub fn may_retract_any(&self) -> bool {
        self.authenticated && self.role == Role::Admin
    }

    /// The role a record of this kind needs (batch items go through here).
    pub fn may_write(&self, rec: &Record) -> Result<(), ApiError> {
        match rec {
            Record::Trust(_) | Record::Epoch(_) => self.require(Role::Admin),
            _ => self.require(Role::Writer),
        }
    }

    fn describe(&self) -> String {
        match &self.key {
            Some(k) => format!("key {k:?}"),
            None => "an anonymous caller".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix() {
        let r = |m: Method, p: &str| required(&m, p);
        assert_eq!(r(Method::GET, "/v1/health"), Requirement::Probe);
        assert_eq!(r(Method::GET, "/console/app.js"), Requirement::Public);
        assert_eq!(r(Method::GET, "/v1/query"), Requirement::Role(Role::Reader));
        assert_eq!(r(Method::GET, "/metrics"), Requirement::Role(Role::Reader));
        assert_eq!(
            r(Method::POST, "/v1/assert"),
            Requirement::Role(Role::Writer)
        );
        assert_eq!(
            r(Method::POST, "/v1/epochs"),
            Requirement::Role(Role::Admin)
        );
        assert_eq!(
            r(Method::PUT, "/v1/agents/x/trust"),
            Requirement::Role(Role::Admin)
        );
        assert_eq!(
            r(Method::POST, "/v1/admin/backup"),
            Requirement::Role(Role::Admin)
        );
        assert_eq!(
            r(Method::GET, "/v1/admin/backup"),
            Requirement::Role(Role::Admin)
        );
        assert_eq!(
            r(Method::DELETE, "/v1/assert"),
            Requirement::Role(Role::Admin)
        );
        assert_eq!(
            r(Method::POST, "/v1/new-thing"),
            Requirement::Role(Role::Admin)
        );
    }
}

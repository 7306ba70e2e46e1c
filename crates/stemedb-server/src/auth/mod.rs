//! API keys, roles and rate limits: the [`Gate`] every request passes
//! through (one middleware, [`gate`]), keyed by route and method through
//! [`policy::required`].
//!
//! Order for a request: probes (`/v1/health`, `/v1/ready`) pass untouched;
//! everything else is rate limited per client IP, then public routes (docs,
//! console assets) pass; the rest needs a key with the route's role, and is
//! then rate limited per key. The caller's [`Access`] goes into the request
//! extensions for handlers that check per-record rules (batch items,
//! retractions of other agents' assertions).

pub mod keys;
pub mod limits;
pub mod policy;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::AppState;
pub use keys::{KeySet, KeysError};
pub use limits::RateLimits;
pub use policy::Requirement;

/// What a key may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// GET endpoints.
    Reader,
    /// + assertions, batches, votes, retraction of one's own assertions.
    Writer,
    /// + trust, epochs, retraction of any assertion, admin endpoints.
    Admin,
}

impl Role {
    /// `reader`, `writer` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "reader" => Ok(Role::Reader),
            "writer" => Ok(Role::Writer),
            "admin" => Ok(Role::Admin),
            _ => Err(format!(
                "unknown role {s:?}: expected reader, writer or admin"
            )),
        }
    }
}

/// The caller of one request, as the gate established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The key's name (`api.admin_token` for the legacy token); `None` when anonymous.
    pub key: Option<String>,
    /// What the caller may do.
    pub role: Role,
    /// Whether a credential was presented and accepted.
    pub authenticated: bool,
}

/// Handlers take `Access` as an extractor; the gate always inserts it on
/// routes that need a role.
impl<S: Send + Sync> FromRequestParts<S> for Access {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Access>()
            .cloned()
            .ok_or_else(|| ApiError::internal("route has no Access (auth gate not installed)"))
    }
}

/// Keys (reloadable), the legacy admin token, and rate limits.
pub struct Gate {
    keys_file: Option<PathBuf>,
    keys: RwLock<Arc<KeySet>>,
    admin_token: Option<blake3::Hash>,
    /// Per-key and per-IP token buckets.
    pub limits: RateLimits,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("keys_file", &self.keys_file)
            .field("admin_token", &self.admin_token.map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

impl Gate {
    /// No keys file: anonymous callers are allowed (today's open behaviour);
    /// `admin_token`, when set, is the only admin credential.
    pub fn open(admin_token: Option<&str>, limits: RateLimits) -> Gate {
        Gate {
            keys_file: None,
            keys: RwLock::new(Arc::new(KeySet::default())),
            admin_token: admin_token.map(keys::hash_secret),
            limits,
        }
    }

    /// Keys from `keys_file` (which must exist and be valid).
    pub fn with_keys(
        keys_file: &Path,
        admin_token: Option<&str>,
        limits: RateLimits,
    ) -> Result<Gate, KeysError> {
        let set = keys::load(keys_file)?;
        Ok(Gate {
            keys_file: Some(keys_file.to_path_buf()),
            keys: RwLock::new(Arc::new(set)),
            admin_token: admin_token.map(keys::hash_secret),
            limits,
        })
    }

    /// Whether keys are required (an `[auth]` section is configured).
    pub fn enforcing(&self) -> bool {
        self.keys_file.is_some()
    }

    /// The keys now in force.
    pub fn key_set(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Re-reads the keys file; on error the previous keys stay in force.
    pub fn reload(&self) -> Result<usize, KeysError> {
        let Some(path) = &self.keys_file else {
            return Ok(0);
        };
        let set = keys::load(path)?;
        let n = set.active.len();
        match self.keys.write() {
            Ok(mut g) => *g = Arc::new(set),
            Err(p) => *p.into_inner() = Arc::new(set),
        }
        Ok(n)
    }

    /// Who is calling, from the `Authorization` header.
    pub fn access(&self, headers: &HeaderMap) -> Result<Access, ApiError> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            if self.enforcing() {
                return Err(unauthorized(
                    "this endpoint needs an API key: send Authorization: Bearer <secret>",
                ));
            }
            let role = if self.admin_token.is_some() {
                Role::Writer
            } else {
                Role::Admin
            };
            return Ok(Access {
                key: None,
                role,
                authenticated: false,
            });
        };
        let secret = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                unauthorized("malformed Authorization header: expected Bearer <secret>")
            })?;
        let hash = keys::hash_secret(secret);
        // blake3::Hash equality is constant-time.
        let is_admin_token = self.admin_token.is_some_and(|t| t == hash);
        let set = self.key_set();
        let found = set.find(&hash);
        match (is_admin_token, found) {
            (true, _) => Ok(Access {
                key: Some("api.admin_token".into()),
                role: Role::Admin,
                authenticated: true,
            }),
            (false, Some(k)) => Ok(Access {
                key: Some(k.name.clone()),
                role: k.role,
                authenticated: true,
            }),
            (false, None) => Err(unauthorized("invalid or revoked API key")),
        }
    }

    /// Reloads the keys file on SIGHUP and whenever its modification time,
    /// size or inode changes (checked every `poll`). Runs until aborted.
    pub fn spawn_reloader(self: &Arc<Self>, poll: Duration) -> Option<tokio::task::JoinHandle<()>> {
        let path = self.keys_file.clone()?;
        let gate = Arc::clone(self);
        Some(tokio::spawn(async move {
            let mut hup = match tokio::signal::unix::signal(
                tokio::signal::unix::SignalKind::hangup(),
            ) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGHUP; keys file is still polled");
                    None
                }
            };
            let mut seen = stamp(&path);
            loop {
                let by_signal = tokio::select! {
                    () = tokio::time::sleep(poll) => false,
                    Some(()) = async {
                        match hup.as_mut() {
                            Some(h) => h.recv().await,
                            None => std::future::pending().await,
                        }
                    } => true,
                };
                let now = stamp(&path);
                if !by_signal && now == seen {
                    continue;
                }
                seen = now;
                let g = Arc::clone(&gate);
                match tokio::task::spawn_blocking(move || g.reload()).await {
                    Ok(Ok(n)) => tracing::info!(
                        file = %path.display(), active_keys = n, by_signal, "API keys reloaded"
                    ),
                    Ok(Err(e)) => tracing::error!(
                        error = %e, "API keys NOT reloaded; the previous keys stay in force"
                    ),
                    Err(e) => tracing::error!(error = %e, "API keys reload task failed"),
                }
            }
        }))
    }
}

/// What identifies a version of the file: mtime, size, inode.
fn stamp(path: &Path) -> Option<(SystemTime, u64, u64)> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some((m.modified().ok()?, m.len(), ino))
}

/// The middleware: rate limits, authentication and the route's role.
pub async fn gate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let need = policy::required(req.method(), req.uri().path());
    if need == Requirement::Probe {
        return next.run(req).await;
    }
    let gate = &state.gate;
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>()
        && let Err(e) = gate.limits.check_ip(addr.ip())
    {
        return e.into_response();
    }
    let Requirement::Role(role) = need else {
        return next.run(req).await;
    };
    let access = match gate.access(req.headers()) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = access.require(role) {
        return e.into_response();
    }
    if let Some(k) = &access.key
        && let Err(e) = gate.limits.check_key(k)
    {
        return e.into_response();
    }
    req.extensions_mut().insert(access);
    next.run(req).await
}

//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the request/response schemas below (which describe the
//! JSON; parsing itself is done by `stemedb_records::wire`).

mod constraints;

use serde::Serialize;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

/// An object value: `{"type": "text"|"number"|"boolean"|"ref", "value": ...}`.
#[derive(Serialize, ToSchema)]
pub struct ObjectValue {
    /// `text`, `number`, `boolean` or `ref`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The value: string, finite number or boolean.
    #[schema(value_type = Object)]
    pub value: Value,
}

/// Evidence pointer.
#[derive(Serialize, ToSchema)]
pub struct SourceIn {
    /// Where the evidence is.
    pub uri: String,
    /// Authority tier 0 (regulatory) ..= 5 (anecdotal).
    pub class: u8,
}

/// An assertion as written (SPEC §1).
#[derive(Serialize, ToSchema)]
pub struct AssertionIn {
    /// What the claim is about (1..=512 bytes).
    pub subject: String,
    /// The property (1..=256 bytes).
    pub predicate: String,
    /// The claimed value.
    pub object: ObjectValue,
    /// Who asserts it: a 64-hex Ed25519 key when signed, else a name.
    pub agent: String,
    /// In [0, 1]; default 1.
    pub confidence: Option<f64>,
    /// ms since the Unix epoch; assigned by the server when absent (unsigned only).
    pub timestamp: Option<i64>,
    /// Evidence.
    pub source: Option<SourceIn>,
    /// Valid time start (ms).
    pub valid_from: Option<i64>,
    /// Valid time end (ms).
    pub valid_to: Option<i64>,
    /// proposed (default), under_review, approved, deprecated, rejected.
    pub lifecycle: Option<String>,
    /// Previous assertion id (64 hex).
    pub parent: Option<String>,
    /// Epoch id (64 hex).
    pub epoch: Option<String>,
    /// 128-hex Ed25519 signature of the id by `agent`.
    pub signature: Option<String>,
}

/// A retraction.
#[derive(Serialize, ToSchema)]
pub struct RetractionIn {
    /// Id of the retracted assertion.
    pub target: String,
    /// Must equal the assertion's agent.
    pub agent: String,
    /// Why.
    pub reason: Option<String>,
    /// ms; assigned when absent (unsigned only).
    pub timestamp: Option<i64>,
    /// 128-hex signature.
    pub signature: Option<String>,
}

/// A vote.
#[derive(Serialize, ToSchema)]
pub struct VoteIn {
    /// Id of the assertion voted on.
    pub target: String,
    /// Voter.
    pub agent: String,
    /// In [-1, 1].
    pub weight: f64,
    /// ms; assigned when absent (unsigned only).
    pub timestamp: Option<i64>,
    /// 128-hex signature.
    pub signature: Option<String>,
}

/// A trust score for the agent named in the path.
#[derive(Serialize, ToSchema)]
pub struct TrustIn {
    /// In [0, 1].
    pub score: f64,
    /// Who sets it (default `admin`).
    pub issuer: Option<String>,
    /// ms; assigned when absent.
    pub timestamp: Option<i64>,
    /// 128-hex signature by `issuer`.
    pub signature: Option<String>,
}

/// An epoch declaration.
#[derive(Serialize, ToSchema)]
pub struct EpochIn {
    /// Name of the paradigm.
    pub name: String,
    /// Subjects it applies to; empty or absent: every subject.
    #[serde(default)]
    pub subject_prefix: String,
    /// Epoch id it supersedes, or null.
    pub supersedes: Option<String>,
    /// Why; empty when absent.
    #[serde(default)]
    pub reason: String,
    /// Who declares it.
    pub agent: String,
    /// ms; assigned when absent (unsigned only).
    pub timestamp: Option<i64>,
    /// 128-hex signature.
    pub signature: Option<String>,
}

/// Result of a write.
#[derive(Serialize, ToSchema)]
pub struct WriteResult {
    /// 64-hex record id.
    pub id: String,
    /// `created` or `exists`.
    pub status: String,
}

/// The error object.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code (see docs/http-api.md).
    pub code: String,
    /// Human-readable detail.
    pub message: String,
    /// Offending field or parameter, or null.
    pub field: Option<String>,
}

/// Every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// One item of a batch result: `id` and `status`, or `error`.
#[derive(Serialize, ToSchema)]
pub struct BatchItem {
    /// Position in the batch (0-based).
    pub index: usize,
    /// Record id when stored.
    pub id: Option<String>,
    /// `created` or `exists` when stored.
    pub status: Option<String>,
    /// Why the item was refused.
    pub error: Option<ErrorDetail>,
}

/// Result of a batch.
#[derive(Serialize, ToSchema)]
pub struct BatchResult {
    /// One entry per item, in order.
    pub results: Vec<BatchItem>,
    /// Items newly stored.
    pub created: u64,
    /// Items already stored.
    pub exists: u64,
    /// Items refused.
    pub failed: u64,
}

/// A record (`kind`, `id`, its fields, `signature`?) with annotations.
#[derive(Serialize, ToSchema)]
pub struct RecordView {
    /// Record kind.
    pub kind: String,
    /// 64-hex id.
    pub id: String,
    /// `valid` (verified before storing) or `unsigned`.
    pub signature_status: String,
    /// Votes on it.
    #[schema(value_type = Vec<Object>)]
    pub votes: Vec<Value>,
    /// Its earliest retraction, or null.
    #[schema(value_type = Option<Object>)]
    pub retraction: Option<Value>,
}

/// Lineage of a record.
#[derive(Serialize, ToSchema)]
pub struct TraceView {
    /// The record.
    #[schema(value_type = Object)]
    pub record: Value,
    /// Parent chain, nearest first.
    #[schema(value_type = Vec<Object>)]
    pub parents: Vec<Value>,
    /// Id of a parent that is not stored here, if the chain breaks.
    pub missing_parent: Option<String>,
    /// Assertions whose parent is this record.
    #[schema(value_type = Vec<Object>)]
    pub children: Vec<Value>,
    /// Votes on it.
    #[schema(value_type = Vec<Object>)]
    pub votes: Vec<Value>,
    /// Earliest retraction, or null.
    #[schema(value_type = Option<Object>)]
    pub retraction: Option<Value>,
    /// The assertion's epoch record, or null.
    #[schema(value_type = Option<Object>)]
    pub epoch: Option<Value>,
    /// For a vote or retraction: the assertion it targets.
    #[schema(value_type = Option<Object>)]
    pub target: Option<Value>,
}

/// Query response (SPEC §3).
#[derive(Serialize, ToSchema)]
pub struct QueryResponse {
    /// One entry per (subject, predicate): `subject`, `predicate`, `candidates`, `resolution`.
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<Value>,
    /// Cursor of the next page, or null.
    pub next_cursor: Option<String>,
}

/// A page of contested pairs (`GET /v1/conflicts`).
#[derive(Serialize, ToSchema)]
pub struct ConflictsResponse {
    /// `{"subject", "predicate", "conflict", "resolution"}` per contested pair, in (subject, predicate) order.
    #[schema(value_type = Vec<Object>)]
    pub conflicts: Vec<Value>,
    /// (subject, predicate) pairs examined by this call.
    pub examined: usize,
    /// Cursor to continue the walk, or null when the prefix range is exhausted.
    pub next_cursor: Option<String>,
}

/// A page of subjects.
#[derive(Serialize, ToSchema)]
pub struct SubjectsResponse {
    /// Subjects in byte order.
    pub subjects: Vec<String>,
    /// Cursor of the next page, or null.
    pub next_cursor: Option<String>,
}

/// Predicates of a subject.
#[derive(Serialize, ToSchema)]
pub struct PredicatesResponse {
    /// The subject.
    pub subject: String,
    /// Its predicates in byte order.
    pub predicates: Vec<String>,
}

/// Liveness answer.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// Readiness answer.
#[derive(Serialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    pub status: String,
    /// `single` (one node), or `read_write` / `read_only` in cluster mode.
    pub mode: String,
    /// Cluster mode: `{"node_id", "visible", "total", "majority"}`.
    #[schema(value_type = Option<Object>)]
    pub cluster: Option<Value>,
}

/// `GET /v1/ready` when the node cannot take writes.
#[derive(Serialize, ToSchema)]
pub struct NotReadyBody {
    /// `not_ready`.
    pub status: String,
    /// `recovering` (the node is starting), `read_only` (minority,
    /// `on_minority = "read_only"`), `store_failed`, or `insufficient_storage`
    /// (below `storage.min_free_bytes`).
    pub reason: String,
    /// What is wrong, for the operator.
    pub message: String,
    /// `single`, `read_write`, `read_only`, or `starting` (a cluster node
    /// that is recovering).
    pub mode: String,
    /// Cluster mode: `{"node_id", "visible", "total", "majority"}`.
    #[schema(value_type = Option<Object>)]
    pub cluster: Option<Value>,
    /// The same reason in the API's error shape: `{"code", "message"}`.
    #[schema(value_type = Object)]
    pub error: Value,
}

/// Cluster status (`GET /v1/cluster/status`), as the gateway's `GET /cluster/status`.
#[derive(Serialize, ToSchema)]
pub struct ClusterStatus {
    /// This node's `cluster.node_id`, or null on a single node.
    pub node_id: Option<String>,
    /// `single` (one node), `read_write` or `read_only`.
    pub mode: String,
    /// `{"visible", "total", "majority", "on_minority"}`, or null on a single node.
    #[schema(value_type = Option<Object>)]
    pub quorum: Option<Value>,
    /// Members as in `GET /cluster/members` (`id`, `status`, addresses, `last_seen`, `generation`).
    #[schema(value_type = Vec<Object>)]
    pub members: Vec<Value>,
    /// `{"factor", "hints_pending", "replication_lag_seconds", "last_anti_entropy"}`, or null on a single node.
    #[schema(value_type = Option<Object>)]
    pub replication: Option<Value>,
    /// `[{"partition", "replicas"}]`: the replica node ids of each partition.
    #[schema(value_type = Vec<Object>)]
    pub partitions: Vec<Value>,
}

/// One segment's committed extent in a backup plan.
#[derive(Serialize, ToSchema)]
pub struct BackupSegment {
    /// Segment number.
    pub segment: u32,
    /// Committed bytes to copy (header included).
    pub size: u64,
}

/// A log position.
#[derive(Serialize, ToSchema)]
pub struct BackupPosition {
    /// Segment number.
    pub segment: u32,
    /// Byte offset.
    pub offset: u32,
}

/// Answer of `GET /v1/admin/backup`.
#[derive(Serialize, ToSchema)]
pub struct BackupPlan {
    /// 1.
    pub format_version: u32,
    /// End of the last group commit when the backup started.
    pub log_end: BackupPosition,
    /// Every segment up to `log_end`, with its committed size.
    pub segments: Vec<BackupSegment>,
    /// `rebuilt_on_restore`: the index is not copied.
    pub index: String,
}

/// The generated OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "StemeDB HTTP API",
        description = "A database of claims, not facts: immutable, content-addressed, optionally signed assertions resolved at read time by lenses. Errors are {\"error\": {\"code\", \"message\", \"field\"}}."
    ),
    paths(
        crate::routes::records::assert,
        crate::routes::records::batch,
        crate::routes::annotations::retract,
        crate::routes::annotations::vote,
        crate::routes::admin::trust,
        crate::routes::admin::epoch,
        crate::routes::backup::plan,
        crate::routes::backup::segment,
        crate::routes::read::get_record,
        crate::routes::read::trace,
        crate::routes::query::query,
        crate::routes::conflicts::conflicts,
        crate::routes::listing::subjects,
        crate::routes::listing::predicates,
        crate::routes::listing::export,
        crate::routes::ops::health,
        crate::routes::ops::ready,
        crate::routes::ops::metrics_text,
        crate::routes::docs::openapi_json,
        crate::routes::docs::docs_page,
        crate::mcp::mcp_endpoint_doc,
        crate::routes::console::cluster_status,
        crate::routes::console::shell,
        crate::routes::console::deep_link,
        crate::routes::console::asset,
    ),
    components(schemas(
        ObjectValue, SourceIn, AssertionIn, RetractionIn, VoteIn, TrustIn, EpochIn,
        WriteResult, ErrorDetail, ErrorBody, BatchItem, BatchResult, RecordView,
        TraceView, QueryResponse, ConflictsResponse, SubjectsResponse, PredicatesResponse, Health, Ready, NotReadyBody,
        ClusterStatus,
        BackupPlan, BackupSegment, BackupPosition
    )),
    tags(
        (name = "write", description = "Store records (durable before the reply)"),
        (name = "admin", description = "Admin-only writes"),
        (name = "read", description = "Records, queries, listings, export"),
        (name = "ops", description = "Health, readiness, metrics, docs"),
        (name = "mcp", description = "Model Context Protocol tools for AI agents (docs/mcp.md)"),
        (name = "console", description = "The web console (HTML shell and embedded assets)"),
    )
)]
pub struct ApiDoc;

/// How the server checks credentials; the document states exactly that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// `[auth]` keys: every gated route needs a bearer key.
    Keys,
    /// No keys file; `api.admin_token` (when set) is the admin credential:
    /// admin routes need it, the others take anonymous callers.
    Open,
}

/// The OpenAPI document as JSON, for the default `[api]` settings on an open server.
pub fn document() -> Value {
    document_for(&crate::config::ApiConfig::default(), AuthMode::Open)
}

/// The OpenAPI document as JSON for these `[api]` settings and credential
/// check (the batch size limit and who must authenticate are part of it).
pub fn document_for(api: &crate::config::ApiConfig, auth: AuthMode) -> Value {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut v = serde_json::to_value(&doc).unwrap_or(Value::Null);
    add_auth(&mut v, auth, api.admin_token.is_some());
    add_insufficient_storage(&mut v);
    let missing = constraints::apply(&mut v, api.max_batch);
    if !missing.is_empty() {
        tracing::warn!(
            ?missing,
            "OpenAPI constraints name routes or fields that do not exist"
        );
    }
    v
}

/// Operations that append records through the write service; each answers
/// 507 `insufficient_storage` when the store refuses a group commit for
/// lack of disk space (nothing written; see `storage.min_free_bytes`).
pub const APPENDING_OPERATIONS: [(&str, &str); 6] = [
    ("post", "/v1/assert"),
    ("post", "/v1/assertions"),
    ("post", "/v1/retract"),
    ("post", "/v1/vote"),
    ("post", "/v1/epochs"),
    ("put", "/v1/agents/{agent}/trust"),
];

/// Documents the 507 answer of every [`APPENDING_OPERATIONS`] entry.
fn add_insufficient_storage(doc: &mut Value) {
    use serde_json::json;
    for (method, path) in APPENDING_OPERATIONS {
        if let Some(responses) = doc
            .pointer_mut(&format!(
                "/paths/{}/{method}/responses",
                path.replace('/', "~1")
            ))
            .and_then(Value::as_object_mut)
        {
            responses.insert(
                "507".into(),
                json!({"description": "`insufficient_storage`: the data directory's file system is below `storage.min_free_bytes` (or a log write ran out of space); nothing was stored, retry once space is freed",
                       "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}),
            );
        }
    }
}

/// Adds the bearer security scheme and, from the one route × role table
/// ([`crate::auth::policy::required`]), the 401/403/429 answers and the
/// security requirement of every operation, as the server enforces them:
/// with keys, every gated route needs one; on an open server only admin
/// routes need `api.admin_token` (when set), and a presented credential that
/// is not valid is still 401.
fn add_auth(doc: &mut Value, auth: AuthMode, admin_token: bool) {
    use crate::auth::{Requirement, Role, policy};
    use axum::http::Method;
    use serde_json::json;
    let error = |d: &str| {
        json!({"description": d,
               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
    };
    let mut limited = error("Rate limited (`[limits]`); retry after `Retry-After` seconds");
    limited["headers"] =
        json!({"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}});
    let unauthorized = match auth {
        AuthMode::Keys => "No API key, or an invalid or revoked one",
        AuthMode::Open if admin_token => {
            "An Authorization header that is not `api.admin_token` (and, on admin routes, none)"
        }
        AuthMode::Open => {
            "An Authorization header was sent: this server has no credentials ([auth] or api.admin_token)"
        }
    };
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (m, op) in item.iter_mut() {
                let Ok(method) = Method::from_bytes(m.to_ascii_uppercase().as_bytes()) else {
                    continue;
                };
                let need = policy::required(&method, path);
                let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                    continue;
                };
                if need == Requirement::Probe {
                    continue;
                }
                responses.insert("429".into(), limited.clone());
                let Requirement::Role(role) = need else {
                    continue;
                };
                responses.insert("401".into(), error(unauthorized));
                // On an open server the anonymous caller has the writer role
                // (admin without a token) and the token is admin: the role
                // check answers 401, never 403. A reader route's own 403 (if
                // any) is not about roles: no key is below reader.
                if auth == AuthMode::Keys && role > Role::Reader {
                    let text = match responses.get("403").and_then(|r| r.get("description")) {
                        Some(Value::String(d)) => {
                            format!("The key's role is below {}; or: {d}", role.as_str())
                        }
                        _ => format!("The key's role is below {}", role.as_str()),
                    };
                    responses.insert("403".into(), error(&text));
                }
                let security = match auth {
                    AuthMode::Keys => Some(json!([{"bearer": []}])),
                    AuthMode::Open if admin_token && role == Role::Admin => {
                        Some(json!([{"bearer": []}]))
                    }
                    AuthMode::Open if admin_token => Some(json!([{}, {"bearer": []}])),
                    AuthMode::Open => None,
                };
                if let Some(s) = security {
                    op["security"] = s;
                }
            }
        }
    }
    if let Some(components) = doc.get_mut("components").and_then(Value::as_object_mut) {
        components.insert(
            "securitySchemes".into(),
            json!({"bearer": {"type": "http", "scheme": "bearer",
                   "description": "An API key from `stemedb-api keys add` (or `api.admin_token`); see docs/security.md"}}),
        );
    }
}

//! `GET /v1/assertions/{id}` and `GET /v1/trace/{id}`.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use stemedb_records::{Record, RecordId, SignedRecord, wire};
use stemedb_storage::Store;

use crate::error::ApiError;
use crate::extract::{Params, path_param};
use crate::openapi::{ErrorBody, RecordView, TraceView};
use crate::state::AppState;

/// Most parents followed by a trace.
const MAX_PARENTS: usize = 1000;

/// Routes of this group.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/assertions/{id}", get(get_record))
        .route("/v1/trace/{id}", get(trace))
}

fn parse_id(p: Result<Path<String>, PathRejection>) -> Result<RecordId, ApiError> {
    let s = path_param(p, "id")?;
    RecordId::from_hex(&s).map_err(|e| ApiError::bad("invalid_hex", "id", e.to_string()))
}

/// `?local=true`: answer from this node's data only, without asking other
/// cluster members (shows what a node stores itself); default `false`.
fn local_only(q: Result<Query<Vec<(String, String)>>, QueryRejection>) -> Result<bool, ApiError> {
    let p = Params::check(q, &["local"])?;
    Ok(p.parse("local", "true or false", |v| match v {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    })?
    .unwrap_or(false))
}

/// In cluster mode, fetches `id` from another member first unless `local`.
async fn forward(state: &AppState, id: RecordId, local: bool) {
    if let Some(c) = &state.cluster
        && !local
    {
        c.forward_get(id).await;
    }
}

fn load(store: &Store, id: RecordId) -> Result<SignedRecord, ApiError> {
    store
        .get(id)?
        .map(|s| s.record)
        .ok_or_else(|| ApiError::not_found(format!("no record {id}")).field("id"))
}

/// Votes (JSON) and the earliest retraction of a record.
fn annotations(store: &Store, id: RecordId) -> Result<(Vec<Value>, Value), ApiError> {
    let mut votes = Vec::new();
    let mut retraction = Value::Null;
    for a in store.annotations(id)? {
        match a.record.record() {
            Record::Vote(_) => votes.push(wire::to_json(&a.record)),
            Record::Retraction(_) if retraction.is_null() => retraction = wire::to_json(&a.record),
            _ => {}
        }
    }
    Ok((votes, retraction))
}

fn view(store: &Store, rec: &SignedRecord) -> Result<Map<String, Value>, ApiError> {
    let mut m = match wire::to_json(rec) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    // Signatures were verified before the record was stored.
    let sig = if rec.signature().is_some() {
        "valid"
    } else {
        "unsigned"
    };
    m.insert("signature_status".into(), json!(sig));
    let (votes, retraction) = annotations(store, rec.id())?;
    m.insert("votes".into(), Value::Array(votes));
    m.insert("retraction".into(), retraction);
    Ok(m)
}

/// A record with its signature status, votes and retraction.
///
/// Any record kind can be fetched by id; votes and retraction apply to assertions.
#[utoipa::path(get, path = "/v1/assertions/{id}", tag = "read",
    params(
        ("id" = String, Path, description = "64-hex record id"),
        ("local" = Option<bool>, Query, description = "Cluster mode: answer from this node's data only (default false: a record this node lacks is fetched from another member)"),
    ),
    responses(
        (status = 200, description = "The record", body = RecordView),
        (status = 400, description = "Not a 64-hex id", body = ErrorBody),
        (status = 404, description = "No such record", body = ErrorBody),
    ))]
pub async fn get_record(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(id)?;
    forward(&state, id, local_only(q)?).await;
    let m = state
        .blocking(move |store| {
            let rec = load(store, id)?;
            view(store, &rec)
        })
        .await?;
    Ok(Json(Value::Object(m)))
}

/// Lineage of a record: its parents (following `parent`, nearest first),
/// children, votes, retraction, epoch, and for a vote or retraction its target.
#[utoipa::path(get, path = "/v1/trace/{id}", tag = "read",
    params(
        ("id" = String, Path, description = "64-hex record id"),
        ("local" = Option<bool>, Query, description = "Cluster mode: answer from this node's data only (default false: a record this node lacks is fetched from another member)"),
    ),
    responses(
        (status = 200, description = "The lineage", body = TraceView),
        (status = 400, description = "Not a 64-hex id", body = ErrorBody),
        (status = 404, description = "No such record", body = ErrorBody),
    ))]
pub async fn trace(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(id)?;
    forward(&state, id, local_only(q)?).await;
    let out = state
        .blocking(move |store| {
            let rec = load(store, id)?;
            let mut parents = Vec::new();
            let mut missing_parent = Value::Null;
            let mut next = rec.record().as_assertion().and_then(|a| a.parent);
            while let Some(pid) = next {
                if parents.len() >= MAX_PARENTS {
                    break;
                }
                match store.get(pid)? {
                    Some(p) => {
                        next = p.record.record().as_assertion().and_then(|a| a.parent);
                        parents.push(wire::to_json(&p.record));
                    }
                    None => {
                        missing_parent = json!(pid.to_hex());
                        next = None;
                    }
                }
            }
            let children: Vec<Value> = store
                .children(id)?
                .iter()
                .map(|c| wire::to_json(&c.record))
                .collect();
            let (votes, retraction) = annotations(store, id)?;
            let epoch = match rec.record().as_assertion().and_then(|a| a.epoch) {
                Some(e) => store
                    .get(e)?
                    .map(|s| wire::to_json(&s.record))
                    .unwrap_or(Value::Null),
                None => Value::Null,
            };
            let target = match rec.record().target() {
                Some(t) => store
                    .get(t)?
                    .map(|s| wire::to_json(&s.record))
                    .unwrap_or(Value::Null),
                None => Value::Null,
            };
            Ok(json!({
                "record": wire::to_json(&rec),
                "parents": parents,
                "missing_parent": missing_parent,
                "children": children,
                "votes": votes,
                "retraction": retraction,
                "epoch": epoch,
                "target": target,
            }))
        })
        .await?;
    Ok(Json(out))
}

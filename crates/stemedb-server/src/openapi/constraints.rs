//! The exact rules of what the server accepts, added to the generated
//! document: id patterns, length limits, number ranges, enums, unknown
//! fields refused, the `kind`/`id`/`signature` fields every record takes,
//! batch item shapes and query parameter types. Limits come from
//! `stemedb_records::limits` and the query/listing constants, so the document
//! cannot drift from the validators.
//!
//! What JSON Schema cannot say is stated in the descriptions: lengths are
//! UTF-8 bytes (JSON Schema's `maxLength` counts characters, so the two agree
//! for ASCII), a signature must verify, an `id` must be the record's hash, a
//! cursor must come from the server, `valid_from <= valid_to`.

use serde_json::{Value, json};
use stemedb_lens::Lens;
use stemedb_records::limits::{
    AGENT_MAX, EPOCH_NAME_MAX, PREDICATE_MAX, REASON_MAX, SOURCE_CLASS_MAX, SUBJECT_MAX, TEXT_MAX,
    TIMESTAMP_MAX, URI_MAX, VALID_TIME_MIN,
};
use stemedb_records::{Kind, Lifecycle};

/// A record id or public key: 64 hex digits (either case).
pub const HEX64: &str = "^[0-9a-fA-F]{64}$";
/// An Ed25519 signature: 128 hex digits.
pub const HEX128: &str = "^[0-9a-fA-F]{128}$";
/// No U+0000 (it separates index key parts).
pub const NO_NUL: &str = "^[^\\u0000]*$";

/// A string of 1..=`max` bytes without NUL (subjects, predicates, names).
fn name(max: usize) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max, "pattern": NO_NUL})
}

fn nullable(mut s: Value) -> Value {
    if let Some(t) = s.get("type").cloned() {
        s["type"] = json!([t, "null"]);
    }
    if let Some(e) = s.get_mut("enum").and_then(Value::as_array_mut) {
        e.push(Value::Null);
    }
    s
}

fn timestamp() -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": TIMESTAMP_MAX})
}

fn valid_time() -> Value {
    json!({"type": "integer", "minimum": VALID_TIME_MIN, "maximum": TIMESTAMP_MAX})
}

fn id() -> Value {
    json!({"type": "string", "pattern": HEX64})
}

/// Rules per (request schema, property): merged into the generated property
/// (keeping its description). Optional properties also take `null` (= absent).
fn record_rules() -> Vec<(&'static str, &'static str, Value)> {
    let agent = name(AGENT_MAX);
    vec![
        ("AssertionIn", "subject", name(SUBJECT_MAX)),
        ("AssertionIn", "predicate", name(PREDICATE_MAX)),
        ("AssertionIn", "agent", agent.clone()),
        (
            "AssertionIn",
            "confidence",
            nullable(json!({"type": "number", "minimum": 0, "maximum": 1})),
        ),
        ("AssertionIn", "timestamp", nullable(timestamp())),
        ("AssertionIn", "valid_from", nullable(valid_time())),
        ("AssertionIn", "valid_to", nullable(valid_time())),
        (
            "AssertionIn",
            "lifecycle",
            nullable(json!({"type": "string", "enum": Lifecycle::ALL.map(Lifecycle::as_str)})),
        ),
        ("AssertionIn", "parent", nullable(id())),
        ("AssertionIn", "epoch", nullable(id())),
        (
            "SourceIn",
            "uri",
            json!({"type": "string", "minLength": 1, "maxLength": URI_MAX}),
        ),
        (
            "SourceIn",
            "class",
            json!({"type": "integer", "minimum": 0, "maximum": SOURCE_CLASS_MAX}),
        ),
        ("RetractionIn", "target", id()),
        ("RetractionIn", "agent", agent.clone()),
        (
            "RetractionIn",
            "reason",
            nullable(json!({"type": "string", "maxLength": REASON_MAX})),
        ),
        ("RetractionIn", "timestamp", nullable(timestamp())),
        ("VoteIn", "target", id()),
        ("VoteIn", "agent", agent.clone()),
        (
            "VoteIn",
            "weight",
            json!({"type": "number", "minimum": -1, "maximum": 1}),
        ),
        ("VoteIn", "timestamp", nullable(timestamp())),
        (
            "TrustIn",
            "score",
            json!({"type": "number", "minimum": 0, "maximum": 1}),
        ),
        ("TrustIn", "issuer", nullable(agent.clone())),
        ("TrustIn", "timestamp", nullable(timestamp())),
        ("EpochIn", "name", name(EPOCH_NAME_MAX)),
        (
            "EpochIn",
            "subject_prefix",
            nullable(json!({"type": "string", "maxLength": SUBJECT_MAX, "pattern": NO_NUL})),
        ),
        ("EpochIn", "supersedes", nullable(id())),
        (
            "EpochIn",
            "reason",
            nullable(json!({"type": "string", "maxLength": REASON_MAX})),
        ),
        ("EpochIn", "agent", agent),
        ("EpochIn", "timestamp", nullable(timestamp())),
    ]
}

/// The record schemas and the kind each stands for.
const RECORDS: [(&str, Kind); 5] = [
    ("AssertionIn", Kind::Assertion),
    ("RetractionIn", Kind::Retraction),
    ("VoteIn", Kind::Vote),
    ("TrustIn", Kind::Trust),
    ("EpochIn", Kind::Epoch),
];

/// The object value: one shape per type.
fn object_value() -> Value {
    let variant = |ty: &str, value: Value| {
        json!({"type": "object", "additionalProperties": false,
               "required": ["type", "value"],
               "properties": {"type": {"type": "string", "enum": [ty]}, "value": value}})
    };
    json!({
        "description": "The claimed value: `text` (at most 64 KiB of UTF-8), `number` (a finite number; -0 is stored as 0), `boolean`, or `ref` (another subject).",
        "oneOf": [
            variant("text", json!({"type": "string", "maxLength": TEXT_MAX})),
            variant("number", json!({"type": "number"})),
            variant("boolean", json!({"type": "boolean"})),
            variant("ref", name(SUBJECT_MAX)),
        ]
    })
}

fn merge(into: &mut Value, rules: &Value) {
    if let (Some(into), Some(rules)) = (into.as_object_mut(), rules.as_object()) {
        for (k, v) in rules {
            into.insert(k.clone(), v.clone());
        }
    }
}

/// Applies every rule to `doc`; returns the rules whose target is missing
/// (a renamed field or schema), which a unit test keeps empty.
pub fn apply(doc: &mut Value, max_batch: usize) -> Vec<String> {
    let mut missing = Vec::new();
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return vec!["components.schemas".into()];
    };
    for (schema, prop, rules) in record_rules() {
        match schemas
            .get_mut(schema)
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.get_mut(prop))
        {
            Some(p) => merge(p, &rules),
            None => missing.push(format!("{schema}.{prop}")),
        }
    }
    schemas.insert("ObjectValue".into(), object_value());
    if let Some(s) = schemas.get_mut("SourceIn") {
        s["additionalProperties"] = json!(false);
    }
    for (schema, kind) in RECORDS {
        let Some(s) = schemas.get_mut(schema) else {
            missing.push(schema.into());
            continue;
        };
        s["additionalProperties"] = json!(false);
        if let Some(props) = s.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert(
                "kind".into(),
                json!({"type": ["string", "null"], "enum": [kind.as_str(), null],
                       "description": format!("`{}` (the default here)", kind.as_str())}),
            );
            props.insert(
                "id".into(),
                json!({"type": ["string", "null"], "pattern": HEX64,
                       "description": "The record's id, checked: it must equal the hash of the record's canonical bytes (docs/canonical-encoding.md)"}),
            );
            props.insert(
                "signature".into(),
                json!({"type": ["string", "null"], "pattern": HEX128,
                       "description": "Ed25519 signature of the id by `agent` (then a 64-hex public key), 128 hex; it must verify, and `timestamp` is required with it"}),
            );
        }
    }
    // Batch items: the same shapes, `kind` required except for assertions;
    // a trust item names its agent in the body.
    let mut items = vec![json!({"$ref": "#/components/schemas/AssertionIn"})];
    for (schema, kind) in &RECORDS[1..] {
        let Some(mut s) = schemas.get(*schema).cloned() else {
            continue;
        };
        s["properties"]["kind"] = json!({"type": "string", "enum": [kind.as_str()]});
        let mut required: Vec<Value> = s["required"].as_array().cloned().unwrap_or_default();
        required.push(json!("kind"));
        if *kind == Kind::Trust {
            s["properties"]["agent"] = name(AGENT_MAX);
            s["properties"]["agent"]["description"] =
                json!("The agent whose trust is set (name or 64-hex key)");
            required.push(json!("agent"));
        }
        s["required"] = Value::Array(required);
        let item = format!("{}Item", schema.trim_end_matches("In"));
        schemas.insert(item.clone(), s);
        items.push(json!({"$ref": format!("#/components/schemas/{item}")}));
    }
    let batch = json!({"type": "array", "maxItems": max_batch, "items": {"oneOf": items}});
    schemas.insert("BatchIn".into(), batch);
    match doc.pointer_mut("/paths/~1v1~1assertions/post/requestBody/content") {
        Some(body) => {
            let schema = json!({"$ref": "#/components/schemas/BatchIn"});
            *body = json!({
                "application/json": {"schema": schema},
                "application/x-ndjson": {"schema": schema},
            });
        }
        None => missing.push("POST /v1/assertions requestBody".into()),
    }
    missing.extend(apply_params(doc));
    add_common_responses(doc);
    missing
}

fn error_response(description: &str) -> Value {
    json!({"description": description,
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
}

/// Answers every route can give that its handler does not list: body
/// errors where there is a body, and 503 with `Retry-After` (a request over
/// `api.request_timeout_ms`, an overloaded or failed store, a cluster that
/// cannot take the write).
fn add_common_responses(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        // /mcp is the MCP transport (rmcp): it documents its own refusals
        // (415 for a bad body, never 400; plain-text bodies).
        let transport = path == "/mcp";
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let has_body = op.get("requestBody").is_some() && !transport;
            let write = method == "post" || method == "put";
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            if has_body {
                responses.entry("400").or_insert_with(|| {
                    error_response(
                        "Malformed JSON or an invalid value (`field` names it); nothing stored",
                    )
                });
                responses.entry("413").or_insert_with(|| {
                    error_response("Body larger than `api.max_body_bytes` (`too_large`)")
                });
                responses.entry("415").or_insert_with(|| {
                    error_response(
                        "Content-Type is not application/json (`unsupported_media_type`)",
                    )
                });
            }
            let text = if write {
                "Not stored or not acknowledged; retry after `Retry-After` seconds: write queue full (`overloaded`), store failed (`unavailable`), cluster minority (`read_only`), too few replicas reachable (`replication_unavailable`), or slower than `api.request_timeout_ms` (`timeout`; the write may still complete)"
            } else {
                "Retry after `Retry-After` seconds: slower than `api.request_timeout_ms` (`timeout`), or the store failed (`unavailable`)"
            };
            if write {
                // Handlers list the common case; every cause is listed here.
                responses.insert("503".into(), error_response(text));
            }
            let entry = responses
                .entry("503")
                .or_insert_with(|| error_response(text));
            if entry.get("headers").is_none() {
                entry["headers"] = json!({"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}});
            }
        }
    }
}

/// `^(|recency|...)$` spelled case-insensitively (the server ignores case;
/// JSON Schema patterns have no flags).
fn lens_pattern() -> String {
    let names: Vec<String> = Lens::ALL
        .iter()
        .map(|l| {
            l.as_str()
                .chars()
                .map(|c| format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase()))
                .collect()
        })
        .collect();
    format!("^(|{})$", names.join("|"))
}

fn i64_range() -> Value {
    json!({"type": "integer", "minimum": i64::MIN, "maximum": i64::MAX})
}

/// Query and path parameter rules: (path, name, schema).
fn param_rules() -> Vec<(&'static str, &'static str, Value)> {
    use stemedb_query::params::MAX_LIMIT;
    let bool_text = json!({"type": "string", "enum": ["true", "false", "1", "0"]});
    let strict_bool = json!({"type": "string", "enum": ["true", "false"]});
    let hex_cursor = json!({"type": "string", "pattern": "^([0-9a-fA-F]{2})*$"});
    vec![
        ("/v1/assertions/{id}", "id", id()),
        ("/v1/assertions/{id}", "local", strict_bool.clone()),
        ("/v1/trace/{id}", "id", id()),
        ("/v1/trace/{id}", "local", strict_bool),
        ("/v1/agents/{agent}/trust", "agent", name(AGENT_MAX)),
        (
            "/v1/query",
            "subject",
            json!({"type": "string", "minLength": 1}),
        ),
        (
            "/v1/query",
            "lens",
            json!({"type": "string", "pattern": lens_pattern()}),
        ),
        ("/v1/query", "as_of", i64_range()),
        ("/v1/query", "valid_at", i64_range()),
        (
            "/v1/query",
            "lifecycle",
            json!({"type": "string", "enum": Lifecycle::ALL.map(Lifecycle::as_str)}),
        ),
        (
            "/v1/query",
            "source_class",
            json!({"type": "integer", "minimum": 0, "maximum": 6}),
        ),
        ("/v1/query", "include_retracted", bool_text.clone()),
        ("/v1/query", "candidates", bool_text),
        ("/v1/query", "epoch", id()),
        (
            "/v1/query",
            "limit",
            json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
        ),
        ("/v1/query", "cursor", hex_cursor.clone()),
        (
            "/v1/subjects",
            "limit",
            json!({"type": "integer", "minimum": 1, "maximum": crate::routes::listing::MAX_SUBJECTS}),
        ),
        ("/v1/subjects", "cursor", hex_cursor.clone()),
        (
            "/v1/conflicts",
            "limit",
            json!({"type": "integer", "minimum": 1, "maximum": stemedb_query::conflicts::MAX_CONFLICT_LIMIT}),
        ),
        (
            "/v1/conflicts",
            "min_conflict",
            json!({"type": "number", "minimum": 0, "maximum": 1}),
        ),
        (
            "/v1/conflicts",
            "lens",
            json!({"type": "string", "pattern": lens_pattern()}),
        ),
        ("/v1/conflicts", "as_of", i64_range()),
        ("/v1/conflicts", "cursor", hex_cursor),
        (
            "/v1/predicates",
            "subject",
            json!({"type": "string", "minLength": 1}),
        ),
        (
            "/v1/admin/backup/segments/{segment}",
            "segment",
            json!({"type": "integer", "minimum": 1, "maximum": u32::MAX}),
        ),
        (
            "/v1/admin/backup/segments/{segment}",
            "from",
            json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}),
        ),
        (
            "/v1/admin/backup/segments/{segment}",
            "to",
            json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}),
        ),
    ]
}

fn apply_params(doc: &mut Value) -> Vec<String> {
    let mut missing = Vec::new();
    for (path, name, rules) in param_rules() {
        let Some(item) = doc
            .get_mut("paths")
            .and_then(|p| p.get_mut(path))
            .and_then(Value::as_object_mut)
        else {
            missing.push(path.into());
            continue;
        };
        let mut found = false;
        for op in item.values_mut() {
            for p in op
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if p.get("name").and_then(Value::as_str) == Some(name) {
                    let schema = p
                        .as_object_mut()
                        .map(|o| o.entry("schema").or_insert_with(|| json!({})));
                    if let Some(s) = schema {
                        // Drop the generated (nullable) type, keep the description.
                        let description = s.get("description").cloned();
                        *s = rules.clone();
                        if let Some(d) = description {
                            s["description"] = d;
                        }
                    }
                    found = true;
                }
            }
        }
        if !found {
            missing.push(format!("{path}?{name}"));
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_finds_its_target() {
        let mut doc = serde_json::to_value(<super::super::ApiDoc as utoipa::OpenApi>::openapi())
            .expect("document");
        assert_eq!(apply(&mut doc, 10), Vec::<String>::new());
        let p = lens_pattern();
        assert!(p.starts_with("^(|[rR][eE][cC]"), "{p}");
    }
}

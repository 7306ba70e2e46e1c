//! The tools over a recording backend: what each sends to the API, what it
//! refuses before sending (nothing sent, the argument named), and how server
//! errors reach the agent (code, field, status).

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use stemedb_mcp::inputs::*;
use stemedb_mcp::rmcp::handler::server::wrapper::Parameters;
use stemedb_mcp::rmcp::model::{CallToolResult, Extensions};
use stemedb_mcp::{ApiRequest, Backend, Method, StemeTools, ToolError};

type Answer = Option<Result<Value, ToolError>>;

#[derive(Clone, Default)]
struct Recorder {
    sent: Arc<Mutex<Vec<ApiRequest>>>,
    answer: Arc<Mutex<Answer>>,
}

impl Backend for Recorder {
    async fn call(&self, req: ApiRequest, _auth: Option<String>) -> Result<Value, ToolError> {
        let path = req.path.clone();
        self.sent.lock().unwrap().push(req);
        match self.answer.lock().unwrap().clone() {
            Some(a) => a,
            None if path == "/v1/query" => Ok(json!({"results": [{
                "subject": "s", "predicate": "p", "candidates": [{"id": "c1"}],
                "resolution": {"lens": "x", "winners": ["w"]}}], "next_cursor": null})),
            None => Ok(json!({"id": "ab".repeat(32), "status": "created"})),
        }
    }
}

fn tools() -> (StemeTools<Recorder>, Recorder) {
    let r = Recorder::default();
    (StemeTools::new(r.clone()), r)
}

fn ok(r: CallToolResult) -> Value {
    assert_eq!(r.is_error, Some(false), "{:?}", r.content);
    r.structured_content.expect("structured")
}

fn err(r: CallToolResult) -> Value {
    assert_eq!(r.is_error, Some(true), "{:?}", r.structured_content);
    r.structured_content.expect("structured")["error"].clone()
}

fn input<T: serde::de::DeserializeOwned>(v: Value) -> Parameters<T> {
    Parameters(serde_json::from_value(v).expect("valid input"))
}

#[tokio::test]
async fn assert_claim_builds_the_record_and_returns_its_id() {
    let (t, rec) = tools();
    let a = input(
        json!({"subject": "user:1", "predicate": "city", "value": "Paris",
        "agent": "a", "confidence": 0.5, "source_uri": "doc:1", "source_class": 2, "timestamp": 7}),
    );
    let out = ok(t.assert_claim(a, Extensions::default()).await.unwrap());
    assert_eq!(out["id"], json!("ab".repeat(32)));
    assert_eq!(out["subject"], "user:1");
    let sent = rec.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].method, sent[0].path.as_str()),
        (Method::Post, "/v1/assert")
    );
    assert_eq!(
        sent[0].body,
        Some(json!({"subject": "user:1", "predicate": "city",
            "object": {"type": "text", "value": "Paris"}, "agent": "a", "confidence": 0.5,
            "source": {"uri": "doc:1", "class": 2}, "timestamp": 7}))
    );
    for (value, ty, want) in [
        (json!(3), None, json!({"type": "number", "value": 3.0})),
        (json!(true), None, json!({"type": "boolean", "value": true})),
        (
            json!("user:2"),
            Some("ref"),
            json!({"type": "ref", "value": "user:2"}),
        ),
    ] {
        let mut v = json!({"subject": "s", "predicate": "p", "value": value, "agent": "a"});
        if let Some(ty) = ty {
            v["value_type"] = json!(ty);
        }
        let a: AssertClaimInput = serde_json::from_value(v).unwrap();
        assert_eq!(a.to_body().unwrap()["object"], want);
    }
}

#[tokio::test]
async fn bad_arguments_are_refused_before_sending() {
    let (t, rec) = tools();
    let x = Extensions::default;
    let id = "ab".repeat(32);
    let cases: Vec<(CallToolResult, &str)> = vec![
        (
            t.assert_claim(input(json!({"subject": "", "predicate": "p", "value": 1, "agent": "a"})), x())
                .await
                .unwrap(),
            "subject",
        ),
        (
            t.assert_claim(input(json!({"subject": "s", "predicate": "p", "value": 1, "agent": "a", "confidence": 1.5})), x())
                .await
                .unwrap(),
            "confidence",
        ),
        (
            t.assert_claim(input(json!({"subject": "s", "predicate": "p", "value": "x", "value_type": "boolean", "agent": "a"})), x())
                .await
                .unwrap(),
            "value_type",
        ),
        (
            t.assert_claim(input(json!({"subject": "s", "predicate": "p", "value": 1, "agent": "a", "source_class": 1})), x())
                .await
                .unwrap(),
            "source_uri",
        ),
        (
            t.assert_claim(input(json!({"subject": "s", "predicate": "p", "value": 1, "agent": "a", "parent": "xyz"})), x())
                .await
                .unwrap(),
            "parent",
        ),
        (
            t.trace_claim(input(json!({"id": "abc"})), x()).await.unwrap(),
            "id",
        ),
        (
            t.vote_claim(input(json!({"id": id, "agent": "a", "weight": -1.5})), x())
                .await
                .unwrap(),
            "weight",
        ),
        (
            t.retract_claim(input(json!({"id": id, "agent": ""})), x())
                .await
                .unwrap(),
            "agent",
        ),
        (
            t.find_conflicts(input(json!({"min_conflict": 2})), x())
                .await
                .unwrap(),
            "min_conflict",
        ),
        (
            t.list_subjects(input(json!({"limit": 0})), x()).await.unwrap(),
            "limit",
        ),
        (
            t.query_claims(input(json!({"subject": "s", "source_class": 9})), x())
                .await
                .unwrap(),
            "source_class",
        ),
    ];
    for (r, field) in cases {
        let e = err(r);
        assert_eq!(e["code"], "invalid_param", "{field}");
        assert_eq!(e["field"], field);
        assert_eq!(e["status"], Value::Null, "nothing was sent");
    }
    assert!(
        rec.sent.lock().unwrap().is_empty(),
        "no call reached the backend"
    );
    // Unknown arguments and unknown lenses are refused by the schema.
    assert!(
        serde_json::from_value::<QueryClaimsInput>(json!({"subject": "s", "lens": "vote"}))
            .is_err()
    );
    assert!(serde_json::from_value::<TraceClaimInput>(json!({"id": "x", "extra": 1})).is_err());
}

#[tokio::test]
async fn server_errors_reach_the_agent_with_code_field_and_status() {
    let (t, rec) = tools();
    *rec.answer.lock().unwrap() = Some(Err(ToolError::from_response(
        403,
        br#"{"error": {"code": "forbidden", "message": "only the author", "field": "agent"}}"#,
    )));
    let id = "cd".repeat(32);
    let e = err(t
        .retract_claim(
            input(json!({"id": id, "agent": "b", "reason": "r"})),
            Extensions::default(),
        )
        .await
        .unwrap());
    assert_eq!(
        e,
        json!({"code": "forbidden", "message": "only the author", "field": "agent", "status": 403})
    );
    let sent = rec.sent.lock().unwrap().clone();
    assert_eq!(
        sent[0].body,
        Some(json!({"target": id, "agent": "b", "reason": "r"}))
    );
}

#[tokio::test]
async fn reads_send_the_documented_parameters() {
    let (t, rec) = tools();
    let q = input(json!({"subject": "s", "predicate": "p",
        "lens": "skeptic", "as_of": 5, "include_retracted": true, "limit": 3}));
    ok(t.query_claims(q, Extensions::default()).await.unwrap());
    let out = ok(t
        .compare_lenses(
            input(json!({"subject": "s", "predicate": "p"})),
            Extensions::default(),
        )
        .await
        .unwrap());
    assert_eq!(out["lenses"].as_array().unwrap().len(), 6);
    assert_eq!(out["candidates"], json!([{"id": "c1"}]));
    let fc = input(json!({"prefix": "drug:", "lens": "recency", "min_conflict": 0.5}));
    ok(t.find_conflicts(fc, Extensions::default()).await.unwrap());
    let sent = rec.sent.lock().unwrap().clone();
    assert_eq!(
        sent[0].path_and_query(),
        "/v1/query?subject=s&lens=skeptic&predicate=p&as_of=5&include_retracted=true&limit=3"
    );
    let lenses: Vec<String> = sent[1..7]
        .iter()
        .map(|r| r.query.iter().find(|(k, _)| k == "lens").unwrap().1.clone())
        .collect();
    assert_eq!(
        lenses,
        [
            "recency",
            "authority",
            "consensus",
            "confidence",
            "skeptic",
            "layered"
        ]
    );
    assert_eq!(
        sent[7].path_and_query(),
        "/v1/conflicts?prefix=drug%3A&min_conflict=0.5&lens=recency"
    );
}

//! Every endpoint against the real `stemedb-api` binary: success paths,
//! bad input (status, code, field, and nothing stored), batches, policies.

use serde_json::{Value, json};
use stemedb_testkit::server::{Server, assertion, signed_assertion};

fn id_of(r: &stemedb_testkit::server::Resp) -> String {
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_str().expect("id").to_owned()
}

fn export_lines(s: &Server, query: &str) -> Vec<Value> {
    let r = s.get(&format!("/v1/export{query}"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.content_type.starts_with("application/x-ndjson"));
    r.body
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON line"))
        .collect()
}

#[test]
fn write_read_query_and_ops_endpoints() {
    let s = Server::start(&[("STEMEDB_API_ADMIN_TOKEN", "s3cret")]);

    // POST /v1/assert: created, then exists for identical bytes.
    let mut a1 = assertion("drug:x", "side_effect", "nausea", "fda");
    a1["timestamp"] = json!(1_000);
    let r = s.post("/v1/assert", &a1);
    assert_eq!(r.json()["status"], "created");
    let id1 = id_of(&r);
    let r = s.post("/v1/assert", &a1);
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (201, json!("exists"))
    );
    let mut a2 = assertion("drug:x", "side_effect", "headache", "ema");
    a2["timestamp"] = json!(2_000);
    a2["parent"] = json!(id1);
    let id2 = id_of(&s.post("/v1/assert", &a2));
    let id3 = id_of(&s.post("/v1/assert", &assertion("drug:y", "dose", "1mg", "fda")));

    // GET /v1/assertions/{id}
    let r = s.get(&format!("/v1/assertions/{id1}"));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["id"], json!(id1));
    assert_eq!(v["kind"], "assertion");
    assert_eq!(v["subject"], "drug:x");
    assert_eq!(v["signature_status"], "unsigned");
    assert_eq!(v["votes"], json!([]));
    assert_eq!(v["retraction"], Value::Null);

    // POST /v1/vote
    let vote = json!({"target": id1, "agent": "who", "weight": 0.5});
    let vote_id = id_of(&s.post("/v1/vote", &vote));
    let v = s.get(&format!("/v1/assertions/{id1}")).json();
    assert_eq!(v["votes"][0]["id"], json!(vote_id));

    // POST /v1/retract: only the author may retract.
    let r = s.post("/v1/retract", &json!({"target": id3, "agent": "mallory"}));
    r.assert_error(403, "forbidden", Some("agent"));
    let ret = id_of(&s.post(
        "/v1/retract",
        &json!({"target": id3, "agent": "fda", "reason": "typo"}),
    ));
    let v = s.get(&format!("/v1/assertions/{id3}")).json();
    assert_eq!(v["retraction"]["id"], json!(ret));

    // PUT /v1/agents/{agent}/trust with the admin token.
    let body = json!({"score": 0.9});
    s.put("/v1/agents/fda/trust", &body, &[])
        .assert_error(401, "unauthorized", None);
    s.put(
        "/v1/agents/fda/trust",
        &body,
        &[("authorization", "Bearer nope")],
    )
    .assert_error(401, "unauthorized", None);
    let r = s.put(
        "/v1/agents/fda/trust",
        &body,
        &[("authorization", "Bearer s3cret")],
    );
    let trust_id = id_of(&r);
    assert_eq!(
        s.get(&format!("/v1/assertions/{trust_id}")).json()["kind"],
        "trust"
    );

    // POST /v1/epochs: admin, like trust, once api.admin_token is set.
    let admin = [("authorization", "Bearer s3cret")];
    let ep = json!({"name": "v2", "subject_prefix": "drug:", "supersedes": null, "reason": "new", "agent": "fda"});
    s.post("/v1/epochs", &ep)
        .assert_error(401, "unauthorized", None);
    let send = |path: &str, body: &Value| {
        s.try_send(
            "POST",
            path,
            "application/json",
            body.to_string().as_bytes(),
            &admin,
        )
        .expect("POST")
    };
    let ep_id = id_of(&send("/v1/epochs", &ep));
    let ep2 = json!({"name": "v3", "subject_prefix": "drug:", "supersedes": ep_id, "reason": "newer", "agent": "fda"});
    id_of(&send("/v1/epochs", &ep2));
    // The admin token may retract another agent's assertion (an anonymous caller may not).
    let id4 = id_of(&s.post("/v1/assert", &assertion("other:z", "dose", "2mg", "ema")));
    let no = json!({"target": id4, "agent": "moderator", "reason": "spam"});
    s.post("/v1/retract", &no)
        .assert_error(403, "forbidden", Some("agent"));
    id_of(&send("/v1/retract", &no));

    // GET /v1/query with and without a lens; retracted ones are hidden.
    let r = s.get("/v1/query?subject=drug:x&predicate=side_effect&lens=recency");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(
        v["results"][0]["candidates"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(v["results"][0]["resolution"]["winners"], json!([id2]));
    assert_eq!(v["next_cursor"], Value::Null);
    // candidates=false: same resolution, no candidate list (SPEC §3).
    let r = s.get("/v1/query?subject=drug:x&predicate=side_effect&lens=recency&candidates=false");
    assert_eq!(r.status, 200, "{}", r.body);
    let lean = r.json();
    assert!(lean["results"][0].get("candidates").is_none(), "{lean}");
    assert_eq!(lean["results"][0]["subject"], "drug:x");
    assert_eq!(
        lean["results"][0]["resolution"],
        v["results"][0]["resolution"]
    );
    let full = s
        .get("/v1/query?subject=drug:x&predicate=side_effect&lens=recency&candidates=true")
        .json();
    assert_eq!(full, v);
    s.get("/v1/query?subject=drug:x&candidates=maybe")
        .assert_error(400, "invalid_param", Some("candidates"));
    let v = s.get("/v1/query?subject=drug:y").json();
    let listed: usize = v["results"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|p| p["candidates"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(listed, 0, "retracted assertion hidden: {v}");
    let v = s
        .get("/v1/query?subject=drug:y&include_retracted=true")
        .json();
    assert_eq!(v["results"][0]["candidates"][0]["retracted"], json!(true));
    let v = s.get("/v1/query?subject=drug:x&as_of=1500").json();
    assert_eq!(
        v["results"][0]["candidates"].as_array().map(Vec::len),
        Some(1)
    );
    // Pagination with a cursor.
    let v = s.get("/v1/query?subject=drug:x&limit=1").json();
    let cursor = v["next_cursor"].as_str().expect("cursor").to_owned();
    let v = s
        .get(&format!("/v1/query?subject=drug:x&limit=1&cursor={cursor}"))
        .json();
    assert_eq!(v["results"][0]["candidates"][0]["id"], json!(id2));

    // GET /v1/trace/{id}
    let v = s.get(&format!("/v1/trace/{id2}")).json();
    assert_eq!(v["record"]["id"], json!(id2));
    assert_eq!(v["parents"][0]["id"], json!(id1));
    let v = s.get(&format!("/v1/trace/{id1}")).json();
    assert_eq!(v["children"][0]["id"], json!(id2));
    assert_eq!(v["votes"][0]["id"], json!(vote_id));
    let v = s.get(&format!("/v1/trace/{ret}")).json();
    assert_eq!(v["target"]["id"], json!(id3));

    // GET /v1/subjects with a cursor, /v1/predicates.
    let v = s.get("/v1/subjects?prefix=drug:&limit=1").json();
    assert_eq!(v["subjects"], json!(["drug:x"]));
    let c = v["next_cursor"].as_str().expect("cursor").to_owned();
    let v = s
        .get(&format!("/v1/subjects?prefix=drug:&limit=1&cursor={c}"))
        .json();
    assert_eq!(v["subjects"], json!(["drug:y"]));
    let v = s.get("/v1/predicates?subject=drug:x").json();
    assert_eq!(v["predicates"], json!(["side_effect"]));

    // GET /v1/export: everything, or a subject prefix with its annotations.
    let all = export_lines(&s, "");
    assert_eq!(all.len(), 10, "{all:?}");
    let x: Vec<String> = export_lines(&s, "?prefix=drug:x")
        .iter()
        .map(|l| l["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(x.contains(&id1) && x.contains(&id2) && x.contains(&vote_id));
    assert!(!x.contains(&id3) && !x.contains(&trust_id));

    // Ops and docs.
    assert_eq!(s.get("/v1/health").json()["status"], "ok");
    assert_eq!(
        s.get("/v1/ready").json(),
        json!({"status": "ready", "mode": "single"})
    );
    let m = s.get("/metrics");
    assert_eq!(m.status, 200);
    for name in [
        "stemedb_http_requests_total{route=\"/v1/assertions/{id}\",method=\"GET\",status=\"200\"}",
        "stemedb_http_request_duration_seconds_bucket",
        "stemedb_records_indexed_total",
        "stemedb_log_fsync_seconds_bucket",
        "stemedb_group_commit_records_bucket",
        "stemedb_write_queue_depth",
        "stemedb_index_lag_records 0",
        "stemedb_id_filter_bytes",
        "process_resident_memory_bytes",
    ] {
        assert!(
            m.body.contains(name),
            "{name} missing from /metrics:\n{}",
            m.body
        );
    }
    let doc = s.get("/api-doc/openapi.json").json();
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );
    assert!(doc["paths"]["/v1/query"]["get"].is_object());
    let html = s.get("/docs");
    assert!(html.content_type.starts_with("text/html"));
    assert!(html.body.contains("/v1/assertions/{id}") && !html.body.contains("<script"));
}

#[test]
fn bad_input_is_rejected_precisely_and_stores_nothing() {
    let s = Server::start(&[("STEMEDB_API_MAX_BODY_BYTES", "65536")]);
    let good = assertion("s", "p", "v", "a");
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    let raw = |body: &str| s.post_raw("/v1/assert", "application/json", body.as_bytes());

    raw("{\"subject\": \"s\",").assert_error(400, "malformed_json", None);
    assert!(
        raw("{\"subject\": \"s\",").json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("line 1 column"))
    );
    s.post("/v1/assert", &with("confidence", json!("high")))
        .assert_error(400, "invalid_type", Some("confidence"));
    let mut missing = good.clone();
    missing.as_object_mut().map(|o| o.remove("predicate"));
    s.post("/v1/assert", &missing)
        .assert_error(400, "missing_field", Some("predicate"));
    raw(r#"{"subject":"s","predicate":"p","object":{"type":"number","value":1e999},"agent":"a"}"#)
        .assert_error(400, "non_finite", Some("object.value"));
    s.post("/v1/assert", &with("confidence", json!(1.5)))
        .assert_error(400, "out_of_range", Some("confidence"));
    s.post("/v1/assert", &with("parent", json!("zz")))
        .assert_error(400, "invalid_hex", Some("parent"));
    s.post("/v1/assert", &with("colour", json!("red")))
        .assert_error(400, "unknown_field", Some("colour"));
    let (mut signed, _) = signed_assertion("s", "v");
    signed["signature"] = json!("ab".repeat(64));
    s.post("/v1/assert", &signed)
        .assert_error(400, "invalid_signature", Some("signature"));
    s.post_raw("/v1/assert", "text/plain", good.to_string().as_bytes())
        .assert_error(415, "unsupported_media_type", None);
    let big = with(
        "object",
        json!({"type": "text", "value": "x".repeat(70_000)}),
    );
    s.post("/v1/assert", &big)
        .assert_error(413, "too_large", None);
    s.post_raw("/v1/assert", "application/json", b"[1,2]")
        .assert_error(400, "invalid_type", Some("body"));

    // Annotations of records that do not exist.
    let ghost = "00".repeat(32);
    s.post(
        "/v1/vote",
        &json!({"target": ghost, "agent": "a", "weight": 1}),
    )
    .assert_error(404, "not_found", Some("target"));
    s.post("/v1/retract", &json!({"target": ghost, "agent": "a"}))
        .assert_error(404, "not_found", Some("target"));
    s.post(
        "/v1/vote",
        &json!({"target": ghost, "agent": "a", "weight": 2}),
    )
    .assert_error(400, "out_of_range", Some("weight"));

    // Reads with bad parameters.
    s.get("/v1/assertions/xyz")
        .assert_error(400, "invalid_hex", Some("id"));
    s.get(&format!("/v1/assertions/{ghost}"))
        .assert_error(404, "not_found", Some("id"));
    s.get(&format!("/v1/trace/{ghost}"))
        .assert_error(404, "not_found", Some("id"));
    s.get("/v1/query?subject=s&lens=magic")
        .assert_error(400, "invalid_param", Some("lens"));
    s.get("/v1/query?subject=s&cursor=abc")
        .assert_error(400, "invalid_param", Some("cursor"));
    s.get("/v1/query?subject=s&colour=red")
        .assert_error(400, "unknown_param", Some("colour"));
    s.get("/v1/query?predicate=p")
        .assert_error(400, "missing_param", Some("subject"));
    s.get("/v1/query?subject=s&as_of=yesterday")
        .assert_error(400, "invalid_param", Some("as_of"));
    s.get("/v1/query?subject=s&limit=0")
        .assert_error(400, "invalid_param", Some("limit"));
    s.get("/v1/query?subject=s&source_class=9").assert_error(
        400,
        "invalid_param",
        Some("source_class"),
    );
    s.get("/v1/subjects?cursor=zz")
        .assert_error(400, "invalid_param", Some("cursor"));
    s.get("/v1/predicates")
        .assert_error(400, "missing_param", Some("subject"));
    s.get("/v1/nothing-here")
        .assert_error(404, "not_found", None);

    // Nothing of any rejected request was stored.
    assert_eq!(export_lines(&s, ""), Vec::<Value>::new());
    assert_eq!(s.get("/v1/subjects").json()["subjects"], json!([]));
    assert!(s.get("/metrics").body.contains("status=\"413\""));
}

#[test]
fn batches_store_good_items_and_report_bad_ones() {
    let s = Server::start(&[("STEMEDB_API_MAX_BATCH", "5")]);
    // Fixed timestamps: an unstamped item is stamped by the server clock per
    // item, so the repeated good1 is only a duplicate when its bytes are equal.
    let mut good1 = assertion("b:1", "p", "v", "a");
    good1["timestamp"] = json!(1_000);
    let mut good2 = assertion("b:2", "p", "v", "a");
    good2["timestamp"] = json!(1_001);
    let mut bad = assertion("b:3", "p", "v", "a");
    bad["confidence"] = json!(7);
    let body = json!([good1, {"subject": "b:4"}, good2, bad, good1]);
    let r = s.post("/v1/assertions", &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(
        (
            v["created"].clone(),
            v["exists"].clone(),
            v["failed"].clone()
        ),
        (json!(2), json!(1), json!(2))
    );
    let res = &v["results"];
    assert_eq!(res[0]["status"], "created");
    assert_eq!(res[1]["index"], 1);
    assert_eq!(res[1]["error"]["code"], "missing_field");
    assert_eq!(res[3]["error"]["field"], "confidence");
    assert_eq!(res[4]["status"], "exists");
    for i in [0, 2] {
        let id = res[i]["id"].as_str().expect("id");
        assert_eq!(s.get(&format!("/v1/assertions/{id}")).status, 200);
    }
    let subjects = s.get("/v1/subjects?prefix=b:").json()["subjects"].clone();
    assert_eq!(subjects, json!(["b:1", "b:2"]), "invalid items not stored");

    // NDJSON: a malformed line fails only its item; export lines are accepted.
    let nd = format!(
        "{}\n{{not json\n\n{}\n",
        assertion("n:1", "p", "v", "a"),
        json!({"kind": "vote", "target": res[0]["id"], "agent": "z", "weight": -1})
    );
    let v = s
        .post_raw("/v1/assertions", "application/x-ndjson", nd.as_bytes())
        .json();
    assert_eq!(v["created"], 2, "{v}");
    assert_eq!(v["results"][1]["error"]["code"], "malformed_json");

    // NDJSON assertions, the bulk format: plain lines, escapes, and lines the
    // general parser must judge (an unknown field is named; `7.0` is an
    // integer timestamp) answer as the same items in a JSON array would.
    let mut typo = assertion("n:3", "p", "v", "a");
    typo["agnet"] = json!("a");
    let mut whole_float = assertion("n:4", "p", "v", "a");
    whole_float["timestamp"] = json!(7.0);
    let mut escaped = assertion("n:2", "p", "caf\u{e9} \"quoted\" \\ back", "a");
    escaped["timestamp"] = json!(3);
    let items = [escaped, typo, whole_float, assertion("", "p", "v", "a")];
    let nd: String = items.iter().map(|i| format!("{i}\n")).collect();
    let v = s
        .post_raw("/v1/assertions", "application/x-ndjson", nd.as_bytes())
        .json();
    assert_eq!(
        (v["created"].clone(), v["failed"].clone()),
        (json!(2), json!(2)),
        "{v}"
    );
    let r = &v["results"];
    assert_eq!(r[1]["error"]["code"], "unknown_field", "{v}");
    assert_eq!(r[1]["error"]["field"], "agnet", "{v}");
    let stamped = s.get(&format!(
        "/v1/assertions/{}",
        r[2]["id"].as_str().expect("id")
    ));
    assert_eq!(stamped.json()["timestamp"], 7, "{}", stamped.body);
    let from_array = s.post("/v1/assertions", &json!(items)).json();
    assert_eq!(from_array["exists"], 2, "{from_array}");
    for i in [1, 3] {
        assert_eq!(from_array["results"][i]["error"], r[i]["error"], "item {i}");
    }
    let text = s.get(&format!(
        "/v1/assertions/{}",
        r[0]["id"].as_str().expect("id")
    ));
    assert_eq!(
        text.json()["object"]["value"],
        "caf\u{e9} \"quoted\" \\ back",
        "{}",
        text.body
    );

    // Too many items.
    let many: Vec<Value> = (0..6)
        .map(|i| assertion(&format!("m:{i}"), "p", "v", "a"))
        .collect();
    s.post("/v1/assertions", &json!(many))
        .assert_error(413, "too_large", Some("body"));
    assert_eq!(
        s.get("/v1/subjects?prefix=m:").json()["subjects"],
        json!([])
    );
}

#[test]
fn require_signatures_refuses_unsigned_writes() {
    let s = Server::start(&[("STEMEDB_API_REQUIRE_SIGNATURES", "true")]);
    s.post("/v1/assert", &assertion("sig:1", "p", "v", "a"))
        .assert_error(400, "signature_required", Some("signature"));
    let (body, id) = signed_assertion("sig:2", "v");
    let r = s.post("/v1/assert", &body);
    assert_eq!(r.json()["id"], json!(id), "{}", r.body);
    let v = s.get(&format!("/v1/assertions/{id}")).json();
    assert_eq!(v["signature_status"], "valid");
    let v = s
        .post(
            "/v1/assertions",
            &json!([assertion("sig:3", "p", "v", "a"), body]),
        )
        .json();
    assert_eq!(v["results"][0]["error"]["code"], "signature_required");
    assert_eq!(v["results"][1]["status"], "exists");
    assert_eq!(s.get("/v1/subjects").json()["subjects"], json!(["sig:2"]));
}

#[test]
fn conflicts_lists_contested_pairs_under_a_prefix() {
    let s = Server::start(&[]);
    let post = |subject: &str, predicate: &str, value: &str, agent: &str| {
        id_of(&s.post("/v1/assert", &assertion(subject, predicate, value, agent)))
    };
    let a = post("drug:a", "dose", "1mg", "fda");
    let b = post("drug:a", "dose", "2mg", "ema");
    post("drug:a", "color", "white", "fda");
    post("drug:b", "dose", "5mg", "fda");
    post("drug:b", "dose", "5mg", "ema");
    post("gene:x", "dose", "1", "fda");
    post("gene:x", "dose", "2", "ema");

    let r = s.get("/v1/conflicts?prefix=drug:");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let list = v["conflicts"].as_array().expect("conflicts");
    assert_eq!(list.len(), 1, "{v}");
    assert_eq!(list[0]["subject"], "drug:a");
    assert_eq!(list[0]["predicate"], "dose");
    assert_eq!(list[0]["conflict"], json!(1.0));
    assert_eq!(list[0]["resolution"]["lens"], "consensus");
    let mut ids: Vec<String> = list[0]["resolution"]["explanation"]
        .as_array()
        .expect("explanation")
        .iter()
        .flat_map(|e| e["ids"].as_array().expect("ids").clone())
        .map(|i| i.as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(v["examined"], json!(3));
    assert_eq!(v["next_cursor"], Value::Null);

    // Without a prefix both contested pairs; limit 1 pages through them.
    let r = s.get("/v1/conflicts?limit=1&lens=skeptic");
    let v = r.json();
    assert_eq!(v["conflicts"][0]["subject"], "drug:a");
    assert_eq!(v["conflicts"][0]["resolution"]["status"], "contested");
    let cursor = v["next_cursor"].as_str().expect("next_cursor").to_owned();
    let v = s
        .get(&format!(
            "/v1/conflicts?limit=1&lens=skeptic&cursor={cursor}"
        ))
        .json();
    assert_eq!(v["conflicts"][0]["subject"], "gene:x");
    assert_eq!(
        s.get("/v1/conflicts?min_conflict=1&prefix=drug:b").json()["conflicts"],
        json!([])
    );

    for (query, code, field) in [
        ("min_conflict=2", "invalid_param", "min_conflict"),
        ("min_conflict=x", "invalid_param", "min_conflict"),
        ("lens=vote", "invalid_param", "lens"),
        ("limit=0", "invalid_param", "limit"),
        ("limit=1001", "invalid_param", "limit"),
        ("as_of=soon", "invalid_param", "as_of"),
        ("cursor=zz", "invalid_param", "cursor"),
        ("subject=drug:a", "unknown_param", "subject"),
    ] {
        s.get(&format!("/v1/conflicts?{query}"))
            .assert_error(400, code, Some(field));
    }
    let doc = s.get("/api-doc/openapi.json").json();
    assert!(doc["paths"]["/v1/conflicts"]["get"].is_object());
}

/// `/mcp` spoken by hand (JSON-RPC over streamable HTTP, stateless): the
/// handshake, the tool list, a write and a read through the in-process
/// backend, a tool error with the server's code, and the documented refusals.
#[test]
fn mcp_endpoint_serves_the_tools_over_streamable_http() {
    let s = Server::start(&[("STEMEDB_API_MAX_BODY_BYTES", "65536")]);
    let rpc = |id: u64, method: &str, params: Value| {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let r = s
            .try_send(
                "POST",
                "/mcp",
                "application/json",
                body.to_string().as_bytes(),
                &[
                    ("accept", "application/json, text/event-stream"),
                    ("mcp-protocol-version", "2025-06-18"),
                ],
            )
            .expect("POST /mcp");
        assert_eq!(r.status, 200, "{method}: {}", r.body);
        let v = r.json();
        assert_eq!(v["id"], json!(id), "{v}");
        v["result"].clone()
    };
    let init = rpc(
        1,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "test", "version": "0"}}),
    );
    assert_eq!(init["serverInfo"]["name"], "stemedb", "{init}");
    assert!(init["capabilities"]["tools"].is_object());

    let tools = rpc(2, "tools/list", json!({}));
    let mut names: Vec<&str> = tools["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "assert_claim",
            "compare_lenses",
            "find_conflicts",
            "list_subjects",
            "query_claims",
            "retract_claim",
            "trace_claim",
            "vote_claim"
        ]
    );

    let out = rpc(
        3,
        "tools/call",
        json!({"name": "assert_claim", "arguments":
            {"subject": "mcp:s", "predicate": "p", "value": 42, "agent": "bot"}}),
    );
    assert_eq!(out["isError"], json!(false), "{out}");
    let id = out["structuredContent"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(s.get(&format!("/v1/assertions/{id}")).status, 200);

    let out = rpc(
        4,
        "tools/call",
        json!({"name": "query_claims", "arguments": {"subject": "mcp:s", "lens": "recency"}}),
    );
    assert_eq!(
        out["structuredContent"]["results"][0]["resolution"]["winners"],
        json!([id])
    );

    let out = rpc(
        5,
        "tools/call",
        json!({"name": "retract_claim", "arguments": {"id": id, "agent": "someone-else"}}),
    );
    assert_eq!(out["isError"], json!(true));
    assert_eq!(
        out["structuredContent"]["error"],
        json!({"code": "forbidden", "field": "agent", "status": 403,
               "message": out["structuredContent"]["error"]["message"]})
    );

    let r = s.get("/mcp");
    assert_eq!(r.status, 405, "{}", r.body);

    // Every refusal of the transport, each one documented in the OpenAPI entry.
    let init = json!({"jsonrpc": "2.0", "id": 9, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "test", "version": "0"}}})
    .to_string();
    let accept = ("accept", "application/json, text/event-stream");
    let big = vec![b' '; 70_000];
    type Refusal<'a> = (u16, &'a str, &'a [u8], Vec<(&'a str, &'a str)>);
    let refusals: [Refusal; 6] = [
        (406, "application/json", init.as_bytes(), vec![]),
        (415, "text/plain", init.as_bytes(), vec![accept]),
        (415, "application/json", b"not json", vec![accept]),
        (415, "application/json", b"{}", vec![accept]),
        (413, "application/json", &big, vec![accept]),
        (
            403,
            "application/json",
            init.as_bytes(),
            vec![accept, ("host", "evil.example")],
        ),
    ];
    let doc = s.get("/api-doc/openapi.json").json();
    let documented = &doc["paths"]["/mcp"]["post"]["responses"];
    for (status, content_type, body, headers) in refusals {
        let r = s
            .try_send("POST", "/mcp", content_type, body, &headers)
            .expect("POST /mcp");
        assert_eq!(r.status, status, "{content_type} {headers:?}: {}", r.body);
        assert!(
            documented[status.to_string()].is_object(),
            "{status} missing from the OpenAPI entry of /mcp: {documented}"
        );
    }
    for status in ["200", "202", "401", "405", "429"] {
        assert!(documented[status].is_object(), "{status}: {documented}");
    }
    assert!(
        documented["400"].is_null(),
        "rmcp answers a bad body 415, not 400"
    );
}

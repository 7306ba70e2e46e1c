//! End-to-end: the `stemedb` binary against a real `stemedb-api` server.
//! These tests fail with instructions when the server binary is not built.

mod support;

use std::collections::HashMap;
use std::io::Write;

use serde_json::{Value, json};
use stemedb_records::hlc::Hlc;
use stemedb_records::{SignedRecord, sign, wire};
use support::Server;

/// `created <id>` / `exists <id>` → (status, id).
fn write_result(out: &str) -> (String, String) {
    let mut it = out.split_whitespace();
    let status = it.next().unwrap_or_default().to_owned();
    let id = it.next().unwrap_or_default().to_owned();
    assert_eq!(id.len(), 64, "unexpected write output {out:?}");
    (status, id)
}

fn query(s: &Server, args: &[&str]) -> Value {
    let mut all = vec!["query", "--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&s.ok(&all)).expect("query --json prints JSON")
}

fn winning_text(resp: &Value) -> Option<String> {
    resp["results"][0]["resolution"]["value"]["value"]
        .as_str()
        .map(str::to_owned)
}

#[test]
fn assert_query_lenses_sign_retract_vote_trace() {
    let s = Server::start();
    let base = ["--subject", "drug:x", "--predicate", "side_effect"];
    let assert = |extra: &[&str]| {
        let mut args = vec!["assert"];
        args.extend_from_slice(&base);
        args.extend_from_slice(extra);
        write_result(&s.ok(&args))
    };
    let (st, a1) = assert(&[
        "--text",
        "nausea",
        "--agent",
        "fda",
        "--confidence",
        "0.9",
        "--timestamp",
        "1000",
        "--source-uri",
        "https://fda.example/label",
        "--source-class",
        "0",
    ]);
    assert_eq!(st, "created");
    let (_, a2) = assert(&[
        "--text",
        "headache",
        "--agent",
        "blog",
        "--confidence",
        "0.4",
        "--timestamp",
        "3000",
    ]);
    let (_, a3) = assert(&[
        "--text",
        "nausea",
        "--agent",
        "clinic",
        "--confidence",
        "0.7",
        "--timestamp",
        "2000",
    ]);
    // Same claim again: content-addressed, so it already exists.
    let (st, again) = assert(&[
        "--text",
        "nausea",
        "--agent",
        "fda",
        "--confidence",
        "0.9",
        "--timestamp",
        "1000",
        "--source-uri",
        "https://fda.example/label",
        "--source-class",
        "0",
    ]);
    assert_eq!((st.as_str(), again.as_str()), ("exists", a1.as_str()));

    let q = |lens: &str| {
        query(
            &s,
            &[
                "--subject",
                "drug:x",
                "--predicate",
                "side_effect",
                "--lens",
                lens,
            ],
        )
    };
    let recency = q("recency");
    assert_eq!(winning_text(&recency).as_deref(), Some("headache"));
    assert_eq!(
        recency["results"][0]["resolution"]["winners"][0],
        a2.as_str()
    );
    assert_eq!(
        recency["results"][0]["candidates"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(winning_text(&q("consensus")).as_deref(), Some("nausea"));
    // Default trust 0.5: fda 0.45 > clinic 0.35 > blog 0.2.
    let authority = q("authority");
    assert_eq!(
        authority["results"][0]["resolution"]["winners"][0],
        a1.as_str()
    );

    // Human output: resolution line, then one row per candidate with id prefixes.
    let table = s.ok(&["query", "--subject", "drug:x", "--lens", "skeptic"]);
    assert!(table.contains("drug:x  side_effect"), "{table}");
    assert!(table.contains("skeptic:"), "{table}");
    for id in [&a1, &a2, &a3] {
        assert!(table.contains(&id[..12]), "{table}");
    }

    // Trust moves the authority answer (admin call).
    write_result(&s.ok(&["trust", "fda", "0.1"]));
    let authority = q("authority");
    assert_eq!(
        authority["results"][0]["resolution"]["winners"][0],
        a3.as_str()
    );

    // Retract the newest claim: recency falls back to the next one.
    write_result(&s.ok(&["retract", &a2, "--agent", "blog", "--reason", "typo"]));
    assert_eq!(winning_text(&q("recency")).as_deref(), Some("nausea"));
    let with = query(&s, &["--subject", "drug:x", "--include-retracted"]);
    let retracted: Vec<bool> = with["results"][0]["candidates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["id"] == a2.as_str())
        .map(|c| c["retracted"] == true)
        .collect();
    assert_eq!(retracted, vec![true]);

    write_result(&s.ok(&["vote", &a3, "--agent", "reviewer", "--weight", "-0.5"]));

    // Signed assertion: agent is the key's public hex; the server verifies it.
    let key = s.dir.path().join("key.json");
    let public = s.ok(&["keygen", "--output", key.to_str().unwrap_or_default()]);
    let public = public.trim();
    let (st, signed_id) = write_result(&s.ok(&[
        "assert",
        "--subject",
        "drug:x",
        "--predicate",
        "dose_mg",
        "--number",
        "-2.5",
        "--sign-with",
        key.to_str().unwrap_or_default(),
    ]));
    assert_eq!(st, "created");
    let mine = query(
        &s,
        &[
            "--subject",
            "drug:x",
            "--predicate",
            "dose_mg",
            "--agent",
            public,
        ],
    );
    let cand = &mine["results"][0]["candidates"][0];
    assert_eq!(cand["id"], signed_id.as_str());
    assert_eq!(cand["agent"], public);
    let got: Value = serde_json::from_str(&s.ok(&["get", &signed_id])).expect("get prints JSON");
    assert!(got.to_string().contains(&signed_id));

    let trace: Value = serde_json::from_str(&s.ok(&["trace", &a3])).expect("trace prints JSON");
    assert!(
        trace.to_string().contains("reviewer"),
        "the vote is in the trace: {trace}"
    );

    // Server-side validation errors come back with code and field, exit 1.
    let out = s.cli(&[
        "assert",
        "--subject",
        "s",
        "--predicate",
        "p",
        "--bool",
        "true",
        "--agent",
        "a",
        "--confidence",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HTTP 400") && err.contains("confidence"),
        "{err}"
    );
    let out = s.cli(&["get", &"00".repeat(32)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 404"));
}

const N: usize = 100_000;

/// Writes `N` lines (every 10th signed, in the full wire form; the rest as
/// plain fields) and returns the records the server must end up holding.
fn generate(path: &std::path::Path) -> HashMap<String, SignedRecord> {
    let key = sign::generate_key().expect("key");
    let clock = Hlc::new();
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut want = HashMap::with_capacity(N);
    for i in 0..N {
        let object = match i % 4 {
            0 => json!({"type": "text", "value": format!("value {i} \u{e9}\"q\"")}),
            1 => json!({"type": "number", "value": (i as f64) * 0.25 - 1000.0}),
            2 => json!({"type": "boolean", "value": i % 3 == 0}),
            _ => json!({"type": "ref", "value": format!("bulk:{}", i / 7)}),
        };
        let mut v = json!({
            "subject": format!("bulk:{}", i % 5000), "predicate": format!("p{}", i % 7),
            "object": object, "agent": format!("agent{}", i % 50),
            "confidence": (i % 100) as f64 / 100.0, "timestamp": 1_700_000_000_000i64 + i as i64,
        });
        if i % 3 == 0 {
            v["source"] = json!({"uri": format!("https://src.example/{i}"), "class": i % 6});
        }
        let line = if i % 10 == 0 {
            v["agent"] = json!(sign::public_hex(&key));
            let rec = wire::parse_record(&v, &clock).expect("valid");
            let sig = sign::sign(rec.record(), &key);
            let signed = SignedRecord::new(rec.into_record(), Some(sig)).expect("valid");
            wire::to_json(&signed)
        } else {
            v
        };
        let rec = wire::parse_record(&line, &clock).expect("valid");
        writeln!(file, "{line}").expect("write");
        want.insert(rec.id().to_hex(), rec);
    }
    file.flush().expect("flush");
    want
}

#[test]
fn import_100k_then_export_round_trips() {
    let s = Server::start();
    let input = s.dir.path().join("bulk.jsonl");
    let want = generate(&input);
    assert_eq!(want.len(), N);

    let out = s.ok(&["import", input.to_str().unwrap_or_default()]);
    assert!(
        out.contains(
            "processed 100000 records: 100000 imported (created 100000, exists 0), 0 failed"
        ),
        "{out}"
    );

    let exported = s.dir.path().join("export.jsonl");
    s.ok(&[
        "export",
        "--prefix",
        "bulk:",
        "--output",
        exported.to_str().unwrap_or_default(),
    ]);
    let text = std::fs::read_to_string(&exported).expect("export file");
    let clock = Hlc::new();
    let mut seen = 0usize;
    for (n, line) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let rec = wire::parse_record(&v, &clock).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let id = rec.id().to_hex();
        assert_eq!(v["id"], id.as_str(), "exported id matches the content");
        let expected = want
            .get(&id)
            .unwrap_or_else(|| panic!("unexpected record {id}"));
        assert_eq!(
            rec.canonical(),
            expected.canonical(),
            "canonical bytes of {id}"
        );
        assert_eq!(rec.signature(), expected.signature(), "signature of {id}");
        assert_eq!(v, wire::to_json(expected), "wire form of {id}");
        seen += 1;
    }
    assert_eq!(seen, N, "every record exported exactly once");

    // Re-running (part of) the import is safe: everything already exists.
    let head: String = text.lines().take(2000).map(|l| format!("{l}\n")).collect();
    let again = s.dir.path().join("again.jsonl");
    std::fs::write(&again, head).expect("write");
    let out = s.ok(&["import", again.to_str().unwrap_or_default()]);
    assert!(
        out.contains("2000 imported (created 0, exists 2000), 0 failed"),
        "{out}"
    );
}

#[test]
fn import_reports_bad_lines_and_keeps_good_ones() {
    let s = Server::start();
    let jsonl = s.dir.path().join("mixed.jsonl");
    let good = |i: i64| {
        json!({"subject": "mix:a", "predicate": "p", "object": {"type": "number", "value": i},
               "agent": "a", "timestamp": i})
        .to_string()
    };
    let lines = [
        good(1),
        r#"{"subject":"mix:a","predicate":"p","object":{"type":"text","value":"v"},"agent":"a","timestamp":2,"confidence":"x"}"#.to_owned(),
        String::new(),
        r#"{"subject":"mix:a","predicate":"p","object":{"type":"text","value":"v"},"agent":"a"}"#.to_owned(),
        good(5),
    ];
    std::fs::write(&jsonl, lines.join("\n")).expect("write");
    let out = s.cli(&["import", jsonl.to_str().unwrap_or_default()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2: confidence"), "{err}");
    assert!(err.contains("line 4: timestamp"), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("processed 4 records: 2 imported (created 2, exists 0), 2 failed"),
        "{stdout}"
    );

    let csv = s.dir.path().join("claims.csv");
    std::fs::write(
        &csv,
        "subject,predicate,object_type,value,agent,confidence,timestamp,source_uri,source_class\n\
         mix:b,p,number,3.5,a,0.5,10,https://x,2\n\
         mix:b,p,text,\"hello, world\",b,,11,,\n",
    )
    .expect("write");
    let out = s.ok(&["import", csv.to_str().unwrap_or_default()]);
    assert!(
        out.contains("2 imported (created 2, exists 0), 0 failed"),
        "{out}"
    );
    let resp = query(
        &s,
        &[
            "--subject",
            "mix:b",
            "--predicate",
            "p",
            "--lens",
            "recency",
        ],
    );
    assert_eq!(winning_text(&resp).as_deref(), Some("hello, world"));
}

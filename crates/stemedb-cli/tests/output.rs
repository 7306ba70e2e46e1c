//! Rendering of query answers, error reporting, and behaviour without a server.

use serde_json::json;
use stemedb_cli::client::{encode_segment, server_error};
use stemedb_cli::render::{format_ts, query_table};

#[test]
fn timestamps_render_as_utc() {
    assert_eq!(format_ts(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(format_ts(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    assert_eq!(format_ts(951_782_400_000), "2000-02-29T00:00:00.000Z");
    assert_eq!(format_ts(-1), "1969-12-31T23:59:59.999Z");
}

#[test]
fn query_table_shows_resolution_then_candidates() {
    let resp = json!({"results": [{"subject": "drug:x", "predicate": "side_effect",
        "candidates": [
            {"id": "aa".repeat(32), "object": {"type": "text", "value": "nausea"}, "agent": "fda",
             "confidence": 0.9, "timestamp": 1_700_000_000_000i64, "retracted": false},
            {"id": "bb".repeat(32), "object": {"type": "text", "value": "headache"}, "agent": "blog",
             "confidence": 0.4, "timestamp": 1_700_000_000_001i64, "retracted": true}],
        "resolution": {"lens": "skeptic", "value": null, "winners": [], "confidence": 0.0,
            "conflict": 1.0, "candidates": 2, "status": "contested",
            "explanation": [{"value": {"type": "text", "value": "nausea"}, "support": 1.0, "share": 0.5, "ids": []}]}}],
        "next_cursor": null});
    let out = query_table(&resp);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "drug:x  side_effect");
    assert!(
        lines[1].contains("skeptic:") && lines[1].contains("status contested"),
        "{out}"
    );
    assert!(
        lines[2].contains("\"nausea\"") && lines[2].contains("share 0.50"),
        "{out}"
    );
    assert!(
        lines[3].starts_with("  ID") && lines[3].contains("RETRACTED"),
        "{out}"
    );
    assert!(lines[4].contains("aaaaaaaaaaaa ") && lines[4].contains("2023-11-14T22:13:20.000Z"));
    assert!(
        lines[5].contains("headache") && lines[5].trim_end().ends_with("yes"),
        "{out}"
    );
    assert_eq!(query_table(&json!({"results": []})), "no results\n");
}

#[test]
fn server_errors_keep_code_message_and_field() {
    let e = server_error(
        400,
        r#"{"error":{"code":"invalid_type","message":"must be a number","field":"confidence"}}"#,
        None,
    );
    let s = e.to_string();
    assert!(s.contains("HTTP 400") && s.contains("invalid_type"), "{s}");
    assert!(
        s.contains("must be a number") && s.contains("field: confidence"),
        "{s}"
    );
    let e = server_error(503, "overloaded", Some("2".into()));
    assert!(e.is_retryable());
    assert!(e.to_string().contains("retry after 2"));
}

#[test]
fn path_segments_are_escaped() {
    assert_eq!(encode_segment("agent:x/y z"), "agent%3Ax%2Fy%20z");
    assert_eq!(encode_segment("abc-1.2_~"), "abc-1.2_~");
}

#[test]
fn connection_refused_names_the_url() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stemedb"))
        .args(["--server", &url, "get", &"ab".repeat(32)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&url) && err.contains("connection refused"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_nonzero() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stemedb"))
        .args([
            "assert",
            "--subject",
            "s",
            "--predicate",
            "p",
            "--agent",
            "a",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a value flag is required");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stemedb"))
        .args([
            "assert",
            "--subject",
            "s",
            "--predicate",
            "p",
            "--text",
            "v",
        ])
        .env("STEMEDB_SERVER", "http://127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--agent or --sign-with"));
}

//! Client-side signing yields records the server's verifier accepts; key
//! files are private (0600) and never overwritten.

use serde_json::{Map, Value, json};
use stemedb_cli::{keyfile, signing};
use stemedb_records::{Kind, sign, wire};

fn fields(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

#[test]
fn signed_assertion_verifies_and_round_trips() {
    let key = sign::generate_key().unwrap();
    let f = fields(json!({"subject": "drug:x", "predicate": "p",
                          "object": {"type": "text", "value": "v"}, "confidence": 0.5}));
    let rec = signing::sign_fields(Kind::Assertion, f, &key).unwrap();
    assert!(sign::verify(&rec).is_ok());
    assert_eq!(rec.record().signer(), sign::public_hex(&key));
    assert!(
        rec.record().timestamp() > 1_600_000_000_000,
        "timestamp set locally"
    );
    // What is sent parses back (as the server would) to the same, valid record.
    let sent = signing::signed_json(
        Kind::Assertion,
        fields(json!({"subject": "drug:x", "predicate": "p",
                      "object": {"type": "text", "value": "v"}, "timestamp": 42})),
        &key,
    )
    .unwrap();
    let parsed = wire::parse_record(&sent, &Default::default()).unwrap();
    assert_eq!(parsed.record().timestamp(), 42);
    assert!(parsed.signature().is_some());
    assert!(sign::verify(&parsed).is_ok());
}

#[test]
fn signed_retraction_and_vote_verify() {
    let key = sign::generate_key().unwrap();
    let target = "ab".repeat(32);
    let r = signing::sign_fields(
        Kind::Retraction,
        fields(json!({"target": target, "reason": "wrong"})),
        &key,
    )
    .unwrap();
    assert_eq!(r.record().kind(), Kind::Retraction);
    assert!(sign::verify(&r).is_ok());
    let v = signing::sign_fields(
        Kind::Vote,
        fields(json!({"target": target, "weight": -0.5, "timestamp": 7})),
        &key,
    )
    .unwrap();
    assert!(sign::verify(&v).is_ok());
}

#[test]
fn a_different_agent_than_the_key_is_refused() {
    let key = sign::generate_key().unwrap();
    let f = fields(json!({"subject": "s", "predicate": "p",
                          "object": {"type": "boolean", "value": true}, "agent": "mallory"}));
    let e = signing::sign_fields(Kind::Assertion, f, &key).unwrap_err();
    assert_eq!(e.field, "agent");
}

#[test]
fn keygen_writes_0600_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.json");
    let public = keyfile::create(&path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(v["public_key"], public.as_str());
    assert_eq!(v["secret_key"].as_str().unwrap().len(), 64);
    let key = keyfile::load(&path).unwrap();
    assert_eq!(sign::public_hex(&key), public);

    let before = std::fs::read(&path).unwrap();
    let err = keyfile::create(&path).unwrap_err();
    assert!(err.to_string().contains("refusing to overwrite"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "file unchanged");
}

#[test]
fn keygen_binary_refuses_to_overwrite_and_loading_checks_the_pair() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.json");
    let bin = env!("CARGO_BIN_EXE_stemedb");
    let out = std::process::Command::new(bin)
        .args(["keygen", "--output"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim().len(), 64);
    let out = std::process::Command::new(bin)
        .args(["keygen", "--output"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to overwrite"));

    let bad = dir.path().join("bad.json");
    let other = sign::public_hex(&sign::generate_key().unwrap());
    let secret = "11".repeat(32);
    std::fs::write(
        &bad,
        json!({"public_key": other, "secret_key": secret}).to_string(),
    )
    .unwrap();
    assert!(keyfile::load(&bad).is_err());
}

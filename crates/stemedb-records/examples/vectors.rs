//! Prints the "Test vectors" section of `docs/canonical-encoding.md`.
//!
//! Every vector is a JSON record with a fixed timestamp, parsed with
//! [`wire::parse_record`] exactly as the server parses a write; the canonical
//! bytes and the id are printed from the parsed record. Signed vectors use a
//! fixed, public test key so the output is deterministic.
//!
//! Regenerate with:
//! `cargo run -q -p stemedb-records --example vectors`
//! and paste the output over the section in the document.

use serde_json::Value;
use stemedb_records::hlc::Hlc;
use stemedb_records::{SignedRecord, sign, wire};

/// Secret key of the signed vectors: bytes 0x00, 0x01, …, 0x1f. Public test
/// material only; never use it for anything else.
const TEST_SECRET: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

struct Vector {
    title: &'static str,
    note: &'static str,
    json: String,
    rec: SignedRecord,
}

fn parse(json: &str) -> SignedRecord {
    let v: Value = serde_json::from_str(json).expect("vector JSON parses");
    wire::parse_record(&v, &Hlc::new()).expect("vector is a valid record")
}

/// Parses `json_without_sig`, signs the id with the test key and returns the
/// JSON text with a `signature` field appended (before the closing brace).
fn signed(json_without_sig: &str) -> String {
    let key = sign::signing_key_from_hex(TEST_SECRET).expect("test key");
    let rec = parse(json_without_sig);
    let sig = sign::sign(rec.record(), &key);
    let body = json_without_sig
        .trim_end()
        .strip_suffix('}')
        .expect("object")
        .trim_end();
    format!("{body},\n  \"signature\": \"{}\"\n}}", hex::encode(sig))
}

fn main() {
    let key = sign::signing_key_from_hex(TEST_SECRET).expect("test key");
    let public = sign::public_hex(&key);
    let mut vectors: Vec<Vector> = Vec::new();
    let mut push = |title: &'static str, note: &'static str, json: String| {
        let rec = parse(&json);
        sign::verify(&rec).expect("vector signature verifies");
        vectors.push(Vector {
            title,
            note,
            json,
            rec,
        });
        vectors.last().expect("just pushed").rec.id().to_hex()
    };

    let minimal = push(
        "Assertion, text object, defaults",
        "No `kind` (defaults to `assertion`), no `confidence` (defaults to 1.0), no `lifecycle` (defaults to `proposed`); every optional field is absent (`0x00`).",
        r#"{
  "subject": "drug:semaglutide",
  "predicate": "side_effect",
  "object": {"type": "text", "value": "nausea"},
  "agent": "fda",
  "timestamp": 1700000000000
}"#
        .to_owned(),
    );

    let epoch_a = push(
        "Epoch, no supersedes, empty subject prefix",
        "An empty `subject_prefix` governs every subject; `supersedes` is absent (`0x00`).",
        r#"{
  "kind": "epoch",
  "name": "classical",
  "subject_prefix": "",
  "reason": "initial paradigm",
  "agent": "admin",
  "timestamp": 1600000000000
}"#
        .to_owned(),
    );

    let epoch_b = push(
        "Epoch superseding another",
        "`supersedes` is the id of the previous vector (`0x01` then 32 raw bytes).",
        format!(
            r#"{{
  "kind": "epoch",
  "name": "relativity",
  "subject_prefix": "physics:",
  "supersedes": "{epoch_a}",
  "reason": "Mercury's perihelion",
  "agent": "admin",
  "timestamp": 1600000000001
}}"#
        ),
    );

    push(
        "Assertion with every optional field; number -0.0",
        "The object value `-0.0` is written as `+0.0` (eight zero bytes); `source`, `valid_from` (negative: before 1970), `valid_to`, `lifecycle`, `parent` and `epoch` are all present.",
        format!(
            r#"{{
  "kind": "assertion",
  "subject": "company:acme",
  "predicate": "net_income_change_usd",
  "object": {{"type": "number", "value": -0.0}},
  "agent": "analyst-7",
  "confidence": 0.85,
  "timestamp": 1700000000123,
  "source": {{"uri": "https://example.org/acme/10-K/2023", "class": 1}},
  "valid_from": -86400000,
  "valid_to": 1735689599999,
  "lifecycle": "approved",
  "parent": "{minimal}",
  "epoch": "{epoch_b}"
}}"#
        ),
    );

    push(
        "Assertion, boolean object, UTF-8 text",
        "Lengths are UTF-8 byte counts: `Übelkeit` is 9 bytes. Lifecycle `under_review` is byte `0x01`.",
        r#"{
  "subject": "medikament:Semaglutid",
  "predicate": "Übelkeit",
  "object": {"type": "boolean", "value": true},
  "agent": "bfarm",
  "confidence": 0.5,
  "timestamp": 1700000000456,
  "lifecycle": "under_review"
}"#
        .to_owned(),
    );

    push(
        "Assertion, ref object, source class 5",
        "",
        r#"{
  "subject": "person:ada",
  "predicate": "colleague_of",
  "object": {"type": "ref", "value": "person:charles"},
  "agent": "wiki-bot",
  "confidence": 0.25,
  "timestamp": 1700000000789,
  "source": {"uri": "https://example.org/forum/post/1", "class": 5},
  "lifecycle": "rejected"
}"#
        .to_owned(),
    );

    push(
        "Retraction with reason",
        "",
        format!(
            r#"{{
  "kind": "retraction",
  "target": "{minimal}",
  "agent": "fda",
  "reason": "label updated",
  "timestamp": 1700000001000
}}"#
        ),
    );

    push(
        "Retraction without reason",
        "",
        format!(
            r#"{{
  "kind": "retraction",
  "target": "{minimal}",
  "agent": "fda",
  "timestamp": 1700000001001
}}"#
        ),
    );

    push(
        "Vote, negative weight",
        "",
        format!(
            r#"{{
  "kind": "vote",
  "target": "{minimal}",
  "agent": "reviewer-3",
  "weight": -0.75,
  "timestamp": 1700000002000
}}"#
        ),
    );

    push(
        "Trust",
        "",
        r#"{
  "kind": "trust",
  "agent": "wiki-bot",
  "score": 0.3,
  "issuer": "admin",
  "timestamp": 1700000003000
}"#
        .to_owned(),
    );

    push(
        "Signed assertion",
        "Signed with the test key; `agent` is its public key. The signature is not part of the canonical bytes.",
        signed(&format!(
            r#"{{
  "subject": "drug:semaglutide",
  "predicate": "side_effect",
  "object": {{"type": "text", "value": "nausea"}},
  "agent": "{public}",
  "confidence": 0.9,
  "timestamp": 1700000004000
}}"#
        )),
    );

    push(
        "Signed trust",
        "For trust the signer is `issuer` (the test key), not `agent`.",
        signed(&format!(
            r#"{{
  "kind": "trust",
  "agent": "fda",
  "score": 1.0,
  "issuer": "{public}",
  "timestamp": 1700000005000
}}"#
        )),
    );

    println!("## Test vectors");
    println!();
    println!(
        "Generated by `cargo run -q -p stemedb-records --example vectors` and checked by \
         `crates/stemedb-records/tests/vectors.rs` (which parses every vector below). Each \
         vector is the JSON a client sends, the canonical bytes (lowercase hex) and the id. \
         Signed vectors use the public *test* secret key `{TEST_SECRET}` \
         (public key `{public}`); the signature is Ed25519 over the 32 id bytes."
    );
    for (i, v) in vectors.iter().enumerate() {
        println!();
        println!("### {}. {}", i + 1, v.title);
        println!();
        if !v.note.is_empty() {
            println!("{}", v.note);
            println!();
        }
        println!("```json");
        println!("{}", v.json);
        println!("```");
        println!();
        println!("```hex");
        println!("{}", hex::encode(v.rec.canonical()));
        println!("```");
        println!();
        println!("id: {}", v.rec.id().to_hex());
    }
}

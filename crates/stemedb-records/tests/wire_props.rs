//! Property tests of the JSON wire parser on hostile input (the stable-toolchain
//! twin of `fuzz/fuzz_targets/wire_json.rs`): arbitrary JSON documents built
//! from the record field names, and byte-level mutations of valid records'
//! JSON text. The parser never panics; whatever it accepts is a valid record
//! whose canonical bytes decode back to it and whose rendering, as a value and
//! as text, parses to the same record and id; a given `id` is always the
//! record's.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use stemedb_records::hlc::Hlc;
use stemedb_records::validate::validate;
use stemedb_records::{RecordId, SignedRecord, canonical, wire};

const FIELDS: &[&str] = &[
    "kind",
    "id",
    "signature",
    "subject",
    "predicate",
    "object",
    "type",
    "value",
    "agent",
    "confidence",
    "timestamp",
    "source",
    "uri",
    "class",
    "valid_from",
    "valid_to",
    "lifecycle",
    "parent",
    "epoch",
    "target",
    "reason",
    "weight",
    "score",
    "issuer",
    "name",
    "subject_prefix",
    "supersedes",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just(-1.0f64),
            Just(-0.0),
            Just(0.0),
            Just(0.5),
            Just(1.0),
            Just(1.5)
        ]
        .prop_map(|f| json!(f)),
        prop_oneof![
            Just(0i64),
            Just(1_700_000_000_000),
            Just(253_402_300_799_999),
            Just(253_402_300_800_000),
            Just(-253_402_300_799_999),
            Just(-1),
        ]
        .prop_map(Value::from),
        prop_oneof![
            Just("assertion"),
            Just("retraction"),
            Just("vote"),
            Just("trust"),
            Just("epoch"),
            Just("text"),
            Just("number"),
            Just("boolean"),
            Just("ref"),
            Just("approved"),
            Just(""),
            Just("a\u{0}b"),
        ]
        .prop_map(|s| Value::String(s.into())),
        "[0-9a-fA-F]{64}".prop_map(Value::String),
        "[0-9a-f]{128}".prop_map(Value::String),
        ".{0,40}".prop_map(Value::String),
    ]
}

/// JSON values whose objects use record field names, nested a few levels.
fn document() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 48, 12, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((proptest::sample::select(FIELDS), inner), 0..12).prop_map(
                |kv| {
                    let m: Map<String, Value> =
                        kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                    Value::Object(m)
                }
            ),
        ]
    })
}

/// A valid record of each kind, as JSON.
fn valid_json() -> impl Strategy<Value = Value> {
    let id = "[0-9a-f]{64}";
    prop_oneof![
        (".{1,20}", ".{1,10}", any::<f64>(), 0.0..=1.0f64).prop_map(|(s, p, n, c)| json!({
            "subject": s, "predicate": p, "agent": "a", "confidence": c,
            "object": {"type": "number", "value": if n.is_finite() { n } else { 0.0 }},
            "timestamp": 1_700_000_000_000i64, "source": {"uri": "u", "class": 2},
            "valid_from": -5, "valid_to": 7, "lifecycle": "approved",
        })),
        (id, ".{0,20}").prop_map(|(t, r)| json!({
            "kind": "retraction", "target": t, "agent": "a", "reason": r, "timestamp": 1
        })),
        (id, -1.0..=1.0f64).prop_map(|(t, w)| json!({
            "kind": "vote", "target": t, "agent": "a", "weight": w, "timestamp": 2
        })),
        (0.0..=1.0f64).prop_map(|s| json!({
            "kind": "trust", "agent": "a", "score": s, "issuer": "root", "timestamp": 3
        })),
        proptest::option::of(id).prop_map(|sup| json!({
            "kind": "epoch", "name": "n", "subject_prefix": "drug:", "supersedes": sup,
            "reason": "r", "agent": "a", "timestamp": 4
        })),
    ]
}

/// The invariants for one parsed document (see the module docs).
fn check(v: &Value) -> Result<(), TestCaseError> {
    let clock = Hlc::new();
    let parsed = [
        wire::parse_record(v, &clock),
        wire::parse_assertion(v, &clock),
        wire::parse_retraction(v, &clock),
        wire::parse_vote(v, &clock),
        wire::parse_trust(v, None, &clock),
        wire::parse_trust(v, Some("agent"), &clock),
        wire::parse_epoch(v, &clock),
    ];
    for rec in parsed.into_iter().flatten() {
        prop_assert!(validate(rec.record()).is_ok());
        let decoded = canonical::decode(rec.canonical());
        prop_assert_eq!(decoded.as_ref(), Ok(rec.record()));
        if let Some(claimed) = v.get("id").and_then(Value::as_str) {
            prop_assert_eq!(RecordId::from_hex(claimed).ok(), Some(rec.id()));
        }
        let rendered = wire::to_json(&rec);
        let again: SignedRecord = wire::parse_record(&rendered, &clock)
            .map_err(|e| TestCaseError::fail(format!("rendered record refused: {e}")))?;
        prop_assert_eq!(&again, &rec);
        let text = serde_json::to_string(&rendered).expect("serialise");
        let from_text: Value = serde_json::from_str(&text).expect("own output parses");
        let again = wire::parse_record(&from_text, &clock)
            .map_err(|e| TestCaseError::fail(format!("rendered text refused: {e}")))?;
        prop_assert_eq!(again.id(), rec.id());
    }
    Ok(())
}

/// The bulk-write fast path ([`wire::parse_assertion_text`]) on `text`:
/// whatever it answers, the general parser answers the same (records equal
/// but for a clock-assigned timestamp); where it declines, the general
/// parser decides.
/// With `must_take`, declining is a failure (a plain valid assertion).
fn check_fast(text: &[u8], must_take: bool) -> Result<(), TestCaseError> {
    let clock = Hlc::new();
    let Some(fast) = wire::parse_assertion_text(text, &clock) else {
        prop_assert!(!must_take, "fast path declined a plain assertion");
        return Ok(());
    };
    let doc: Value = serde_json::from_slice(text)
        .map_err(|e| TestCaseError::fail(format!("fast path took text that is not JSON: {e}")))?;
    let slow = wire::parse_record(&doc, &clock);
    let stamped = doc.get("timestamp").is_some_and(|t| !t.is_null());
    match (fast, slow) {
        (Ok(f), Ok(s)) if stamped => prop_assert_eq!(f, s),
        (Ok(f), Ok(s)) => {
            let (Some(mut a), Some(mut b)) = (
                f.record().as_assertion().cloned(),
                s.record().as_assertion().cloned(),
            ) else {
                return Err(TestCaseError::fail("fast path gave a non-assertion"));
            };
            a.timestamp = 0;
            b.timestamp = 0;
            prop_assert_eq!(a, b);
        }
        (Err(f), Err(s)) => prop_assert_eq!(f, s),
        (f, s) => {
            return Err(TestCaseError::fail(format!(
                "fast path {f:?} but general parser {s:?}"
            )));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_documents_parse_to_valid_records_or_fail(v in document()) {
        check(&v)?;
        check_fast(&serde_json::to_vec(&v).expect("serialise"), false)?;
    }

    #[test]
    fn valid_records_with_one_field_replaced(
        v in valid_json(),
        field in proptest::sample::select(FIELDS),
        with in scalar(),
    ) {
        check(&v)?;
        check_fast(&serde_json::to_vec(&v).expect("serialise"), v.get("kind").is_none())?;
        let mut changed = v.clone();
        changed[field] = with;
        check(&changed)?;
        check_fast(&serde_json::to_vec(&changed).expect("serialise"), false)?;
    }

    /// Byte edits of a valid record's JSON text: whatever still parses as
    /// JSON obeys the same invariants.
    #[test]
    fn mutated_json_text(
        v in valid_json(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let mut text = serde_json::to_vec(&v).expect("serialise");
        for (at, byte, op) in edits {
            let i = at.index(text.len() + 1);
            match op {
                0 if i < text.len() => text[i] = byte,
                1 => text.insert(i, byte),
                _ if i < text.len() => {
                    text.remove(i);
                }
                _ => {}
            }
        }
        if let Ok(doc) = serde_json::from_slice::<Value>(&text) {
            check(&doc)?;
        }
        check_fast(&text, false)?;
    }
}

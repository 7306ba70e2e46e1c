//! One test per validation rule: every check of `validate.rs`, every error
//! path of `wire.rs`, signature checks and canonical decoding errors. Each
//! asserts the exact error code and field name.

use serde_json::{Value, json};
use stemedb_records::hlc::Hlc;
use stemedb_records::limits::*;
use stemedb_records::validate::validate;
use stemedb_records::{
    Assertion, Epoch, ErrorCode, Lifecycle, Object, Record, RecordId, Retraction, SignedRecord,
    Source, Trust, ValidationError, Vote, canonical, sign, wire,
};

use ErrorCode::*;

const TARGET: &str = "73d7958594871f8dd904bb6371b6ec4628df71df3e9ea177bedad5f65ecd77f3";
/// Test-only secret key (bytes 0x00..=0x1f).
const SECRET: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

// ---------------------------------------------------------------- helpers

fn parse(v: &Value) -> Result<SignedRecord, ValidationError> {
    wire::parse_record(v, &Hlc::new())
}

#[track_caller]
fn assert_err(v: &Value, code: ErrorCode, field: &str) {
    match parse(v) {
        Ok(r) => panic!("expected {code} on {field}, but parsed {:?}", r.record()),
        Err(e) => assert_eq!(
            (e.code, e.field.as_str()),
            (code, field),
            "wrong error: {e} ({})",
            e.code
        ),
    }
}

#[track_caller]
fn assert_ok(v: &Value) -> SignedRecord {
    parse(v).unwrap_or_else(|e| panic!("expected a valid record, got {e} ({})", e.code))
}

/// `v` with `path` (dotted, one level of nesting) set to `x`.
fn set(v: &Value, path: &str, x: Value) -> Value {
    let mut v = v.clone();
    match path.split_once('.') {
        Some((outer, inner)) => {
            v[outer][inner] = x;
        }
        None => {
            v[path] = x;
        }
    }
    v
}

/// `v` without `path` (dotted, one level of nesting).
fn del(v: &Value, path: &str) -> Value {
    let mut v = v.clone();
    match path.split_once('.') {
        Some((outer, inner)) => {
            v[outer].as_object_mut().unwrap().remove(inner);
        }
        None => {
            v.as_object_mut().unwrap().remove(path);
        }
    }
    v
}

fn assertion_json() -> Value {
    json!({
        "subject": "drug:semaglutide",
        "predicate": "side_effect",
        "object": {"type": "text", "value": "nausea"},
        "agent": "fda",
        "confidence": 0.9,
        "timestamp": 1_700_000_000_000i64,
        "source": {"uri": "https://example.org/label", "class": 0},
        "valid_from": 0,
        "valid_to": 1_800_000_000_000i64,
        "lifecycle": "approved",
        "parent": TARGET,
        "epoch": TARGET,
    })
}

fn retraction_json() -> Value {
    json!({"kind": "retraction", "target": TARGET, "agent": "fda", "reason": "wrong", "timestamp": 1})
}

fn vote_json() -> Value {
    json!({"kind": "vote", "target": TARGET, "agent": "fda", "weight": 0.5, "timestamp": 1})
}

fn trust_json() -> Value {
    json!({"kind": "trust", "agent": "bot", "score": 0.5, "issuer": "admin", "timestamp": 1})
}

fn epoch_json() -> Value {
    json!({
        "kind": "epoch", "name": "e2", "subject_prefix": "physics:", "supersedes": TARGET,
        "reason": "because", "agent": "admin", "timestamp": 1
    })
}

fn all_json() -> Vec<Value> {
    vec![
        assertion_json(),
        retraction_json(),
        vote_json(),
        trust_json(),
        epoch_json(),
    ]
}

fn assertion() -> Assertion {
    Assertion {
        subject: "s".into(),
        predicate: "p".into(),
        object: Object::Number(1.5),
        agent: "a".into(),
        confidence: 1.0,
        timestamp: 1,
        source: None,
        valid_from: None,
        valid_to: None,
        lifecycle: Lifecycle::Proposed,
        parent: None,
        epoch: None,
    }
}

fn vote() -> Vote {
    Vote {
        target: RecordId([7; 32]),
        agent: "a".into(),
        weight: 0.0,
        timestamp: 1,
    }
}

fn trust() -> Trust {
    Trust {
        agent: "a".into(),
        score: 0.5,
        issuer: "admin".into(),
        timestamp: 1,
    }
}

fn retraction() -> Retraction {
    Retraction {
        target: RecordId([7; 32]),
        agent: "a".into(),
        reason: None,
        timestamp: 1,
    }
}

fn epoch() -> Epoch {
    Epoch {
        name: "e".into(),
        subject_prefix: String::new(),
        supersedes: None,
        reason: String::new(),
        agent: "a".into(),
        timestamp: 1,
    }
}

/// A record built in memory is rejected the same way by `validate`,
/// `SignedRecord::new` and by decoding its canonical bytes.
#[track_caller]
fn assert_invalid(rec: Record, code: ErrorCode, field: &str) {
    let e = validate(&rec).unwrap_err();
    assert_eq!((e.code, e.field.as_str()), (code, field), "validate: {e}");
    let e = SignedRecord::new(rec.clone(), None).unwrap_err();
    assert_eq!((e.code, e.field.as_str()), (code, field), "new: {e}");
    let e = canonical::decode(&canonical::encode(&rec)).unwrap_err();
    assert_eq!((e.code, e.field.as_str()), (code, field), "decode: {e}");
}

#[track_caller]
fn assert_valid(rec: Record) {
    validate(&rec).unwrap();
    let s = SignedRecord::new(rec, None).unwrap();
    assert_eq!(&canonical::decode(s.canonical()).unwrap(), s.record());
}

#[track_caller]
fn assert_decode_err(bytes: &[u8], code: ErrorCode, field: &str) {
    let e = canonical::decode(bytes).unwrap_err();
    assert_eq!((e.code, e.field.as_str()), (code, field), "decode: {e}");
}

fn key() -> String {
    sign::public_hex(&sign::signing_key_from_hex(SECRET).unwrap())
}

/// `v` signed with the test key (the signer field must already hold `key()`).
fn signed(v: &Value) -> Value {
    let k = sign::signing_key_from_hex(SECRET).unwrap();
    let rec = assert_ok(v);
    set(
        v,
        "signature",
        json!(hex::encode(sign::sign(rec.record(), &k))),
    )
}

// ---------------------------------------------------------------- baseline

#[test]
fn base_records_are_valid() {
    for v in all_json() {
        assert_ok(&v);
    }
    assert_valid(Record::Assertion(assertion()));
    assert_valid(Record::Retraction(retraction()));
    assert_valid(Record::Vote(vote()));
    assert_valid(Record::Trust(trust()));
    assert_valid(Record::Epoch(epoch()));
}

// ---------------------------------------------------------------- JSON shape

#[test]
fn body_must_be_an_object() {
    assert_err(&json!([1, 2]), InvalidType, "body");
    assert_err(&json!("subject"), InvalidType, "body");
    assert_err(&json!(null), InvalidType, "body");
    assert_err(&json!(5), InvalidType, "body");
}

#[test]
fn kind_must_be_known() {
    assert_err(
        &set(&assertion_json(), "kind", json!("claim")),
        InvalidValue,
        "kind",
    );
    assert_err(
        &set(&assertion_json(), "kind", json!(1)),
        InvalidValue,
        "kind",
    );
    assert_err(
        &set(&assertion_json(), "kind", json!("Assertion")),
        InvalidValue,
        "kind",
    );
    // null means the default, assertion.
    assert_ok(&set(&assertion_json(), "kind", Value::Null));
    // The per-kind parsers check a kind they were not asked for.
    let e = wire::parse_vote(&assertion_json(), &Hlc::new());
    assert!(e.is_err());
    let e = wire::parse_vote(&set(&vote_json(), "kind", json!("trust")), &Hlc::new()).unwrap_err();
    assert_eq!((e.code, e.field.as_str()), (InvalidValue, "kind"));
    let e = wire::parse_vote(&set(&vote_json(), "kind", json!(3)), &Hlc::new()).unwrap_err();
    assert_eq!((e.code, e.field.as_str()), (InvalidType, "kind"));
}

#[test]
fn missing_required_fields() {
    let a = assertion_json();
    for f in ["subject", "predicate", "object", "agent"] {
        assert_err(&del(&a, f), MissingField, f);
        // JSON null counts as absent.
        assert_err(&set(&a, f, Value::Null), MissingField, f);
    }
    assert_err(&del(&a, "object.type"), MissingField, "object.type");
    assert_err(&del(&a, "object.value"), MissingField, "object.value");
    assert_err(
        &set(&a, "object.value", Value::Null),
        MissingField,
        "object.value",
    );
    assert_err(&del(&a, "source.uri"), MissingField, "source.uri");
    assert_err(&del(&a, "source.class"), MissingField, "source.class");
    for f in ["target", "agent"] {
        assert_err(&del(&retraction_json(), f), MissingField, f);
    }
    for f in ["target", "agent", "weight"] {
        assert_err(&del(&vote_json(), f), MissingField, f);
    }
    for f in ["agent", "score"] {
        assert_err(&del(&trust_json(), f), MissingField, f);
    }
    for f in ["name", "agent"] {
        assert_err(&del(&epoch_json(), f), MissingField, f);
    }
}

#[test]
fn optional_fields_take_their_defaults() {
    let mut a = assertion_json();
    for f in [
        "confidence",
        "source",
        "valid_from",
        "valid_to",
        "lifecycle",
        "parent",
        "epoch",
        "timestamp",
    ] {
        a = del(&a, f);
    }
    let rec = assert_ok(&a);
    let Record::Assertion(x) = rec.record() else {
        panic!()
    };
    assert_eq!(x.confidence, 1.0);
    assert_eq!(x.lifecycle, Lifecycle::Proposed);
    assert!(x.timestamp > 0, "the clock assigns a timestamp");
    let t = assert_ok(&del(&trust_json(), "issuer"));
    assert_eq!(t.record().signer(), "admin");
    let e = assert_ok(&del(
        &del(&del(&epoch_json(), "reason"), "subject_prefix"),
        "supersedes",
    ));
    let Record::Epoch(e) = e.record() else {
        panic!()
    };
    assert_eq!((e.reason.as_str(), e.subject_prefix.as_str()), ("", ""));
    // The agent of a trust record may come from the URL path instead.
    let t = wire::parse_trust(&del(&trust_json(), "agent"), Some("bot"), &Hlc::new()).unwrap();
    assert_eq!(t.id(), assert_ok(&trust_json()).id());
}

#[test]
fn unknown_fields() {
    assert_err(
        &set(&assertion_json(), "colour", json!("red")),
        UnknownField,
        "colour",
    );
    assert_err(
        &set(&assertion_json(), "object.x", json!(1)),
        UnknownField,
        "object.x",
    );
    assert_err(
        &set(&assertion_json(), "source.x", json!(1)),
        UnknownField,
        "source.x",
    );
    // Fields of another kind are unknown too.
    assert_err(
        &set(&retraction_json(), "subject", json!("s")),
        UnknownField,
        "subject",
    );
    assert_err(
        &set(&vote_json(), "reason", json!("r")),
        UnknownField,
        "reason",
    );
    assert_err(
        &set(&trust_json(), "weight", json!(1)),
        UnknownField,
        "weight",
    );
    assert_err(
        &set(&epoch_json(), "target", json!(TARGET)),
        UnknownField,
        "target",
    );
    // Field names are case-sensitive.
    assert_err(
        &set(&vote_json(), "Weight", json!(1)),
        UnknownField,
        "Weight",
    );
}

#[test]
fn wrong_json_types() {
    let a = assertion_json();
    for (f, bad) in [
        ("subject", json!(5)),
        ("predicate", json!(["p"])),
        ("agent", json!({"name": "fda"})),
        ("object", json!("nausea")),
        ("object.type", json!(1)),
        ("confidence", json!("0.9")),
        ("timestamp", json!("1700000000000")),
        ("source", json!("https://example.org")),
        ("source.uri", json!(1)),
        ("source.class", json!("1")),
        ("valid_from", json!(true)),
        ("valid_to", json!("2024")),
        ("lifecycle", json!(2)),
        ("parent", json!(1)),
        ("epoch", json!([])),
        ("signature", json!(1)),
        ("id", json!(1)),
    ] {
        assert_err(&set(&a, f, bad), InvalidType, f);
    }
    // Object values must match the object type.
    let text = set(&a, "object.value", json!(5));
    assert_err(&text, InvalidType, "object.value");
    let num = set(
        &set(&a, "object.type", json!("number")),
        "object.value",
        json!("5"),
    );
    assert_err(&num, InvalidType, "object.value");
    let b = set(
        &set(&a, "object.type", json!("boolean")),
        "object.value",
        json!("true"),
    );
    assert_err(&b, InvalidType, "object.value");
    let b = set(
        &set(&a, "object.type", json!("boolean")),
        "object.value",
        json!(1),
    );
    assert_err(&b, InvalidType, "object.value");
    let r = set(
        &set(&a, "object.type", json!("ref")),
        "object.value",
        json!(1),
    );
    assert_err(&r, InvalidType, "object.value");
    assert_err(
        &set(&retraction_json(), "target", json!(1)),
        InvalidType,
        "target",
    );
    assert_err(
        &set(&retraction_json(), "reason", json!(1)),
        InvalidType,
        "reason",
    );
    assert_err(
        &set(&vote_json(), "weight", json!("1")),
        InvalidType,
        "weight",
    );
    assert_err(
        &set(&trust_json(), "score", json!(null)),
        MissingField,
        "score",
    );
    assert_err(
        &set(&trust_json(), "score", json!("high")),
        InvalidType,
        "score",
    );
    assert_err(
        &set(&trust_json(), "issuer", json!(1)),
        InvalidType,
        "issuer",
    );
    assert_err(&set(&epoch_json(), "name", json!(1)), InvalidType, "name");
    assert_err(
        &set(&epoch_json(), "supersedes", json!(1)),
        InvalidType,
        "supersedes",
    );
    assert_err(
        &set(&epoch_json(), "subject_prefix", json!(1)),
        InvalidType,
        "subject_prefix",
    );
}

#[test]
fn every_object_type_parses() {
    let a = assertion_json();
    for (ty, val) in [
        ("text", json!("x")),
        ("number", json!(-2.5)),
        ("number", json!(3)),
        ("boolean", json!(false)),
        ("ref", json!("drug:x")),
    ] {
        assert_ok(&set(
            &set(&a, "object.type", json!(ty)),
            "object.value",
            val,
        ));
    }
}

#[test]
fn unknown_object_type() {
    let a = assertion_json();
    assert_err(
        &set(&a, "object.type", json!("date")),
        InvalidValue,
        "object.type",
    );
    assert_err(
        &set(&a, "object.type", json!("Text")),
        InvalidValue,
        "object.type",
    );
}

#[test]
fn bad_lifecycle() {
    let a = assertion_json();
    assert_err(
        &set(&a, "lifecycle", json!("done")),
        InvalidValue,
        "lifecycle",
    );
    assert_err(
        &set(&a, "lifecycle", json!("Approved")),
        InvalidValue,
        "lifecycle",
    );
    assert_err(&set(&a, "lifecycle", json!("")), InvalidValue, "lifecycle");
    for l in Lifecycle::ALL {
        assert_ok(&set(&a, "lifecycle", json!(l.as_str())));
    }
}

// ---------------------------------------------------------------- strings

#[test]
fn empty_subject() {
    assert_err(
        &set(&assertion_json(), "subject", json!("")),
        Empty,
        "subject",
    );
    let mut a = assertion();
    a.subject.clear();
    assert_invalid(Record::Assertion(a), Empty, "subject");
}

#[test]
fn empty_predicate() {
    assert_err(
        &set(&assertion_json(), "predicate", json!("")),
        Empty,
        "predicate",
    );
}

#[test]
fn empty_agent_and_issuer() {
    for v in all_json() {
        assert_err(&set(&v, "agent", json!("")), Empty, "agent");
    }
    assert_err(&set(&trust_json(), "issuer", json!("")), Empty, "issuer");
}

#[test]
fn empty_ref_uri_and_epoch_name() {
    let r = set(
        &set(&assertion_json(), "object.type", json!("ref")),
        "object.value",
        json!(""),
    );
    assert_err(&r, Empty, "object.value");
    assert_err(
        &set(&assertion_json(), "source.uri", json!("")),
        Empty,
        "source.uri",
    );
    assert_err(&set(&epoch_json(), "name", json!("")), Empty, "name");
    // Empty text, reasons and subject prefix are allowed.
    assert_ok(&set(&assertion_json(), "object.value", json!("")));
    assert_ok(&set(&retraction_json(), "reason", json!("")));
    assert_ok(&set(&epoch_json(), "reason", json!("")));
    assert_ok(&set(&epoch_json(), "subject_prefix", json!("")));
}

/// `field` accepts exactly `max` bytes and rejects `max + 1`, counting bytes
/// rather than characters.
#[track_caller]
fn check_max(base: &Value, field: &str, max: usize) {
    assert_ok(&set(base, field, json!("a".repeat(max))));
    assert_err(
        &set(base, field, json!("a".repeat(max + 1))),
        TooLong,
        field,
    );
    // "é" is two bytes: max/2 + 1 of them exceed the limit in bytes.
    let s = "é".repeat(max / 2 + 1);
    assert_err(&set(base, field, json!(s)), TooLong, field);
}

#[test]
fn too_long_subject() {
    check_max(&assertion_json(), "subject", SUBJECT_MAX);
    assert_eq!(SUBJECT_MAX, 512);
}

#[test]
fn too_long_predicate() {
    check_max(&assertion_json(), "predicate", PREDICATE_MAX);
    assert_eq!(PREDICATE_MAX, 256);
}

#[test]
fn too_long_text() {
    check_max(&assertion_json(), "object.value", TEXT_MAX);
    assert_eq!(TEXT_MAX, 65_536);
}

#[test]
fn too_long_ref() {
    let r = set(&assertion_json(), "object.type", json!("ref"));
    check_max(&r, "object.value", SUBJECT_MAX);
}

#[test]
fn too_long_agent() {
    assert_eq!(AGENT_MAX, 128);
    for v in all_json() {
        check_max(&v, "agent", AGENT_MAX);
    }
    check_max(&trust_json(), "issuer", AGENT_MAX);
}

#[test]
fn too_long_uri() {
    check_max(&assertion_json(), "source.uri", URI_MAX);
    assert_eq!(URI_MAX, 2048);
}

#[test]
fn too_long_reason() {
    assert_eq!(REASON_MAX, 4096);
    check_max(&retraction_json(), "reason", REASON_MAX);
    check_max(&epoch_json(), "reason", REASON_MAX);
}

#[test]
fn too_long_epoch_name_and_prefix() {
    check_max(&epoch_json(), "name", EPOCH_NAME_MAX);
    assert_eq!(EPOCH_NAME_MAX, 256);
    check_max(&epoch_json(), "subject_prefix", SUBJECT_MAX);
}

#[test]
fn nul_in_subject() {
    assert_err(
        &set(&assertion_json(), "subject", json!("a\u{0}b")),
        InvalidValue,
        "subject",
    );
    let mut a = assertion();
    a.subject = "\0".into();
    assert_invalid(Record::Assertion(a), InvalidValue, "subject");
}

#[test]
fn nul_in_other_names() {
    let a = assertion_json();
    assert_err(
        &set(&a, "predicate", json!("p\u{0}")),
        InvalidValue,
        "predicate",
    );
    assert_err(&set(&a, "agent", json!("\u{0}")), InvalidValue, "agent");
    let r = set(
        &set(&a, "object.type", json!("ref")),
        "object.value",
        json!("x\u{0}"),
    );
    assert_err(&r, InvalidValue, "object.value");
    assert_err(
        &set(&trust_json(), "issuer", json!("a\u{0}")),
        InvalidValue,
        "issuer",
    );
    assert_err(
        &set(&vote_json(), "agent", json!("a\u{0}")),
        InvalidValue,
        "agent",
    );
    assert_err(
        &set(&epoch_json(), "subject_prefix", json!("p\u{0}")),
        InvalidValue,
        "subject_prefix",
    );
    // Text values, URIs and reasons may hold U+0000.
    assert_ok(&set(&a, "object.value", json!("a\u{0}b")));
    assert_ok(&set(&a, "source.uri", json!("a\u{0}b")));
    assert_ok(&set(&retraction_json(), "reason", json!("a\u{0}b")));
}

// ---------------------------------------------------------------- numbers

#[test]
fn non_finite_number_object() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut a = assertion();
        a.object = Object::Number(bad);
        assert_invalid(Record::Assertion(a), NonFinite, "object.value");
    }
    // Any finite number is fine, however large.
    let a = set(
        &set(&assertion_json(), "object.type", json!("number")),
        "object.value",
        json!(f64::MAX),
    );
    assert_ok(&a);
}

#[test]
fn non_finite_confidence() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut a = assertion();
        a.confidence = bad;
        assert_invalid(Record::Assertion(a), NonFinite, "confidence");
    }
}

#[test]
fn confidence_out_of_range() {
    let a = assertion_json();
    for bad in [
        json!(1.000_000_1),
        json!(-0.1),
        json!(2),
        json!(-1),
        json!(1e300),
    ] {
        assert_err(&set(&a, "confidence", bad), OutOfRange, "confidence");
    }
    for ok in [
        json!(0),
        json!(1),
        json!(0.0),
        json!(1.0),
        json!(-0.0),
        json!(5e-324),
    ] {
        assert_ok(&set(&a, "confidence", ok));
    }
}

#[test]
fn json_cannot_carry_non_finite_numbers() {
    // serde_json rejects the literals and overflowing numbers outright, so
    // non-finite values only reach validation from code (tested above).
    assert!(serde_json::from_str::<Value>(r#"{"confidence": NaN}"#).is_err());
    assert!(serde_json::from_str::<Value>(r#"{"confidence": 1e400}"#).is_err());
    // A NaN put into a JSON value becomes null, i.e. "absent" (default 1.0).
    assert_eq!(json!(f64::NAN), Value::Null);
    let rec = assert_ok(&set(&assertion_json(), "confidence", json!(f64::NAN)));
    assert!(matches!(rec.record(), Record::Assertion(a) if a.confidence == 1.0));
}

#[test]
fn weight_rules() {
    let v = vote_json();
    for bad in [json!(1.5), json!(-1.000_001), json!(2)] {
        assert_err(&set(&v, "weight", bad), OutOfRange, "weight");
    }
    for ok in [json!(-1), json!(1), json!(0), json!(-0.0), json!(-0.25)] {
        assert_ok(&set(&v, "weight", ok));
    }
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut x = vote();
        x.weight = bad;
        assert_invalid(Record::Vote(x), NonFinite, "weight");
    }
    let mut x = vote();
    x.weight = -1.5;
    assert_invalid(Record::Vote(x), OutOfRange, "weight");
}

#[test]
fn score_rules() {
    let t = trust_json();
    for bad in [json!(1.5), json!(-0.01), json!(-1)] {
        assert_err(&set(&t, "score", bad), OutOfRange, "score");
    }
    for ok in [json!(0), json!(1), json!(-0.0)] {
        assert_ok(&set(&t, "score", ok));
    }
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut x = trust();
        x.score = bad;
        assert_invalid(Record::Trust(x), NonFinite, "score");
    }
    let mut x = trust();
    x.score = 1.01;
    assert_invalid(Record::Trust(x), OutOfRange, "score");
}

#[test]
fn source_class_out_of_range() {
    let a = assertion_json();
    for bad in [
        json!(6),
        json!(255),
        json!(256),
        json!(-1),
        json!(u64::MAX),
        json!(i64::MIN),
    ] {
        assert_err(&set(&a, "source.class", bad), OutOfRange, "source.class");
    }
    assert_err(
        &set(&a, "source.class", json!(1.5)),
        InvalidType,
        "source.class",
    );
    // A whole number written with a fraction is that integer (JSON Schema's rule).
    assert_eq!(
        parse(&set(&a, "source.class", json!(1.0))).unwrap().id(),
        parse(&set(&a, "source.class", json!(1))).unwrap().id()
    );
    for c in 0..=5 {
        assert_ok(&set(&a, "source.class", json!(c)));
    }
    let mut x = assertion();
    x.source = Some(Source {
        uri: "u".into(),
        class: 6,
    });
    assert_invalid(Record::Assertion(x.clone()), OutOfRange, "source.class");
    x.source = Some(Source {
        uri: String::new(),
        class: 0,
    });
    assert_invalid(Record::Assertion(x.clone()), Empty, "source.uri");
    x.source = Some(Source {
        uri: "u".repeat(URI_MAX + 1),
        class: 0,
    });
    assert_invalid(Record::Assertion(x), TooLong, "source.uri");
}

// ---------------------------------------------------------------- time

#[test]
fn timestamp_negative() {
    for v in all_json() {
        assert_err(&set(&v, "timestamp", json!(-1)), OutOfRange, "timestamp");
        assert_err(
            &set(&v, "timestamp", json!(i64::MIN)),
            OutOfRange,
            "timestamp",
        );
    }
    let mut a = assertion();
    a.timestamp = -1;
    assert_invalid(Record::Assertion(a), OutOfRange, "timestamp");
    let mut r = retraction();
    r.timestamp = -1;
    assert_invalid(Record::Retraction(r), OutOfRange, "timestamp");
    let mut e = epoch();
    e.timestamp = i64::MIN;
    assert_invalid(Record::Epoch(e), OutOfRange, "timestamp");
}

#[test]
fn timestamp_too_large() {
    assert_eq!(TIMESTAMP_MAX, 253_402_300_799_999);
    for v in all_json() {
        assert_ok(&set(&v, "timestamp", json!(TIMESTAMP_MAX)));
        assert_ok(&set(&v, "timestamp", json!(0)));
        assert_err(
            &set(&v, "timestamp", json!(TIMESTAMP_MAX + 1)),
            OutOfRange,
            "timestamp",
        );
        assert_err(
            &set(&v, "timestamp", json!(i64::MAX)),
            OutOfRange,
            "timestamp",
        );
        // Beyond i64: still out of range, not a type error.
        assert_err(
            &set(&v, "timestamp", json!(u64::MAX)),
            OutOfRange,
            "timestamp",
        );
    }
    let mut v = vote();
    v.timestamp = TIMESTAMP_MAX + 1;
    assert_invalid(Record::Vote(v), OutOfRange, "timestamp");
    let mut t = trust();
    t.timestamp = i64::MAX;
    assert_invalid(Record::Trust(t), OutOfRange, "timestamp");
}

#[test]
fn timestamp_not_an_integer() {
    for v in all_json() {
        assert_err(&set(&v, "timestamp", json!(1.5)), InvalidType, "timestamp");
        assert_eq!(
            parse(&set(&v, "timestamp", json!(1e12))).unwrap().id(),
            parse(&set(&v, "timestamp", json!(1_000_000_000_000i64)))
                .unwrap()
                .id()
        );
        assert_err(&set(&v, "timestamp", json!("1")), InvalidType, "timestamp");
    }
}

#[test]
fn valid_time_out_of_range() {
    let a = assertion_json();
    let (a_nf, a_nt) = (del(&a, "valid_to"), del(&a, "valid_from"));
    assert_ok(&set(&a_nf, "valid_from", json!(VALID_TIME_MIN)));
    assert_ok(&set(&a_nt, "valid_to", json!(TIMESTAMP_MAX)));
    assert_err(
        &set(&a_nf, "valid_from", json!(VALID_TIME_MIN - 1)),
        OutOfRange,
        "valid_from",
    );
    assert_err(
        &set(&a_nt, "valid_to", json!(TIMESTAMP_MAX + 1)),
        OutOfRange,
        "valid_to",
    );
    assert_err(
        &set(&a_nf, "valid_from", json!(u64::MAX)),
        OutOfRange,
        "valid_from",
    );
    assert_err(
        &set(&a_nf, "valid_from", json!(0.5)),
        InvalidType,
        "valid_from",
    );
    assert_err(&set(&a_nt, "valid_to", json!(0.5)), InvalidType, "valid_to");
    // Whole numbers written with a fraction or an exponent are integers (as
    // in JSON Schema) and give the same record and id.
    let whole: Value = serde_json::from_str(
        r#"{"subject":"s","predicate":"p","object":{"type":"text","value":"v"},"agent":"a",
            "timestamp":1.7e12,"valid_from":-5.0,"valid_to":7.000,"source":{"uri":"u","class":2.0}}"#,
    )
    .unwrap();
    let plain: Value = serde_json::from_str(
        r#"{"subject":"s","predicate":"p","object":{"type":"text","value":"v"},"agent":"a",
            "timestamp":1700000000000,"valid_from":-5,"valid_to":7,"source":{"uri":"u","class":2}}"#,
    )
    .unwrap();
    let clock = Hlc::new();
    assert_eq!(
        wire::parse_record(&whole, &clock).unwrap().id(),
        wire::parse_record(&plain, &clock).unwrap().id()
    );
    assert_err(
        &set(&a_nf, "valid_from", json!(1e300)),
        OutOfRange,
        "valid_from",
    );
    let mut x = assertion();
    x.valid_from = Some(i64::MIN);
    assert_invalid(Record::Assertion(x.clone()), OutOfRange, "valid_from");
    x.valid_from = None;
    x.valid_to = Some(i64::MAX);
    assert_invalid(Record::Assertion(x), OutOfRange, "valid_to");
}

#[test]
fn valid_to_before_valid_from() {
    let a = set(
        &set(&assertion_json(), "valid_from", json!(10)),
        "valid_to",
        json!(9),
    );
    assert_err(&a, OutOfRange, "valid_to");
    let a = set(
        &set(&assertion_json(), "valid_from", json!(10)),
        "valid_to",
        json!(10),
    );
    assert_ok(&a);
    let mut x = assertion();
    x.valid_from = Some(-5);
    x.valid_to = Some(-6);
    assert_invalid(Record::Assertion(x), OutOfRange, "valid_to");
}

// ---------------------------------------------------------------- hex

#[test]
fn bad_hex_in_target() {
    for v in [retraction_json(), vote_json()] {
        assert_err(&set(&v, "target", json!("xyz")), InvalidHex, "target");
        assert_err(
            &set(&v, "target", json!(&TARGET[1..])),
            InvalidHex,
            "target",
        );
        assert_err(
            &set(&v, "target", json!(format!("{TARGET}00"))),
            InvalidHex,
            "target",
        );
        assert_err(
            &set(&v, "target", json!("zz".repeat(32))),
            InvalidHex,
            "target",
        );
        assert_err(&set(&v, "target", json!("")), InvalidHex, "target");
        // Upper case is accepted and means the same id.
        let up = assert_ok(&set(&v, "target", json!(TARGET.to_uppercase())));
        assert_eq!(up.id(), assert_ok(&v).id());
    }
}

#[test]
fn bad_hex_in_parent() {
    let a = assertion_json();
    assert_err(
        &set(&a, "parent", json!("zz".repeat(32))),
        InvalidHex,
        "parent",
    );
    assert_err(&set(&a, "parent", json!("abc")), InvalidHex, "parent");
}

#[test]
fn bad_hex_in_epoch() {
    let a = assertion_json();
    assert_err(
        &set(&a, "epoch", json!("g".repeat(64))),
        InvalidHex,
        "epoch",
    );
    assert_err(&set(&a, "epoch", json!(&TARGET[..62])), InvalidHex, "epoch");
    let e = epoch_json();
    assert_err(
        &set(&e, "supersedes", json!("not hex")),
        InvalidHex,
        "supersedes",
    );
}

#[test]
fn bad_hex_in_signature() {
    let a = assertion_json();
    assert_err(
        &set(&a, "signature", json!("zz".repeat(64))),
        InvalidHex,
        "signature",
    );
    assert_err(
        &set(&a, "signature", json!("ab".repeat(63))),
        InvalidHex,
        "signature",
    );
    assert_err(
        &set(&a, "signature", json!("ab".repeat(65))),
        InvalidHex,
        "signature",
    );
    assert_err(&set(&a, "signature", json!("")), InvalidHex, "signature");
}

#[test]
fn bad_hex_in_id() {
    assert_err(
        &set(&assertion_json(), "id", json!("xyz")),
        InvalidHex,
        "id",
    );
}

// ---------------------------------------------------------------- signatures

#[test]
fn signed_record_round_trips_and_verifies() {
    let v = signed(&set(&assertion_json(), "agent", json!(key())));
    let rec = assert_ok(&v);
    assert!(rec.signature().is_some());
    sign::verify(&rec).unwrap();
    // Trust records are signed by the issuer, not the agent.
    let t = signed(&set(&trust_json(), "issuer", json!(key())));
    let rec = assert_ok(&t);
    sign::verify(&rec).unwrap();
    assert_eq!(sign::signer_field(rec.record()), "issuer");
}

#[test]
fn signed_record_without_timestamp() {
    let v = signed(&set(&assertion_json(), "agent", json!(key())));
    assert_err(&del(&v, "timestamp"), MissingField, "timestamp");
    assert_err(
        &set(&v, "timestamp", Value::Null),
        MissingField,
        "timestamp",
    );
    let t = signed(&set(&trust_json(), "issuer", json!(key())));
    assert_err(&del(&t, "timestamp"), MissingField, "timestamp");
    // Unsigned records get one from the clock.
    assert_ok(&del(&assertion_json(), "timestamp"));
}

#[test]
fn signed_record_whose_agent_is_not_a_key() {
    let sig = json!("ab".repeat(64));
    assert_err(
        &set(&assertion_json(), "signature", sig.clone()),
        InvalidHex,
        "agent",
    );
    assert_err(
        &set(&retraction_json(), "signature", sig.clone()),
        InvalidHex,
        "agent",
    );
    assert_err(
        &set(&vote_json(), "signature", sig.clone()),
        InvalidHex,
        "agent",
    );
    assert_err(
        &set(&epoch_json(), "signature", sig.clone()),
        InvalidHex,
        "agent",
    );
    // For trust it is the issuer that must be a key; the agent may be a name.
    assert_err(
        &set(&trust_json(), "signature", sig.clone()),
        InvalidHex,
        "issuer",
    );
    let short = set(
        &set(&assertion_json(), "agent", json!(&key()[..62])),
        "signature",
        sig.clone(),
    );
    assert_err(&short, InvalidHex, "agent");
    // 64 hex characters that are not a point on the curve.
    let not_a_point = (0u8..=255)
        .map(|b| {
            let mut k = [0u8; 32];
            k[0] = b;
            k[31] = 0x7f;
            k
        })
        .find(|k| ed25519_dalek::VerifyingKey::from_bytes(k).is_err())
        .expect("some y has no x");
    let v = set(
        &set(&assertion_json(), "agent", json!(hex::encode(not_a_point))),
        "signature",
        sig.clone(),
    );
    assert_err(&v, InvalidValue, "agent");
    // A small-order (weak) key, here the identity point, is not a valid signer.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let v = set(
        &set(&vote_json(), "agent", json!(hex::encode(identity))),
        "signature",
        sig,
    );
    assert_err(&v, InvalidValue, "agent");
}

#[test]
fn weak_key_cannot_sign() {
    // With the identity point as key, R = identity and s = 0 satisfies the
    // (cofactored) batch equation for every message.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut sig = [0u8; 64];
    sig[0] = 1;
    let rec = Record::Vote(Vote {
        agent: hex::encode(identity),
        ..vote()
    });
    let e = SignedRecord::new(rec, Some(sig)).unwrap_err();
    assert_eq!((e.code, e.field.as_str()), (InvalidValue, "agent"));
}

#[test]
fn signature_that_does_not_verify() {
    let good = signed(&set(&assertion_json(), "agent", json!(key())));
    // Change the content after signing: parsing accepts it (verification is
    // separate so batches can be verified together), verification does not.
    let tampered = set(&good, "confidence", json!(0.1));
    let rec = assert_ok(&tampered);
    let e = sign::verify(&rec).unwrap_err();
    assert_eq!((e.code, e.field.as_str()), (InvalidSignature, "signature"));
    let ok = assert_ok(&good);
    let results = sign::verify_batch(&[&ok, &rec]);
    assert!(results[0].is_ok());
    let e = results[1].as_ref().unwrap_err();
    assert_eq!((e.code, e.field.as_str()), (InvalidSignature, "signature"));
    // A well-formed signature of zeros.
    let zeros = set(&good, "signature", json!("00".repeat(64)));
    let e = sign::verify(&assert_ok(&zeros)).unwrap_err();
    assert_eq!((e.code, e.field.as_str()), (InvalidSignature, "signature"));
    // Signed by another key than the one named.
    let other = sign::signing_key_from_hex(&"11".repeat(32)).unwrap();
    let forged = set(
        &good,
        "signature",
        json!(hex::encode(sign::sign(ok.record(), &other))),
    );
    let e = sign::verify(&assert_ok(&forged)).unwrap_err();
    assert_eq!(e.code, InvalidSignature);
}

// ---------------------------------------------------------------- id

#[test]
fn mismatching_id() {
    let a = assertion_json();
    let id = assert_ok(&a).id();
    assert_ok(&set(&a, "id", json!(id.to_hex())));
    assert_ok(&set(&a, "id", json!(id.to_hex().to_uppercase())));
    assert_err(&set(&a, "id", json!(TARGET)), InvalidValue, "id");
    // The id is checked against the content actually parsed.
    let changed = set(&set(&a, "id", json!(id.to_hex())), "confidence", json!(0.5));
    assert_err(&changed, InvalidValue, "id");
}

// ---------------------------------------------------------------- canonical bytes

fn canonical_vote() -> Vec<u8> {
    canonical::encode(&Record::Vote(vote()))
}

fn canonical_assertion() -> Vec<u8> {
    // subject "s", predicate "p", boolean object: tag at 12, value at 13.
    let mut a = assertion();
    a.object = Object::Boolean(true);
    canonical::encode(&Record::Assertion(a))
}

#[test]
fn decode_rejects_bad_version_and_kind() {
    let mut b = canonical_vote();
    b[0] = 2;
    assert_decode_err(&b, InvalidEncoding, "version");
    assert_decode_err(&[], InvalidEncoding, "version");
    let mut b = canonical_vote();
    b[1] = 6;
    assert_decode_err(&b, InvalidEncoding, "kind");
    b[1] = 0;
    assert_decode_err(&b, InvalidEncoding, "kind");
    assert_decode_err(&[1], InvalidEncoding, "kind");
}

#[test]
fn decode_rejects_bad_tags() {
    let b = canonical_assertion();
    assert_eq!((b[12], b[13]), (2, 1));
    let mut x = b.clone();
    x[12] = 4;
    assert_decode_err(&x, InvalidEncoding, "object.type");
    let mut x = b.clone();
    x[13] = 2;
    assert_decode_err(&x, InvalidEncoding, "object.value");
    // After the object: agent "a" (5), confidence (8), timestamp (8), then the
    // source option tag.
    let src = 14 + 5 + 8 + 8;
    assert_eq!(b[src], 0);
    let mut x = b.clone();
    x[src] = 2;
    assert_decode_err(&x, InvalidEncoding, "source");
    let mut x = b.clone();
    x[src + 1] = 7;
    assert_decode_err(&x, InvalidEncoding, "valid_from");
    let mut x = b.clone();
    x[src + 3] = 5;
    assert_decode_err(&x, InvalidEncoding, "lifecycle");
    let mut x = b.clone();
    x[src + 4] = 0xff;
    assert_decode_err(&x, InvalidEncoding, "parent");
}

#[test]
fn decode_rejects_non_utf8_and_trailing_and_truncated() {
    let mut b = canonical_assertion();
    b[6] = 0xff; // the subject byte
    assert_decode_err(&b, InvalidEncoding, "subject");
    let mut b = canonical_vote();
    b.push(0);
    assert_decode_err(&b, InvalidEncoding, "record");
    let b = canonical_vote();
    // Vote: version, kind, target (32), agent "a" (5), weight (8), timestamp (8).
    assert_decode_err(&b[..10], InvalidEncoding, "target");
    assert_decode_err(&b[..36], InvalidEncoding, "agent");
    assert_decode_err(&b[..40], InvalidEncoding, "weight");
    assert_decode_err(&b[..b.len() - 1], InvalidEncoding, "timestamp");
    // A string length far beyond the buffer is truncation, not an allocation.
    let mut b = canonical_vote();
    b[34..38].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_decode_err(&b, InvalidEncoding, "agent");
}

#[test]
fn decode_rejects_non_finite_and_negative_zero() {
    let b = canonical_vote();
    let w = 2 + 32 + 5;
    for bits in [
        f64::NAN.to_bits(),
        f64::INFINITY.to_bits(),
        0x7ff0_0000_0000_0001,
    ] {
        let mut x = b.clone();
        x[w..w + 8].copy_from_slice(&bits.to_le_bytes());
        assert_decode_err(&x, NonFinite, "weight");
    }
    let mut x = b.clone();
    x[w..w + 8].copy_from_slice(&(-0.0f64).to_bits().to_le_bytes());
    assert_decode_err(&x, InvalidEncoding, "weight");
    // Confidence of an assertion, after subject, predicate, object and agent.
    let b = canonical_assertion();
    let c = 14 + 5;
    let mut x = b.clone();
    x[c..c + 8].copy_from_slice(&f64::NAN.to_bits().to_le_bytes());
    assert_decode_err(&x, NonFinite, "confidence");
    // Trust score: version, kind, agent "a" (5), score.
    let mut x = canonical::encode(&Record::Trust(trust()));
    x[7..15].copy_from_slice(&f64::NEG_INFINITY.to_bits().to_le_bytes());
    assert_decode_err(&x, NonFinite, "score");
}

#[test]
fn decode_applies_validation() {
    // Structurally fine bytes of an invalid record fail validation.
    let mut b = canonical_vote();
    let w = 2 + 32 + 5;
    b[w..w + 8].copy_from_slice(&2.0f64.to_bits().to_le_bytes());
    assert_decode_err(&b, OutOfRange, "weight");
}

#[test]
fn stored_framing_errors() {
    let bad = |b: &[u8]| {
        let e = SignedRecord::from_stored(b).unwrap_err();
        (e.code, e.field)
    };
    assert_eq!(bad(&[]), (InvalidEncoding, "record".to_owned()));
    let mut b = vec![2];
    b.extend(canonical_vote());
    assert_eq!(bad(&b), (InvalidEncoding, "record".to_owned()));
    assert_eq!(bad(&[1; 64]), (InvalidEncoding, "record".to_owned()));
    let mut b = vec![0];
    b.extend(&canonical_vote()[..5]);
    assert_eq!(bad(&b), (InvalidEncoding, "target".to_owned()));
}

#[test]
fn error_codes_have_wire_names() {
    let all = [
        (MissingField, "missing_field"),
        (UnknownField, "unknown_field"),
        (InvalidType, "invalid_type"),
        (Empty, "empty"),
        (TooLong, "too_long"),
        (OutOfRange, "out_of_range"),
        (NonFinite, "non_finite"),
        (InvalidHex, "invalid_hex"),
        (InvalidValue, "invalid_value"),
        (InvalidSignature, "invalid_signature"),
        (InvalidEncoding, "invalid_encoding"),
    ];
    for (code, name) in all {
        assert_eq!(code.as_str(), name);
        assert_eq!(code.to_string(), name);
    }
    let e = ValidationError::new(TooLong, "subject", "is 513 bytes, limit 512");
    assert_eq!(e.to_string(), "subject: is 513 bytes, limit 512");
}

//! Property tests: arbitrary valid records survive every encoding round trip
//! with the same id, and malformed bytes are rejected without panicking.

use proptest::prelude::*;
use serde_json::Value;
use stemedb_records::hlc::Hlc;
use stemedb_records::limits::*;
use stemedb_records::{
    Assertion, Epoch, Lifecycle, Object, Record, RecordId, Retraction, SignedRecord, Source, Trust,
    Vote, canonical, sign, wire,
};

// ---------------------------------------------------------------- generators

/// A string of at most `max` bytes: usually short arbitrary Unicode, sometimes
/// right at the limit. NUL is removed unless allowed; an empty result becomes
/// `"s"` unless empty is allowed.
fn string(max: usize, allow_empty: bool, allow_nul: bool) -> impl Strategy<Value = String> {
    let short = proptest::collection::vec(any::<char>(), 0..24)
        .prop_map(|v| v.into_iter().collect::<String>());
    let near_limit = (0..=3usize, any::<char>()).prop_map(move |(d, c)| {
        // A multi-byte char at the end exercises the byte (not char) limit.
        let mut s = "a".repeat(max.saturating_sub(d + c.len_utf8()));
        s.push(c);
        s
    });
    prop_oneof![12 => short, 1 => near_limit].prop_map(move |mut s| {
        if !allow_nul {
            s = s.replace('\0', "");
        }
        while s.len() > max {
            s.pop();
        }
        if !allow_empty && s.is_empty() {
            s.push('s');
        }
        s
    })
}

fn name_like(max: usize) -> impl Strategy<Value = String> {
    string(max, false, false)
}

fn agent() -> impl Strategy<Value = String> {
    name_like(AGENT_MAX)
}

/// Floats in [0, 1] across every exponent (bit patterns of 0..=1.0 are
/// monotonic), plus the edges and `-0.0`.
fn unit() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(-0.0),
        Just(1.0),
        0.0..=1.0f64,
        (0u64..=1.0f64.to_bits()).prop_map(f64::from_bits),
    ]
}

fn weight() -> impl Strategy<Value = f64> {
    (unit(), any::<bool>()).prop_map(|(v, neg)| if neg { -v } else { v })
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(-0.0),
        Just(0.0),
        -1e6..1e6f64,
        any::<u64>()
            .prop_map(f64::from_bits)
            .prop_filter("finite", |v| v.is_finite()),
    ]
}

fn timestamp() -> impl Strategy<Value = i64> {
    prop_oneof![Just(0), Just(TIMESTAMP_MAX), 0..=TIMESTAMP_MAX]
}

fn valid_time() -> impl Strategy<Value = (Option<i64>, Option<i64>)> {
    let t = prop_oneof![
        Just(VALID_TIME_MIN),
        Just(TIMESTAMP_MAX),
        VALID_TIME_MIN..=TIMESTAMP_MAX
    ];
    (proptest::option::of(t.clone()), proptest::option::of(t)).prop_map(|(a, b)| match (a, b) {
        (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
        other => other,
    })
}

fn id() -> impl Strategy<Value = RecordId> {
    any::<[u8; 32]>().prop_map(RecordId)
}

fn object() -> impl Strategy<Value = Object> {
    prop_oneof![
        string(TEXT_MAX, true, true).prop_map(Object::Text),
        finite().prop_map(Object::Number),
        any::<bool>().prop_map(Object::Boolean),
        name_like(SUBJECT_MAX).prop_map(Object::Ref),
    ]
}

fn source() -> impl Strategy<Value = Source> {
    (string(URI_MAX, false, true), 0..=SOURCE_CLASS_MAX)
        .prop_map(|(uri, class)| Source { uri, class })
}

fn lifecycle() -> impl Strategy<Value = Lifecycle> {
    proptest::sample::select(Lifecycle::ALL.to_vec())
}

fn assertion() -> impl Strategy<Value = Record> {
    (
        (
            name_like(SUBJECT_MAX),
            name_like(PREDICATE_MAX),
            object(),
            agent(),
            unit(),
            timestamp(),
        ),
        (
            proptest::option::of(source()),
            valid_time(),
            lifecycle(),
            proptest::option::of(id()),
            proptest::option::of(id()),
        ),
    )
        .prop_map(
            |(
                (subject, predicate, object, agent, confidence, timestamp),
                (source, (valid_from, valid_to), lifecycle, parent, epoch),
            )| {
                Record::Assertion(Assertion {
                    subject,
                    predicate,
                    object,
                    agent,
                    confidence,
                    timestamp,
                    source,
                    valid_from,
                    valid_to,
                    lifecycle,
                    parent,
                    epoch,
                })
            },
        )
}

fn retraction() -> impl Strategy<Value = Record> {
    (
        id(),
        agent(),
        proptest::option::of(string(REASON_MAX, true, true)),
        timestamp(),
    )
        .prop_map(|(target, agent, reason, timestamp)| {
            Record::Retraction(Retraction {
                target,
                agent,
                reason,
                timestamp,
            })
        })
}

fn vote() -> impl Strategy<Value = Record> {
    (id(), agent(), weight(), timestamp()).prop_map(|(target, agent, weight, timestamp)| {
        Record::Vote(Vote {
            target,
            agent,
            weight,
            timestamp,
        })
    })
}

fn trust() -> impl Strategy<Value = Record> {
    (agent(), unit(), agent(), timestamp()).prop_map(|(agent, score, issuer, timestamp)| {
        Record::Trust(Trust {
            agent,
            score,
            issuer,
            timestamp,
        })
    })
}

fn epoch() -> impl Strategy<Value = Record> {
    (
        string(EPOCH_NAME_MAX, false, true),
        string(SUBJECT_MAX, true, false),
        proptest::option::of(id()),
        string(REASON_MAX, true, true),
        agent(),
        timestamp(),
    )
        .prop_map(
            |(name, subject_prefix, supersedes, reason, agent, timestamp)| {
                Record::Epoch(Epoch {
                    name,
                    subject_prefix,
                    supersedes,
                    reason,
                    agent,
                    timestamp,
                })
            },
        )
}

/// Any valid record of any kind.
fn record() -> impl Strategy<Value = Record> {
    prop_oneof![
        3 => assertion(),
        1 => retraction(),
        1 => vote(),
        1 => trust(),
        1 => epoch(),
    ]
}

fn set_signer(record: &mut Record, key: String) {
    match record {
        Record::Assertion(a) => a.agent = key,
        Record::Retraction(r) => r.agent = key,
        Record::Vote(v) => v.agent = key,
        Record::Trust(t) => t.issuer = key,
        Record::Epoch(e) => e.agent = key,
    }
}

/// A record, signed (by a key from the generated seed) about half the time.
fn signed_record() -> impl Strategy<Value = SignedRecord> {
    (record(), proptest::option::of(any::<[u8; 32]>())).prop_map(|(mut rec, seed)| match seed {
        None => SignedRecord::new(rec, None).unwrap(),
        Some(seed) => {
            let key = sign::signing_key_from_hex(&hex::encode(seed)).unwrap();
            set_signer(&mut rec, sign::public_hex(&key));
            let sig = sign::sign(&rec, &key);
            SignedRecord::new(rec, Some(sig)).unwrap()
        }
    })
}

// ---------------------------------------------------------------- helpers

/// The record as the canonical bytes hold it (`-0.0` becomes `0.0`).
fn normalised(r: &Record) -> Record {
    SignedRecord::new(r.clone(), None).unwrap().into_record()
}

fn next(state: &mut u64) -> u64 {
    // xorshift64*; the state must not be zero.
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// Serialises `v` with the keys of every object in a random order.
fn shuffled_json(v: &Value, state: &mut u64) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            for i in (1..keys.len()).rev() {
                let j = (next(state) % (i as u64 + 1)) as usize;
                keys.swap(i, j);
            }
            let parts: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        serde_json::to_string(k).unwrap(),
                        shuffled_json(&m[k.as_str()], state)
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        other => serde_json::to_string(other).unwrap(),
    }
}

/// Prefix lengths to try: all of them for small encodings, else a spread.
fn truncations(len: usize, seed: u64) -> Vec<usize> {
    if len <= 600 {
        return (0..len).collect();
    }
    let mut state = seed | 1;
    let mut v: Vec<usize> = (0..64)
        .map(|_| (next(&mut state) % len as u64) as usize)
        .collect();
    v.extend([0, 1, 2, len - 1, len - 2, len - 8, len - 33]);
    v
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn canonical_round_trip(rec in record()) {
        let bytes = canonical::encode(&rec);
        let decoded = canonical::decode(&bytes).unwrap();
        prop_assert_eq!(&decoded, &normalised(&rec));
        prop_assert_eq!(decoded.id(), rec.id());
        prop_assert_eq!(canonical::encode(&decoded), bytes.clone());
        prop_assert_eq!(RecordId::of(&bytes), rec.id());
        prop_assert_eq!(bytes[0], canonical::VERSION);
        prop_assert_eq!(bytes[1], rec.kind() as u8);
    }

    #[test]
    fn json_round_trip_keeps_id(rec in signed_record()) {
        let json = wire::to_json(&rec);
        let back = wire::parse_record(&json, &Hlc::new()).unwrap();
        prop_assert_eq!(back.id(), rec.id());
        prop_assert_eq!(back.record(), rec.record());
        prop_assert_eq!(back.signature(), rec.signature());
        prop_assert!(sign::verify(&back).is_ok());
        // Through text as well, as a client would see it.
        let text = serde_json::to_string(&json).unwrap();
        let reparsed: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(wire::parse_record(&reparsed, &Hlc::new()).unwrap().id(), rec.id());
    }

    #[test]
    fn json_key_order_does_not_change_id(rec in signed_record(), seed in any::<u64>()) {
        let json = wire::to_json(&rec);
        let mut state = seed | 1;
        let text = shuffled_json(&json, &mut state);
        let parsed: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&parsed, &json);
        let back = wire::parse_record(&parsed, &Hlc::new()).unwrap();
        prop_assert_eq!(back.id(), rec.id());
        prop_assert_eq!(back.canonical(), rec.canonical());
    }

    #[test]
    fn stored_framing_round_trip(rec in signed_record()) {
        let stored = rec.to_stored();
        prop_assert_eq!(stored.len(), rec.stored_len());
        prop_assert_eq!(stored[0], u8::from(rec.signature().is_some()));
        let back = SignedRecord::from_stored(&stored).unwrap();
        prop_assert_eq!(&back, &rec);
        prop_assert_eq!(back.id(), rec.id());
        prop_assert!(sign::verify(&back).is_ok());
        let mut appended = vec![0xAA];
        rec.write_stored(&mut appended);
        prop_assert_eq!(&appended[1..], &stored[..]);
    }

    #[test]
    fn negative_zero_has_the_same_id_as_zero(rec in record()) {
        let mut neg = rec.clone();
        let mut pos = rec;
        match (&mut neg, &mut pos) {
            (Record::Assertion(n), Record::Assertion(p)) => {
                n.object = Object::Number(-0.0);
                p.object = Object::Number(0.0);
                n.confidence = -0.0;
                p.confidence = 0.0;
            }
            (Record::Vote(n), Record::Vote(p)) => {
                n.weight = -0.0;
                p.weight = 0.0;
            }
            (Record::Trust(n), Record::Trust(p)) => {
                n.score = -0.0;
                p.score = 0.0;
            }
            _ => {}
        }
        prop_assert_eq!(canonical::encode(&neg), canonical::encode(&pos));
        prop_assert_eq!(neg.id(), pos.id());
        let n = SignedRecord::new(neg, None).unwrap();
        let p = SignedRecord::new(pos, None).unwrap();
        prop_assert_eq!(n.id(), p.id());
        prop_assert_eq!(n.record(), p.record());
        prop_assert_eq!(&n, &p);
    }

    #[test]
    fn every_truncation_fails_to_decode(rec in signed_record(), seed in any::<u64>()) {
        let bytes = rec.canonical().to_vec();
        for len in truncations(bytes.len(), seed) {
            prop_assert!(
                canonical::decode(&bytes[..len]).is_err(),
                "prefix of {} of {} bytes decoded", len, bytes.len()
            );
        }
        let stored = rec.to_stored();
        for len in truncations(stored.len(), seed) {
            prop_assert!(SignedRecord::from_stored(&stored[..len]).is_err());
        }
        // Trailing bytes are rejected too.
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(canonical::decode(&longer).is_err());
    }

    #[test]
    fn random_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        kind in 0u8..=6,
    ) {
        let _ = canonical::decode(&bytes);
        let _ = SignedRecord::from_stored(&bytes);
        // With a valid header the decoder gets past the first two bytes.
        let mut with_header = vec![canonical::VERSION, kind];
        with_header.extend_from_slice(&bytes);
        if let Ok(rec) = canonical::decode(&with_header) {
            prop_assert_eq!(canonical::encode(&rec), with_header.clone());
        }
        let mut framed = vec![0];
        framed.extend_from_slice(&with_header);
        let _ = SignedRecord::from_stored(&framed);
    }

    /// Changing any byte of a valid encoding either fails to decode or yields
    /// a record whose encoding is exactly the changed bytes: one record, one
    /// byte string.
    #[test]
    fn mutated_bytes_decode_canonically_or_fail(
        rec in record(),
        pos in any::<prop::sample::Index>(),
        val in any::<u8>(),
    ) {
        let mut bytes = canonical::encode(&rec);
        let i = pos.index(bytes.len());
        bytes[i] = val;
        if let Ok(decoded) = canonical::decode(&bytes) {
            prop_assert_eq!(canonical::encode(&decoded), bytes);
        }
    }
}

#[test]
fn negative_zero_json_number_is_normalised() {
    let mk = |v: &str| {
        let json: Value = serde_json::from_str(&format!(
            r#"{{"subject":"s","predicate":"p","object":{{"type":"number","value":{v}}},"agent":"a","timestamp":1}}"#
        ))
        .unwrap();
        wire::parse_record(&json, &Hlc::new()).unwrap()
    };
    let neg = mk("-0.0");
    let pos = mk("0.0");
    let int = mk("0");
    assert_eq!(neg.id(), pos.id());
    assert_eq!(int.id(), pos.id());
    assert_eq!(neg.record(), pos.record());
    match neg.record() {
        Record::Assertion(a) => {
            assert_eq!(a.object, Object::Number(0.0));
            assert!(matches!(a.object, Object::Number(n) if n.is_sign_positive()));
        }
        _ => unreachable!(),
    }
    // The -0.0 bit pattern itself is not canonical. Layout: version, kind,
    // "s" (4+1), "p" (4+1), object tag at 12, the f64 at 13..21 (LE, so the
    // sign bit is in byte 20).
    let mut bytes = pos.canonical().to_vec();
    assert_eq!(bytes[12], 1, "number tag");
    assert_eq!(bytes[13..21], [0u8; 8]);
    bytes[20] = 0x80;
    let err = canonical::decode(&bytes).unwrap_err();
    assert_eq!(err.code, stemedb_records::ErrorCode::InvalidEncoding);
    assert_eq!(err.field, "object.value");
}

//! Records for tests, one builder per kind. `n` makes each record distinct
//! (value, agent or reason) and sets its timestamp to `1_700_000_000_000 + n`.

use serde_json::json;
use stemedb_records::hlc::Hlc;
use stemedb_records::{
    Assertion, Epoch, Lifecycle, Object, Record, RecordId, Retraction, SignedRecord, Trust, Vote,
    sign, wire,
};

const T0: i64 = 1_700_000_000_000;

/// A text claim with every field given, parsed from its wire form as a
/// client would send it.
pub fn claim(subject: &str, predicate: &str, value: &str, agent: &str, ts: i64) -> SignedRecord {
    wire::parse_assertion(
        &json!({"subject": subject, "predicate": predicate,
                "object": {"type": "text", "value": value}, "agent": agent, "timestamp": ts}),
        &Hlc::new(),
    )
    .expect("valid claim")
}

/// An assertion record with no optional fields, timestamped `T0 + n`.
fn plain(
    subject: &str,
    predicate: &str,
    object: Object,
    agent: String,
    confidence: f64,
    n: u64,
) -> Record {
    Record::Assertion(Assertion {
        subject: subject.into(),
        predicate: predicate.into(),
        object,
        agent,
        confidence,
        timestamp: T0 + n as i64,
        source: None,
        valid_from: None,
        valid_to: None,
        lifecycle: Lifecycle::Proposed,
        parent: None,
        epoch: None,
    })
}

/// An unsigned assertion `subject p "value n"` by `agent`.
pub fn assertion(subject: &str, n: u64) -> SignedRecord {
    let rec = plain(
        subject,
        "p",
        Object::Text(format!("value {n}")),
        "agent".into(),
        0.9,
        n,
    );
    SignedRecord::new(rec, None).expect("valid assertion")
}

/// An assertion signed by `key` (its agent is the key's public hex).
pub fn signed_assertion(key: &ed25519_dalek::SigningKey, subject: &str, n: u64) -> SignedRecord {
    let rec = plain(
        subject,
        "signed",
        Object::Number(n as f64),
        sign::public_hex(key),
        1.0,
        n,
    );
    let sig = sign::sign(&rec, key);
    SignedRecord::new(rec, Some(sig)).expect("valid signed assertion")
}

/// A vote of weight 0.5 by `voter{n}` on `target`.
pub fn vote(target: RecordId, n: u64) -> SignedRecord {
    SignedRecord::new(
        Record::Vote(Vote {
            target,
            agent: format!("voter{n}"),
            weight: 0.5,
            timestamp: T0 + n as i64,
        }),
        None,
    )
    .expect("valid vote")
}

/// A retraction of `target` with reason `reason n`.
pub fn retraction(target: RecordId, n: u64) -> SignedRecord {
    SignedRecord::new(
        Record::Retraction(Retraction {
            target,
            agent: "agent".into(),
            reason: Some(format!("reason {n}")),
            timestamp: T0 + n as i64,
        }),
        None,
    )
    .expect("valid retraction")
}

/// A trust score of 0.5 for `agent`, issued by `admin`.
pub fn trust(agent: &str, n: u64) -> SignedRecord {
    SignedRecord::new(
        Record::Trust(Trust {
            agent: agent.into(),
            score: 0.5,
            issuer: "admin".into(),
            timestamp: T0 + n as i64,
        }),
        None,
    )
    .expect("valid trust")
}

/// An epoch `name` over every subject, superseding `supersedes`.
pub fn epoch(name: &str, supersedes: Option<RecordId>, n: u64) -> SignedRecord {
    SignedRecord::new(
        Record::Epoch(Epoch {
            name: name.into(),
            subject_prefix: String::new(),
            supersedes,
            reason: "test".into(),
            agent: "admin".into(),
            timestamp: T0 + n as i64,
        }),
        None,
    )
    .expect("valid epoch")
}

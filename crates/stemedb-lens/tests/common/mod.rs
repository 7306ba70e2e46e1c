//! Builders shared by the integration tests.

#![allow(dead_code)]

use stemedb_lens::{Candidate, CandidateVote};
use stemedb_records::{Assertion, Lifecycle, Object, Record, RecordId, Source, Vote};

/// A text assertion on `drug:semaglutide` / `side_effect`-like keys.
pub fn claim(
    subject: &str,
    predicate: &str,
    value: &str,
    agent: &str,
    confidence: f64,
    timestamp: i64,
    class: Option<u8>,
) -> Assertion {
    Assertion {
        subject: subject.into(),
        predicate: predicate.into(),
        object: Object::Text(value.into()),
        agent: agent.into(),
        confidence,
        timestamp,
        source: class.map(|class| Source {
            uri: format!("https://example.org/{agent}"),
            class,
        }),
        valid_from: None,
        valid_to: None,
        lifecycle: Lifecycle::Proposed,
        parent: None,
        epoch: None,
    }
}

/// A candidate whose id is the real content address of the assertion.
pub fn candidate(a: Assertion) -> Candidate {
    Candidate::new(Record::Assertion(a.clone()).id(), a)
}

/// A vote on `target` with its real content address.
pub fn vote(target: RecordId, agent: &str, weight: f64, timestamp: i64) -> CandidateVote {
    let v = Vote {
        target,
        agent: agent.into(),
        weight,
        timestamp,
    };
    CandidateVote::from_vote(Record::Vote(v.clone()).id(), &v)
}

/// A text object.
pub fn text(s: &str) -> Object {
    Object::Text(s.into())
}

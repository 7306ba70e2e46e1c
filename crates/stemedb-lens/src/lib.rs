//! StemeDB lenses: read-time resolution of conflicting claims (SPEC §2).
//!
//! A lens is a pure, deterministic function from a candidate set (the
//! assertions that survived the query's filters, with their votes) and the
//! agents' trust scores to a [`Resolution`]: a winning value, the winning
//! assertion ids, a confidence, a conflict score and an explanation of the
//! support behind every distinct value. The same set in any order gives a
//! byte-identical [`Resolution::to_json`] on every node. No I/O happens here.
//!
//! # Layout
//! - [`candidate`]: the inputs — [`Candidate`], [`CandidateVote`],
//!   [`TrustMap`] — and the canonical (sorted, de-duplicated) view lenses use.
//! - [`support`]: support per distinct value, shares and the conflict score,
//!   shared by every lens.
//! - [`lens`]: the [`Lens`] enum, its parsing, and [`resolve`]; one
//!   sub-module per lens: `recency`, `authority`, `consensus`, `confidence`,
//!   `skeptic`, `layered`.
//! - [`resolution`]: [`Resolution`] and its JSON form (SPEC §3).
//!
//! The exact rules, tie-breaks and a worked example are in `docs/lenses.md`.
//!
//! # Example
//! ```
//! use stemedb_lens::{Candidate, Lens, TrustMap, resolve};
//! use stemedb_records::{Assertion, Lifecycle, Object, Record};
//!
//! let claim = |agent: &str, value: &str, timestamp: i64| {
//!     let a = Assertion {
//!         subject: "drug:semaglutide".into(),
//!         predicate: "side_effect".into(),
//!         object: Object::Text(value.into()),
//!         agent: agent.into(),
//!         confidence: 1.0,
//!         timestamp,
//!         source: None,
//!         valid_from: None,
//!         valid_to: None,
//!         lifecycle: Lifecycle::Proposed,
//!         parent: None,
//!         epoch: None,
//!     };
//!     Candidate::new(Record::Assertion(a.clone()).id(), a)
//! };
//! let set = [
//!     claim("alice", "nausea", 1_700_000_000_000),
//!     claim("bob", "nausea", 1_700_000_001_000),
//!     claim("carol", "hair loss", 1_700_000_002_000),
//! ];
//! let lens: Lens = "consensus".parse()?;
//! let r = resolve(lens, &set, &TrustMap::new());
//! assert_eq!(r.value, Some(Object::Text("nausea".into())));
//! assert_eq!(r.winners.len(), 2);
//! assert!((r.confidence - 2.0 / 3.0).abs() < 1e-12);
//! assert_eq!(r.to_json()["explanation"][0]["support"], 2.0);
//!
//! let newest = resolve(Lens::Recency, &set, &TrustMap::new());
//! assert_eq!(newest.value, Some(Object::Text("hair loss".into())));
//! # Ok::<(), stemedb_lens::ParseLensError>(())
//! ```

#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod candidate;
pub mod lens;
pub mod resolution;
pub mod support;

pub use candidate::{Candidate, CandidateVote, DEFAULT_TRUST, TrustMap};
pub use lens::{Lens, ParseLensError, resolve};
pub use resolution::{AGREED_SHARE, ClassResolution, Resolution, SkepticStatus, ValueSupport};

/// Source class of an assertion without `source` in the `layered` lens.
pub const UNCLASSIFIED: u8 = 6;

#[cfg(test)]
pub(crate) mod testutil {
    //! Builders for unit tests.

    use stemedb_records::{Assertion, Lifecycle, Object, Record, RecordId, Source, Vote};

    use crate::{Candidate, CandidateVote};

    pub fn obj(s: &str) -> Object {
        Object::Text(s.to_owned())
    }

    fn assertion(
        subject: &str,
        predicate: &str,
        object: Object,
        agent: &str,
        ts: i64,
    ) -> Assertion {
        Assertion {
            subject: subject.into(),
            predicate: predicate.into(),
            object,
            agent: agent.into(),
            confidence: 1.0,
            timestamp: ts,
            source: None,
            valid_from: None,
            valid_to: None,
            lifecycle: Lifecycle::Proposed,
            parent: None,
            epoch: None,
        }
    }

    pub fn text(subject: &str, predicate: &str, v: &str, agent: &str, ts: i64) -> Assertion {
        assertion(subject, predicate, obj(v), agent, ts)
    }

    pub fn num(subject: &str, predicate: &str, v: f64, agent: &str, ts: i64) -> Assertion {
        assertion(subject, predicate, Object::Number(v), agent, ts)
    }

    pub fn conf(mut a: Assertion, c: f64) -> Assertion {
        a.confidence = c;
        a
    }

    pub fn sourced(mut a: Assertion, class: u8) -> Assertion {
        a.source = Some(Source {
            uri: format!("https://example.org/{}", a.agent),
            class,
        });
        a
    }

    pub fn cand(a: &Assertion) -> Candidate {
        Candidate::new(Record::Assertion(a.clone()).id(), a.clone())
    }

    pub fn vote(agent: &str, weight: f64, ts: i64) -> CandidateVote {
        let v = Vote {
            target: RecordId([0; 32]),
            agent: agent.into(),
            weight,
            timestamp: ts,
        };
        CandidateVote::from_vote(Record::Vote(v.clone()).id(), &v)
    }
}

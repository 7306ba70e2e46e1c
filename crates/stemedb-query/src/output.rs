//! The response of a query, in the JSON shape of SPEC §3.
//!
//! [`QueryResult::json`] serializes straight into the output buffer (typed
//! structs, hex into stack buffers, no `serde_json::Value` trees); keys are
//! written in byte order, so the bytes equal those of a `Value` rendering of
//! the same content ([`QueryResult::to_json`], kept for callers that want a
//! `Value`).

use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use stemedb_lens::Resolution;
use stemedb_records::render::AssertionJson;
use stemedb_records::{Assertion, RecordId};

/// One listed candidate.
#[derive(Debug, Clone)]
pub struct CandidateOut {
    /// The assertion's id.
    pub id: RecordId,
    /// The stored assertion.
    pub assertion: Arc<Assertion>,
    /// Its signature, if it was signed.
    pub signature: Option<[u8; 64]>,
    /// Whether it was retracted (as of the query time).
    pub retracted: bool,
}

impl CandidateOut {
    /// `{"id", ...every field as written, "signature"?, "retracted"}`.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl Serialize for CandidateOut {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        AssertionJson {
            id: &self.id,
            assertion: &self.assertion,
            signature: self.signature.as_ref(),
            retracted: Some(self.retracted),
        }
        .serialize(s)
    }
}

/// One (subject, predicate) of the answer.
#[derive(Debug, Clone)]
pub struct PairResult {
    /// Subject.
    pub subject: String,
    /// Predicate.
    pub predicate: String,
    /// The candidates on this page.
    pub candidates: Vec<CandidateOut>,
    /// The lens resolution over every surviving candidate (not just this page).
    pub resolution: Option<Resolution>,
}

/// A page of query results.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// One entry per (subject, predicate) on this page.
    pub results: Vec<PairResult>,
    /// Cursor for the next page, `None` when this is the last.
    pub next_cursor: Option<String>,
}

/// The SPEC §3 response body of a [`QueryResult`], ready to serialize.
#[derive(Debug, Clone, Copy)]
pub struct QueryJson<'a> {
    result: &'a QueryResult,
    candidates: bool,
}

struct PairJson<'a> {
    pair: &'a PairResult,
    candidates: bool,
}

impl Serialize for QueryJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("next_cursor", &self.result.next_cursor)?;
        m.serialize_entry("results", &Pairs(*self))?;
        m.end()
    }
}

struct Pairs<'a>(QueryJson<'a>);

impl Serialize for Pairs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let candidates = self.0.candidates;
        s.collect_seq(
            self.0
                .result
                .results
                .iter()
                .map(|pair| PairJson { pair, candidates }),
        )
    }
}

impl Serialize for PairJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.pair;
        let mut m = s.serialize_map(None)?;
        if self.candidates {
            m.serialize_entry("candidates", &p.candidates)?;
        }
        m.serialize_entry("predicate", &p.predicate)?;
        m.serialize_entry("resolution", &p.resolution)?;
        m.serialize_entry("subject", &p.subject)?;
        m.end()
    }
}

impl QueryResult {
    /// The SPEC §3 response body; `candidates = false` leaves each result's
    /// `candidates` list out (`candidates=false`: callers that need only the
    /// answer). The resolution is the same either way.
    pub fn json(&self, candidates: bool) -> QueryJson<'_> {
        QueryJson {
            result: self,
            candidates,
        }
    }

    /// The response body serialized into a buffer sized for it.
    pub fn to_json_bytes(&self, candidates: bool) -> serde_json::Result<Vec<u8>> {
        let listed: usize = self.results.iter().map(|r| r.candidates.len()).sum();
        let explained: usize = self
            .results
            .iter()
            .filter_map(|r| r.resolution.as_ref())
            .map(|r| r.candidates)
            .sum();
        let guess = 64
            + self.results.len() * 160
            + explained * 80
            + if candidates { listed * 400 } else { 0 };
        let mut out = Vec::with_capacity(guess);
        serde_json::to_writer(&mut out, &self.json(candidates))?;
        Ok(out)
    }

    /// The SPEC §3 response body as a `Value`.
    pub fn to_json(&self) -> Value {
        self.to_json_with(true)
    }

    /// [`QueryResult::json`] as a `Value`.
    pub fn to_json_with(&self, candidates: bool) -> Value {
        serde_json::to_value(self.json(candidates)).unwrap_or(Value::Null)
    }
}

//! The response of a query, in the JSON shape of SPEC §3.

use serde_json::{Value, json};
use stemedb_lens::Resolution;
use stemedb_records::{SignedRecord, wire};

/// One listed candidate.
#[derive(Debug, Clone)]
pub struct CandidateOut {
    /// The stored assertion.
    pub record: SignedRecord,
    /// Whether it was retracted (as of the query time).
    pub retracted: bool,
}

impl CandidateOut {
    /// `{"id", ...every field as written, "signature"?, "retracted"}`.
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("id".into(), json!(self.record.id().to_hex()));
        m.extend(wire::record_fields(self.record.record()));
        if let Some(sig) = self.record.signature() {
            m.insert("signature".into(), json!(hex::encode(sig)));
        }
        m.insert("retracted".into(), json!(self.retracted));
        Value::Object(m)
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

impl QueryResult {
    /// The SPEC §3 response body.
    pub fn to_json(&self) -> Value {
        self.to_json_with(true)
    }

    /// The SPEC §3 response body; `candidates = false` leaves each result's
    /// `candidates` list out (`candidates=false`: callers that need only the
    /// answer). The resolution is the same either way.
    pub fn to_json_with(&self, candidates: bool) -> Value {
        json!({
            "results": self.results.iter().map(|r| {
                let mut m = serde_json::Map::new();
                m.insert("subject".into(), json!(r.subject));
                m.insert("predicate".into(), json!(r.predicate));
                if candidates {
                    m.insert(
                        "candidates".into(),
                        Value::Array(r.candidates.iter().map(CandidateOut::to_json).collect()),
                    );
                }
                m.insert(
                    "resolution".into(),
                    r.resolution.as_ref().map_or(Value::Null, Resolution::to_json),
                );
                Value::Object(m)
            }).collect::<Vec<_>>(),
            "next_cursor": self.next_cursor,
        })
    }
}

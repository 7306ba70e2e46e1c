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
        json!({
            "results": self.results.iter().map(|r| json!({
                "subject": r.subject,
                "predicate": r.predicate,
                "candidates": r.candidates.iter().map(CandidateOut::to_json).collect::<Vec<_>>(),
                "resolution": r.resolution.as_ref().map(Resolution::to_json),
            })).collect::<Vec<_>>(),
            "next_cursor": self.next_cursor,
        })
    }
}

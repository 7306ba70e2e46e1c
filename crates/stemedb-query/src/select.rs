//! Reading one (subject, predicate) group from the store and deciding, for
//! each assertion, whether it is listed and whether it is a lens candidate.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use stemedb_lens::{Candidate, CandidateVote, UNCLASSIFIED};
use stemedb_records::{Assertion, Kind, Record, RecordId, SignedRecord};
use stemedb_storage::{EpochEntry, LogPos, Store, SubjectEntry};

use crate::params::Query;

/// An assertion of the group that passed the query's filters.
#[derive(Debug, Clone)]
pub struct Member {
    /// Where it is in the log (part of the cursor order).
    pub pos: LogPos,
    /// The assertion's record id.
    pub id: RecordId,
    /// Its signature, if it was signed.
    pub signature: Option<[u8; 64]>,
    /// The assertion (shared with the lens input, not copied).
    pub assertion: Arc<Assertion>,
    /// Retracted at the query's time.
    pub retracted: bool,
    /// Votes cast on it up to the query's time.
    pub votes: Vec<CandidateVote>,
}

impl Member {
    /// Lens input for this member.
    pub fn candidate(&self) -> Candidate {
        Candidate::new(self.id, self.assertion.clone()).with_votes(self.votes.clone())
    }
}

/// Epoch ids superseded at `as_of` for `subject`.
pub fn superseded(epochs: &[EpochEntry], subject: &str, as_of: Option<i64>) -> HashSet<RecordId> {
    epochs
        .iter()
        .filter(|e| as_of.is_none_or(|t| e.epoch.timestamp <= t))
        .filter(|e| subject.starts_with(&e.epoch.subject_prefix))
        .filter_map(|e| e.epoch.supersedes)
        .collect()
}

/// Reads one group's records and returns the members that pass the filters,
/// in index order (timestamp, position).
pub fn members(
    store: &Store,
    q: &Query,
    entries: &[SubjectEntry],
    superseded: &HashSet<RecordId>,
) -> stemedb_storage::Result<Vec<Member>> {
    let visible = |ts: i64| q.as_of.is_none_or(|t| ts <= t);
    let mut retracted: HashSet<RecordId> = HashSet::new();
    let mut votes: HashMap<RecordId, Vec<CandidateVote>> = HashMap::new();
    let mut assertions: Vec<(LogPos, SignedRecord)> = Vec::new();
    for e in entries {
        if !visible(e.timestamp) {
            continue;
        }
        let rec = store.read_at(e.pos)?;
        match (e.kind, rec.record()) {
            (Kind::Assertion, _) => assertions.push((e.pos, rec)),
            (Kind::Retraction, Record::Retraction(r)) => {
                retracted.insert(r.target);
            }
            (Kind::Vote, Record::Vote(v)) => {
                votes
                    .entry(v.target)
                    .or_default()
                    .push(CandidateVote::from_vote(rec.id(), v));
            }
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(assertions.len());
    for (pos, rec) in assertions {
        let Record::Assertion(a) = rec.record() else {
            continue;
        };
        if !passes(q, a, superseded) {
            continue;
        }
        let id = rec.id();
        let signature = rec.signature().copied();
        let Record::Assertion(assertion) = rec.into_record() else {
            continue;
        };
        out.push(Member {
            pos,
            id,
            signature,
            retracted: retracted.contains(&id),
            votes: votes.remove(&id).unwrap_or_default(),
            assertion: Arc::new(assertion),
        });
    }
    Ok(out)
}

/// The per-assertion filters (everything except retraction).
pub fn passes(q: &Query, a: &Assertion, superseded: &HashSet<RecordId>) -> bool {
    if q.as_of.is_some_and(|t| a.timestamp > t) {
        return false;
    }
    if q.lifecycle.is_some_and(|l| a.lifecycle != l) {
        return false;
    }
    if q.source_class
        .is_some_and(|c| a.source.as_ref().map_or(UNCLASSIFIED, |s| s.class) != c)
    {
        return false;
    }
    if q.agent.as_deref().is_some_and(|ag| a.agent != ag) {
        return false;
    }
    if q.valid_at
        .is_some_and(|t| a.valid_from.is_some_and(|f| t < f) || a.valid_to.is_some_and(|u| t > u))
    {
        return false;
    }
    match q.epoch {
        Some(e) => a.epoch == Some(e),
        None => a.epoch.is_none_or(|e| !superseded.contains(&e)),
    }
}

//! Lens inputs: candidate assertions with their votes, and agent trust.
//!
//! The query layer builds these after filtering (retracted assertions,
//! superseded epochs and, with `as_of`, records newer than the cut-off are
//! already gone). This module also holds the canonical, order-free view of a
//! candidate set that every lens works on.

use std::collections::HashMap;
use std::sync::Arc;

use stemedb_records::{Assertion, RecordId, Vote};

/// Trust of an agent that has no trust record (SPEC §2).
pub const DEFAULT_TRUST: f64 = 0.5;

/// One vote on a candidate assertion, as the lens sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateVote {
    /// Id of the vote record.
    pub id: RecordId,
    /// Who voted.
    pub agent: String,
    /// Weight in [-1, 1]; out-of-range values are clamped, non-finite ones count as 0.
    pub weight: f64,
    /// When the vote was cast, ms since the Unix epoch.
    pub timestamp: i64,
}

impl CandidateVote {
    /// Builds a vote from its parts.
    pub fn new(id: RecordId, agent: impl Into<String>, weight: f64, timestamp: i64) -> Self {
        CandidateVote {
            id,
            agent: agent.into(),
            weight,
            timestamp,
        }
    }

    /// Builds a vote from a stored vote record and its id.
    pub fn from_vote(id: RecordId, vote: &Vote) -> Self {
        CandidateVote::new(id, vote.agent.clone(), vote.weight, vote.timestamp)
    }
}

/// A surviving assertion together with the votes cast on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Id of the assertion record.
    pub id: RecordId,
    /// The assertion.
    pub assertion: Arc<Assertion>,
    /// Votes on this assertion (already cut at `as_of` by the query layer).
    pub votes: Vec<CandidateVote>,
}

impl Candidate {
    /// A candidate without votes.
    pub fn new(id: RecordId, assertion: impl Into<Arc<Assertion>>) -> Self {
        Candidate {
            id,
            assertion: assertion.into(),
            votes: Vec::new(),
        }
    }

    /// Replaces the votes of the candidate.
    pub fn with_votes(mut self, votes: Vec<CandidateVote>) -> Self {
        self.votes = votes;
        self
    }

    /// Adds one vote.
    pub fn push_vote(&mut self, vote: CandidateVote) {
        self.votes.push(vote);
    }
}

/// Trust scores by agent; agents without a score have [`DEFAULT_TRUST`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustMap {
    scores: HashMap<String, f64>,
}

impl TrustMap {
    /// An empty map: every agent has the default trust.
    pub fn new() -> Self {
        TrustMap::default()
    }

    /// Sets an agent's score, clamped to [0, 1]; a non-finite score is ignored.
    pub fn set(&mut self, agent: impl Into<String>, score: f64) {
        if score.is_finite() {
            self.scores
                .insert(agent.into(), score.clamp(0.0, 1.0) + 0.0);
        }
    }

    /// Builder form of [`TrustMap::set`].
    pub fn with(mut self, agent: impl Into<String>, score: f64) -> Self {
        self.set(agent, score);
        self
    }

    /// The trust of `agent`: its score, or [`DEFAULT_TRUST`] when unknown.
    pub fn get(&self, agent: &str) -> f64 {
        self.scores.get(agent).copied().unwrap_or(DEFAULT_TRUST)
    }

    /// Number of agents with an explicit score.
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// True when no agent has an explicit score.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
}

impl<S: Into<String>> FromIterator<(S, f64)> for TrustMap {
    fn from_iter<I: IntoIterator<Item = (S, f64)>>(iter: I) -> Self {
        let mut map = TrustMap::new();
        for (agent, score) in iter {
            map.set(agent, score);
        }
        map
    }
}

/// A number in [0, 1]; non-finite becomes 0 and `-0` becomes `0`.
pub(crate) fn unit(x: f64) -> f64 {
    if x.is_finite() {
        x.clamp(0.0, 1.0) + 0.0
    } else {
        0.0
    }
}

/// A vote weight in [-1, 1]; non-finite becomes 0.
fn weight(x: f64) -> f64 {
    if x.is_finite() {
        x.clamp(-1.0, 1.0) + 0.0
    } else {
        0.0
    }
}

/// One candidate in canonical form.
#[derive(Debug, Clone)]
pub(crate) struct Item<'a> {
    /// Assertion id.
    pub id: RecordId,
    /// The assertion.
    pub assertion: &'a Assertion,
    /// Confidence, sanitised to [0, 1].
    pub confidence: f64,
    /// The counted votes: each voter's newest vote, sorted by voter.
    pub votes: Vec<(&'a str, f64)>,
}

impl Item<'_> {
    /// The recency key: timestamp, then id.
    pub fn recency(&self) -> (i64, RecordId) {
        (self.assertion.timestamp, self.id)
    }

    /// Sum of the counted vote weights, in voter order.
    pub fn net_votes(&self) -> f64 {
        self.votes.iter().fold(0.0, |acc, (_, w)| acc + w)
    }

    /// Source class; an assertion without source is class 6.
    pub fn class(&self) -> u8 {
        self.assertion
            .source
            .as_ref()
            .map_or(crate::UNCLASSIFIED, |s| s.class)
    }
}

/// Builds the canonical view of a candidate set: sorted by assertion id,
/// duplicates of one id merged (their votes united by vote id), and for each
/// assertion only every voter's newest vote (timestamp, then larger vote id)
/// kept. The result does not depend on the input order.
pub(crate) fn canonical(candidates: &[Candidate]) -> Vec<Item<'_>> {
    // Sorting on word keys orders exactly like the id bytes, without a
    // memcmp call per comparison.
    let mut sorted: Vec<([u64; 4], &Candidate)> =
        candidates.iter().map(|c| (id_key(&c.id), c)).collect();
    sorted.sort_unstable_by_key(|(key, _)| *key);
    let mut items = Vec::with_capacity(sorted.len());
    let mut i = 0;
    while i < sorted.len() {
        let (key, first) = sorted[i];
        let mut j = i;
        let mut votes: Vec<&CandidateVote> = Vec::new();
        while j < sorted.len() && sorted[j].0 == key {
            votes.extend(sorted[j].1.votes.iter());
            j += 1;
        }
        items.push(Item {
            id: first.id,
            assertion: &first.assertion,
            confidence: unit(first.assertion.confidence),
            votes: newest_per_voter(votes),
        });
        i = j;
    }
    items
}

/// The id as four big-endian words: ordering them orders the id bytes.
fn id_key(id: &RecordId) -> [u64; 4] {
    let mut key = [0u64; 4];
    for (word, chunk) in key.iter_mut().zip(id.0.chunks_exact(8)) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        *word = u64::from_be_bytes(bytes);
    }
    key
}

/// Keeps each voter's newest vote (timestamp, then larger id), sorted by voter.
fn newest_per_voter(mut votes: Vec<&CandidateVote>) -> Vec<(&str, f64)> {
    // Voter ascending, then newest first; the first vote of each voter wins.
    votes.sort_by(|a, b| {
        a.agent
            .as_bytes()
            .cmp(b.agent.as_bytes())
            .then_with(|| (b.timestamp, b.id).cmp(&(a.timestamp, a.id)))
    });
    let mut out: Vec<(&str, f64)> = Vec::with_capacity(votes.len());
    for v in votes {
        if out.last().is_some_and(|(agent, _)| *agent == v.agent) {
            continue;
        }
        out.push((v.agent.as_str(), weight(v.weight)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn trust_defaults_and_clamps() {
        let t = TrustMap::new()
            .with("a", 0.9)
            .with("b", 7.0)
            .with("c", f64::NAN);
        assert_eq!(t.get("a"), 0.9);
        assert_eq!(t.get("b"), 1.0);
        assert_eq!(t.get("c"), DEFAULT_TRUST);
        assert_eq!(t.get("nobody"), 0.5);
        assert_eq!(t.len(), 2);
        let t: TrustMap = [("x", -1.0)].into_iter().collect();
        assert_eq!(t.get("x"), 0.0);
        assert!(!t.is_empty());
    }

    #[test]
    fn canonical_sorts_dedupes_and_keeps_newest_vote() {
        let a = text("s", "p", "v", "alice", 10);
        let b = text("s", "p", "w", "bob", 20);
        let mut ca = cand(&a);
        let cb = cand(&b);
        ca.push_vote(vote("carol", 1.0, 5));
        ca.push_vote(vote("carol", -0.5, 9));
        ca.push_vote(vote("dave", 3.0, 1));
        let mut dup = ca.clone();
        dup.votes = vec![vote("erin", f64::INFINITY, 2)];
        let input = vec![cb.clone(), ca.clone(), dup];
        let items = canonical(&input);
        assert_eq!(items.len(), 2);
        assert!(items[0].id < items[1].id);
        let it = items
            .iter()
            .find(|i| i.id == ca.id)
            .map(|i| i.votes.clone());
        assert_eq!(
            it,
            Some(vec![("carol", -0.5), ("dave", 1.0), ("erin", 0.0)])
        );
    }

    #[test]
    fn vote_timestamp_tie_goes_to_larger_vote_id() {
        let a = text("s", "p", "v", "alice", 10);
        let v1 = vote("carol", 1.0, 5);
        let v2 = vote("carol", -1.0, 5);
        let expected = if v1.id > v2.id { 1.0 } else { -1.0 };
        let c = cand(&a).with_votes(vec![v1, v2]);
        let items = canonical(std::slice::from_ref(&c));
        assert_eq!(items[0].votes, vec![("carol", expected)]);
    }

    #[test]
    fn id_key_orders_like_the_bytes() {
        let mut ids: Vec<RecordId> = (0u8..64)
            .map(|i| RecordId::of(&[i]))
            .chain([RecordId([0; 32]), RecordId([255; 32])])
            .collect();
        let mut by_key = ids.clone();
        ids.sort();
        by_key.sort_by_key(id_key);
        assert_eq!(ids, by_key);
    }

    #[test]
    fn class_defaults_to_six() {
        let a = text("s", "p", "v", "alice", 10);
        let c = cand(&a);
        assert_eq!(canonical(std::slice::from_ref(&c))[0].class(), 6);
        let c = cand(&sourced(a, 2));
        assert_eq!(canonical(std::slice::from_ref(&c))[0].class(), 2);
    }
}

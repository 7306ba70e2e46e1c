//! Contested (subject, predicate) pairs under a subject prefix: the pairs
//! whose lens `conflict` reaches a threshold, in index order.
//!
//! The walk reads only the subject range under the prefix (the `sp` index is
//! ordered by subject, then predicate) and stops after a page of `limit`
//! pairs or after [`SCAN_BUDGET`] index entries, whichever comes first, so
//! one call never scans the whole store. The cursor names the last pair
//! examined; pass it back to continue where the walk stopped.

use stemedb_lens::{Lens, Resolution};
use stemedb_storage::Store;

use crate::QueryError;
use crate::engine::resolve_members;
use crate::params::Query;
use crate::select::{members, superseded};

/// Default page size (pairs).
pub const DEFAULT_CONFLICT_LIMIT: usize = 50;
/// Largest page size accepted.
pub const MAX_CONFLICT_LIMIT: usize = 1_000;
/// Index entries (assertions, votes, retractions) examined per call at most;
/// the pair that crosses it is finished first, so every call makes progress.
pub const SCAN_BUDGET: usize = 20_000;
/// Subjects fetched from the index per step of the walk.
const SUBJECT_BATCH: usize = 64;
const CURSOR_VERSION: u8 = 1;

/// One conflicts request: `GET /v1/conflicts?prefix=&min_conflict=&lens=&as_of=&limit=&cursor=`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictScan {
    /// Only subjects starting with this ("" = every subject).
    pub prefix: String,
    /// The lens whose `conflict` is measured.
    pub lens: Lens,
    /// List pairs whose conflict is at least this (and above 0), in [0, 1].
    pub min_conflict: f64,
    /// Time travel, as in queries.
    pub as_of: Option<i64>,
    /// Pairs per page.
    pub limit: usize,
    /// Where the previous page stopped.
    pub cursor: Option<String>,
    /// Index entries examined per call at most (default [`SCAN_BUDGET`]).
    pub budget: usize,
}

impl ConflictScan {
    /// A scan of `prefix` with the consensus lens and every other option at its default.
    pub fn new(prefix: impl Into<String>) -> Self {
        ConflictScan {
            prefix: prefix.into(),
            lens: Lens::Consensus,
            min_conflict: 0.0,
            as_of: None,
            limit: DEFAULT_CONFLICT_LIMIT,
            cursor: None,
            budget: SCAN_BUDGET,
        }
    }
}

/// A contested pair and its resolution.
#[derive(Debug, Clone)]
pub struct ConflictPair {
    /// Subject.
    pub subject: String,
    /// Predicate.
    pub predicate: String,
    /// The lens resolution (its `conflict`, winners and explanation ids).
    pub resolution: Resolution,
}

/// A page of contested pairs.
#[derive(Debug, Clone)]
pub struct ConflictPage {
    /// Pairs at or above the threshold, in (subject, predicate) byte order.
    pub pairs: Vec<ConflictPair>,
    /// (subject, predicate) pairs examined by this call.
    pub examined: usize,
    /// Where to continue; `None` when the prefix range is exhausted.
    pub next_cursor: Option<String>,
}

fn encode_cursor(subject: &str, predicate: &str) -> String {
    let mut b = vec![CURSOR_VERSION];
    b.extend_from_slice(&(subject.len() as u32).to_be_bytes());
    b.extend_from_slice(subject.as_bytes());
    b.extend_from_slice(predicate.as_bytes());
    hex::encode(b)
}

fn decode_cursor(s: &str, prefix: &str) -> Result<(String, String), QueryError> {
    let bad = || QueryError::bad("cursor", "not a next_cursor returned by /v1/conflicts");
    let b = hex::decode(s).map_err(|_| bad())?;
    if b.len() < 5 || b[0] != CURSOR_VERSION {
        return Err(bad());
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&b[1..5]);
    let len = u32::from_be_bytes(len) as usize;
    let rest = &b[5..];
    if rest.len() < len {
        return Err(bad());
    }
    let subject = String::from_utf8(rest[..len].to_vec()).map_err(|_| bad())?;
    let predicate = String::from_utf8(rest[len..].to_vec()).map_err(|_| bad())?;
    if !subject.starts_with(prefix) {
        return Err(QueryError::bad(
            "cursor",
            "cursor belongs to a different prefix",
        ));
    }
    Ok((subject, predicate))
}

/// Walks the subjects under `scan.prefix` and returns the contested pairs.
pub fn conflicts(store: &Store, scan: &ConflictScan) -> Result<ConflictPage, QueryError> {
    if scan.limit == 0 || scan.limit > MAX_CONFLICT_LIMIT {
        return Err(QueryError::bad(
            "limit",
            format!("must be 1..={MAX_CONFLICT_LIMIT}"),
        ));
    }
    if !(0.0..=1.0).contains(&scan.min_conflict) {
        return Err(QueryError::bad(
            "min_conflict",
            "must be a number in [0, 1]",
        ));
    }
    let resume = scan
        .cursor
        .as_deref()
        .map(|c| decode_cursor(c, &scan.prefix))
        .transpose()?;
    let epochs = store.epochs();
    let mut pairs = Vec::new();
    let mut examined = 0usize;
    let mut budget = 0usize;

    // The cursor's own subject first (its predicates after the cursor's),
    // then the subjects after it.
    let mut pending: Vec<String> = match &resume {
        Some((s, _)) => vec![s.clone()],
        None => Vec::new(),
    };
    let mut after: Option<String> = resume.as_ref().map(|(s, _)| s.clone());
    let mut exhausted = false;
    loop {
        if pending.is_empty() {
            if exhausted {
                break;
            }
            let batch = store.subjects(&scan.prefix, after.as_deref(), SUBJECT_BATCH)?;
            exhausted = batch.len() < SUBJECT_BATCH;
            after = batch.last().cloned().or(after);
            if batch.is_empty() {
                break;
            }
            pending = batch;
            pending.reverse();
        }
        let Some(subject) = pending.pop() else {
            break;
        };
        let skip_through = resume
            .as_ref()
            .filter(|(s, _)| *s == subject)
            .map(|(_, p)| p.clone());
        let mut q = Query::new(subject.clone());
        q.as_of = scan.as_of;
        let superseded = superseded(&epochs, &subject, scan.as_of);
        // One predicate's entries at a time (a skip-scan lists them), so the
        // budget bounds what is read, not only what is resolved.
        for predicate in store.predicates(&subject)? {
            if skip_through
                .as_deref()
                .is_some_and(|p| predicate.as_bytes() <= p.as_bytes())
            {
                continue;
            }
            let group = store.subject_entries(&subject, Some(&predicate))?;
            budget += group.len();
            examined += 1;
            let members = members(store, &q, &group, &superseded)?;
            let resolution = resolve_members(store, scan.lens, scan.as_of, &members)?;
            let here = encode_cursor(&subject, &predicate);
            if resolution.conflict > 0.0 && resolution.conflict >= scan.min_conflict {
                pairs.push(ConflictPair {
                    subject: subject.clone(),
                    predicate,
                    resolution,
                });
            }
            if pairs.len() == scan.limit || budget >= scan.budget {
                return Ok(ConflictPage {
                    pairs,
                    examined,
                    next_cursor: Some(here),
                });
            }
        }
    }
    Ok(ConflictPage {
        pairs,
        examined,
        next_cursor: None,
    })
}

impl ConflictPage {
    /// The JSON body of `GET /v1/conflicts`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "conflicts": self.pairs.iter().map(|p| serde_json::json!({
                "subject": p.subject,
                "predicate": p.predicate,
                "conflict": p.resolution.conflict,
                "resolution": p.resolution.to_json(),
            })).collect::<Vec<_>>(),
            "examined": self.examined,
            "next_cursor": self.next_cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_is_bound_to_prefix() {
        let c = encode_cursor("drug:aspirin", "max_dose");
        assert_eq!(
            decode_cursor(&c, "drug:").ok(),
            Some(("drug:aspirin".to_owned(), "max_dose".to_owned()))
        );
        assert!(decode_cursor(&c, "gene:").is_err());
        assert!(decode_cursor("zz", "").is_err());
        assert!(decode_cursor("01000000ff61", "").is_err());
    }
}

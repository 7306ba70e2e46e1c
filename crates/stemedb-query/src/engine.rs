//! Running a query: group the subject's index entries by predicate, select
//! members, resolve each group with the lens, and cut one page.

use stemedb_lens::{Lens, Resolution, TrustMap};
use stemedb_storage::{Store, SubjectEntry};

use crate::QueryError;
use crate::cursor::Cursor;
use crate::output::{CandidateOut, PairResult, QueryResult};
use crate::params::{MAX_LIMIT, Query};
use crate::select::{Member, members, superseded};

/// Runs `q` against `store`.
pub fn run(store: &Store, q: &Query) -> Result<QueryResult, QueryError> {
    if q.subject.is_empty() {
        return Err(QueryError::bad("subject", "is required"));
    }
    if q.limit == 0 || q.limit > MAX_LIMIT {
        return Err(QueryError::bad("limit", format!("must be 1..={MAX_LIMIT}")));
    }
    let cursor = q
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c, &q.subject, q.predicate.as_deref()))
        .transpose()?;
    let entries = store.subject_entries(&q.subject, q.predicate.as_deref())?;
    let superseded = superseded(&store.epochs(), &q.subject, q.as_of);

    let mut groups: Vec<(String, Vec<SubjectEntry>)> = Vec::new();
    for e in entries {
        match groups.last_mut() {
            Some((p, g)) if *p == e.predicate => g.push(e),
            _ => groups.push((e.predicate.clone(), vec![e])),
        }
    }
    if groups.is_empty()
        && let Some(p) = &q.predicate
    {
        groups.push((p.clone(), Vec::new()));
    }

    let mut results = Vec::new();
    let mut listed = 0usize;
    let mut more = false;
    let mut next: Option<Cursor> = None;
    for (predicate, entries) in groups {
        if cursor
            .as_ref()
            .is_some_and(|c| predicate.as_bytes() < c.predicate.as_bytes())
        {
            continue;
        }
        if listed == q.limit {
            // The page is full; whatever follows goes on the next one (which
            // may turn out empty: keyset pagination does not look ahead).
            more = true;
            break;
        }
        let members = members(store, q, &entries, &superseded)?;
        // Indexes into `members` of the candidates listed on this page.
        let mut page: Vec<usize> = Vec::new();
        for (i, m) in members.iter().enumerate() {
            if m.retracted && !q.include_retracted {
                continue;
            }
            if cursor
                .as_ref()
                .is_some_and(|c| !c.is_before(&predicate, m.assertion.timestamp, m.pos))
            {
                continue;
            }
            if listed == q.limit {
                more = true;
                break;
            }
            listed += 1;
            page.push(i);
        }
        // A group with nothing to list on this page is reported where it
        // sorts: not again on the page after its own cursor.
        if page.is_empty() && (more || cursor.as_ref().is_some_and(|c| c.predicate == predicate)) {
            if more {
                break;
            }
            continue;
        }
        if let Some(last) = page.last().map(|&i| &members[i]) {
            next = Some(Cursor {
                predicate: predicate.clone(),
                timestamp: last.assertion.timestamp,
                pos: last.pos,
            });
        }
        let resolution = match q.lens {
            None => None,
            Some(lens) => Some(resolve_members(store, lens, q.as_of, &members)?),
        };
        // The listed members move into the answer (no copies).
        let mut listed_here = page.into_iter().peekable();
        let candidates = members
            .into_iter()
            .enumerate()
            .filter(|(i, _)| listed_here.next_if_eq(i).is_some())
            .map(|(_, m)| CandidateOut {
                id: m.id,
                assertion: m.assertion,
                signature: m.signature,
                retracted: m.retracted,
            })
            .collect();
        results.push(PairResult {
            subject: q.subject.clone(),
            predicate,
            candidates,
            resolution,
        });
        if more {
            break;
        }
    }
    let next_cursor = if more {
        next.map(|c| c.encode(&q.subject, q.predicate.as_deref()))
    } else {
        None
    };
    Ok(QueryResult {
        results,
        next_cursor,
    })
}

/// Resolves one group with `lens` over its members that are not retracted,
/// with the trust scores in force at `as_of`. Trust is looked up only for a
/// lens that weighs it, once per agent.
pub fn resolve_members(
    store: &Store,
    lens: Lens,
    as_of: Option<i64>,
    members: &[Member],
) -> Result<Resolution, QueryError> {
    let candidates: Vec<_> = members
        .iter()
        .filter(|m| !m.retracted)
        .map(Member::candidate)
        .collect();
    let mut trust = TrustMap::new();
    if lens.uses_trust() {
        let mut agents: Vec<&str> = candidates
            .iter()
            .map(|c| c.assertion.agent.as_str())
            .collect();
        agents.sort_unstable();
        agents.dedup();
        for agent in agents {
            if let Some(score) = store.trust(agent, as_of)? {
                trust.set(agent, score);
            }
        }
    }
    Ok(lens.resolve(&candidates, &trust))
}

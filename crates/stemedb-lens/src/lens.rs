//! The six lenses: names, parsing, and the [`resolve`] entry point.

use std::fmt;
use std::str::FromStr;

use crate::candidate::{Candidate, Item, TrustMap, canonical};
use crate::resolution::Resolution;
use crate::support::Table;

mod authority;
mod confidence;
mod consensus;
mod layered;
mod recency;
mod skeptic;

/// A read-time resolution rule (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lens {
    /// Newest assertion wins.
    Recency,
    /// Highest trust(agent) × confidence wins.
    Authority,
    /// Value with the most support (agents' current positions plus votes) wins.
    Consensus,
    /// Highest assertion confidence wins.
    Confidence,
    /// No winner: reports every value's share and an agreement status.
    Skeptic,
    /// Consensus per source class; the most authoritative class answers.
    Layered,
}

impl Lens {
    /// Every lens, in documentation order.
    pub const ALL: [Lens; 6] = [
        Lens::Recency,
        Lens::Authority,
        Lens::Consensus,
        Lens::Confidence,
        Lens::Skeptic,
        Lens::Layered,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Lens::Recency => "recency",
            Lens::Authority => "authority",
            Lens::Consensus => "consensus",
            Lens::Confidence => "confidence",
            Lens::Skeptic => "skeptic",
            Lens::Layered => "layered",
        }
    }

    /// Whether the answer depends on agents' trust scores (only
    /// `authority`); other lenses ignore the [`TrustMap`], so callers may
    /// skip looking trust up for them.
    pub fn uses_trust(self) -> bool {
        self == Lens::Authority
    }

    /// Applies this lens; same as [`resolve`].
    pub fn resolve(self, candidates: &[Candidate], trust: &TrustMap) -> Resolution {
        resolve(self, candidates, trust)
    }
}

impl fmt::Display for Lens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lens name that is not one of [`Lens::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown lens {name:?}; expected one of: recency, authority, consensus, confidence, skeptic, layered"
)]
pub struct ParseLensError {
    /// The name that was given.
    pub name: String,
}

impl FromStr for Lens {
    type Err = ParseLensError;

    /// Parses a wire name, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Lens::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseLensError { name: s.to_owned() })
    }
}

/// Resolves a candidate set with `lens`. Pure and deterministic: the result
/// (and its JSON) is identical for any order of `candidates`.
pub fn resolve(lens: Lens, candidates: &[Candidate], trust: &TrustMap) -> Resolution {
    let items = canonical(candidates);
    if items.is_empty() {
        return Resolution::empty(lens);
    }
    let table = Table::compute(&items);
    match lens {
        Lens::Recency => recency::resolve(&items, &table),
        Lens::Authority => authority::resolve(&items, &table, trust),
        Lens::Consensus => consensus::resolve(&items, &table),
        Lens::Confidence => confidence::resolve(&items, &table),
        Lens::Skeptic => skeptic::resolve(&items, &table),
        Lens::Layered => layered::resolve(&items, &table),
    }
}

/// The lens-independent part of a resolution: candidate count, conflict and
/// explanation from the support table; no winner yet.
fn base(lens: Lens, items: &[Item<'_>], table: &Table) -> Resolution {
    Resolution {
        candidates: items.len(),
        conflict: table.conflict,
        explanation: table.explanation(),
        ..Resolution::empty(lens)
    }
}

/// Fills in a single winning assertion.
fn single_winner(mut r: Resolution, winner: Option<&Item<'_>>, confidence: f64) -> Resolution {
    if let Some(w) = winner {
        r.value = Some(w.assertion.object.clone());
        r.winners = vec![w.id];
        r.confidence = crate::candidate::unit(confidence);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn names_round_trip() {
        for l in Lens::ALL {
            assert_eq!(l.as_str().parse::<Lens>(), Ok(l));
            assert_eq!(l.to_string(), l.as_str());
        }
        assert_eq!("Consensus".parse::<Lens>(), Ok(Lens::Consensus));
    }

    #[test]
    fn unknown_lens_error_names_it_and_lists_valid_ones() {
        let e = "newest".parse::<Lens>().err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                "unknown lens \"newest\"; expected one of: recency, authority, consensus, confidence, skeptic, layered"
            )
        );
    }

    #[test]
    fn empty_set_for_every_lens() {
        for l in Lens::ALL {
            let r = resolve(l, &[], &TrustMap::new());
            assert_eq!(r.value, None);
            assert!(r.winners.is_empty());
            assert_eq!(r.confidence, 0.0);
            assert_eq!(r.conflict, 0.0);
            assert_eq!(r.candidates, 0);
            assert!(r.explanation.is_empty());
            assert_eq!(r.lens, l);
        }
    }

    #[test]
    fn single_candidate_for_every_lens() {
        let c = cand(&conf(text("s", "p", "x", "alice", 5), 0.8));
        for l in Lens::ALL {
            let r = l.resolve(std::slice::from_ref(&c), &TrustMap::new());
            assert_eq!(r.candidates, 1, "{l}");
            assert_eq!(r.conflict, 0.0, "{l}");
            assert_eq!(r.explanation.len(), 1, "{l}");
            assert_eq!(r.explanation[0].support, 1.0, "{l}");
            assert_eq!(r.explanation[0].share, 1.0, "{l}");
            if l == Lens::Skeptic {
                assert_eq!(r.value, None);
                assert_eq!(r.confidence, 1.0);
            } else {
                assert_eq!(r.value, Some(obj("x")), "{l}");
                assert_eq!(r.winners, vec![c.id], "{l}");
            }
        }
        let t = TrustMap::new();
        let one = std::slice::from_ref(&c);
        assert_eq!(resolve(Lens::Recency, one, &t).confidence, 0.8);
        assert_eq!(resolve(Lens::Confidence, one, &t).confidence, 0.8);
        assert_eq!(resolve(Lens::Authority, one, &t).confidence, 0.4);
        assert_eq!(resolve(Lens::Consensus, one, &t).confidence, 1.0);
        assert_eq!(resolve(Lens::Layered, one, &t).confidence, 1.0);
    }

    #[test]
    fn duplicate_candidates_count_once() {
        let c = cand(&text("s", "p", "x", "alice", 5));
        let r = resolve(Lens::Consensus, &[c.clone(), c], &TrustMap::new());
        assert_eq!(r.candidates, 1);
        assert_eq!(r.explanation[0].support, 1.0);
    }
}

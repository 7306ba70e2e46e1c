//! `recency`: the newest assertion wins (highest timestamp, tie → larger id);
//! confidence = the winner's confidence.

use crate::candidate::Item;
use crate::lens::{Lens, base, single_winner};
use crate::resolution::Resolution;
use crate::support::Table;

/// Resolves a non-empty canonical candidate set.
pub(crate) fn resolve(items: &[Item<'_>], table: &Table) -> Resolution {
    let winner = newest(items);
    let confidence = winner.map_or(0.0, |w| w.confidence);
    single_winner(base(Lens::Recency, items, table), winner, confidence)
}

/// The newest item: highest timestamp, tie → larger id.
pub(crate) fn newest<'a, 'b>(items: &'b [Item<'a>]) -> Option<&'b Item<'a>> {
    items.iter().max_by_key(|i| i.recency())
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use crate::{Lens, TrustMap, resolve};

    #[test]
    fn newest_wins_with_its_confidence() {
        let old = cand(&conf(text("s", "p", "old", "a", 10), 0.9));
        let new = cand(&conf(text("s", "p", "new", "b", 20), 0.3));
        let r = resolve(Lens::Recency, &[new.clone(), old], &TrustMap::new());
        assert_eq!(r.value, Some(obj("new")));
        assert_eq!(r.winners, vec![new.id]);
        assert_eq!(r.confidence, 0.3);
        assert_eq!(r.conflict, 1.0);
    }

    #[test]
    fn timestamp_tie_goes_to_larger_id() {
        let a = cand(&text("s", "p", "x", "a", 10));
        let b = cand(&text("s", "p", "y", "b", 10));
        let larger = if a.id > b.id { &a } else { &b };
        let r = resolve(Lens::Recency, &[a.clone(), b.clone()], &TrustMap::new());
        assert_eq!(r.winners, vec![larger.id]);
        assert_eq!(r.value, Some(larger.assertion.object.clone()));
    }
}

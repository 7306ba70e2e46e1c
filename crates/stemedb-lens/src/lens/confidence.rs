//! `confidence`: highest assertion confidence wins, tie → recency
//! (timestamp, then larger id); confidence = the winner's confidence.

use crate::candidate::Item;
use crate::lens::{Lens, base, single_winner};
use crate::resolution::Resolution;
use crate::support::Table;

/// Resolves a non-empty canonical candidate set.
pub(crate) fn resolve(items: &[Item<'_>], table: &Table) -> Resolution {
    let winner = items.iter().max_by(|a, b| {
        a.confidence
            .total_cmp(&b.confidence)
            .then_with(|| a.recency().cmp(&b.recency()))
    });
    let confidence = winner.map_or(0.0, |w| w.confidence);
    single_winner(base(Lens::Confidence, items, table), winner, confidence)
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use crate::{Lens, TrustMap, resolve};

    #[test]
    fn most_confident_wins() {
        let sure = cand(&conf(text("s", "p", "x", "a", 1), 0.95));
        let unsure = cand(&conf(text("s", "p", "y", "b", 9), 0.5));
        let r = resolve(Lens::Confidence, &[unsure, sure.clone()], &TrustMap::new());
        assert_eq!(r.winners, vec![sure.id]);
        assert_eq!(r.confidence, 0.95);
    }

    #[test]
    fn confidence_tie_goes_to_recency_then_id() {
        let old = cand(&conf(text("s", "p", "x", "a", 1), 0.7));
        let new = cand(&conf(text("s", "p", "y", "b", 2), 0.7));
        let r = resolve(Lens::Confidence, &[new.clone(), old], &TrustMap::new());
        assert_eq!(r.winners, vec![new.id]);
        let a = cand(&text("s", "p", "x", "a", 1));
        let b = cand(&text("s", "p", "y", "b", 1));
        let larger = if a.id > b.id { a.id } else { b.id };
        let r = resolve(Lens::Confidence, &[a, b], &TrustMap::new());
        assert_eq!(r.winners, vec![larger]);
    }

    #[test]
    fn out_of_range_confidence_is_clamped() {
        let c = cand(&conf(text("s", "p", "x", "a", 1), 3.0));
        let r = resolve(Lens::Confidence, &[c], &TrustMap::new());
        assert_eq!(r.confidence, 1.0);
    }
}

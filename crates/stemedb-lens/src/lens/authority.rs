//! `authority`: highest trust(agent) × confidence wins, tie → recency
//! (timestamp, then larger id); confidence = that score.

use crate::candidate::{Item, TrustMap};
use crate::lens::{Lens, base, single_winner};
use crate::resolution::Resolution;
use crate::support::Table;

/// Resolves a non-empty canonical candidate set.
pub(crate) fn resolve(items: &[Item<'_>], table: &Table, trust: &TrustMap) -> Resolution {
    let score = |i: &Item<'_>| trust.get(&i.assertion.agent) * i.confidence;
    let winner = items.iter().max_by(|a, b| {
        score(a)
            .total_cmp(&score(b))
            .then_with(|| a.recency().cmp(&b.recency()))
    });
    let confidence = winner.map_or(0.0, score);
    single_winner(base(Lens::Authority, items, table), winner, confidence)
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use crate::{Lens, TrustMap, resolve};

    #[test]
    fn trust_flips_authority() {
        let a = cand(&conf(text("s", "p", "x", "alice", 10), 0.9));
        let b = cand(&conf(text("s", "p", "y", "bob", 5), 0.6));
        let set = [a.clone(), b.clone()];
        // Default trust 0.5 for both: alice 0.45 beats bob 0.30.
        let r = resolve(Lens::Authority, &set, &TrustMap::new());
        assert_eq!(r.value, Some(obj("x")));
        assert_eq!(r.confidence, 0.45);
        // Trusting bob fully: bob 0.6 beats alice 0.45.
        let r = resolve(Lens::Authority, &set, &TrustMap::new().with("bob", 1.0));
        assert_eq!(r.value, Some(obj("y")));
        assert_eq!(r.winners, vec![b.id]);
        assert_eq!(r.confidence, 0.6);
    }

    #[test]
    fn score_tie_goes_to_recency() {
        // 0.5 × 0.8 == 1.0 × 0.4 exactly.
        let old = cand(&conf(text("s", "p", "x", "alice", 10), 0.8));
        let new = cand(&conf(text("s", "p", "y", "bob", 20), 0.4));
        let trust = TrustMap::new().with("bob", 1.0);
        let r = resolve(Lens::Authority, &[old.clone(), new.clone()], &trust);
        assert_eq!(r.winners, vec![new.id]);
        // Same timestamp as well: larger id.
        let a = cand(&text("s", "p", "x", "alice", 10));
        let b = cand(&text("s", "p", "y", "bob", 10));
        let larger = if a.id > b.id { a.id } else { b.id };
        let r = resolve(Lens::Authority, &[a, b], &TrustMap::new());
        assert_eq!(r.winners, vec![larger]);
    }
}

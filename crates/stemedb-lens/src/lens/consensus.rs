//! `consensus`: the value with the largest support wins (one unit per agent
//! whose current position it is, plus counted vote weights on its
//! assertions); tie → the value whose newest assertion is newest (timestamp,
//! then larger id). Winners are all assertions of the winning value;
//! confidence = winner support / total positive support, in [0, 1].

use crate::candidate::Item;
use crate::lens::{Lens, base};
use crate::resolution::Resolution;
use crate::support::Table;

/// Resolves a non-empty canonical candidate set with its support table.
pub(crate) fn resolve(items: &[Item<'_>], table: &Table) -> Resolution {
    let mut r = base(Lens::Consensus, items, table);
    if let Some(t) = table.leader() {
        r.value = Some(t.value.clone());
        r.winners = t.ids.clone();
        r.confidence = table.confidence_of(t);
    }
    r
}

/// Consensus over a canonical subset, computing its own support table.
pub(crate) fn resolve_subset(items: &[Item<'_>]) -> Resolution {
    if items.is_empty() {
        return Resolution::empty(Lens::Consensus);
    }
    resolve(items, &Table::compute(items))
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use crate::{Lens, TrustMap, resolve};

    fn consensus(c: &[crate::Candidate]) -> crate::Resolution {
        resolve(Lens::Consensus, c, &TrustMap::new())
    }

    #[test]
    fn most_agents_win_and_winners_are_all_backing_ids() {
        let a = cand(&text("s", "p", "x", "alice", 1));
        let b = cand(&text("s", "p", "x", "bob", 2));
        let c = cand(&text("s", "p", "y", "carol", 3));
        let r = consensus(&[c, b.clone(), a.clone()]);
        assert_eq!(r.value, Some(obj("x")));
        let mut ids = vec![a.id, b.id];
        ids.sort();
        assert_eq!(r.winners, ids);
        assert_eq!(r.confidence, 2.0 / 3.0);
        assert_eq!(r.explanation[0].ids, ids);
    }

    #[test]
    fn votes_flip_consensus() {
        let a = cand(&text("s", "p", "x", "alice", 1));
        let b = cand(&text("s", "p", "x", "bob", 1));
        let c = cand(&text("s", "p", "y", "carol", 1));
        assert_eq!(
            consensus(&[a.clone(), b.clone(), c.clone()]).value,
            Some(obj("x"))
        );
        let c = c.with_votes(vec![vote("v1", 1.0, 2), vote("v2", 0.5, 2)]);
        let r = consensus(&[a, b, c.clone()]);
        assert_eq!(r.value, Some(obj("y")));
        assert_eq!(r.winners, vec![c.id]);
        assert_eq!(r.explanation[0].support, 2.5);
        assert_eq!(r.confidence, 2.5 / 4.5);
    }

    #[test]
    fn negative_votes_sink_a_value() {
        let a = cand(&text("s", "p", "x", "alice", 1));
        let b = cand(&text("s", "p", "x", "bob", 1)).with_votes(vec![
            vote("v1", -1.0, 2),
            vote("v2", -1.0, 2),
            vote("v3", -1.0, 2),
        ]);
        let c = cand(&text("s", "p", "y", "carol", 1));
        let r = consensus(&[a, b, c.clone()]);
        // x: 2 units − 3 = −1; y: 1.
        assert_eq!(r.value, Some(obj("y")));
        assert_eq!(r.explanation[1].support, -1.0);
        assert_eq!(r.explanation[1].share, 0.0);
        assert_eq!(r.confidence, 1.0);
        assert_eq!(r.conflict, 0.0);
    }

    #[test]
    fn all_support_negative_still_picks_the_largest_with_zero_confidence() {
        let a = cand(&text("s", "p", "x", "alice", 1)).with_votes(vec![vote("v", -1.0, 1)]);
        let r = consensus(&[a]);
        assert_eq!(r.value, Some(obj("x")));
        assert_eq!(r.explanation[0].support, 0.0);
        assert_eq!(r.confidence, 0.0);
    }

    #[test]
    fn only_the_newest_vote_per_voter_and_target_counts() {
        let a = cand(&text("s", "p", "x", "alice", 1)).with_votes(vec![
            vote("v", 1.0, 2),
            vote("v", 1.0, 3),
            vote("v", -1.0, 4),
        ]);
        let b = cand(&text("s", "p", "y", "bob", 1));
        let r = consensus(&[a, b.clone()]);
        // x: 1 − 1 = 0; y: 1.
        assert_eq!(r.value, Some(obj("y")));
        assert_eq!(r.explanation[1].support, 0.0);
        // One voter's votes on two different assertions both count.
        let c = cand(&text("s", "p", "x", "carol", 1)).with_votes(vec![vote("v", 1.0, 2)]);
        let d = cand(&text("s", "p", "x", "dave", 1)).with_votes(vec![vote("v", 1.0, 2)]);
        let r = consensus(&[b, c, d]);
        assert_eq!(r.explanation[0].support, 4.0);
    }

    #[test]
    fn agent_changing_its_mind_moves_its_unit() {
        let alice_x = cand(&text("s", "p", "x", "alice", 1));
        let bob_x = cand(&text("s", "p", "x", "bob", 1));
        let carol_y = cand(&text("s", "p", "y", "carol", 1));
        let before = [alice_x.clone(), bob_x.clone(), carol_y.clone()];
        assert_eq!(consensus(&before).value, Some(obj("x")));
        let alice_y = cand(&text("s", "p", "y", "alice", 2));
        let r = consensus(&[alice_x, bob_x, carol_y, alice_y.clone()]);
        assert_eq!(r.value, Some(obj("y")));
        assert_eq!(r.explanation[0].support, 2.0);
        assert_eq!(r.explanation[1].support, 1.0, "alice's old x has no unit");
        assert!(r.winners.contains(&alice_y.id));
        assert_eq!(r.candidates, 4);
    }

    #[test]
    fn same_timestamp_position_goes_to_larger_id() {
        let a1 = cand(&text("s", "p", "x", "alice", 5));
        let a2 = cand(&text("s", "p", "y", "alice", 5));
        let expected = if a1.id > a2.id { "x" } else { "y" };
        let r = consensus(&[a1, a2]);
        assert_eq!(r.explanation[0].value, obj(expected));
        assert_eq!(r.explanation[0].support, 1.0);
        assert_eq!(r.explanation[1].support, 0.0);
        assert_eq!(r.value, Some(obj(expected)));
    }

    #[test]
    fn support_tie_goes_to_value_with_newest_assertion() {
        let a = cand(&text("s", "p", "x", "alice", 9));
        let b = cand(&text("s", "p", "y", "bob", 5));
        let c = cand(&text("s", "p", "y", "carol", 1));
        let d = cand(&text("s", "p", "x", "dave", 1));
        let r = consensus(&[a, b, c, d]);
        assert_eq!(r.value, Some(obj("x")));
        assert_eq!(r.confidence, 0.5);
        assert_eq!(r.conflict, 1.0);
        // Explanation order is support desc then value, independent of the winner.
        assert_eq!(r.explanation[0].value, obj("x"));
        let a = cand(&text("s", "p", "x", "alice", 1));
        let b = cand(&text("s", "p", "y", "bob", 9));
        let r = consensus(&[a, b]);
        assert_eq!(r.value, Some(obj("y")));
        assert_eq!(r.explanation[0].value, obj("x"));
    }

    #[test]
    fn support_and_timestamp_tie_goes_to_larger_id() {
        let a = cand(&text("s", "p", "x", "alice", 3));
        let b = cand(&text("s", "p", "y", "bob", 3));
        let larger = if a.id > b.id { &a } else { &b };
        let r = consensus(&[a.clone(), b.clone()]);
        assert_eq!(r.winners, vec![larger.id]);
    }

    #[test]
    fn numbers_group_by_value() {
        let a = cand(&num("s", "p", 1.0, "alice", 1));
        let b = cand(&num("s", "p", 1.0, "bob", 2));
        let c = cand(&num("s", "p", 2.5, "carol", 3));
        let r = consensus(&[a, b, c]);
        assert_eq!(r.value, Some(stemedb_records::Object::Number(1.0)));
        assert_eq!(r.explanation.len(), 2);
    }
}

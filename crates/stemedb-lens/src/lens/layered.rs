//! `layered`: consensus inside each source class (an assertion without
//! source is class 6), each class computed on its own candidates only (an
//! agent's position is its newest assertion *within that class*). The
//! overall value, winners and confidence come from the lowest-numbered class
//! present; conflict and explanation cover the whole candidate set.

use std::collections::BTreeMap;

use crate::candidate::Item;
use crate::lens::{Lens, base, consensus};
use crate::resolution::{ClassResolution, Resolution};
use crate::support::Table;

/// Resolves a non-empty canonical candidate set.
pub(crate) fn resolve(items: &[Item<'_>], table: &Table) -> Resolution {
    let mut groups: BTreeMap<u8, Vec<Item<'_>>> = BTreeMap::new();
    for item in items {
        // Items stay in canonical (id) order inside each class.
        groups.entry(item.class()).or_default().push(item.clone());
    }
    let classes: Vec<ClassResolution> = groups
        .into_iter()
        .map(|(class, sub)| ClassResolution {
            class,
            resolution: consensus::resolve_subset(&sub),
        })
        .collect();
    let mut r = base(Lens::Layered, items, table);
    if let Some(top) = classes.first() {
        r.value = top.resolution.value.clone();
        r.winners = top.resolution.winners.clone();
        r.confidence = top.resolution.confidence;
    }
    r.classes = classes;
    r
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use crate::{Lens, TrustMap, resolve};

    fn layered(c: &[crate::Candidate]) -> crate::Resolution {
        resolve(Lens::Layered, c, &TrustMap::new())
    }

    #[test]
    fn class_zero_beats_a_larger_class_one() {
        let reg = cand(&sourced(text("s", "p", "x", "regulator", 1), 0));
        let t1 = cand(&sourced(text("s", "p", "y", "trial1", 2), 1));
        let t2 = cand(&sourced(text("s", "p", "y", "trial2", 3), 1));
        let r = layered(&[t1.clone(), t2.clone(), reg.clone()]);
        assert_eq!(r.value, Some(obj("x")));
        assert_eq!(r.winners, vec![reg.id]);
        assert_eq!(r.confidence, 1.0);
        assert_eq!(r.candidates, 3);
        assert_eq!(r.classes.len(), 2);
        assert_eq!(r.classes[0].class, 0);
        assert_eq!(r.classes[1].class, 1);
        assert_eq!(r.classes[1].resolution.value, Some(obj("y")));
        assert_eq!(r.classes[1].resolution.lens, Lens::Consensus);
        assert_eq!(r.classes[1].resolution.candidates, 2);
        // Overall explanation covers every class: y has 2, x has 1.
        assert_eq!(r.explanation[0].value, obj("y"));
        let consensus = resolve(Lens::Consensus, &[t1, t2, reg], &TrustMap::new());
        assert_eq!(r.conflict, consensus.conflict);
        let j = r.to_json();
        assert_eq!(j["classes"][0]["class"], 0);
        assert_eq!(j["classes"][1]["resolution"]["lens"], "consensus");
    }

    #[test]
    fn no_source_is_class_six() {
        let anon = cand(&text("s", "p", "x", "anon", 1));
        let forum = cand(&sourced(text("s", "p", "y", "forum", 1), 5));
        let r = layered(&[anon.clone(), forum]);
        assert_eq!(r.value, Some(obj("y")));
        assert_eq!(r.classes[1].class, 6);
        assert_eq!(r.classes[1].resolution.winners, vec![anon.id]);
        let r = layered(&[anon]);
        assert_eq!(r.classes.len(), 1);
        assert_eq!(r.classes[0].class, 6);
        assert_eq!(r.value, Some(obj("x")));
    }

    #[test]
    fn positions_are_per_class() {
        // alice said x with a trial, later y on a forum: her trial claim
        // still carries her unit inside class 1.
        let trial = cand(&sourced(text("s", "p", "x", "alice", 1), 1));
        let forum = cand(&sourced(text("s", "p", "y", "alice", 2), 5));
        let r = layered(&[trial, forum]);
        assert_eq!(r.value, Some(obj("x")));
        assert_eq!(r.classes[0].resolution.explanation[0].support, 1.0);
        // Overall explanation uses the global position: only y has a unit.
        assert_eq!(r.explanation[0].value, obj("y"));
        assert_eq!(r.explanation[0].support, 1.0);
        assert_eq!(r.explanation[1].support, 0.0);
    }
}

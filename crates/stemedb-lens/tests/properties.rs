//! Property tests: order independence, merge order independence, invariants.

mod common;

use common::{candidate, claim, vote};
use proptest::prelude::*;
use stemedb_lens::{Candidate, Lens, TrustMap, resolve};

const VALUES: [&str; 4] = ["nausea", "vomiting", "pancreatitis", "hair loss"];

/// One generated candidate: value, agent, timestamp, confidence, class, votes.
type Spec = (usize, u8, i64, f64, Option<u8>, Vec<(u8, f64, i64)>);

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..VALUES.len(),
        0u8..6,
        0i64..8,
        prop_oneof![Just(0.5), Just(1.0), 0.0f64..=1.0],
        prop::option::of(0u8..=5),
        prop::collection::vec(
            (
                0u8..4,
                prop_oneof![Just(1.0), Just(-1.0), -1.0f64..=1.0],
                0i64..4,
            ),
            0..4,
        ),
    )
}

fn build(specs: &[Spec], agent_prefix: &str) -> Vec<Candidate> {
    specs
        .iter()
        .map(|(v, agent, ts, conf, class, votes)| {
            let c = candidate(claim(
                "drug:semaglutide",
                "side_effect",
                VALUES[*v],
                &format!("{agent_prefix}{agent}"),
                *conf,
                *ts,
                *class,
            ));
            let votes = votes
                .iter()
                .map(|(voter, w, t)| vote(c.id, &format!("voter{voter}"), *w, *t))
                .collect();
            c.with_votes(votes)
        })
        .collect()
}

fn trust() -> TrustMap {
    TrustMap::new()
        .with("a0", 0.9)
        .with("a1", 0.1)
        .with("b2", 1.0)
        .with("a3", 0.5)
}

/// The response bytes of a resolution; also checks that the typed
/// serialization writes exactly the bytes of the `Value` form (same content,
/// keys in byte order).
fn json(lens: Lens, set: &[Candidate]) -> String {
    let r = resolve(lens, set, &trust());
    let typed = serde_json::to_string(&r).expect("a resolution serializes");
    assert_eq!(typed, r.to_json().to_string(), "lens {lens}");
    typed
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn shuffling_never_changes_the_json(
        (specs, perm) in prop::collection::vec(spec(), 0..24)
            .prop_flat_map(|s| {
                let n = s.len();
                (Just(s), Just((0..n).collect::<Vec<_>>()).prop_shuffle())
            })
    ) {
        let set = build(&specs, "a");
        let shuffled: Vec<Candidate> = perm
            .iter()
            .map(|&i| {
                let mut c = set[i].clone();
                c.votes.reverse();
                c
            })
            .collect();
        for lens in Lens::ALL {
            prop_assert_eq!(json(lens, &set), json(lens, &shuffled), "lens {}", lens);
        }
    }

    #[test]
    fn union_order_does_not_matter(
        a in prop::collection::vec(spec(), 0..16),
        b in prop::collection::vec(spec(), 0..16),
    ) {
        // Different agent namespaces make the two sets disjoint.
        let a = build(&a, "a");
        let b = build(&b, "b");
        let ab: Vec<Candidate> = a.iter().chain(&b).cloned().collect();
        let ba: Vec<Candidate> = b.iter().chain(&a).cloned().collect();
        for lens in Lens::ALL {
            prop_assert_eq!(json(lens, &ab), json(lens, &ba), "lens {}", lens);
        }
        // Merging a set with itself changes nothing (duplicates count once).
        let aa: Vec<Candidate> = a.iter().chain(&a).cloned().collect();
        for lens in Lens::ALL {
            prop_assert_eq!(json(lens, &aa), json(lens, &a), "lens {}", lens);
        }
    }

    #[test]
    fn only_lenses_that_declare_it_depend_on_trust(
        specs in prop::collection::vec(spec(), 0..24)
    ) {
        // The query layer skips trust look-ups when `uses_trust` is false;
        // that is exact only if such lenses ignore trust entirely.
        let set = build(&specs, "a");
        let skewed = TrustMap::new().with("a0", 0.0).with("a1", 1.0).with("a2", 0.3).with("a4", 0.99);
        for lens in Lens::ALL.into_iter().filter(|l| !l.uses_trust()) {
            prop_assert_eq!(
                resolve(lens, &set, &skewed),
                resolve(lens, &set, &TrustMap::new()),
                "lens {}", lens
            );
        }
    }

    #[test]
    fn invariants_hold(specs in prop::collection::vec(spec(), 0..24)) {
        let set = build(&specs, "a");
        for lens in Lens::ALL {
            let r = resolve(lens, &set, &trust());
            prop_assert!((0.0..=1.0).contains(&r.confidence));
            prop_assert!((0.0..=1.0).contains(&r.conflict));
            prop_assert!(r.winners.windows(2).all(|w| w[0] < w[1]));
            let sorted = r.explanation.windows(2).all(|w| {
                w[0].support > w[1].support
                    || (w[0].support == w[1].support && w[0].value < w[1].value)
            });
            prop_assert!(sorted);
            let shares: f64 = r.explanation.iter().map(|e| e.share).sum();
            prop_assert!(shares == 0.0 || (shares - 1.0).abs() < 1e-9);
            let ids: usize = r.explanation.iter().map(|e| e.ids.len()).sum();
            prop_assert_eq!(ids, r.candidates);
            prop_assert_eq!(r.value.is_none(), lens == Lens::Skeptic || set.is_empty());
            if let Some(v) = &r.value {
                let row = r.explanation.iter().find(|e| &e.value == v);
                prop_assert!(row.is_some());
                if let Some(row) = row {
                    prop_assert!(r.winners.iter().all(|w| row.ids.contains(w)));
                }
            }
            if lens == Lens::Layered {
                prop_assert!(r.classes.windows(2).all(|w| w[0].class < w[1].class));
                for c in &r.classes {
                    let sub: Vec<Candidate> = set
                        .iter()
                        .filter(|x| {
                            x.assertion.source.as_ref().map_or(6, |s| s.class) == c.class
                        })
                        .cloned()
                        .collect();
                    prop_assert_eq!(&c.resolution, &resolve(Lens::Consensus, &sub, &trust()));
                }
            }
        }
    }
}

//! Support per distinct value, shares, and the conflict score — shared by
//! every lens so explanations and conflict are comparable across lenses.
//!
//! **Support** of a value = one unit per agent whose current position is
//! that value (an agent's position is its newest candidate assertion,
//! timestamp then larger id) + the sum of counted vote weights on every
//! candidate assertion of that value (only each voter's newest vote per
//! assertion counts). Support can be negative when disputes outweigh units.
//!
//! **Share** of a value = max(support, 0) / total positive support, or 0 when
//! no value has positive support. Values with net support ≤ 0 get share 0.
//!
//! **Conflict** = H / ln(n), where H = −Σ share·ln(share) over the positive
//! shares and n is the number of distinct values (all of them, including
//! those with share 0); 0 when n ≤ 1 or there is no positive support. It is
//! rounded to 12 decimal places so the last bit of the platform `ln` cannot
//! make two nodes disagree.

use std::collections::HashMap;

use stemedb_records::{Object, RecordId};

use crate::candidate::Item;
use crate::resolution::ValueSupport;

/// Decimal places kept in entropy-derived numbers.
const ROUND: f64 = 1e12;

/// Support of one distinct value, with what the tie-breaks need.
#[derive(Debug, Clone)]
pub(crate) struct Tally {
    /// The value.
    pub value: Object,
    /// Net support (units + vote weights).
    pub support: f64,
    /// Share of the total positive support.
    pub share: f64,
    /// Ids of the assertions of this value, ascending.
    pub ids: Vec<RecordId>,
    /// Recency key of the newest assertion of this value.
    pub newest: (i64, RecordId),
}

/// Support of every distinct value of a canonical candidate set.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    /// Tallies sorted by support descending, then value ascending.
    pub tallies: Vec<Tally>,
    /// Sum of positive supports.
    pub total_positive: f64,
    /// Normalised Shannon entropy of the shares.
    pub conflict: f64,
}

impl Table {
    /// Computes the table for `items` (which must be in canonical order).
    pub fn compute(items: &[Item<'_>]) -> Table {
        // Each agent's current position: its newest assertion. The map is only
        // used to mark positions, never iterated in a way that affects sums.
        let mut positions: HashMap<&str, usize> = HashMap::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let slot = positions.entry(item.assertion.agent.as_str()).or_insert(i);
            if item.recency() > items[*slot].recency() {
                *slot = i;
            }
        }
        let mut units = vec![0u32; items.len()];
        for &i in positions.values() {
            units[i] += 1;
        }

        struct Acc<'v> {
            value: &'v Object,
            units: u32,
            votes: f64,
            ids: Vec<RecordId>,
            newest: (i64, RecordId),
        }
        // Grouped with a hash map (order-free), then sorted by value. Items
        // are in id order, so each value's votes are summed in id order.
        let mut slot_of: HashMap<&Object, usize> = HashMap::new();
        let mut accs: Vec<Acc<'_>> = Vec::new();
        for (item, &u) in items.iter().zip(&units) {
            let value = &item.assertion.object;
            let slot = *slot_of.entry(value).or_insert_with(|| {
                accs.push(Acc {
                    value,
                    units: 0,
                    votes: 0.0,
                    ids: Vec::new(),
                    newest: item.recency(),
                });
                accs.len() - 1
            });
            let acc = &mut accs[slot];
            acc.units += u;
            acc.votes += item.net_votes();
            acc.ids.push(item.id);
            acc.newest = acc.newest.max(item.recency());
        }
        accs.sort_by(|a, b| a.value.cmp(b.value));

        let mut tallies: Vec<Tally> = accs
            .into_iter()
            .map(|acc| Tally {
                value: acc.value.clone(),
                support: f64::from(acc.units) + acc.votes + 0.0,
                share: 0.0,
                ids: acc.ids,
                newest: acc.newest,
            })
            .collect();
        // Summed in value order: independent of input order.
        let total_positive = tallies.iter().fold(0.0, |s, t| s + t.support.max(0.0));
        if total_positive > 0.0 {
            for t in &mut tallies {
                t.share = t.support.max(0.0) / total_positive + 0.0;
            }
        }
        tallies.sort_by(|a, b| {
            b.support
                .total_cmp(&a.support)
                .then_with(|| a.value.cmp(&b.value))
        });
        let conflict = entropy(&tallies, total_positive);
        Table {
            tallies,
            total_positive,
            conflict,
        }
    }

    /// The consensus winner: largest support; tie → value whose newest
    /// assertion is newest (timestamp, then larger id).
    pub fn leader(&self) -> Option<&Tally> {
        self.tallies.iter().max_by(|a, b| {
            a.support
                .total_cmp(&b.support)
                .then_with(|| a.newest.cmp(&b.newest))
        })
    }

    /// Share of the largest support (0 when empty).
    pub fn top_share(&self) -> f64 {
        self.tallies.iter().fold(0.0, |m, t| m.max(t.share))
    }

    /// Consensus confidence of a tally: support / total positive, in [0, 1].
    pub fn confidence_of(&self, t: &Tally) -> f64 {
        if self.total_positive > 0.0 {
            crate::candidate::unit(t.support / self.total_positive)
        } else {
            0.0
        }
    }

    /// The explanation rows, in table order.
    pub fn explanation(&self) -> Vec<ValueSupport> {
        self.tallies
            .iter()
            .map(|t| ValueSupport {
                value: t.value.clone(),
                support: t.support,
                share: t.share,
                ids: t.ids.clone(),
            })
            .collect()
    }
}

/// Normalised Shannon entropy of the shares (see the module docs).
fn entropy(tallies: &[Tally], total_positive: f64) -> f64 {
    let n = tallies.len();
    if n <= 1 || total_positive <= 0.0 {
        return 0.0;
    }
    let h = tallies
        .iter()
        .filter(|t| t.share > 0.0)
        .fold(0.0, |h, t| h - t.share * t.share.ln());
    round(h / (n as f64).ln())
}

/// Rounds to 12 decimal places and clamps to [0, 1].
pub(crate) fn round(x: f64) -> f64 {
    crate::candidate::unit((x * ROUND).round() / ROUND)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candidate::canonical;
    use crate::testutil::*;

    fn table(cands: &[crate::Candidate]) -> Table {
        Table::compute(&canonical(cands))
    }

    #[test]
    fn empty_table() {
        let t = table(&[]);
        assert!(t.tallies.is_empty());
        assert_eq!(t.conflict, 0.0);
        assert!(t.leader().is_none());
        assert_eq!(t.top_share(), 0.0);
    }

    #[test]
    fn units_and_votes_add_up() {
        let a = cand(&text("s", "p", "x", "alice", 1))
            .with_votes(vec![vote("v1", 0.5, 2), vote("v2", -0.25, 2)]);
        let b = cand(&text("s", "p", "x", "bob", 1));
        let c = cand(&text("s", "p", "y", "carol", 1));
        let t = table(&[a, b, c]);
        assert_eq!(t.tallies[0].value, obj("x"));
        assert_eq!(t.tallies[0].support, 2.25);
        assert_eq!(t.tallies[1].support, 1.0);
        assert_eq!(t.total_positive, 3.25);
        assert_eq!(t.tallies[0].ids.len(), 2);
    }

    #[test]
    fn negative_support_gets_zero_share() {
        let a = cand(&text("s", "p", "x", "alice", 1));
        let b = cand(&text("s", "p", "y", "bob", 1))
            .with_votes(vec![vote("v1", -1.0, 2), vote("v2", -1.0, 2)]);
        let t = table(&[a, b]);
        assert_eq!(t.tallies[1].support, -1.0);
        assert_eq!(t.tallies[1].share, 0.0);
        assert_eq!(t.tallies[0].share, 1.0);
        assert_eq!(t.conflict, 0.0, "only one value has positive support");
    }

    #[test]
    fn conflict_zero_when_all_agree_one_for_even_split() {
        let agree = [
            cand(&text("s", "p", "x", "a", 1)),
            cand(&text("s", "p", "x", "b", 2)),
        ];
        assert_eq!(table(&agree).conflict, 0.0);
        let split = [
            cand(&text("s", "p", "x", "a", 1)),
            cand(&text("s", "p", "y", "b", 2)),
        ];
        assert_eq!(table(&split).conflict, 1.0);
        let three = [
            cand(&text("s", "p", "x", "a", 1)),
            cand(&text("s", "p", "y", "b", 2)),
            cand(&text("s", "p", "z", "c", 2)),
        ];
        assert_eq!(table(&three).conflict, 1.0);
    }

    #[test]
    fn no_positive_support_means_no_conflict() {
        let a = cand(&text("s", "p", "x", "a", 1)).with_votes(vec![vote("v", -1.0, 1)]);
        let b = cand(&text("s", "p", "y", "b", 1)).with_votes(vec![vote("v", -1.0, 1)]);
        let t = table(&[a, b]);
        assert_eq!(t.total_positive, 0.0);
        assert_eq!(t.conflict, 0.0);
        assert!(t.tallies.iter().all(|x| x.share == 0.0));
        assert_eq!(t.confidence_of(&t.tallies[0]), 0.0);
    }

    #[test]
    fn rounding_helper() {
        assert_eq!(round(0.999_999_999_999_9), 1.0);
        assert_eq!(round(1.5), 1.0);
    }
}

//! `skeptic`: no winner. Reports every distinct value with its support share
//! and a status: `unanimous` when there is exactly one distinct value,
//! `agreed` when the top share is at least [`AGREED_SHARE`], `contested`
//! otherwise. Confidence = 1 − conflict.

use crate::candidate::Item;
use crate::lens::{Lens, base};
use crate::resolution::{AGREED_SHARE, Resolution, SkepticStatus};
use crate::support::{Table, round};

/// Resolves a non-empty canonical candidate set.
pub(crate) fn resolve(items: &[Item<'_>], table: &Table) -> Resolution {
    let mut r = base(Lens::Skeptic, items, table);
    r.status = Some(status(table));
    r.confidence = round(1.0 - table.conflict);
    r
}

/// The agreement status of a support table.
fn status(table: &Table) -> SkepticStatus {
    if table.tallies.len() == 1 {
        SkepticStatus::Unanimous
    } else if table.top_share() >= AGREED_SHARE {
        SkepticStatus::Agreed
    } else {
        SkepticStatus::Contested
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use crate::{Candidate, Lens, SkepticStatus, TrustMap, resolve};

    /// `n` agents saying x and `m` saying y.
    fn split(n: usize, m: usize) -> Vec<Candidate> {
        let mut v = Vec::new();
        for i in 0..n {
            v.push(cand(&text("s", "p", "x", &format!("x{i}"), 1)));
        }
        for i in 0..m {
            v.push(cand(&text("s", "p", "y", &format!("y{i}"), 1)));
        }
        v
    }

    fn skeptic(c: &[Candidate]) -> crate::Resolution {
        resolve(Lens::Skeptic, c, &TrustMap::new())
    }

    #[test]
    fn no_winner_only_shares() {
        let r = skeptic(&split(1, 1));
        assert_eq!(r.value, None);
        assert!(r.winners.is_empty());
        assert_eq!(r.status, Some(SkepticStatus::Contested));
        assert_eq!(r.conflict, 1.0);
        assert_eq!(r.confidence, 0.0);
        assert_eq!(r.explanation[0].share, 0.5);
        assert_eq!(r.to_json()["status"], "contested");
    }

    #[test]
    fn status_thresholds() {
        let r = skeptic(&split(3, 0));
        assert_eq!(r.status, Some(SkepticStatus::Unanimous));
        assert_eq!(r.confidence, 1.0);
        // 3:1 → top share exactly 0.75 → agreed.
        let r = skeptic(&split(3, 1));
        assert_eq!(r.explanation[0].share, 0.75);
        assert_eq!(r.status, Some(SkepticStatus::Agreed));
        assert_eq!(skeptic(&split(9, 1)).status, Some(SkepticStatus::Agreed));
        // 2:1 → 0.667 → contested.
        assert_eq!(skeptic(&split(2, 1)).status, Some(SkepticStatus::Contested));
        // 74:26 → contested; 76:24 → agreed.
        assert_eq!(
            skeptic(&split(74, 26)).status,
            Some(SkepticStatus::Contested)
        );
        assert_eq!(skeptic(&split(76, 24)).status, Some(SkepticStatus::Agreed));
    }

    #[test]
    fn disputed_minority_makes_agreement() {
        let mut v = split(1, 1);
        v[1].push_vote(vote("critic", -1.0, 2));
        let r = skeptic(&v);
        assert_eq!(r.status, Some(SkepticStatus::Agreed));
        assert_eq!(r.conflict, 0.0);
        assert_eq!(r.confidence, 1.0);
    }

    #[test]
    fn confidence_is_one_minus_conflict() {
        let r = skeptic(&split(2, 1));
        assert!((r.confidence - (1.0 - r.conflict)).abs() < 1e-12);
        assert!(r.conflict > 0.9 && r.conflict < 0.92, "{}", r.conflict);
    }
}

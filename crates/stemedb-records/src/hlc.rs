//! Hybrid logical clock for record timestamps.
//!
//! Timestamps are whole milliseconds (SPEC §1), so the clock exposes the
//! physical component only: it never runs backwards on a node, never falls
//! behind a timestamp the node has observed from a peer (within
//! [`Hlc::MAX_DRIFT_MS`] of its own wall clock), and otherwise follows the
//! wall clock. Equal timestamps are ordered by record id in every lens.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The node's clock.
#[derive(Debug, Default)]
pub struct Hlc {
    last: AtomicI64,
}

impl Hlc {
    /// Observed timestamps further than this ahead of the wall clock are not
    /// adopted, so one peer with a broken clock cannot drag every node ahead.
    pub const MAX_DRIFT_MS: i64 = 60_000;

    /// A clock starting at the wall clock.
    pub fn new() -> Self {
        Hlc {
            last: AtomicI64::new(0),
        }
    }

    /// Wall-clock milliseconds since the Unix epoch.
    pub fn wall_ms() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }

    /// The next timestamp: max(wall clock, last issued or observed).
    pub fn now(&self) -> i64 {
        let wall = Self::wall_ms();
        let prev = self.last.fetch_max(wall, Ordering::AcqRel);
        prev.max(wall)
    }

    /// Takes a timestamp seen on a record from elsewhere into account.
    pub fn observe(&self, ts: i64) {
        if ts <= Self::wall_ms().saturating_add(Self::MAX_DRIFT_MS) {
            self.last.fetch_max(ts, Ordering::AcqRel);
        }
    }
}

/// The proleptic Gregorian `(year, month, day)` of `days` since 1970-01-01
/// (Howard Hinnant's civil-from-days), for rendering times as RFC 3339 UTC.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_goes_backwards_and_adopts_near_future() {
        let c = Hlc::new();
        let a = c.now();
        let b = c.now();
        assert!(b >= a);
        let ahead = Hlc::wall_ms() + 5_000;
        c.observe(ahead);
        assert!(c.now() >= ahead);
        let far = Hlc::wall_ms() + 10 * Hlc::MAX_DRIFT_MS;
        c.observe(far);
        assert!(c.now() < far, "a far-future peer clock is ignored");
    }
}

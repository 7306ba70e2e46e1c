//! Majority rule: whether this node accepts writes, from its member view.
//!
//! `N` = known members including self (UP + SUSPECT + DOWN), raised to
//! `min_cluster_size` when given. The node is in the majority when the
//! members it sees UP or SUSPECT (self included) are `> N / 2`. In the
//! minority, `OnMinority::ReadOnly` refuses writes; `Accept` keeps them open.

use serde::Serialize;

use crate::membership::Member;

/// What a node in the minority does with writes (the server maps `replication.on_minority` onto it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnMinority {
    /// Refuse writes until a majority is visible again.
    #[default]
    ReadOnly,
    /// Keep accepting writes; they merge after the partition heals.
    Accept,
}

/// Whether the node accepts writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Reads and writes.
    ReadWrite,
    /// Reads only: writes get `503 read_only`.
    ReadOnly,
}

impl Mode {
    /// `read_write` or `read_only`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ReadWrite => "read_write",
            Mode::ReadOnly => "read_only",
        }
    }
}

/// The outcome of the majority rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Quorum {
    /// Members seen UP or SUSPECT, self included.
    pub visible: usize,
    /// `N`: known members (at least `min_cluster_size`).
    pub total: usize,
    /// `visible > total / 2`.
    pub majority: bool,
    /// The resulting mode.
    pub mode: Mode,
}

impl Quorum {
    /// The `read_only` error message: "this node sees 1 of 3 members; writes need a majority".
    pub fn message(&self) -> String {
        format!(
            "this node sees {} of {} members; writes need a majority",
            self.visible, self.total
        )
    }
}

/// Applies the rule to counts; `visible` and `known` include self.
pub fn evaluate_counts(
    visible: usize,
    known: usize,
    on_minority: OnMinority,
    min_cluster_size: usize,
) -> Quorum {
    let total = known.max(min_cluster_size).max(1);
    let visible = visible.min(total);
    let majority = visible * 2 > total;
    let mode = if majority || on_minority == OnMinority::Accept {
        Mode::ReadWrite
    } else {
        Mode::ReadOnly
    };
    Quorum {
        visible,
        total,
        majority,
        mode,
    }
}

/// Applies the rule to a member view (as from `Membership::members()`, self included).
pub fn evaluate(members: &[Member], on_minority: OnMinority, min_cluster_size: usize) -> Quorum {
    let has_self = members.iter().any(|m| m.is_self);
    let extra = usize::from(!has_self);
    let visible = members.iter().filter(|m| m.status.is_live()).count() + extra;
    evaluate_counts(
        visible,
        members.len() + extra,
        on_minority,
        min_cluster_size,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use OnMinority::{Accept, ReadOnly};

    #[test]
    fn rules_table() {
        // (visible, known, policy, floor) -> (majority, mode)
        let cases = [
            (1, 1, ReadOnly, 0, true, Mode::ReadWrite),
            (3, 3, ReadOnly, 0, true, Mode::ReadWrite),
            (2, 3, ReadOnly, 0, true, Mode::ReadWrite),
            (1, 3, ReadOnly, 0, false, Mode::ReadOnly),
            (1, 3, Accept, 0, false, Mode::ReadWrite),
            (1, 2, ReadOnly, 0, false, Mode::ReadOnly),
            (2, 2, ReadOnly, 0, true, Mode::ReadWrite),
            (2, 4, ReadOnly, 0, false, Mode::ReadOnly),
            (3, 4, ReadOnly, 0, true, Mode::ReadWrite),
            (3, 5, ReadOnly, 0, true, Mode::ReadWrite),
            (2, 5, Accept, 0, false, Mode::ReadWrite),
            // A node that has not joined yet knows only itself; a floor keeps it read-only.
            (1, 1, ReadOnly, 3, false, Mode::ReadOnly),
            (2, 2, ReadOnly, 3, true, Mode::ReadWrite),
        ];
        for (v, k, p, floor, majority, mode) in cases {
            let q = evaluate_counts(v, k, p, floor);
            assert_eq!(
                (q.majority, q.mode),
                (majority, mode),
                "{v}/{k} {p:?} floor {floor}"
            );
        }
        let q = evaluate_counts(1, 3, ReadOnly, 0);
        assert_eq!(
            q.message(),
            "this node sees 1 of 3 members; writes need a majority"
        );
        assert_eq!(Mode::ReadOnly.as_str(), "read_only");
    }
}

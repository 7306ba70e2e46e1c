//! The nemesis: a seeded random schedule of faults, applied one at a time
//! to the three nodes, each held for a while and then healed.
//!
//! Kinds: SIGKILL + restart, SIGSTOP/SIGCONT, partitions (one node against
//! the other two; one node isolated from its peers *and* the clients; a
//! one-way cut; a bridge where A and C cannot see each other but both see
//! B), and a full disk on node3 (its data directory is a small tmpfs; a
//! filler file takes it below `storage.min_free_bytes`, then is deleted).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::cluster::Nodes;
use crate::rng::Rng;
use crate::tmpfs::Tmpfs;

/// Index of the node whose data directory is the tmpfs.
pub const DISK_NODE: usize = 2;

/// One fault (node indexes are 0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL, restarted when healed.
    Kill(usize),
    /// SIGSTOP, SIGCONT when healed.
    Pause(usize),
    /// The node cut off from both peers (clients still reach it): a minority of one against two.
    Halves(usize),
    /// The node cut off from its peers and from the clients.
    Isolate(usize),
    /// `to` drops every packet from `from`; `from` still hears `to`.
    OneWay {
        /// Whose packets are dropped.
        from: usize,
        /// Who drops them.
        to: usize,
    },
    /// `a` and `c` cannot see each other; both see the third node.
    Bridge(usize, usize),
    /// Node3's file system filled below its free-space floor.
    DiskFull,
}

impl Fault {
    /// The kind's name, for counts.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Kill(_) => "kill",
            Fault::Pause(_) => "pause",
            Fault::Halves(_) => "halves",
            Fault::Isolate(_) => "isolate",
            Fault::OneWay { .. } => "one_way",
            Fault::Bridge(..) => "bridge",
            Fault::DiskFull => "disk_full",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |i: &usize| i + 1;
        match self {
            Fault::Kill(i) => write!(f, "SIGKILL node{}", n(i)),
            Fault::Pause(i) => write!(f, "SIGSTOP node{}", n(i)),
            Fault::Halves(i) => write!(f, "partition node{} | the other two", n(i)),
            Fault::Isolate(i) => write!(f, "isolate node{} (peers and clients)", n(i)),
            Fault::OneWay { from, to } => {
                write!(f, "one-way: node{} drops node{}'s packets", n(to), n(from))
            }
            Fault::Bridge(a, c) => write!(
                f,
                "bridge: node{} and node{} cut, both see the third",
                n(a),
                n(c)
            ),
            Fault::DiskFull => write!(f, "disk full on node{}", DISK_NODE + 1),
        }
    }
}

/// A fault, how long it is held, and the quiet gap after healing it.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// The fault.
    pub fault: Fault,
    /// How long it is held.
    pub hold: Duration,
    /// Quiet time after healing.
    pub gap: Duration,
}

/// A schedule of faults filling about `total`.
pub fn schedule(rng: &mut Rng, total: Duration) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut t = Duration::ZERO;
    while t < total {
        let node = rng.below(3) as usize;
        let other = (node + 1 + rng.below(2) as usize) % 3;
        let (fault, hold_ms) = match rng.below(7) {
            0 => (Fault::Kill(node), rng.between(500, 5000)),
            1 => (Fault::Pause(node), rng.between(500, 5000)),
            2 => (Fault::Halves(node), rng.between(3000, 9000)),
            3 => (Fault::Isolate(node), rng.between(3000, 9000)),
            4 => (
                Fault::OneWay {
                    from: other,
                    to: node,
                },
                rng.between(3000, 9000),
            ),
            5 => (Fault::Bridge(node, other), rng.between(3000, 9000)),
            _ => (Fault::DiskFull, rng.between(2000, 8000)),
        };
        let step = Step {
            fault,
            hold: Duration::from_millis(hold_ms),
            gap: Duration::from_millis(rng.between(1000, 3000)),
        };
        t += step.hold + step.gap;
        steps.push(step);
    }
    steps
}

/// Injects faults into a running cluster.
pub struct Nemesis<'a> {
    /// The nodes (in network namespaces).
    pub nodes: &'a mut Nodes,
    /// Node3's data directory.
    pub disk: &'a Tmpfs,
    /// Bytes the filler leaves on node3's disk (below its floor).
    pub disk_leave: u64,
    /// Faults injected, by kind.
    pub counts: BTreeMap<&'static str, usize>,
}

impl Nemesis<'_> {
    /// Starts `fault`.
    pub fn apply(&mut self, fault: Fault) {
        *self.counts.entry(fault.kind()).or_default() += 1;
        let ns = self.nodes.ns();
        let ip = |i: usize| ns.ip(i + 1);
        match fault {
            Fault::Kill(i) => self.nodes.kill9(i),
            Fault::Pause(i) => self.nodes.signal(i, "STOP"),
            Fault::Halves(i) => ns.cut(i + 1, &others(i)),
            Fault::Isolate(i) => {
                ns.cut(i + 1, &others(i));
                let host = ns.host_ip();
                ns.iptables(i + 1, &["-A", "INPUT", "-s", &host, "-j", "DROP"]);
                ns.iptables(i + 1, &["-A", "OUTPUT", "-d", &host, "-j", "DROP"]);
            }
            Fault::OneWay { from, to } => {
                ns.iptables(to + 1, &["-A", "INPUT", "-s", &ip(from), "-j", "DROP"]);
            }
            Fault::Bridge(a, c) => ns.cut(a + 1, &[c + 1]),
            Fault::DiskFull => {
                self.disk.fill(self.disk_leave);
            }
        }
    }

    /// Ends `fault`.
    pub fn heal(&mut self, fault: Fault) {
        match fault {
            Fault::Kill(i) => self.nodes.spawn(i),
            Fault::Pause(i) => self.nodes.signal(i, "CONT"),
            Fault::Halves(i) | Fault::Isolate(i) | Fault::Bridge(i, _) => {
                self.nodes.ns().heal(i + 1)
            }
            Fault::OneWay { to, .. } => self.nodes.ns().heal(to + 1),
            Fault::DiskFull => self.disk.free(),
        }
    }

    /// Removes every possible leftover: rules flushed, disk freed, every
    /// node running (a node that died by itself is restarted and reported).
    pub fn heal_all(&mut self) -> Vec<String> {
        let mut crashed = Vec::new();
        for i in 0..3 {
            self.nodes.ns().heal(i + 1);
            if !self.nodes.alive(i) {
                crashed.push(self.nodes.nodes[i].name.clone());
                self.nodes.kill9(i);
                self.nodes.spawn(i);
            }
        }
        self.disk.free();
        crashed
    }
}

fn others(i: usize) -> [usize; 2] {
    let mut o = [0; 2];
    let mut k = 0;
    for j in 0..3 {
        if j != i {
            o[k] = j + 1;
            k += 1;
        }
    }
    o
}

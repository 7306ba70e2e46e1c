//! Network partitions made for real: three `stemedb-api` processes, each in
//! its own network namespace (198.18.x.0/24 behind a bridge), and node1 cut
//! off from node2 and node3 with `iptables` DROP rules inside its namespace
//! (the test process can still reach every node through the bridge).
//!
//! - `on_minority = "read_only"` (default): node1 goes read-only, the
//!   majority keeps writing; after healing, writes resume on node1 and every
//!   replica converges to the same record set.
//! - `on_minority = "accept"`: both sides write during the partition; after
//!   healing nothing is lost and the replicas agree.
//! - A slow node (its process paused with SIGSTOP for 1.1 s at a time) is
//!   suspected but refutes in time: never DOWN; writes keep succeeding. This
//!   one runs on loopback and needs no privileges. (`tc netem` delay would be
//!   the network-level variant; this kernel has no netem module.)
//!
//! Needs root, `ip` and `iptables` (`.ci/run` installs it). Outside CI the
//! tests are skipped with a message when those are missing; in CI they fail.
//! Namespaces, the bridge and every process are removed on drop, also when
//! an assertion fails.

use std::time::{Duration, Instant};

use serde_json::json;
use stemedb_testkit::{Nodes, eventually, netns};

const NAMES: [&str; 3] = ["node1", "node2", "node3"];

/// A formed three-node cluster in namespaces `{prefix}n1..n3`.
fn cluster(prefix: &str, net: u8, replication_extra: &str) -> Nodes {
    let mut c = Nodes::in_netns(prefix, net, 3);
    c.replication_extra = replication_extra.to_owned();
    c.start_all();
    c.wait_formed(&[0, 1, 2], 3, Duration::from_secs(30));
    c
}

/// Cuts node1 off from node2 and node3; waits until both sides see the other DOWN.
fn partition_node1(c: &Nodes) {
    c.ns().cut(1, &[2, 3]);
    for (i, other) in [(0, "node2"), (0, "node3"), (1, "node1"), (2, "node1")] {
        let down = eventually(Duration::from_secs(20), || {
            c.sees(i, other, "DOWN").then_some(())
        });
        assert!(
            down.is_some(),
            "{} never saw {other} DOWN: {:?}\n{}",
            c.nodes[i].name,
            c.view(i),
            c.log_tail(i)
        );
    }
}

/// Heals the partition and waits until every node sees three members UP again.
fn heal(c: &Nodes) {
    c.ns().heal(1);
    c.wait_formed(&[0, 1, 2], 3, Duration::from_secs(40));
}

/// Every (subject, id) is stored on both of its replicas and readable through every node.
fn assert_everywhere(c: &Nodes, written: &[(String, String)]) {
    for (subject, id) in written {
        for r in stemedb_testkit::replicas_of(subject, &NAMES) {
            let i = NAMES.iter().position(|n| *n == r).expect("replica name");
            assert!(c.stores(i, id), "replica {r} lacks {subject} ({id})");
        }
        for i in 0..3 {
            assert!(
                c.query_has(i, subject, id),
                "{subject} unreadable via {}",
                c.nodes[i].name
            );
        }
    }
}

/// Writes `count` subjects `{tag}:{k}` to node `i`, each expecting 201.
fn write_many(c: &Nodes, i: usize, tag: &str, count: usize) -> Vec<(String, String)> {
    (0..count)
        .map(|k| {
            let subject = format!("{tag}:{k}");
            let id = c.write_ok(i, &subject, tag);
            (subject, id)
        })
        .collect()
}

#[test]
fn partition_minority_goes_read_only_and_heals() {
    if netns::skip_unless_supported("partition_minority_goes_read_only_and_heals") {
        return;
    }
    let c = cluster("sdbro", 21, "");
    let mut written = write_many(&c, 0, "before", 20);

    partition_node1(&c);
    let ro = eventually(Duration::from_secs(10), || {
        (c.mode(0) == "read_only").then_some(())
    });
    assert!(ro.is_some(), "node1 (minority) never went read_only");
    let (s, retry, v) = c.write(0, "minority:write", "x");
    assert_eq!(s, 503, "a minority write must be refused: {v}");
    assert_eq!(v["error"]["code"], json!("read_only"), "{v}");
    assert!(retry.is_some(), "read_only answers carry Retry-After");
    assert!(
        c.query_has(0, &written[0].0, &written[0].1),
        "reads continue on the minority side"
    );
    for i in [1, 2] {
        assert_eq!(c.mode(i), "read_write", "{} is in the majority", NAMES[i]);
    }
    written.extend(write_many(&c, 1, "majority2", 15));
    written.extend(write_many(&c, 2, "majority3", 15));

    heal(&c);
    let resumed = eventually(Duration::from_secs(20), || {
        (c.write(0, "healed:0", "after").0 == 201).then_some(())
    });
    assert!(
        resumed.is_some(),
        "node1 writes did not resume after healing"
    );
    written.extend(write_many(&c, 0, "healed", 5));
    c.converge(&[0, 1, 2], Duration::from_secs(30));
    assert_everywhere(&c, &written);
}

#[test]
fn partition_with_accept_merges_both_sides() {
    if netns::skip_unless_supported("partition_with_accept_merges_both_sides") {
        return;
    }
    let c = cluster("sdbac", 22, "on_minority = \"accept\"\n");
    let mut written = write_many(&c, 0, "before", 10);

    partition_node1(&c);
    assert_eq!(
        c.mode(0),
        "read_write",
        "accept keeps the minority writable"
    );
    written.extend(write_many(&c, 0, "minority", 20));
    written.extend(write_many(&c, 1, "majority2", 10));
    written.extend(write_many(&c, 2, "majority3", 10));
    // The same subjects on both sides: different claims, both kept.
    for k in 0..5 {
        let subject = format!("both:{k}");
        let a = c.write_ok(0, &subject, "minority-view");
        let b = c.write_ok(1, &subject, "majority-view");
        assert_ne!(a, b);
        written.push((subject.clone(), a));
        written.push((subject, b));
    }

    heal(&c);
    c.converge(&[0, 1, 2], Duration::from_secs(30));
    assert_everywhere(&c, &written);
}

#[test]
fn paused_node_is_suspected_not_killed() {
    // A slow node, injected for real: node3's process is stopped (SIGSTOP)
    // for 1.1 s at a time, like a long pause on an overloaded host. That is
    // longer than a probe round (500 ms period, 250 ms ack timeout), so it is
    // suspected (each node probes each peer at least once a second), and shorter
    // than the probe round plus the 1.5 s suspicion timeout, so it refutes
    // after SIGCONT and is never declared DOWN. Loopback, no namespaces.
    let ips = ["127.0.0.31", "127.0.0.32", "127.0.0.33"];
    let mut c = Nodes::new(&ips, &[], stemedb_testkit::free_base(&ips));
    c.start_all();
    c.wait_formed(&[0, 1, 2], 3, Duration::from_secs(30));
    let mut down = Vec::new();
    let mut observe = |c: &Nodes, at: Instant| {
        for i in [0, 1] {
            if c.sees(i, "node3", "DOWN") {
                down.push((i, at.elapsed()));
            }
        }
    };
    let started = Instant::now();
    for round in 0..4 {
        c.signal(2, "STOP");
        let paused = Instant::now();
        while paused.elapsed() < Duration::from_millis(1100) {
            observe(&c, started);
            std::thread::sleep(Duration::from_millis(50));
        }
        c.signal(2, "CONT");
        let resumed = Instant::now();
        while resumed.elapsed() < Duration::from_millis(1500) {
            observe(&c, started);
            std::thread::sleep(Duration::from_millis(50));
        }
        // Writes through node1 keep succeeding (node3's pushes may wait for it).
        c.write_ok(0, &format!("paused:{round}"), "v");
    }
    assert!(
        down.is_empty(),
        "a paused node was declared DOWN: {down:?}\n{}",
        c.log_tail(0)
    );
    // Every transition is counted by the observers (a view sampled by this
    // test could miss a short suspicion).
    let suspicions: f64 = [0, 1]
        .iter()
        .map(|&i| {
            let (_, _, text) = stemedb_testkit::call("GET", &c.api(i, "/metrics"), None);
            text.lines()
                .filter(|l| l.starts_with("stemedb_member_status_changes_total{to=\"SUSPECT\"}"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>()
        })
        .sum();
    assert!(suspicions > 0.0, "node3 was never SUSPECT while paused");
    c.wait_formed(&[0, 1, 2], 3, Duration::from_secs(10));
}

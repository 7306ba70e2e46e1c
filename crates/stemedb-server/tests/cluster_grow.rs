//! Growing a cluster, with real processes on loopback addresses:
//!
//! - a fresh, empty fourth node joins a running three-node cluster and
//!   receives exactly the partitions it now replicates; re-delivering the same
//!   records, duplicated and in reverse order, through other nodes creates
//!   nothing new;
//! - a single-node data directory restarted with cluster config (the seed's
//!   "migration from single node") spreads its records to their replicas.

use std::time::Duration;

use serde_json::{Value, json};
use stemedb_testkit::{Nodes, call, free_base, json_of};

/// A stamped assertion (fixed timestamp), so re-posting it makes the same record.
fn stamped(subject: &str, k: usize) -> Value {
    json!({"subject": subject, "predicate": "p", "object": {"type": "text", "value": format!("v{k}")},
           "agent": "grower", "timestamp": 1_700_000_000_000_i64 + k as i64})
}

/// Posts `body` to `path` on node `i`; (status, body).
fn post(c: &Nodes, i: usize, path: &str, body: &Value) -> (u16, Value) {
    let (s, _, b) = call("POST", &c.api(i, path), Some(body));
    (s, json_of(&b))
}

/// Every id is stored on each of its replicas among `members`; returns how many `on` holds.
fn check_placement(c: &Nodes, written: &[(String, String)], members: &[&str], on: &str) -> usize {
    let mut held = 0;
    for (subject, id) in written {
        for r in stemedb_testkit::replicas_of(subject, members) {
            let i = members.iter().position(|m| *m == r).expect("member");
            assert!(c.stores(i, id), "replica {r} lacks {subject} ({id})");
            held += usize::from(r == on);
        }
    }
    held
}

#[test]
fn fourth_node_joins_and_receives_its_partitions() {
    let ips = ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"];
    let mut c = Nodes::new(&ips[..3], &[], free_base(&ips));
    c.start_all();
    c.wait_formed(&[0, 1, 2], 3, Duration::from_secs(20));

    let bodies: Vec<(String, Value)> = (0..120)
        .map(|k| (format!("grow:{k}"), stamped(&format!("grow:{k}"), k)))
        .collect();
    let mut written = Vec::new();
    for (k, (subject, body)) in bodies.iter().enumerate() {
        let (s, v) = post(&c, k % 3, "/v1/assert", body);
        assert_eq!(s, 201, "{v}");
        written.push((subject.clone(), v["id"].as_str().expect("id").to_owned()));
    }

    let n4 = c.add(ips[3]);
    c.configure(n4, true);
    c.spawn(n4);
    c.wait_formed(&[0, 1, 2, 3], 4, Duration::from_secs(30));
    c.converge(&[3, 0, 1, 2], Duration::from_secs(30));
    let members = ["node1", "node2", "node3", "node4"];
    let held = check_placement(&c, &written, &members, "node4");
    assert!(
        held > 20,
        "node4 should replicate a share of 120 subjects, holds {held}"
    );
    // It did not take partitions it does not replicate (nothing was read through it).
    for (subject, id) in &written {
        if !stemedb_testkit::replicas_of(subject, &members)
            .iter()
            .any(|r| r == "node4")
        {
            assert!(
                !c.stores(n4, id),
                "node4 holds {subject}, not one of its partitions"
            );
        }
    }

    // Duplicated and reordered delivery: the same records again, newest first,
    // through node4 and node2. Each is the same record (same id; `exists` on a
    // node that stores it, `created` on one that did not hold that partition),
    // and no subject gains a second candidate anywhere.
    for i in [n4, 1] {
        for ((subject, body), (_, id)) in bodies.iter().zip(&written).rev() {
            let (s, v) = post(&c, i, "/v1/assert", body);
            assert_eq!((s, &v["id"]), (201, &json!(id)), "{subject}: {v}");
        }
    }
    let summaries = c.sync(&[3, 0, 1, 2]);
    for s in &summaries {
        assert_eq!(s["repaired"], json!(0), "nothing left to repair: {s}");
    }
    for (subject, id) in &written {
        for i in 0..4 {
            let (s, _, body) = call(
                "GET",
                &c.api(i, &format!("/v1/query?subject={subject}")),
                None,
            );
            assert_eq!(s, 200);
            let cands = json_of(&body)["results"][0]["candidates"].clone();
            assert_eq!(
                cands.as_array().map(Vec::len),
                Some(1),
                "{subject} via node{}: {body}",
                i + 1
            );
            assert!(body.contains(id.as_str()));
        }
    }
}

#[test]
fn single_node_data_spreads_after_migration_to_a_cluster() {
    let ips = ["127.0.0.21", "127.0.0.22", "127.0.0.23"];
    let mut c = Nodes::new(&ips, &[], free_base(&ips));
    // A single node with data (no [cluster] section), then stopped.
    c.configure(0, false);
    c.spawn(0);
    c.wait_ready(0, Duration::from_secs(20));
    let mut written = Vec::new();
    for k in 0..150 {
        let subject = format!("legacy:{k}");
        let (s, v) = post(&c, 0, "/v1/assert", &stamped(&subject, k));
        assert_eq!(s, 201, "{v}");
        let id = v["id"].as_str().expect("id").to_owned();
        if k % 5 == 0 {
            let vote = json!({"target": id, "agent": "reviewer", "weight": 1.0,
                              "timestamp": 1_700_000_100_000_i64 + k as i64});
            let (s, v) = post(&c, 0, "/v1/vote", &vote);
            assert_eq!(s, 201, "{v}");
        }
        written.push((subject, id));
    }
    c.stop(0);

    // The seed's migration: restart it with cluster config next to two new nodes.
    c.start_all();
    c.wait_formed(&[0, 1, 2], 3, Duration::from_secs(30));
    c.converge(&[0, 1, 2], Duration::from_secs(40));
    let members = ["node1", "node2", "node3"];
    check_placement(&c, &written, &members, "node1");
    // Votes travel with their targets' partitions.
    for (subject, id) in written.iter().step_by(5) {
        for r in stemedb_testkit::replicas_of(subject, &members) {
            let i = members.iter().position(|m| *m == r).expect("member");
            let (s, _, body) = call(
                "GET",
                &c.api(i, &format!("/v1/assertions/{id}?local=true")),
                None,
            );
            assert_eq!(s, 200);
            let votes = json_of(&body)["votes"].as_array().map(Vec::len);
            assert_eq!(votes, Some(1), "{r} lacks the vote on {subject}: {body}");
        }
    }
}

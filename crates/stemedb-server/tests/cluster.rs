//! Cluster mode with real processes: three `stemedb-api` nodes on 127.0.0.1,
//! 127.0.0.2 and 127.0.0.3 (the seed's ports 18180-18183, or the same layout
//! on other ports when those are busy). One test runs the phases in order on
//! one cluster: formation, replication and anti-entropy, a SIGKILLed node
//! under write load, and minority read-only mode. Another (127.0.0.41-43)
//! checks that a sloppy-quorum copy reaches the real replica after its
//! coordinator is lost. Every process is killed in `Drop`, also when an
//! assertion fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use stemedb_testkit::{Nodes, assertion, call, eventually, free_base, json_of};

const IPS: [&str; 3] = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
const NAMES: [&str; 3] = ["node1", "node2", "node3"];

fn replicas_of(subject: &str) -> Vec<String> {
    stemedb_testkit::replicas_of(subject, &NAMES)
}

/// Writers on node1 and node2 until `stop`; returns (node, subject, id or None, status, at).
type Outcome = (usize, String, Option<String>, u16, Instant);

fn load(c: &Nodes, stop: &Arc<AtomicBool>) -> Vec<thread::JoinHandle<Vec<Outcome>>> {
    (0..2)
        .map(|node| {
            let url = c.api(node, "/v1/assert");
            let stop = stop.clone();
            thread::spawn(move || {
                let mut out = Vec::new();
                let mut k = 0;
                while !stop.load(Ordering::Relaxed) {
                    let subject = format!("load:{node}:{k}");
                    k += 1;
                    let (s, _, body) = call("POST", &url, Some(&assertion(&subject, "v")));
                    let id = json_of(&body)["id"].as_str().map(str::to_owned);
                    out.push((node, subject, id, s, Instant::now()));
                    thread::sleep(Duration::from_millis(25));
                }
                out
            })
        })
        .collect()
}

#[test]
fn three_node_cluster() {
    let t0 = Instant::now();
    let mut c = Nodes::new(&IPS, &[], free_base(&IPS));
    c.start_all();

    // (1) Formation: every gateway lists 3 members UP within 15 s.
    c.wait_formed(&[0, 1, 2], 3, Duration::from_secs(15));
    for i in 0..3 {
        let (s, _, body) = call("GET", &c.api(i, "/v1/ready"), None);
        assert_eq!(s, 200);
        assert_eq!(json_of(&body)["mode"], json!("read_write"), "{body}");
    }
    eprintln!("phase 1 (formed) after {:?}", t0.elapsed());

    // (2) Write to node1; read through node1 at once, through node2/node3 eventually.
    let mut written = Vec::new();
    for k in 0..24 {
        let subject = format!("s:{k}");
        let (s, _, v) = c.write(0, &subject, &format!("v{k}"));
        assert_eq!(s, 201, "write {k}: {v}");
        let id = v["id"].as_str().expect("id").to_owned();
        assert!(
            c.query_has(0, &subject, &id),
            "node1 must read its own write"
        );
        written.push((subject, id));
    }
    // A record read by id through a node that is not one of its replicas:
    // fetched from a member that holds it (with its votes), then stored there.
    let (subject, id) = written
        .iter()
        .find(|(s, _)| !replicas_of(s).iter().any(|r| r == "node3"))
        .expect("some subject is not on node3");
    assert!(!c.stores(2, id), "node3 is not a replica of {subject}");
    let vote = json!({"target": id, "agent": "checker", "weight": 1.0});
    let (s, _, body) = call("POST", &c.api(0, "/v1/vote"), Some(&vote));
    assert_eq!(s, 201, "{body}");
    let (s, _, body) = call("GET", &c.api(2, &format!("/v1/assertions/{id}")), None);
    assert_eq!(s, 200, "GET by id through a non-replica: {body}");
    assert_eq!(
        json_of(&body)["votes"].as_array().map(Vec::len),
        Some(1),
        "{body}"
    );
    let (s, _, body) = call("GET", &c.api(2, &format!("/v1/trace/{id}")), None);
    assert_eq!(s, 200, "trace through a non-replica: {body}");
    let (s, _, body) = call(
        "GET",
        &c.api(2, &format!("/v1/assertions/{id}?local=maybe")),
        None,
    );
    assert_eq!(s, 400, "{body}");
    for i in [1, 2] {
        for (subject, id) in &written {
            let ok = eventually(Duration::from_secs(10), || {
                c.query_has(i, subject, id).then_some(())
            });
            assert!(ok.is_some(), "{} never sees {subject}", c.nodes[i].name);
        }
    }
    c.sync(&[0, 1, 2]);
    for (i, summary) in c.sync(&[0, 1, 2]).iter().enumerate() {
        for p in summary["peers"].as_array().expect("peers") {
            assert_eq!(p["ok"], json!(true), "node{} sync: {summary}", i + 1);
            assert_eq!(
                p["partitions_differing"],
                json!(0),
                "roots differ: {summary}"
            );
        }
    }
    eprintln!(
        "phase 2 (replicated, roots agree, reads by id forwarded) after {:?}",
        t0.elapsed()
    );

    // (3) SIGKILL node3 during a steady write load through node1 and node2.
    let stop = Arc::new(AtomicBool::new(false));
    let writers = load(&c, &stop);
    thread::sleep(Duration::from_millis(1500));
    c.kill9(2);
    let killed = Instant::now();
    let down = eventually(Duration::from_secs(15), || {
        c.view(0)
            .iter()
            .any(|(id, s)| id == "node3" && s == "DOWN")
            .then(|| killed.elapsed())
    });
    eprintln!("node3 DOWN in node1's view after {down:?}");
    thread::sleep(Duration::from_secs(6));
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<Outcome> = writers
        .into_iter()
        .flat_map(|h| h.join().expect("writer"))
        .collect();
    let window = Duration::from_secs(4);
    let late: Vec<&Outcome> = outcomes.iter().filter(|o| o.4 > killed + window).collect();
    let failed_early = outcomes.iter().filter(|o| o.3 != 201).count();
    eprintln!(
        "load: {} writes, {} not 201 (all within the detection window), {} after the window",
        outcomes.len(),
        failed_early,
        late.len()
    );
    assert!(late.len() > 10, "too few writes after the window");
    for o in &late {
        assert_eq!(o.3, 201, "write to node{} after the window failed", o.0 + 1);
    }
    c.spawn(2);
    c.wait_formed(&[0, 1, 2], 3, Duration::from_secs(20));
    c.sync(&[2, 0, 1]);
    let acked: Vec<&Outcome> = outcomes.iter().filter(|o| o.3 == 201).collect();
    let mut local = 0;
    for (_, subject, id, _, _) in &acked {
        let id = id.as_deref().expect("acked id");
        if replicas_of(subject).iter().any(|r| r == "node3") {
            assert!(
                c.stores(2, id),
                "node3 (a replica) lacks acknowledged {subject}"
            );
            local += 1;
        }
        assert!(
            c.query_has(2, subject, id),
            "acknowledged {subject} unreadable via node3"
        );
    }
    eprintln!(
        "phase 3: {} acknowledged writes readable via node3 ({local} stored on it as a replica) after {:?}",
        acked.len(),
        t0.elapsed()
    );

    // (4) Kill two nodes: the survivor is read-only but serves reads; one back: writes resume.
    c.kill9(1);
    c.kill9(2);
    let ro = eventually(Duration::from_secs(15), || {
        let (_, _, body) = call("GET", &c.api(0, "/v1/ready"), None);
        (json_of(&body)["mode"] == json!("read_only")).then_some(())
    });
    assert!(
        ro.is_some(),
        "node1 never went read_only\n{}",
        c.log_tail(0)
    );
    let (s, retry, v) = c.write(0, "after:quorum", "x");
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["error"]["code"], json!("read_only"), "{v}");
    assert!(retry.is_some(), "read_only answers carry Retry-After");
    let (subject, id) = &written[0];
    assert!(
        c.query_has(0, subject, id),
        "reads continue in read_only mode"
    );
    c.spawn(1);
    let resumed = eventually(Duration::from_secs(20), || {
        (c.write(0, "after:quorum", "y").0 == 201).then_some(())
    });
    assert!(
        resumed.is_some(),
        "writes did not resume\n{}",
        c.log_tail(0)
    );
    eprintln!(
        "phase 4 (read_only, then writes resumed) after {:?}",
        t0.elapsed()
    );
}

#[test]
fn sloppy_copy_reaches_the_replicas_without_its_coordinator() {
    // node1 and node2 replicate the subject; node2 is down, so node1 also
    // pushes the write to node3 (sloppy quorum). Then node1 is lost for good
    // (with its hints). node3 must hand its copy to node2 by itself.
    let ips = ["127.0.0.41", "127.0.0.42", "127.0.0.43"];
    let mut c = Nodes::new(&ips, &[], free_base(&ips));
    c.start_all();
    c.wait_formed(&[0, 1, 2], 3, Duration::from_secs(20));
    let subject = (0..1000)
        .map(|k| format!("sloppy:{k}"))
        .find(|s| !replicas_of(s).iter().any(|r| r == "node3"))
        .expect("a subject replicated on node1 and node2");
    c.kill9(1);
    let down = eventually(Duration::from_secs(15), || {
        c.sees(0, "node2", "DOWN").then_some(())
    });
    assert!(down.is_some(), "node1 never saw node2 DOWN");
    let id = c.write_ok(0, &subject, "kept");
    assert!(c.stores(2, &id), "node3 holds the sloppy-quorum copy");
    c.kill9(0);
    c.spawn(1);
    let delivered = eventually(Duration::from_secs(20), || c.stores(1, &id).then_some(()));
    assert!(
        delivered.is_some(),
        "node2 never received the acknowledged write from node3\n{}",
        c.log_tail(2)
    );
}

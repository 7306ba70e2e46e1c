//! Readiness and the metrics `deploy/` relies on, against real processes:
//!
//! - every metric name used by `deploy/prometheus/stemedb-alerts.yml` and
//!   `deploy/grafana/stemedb-cluster.json` is in the `/metrics` of a live
//!   single node or a live cluster node (`up` comes from Prometheus itself);
//! - `GET /v1/ready` is 200 while a node takes writes and 503 `read_only`
//!   (with `Retry-After`) on a node that cannot see a majority, while
//!   `GET /v1/health` stays 200; the readiness gauges follow;
//! - a node that is still opening its store (index rebuilt from the log)
//!   answers 503 `recovering` on every route instead of refusing connections.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use stemedb_testkit::ops::{deploy_metric_names, exposed_names, promql_metric_names};
use stemedb_testkit::{Nodes, call, eventually, free_base, json_of};

const IPS: [&str; 3] = ["127.0.0.61", "127.0.0.62", "127.0.0.63"];

fn scrape(url: &str) -> String {
    let (s, _, text) = call("GET", url, None);
    assert_eq!(s, 200, "scrape {url}");
    text
}

/// The value of an unlabelled gauge in a scrape.
fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn promql_names_are_extracted() {
    assert_eq!(
        promql_metric_names(
            r#"histogram_quantile(0.99, sum by (instance, le) (rate(a_bucket{route="/x", le="0.1"}[5m]))) > 0.2 and on(instance) b unless c offset 5m"#
        ),
        vec!["a_bucket", "b", "c"]
    );
    assert_eq!(
        promql_metric_names(r#"sum(up{job="x"}) <= count(up{job="x"}) / 2"#),
        vec!["up", "up"]
    );
}

#[test]
fn deploy_metrics_exist_and_ready_follows_the_majority() {
    // A single node with fsync on (the fsync histogram is recorded).
    let single_ip = ["127.0.0.64"];
    let mut single = Nodes::new(&single_ip, &[], free_base(&single_ip));
    single.configure(0, false);
    let cfg = single.nodes[0].dir.join("config.toml");
    let text = std::fs::read_to_string(&cfg)
        .expect("config")
        .replace("fsync = false", "fsync = true");
    // Archival on (the archive-lag gauges and failure counter are exported).
    let text = format!(
        "{text}\n[archive]\ntarget = \"file://{}\"\ninterval_ms = 200\n",
        single.nodes[0].dir.join("archive").display()
    );
    std::fs::write(&cfg, text).expect("config");
    single.spawn(0);
    single.wait_ready(0, Duration::from_secs(20));
    let (s, _, body) = call("GET", &single.api(0, "/v1/ready"), None);
    assert_eq!(s, 200, "{body}");
    assert_eq!(json_of(&body)["mode"], json!("single"));
    single.write_ok(0, "single:1", "v");
    let (s, _, _) = call("GET", &single.api(0, "/v1/query?subject=single:1"), None);
    assert_eq!(s, 200);

    let mut c = Nodes::new(&IPS, &[], free_base(&IPS));
    c.start_all();
    c.wait_formed(&[0, 1, 2], 3, Duration::from_secs(20));
    for i in 0..3 {
        c.wait_ready(i, Duration::from_secs(10));
    }
    for k in 0..20 {
        c.write_ok(k % 3, &format!("m:{k}"), "v");
    }
    c.sync(&[0, 1, 2]);

    let mut exposed: BTreeSet<String> = exposed_names(&scrape(&single.api(0, "/metrics")))
        .into_iter()
        .collect();
    let node1 = scrape(&c.api(0, "/metrics"));
    exposed.extend(exposed_names(&node1));
    let missing: Vec<String> = deploy_metric_names()
        .into_iter()
        .filter(|n| n != "up" && !exposed.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "deploy/ uses metrics no node exports: {missing:?}"
    );
    assert_eq!(gauge(&node1, "stemedb_ready"), Some(1.0));
    assert_eq!(gauge(&node1, "stemedb_read_only"), Some(0.0));
    assert_eq!(gauge(&node1, "stemedb_store_failed"), Some(0.0));
    assert!(gauge(&node1, "stemedb_filesystem_avail_bytes").is_some_and(|v| v > 0.0));
    assert!(
        node1.contains("stemedb_disk_usage_bytes{component=\"log\"}"),
        "log usage exported"
    );
    assert!(
        node1.contains("stemedb_replication_bytes_total{method=\"Push\",direction=\"sent\"}"),
        "replication push bytes exported:\n{node1}"
    );

    // Two nodes down: node1 is alive but not ready (read_only, Retry-After).
    c.kill9(1);
    c.kill9(2);
    let not_ready = eventually(Duration::from_secs(20), || {
        let (s, retry, body) = call("GET", &c.api(0, "/v1/ready"), None);
        (s == 503).then_some((retry, json_of(&body)))
    });
    let (retry, body) =
        not_ready.unwrap_or_else(|| panic!("node1 stayed ready\n{}", c.log_tail(0)));
    assert_eq!(body["reason"], json!("read_only"), "{body}");
    assert_eq!(body["error"]["code"], json!("read_only"), "{body}");
    assert_eq!(body["mode"], json!("read_only"), "{body}");
    assert_eq!(body["cluster"]["visible"], json!(1), "{body}");
    assert!(retry.is_some(), "503 carries Retry-After");
    assert_eq!(
        call("GET", &c.api(0, "/v1/health"), None).0,
        200,
        "still alive"
    );
    let node1 = scrape(&c.api(0, "/metrics"));
    assert_eq!(gauge(&node1, "stemedb_ready"), Some(0.0));
    assert_eq!(gauge(&node1, "stemedb_read_only"), Some(1.0));

    // One back: a majority again, ready again.
    c.spawn(1);
    c.wait_ready(0, Duration::from_secs(30));
    c.wait_ready(1, Duration::from_secs(30));
}

/// A node binds its API port before it opens its store: while the index is
/// rebuilt from the log, `/v1/ready`, `/v1/health` and every other route
/// answer 503 `recovering` (never a refused connection, never a 200 from an
/// unopened store), and once ready everything written before is readable.
#[test]
fn a_starting_node_answers_recovering_until_its_store_is_open() {
    let ip = ["127.0.0.66"];
    let mut n = Nodes::new(&ip, &[], free_base(&ip));
    n.configure(0, false);
    n.spawn(0);
    n.wait_ready(0, Duration::from_secs(20));
    // Enough records that rebuilding the index takes a while: 40 batches of
    // 1,000 distinct assertions.
    for b in 0..40 {
        let batch: Vec<serde_json::Value> = (0..1000)
            .map(|i| stemedb_testkit::assertion(&format!("rec:{b}:{i}"), "v"))
            .collect();
        let (s, _, body) = call("POST", &n.api(0, "/v1/assertions"), Some(&json!(batch)));
        assert_eq!(s, 200, "batch {b}: {body}");
    }
    n.stop(0);
    // What `stemedb-api restore` leaves: a log and no index; open rebuilds it.
    std::fs::remove_dir_all(n.nodes[0].dir.join("data").join("index")).expect("remove index");
    n.spawn(0);

    let mut seen: Vec<(u16, String)> = Vec::new();
    // Polled every 10 ms (not `eventually`'s 200 ms), to see the window.
    let started = std::time::Instant::now();
    let mut poll = || {
        let (s, retry, body) = call("GET", &n.api(0, "/v1/ready"), None);
        if s == 0 {
            return None; // not bound yet: the process is still starting
        }
        let v = json_of(&body);
        if s == 503 {
            assert_eq!(v["reason"], json!("recovering"), "{body}");
            assert_eq!(v["error"]["code"], json!("recovering"), "{body}");
            assert_eq!(retry.as_deref(), Some("1"));
            // Other routes say the same while the store is not open.
            let (hs, _, hbody) = call("GET", &n.api(0, "/v1/health"), None);
            let (qs, _, qbody) = call("GET", &n.api(0, "/v1/query?subject=rec:0:0"), None);
            for (st, b) in [(hs, &hbody), (qs, &qbody)] {
                // The store may finish opening between the calls.
                assert!(
                    st == 200 || (st == 503 && json_of(b)["error"]["code"] == json!("recovering")),
                    "{st} {b}"
                );
            }
        }
        seen.push((s, v["reason"].as_str().unwrap_or("").to_owned()));
        (s == 200).then_some(())
    };
    let mut ready = None;
    while ready.is_none() && started.elapsed() < Duration::from_secs(120) {
        ready = poll();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(ready.is_some(), "never ready: {seen:?}\n{}", n.log_tail(0));
    let recovering = seen.iter().filter(|(s, _)| *s == 503).count();
    eprintln!(
        "{recovering} `recovering` answers before ready ({:?})",
        started.elapsed()
    );
    seen.dedup();
    assert!(
        seen.iter().any(|(s, r)| *s == 503 && r == "recovering"),
        "the port was bound only once the store was open (no `recovering` answer seen): {seen:?}"
    );
    let last_readable = |n: &Nodes| {
        let (s, _, body) = call("GET", &n.api(0, "/v1/query?subject=rec:39:999"), None);
        assert_eq!(s, 200, "{body}");
        let v = json_of(&body);
        assert_eq!(
            v["results"][0]["candidates"].as_array().map(Vec::len),
            Some(1),
            "{body}"
        );
    };
    last_readable(&n);

    // A stop signal while the index is rebuilt ends the process then (not
    // after the rebuild and a cluster join); the next start recovers again.
    n.stop(0);
    std::fs::remove_dir_all(n.nodes[0].dir.join("data").join("index")).expect("remove index");
    n.spawn(0);
    let started = std::time::Instant::now();
    loop {
        let (s, _, body) = call("GET", &n.api(0, "/v1/ready"), None);
        if s == 503 && body.contains("recovering") {
            break;
        }
        assert!(
            s != 200 && started.elapsed() < Duration::from_secs(60),
            "no `recovering` window seen ({s}): {}",
            n.log_tail(0)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    n.stop(0);
    let log = n.log_tail(0);
    assert!(
        log.contains("stopped while opening the store"),
        "the stop waited for the store to open:\n{log}"
    );
    n.spawn(0);
    n.wait_ready(0, Duration::from_secs(120));
    last_readable(&n);
    n.stop(0);
}

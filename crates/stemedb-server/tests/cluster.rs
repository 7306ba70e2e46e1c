//! Cluster mode with real processes: three `stemedb-api` nodes on 127.0.0.1,
//! 127.0.0.2 and 127.0.0.3 (the seed's ports 18180-18183, or the same layout
//! on other ports when those are busy). One test runs the phases in order on
//! one cluster: formation, replication and anti-entropy, a SIGKILLed node
//! under write load, and minority read-only mode. Every process is killed in
//! `Drop`, also when an assertion fails.

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const IPS: [&str; 3] = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
const NAMES: [&str; 3] = ["node1", "node2", "node3"];

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// (status, Retry-After, body); status 0 when the request failed.
fn call(method: &str, url: &str, body: Option<&Value>) -> (u16, Option<String>, String) {
    let a = agent();
    let resp = match (method, body) {
        ("POST", Some(b)) => a
            .post(url)
            .header("content-type", "application/json")
            .send(b.to_string().as_bytes()),
        ("POST", None) => a.post(url).send_empty(),
        _ => a.get(url).call(),
    };
    match resp {
        Ok(mut r) => {
            let retry = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let status = r.status().as_u16();
            (
                status,
                retry,
                r.body_mut().read_to_string().unwrap_or_default(),
            )
        }
        Err(_) => (0, None, String::new()),
    }
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}

fn assertion(subject: &str, value: &str) -> Value {
    json!({"subject": subject, "predicate": "p",
           "object": {"type": "text", "value": value}, "agent": "tester"})
}

/// Polls `f` every 200 ms until it returns `Some` or `limit` passes.
fn eventually<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if started.elapsed() > limit {
            return None;
        }
        thread::sleep(Duration::from_millis(200));
    }
}

struct Node {
    name: &'static str,
    ip: &'static str,
    dir: PathBuf,
    child: Option<Child>,
}

struct Cluster {
    nodes: Vec<Node>,
    base: u16,
    _tmp: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

fn ports_free(base: u16) -> bool {
    IPS.iter().all(|ip| {
        (0..3).all(|i| TcpListener::bind((*ip, base + i)).is_ok())
            && UdpSocket::bind((*ip, base + 3)).is_ok()
    })
}

impl Cluster {
    fn new() -> Cluster {
        let base = [18180u16, 28180, 38180, 48180]
            .into_iter()
            .find(|b| ports_free(*b))
            .expect("no free port layout on 127.0.0.1-3");
        let tmp = tempfile::tempdir().expect("tempdir");
        let nodes = (0..3)
            .map(|i| {
                let dir = tmp.path().join(NAMES[i]);
                std::fs::create_dir_all(dir.join("data")).expect("dir");
                let seeds: Vec<String> = (0..3)
                    .filter(|j| *j != i)
                    .map(|j| format!("\"{}:{}\"", IPS[j], base + 3))
                    .collect();
                let (ip, d) = (IPS[i], dir.join("data"));
                let config = format!(
                    "[api]\nbind_addr = \"{ip}:{base}\"\n\n[storage]\ndata_dir = \"{}\"\nfsync = false\n\n\
                     [cluster]\nenabled = true\nnode_id = \"{}\"\nbind_addr = \"{ip}:{}\"\n\
                     rpc_addr = \"{ip}:{}\"\nswim_addr = \"{ip}:{}\"\nseeds = [{}]\n\n\
                     [replication]\nfactor = 2\n",
                    d.display(),
                    NAMES[i],
                    base + 1,
                    base + 2,
                    base + 3,
                    seeds.join(", ")
                );
                std::fs::write(dir.join("config.toml"), config).expect("config");
                Node {
                    name: NAMES[i],
                    ip,
                    dir,
                    child: None,
                }
            })
            .collect();
        let mut c = Cluster {
            nodes,
            base,
            _tmp: tmp,
        };
        for i in 0..3 {
            c.spawn(i);
        }
        c
    }

    fn spawn(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        assert!(n.child.is_none(), "{} already running", n.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(n.dir.join("log"))
            .expect("log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stemedb-api"));
        cmd.arg("--config")
            .arg(n.dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        for (k, _) in std::env::vars() {
            if k.starts_with("STEMEDB_") {
                cmd.env_remove(k);
            }
        }
        n.child = Some(cmd.spawn().expect("spawn stemedb-api"));
    }

    fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn api(&self, i: usize, path: &str) -> String {
        format!("http://{}:{}{path}", self.nodes[i].ip, self.base)
    }

    fn gateway(&self, i: usize, path: &str) -> String {
        format!("http://{}:{}{path}", self.nodes[i].ip, self.base + 1)
    }

    fn log_tail(&self, i: usize) -> String {
        let text = std::fs::read_to_string(self.nodes[i].dir.join("log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Statuses of `i`'s members by id.
    fn view(&self, i: usize) -> Vec<(String, String)> {
        let (s, _, body) = call("GET", &self.gateway(i, "/cluster/members"), None);
        if s != 200 {
            return Vec::new();
        }
        let v = json_of(&body);
        v["members"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .map(|m| {
                        let id = m["id"].as_str().unwrap_or("").to_owned();
                        (id, m["status"].as_str().unwrap_or("").to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn all_up(&self, i: usize, n: usize) -> bool {
        let v = self.view(i);
        v.len() == n && v.iter().all(|(_, s)| s == "UP")
    }

    fn wait_formed(&self, nodes: &[usize], within: Duration) {
        for &i in nodes {
            let ok = eventually(within, || self.all_up(i, 3).then_some(()));
            assert!(
                ok.is_some(),
                "{} does not see 3 members UP: {:?}\n{}",
                self.nodes[i].name,
                self.view(i),
                self.log_tail(i)
            );
        }
    }

    fn write(&self, i: usize, subject: &str, value: &str) -> (u16, Option<String>, Value) {
        let (s, retry, body) = call(
            "POST",
            &self.api(i, "/v1/assert"),
            Some(&assertion(subject, value)),
        );
        (s, retry, json_of(&body))
    }

    fn query_has(&self, i: usize, subject: &str, id: &str) -> bool {
        let (s, _, body) = call(
            "GET",
            &self.api(i, &format!("/v1/query?subject={subject}")),
            None,
        );
        s == 200 && body.contains(id)
    }

    /// Runs anti-entropy on every running node in `nodes`; returns the summaries.
    fn sync(&self, nodes: &[usize]) -> Vec<Value> {
        nodes
            .iter()
            .map(|&i| {
                let (s, _, body) = call("POST", &self.gateway(i, "/cluster/sync"), None);
                assert_eq!(s, 200, "sync on {}: {body}", self.nodes[i].name);
                json_of(&body)
            })
            .collect()
    }
}

fn replicas_of(subject: &str) -> Vec<String> {
    let p = stemedb_storage::partition::of_subject(subject);
    stemedb_cluster::placement::replicas(p, &NAMES, 2)
}

/// Writers on node1 and node2 until `stop`; returns (node, subject, id or None, status, at).
type Outcome = (usize, String, Option<String>, u16, Instant);

fn load(c: &Cluster, stop: &Arc<AtomicBool>) -> Vec<thread::JoinHandle<Vec<Outcome>>> {
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
    let mut c = Cluster::new();

    // (1) Formation: every gateway lists 3 members UP within 15 s.
    c.wait_formed(&[0, 1, 2], Duration::from_secs(15));
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
    eprintln!("phase 2 (replicated, roots agree) after {:?}", t0.elapsed());

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
    c.wait_formed(&[0, 1, 2], Duration::from_secs(20));
    c.sync(&[2, 0, 1]);
    let acked: Vec<&Outcome> = outcomes.iter().filter(|o| o.3 == 201).collect();
    let mut local = 0;
    for (_, subject, id, _, _) in &acked {
        let id = id.as_deref().expect("acked id");
        if replicas_of(subject).iter().any(|r| r == "node3") {
            let (s, _, _) = call("GET", &c.api(2, &format!("/v1/assertions/{id}")), None);
            assert_eq!(s, 200, "node3 (a replica) lacks acknowledged {subject}");
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

//! The seed's deployment end to end, with real processes: three nodes, each
//! in its own network namespace (prefix `op`, 198.18.31.0/24 behind a
//! bridge), the project's nginx config (`deploy/nginx/stemedb.conf`) in the
//! root namespace in front of them, and a real Prometheus scraping all three
//! with the project's alert rules (`deploy/prometheus/stemedb-alerts.yml`,
//! the same file; only the scrape and evaluation intervals are shortened to
//! 1 s in the generated `prometheus.yml`).
//!
//! Under a bounded client load through nginx:
//! 1. kill one node → `StemeDBNodeDown` fires (read from Prometheus'
//!    `/api/v1/alerts`) and no client request fails except those that were
//!    in flight when the node died;
//! 2. kill a second → `StemeDBQuorumLost` fires; reads through nginx
//!    succeed, writes get 503 `read_only`;
//! 3. restart both → the alerts resolve, writes resume, and every
//!    acknowledged write is readable through nginx.
//!
//! Needs root, `ip`, `iptables`, `nginx` and `prometheus` (`.ci/run` installs
//! them); skipped with a message outside CI when one is missing, a failure
//! in CI. Run it under `flock /tmp/stemedb-netns.lock` when other namespace rigs may
//! run at the same time. Prints the measured time from each kill to its
//! alert (docs/benchmarks.md, "Operations").

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stemedb_testkit::ops::{deploy_dir, tool_or_skip};
use stemedb_testkit::{Nodes, eventually, json_of, netns};

const NET: u8 = 31;
const NAMES: [&str; 3] = ["node1", "node2", "node3"];
/// Client threads of the load.
const CLIENTS: usize = 4;
/// Most requests one client thread sends in a load phase.
const MAX_REQUESTS_PER_CLIENT: usize = 4_000;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `text` with `from` replaced by `to`; panics when `from` is absent, so a
/// change to the shipped file cannot silently leave the test on other settings.
fn substitute(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "expected {from:?} in the shipped file");
    text.replace(from, to)
}

/// A child process stopped with SIGTERM (then SIGKILL) on drop.
struct Daemon {
    name: &'static str,
    child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let done = eventually(Duration::from_secs(5), || {
            self.child.try_wait().ok().flatten().map(|_| ())
        });
        if done.is_none() {
            eprintln!("{} did not stop on SIGTERM; killing it", self.name);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn log_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::File::create(dir.join(name)).expect("log file")
}

/// nginx with the shipped site config, upstreams rewritten to the namespaces' addresses.
fn start_nginx(bin: &Path, dir: &Path, port: u16) -> Daemon {
    let shipped = std::fs::read_to_string(deploy_dir().join("nginx/stemedb.conf")).expect("site");
    let site = substitute(&shipped, "10.0.1.5", &format!("198.18.{NET}."));
    let site = substitute(
        &site,
        "    listen 80;",
        &format!("    listen 127.0.0.1:{port};"),
    );
    let d = dir.join("nginx");
    std::fs::create_dir_all(d.join("logs")).expect("nginx dir");
    std::fs::write(d.join("stemedb.conf"), site).expect("site");
    let p = d.display();
    std::fs::write(
        d.join("nginx.conf"),
        format!(
            "daemon off;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log;\nevents {{}}\n\
             http {{\n    access_log {p}/logs/access.log;\n    include {p}/stemedb.conf;\n}}\n"
        ),
    )
    .expect("nginx.conf");
    let child = Command::new(bin)
        .arg("-p")
        .arg(&d)
        .arg("-c")
        .arg(d.join("nginx.conf"))
        .stdin(Stdio::null())
        .stdout(log_file(&d, "stdout"))
        .stderr(log_file(&d, "stderr"))
        .spawn()
        .expect("spawn nginx");
    Daemon {
        name: "nginx",
        child,
    }
}

/// Prometheus with the shipped scrape config (intervals 1 s, targets in the
/// namespaces) and the shipped rules file itself.
fn start_prometheus(bin: &Path, dir: &Path, port: u16) -> Daemon {
    let shipped = std::fs::read_to_string(deploy_dir().join("prometheus/prometheus.yml"))
        .expect("prometheus.yml");
    let rules = deploy_dir()
        .join("prometheus/stemedb-alerts.yml")
        .canonicalize()
        .expect("rules");
    let mut cfg = substitute(&shipped, "  scrape_interval: 15s", "  scrape_interval: 1s");
    cfg = substitute(&cfg, "  scrape_timeout: 5s", "  scrape_timeout: 1s");
    cfg = substitute(
        &cfg,
        "  evaluation_interval: 15s",
        "  evaluation_interval: 1s",
    );
    cfg = substitute(&cfg, "10.0.1.5", &format!("198.18.{NET}."));
    cfg = substitute(
        &cfg,
        "  - stemedb-alerts.yml",
        &format!("  - {}", rules.display()),
    );
    let d = dir.join("prometheus");
    std::fs::create_dir_all(d.join("data")).expect("prometheus dir");
    std::fs::write(d.join("prometheus.yml"), cfg).expect("prometheus.yml");
    let child = Command::new(bin)
        .arg(format!(
            "--config.file={}",
            d.join("prometheus.yml").display()
        ))
        .arg(format!("--storage.tsdb.path={}", d.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(log_file(&d, "stdout"))
        .stderr(log_file(&d, "log"))
        .spawn()
        .expect("spawn prometheus");
    Daemon {
        name: "prometheus",
        child,
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(40)))
        .build()
        .into()
}

/// (status, body); status 0 when the request failed at the transport level.
fn send(a: &ureq::Agent, method: &str, url: &str, body: Option<&Value>) -> (u16, String) {
    let resp = match (method, body) {
        ("POST", Some(b)) => a
            .post(url)
            .header("content-type", "application/json")
            .send(b.to_string().as_bytes()),
        _ => a.get(url).call(),
    };
    match resp {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(e) => (0, e.to_string()),
    }
}

/// Firing alerts by name (with their instance) from Prometheus.
fn alerts(prom: &str) -> Vec<(String, String, String)> {
    let (s, body) = send(&agent(), "GET", &format!("{prom}/api/v1/alerts"), None);
    if s != 200 {
        return Vec::new();
    }
    json_of(&body)["data"]["alerts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    let l = &x["labels"];
                    (
                        l["alertname"].as_str().unwrap_or("").to_owned(),
                        l["instance"].as_str().unwrap_or("").to_owned(),
                        x["state"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn firing(prom: &str, name: &str) -> bool {
    alerts(prom)
        .iter()
        .any(|(n, _, state)| n == name && state == "firing")
}

/// One request of the load, for the in-flight accounting.
#[derive(Clone)]
struct Outcome {
    what: String,
    started: Instant,
    status: u16,
    body: String,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} -> {} {}", self.what, self.status, self.body)
    }
}

#[derive(Default)]
struct Load {
    outcomes: Mutex<Vec<Outcome>>,
    acked: Mutex<Vec<(String, String)>>,
}

/// `CLIENTS` threads writing (and reading back) through the balancer until
/// `stop`, each at most `MAX_REQUESTS_PER_CLIENT` requests.
fn run_load(
    lb: &str,
    tag: &str,
    stop: &Arc<AtomicBool>,
    load: &Arc<Load>,
) -> Vec<thread::JoinHandle<()>> {
    (0..CLIENTS)
        .map(|t| {
            let (lb, tag, stop, load) = (lb.to_owned(), tag.to_owned(), stop.clone(), load.clone());
            thread::spawn(move || {
                let a = agent();
                let mut sent = 0;
                let mut k = 0;
                while !stop.load(Ordering::Relaxed) && sent < MAX_REQUESTS_PER_CLIENT {
                    let subject = format!("{tag}:{t}:{k}");
                    k += 1;
                    let body = json!({"subject": subject, "predicate": "p",
                        "object": {"type": "text", "value": "v"}, "agent": "load",
                        "timestamp": 1_700_000_000_000i64 + k as i64});
                    let started = Instant::now();
                    let (status, resp) = send(&a, "POST", &format!("{lb}/v1/assert"), Some(&body));
                    sent += 1;
                    let id = json_of(&resp)["id"].as_str().map(str::to_owned);
                    let mut outcomes = load.outcomes.lock().expect("lock");
                    outcomes.push(Outcome {
                        what: format!("POST {subject}"),
                        started,
                        status,
                        body: resp,
                    });
                    drop(outcomes);
                    let Some(id) = id.filter(|_| status == 201) else {
                        continue;
                    };
                    load.acked.lock().expect("lock").push((subject, id.clone()));
                    let started = Instant::now();
                    let (status, resp) = send(&a, "GET", &format!("{lb}/v1/assertions/{id}"), None);
                    sent += 1;
                    load.outcomes.lock().expect("lock").push(Outcome {
                        what: format!("GET {id}"),
                        started,
                        status,
                        body: resp,
                    });
                }
            })
        })
        .collect()
}

fn stop_load(stop: &Arc<AtomicBool>, threads: Vec<thread::JoinHandle<()>>) {
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("load thread");
    }
}

#[test]
fn seed_stack_survives_node_kills_and_alerts() {
    if netns::skip_unless_supported("seed_stack_survives_node_kills_and_alerts") {
        return;
    }
    let Some(nginx_bin) = tool_or_skip("seed_stack_survives_node_kills_and_alerts", "nginx") else {
        return;
    };
    let Some(prom_bin) = tool_or_skip("seed_stack_survives_node_kills_and_alerts", "prometheus")
    else {
        return;
    };
    let t0 = Instant::now();
    let mut c = Nodes::in_netns("op", NET, 3);
    c.start_all();
    c.wait_formed(&[0, 1, 2], 3, Duration::from_secs(30));
    for i in 0..3 {
        c.wait_ready(i, Duration::from_secs(20));
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let dir: PathBuf = tmp.path().to_path_buf();
    let (lb_port, prom_port) = (free_port(), free_port());
    let _nginx = start_nginx(&nginx_bin, &dir, lb_port);
    let _prometheus = start_prometheus(&prom_bin, &dir, prom_port);
    let lb = format!("http://127.0.0.1:{lb_port}");
    let prom = format!("http://127.0.0.1:{prom_port}");
    let a = agent();
    let through_lb = eventually(Duration::from_secs(15), || {
        (send(&a, "GET", &format!("{lb}/v1/health"), None).0 == 200).then_some(())
    });
    assert!(through_lb.is_some(), "nginx does not proxy to the nodes");
    let all_up = eventually(Duration::from_secs(30), || {
        let (s, body) = send(
            &a,
            "GET",
            &format!("{prom}/api/v1/query?query=sum(up)"),
            None,
        );
        (s == 200 && json_of(&body)["data"]["result"][0]["value"][1] == json!("3")).then_some(())
    });
    assert!(all_up.is_some(), "Prometheus does not see 3 nodes up");
    assert!(
        alerts(&prom).iter().all(|(n, _, _)| n != "StemeDBNodeDown"),
        "no alert before the kill: {:?}",
        alerts(&prom)
    );
    eprintln!("stack up after {:?}", t0.elapsed());

    // (1) Load through nginx; kill node3.
    let load = Arc::new(Load::default());
    let stop = Arc::new(AtomicBool::new(false));
    let threads = run_load(&lb, "one", &stop, &load);
    thread::sleep(Duration::from_secs(3));
    c.kill9(2);
    let killed_at = Instant::now();
    let node_down = eventually(Duration::from_secs(90), || {
        firing(&prom, "StemeDBNodeDown").then_some(killed_at.elapsed())
    });
    // Keep the load running a little past the alert.
    thread::sleep(Duration::from_secs(2));
    stop_load(&stop, threads);
    let node_down =
        node_down.unwrap_or_else(|| panic!("StemeDBNodeDown never fired: {:?}", alerts(&prom)));
    let down_alerts = alerts(&prom);
    assert!(
        down_alerts.iter().any(|(n, inst, s)| n == "StemeDBNodeDown"
            && inst == &format!("198.18.{NET}.3:18180")
            && s == "firing"),
        "NodeDown names node3: {down_alerts:?}"
    );
    assert!(
        !firing(&prom, "StemeDBQuorumLost"),
        "one node down is not a lost quorum"
    );
    let outcomes = load.outcomes.lock().expect("lock").clone();
    let failed: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !(200..300).contains(&o.status))
        .collect();
    let after_kill: Vec<&&Outcome> = failed.iter().filter(|o| o.started >= killed_at).collect();
    eprintln!(
        "MEASURE single-node kill: {} requests through nginx, {} failed ({} started after the kill); \
         StemeDBNodeDown fired {:.1} s after the kill",
        outcomes.len(),
        failed.len(),
        after_kill.len(),
        node_down.as_secs_f64()
    );
    assert!(
        outcomes.len() > 100,
        "the load ran ({} requests)",
        outcomes.len()
    );
    assert!(
        after_kill.is_empty(),
        "requests that started after the kill failed: {after_kill:?}"
    );
    assert!(
        failed.len() <= CLIENTS,
        "at most one in-flight request per client may fail: {failed:?}"
    );

    // (2) Kill node2: quorum lost; reads work through nginx, writes are 503 read_only.
    c.kill9(1);
    let killed_at = Instant::now();
    let quorum_lost = eventually(Duration::from_secs(60), || {
        firing(&prom, "StemeDBQuorumLost").then_some(killed_at.elapsed())
    })
    .unwrap_or_else(|| panic!("StemeDBQuorumLost never fired: {:?}", alerts(&prom)));
    eprintln!(
        "MEASURE second kill: StemeDBQuorumLost fired {:.1} s after it",
        quorum_lost.as_secs_f64()
    );
    let ro = eventually(Duration::from_secs(15), || {
        (c.mode(0) == "read_only").then_some(())
    });
    assert!(ro.is_some(), "node1 is read_only\n{}", c.log_tail(0));
    for k in 0..20 {
        let body = json!({"subject": format!("ro:{k}"), "predicate": "p",
            "object": {"type": "text", "value": "v"}, "agent": "load"});
        let (s, resp) = send(&a, "POST", &format!("{lb}/v1/assert"), Some(&body));
        assert_eq!(s, 503, "write {k} during quorum loss: {resp}");
        assert_eq!(
            json_of(&resp)["error"]["code"],
            json!("read_only"),
            "{resp}"
        );
    }
    let acked = load.acked.lock().expect("lock").clone();
    let on_node1: Vec<&(String, String)> = acked
        .iter()
        .filter(|(subject, _)| {
            stemedb_testkit::replicas_of(subject, &NAMES).contains(&"node1".to_owned())
        })
        .take(50)
        .collect();
    assert!(
        !on_node1.is_empty(),
        "some acknowledged writes live on node1"
    );
    for (subject, id) in &on_node1 {
        let ok = eventually(Duration::from_secs(10), || {
            (send(&a, "GET", &format!("{lb}/v1/assertions/{id}"), None).0 == 200).then_some(())
        });
        assert!(
            ok.is_some(),
            "read of {subject} ({id}) through nginx fails during quorum loss"
        );
        let (s, body) = send(
            &a,
            "GET",
            &format!("{lb}/v1/query?subject={subject}&lens=recency"),
            None,
        );
        assert_eq!(s, 200, "query {subject}: {body}");
        assert!(body.contains(id.as_str()), "query {subject} lists {id}");
    }

    // (3) Restart both: alerts resolve, writes resume, nothing acknowledged is lost.
    c.spawn(1);
    c.spawn(2);
    let restarted_at = Instant::now();
    c.wait_formed(&[0, 1, 2], 3, Duration::from_secs(60));
    for i in 0..3 {
        c.wait_ready(i, Duration::from_secs(30));
    }
    let resolved = eventually(Duration::from_secs(60), || {
        alerts(&prom)
            .iter()
            .all(|(n, _, _)| {
                n != "StemeDBNodeDown" && n != "StemeDBQuorumLost" && n != "StemeDBNodeReadOnly"
            })
            .then_some(restarted_at.elapsed())
    })
    .unwrap_or_else(|| panic!("alerts did not resolve: {:?}", alerts(&prom)));
    eprintln!(
        "MEASURE restart: alerts resolved {:.1} s after the restart",
        resolved.as_secs_f64()
    );
    let mut acked = acked;
    for k in 0..50 {
        let subject = format!("after:{k}");
        let body = json!({"subject": subject, "predicate": "p",
            "object": {"type": "text", "value": "v"}, "agent": "load"});
        let (s, resp) = send(&a, "POST", &format!("{lb}/v1/assert"), Some(&body));
        assert_eq!(s, 201, "write {k} after the restart: {resp}");
        acked.push((
            subject,
            json_of(&resp)["id"].as_str().expect("id").to_owned(),
        ));
    }
    c.converge(&[0, 1, 2], Duration::from_secs(60));
    for (subject, id) in &acked {
        let (s, body) = send(&a, "GET", &format!("{lb}/v1/assertions/{id}"), None);
        assert_eq!(
            s, 200,
            "acknowledged {subject} ({id}) unreadable through nginx: {body}"
        );
    }
    eprintln!(
        "{} acknowledged writes readable through nginx; whole test {:?}",
        acked.len(),
        t0.elapsed()
    );
}

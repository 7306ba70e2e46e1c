//! Process lifecycle of the real binary: SIGKILL durability, graceful
//! SIGTERM shutdown and restart, and configuration errors.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use stemedb_testkit::server::{Server, assertion};

/// Writers posting unique assertions until `stop` or an error; returns acked ids.
fn writers(
    port: u16,
    threads: usize,
    run_for: Duration,
    stop: Arc<AtomicBool>,
) -> Vec<thread::JoinHandle<Vec<String>>> {
    (0..threads)
        .map(|t| {
            let stop = stop.clone();
            thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(10)))
                    .build()
                    .into();
                let url = format!("http://127.0.0.1:{port}/v1/assert");
                let started = Instant::now();
                let mut acked = Vec::new();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) && started.elapsed() < run_for {
                    let body = assertion(&format!("k:{t}:{i}"), "p", &format!("v{i}"), "w");
                    i += 1;
                    let resp = agent
                        .post(&url)
                        .header("content-type", "application/json")
                        .send(body.to_string().as_bytes());
                    let Ok(mut r) = resp else { break };
                    let status = r.status().as_u16();
                    let Ok(text) = r.body_mut().read_to_string() else {
                        break;
                    };
                    if status == 201 {
                        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
                        acked.push(v["id"].as_str().expect("id").to_owned());
                    } else if status != 503 {
                        panic!("unexpected {status}: {text}");
                    }
                }
                acked
            })
        })
        .collect()
}

fn assert_all_readable(s: &Server, ids: &[String]) {
    for id in ids {
        let r = s.get(&format!("/v1/assertions/{id}"));
        assert_eq!(r.status, 200, "acknowledged {id} lost: {}", r.body);
    }
}

#[test]
fn sigkill_mid_stream_loses_no_acknowledged_write() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut s = Server::prepare(tmp.path(), &[]);
    s.spawn();
    let stop = Arc::new(AtomicBool::new(false));
    let handles = writers(s.port, 8, Duration::from_millis(1500), stop.clone());
    thread::sleep(Duration::from_millis(800));
    s.kill9();
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("writer"))
        .collect();
    assert!(
        acked.len() > 10,
        "too few writes before the kill: {}",
        acked.len()
    );
    s.spawn();
    assert_all_readable(&s, &acked);
    assert_eq!(s.terminate().code(), Some(0));
}

#[test]
fn sigterm_finishes_in_flight_writes_exits_zero_and_restart_keeps_everything() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut s = Server::prepare(tmp.path(), &[]);
    s.spawn();
    let batch: Vec<_> = (0..50)
        .map(|i| assertion(&format!("t:{i}"), "p", "v", "a"))
        .collect();
    let v = s.post("/v1/assertions", &json!(batch)).json();
    assert_eq!(v["created"], 50, "{v}");
    let mut ids: Vec<String> = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect();

    // Writers are running when SIGTERM arrives; every acknowledged write survives.
    let stop = Arc::new(AtomicBool::new(false));
    let handles = writers(s.port, 4, Duration::from_secs(3), stop.clone());
    thread::sleep(Duration::from_millis(400));
    let status = s.terminate();
    stop.store(true, Ordering::Relaxed);
    assert_eq!(status.code(), Some(0), "exit status; log:\n{}", s.log());
    assert!(s.log().contains("shutdown complete"), "{}", s.log());
    for h in handles {
        ids.extend(h.join().expect("writer"));
    }

    s.spawn();
    // The clean shutdown saved the Merkle digests; the restart loads them
    // instead of walking the partition index.
    assert!(s.log().contains("digests_saved=true"), "{}", s.log());
    assert_all_readable(&s, &ids);
    let r = s.get("/v1/subjects?prefix=t:&limit=100");
    assert_eq!(r.json()["subjects"].as_array().map(Vec::len), Some(50));
    assert_eq!(s.terminate().code(), Some(0));
}

/// Runs the binary expecting it to exit by itself; returns (code, stderr).
fn run_to_exit(s: &Server) -> (Option<i32>, String) {
    let mut child = s.command().stderr(Stdio::piped()).spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("server kept running with a bad configuration");
        }
        thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn configuration_errors_exit_nonzero_naming_key_and_source() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = tmp.path().join("config.toml");
    let path = cfg.display().to_string();

    std::fs::write(&cfg, "[api]\nmax_bodybytes = 5\n").expect("write");
    let (code, err) = run_to_exit(&Server::prepare(tmp.path(), &[]));
    assert_ne!(code, Some(0));
    assert!(
        err.contains("max_bodybytes") && err.contains(&path),
        "{err}"
    );

    std::fs::write(&cfg, "[cluster]\nenabled = true\nnode_id = \"n1\"\n").expect("write");
    let (code, err) = run_to_exit(&Server::prepare(tmp.path(), &[]));
    assert_ne!(code, Some(0));
    assert!(
        err.contains("cluster.swim_addr") && err.contains("0.0.0.0"),
        "{err}"
    );

    std::fs::write(&cfg, "[api]\nmax_batch = 10\n").expect("write");
    let (code, err) = run_to_exit(&Server::prepare(
        tmp.path(),
        &[("STEMEDB_STORAGE_QUEUE_DEPTH", "deep")],
    ));
    assert_ne!(code, Some(0));
    assert!(err.contains("STEMEDB_STORAGE_QUEUE_DEPTH"), "{err}");
}

/// The server turns transparent huge pages off for itself at start (its
/// allocator asks for them; zeroing fresh 2 MiB pages cost writes their
/// tail latency). The kernel reports the process flag in `/proc/<pid>/status`.
#[cfg(target_os = "linux")]
#[test]
fn the_server_runs_without_transparent_huge_pages() {
    let s = Server::start(&[]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid()))
        .unwrap_or_else(|e| panic!("reading the server's /proc status: {e}"));
    let line = status
        .lines()
        .find(|l| l.starts_with("THP_enabled:"))
        .unwrap_or_else(|| panic!("no THP_enabled line (kernel < 5.0?):\n{status}"));
    assert_eq!(
        line.split_whitespace().nth(1),
        Some("0"),
        "transparent huge pages are still on for the server: {line}"
    );
}

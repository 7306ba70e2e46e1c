//! End-to-end backup and restore with the real binaries: `stemedb backup`
//! against a running `stemedb-api` taking writes from 16 clients, then
//! `stemedb-api verify` and `stemedb-api restore`, and a server started on
//! the restored data directory.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Server;

const TOKEN: &str = "backup-test-admin-token";

fn api(args: &[&str]) -> Output {
    Command::new(stemedb_testkit::binary::api_bin())
        .args(args)
        .output()
        .expect("run stemedb-api")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn post(url: &str, body: &Value) -> Option<String> {
    let resp = ureq::post(&format!("{url}/v1/assert"))
        .config()
        .http_status_as_error(false)
        .build()
        .header("content-type", "application/json")
        .send(body.to_string())
        .ok()?;
    if resp.status().as_u16() != 201 {
        return None;
    }
    let v: Value = serde_json::from_str(&resp.into_body().read_to_string().ok()?).ok()?;
    v["id"].as_str().map(str::to_owned)
}

fn backup(server: &Server, args: &[&str]) -> Output {
    let mut all = vec!["--token", TOKEN, "backup"];
    all.extend_from_slice(args);
    server.cli(&all)
}

#[test]
fn online_backup_under_16_writers_verifies_restores_and_serves() {
    let env = [
        ("STEMEDB_API_ADMIN_TOKEN", TOKEN),
        ("STEMEDB_STORAGE_SEGMENT_SIZE", "65536"),
    ];
    let server = Server::start_on(None, &env);
    let work = tempfile::tempdir().unwrap();
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let (url, acked, stop) = (server.url.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let started = Instant::now();
                // Bounded in count and time.
                for i in 0..2_000 {
                    if stop.load(Ordering::Relaxed) || started.elapsed() > Duration::from_secs(120)
                    {
                        break;
                    }
                    let body = json!({"subject": format!("w{w}:{i}"), "predicate": "p",
                        "object": {"type": "text", "value": "v"}, "agent": "a"});
                    if let Some(id) = post(&url, &body) {
                        acked.lock().unwrap().push(id);
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.lock().unwrap().len() < 1_500 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let before: Vec<String> = acked.lock().unwrap().clone();
    assert!(
        before.len() >= 1_500,
        "writers acknowledged only {}",
        before.len()
    );

    // Admin only.
    let b0 = work.path().join("nope");
    let out = server.cli(&["backup", "--output", b0.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        text(&out)
    );

    let full = work.path().join("full");
    let out = backup(&server, &["--output", full.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    // Writes go on after the backup; an incremental one picks them up.
    std::thread::sleep(Duration::from_millis(300));
    let inc = work.path().join("inc");
    let out = backup(
        &server,
        &[
            "--output",
            inc.to_str().unwrap(),
            "--incremental-from",
            full.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(full.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest["files"].as_array().unwrap().len() > 1);
    assert_eq!(manifest["index"], "rebuilt_on_restore");
    for f in manifest["files"].as_array().unwrap() {
        let len = std::fs::metadata(full.join(f["path"].as_str().unwrap()))
            .unwrap()
            .len();
        assert_eq!(Some(len), f["size"].as_u64());
        assert_eq!(f["blake3"].as_str().unwrap().len(), 64);
    }

    for b in [&full, &inc] {
        let out = api(&["verify", "--backup", b.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
    }

    let restored = work.path().join("restored");
    let out = api(&[
        "restore",
        "--from",
        full.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    // Not onto a non-empty directory.
    let out = api(&[
        "restore",
        "--from",
        full.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not empty"),
        "{}",
        text(&out)
    );
    let out = api(&["verify", "--data-dir", restored.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));

    let copy = Server::start_on(Some(&restored), &[]);
    for id in &before {
        let resp = ureq::get(&format!("{}/v1/assertions/{id}", copy.url))
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            200,
            "acknowledged write {id} missing after restore"
        );
    }
    drop(copy);

    // The incremental chain restores at least as much.
    let restored2 = work.path().join("restored2");
    let out = api(&[
        "restore",
        "--from",
        inc.to_str().unwrap(),
        "--data-dir",
        restored2.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));

    // One flipped byte: verify fails naming the file.
    let victim = manifest["files"][0]["path"].as_str().unwrap();
    corrupt(&full.join(victim), 200);
    let out = api(&["verify", "--backup", full.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(victim) && err.contains("offset"),
        "{}",
        text(&out)
    );
}

fn corrupt(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x10;
    std::fs::write(path, b).unwrap();
}

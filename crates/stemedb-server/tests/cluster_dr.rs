//! Cluster disaster recovery with real processes, the drill of
//! `docs/backup.md` as a test: three nodes on 127.0.0.71-73, each archiving
//! its sealed segments to its own directory (`[archive]`); writes running
//! through node1 and node2 the whole time; an online backup of node3; node3
//! SIGKILLed and its data directory destroyed; `stemedb-api restore` from the
//! backup plus node3's archive (which holds segments sealed after the
//! backup); node3 restarted; anti-entropy until the replicas agree; then
//! every acknowledged write is stored on each of its replicas
//! (`?local=true`) and readable through every node.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use stemedb_storage::backup::BackupWriter;
use stemedb_storage::backup::writer::Needed;
use stemedb_storage::log::LogPos;
use stemedb_testkit::{Nodes, assertion, call, eventually, free_base, json_of};

const IPS: [&str; 3] = ["127.0.0.71", "127.0.0.72", "127.0.0.73"];
const NAMES: [&str; 3] = ["node1", "node2", "node3"];
const VICTIM: usize = 2;

fn archive_dir(c: &Nodes, i: usize) -> PathBuf {
    c.nodes[i].dir.join("archive")
}

/// Node `i`'s cluster config plus small segments and an archive directory.
fn configure(c: &Nodes, i: usize) {
    c.configure(i, true);
    let path = c.nodes[i].dir.join("config.toml");
    let text = std::fs::read_to_string(&path).expect("config");
    let text = text.replacen("[storage]\n", "[storage]\nsegment_size = 65536\n", 1);
    let text = format!(
        "{text}\n[archive]\ntarget = \"file://{}\"\ninterval_ms = 200\nseal_interval_ms = 1000\n",
        archive_dir(c, i).display()
    );
    std::fs::write(&path, text).expect("config");
}

/// (subject, id) of each acknowledged write; writers stop at `stop` or a bound.
type Acked = Vec<(String, String)>;

fn load(c: &Nodes, stop: &Arc<AtomicBool>) -> Vec<thread::JoinHandle<Acked>> {
    (0..2)
        .map(|node| {
            let url = c.api(node, "/v1/assert");
            let stop = stop.clone();
            thread::spawn(move || {
                let started = Instant::now();
                let mut acked = Vec::new();
                let mut k = 0;
                // Bounded in count and time.
                while !stop.load(Ordering::Relaxed)
                    && k < 20_000
                    && started.elapsed() < Duration::from_secs(240)
                {
                    let subject = format!("dr:{node}:{k}");
                    k += 1;
                    let value = format!("value {k} {}", "x".repeat(200));
                    let (s, _, body) = call("POST", &url, Some(&assertion(&subject, &value)));
                    if s == 201
                        && let Some(id) = json_of(&body)["id"].as_str()
                    {
                        acked.push((subject, id.to_owned()));
                    }
                    thread::sleep(Duration::from_millis(10));
                }
                acked
            })
        })
        .collect()
}

/// `stemedb backup` over HTTP, as the CLI does it: the plan, then each range.
fn backup(api: &str, dir: &Path) -> stemedb_storage::backup::Manifest {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let plan: Value = serde_json::from_str(
        &agent
            .get(format!("{api}/v1/admin/backup"))
            .call()
            .expect("backup plan")
            .body_mut()
            .read_to_string()
            .expect("plan body"),
    )
    .expect("plan json");
    let end = LogPos {
        segment: plan["log_end"]["segment"].as_u64().expect("segment") as u32,
        offset: plan["log_end"]["offset"].as_u64().expect("offset") as u32,
    };
    let extents: Vec<(u32, u64)> = plan["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|s| {
            (
                s["segment"].as_u64().expect("n") as u32,
                s["size"].as_u64().expect("size"),
            )
        })
        .collect();
    let mut w = BackupWriter::create(dir, api, None, end).expect("backup dir");
    let needed: Vec<Needed> = w.needed(&extents).expect("needed");
    for need in needed {
        let url = format!(
            "{api}/v1/admin/backup/segments/{}?from={}&to={}",
            need.segment, need.from, need.to
        );
        let resp = agent.get(&url).call().expect("segment");
        let reader: Box<dyn Read> = Box::new(resp.into_body().into_reader());
        w.add(need, reader, |_| {}).expect("copy segment");
    }
    w.finish().expect("manifest")
}

fn archived_segments(dir: &Path) -> Vec<u64> {
    let v: Value = std::fs::read(dir.join("stemedb-archive.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    v["segments"]
        .as_array()
        .map(|s| s.iter().filter_map(|e| e["segment"].as_u64()).collect())
        .unwrap_or_default()
}

#[test]
fn a_node_rebuilt_from_its_backup_and_archive_rejoins_with_every_acknowledged_write() {
    let t0 = Instant::now();
    let mut c = Nodes::new(&IPS, &[], free_base(&IPS));
    for i in 0..3 {
        configure(&c, i);
        c.spawn(i);
    }
    c.wait_formed(&[0, 1, 2], 3, Duration::from_secs(20));

    let stop = Arc::new(AtomicBool::new(false));
    let writers = load(&c, &stop);
    thread::sleep(Duration::from_secs(3));

    // (1) An online backup of node3 while the load runs.
    let bdir = c.nodes[VICTIM].dir.join("backup");
    let manifest = backup(&c.api(VICTIM, ""), &bdir);
    eprintln!(
        "backup of node3: {} records up to {}:{} after {:?}",
        manifest.records,
        manifest.log_end.segment,
        manifest.log_end.offset,
        t0.elapsed()
    );

    // (2) The load goes on; node3 archives segments sealed after the backup.
    let arch = archive_dir(&c, VICTIM);
    let backed_up_to = u64::from(manifest.log_end.segment);
    let later = eventually(Duration::from_secs(60), || {
        archived_segments(&arch)
            .iter()
            .any(|s| *s > backed_up_to + 1)
            .then_some(())
    });
    assert!(
        later.is_some(),
        "node3 archived nothing after its backup: {:?}\n{}",
        archived_segments(&arch),
        c.log_tail(VICTIM)
    );

    // (3) Disaster: node3 dies and its disk is lost.
    c.kill9(VICTIM);
    let data = c.nodes[VICTIM].dir.join("data");
    std::fs::remove_dir_all(&data).expect("destroy data dir");
    thread::sleep(Duration::from_secs(2));

    // (4) Restore from the last backup plus the archive, verify, restart.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stemedb-api"))
        .args(["restore", "--from"])
        .arg(&bdir)
        .arg("--from")
        .arg(format!("file://{}", arch.display()))
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("restore");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "restore: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let restored: u64 = said
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        restored > manifest.records,
        "the archive added records after the backup ({restored} vs {}): {said}",
        manifest.records
    );
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_stemedb-api"))
        .args(["verify", "--data-dir"])
        .arg(&data)
        .output()
        .expect("verify");
    assert!(verify.status.success(), "{verify:?}");
    c.spawn(VICTIM);
    c.wait_formed(&[0, 1, 2], 3, Duration::from_secs(30));
    eprintln!(
        "node3 restored ({restored} records) and back after {:?}",
        t0.elapsed()
    );
    thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let acked: Acked = writers
        .into_iter()
        .flat_map(|h| h.join().expect("writer"))
        .collect();
    assert!(acked.len() > 200, "too little load: {}", acked.len());

    // (5) Anti-entropy until the replicas agree; then every acknowledged
    // write is on each of its replicas and readable through every node.
    c.converge(&[2, 0, 1], Duration::from_secs(120));
    let mut missing = Vec::new();
    for (subject, id) in &acked {
        for r in stemedb_testkit::replicas_of(subject, &NAMES) {
            let i = NAMES.iter().position(|n| *n == r).expect("node");
            if !c.stores(i, id) {
                missing.push(format!("{subject} ({id}) not stored on {r}"));
            }
        }
        for i in 0..3 {
            let (s, _, _) = call("GET", &c.api(i, &format!("/v1/assertions/{id}")), None);
            if s != 200 {
                missing.push(format!("{subject} ({id}) unreadable via node{}", i + 1));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} problems among {} acknowledged writes, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    eprintln!(
        "{} acknowledged writes on every replica and readable via every node after {:?}",
        acked.len(),
        t0.elapsed()
    );
}

//! Crash test: a child process appends from several threads and is killed
//! with SIGKILL at a random moment; every append that returned must survive.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use stemedb_records::RecordId;
use stemedb_testkit::records::claim;
use stemedb_testkit::rng::Rng;
use stemedb_testkit::store::open_small;

const CHILD_ENV: &str = "STEMEDB_CRASH_CHILD_DIR";

/// The child: runs only when the parent sets the env var; appends until killed
/// and prints the id of every record whose append returned.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let round: u64 = std::env::var("STEMEDB_CRASH_ROUND")
        .unwrap()
        .parse()
        .unwrap();
    let store = open_small(std::path::Path::new(&dir));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0u64.. {
                    // Mix single appends and small batches.
                    let n = if i % 5 == 0 { 8 } else { 1 };
                    let recs: Vec<_> = (0..n)
                        .map(|j| {
                            claim(
                                &format!("s:{round}:{t}:{}", i % 50),
                                "p",
                                &format!("v{i}-{j}"),
                                "crash-agent",
                                1_700_000_000_000 + i as i64,
                            )
                        })
                        .collect();
                    let res = store.append(recs).unwrap();
                    let mut out = std::io::stdout().lock();
                    for r in res {
                        writeln!(out, "ACK {}", r.unwrap().id).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

#[test]
fn sigkill_never_loses_acknowledged_appends() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng::from_time();
    let mut all_acked: HashSet<RecordId> = HashSet::new();
    for round in 0..20u64 {
        let mut child = Command::new(&exe)
            .args([
                "crash_child_writer",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .env("STEMEDB_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut ids = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(hex) = line.strip_prefix("ACK ") {
                    // A line cut by the kill is not a complete acknowledgement.
                    if let Ok(id) = RecordId::from_hex(hex) {
                        ids.push(id);
                    }
                }
            }
            ids
        });
        std::thread::sleep(Duration::from_millis(150 + rng.below(400)));
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGKILL);
        }
        let _ = child.wait();
        let acked = reader.join().unwrap();
        all_acked.extend(acked.iter().copied());

        let store = open_small(dir.path());
        let opened = store.digests().roots();
        for id in &all_acked {
            let got = store.get(*id).unwrap();
            assert!(
                got.is_some(),
                "round {round}: acknowledged record {id} lost"
            );
            assert_eq!(got.unwrap().record.id(), *id);
        }
        let report = store.verify().unwrap();
        assert!(
            report.problems.is_empty(),
            "round {round}: {:?}",
            report.problems
        );
        assert!(report.records as usize >= all_acked.len());
        // The Merkle digests as opened (saved at the last clean close, which
        // the child's writes made stale, or recomputed) are the rebuilt ones.
        store.rebuild().unwrap();
        assert_eq!(
            store.digests().roots(),
            opened,
            "round {round}: digests as opened (saved: {})",
            store.open_report().digests_saved
        );
        store.close();
    }
    assert!(
        all_acked.len() > 100,
        "the child should have written something: {}",
        all_acked.len()
    );
}

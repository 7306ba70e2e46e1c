//! The store owns what is derived from a commit: each record's partition
//! (returned by `append`) and the per-partition Merkle bucket digests. They
//! must be identical whether built incrementally by the commit path, by tail
//! replay on open, or by a full rebuild.

use serde_json::json;
use std::collections::HashMap;
use stemedb_records::{SignedRecord, hlc::Hlc, wire};

use stemedb_storage::digest::{BUCKETS, BucketDigests, Digest, all_partitions, root_of};
use stemedb_storage::{AppendStatus, Store, StoreConfig, partition};
use stemedb_testkit::records::claim;
use stemedb_testkit::store::copy_dir;

fn vote(target: &str, agent: &str, ts: i64) -> SignedRecord {
    wire::parse_vote(
        &json!({"target": target, "agent": agent, "weight": 0.5, "timestamp": ts}),
        &Hlc::new(),
    )
    .unwrap()
}

fn retraction(target: &str, agent: &str, ts: i64) -> SignedRecord {
    wire::parse_retraction(
        &json!({"target": target, "agent": agent, "timestamp": ts}),
        &Hlc::new(),
    )
    .unwrap()
}

fn trust(agent: &str, ts: i64) -> SignedRecord {
    wire::parse_trust(
        &json!({"score": 0.7, "timestamp": ts}),
        Some(agent),
        &Hlc::new(),
    )
    .unwrap()
}

fn open(dir: &std::path::Path) -> Store {
    let mut cfg = StoreConfig::new(dir);
    cfg.segment_size = 64 * 1024;
    Store::open(cfg).unwrap()
}

fn snapshot(d: &BucketDigests) -> Vec<(u16, Digest)> {
    d.roots()
}

/// Appends `n` assertions over a few subjects, then (in one batch each) votes
/// and retractions on them and on assertions created in the same batch.
/// Returns the expected partition of every created record.
fn write_mixed(store: &Store, round: u32, n: usize) -> Vec<(stemedb_records::RecordId, u16)> {
    let mut expected = Vec::new();
    let assertions: Vec<SignedRecord> = (0..n)
        .map(|i| {
            claim(
                &format!("s:{round}:{}", i % 17),
                "p",
                &format!("v{i}"),
                "alice",
                1_700_000_000_000 + i as i64,
            )
        })
        .collect();
    let subjects: Vec<String> = (0..n).map(|i| format!("s:{round}:{}", i % 17)).collect();
    let res = store.append(assertions.clone()).unwrap();
    for ((r, a), s) in res.iter().zip(&assertions).zip(&subjects) {
        let r = r.as_ref().unwrap();
        assert_eq!(r.id, a.id());
        assert_eq!(r.partition, partition::of_subject(s));
        expected.push((r.id, r.partition));
    }
    // Votes and retractions on stored targets; in the same batch a new
    // assertion and a vote on it (target resolved from the batch itself).
    let fresh = claim(&format!("fresh:{round}"), "p", "x", "bob", 5);
    let mut batch: Vec<SignedRecord> = assertions
        .iter()
        .step_by(3)
        .map(|a| vote(&a.id().to_hex(), "carol", 7))
        .collect();
    batch.push(retraction(&assertions[1].id().to_hex(), "alice", 9));
    batch.push(fresh.clone());
    batch.push(vote(&fresh.id().to_hex(), "dave", 11));
    batch.push(trust(&format!("agent{round}"), 13));
    let want: Vec<u16> = assertions
        .iter()
        .enumerate()
        .step_by(3)
        .map(|(i, _)| partition::of_subject(&subjects[i]))
        .chain([
            partition::of_subject(&subjects[1]),
            partition::of_subject(&format!("fresh:{round}")),
            partition::of_subject(&format!("fresh:{round}")),
            partition::GLOBAL,
        ])
        .collect();
    let res = store.append(batch.clone()).unwrap();
    for ((r, rec), p) in res.iter().zip(&batch).zip(want) {
        let r = r.as_ref().unwrap();
        assert_eq!(r.status, AppendStatus::Created, "{rec:?}");
        assert_eq!(r.partition, p, "partition of {:?}", rec.record().kind());
        expected.push((r.id, p));
    }
    // Appending again reports the same partition, status exists.
    let again = store.append(batch).unwrap();
    for (r, (_, p)) in again.iter().zip(&expected[expected.len() - again.len()..]) {
        let r = r.as_ref().unwrap();
        assert_eq!(r.status, AppendStatus::Exists);
        assert_eq!(r.partition, *p);
    }
    expected
}

#[test]
fn digests_match_after_incremental_appends_rebuild_and_tail_replay() {
    let dir = tempfile::tempdir().unwrap();
    let stale_index = tempfile::tempdir().unwrap();
    let mut expected = Vec::new();
    {
        let store = open(dir.path());
        expected.extend(write_mixed(&store, 1, 200));
        store.close();
    }
    // Keep the index as it is now: later it is put back behind the log, so
    // opening must replay the tail written after this point.
    copy_dir(&dir.path().join("index"), &stale_index.path().join("index"));
    let incremental;
    {
        let store = open(dir.path());
        assert!(
            store.open_report().digests_saved,
            "a clean close saves the digests and nothing was written since"
        );
        assert_eq!(snapshot(store.digests()), model(&expected), "as saved");
        expected.extend(write_mixed(&store, 2, 300));
        incremental = snapshot(store.digests());
        // The digests are exactly the XOR of the created records by partition.
        assert_eq!(incremental, model(&expected));
        // Every partition index entry is in the digests and vice versa.
        for p in all_partitions() {
            for id in store.partition_ids(p).unwrap() {
                assert!(expected.contains(&(id, p)), "{id} in partition {p}");
            }
        }
        let rebuilt = store.rebuild().unwrap();
        assert_eq!(rebuilt as usize, expected.len());
        assert_eq!(snapshot(store.digests()), incremental, "after rebuild");
        store.close();
    }
    // Put the stale index back: the log has ~300 records past its checkpoint.
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    copy_dir(&stale_index.path().join("index"), &dir.path().join("index"));
    let store = open(dir.path());
    assert!(
        store.open_report().replayed >= 300,
        "tail replayed: {:?}",
        store.open_report()
    );
    assert!(!store.open_report().rebuilt);
    assert!(
        !store.open_report().digests_saved,
        "records were replayed past the checkpoint the saved digests cover"
    );
    assert_eq!(snapshot(store.digests()), incremental, "after tail replay");
    // And the commit path keeps folding after a replay.
    let extra = store
        .append(vec![claim("after", "p", "v", "alice", 1)])
        .unwrap();
    let extra = extra[0].as_ref().unwrap();
    assert_ne!(snapshot(store.digests()), incremental);
    expected.push((extra.id, extra.partition));
    assert_eq!(snapshot(store.digests()), model(&expected));
    store.close();
    drop(store);
    // A clean close saves them again; the next open loads them as saved.
    let store = open(dir.path());
    assert_eq!(store.open_report().replayed, 0);
    assert!(store.open_report().digests_saved);
    assert_eq!(snapshot(store.digests()), model(&expected), "reopened");
    // A rebuild recomputes them (and clears the saved copy with the index).
    store.rebuild().unwrap();
    assert_eq!(snapshot(store.digests()), model(&expected), "rebuilt");
}

/// The digests computed independently of the store: bucket `id[0]` of the
/// record's partition is the XOR of its ids; the root is `root_of(buckets)`.
fn model(records: &[(stemedb_records::RecordId, u16)]) -> Vec<(u16, Digest)> {
    let mut parts: HashMap<u16, [Digest; BUCKETS]> = HashMap::new();
    for (id, p) in records {
        let b = parts.entry(*p).or_insert([[0u8; 32]; BUCKETS]);
        for (d, x) in b[usize::from(id.0[0])].iter_mut().zip(id.0.iter()) {
            *d ^= x;
        }
    }
    all_partitions()
        .into_iter()
        .map(|p| (p, root_of(parts.get(&p).unwrap_or(&[[0u8; 32]; BUCKETS]))))
        .collect()
}

const CHILD_ENV: &str = "STEMEDB_DIGESTS_CHILD_DIR";

/// The child of [`saved_digests_of_an_earlier_checkpoint_are_not_used`]:
/// appends, makes the index (and its checkpoint) durable, says so and waits
/// to be killed — a crash after the index caught up with the log.
#[test]
fn digests_child_writes_then_is_killed() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = open(std::path::Path::new(&dir));
    for i in 0..50 {
        store
            .append(vec![claim(&format!("child:{i}"), "p", "v", "alice", i)])
            .unwrap();
    }
    store.flush_indexes().unwrap();
    println!("READY");
    std::thread::sleep(std::time::Duration::from_secs(60));
}

/// Digests saved at a clean close cover that close's checkpoint only: after a
/// crash that left the index caught up (nothing to replay) at a later
/// checkpoint, opening recomputes them.
#[test]
fn saved_digests_of_an_earlier_checkpoint_are_not_used() {
    use std::io::BufRead;
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut expected = Vec::new();
    {
        let store = open(dir.path());
        expected.extend(write_mixed(&store, 1, 100));
        store.close();
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "digests_child_writes_then_is_killed",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let ready = stdout.lines().any(|l| l.is_ok_and(|l| l.contains("READY")));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ready, "the child wrote and flushed its index");

    let store = open(dir.path());
    assert_eq!(store.open_report().replayed, 0, "the index caught up");
    assert!(!store.open_report().digests_saved);
    let opened = snapshot(store.digests());
    assert_ne!(opened, model(&expected), "the child's records are in");
    store.rebuild().unwrap();
    assert_eq!(snapshot(store.digests()), opened);
}

/// Anti-entropy lists ids per (partition, bucket) from the `ids` index
/// (each value holds the record's partition): every listing must be exactly
/// the records filed there, in id order, however the pairs are asked.
#[test]
fn bucket_listings_are_the_records_of_each_partition_and_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut expected = write_mixed(&store, 1, 300);
    expected.sort();
    let listing = |p: u16, b: u8| -> Vec<stemedb_records::RecordId> {
        expected
            .iter()
            .filter(|(id, q)| *q == p && id.0[0] == b)
            .map(|(id, _)| *id)
            .collect()
    };
    let mut partitions: Vec<u16> = expected.iter().map(|(_, p)| *p).collect();
    partitions.sort_unstable();
    partitions.dedup();
    // Partition-major and bucket-major, with empty buckets, an empty
    // partition and a pair asked twice.
    let mut wanted: Vec<(u16, u8)> = partitions
        .iter()
        .flat_map(|&p| (0..=255u8).map(move |b| (p, b)))
        .collect();
    wanted.push((partition::GLOBAL, 3));
    wanted.push(wanted[0]);
    for order in [wanted.clone(), {
        let mut w = wanted.clone();
        w.sort_unstable_by_key(|&(p, b)| (b, p));
        w
    }] {
        let got = store.bucket_ids_many(&order).unwrap();
        assert_eq!(got.len(), order.len());
        for ((p, b), ids) in order.iter().zip(&got) {
            assert_eq!(ids, &listing(*p, *b), "partition {p} bucket {b}");
        }
    }
    let mut total = 0;
    for &p in &partitions {
        let all = store.partition_ids(p).unwrap();
        let want: Vec<_> = expected
            .iter()
            .filter(|(_, q)| *q == p)
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(all, want, "partition {p}");
        total += all.len();
        let (id, _) = expected.iter().find(|(_, q)| *q == p).unwrap();
        assert_eq!(store.bucket_ids(p, id.0[0]).unwrap(), listing(p, id.0[0]));
    }
    assert_eq!(total, expected.len());
}

/// An index written by an older version (format 1 kept a separate `part`
/// keyspace; its meta has no format marker) is rebuilt from the log on open,
/// and everything derived from it is as if freshly written.
#[test]
fn an_index_of_an_older_layout_is_rebuilt_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let expected = {
        let store = open(dir.path());
        let e = write_mixed(&store, 1, 200);
        store.close();
        e
    };
    {
        let db = fjall::Database::builder(dir.path().join("index"))
            .open()
            .unwrap();
        let meta = db
            .keyspace("meta", fjall::KeyspaceCreateOptions::default)
            .unwrap();
        assert_eq!(
            meta.get(b"format").unwrap().as_deref(),
            Some(&[stemedb_storage::index::FORMAT][..])
        );
        meta.remove(b"format").unwrap();
        db.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    let store = open(dir.path());
    let report = store.open_report();
    assert!(report.rebuilt, "{report:?}");
    assert_eq!(report.replayed as usize, expected.len());
    assert_eq!(snapshot(store.digests()), model(&expected));
    for (id, p) in &expected {
        assert!(store.get(*id).unwrap().is_some(), "{id}");
        assert!(store.bucket_ids(*p, id.0[0]).unwrap().contains(id));
    }
    store.close();
    drop(store);
    // Rebuilt in the current layout: the next open replays nothing.
    let store = open(dir.path());
    assert!(!store.open_report().rebuilt);
    assert_eq!(store.open_report().replayed, 0);
}

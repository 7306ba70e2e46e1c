//! Store behaviour on real files: dedup, references, reads, rebuild, reopen.

use serde_json::json;
use stemedb_records::{Kind, hlc::Hlc, sign, wire};
use stemedb_storage::{AppendStatus, Rejected, Store, StoreConfig, partition};
use stemedb_testkit::records::claim;
use stemedb_testkit::store::{copy_dir, open_small};

fn rec(v: serde_json::Value) -> stemedb_records::SignedRecord {
    wire::parse_record(&v, &Hlc::new()).unwrap()
}

#[test]
fn duplicates_are_reported_as_exists_and_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path());
    let a = claim("s", "p", "v", "ag", 1);
    let res = store.append(vec![a.clone(), a.clone()]).unwrap();
    assert_eq!(res[0].as_ref().unwrap().status, AppendStatus::Created);
    assert_eq!(res[1].as_ref().unwrap().status, AppendStatus::Exists);
    assert_eq!(
        store.append(vec![a.clone()]).unwrap()[0]
            .as_ref()
            .unwrap()
            .status,
        AppendStatus::Exists
    );
    assert_eq!(store.verify().unwrap().records, 1);
    assert_eq!(store.subject_entries("s", Some("p")).unwrap().len(), 1);
}

/// A record's fate is decided by asking the filter of known ids first. After
/// a reopen the filter is filled by a scan of the stored ids; neither while
/// it fills nor after is a stored record taken for new.
#[test]
fn stored_ids_stay_known_across_reopen_while_and_after_the_id_filter_fills() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path());
    assert!(
        store.id_filter_ready(),
        "a store opened empty is ready at once"
    );
    let claims: Vec<_> = (0..3000)
        .map(|i| claim(&format!("s{i}"), "p", "v", "a", i))
        .collect();
    let statuses = |store: &Store, batch: &[stemedb_records::SignedRecord]| {
        store
            .append(batch.to_vec())
            .unwrap()
            .into_iter()
            .map(|r| r.unwrap().status)
            .collect::<Vec<_>>()
    };
    for chunk in claims.chunks(500) {
        assert!(
            statuses(&store, chunk)
                .iter()
                .all(|s| *s == AppendStatus::Created)
        );
    }
    drop(store);

    let store = open_small(dir.path());
    assert!(
        statuses(&store, &claims[..500])
            .iter()
            .all(|s| *s == AppendStatus::Exists)
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !store.id_filter_ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "the id filter scan never finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        statuses(&store, &claims)
            .iter()
            .all(|s| *s == AppendStatus::Exists)
    );
    for c in &claims {
        assert!(store.get(c.id()).unwrap().is_some());
    }
    let new = claim("s-new", "p", "v", "a", 1);
    assert_eq!(statuses(&store, &[new]), vec![AppendStatus::Created]);
    assert_eq!(store.verify().unwrap().records, 3001);
}

#[test]
fn references_must_exist_and_have_the_right_kind() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path());
    let a = claim("s", "p", "v", "ag", 1);
    let missing = rec(
        json!({"kind": "retraction", "target": "ab".repeat(32), "agent": "ag", "timestamp": 2}),
    );
    let res = store.append(vec![missing]).unwrap();
    assert!(
        matches!(
            res[0],
            Err(Rejected::NotFound {
                field: "target",
                ..
            })
        ),
        "{res:?}"
    );
    // A vote on an assertion appended in the same batch is fine.
    let vote = rec(
        json!({"kind": "vote", "target": a.id().to_hex(), "agent": "v", "weight": 0.5, "timestamp": 3}),
    );
    let res = store.append(vec![a.clone(), vote.clone()]).unwrap();
    assert!(res.iter().all(|r| r.is_ok()), "{res:?}");
    // A vote on a vote is the wrong kind.
    let bad = rec(
        json!({"kind": "vote", "target": vote.id().to_hex(), "agent": "v", "weight": 1, "timestamp": 4}),
    );
    let res = store.append(vec![bad.clone()]).unwrap();
    assert!(
        matches!(
            res[0],
            Err(Rejected::WrongKind {
                found: Kind::Vote,
                ..
            })
        ),
        "{res:?}"
    );
    assert!(
        store.get(bad.id()).unwrap().is_none(),
        "nothing of a rejected record is stored"
    );
    // The vote is filed under its target's subject and predicate, and by target.
    let entries = store.subject_entries("s", None).unwrap();
    assert_eq!(
        entries.iter().map(|e| e.kind).collect::<Vec<_>>(),
        vec![Kind::Assertion, Kind::Vote]
    );
    assert_eq!(store.annotations(a.id()).unwrap()[0].record.id(), vote.id());
    // Epoch supersession must point at an epoch.
    let e1 = rec(
        json!({"kind": "epoch", "name": "e1", "subject_prefix": "s", "agent": "ag", "timestamp": 5}),
    );
    let e2 = rec(
        json!({"kind": "epoch", "name": "e2", "subject_prefix": "s", "supersedes": e1.id().to_hex(), "agent": "ag", "timestamp": 6}),
    );
    let wrong = rec(
        json!({"kind": "epoch", "name": "e3", "supersedes": a.id().to_hex(), "agent": "ag", "timestamp": 7}),
    );
    let res = store.append(vec![e1, e2, wrong]).unwrap();
    assert!(res[0].is_ok() && res[1].is_ok());
    assert!(matches!(
        res[2],
        Err(Rejected::WrongKind {
            field: "supersedes",
            ..
        })
    ));
    assert_eq!(store.epochs().len(), 2);
}

#[test]
fn bad_signatures_are_rejected_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path());
    let key = sign::generate_key().unwrap();
    let other = sign::generate_key().unwrap();
    let body = json!({"subject": "s", "predicate": "p", "object": {"type": "number", "value": 1},
                      "agent": sign::public_hex(&key), "timestamp": 10});
    let unsigned = rec(body.clone());
    let good_sig = sign::sign(unsigned.record(), &key);
    let bad_sig = sign::sign(unsigned.record(), &other);
    let mut good = body.clone();
    good["signature"] = json!(hex::encode(good_sig));
    let mut bad = body.clone();
    bad["signature"] = json!(hex::encode(bad_sig));
    bad["timestamp"] = json!(11);
    let res = store.append(vec![rec(bad.clone()), rec(good)]).unwrap();
    match &res[0] {
        Err(Rejected::Invalid(e)) => assert_eq!(e.field, "signature"),
        other => panic!("{other:?}"),
    }
    assert!(res[1].is_ok());
    assert!(store.get(rec(bad).id()).unwrap().is_none());
    let report = store.verify().unwrap();
    assert_eq!((report.records, report.signatures), (1, 1));
}

#[test]
fn listings_trust_lineage_partitions_and_agents() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path());
    let parent = claim("drug:a", "status", "proposed", "x", 1);
    let child = rec(
        json!({"subject": "drug:a", "predicate": "status", "object": {"type": "text", "value": "approved"},
                           "agent": "x", "timestamp": 2, "parent": parent.id().to_hex(), "lifecycle": "approved"}),
    );
    let others = vec![
        claim("drug:b", "side_effect", "nausea", "y", 3),
        claim("drug:b", "dose", "1mg", "y", 4),
        claim("gene:c", "p", "v", "x", 5),
    ];
    let mut all = vec![parent.clone(), child.clone()];
    all.extend(others);
    for r in store.append(all).unwrap() {
        r.unwrap();
    }
    assert_eq!(
        store.subjects("drug:", None, 10).unwrap(),
        vec!["drug:a", "drug:b"]
    );
    assert_eq!(
        store.subjects("drug:", Some("drug:a"), 10).unwrap(),
        vec!["drug:b"]
    );
    assert_eq!(
        store.subjects("", None, 2).unwrap(),
        vec!["drug:a", "drug:b"]
    );
    assert_eq!(
        store.predicates("drug:b").unwrap(),
        vec!["dose", "side_effect"]
    );
    assert_eq!(
        store.children(parent.id()).unwrap()[0].record.id(),
        child.id()
    );
    assert_eq!(store.by_agent("y", None, 10).unwrap().len(), 2);
    let p = partition::of_subject("drug:a");
    let ids = store.partition_ids(p).unwrap();
    assert!(ids.contains(&parent.id()) && ids.contains(&child.id()));

    assert_eq!(store.trust("x", None).unwrap(), None);
    let t1 = rec(json!({"kind": "trust", "agent": "x", "score": 0.9, "timestamp": 100}));
    let t2 = rec(json!({"kind": "trust", "agent": "x", "score": 0.2, "timestamp": 200}));
    store.append(vec![t2, t1]).unwrap();
    assert_eq!(store.trust("x", None).unwrap(), Some(0.2));
    assert_eq!(store.trust("x", Some(150)).unwrap(), Some(0.9));
    assert_eq!(store.trust("x", Some(50)).unwrap(), None);
    assert_eq!(
        store.trust("xx", None).unwrap(),
        None,
        "agent prefixes do not collide"
    );
}

#[test]
fn rebuild_reproduces_incremental_indexes_and_reopen_replays_only_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path());
    let mut ids = Vec::new();
    for i in 0..3000i64 {
        let a = claim(
            &format!("s:{}", i % 97),
            &format!("p{}", i % 3),
            &format!("v{}", i % 5),
            &format!("ag{}", i % 7),
            i,
        );
        ids.push(a.id());
        let mut batch = vec![a.clone()];
        if i % 10 == 0 {
            batch.push(rec(json!({"kind": "vote", "target": a.id().to_hex(), "agent": "voter", "weight": -0.5, "timestamp": i + 1})));
        }
        if i % 33 == 0 {
            batch.push(rec(json!({"kind": "retraction", "target": a.id().to_hex(), "agent": "ag", "timestamp": i + 2})));
        }
        if i % 500 == 0 {
            batch.push(rec(json!({"kind": "trust", "agent": format!("ag{}", i % 7), "score": 0.7, "timestamp": i})));
            batch.push(rec(json!({"kind": "epoch", "name": format!("e{i}"), "subject_prefix": "s:", "agent": "ag", "timestamp": i})));
        }
        for r in store.append(batch).unwrap() {
            r.unwrap();
        }
    }
    let incremental = store.index_digest().unwrap();
    let counts = store.index_counts().unwrap();
    let n = store.rebuild().unwrap();
    assert!(n > 3000);
    assert_eq!(
        store.index_digest().unwrap(),
        incremental,
        "rebuild must give identical indexes"
    );
    assert_eq!(store.index_counts().unwrap(), counts);
    assert_eq!(store.epochs().len(), 6);
    drop(store);

    let store = open_small(dir.path());
    assert_eq!(
        store.open_report().replayed,
        0,
        "a clean reopen replays nothing"
    );
    assert_eq!(store.index_digest().unwrap(), incremental);
    for id in &ids {
        assert!(store.get(*id).unwrap().is_some());
    }
    assert!(store.verify().unwrap().problems.is_empty());
    assert_eq!(store.epochs().len(), 6);
}

#[test]
fn lost_index_is_rebuilt_from_the_log_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path());
    for i in 0..500 {
        store
            .append(vec![claim("s", "p", &format!("{i}"), "a", i)])
            .unwrap();
    }
    let digest = store.index_digest().unwrap();
    drop(store);
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let store = Store::open(StoreConfig {
        segment_size: 64 * 1024,
        ..StoreConfig::new(dir.path())
    })
    .unwrap();
    assert_eq!(store.open_report().replayed, 500);
    assert_eq!(store.index_digest().unwrap(), digest);
}

/// A long replay writes sorted table runs instead of batches: with a small
/// memtable budget the rebuild spans many runs, votes and retractions find
/// targets that are in earlier runs, and the indexes equal the incremental
/// ones byte for byte — after a rebuild and after opening a store whose index
/// was lost (a log past the bulk threshold).
#[test]
fn bulk_replay_in_many_runs_gives_the_incremental_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = || StoreConfig {
        segment_size: 1024 * 1024,
        index_write_buffer_bytes: 1024 * 1024,
        ..StoreConfig::new(dir.path())
    };
    let store = Store::open(cfg()).unwrap();
    // ~9 MiB of log: past the 8 MiB from which opening replays in bulk.
    let big = "x".repeat(3000);
    let mut ids = Vec::new();
    for i in 0..3000i64 {
        let a = claim(
            &format!("s:{}", i % 89),
            &format!("p{}", i % 4),
            &format!("{big}{i}"),
            &format!("ag{}", i % 11),
            i,
        );
        ids.push(a.id());
        let mut batch = vec![a];
        if i % 7 == 0 && i > 0 {
            // Targets far back in the log, so in an earlier bulk run.
            let old = ids[(i / 3) as usize];
            batch.push(rec(json!({"kind": "vote", "target": old.to_hex(), "agent": "voter", "weight": 1.0, "timestamp": i + 1})));
        }
        if i % 41 == 0 && i > 0 {
            let old = ids[(i / 2) as usize];
            batch.push(rec(json!({"kind": "retraction", "target": old.to_hex(), "agent": "ag", "timestamp": i + 2})));
        }
        for r in store.append(batch).unwrap() {
            r.unwrap();
        }
    }
    let incremental = store.index_digest().unwrap();
    let buckets = store.digests().roots();
    let counts = store.index_counts().unwrap();
    let before = store.subject_entries("s:5", Some("p1")).unwrap().len();
    assert!(before > 0);
    store.rebuild().unwrap();
    assert_eq!(
        store.index_digest().unwrap(),
        incremental,
        "rebuild in bulk runs"
    );
    assert_eq!(store.index_counts().unwrap(), counts);
    drop(store);

    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let store = Store::open(cfg()).unwrap();
    assert!(store.open_report().replayed > 3000);
    // The bulk runs noted every id: the filter answers without a scan.
    assert!(store.id_filter_ready());
    let again = claim("s:0", "p0", &format!("{big}0"), "ag0", 0);
    assert_eq!(
        store.append(vec![again]).unwrap()[0]
            .as_ref()
            .unwrap()
            .status,
        AppendStatus::Exists
    );
    assert_eq!(
        store.index_digest().unwrap(),
        incremental,
        "replay on open in bulk runs"
    );
    // The bulk replay computes the Merkle bucket digests as it writes `part`.
    assert_eq!(
        store.digests().roots(),
        buckets,
        "bucket digests after bulk replay"
    );
    assert_eq!(
        store.subject_entries("s:5", Some("p1")).unwrap().len(),
        before
    );
    for id in &ids {
        assert!(store.get(*id).unwrap().is_some());
    }
    assert!(store.verify().unwrap().problems.is_empty());
    drop(store);
    let store = Store::open(cfg()).unwrap();
    assert_eq!(
        store.open_report().replayed,
        0,
        "the checkpoint covers the bulk runs"
    );
    assert_eq!(store.index_digest().unwrap(), incremental);
    assert_eq!(
        store.digests().roots(),
        buckets,
        "bucket digests from the `part` index"
    );
}

/// An index whose checkpoint lies past the end of its log (the disk lost
/// fsynced log data, or an index copied from elsewhere) is discarded and
/// rebuilt from the log: nothing of the longer log's records stays indexed.
#[test]
fn an_index_ahead_of_its_log_is_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (long, short) = (dir.path().join("long"), dir.path().join("short"));
    let first: Vec<_> = (0..50)
        .map(|i| claim("s", "p", &format!("{i}"), "a", i))
        .collect();
    let later: Vec<_> = (50..100)
        .map(|i| claim("s", "p", &format!("{i}"), "a", i))
        .collect();
    let store = open_small(&long);
    store.append(first.clone()).unwrap();
    drop(store);
    copy_dir(&long, &short);
    let store = open_small(&short);
    let digest = store.index_digest().unwrap();
    drop(store);
    let store = open_small(&long);
    store.append(later.clone()).unwrap();
    drop(store);
    // The short log gets the long log's index.
    std::fs::remove_dir_all(short.join("index")).unwrap();
    copy_dir(&long.join("index"), &short.join("index"));

    let store = open_small(&short);
    let report = store.open_report();
    assert!(report.rebuilt, "the index must be rebuilt");
    assert_eq!(report.replayed, 50);
    assert_eq!(store.index_digest().unwrap(), digest);
    for a in &first {
        assert!(store.get(a.id()).unwrap().is_some());
    }
    for a in &later {
        assert!(store.get(a.id()).unwrap().is_none(), "not in this log");
    }
    assert!(store.verify().unwrap().problems.is_empty());
}

#[test]
fn below_the_free_space_floor_nothing_is_written_and_the_store_stays_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let a = claim("s", "p", "v", "ag", 1);
    {
        // A floor no file system can satisfy: every group is refused.
        let mut cfg = StoreConfig::new(dir.path());
        cfg.min_free_bytes = u64::MAX;
        let store = Store::open(cfg).unwrap();
        let end = store.log_end();
        for _ in 0..2 {
            match store.append(vec![a.clone()]) {
                Err(e @ stemedb_storage::StorageError::InsufficientStorage { .. }) => {
                    assert!(e.is_no_space());
                    assert!(e.to_string().contains("min_free_bytes"), "{e}");
                }
                other => panic!("expected InsufficientStorage, got {other:?}"),
            }
        }
        assert_eq!(store.failure(), None, "a refusal must not fail the store");
        assert_eq!(store.log_end(), end, "nothing may be written");
        assert!(store.get(a.id()).unwrap().is_none());
        assert!(store.below_free_floor().is_some());
    }
    // The same data directory with the floor off takes the write.
    let mut cfg = StoreConfig::new(dir.path());
    cfg.min_free_bytes = 0;
    let store = Store::open(cfg).unwrap();
    assert_eq!(store.below_free_floor(), None);
    let res = store.append(vec![a.clone()]).unwrap();
    assert_eq!(res[0].as_ref().unwrap().status, AppendStatus::Created);
    assert_eq!(store.verify().unwrap().problems, Vec::<String>::new());
}

/// Group commit overlaps writing group N+1 with indexing group N. Writers
/// racing on the same records and on votes for them: every record is
/// written once (one `created` per id across all writers), an acknowledged
/// record — created or exists — is readable the moment its answer arrives,
/// a vote whose target was acknowledged never finds it missing, and the
/// indexes equal a rebuild from the log.
#[test]
fn racing_writers_see_records_in_flight_and_acks_are_readable() {
    use std::collections::HashMap;

    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path());
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut created: Vec<stemedb_records::RecordId> = Vec::new();
                for k in 0..120i64 {
                    // Everyone writes the same records, each writer in its own order of batches.
                    let a = claim(&format!("race:{}", k % 17), "p", &format!("v{k}"), "ag", k);
                    let vote = rec(json!({"kind": "vote", "target": a.id().to_hex(),
                        "agent": "voter", "weight": 1, "timestamp": k}));
                    let batches = if (k + w) % 3 == 0 {
                        vec![vec![a.clone(), vote.clone()]]
                    } else {
                        vec![vec![a.clone()], vec![vote.clone()]]
                    };
                    for batch in batches {
                        for r in store.append(batch).unwrap() {
                            let ok = r.unwrap_or_else(|e| panic!("writer {w}, k {k}: {e}"));
                            assert!(
                                store.get(ok.id).unwrap().is_some(),
                                "acknowledged ({:?}) but not readable: {}",
                                ok.status,
                                ok.id
                            );
                            if ok.status == AppendStatus::Created {
                                created.push(ok.id);
                            }
                        }
                    }
                }
                created
            })
        })
        .collect();
    let mut creations: HashMap<stemedb_records::RecordId, usize> = HashMap::new();
    for w in writers {
        for id in w.join().unwrap() {
            *creations.entry(id).or_default() += 1;
        }
    }
    assert_eq!(creations.len(), 240, "120 assertions and 120 votes");
    assert!(
        creations.values().all(|n| *n == 1),
        "a record created twice"
    );
    assert_eq!(store.verify().unwrap().records, 240, "each written once");
    let incremental = store.index_digest().unwrap();
    store.rebuild().unwrap();
    assert_eq!(store.index_digest().unwrap(), incremental);
}

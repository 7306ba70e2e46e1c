//! A damaged index stops the open with an error that names the way out
//! (docs/runbooks/index-rebuild.md): move the index aside and open again,
//! which rebuilds it from the log with every record.

use std::fs;
use std::path::{Path, PathBuf};

use stemedb_storage::{StorageError, Store, StoreConfig};
use stemedb_testkit::records::claim;

const RECORDS: usize = 60_000;

fn config(dir: &Path) -> StoreConfig {
    let mut cfg = StoreConfig::new(dir);
    cfg.fsync = false;
    cfg
}

/// A store whose index has tables on disk: the records are written, the
/// index removed, and the open rebuilds it in bulk runs (index tables).
fn store_with_index_tables(dir: &Path) -> Vec<stemedb_records::RecordId> {
    let store = Store::open(config(dir)).expect("open");
    let mut ids = Vec::with_capacity(RECORDS);
    for chunk in 0..RECORDS / 1_000 {
        let batch: Vec<_> = (0..1_000)
            .map(|i| {
                let n = chunk * 1_000 + i;
                claim(&format!("s:{n}"), "p", &format!("value {n}"), "a", n as i64)
            })
            .collect();
        ids.extend(batch.iter().map(|r| r.id()));
        for r in store.append(batch).expect("append") {
            r.expect("stored");
        }
    }
    store.close();
    drop(store);
    fs::remove_dir_all(dir.join("index")).expect("remove index");
    let store = Store::open(config(dir)).expect("rebuild");
    assert_eq!(store.open_report().replayed as usize, RECORDS);
    store.close();
    ids
}

fn table_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("index")];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.parent().is_some_and(|q| q.ends_with("tables")) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_damaged_index_is_named_and_rebuilt_once_moved_aside() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ids = store_with_index_tables(dir.path());
    let tables = table_files(dir.path());
    assert!(!tables.is_empty(), "the bulk replay wrote index tables");
    // A table file lost (e.g. deleted under a running server).
    fs::remove_file(&tables[0]).expect("remove a table");

    let err = match Store::open(config(dir.path())) {
        Ok(_) => panic!("an index with a missing table opened"),
        Err(e) => e,
    };
    let index_dir = dir.path().join("index");
    match &err {
        StorageError::IndexDamaged { dir: d, .. } => assert_eq!(d, &index_dir),
        other => panic!("expected IndexDamaged, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("move") && msg.contains("index-rebuild.md"),
        "{msg}"
    );

    // The way out: move it aside (kept for inspection), open again.
    fs::rename(&index_dir, dir.path().join("index.damaged")).expect("move aside");
    let store = Store::open(config(dir.path())).expect("open after moving the index aside");
    assert_eq!(store.open_report().replayed as usize, RECORDS);
    for id in ids.iter().step_by(997) {
        assert!(store.get(*id).expect("get").is_some(), "{id} readable");
    }
    let report = store.verify().expect("verify");
    assert_eq!(report.records as usize, RECORDS);
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn a_flipped_byte_in_an_index_table_is_damage_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    store_with_index_tables(dir.path());
    let tables = table_files(dir.path());
    // Damage every table's first block: whichever the open reads first fails its checksum.
    for t in &tables {
        let mut data = fs::read(t).expect("read table");
        if data.len() > 200 {
            for b in &mut data[100..164] {
                *b ^= 0x5a;
            }
            fs::write(t, &data).expect("write table");
        }
    }
    match Store::open(config(dir.path())) {
        Err(StorageError::IndexDamaged { source, .. }) => {
            assert!(source.to_string().contains("ChecksumMismatch"), "{source}");
        }
        Ok(_) => panic!("an index with damaged tables opened"),
        Err(other) => panic!("expected IndexDamaged, got {other:?}"),
    }
}

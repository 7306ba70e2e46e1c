//! Torn and damaged tails: recovery cuts back to the last good record and says so.

use std::fs::{self, OpenOptions};
use std::path::PathBuf;
use stemedb_testkit::records::claim;
use stemedb_testkit::store::open_small;

fn last_segment(dir: &std::path::Path) -> PathBuf {
    let mut segs: Vec<_> = fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segs.sort();
    segs.pop().unwrap()
}

fn write_records(dir: &std::path::Path, n: usize) -> Vec<stemedb_records::RecordId> {
    let store = open_small(dir);
    let mut ids = Vec::new();
    for i in 0..n {
        let rec = claim("s:torn", "p", &format!("v{i}"), "a", 1000 + i as i64);
        ids.push(rec.id());
        store.append(vec![rec]).unwrap()[0].as_ref().unwrap();
    }
    store.close();
    ids
}

#[test]
fn truncated_mid_record_recovers_to_last_good_record() {
    let dir = tempfile::tempdir().unwrap();
    let ids = write_records(dir.path(), 10);
    let seg = last_segment(dir.path());
    let len = fs::metadata(&seg).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 7)
        .unwrap();

    let store = open_small(dir.path());
    let rep = &store.open_report().recovery;
    assert!(rep.truncated_bytes > 0, "{rep:?}");
    assert!(
        rep.truncation_reason.as_deref().unwrap().contains("torn"),
        "{rep:?}"
    );
    for id in &ids[..9] {
        assert!(store.get(*id).unwrap().is_some());
    }
    assert!(
        store.get(ids[9]).unwrap().is_none(),
        "the torn record is gone"
    );
    assert!(store.verify().unwrap().problems.is_empty());
    // The log is writable again after the cut and the write survives reopen.
    let rec = claim("s:torn", "p", "after", "a", 5000);
    store.append(vec![rec.clone()]).unwrap();
    drop(store);
    let store = open_small(dir.path());
    assert!(store.get(rec.id()).unwrap().is_some());
    assert_eq!(store.open_report().recovery.truncated_bytes, 0);
}

#[test]
fn flipped_bytes_in_last_record_are_detected_and_cut() {
    let dir = tempfile::tempdir().unwrap();
    let ids = write_records(dir.path(), 10);
    let seg = last_segment(dir.path());
    let mut data = fs::read(&seg).unwrap();
    let n = data.len();
    data[n - 3] ^= 0xff;
    data[n - 10] ^= 0x55;
    fs::write(&seg, &data).unwrap();

    let store = open_small(dir.path());
    let rep = store.open_report().clone();
    assert!(rep.recovery.truncated_bytes > 0);
    assert!(
        rep.recovery
            .truncation_reason
            .as_deref()
            .unwrap()
            .contains("CRC"),
        "{rep:?}"
    );
    for id in &ids[..9] {
        assert!(store.get(*id).unwrap().is_some());
    }
    assert!(store.get(ids[9]).unwrap().is_none());
    // The index had the damaged record; it must not point into the cut tail.
    assert!(store.verify().unwrap().problems.is_empty());
    assert!(store.subject_entries("s:torn", Some("p")).unwrap().len() == 9);
}

#[test]
fn damage_in_a_sealed_segment_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_small(dir.path());
    // Enough data for several 64 KiB segments.
    for i in 0..2000 {
        let rec = claim(&format!("s:{i}"), "p", &"x".repeat(100), "a", 1000 + i);
        store.append(vec![rec]).unwrap();
    }
    store.close();
    drop(store);
    let first = dir.path().join("log").join("0000000001.seg");
    let mut data = fs::read(&first).unwrap();
    data[100] ^= 0xff;
    fs::write(&first, &data).unwrap();
    let err = stemedb_storage::Store::open(stemedb_storage::StoreConfig {
        segment_size: 64 * 1024,
        ..stemedb_storage::StoreConfig::new(dir.path())
    });
    // The index checkpoint is past segment 1, so open succeeds; verify finds it.
    match err {
        Ok(store) => {
            let err = store.verify().unwrap_err();
            assert!(err.to_string().contains("0000000001.seg"), "{err}");
        }
        Err(e) => assert!(e.to_string().contains("corruption"), "{e}"),
    }
}

#[test]
fn torn_frame_inside_preallocated_space_is_cut_and_never_resurfaces() {
    let dir = tempfile::tempdir().unwrap();
    let ids = write_records(dir.path(), 5);
    let seg = last_segment(dir.path());
    let mut data = fs::read(&seg).unwrap();
    // A frame header promising 200 bytes, 40 bytes of it written, then the
    // zeros of preallocated space: what a crash mid-write leaves behind.
    data.extend_from_slice(&200u32.to_le_bytes());
    data.extend_from_slice(&[0xAB; 44]);
    data.extend_from_slice(&[0u8; 4096]);
    fs::write(&seg, &data).unwrap();

    let store = open_small(dir.path());
    let rep = store.open_report().recovery.clone();
    assert_eq!(rep.truncated_bytes, 48, "{rep:?}");
    let fresh = claim("s:torn", "p", "fresh", "a", 9999);
    store.append(vec![fresh.clone()]).unwrap();
    drop(store);
    let store = open_small(dir.path());
    assert_eq!(store.open_report().recovery.truncated_bytes, 0);
    for id in ids.iter().chain([&fresh.id()]) {
        assert!(store.get(*id).unwrap().is_some());
    }
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty());
    assert_eq!(report.records, 6);
}

#[test]
fn index_workers_out_of_range_are_refused_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("db");
    for workers in [0, 1, 65] {
        let err = stemedb_storage::Store::open(stemedb_storage::StoreConfig {
            index_workers: workers,
            ..stemedb_storage::StoreConfig::new(&data)
        })
        .err()
        .unwrap_or_else(|| panic!("index_workers = {workers} was accepted"));
        let msg = err.to_string();
        assert!(
            msg.contains("index_workers must be between 2 and 64")
                && msg.contains(&format!("got {workers}")),
            "{msg}"
        );
        assert!(!data.exists(), "a refused open created {}", data.display());
    }
    for workers in [2, 64] {
        let store = stemedb_storage::Store::open(stemedb_storage::StoreConfig {
            index_workers: workers,
            ..stemedb_storage::StoreConfig::new(&data)
        })
        .unwrap();
        store.close();
    }
}

//! Backup, verify and restore at the library level: consistency under
//! concurrent writers, damage detection, point-in-time cut, incremental chains.

use std::collections::HashSet;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stemedb_records::RecordId;
use stemedb_storage::backup::{
    self, BackupError, BackupWriter, MANIFEST_NAME, backup_store, restore, verify_backup,
    verify_data_dir,
};
use stemedb_storage::log::segment;
use stemedb_storage::log::{Entry, LogPos};
use stemedb_storage::{Store, StoreConfig};
use stemedb_testkit::records::claim;
use stemedb_testkit::store::open_small;

fn write_batch(store: &Store, tag: &str, n: usize) -> Vec<RecordId> {
    let recs: Vec<_> = (0..n)
        .map(|i| claim(&format!("s:{tag}:{i}"), "p", "v", "a", 1_000 + i as i64))
        .collect();
    let ids = recs.iter().map(|r| r.id()).collect();
    for r in store.append(recs).unwrap() {
        r.unwrap();
    }
    ids
}

fn all_ids(dir: &Path) -> HashSet<RecordId> {
    let store = Store::open(StoreConfig::new(dir)).unwrap();
    let mut out = HashSet::new();
    store
        .scan(
            LogPos {
                segment: 0,
                offset: 0,
            },
            |_, r| {
                out.insert(r.id());
                Ok(())
            },
        )
        .unwrap();
    drop(store);
    out
}

#[test]
fn backup_during_16_writers_restores_every_write_acknowledged_before_it_began() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_small(&tmp.path().join("data"));
    let acked: Arc<Mutex<Vec<RecordId>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let (store, acked, stop) = (store.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                // Bounded in count and time.
                while !stop.load(Ordering::Relaxed) && i < 5_000 {
                    let rec = claim(&format!("w{w}:{i}"), "p", "v", "a", i as i64);
                    let id = rec.id();
                    store.append(vec![rec]).unwrap()[0].as_ref().unwrap();
                    acked.lock().unwrap().push(id);
                    i += 1;
                }
            })
        })
        .collect();
    while acked.lock().unwrap().len() < 2_000 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let before: Vec<RecordId> = acked.lock().unwrap().clone();
    let bdir = tmp.path().join("backup");
    let manifest = backup_store(&store, &bdir, None).unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let after = acked.lock().unwrap().len();
    assert!(manifest.files.len() > 1, "the log spans several segments");
    assert!(manifest.commit_time_ms.is_some());
    let report = verify_backup(&bdir).unwrap();
    assert_eq!(report.records, manifest.records);
    assert!(report.records >= before.len() as u64);
    drop(store);

    let restored = tmp.path().join("restored");
    let r = restore(std::slice::from_ref(&bdir), &restored, None).unwrap();
    assert_eq!(r.records, manifest.records);
    let ids = all_ids(&restored);
    for id in &before {
        assert!(
            ids.contains(id),
            "acknowledged write {id} missing from the restore"
        );
    }
    assert!(ids.len() <= after);
    verify_data_dir(&restored).unwrap();
}

#[test]
fn one_corrupt_byte_fails_verify_naming_the_file_and_restore_refuses_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_small(&tmp.path().join("data"));
    for b in 0..20 {
        write_batch(&store, &format!("b{b}"), 100);
    }
    let bdir = tmp.path().join("backup");
    let m = backup_store(&store, &bdir, None).unwrap();
    drop(store);
    verify_backup(&bdir).unwrap();
    let victim = &m.files[1];
    let path = bdir.join(&victim.path);
    let mut bytes = fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    match verify_backup(&bdir) {
        Err(BackupError::Corrupt {
            path: p, offset, ..
        }) => {
            assert_eq!(p, path);
            assert!(
                offset <= at as u64,
                "first bad frame {offset} is at or before byte {at}"
            );
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    let msg = verify_backup(&bdir).unwrap_err().to_string();
    assert!(msg.contains(&victim.path), "{msg}");
    let restored = tmp.path().join("restored");
    assert!(restore(&[bdir], &restored, None).is_err());
    assert!(!restored.exists(), "a failed restore leaves nothing behind");
}

#[test]
fn until_keeps_exactly_the_records_committed_at_or_before_the_time() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let store = open_small(&data);
    for b in 0..12 {
        write_batch(&store, &format!("b{b}"), 40);
        std::thread::sleep(Duration::from_millis(3));
    }
    // Commit time of every record, from the log's markers.
    let mut commit_of: Vec<(i64, RecordId)> = Vec::new();
    let mut current = None;
    let log_dir = data.join("log");
    for seg in stemedb_storage::log::list_segments(&log_dir).unwrap() {
        let bytes = fs::read(stemedb_storage::log::segment_path(&log_dir, seg)).unwrap();
        backup::piece::inspect(
            &log_dir,
            seg,
            0,
            &bytes,
            backup::piece::Ending::ZerosAllowed,
            backup::piece::Depth::Frames,
            |_, e| {
                match e {
                    Entry::Commit(ms) => current = Some(ms),
                    Entry::Record(p) => commit_of.push((
                        current.expect("every record follows a marker"),
                        stemedb_records::SignedRecord::from_stored(p).unwrap().id(),
                    )),
                }
                Ok(())
            },
        )
        .unwrap();
    }
    assert_eq!(commit_of.len(), 480);
    assert!(
        commit_of.windows(2).all(|w| w[0].0 <= w[1].0),
        "commit times never decrease"
    );
    let bdir = tmp.path().join("backup");
    backup_store(&store, &bdir, None).unwrap();
    drop(store);
    let times: Vec<i64> = commit_of
        .iter()
        .map(|c| c.0)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(times.len() >= 3);
    let mid = times[times.len() / 2];
    for until in [times[0] - 1, mid, *times.last().unwrap()] {
        let out = tmp.path().join(format!("r{until}"));
        let r = restore(std::slice::from_ref(&bdir), &out, Some(until)).unwrap();
        let want: HashSet<RecordId> = commit_of
            .iter()
            .filter(|c| c.0 <= until)
            .map(|c| c.1)
            .collect();
        assert_eq!(all_ids(&out), want, "until {until}");
        assert_eq!(r.records, want.len() as u64);
        if until == mid {
            verify_data_dir(&out).unwrap();
        }
    }
}

#[test]
fn interrupted_backup_has_no_manifest_and_is_not_restorable() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_small(&tmp.path().join("data"));
    for b in 0..20 {
        write_batch(&store, &format!("b{b}"), 100);
    }
    let (end, extents) = store.backup_extents().unwrap();
    let bdir = tmp.path().join("backup");
    let mut w = BackupWriter::create(&bdir, "local", None, end).unwrap();
    let need = w.needed(&extents).unwrap();
    assert!(need.len() > 1);
    let path = store.segment_path(need[0].segment);
    w.add(need[0], fs::File::open(path).unwrap(), |_| {})
        .unwrap();
    drop(w); // the process dies here
    drop(store);
    assert!(!bdir.join(MANIFEST_NAME).exists());
    assert!(matches!(
        verify_backup(&bdir),
        Err(BackupError::Manifest { .. })
    ));
    let out = tmp.path().join("restored");
    assert!(restore(&[bdir], &out, None).is_err());
}

#[test]
fn incremental_backup_copies_only_new_bytes_and_restores_the_whole_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open_small(&tmp.path().join("data"));
    let mut ids = Vec::new();
    for b in 0..10 {
        ids.extend(write_batch(&store, &format!("a{b}"), 50));
    }
    let full = tmp.path().join("full");
    let m0 = backup_store(&store, &full, None).unwrap();
    for b in 0..3 {
        ids.extend(write_batch(&store, &format!("b{b}"), 50));
    }
    let inc = tmp.path().join("inc");
    let m1 = backup_store(&store, &inc, Some(&full)).unwrap();
    drop(store);
    assert!(m1.base.is_some());
    let full_bytes: u64 = m0.files.iter().map(|f| f.size).sum();
    let inc_bytes: u64 = m1.files.iter().map(|f| f.size).sum();
    assert!(
        inc_bytes < full_bytes / 2,
        "incremental copies only new bytes"
    );
    assert_eq!(m1.records, 150);
    verify_backup(&inc).unwrap();
    let out = tmp.path().join("restored");
    let r = restore(std::slice::from_ref(&inc), &out, None).unwrap();
    assert_eq!(r.records, ids.len() as u64);
    assert_eq!(all_ids(&out), ids.into_iter().collect());
    // Restoring onto a non-empty directory is refused and leaves it alone.
    assert!(matches!(
        restore(&[inc], &out, None),
        Err(BackupError::NotEmpty(_))
    ));
    verify_data_dir(&out).unwrap();
}

#[test]
fn verify_data_dir_names_a_damaged_sealed_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let store = open_small(&data);
    for b in 0..20 {
        write_batch(&store, &format!("b{b}"), 100);
    }
    drop(store);
    let report = verify_data_dir(&data).unwrap();
    assert_eq!(report.records, 2000);
    assert!(report.index_entries >= 2000 * 3);
    let seg = stemedb_storage::log::segment_path(&data.join("log"), 1);
    let mut bytes = fs::read(&seg).unwrap();
    bytes[1000] ^= 0x40;
    fs::write(&seg, &bytes).unwrap();
    let err = verify_data_dir(&data).unwrap_err();
    assert!(
        matches!(&err, BackupError::Corrupt { path, .. } if *path == seg),
        "{err}"
    );
}

#[test]
fn a_log_without_commit_markers_still_opens_and_restores() {
    // The log format before commit-time markers: header, then record frames only.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    fs::create_dir_all(data.join("log")).unwrap();
    let recs: Vec<_> = (0..30)
        .map(|i| claim(&format!("old:{i}"), "p", "v", "a", i))
        .collect();
    let mut bytes = segment::header(1).to_vec();
    for r in &recs {
        segment::write_frame(&mut bytes, r.stored_len(), |o| r.write_stored(o));
    }
    fs::write(data.join("log").join("0000000001.seg"), &bytes).unwrap();
    let store = Store::open(StoreConfig::new(&data)).unwrap();
    for r in &recs {
        assert!(store.contains(r.id()).unwrap());
    }
    let new = write_batch(&store, "new", 5);
    let bdir = tmp.path().join("backup");
    let m = backup_store(&store, &bdir, None).unwrap();
    drop(store);
    assert_eq!(m.records, 35);
    // Records without a commit time predate every marker: `--until` keeps them.
    let out = tmp.path().join("restored");
    let r = restore(&[bdir], &out, Some(0)).unwrap();
    assert_eq!(r.records, 30);
    let ids = all_ids(&out);
    assert!(recs.iter().all(|r| ids.contains(&r.id())));
    assert!(new.iter().all(|id| !ids.contains(id)));
}

#[test]
fn restore_combines_a_backup_with_an_archive_directory_of_later_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let store = open_small(&data);
    let mut ids = Vec::new();
    for b in 0..5 {
        ids.extend(write_batch(&store, &format!("a{b}"), 100));
    }
    let bdir = tmp.path().join("backup");
    backup_store(&store, &bdir, None).unwrap();
    let mut later = Vec::new();
    for b in 0..25 {
        later.extend(write_batch(&store, &format!("b{b}"), 100));
    }
    drop(store);
    // An archive: every segment but the active one, copied by hand.
    let arch = tmp.path().join("archive");
    fs::create_dir_all(arch.join("log")).unwrap();
    fs::write(arch.join(backup::restore::ARCHIVE_MARKER), b"{}").unwrap();
    let segs = stemedb_storage::log::list_segments(&data.join("log")).unwrap();
    assert!(segs.len() >= 2, "{segs:?}");
    for s in &segs[..segs.len() - 1] {
        fs::copy(
            stemedb_storage::log::segment_path(&data.join("log"), *s),
            stemedb_storage::log::segment_path(&arch.join("log"), *s),
        )
        .unwrap();
    }
    let out = tmp.path().join("restored");
    let r = restore(&[bdir, arch], &out, None).unwrap();
    let got = all_ids(&out);
    assert_eq!(r.records, got.len() as u64);
    assert!(
        ids.iter().all(|id| got.contains(id)),
        "everything backed up"
    );
    assert!(got.len() > ids.len(), "plus what only the archive holds");
    // Without the marker a directory is not taken for an archive.
    let bare = tmp.path().join("bare");
    fs::create_dir_all(bare.join("log")).unwrap();
    assert!(restore(&[bare], &tmp.path().join("r2"), None).is_err());
}

#[test]
fn sealing_the_active_segment_freezes_it_and_appends_go_to_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let store = open_small(&data);
    let first = write_batch(&store, "a", 20);
    let active = store.log_end().segment;
    assert!(store.sealed_segments().unwrap().iter().all(|s| *s < active));
    assert_eq!(store.seal_active_segment().unwrap(), Some(active));
    assert!(store.sealed_segments().unwrap().contains(&active));
    assert_eq!(
        store.seal_active_segment().unwrap(),
        None,
        "an empty segment is not sealed"
    );
    let sealed_bytes = fs::read(store.segment_path(active)).unwrap();
    let second = write_batch(&store, "b", 20);
    assert_eq!(store.log_end().segment, active + 1);
    assert_eq!(
        fs::read(store.segment_path(active)).unwrap(),
        sealed_bytes,
        "a sealed segment is never written again"
    );
    drop(store);
    let ids = all_ids(&data);
    assert!(first.iter().chain(&second).all(|id| ids.contains(id)));
    verify_data_dir(&data).unwrap();
}

/// An archive directory as the archiver writes it: sealed segments and an index.
fn archive_of(data: &Path, arch: &Path, segs: &[u32]) -> backup::ArchiveIndex {
    fs::create_dir_all(arch.join("log")).unwrap();
    let mut index = backup::ArchiveIndex::new("single");
    for &s in segs {
        let src = stemedb_storage::log::segment_path(&data.join("log"), s);
        let bytes = fs::read(&src).unwrap();
        index.insert(backup::archive::describe_segment(&src, s, &bytes, 1).unwrap());
        fs::write(
            stemedb_storage::log::segment_path(&arch.join("log"), s),
            &bytes,
        )
        .unwrap();
    }
    fs::write(arch.join(backup::ARCHIVE_INDEX), index.to_json().unwrap()).unwrap();
    index
}

#[test]
fn restore_from_an_archive_with_an_index_checks_every_segment_and_seals_the_result() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let store = open_small(&data);
    let mut ids = Vec::new();
    for b in 0..40 {
        ids.extend(write_batch(&store, &format!("a{b}"), 100));
    }
    store.seal_active_segment().unwrap();
    let sealed = store.sealed_segments().unwrap();
    drop(store);
    let arch = tmp.path().join("archive");
    let mut index = archive_of(&data, &arch, &sealed);
    assert!(sealed.len() >= 2, "{sealed:?}");

    let out = tmp.path().join("restored");
    let r = restore(std::slice::from_ref(&arch), &out, None).unwrap();
    assert_eq!(r.segments, sealed.len() as u64);
    let got = all_ids(&out);
    assert!(
        ids.iter().all(|id| got.contains(id)),
        "every record archived"
    );
    // The restored segments are sealed: the server appends to a new one, so
    // they stay identical to the archived copies.
    let restored = stemedb_storage::log::list_segments(&out.join("log")).unwrap();
    assert_eq!(restored.len(), sealed.len() + 1);
    for s in &sealed {
        assert_eq!(
            fs::read(stemedb_storage::log::segment_path(&out.join("log"), *s)).unwrap(),
            fs::read(stemedb_storage::log::segment_path(&arch.join("log"), *s)).unwrap()
        );
    }
    let store = Store::open(StoreConfig::new(&out)).unwrap();
    write_batch(&store, "after", 5);
    assert_eq!(store.sealed_segments().unwrap(), sealed);
    drop(store);

    // A segment that differs from the index is refused, naming it.
    let victim = sealed[1];
    index.segments[1].blake3 = "00".repeat(32);
    fs::write(arch.join(backup::ARCHIVE_INDEX), index.to_json().unwrap()).unwrap();
    let err = restore(std::slice::from_ref(&arch), &tmp.path().join("r2"), None).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&stemedb_storage::log::segment_name(victim)) && msg.contains("archive index"),
        "{msg}"
    );
    assert!(!tmp.path().join("r2").exists(), "nothing left behind");
    // A segment the index lists but the archive lacks is named too.
    index.segments[1].blake3 = backup::piece::blake3_hex(
        &fs::read(stemedb_storage::log::segment_path(
            &arch.join("log"),
            victim,
        ))
        .unwrap(),
    );
    fs::write(arch.join(backup::ARCHIVE_INDEX), index.to_json().unwrap()).unwrap();
    fs::remove_file(stemedb_storage::log::segment_path(
        &arch.join("log"),
        victim,
    ))
    .unwrap();
    let msg = restore(&[arch], &tmp.path().join("r3"), None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("lists segment") && msg.contains("missing"),
        "{msg}"
    );
}

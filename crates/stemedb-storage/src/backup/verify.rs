//! `stemedb-api verify --backup DIR` and `verify --data-dir DIR`.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use stemedb_records::{RecordId, SignedRecord};

use super::manifest::{self, Manifest};
use super::piece::{self, Depth, Ending};
use super::{BackupError, Result};
use crate::config::StoreConfig;
use crate::log::{self, Entry, LogPos};
use crate::store::Store;

/// What a verification checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataDirReport {
    /// Segment files (or backup files) read.
    pub files: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Records re-hashed.
    pub records: u64,
    /// Signatures verified.
    pub signatures: u64,
    /// Index entries checked against the log (data dirs only).
    pub index_entries: u64,
    /// Last commit time covered.
    pub last_commit_ms: Option<i64>,
    /// Things worth knowing that are not damage (a torn, never-acknowledged tail).
    pub notes: Vec<String>,
}

/// Verifies a backup and every backup it builds on: each file's size, frames
/// (CRC32C), records (decoded and re-hashed, signatures verified) and BLAKE3
/// against the manifest, the chain's contiguity, and that the files end at
/// the manifest's log position. Fails at the first bad file, naming it.
pub fn verify_backup(dir: &Path) -> Result<DataDirReport> {
    let chain = manifest::chain(dir)?;
    let pieces = manifest::pieces(&chain)?;
    let mut report = DataDirReport::default();
    for (seg, list) in &pieces {
        for p in list {
            let data = fs::read(&p.path).map_err(|e| BackupError::io(&p.path, e))?;
            if data.len() as u64 != p.entry.size {
                return Err(BackupError::Corrupt {
                    path: p.path.clone(),
                    offset: p.entry.offset + (data.len() as u64).min(p.entry.size),
                    reason: format!(
                        "file is {} bytes, the manifest says {}",
                        data.len(),
                        p.entry.size
                    ),
                });
            }
            let info = piece::inspect(
                &p.path,
                *seg,
                p.entry.offset,
                &data,
                Ending::Exact,
                Depth::Records,
                |_, _| Ok(()),
            )?;
            if piece::blake3_hex(&data) != p.entry.blake3 {
                return Err(BackupError::Corrupt {
                    path: p.path.clone(),
                    offset: p.entry.offset,
                    reason: "BLAKE3 differs from the manifest".into(),
                });
            }
            if info.records != p.entry.records {
                return Err(BackupError::Corrupt {
                    path: p.path.clone(),
                    offset: p.entry.offset,
                    reason: format!(
                        "{} records, the manifest says {}",
                        info.records, p.entry.records
                    ),
                });
            }
            report.files += 1;
            report.bytes += p.entry.size;
            report.records += info.records;
            report.signatures += info.signatures;
            if info.last_commit_ms.is_some() {
                report.last_commit_ms = info.last_commit_ms;
            }
        }
    }
    let Some(tip) = chain.last() else {
        return Err(BackupError::Manifest {
            path: dir.to_path_buf(),
            reason: "empty chain".into(),
        });
    };
    let end = tip.manifest.log_end;
    let covered = pieces
        .get(&end.segment)
        .map(|l| l.iter().map(|p| p.entry.size).sum::<u64>());
    let last_seg = pieces.keys().next_back().copied();
    if covered != Some(u64::from(end.offset)) || last_seg != Some(end.segment) {
        return Err(BackupError::Manifest {
            path: tip.dir.join(manifest::MANIFEST_NAME),
            reason: format!(
                "log_end is {}:{} but the files end at segment {:?} with {:?} bytes",
                end.segment, end.offset, last_seg, covered
            ),
        });
    }
    if tip.manifest.commit_time_ms != report.last_commit_ms {
        return Err(BackupError::Manifest {
            path: tip.dir.join(manifest::MANIFEST_NAME),
            reason: format!(
                "commit_time_ms is {:?} but the log's last marker says {:?}",
                tip.manifest.commit_time_ms, report.last_commit_ms
            ),
        });
    }
    Ok(report)
}

/// Verifies a data directory of a stopped server: the log read-only (every
/// segment's header and frames, every record re-hashed; a torn tail of the
/// active segment is noted, not an error — it was never acknowledged), then
/// the store is opened as the server would (recovering that tail) and every
/// index entry is checked against the log and every record against the indexes.
pub fn verify_data_dir(dir: &Path) -> Result<DataDirReport> {
    let log_dir = dir.join("log");
    if !log_dir.is_dir() {
        return Err(BackupError::Manifest {
            path: dir.to_path_buf(),
            reason: "no log/ directory: not a StemeDB data directory".into(),
        });
    }
    let segments = log::list_segments(&log_dir)?;
    for w in segments.windows(2) {
        if w[1] != w[0] + 1 {
            return Err(BackupError::Corrupt {
                path: log::segment_path(&log_dir, w[0] + 1),
                offset: 0,
                reason: "segment missing from the sequence".into(),
            });
        }
    }
    let mut report = DataDirReport::default();
    let mut at: HashMap<LogPos, RecordId> = HashMap::new();
    for (i, &seg) in segments.iter().enumerate() {
        let path = log::segment_path(&log_dir, seg);
        let data = fs::read(&path).map_err(|e| BackupError::io(&path, e))?;
        let active = i + 1 == segments.len();
        let ending = if active {
            Ending::ZerosAllowed
        } else {
            Ending::Exact
        };
        let mut on_frame = |off: u64, e: Entry<'_>| {
            if let Entry::Record(p) = e {
                let rec = SignedRecord::from_stored(p).map_err(crate::StorageError::from)?;
                let pos = LogPos {
                    segment: seg,
                    offset: u32::try_from(off).unwrap_or(u32::MAX),
                };
                at.insert(pos, rec.id());
            }
            Ok(())
        };
        let info = match piece::inspect(&path, seg, 0, &data, ending, Depth::Records, &mut on_frame)
        {
            Ok(info) => info,
            Err(BackupError::Corrupt { offset, reason, .. }) if active && offset > 0 => {
                // Frames before `offset` are good; the rest is a torn tail.
                report.notes.push(format!(
                    "{}: torn tail at offset {offset} ({reason}); never acknowledged, cut when the store opens",
                    path.display()
                ));
                let head = &data[..usize::try_from(offset).unwrap_or(data.len())];
                piece::inspect(
                    &path,
                    seg,
                    0,
                    head,
                    Ending::Exact,
                    Depth::Records,
                    |_, _| Ok(()),
                )?
            }
            Err(e) => return Err(e),
        };
        report.files += 1;
        report.bytes += info.zero_tail.unwrap_or(info.valid_len);
        report.records += info.records;
        report.signatures += info.signatures;
        if info.last_commit_ms.is_some() {
            report.last_commit_ms = info.last_commit_ms;
        }
    }
    let store = Store::open(StoreConfig::new(dir))?;
    let checked = check_indexes(&store, dir, &at);
    store.close();
    report.index_entries = checked?;
    Ok(report)
}

/// Every record is in the id index at its position; every index entry points
/// at a record of the log.
fn check_indexes(store: &Store, dir: &Path, at: &HashMap<LogPos, RecordId>) -> Result<u64> {
    let idx = store.indexes();
    let bad = |reason: String| BackupError::Index {
        path: dir.to_path_buf(),
        reason,
    };
    let mut entries = 0u64;
    for kv in idx.ids.iter() {
        let (k, v) = kv.into_inner().map_err(crate::StorageError::from)?;
        entries += 1;
        let pos = crate::index::keys::parse_id_value(&v).map(|v| v.pos);
        let id_ok = k.len() == 32;
        match pos {
            Some(p) if id_ok && at.get(&p).map(|i| i.as_bytes().as_slice()) == Some(&k[..]) => {}
            _ => {
                return Err(bad(format!(
                    "id index entry {} points at {:?}, where the log has no such record",
                    hex_of(&k),
                    pos.map(|p| p.to_string())
                )));
            }
        }
    }
    // Every entry points at a distinct record of the log (keys are distinct
    // ids, each matched to the record at its position), so equal counts
    // mean every record is indexed at its position — without one random
    // lookup per record. Otherwise name the first record that is not.
    if entries != at.len() as u64 {
        for (pos, id) in at {
            match idx.lookup(*id)? {
                Some((_, p)) if p == *pos => {}
                Some((_, p)) => {
                    return Err(bad(format!(
                        "record {id} is at {} offset {}, the id index says {p}",
                        log::segment_name(pos.segment),
                        pos.offset
                    )));
                }
                None => {
                    return Err(bad(format!(
                        "record {id} at {} offset {} is not in the id index",
                        log::segment_name(pos.segment),
                        pos.offset
                    )));
                }
            }
        }
        return Err(bad(format!(
            "id index has {entries} entries, the log {} records",
            at.len()
        )));
    }
    // Keyspaces whose keys end with the record's log position.
    for (name, ks) in [
        ("sp", &idx.sp),
        ("agent", &idx.agent),
        ("target", &idx.target),
        ("trust", &idx.trust),
        ("epoch", &idx.epoch),
        ("children", &idx.children),
    ] {
        for kv in ks.iter() {
            let k = kv.key().map_err(crate::StorageError::from)?;
            entries += 1;
            let pos = k
                .len()
                .checked_sub(8)
                .and_then(|s| LogPos::from_bytes(&k[s..]));
            if !pos.is_some_and(|p| at.contains_key(&p)) {
                return Err(bad(format!(
                    "{name} index entry {} points at {:?}, where the log has no record",
                    hex_of(&k),
                    pos.map(|p| p.to_string())
                )));
            }
        }
    }
    Ok(entries)
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Reads a manifest (re-exported for callers that only need to look).
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    Manifest::read(dir)
}

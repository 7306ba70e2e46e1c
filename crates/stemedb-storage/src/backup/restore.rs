//! `stemedb-api restore --from SRC... --data-dir NEW [--until MS]`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::archive::{self, ARCHIVE_INDEX, ArchiveIndex, ArchivedSegment};
use super::manifest::{self, MANIFEST_NAME};
use super::piece::{self, Depth, Ending};
use super::{BackupError, Result, sync_dir};
use crate::config::StoreConfig;
use crate::log::{self, Entry, LogPos};
use crate::store::Store;

/// File at the root of an archive that marks it as one: the archive index
/// (see [`super::archive`]), or an empty file for a hand-made archive.
pub const ARCHIVE_MARKER: &str = ARCHIVE_INDEX;

/// What a restore produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Segments written.
    pub segments: u64,
    /// Records in the restored log.
    pub records: u64,
    /// Log bytes written.
    pub bytes: u64,
    /// End of the restored log.
    pub log_end: Option<LogPos>,
    /// Commit time of the last group commit restored.
    pub last_commit_ms: Option<i64>,
    /// With `--until`: where the log was cut (the first commit after the time).
    pub cut_at: Option<LogPos>,
}

/// Where one segment's bytes come from.
#[derive(Debug, Clone)]
enum Source {
    /// Pieces of a backup chain (each checked against its manifest entry).
    Backup(Vec<manifest::Piece>),
    /// A whole segment file of an archive (or a log directory), with its
    /// archive index entry when the archive has an index.
    Archived(PathBuf, Option<ArchivedSegment>),
}

impl Source {
    fn len(&self) -> Result<u64> {
        match self {
            Source::Backup(p) => Ok(p.iter().map(|p| p.entry.size).sum()),
            Source::Archived(path, _) => Ok(fs::metadata(path)
                .map_err(|e| BackupError::io(path, e))?
                .len()),
        }
    }

    /// The segment's bytes, each backup piece checked against its BLAKE3.
    fn read(&self) -> Result<Vec<u8>> {
        match self {
            Source::Archived(path, entry) => {
                let data = fs::read(path).map_err(|e| BackupError::io(path, e))?;
                if let Some(entry) = entry {
                    archive::check_against(entry, &data, path)?;
                }
                Ok(data)
            }
            Source::Backup(pieces) => {
                let mut out = Vec::new();
                for p in pieces {
                    let data = fs::read(&p.path).map_err(|e| BackupError::io(&p.path, e))?;
                    if data.len() as u64 != p.entry.size
                        || piece::blake3_hex(&data) != p.entry.blake3
                    {
                        return Err(BackupError::Corrupt {
                            path: p.path.clone(),
                            offset: p.entry.offset,
                            reason: "size or BLAKE3 differs from the manifest".into(),
                        });
                    }
                    out.extend_from_slice(&data);
                }
                Ok(out)
            }
        }
    }
}

/// The segments a source directory offers: a backup (with `manifest.json`,
/// following its incremental chain) or an archive (`log/NNNNNNNNNN.seg`
/// files of sealed segments, as the `file://` archiver writes them).
fn offered(dir: &Path) -> Result<BTreeMap<u32, Source>> {
    if dir.join(MANIFEST_NAME).exists() {
        let chain = manifest::chain(dir)?;
        return Ok(manifest::pieces(&chain)?
            .into_iter()
            .map(|(s, p)| (s, Source::Backup(p)))
            .collect());
    }
    let log_dir = dir.join("log");
    if !dir.join(ARCHIVE_MARKER).exists() || !log_dir.is_dir() {
        return Err(BackupError::Manifest {
            path: dir.to_path_buf(),
            reason: format!(
                "neither a backup (no {MANIFEST_NAME}; an interrupted backup has none) \
                 nor an archive (no {ARCHIVE_MARKER} and log/)"
            ),
        });
    }
    let index_path = dir.join(ARCHIVE_MARKER);
    let index_bytes = fs::read(&index_path).map_err(|e| BackupError::io(&index_path, e))?;
    let index = ArchiveIndex::parse(&index_bytes, &index_path)?;
    let present = log::list_segments(&log_dir)?;
    if let Some(idx) = &index
        && let Some(missing) = idx.segments.iter().find(|e| !present.contains(&e.segment))
    {
        return Err(BackupError::Manifest {
            path: index_path,
            reason: format!(
                "the archive index lists segment {} but {} is missing",
                missing.segment,
                log::segment_path(&log_dir, missing.segment).display()
            ),
        });
    }
    Ok(present
        .into_iter()
        .map(|s| {
            let entry = index.as_ref().and_then(|i| i.get(s)).cloned();
            (s, Source::Archived(log::segment_path(&log_dir, s), entry))
        })
        .collect())
}

/// Builds a data directory at `target` from one or more sources (backups,
/// incremental chains, archives): per segment the longest copy wins, every
/// frame is checked, and with `until` the log is cut before the first group
/// commit whose commit time is later than `until` (ms). The index is rebuilt
/// by opening the store. `target` must be new or empty; on failure whatever
/// was written is removed.
pub fn restore(sources: &[PathBuf], target: &Path, until: Option<i64>) -> Result<RestoreReport> {
    if sources.is_empty() {
        return Err(BackupError::Gap("no source to restore from".into()));
    }
    let existed = target.exists();
    if existed {
        let mut entries = fs::read_dir(target).map_err(|e| BackupError::io(target, e))?;
        if entries.next().is_some() {
            return Err(BackupError::NotEmpty(target.to_path_buf()));
        }
    }
    let mut plan: BTreeMap<u32, Source> = BTreeMap::new();
    for src in sources {
        for (seg, s) in offered(src)? {
            let longer = match plan.get(&seg) {
                None => true,
                Some(cur) => s.len()? > cur.len()?,
            };
            if longer {
                plan.insert(seg, s);
            }
        }
    }
    let result = write_log(&plan, target, until).and_then(|mut report| {
        let store = Store::open(StoreConfig::new(target))?;
        report.records = store.approximate_len() as u64;
        store.close();
        Ok(report)
    });
    if result.is_err() {
        if existed {
            if let Ok(entries) = fs::read_dir(target) {
                for e in entries.flatten() {
                    let p = e.path();
                    let _ = if p.is_dir() {
                        fs::remove_dir_all(&p)
                    } else {
                        fs::remove_file(&p)
                    };
                }
            }
        } else {
            let _ = fs::remove_dir_all(target);
        }
    }
    result
}

fn write_log(
    plan: &BTreeMap<u32, Source>,
    target: &Path,
    until: Option<i64>,
) -> Result<RestoreReport> {
    let nums: Vec<u32> = plan.keys().copied().collect();
    if nums.first().is_some_and(|f| *f != 1) {
        return Err(BackupError::Gap(format!(
            "the sources start at segment {}, not 1",
            nums[0]
        )));
    }
    for w in nums.windows(2) {
        if w[1] != w[0] + 1 {
            return Err(BackupError::Gap(format!(
                "no source holds segment {}",
                w[0] + 1
            )));
        }
    }
    let log_dir = target.join("log");
    fs::create_dir_all(&log_dir).map_err(|e| BackupError::io(&log_dir, e))?;
    let mut report = RestoreReport::default();
    let mut records_so_far = 0u64;
    for (&seg, src) in plan {
        let data = src.read()?;
        let path = log::segment_path(&log_dir, seg);
        let label = match src {
            Source::Archived(p, _) => p.clone(),
            Source::Backup(p) => p.last().map(|p| p.path.clone()).unwrap_or(path.clone()),
        };
        let mut cut: Option<u64> = None;
        let mut last_kept = report.last_commit_ms;
        let mut kept_records = 0u64;
        piece::inspect(
            &label,
            seg,
            0,
            &data,
            Ending::Exact,
            Depth::Records,
            |off, e| {
                if cut.is_some() {
                    return Ok(());
                }
                match e {
                    Entry::Commit(ms) if until.is_some_and(|u| ms > u) => cut = Some(off),
                    Entry::Commit(ms) => last_kept = Some(ms),
                    Entry::Record(_) => kept_records += 1,
                }
                Ok(())
            },
        )?;
        let keep = cut.unwrap_or(data.len() as u64);
        let keep_bytes = &data[..usize::try_from(keep).unwrap_or(data.len())];
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| BackupError::io(&path, e))?;
        f.write_all(keep_bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| BackupError::io(&path, e))?;
        records_so_far += kept_records;
        report.segments += 1;
        report.bytes += keep;
        report.last_commit_ms = last_kept;
        report.log_end = Some(LogPos {
            segment: seg,
            offset: u32::try_from(keep).unwrap_or(u32::MAX),
        });
        if cut.is_some() {
            report.cut_at = report.log_end;
            break;
        }
    }
    // Every restored segment is sealed: the server appends to a new, empty
    // segment, so a restored segment stays identical to the archived or
    // backed-up copy it came from (and is archived again unchanged).
    if let Some(end) = report.log_end {
        let next = end.segment + 1;
        let path = log::segment_path(&log_dir, next);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| BackupError::io(&path, e))?;
        f.write_all(&crate::log::segment::header(next))
            .and_then(|()| f.sync_all())
            .map_err(|e| BackupError::io(&path, e))?;
    }
    sync_dir(&log_dir)?;
    sync_dir(target)?;
    report.records = records_so_far;
    Ok(report)
}

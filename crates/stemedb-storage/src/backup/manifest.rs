//! `manifest.json`: what a backup holds, and the chain of incremental backups.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{BackupError, Result, sync_dir};
use crate::log::LogPos;

/// File name of the manifest inside a backup directory.
pub const MANIFEST_NAME: &str = "manifest.json";
/// Value of [`Manifest::format`].
pub const FORMAT: &str = "stemedb-backup";
/// Current [`Manifest::format_version`].
pub const FORMAT_VERSION: u32 = 1;
/// Value of [`Manifest::index`]: the index is not in the backup.
pub const INDEX_REBUILT: &str = "rebuilt_on_restore";

/// One file of a backup: bytes `[offset, offset + size)` of a log segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the backup directory (`log/0000000001.seg`).
    pub path: String,
    /// Segment number.
    pub segment: u32,
    /// Where in the segment this file's bytes start (0 for a whole segment;
    /// an incremental backup holds the tail of a segment that grew).
    pub offset: u64,
    /// Bytes in the file.
    pub size: u64,
    /// BLAKE3 of the file, hex.
    pub blake3: String,
    /// Records in the file.
    pub records: u64,
}

/// Log position in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Segment number.
    pub segment: u32,
    /// Byte offset in it.
    pub offset: u32,
}

impl From<LogPos> for Position {
    fn from(p: LogPos) -> Self {
        Position {
            segment: p.segment,
            offset: p.offset,
        }
    }
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `stemedb-backup`.
    pub format: String,
    /// Format version (1).
    pub format_version: u32,
    /// When the backup finished (ms since the epoch).
    pub created_ms: i64,
    /// Server it was taken from.
    pub server: String,
    /// For an incremental backup, the absolute path of the backup it extends.
    pub base: Option<String>,
    /// End of the log covered: every record before it is in the backup (or its base chain).
    pub log_end: Position,
    /// Commit time (HLC ms) of the last group commit covered, if the log has markers.
    pub commit_time_ms: Option<i64>,
    /// Records in this backup's files (not counting its base).
    pub records: u64,
    /// How the index is restored (`rebuilt_on_restore`).
    pub index: String,
    /// Every file, with its size and BLAKE3.
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// Reads and checks `dir/manifest.json`.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_NAME);
        let bytes = fs::read(&path).map_err(|e| BackupError::Manifest {
            path: path.clone(),
            reason: if e.kind() == std::io::ErrorKind::NotFound {
                "no manifest.json: not a backup, or an interrupted (incomplete) one".into()
            } else {
                e.to_string()
            },
        })?;
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| BackupError::Manifest {
            path: path.clone(),
            reason: format!("not a valid manifest: {e}"),
        })?;
        if m.format != FORMAT || m.format_version != FORMAT_VERSION {
            return Err(BackupError::Manifest {
                path,
                reason: format!(
                    "unsupported format {} version {} (expected {FORMAT} {FORMAT_VERSION})",
                    m.format, m.format_version
                ),
            });
        }
        for f in &m.files {
            let ok =
                !f.path.contains("..") && !f.path.starts_with('/') && f.path.starts_with("log/");
            if !ok {
                return Err(BackupError::Manifest {
                    path,
                    reason: format!("file path {:?} leaves the backup directory", f.path),
                });
            }
        }
        Ok(m)
    }

    /// Writes the manifest durably and atomically: temp file, fsync, rename, fsync dir.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let tmp = dir.join(format!("{MANIFEST_NAME}.tmp"));
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| BackupError::Manifest {
            path: tmp.clone(),
            reason: e.to_string(),
        })?;
        let mut f = fs::File::create(&tmp).map_err(|e| BackupError::io(&tmp, e))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| BackupError::io(&tmp, e))?;
        let path = dir.join(MANIFEST_NAME);
        fs::rename(&tmp, &path).map_err(|e| BackupError::io(&path, e))?;
        sync_dir(dir)
    }

    /// A new, empty manifest.
    pub fn new(server: &str, base: Option<String>, log_end: LogPos) -> Manifest {
        Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            created_ms: stemedb_records::hlc::Hlc::wall_ms(),
            server: server.into(),
            base,
            log_end: log_end.into(),
            commit_time_ms: None,
            records: 0,
            index: INDEX_REBUILT.into(),
            files: Vec::new(),
        }
    }
}

/// A backup directory and its manifest.
#[derive(Debug, Clone)]
pub struct Link {
    /// The backup directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

/// Resolves the base of a backup: the recorded absolute path, or a sibling
/// directory of the same name when backups were moved together.
fn base_dir(dir: &Path, base: &str) -> PathBuf {
    let recorded = PathBuf::from(base);
    if recorded.join(MANIFEST_NAME).exists() {
        return recorded;
    }
    match (dir.parent(), recorded.file_name()) {
        (Some(parent), Some(name)) if parent.join(name).join(MANIFEST_NAME).exists() => {
            parent.join(name)
        }
        _ => recorded,
    }
}

/// The chain of a backup, oldest (the full backup) first.
pub fn chain(dir: &Path) -> Result<Vec<Link>> {
    let mut out = Vec::new();
    let mut cur = dir.to_path_buf();
    loop {
        if out.len() > 10_000 {
            return Err(BackupError::Manifest {
                path: dir.to_path_buf(),
                reason: "incremental chain is too long (a cycle?)".into(),
            });
        }
        let manifest = Manifest::read(&cur)?;
        let next = manifest.base.as_deref().map(|b| base_dir(&cur, b));
        out.push(Link {
            dir: cur.clone(),
            manifest,
        });
        match next {
            Some(n) => cur = n,
            None => break,
        }
    }
    out.reverse();
    Ok(out)
}

/// One piece of a segment in a chain: a file and the segment bytes it holds.
#[derive(Debug, Clone)]
pub struct Piece {
    /// The file.
    pub path: PathBuf,
    /// Its manifest entry.
    pub entry: FileEntry,
}

/// Bytes covered per segment by a chain, with the pieces in order. Checks
/// that each segment's pieces are contiguous and that segments are contiguous.
pub fn pieces(chain: &[Link]) -> Result<BTreeMap<u32, Vec<Piece>>> {
    let mut out: BTreeMap<u32, Vec<Piece>> = BTreeMap::new();
    for link in chain {
        for e in &link.manifest.files {
            let list = out.entry(e.segment).or_default();
            let have: u64 = list.iter().map(|p| p.entry.size).sum();
            if e.offset != have {
                return Err(BackupError::Gap(format!(
                    "{} holds segment {} from offset {}, but the backups before it end that segment at {}",
                    link.dir.join(&e.path).display(),
                    e.segment,
                    e.offset,
                    have
                )));
            }
            list.push(Piece {
                path: link.dir.join(&e.path),
                entry: e.clone(),
            });
        }
    }
    let nums: Vec<u32> = out.keys().copied().collect();
    if let Some(first) = nums.first()
        && *first != 1
    {
        return Err(BackupError::Gap(format!(
            "the log starts at segment {first}, not 1"
        )));
    }
    for w in nums.windows(2) {
        if w[1] != w[0] + 1 {
            return Err(BackupError::Gap(format!("segment {} is missing", w[0] + 1)));
        }
    }
    Ok(out)
}

/// Segment sizes a chain covers (for `--incremental-from`).
pub fn covered(chain: &[Link]) -> Result<BTreeMap<u32, u64>> {
    Ok(pieces(chain)?
        .into_iter()
        .map(|(s, p)| (s, p.iter().map(|p| p.entry.size).sum()))
        .collect())
}

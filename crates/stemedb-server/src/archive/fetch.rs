//! Downloading an archive from its target into a local archive directory
//! (`log/` and `stemedb-archive.json`), which `restore` then reads like any
//! archive directory: every segment checked against the index and frame by
//! frame.

use std::path::Path;

use stemedb_storage::backup::{ARCHIVE_INDEX, ArchiveIndex};

use super::{ArchiveError, Target};

/// What [`fetch`] downloaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fetched {
    /// Segment objects.
    pub segments: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// Downloads the index and every segment object of `target` into `dir`
/// (which must exist and be empty). Segment objects the index does not list
/// (the archiver stopped between a segment and its index) are fetched too.
pub async fn fetch(target: &Target, dir: &Path) -> Result<Fetched, ArchiveError> {
    let io = |path: &Path, e: std::io::Error| ArchiveError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let index_bytes = target.get(ARCHIVE_INDEX).await?.ok_or_else(|| {
        ArchiveError::Config(format!(
            "{} holds no {ARCHIVE_INDEX}: not a StemeDB archive (or nothing was archived yet)",
            target.url()
        ))
    })?;
    // Refuse a malformed index before downloading gigabytes.
    ArchiveIndex::parse(&index_bytes, ARCHIVE_INDEX.as_ref())?;
    let log_dir = dir.join("log");
    std::fs::create_dir_all(&log_dir).map_err(|e| io(&log_dir, e))?;
    let mut got = Fetched::default();
    for name in target.list("log").await? {
        let Some(file) = name.strip_prefix("log/") else {
            continue;
        };
        let is_segment = file
            .strip_suffix(".seg")
            .is_some_and(|n| n.len() == 10 && n.bytes().all(|b| b.is_ascii_digit()));
        if !is_segment {
            continue;
        }
        let Some(data) = target.get(&name).await? else {
            continue;
        };
        let path = log_dir.join(file);
        got.bytes += data.len() as u64;
        got.segments += 1;
        std::fs::write(&path, data).map_err(|e| io(&path, e))?;
    }
    let index_path = dir.join(ARCHIVE_INDEX);
    std::fs::write(&index_path, index_bytes).map_err(|e| io(&index_path, e))?;
    Ok(got)
}

//! The archive of sealed log segments that `[archive]` uploads continuously
//! (to a directory or an S3 bucket): `log/NNNNNNNNNN.seg` objects, each a
//! whole sealed segment, and `stemedb-archive.json`, the index of what was
//! archived (segment, size, BLAKE3, records, last commit time). The archiver
//! writes a segment first and the index after it, so every segment the index
//! lists is complete; a segment object the index does not list yet (the
//! archiver stopped between the two writes) is complete too and is uploaded
//! again. Restore reads archives through [`ArchiveIndex`]; an *empty* index
//! file marks a hand-made archive (salvaged segments), checked frame by frame
//! only.

use serde::{Deserialize, Serialize};

use super::piece::{self, Depth, Ending};
use super::{BackupError, Result};
use std::path::Path;

/// Name of the index object at the root of an archive.
pub const ARCHIVE_INDEX: &str = "stemedb-archive.json";
/// Value of [`ArchiveIndex::format`].
pub const ARCHIVE_FORMAT: &str = "stemedb-archive";
/// Current [`ArchiveIndex::format_version`].
pub const ARCHIVE_FORMAT_VERSION: u32 = 1;

/// One archived segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedSegment {
    /// Segment number.
    pub segment: u32,
    /// Bytes (the whole sealed segment, header included).
    pub size: u64,
    /// BLAKE3 of the segment, hex.
    pub blake3: String,
    /// Records in it.
    pub records: u64,
    /// Commit time (ms) of its last group commit, if it carries markers.
    pub last_commit_ms: Option<i64>,
    /// When it was archived (ms since the epoch).
    pub archived_ms: i64,
}

/// `stemedb-archive.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveIndex {
    /// Always `stemedb-archive`.
    pub format: String,
    /// Format version (1).
    pub format_version: u32,
    /// The node that archives here (`cluster.node_id`, or `single` on a single node).
    pub node: String,
    /// When the index was last written (ms since the epoch).
    pub updated_ms: i64,
    /// Every archived segment, ascending.
    pub segments: Vec<ArchivedSegment>,
}

impl ArchiveIndex {
    /// An empty index for `node`.
    pub fn new(node: &str) -> Self {
        ArchiveIndex {
            format: ARCHIVE_FORMAT.into(),
            format_version: ARCHIVE_FORMAT_VERSION,
            node: node.into(),
            updated_ms: 0,
            segments: Vec::new(),
        }
    }

    /// Parses an index; `Ok(None)` for a hand-made marker (an empty file or
    /// `{}`). `origin` names the file or object in errors.
    pub fn parse(bytes: &[u8], origin: &Path) -> Result<Option<Self>> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let bad = |reason: String| BackupError::Manifest {
            path: origin.to_path_buf(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        if value.as_object().is_some_and(|o| o.is_empty()) {
            return Ok(None);
        }
        let idx: ArchiveIndex =
            serde_json::from_value(value).map_err(|e| bad(format!("not an archive index: {e}")))?;
        if idx.format != ARCHIVE_FORMAT || idx.format_version != ARCHIVE_FORMAT_VERSION {
            return Err(bad(format!(
                "format {:?} version {}: expected {ARCHIVE_FORMAT:?} version {ARCHIVE_FORMAT_VERSION}",
                idx.format, idx.format_version
            )));
        }
        if idx
            .segments
            .windows(2)
            .any(|w| w[1].segment <= w[0].segment)
        {
            return Err(bad("segments are not in ascending order".into()));
        }
        Ok(Some(idx))
    }

    /// The index as JSON.
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec_pretty(self)
    }

    /// The entry of `segment`, if archived.
    pub fn get(&self, segment: u32) -> Option<&ArchivedSegment> {
        self.segments
            .binary_search_by_key(&segment, |s| s.segment)
            .ok()
            .map(|i| &self.segments[i])
    }

    /// Records `entry`, replacing an entry of the same segment.
    pub fn insert(&mut self, entry: ArchivedSegment) {
        match self
            .segments
            .binary_search_by_key(&entry.segment, |s| s.segment)
        {
            Ok(i) => self.segments[i] = entry,
            Err(i) => self.segments.insert(i, entry),
        }
    }
}

/// Checks a whole sealed segment (header, every frame, every record
/// re-hashed, signatures) and describes it for the index. `path` names it in
/// errors.
pub fn describe_segment(
    path: &Path,
    segment: u32,
    data: &[u8],
    archived_ms: i64,
) -> Result<ArchivedSegment> {
    let info = piece::inspect(
        path,
        segment,
        0,
        data,
        Ending::Exact,
        Depth::Frames,
        |_, _| Ok(()),
    )?;
    Ok(ArchivedSegment {
        segment,
        size: data.len() as u64,
        blake3: piece::blake3_hex(data),
        records: info.records,
        last_commit_ms: info.last_commit_ms,
        archived_ms,
    })
}

/// Checks archived bytes against their index entry (size and BLAKE3).
pub fn check_against(entry: &ArchivedSegment, data: &[u8], path: &Path) -> Result<()> {
    if data.len() as u64 != entry.size || piece::blake3_hex(data) != entry.blake3 {
        return Err(BackupError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason: format!(
                "size or BLAKE3 differs from the archive index ({} bytes, BLAKE3 {})",
                entry.size, entry.blake3
            ),
        });
    }
    Ok(())
}

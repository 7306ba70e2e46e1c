//! Checking the bytes of one log segment (or a piece of one): header, every
//! frame's CRC32C, the commit times the markers carry and — at
//! [`Depth::Records`] — every record re-decoded and re-hashed and its
//! signature verified.

use std::path::Path;

use stemedb_records::{SignedRecord, sign};

use super::{BackupError, Result};
use crate::log::segment::{self, Frame, HEADER_LEN};
use crate::log::{Entry, is_zero};

/// What [`inspect`] found in a piece.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PieceInfo {
    /// Bytes of valid frames (plus the header when the piece starts the segment).
    pub valid_len: u64,
    /// Records (not markers).
    pub records: u64,
    /// Signatures verified.
    pub signatures: u64,
    /// Last commit time seen.
    pub last_commit_ms: Option<i64>,
    /// When the piece ends in zeros (preallocated space of an active segment),
    /// where they start.
    pub zero_tail: Option<u64>,
}

/// How a piece may end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Exactly after a whole frame (backup files, sealed segments).
    Exact,
    /// Possibly followed by preallocated zeros (the active segment of a data dir).
    ZerosAllowed,
}

/// How deep [`inspect`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Header and every frame's CRC32C: catches damage in transit or at
    /// rest. What taking a backup and archiving check (the bytes come from
    /// the node's own log, whose records were validated when written), so
    /// they stay cheap next to a busy server.
    Frames,
    /// Also every record decoded (canonical), its id re-hashed and its
    /// signature verified: what `verify` and `restore` check.
    Records,
}

/// Calls `on_frame(segment offset, entry)` for every frame and checks each.
/// `data` holds segment bytes starting at `offset` (0 = with header).
/// Fails with the path and segment offset of the first bad byte.
pub fn inspect(
    path: &Path,
    segment_no: u32,
    offset: u64,
    data: &[u8],
    ending: Ending,
    depth: Depth,
    mut on_frame: impl FnMut(u64, Entry<'_>) -> Result<()>,
) -> Result<PieceInfo> {
    let bad = |off: usize, reason: String| BackupError::Corrupt {
        path: path.to_path_buf(),
        offset: offset + off as u64,
        reason,
    };
    let mut info = PieceInfo::default();
    let mut off = 0usize;
    if offset == 0 {
        segment::check_header(data, segment_no).map_err(|why| bad(0, why))?;
        off = HEADER_LEN as usize;
    } else if offset < HEADER_LEN {
        return Err(bad(0, "piece starts inside the segment header".into()));
    }
    while off < data.len() {
        if ending == Ending::ZerosAllowed && is_zero(&data[off..]) {
            info.zero_tail = Some(offset + off as u64);
            break;
        }
        match segment::read_frame(&data[off..]) {
            Frame::Ok { payload, total } => {
                let entry = Entry::of(payload);
                match entry {
                    Entry::Commit(ms) => info.last_commit_ms = Some(ms),
                    Entry::Record(_) if depth == Depth::Frames => info.records += 1,
                    Entry::Record(p) => {
                        let rec = SignedRecord::from_stored(p)
                            .map_err(|e| bad(off, format!("record does not decode: {e}")))?;
                        if rec.signature().is_some() {
                            sign::verify(&rec)
                                .map_err(|e| bad(off, format!("record {}: {e}", rec.id())))?;
                            info.signatures += 1;
                        }
                        info.records += 1;
                    }
                }
                on_frame(offset + off as u64, entry)?;
                off += total;
            }
            Frame::Truncated => return Err(bad(off, "frame runs past the end of the file".into())),
            Frame::Bad(why) => return Err(bad(off, why)),
        }
    }
    info.valid_len = off as u64;
    Ok(info)
}

/// BLAKE3 of bytes, hex.
pub fn blake3_hex(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

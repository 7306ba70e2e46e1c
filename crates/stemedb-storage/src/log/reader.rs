//! Reading the log: single frames by position (queries, lookups) and whole
//! scans (replay, verify).
//!
//! Sealed segments are never written, cut or removed while the log is open
//! (only recovery, before any reader exists, cuts the *last* segment), so
//! they can be memory-mapped: a read is then a bounds check, a CRC and a copy
//! out of the page cache, with no system call. The active segment is read
//! with `pread` — its frames are written while it is read, and an undone
//! out-of-space write cuts it. With mapping off (`StoreConfig::map_sealed_segments`)
//! every read uses `pread`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use memmap2::Mmap;

use super::segment::{self, FRAME_HEADER_LEN, Frame, HEADER_LEN};
use super::{Entry, LogPos, corrupt, is_zero, list_segments, pos_at, segment_path};
use crate::error::{Result, StorageError};

/// Shared read access to the log; cheap to clone behind an `Arc`.
#[derive(Debug)]
pub struct LogReader {
    dir: PathBuf,
    /// Map sealed segments into memory (else every read is a `pread`).
    map_sealed: bool,
    files: RwLock<HashMap<u32, Arc<SegmentFile>>>,
}

/// An open segment file, mapped when it is sealed and mapping is on.
#[derive(Debug)]
struct SegmentFile {
    file: File,
    map: Option<Mmap>,
}

impl SegmentFile {
    fn unmapped(file: File) -> Self {
        SegmentFile { file, map: None }
    }

    /// Maps a sealed segment. A failed mapping (an exotic file system, the
    /// address space exhausted) costs only speed: the segment is then read
    /// with `pread`.
    fn sealed(file: File, dir: &std::path::Path, segment: u32) -> Self {
        // SAFETY: the mapping is read-only and a sealed segment's bytes never
        // change while the log is open: the writer appends only to the
        // active segment, and nothing in this process cuts, rewrites or
        // removes a sealed one. A file changed by another process, or a
        // medium that fails, can still fault a read (SIGBUS) — the reason
        // mapping can be turned off (docs/storage.md, "Reading the log").
        let map = match unsafe { Mmap::map(&file) } {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(
                    path = %segment_path(dir, segment).display(), error = %e,
                    "cannot map sealed log segment; reading it with pread"
                );
                None
            }
        };
        SegmentFile { file, map }
    }
}

impl LogReader {
    pub(super) fn new(dir: PathBuf, map_sealed: bool) -> Self {
        LogReader {
            dir,
            map_sealed,
            files: RwLock::new(HashMap::new()),
        }
    }

    /// The open file of `segment`; a segment not registered by the writer is
    /// sealed (the writer registers the active one before any read).
    fn file(&self, segment: u32) -> Result<Arc<SegmentFile>> {
        if let Some(f) = self.files.read().map_err(|_| poisoned())?.get(&segment) {
            return Ok(f.clone());
        }
        let path = segment_path(&self.dir, segment);
        let file = File::open(&path).map_err(|e| StorageError::io(&path, e))?;
        let f = Arc::new(if self.map_sealed {
            SegmentFile::sealed(file, &self.dir, segment)
        } else {
            SegmentFile::unmapped(file)
        });
        // Two readers may open the same segment at once: keep the first.
        Ok(self
            .files
            .write()
            .map_err(|_| poisoned())?
            .entry(segment)
            .or_insert(f)
            .clone())
    }

    /// The writer's handle of its active segment, read with `pread`.
    pub(super) fn register_active(&self, segment: u32, file: File) -> Result<()> {
        self.files
            .write()
            .map_err(|_| poisoned())?
            .insert(segment, Arc::new(SegmentFile::unmapped(file)));
        Ok(())
    }

    /// `segment` was sealed (cut to its exact length and synced): later
    /// reads may map it. Reads already holding its `pread` handle finish
    /// with it.
    pub(super) fn sealed(&self, segment: u32) -> Result<()> {
        if self.map_sealed {
            self.files.write().map_err(|_| poisoned())?.remove(&segment);
        }
        Ok(())
    }

    /// Reads and verifies the payload of the frame at `pos`.
    pub fn read(&self, pos: LogPos) -> Result<Vec<u8>> {
        let f = self.file(pos.segment)?;
        let path = || segment_path(&self.dir, pos.segment);
        let offset = u64::from(pos.offset);
        let damaged = |why: &str| corrupt(path(), offset, why);
        if let Some(map) = &f.map {
            let bytes = map.get(pos.offset as usize..).unwrap_or_default();
            return match segment::read_frame(bytes) {
                Frame::Ok { payload, .. } => Ok(payload.to_vec()),
                Frame::Truncated => Err(damaged(PAST_END)),
                Frame::Bad(why) => Err(damaged(&why)),
            };
        }
        // One pread usually covers a whole record; a second fetches the rest.
        let mut buf = vec![0u8; 512];
        let n = read_at_most(&f.file, &mut buf, offset).map_err(|e| StorageError::io(path(), e))?;
        buf.truncate(n);
        if buf.len() >= FRAME_HEADER_LEN {
            let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
            let want = FRAME_HEADER_LEN + len;
            if len <= segment::MAX_PAYLOAD && want > buf.len() {
                let have = buf.len();
                buf.resize(want, 0);
                // Short when the length runs past the end: a corrupt frame.
                let n = read_at_most(&f.file, &mut buf[have..], offset + have as u64)
                    .map_err(|e| StorageError::io(path(), e))?;
                buf.truncate(have + n);
            }
        }
        let total = match segment::read_frame(&buf) {
            Frame::Ok { total, .. } => total,
            Frame::Truncated => return Err(damaged(PAST_END)),
            Frame::Bad(why) => return Err(damaged(&why)),
        };
        // The verified payload is `buf[FRAME_HEADER_LEN..total]`: keep the
        // buffer rather than copying the payload into a new one.
        buf.truncate(total);
        buf.drain(..FRAME_HEADER_LEN);
        Ok(buf)
    }

    /// Whether reads of `segment` currently go through a memory map (false
    /// for a segment not read yet, the active one, or with mapping off).
    pub fn is_mapped(&self, segment: u32) -> bool {
        self.files
            .read()
            .is_ok_and(|files| files.get(&segment).is_some_and(|f| f.map.is_some()))
    }

    /// Segment numbers currently on disk, ascending.
    pub fn segments(&self) -> Result<Vec<u32>> {
        list_segments(&self.dir)
    }

    /// Calls `f` for every record frame from `from` to the end of the log, in
    /// order (commit-time markers are skipped). Returns the position just past
    /// the last frame. Memory use is one segment.
    pub fn scan_from(
        &self,
        from: LogPos,
        mut f: impl FnMut(LogPos, &[u8]) -> Result<()>,
    ) -> Result<LogPos> {
        self.scan_entries_from(from, |pos, entry| match entry {
            Entry::Record(payload) => f(pos, payload),
            Entry::Commit(_) => Ok(()),
        })
    }

    /// Calls `f` for every frame (records and commit-time markers) from `from`
    /// to the end of the log, in order.
    pub fn scan_entries_from(
        &self,
        from: LogPos,
        mut f: impl FnMut(LogPos, Entry<'_>) -> Result<()>,
    ) -> Result<LogPos> {
        let mut end = from;
        for seg in self.segments()?.into_iter().filter(|s| *s >= from.segment) {
            let path = segment_path(&self.dir, seg);
            let data = fs::read(&path).map_err(|e| StorageError::io(&path, e))?;
            segment::check_header(&data, seg).map_err(|why| corrupt(&path, 0, &why))?;
            let mut off = if seg == from.segment {
                (from.offset as usize).max(HEADER_LEN as usize)
            } else {
                HEADER_LEN as usize
            };
            while off < data.len() {
                if is_zero(&data[off..]) {
                    break;
                }
                match segment::read_frame(&data[off..]) {
                    Frame::Ok { payload, total } => {
                        f(pos_at(seg, off)?, Entry::of(payload))?;
                        off += total;
                    }
                    Frame::Truncated => return Err(corrupt(&path, off as u64, "truncated frame")),
                    Frame::Bad(why) => return Err(corrupt(&path, off as u64, &why)),
                }
            }
            end = pos_at(seg, off)?;
        }
        Ok(end)
    }
}

fn read_at_most(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Why a frame whose length reaches past the segment's end is refused.
const PAST_END: &str = "frame runs past end of segment";

fn poisoned() -> StorageError {
    StorageError::Failed("log reader lock poisoned".into())
}

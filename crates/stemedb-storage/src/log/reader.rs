//! Reading the log: single frames by position (queries, lookups) and whole
//! scans (replay, verify).
//!
//! Segments are read through read-only memory maps (`StoreConfig::map_log_segments`,
//! the default): a read is a bounds check, the CRC and a copy out of the page
//! cache, with no system call. A mapped read never looks at a byte the file
//! might not hold:
//! - sealed segments are never written, cut or removed while the log is open
//!   (recovery, which cuts only the *last* segment, runs before any reader);
//! - in the active segment a mapped read stops at the end of the last group
//!   commit, which the writer publishes after each append; the writer never
//!   cuts the file below it (an undone out-of-space group is cut back to it,
//!   a rotation cuts after it). A frame reaching past it is read with
//!   `pread`, as is everything when mapping is off or failed.

use std::collections::HashMap;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use memmap2::Mmap;

use super::segment::{self, FRAME_HEADER_LEN, Frame, HEADER_LEN};
use super::{Entry, LogPos, corrupt, is_zero, list_segments, pos_at, segment_path};
use crate::error::{Result, StorageError};

/// Shared read access to the log; cheap to clone behind an `Arc`.
#[derive(Debug)]
pub struct LogReader {
    dir: PathBuf,
    /// Map segments into memory (else every read is a `pread`).
    map: bool,
    /// End of the last group commit in the active segment
    /// ([`LogPos::packed`], so one load reads both halves).
    active_end: AtomicU64,
    files: RwLock<HashMap<u32, Arc<SegmentFile>>>,
}

/// An open segment file, mapped when mapping is on and succeeded.
#[derive(Debug)]
struct SegmentFile {
    file: File,
    map: Option<Mmap>,
    /// The writer's segment when it was opened: mapped reads stop at the
    /// published end, and only while it is still the active one.
    active: bool,
}

impl SegmentFile {
    fn open(file: File, map: bool, active: bool, dir: &Path, segment: u32) -> Self {
        let map = map.then(|| map_segment(&file, dir, segment)).flatten();
        SegmentFile { file, map, active }
    }
}

/// Maps a segment read-only. A failed mapping (an exotic file system, the
/// address space exhausted) costs only speed: the segment is then read with
/// `pread`.
fn map_segment(file: &File, dir: &Path, segment: u32) -> Option<Mmap> {
    // SAFETY: the mapping is read-only, and this process only reads bytes of
    // it that the file holds and that no longer change: a sealed segment is
    // never written, cut or removed while the log is open, and in the active
    // segment reads stop at the published end of the last group commit, below
    // which the writer never cuts or writes (module doc). A file changed by
    // another process, or a medium that fails, can still fault a read
    // (SIGBUS) — the reason mapping can be turned off (docs/storage.md,
    // "Reading the log").
    match unsafe { Mmap::map(file) } {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(
                path = %segment_path(dir, segment).display(), error = %e,
                "cannot map log segment; reading it with pread"
            );
            None
        }
    }
}

impl LogReader {
    pub(super) fn new(dir: PathBuf, map: bool) -> Self {
        LogReader {
            dir,
            map,
            active_end: AtomicU64::new(0),
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
        let f = Arc::new(SegmentFile::open(file, self.map, false, &self.dir, segment));
        // Two readers may open the same segment at once: keep the first.
        Ok(self
            .files
            .write()
            .map_err(|_| poisoned())?
            .entry(segment)
            .or_insert(f)
            .clone())
    }

    /// The writer's handle of its active segment, whose committed frames
    /// end at `end` (published again after every group commit).
    pub(super) fn register_active(&self, file: File, end: LogPos) -> Result<()> {
        let f = SegmentFile::open(file, self.map, true, &self.dir, end.segment);
        self.publish_end(end);
        self.files
            .write()
            .map_err(|_| poisoned())?
            .insert(end.segment, Arc::new(f));
        Ok(())
    }

    /// The frames of the active segment are committed up to `end`.
    pub(super) fn publish_end(&self, end: LogPos) {
        self.active_end.store(end.packed(), Ordering::Release);
    }

    /// `segment` was sealed (cut to its exact length and synced): later
    /// reads map it as a sealed segment. Reads already holding its active
    /// handle finish with `pread`.
    pub(super) fn sealed(&self, segment: u32) -> Result<()> {
        self.files.write().map_err(|_| poisoned())?.remove(&segment);
        Ok(())
    }

    /// The bytes of a mapped segment a read may look at from `offset`:
    /// `None` when the read must use `pread` (an active segment's frame past
    /// the published end), an empty slice past a sealed segment's end.
    fn mapped<'a>(&self, f: &'a SegmentFile, pos: LogPos) -> Option<&'a [u8]> {
        let map = f.map.as_ref()?;
        let start = pos.offset as usize;
        if !f.active {
            return Some(map.get(start..).unwrap_or_default());
        }
        let end = LogPos::from_packed(self.active_end.load(Ordering::Acquire));
        let limit = if end.segment == pos.segment {
            end.offset as usize
        } else {
            0
        };
        map.get(start..limit.min(map.len()))
    }

    /// Reads and verifies the payload of the frame at `pos`.
    pub fn read(&self, pos: LogPos) -> Result<Vec<u8>> {
        let f = self.file(pos.segment)?;
        let path = || segment_path(&self.dir, pos.segment);
        let offset = u64::from(pos.offset);
        let damaged = |why: &str| corrupt(path(), offset, why);
        if let Some(bytes) = self.mapped(&f, pos) {
            match segment::read_frame(bytes) {
                Frame::Ok { payload, .. } => return Ok(payload.to_vec()),
                Frame::Bad(why) => return Err(damaged(&why)),
                Frame::Truncated if !f.active => return Err(damaged(PAST_END)),
                // Past the published end of the active segment: `pread` decides.
                Frame::Truncated => {}
            }
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
    /// for a sealed segment not read yet, with mapping off, or when mapping
    /// failed).
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

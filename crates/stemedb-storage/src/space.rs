//! The free-space floor: the commit thread refuses a group commit with
//! [`StorageError::InsufficientStorage`] (nothing written) while the file
//! system holding the data directory has less than
//! [`StoreConfig::min_free_bytes`](crate::StoreConfig) available, so the log
//! and the index engine stop *before* the disk is full. Running out for real
//! is worse than refusing: fjall marks its keyspace failed after a journal
//! write error, and the store then refuses writes until a restart.
//!
//! `statvfs` is cheap but not free; the answer is cached and refreshed at
//! most every [`REFRESH`] or after [`REFRESH_BYTES`] were written since,
//! whichever comes first. Between refreshes the bytes this store wrote are
//! subtracted from the cached figure, so a burst cannot overshoot the floor
//! by more than one group commit.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::StorageError;

/// Longest a cached free-space figure is trusted.
pub const REFRESH: Duration = Duration::from_millis(100);
/// Bytes written after which the figure is re-read regardless of its age.
pub const REFRESH_BYTES: u64 = 1 << 20;

/// Total and available bytes of the file system holding `dir` (`statvfs`;
/// "available" is what an unprivileged writer can still use, so root's
/// reserved blocks are not counted on). `None` when it cannot be measured.
pub fn filesystem_space(dir: &Path) -> Option<(u64, u64)> {
    let path = CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: an all-zero statvfs is a valid value of this plain C struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and outlives the call; `st` is a valid out-pointer.
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
        return None;
    }
    // The field types differ between platforms (u32 / u64).
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    let (frsize, blocks, avail) = (
        u64::from(st.f_frsize as u64),
        u64::from(st.f_blocks as u64),
        u64::from(st.f_bavail as u64),
    );
    Some((blocks.saturating_mul(frsize), avail.saturating_mul(frsize)))
}

/// The commit thread's view of free space (owned by it; no locking).
#[derive(Debug)]
pub(crate) struct SpaceGuard {
    dir: PathBuf,
    floor: u64,
    /// When the cached figure was read, and the bytes available then.
    cached: Option<(Instant, u64)>,
    /// Bytes written since the figure was read.
    written: u64,
}

impl SpaceGuard {
    pub(crate) fn new(dir: &Path, floor: u64) -> Self {
        SpaceGuard {
            dir: dir.to_owned(),
            floor,
            cached: None,
            written: 0,
        }
    }

    /// Refuses (nothing may be written) when writing `incoming` bytes would
    /// leave less than the floor available. A floor of 0 turns the check
    /// off; a file system that cannot be measured is not refused.
    pub(crate) fn check(&mut self, incoming: u64) -> Result<(), StorageError> {
        if self.floor == 0 {
            return Ok(());
        }
        let fresh = self
            .cached
            .is_some_and(|(at, _)| at.elapsed() < REFRESH && self.written < REFRESH_BYTES);
        if !fresh {
            match filesystem_space(&self.dir) {
                Some((_, avail)) => {
                    self.cached = Some((Instant::now(), avail));
                    self.written = 0;
                }
                None => {
                    tracing::debug!(dir = %self.dir.display(), "cannot measure free space");
                    return Ok(());
                }
            }
        }
        let available = self
            .cached
            .map_or(u64::MAX, |(_, a)| a.saturating_sub(self.written));
        if available.saturating_sub(incoming) < self.floor {
            metrics::counter!("stemedb_writes_refused_total", "reason" => "insufficient_storage")
                .increment(1);
            return Err(StorageError::InsufficientStorage {
                available,
                floor: self.floor,
            });
        }
        Ok(())
    }

    /// Counts bytes written since the last measurement.
    pub(crate) fn wrote(&mut self, bytes: u64) {
        self.written = self.written.saturating_add(bytes);
    }
}

/// Whether the file system holding `dir` is below `floor`: the available
/// bytes when it is (for readiness), `None` when above, off or unmeasurable.
pub fn below_floor(dir: &Path, floor: u64) -> Option<u64> {
    if floor == 0 {
        return None;
    }
    filesystem_space(dir)
        .map(|(_, avail)| avail)
        .filter(|avail| *avail < floor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_above_the_disk_refuses_and_zero_never_does() {
        let dir = tempfile::tempdir().unwrap();
        assert!(filesystem_space(dir.path()).is_some());
        let mut off = SpaceGuard::new(dir.path(), 0);
        assert!(off.check(u64::MAX).is_ok());
        let mut huge = SpaceGuard::new(dir.path(), u64::MAX);
        match huge.check(1) {
            Err(StorageError::InsufficientStorage { floor, .. }) => assert_eq!(floor, u64::MAX),
            other => panic!("expected a refusal, got {other:?}"),
        }
        let mut small = SpaceGuard::new(dir.path(), 1);
        assert!(small.check(0).is_ok());
        // A large write since the last measurement forces a new one, which passes.
        small.wrote(REFRESH_BYTES);
        assert!(small.check(0).is_ok());
        assert_eq!(below_floor(dir.path(), 0), None);
        assert!(below_floor(dir.path(), u64::MAX).is_some());
    }
}

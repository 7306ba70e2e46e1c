//! A small tmpfs mounted for a test (a data directory that really fills up),
//! and a filler file that takes its free space. Unmounted on drop, also when
//! the test fails. Needs root; [`skip_unless_root`] skips outside CI.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Skips (returns `true`) outside CI when not root; in CI it is a failure.
pub fn skip_unless_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return false;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: needs root (mount -t tmpfs); .ci/run runs as root");
    }
    eprintln!("SKIPPED {test}: needs root (mount -t tmpfs)");
    true
}

/// Bytes available on the file system holding `dir`.
pub fn available(dir: &Path) -> u64 {
    stemedb_storage::space::filesystem_space(dir)
        .map(|(_, a)| a)
        .expect("statvfs")
}

/// A mounted tmpfs.
pub struct Tmpfs {
    /// The mount point.
    pub path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `bytes` at `path` (created if needed).
    pub fn mount(path: &Path, bytes: u64) -> Tmpfs {
        std::fs::create_dir_all(path).expect("mount point");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mount -t tmpfs at {}", path.display());
        Tmpfs {
            path: path.to_owned(),
        }
    }

    fn filler(&self) -> PathBuf {
        self.path.join("filler")
    }

    /// Writes a filler file until at most `leave` bytes are available
    /// (ENOSPC stops it early: then nothing is left). Returns the bytes written.
    pub fn fill(&self, leave: u64) -> u64 {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.filler())
            .expect("filler");
        let chunk = vec![0xA5u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            let avail = available(&self.path);
            if avail <= leave {
                break;
            }
            let n = (avail - leave).min(chunk.len() as u64) as usize;
            match f.write(&chunk[..n.max(1)]) {
                Ok(0) | Err(_) => break,
                Ok(k) => written += k as u64,
            }
        }
        let _ = f.sync_all();
        written
    }

    /// Deletes the filler file.
    pub fn free(&self) {
        let _ = std::fs::remove_file(self.filler());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

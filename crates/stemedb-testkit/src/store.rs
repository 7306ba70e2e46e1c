//! Stores on temporary or given directories, and copying data directories.

use std::path::Path;

use stemedb_storage::{Store, StoreConfig};

/// A store without fsync (tests only) on a fresh temporary directory.
pub fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = StoreConfig::new(dir.path());
    cfg.fsync = false;
    let store = Store::open(cfg).expect("open store");
    (dir, store)
}

/// Opens a store on `dir` with 64 KiB segments, so tests cross segment boundaries.
pub fn open_small(dir: &Path) -> Store {
    let mut cfg = StoreConfig::new(dir);
    cfg.segment_size = 64 * 1024;
    Store::open(cfg).expect("open store")
}

/// Copies a directory tree (data directories: log segments, index files).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("dir entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy file");
        }
    }
}

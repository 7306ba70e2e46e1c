//! Where the `stemedb-api` binary under test is.
//!
//! Cargo builds every binary of the workspace before it runs integration
//! tests (`cargo test --workspace`; a crate's own binaries for `cargo test
//! -p`), into the directory above the test executables
//! (`target/<profile>/`). `STEMEDB_TEST_API_BIN` runs the tests against
//! another build (e.g. an older one, to show a regression test fails there).

use std::path::{Path, PathBuf};

/// Candidate locations, most specific first.
fn candidates() -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = std::env::var_os("STEMEDB_TEST_API_BIN") {
        c.push(PathBuf::from(p));
    }
    // A test executable lives in `target/<profile>/deps/`.
    if let Some(profile_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent()?.parent().map(Path::to_path_buf))
    {
        c.push(profile_dir.join("stemedb-api"));
    }
    c.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/stemedb-api"));
    c
}

/// The server binary; panics with instructions when it has not been built.
pub fn api_bin() -> PathBuf {
    let c = candidates();
    match c.iter().find(|p| p.is_file()) {
        Some(p) => p.clone(),
        None => panic!(
            "the StemeDB server binary `stemedb-api` was not found (looked at: {}). \
             Build it first with `cargo build -p stemedb-server --bin stemedb-api`, \
             or point STEMEDB_TEST_API_BIN at it.",
            c.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

//! Helpers shared by the storage integration tests.
#![allow(dead_code)]

use serde_json::json;
use stemedb_records::{SignedRecord, hlc::Hlc, wire};
use stemedb_storage::{Store, StoreConfig};

/// An assertion with a fixed timestamp.
pub fn assertion(
    subject: &str,
    predicate: &str,
    value: &str,
    agent: &str,
    ts: i64,
) -> SignedRecord {
    wire::parse_assertion(
        &json!({"subject": subject, "predicate": predicate,
                "object": {"type": "text", "value": value}, "agent": agent, "timestamp": ts}),
        &Hlc::new(),
    )
    .unwrap()
}

/// Opens a store with a small segment size so tests cross segment boundaries.
pub fn open_small(dir: &std::path::Path) -> Store {
    let mut cfg = StoreConfig::new(dir);
    cfg.segment_size = 64 * 1024;
    Store::open(cfg).unwrap()
}

/// A tiny deterministic PRNG (xorshift64*), seeded from the clock unless given.
pub struct Rng(pub u64);

impl Rng {
    pub fn from_time() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Rng(t | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Copies a directory tree (test data dirs: log segments, index files).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#![no_main]
//! See `stemedb_fuzz::replication_decode` for the invariants checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stemedb_fuzz::replication_decode(data));

#![no_main]
//! See `stemedb_fuzz::log_recovery` for the invariants checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stemedb_fuzz::log_recovery(data));

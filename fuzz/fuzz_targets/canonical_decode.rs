#![no_main]
//! See `stemedb_fuzz::canonical_decode` for the invariants checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stemedb_fuzz::canonical_decode(data));

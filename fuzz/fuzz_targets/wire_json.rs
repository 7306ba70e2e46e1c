#![no_main]
//! See `stemedb_fuzz::wire_json` for the invariants checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| stemedb_fuzz::wire_json(data));

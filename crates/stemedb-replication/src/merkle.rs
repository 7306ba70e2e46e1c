//! Comparing Merkle bucket digests. The digests themselves belong to the
//! store ([`stemedb_storage::digest`]): its commit path, tail replay and
//! rebuild keep them, so every stored record is folded in exactly once.
//!
//! Anti-entropy ([`crate::sync`]) compares roots (32 bytes each), then, for
//! differing partitions, the last [`SHORT_DIGEST_LEN`] bytes of each bucket
//! digest; differing buckets are then compared by id prefixes
//! ([`crate::prefix`]).

pub use stemedb_storage::digest::{BUCKETS, Digest, all_partitions, root_of};

/// Bytes of each bucket digest anti-entropy exchanges: the last 16 (128
/// bits, BLAKE3's collision strength, which ids rely on anyway).
pub const SHORT_DIGEST_LEN: usize = 16;

/// Buckets whose digests differ.
pub fn differing_buckets(a: &[Digest; BUCKETS], b: &[Digest; BUCKETS]) -> Vec<u8> {
    differing_tails(a, b, 32)
}

/// Buckets whose digests differ in their last `len` bytes (clamped to `1..=32`).
pub fn differing_tails(a: &[Digest; BUCKETS], b: &[Digest; BUCKETS], len: usize) -> Vec<u8> {
    let from = 32 - len.clamp(1, 32);
    (0..BUCKETS)
        .filter(|i| a[*i][from..] != b[*i][from..])
        .map(|i| i as u8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differing_tails_compare_only_the_tail() {
        let a = [[0u8; 32]; BUCKETS];
        let mut b = a;
        b[7][0] = 1; // differs only in the first byte
        b[9][31] = 1; // differs in the last byte
        assert_eq!(differing_buckets(&a, &b), vec![7, 9]);
        assert_eq!(differing_tails(&a, &b, SHORT_DIGEST_LEN), vec![9]);
    }
}

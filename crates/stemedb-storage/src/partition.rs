//! Partitions: a fixed number of buckets by hash of subject, the unit of
//! Merkle anti-entropy and replica placement.

/// Number of partitions. Fixed for the life of a data directory.
pub const PARTITIONS: u16 = 256;

/// Partition of records that every node holds (trust and epochs).
pub const GLOBAL: u16 = u16::MAX;

/// The partition a subject belongs to.
pub fn of_subject(subject: &str) -> u16 {
    let h = blake3::hash(subject.as_bytes());
    let b = h.as_bytes();
    u16::from_le_bytes([b[0], b[1]]) % PARTITIONS
}

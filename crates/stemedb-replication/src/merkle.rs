//! Per-partition Merkle bucket digests: 256 buckets by first id byte, each
//! the XOR of its ids, so an append updates a digest in O(1); the partition
//! root is `BLAKE3(bucket digests)`.
//!
//! Anti-entropy ([`crate::sync`]) compares roots (32 bytes each), then, for
//! differing partitions, the last [`SHORT_DIGEST_LEN`] bytes of each bucket
//! digest; differing buckets are then compared by id prefixes
//! ([`crate::prefix`]).
//!
//! XOR toggles: call [`MerkleIndex::note_appended`] exactly once per record
//! the store reports `created`, and build the index before the store takes
//! writes (or while they are paused) so no append is counted twice.

use std::sync::RwLock;

use stemedb_records::{Record, RecordId, SignedRecord};
use stemedb_storage::{Store, partition};

use crate::error::Result;

/// Buckets per partition.
pub const BUCKETS: usize = 256;

/// A 32-byte digest.
pub type Digest = [u8; 32];

/// Bytes of each bucket digest anti-entropy exchanges: the last 16 (128
/// bits, BLAKE3's collision strength, which ids rely on anyway).
pub const SHORT_DIGEST_LEN: usize = 16;

/// Number of partition slots: the hashed partitions plus [`partition::GLOBAL`].
const SLOTS: usize = partition::PARTITIONS as usize + 1;

/// Every partition the index tracks: `0..PARTITIONS` and `GLOBAL`.
pub fn all_partitions() -> Vec<u16> {
    (0..partition::PARTITIONS)
        .chain(std::iter::once(partition::GLOBAL))
        .collect()
}

fn slot(partition: u16) -> Option<usize> {
    if partition == partition::GLOBAL {
        Some(SLOTS - 1)
    } else if partition < partition::PARTITIONS {
        Some(usize::from(partition))
    } else {
        None
    }
}

/// Where a record's partition comes from: known outright, or its target's subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The partition itself.
    Known(u16),
    /// The partition of this target assertion (`GLOBAL` when it is not stored).
    Target(RecordId),
}

impl Placement {
    /// What decides the partition of `rec`, without touching the store.
    pub fn of(rec: &SignedRecord) -> Placement {
        match rec.record() {
            Record::Assertion(a) => Placement::Known(partition::of_subject(&a.subject)),
            Record::Retraction(r) => Placement::Target(r.target),
            Record::Vote(v) => Placement::Target(v.target),
            Record::Trust(_) | Record::Epoch(_) => Placement::Known(partition::GLOBAL),
        }
    }

    /// Resolves the partition, reading the target from `store` when needed.
    pub fn resolve(self, store: &Store) -> Result<u16> {
        Ok(match self {
            Placement::Known(p) => p,
            Placement::Target(t) => match store.get(t)? {
                Some(stored) => match stored.record.record() {
                    Record::Assertion(a) => partition::of_subject(&a.subject),
                    _ => partition::GLOBAL,
                },
                None => partition::GLOBAL,
            },
        })
    }
}

/// The partition a record is indexed under by the store: the subject's for
/// assertions, the target's subject for retractions and votes (`GLOBAL` when
/// the target is not stored), `GLOBAL` for trust and epochs.
pub fn partition_of(store: &Store, rec: &SignedRecord) -> Result<u16> {
    Placement::of(rec).resolve(store)
}

/// In-memory bucket digests for every partition (257 × 256 × 32 B ≈ 2 MiB).
pub struct MerkleIndex {
    parts: Vec<RwLock<Box<[Digest; BUCKETS]>>>,
}

impl Default for MerkleIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl MerkleIndex {
    /// An index of empty partitions.
    pub fn new() -> Self {
        MerkleIndex {
            parts: (0..SLOTS)
                .map(|_| RwLock::new(Box::new([[0u8; 32]; BUCKETS])))
                .collect(),
        }
    }

    /// Builds the digests of every partition (including `GLOBAL`) from the store's partition index.
    pub fn build(store: &Store) -> Result<Self> {
        let started = std::time::Instant::now();
        let index = MerkleIndex::new();
        let mut total = 0usize;
        for p in all_partitions() {
            let ids = store.partition_ids(p)?;
            total += ids.len();
            for id in &ids {
                index.note_appended(p, *id);
            }
        }
        tracing::info!(
            records = total,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "merkle index built"
        );
        Ok(index)
    }

    /// Folds a newly created record into its partition's bucket (ignored for unknown partitions).
    pub fn note_appended(&self, partition: u16, id: RecordId) {
        let Some(s) = slot(partition) else {
            tracing::warn!(partition, %id, "note_appended for an unknown partition");
            return;
        };
        let bucket = usize::from(id.0[0]);
        // A poisoned lock only means a panic elsewhere; the digests are plain data.
        let mut g = self.parts[s].write().unwrap_or_else(|e| e.into_inner());
        for (d, b) in g[bucket].iter_mut().zip(id.0.iter()) {
            *d ^= b;
        }
    }

    /// Copy of a partition's 256 bucket digests (`None` for unknown partitions).
    pub fn buckets(&self, partition: u16) -> Option<Box<[Digest; BUCKETS]>> {
        let s = slot(partition)?;
        let g = self.parts[s].read().unwrap_or_else(|e| e.into_inner());
        Some(g.clone())
    }

    /// `BLAKE3` of a partition's bucket digests (`None` for unknown partitions).
    pub fn root(&self, partition: u16) -> Option<Digest> {
        let s = slot(partition)?;
        let g = self.parts[s].read().unwrap_or_else(|e| e.into_inner());
        Some(root_of(&g))
    }
}

/// The root of a set of bucket digests.
pub fn root_of(buckets: &[Digest; BUCKETS]) -> Digest {
    let mut h = blake3::Hasher::new();
    for d in buckets {
        h.update(d);
    }
    *h.finalize().as_bytes()
}

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
    fn xor_is_order_independent_and_roots_differ() {
        let a = MerkleIndex::new();
        let b = MerkleIndex::new();
        let ids: Vec<RecordId> = (0..100u32)
            .map(|i| RecordId::of(&i.to_le_bytes()))
            .collect();
        for id in &ids {
            a.note_appended(3, *id);
        }
        for id in ids.iter().rev() {
            b.note_appended(3, *id);
        }
        assert_eq!(a.root(3), b.root(3));
        assert_eq!(a.buckets(3), b.buckets(3));
        b.note_appended(3, RecordId::of(b"extra"));
        assert_ne!(a.root(3), b.root(3));
        let (Some(ab), Some(bb)) = (a.buckets(3), b.buckets(3)) else {
            panic!("partition 3 exists")
        };
        assert_eq!(
            differing_buckets(&ab, &bb),
            vec![RecordId::of(b"extra").0[0]]
        );
        assert!(a.root(partition::GLOBAL).is_some());
        assert!(a.root(partition::PARTITIONS).is_none());
    }
}

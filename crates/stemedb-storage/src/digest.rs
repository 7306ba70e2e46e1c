//! Per-partition Merkle bucket digests, derived from the `ids` index like
//! every other index: 256 buckets per partition by first id byte, each the
//! XOR of its ids, so one append updates one digest in O(1); a partition's
//! root is `BLAKE3(bucket digests)`.
//!
//! The store maintains them itself: the commit thread folds every created
//! record in before it answers; a clean close saves them in the index's
//! `meta` keyspace under the checkpoint they cover, and an open that finds
//! that checkpoint unchanged and nothing to replay loads them (one read
//! instead of a walk over every record's `ids` entry); otherwise opening
//! (after tail replay) and rebuild recompute them from the `ids` index
//! (each value holds the record's partition), and a bulk replay
//! (`crate::bulk`) folds the `ids` entries as it writes them
//! (every id occurs once in the log: the commit thread never writes a stored
//! or in-flight id again, and `Store::verify` checks it). A record that is
//! stored is therefore always in the digests, whatever happens to the
//! request that carried it — anti-entropy (`stemedb-replication`) reads them
//! from here.

use std::sync::RwLock;

use stemedb_records::RecordId;

use crate::error::Result;
use crate::index::Indexes;
use crate::log::LogPos;
use crate::partition;

/// Buckets per partition.
pub const BUCKETS: usize = 256;

/// A 32-byte digest.
pub type Digest = [u8; 32];

/// Number of partition slots: the hashed partitions plus [`partition::GLOBAL`].
const SLOTS: usize = partition::PARTITIONS as usize + 1;

/// Format of saved digests: version ‖ checkpoint (8 bytes) ‖ every slot's
/// buckets in slot order.
const SAVED_VERSION: u8 = 1;
const SAVED_LEN: usize = 1 + 8 + SLOTS * BUCKETS * 32;

/// Every partition the digests track: `0..PARTITIONS` and `GLOBAL`.
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

/// The root of a set of bucket digests.
pub fn root_of(buckets: &[Digest; BUCKETS]) -> Digest {
    let mut h = blake3::Hasher::new();
    for d in buckets {
        h.update(d);
    }
    *h.finalize().as_bytes()
}

/// In-memory bucket digests of every partition (257 × 256 × 32 B ≈ 2 MiB).
pub struct BucketDigests {
    parts: Vec<RwLock<Box<[Digest; BUCKETS]>>>,
}

impl Default for BucketDigests {
    fn default() -> Self {
        Self::new()
    }
}

impl BucketDigests {
    /// Digests of empty partitions.
    pub fn new() -> Self {
        BucketDigests {
            parts: (0..SLOTS)
                .map(|_| RwLock::new(Box::new([[0u8; 32]; BUCKETS])))
                .collect(),
        }
    }

    /// Digests of every record in the `ids` index.
    pub(crate) fn load(idx: &Indexes) -> Result<Self> {
        let d = BucketDigests::new();
        d.reload(idx)?;
        Ok(d)
    }

    /// Recomputes every digest from the `ids` index (after rebuild).
    pub(crate) fn reload(&self, idx: &Indexes) -> Result<u64> {
        let fresh = BucketDigests::new();
        let mut n = 0u64;
        for kv in idx.ids.iter() {
            let (k, v) = kv.into_inner()?;
            if fresh.fold_ids_entry(&k, &v) {
                n += 1;
            }
        }
        for (mine, new) in self.parts.iter().zip(fresh.parts) {
            let new = new.into_inner().unwrap_or_else(|e| e.into_inner());
            *mine.write().unwrap_or_else(|e| e.into_inner()) = new;
        }
        Ok(n)
    }

    /// Saves the digests under the index's checkpoint, for [`Self::saved`]:
    /// only at a clean close, when every record written is applied. Digests
    /// are a function of the records before the checkpoint, so a later open
    /// may use them exactly when the checkpoint is still the same.
    pub(crate) fn save(&self, idx: &Indexes) -> Result<()> {
        let Some(at) = idx.checkpoint()? else {
            return Ok(());
        };
        let mut v = Vec::with_capacity(SAVED_LEN);
        v.push(SAVED_VERSION);
        v.extend_from_slice(&at.to_bytes());
        for part in &self.parts {
            let g = part.read().unwrap_or_else(|e| e.into_inner());
            for d in g.iter() {
                v.extend_from_slice(d);
            }
        }
        idx.save_digests(v)
    }

    /// The digests saved by [`Self::save`] if they cover exactly the
    /// checkpoint `at`; `None` if none were saved, they cover another
    /// checkpoint, or their format is not this one's.
    pub(crate) fn saved(idx: &Indexes, at: LogPos) -> Result<Option<Self>> {
        let Some(v) = idx.saved_digests()? else {
            return Ok(None);
        };
        if v.len() != SAVED_LEN || v[0] != SAVED_VERSION || v[1..9] != at.to_bytes() {
            return Ok(None);
        }
        let d = BucketDigests::new();
        for (part, bytes) in d.parts.iter().zip(v[9..].chunks_exact(BUCKETS * 32)) {
            let mut g = part.write().unwrap_or_else(|e| e.into_inner());
            for (bucket, b) in g.iter_mut().zip(bytes.chunks_exact(32)) {
                bucket.copy_from_slice(b);
            }
        }
        Ok(Some(d))
    }

    /// Folds in the record an `ids` index entry names (key: id; value:
    /// kind ‖ pos ‖ partition); false (nothing folded) for a malformed entry.
    pub(crate) fn fold_ids_entry(&self, key: &[u8], value: &[u8]) -> bool {
        let (Ok(id), Some(v)) = (
            <[u8; 32]>::try_from(key),
            crate::index::keys::parse_id_value(value),
        ) else {
            return false;
        };
        self.fold(v.partition, RecordId(id));
        true
    }

    /// Folds one record into its partition's bucket (XOR: folding twice removes it).
    pub(crate) fn fold(&self, partition: u16, id: RecordId) {
        let Some(s) = slot(partition) else {
            tracing::warn!(partition, %id, "record in an unknown partition; not digested");
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

    /// The root of every partition, in [`all_partitions`] order.
    pub fn roots(&self) -> Vec<(u16, Digest)> {
        all_partitions()
            .into_iter()
            .filter_map(|p| self.root(p).map(|r| (p, r)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xor_is_order_independent_and_roots_differ() {
        let a = BucketDigests::new();
        let b = BucketDigests::new();
        let ids: Vec<RecordId> = (0..100u32)
            .map(|i| RecordId::of(&i.to_le_bytes()))
            .collect();
        for id in &ids {
            a.fold(3, *id);
        }
        for id in ids.iter().rev() {
            b.fold(3, *id);
        }
        assert_eq!(a.root(3), b.root(3));
        assert_eq!(a.buckets(3), b.buckets(3));
        b.fold(3, RecordId::of(b"extra"));
        assert_ne!(a.root(3), b.root(3));
        assert!(a.root(partition::GLOBAL).is_some());
        assert!(a.root(partition::PARTITIONS).is_none());
    }
}

//! A filter over the ids in the `ids` keyspace that answers "certainly not
//! stored" without asking the index engine.
//!
//! Deciding a record's fate looks its id up; for a new record — nearly every
//! record of an ingest — the index engine walks every memtable and checks
//! the bloom filter of every table that may hold the key before it answers
//! "absent". That was about a fifth of the server's CPU per claim in the
//! HTTP batch ingest (docs/benchmarks.md, "Ids known to be new").
//!
//! **Invariant:** once [`IdFilter::is_ready`], every id in the `ids`
//! keyspace is in the filter, so [`IdFilter::absent`] never denies a stored
//! id. Every writer of `ids` entries adds the id before the entry becomes
//! visible (`Applier::commit`, bulk runs); the ids stored before this
//! open are added by a scan of the keyspace on a background thread, and
//! until that scan has finished the filter answers "maybe" for everything.
//! Ids are never removed (a rebuild re-adds what it replays): a false
//! positive costs one index lookup, as without a filter.
//!
//! Layout: layers of 64-byte blocks, a blocked bloom filter (one cache
//! line per layer per query). Record ids are BLAKE3 hashes, so their bytes
//! are already uniform: the block and the bits come straight from them.
//! A layer holds up to its capacity at [`BITS_PER_ID`]; when the newest
//! fills, one of [`GROWTH`] times the capacity is added while the total
//! stays within the configured bytes. Past that the newest layer keeps
//! taking ids and its false-positive rate rises: more lookups, never a
//! wrong answer.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock};

/// Bits per id a layer is sized for (about 0.5 % false positives at capacity).
const BITS_PER_ID: usize = 12;
/// Bits set per id within its block.
const PROBES: usize = 8;
/// Capacity of a new layer relative to the one before.
const GROWTH: usize = 4;
/// Capacity of the first layer when the index holds fewer ids.
const MIN_IDS: usize = 1 << 18;
const BLOCK_BYTES: usize = 64;

/// Blocks a layer of `capacity` ids takes.
fn blocks_for(capacity: usize) -> usize {
    capacity
        .saturating_mul(BITS_PER_ID)
        .div_ceil(BLOCK_BYTES * 8)
        .max(1)
}

/// Ids that `bytes` of whole blocks hold at [`BITS_PER_ID`] (saturating:
/// the budget is a bound, and a huge one must not overflow).
fn capacity_of(bytes: usize) -> usize {
    (bytes / BLOCK_BYTES).saturating_mul(BLOCK_BYTES * 8) / BITS_PER_ID
}

/// One cache line of bits.
#[repr(align(64))]
#[derive(Default)]
struct Block([AtomicU64; 8]);

struct Layer {
    blocks: Box<[Block]>,
    capacity: usize,
    added: AtomicUsize,
}

impl Layer {
    fn new(capacity: usize) -> Layer {
        let n = blocks_for(capacity);
        Layer {
            blocks: (0..n).map(|_| Block::default()).collect(),
            capacity,
            added: AtomicUsize::new(0),
        }
    }

    fn bytes(&self) -> usize {
        self.blocks.len() * BLOCK_BYTES
    }

    /// The block of `id` and the bit of each probe in it (word, mask).
    fn probes(&self, id: &[u8; 32]) -> (&Block, [(usize, u64); PROBES]) {
        let [a0, a1, a2, a3, a4, a5, a6, a7, b @ ..] = *id;
        let head = u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]);
        // Multiply-shift maps the uniform head onto any block count.
        let block = ((u128::from(head) * self.blocks.len() as u128) >> 64) as usize;
        let mut bits = u128::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
            b[14], b[15],
        ]);
        let mut out = [(0, 0); PROBES];
        for probe in &mut out {
            let bit = (bits & 511) as usize;
            bits >>= 9;
            *probe = (bit >> 6, 1u64 << (bit & 63));
        }
        (&self.blocks[block], out)
    }

    fn may_contain(&self, id: &[u8; 32]) -> bool {
        let (block, probes) = self.probes(id);
        probes
            .iter()
            .all(|&(w, m)| block.0[w].load(Ordering::Relaxed) & m != 0)
    }

    /// Adds `id`; true when this add filled the layer to its capacity.
    fn add(&self, id: &[u8; 32]) -> bool {
        let (block, probes) = self.probes(id);
        for (w, m) in probes {
            block.0[w].fetch_or(m, Ordering::Relaxed);
        }
        self.added.fetch_add(1, Ordering::Relaxed) + 1 == self.capacity
    }
}

/// The id filter of one index database.
pub(crate) struct IdFilter {
    layers: RwLock<Vec<Layer>>,
    /// Most bytes all layers may take; 0 turns the filter off.
    budget: usize,
    ready: AtomicBool,
}

impl IdFilter {
    /// A filter for an index of about `ids` ids, within `budget` bytes (0:
    /// no filter); its first layer has room for as many again.
    /// It is not ready until [`IdFilter::set_ready`].
    pub(crate) fn new(budget: usize, ids: usize) -> IdFilter {
        let mut layers = Vec::new();
        let fits = capacity_of(budget);
        if fits > 0 {
            layers.push(Layer::new(ids.saturating_mul(2).max(MIN_IDS).min(fits)));
        }
        IdFilter {
            layers: RwLock::new(layers),
            budget,
            ready: AtomicBool::new(false),
        }
    }

    /// Whether `id` is certainly not in the index. False whenever unsure
    /// (not ready yet, no filter, or a false positive).
    pub(crate) fn absent(&self, id: &[u8; 32]) -> bool {
        self.absent_each([id]).next().unwrap_or(false)
    }

    /// [`IdFilter::absent`] for each of `ids`, under one lock.
    pub(crate) fn absent_each<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a [u8; 32]>,
    ) -> impl Iterator<Item = bool> {
        let layers = self.layers.read().unwrap_or_else(PoisonError::into_inner);
        let answers = self.ready.load(Ordering::Acquire) && !layers.is_empty();
        ids.into_iter()
            .map(move |id| answers && !layers.iter().any(|l| l.may_contain(id)))
    }

    /// Adds `id` (before its `ids` entry is written).
    pub(crate) fn add(&self, id: &[u8; 32]) {
        self.add_all([id]);
    }

    /// Adds every one of `ids`, under one lock.
    pub(crate) fn add_all<'a>(&self, ids: impl IntoIterator<Item = &'a [u8; 32]>) {
        let mut ids = ids.into_iter().peekable();
        while ids.peek().is_some() {
            let filled = {
                let layers = self.layers.read().unwrap_or_else(PoisonError::into_inner);
                let Some(newest) = layers.last() else {
                    return;
                };
                // Up to the id that fills the newest layer; the rest go
                // into the layer that then follows it.
                ids.by_ref()
                    .any(|id| newest.add(id))
                    .then_some(newest.capacity)
            };
            if let Some(full) = filled {
                self.grow(full);
            }
        }
    }

    /// Adds a layer after the newest one (of capacity `full`) filled, if
    /// the budget has room for one at least as large.
    fn grow(&self, full: usize) {
        let mut layers = self.layers.write().unwrap_or_else(PoisonError::into_inner);
        if layers.last().map(|l| l.capacity) != Some(full) {
            return;
        }
        let used: usize = layers.iter().map(Layer::bytes).sum();
        let next = full
            .saturating_mul(GROWTH)
            .min(capacity_of(self.budget.saturating_sub(used)));
        if next >= full {
            layers.push(Layer::new(next));
            tracing::debug!(capacity = next, "id filter grew a layer");
        }
    }

    /// Declares every id stored before this open added.
    pub(crate) fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Whether [`IdFilter::absent`] answers (the start-up scan finished).
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Bytes the layers take.
    pub(crate) fn bytes(&self) -> usize {
        let layers = self.layers.read().unwrap_or_else(PoisonError::into_inner);
        layers.iter().map(Layer::bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> [u8; 32] {
        *blake3::hash(&n.to_le_bytes()).as_bytes()
    }

    #[test]
    fn never_denies_an_added_id_across_growth() {
        let f = IdFilter::new(64 << 20, 0);
        f.set_ready();
        let n = 3 * MIN_IDS as u64;
        for i in 0..n {
            f.add(&id(i));
        }
        assert!(f.layers.read().unwrap().len() >= 2, "the filter grew");
        assert!((0..n).all(|i| !f.absent(&id(i))));
        let absent = (n..n + 100_000).filter(|&i| f.absent(&id(i))).count();
        assert!(absent > 97_000, "false positives: {}", 100_000 - absent);
    }

    #[test]
    fn the_batch_forms_agree_with_the_single_ones_across_growth() {
        let f = IdFilter::new(64 << 20, 0);
        f.set_ready();
        let added: Vec<[u8; 32]> = (0..2 * MIN_IDS as u64).map(id).collect();
        f.add_all(added.iter());
        assert!(f.layers.read().unwrap().len() >= 2, "the filter grew");
        assert!(f.absent_each(added.iter()).all(|absent| !absent));
        let others: Vec<[u8; 32]> = (1u64 << 40..(1u64 << 40) + 10_000).map(id).collect();
        let each: Vec<bool> = f.absent_each(others.iter()).collect();
        let single: Vec<bool> = others.iter().map(|i| f.absent(i)).collect();
        assert_eq!(each, single);
        assert!(each.iter().filter(|a| **a).count() > 9_500);
    }

    #[test]
    fn answers_maybe_until_ready() {
        let f = IdFilter::new(1 << 20, 0);
        assert!(!f.absent(&id(1)));
        f.set_ready();
        assert!(f.absent(&id(1)));
        f.add(&id(1));
        assert!(!f.absent(&id(1)));
    }

    #[test]
    fn stays_within_its_budget_and_still_never_denies() {
        let budget = 256 << 10;
        let f = IdFilter::new(budget, 0);
        f.set_ready();
        let n = 4 * MIN_IDS as u64;
        for i in 0..n {
            f.add(&id(i));
        }
        assert!(f.bytes() <= budget, "{} > {budget}", f.bytes());
        assert!((0..n).all(|i| !f.absent(&id(i))));
    }

    #[test]
    fn a_budget_of_any_size_is_a_bound_not_an_overflow() {
        let f = IdFilter::new(usize::MAX, 0);
        f.set_ready();
        f.add(&id(1));
        assert!(!f.absent(&id(1)));
        assert_eq!(f.bytes(), blocks_for(MIN_IDS) * BLOCK_BYTES);
    }

    #[test]
    fn a_zero_budget_is_no_filter() {
        let f = IdFilter::new(0, 1000);
        f.set_ready();
        f.add(&id(1));
        assert!(!f.absent(&id(2)));
        assert_eq!(f.bytes(), 0);
    }
}

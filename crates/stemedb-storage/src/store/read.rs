//! Reads: records by position or id, a subject's index entries, listings
//! (subjects, predicates, annotations, children, records by agent),
//! trust in effect, partitions and their ids, and scans of the log.

use std::collections::{BTreeMap, HashMap};

use stemedb_records::{Kind, RecordId, SignedRecord};

use super::{EpochEntry, Store, Stored};
use crate::digest::BucketDigests;
use crate::error::{Result, StorageError};
use crate::index::keys;
use crate::log::LogPos;

impl Store {
    /// Reads the record at a log position.
    pub fn read_at(&self, pos: LogPos) -> Result<SignedRecord> {
        Ok(SignedRecord::from_stored(&self.inner.reader.read(pos)?)?)
    }

    /// Looks a record up by id.
    pub fn get(&self, id: RecordId) -> Result<Option<Stored>> {
        match self.inner.idx.lookup(id)? {
            None => Ok(None),
            Some((_, pos)) => Ok(Some(Stored {
                record: self.read_at(pos)?,
                pos,
            })),
        }
    }

    /// Whether a record is stored.
    pub fn contains(&self, id: RecordId) -> Result<bool> {
        Ok(self.inner.idx.lookup(id)?.is_some())
    }

    /// Index entries of one subject (every predicate when `predicate` is
    /// `None`): assertions, and retractions/votes of its assertions, ordered
    /// by predicate then timestamp. Records are not read.
    pub fn subject_entries(
        &self,
        subject: &str,
        predicate: Option<&str>,
    ) -> Result<Vec<SubjectEntry>> {
        let prefix = match predicate {
            Some(p) => keys::sp_prefix(subject, p),
            None => keys::subject_prefix(subject),
        };
        let mut out = Vec::new();
        for kv in self.inner.idx.sp.prefix(&prefix) {
            let (k, v) = kv.into_inner()?;
            let (Some(key), Some(kind)) = (
                keys::parse_sp(&k, subject.len()),
                v.first().and_then(|b| Kind::from_byte(*b)),
            ) else {
                return Err(StorageError::Corrupt {
                    path: self.inner.cfg.data_dir.join("index"),
                    offset: 0,
                    reason: "malformed sp index entry".into(),
                });
            };
            out.push(SubjectEntry {
                predicate: key.predicate,
                timestamp: key.timestamp,
                kind,
                pos: key.pos,
            });
        }
        Ok(out)
    }

    /// Distinct predicates of a subject, in byte order. Skip-scans the `sp`
    /// index: one seek per distinct predicate, not one step per record.
    pub fn predicates(&self, subject: &str) -> Result<Vec<String>> {
        let prefix = keys::subject_prefix(subject);
        let mut out = Vec::new();
        let mut start = prefix.clone();
        while let Some(kv) = self.inner.idx.sp.range(start.clone()..).next() {
            let k = kv.key()?;
            if !k.starts_with(&prefix) {
                break;
            }
            let rest = &k[prefix.len()..];
            let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
            out.push(String::from_utf8_lossy(&rest[..end]).into_owned());
            // Every key of this predicate starts with `predicate ‖ 0`; `‖ 1` sorts after them.
            start = k[..prefix.len() + end].to_vec();
            start.push(1);
        }
        Ok(out)
    }

    /// Distinct subjects starting with `prefix`, after `after` (exclusive), at
    /// most `limit`. Skip-scans the `sp` index: one seek per subject.
    pub fn subjects(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        let mut start: Vec<u8> = match after {
            // subject ‖ 0x01 sorts after every key of that subject (subject ‖ 0 ‖ …).
            Some(a) if a.as_bytes() >= prefix.as_bytes() => {
                let mut s = a.as_bytes().to_vec();
                s.push(1);
                s
            }
            _ => prefix.as_bytes().to_vec(),
        };
        while out.len() < limit {
            let Some(kv) = self.inner.idx.sp.range(start.clone()..).next() else {
                break;
            };
            let k = kv.key()?;
            if !k.starts_with(prefix.as_bytes()) {
                break;
            }
            let end = k.iter().position(|b| *b == 0).unwrap_or(k.len());
            out.push(String::from_utf8_lossy(&k[..end]).into_owned());
            start = k[..end].to_vec();
            start.push(1);
        }
        Ok(out)
    }

    /// Retractions and votes that target `id`, oldest first in log order.
    pub fn annotations(&self, id: RecordId) -> Result<Vec<Stored>> {
        // Keys: target id (32) ‖ kind (1) ‖ position.
        self.read_keyed(&self.inner.idx.target, id.as_bytes(), 33)
    }

    /// Assertions whose `parent` is `id`.
    pub fn children(&self, id: RecordId) -> Result<Vec<Stored>> {
        // Keys: parent id (32) ‖ position.
        self.read_keyed(&self.inner.idx.children, id.as_bytes(), 32)
    }

    /// Reads the records whose log position ends the keys under `prefix`,
    /// starting at byte `pos_at` of each key.
    fn read_keyed(
        &self,
        ks: &fjall::Keyspace,
        prefix: &[u8],
        pos_at: usize,
    ) -> Result<Vec<Stored>> {
        let mut out = Vec::new();
        for kv in ks.prefix(prefix) {
            let k = kv.key()?;
            if let Some(pos) = k.get(pos_at..).and_then(LogPos::from_bytes) {
                out.push(Stored {
                    record: self.read_at(pos)?,
                    pos,
                });
            }
        }
        Ok(out)
    }

    /// The agent's trust score in effect at `as_of` (newest by timestamp,
    /// ties by larger id), or `None` when no trust record applies.
    pub fn trust(&self, agent: &str, as_of: Option<i64>) -> Result<Option<f64>> {
        let prefix = keys::subject_prefix(agent);
        let mut hi = prefix.clone();
        hi.extend_from_slice(&keys::ts(as_of.unwrap_or(i64::MAX)));
        hi.extend_from_slice(&[0xff; 8]);
        let mut best: Option<(i64, [u8; 32], f64)> = None;
        for kv in self.inner.idx.trust.range(prefix.clone()..=hi).rev() {
            let (k, v) = kv.into_inner()?;
            let Some(ts) = k
                .get(prefix.len()..prefix.len() + 8)
                .and_then(keys::ts_from)
            else {
                continue;
            };
            if let Some((bts, _, _)) = best
                && ts < bts
            {
                break;
            }
            if v.len() != 40 {
                continue;
            }
            let mut score = [0u8; 8];
            score.copy_from_slice(&v[..8]);
            let mut id = [0u8; 32];
            id.copy_from_slice(&v[8..]);
            let cand = (ts, id, f64::from_le_bytes(score));
            if best.is_none_or(|b| (cand.0, cand.1) > (b.0, b.1)) {
                best = Some(cand);
            }
        }
        Ok(best.map(|b| b.2))
    }

    /// Per-partition Merkle bucket digests of every stored record, kept by
    /// the commit path (see [`crate::digest`]).
    pub fn digests(&self) -> &BucketDigests {
        &self.inner.shared.digests
    }

    /// Every epoch, in log order.
    pub fn epochs(&self) -> Vec<EpochEntry> {
        self.inner
            .shared
            .epochs
            .read()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    /// Ids of every record in a partition, in id order (walks the whole
    /// `ids` index; anti-entropy reads [`Store::bucket_ids_many`]).
    pub fn partition_ids(&self, partition: u16) -> Result<Vec<RecordId>> {
        let all: Vec<(u16, u8)> = (0..=u8::MAX).map(|b| (partition, b)).collect();
        Ok(self.bucket_ids_many(&all)?.concat())
    }

    /// Ids of the records of a partition whose id starts with byte `bucket`, in id order.
    pub fn bucket_ids(&self, partition: u16, bucket: u8) -> Result<Vec<RecordId>> {
        Ok(self
            .bucket_ids_many(&[(partition, bucket)])?
            .pop()
            .unwrap_or_default())
    }

    /// [`Store::bucket_ids`] of each `(partition, bucket)`, in the order
    /// asked. The `ids` index is keyed by id, so each distinct bucket byte
    /// costs one walk over 1/256 of all records, shared by every partition
    /// asked with that byte: ask for many partitions of a bucket at once.
    pub fn bucket_ids_many(&self, wanted: &[(u16, u8)]) -> Result<Vec<Vec<RecordId>>> {
        let mut out: Vec<Vec<RecordId>> = vec![Vec::new(); wanted.len()];
        let mut by_bucket: BTreeMap<u8, HashMap<u16, Vec<usize>>> = BTreeMap::new();
        for (i, &(p, b)) in wanted.iter().enumerate() {
            by_bucket
                .entry(b)
                .or_default()
                .entry(p)
                .or_default()
                .push(i);
        }
        for (b, slots) in by_bucket {
            for kv in self.inner.idx.ids.prefix([b]) {
                let (k, v) = kv.into_inner()?;
                let Some(v) = keys::parse_id_value(&v) else {
                    continue;
                };
                let (Some(at), Ok(id)) = (slots.get(&v.partition), <[u8; 32]>::try_from(&k[..]))
                else {
                    continue;
                };
                for &i in at {
                    out[i].push(RecordId(id));
                }
            }
        }
        Ok(out)
    }

    /// Kind and log position of a stored record, without reading it.
    pub fn locate(&self, id: RecordId) -> Result<Option<(Kind, LogPos)>> {
        self.inner.idx.lookup(id)
    }

    /// Records signed by `agent`, in log order, starting after `after`.
    pub fn by_agent(
        &self,
        agent: &str,
        after: Option<LogPos>,
        limit: usize,
    ) -> Result<Vec<Stored>> {
        let prefix = keys::subject_prefix(agent);
        let start = match after {
            Some(p) => {
                let mut k = keys::name_pos(agent, p);
                k.push(0);
                k
            }
            None => prefix.clone(),
        };
        let mut out = Vec::new();
        for kv in self.inner.idx.agent.range(start..) {
            let k = kv.key()?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            if let Some(pos) = LogPos::from_bytes(&k[prefix.len()..]) {
                out.push(Stored {
                    record: self.read_at(pos)?,
                    pos,
                });
            }
        }
        Ok(out)
    }

    /// Calls `f` for every record from `from` (inclusive) to the end of the log.
    pub fn scan(
        &self,
        from: LogPos,
        mut f: impl FnMut(LogPos, SignedRecord) -> Result<()>,
    ) -> Result<LogPos> {
        self.inner.reader.scan_from(from, |pos, payload| {
            f(pos, SignedRecord::from_stored(payload)?)
        })
    }
}

/// One `sp` index entry of a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectEntry {
    /// Predicate.
    pub predicate: String,
    /// Record timestamp.
    pub timestamp: i64,
    /// Assertion, retraction or vote.
    pub kind: Kind,
    /// Where the record is.
    pub pos: LogPos,
}

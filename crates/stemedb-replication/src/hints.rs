//! Durable hinted handoff: which records each replica still has to receive.
//!
//! A fjall database at `data_dir/hints` with two keyspaces written in one
//! atomic batch: `hints` (`target ‖ 0 ‖ record id` → added-at ms, u64 BE)
//! and `age` (`added-at ms ‖ target ‖ 0 ‖ record id` → empty), the latter
//! to find the oldest hint in one seek. Adding a hint fsyncs before it returns.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use stemedb_records::RecordId;

use crate::error::{ReplicationError, Result};
use crate::metrics as m;

/// The durable hint queue of one node.
pub struct HintQueue {
    db: Database,
    hints: Keyspace,
    age: Keyspace,
    total: AtomicU64,
    /// Serialises check-then-write so counts and the age index stay exact.
    write: Mutex<()>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn target_prefix(target: &str) -> Result<Vec<u8>> {
    if target.is_empty() || target.as_bytes().contains(&0) {
        return Err(ReplicationError::InvalidNodeId(target.to_string()));
    }
    let mut k = Vec::with_capacity(target.len() + 33);
    k.extend_from_slice(target.as_bytes());
    k.push(0);
    Ok(k)
}

fn hint_key(prefix: &[u8], id: &RecordId) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(id.as_bytes());
    k
}

fn age_key(ms: u64, hint_key: &[u8]) -> Vec<u8> {
    let mut k = ms.to_be_bytes().to_vec();
    k.extend_from_slice(hint_key);
    k
}

fn id_from_key(key: &[u8], prefix_len: usize) -> Option<RecordId> {
    let raw = key.get(prefix_len..)?;
    if raw.len() != 32 {
        return None;
    }
    let mut id = [0u8; 32];
    id.copy_from_slice(raw);
    Some(RecordId(id))
}

impl HintQueue {
    /// Opens or creates the queue under `data_dir/hints`.
    pub fn open(data_dir: &Path) -> Result<HintQueue> {
        let db = Database::builder(data_dir.join("hints")).open()?;
        let hints = db.keyspace("hints", KeyspaceCreateOptions::default)?;
        let age = db.keyspace("age", KeyspaceCreateOptions::default)?;
        let mut total = 0u64;
        for kv in hints.iter() {
            kv.key()?;
            total += 1;
        }
        let q = HintQueue {
            db,
            hints,
            age,
            total: AtomicU64::new(total),
            write: Mutex::new(()),
        };
        q.publish();
        tracing::info!(pending = total, "hint queue opened");
        Ok(q)
    }

    /// Records that `target` must receive `ids` (durable on return); returns how many were new.
    pub fn add(&self, target: &str, ids: &[RecordId]) -> Result<usize> {
        let prefix = target_prefix(target)?;
        let _g = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let ms = now_ms();
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        let mut added = 0usize;
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            let k = hint_key(&prefix, id);
            if !seen.insert(*id) || self.hints.contains_key(&k)? {
                continue;
            }
            batch.insert(&self.age, age_key(ms, &k), Vec::new());
            batch.insert(&self.hints, k, ms.to_be_bytes().to_vec());
            added += 1;
        }
        batch.commit()?;
        self.total.fetch_add(added as u64, Ordering::Relaxed);
        self.publish();
        Ok(added)
    }

    /// Up to `limit` hinted ids for `target` with id greater than `after`, in id order.
    pub fn pending_after(
        &self,
        target: &str,
        after: Option<RecordId>,
        limit: usize,
    ) -> Result<Vec<RecordId>> {
        let prefix = target_prefix(target)?;
        let start = match after {
            Some(a) => {
                let mut k = hint_key(&prefix, &a);
                k.push(0);
                k
            }
            None => prefix.clone(),
        };
        let mut out = Vec::new();
        for kv in self.hints.range(start..) {
            if out.len() >= limit {
                break;
            }
            let k = kv.key()?;
            if !k.starts_with(&prefix) {
                break;
            }
            if let Some(id) = id_from_key(&k, prefix.len()) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Every hinted id for `target`, in id order.
    pub fn pending(&self, target: &str) -> Result<Vec<RecordId>> {
        self.pending_after(target, None, usize::MAX)
    }

    /// Number of hints for `target`.
    pub fn pending_count(&self, target: &str) -> Result<usize> {
        let prefix = target_prefix(target)?;
        let mut n = 0;
        for kv in self.hints.prefix(&prefix) {
            kv.key()?;
            n += 1;
        }
        Ok(n)
    }

    /// Number of hints for all targets.
    pub fn pending_total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Node ids that have hints, in byte order.
    pub fn targets(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut start: Vec<u8> = Vec::new();
        while let Some(kv) = self.hints.range(start.clone()..).next() {
            let k = kv.key()?;
            let end = k.iter().position(|b| *b == 0).unwrap_or(k.len());
            out.push(String::from_utf8_lossy(&k[..end]).into_owned());
            start = k[..end].to_vec();
            start.push(1);
        }
        Ok(out)
    }

    /// Age of the oldest undelivered hint, `None` when there is none.
    pub fn oldest_age(&self) -> Result<Option<Duration>> {
        let Some(kv) = self.age.first_key_value() else {
            return Ok(None);
        };
        let k = kv.key()?;
        let mut ms = [0u8; 8];
        match k.get(..8) {
            Some(b) => ms.copy_from_slice(b),
            None => return Ok(None),
        }
        Ok(Some(Duration::from_millis(
            now_ms().saturating_sub(u64::from_be_bytes(ms)),
        )))
    }

    /// Deletes delivered hints; returns how many existed. Not fsynced: a
    /// removal lost in a crash only causes a harmless re-delivery.
    pub fn remove(&self, target: &str, ids: &[RecordId]) -> Result<usize> {
        let prefix = target_prefix(target)?;
        let _g = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch = self.db.batch();
        let mut removed = 0usize;
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            let k = hint_key(&prefix, id);
            if !seen.insert(*id) {
                continue;
            }
            let Some(v) = self.hints.get(&k)? else {
                continue;
            };
            if let Ok(ms) = <[u8; 8]>::try_from(&v[..]) {
                batch.remove(&self.age, age_key(u64::from_be_bytes(ms), &k));
            }
            batch.remove(&self.hints, k);
            removed += 1;
        }
        batch.commit()?;
        self.total.fetch_sub(removed as u64, Ordering::Relaxed);
        self.publish();
        Ok(removed)
    }

    /// Publishes `stemedb_hints_pending` and `replication_lag_seconds`.
    pub fn publish(&self) {
        metrics::gauge!(m::HINTS_PENDING).set(self.pending_total() as f64);
        let lag = self.oldest_age().ok().flatten().unwrap_or_default();
        metrics::gauge!(m::REPLICATION_LAG).set(lag.as_secs_f64());
    }

    /// Forces everything written so far to disk.
    pub fn flush(&self) -> Result<()> {
        self.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> RecordId {
        RecordId::of(&n.to_le_bytes())
    }

    #[test]
    fn hints_survive_reopen_and_are_removed() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| ReplicationError::Task(e.to_string()))?;
        {
            let q = HintQueue::open(dir.path())?;
            assert_eq!(q.add("node-b", &[id(1), id(2), id(2)])?, 2);
            assert_eq!(q.add("node-b", &[id(1)])?, 0, "re-adding is a no-op");
            assert_eq!(q.add("node-c", &[id(3)])?, 1);
            assert!(matches!(
                q.add("bad\0id", &[id(4)]),
                Err(ReplicationError::InvalidNodeId(_))
            ));
        }
        let q = HintQueue::open(dir.path())?;
        assert_eq!(q.pending_total(), 3);
        let mut want = vec![id(1), id(2)];
        want.sort();
        assert_eq!(q.pending("node-b")?, want);
        assert_eq!(q.pending_after("node-b", Some(want[0]), 10)?, vec![want[1]]);
        assert_eq!(
            q.targets()?,
            vec!["node-b".to_string(), "node-c".to_string()]
        );
        assert!(q.oldest_age()?.is_some());
        assert_eq!(q.remove("node-b", &[id(1), id(2), id(9)])?, 2);
        assert_eq!(q.pending_count("node-b")?, 0);
        assert_eq!(q.remove("node-c", &[id(3)])?, 1);
        assert_eq!(q.pending_total(), 0);
        assert_eq!(q.oldest_age()?, None);
        Ok(())
    }
}

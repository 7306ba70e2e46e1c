//! Helpers shared by client, server and sync: packed ids, sparse bucket
//! digests, per-record push statuses, and log ordering.

use stemedb_records::{Kind, RecordId, SignedRecord};
use stemedb_storage::{LogPos, Rejected, Store};

use crate::error::Result;
use crate::merkle::{BUCKETS, Digest};
use crate::proto::{PushResult, PushStatus};

/// Packs ids into one byte string (32 bytes each).
pub fn pack_ids<'a>(ids: impl IntoIterator<Item = &'a RecordId>) -> Vec<u8> {
    let mut out = Vec::new();
    for id in ids {
        out.extend_from_slice(id.as_bytes());
    }
    out
}

/// Unpacks ids; `None` when the length is not a multiple of 32.
pub fn unpack_ids(bytes: &[u8]) -> Option<Vec<RecordId>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(32)
            .map(|c| {
                let mut id = [0u8; 32];
                id.copy_from_slice(c);
                RecordId(id)
            })
            .collect(),
    )
}

/// Encodes the last `len` bytes (clamped to `1..=32`) of each bucket digest
/// whose sent bytes are not all zero, as `(bucket u8 ‖ digest[32-len..])*`.
pub fn pack_buckets(buckets: &[Digest; BUCKETS], len: usize) -> Vec<u8> {
    let from = 32 - len.clamp(1, 32);
    let mut out = Vec::new();
    for (i, d) in buckets.iter().enumerate() {
        if d[from..].iter().any(|b| *b != 0) {
            out.push(i as u8);
            out.extend_from_slice(&d[from..]);
        }
    }
    out
}

/// Decodes [`pack_buckets`] with the same `len`: the sent bytes land at the
/// end of each digest, the rest is zero. `None` when malformed.
pub fn unpack_buckets(bytes: &[u8], len: usize) -> Option<Box<[Digest; BUCKETS]>> {
    if !(1..=32).contains(&len) || !bytes.len().is_multiple_of(1 + len) {
        return None;
    }
    let mut out = Box::new([[0u8; 32]; BUCKETS]);
    for c in bytes.chunks_exact(1 + len) {
        let slot = out.get_mut(usize::from(c[0]))?;
        slot[32 - len..].copy_from_slice(&c[1..]);
    }
    Some(out)
}

/// Whether a kind refers to another record that must be stored first.
pub fn is_annotation(kind: Kind) -> bool {
    matches!(kind, Kind::Retraction | Kind::Vote)
}

/// Sort key that puts what others may reference first: base records, then
/// annotations, each in log order (a target is always logged before what points at it).
pub fn send_order(kind: Kind, pos: LogPos) -> (bool, LogPos) {
    (is_annotation(kind), pos)
}

/// Reads the stored records among `ids` in [`send_order`]; returns them and the ids not stored.
pub fn read_in_send_order(
    store: &Store,
    ids: &[RecordId],
) -> Result<(Vec<SignedRecord>, Vec<RecordId>)> {
    let mut found = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    for id in ids {
        match store.locate(*id)? {
            Some((kind, pos)) => found.push((send_order(kind, pos), pos)),
            None => missing.push(*id),
        }
    }
    found.sort_unstable();
    let mut records = Vec::with_capacity(found.len());
    for (_, pos) in found {
        records.push(store.read_at(pos)?);
    }
    Ok((records, missing))
}

/// The wire status of one append result.
pub fn push_result(id: Option<RecordId>, outcome: &stemedb_storage::ItemResult) -> PushResult {
    let id = id.map(|i| i.as_bytes().to_vec()).unwrap_or_default();
    let (status, error) = match outcome {
        Ok(a) => (
            match a.status {
                stemedb_storage::AppendStatus::Created => PushStatus::Created,
                stemedb_storage::AppendStatus::Exists => PushStatus::Exists,
            },
            String::new(),
        ),
        Err(e @ Rejected::NotFound { .. }) => (PushStatus::MissingTarget, e.to_string()),
        Err(e) => (PushStatus::Invalid, e.to_string()),
    };
    PushResult {
        status: status as i32,
        id,
        error,
    }
}

/// Splits records into batches of at most `max_records` and about `max_bytes`.
pub fn batches(
    records: Vec<SignedRecord>,
    max_records: usize,
    max_bytes: usize,
) -> Vec<Vec<SignedRecord>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut bytes = 0usize;
    for r in records {
        let len = r.stored_len();
        if !cur.is_empty() && (cur.len() >= max_records || bytes + len > max_bytes) {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += len;
        cur.push(r);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_buckets_round_trip() {
        let ids = vec![RecordId::of(b"a"), RecordId::of(b"b")];
        assert_eq!(unpack_ids(&pack_ids(&ids)), Some(ids));
        assert_eq!(unpack_ids(&[0u8; 31]), None);
        let mut b = [[0u8; 32]; BUCKETS];
        b[3] = [7u8; 32];
        b[255] = [9u8; 32];
        let packed = pack_buckets(&b, 32);
        assert_eq!(packed.len(), 66);
        assert_eq!(unpack_buckets(&packed, 32).as_deref(), Some(&b));
        assert!(unpack_buckets(&packed[..40], 32).is_none());
        // Short digests keep the last bytes; all-zero tails are left out.
        b[5][..16].copy_from_slice(&[1u8; 16]);
        let short = pack_buckets(&b, 16);
        assert_eq!(short.len(), 2 * 17);
        let back = unpack_buckets(&short, 16).expect("well formed");
        assert_eq!(back[3], {
            let mut d = [0u8; 32];
            d[16..].copy_from_slice(&[7u8; 16]);
            d
        });
        assert_eq!(back[5], [0u8; 32]);
        assert!(unpack_buckets(&short, 0).is_none());
    }
}

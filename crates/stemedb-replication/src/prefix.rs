//! Bucket comparison by short id prefixes (the `MatchPrefixes` RPC and
//! prefix `Fetch`), and the check that keeps it exact.
//!
//! The prefix of an id at length `L` is bytes `1..1+L` (byte 0 is the bucket,
//! the same for every id of a bucket); `L = 31` ([`FULL_LEN`]) is the whole id.
//! The caller sends the prefix of every id it holds in a bucket; the server
//! compares them as multisets with the prefixes of its own ids there and
//! answers ([`BucketAnswer`]):
//! - `differs`: which of the caller's prefixes occur a different number of
//!   times on the server: the caller pushes those ids;
//! - `extras`: the server's distinct prefixes that occur a different number of
//!   times on the caller: the caller fetches the server's ids with them;
//! - `check`: bytes 16..32 of the XOR of the server's ids whose prefix has the
//!   same multiplicity on both sides.
//!
//! Equal multiplicity does not prove equal ids: a local id and a different
//! peer id may share a prefix, and then neither moves. The ids are BLAKE3
//! outputs, so such a pair changes bytes 16..32 of the XOR (which lie beyond
//! every prefix of at most 15 bytes; longer prefixes are 128-bit themselves)
//! except with probability 2⁻¹²⁸, BLAKE3's own collision bound; the caller
//! compares the check with the XOR of its own matched ids ([`settle`]) and
//! compares a bucket whose checks differ again with whole ids, where equal
//! prefixes are equal ids. So a difference is never hidden; short prefixes only
//! cost a second exchange for the rare colliding bucket.

use std::collections::{HashMap, HashSet};

use prost::encoding::{decode_varint, encode_varint};
use stemedb_records::RecordId;

use crate::proto::{PartitionMatch, PartitionPrefixes};

/// Prefix length that is the whole id after the bucket byte: matching is exact.
pub const FULL_LEN: u8 = 31;
/// Bytes of a bucket check digest.
pub const CHECK_LEN: usize = 16;
/// A check digest: bytes 16..32 of an XOR of ids.
pub type Check = [u8; CHECK_LEN];

/// First id byte covered by the check; prefixes chosen by [`prefix_len_for`] end before it.
const CHECK_FROM: usize = 32 - CHECK_LEN;
/// Longest prefix [`prefix_len_for`] picks, so the check never overlaps a prefix.
const MAX_ADAPTIVE_LEN: u8 = CHECK_FROM as u8 - 1;

/// The prefix of `id` at length `len` (clamped to `1..=31`).
pub fn prefix(id: &RecordId, len: u8) -> &[u8] {
    &id.0[1..1 + usize::from(len.clamp(1, FULL_LEN))]
}

/// Prefix length for a bucket where the caller holds `ids` ids: the shortest
/// with at least `256 × ids` values, so an id the caller lacks shares a prefix
/// with one it holds with probability at most 1/256 (that costs one redundant
/// record each way, never a miss).
pub fn prefix_len_for(ids: usize) -> u8 {
    let mut len = 1u8;
    // 256^(len-1): prefix values per id held.
    let mut room: u128 = 1;
    while room < ids as u128 && len < MAX_ADAPTIVE_LEN {
        len += 1;
        room <<= 8;
    }
    len
}

/// Folds an id into a check digest.
pub fn fold_check(check: &mut Check, id: &RecordId) {
    for (c, b) in check.iter_mut().zip(&id.0[CHECK_FROM..]) {
        *c ^= b;
    }
}

/// Id prefixes of one bucket, as a `MatchPrefixes` or `Fetch` request carries them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BucketPrefixes {
    /// The partition.
    pub partition: u16,
    /// The bucket: byte 0 of every id meant.
    pub bucket: u8,
    /// Prefix length, `1..=31`.
    pub len: u8,
    /// Packed prefixes, `len` bytes each.
    pub prefixes: Vec<u8>,
}

impl BucketPrefixes {
    /// The prefixes of `ids` (all in `bucket`), in the same order.
    pub fn of_ids(partition: u16, bucket: u8, len: u8, ids: &[RecordId]) -> BucketPrefixes {
        let len = len.clamp(1, FULL_LEN);
        let mut prefixes = Vec::with_capacity(ids.len() * usize::from(len));
        for id in ids {
            prefixes.extend_from_slice(prefix(id, len));
        }
        BucketPrefixes {
            partition,
            bucket,
            len,
            prefixes,
        }
    }

    /// Number of prefixes.
    pub fn count(&self) -> usize {
        self.prefixes.len() / usize::from(self.len.max(1))
    }

    /// The prefixes, in order.
    pub fn iter(&self) -> std::slice::ChunksExact<'_, u8> {
        self.prefixes.chunks_exact(usize::from(self.len.max(1)))
    }

    /// The ids among `ids` (one bucket of the server) that have one of these prefixes.
    pub fn resolve(&self, ids: &[RecordId]) -> Vec<RecordId> {
        let wanted: HashSet<&[u8]> = self.iter().collect();
        ids.iter()
            .filter(|id| id.0[0] == self.bucket && wanted.contains(prefix(id, self.len)))
            .copied()
            .collect()
    }
}

/// Packs groups into messages, one per run of groups of the same partition.
pub fn pack_groups(groups: &[BucketPrefixes]) -> Vec<PartitionPrefixes> {
    let mut out: Vec<PartitionPrefixes> = Vec::new();
    for g in groups {
        if out
            .last()
            .is_none_or(|last| last.partition != u32::from(g.partition))
        {
            out.push(PartitionPrefixes {
                partition: u32::from(g.partition),
                buckets: Vec::new(),
            });
        }
        let Some(part) = out.last_mut() else {
            continue;
        };
        part.buckets.push(g.bucket);
        part.buckets.push(g.len);
        encode_varint(g.count() as u64, &mut part.buckets);
        part.buckets.extend_from_slice(&g.prefixes);
    }
    out
}

/// Decodes [`pack_groups`] output received from the wire; the error says what is malformed.
pub fn unpack_groups(parts: &[PartitionPrefixes]) -> Result<Vec<BucketPrefixes>, String> {
    unpack_groups_within(parts, usize::MAX, usize::MAX)
}

/// [`unpack_groups`] that fails as soon as more than `max_groups` groups or
/// `max_prefixes` prefixes are seen, before allocating for the rest (a
/// message of empty groups would otherwise decode into far more memory than
/// its own size).
pub fn unpack_groups_within(
    parts: &[PartitionPrefixes],
    max_groups: usize,
    max_prefixes: usize,
) -> Result<Vec<BucketPrefixes>, String> {
    let mut out = Vec::new();
    let mut prefixes_seen = 0usize;
    for part in parts {
        let partition = u16::try_from(part.partition)
            .map_err(|_| format!("partition {} out of range", part.partition))?;
        let mut rest: &[u8] = &part.buckets;
        while let [bucket, len, tail @ ..] = rest {
            let (bucket, len) = (*bucket, *len);
            if !(1..=FULL_LEN).contains(&len) {
                return Err(format!("prefix length {len} not in 1..=31"));
            }
            rest = tail;
            let count = decode_varint(&mut rest).map_err(|e| format!("prefix count: {e}"))?;
            let bytes = usize::try_from(count)
                .ok()
                .and_then(|c| c.checked_mul(usize::from(len)))
                .filter(|b| *b <= rest.len())
                .ok_or_else(|| format!("{count} prefixes overrun the message"))?;
            prefixes_seen = prefixes_seen.saturating_add(bytes / usize::from(len));
            if out.len() >= max_groups {
                return Err(format!("more than {max_groups} buckets"));
            }
            if prefixes_seen > max_prefixes {
                return Err(format!("more than {max_prefixes} prefixes"));
            }
            let (prefixes, tail) = rest.split_at(bytes);
            out.push(BucketPrefixes {
                partition,
                bucket,
                len,
                prefixes: prefixes.to_vec(),
            });
            rest = tail;
        }
        if !rest.is_empty() {
            return Err("truncated bucket header".into());
        }
    }
    Ok(out)
}

/// The server's answer for one bucket of a `MatchPrefixes` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketAnswer {
    /// Bytes 16..32 of the XOR of the server's ids whose prefix has equal multiplicity.
    pub check: Check,
    /// Bitmap (LSB first) over the request's prefixes: set where multiplicities differ.
    pub differs: Vec<u8>,
    /// The server's distinct prefixes whose multiplicities differ, packed.
    pub extras: Vec<u8>,
}

impl BucketAnswer {
    /// Whether the request's prefix `i` has a different multiplicity on the server.
    pub fn differs_at(&self, i: usize) -> bool {
        self.differs
            .get(i / 8)
            .is_some_and(|byte| byte & (1 << (i % 8)) != 0)
    }
}

/// Compares the caller's prefixes `asked` with the server's ids of that bucket.
pub fn answer(server_ids: &[RecordId], asked: &BucketPrefixes, with_extras: bool) -> BucketAnswer {
    let len = asked.len;
    // prefix → (caller's multiplicity, server's multiplicity, listed in extras).
    let mut counts: HashMap<&[u8], (usize, usize, bool)> =
        HashMap::with_capacity(asked.count() + server_ids.len());
    for q in asked.iter() {
        counts.entry(q).or_default().0 += 1;
    }
    for id in server_ids {
        counts.entry(prefix(id, len)).or_default().1 += 1;
    }
    let mut differs = vec![0u8; asked.count().div_ceil(8)];
    for (i, q) in asked.iter().enumerate() {
        if counts.get(q).is_some_and(|(a, b, _)| a != b)
            && let Some(byte) = differs.get_mut(i / 8)
        {
            *byte |= 1 << (i % 8);
        }
    }
    let mut check = [0u8; CHECK_LEN];
    let mut extras = Vec::new();
    for id in server_ids {
        let q = prefix(id, len);
        let Some((a, b, listed)) = counts.get_mut(q) else {
            continue;
        };
        if a == b {
            fold_check(&mut check, id);
        } else if with_extras && !*listed {
            *listed = true;
            extras.extend_from_slice(q);
        }
    }
    BucketAnswer {
        check,
        differs,
        extras,
    }
}

/// Appends one packed answer (see `PartitionMatch` in the proto) to `out`.
pub fn encode_answer(out: &mut Vec<u8>, bucket: u8, len: u8, a: &BucketAnswer) {
    out.push(bucket);
    out.extend_from_slice(&a.check);
    out.extend_from_slice(&a.differs);
    encode_varint((a.extras.len() / usize::from(len.max(1))) as u64, out);
    out.extend_from_slice(&a.extras);
}

/// Decodes the answers for a prefix of `asked` (the server may stop early), in
/// order; the error says how the reply breaks the protocol.
pub fn decode_answers(
    parts: &[PartitionMatch],
    asked: &[BucketPrefixes],
) -> Result<Vec<BucketAnswer>, String> {
    let mut out: Vec<BucketAnswer> = Vec::new();
    for part in parts {
        let mut rest: &[u8] = &part.buckets;
        while !rest.is_empty() {
            let Some(q) = asked.get(out.len()) else {
                return Err("more answers than buckets asked".into());
            };
            if part.partition != u32::from(q.partition) || rest.first() != Some(&q.bucket) {
                return Err(format!(
                    "answer for partition {} out of order (expected {} bucket {})",
                    part.partition, q.partition, q.bucket
                ));
            }
            let bitmap = q.count().div_ceil(8);
            let Some((head, tail)) = rest.split_at_checked(1 + CHECK_LEN + bitmap) else {
                return Err("truncated answer".into());
            };
            let mut check = [0u8; CHECK_LEN];
            check.copy_from_slice(&head[1..1 + CHECK_LEN]);
            let differs = head[1 + CHECK_LEN..].to_vec();
            rest = tail;
            let count = decode_varint(&mut rest).map_err(|e| format!("extras count: {e}"))?;
            let bytes = usize::try_from(count)
                .ok()
                .and_then(|c| c.checked_mul(usize::from(q.len)))
                .filter(|b| *b <= rest.len())
                .ok_or_else(|| format!("{count} extras overrun the message"))?;
            let (extras, tail) = rest.split_at(bytes);
            out.push(BucketAnswer {
                check,
                differs,
                extras: extras.to_vec(),
            });
            rest = tail;
        }
    }
    Ok(out)
}

/// What the caller does with one answered bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// Local ids whose prefix multiplicity differs on the server: push them.
    pub give: Vec<RecordId>,
    /// Whether the ids with equal prefix multiplicity are the same on both
    /// sides; when not, the bucket must be compared again with whole ids.
    pub consistent: bool,
}

/// Settles one bucket: `ours` are the local ids `asked` was built from, in the same order.
pub fn settle(ours: &[RecordId], answer: &BucketAnswer) -> Settled {
    let mut give = Vec::new();
    let mut check = [0u8; CHECK_LEN];
    for (i, id) in ours.iter().enumerate() {
        if answer.differs_at(i) {
            give.push(*id);
        } else {
            fold_check(&mut check, id);
        }
    }
    Settled {
        give,
        consistent: check == answer.check,
    }
}

/// Which fetched records a prefix `Fetch` asked for: (bucket, length, prefix) keys.
#[derive(Debug, Default)]
pub struct PrefixFilter {
    lens: Vec<u8>,
    keys: HashSet<Vec<u8>>,
}

impl PrefixFilter {
    /// A filter accepting the ids any of `groups` names.
    pub fn new(groups: &[BucketPrefixes]) -> PrefixFilter {
        let mut f = PrefixFilter::default();
        for g in groups {
            if !f.lens.contains(&g.len) {
                f.lens.push(g.len);
            }
            for q in g.iter() {
                f.keys.insert(Self::key(g.bucket, g.len, q));
            }
        }
        f
    }

    fn key(bucket: u8, len: u8, q: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(2 + q.len());
        k.push(bucket);
        k.push(len);
        k.extend_from_slice(q);
        k
    }

    /// Whether `id` has a requested prefix in its bucket.
    pub fn accepts(&self, id: &RecordId) -> bool {
        self.lens.iter().any(|len| {
            self.keys
                .contains(&Self::key(id.0[0], *len, prefix(id, *len)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(bytes: &[u8]) -> RecordId {
        let mut raw = *RecordId::of(bytes).as_bytes();
        raw[0] = 7;
        RecordId(raw)
    }

    /// An id in bucket 7 whose prefix at length 1 is `p`.
    fn id_with(p: u8, seed: &[u8]) -> RecordId {
        let mut raw = id(seed).0;
        raw[1] = p;
        RecordId(raw)
    }

    #[test]
    fn prefix_lengths_grow_with_bucket_size() {
        assert_eq!(prefix_len_for(0), 1);
        assert_eq!(prefix_len_for(1), 1);
        assert_eq!(prefix_len_for(2), 2);
        assert_eq!(prefix_len_for(256), 2);
        assert_eq!(prefix_len_for(257), 3);
        assert_eq!(prefix_len_for(65_536), 3);
        assert_eq!(prefix_len_for(usize::MAX), 9, "256^8 ≥ 2^64");
        assert!(MAX_ADAPTIVE_LEN >= 9 && usize::from(MAX_ADAPTIVE_LEN) < CHECK_FROM);
    }

    #[test]
    fn groups_round_trip_and_reject_garbage() {
        let ids: Vec<RecordId> = (0..300u32).map(|i| id(&i.to_le_bytes())).collect();
        let groups = vec![
            BucketPrefixes::of_ids(3, 7, 2, &ids),
            BucketPrefixes::of_ids(3, 9, 1, &[]),
            BucketPrefixes::of_ids(4, 7, FULL_LEN, &ids[..3]),
        ];
        let packed = pack_groups(&groups);
        assert_eq!(packed.len(), 2, "one message per partition run");
        assert_eq!(unpack_groups(&packed), Ok(groups));
        let bad = |bytes: Vec<u8>| {
            unpack_groups(&[PartitionPrefixes {
                partition: 1,
                buckets: bytes,
            }])
        };
        assert!(bad(vec![7, 0, 0]).is_err(), "length 0");
        assert!(bad(vec![7, 32, 0]).is_err(), "length 32");
        assert!(bad(vec![7, 2, 3, 1, 2, 3]).is_err(), "overrun");
        assert!(bad(vec![7]).is_err(), "truncated header");
        assert!(bad(vec![7, 1, 0xff]).is_err(), "truncated varint");
        assert!(
            bad(vec![
                7, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f
            ])
            .is_err()
        );
    }

    #[test]
    fn limits_apply_while_decoding() {
        let ids: Vec<RecordId> = (0..10u32).map(|i| id(&i.to_le_bytes())).collect();
        let groups: Vec<BucketPrefixes> = (0..5u8)
            .map(|b| BucketPrefixes::of_ids(2, b, 1, &ids))
            .collect();
        let packed = pack_groups(&groups);
        assert_eq!(unpack_groups_within(&packed, 5, 50).map(|g| g.len()), Ok(5));
        assert!(
            unpack_groups_within(&packed, 4, 50).is_err(),
            "too many buckets"
        );
        assert!(
            unpack_groups_within(&packed, 5, 49).is_err(),
            "too many prefixes"
        );
        // A message of empty groups is refused at the limit, not decoded whole.
        let empties = PartitionPrefixes {
            partition: 1,
            buckets: (0..200_000u32).flat_map(|i| [i as u8, 1, 0]).collect(),
        };
        assert!(unpack_groups_within(&[empties], 8_192, 1 << 20).is_err());
    }

    #[test]
    fn answer_moves_differences_and_check_exposes_collisions() {
        let shared: Vec<RecordId> = (0..20u8).map(|i| id_with(i, &[i])).collect();
        // Server has shared + s (prefix 100); caller has shared + c (prefix 101),
        // and a collision pair: x on the caller, y on the server, both prefix 200.
        let s = id_with(100, b"s");
        let c = id_with(101, b"c");
        let x = id_with(200, b"x");
        let y = id_with(200, b"y");
        let mut server: Vec<RecordId> = shared.iter().copied().chain([s, y]).collect();
        server.sort();
        let ours: Vec<RecordId> = shared.iter().copied().chain([c]).collect();
        let asked = BucketPrefixes::of_ids(0, 7, 1, &ours);
        let a = answer(&server, &asked, true);
        let settled = settle(&ours, &a);
        assert_eq!(settled.give, vec![c]);
        assert_eq!(a.extras, vec![100u8, 200]);
        assert!(settled.consistent, "no hidden difference");

        // The collision: x and y share their prefix, so neither moves; the check catches it.
        let ours: Vec<RecordId> = shared.iter().copied().chain([x]).collect();
        let asked = BucketPrefixes::of_ids(0, 7, 1, &ours);
        let a = answer(&server, &asked, true);
        let settled = settle(&ours, &a);
        assert!(settled.give.is_empty());
        assert_eq!(a.extras, vec![100u8]);
        assert!(!settled.consistent, "collision detected");
        // With whole ids the same bucket settles exactly.
        let asked = BucketPrefixes::of_ids(0, 7, FULL_LEN, &ours);
        let a = answer(&server, &asked, true);
        let settled = settle(&ours, &a);
        assert_eq!(settled.give, vec![x]);
        assert!(settled.consistent);
        let mut want = vec![s, y];
        want.sort();
        let extras = BucketPrefixes {
            partition: 0,
            bucket: 7,
            len: FULL_LEN,
            prefixes: a.extras.clone(),
        };
        assert_eq!(extras.resolve(&server), want);
    }

    #[test]
    fn duplicate_prefixes_compare_as_multisets() {
        // The caller holds x1, x2 with one prefix; the server holds only x1 and z with it.
        let x1 = id_with(5, b"x1");
        let x2 = id_with(5, b"x2");
        let z = id_with(5, b"z");
        let ours = vec![x1, x2];
        let asked = BucketPrefixes::of_ids(0, 7, 1, &ours);
        let a = answer(&[x1], &asked, true);
        assert_eq!(
            settle(&ours, &a).give,
            ours,
            "both pushed, the server says exists for x1"
        );
        assert_eq!(a.extras, vec![5u8], "and x1 is fetched back, harmlessly");
        // Equal multiplicity but different ids: caught by the check.
        let a = answer(&[x1, z], &asked, true);
        let settled = settle(&ours, &a);
        assert!(settled.give.is_empty());
        assert!(!settled.consistent);
    }

    #[test]
    fn answers_round_trip_and_partial_replies_decode() {
        let ours: Vec<RecordId> = (0..10u8).map(|i| id_with(i, &[i])).collect();
        let server: Vec<RecordId> = (5..15u8).map(|i| id_with(i, &[i])).collect();
        let asked = vec![
            BucketPrefixes::of_ids(1, 7, 1, &ours),
            BucketPrefixes::of_ids(2, 7, 1, &ours[..3]),
        ];
        let answers: Vec<BucketAnswer> = asked.iter().map(|q| answer(&server, q, true)).collect();
        let mut first = Vec::new();
        encode_answer(&mut first, 7, 1, &answers[0]);
        let mut second = Vec::new();
        encode_answer(&mut second, 7, 1, &answers[1]);
        let parts = vec![
            PartitionMatch {
                partition: 1,
                buckets: first.clone(),
            },
            PartitionMatch {
                partition: 2,
                buckets: second,
            },
        ];
        assert_eq!(decode_answers(&parts, &asked), Ok(answers.clone()));
        assert_eq!(
            decode_answers(&parts[..1], &asked),
            Ok(answers[..1].to_vec())
        );
        let wrong = vec![PartitionMatch {
            partition: 2,
            buckets: first.clone(),
        }];
        assert!(decode_answers(&wrong, &asked).is_err(), "out of order");
        let cut = vec![PartitionMatch {
            partition: 1,
            buckets: first[..first.len() - 1].to_vec(),
        }];
        assert!(decode_answers(&cut, &asked).is_err(), "truncated");
        assert!(decode_answers(&parts, &asked[..1]).is_err(), "too many");
        let settled = settle(&ours, &answers[0]);
        assert_eq!(settled.give, ours[..5].to_vec());
        assert!(settled.consistent);
    }

    #[test]
    fn filter_accepts_only_requested_prefixes() {
        let a = id_with(1, b"a");
        let b = id_with(2, b"b");
        let f = PrefixFilter::new(&[BucketPrefixes::of_ids(0, 7, 1, &[a])]);
        assert!(f.accepts(&a));
        assert!(!f.accepts(&b));
    }
}

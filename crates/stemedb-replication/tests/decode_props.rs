//! Property tests of replication message decoding (the stable-toolchain twin
//! of `fuzz/fuzz_targets/replication_decode.rs`): arbitrary bytes and
//! arbitrary field contents of every message a node receives, as a server
//! (Push, Fetch, MatchPrefixes) and as a client (Digests, Fetch, MatchPrefixes
//! replies), through prost and our own validation of the packed fields. It
//! never panics, honours its limits, and what it accepts re-encodes to what
//! was sent.

use proptest::prelude::*;
use prost::Message;
use stemedb_records::{RecordId, SignedRecord};
use stemedb_replication::prefix::{
    BucketPrefixes, answer, decode_answers, encode_answer, pack_groups, unpack_groups,
    unpack_groups_within,
};
use stemedb_replication::proto::{
    DigestsReply, FetchReply, FetchRequest, MatchReply, MatchRequest, PartitionDigest,
    PartitionMatch, PartitionPrefixes, PushRequest,
};
use stemedb_replication::wire::{pack_buckets, pack_ids, unpack_buckets, unpack_ids};

fn server_ids() -> Vec<RecordId> {
    (0u8..8).map(|i| RecordId::of(&[i])).collect()
}

fn check_groups(groups: &[BucketPrefixes]) -> Result<(), TestCaseError> {
    for g in groups {
        prop_assert!((1..=31).contains(&g.len));
        prop_assert_eq!(g.prefixes.len() % usize::from(g.len), 0);
    }
    let again = unpack_groups(&pack_groups(groups));
    prop_assert_eq!(again.as_deref(), Ok(groups));
    Ok(())
}

fn check_ids(bytes: &[u8]) -> Result<(), TestCaseError> {
    match unpack_ids(bytes) {
        Some(ids) => prop_assert_eq!(pack_ids(&ids), bytes),
        None => prop_assert!(!bytes.len().is_multiple_of(32)),
    }
    Ok(())
}

fn check_stored(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(r) = SignedRecord::from_stored(bytes) {
        prop_assert_eq!(r.to_stored(), bytes);
        prop_assert_eq!(r.id(), RecordId::of(r.canonical()));
    }
    Ok(())
}

/// Packed prefix groups, well formed or not: bucket, length, a varint count
/// that may lie, and some prefix bytes.
fn packed_groups() -> impl Strategy<Value = Vec<u8>> {
    let group = (
        any::<u8>(),
        0u8..34,
        0u64..300,
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(bucket, len, count, bytes)| {
            let mut out = vec![bucket, len];
            prost::encoding::encode_varint(count, &mut out);
            out.extend_from_slice(&bytes);
            out
        });
    prop_oneof![
        proptest::collection::vec(group, 0..5).prop_map(|g| g.concat()),
        proptest::collection::vec(any::<u8>(), 0..80),
    ]
}

fn partitions() -> impl Strategy<Value = Vec<PartitionPrefixes>> {
    proptest::collection::vec(
        (
            prop_oneof![0u32..300, Just(65_535), any::<u32>()],
            packed_groups(),
        )
            .prop_map(|(partition, buckets)| PartitionPrefixes { partition, buckets }),
        0..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_as_every_message(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(req) = PushRequest::decode(&bytes[..]) {
            for r in &req.records {
                check_stored(r)?;
            }
        }
        if let Ok(req) = FetchRequest::decode(&bytes[..]) {
            check_ids(&req.ids)?;
            if let Ok(groups) = unpack_groups_within(&req.prefixes, 64, 4096) {
                check_groups(&groups)?;
            }
        }
        if let Ok(reply) = FetchReply::decode(&bytes[..]) {
            for r in &reply.records {
                check_stored(r)?;
            }
            check_ids(&reply.missing)?;
            check_ids(&reply.deferred)?;
        }
        let _ = DigestsReply::decode(&bytes[..]);
        let _ = MatchReply::decode(&bytes[..]);
        let _ = MatchRequest::decode(&bytes[..]);
    }

    /// Prefix groups as a server decodes them (with its limits), answered and
    /// decoded again as the caller does.
    #[test]
    fn prefix_groups_decode_within_limits_and_answers_round_trip(
        parts in partitions(),
        extras in any::<bool>(),
        max_groups in 1usize..6,
        max_prefixes in 1usize..40,
    ) {
        // The message survives protobuf as sent.
        let req = MatchRequest { partitions: parts.clone(), extras };
        let req = MatchRequest::decode(&req.encode_to_vec()[..]).expect("own encoding");
        prop_assert_eq!(&req.partitions, &parts);
        if let Ok(groups) = unpack_groups_within(&req.partitions, max_groups, max_prefixes) {
            prop_assert!(groups.len() <= max_groups);
            let n: usize = groups.iter().map(BucketPrefixes::count).sum();
            prop_assert!(n <= max_prefixes);
            check_groups(&groups)?;
        }
        let Ok(groups) = unpack_groups(&req.partitions) else {
            return Ok(());
        };
        check_groups(&groups)?;
        let ids = server_ids();
        let mut reply: Vec<PartitionMatch> = Vec::new();
        let mut answers = Vec::new();
        for g in &groups {
            let a = answer(&ids, g, extras);
            prop_assert_eq!(a.differs.len(), g.count().div_ceil(8));
            if reply.last().is_none_or(|p| p.partition != u32::from(g.partition)) {
                reply.push(PartitionMatch { partition: u32::from(g.partition), buckets: Vec::new() });
            }
            if let Some(p) = reply.last_mut() {
                encode_answer(&mut p.buckets, g.bucket, g.len, &a);
            }
            answers.push(a);
        }
        prop_assert_eq!(decode_answers(&reply, &groups), Ok(answers));
    }

    /// A peer's `MatchPrefixes` reply with arbitrary content.
    #[test]
    fn arbitrary_match_replies(
        raw in proptest::collection::vec((0u32..8, proptest::collection::vec(any::<u8>(), 0..120)), 0..4),
    ) {
        let ids = server_ids();
        let asked = vec![
            BucketPrefixes::of_ids(0, 0, 2, &ids[..3]),
            BucketPrefixes::of_ids(0, 7, 31, &ids[3..4]),
            BucketPrefixes::of_ids(5, 1, 4, &[]),
        ];
        let parts: Vec<PartitionMatch> = raw
            .into_iter()
            .map(|(partition, buckets)| PartitionMatch { partition, buckets })
            .collect();
        if let Ok(answers) = decode_answers(&parts, &asked) {
            prop_assert!(answers.len() <= asked.len());
            for (a, q) in answers.iter().zip(&asked) {
                prop_assert_eq!(a.differs.len(), q.count().div_ceil(8));
                prop_assert_eq!(a.extras.len() % usize::from(q.len), 0);
            }
        }
    }

    /// A peer's `Digests` reply: sparse bucket digests of any claimed length.
    #[test]
    fn arbitrary_digest_replies(
        digest_len in prop_oneof![0u32..=33, any::<u32>()],
        buckets in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let reply = DigestsReply {
            partitions: vec![PartitionDigest { partition: 1, root: vec![0; 32], buckets, digest_len }],
        };
        let reply = DigestsReply::decode(&reply.encode_to_vec()[..]).expect("own encoding");
        for d in reply.partitions {
            let len = if d.digest_len == 0 { 32 } else { d.digest_len as usize };
            if let Some(b) = unpack_buckets(&d.buckets, len) {
                prop_assert!((1..=32).contains(&len));
                for c in d.buckets.chunks_exact(1 + len) {
                    prop_assert!(b[usize::from(c[0])][..32 - len].iter().all(|x| *x == 0));
                }
                let again = unpack_buckets(&pack_buckets(&b, len), len);
                prop_assert_eq!(again.as_deref(), Some(&*b));
            }
        }
    }
}

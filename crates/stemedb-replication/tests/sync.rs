//! Anti-entropy between two real stores over loopback gRPC.

mod common;

use std::sync::Arc;

use common::*;
use stemedb_records::SignedRecord;
use stemedb_replication::{
    MerkleIndex, Peer, PeerConfig, ReplicationState, all_partitions, sync_with,
};
use stemedb_storage::Store;

/// (shared, only in A, only in B): annotations only on one side, some of
/// whose targets are only on that side too, plus global trust and an epoch chain.
fn dataset() -> (Vec<SignedRecord>, Vec<SignedRecord>, Vec<SignedRecord>) {
    let e0 = epoch("e0", None, 2);
    let mut shared = vec![trust("agent", 1), e0.clone()];
    shared.extend((0..5_000u64).map(|i| assertion(&format!("subject:{}", i % 1_500), i)));
    let shared_targets: Vec<_> = shared[2..102].iter().map(SignedRecord::id).collect();

    let mut only_a = Vec::new();
    let a_assertions: Vec<_> = (0..200u64)
        .map(|i| assertion(&format!("a-only:{}", i % 80), 10_000 + i))
        .collect();
    only_a.extend(a_assertions.iter().cloned());
    only_a.extend(
        a_assertions
            .iter()
            .take(50)
            .enumerate()
            .map(|(i, a)| vote(a.id(), 20_000 + i as u64)),
    );
    only_a.extend(
        shared_targets
            .iter()
            .take(40)
            .enumerate()
            .map(|(i, t)| retraction(*t, 21_000 + i as u64)),
    );
    let e1 = epoch("e1", Some(e0.id()), 3);
    let e2 = epoch("e2", Some(e1.id()), 4);
    only_a.extend([e1, e2]);
    only_a.extend((0..8u64).map(|i| trust(&format!("t{i}"), 30_000 + i)));
    assert_eq!(only_a.len(), 300);

    let mut only_b = Vec::new();
    let b_assertions: Vec<_> = (0..120u64)
        .map(|i| assertion(&format!("b-only:{}", i % 50), 40_000 + i))
        .collect();
    only_b.extend(b_assertions.iter().cloned());
    only_b.extend(
        b_assertions
            .iter()
            .take(40)
            .enumerate()
            .map(|(i, a)| retraction(a.id(), 50_000 + i as u64)),
    );
    only_b.extend(
        shared_targets
            .iter()
            .skip(50)
            .take(40)
            .enumerate()
            .map(|(i, t)| vote(*t, 51_000 + i as u64)),
    );
    assert_eq!(only_b.len(), 200);
    (shared, only_a, only_b)
}

fn assert_same(a: &Store, b: &Store) -> TestResult {
    for p in all_partitions() {
        assert_eq!(a.partition_ids(p)?, b.partition_ids(p)?, "partition {p}");
    }
    Ok(())
}

fn assert_merkle_fresh(store: &Store, merkle: &MerkleIndex) -> TestResult {
    let rebuilt = MerkleIndex::build(store)?;
    for p in all_partitions() {
        assert_eq!(merkle.buckets(p), rebuilt.buckets(p), "partition {p}");
        assert_eq!(merkle.root(p), rebuilt.root(p), "partition {p}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_round_converges_and_transfers_only_the_difference() -> TestResult {
    let (shared, only_a, only_b) = dataset();
    let (_da, a) = store();
    let (_db, b) = store();
    append_all(&a, &shared);
    append_all(&a, &only_a);
    append_all(&b, &shared);
    append_all(&b, &only_b);
    let missing_bytes: usize = only_a
        .iter()
        .chain(&only_b)
        .map(SignedRecord::stored_len)
        .sum();
    let total_bytes: usize = shared
        .iter()
        .chain(&only_a)
        .chain(&only_b)
        .map(SignedRecord::stored_len)
        .sum();

    // B serves; A runs the round (fetches B's extras, pushes its own).
    let srv_b = start(&b).await;
    let merkle_a = Arc::new(MerkleIndex::build(&a)?);
    let peer = Peer::new(&srv_b.addr.to_string(), PeerConfig::default())?;
    let report = sync_with(&peer, &a, &merkle_a, &all_partitions()).await?;
    println!("round 1: {report:?}, missing {missing_bytes} B, total {total_bytes} B");

    assert_same(&a, &b)?;
    assert_eq!(report.partitions_compared, 257);
    assert_eq!(report.records_fetched, 200);
    assert_eq!(report.records_pushed, 300);
    // Bytes: the missing bodies, plus per differing partition at most the sparse
    // bucket digests (256 × 33 B), plus per differing bucket a small id list.
    let bound = 3 * missing_bytes
        + report.partitions_differing * 256 * 33
        + report.buckets_differing * 256
        + 32 * 1024;
    let bytes = (report.bytes_sent + report.bytes_received) as usize;
    assert!(bytes < bound, "{bytes} B transferred, bound {bound} B");
    assert!(
        report.ids_exchanged < 2_000,
        "only ids of differing buckets: {}",
        report.ids_exchanged
    );

    // Both digest sets are still exact after incremental updates.
    assert_merkle_fresh(&a, &merkle_a)?;
    assert_merkle_fresh(&b, &srv_b.state.merkle)?;

    // A second round finds nothing and costs only the root exchange.
    let again = sync_with(&peer, &a, &merkle_a, &all_partitions()).await?;
    println!("round 2: {again:?}");
    assert_eq!(again.partitions_differing, 0);
    assert_eq!(again.records_fetched + again.records_pushed, 0);
    assert!(
        again.bytes_sent + again.bytes_received < 16 * 1024,
        "{again:?}"
    );
    srv_b.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_side_pulls_everything_annotations_after_targets() -> TestResult {
    let (shared, only_a, _) = dataset();
    let (_da, a) = store();
    let (_db, b) = store();
    append_all(&a, &shared[..600]);
    append_all(&a, &only_a);
    let srv_a = start(&a).await;
    let merkle_b = Arc::new(MerkleIndex::build(&b)?);
    let peer = Peer::new(&srv_a.addr.to_string(), PeerConfig::default())?;
    let report = sync_with(&peer, &b, &merkle_b, &all_partitions()).await?;
    assert_eq!(report.records_fetched, 900, "every record, none rejected");
    assert_same(&a, &b)?;
    assert_merkle_fresh(&b, &merkle_b)?;
    srv_a.stop().await;
    Ok(())
}

#[test]
fn merkle_incremental_equals_rebuilt() -> TestResult {
    let (shared, only_a, only_b) = dataset();
    let (_d, s) = store();
    let merkle = Arc::new(MerkleIndex::build(&s)?);
    let state = ReplicationState {
        store: s.clone(),
        merkle: merkle.clone(),
    };
    // Append through the store and fold in what it reports created, as a coordinator does.
    for chunk in [&shared[..], &only_a[..], &only_b[..], &shared[..10]] {
        let results = s.append(chunk.to_vec())?;
        for (rec, r) in chunk.iter().zip(results) {
            if r?.status == stemedb_storage::AppendStatus::Created {
                merkle.note_appended(stemedb_replication::partition_of(&s, rec)?, rec.id());
            }
        }
    }
    assert_merkle_fresh(&state.store, &merkle)?;
    Ok(())
}

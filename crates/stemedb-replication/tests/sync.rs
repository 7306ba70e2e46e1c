//! Anti-entropy between two real stores over loopback gRPC.

mod common;

use std::collections::HashMap;

use common::*;
use stemedb_records::{RecordId, SignedRecord};
use stemedb_replication::{
    Peer, PeerConfig, SyncMode, SyncOptions, all_partitions, sync_with, sync_with_mode,
    sync_with_options,
};
use stemedb_storage::Store;
use stemedb_storage::digest::{BUCKETS, root_of};
use stemedb_testkit::records::*;
use stemedb_testkit::store::temp_store;

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

/// The store's digests equal the XOR of its `part` index, computed here.
fn assert_digests_fresh(store: &Store) -> TestResult {
    for p in all_partitions() {
        let mut buckets = [[0u8; 32]; BUCKETS];
        for id in store.partition_ids(p)? {
            for (d, x) in buckets[usize::from(id.0[0])].iter_mut().zip(id.0.iter()) {
                *d ^= x;
            }
        }
        assert_eq!(
            store.digests().buckets(p).as_deref(),
            Some(&buckets),
            "partition {p}"
        );
        assert_eq!(
            store.digests().root(p),
            Some(root_of(&buckets)),
            "partition {p}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_round_converges_and_transfers_only_the_difference() -> TestResult {
    let (shared, only_a, only_b) = dataset();
    let (_da, a) = temp_store();
    let (_db, b) = temp_store();
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
    let peer = Peer::new(&srv_b.addr.to_string(), PeerConfig::default())?;
    let report = sync_with(&peer, &a, &all_partitions()).await?;
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
    assert_digests_fresh(&a)?;
    assert_digests_fresh(&b)?;

    // A second round finds nothing and costs only the root exchange.
    let again = sync_with(&peer, &a, &all_partitions()).await?;
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
    let (_da, a) = temp_store();
    let (_db, b) = temp_store();
    append_all(&a, &shared[..600]);
    append_all(&a, &only_a);
    let srv_a = start(&a).await;
    let peer = Peer::new(&srv_a.addr.to_string(), PeerConfig::default())?;
    let report = sync_with(&peer, &b, &all_partitions()).await?;
    assert_eq!(report.records_fetched, 900, "every record, none rejected");
    assert_same(&a, &b)?;
    assert_digests_fresh(&b)?;
    srv_a.stop().await;
    Ok(())
}

#[test]
fn digests_incremental_equal_the_partition_index() -> TestResult {
    let (shared, only_a, only_b) = dataset();
    let (_d, s) = temp_store();
    // Append through the store (duplicates included): it folds what it creates.
    for chunk in [&shared[..], &only_a[..], &only_b[..], &shared[..10]] {
        for r in s.append(chunk.to_vec())? {
            r?;
        }
    }
    assert_digests_fresh(&s)?;
    Ok(())
}

/// Every partition's ids.
fn snapshot(s: &Store) -> Result<Vec<Vec<RecordId>>, Box<dyn std::error::Error + Send + Sync>> {
    all_partitions()
        .into_iter()
        .map(|p| Ok(s.partition_ids(p)?))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_only_gives_the_peer_our_records_and_takes_nothing() -> TestResult {
    let (shared, only_a, only_b) = dataset();
    let (_da, a) = temp_store();
    let (_db, b) = temp_store();
    append_all(&a, &shared);
    append_all(&a, &only_a);
    append_all(&b, &shared);
    append_all(&b, &only_b);
    let a_before = snapshot(&a)?;

    // B serves; A hands off what it holds.
    let srv_b = start(&b).await;
    let peer = Peer::new(&srv_b.addr.to_string(), PeerConfig::default())?;
    let report = sync_with_mode(&peer, &a, &all_partitions(), SyncMode::PushOnly).await?;
    println!("push-only: {report:?}");

    assert_eq!(snapshot(&a)?, a_before, "A fetched or appended nothing");
    assert_digests_fresh(&a)?;
    assert_eq!(report.records_fetched, 0);
    assert_eq!(
        report.records_pushed,
        only_a.len(),
        "every A-only record, once"
    );
    assert_eq!(report.buckets_rechecked, 0);
    assert!(report.partitions_differing > 0 && report.buckets_differing > 0);
    // B now holds everything A holds, plus its own extras.
    let b_after = snapshot(&b)?;
    for (ours, theirs) in a_before.iter().zip(&b_after) {
        assert!(ours.iter().all(|id| theirs.binary_search(id).is_ok()));
    }
    let total: usize = b_after.iter().map(Vec::len).sum();
    assert_eq!(total, shared.len() + only_a.len() + only_b.len());
    assert_digests_fresh(&b)?;

    // Again: B lacks nothing of A's, so nothing moves, and still nothing comes back.
    let again = sync_with_mode(&peer, &a, &all_partitions(), SyncMode::PushOnly).await?;
    println!("push-only again: {again:?}");
    assert_eq!(again.records_pushed + again.records_fetched, 0);
    assert_eq!(snapshot(&a)?, a_before);
    srv_b.stop().await;
    Ok(())
}

/// Two assertions of one subject (so one partition) whose ids share their
/// first two bytes: the same bucket and the same 1-byte prefix.
fn colliding_pair() -> (SignedRecord, SignedRecord) {
    let mut seen: HashMap<[u8; 2], SignedRecord> = HashMap::new();
    for n in 0..100_000u64 {
        let rec = assertion("collide:subject", n);
        let key = [rec.id().0[0], rec.id().0[1]];
        if let Some(first) = seen.remove(&key) {
            return (first, rec);
        }
        seen.insert(key, rec);
    }
    panic!("no two ids share two bytes among 100000 (birthday bound says ~320)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_collisions_are_caught_and_settled_with_whole_ids() -> TestResult {
    let (x, y) = colliding_pair();
    let (shared, _, _) = dataset();
    let shared = &shared[..1_000];

    for mode in [SyncMode::Both, SyncMode::PushOnly] {
        // A holds x, B holds y: with 1-byte prefixes their bucket looks the same from both sides.
        let (_da, a) = temp_store();
        let (_db, b) = temp_store();
        append_all(&a, shared);
        append_all(&a, std::slice::from_ref(&x));
        append_all(&b, shared);
        append_all(&b, std::slice::from_ref(&y));
        let part = |r: &SignedRecord| {
            let a = r.record().as_assertion().expect("an assertion");
            stemedb_storage::partition::of_subject(&a.subject)
        };
        assert_eq!(part(&x), part(&y));
        let srv_b = start(&b).await;
        let peer = Peer::new(&srv_b.addr.to_string(), PeerConfig::default())?;
        let opts = SyncOptions {
            mode,
            prefix_len: Some(1),
        };
        let report = sync_with_options(&peer, &a, &all_partitions(), opts).await?;
        println!("{mode:?}: {report:?}");
        assert_eq!(report.buckets_differing, 1);
        assert_eq!(
            report.buckets_rechecked, 1,
            "the check exposed the collision"
        );
        assert_eq!(report.records_pushed, 1, "x reached B");
        assert!(b.get(x.id())?.is_some());
        match mode {
            SyncMode::Both => {
                assert_eq!(report.records_fetched, 1, "y reached A");
                assert_same(&a, &b)?;
            }
            SyncMode::PushOnly => {
                assert_eq!(report.records_fetched, 0);
                assert!(a.get(y.id())?.is_none(), "push-only takes nothing");
            }
        }
        assert_digests_fresh(&a)?;
        assert_digests_fresh(&b)?;
        srv_b.stop().await;
    }
    Ok(())
}

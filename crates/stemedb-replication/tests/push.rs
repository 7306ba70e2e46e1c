//! Push over real gRPC: duplicates, reordering, tampering, missing targets.

mod common;

use common::*;
use stemedb_records::sign;
use stemedb_replication::proto::replication_client::ReplicationClient;
use stemedb_replication::proto::{PushReply, PushRequest, PushStatus};
use stemedb_replication::{Peer, PeerConfig, all_partitions};
use stemedb_testkit::records::*;
use stemedb_testkit::store::temp_store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_and_reordering_never_duplicate() -> TestResult {
    let (_d, store) = temp_store();
    let srv = start(&store).await;
    let peer = Peer::new(&srv.addr.to_string(), PeerConfig::default())?;
    let a1 = assertion("drug:a", 1);
    let a2 = assertion("drug:b", 2);
    let v1 = vote(a1.id(), 3);
    // The vote first: its target is unknown, so it must not be stored yet.
    let out = peer.push(&[v1.clone(), a1.clone()]).await?;
    assert_eq!(out[0].status, PushStatus::MissingTarget);
    assert_eq!(out[1].status, PushStatus::Created);
    assert_eq!(out[1].id, Some(a1.id()));
    // Duplicates within one push and across pushes: exists, never twice.
    let out = peer
        .push(&[a2.clone(), a2.clone(), a1.clone(), v1.clone(), v1.clone()])
        .await?;
    let statuses: Vec<_> = out.iter().map(|o| o.status).collect();
    assert_eq!(
        statuses,
        vec![
            PushStatus::Created,
            PushStatus::Exists,
            PushStatus::Exists,
            PushStatus::Created,
            PushStatus::Exists
        ]
    );
    let out = peer.push(&[v1.clone(), a2.clone(), a1.clone()]).await?;
    assert!(out.iter().all(|o| o.status == PushStatus::Exists));
    let total: usize = all_partitions()
        .into_iter()
        .map(|p| store.partition_ids(p).map(|v| v.len()))
        .sum::<Result<usize, _>>()?;
    assert_eq!(total, 3, "three distinct records stored once each");
    let verify = store.verify()?;
    assert_eq!(verify.records, 3);
    assert!(verify.problems.is_empty());
    // The server kept its digests in step with what it created.
    // The store kept its digests in step with what the push created.
    let incremental = srv.state.store.digests().roots();
    let s = store.clone();
    assert_eq!(tokio::task::spawn_blocking(move || s.rebuild()).await??, 3);
    assert_eq!(store.digests().roots(), incremental);
    srv.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_bytes_are_rehashed_and_rejected() -> TestResult {
    let (_d, store) = temp_store();
    let srv = start(&store).await;
    let mut client = ReplicationClient::connect(format!("http://{}", srv.addr)).await?;
    let key = sign::generate_key()?;
    let good = signed_assertion(&key, "drug:signed", 7);
    let mut tampered = good.to_stored();
    // The object number is the last 8 bytes' neighbourhood; flip a byte of the canonical body.
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    let unsigned = assertion("drug:plain", 9);
    let mut forged_id = unsigned.to_stored();
    // Change the text value: a different record, whose id the receiver computes itself.
    let pos = forged_id
        .windows(7)
        .position(|w| w == b"value 9")
        .ok_or("value not found")?;
    forged_id[pos + 6] = b'8';
    let (reply, st) = push_raw(
        &mut client,
        vec![
            tampered,
            vec![1, 2, 3],
            Vec::new(),
            forged_id,
            good.to_stored(),
        ],
    )
    .await?;
    assert_eq!(st[0], PushStatus::Invalid, "{:?}", reply.results[0]);
    assert_eq!(st[1], PushStatus::Invalid);
    assert_eq!(st[2], PushStatus::Invalid);
    assert_eq!(st[3], PushStatus::Created);
    assert_ne!(
        reply.results[3].id,
        unsigned.id().as_bytes().to_vec(),
        "id is re-hashed"
    );
    assert!(!store.contains(unsigned.id())?);
    assert_eq!(st[4], PushStatus::Created);
    assert_eq!(reply.results[4].id, good.id().as_bytes().to_vec());
    assert!(store.contains(good.id())?);
    srv.stop().await;
    Ok(())
}

/// With `api.require_signatures`, a pushed record must be signed, and its
/// signature valid (checked once, by the store's append).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_signatures_refuses_unsigned_and_badly_signed_pushes() -> TestResult {
    let (_d, store) = temp_store();
    let mut state = stemedb_replication::ReplicationState::new(store.clone());
    state.require_signatures = true;
    let srv = start_with(state).await;
    let mut client = ReplicationClient::connect(format!("http://{}", srv.addr)).await?;
    let key = sign::generate_key()?;
    let good = signed_assertion(&key, "drug:signed", 7);
    let mut bad = signed_assertion(&key, "drug:signed", 8).to_stored();
    // A byte of the canonical body: the record decodes, its signature no longer matches.
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    let unsigned = assertion("drug:plain", 9);
    let (reply, st) = push_raw(
        &mut client,
        vec![unsigned.to_stored(), bad, good.to_stored()],
    )
    .await?;
    assert_eq!(st[0], PushStatus::Invalid);
    assert!(
        reply.results[0].error.contains("require_signatures"),
        "{:?}",
        reply.results[0]
    );
    assert_eq!(st[1], PushStatus::Invalid, "{:?}", reply.results[1]);
    assert!(!reply.results[1].error.is_empty());
    assert_eq!(st[2], PushStatus::Created);
    assert!(store.contains(good.id())?);
    assert!(!store.contains(unsigned.id())?);
    assert_eq!(store.verify()?.records, 1);
    srv.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subject_records_returns_targets_first() -> TestResult {
    let (_d, store) = temp_store();
    let a = assertion("drug:s", 1);
    let b = assertion("drug:s", 2);
    let v = vote(a.id(), 3);
    let r = retraction(b.id(), 4);
    append_all(
        &store,
        &[
            a.clone(),
            v.clone(),
            b.clone(),
            r.clone(),
            assertion("other", 5),
        ],
    );
    let srv = start(&store).await;
    let peer = Peer::new(&srv.addr.to_string(), PeerConfig::default())?;
    let got = peer.subject_records("drug:s").await?;
    let ids: Vec<_> = got.iter().map(|r| r.id()).collect();
    assert_eq!(ids, vec![a.id(), b.id(), v.id(), r.id()]);
    assert!(peer.subject_records("nobody").await?.is_empty());
    srv.stop().await;
    Ok(())
}

/// Records every `created` call; fails when `fail` is set; says it never
/// blocks when `inline` is set (so small pushes call it on the async task).
struct Recorder {
    seen: std::sync::Mutex<Vec<(stemedb_records::RecordId, u16)>>,
    fail: bool,
    inline: bool,
}

impl stemedb_replication::PushObserver for Recorder {
    fn created(&self, records: &[(stemedb_records::RecordId, u16)]) -> Result<(), String> {
        if self.fail {
            return Err("hint queue unavailable".into());
        }
        self.seen
            .lock()
            .map_err(|e| e.to_string())?
            .extend_from_slice(records);
        Ok(())
    }

    fn may_block(&self, _records: &[(stemedb_records::RecordId, u16)]) -> bool {
        !self.inline
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_observer_sees_created_records_with_partitions() -> TestResult {
    // Called on the blocking pool (the default) and on the async task.
    for inline in [false, true] {
        let (_d, store) = temp_store();
        let recorder = std::sync::Arc::new(Recorder {
            seen: std::sync::Mutex::new(Vec::new()),
            fail: false,
            inline,
        });
        let mut state = stemedb_replication::ReplicationState::new(store.clone());
        state.on_push = Some(recorder.clone());
        let srv = start_with(state).await;
        let peer = Peer::new(&srv.addr.to_string(), PeerConfig::default())?;
        let a = assertion("drug:observed", 1);
        let v = vote(a.id(), 2);
        peer.push(&[a.clone(), v.clone()]).await?;
        // A duplicate push creates nothing, so the observer is not called again.
        peer.push(&[a.clone(), v.clone()]).await?;
        let p = stemedb_storage::partition::of_subject("drug:observed");
        let seen = recorder.seen.lock().map_err(|e| e.to_string())?.clone();
        assert_eq!(
            seen,
            vec![(a.id(), p), (v.id(), p)],
            "a vote is placed with its target (inline: {inline})"
        );
        srv.stop().await;

        // An observer that fails makes the Push fail: the pusher must not count the copy.
        let (_d2, store2) = temp_store();
        let mut state = stemedb_replication::ReplicationState::new(store2.clone());
        state.on_push = Some(std::sync::Arc::new(Recorder {
            seen: std::sync::Mutex::new(Vec::new()),
            fail: true,
            inline,
        }));
        let srv = start_with(state).await;
        let peer = Peer::new(&srv.addr.to_string(), PeerConfig::default())?;
        assert!(peer.push(&[assertion("drug:x", 3)]).await.is_err());
        srv.stop().await;
    }
    Ok(())
}

/// A push larger than the receiver applies on its async task (hint delivery,
/// repair) answers every record in order, refused ones in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_push_answers_every_record_in_order() -> TestResult {
    let (_d, store) = temp_store();
    let srv = start(&store).await;
    let mut client = ReplicationClient::connect(format!("http://{}", srv.addr)).await?;
    let records: Vec<_> = (0..300)
        .map(|i| assertion(&format!("bulk:{i}"), i))
        .collect();
    let orphan = vote(assertion("bulk:absent", 999).id(), 1_000);
    let mut raw: Vec<Vec<u8>> = records.iter().map(|r| r.to_stored()).collect();
    raw.insert(150, b"not a record".to_vec());
    raw.push(orphan.to_stored());
    let reply = client
        .push(PushRequest { records: raw })
        .await?
        .into_inner();
    assert_eq!(reply.results.len(), 302);
    for (i, r) in reply.results.iter().enumerate() {
        let want = match i {
            150 => PushStatus::Invalid,
            301 => PushStatus::MissingTarget,
            _ => PushStatus::Created,
        };
        assert_eq!(r.status, want as i32, "result {i}: {}", r.error);
    }
    let j = |i: usize| if i < 150 { i } else { i - 1 };
    assert_eq!(reply.results[0].id, records[0].id().as_bytes().to_vec());
    assert_eq!(
        reply.results[300].id,
        records[j(300)].id().as_bytes().to_vec()
    );
    assert_eq!(store.verify()?.records, 300);
    srv.stop().await;
    Ok(())
}

/// A replica copy waits for room in a full commit queue; it is not refused
/// as overloaded (a client write is, so that its client can back off).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_commit_queue_makes_a_pushed_copy_wait() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut cfg = stemedb_storage::StoreConfig::new(dir.path());
    cfg.queue_depth = 1;
    let store = stemedb_storage::Store::open(cfg)?;
    let srv = start(&store).await;
    let peer = Peer::new(&srv.addr.to_string(), PeerConfig::default())?;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..64 {
        let peer = peer.clone();
        calls.spawn(async move {
            let rec = assertion(&format!("queued:{i}"), i);
            peer.push(&[rec]).await
        });
    }
    while let Some(done) = calls.join_next().await {
        let out = done??;
        assert_eq!(out[0].status, PushStatus::Created);
    }
    assert_eq!(store.verify()?.records, 64);
    srv.stop().await;
    Ok(())
}

/// Pushes records as raw bytes; returns the reply and each result's status.
async fn push_raw(
    client: &mut ReplicationClient<tonic::transport::Channel>,
    records: Vec<Vec<u8>>,
) -> Result<(PushReply, Vec<PushStatus>), Box<dyn std::error::Error + Send + Sync>> {
    let reply = client.push(PushRequest { records }).await?.into_inner();
    let statuses = reply
        .results
        .iter()
        .map(|r| PushStatus::try_from(r.status))
        .collect::<Result<_, _>>()?;
    Ok((reply, statuses))
}

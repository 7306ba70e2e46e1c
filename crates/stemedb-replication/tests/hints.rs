//! Hinted handoff: hints survive a restart and are delivered once the peer is up.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use stemedb_records::SignedRecord;
use stemedb_replication::{HintQueue, Peer, PeerConfig, ReplicationError, deliver_hints};
use stemedb_testkit::records::*;
use stemedb_testkit::store::temp_store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hints_survive_restart_and_are_delivered() -> TestResult {
    let (dir_a, a) = temp_store();
    let (_db, b) = temp_store();
    let mut records: Vec<SignedRecord> = (0..150u64)
        .map(|i| assertion(&format!("h:{}", i % 20), i))
        .collect();
    let votes: Vec<_> = records[..30]
        .iter()
        .enumerate()
        .map(|(i, r)| vote(r.id(), 1_000 + i as u64))
        .collect();
    records.extend(votes);
    records.push(trust("someone", 5));
    append_all(&a, &records);
    let ids: Vec<_> = records.iter().map(SignedRecord::id).collect();

    // Reserve B's port, but nothing listens there yet.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr_b = listener.local_addr()?;
    drop(listener);
    let cfg = PeerConfig {
        connect_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_secs(5),
    };
    let peer = Peer::new(&addr_b.to_string(), cfg)?;
    {
        let hints = Arc::new(HintQueue::open(dir_a.path())?);
        assert_eq!(hints.add("node-b", &ids)?, ids.len());
        let err = deliver_hints(&peer, "node-b", &a, &hints).await;
        assert!(matches!(err, Err(ReplicationError::Rpc { .. })), "{err:?}");
        assert_eq!(
            hints.pending_total(),
            ids.len() as u64,
            "nothing removed while B is down"
        );
    }
    // "Restart": reopen the queue from disk.
    let hints = Arc::new(HintQueue::open(dir_a.path())?);
    assert_eq!(hints.pending_total(), ids.len() as u64);
    assert!(hints.oldest_age()?.is_some());

    let listener = tokio::net::TcpListener::bind(addr_b).await?;
    let srv_b = start_on(
        listener,
        stemedb_replication::ReplicationState::new(b.clone()),
    )
    .await;
    let delivered = deliver_hints(&peer, "node-b", &a, &hints).await?;
    assert_eq!(delivered, ids.len());
    assert_eq!(hints.pending_total(), 0);
    assert!(hints.pending("node-b")?.is_empty());
    assert_eq!(hints.oldest_age()?, None);
    for id in &ids {
        assert!(b.contains(*id)?, "{id} delivered");
    }
    // Delivering again is a no-op.
    assert_eq!(deliver_hints(&peer, "node-b", &a, &hints).await?, 0);
    srv_b.stop().await;
    Ok(())
}

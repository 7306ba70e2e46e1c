//! A peer that is down or silent yields an error within the timeouts, never a hang.

use std::time::{Duration, Instant};

use stemedb_replication::{Peer, PeerConfig, ReplicationError};

fn cfg() -> PeerConfig {
    PeerConfig {
        connect_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(500),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_peer_is_an_error() -> Result<(), Box<dyn std::error::Error>> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    drop(listener);
    let peer = Peer::new(&addr.to_string(), cfg())?;
    let started = Instant::now();
    let err = peer.digests(&[0, 1], false).await;
    assert!(matches!(err, Err(ReplicationError::Rpc { .. })), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peer_times_out() -> Result<(), Box<dyn std::error::Error>> {
    // Accepts TCP connections (kernel backlog) but never speaks HTTP/2.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let peer = Peer::new(&addr.to_string(), cfg())?;
    let started = Instant::now();
    let err = peer
        .fetch(&[], stemedb_replication::proto::FetchPhase::All)
        .await;
    assert!(matches!(err, Err(ReplicationError::Rpc { .. })), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    drop(listener);
    Ok(())
}

//! The replication tests' fixtures: a real replication server on a free
//! loopback port, and appending in bulk from inside a runtime. Stores and
//! records come from the test kit.
#![allow(dead_code)]

use std::net::SocketAddr;

use stemedb_records::SignedRecord;
use stemedb_replication::{ReplicationState, serve_listener};
use stemedb_storage::Store;
use tokio::sync::oneshot;

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Appends records in order and panics on any rejection (test setup only).
/// Works inside a multi-threaded tokio runtime (`Store::append` blocks).
pub fn append_all(store: &Store, records: &[SignedRecord]) {
    let run = || {
        for chunk in records.chunks(5_000) {
            for r in store.append(chunk.to_vec()).expect("append") {
                r.expect("record accepted");
            }
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(_) => tokio::task::block_in_place(run),
        Err(_) => run(),
    }
}

/// A running replication server.
pub struct Running {
    pub addr: SocketAddr,
    pub state: ReplicationState,
    stop: Option<oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<stemedb_replication::Result<()>>,
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.handle.await;
    }
}

/// Serves `store` on a free loopback port.
pub async fn start(store: &Store) -> Running {
    start_with(ReplicationState::new(store.clone())).await
}

pub async fn start_with(state: ReplicationState) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    start_on(listener, state).await
}

pub async fn start_on(listener: tokio::net::TcpListener, state: ReplicationState) -> Running {
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel();
    let handle = tokio::spawn(serve_listener(listener, state.clone(), async {
        let _ = rx.await;
    }));
    Running {
        addr,
        state,
        stop: Some(tx),
        handle,
    }
}

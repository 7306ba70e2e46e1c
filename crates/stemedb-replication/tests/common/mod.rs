//! Shared test helpers: stores on temp dirs, record builders, a real server on a free port.
#![allow(dead_code)]

use std::net::SocketAddr;

use stemedb_records::{
    Assertion, Epoch, Lifecycle, Object, Record, RecordId, Retraction, SignedRecord, Trust, Vote,
    sign,
};
use stemedb_replication::{ReplicationState, serve_listener};
use stemedb_storage::{Store, StoreConfig};
use tokio::sync::oneshot;

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A store (no fsync: tests only) on a fresh temp dir.
pub fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = StoreConfig::new(dir.path());
    cfg.fsync = false;
    let store = Store::open(cfg).expect("open store");
    (dir, store)
}

pub fn assertion(subject: &str, n: u64) -> SignedRecord {
    SignedRecord::new(
        Record::Assertion(Assertion {
            subject: subject.into(),
            predicate: "p".into(),
            object: Object::Text(format!("value {n}")),
            agent: "agent".into(),
            confidence: 0.9,
            timestamp: 1_700_000_000_000 + n as i64,
            source: None,
            valid_from: None,
            valid_to: None,
            lifecycle: Lifecycle::Proposed,
            parent: None,
            epoch: None,
        }),
        None,
    )
    .expect("valid assertion")
}

pub fn signed_assertion(key: &ed25519_dalek::SigningKey, subject: &str, n: u64) -> SignedRecord {
    let rec = Record::Assertion(Assertion {
        subject: subject.into(),
        predicate: "signed".into(),
        object: Object::Number(n as f64),
        agent: sign::public_hex(key),
        confidence: 1.0,
        timestamp: 1_700_000_000_000 + n as i64,
        source: None,
        valid_from: None,
        valid_to: None,
        lifecycle: Lifecycle::Proposed,
        parent: None,
        epoch: None,
    });
    let sig = sign::sign(&rec, key);
    SignedRecord::new(rec, Some(sig)).expect("valid signed assertion")
}

pub fn vote(target: RecordId, n: u64) -> SignedRecord {
    SignedRecord::new(
        Record::Vote(Vote {
            target,
            agent: format!("voter{n}"),
            weight: 0.5,
            timestamp: 1_700_000_000_000 + n as i64,
        }),
        None,
    )
    .expect("valid vote")
}

pub fn retraction(target: RecordId, n: u64) -> SignedRecord {
    SignedRecord::new(
        Record::Retraction(Retraction {
            target,
            agent: "agent".into(),
            reason: Some(format!("reason {n}")),
            timestamp: 1_700_000_000_000 + n as i64,
        }),
        None,
    )
    .expect("valid retraction")
}

pub fn trust(agent: &str, n: u64) -> SignedRecord {
    SignedRecord::new(
        Record::Trust(Trust {
            agent: agent.into(),
            score: 0.5,
            issuer: "admin".into(),
            timestamp: 1_700_000_000_000 + n as i64,
        }),
        None,
    )
    .expect("valid trust")
}

pub fn epoch(name: &str, supersedes: Option<RecordId>, n: u64) -> SignedRecord {
    SignedRecord::new(
        Record::Epoch(Epoch {
            name: name.into(),
            subject_prefix: String::new(),
            supersedes,
            reason: "test".into(),
            agent: "admin".into(),
            timestamp: 1_700_000_000_000 + n as i64,
        }),
        None,
    )
    .expect("valid epoch")
}

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

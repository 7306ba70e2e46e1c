//! Coalesced replica pushes: concurrent writes bound for the same peer share
//! one `Push` call, the way the log's group commit shares one fsync. One task
//! per peer address sends whatever has queued while its previous call was in
//! flight, so batches grow with load and a lone write goes out at once.
//! Without this, every single-record write paid a whole gRPC round trip (and
//! a replica-side append) per replica.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use stemedb_records::{RecordId, SignedRecord};
use stemedb_replication::Peer;
use stemedb_replication::proto::PushStatus;
use tokio::sync::{mpsc, oneshot};

use super::REPLICA_TIMEOUT;

/// Most records in one coalesced call.
const MAX_RECORDS: usize = 4_096;
/// Most record bytes in one coalesced call (well under the 64 MiB message limit).
const MAX_BYTES: usize = 8 * 1024 * 1024;

/// Records waiting for a push, and where to report which of them the peer holds.
struct Job {
    records: Vec<SignedRecord>,
    reply: oneshot::Sender<HashSet<RecordId>>,
}

/// The per-peer push queues of one node.
#[derive(Default)]
pub struct Pushers {
    queues: Mutex<HashMap<String, mpsc::UnboundedSender<Job>>>,
}

impl Pushers {
    /// Pushes `records` to `peer`, possibly in one call with concurrent
    /// pushes to it; returns the ids it holds durably now (empty when the
    /// call failed or did not finish within [`REPLICA_TIMEOUT`]).
    pub async fn push(&self, peer: &Peer, records: Vec<SignedRecord>) -> HashSet<RecordId> {
        let (reply, answer) = oneshot::channel();
        if self.queue(peer).send(Job { records, reply }).is_err() {
            return HashSet::new();
        }
        match tokio::time::timeout(REPLICA_TIMEOUT, answer).await {
            Ok(Ok(acked)) => acked,
            _ => HashSet::new(),
        }
    }

    fn queue(&self, peer: &Peer) -> mpsc::UnboundedSender<Job> {
        let mut queues = self
            .queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(q) = queues.get(peer.addr())
            && !q.is_closed()
        {
            return q.clone();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(send_loop(peer.clone(), rx));
        queues.insert(peer.addr().to_owned(), tx.clone());
        tx
    }
}

/// Sends queued jobs to `peer`, each call carrying everything queued so far
/// (within the limits); jobs whose writer stopped waiting are dropped.
async fn send_loop(peer: Peer, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut next: Option<Job> = None;
    loop {
        let first = match next.take() {
            Some(j) => j,
            None => match rx.recv().await {
                Some(j) => j,
                None => return,
            },
        };
        let mut jobs = vec![first];
        let (mut n, mut bytes) = (jobs[0].records.len(), size(&jobs[0].records));
        while n < MAX_RECORDS && bytes < MAX_BYTES {
            let Ok(j) = rx.try_recv() else { break };
            if j.reply.is_closed() {
                continue;
            }
            if n + j.records.len() > MAX_RECORDS || bytes + size(&j.records) > MAX_BYTES {
                next = Some(j);
                break;
            }
            n += j.records.len();
            bytes += size(&j.records);
            jobs.push(j);
        }
        jobs.retain(|j| !j.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        let all: Vec<SignedRecord> = jobs.iter().flat_map(|j| j.records.clone()).collect();
        let acked = push_acked(&peer, &all).await;
        for j in jobs {
            let mine = j
                .records
                .iter()
                .map(SignedRecord::id)
                .filter(|id| acked.contains(id))
                .collect();
            let _ = j.reply.send(mine);
        }
    }
}

fn size(records: &[SignedRecord]) -> usize {
    records.iter().map(SignedRecord::stored_len).sum()
}

/// Pushes `records` to `peer` within [`REPLICA_TIMEOUT`]; the ids it holds durably now.
async fn push_acked(peer: &Peer, records: &[SignedRecord]) -> HashSet<RecordId> {
    match tokio::time::timeout(REPLICA_TIMEOUT, peer.push(records)).await {
        Ok(Ok(outcomes)) => records
            .iter()
            .zip(outcomes)
            .filter(|(_, o)| matches!(o.status, PushStatus::Created | PushStatus::Exists))
            .map(|(r, _)| r.id())
            .collect(),
        Ok(Err(e)) => {
            tracing::debug!(peer = peer.addr(), error = %e, "push failed");
            HashSet::new()
        }
        Err(_) => {
            tracing::debug!(peer = peer.addr(), "push timed out");
            HashSet::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use stemedb_records::{Assertion, Lifecycle, Object, Record};
    use stemedb_replication::{PeerConfig, ReplicationState};
    use stemedb_storage::{Store, StoreConfig};

    use super::*;

    fn assertion(n: u64) -> SignedRecord {
        let rec = Record::Assertion(Assertion {
            subject: format!("s:{n}"),
            predicate: "p".into(),
            object: Object::Text(format!("v{n}")),
            agent: "a".into(),
            confidence: 0.5,
            timestamp: 1_700_000_000_000 + n as i64,
            source: None,
            valid_from: None,
            valid_to: None,
            lifecycle: Lifecycle::Proposed,
            parent: None,
            epoch: None,
        });
        SignedRecord::new(rec, None).expect("valid assertion")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_pushes_each_get_their_own_outcome() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cfg = StoreConfig::new(dir.path());
        cfg.fsync = false;
        let store = Store::open(cfg).expect("store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(stemedb_replication::serve_listener(
            listener,
            ReplicationState::new(store.clone()),
            async {
                let _ = stopped.await;
            },
        ));
        let peer = Peer::new(&addr.to_string(), PeerConfig::default()).expect("peer");
        let pushers = Arc::new(Pushers::default());
        // 60 writers at once, two records each; some share a record.
        let tasks: Vec<_> = (0..60u64)
            .map(|w| {
                let (pushers, peer) = (pushers.clone(), peer.clone());
                tokio::spawn(async move {
                    let mine = vec![assertion(w), assertion(1_000 + w % 7)];
                    let acked = pushers.push(&peer, mine.clone()).await;
                    (mine, acked)
                })
            })
            .collect();
        for t in tasks {
            let (mine, acked) = t.await.expect("task");
            let want: HashSet<RecordId> = mine.iter().map(SignedRecord::id).collect();
            assert_eq!(acked, want, "each writer learns exactly about its records");
        }
        for w in 0..60u64 {
            assert!(store.get(assertion(w).id()).expect("get").is_some());
        }
        // An unreachable peer: nothing acknowledged, no hang beyond the timeout.
        let dead = Peer::new("127.0.0.1:1", PeerConfig::default()).expect("peer");
        assert!(pushers.push(&dead, vec![assertion(5_000)]).await.is_empty());
        let _ = stop.send(());
        let _ = server.await;
    }
}

//! Cluster mode (`cluster.enabled = true`, see `docs/cluster.md`): the
//! coordinator that sits between the HTTP handlers and the cluster crates.
//!
//! - [`Cluster`]: shared handle (membership, store, hints, peers,
//!   quorum) that handlers reach through `AppState::cluster`.
//! - `coordinator`: the write path (`write_ack`, hints, sloppy fallback),
//!   read forwarding, and hints for sloppy-quorum copies this node receives.
//! - `pusher`: per-peer queues that coalesce concurrent replica pushes.
//! - `wiring`: start-up (membership, gRPC, gateway, background loops),
//!   anti-entropy rounds, the gateway's status and sync hooks, shutdown.

mod coordinator;
mod pusher;
mod wiring;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use stemedb_cluster::placement;
use stemedb_cluster::quorum::{self, Mode, OnMinority, Quorum};
use stemedb_cluster::{Member, Membership};
use stemedb_replication::{HintQueue, Peer, PeerConfig};
use stemedb_storage::Store;

pub use coordinator::{ClusterWriteError, REPLICATION_DELAY};
pub use wiring::{ClusterRuntime, start};

/// How long a write waits for replicas, and a forwarded read for a replica.
pub const REPLICA_TIMEOUT: Duration = Duration::from_secs(2);

/// Everything the write and read paths need in cluster mode; shared by `Arc`.
pub struct Cluster {
    /// SWIM membership.
    pub membership: Membership,
    /// The local store (it keeps the Merkle bucket digests itself).
    pub store: Store,
    /// Durable hinted-handoff queue.
    pub hints: Arc<HintQueue>,
    /// `cluster.node_id`.
    pub node_id: String,
    /// `replication.factor`.
    pub factor: usize,
    /// `replication.write_ack`.
    pub write_ack: usize,
    /// `replication.on_minority`.
    pub on_minority: OnMinority,
    /// Floor for `N` in the majority rule: distinct seeds + 1.
    pub min_cluster_size: usize,
    peers: Mutex<HashMap<String, (SocketAddr, Peer)>>,
    last_round: Mutex<Option<Value>>,
    sync_lock: tokio::sync::Mutex<()>,
    /// Peers owed a handoff pass: every member first seen since start-up,
    /// until a push-only pass to it succeeds with nothing left to push.
    handoff_owed: Mutex<HashSet<String>>,
    /// Every member id seen so far, to notice new ones.
    seen_members: Mutex<HashSet<String>>,
    /// Per-peer queues that coalesce concurrent replica pushes.
    pushers: pusher::Pushers,
    /// `cluster.secret_file`: authenticates this node's replication calls.
    secret: Option<Arc<stemedb_peer_auth::ClusterSecret>>,
}

impl Cluster {
    /// The majority rule applied to the current member view.
    pub fn quorum(&self) -> Quorum {
        quorum::evaluate(
            &self.membership.members(),
            self.on_minority,
            self.min_cluster_size,
        )
    }

    /// `Err(ReadOnly)` when this node is in the minority and `on_minority = read_only`.
    pub fn check_writable(&self) -> Result<(), ClusterWriteError> {
        let q = self.quorum();
        if q.mode == Mode::ReadOnly {
            return Err(ClusterWriteError::ReadOnly(q.message()));
        }
        Ok(())
    }

    /// Replica node ids of `partition` among `members` (DOWN ones included), best first.
    pub fn replicas_of(&self, partition: u16, members: &[Member]) -> Vec<String> {
        let ids: Vec<&str> = members.iter().map(Member::id).collect();
        let mut ids_with_self = ids;
        if !ids_with_self.contains(&self.node_id.as_str()) {
            ids_with_self.push(&self.node_id);
        }
        placement::replicas(partition, &ids_with_self, self.factor)
    }

    /// A (cached) replication client for `member`, re-created when its address changes.
    pub fn peer(&self, member: &Member) -> Option<Peer> {
        let addr = member.info.rpc_addr;
        let mut peers = match self.peers.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((a, p)) = peers.get(member.id())
            && *a == addr
        {
            return Some(p.clone());
        }
        let cfg = PeerConfig {
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
        };
        match Peer::with_secret(&addr.to_string(), cfg, self.secret.clone()) {
            Ok(p) => {
                peers.insert(member.id().to_owned(), (addr, p.clone()));
                Some(p)
            }
            Err(e) => {
                tracing::warn!(peer = member.id(), %addr, error = %e, "cannot build a replication client");
                None
            }
        }
    }

    fn set_last_round(&self, summary: Value) {
        match self.last_round.lock() {
            Ok(mut g) => *g = Some(summary),
            Err(poisoned) => *poisoned.into_inner() = Some(summary),
        }
    }

    fn last_round(&self) -> Option<Value> {
        match self.last_round.lock() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

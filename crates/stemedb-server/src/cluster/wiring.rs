//! Start-up and shutdown of cluster mode, the background loops (hint
//! delivery, anti-entropy) and the gateway's status and sync hooks.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use stemedb_cluster::gateway::{self, BoxFuture, GatewayState};
use stemedb_cluster::membership::now_ms;
use stemedb_cluster::placement::{self, GLOBAL};
use stemedb_cluster::{
    Member, Membership, MembershipConfig, OnMinority, Status, StatusSource, SyncError, SyncRequest,
    SyncTrigger,
};
use stemedb_replication::merkle::{BUCKETS, root_of};
use stemedb_replication::{
    HintQueue, ReplicationState, SyncMode, SyncReport, deliver_hints, sync_with_mode,
};
use stemedb_storage::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Cluster;
use crate::config::{self, Config};
use crate::server::ServerError;

/// How often hints are offered to targets that are UP.
const HINT_INTERVAL: Duration = Duration::from_millis(500);
/// First anti-entropy round after start-up (catch-up after a restart), unless the interval is shorter.
const FIRST_ROUND: Duration = Duration::from_secs(3);
/// Longest wait for a background loop or a server task at shutdown.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// The running cluster machinery of one node.
pub struct ClusterRuntime {
    /// The shared handle handlers use.
    pub cluster: Arc<Cluster>,
    stop_loops: watch::Sender<bool>,
    stop_servers: watch::Sender<bool>,
    loops: Vec<JoinHandle<()>>,
    servers: Vec<(&'static str, JoinHandle<()>)>,
}

fn fail(what: impl std::fmt::Display) -> ServerError {
    ServerError::Cluster(what.to_string())
}

fn addr(key: &str, v: &str) -> Result<SocketAddr, ServerError> {
    v.parse()
        .map_err(|_| fail(format!("{key} {v:?} is not an IP:port address")))
}

async fn bind(key: &str, a: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(a)
        .await
        .map_err(|e| fail(format!("cannot listen on {key} {a}: {e}")))
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// Starts cluster mode: hints, the gRPC replication server, SWIM
/// membership, the gateway and the loops. (The Merkle digests are the
/// store's, ready as soon as it is open.)
pub async fn start(
    config: &Config,
    store: &Store,
    api_addr: SocketAddr,
    serving: &crate::listen::Serving,
) -> Result<ClusterRuntime, ServerError> {
    let c = &config.cluster;
    let r = &config.replication;
    let swim = addr("cluster.swim_addr", &c.swim_addr)?;
    let rpc = addr("cluster.rpc_addr", &c.rpc_addr)?;
    let gw = addr("cluster.bind_addr", &c.bind_addr)?;
    let dir = config.storage.data_dir.clone();
    let hints = tokio::task::spawn_blocking(move || HintQueue::open(&dir))
        .await
        .map_err(fail)?
        .map_err(|e| fail(format!("cannot open the hint queue: {e}")))?;
    let secret = match &c.secret_file {
        Some(path) => {
            let p = path.clone();
            let secret =
                tokio::task::spawn_blocking(move || stemedb_peer_auth::ClusterSecret::load(&p))
                    .await
                    .map_err(fail)?
                    .map_err(fail)?;
            if secret.rotating() {
                tracing::info!(
                    "cluster secret: a previous secret is still accepted (rotation in progress)"
                );
            }
            Some(Arc::new(secret))
        }
        None => {
            tracing::warn!(
                "cluster.secret_file is not set: the cluster ports (gRPC replication {}, SWIM {}, \
                 POST /cluster/sync on {}) are UNAUTHENTICATED; anyone who reaches them can inject \
                 records and disturb membership",
                c.rpc_addr,
                c.swim_addr,
                c.bind_addr
            );
            None
        }
    };
    let rpc_listener = bind("cluster.rpc_addr", rpc).await?;
    let gw_listener = bind("cluster.bind_addr", gw).await?;
    let seeds: BTreeSet<&str> = c
        .seeds
        .iter()
        .map(String::as_str)
        .filter(|s| *s != c.swim_addr)
        .collect();
    let min_cluster_size = seeds.len() + 1;
    let mut mc = MembershipConfig::new(c.node_id.clone(), swim, api_addr, gw, rpc);
    mc.seeds = seeds.iter().map(|s| (*s).to_owned()).collect();
    mc.secret = secret.clone();
    let membership = Membership::start(mc)
        .await
        .map_err(|e| fail(format!("cannot start membership: {e}")))?;
    let on_minority = match r.on_minority {
        config::OnMinority::ReadOnly => OnMinority::ReadOnly,
        config::OnMinority::Accept => OnMinority::Accept,
    };
    let cluster = Arc::new(Cluster {
        membership: membership.clone(),
        store: store.clone(),
        hints: Arc::new(hints),
        node_id: c.node_id.clone(),
        factor: r.factor,
        write_ack: r.write_ack,
        on_minority,
        min_cluster_size,
        peers: Mutex::new(HashMap::new()),
        last_round: Mutex::new(None),
        sync_lock: tokio::sync::Mutex::new(()),
        handoff_owed: Mutex::new(HashSet::new()),
        seen_members: Mutex::new(HashSet::new()),
        pushers: super::pusher::Pushers::default(),
        secret: secret.clone(),
    });
    let (stop_loops, loops_rx) = watch::channel(false);
    let (stop_servers, servers_rx) = watch::channel(false);
    let mut rstate = ReplicationState::new(store.clone());
    rstate.on_push = Some(cluster.clone());
    rstate.secret = secret.clone();
    rstate.require_signatures = config.api.require_signatures;
    let grpc_stop = stopped(servers_rx.clone());
    let grpc = tokio::spawn(async move {
        if let Err(e) = stemedb_replication::serve_listener(rpc_listener, rstate, grpc_stop).await {
            tracing::error!(error = %e, "replication server failed");
        }
    });
    let gstate = GatewayState::new(membership, r.factor, on_minority)
        .with_status(cluster.clone())
        .with_sync(cluster.clone())
        .with_min_cluster_size(min_cluster_size)
        .with_secret(secret.clone());
    let gw_stop = stopped(servers_rx);
    let gw_serving = serving.clone();
    let gateway = tokio::spawn(crate::listen::serve(
        gw_listener,
        gateway::router(gstate),
        gw_serving,
        gw_stop,
    ));
    let interval = Duration::from_millis(r.anti_entropy_interval_ms);
    let loops = vec![
        tokio::spawn(hint_loop(cluster.clone(), loops_rx.clone())),
        tokio::spawn(anti_entropy_loop(cluster.clone(), interval, loops_rx)),
    ];
    tracing::info!(node_id = %c.node_id, %swim, %rpc, gateway = %gw, min_cluster_size, authenticated = secret.is_some(), "cluster mode started");
    Ok(ClusterRuntime {
        cluster,
        stop_loops,
        stop_servers,
        loops,
        servers: vec![("replication", grpc), ("gateway", gateway)],
    })
}

async fn join_or_abort(name: &str, task: JoinHandle<()>) {
    let abort = task.abort_handle();
    if tokio::time::timeout(STOP_WAIT, task).await.is_err() {
        tracing::warn!(task = name, "did not stop in time; aborted");
        abort.abort();
    }
}

impl ClusterRuntime {
    /// Stops the loops, leaves the membership, stops gRPC and the gateway, flushes hints.
    pub async fn shutdown(self) {
        let _ = self.stop_loops.send(true);
        for task in self.loops {
            join_or_abort("cluster loop", task).await;
        }
        self.cluster.membership.shutdown().await;
        let _ = self.stop_servers.send(true);
        for (name, task) in self.servers {
            join_or_abort(name, task).await;
        }
        let hints = self.cluster.hints.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || hints.flush()).await {
            tracing::warn!(error = %e, "cannot flush the hint queue");
        }
        tracing::info!("cluster mode stopped");
    }
}

/// Waits `d` or until stopped; `false` when stopped.
async fn pause(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    let stopped = tokio::select! {
        () = tokio::time::sleep(d) => None,
        _ = stop.wait_for(|v| *v) => Some(()),
    };
    stopped.is_none() && !*stop.borrow()
}

async fn hint_loop(cluster: Arc<Cluster>, mut stop: watch::Receiver<bool>) {
    while pause(HINT_INTERVAL, &mut stop).await {
        let hints = cluster.hints.clone();
        let targets = match tokio::task::spawn_blocking(move || hints.targets()).await {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot list hint targets");
                continue;
            }
            Err(_) => continue,
        };
        let members = cluster.membership.members();
        for target in targets {
            let Some(m) = members
                .iter()
                .find(|m| m.id() == target && m.status == Status::Up && !m.is_self)
            else {
                continue;
            };
            let Some(peer) = cluster.peer(m) else {
                continue;
            };
            if let Err(e) = deliver_hints(&peer, &target, &cluster.store, &cluster.hints).await {
                tracing::debug!(target = %target, error = %e, "hint delivery failed; will retry");
            }
        }
        cluster.hints.publish();
    }
}

async fn anti_entropy_loop(
    cluster: Arc<Cluster>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut wait = interval.min(FIRST_ROUND);
    while pause(wait, &mut stop).await {
        wait = interval;
        if let Err(e) = cluster.anti_entropy(None).await {
            tracing::debug!(error = %e, "anti-entropy round skipped");
        }
    }
}

impl Cluster {
    /// One anti-entropy round with every live peer (or `only` that one): a
    /// two-way sync over the partitions both nodes replicate plus `GLOBAL`,
    /// and, for a peer still owed a handoff, a push-only pass over the
    /// partitions this node holds records of but does not replicate while the
    /// peer does (a migrated single-node data directory, or a partition that
    /// moved to a new member). Returns the summary.
    pub async fn anti_entropy(&self, only: Option<&str>) -> Result<Value, SyncError> {
        let _round = self.sync_lock.lock().await;
        let members = self.membership.members();
        if let Some(p) = only
            && !members.iter().any(|m| m.id() == p && !m.is_self)
        {
            return Err(SyncError {
                status: 404,
                code: "unknown_peer".into(),
                message: format!("no member {p:?} other than this node"),
            });
        }
        self.note_new_members(&members);
        let ids: Vec<&str> = members.iter().map(|m| m.id()).collect();
        let table = placement::table(&ids, self.factor);
        let empty = empty_root();
        let mut totals = RoundTotals::default();
        let mut peers = Vec::new();
        let started = now_ms();
        for m in members
            .iter()
            .filter(|m| !m.is_self && m.status.is_live() && only.is_none_or(|p| p == m.id()))
        {
            let Some(peer) = self.peer(m) else { continue };
            let mine = |r: &Vec<String>| r.contains(&self.node_id);
            let theirs = |r: &Vec<String>| r.iter().any(|x| x == m.id());
            let shared: Vec<u16> = table
                .iter()
                .filter(|(_, r)| mine(r) && theirs(r))
                .map(|(p, _)| *p)
                .chain(std::iter::once(GLOBAL))
                .collect();
            let result = sync_with_mode(&peer, &self.store, &shared, SyncMode::Both).await;
            peers.push(totals.add(m.id(), "sync", result));
            if !self.owes_handoff(m.id()) {
                continue;
            }
            let owed: Vec<u16> = table
                .iter()
                .filter(|(p, r)| {
                    !mine(r) && theirs(r) && self.store.digests().root(*p) != Some(empty)
                })
                .map(|(p, _)| *p)
                .collect();
            let settled = if owed.is_empty() {
                true
            } else {
                let result = sync_with_mode(&peer, &self.store, &owed, SyncMode::PushOnly).await;
                // Settled only by a pass that found nothing left to push: a
                // pass that pushed is verified by the next round.
                let settled = matches!(&result, Ok(r) if r.records_pushed == 0);
                peers.push(totals.add(m.id(), "handoff", result));
                settled
            };
            if settled {
                self.settle_handoff(m.id());
            }
        }
        let mut pending: Vec<String> = lock(&self.handoff_owed).iter().cloned().collect();
        pending.sort_unstable();
        let summary = json!({
            "started_at_ms": started,
            "finished_at_ms": now_ms(),
            "peers": peers,
            "repaired": totals.fetched + totals.pushed,
            "records_fetched": totals.fetched,
            "records_pushed": totals.pushed,
            "failed_peers": totals.failed,
            "handoff_pending": pending,
        });
        self.set_last_round(summary.clone());
        Ok(summary)
    }

    /// Every member seen for the first time is owed a handoff pass.
    fn note_new_members(&self, members: &[Member]) {
        let mut seen = lock(&self.seen_members);
        for m in members.iter().filter(|m| !m.is_self) {
            if seen.insert(m.id().to_owned()) {
                tracing::debug!(peer = m.id(), "new member; a handoff pass is owed to it");
                lock(&self.handoff_owed).insert(m.id().to_owned());
            }
        }
    }

    fn owes_handoff(&self, peer: &str) -> bool {
        lock(&self.handoff_owed).contains(peer)
    }

    fn settle_handoff(&self, peer: &str) {
        if lock(&self.handoff_owed).remove(peer) {
            tracing::info!(peer, "handoff settled");
        }
    }
}

/// A mutex guard, also after a panic elsewhere poisoned it (the sets stay consistent).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The root of a partition with no records.
fn empty_root() -> [u8; 32] {
    static EMPTY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    *EMPTY.get_or_init(|| root_of(&[[0u8; 32]; BUCKETS]))
}

/// Counts of one anti-entropy round across peers.
#[derive(Default)]
struct RoundTotals {
    fetched: usize,
    pushed: usize,
    failed: usize,
}

impl RoundTotals {
    /// Adds one peer exchange (`pass` = `sync` or `handoff`); returns its summary entry.
    fn add(
        &mut self,
        peer: &str,
        pass: &str,
        result: stemedb_replication::Result<SyncReport>,
    ) -> Value {
        match result {
            Ok(rep) => {
                self.fetched += rep.records_fetched;
                self.pushed += rep.records_pushed;
                json!({
                    "peer": peer, "pass": pass, "ok": true,
                    "partitions_compared": rep.partitions_compared,
                    "partitions_differing": rep.partitions_differing,
                    "buckets_differing": rep.buckets_differing,
                    "buckets_rechecked": rep.buckets_rechecked,
                    "records_fetched": rep.records_fetched,
                    "records_pushed": rep.records_pushed,
                    "bytes_sent": rep.bytes_sent,
                    "bytes_received": rep.bytes_received,
                    "elapsed_ms": rep.elapsed_ms,
                })
            }
            Err(e) => {
                self.failed += 1;
                json!({"peer": peer, "pass": pass, "ok": false, "error": e.to_string()})
            }
        }
    }
}

impl Cluster {
    /// The gateway's `GET /cluster/status` JSON for this node (served on the
    /// API port as `GET /v1/cluster/status`).
    pub fn status_json(self: &Arc<Self>) -> Value {
        let g = GatewayState::new(self.membership.clone(), self.factor, self.on_minority)
            .with_status(self.clone())
            .with_min_cluster_size(self.min_cluster_size);
        gateway::status_json(&g)
    }
}

impl StatusSource for Cluster {
    fn hints_pending(&self) -> Option<u64> {
        Some(self.hints.pending_total())
    }

    fn replication_lag_seconds(&self) -> Option<f64> {
        match self.hints.oldest_age() {
            Ok(age) => Some(age.map_or(0.0, |a| a.as_secs_f64())),
            Err(_) => None,
        }
    }

    fn last_anti_entropy(&self) -> Option<Value> {
        self.last_round()
    }
}

impl SyncTrigger for Cluster {
    fn trigger(&self, request: SyncRequest) -> BoxFuture<'_, Result<Value, SyncError>> {
        Box::pin(async move { self.anti_entropy(request.peer.as_deref()).await })
    }
}

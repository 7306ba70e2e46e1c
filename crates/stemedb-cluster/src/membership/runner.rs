//! The membership task: drives foca with a tokio UDP socket and a timer queue.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::num::{NonZeroU8, NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;

use foca::{AccumulatingRuntime, Foca, NoCustomBroadcast, OwnedNotification, PostcardCodec, Timer};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use stemedb_peer_auth::{ClusterSecret, Reject};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior, interval, sleep_until};
use tracing::{debug, info, warn};

use super::identity::{NodeIdentity, now_ms};
use super::{Command, Member, Status, Timing};

type Swim = Foca<NodeIdentity, PostcardCodec, SmallRng, NoCustomBroadcast>;

/// Largest datagram sent or read (a sealed packet included).
const MAX_PACKET: usize = 1400;
/// Largest foca payload: room is left for the cluster-secret seal.
const MAX_PAYLOAD: usize = MAX_PACKET - stemedb_peer_auth::PACKET_OVERHEAD;

fn foca_config(t: &Timing) -> foca::Config {
    let mut c = foca::Config::new_lan(NonZeroU32::MIN.saturating_add(2));
    c.probe_period = t.probe_period;
    c.probe_rtt = t.probe_rtt;
    c.suspect_to_down_after = t.suspect_to_down_after;
    c.max_transmissions = NonZeroU8::MIN.saturating_add(5);
    c.max_packet_size = NonZeroUsize::MIN.saturating_add(MAX_PAYLOAD - 1);
    c.notify_down_members = true;
    let two = NonZeroUsize::MIN.saturating_add(1);
    c.periodic_gossip = Some(foca::PeriodicParams {
        frequency: t.gossip_interval,
        num_members: NonZeroUsize::MIN.saturating_add(2),
    });
    c.periodic_announce = Some(foca::PeriodicParams {
        frequency: Duration::from_secs(10),
        num_members: NonZeroUsize::MIN,
    });
    c.periodic_announce_to_down_members = Some(foca::PeriodicParams {
        frequency: t.announce_interval,
        num_members: two,
    });
    c
}

fn seed_rng(me: &NodeIdentity) -> SmallRng {
    let mut h = blake3::Hasher::new();
    h.update(me.info.id.as_bytes());
    h.update(&me.generation.to_le_bytes());
    h.update(&now_ms().to_le_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.finalize().as_bytes()[..8]);
    SmallRng::seed_from_u64(u64::from_le_bytes(b))
}

pub(crate) struct Runner {
    foca: Swim,
    rt: AccumulatingRuntime<NodeIdentity>,
    socket: UdpSocket,
    timers: BinaryHeap<Reverse<(Instant, Timer<NodeIdentity>)>>,
    seeds: Vec<String>,
    timing: Timing,
    table: BTreeMap<String, Member>,
    by_addr: HashMap<SocketAddr, String>,
    view_tx: watch::Sender<Vec<Member>>,
    me_tx: watch::Sender<NodeIdentity>,
    cmd_rx: mpsc::UnboundedReceiver<Command>,
    seen_dirty: bool,
    joined: bool,
    secret: Option<Arc<ClusterSecret>>,
    rejected_logged: Option<Instant>,
}

impl Runner {
    pub(crate) fn new(
        me: NodeIdentity,
        socket: UdpSocket,
        seeds: Vec<String>,
        timing: Timing,
        view_tx: watch::Sender<Vec<Member>>,
        me_tx: watch::Sender<NodeIdentity>,
        cmd_rx: mpsc::UnboundedReceiver<Command>,
    ) -> Runner {
        let rng = seed_rng(&me);
        let foca = Foca::new(me, foca_config(&timing), rng, PostcardCodec);
        Runner {
            foca,
            rt: AccumulatingRuntime::new(),
            socket,
            timers: BinaryHeap::new(),
            seeds,
            timing,
            table: BTreeMap::new(),
            by_addr: HashMap::new(),
            view_tx,
            me_tx,
            cmd_rx,
            seen_dirty: false,
            joined: false,
            secret: None,
            rejected_logged: None,
        }
    }

    /// Seals sent packets and drops received ones without a valid MAC.
    pub(crate) fn with_secret(mut self, secret: Option<Arc<ClusterSecret>>) -> Runner {
        self.secret = secret;
        self
    }

    /// Runs until a `Leave` command arrives or every handle is dropped.
    pub(crate) async fn run(mut self) {
        let me = self.foca.identity().clone();
        info!(node = %me.info.id, swim = %me.info.swim_addr, generation = me.generation,
            seeds = ?self.seeds, "membership started");
        self.publish();
        let mut announce = interval(self.timing.announce_interval);
        announce.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut publish = interval(self.timing.publish_interval);
        publish.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut buf = vec![0u8; MAX_PACKET + 1];
        loop {
            let deadline = self
                .timers
                .peek()
                .map(|Reverse((at, _))| *at)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                cmd = self.cmd_rx.recv() => match cmd {
                    Some(Command::Leave(done)) => {
                        let r = self.foca.leave_cluster(&mut self.rt);
                        self.log_foca(r);
                        self.drain().await;
                        info!(node = %me.info.id, "left the cluster");
                        let _ = done.send(());
                        break;
                    }
                    None => {
                        debug!(node = %me.info.id, "all membership handles dropped; stopping");
                        break;
                    }
                },
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok((n, from)) => self.on_packet(&buf[..n], from).await,
                    Err(e) => debug!(error = %e, "swim recv failed"),
                },
                () = sleep_until(deadline) => self.fire_timers().await,
                _ = announce.tick() => self.announce_to_seeds().await,
                _ = publish.tick() => {
                    if self.seen_dirty {
                        self.publish();
                    }
                }
            }
        }
    }

    async fn on_packet(&mut self, packet: &[u8], from: SocketAddr) {
        let data = match &self.secret {
            None => packet,
            Some(secret) => match secret.open_packet(packet, now_ms()) {
                Ok(d) => d,
                Err(why) => {
                    self.rejected(from, why);
                    return;
                }
            },
        };
        let r = self.foca.handle_data(data, &mut self.rt);
        self.log_foca(r);
        self.drain().await;
        if let Some(id) = self.by_addr.get(&from)
            && let Some(m) = self.table.get_mut(id)
        {
            let first = m.last_seen.is_none();
            m.last_seen = Some(now_ms());
            self.seen_dirty = true;
            if first {
                self.publish();
            }
        }
    }

    /// Counts a dropped packet; warns at most once a minute.
    fn rejected(&mut self, from: SocketAddr, why: Reject) {
        metrics::counter!("stemedb_swim_packets_rejected_total", "reason" => why.as_str())
            .increment(1);
        let now = Instant::now();
        if self
            .rejected_logged
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60))
        {
            self.rejected_logged = Some(now);
            warn!(%from, reason = %why, "dropped a SWIM packet without a valid cluster-secret MAC (logged at most once a minute)");
        } else {
            debug!(%from, reason = %why, "dropped an unauthenticated SWIM packet");
        }
    }

    async fn fire_timers(&mut self) {
        let now = Instant::now();
        while self
            .timers
            .peek()
            .is_some_and(|Reverse((at, _))| *at <= now)
        {
            if let Some(Reverse((_, timer))) = self.timers.pop() {
                let r = self.foca.handle_timer(timer, &mut self.rt);
                self.log_foca(r);
            }
        }
        self.drain().await;
    }

    async fn announce_to_seeds(&mut self) {
        if self.foca.num_members() > 0 {
            return;
        }
        let own = self.foca.identity().info.swim_addr;
        for seed in self.seeds.clone() {
            let addrs = match tokio::net::lookup_host(seed.as_str()).await {
                Ok(a) => a,
                Err(e) => {
                    debug!(seed = %seed, error = %e, "cannot resolve seed");
                    continue;
                }
            };
            for addr in addrs.filter(|a| *a != own) {
                debug!(seed = %addr, "announcing to seed");
                let r = self.foca.announce(NodeIdentity::seed(addr), &mut self.rt);
                self.log_foca(r);
            }
        }
        self.drain().await;
    }

    fn log_foca(&self, r: Result<(), foca::Error>) {
        if let Err(e) = r {
            debug!(error = %e, "foca");
        }
    }

    /// Sends queued packets, schedules timers, handles notifications, refreshes the view.
    async fn drain(&mut self) {
        while let Some((to, data)) = self.rt.to_send() {
            let sealed;
            let data: &[u8] = match &self.secret {
                None => &data,
                Some(secret) => {
                    sealed = secret.seal_packet(&data, now_ms());
                    &sealed
                }
            };
            if let Err(e) = self.socket.send_to(data, to.info.swim_addr).await {
                debug!(to = %to.info.swim_addr, error = %e, "swim send failed");
            }
        }
        let now = Instant::now();
        while let Some((after, timer)) = self.rt.to_schedule() {
            self.timers.push(Reverse((now + after, timer)));
        }
        while let Some(n) = self.rt.to_notify() {
            match n {
                OwnedNotification::Active => {
                    if !self.joined {
                        info!(members = self.foca.num_members(), "joined the cluster");
                    }
                    self.joined = true;
                }
                OwnedNotification::Idle => {
                    warn!("no other live member is known; announcing to seeds");
                    self.joined = false;
                }
                OwnedNotification::Rejoin(id) => {
                    info!(
                        generation = id.generation,
                        "declared down by peers; rejoined with a new generation"
                    );
                    self.me_tx.send_replace(id);
                }
                OwnedNotification::Defunct => warn!("this node was declared down by the cluster"),
                OwnedNotification::Rename(old, new) => debug!(
                    from = old.generation, to = new.generation, node = %new.info.id,
                    "member restarted with a new generation"
                ),
                _ => {}
            }
        }
        if self.refresh() {
            self.publish();
        }
    }

    /// Folds foca's member state into the table keyed by node id; true if a status changed.
    fn refresh(&mut self) -> bool {
        let mut changed = false;
        for m in self.foca.iter_membership_state() {
            let id = m.id();
            if id.info.id.is_empty() {
                continue;
            }
            let status = Status::from(m.state());
            self.by_addr.insert(id.info.swim_addr, id.info.id.clone());
            match self.table.get_mut(&id.info.id) {
                None => {
                    info!(node = %id.info.id, status = status.as_str(), generation = id.generation, "member discovered");
                    self.table.insert(
                        id.info.id.clone(),
                        Member {
                            info: id.info.clone(),
                            generation: id.generation,
                            status,
                            last_seen: None,
                            is_self: false,
                        },
                    );
                    changed = true;
                }
                Some(e) => {
                    if id.generation < e.generation {
                        continue;
                    }
                    if id.generation > e.generation || e.info != id.info {
                        info!(node = %id.info.id, generation = id.generation, "member has a new incarnation");
                        e.generation = id.generation;
                        e.info = id.info.clone();
                        changed = true;
                    }
                    if e.status != status {
                        info!(node = %id.info.id, from = e.status.as_str(), to = status.as_str(), "member status changed");
                        metrics::counter!("stemedb_member_status_changes_total", "to" => status.as_str())
                            .increment(1);
                        e.status = status;
                        changed = true;
                    }
                }
            }
        }
        changed
    }

    fn publish(&mut self) {
        self.seen_dirty = false;
        let me = self.foca.identity();
        let mut view: Vec<Member> = Vec::with_capacity(self.table.len() + 1);
        view.push(Member {
            info: me.info.clone(),
            generation: me.generation,
            status: Status::Up,
            last_seen: Some(now_ms()),
            is_self: true,
        });
        view.extend(
            self.table
                .values()
                .filter(|m| m.info.id != me.info.id)
                .cloned(),
        );
        view.sort_by(|a, b| a.info.id.cmp(&b.info.id));
        for s in [Status::Up, Status::Suspect, Status::Down] {
            let n = view.iter().filter(|m| m.status == s).count();
            metrics::gauge!("stemedb_cluster_members", "status" => s.as_str()).set(n as f64);
        }
        self.view_tx.send_replace(view);
    }
}

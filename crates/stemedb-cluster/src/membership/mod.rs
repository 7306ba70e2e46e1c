//! SWIM membership over UDP with `foca`: who is in the cluster and whether
//! each member is UP, SUSPECT or DOWN.
//!
//! [`Membership::start`] binds the SWIM socket and spawns one tokio task that
//! owns foca, the socket and the timers; the returned handle is cheap to clone
//! and reads the latest member view from a `watch` channel.

mod identity;
mod runner;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use identity::{NodeIdentity, NodeInfo, now_ms};

use crate::Error;

/// SWIM timing; the defaults detect a crashed node within about 3 s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// How often a random member is probed.
    pub probe_period: Duration,
    /// How long to wait for a direct ack before asking others to probe.
    pub probe_rtt: Duration,
    /// How long a member stays SUSPECT before it is declared DOWN.
    pub suspect_to_down_after: Duration,
    /// How often to announce to the seeds while no other member is known.
    pub announce_interval: Duration,
    /// How often cluster updates are gossiped to a few members.
    pub gossip_interval: Duration,
    /// How often `last_seen` updates are published to subscribers.
    pub publish_interval: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            probe_period: Duration::from_millis(500),
            probe_rtt: Duration::from_millis(250),
            suspect_to_down_after: Duration::from_millis(1500),
            announce_interval: Duration::from_secs(2),
            gossip_interval: Duration::from_millis(200),
            publish_interval: Duration::from_millis(250),
        }
    }
}

/// Everything needed to start membership on one node.
#[derive(Debug, Clone)]
pub struct MembershipConfig {
    /// This node's id (`cluster.node_id`).
    pub node_id: String,
    /// Address the SWIM UDP socket binds to (`cluster.swim_addr`); port 0 picks a free port.
    pub swim_addr: SocketAddr,
    /// SWIM address announced to peers when it differs from `swim_addr` (e.g. binding 0.0.0.0).
    pub advertise_swim_addr: Option<SocketAddr>,
    /// HTTP API address announced to peers (`api.bind_addr`).
    pub api_addr: SocketAddr,
    /// Gateway address announced to peers (`cluster.bind_addr`).
    pub gateway_addr: SocketAddr,
    /// gRPC address announced to peers (`cluster.rpc_addr`).
    pub rpc_addr: SocketAddr,
    /// SWIM addresses (`host:port`) of nodes to join through.
    pub seeds: Vec<String>,
    /// Process generation; `None` uses the wall-clock ms now.
    pub generation: Option<u64>,
    /// SWIM timing.
    pub timing: Timing,
    /// Cluster secret: when set, every packet is sealed with a MAC and
    /// packets without a valid one are dropped before foca sees them.
    pub secret: Option<Arc<stemedb_peer_auth::ClusterSecret>>,
}

impl MembershipConfig {
    /// A configuration with default timing, no seeds and a fresh generation.
    pub fn new(
        node_id: impl Into<String>,
        swim_addr: SocketAddr,
        api_addr: SocketAddr,
        gateway_addr: SocketAddr,
        rpc_addr: SocketAddr,
    ) -> Self {
        MembershipConfig {
            node_id: node_id.into(),
            swim_addr,
            advertise_swim_addr: None,
            api_addr,
            gateway_addr,
            rpc_addr,
            seeds: Vec::new(),
            generation: None,
            timing: Timing::default(),
            secret: None,
        }
    }
}

/// Liveness of a member as this node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Status {
    /// foca `Alive`.
    #[serde(rename = "UP")]
    Up,
    /// foca `Suspect`: missed a probe, may still refute.
    #[serde(rename = "SUSPECT")]
    Suspect,
    /// foca `Down`: failed to refute suspicion, or left.
    #[serde(rename = "DOWN")]
    Down,
}

impl Status {
    /// The API spelling: `UP`, `SUSPECT` or `DOWN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "UP",
            Status::Suspect => "SUSPECT",
            Status::Down => "DOWN",
        }
    }

    /// UP or SUSPECT: counted as reachable for quorum.
    pub fn is_live(self) -> bool {
        !matches!(self, Status::Down)
    }
}

impl From<foca::State> for Status {
    fn from(s: foca::State) -> Self {
        match s {
            foca::State::Alive => Status::Up,
            foca::State::Suspect => Status::Suspect,
            foca::State::Down => Status::Down,
        }
    }
}

/// One member of the cluster as seen from this node (self included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Id and addresses.
    pub info: NodeInfo,
    /// Generation of the incarnation we know.
    pub generation: u64,
    /// UP, SUSPECT or DOWN.
    pub status: Status,
    /// Wall-clock ms of the last packet from this member (`None` if none yet).
    pub last_seen: Option<u64>,
    /// Whether this entry is the local node.
    pub is_self: bool,
}

impl Member {
    /// The member's node id.
    pub fn id(&self) -> &str {
        &self.info.id
    }
}

pub(crate) enum Command {
    Leave(oneshot::Sender<()>),
}

struct Inner {
    view: watch::Receiver<Vec<Member>>,
    me: watch::Receiver<NodeIdentity>,
    cmd: mpsc::UnboundedSender<Command>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Handle to the running membership task; clones share it.
#[derive(Clone)]
pub struct Membership {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership")
            .field("me", &*self.inner.me.borrow())
            .finish_non_exhaustive()
    }
}

fn check(config: &MembershipConfig) -> Result<(), Error> {
    let id = &config.node_id;
    if id.trim().is_empty() || id.len() > 128 {
        return Err(Error::InvalidNodeId(id.clone()));
    }
    let t = &config.timing;
    let zero = Duration::ZERO;
    if t.probe_rtt == zero || t.probe_period <= t.probe_rtt {
        return Err(Error::InvalidTiming(
            "probe_rtt must be non-zero and below probe_period",
        ));
    }
    if [
        t.suspect_to_down_after,
        t.announce_interval,
        t.gossip_interval,
        t.publish_interval,
    ]
    .contains(&zero)
    {
        return Err(Error::InvalidTiming("intervals must be non-zero"));
    }
    Ok(())
}

impl Membership {
    /// Binds the SWIM socket, spawns the membership task and starts announcing to the seeds.
    pub async fn start(config: MembershipConfig) -> Result<Membership, Error> {
        check(&config)?;
        let socket = UdpSocket::bind(config.swim_addr)
            .await
            .map_err(|source| Error::Bind {
                addr: config.swim_addr,
                source,
            })?;
        let bound = socket.local_addr().map_err(Error::LocalAddr)?;
        let mut advertised = config.advertise_swim_addr.unwrap_or(bound);
        if advertised.port() == 0 {
            advertised.set_port(bound.port());
        }
        if advertised.ip().is_unspecified() {
            return Err(Error::UnspecifiedSwimAddr(advertised));
        }
        let fill = |mut a: SocketAddr| {
            if a.ip().is_unspecified() {
                a.set_ip(advertised.ip());
            }
            a
        };
        let me = NodeIdentity {
            generation: config.generation.unwrap_or_else(now_ms),
            info: NodeInfo {
                id: config.node_id.clone(),
                swim_addr: advertised,
                api_addr: fill(config.api_addr),
                gateway_addr: fill(config.gateway_addr),
                rpc_addr: fill(config.rpc_addr),
            },
        };
        let (view_tx, view_rx) = watch::channel(Vec::new());
        let (me_tx, me_rx) = watch::channel(me.clone());
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let runner = runner::Runner::new(
            me,
            socket,
            config.seeds,
            config.timing,
            view_tx,
            me_tx,
            cmd_rx,
        )
        .with_secret(config.secret);
        let task = tokio::spawn(runner.run());
        Ok(Membership {
            inner: Arc::new(Inner {
                view: view_rx,
                me: me_rx,
                cmd: cmd_tx,
                task: Mutex::new(Some(task)),
            }),
        })
    }

    /// All known members, self included, sorted by id.
    pub fn members(&self) -> Vec<Member> {
        self.inner.view.borrow().clone()
    }

    /// This node's current identity (id, addresses, generation).
    pub fn me(&self) -> NodeIdentity {
        self.inner.me.borrow().clone()
    }

    /// A receiver that changes whenever the member view changes.
    pub fn subscribe(&self) -> watch::Receiver<Vec<Member>> {
        self.inner.view.clone()
    }

    /// Whether the membership task is still running.
    pub fn is_running(&self) -> bool {
        !self.inner.cmd.is_closed()
    }

    fn take_task(&self) -> Option<JoinHandle<()>> {
        match self.inner.task.lock() {
            Ok(mut g) => g.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
    }

    /// Leaves the cluster (peers mark this node DOWN at once) and stops the task.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.cmd.send(Command::Leave(tx)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), rx).await;
        }
        if let Some(task) = self.take_task() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Stops the task without telling anyone, as a crash would; peers detect it by SWIM.
    pub async fn abort(&self) {
        if let Some(task) = self.take_task() {
            task.abort();
            let _ = task.await;
        }
    }
}

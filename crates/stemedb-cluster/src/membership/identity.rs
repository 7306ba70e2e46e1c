//! The foca identity of a node: its id, addresses and generation.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A node's name and the addresses peers use to reach it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Cluster-unique node id (`cluster.node_id`).
    pub id: String,
    /// SWIM (UDP) address peers send membership packets to.
    pub swim_addr: SocketAddr,
    /// HTTP API address.
    pub api_addr: SocketAddr,
    /// Cluster gateway HTTP address.
    pub gateway_addr: SocketAddr,
    /// gRPC replication address.
    pub rpc_addr: SocketAddr,
}

/// What foca gossips about a node: its info plus the generation of the process.
///
/// Field order matters: the derived `Ord` compares `generation` first, which
/// decides address conflicts (the newest process wins).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeIdentity {
    /// Wall-clock ms at process start (bumped when foca renews the identity).
    pub generation: u64,
    /// The node's id and addresses.
    pub info: NodeInfo,
}

impl NodeIdentity {
    /// A placeholder identity for a seed we only know by address (announce target).
    pub(crate) fn seed(addr: SocketAddr) -> Self {
        NodeIdentity {
            generation: 0,
            info: NodeInfo {
                id: String::new(),
                swim_addr: addr,
                api_addr: addr,
                gateway_addr: addr,
                rpc_addr: addr,
            },
        }
    }
}

impl foca::Identity for NodeIdentity {
    type Addr = SocketAddr;

    fn renew(&self) -> Option<Self> {
        let generation = now_ms().max(self.generation.saturating_add(1));
        Some(NodeIdentity {
            generation,
            info: self.info.clone(),
        })
    }

    fn addr(&self) -> SocketAddr {
        self.info.swim_addr
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self > adversary
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use foca::Identity;

    fn ident(generation: u64) -> NodeIdentity {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap_or_else(|_| unreachable!());
        NodeIdentity {
            generation,
            info: NodeInfo {
                id: "n".into(),
                swim_addr: a,
                api_addr: a,
                gateway_addr: a,
                rpc_addr: a,
            },
        }
    }

    #[test]
    fn newer_generation_wins_and_renew_wins() {
        assert!(ident(2).win_addr_conflict(&ident(1)));
        assert!(!ident(1).win_addr_conflict(&ident(2)));
        let old = ident(u64::MAX - 1);
        let renewed = old.renew().unwrap_or_else(|| unreachable!());
        assert!(renewed.win_addr_conflict(&old));
    }
}

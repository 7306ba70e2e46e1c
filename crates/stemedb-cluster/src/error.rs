//! Typed errors of the cluster crate.

use std::net::SocketAddr;

/// Errors raised while starting or running cluster membership.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The node id is empty or too long.
    #[error("invalid node id {0:?}: must be 1 to 128 bytes and not blank")]
    InvalidNodeId(String),
    /// The SWIM address is unspecified (0.0.0.0 / ::) and no advertised address was given.
    #[error(
        "swim address {0} is unspecified: peers cannot reach it; bind a concrete address or set an advertised address"
    )]
    UnspecifiedSwimAddr(SocketAddr),
    /// The timing parameters are not usable by SWIM.
    #[error("invalid membership timing: {0}")]
    InvalidTiming(&'static str),
    /// The UDP socket could not be bound.
    #[error("cannot bind SWIM socket on {addr}: {source}")]
    Bind {
        /// Address that failed.
        addr: SocketAddr,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// Reading the bound socket's address failed.
    #[error("cannot read the local address of the SWIM socket: {0}")]
    LocalAddr(std::io::Error),
    /// The membership task is no longer running.
    #[error("membership task is not running")]
    Stopped,
}

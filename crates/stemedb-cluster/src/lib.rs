//! StemeDB cluster: SWIM membership, replica placement, quorum mode and the
//! cluster gateway (see `docs/cluster-design.md`).
//!
//! # Layout
//!
//! - [`membership`]: foca SWIM over tokio UDP; [`Membership`] is the cheap,
//!   cloneable handle (`members()`, `me()`, `subscribe()`, `shutdown()`).
//! - [`placement`]: pure rendezvous hashing, partition → replica node ids.
//! - [`quorum`]: pure majority / read-only rule from the member view.
//! - [`gateway`]: axum router for `cluster.bind_addr` (`/cluster/members`,
//!   `/cluster/status`, `POST /cluster/sync`) with [`StatusSource`] and
//!   [`SyncTrigger`] filled in by other crates.
//! - `error`: the crate's [`Error`].

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod error;
pub mod gateway;
pub mod membership;
pub mod placement;
pub mod quorum;

pub use error::Error;
pub use gateway::{GatewayState, NoStatus, StatusSource, SyncError, SyncRequest, SyncTrigger};
pub use membership::{
    Member, Membership, MembershipConfig, NodeIdentity, NodeInfo, Status, Timing,
};
pub use quorum::{Mode, OnMinority, Quorum};
